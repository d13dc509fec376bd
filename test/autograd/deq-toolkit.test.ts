// The DEQ toolkit against closed forms: power iteration → the largest |eigenvalue| of symmetric maps, the
// Hutchinson estimate → the exact Frobenius norm of linear maps, the Jacobian-regularization gradient → finite
// differences; and the same calls on the gpu backend with asynchronous reads (gpu.js cpu mode) match the cpu backend.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import * as C from '../helpers/contractions.js';

const SEED = 1616;
const prop = <T extends unknown[]>(p: fc.IProperty<T>, numRuns = 30) => fc.assert(p, { seed: SEED, numRuns, verbose: 1 });

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
