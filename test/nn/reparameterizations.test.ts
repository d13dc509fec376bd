// Weight norm, spectral norm and variational dropout against closed forms: g·v/‖v‖ exactly, ‖W_sn‖₂ ≤ 1 + tol on
// matrices with known singular values, gradients by gradcheck, TorchDEQ's per-step reset (nothing moves between
// resets), fixed masks; and the same modules on the gpu backend with asynchronous reads (gpu.js cpu mode).

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import * as K from '../../src/testing/index.js';
import * as C from '../helpers/contractions.js';
import { expectGpuMatchesCpu, useAsyncGpuBackend } from '../helpers/async-gpu.js';

const SEED = 1617;
const prop = <T extends unknown[]>(p: fc.IProperty<T>, numRuns = 30) => K.runProperty(p, { seed: SEED, numRuns });
type Fields = Record<string, Tensor>;

function linear64(inF: number, outF: number, seed: number): V.Linear {
  const lin = new V.Linear(inF, outF, { rng: new V.Rng(seed) });
  lin.weight = V.detach(V.cast(lin.weight, 'float64')).requireGrad();
  lin.bias = V.detach(V.cast(lin.bias!, 'float64')).requireGrad();
  return lin;
}

/** Largest singular value of a dense matrix by power iteration on WᵀW (a reference, independent of the module). */
function sigmaMax(rows: number[][]): number {
  let v = rows[0]!.map((_, j) => 1 + j * 0.1);
  let s = 0;
  for (let k = 0; k < 2000; k++) {
    const wv = rows.map((r) => r.reduce((acc, x, j) => acc + x * v[j]!, 0));
    const wtwv = v.map((_, j) => rows.reduce((acc, r, i) => acc + r[j]! * wv[i]!, 0));
    const n = Math.hypot(...wtwv);
    s = Math.sqrt(n);
    v = wtwv.map((x) => x / n);
  }
  return s;
}

function rowsOf(t: Tensor): number[][] {
  const [r, ...rest] = t.shape;
  const c = rest.reduce((a, b) => a * b, 1);
  const d = t.dataSync();
  return Array.from({ length: r! }, (_, i) => Array.from(d.subarray(i * c, (i + 1) * c)));
}

describe('weightNorm', () => {
  test('module.weight is g · v / ‖v‖ (norm over every axis but dim), and the layer starts unchanged', () => {
    prop(fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.constantFrom(0, 1, null), fc.nat(), (inF, outF, dim, seed) => V.tidy(() => {
      const lin = linear64(inF, outF, seed);
      const before = Array.from(lin.weight.dataSync());
      V.weightNorm(lin, 'weight', { dim });
      const f = lin as unknown as Fields;
      expect(Array.from(lin.weight.dataSync()).map((x, i) => x - before[i]!).every((e) => Math.abs(e) < 1e-12)).toBe(true);
      // move g and v away from their initial values, then compare with the formula on plain arrays
      const rng = new V.Rng(seed + 1);
      f.weight_v!.assign(V.randn([outF, inF], rng, { dtype: 'float64' }));
      f.weight_g!.assign(V.randn(f.weight_g!.shape, rng, { dtype: 'float64' }));
      const v = rowsOf(f.weight_v!), g = f.weight_g!.dataSync();
      const want = v.map((row, i) => row.map((x, j) => {
        if (dim === null) return (g[0]! * x) / Math.hypot(...v.flat());
        if (dim === 0) return (g[i]! * x) / Math.hypot(...row);
        return (g[j]! * x) / Math.hypot(...v.map((r) => r[j]!));
      }));
      const got = rowsOf(lin.weight);
      got.forEach((row, i) => row.forEach((x, j) => expect(x).toBeCloseTo(want[i]![j]!, 12)));
    })));
  });

  test('gradients through a weight-normalized Linear match finite differences (float64)', () => {
    const lin = linear64(3, 4, 2);
    V.weightNorm(lin);
    const f = lin as unknown as Fields;
    const x = V.randn([2, 3], new V.Rng(3), { dtype: 'float64' });
    V.assertGradcheck((v, g, input) => {
      f.weight_v = v!; f.weight_g = g!;
      return V.tanh(lin.forward(input!));
    }, [f.weight_v!, f.weight_g!, x]);
  });

  test('learnScale false fixes every row norm at targetNorm; names, errors and remove()', () => {
    const lin = linear64(6, 3, 4);
    V.weightNorm(lin, 'weight', { learnScale: false, targetNorm: 0.5 });
    for (const row of rowsOf(lin.weight)) expect(Math.hypot(...row)).toBeCloseTo(0.5, 12);
    expect(lin.namedParameters().map(([n]) => n)).toEqual(['bias', 'weight_v']);
    expect(() => V.weightNorm(lin, 'weight')).toThrow(/weightNorm.*already reparameterized/);
    expect(() => V.weightNorm(lin, 'bias_x')).toThrow(/'bias_x' is not a float parameter/);
    const taken = linear64(2, 2, 1);
    (taken as unknown as Fields).weight_g = V.ones([1]);
    expect(() => V.weightNorm(taken)).toThrow(/weightNorm: Linear already has a field 'weight_g'/);
    expect(taken.namedParameters().map(([n]) => n)).toEqual(['weight', 'bias']); // untouched
    expect(() => { lin.weight = V.zeros([3, 6]); }).toThrow(/'weight' is computed from weight_v/);
    const w = Array.from(lin.weight.dataSync());
    V.removeNorms(lin);
    expect(lin.namedParameters().map(([n]) => n)).toEqual(['bias', 'weight']);
    expect(Array.from(lin.weight.dataSync())).toEqual(w);
    expect(lin.weight.requiresGrad && lin.weight.isLeaf).toBe(true);
  });
});

