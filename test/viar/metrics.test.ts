// src/viar/metrics.ts: the Jacobi eigendecomposition, the PSD square root, the Fréchet distance against closed forms
// (identical sets, a pure shift, diagonal and 2×2 covariances), k-NN precision/recall and diversity.

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import type { FeatureMatrix } from '../../src/index.js';

/** n samples of d features: mean `shift`, per-feature std `scales`, plus an optional mixing matrix [d, d]. */
function gaussianSamples(n: number, d: number, seed: number, opts: { shift?: number[]; scales?: number[]; mix?: Float64Array } = {}): FeatureMatrix {
  const rng = new V.Rng(seed);
  const data = new Float64Array(n * d);
  const z = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) z[j] = rng.normal() * (opts.scales?.[j] ?? 1);
    for (let j = 0; j < d; j++) {
      let v = z[j]!;
      if (opts.mix) { v = 0; for (let k = 0; k < d; k++) v += opts.mix[j * d + k]! * z[k]!; }
      data[i * d + j] = v + (opts.shift?.[j] ?? 0);
    }
  }
  return { data, rows: n, cols: d };
}

function randomSymmetric(n: number, seed: number, psd: boolean): Float64Array {
  const rng = new V.Rng(seed);
  const b = Float64Array.from({ length: n * n }, () => rng.normal());
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      if (psd) for (let k = 0; k < n; k++) s += b[i * n + k]! * b[j * n + k]!; // B·Bᵀ
      else s = b[i * n + j]! + b[j * n + i]!;
      a[i * n + j] = s;
    }
  }
  return a;
}

const maxAbs = (x: ArrayLike<number>) => Array.from(x).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe('symmetricEigen / sqrtPsd', () => {
  test.each([1, 2, 5, 24])('V·diag(λ)·Vᵀ rebuilds a random symmetric %i×%i matrix and V is orthogonal', (n) => {
    const a = randomSymmetric(n, n, false);
    const { values, vectors: v } = V.symmetricEigen(a, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let rebuilt = 0, gram = 0;
        for (let k = 0; k < n; k++) {
          rebuilt += v[i * n + k]! * values[k]! * v[j * n + k]!;
          gram += v[k * n + i]! * v[k * n + j]!;
        }
        expect(Math.abs(rebuilt - a[i * n + j]!)).toBeLessThan(1e-10 * (1 + maxAbs(a)));
        expect(Math.abs(gram - (i === j ? 1 : 0))).toBeLessThan(1e-12);
      }
    }
  });

  test('known eigenvalues of [[2, 1], [1, 2]] are 1 and 3', () => {
    const { values } = V.symmetricEigen([2, 1, 1, 2], 2);
    expect(Array.from(values).sort()).toEqual([expect.closeTo(1, 12), expect.closeTo(3, 12)]);
  });

  test('sqrtPsd(A)² = A for a random PSD 30×30 matrix; singular matrices are fine', () => {
    const n = 30;
    for (const a of [randomSymmetric(n, 7, true), (() => { const m = new Float64Array(n * n); m[0] = 4; m[n + 1] = 9; return m; })()]) {
      const s = V.sqrtPsd(a, n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let sq = 0;
          for (let k = 0; k < n; k++) sq += s[i * n + k]! * s[k * n + j]!;
          expect(Math.abs(sq - a[i * n + j]!)).toBeLessThan(1e-9 * (1 + maxAbs(a)));
        }
      }
    }
  });

  test('named errors', () => {
    expect(() => V.symmetricEigen([1, 2, 3], 2)).toThrow(V.ArgumentError);
    expect(() => V.symmetricEigen([1, NaN, NaN, 1], 2)).toThrow(/non-finite/);
  });
});

