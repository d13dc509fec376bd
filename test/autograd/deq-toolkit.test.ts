// The DEQ toolkit against closed forms: power iteration → the largest |eigenvalue| of symmetric maps, the
// Hutchinson estimate → the exact Frobenius norm of linear maps, the Jacobian-regularization gradient → finite
// differences; and the same calls on the gpu backend with asynchronous reads (gpu.js cpu mode) match the cpu backend.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import * as K from '../../src/testing/index.js';
import * as C from '../helpers/contractions.js';
import { expectGpuMatchesCpu, useAsyncGpuBackend } from '../helpers/async-gpu.js';

const SEED = 1616;
const prop = <T extends unknown[]>(p: fc.IProperty<T>, numRuns = 30) => K.runProperty(p, { seed: SEED, numRuns });

/** Eigenvalues with a unique largest modulus (gap ≥ 1.5×), signs random. */
function spectrum(d: number, rng: V.Rng): number[] {
  const mus = Array.from({ length: d }, () => (rng.uniform() * 2 - 1) * 0.6);
  mus[rng.int(0, d)] = (rng.uniform() < 0.5 ? -1 : 1) * (0.95 + rng.uniform());
  return mus;
}

describe('estimateSpectralRadius', () => {
  test('on symmetric linear maps it converges to the largest |eigenvalue|, per sample', () => {
    prop(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }), fc.nat(), (d, batch, seed) => V.tidy(() => {
      const rng = new V.Rng(seed);
      const spectra = Array.from({ length: batch }, () => spectrum(d, rng));
      // sample b is mapped by its own symmetric A_b: z_b ↦ A_b z_b
      const A = V.tensor(spectra.flatMap((mus) => C.symmetric(mus, rng).flat()), { dtype: 'float64', shape: [batch, d, d] });
      const f = (z: Tensor) => V.reshape(V.matmul(A, V.reshape(z, [batch, d, 1])), [batch, d]);
      const z = V.randn([batch, d], rng, { dtype: 'float64' });
      const rho = V.estimateSpectralRadius(f, z, { iterations: 60, seed });
      expect(rho.shape).toEqual([batch]);
      const got = rho.dataSync();
      spectra.forEach((mus, b) => expect(got[b]!).toBeCloseTo(Math.max(...mus.map(Math.abs)), 8));
    })));
  });

  test('on a nonlinear layer it matches the dense Jacobian of a one-sample layer', () => {
    V.tidy(() => {
      const rng = new V.Rng(3);
      const d = 5;
      const W = C.f64(C.symmetric([1.3, -0.4, 0.2, 0.1, -0.05], rng));
      const f = (z: Tensor) => V.matmul(V.tanh(z), W); // J = diag(1 − tanh²z)·W, similar to a symmetric matrix
      const z = V.randn([1, d], rng, { dtype: 'float64', std: 0.3 });
      const rows = Array.from({ length: d }, (_, i) => V.vjp(f, z).pullback(V.oneHot(V.tensor([i], { dtype: 'int32' }), d).cast('float64').reshape([1, d]))[0]!.dataSync());
      // the eigenvalues of J are those of S = D^½ W D^½ (symmetric): power iteration on the dense matrix as a reference
      let v = Array.from({ length: d }, () => 1);
      let lambda = 0;
      for (let k = 0; k < 500; k++) {
        const w = rows.map((_, j) => rows.reduce((s, r, i) => s + r[j]! * v[i]!, 0));
        lambda = Math.hypot(...w);
        v = w.map((x) => x / lambda);
      }
      expect(V.estimateSpectralRadius(f, z, { iterations: 200 }).item()).toBeCloseTo(lambda, 8);
    });
  });

  test('a map that ignores z has radius 0; bad arguments name the option', () => {
    const z = V.ones([2, 3]);
    expect(Array.from(V.estimateSpectralRadius(() => V.ones([2, 3]), z).dataSync())).toEqual([0, 0]);
    expect(() => V.estimateSpectralRadius((x) => x, z, { iterations: 0 })).toThrow(/estimateSpectralRadius.*'iterations'/);
    expect(() => V.estimateSpectralRadius((x) => x, V.scalar(1))).toThrow(/leading batch axis/);
  });
});

