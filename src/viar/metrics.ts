// Generator metrics on feature vectors (float64, plain arrays): Gaussian fits, the Fréchet distance (the FID
// formula, with the matrix square root from a Jacobi eigendecomposition), k-NN precision/recall and diversity.

import { ArgumentError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';

/** Row-major feature vectors: `rows` samples of `cols` features each. */
export interface FeatureMatrix {
  data: Float64Array;
  rows: number;
  cols: number;
}

/** A Gaussian fitted to features: mean [d] and covariance [d, d] (row-major, unbiased: divided by n − 1). */
export interface GaussianStats {
  mean: Float64Array;
  cov: Float64Array;
  dim: number;
  /** Samples it was fitted to. */
  count: number;
}

/** The terms of a Fréchet distance: total = meanTerm + traceTerm. */
export interface FrechetParts {
  /** |μ₁ − μ₂|². */
  meanTerm: number;
  /** tr C₁ + tr C₂ − 2 tr (C₁C₂)^½. */
  traceTerm: number;
  total: number;
}

/**
 * Copies features into a float64 matrix: a Tensor [N, D] (any float dtype), or `rows` × `cols` values.
 * @example featureMatrix(net.features(x)) // LeNet's 128-d penultimate activations
 */
export function featureMatrix(source: Tensor | ArrayLike<number>, rows?: number, cols?: number): FeatureMatrix {
  if (typeof (source as Tensor).dataSync === 'function') {
    const t = source as Tensor;
    if (t.rank !== 2) throw new ArgumentError('featureMatrix', `features must be a [N, D] tensor, got rank ${t.rank}`);
    return { data: Float64Array.from(t.dataSync() as ArrayLike<number>), rows: t.shape[0]!, cols: t.shape[1]! };
  }
  const values = source as ArrayLike<number>;
  if (rows === undefined || cols === undefined || !Number.isInteger(rows) || !Number.isInteger(cols) || rows * cols !== values.length) {
    throw new ArgumentError('featureMatrix', `needs rows × cols = ${values.length} values, got rows ${rows} and cols ${cols}`);
  }
  return { data: Float64Array.from(values), rows, cols };
}

/** Stacks feature matrices with the same number of columns (e.g. batches) into one. */
export function concatFeatures(parts: readonly FeatureMatrix[]): FeatureMatrix {
  if (parts.length === 0) throw new ArgumentError('concatFeatures', 'needs at least one matrix');
  const cols = parts[0]!.cols;
  if (parts.some((p) => p.cols !== cols)) throw new ArgumentError('concatFeatures', `all matrices need ${cols} columns, got ${parts.map((p) => p.cols).join(', ')}`);
  const rows = parts.reduce((s, p) => s + p.rows, 0);
  const data = new Float64Array(rows * cols);
  let at = 0;
  for (const p of parts) {
    data.set(p.data.subarray(0, p.rows * cols), at);
    at += p.rows * cols;
  }
  return { data, rows, cols };
}

/** The rows of `x` at `indices`. */
export function selectRows(x: FeatureMatrix, indices: readonly number[]): FeatureMatrix {
  const data = new Float64Array(indices.length * x.cols);
  indices.forEach((r, k) => data.set(x.data.subarray(r * x.cols, (r + 1) * x.cols), k * x.cols));
  return { data, rows: indices.length, cols: x.cols };
}

/** Mean and unbiased covariance (÷ (n − 1), as numpy.cov and the FID reference code) of the rows of `x`. */
export function gaussianStats(x: FeatureMatrix): GaussianStats {
  const { rows: n, cols: d, data } = x;
  if (n < 2) throw new ArgumentError('gaussianStats', `needs at least 2 samples to fit a covariance, got ${n}`);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += data[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  const cov = new Float64Array(d * d);
  const centered = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) centered[j] = data[i * d + j]! - mean[j]!;
    for (let a = 0; a < d; a++) {
      const ca = centered[a]!;
      if (ca === 0) continue;
      const row = a * d;
      for (let b = a; b < d; b++) cov[row + b]! += ca * centered[b]!;
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = cov[a * d + b]! / (n - 1);
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
  }
  return { mean, cov, dim: d, count: n };
}

/**
 * Eigendecomposition of a symmetric matrix [n, n] (row-major, float64) by cyclic Jacobi rotations: A = V·diag(λ)·Vᵀ.
 * Only the upper triangle's symmetric part is used. Accurate to ~1e-12 relative; O(n³) per sweep, fine up to a few
 * hundred dimensions.
 * @returns values λ [n] (unsorted) and vectors V [n, n] whose column i belongs to λᵢ.
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): { values: Float64Array; vectors: Float64Array } {
  if (!Number.isInteger(n) || n < 1 || matrix.length !== n * n) throw new ArgumentError('symmetricEigen', `needs an n × n matrix, got ${matrix.length} values for n = ${n}`);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const v = 0.5 * (matrix[i * n + j]! + matrix[j * n + i]!);
      a[i * n + j] = v;
      a[j * n + i] = v;
    }
  }
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += a[i]! * a[i]!;
  if (!Number.isFinite(total)) throw new ArgumentError('symmetricEigen', 'the matrix has non-finite entries');
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += a[i * n + j]! * a[i * n + j]!;
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        // rotation J (J_pp = J_qq = c, J_pq = s, J_qp = −s) with (JᵀAJ)_pq = 0: t = tan of the angle, the smaller root
        // of t² + 2θt − 1 = 0, θ = (a_qq − a_pp) / 2a_pq
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) { // columns p, q of A·J
          const akp = a[k * n + p]!, akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) { // rows p, q of Jᵀ·(A·J)
          const apk = a[p * n + k]!, aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + q] = 0;
        a[q * n + p] = 0;
        for (let k = 0; k < n; k++) { // V ← V·J
          const vkp = v[k * n + p]!, vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i]!;
  return { values, vectors: v };
}

/**
 * The principal square root of a symmetric positive semi-definite matrix [n, n]: V·diag(√max(λ, 0))·Vᵀ (eigenvalues
 * that round to slightly negative count as 0).
 */
export function sqrtPsd(matrix: ArrayLike<number>, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, n);
  const root = Float64Array.from(values, (x) => Math.sqrt(Math.max(x, 0)));
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += vectors[i * n + k]! * root[k]! * vectors[j * n + k]!;
      out[i * n + j] = sum;
      out[j * n + i] = sum;
    }
  }
  return out;
}

