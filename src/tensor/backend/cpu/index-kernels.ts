// Index-driven CPU kernels: gather/scatterAdd along an axis, indexSelect/indexAdd with a 1-D index, concat.
// Inputs here are contiguous (the backend copies views first); data is viewed as [outer, axisLength, inner].

import type { TypedArray } from '../../dtype.js';
import type { Shape } from '../../shape.js';
import { ArgumentError } from '../../errors.js';

function splitAt(shape: Shape, axis: number): { outer: number; inner: number } {
  let outer = 1, inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return { outer, inner };
}

function checkIndex(op: string, idx: number, limit: number): void {
  if (idx < 0 || idx >= limit) throw new ArgumentError(op, `index ${idx} is out of range for an axis of length ${limit}`);
}

/**
 * gather: out[o, a, i] = x[o', index[o, a, i], i'] where (o', i') are the same multi-index coordinates in x's shape.
 * x and index have the same rank; index may be smaller than x in every dim.
 */
export function gatherKernel(x: TypedArray, xShape: Shape, axis: number, index: Int32Array, indexShape: Shape, out: TypedArray): void {
  const rank = xShape.length;
  const xStrides = new Array<number>(rank);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) { xStrides[d] = s; s *= xShape[d]!; }
  const coord = new Array<number>(rank).fill(0);
  const total = index.length;
  for (let flat = 0; flat < total; flat++) {
    const idx = index[flat]!;
    checkIndex('gather', idx, xShape[axis]!);
    let off = 0;
    for (let d = 0; d < rank; d++) off += (d === axis ? idx : coord[d]!) * xStrides[d]!;
    out[flat] = x[off]!;
    for (let d = rank - 1; d >= 0; d--) { if (++coord[d]! < indexShape[d]!) break; coord[d] = 0; }
  }
}

/** scatterAdd: `out` already holds a copy of x; out[.., index[p], ..] += src[p] for every position p of index (src read with its own shape). */
export function scatterAddKernel(
  out: TypedArray, xShape: Shape, axis: number, index: Int32Array, indexShape: Shape, src: TypedArray, srcShape: Shape,
): void {
  const rank = xShape.length;
  const xStrides = new Array<number>(rank);
  const srcStrides = new Array<number>(rank);
  let s = 1, t = 1;
  for (let d = rank - 1; d >= 0; d--) {
    xStrides[d] = s; s *= xShape[d]!;
    srcStrides[d] = t; t *= srcShape[d]!;
  }
  const coord = new Array<number>(rank).fill(0);
  const total = index.length;
  for (let flat = 0; flat < total; flat++) {
    const idx = index[flat]!;
    checkIndex('scatterAdd', idx, xShape[axis]!);
    let off = 0, srcOff = 0;
    for (let d = 0; d < rank; d++) {
      off += (d === axis ? idx : coord[d]!) * xStrides[d]!;
      srcOff += coord[d]! * srcStrides[d]!;
    }
    out[off]! += src[srcOff]!;
    for (let d = rank - 1; d >= 0; d--) { if (++coord[d]! < indexShape[d]!) break; coord[d] = 0; }
  }
}

export function indexSelectKernel(x: TypedArray, xShape: Shape, axis: number, index: Int32Array, out: TypedArray): void {
  const { outer, inner } = splitAt(xShape, axis);
  const axisLen = xShape[axis]!;
  const k = index.length;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const idx = index[j]!;
      checkIndex('indexSelect', idx, axisLen);
      const src = (o * axisLen + idx) * inner;
      const dst = (o * k + j) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] = x[src + i]!;
    }
  }
}

/** out already holds a copy of x; adds src (shape of x with axis → index.length) at the indexed slices. */
export function indexAddKernel(out: TypedArray, xShape: Shape, axis: number, index: Int32Array, src: TypedArray): void {
  const { outer, inner } = splitAt(xShape, axis);
  const axisLen = xShape[axis]!;
  const k = index.length;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const idx = index[j]!;
      checkIndex('indexAdd', idx, axisLen);
      const dst = (o * axisLen + idx) * inner;
      const from = (o * k + j) * inner;
      for (let i = 0; i < inner; i++) out[dst + i]! += src[from + i]!;
    }
  }
}

export function concatKernel(parts: readonly { data: TypedArray; shape: Shape }[], axis: number, outShape: Shape, out: TypedArray): void {
  const { outer, inner } = splitAt(outShape, axis);
  const outAxis = outShape[axis]!;
  let axisOffset = 0;
  for (const part of parts) {
    const len = part.shape[axis]! * inner;
    for (let o = 0; o < outer; o++) {
      const dst = (o * outAxis + axisOffset) * inner;
      out.set(part.data.subarray(o * len, o * len + len), dst);
    }
    axisOffset += part.shape[axis]!;
  }
}

