// Fused row-wise kernels on contiguous data viewed as [rows, n]: softmax and its backward, and row
// normalization (x − mean)/√(var + eps) with its backward. One pass per row instead of one op per step.

import type { TypedArray } from '../../dtype.js';
import { expForFloat32 } from './special-functions.js';

/** out = exp(x − max) / Σ exp(x − max) per row; a row of −∞ gives NaN like the composite. */
export function softmaxRowsKernel(x: TypedArray, rows: number, n: number, out: TypedArray): void {
  const exp = out instanceof Float32Array ? expForFloat32 : Math.exp;
  for (let r = 0, base = 0; r < rows; r++, base += n) {
    let max = -Infinity;
    for (let i = 0; i < n; i++) { const v = x[base + i]!; if (v > max || v !== v) max = v; }
    let sum = 0;
    for (let i = 0; i < n; i++) { const e = exp(x[base + i]! - max); out[base + i] = e; sum += e; }
    const inv = 1 / sum;
    for (let i = 0; i < n; i++) out[base + i] = out[base + i]! * inv;
  }
}

/** dx = y · (gy − Σ gy·y) per row (the softmax VJP). */
export function softmaxRowsBackwardKernel(y: TypedArray, gy: TypedArray, rows: number, n: number, out: TypedArray): void {
  for (let r = 0, base = 0; r < rows; r++, base += n) {
    let dot = 0;
    for (let i = 0; i < n; i++) dot += gy[base + i]! * y[base + i]!;
    for (let i = 0; i < n; i++) out[base + i] = y[base + i]! * (gy[base + i]! - dot);
  }
}

/**
 * xhat = (x − μ)·rstd with rstd = 1/√(σ² + eps) (population variance), per row; rstd written per row.
 * A row whose squared deviations overflow (|x| beyond ~1e154) is redone on x/max|x| (scaledMoments), so it does
 * not normalize to 0 (PyTorch gives NaN there).
 */
export function normalizeRowsKernel(x: TypedArray, rows: number, n: number, eps: number, xhat: TypedArray, rstd: TypedArray): void {
  for (let r = 0, base = 0; r < rows; r++, base += n) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += x[base + i]!;
    let mu = sum / n;
    let sq = 0;
    for (let i = 0; i < n; i++) { const d = x[base + i]! - mu; sq += d * d; }
    let rs = 1 / Math.sqrt(sq / n + eps);
    if (sq === Infinity || mu === Infinity || mu === -Infinity) [mu, rs] = scaledMoments(x, base, n, eps);
    rstd[r] = rs;
    for (let i = 0; i < n; i++) xhat[base + i] = (x[base + i]! - mu) * rs;
  }
}

/** [μ, rstd] of a row whose sums overflowed (every value finite): the same moments computed on x/s, s = max|x|. */
function scaledMoments(x: TypedArray, base: number, n: number, eps: number): [number, number] {
  let s = 0;
  for (let i = 0; i < n; i++) s = Math.max(s, Math.abs(x[base + i]!));
  if (!(s < Infinity)) return [NaN, NaN]; // an infinite or NaN entry: no finite answer
  let sum = 0;
  for (let i = 0; i < n; i++) sum += x[base + i]! / s;
  const m = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) { const d = x[base + i]! / s - m; sq += d * d; }
  // σ² + eps = s²·(Σ(d/s)²/n + eps/s²), rooted without forming s²
  return [m * s, 1 / (s * Math.sqrt(sq / n + eps / s / s))];
}

/** dx = rstd·(gy − mean(gy) − xhat·mean(gy·xhat)) per row (the VJP of normalizeRows). */
export function normalizeRowsBackwardKernel(
  xhat: TypedArray, rstd: TypedArray, gy: TypedArray, rows: number, n: number, out: TypedArray,
): void {
  for (let r = 0, base = 0; r < rows; r++, base += n) {
    let sg = 0, sgx = 0;
    for (let i = 0; i < n; i++) { const g = gy[base + i]!; sg += g; sgx += g * xhat[base + i]!; }
    const mg = sg / n, mgx = sgx / n, rs = rstd[r]!;
    for (let i = 0; i < n; i++) out[base + i] = rs * (gy[base + i]! - mg - xhat[base + i]! * mgx);
  }
}