/** Exact ‖A‖²_F and ‖AAᵀ‖²_F (the Hutchinson variance is 2‖AAᵀ‖²_F per Gaussian probe). */
function frobenius(a: C.Mat): { fro2: number; gram2: number } {
  const g = C.matmul(a, C.transpose(a));
  return { fro2: a.flat().reduce((s, x) => s + x * x, 0), gram2: g.flat().reduce((s, x) => s + x * x, 0) };
}

describe('jacobianFrobeniusSq / jacobianRegularization (Hutchinson)', () => {
  test('the mean over many probes → the exact Frobenius norm of a linear map (within 5 standard errors)', () => {
    prop(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.nat(), (d, out, seed) => V.tidy(() => {
      const rng = new V.Rng(seed);
      const a = Array.from({ length: out }, () => Array.from({ length: d }, () => rng.normal()));
      // f: R^d → R^d must keep z's shape, so embed A (out × d) in a square map padded with zero rows/columns
      const n = Math.max(d, out);
      const sq = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i < out && j < d ? a[i]![j]! : 0)));
      const W = C.f64(sq);
      const batch = 400, probes = 5;
      const f = (z: Tensor) => V.matmul(z, V.transpose(W));
      const z = V.randn([batch, n], rng, { dtype: 'float64' }); // a linear map: J is A at every z
      const est = V.jacobianFrobeniusSq(f, z, { probes, seed });
      expect(est.shape).toEqual([batch]);
      const { fro2, gram2 } = frobenius(sq);
      const mean = V.mean(est).item();
      const stderr = Math.sqrt((2 * gram2) / (batch * probes));
      expect(Math.abs(mean - fro2)).toBeLessThanOrEqual(5 * stderr + 1e-12);
      // the 'mean' loss is that estimate averaged over samples and divided by the state size
      expect(V.jacobianRegularization(f, z, { probes, seed }).item()).toBeCloseTo(mean / n, 12);
      expect(V.jacobianRegularization(f, z, { probes, seed, reduction: 'sum' }).item()).toBeCloseTo(mean * batch, 8);
    })), 20);
  });

  test('one probe is exactly ‖εᵀJ‖² for the drawn ε (the estimator, not just its mean)', () => {
    V.tidy(() => {
      const W = V.tensor([[0.5, -1, 2], [0, 0.3, 0], [1, 1, -0.7]], { dtype: 'float64' });
      const z = V.randn([2, 3], new V.Rng(5), { dtype: 'float64' });
      const est = V.jacobianFrobeniusSq((x) => V.matmul(x, V.transpose(W)), z, { seed: 9 }).dataSync();
      const eps = V.randn([2, 3], new V.Rng(9), { dtype: 'float64' }); // the same draw
      const want = V.sum(V.square(V.matmul(eps, W)), 1).dataSync();
      expect(Array.from(est).map((x) => x.toFixed(12))).toEqual(Array.from(want).map((x) => x.toFixed(12)));
    });
  });

  test('its gradient with respect to the weights and the injected input matches finite differences (float64)', () => {
    const rng = new V.Rng(11);
    const d = 4;
    const W = V.mul(V.randn([d, d], rng, { dtype: 'float64' }), 0.4);
    const x = V.randn([3, d], rng, { dtype: 'float64' });
    const zStar = V.randn([3, d], rng, { dtype: 'float64', std: 0.5 });
    const loss = (w: Tensor, inj: Tensor) =>
      V.jacobianRegularization((z) => V.tanh(V.add(V.matmul(z, V.transpose(w)), inj)), zStar, { seed: 3, probes: 2 });
    V.assertGradcheck(loss, [W, x], { atol: 1e-7, rtol: 1e-5 });
    // and the gradient is not trivially zero
    const [gw] = V.grad(loss)(W, x);
    expect(V.norm(gw!).item()).toBeGreaterThan(1e-3);
  });

  test('a map that ignores z gives 0; bad options name themselves', () => {
    const z = V.ones([2, 3]);
    expect(Array.from(V.jacobianFrobeniusSq(() => V.ones([2, 3]), z).dataSync())).toEqual([0, 0]);
    expect(() => V.jacobianFrobeniusSq((x) => x, z, { probes: 1.5 })).toThrow(/'probes'/);
    expect(() => V.jacobianRegularization((x) => x, z, { reduction: 'avg' as 'mean' })).toThrow(/'reduction'/);
    expect(() => V.jacobianFrobeniusSq((x) => x, z, { seed: 0.5 })).toThrow(/'seed'/);
  });
});