describe('Fréchet distance', () => {
  test('identical feature sets give ~0', () => {
    const x = gaussianSamples(400, 16, 1, { mix: randomSymmetric(16, 2, false) });
    const fd = V.frechetDistanceOfFeatures(x, x);
    expect(Math.abs(fd)).toBeLessThan(1e-8);
  });

  test('a known shift gives |Δμ|² (the trace term vanishes exactly)', () => {
    const d = 12;
    const x = gaussianSamples(300, d, 3, { mix: randomSymmetric(d, 4, false) });
    const delta = Array.from({ length: d }, (_, j) => 0.5 * j - 2);
    const y = { ...x, data: x.data.map((v, i) => v + delta[i % d]!) };
    const parts = V.frechetParts(V.gaussianStats(x), V.gaussianStats(y));
    expect(parts.meanTerm).toBeCloseTo(delta.reduce((s, v) => s + v * v, 0), 8);
    expect(Math.abs(parts.traceTerm)).toBeLessThan(1e-8);
  });

  test('diagonal covariances: |Δμ|² + Σ (σ₁ᵢ − σ₂ᵢ)²', () => {
    const d = 6;
    const s1 = [1, 2, 0.5, 3, 1, 0], s2 = [2, 2, 1.5, 0.1, 4, 1];
    const m1 = [0, 1, 2, 3, 4, 5], m2 = [1, 1, 0, 3, -4, 5];
    const stats = (m: number[], s: number[]): V.GaussianStats => {
      const cov = new Float64Array(d * d);
      s.forEach((v, i) => { cov[i * d + i] = v * v; });
      return { mean: Float64Array.from(m), cov, dim: d, count: 2 };
    };
    const expected = m1.reduce((t, v, i) => t + (v - m2[i]!) ** 2, 0) + s1.reduce((t, v, i) => t + (v - s2[i]!) ** 2, 0);
    expect(V.frechetDistance(stats(m1, s1), stats(m2, s2))).toBeCloseTo(expected, 10);
  });

  test('2×2 non-commuting covariances: tr (C₁C₂)^½ = √(tr C₁C₂ + 2√(det C₁ det C₂))', () => {
    const c1 = [2, 0.7, 0.7, 1], c2 = [1.5, -0.9, -0.9, 3];
    const tr12 = c1[0]! * c2[0]! + c1[1]! * c2[2]! + c1[2]! * c2[1]! + c1[3]! * c2[3]!;
    const det = (c: number[]) => c[0]! * c[3]! - c[1]! * c[2]!;
    const closed = Math.sqrt(tr12 + 2 * Math.sqrt(det(c1) * det(c2)));
    expect(V.traceSqrtProduct(c1, c2, 2)).toBeCloseTo(closed, 12);
    const fd = V.frechetDistance({ mean: new Float64Array(2), cov: Float64Array.from(c1), dim: 2, count: 2 }, { mean: Float64Array.of(1, 1), cov: Float64Array.from(c2), dim: 2, count: 2 });
    expect(fd).toBeCloseTo(2 + 3 + 4.5 - 2 * closed, 12);
  });

  test('sample statistics: mean and unbiased covariance of a hand-made set', () => {
    const s = V.gaussianStats(V.featureMatrix([1, 2, 3, 4, 5, 9], 3, 2));
    expect(Array.from(s.mean)).toEqual([3, 5]);
    expect(Array.from(s.cov)).toEqual([4, 7, 7, 13]); // ((−2)² + 0 + 2²)/2, ((−2)(−3) + 0·(−1) + 2·4)/2, (9 + 1 + 16)/2
  });

  test('the distance grows with the shift and is symmetric; a 128-d fit is fast', () => {
    const d = 128;
    const x = gaussianSamples(600, d, 5), y = gaussianSamples(600, d, 6);
    const start = performance.now();
    const near = V.frechetDistanceOfFeatures(x, y);
    const ms = performance.now() - start;
    const far = V.frechetDistanceOfFeatures(x, { ...y, data: y.data.map((v) => v + 0.3) });
    // only the mean term changes: |μx − μy − δ|² − |μx − μy|² = d·δ² − 2δ·Σ(μx − μy)
    const mx = V.gaussianStats(x).mean, my = V.gaussianStats(y).mean;
    const sumDiff = Array.from(mx).reduce((s, v, i) => s + v - my[i]!, 0);
    expect(far - near).toBeCloseTo(d * 0.09 - 0.6 * sumDiff, 6);
    expect(V.frechetDistanceOfFeatures(y, x)).toBeCloseTo(near, 6);
    expect(ms).toBeLessThan(5000);
  });

  test('named errors', () => {
    expect(() => V.gaussianStats(V.featureMatrix([1, 2], 1, 2))).toThrow(/at least 2 samples/);
    const a = V.gaussianStats(gaussianSamples(10, 2, 0)), b = V.gaussianStats(gaussianSamples(10, 3, 0));
    expect(() => V.frechetDistance(a, b)).toThrow(/different dimensions/);
    expect(() => V.featureMatrix([1, 2, 3], 2, 2)).toThrow(V.ArgumentError);
  });

  test('featureMatrix reads a [N, D] tensor', () => {
    const t = V.tensor([[1, 2], [3, 4], [5, 6]]);
    const m = V.featureMatrix(t);
    expect([m.rows, m.cols, ...m.data]).toEqual([3, 2, 1, 2, 3, 4, 5, 6]);
    t.dispose();
  });
});

describe('precision / recall and diversity', () => {
  test('the same distribution scores high on both; a collapsed generator has high precision but low recall', () => {
    const real = gaussianSamples(300, 4, 10), same = gaussianSamples(300, 4, 11);
    const pr = V.precisionRecall(real, same, 3);
    expect(pr.precision).toBeGreaterThan(0.85);
    expect(pr.recall).toBeGreaterThan(0.85);
    const collapsed = gaussianSamples(300, 4, 12, { scales: [0.1, 0.1, 0.1, 0.1] });
    const pc = V.precisionRecall(real, collapsed, 3);
    expect(pc.precision).toBeGreaterThan(0.8);
    expect(pc.recall).toBeLessThan(0.3);
    const far = gaussianSamples(300, 4, 13, { shift: [20, 20, 20, 20] });
    expect(V.precisionRecall(real, far, 3)).toMatchObject({ precision: 0, recall: 0 });
    expect(V.meanPairwiseDistance(collapsed)).toBeLessThan(V.meanPairwiseDistance(real) / 5);
  });

  test('mean pairwise distance by hand', () => {
    expect(V.meanPairwiseDistance(V.featureMatrix([0, 0, 3, 4, 0, 4], 3, 2))).toBeCloseTo((5 + 4 + 3) / 3, 12);
    expect(V.meanPairwiseDistance(V.featureMatrix([1, 2], 1, 2))).toBe(0);
    expect(() => V.precisionRecall(gaussianSamples(3, 2, 0), gaussianSamples(3, 2, 1), 3)).toThrow(/k must be/);
  });

  test('concatFeatures and selectRows', () => {
    const a = V.featureMatrix([1, 2, 3, 4], 2, 2), b = V.featureMatrix([5, 6], 1, 2);
    const c = V.concatFeatures([a, b]);
    expect([c.rows, ...c.data]).toEqual([3, 1, 2, 3, 4, 5, 6]);
    expect(Array.from(V.selectRows(c, [2, 0]).data)).toEqual([5, 6, 1, 2]);
  });
});
