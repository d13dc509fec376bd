// Reductions and scans over the trailing dimension of contiguous data viewed as [rows, n].

import type { ArgReduceOp, ReduceOp } from '../backend.js';
import type { TypedArray } from '../../dtype.js';
import { forEachRow } from './strided-loop.js';

export function reduceKernel(op: ReduceOp, x: TypedArray, rows: number, n: number, out: TypedArray): void {
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    if (op === 'sum') {
      let acc = 0; // a JS double: float32 sums accumulate in float64
      for (let i = 0; i < n; i++) acc += x[base + i]!;
      out[r] = acc;
    } else {
      if (n === 0) { out[r] = op === 'max' ? -Infinity : Infinity; continue; }
      let best = x[base]!;
      for (let i = 1; i < n; i++) {
        const v = x[base + i]!;
        if (v !== v) { best = v; break; } // NaN propagates
        if (op === 'max' ? v > best : v < best) best = v;
      }
      out[r] = best;
    }
  }
}

export function argReduceKernel(op: ArgReduceOp, x: TypedArray, rows: number, n: number, out: Int32Array): void {
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    let bestIndex = 0;
    let best = x[base]!;
    for (let i = 1; i < n; i++) {
      const v = x[base + i]!;
      if (best !== best) break; // NaN counts as the extreme, as in PyTorch
      if (v !== v || (op === 'argmax' ? v > best : v < best)) { best = v; bestIndex = i; }
    }
    out[r] = bestIndex;
  }
}

/** Inclusive prefix sum along the middle axis of x viewed as [outer, n, inner]. */
export function cumsumKernel(x: TypedArray, outer: number, n: number, inner: number, reverse: boolean, out: TypedArray): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let acc = 0;
      const base = o * n * inner + j;
      for (let t = 0; t < n; t++) {
        const i = base + (reverse ? n - 1 - t : t) * inner;
        acc += x[i]!;
        out[i] = acc;
      }
    }
  }
}

/** For each row of length n, the indices of its k largest (or smallest) values, in sorted order; ties keep the lower index first. */
export function topkKernel(x: TypedArray, rows: number, n: number, k: number, largest: boolean, out: Int32Array): void {
  const order = new Int32Array(n);
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    for (let i = 0; i < n; i++) order[i] = i;
    const sign = largest ? -1 : 1;
    const sorted = Array.from(order).sort((i, j) => {
      const a = x[base + i]!, b = x[base + j]!;
      const an = a !== a, bn = b !== b; // NaN sorts as the largest value, as in PyTorch
      if (an || bn) return an && bn ? i - j : (an ? 1 : -1) * sign;
      return a === b ? i - j : sign * (a - b);
    });
    for (let i = 0; i < k; i++) out[r * k + i] = sorted[i]!;
  }
}

/** Inverse-CDF sampling per row; without replacement, drawn entries get probability 0 and the row is renormalized. */
export function multinomialKernel(
  p: TypedArray, rows: number, n: number, numSamples: number, replacement: boolean, uniforms: TypedArray, out: Int32Array,
): void {
  const weights = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < n; i++) weights[i] = p[r * n + i]!;
    for (let s = 0; s < numSamples; s++) {
      let total = 0;
      for (let i = 0; i < n; i++) total += weights[i]!;
      const target = uniforms[r * numSamples + s]! * total;
      let acc = 0;
      let pick = -1;
      for (let i = 0; i < n; i++) {
        if (weights[i]! <= 0) continue;
        acc += weights[i]!;
        pick = i;
        if (target < acc) break;
      }
      out[r * numSamples + s] = pick;
      if (!replacement && pick >= 0) weights[pick] = 0;
    }
  }
}

/**
 * Sums a strided x (shape = kept dims then reduced dims) into out[rows] without first copying x into
 * [rows, reduceSize] order: the dims are walked in x's memory order (largest stride outermost), each element
 * added to its row's float64 accumulator. Used when the reduced axes are not the innermost ones in memory
 * (e.g. a bias gradient: the sum over the batch of [B, C]).
 */
export function stridedSumKernel(
  x: TypedArray, shape: readonly number[], strides: readonly number[], offset: number, keptRank: number, out: TypedArray,
): void {
  const rank = shape.length;
  const outStrides = new Array<number>(rank).fill(0);
  for (let d = keptRank - 1, s = 1; d >= 0; d--) { outStrides[d] = s; s *= shape[d]!; }
  const order = [...shape.keys()].sort((p, q) => Math.abs(strides[q]!) - Math.abs(strides[p]!) || p - q);
  const acc = new Float64Array(out.length);
  forEachRow(order.map((d) => shape[d]!), [order.map((d) => strides[d]!), order.map((d) => outStrides[d]!)], [offset, 0], (o, n, s) => {
    let xo = o[0]!, ao = o[1]!;
    const xs = s[0]!, as = s[1]!;
    if (as === 0) {
      let sum = 0;
      for (let i = 0; i < n; i++, xo += xs) sum += x[xo]!;
      acc[ao] += sum;
    } else {
      for (let i = 0; i < n; i++, xo += xs, ao += as) acc[ao] += x[xo]!;
    }
  });
  for (let r = 0; r < out.length; r++) out[r] = acc[r]!;
}
