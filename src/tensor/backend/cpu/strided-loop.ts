// Walks an n-d index space over several strided operands, one innermost row at a time.
// Adjacent dims that are contiguous for every operand are merged first, so common cases become one flat loop.

import type { Shape } from '../../shape.js';

export interface RowPlan {
  /** Collapsed shape; the last dim is the row length. */
  shape: number[];
  /** Per operand, strides over the collapsed shape. */
  strides: number[][];
}

/** Merges dims that are contiguous for all operands and drops size-1 dims. */
export function collapseDims(shape: Shape, stridesList: readonly (readonly number[])[]): RowPlan {
  const dims: number[] = [];
  const strides: number[][] = stridesList.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = dims.length - 1;
    const mergeable = last >= 0 && stridesList.every((s, k) => strides[k]![last] === s[i]! * shape[i]!);
    if (mergeable) {
      dims[last]! *= shape[i]!;
      stridesList.forEach((s, k) => { strides[k]![last] = s[i]!; });
    } else {
      dims.push(shape[i]!);
      stridesList.forEach((s, k) => strides[k]!.push(s[i]!));
    }
  }
  if (dims.length === 0) {
    dims.push(1);
    strides.forEach((s) => s.push(1));
  }
  return { shape: dims, strides };
}

/**
 * Calls body(offsets, rowLength, rowStrides) for every innermost row; `offsets[k]` is operand k's start.
 * The offsets array is reused between calls: read it, don't keep it.
 */
export function forEachRow(
  shape: Shape,
  stridesList: readonly (readonly number[])[],
  baseOffsets: readonly number[],
  body: (offsets: number[], rowLength: number, rowStrides: number[]) => void,
): void {
  for (const d of shape) if (d === 0) return;
  const plan = collapseDims(shape, stridesList);
  const rank = plan.shape.length;
  const rowLength = plan.shape[rank - 1]!;
  const rowStrides = plan.strides.map((s) => s[rank - 1]!);
  const numOperands = stridesList.length;
  const offsets = [...baseOffsets];
  const counter = new Array<number>(rank - 1).fill(0);
  let rows = 1;
  for (let i = 0; i < rank - 1; i++) rows *= plan.shape[i]!;
  for (let r = 0; r < rows; r++) {
    body(offsets, rowLength, rowStrides);
    // odometer increment over the outer dims
    for (let d = rank - 2; d >= 0; d--) {
      counter[d]!++;
      for (let k = 0; k < numOperands; k++) offsets[k]! += plan.strides[k]![d]!;
      if (counter[d]! < plan.shape[d]!) break;
      for (let k = 0; k < numOperands; k++) offsets[k]! -= plan.strides[k]![d]! * plan.shape[d]!;
      counter[d] = 0;
    }
  }
}