function matmulSquare(x: Float64Array, y: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const xik = x[i * n + k]!;
      if (xik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j]! += xik * y[k * n + j]!;
    }
  }
  return out;
}

/**
 * tr (C₁C₂)^½ for symmetric PSD C₁, C₂ [n, n]. C₁C₂ is not symmetric, but it is similar to the symmetric PSD matrix
 * M = C₁^½·C₂·C₁^½ (C₁C₂ = C₁^½·M·C₁^{−½} where C₁ is invertible, by continuity otherwise), so both have the same
 * non-negative eigenvalues μᵢ and tr (C₁C₂)^½ = Σ √μᵢ, computed from M's symmetric eigendecomposition.
 */
export function traceSqrtProduct(c1: ArrayLike<number>, c2: ArrayLike<number>, n: number): number {
  if (c1.length !== n * n || c2.length !== n * n) throw new ArgumentError('traceSqrtProduct', `needs two ${n} × ${n} matrices`);
  const s1 = sqrtPsd(c1, n);
  const m = matmulSquare(matmulSquare(s1, Float64Array.from(c2), n), s1, n);
  const { values } = symmetricEigen(m, n);
  let sum = 0;
  for (const x of values) sum += Math.sqrt(Math.max(x, 0));
  return sum;
}

/**
 * The Fréchet (2-Wasserstein) distance between two Gaussians, the FID formula:
 * d² = |μ₁ − μ₂|² + tr C₁ + tr C₂ − 2 tr (C₁C₂)^½. Identical statistics give 0 (to rounding); a pure mean shift δ
 * gives |δ|²; diagonal covariances give |Δμ|² + Σ (σ₁ᵢ − σ₂ᵢ)².
 */
export function frechetParts(a: GaussianStats, b: GaussianStats): FrechetParts {
  if (a.dim !== b.dim) throw new ArgumentError('frechetDistance', `the Gaussians have different dimensions (${a.dim} and ${b.dim})`);
  const d = a.dim;
  let meanTerm = 0;
  for (let i = 0; i < d; i++) meanTerm += (a.mean[i]! - b.mean[i]!) ** 2;
  let trace = 0;
  for (let i = 0; i < d; i++) trace += a.cov[i * d + i]! + b.cov[i * d + i]!;
  const traceTerm = trace - 2 * traceSqrtProduct(a.cov, b.cov, d);
  return { meanTerm, traceTerm, total: meanTerm + traceTerm };
}