describe('spectralNorm', () => {
  test('the normalized weight has ‖W‖₂ ≤ 1 + 1e-6 (matrices with known singular values, Linear and Conv2d shapes)', () => {
    prop(fc.property(fc.integer({ min: 2, max: 6 }), fc.double({ min: 0.05, max: 20, noNaN: true }), fc.boolean(), fc.nat(), (d, top, conv, seed) => V.tidy(() => {
      const rng = new V.Rng(seed);
      // top singular value `top`, the rest ≤ 0.8·top: the power iteration converges like 0.8^(2k)
      const sig = Array.from({ length: d }, (_, i) => (i === 0 ? top : top * 0.8 * rng.uniform()));
      const W = C.f64(C.withSingularValues(sig, rng));
      const mod = conv ? new V.Conv2d(d, 1, 1, { rng }) : new V.Linear(d, d, { rng });
      // a 1×1 conv with d outputs needs [d, d, 1, 1]; a Linear [d, d]
      (mod as unknown as Fields).weight = (conv ? V.reshape(W, [d, d, 1, 1]) : W).requireGrad();
      V.spectralNorm(mod, 'weight', { warmup: 80, rng: new V.Rng(seed + 1) });
      const s = sigmaMax(rowsOf(mod.weight));
      expect(s).toBeLessThanOrEqual(1 + 1e-6);
      expect(s).toBeGreaterThan(1 - 1e-6); // σ̂ ≤ σ, so it can only overshoot; converged, it is 1
    })));
  });

  test('one power iteration per reset() converges across steps; nothing moves between resets or in eval mode', () => {
    const rng = new V.Rng(9);
    const lin = new V.Linear(8, 8, { rng });
    lin.weight = C.f64(C.withSingularValues([3, 2.2, 1, 0.5, 0.4, 0.3, 0.2, 0.1], rng)).requireGrad();
    V.spectralNorm(lin, 'weight', { warmup: 0, iterations: 1 });
    const f = lin as unknown as Fields;
    const first = sigmaMax(rowsOf(lin.weight));
    expect(first).toBeGreaterThan(1.01); // a random start underestimates σ
    const u0 = Array.from(f.weight_u!.dataSync());
    expect(Array.from(lin.weight.dataSync())).toEqual(Array.from(lin.weight.dataSync())); // the same f between resets
    lin.eval();
    V.resetNorms(lin);
    expect(Array.from(f.weight_u!.dataSync())).toEqual(u0);
    lin.train();
    for (let k = 0; k < 60; k++) expect(V.resetNorms(lin)).toBe(1);
    expect(sigmaMax(rowsOf(lin.weight))).toBeCloseTo(1, 8);
    expect([...lin.stateDict().keys()].sort()).toEqual(['bias', 'weight_orig', 'weight_u', 'weight_v']);
  });

  test('gradients with respect to the raw weight and the learned scale match finite differences (float64)', () => {
    const lin = linear64(4, 3, 5);
    V.spectralNorm(lin, 'weight', { learnScale: true });
    const f = lin as unknown as Fields;
    expect(f.weight_g!.shape).toEqual([3, 1]);
    const x = V.randn([2, 4], new V.Rng(6), { dtype: 'float64' });
    V.assertGradcheck((w, g, input) => {
      f.weight_orig = w!; f.weight_g = g!;
      return lin.forward(input!);
    }, [f.weight_orig!, f.weight_g!, x]);
  });

  test('an optimizer built before normalization keeps training the raw weight; a DEQ cell with it converges', () => {
    const rng = new V.Rng(12);
    const lin = new V.Linear(6, 6, { rng, bias: false });
    const raw = lin.weight;
    const opt = new V.SGD([raw], { lr: 0.1 });
    V.spectralNorm(lin, 'weight', { targetNorm: 0.9, warmup: 50 });
    expect((lin as unknown as Fields).weight_orig).toBe(raw);
    const x = V.randn([4, 6], rng);
    V.resetDeq(lin);
    const { stats } = V.fixedPoint((z, inj) => V.tanh(V.add(lin.forward(z), inj!)), [x], { tol: 1e-5, maxIter: 200 });
    expect(stats.converged).toBe(true);
    const before = Array.from(raw.dataSync());
    const loss = V.sum(V.square(lin.forward(x)));
    loss.backward();
    opt.step();
    expect(Array.from(raw.dataSync())).not.toEqual(before);
  });
});

