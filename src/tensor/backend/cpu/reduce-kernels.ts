// Reductions and scans over the trailing dimension of contiguous data viewed as [rows, n].

import type { ArgReduceOp, ReduceOp } from '../backend.js';
import type { TypedArray } from '../../dtype.js';

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
      if (an || bn) return an && bn ? i - j : (an ? 1 : -1) * -sign;
      return a === b ? i - j : sign * (a - b);
    });
    for (let i = 0; i < k; i++) out[r * k + i] = sorted[i]!;
  }
}

/** Inverse-CDF sampling per row; without replacement, drawn entries get probability 0 and the row is renormalized. */
export function multinomialKernel(
  p: TypedArray, rows: number, n: number, numSamples: number, replacement: boolean, uniforms: Float64Array, out: Int32Array,
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
