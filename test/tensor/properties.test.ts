// fast-check properties: broadcasting laws, view round-trips, the adjoint identity ⟨J u, v⟩ = ⟨u, Jᵀ v⟩ for the
// linear ops, softmax rows summing to 1, and gradient accumulation on diamonds. Seeded; the seed prints on failure.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import * as K from '../../src/testing/index.js';

const SEED = 20261129;
function run<T extends unknown[]>(prop: fc.IProperty<T>, numRuns = 60): void {
  K.runProperty(prop, { seed: SEED, numRuns });
}

const dim = fc.integer({ min: 1, max: 4 });
/** A shape and a second shape broadcast-compatible with it (viar/testing). */
const broadcastPair = K.broadcastablePairArb();

function randomTensor(shape: readonly number[], seed: number): Tensor {
  return V.randn(shape, new V.Rng(seed), { dtype: 'float64' });
}

function dot(a: Tensor, b: Tensor): number {
  return V.sum(V.mul(a, b)).item();
}

describe('broadcasting laws', () => {
  test('symmetric, idempotent, scalar is the identity', () => {
    run(fc.property(broadcastPair, ([a, b]) => {
      expect(V.broadcastShapes([a, b], 'p')).toEqual(V.broadcastShapes([b, a], 'p'));
      expect(V.broadcastShapes([a, a], 'p')).toEqual([...a]);
      expect(V.broadcastShapes([a, []], 'p')).toEqual([...a]);
    }));
  });

  test('add(a, b) equals add(expand(a), expand(b)) elementwise', () => {
    run(fc.property(broadcastPair, fc.nat(), ([sa, sb], seed) => V.tidy(() => {
      const a = randomTensor(sa, seed), b = randomTensor(sb, seed + 1);
      const out = V.broadcastShapes([sa, sb], 'p');
      expect(Array.from(V.add(a, b).dataSync())).toEqual(Array.from(V.add(V.contiguous(V.expand(a, out)), V.contiguous(V.expand(b, out))).dataSync()));
    })));
  });
});

describe('view round-trips', () => {
  const tensorArb = fc.tuple(fc.array(dim, { minLength: 1, maxLength: 4 }), fc.nat());

  test('permute then its inverse, transpose twice, flip twice give the original values', () => {
    run(fc.property(tensorArb, fc.nat(), ([shape, seed], permSeed) => V.tidy(() => {
      const x = randomTensor(shape, seed);
      const rng = new V.Rng(permSeed);
      const perm = shape.map((_, i) => i).sort(() => rng.uniform() - 0.5);
      const inverse = perm.map((_, i) => perm.indexOf(i));
      const values = Array.from(x.dataSync());
      expect(Array.from(V.permute(V.permute(x, perm), inverse).dataSync())).toEqual(values);
      expect(Array.from(V.flip(V.flip(x, 0), 0).dataSync())).toEqual(values);
      if (shape.length >= 2) expect(Array.from(V.transpose(V.transpose(x)).dataSync())).toEqual(values);
    })));
  });

  test('reshape of a non-contiguous view round-trips; slice of pad recovers the input', () => {
    run(fc.property(tensorArb, fc.nat({ max: 2 }), fc.nat({ max: 2 }), ([shape, seed], before, after) => V.tidy(() => {
      const x = V.flip(randomTensor(shape, seed), 0);
      const values = Array.from(x.dataSync());
      expect(Array.from(V.reshape(V.reshape(x, [-1]), shape).dataSync())).toEqual(values);
      const padded = V.pad(x, shape.map(() => [before, after] as [number, number]), 7);
      const back = V.slice(padded, shape.map((d) => [before, before + d] as [number, number]));
      expect(Array.from(back.dataSync())).toEqual(values);
    })));
  });
});