describe('checkpoints', () => {
  test('a state dict of normalized layers (weight_orig, weight_u, weight_v, weight_g) restores the same function', () => {
    const make = (seed: number) => {
      const rng = new V.Rng(seed);
      const a = new V.Linear(4, 4, { rng }), b = new V.Linear(4, 3, { rng });
      V.spectralNorm(a, 'weight', { rng, learnScale: true });
      V.weightNorm(b);
      return new V.Sequential(a, b);
    };
    const src = make(1), dst = make(2);
    for (let k = 0; k < 3; k++) V.resetNorms(src); // move u, v away from their setup values
    const x = V.randn([2, 4], new V.Rng(3));
    expect(Array.from(dst.forward(x).dataSync())).not.toEqual(Array.from(src.forward(x).dataSync()));
    expect([...src.stateDict().keys()]).toEqual(['0.bias', '0.weight_orig', '0.weight_g', '1.bias', '1.weight_g', '1.weight_v', '0.weight_u', '0.weight_v']);
    dst.loadStateDict(src.stateDict());
    expect(Array.from(dst.forward(x).dataSync())).toEqual(Array.from(src.forward(x).dataSync()));
  });
});

describe('VariationalDropout', () => {
  test('one mask across forwards until reset; seeded; scaled by 1/(1 − p); identity in eval mode', () => {
    prop(fc.property(fc.double({ min: 0.05, max: 0.9, noNaN: true }), fc.nat(), (p, seed) => V.tidy(() => {
      const x = V.add(V.rand([3, 5, 4], new V.Rng(seed)), 0.5);
      const a = new V.VariationalDropout(p, { rng: new V.Rng(seed) });
      const b = new V.VariationalDropout(p, { rng: new V.Rng(seed) });
      const y1 = a.forward(x).dataSync(), y2 = a.forward(V.mul(x, 2)).dataSync();
      Array.from(y1).forEach((v, i) => expect(y2[i]).toBeCloseTo(2 * v, 5)); // same mask, input doubled
      expect(Array.from(b.forward(x).dataSync())).toEqual(Array.from(y1)); // same seed, same mask
      const xs = x.dataSync();
      Array.from(y1).forEach((v, i) => expect(v === 0 || Math.abs(v - xs[i]! / (1 - p)) < 1e-5).toBe(true));
      V.resetDropout(a);
      expect(a.mask).toBe(null);
      a.eval();
      expect(a.forward(x)).toBe(x);
    })), 20);
  });

  test('sharedAxes shares one value along an axis (whole channels dropped); a stale mask shape names the reset', () => {
    const drop = new V.VariationalDropout(0.5, { rng: new V.Rng(1), sharedAxes: [1] });
    const y = drop.forward(V.ones([2, 6, 3]));
    expect(drop.mask!.shape).toEqual([2, 1, 3]);
    const rows = y.toArray() as number[][][];
    for (const sample of rows) for (const tok of sample) expect(tok).toEqual(sample[0]);
    expect(() => drop.forward(V.ones([1, 6, 3]))).toThrow(/VariationalDropout.*resetDropout/);
    expect(() => new V.VariationalDropout(1, { rng: new V.Rng(0) })).toThrow(/p must be in \[0, 1\)/);
    expect(() => new V.VariationalDropout(0.1, { rng: new V.Rng(0), sharedAxes: [3] }).forward(V.ones([2, 2]))).toThrow(/axis 3/);
  });

  test('inside fixedPoint the mask is the same at every iteration, so the solve converges to one fixed point', () => {
    const rng = new V.Rng(4);
    const W = V.mul(V.randn([8, 8], rng), 0.15);
    const drop = new V.VariationalDropout(0.3, { rng: new V.Rng(5) });
    const x = V.randn([3, 8], rng);
    const f = (z: Tensor, inj: Tensor) => V.tanh(V.add(V.matmul(drop.forward(z), W), inj));
    const { z, stats } = V.fixedPoint(f, [x], { tol: 1e-6, maxIter: 100 });
    expect(stats.converged).toBe(true);
    const residual = V.max(V.abs(V.sub(f(z, x), z))).item();
    expect(residual).toBeLessThan(1e-5);
  });
});