describe('states that are several tensors (arrays and records, packed like fixedPoint\'s)', () => {
  test('the estimators on a record/array state equal them on the packed [B, d] state', () => {
    prop(fc.property(fc.integer({ min: 1, max: 3 }), fc.nat(), (batch, seed) => V.tidy(() => {
      const rng = new V.Rng(seed);
      const A = C.f64(C.symmetric(spectrum(5, rng), rng)); // one symmetric map on the packed 5-vector
      const x = V.randn([batch, 5], rng, { dtype: 'float64' });
      const packedF = (z: Tensor) => V.tanh(V.add(V.matmul(z, A), x));
      const split = (z: Tensor) => ({ a: V.slice(z, [[0, batch], [0, 2]]), b: V.slice(z, [[0, batch], [2, 5]]) });
      const recordF = (s: { a: Tensor; b: Tensor }) => split(packedF(V.concat([s.a, s.b], 1)));
      const arrayF = (s: Tensor[]) => { const r = recordF({ a: s[0]!, b: s[1]! }); return [r.a, r.b]; };
      const z = V.mul(V.randn([batch, 5], rng, { dtype: 'float64' }), 0.5);
      const zr = split(z), za = [zr.a, zr.b];
      const same = (a: Tensor, b: Tensor) => Array.from(a.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(b.dataSync()[i]!, 12));
      const rho = V.estimateSpectralRadius(packedF, z, { seed, iterations: 25 });
      same(V.estimateSpectralRadius(recordF, zr, { seed, iterations: 25 }), rho);
      same(V.estimateSpectralRadius(arrayF, za, { seed, iterations: 25 }), rho);
      const fro = V.jacobianFrobeniusSq(packedF, z, { seed, probes: 3 });
      same(V.jacobianFrobeniusSq(recordF, zr, { seed, probes: 3 }), fro);
      same(V.jacobianRegularization(arrayF, za, { seed, probes: 3 }), V.jacobianRegularization(packedF, z, { seed, probes: 3 }));
    })), 10);
  });

  test('a state f returns with other parts, or a part without a batch axis, is reported under the toolkit function', () => {
    const z = { a: V.ones([2, 2]), b: V.ones([2, 3]) };
    expect(() => V.estimateSpectralRadius((s) => ({ a: s.a }) as typeof z, z)).toThrow(/^estimateSpectralRadius: f returned parts \[a\], the state has \[a, b\]/);
    expect(() => V.jacobianRegularization((s) => s, { a: V.ones([2, 2]), b: V.scalar(1) })).toThrow(/^jacobianRegularization: z\["b"\] must have a non-empty leading batch axis/);
    expect(() => V.jacobianFrobeniusSq((s) => s, [V.ones([2, 2]), V.ones([3, 2])])).toThrow(/^jacobianFrobeniusSq: .*3 samples on axis 0/);
  });
});