describe('view chains (viar/testing)', () => {
  test('a random chain of views equals the same chain on contiguous copies, and its gradient is exact', () => {
    run(fc.property(K.viewChainArb({ maxLength: 4 }), fc.nat(), (chain, seed) => V.tidy(() => {
      const x = randomTensor(chain.shape, seed);
      let copy = x;
      for (const step of chain.steps) copy = V.contiguous(K.applyViewChain(copy, { ...chain, shape: [...copy.shape], steps: [step] }));
      expect(Array.from(V.contiguous(K.applyViewChain(x, chain)).dataSync())).toEqual(Array.from(copy.dataSync()));
      K.assertGradcheck((t) => V.mul(K.applyViewChain(t, chain), 1.5), [x], { seed });
    })), 30);
  });
});

describe('adjoint identity ⟨J u, v⟩ = ⟨u, Jᵀ v⟩ for linear ops', () => {
  const linearOps: { name: string; shape: number[]; op: (u: Tensor) => Tensor }[] = [
    { name: 'sum over axes', shape: [3, 4, 2], op: (u) => V.sum(u, [0, 2], true) },
    { name: 'expand', shape: [3, 1], op: (u) => V.expand(u, [2, 3, 4]) },
    { name: 'permute', shape: [2, 3, 4], op: (u) => V.permute(u, [1, 2, 0]) },
    { name: 'slice with steps', shape: [5, 6], op: (u) => V.slice(u, [[1, 5, 2], [5, 0, -2]]) },
    { name: 'pad', shape: [2, 3], op: (u) => V.pad(u, [[1, 2], [0, 1]]) },
    { name: 'matmul by a constant', shape: [4, 3], op: (u) => V.matmul(randomTensor([2, 4], 9), u) },
    { name: 'concat', shape: [2, 3], op: (u) => V.concat([u, V.mul(u, 2), V.flip(u, 1)], 1) },
    { name: 'cumsum', shape: [3, 5], op: (u) => V.cumsum(u, 1) },
    { name: 'gather', shape: [3, 4], op: (u) => V.gather(u, 1, V.tensor([[0, 0, 3], [1, 2, 2], [3, 3, 3]], { dtype: 'int32' })) },
    { name: 'indexSelect', shape: [4, 2], op: (u) => V.indexSelect(u, 0, V.tensor([3, 0, 3, 1], { dtype: 'int32' })) },
    { name: 'transpose + reshape', shape: [3, 4], op: (u) => V.reshape(V.transpose(u), [2, 6]) },
  ];
  test.each(linearOps)('$name', ({ shape, op }) => {
    run(fc.property(fc.nat(), (seed) => V.tidy(() => {
      const u = randomTensor(shape, seed);
      const { output, pullback } = V.vjp(op, u);
      const v = randomTensor(output.shape, seed + 7);
      const [jtv] = pullback(v);
      const lhs = dot(output, v), rhs = dot(u, jtv!);
      expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(1e-10 * (1 + Math.abs(lhs)));
      output.dispose();
    })), 25);
  });
});

describe('softmax', () => {
  test('rows are non-negative and sum to 1, even for huge logits', () => {
    run(fc.property(fc.array(dim, { minLength: 1, maxLength: 3 }), fc.nat(), fc.double({ min: 1, max: 1e4, noNaN: true }), (shape, seed, scale) => V.tidy(() => {
      const x = V.mul(randomTensor(shape, seed), scale);
      const p = V.softmax(x, -1);
      const sums = V.sum(p, -1).dataSync();
      for (const s of sums) expect(Math.abs(s - 1)).toBeLessThan(1e-12);
      for (const v of p.dataSync()) expect(v).toBeGreaterThanOrEqual(0);
    })));
  });
});

describe('gradient accumulation', () => {
  test('on a diamond, grad(f + g) = grad f + grad g', () => {
    run(fc.property(fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: 1, maxLength: 6 }), (values) => V.tidy(() => {
      const f = (x: Tensor) => V.sum(V.tanh(V.mul(x, x)));
      const g = (x: Tensor) => V.sum(V.exp(V.mul(x, 0.5)));
      const x = V.tensor(values, { dtype: 'float64' });
      const [both] = V.grad((t) => { const h = V.mul(t, 1); return V.add(f(h), g(h)); })(x);
      const [gf] = V.grad(f)(x);
      const [gg] = V.grad(g)(x);
      const expected = V.add(gf!, gg!).dataSync();
      both!.dataSync().forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThan(1e-12));
    })));
  });
});