describe('memory', () => {
  test('training steps with resetDeq, spectral norm and variational dropout keep the live buffer count flat', () => {
    const rng = new V.Rng(8);
    const lin = new V.Linear(6, 6, { rng });
    V.spectralNorm(lin);
    const drop = new V.VariationalDropout(0.3, { rng });
    const model = new V.Sequential(lin, drop);
    const x = V.randn([4, 6], rng);
    const counts: number[] = [];
    for (let step = 0; step < 4; step++) {
      V.resetDeq(model);
      V.tidy(() => V.sum(model.forward(x)).backward());
      model.zeroGrad();
      counts.push(V.getBackend().memory().numDataBuffers);
    }
    expect(new Set(counts).size).toBe(1);
  });
});

describe('the reparameterizations on the gpu backend with asynchronous reads (gpu.js cpu mode)', () => {
  useAsyncGpuBackend();

  test('forward, power iteration, mask and gradients match the cpu backend without synchronous reads', async () => {
    await expectGpuMatchesCpu(() => {
      const rng = new V.Rng(31);
      const a = new V.Linear(5, 5, { rng }), b = new V.Linear(5, 5, { rng });
      V.spectralNorm(a, 'weight', { warmup: 5, learnScale: true });
      V.weightNorm(b);
      const drop = new V.VariationalDropout(0.4, { rng: new V.Rng(2) });
      V.resetNorms(a);
      const y = b.forward(drop.forward(V.tanh(a.forward(V.randn([3, 5], rng)))));
      const grads = V.gradients(V.sum(V.square(y)), [...a.parameters(), ...b.parameters()]);
      return [y, (a as unknown as Fields).weight_u!, ...grads];
    });
  });
});