/** {@link frechetParts}' total: the Fréchet distance (squared, as FID reports it) between two fitted Gaussians. */
export function frechetDistance(a: GaussianStats, b: GaussianStats): number {
  return frechetParts(a, b).total;
}

/** The Fréchet distance between Gaussians fitted to two feature sets (FID when the features are Inception's). */
export function frechetDistanceOfFeatures(x: FeatureMatrix, y: FeatureMatrix): number {
  return frechetDistance(gaussianStats(x), gaussianStats(y));
}

/** Squared Euclidean distances between the rows of x and the rows of y: [x.rows, y.rows] row-major. */
export function pairwiseSquaredDistances(x: FeatureMatrix, y: FeatureMatrix): Float64Array {
  if (x.cols !== y.cols) throw new ArgumentError('pairwiseSquaredDistances', `the feature sets have ${x.cols} and ${y.cols} columns`);
  const d = x.cols, out = new Float64Array(x.rows * y.rows);
  for (let i = 0; i < x.rows; i++) {
    const xi = i * d;
    for (let j = 0; j < y.rows; j++) {
      const yj = j * d;
      let s = 0;
      for (let k = 0; k < d; k++) {
        const diff = x.data[xi + k]! - y.data[yj + k]!;
        s += diff * diff;
      }
      out[i * y.rows + j] = s;
    }
  }
  return out;
}

/**
 * Diversity: the mean Euclidean distance over all pairs of distinct rows (0 for fewer than two rows). Collapsed
 * samples score low; compare against the same figure for real images.
 */
export function meanPairwiseDistance(x: FeatureMatrix): number {
  if (x.rows < 2) return 0;
  const d2 = pairwiseSquaredDistances(x, x);
  let sum = 0;
  for (let i = 0; i < x.rows; i++) for (let j = i + 1; j < x.rows; j++) sum += Math.sqrt(d2[i * x.rows + j]!);
  return sum / ((x.rows * (x.rows - 1)) / 2);
}

/** Squared distance from each row to its k-th nearest other row (the k-NN ball radius², self excluded). */
function kthNeighbourRadii(x: FeatureMatrix, k: number): Float64Array {
  const d2 = pairwiseSquaredDistances(x, x);
  const radii = new Float64Array(x.rows);
  const row = new Float64Array(x.rows - 1);
  for (let i = 0; i < x.rows; i++) {
    let m = 0;
    for (let j = 0; j < x.rows; j++) if (j !== i) row[m++] = d2[i * x.rows + j]!;
    row.sort();
    radii[i] = row[k - 1]!;
  }
  return radii;
}

/**
 * Improved precision and recall (Kynkäänniemi et al., 2019) with k-nearest-neighbour balls in feature space.
 * precision: the fraction of generated samples inside at least one real sample's k-NN ball (fidelity);
 * recall: the fraction of real samples inside at least one generated sample's k-NN ball (coverage).
 */
export function precisionRecall(real: FeatureMatrix, generated: FeatureMatrix, k = 3): { precision: number; recall: number; k: number } {
  if (!Number.isInteger(k) || k < 1 || k >= Math.min(real.rows, generated.rows)) {
    throw new ArgumentError('precisionRecall', `k must be an integer in [1, ${Math.min(real.rows, generated.rows) - 1}] (below both set sizes), got ${k}`);
  }
  const realRadii = kthNeighbourRadii(real, k), genRadii = kthNeighbourRadii(generated, k);
  const cross = pairwiseSquaredDistances(generated, real); // [gen, real]
  let inReal = 0;
  for (let g = 0; g < generated.rows; g++) {
    for (let r = 0; r < real.rows; r++) {
      if (cross[g * real.rows + r]! <= realRadii[r]!) { inReal++; break; }
    }
  }
  let inGen = 0;
  for (let r = 0; r < real.rows; r++) {
    for (let g = 0; g < generated.rows; g++) {
      if (cross[g * real.rows + r]! <= genRadii[g]!) { inGen++; break; }
    }
  }
  return { precision: inReal / generated.rows, recall: inGen / real.rows, k };
}