describe('correctionLoss (fixed-point correction)', () => {
  test('weights are TorchDEQ\'s closed forms and the loss is their weighted sum, with gradient wₖ per loss', () => {
    prop(fc.property(fc.integer({ min: 1, max: 8 }), fc.double({ min: 0.1, max: 1, noNaN: true }), fc.constantFrom('exp', 'linear', 'const'), (n, gamma, weighting) => V.tidy(() => {
      const w = V.correctionWeights(n, { weighting, gamma });
      w.forEach((wk, k) => expect(wk).toBeCloseTo(weighting === 'exp' ? gamma ** (n - 1 - k) : weighting === 'linear' ? 1 - ((n - 1 - k) / n) * gamma : 1, 12));
      expect(w[n - 1]).toBeCloseTo(1, 12); // the last iterate always weighs 1
      const values = Array.from({ length: n }, (_, k) => 0.5 + k);
      const { value, grads } = V.valueAndGrad((...ls: Tensor[]) => V.correctionLoss(ls, { weighting, gamma }))(...values.map((v) => V.scalar(v, 'float64')));
      expect(value.item()).toBeCloseTo(values.reduce((a, v, k) => a + w[k]! * v, 0), 12);
      grads.forEach((g, k) => expect(g.item()).toBeCloseTo(w[k]!, 12));
    })), 20);
  });

  test('a custom weighting, and errors that name the argument', () => {
    expect(V.correctionWeights(3, { weighting: (n, k) => k / n })).toEqual([0, 1 / 3, 2 / 3]);
    expect(() => V.correctionLoss([])).toThrow(/non-empty/);
    expect(() => V.correctionLoss([V.ones([2])])).toThrow(/losses\[0\] has shape \[2\]/);
    expect(() => V.correctionWeights(2, { weighting: 'cosine' as 'exp' })).toThrow(/'weighting'/);
  });
});

describe('memory', () => {
  test('the estimators and a backward through the regularizer leave nothing behind (tensors, buffers, graph nodes)', () => {
    const rng = new V.Rng(1);
    const W = V.mul(V.randn([6, 6], rng), 0.3).requireGrad();
    const x = V.randn([4, 6], rng), z = V.randn([4, 6], rng);
    const f = (s: Tensor) => V.tanh(V.add(V.matmul(s, V.transpose(W)), x));
    K.assertNoLeak(() => {
      V.estimateSpectralRadius(f, z).dispose();
      V.jacobianRegularization(f, z, { probes: 2 }).dispose();
      V.tidy(() => V.jacobianRegularization(f, z).backward());
      W.grad!.dispose();
      W.grad = null;
    });
  });
});

describe('the toolkit on the gpu backend with asynchronous reads (gpu.js cpu mode)', () => {
  useAsyncGpuBackend();

  test('estimateSpectralRadius, jacobianRegularization (and its gradient, and on a record state) and correctionLoss match the cpu backend without synchronous reads', async () => {
    const want = await expectGpuMatchesCpu(() => {
      const rng = new V.Rng(21);
      const W = V.mul(V.randn([6, 6], rng), 0.3).requireGrad();
      const x = V.randn([4, 6], rng);
      const z = V.randn([4, 6], rng);
      const f = (s: Tensor) => V.tanh(V.add(V.matmul(s, V.transpose(W)), x));
      const reg = V.jacobianRegularization(f, z, { probes: 2, seed: 4 });
      const record = V.jacobianFrobeniusSq((s: { a: Tensor }) => ({ a: f(s.a) }), { a: z }, { seed: 5 });
      const corrected = V.correctionLoss([V.mean(f(z)), V.mean(f(f(z))), reg], { gamma: 0.7 });
      return [V.estimateSpectralRadius(f, z, { iterations: 15, seed: 2 }), reg, ...V.gradients(reg, [W]), record, corrected];
    });
    expect(want[0]!.every((r) => r > 0.05)).toBe(true);
  });
});
