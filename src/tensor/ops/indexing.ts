// Index-driven ops: gather ↔ scatterAdd and indexSelect ↔ indexAdd (each pair is the other's adjoint),
// oneHot, and the triangular masks tril/triu.

import { defineOp } from '../graph/define-op.js';
import { Tensor, fromDataId } from '../tensor.js';
import { ArgumentError, DTypeError, ShapeError, fmtShape } from '../errors.js';
import { normalizeAxis, type Shape } from '../shape.js';
import { checkChoice, checkInt, checkNumber, checkTensor } from './operands.js';
import { cast, eq, where } from './elementwise.js';
import { pad, unsqueeze } from './movement.js';
import { arange, tensor, zeros } from '../creation.js';

const gatherOp = defineOp<{ axis: number }>({
  name: 'gather',
  forward: ([x, index], { axis }) => fromDataId(x!.backend, x!.backend.gather(x!.info(), axis, index!.info()), index!.shape, x!.dtype),
  saveInputs: [1],
  // gather reads x at the indexed positions, so its adjoint adds dy into zeros at those positions
  vjp: (gy, { inputs: [, index], attrs: { axis }, inputShapes }) => [
    scatterAdd(zeros(inputShapes[0]!, { dtype: gy.dtype }), axis, index!, gy),
    null,
  ],
});

const scatterAddOp = defineOp<{ axis: number }>({
  name: 'scatterAdd',
  forward: ([x, index, src], { axis }) =>
    fromDataId(x!.backend, x!.backend.scatterAdd(x!.info(), axis, index!.info(), src!.info()), x!.shape, x!.dtype),
  saveInputs: [1],
  // out = x + S(src) with S linear: ḡx = ḡ, ḡsrc = Sᵀḡ = gather(ḡ) (src positions beyond index's shape get 0)
  vjp: (gy, { inputs: [, index], attrs: { axis }, needs, inputShapes }) => {
    let gsrc: Tensor | null = null;
    if (needs[2]) {
      gsrc = gather(gy, axis, index!);
      const srcShape = inputShapes[2]!;
      if (srcShape.some((d, i) => d !== gsrc!.shape[i])) {
        gsrc = padTo(gsrc, srcShape);
      }
    }
    return [needs[0] ? gy : null, null, gsrc];
  },
});

function padTo(x: Tensor, shape: Shape): Tensor {
  // only reached when src is larger than index in some dim: positions never read get a zero gradient
  return pad(x, shape.map((d, i) => [0, d - x.shape[i]!] as [number, number]));
}

function checkGatherArgs(op: string, x: Tensor, axis: number, index: Tensor, src?: Tensor): number {
  checkInt(index, op, 'index');
  if (index.rank !== x.rank) throw new ShapeError(op, `index ${fmtShape(index.shape)} must have the same rank as x ${fmtShape(x.shape)}`);
  const a = normalizeAxis(axis, x.rank, op);
  index.shape.forEach((d, i) => {
    if (i !== a && d > x.shape[i]!) throw new ShapeError(op, `index ${fmtShape(index.shape)} is larger than x ${fmtShape(x.shape)} in dimension ${i}`);
    if (src && d > src.shape[i]!) throw new ShapeError(op, `index ${fmtShape(index.shape)} is larger than src ${fmtShape(src.shape)} in dimension ${i}`);
  });
  return a;
}

/**
 * out[i][j][k] = x[i][index[i][j][k]][k] for axis = 1 (PyTorch's gather). index is int32 with x's rank.
 * @example gather(logits, 1, labels2d)   // [B, C], [B, 1] → [B, 1]
 */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  const t = checkTensor(x, 'gather');
  const idx = checkTensor(index, 'gather', 'index');
  return gatherOp([t, idx], { axis: checkGatherArgs('gather', t, axis, idx) });
}

/** out = x, then out[i][index[i][j][k]][k] += src[i][j][k] for axis = 1 (PyTorch's scatter_add, not in place). */
export function scatterAdd(x: Tensor, axis: number, index: Tensor, src: Tensor): Tensor {
  const t = checkTensor(x, 'scatterAdd');
  const idx = checkTensor(index, 'scatterAdd', 'index');
  const s = checkTensor(src, 'scatterAdd', 'src');
  if (s.dtype !== t.dtype) throw new DTypeError('scatterAdd', `src has dtype ${s.dtype}, x has ${t.dtype}`);
  if (s.rank !== t.rank) throw new ShapeError('scatterAdd', `src ${fmtShape(s.shape)} must have the same rank as x ${fmtShape(t.shape)}`);
  return scatterAddOp([t, idx, s], { axis: checkGatherArgs('scatterAdd', t, axis, idx, s) });
}

const indexSelectOp = defineOp<{ axis: number }>({
  name: 'indexSelect',
  forward: ([x, index], { axis }) => {
    const shape = [...x!.shape];
    shape[axis] = index!.shape[0]!;
    return fromDataId(x!.backend, x!.backend.indexSelect(x!.info(), axis, index!.info()), shape, x!.dtype);
  },
  saveInputs: [1],
  // selecting slices is linear; its adjoint adds dy's slices back at the selected positions
  vjp: (gy, { inputs: [, index], attrs: { axis }, inputShapes }) => [
    indexAdd(zeros(inputShapes[0]!, { dtype: gy.dtype }), axis, index!, gy),
    null,
  ],
});

const indexAddOp = defineOp<{ axis: number }>({
  name: 'indexAdd',
  forward: ([x, index, src], { axis }) =>
    fromDataId(x!.backend, x!.backend.indexAdd(x!.info(), axis, index!.info(), src!.info()), x!.shape, x!.dtype),
  saveInputs: [1],
  // out = x + A(src): ḡx = ḡ, ḡsrc = Aᵀḡ = indexSelect(ḡ)
  vjp: (gy, { inputs: [, index], attrs: { axis }, needs }) => [needs[0] ? gy : null, null, needs[2] ? indexSelect(gy, axis, index!) : null],
});

function checkIndexVector(op: string, index: Tensor): void {
  checkInt(index, op, 'index');
  if (index.rank !== 1) throw new ShapeError(op, `index must be 1-D, got shape ${fmtShape(index.shape)}`);
}

/** The slices x.take(index, axis) with a 1-D int32 index (e.g. an embedding lookup on axis 0). */
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  const t = checkTensor(x, 'indexSelect');
  const idx = checkTensor(index, 'indexSelect', 'index');
  checkIndexVector('indexSelect', idx);
  return indexSelectOp([t, idx], { axis: normalizeAxis(axis, t.rank, 'indexSelect') });
}

/** out = x with src's slices added at positions index along axis (duplicates accumulate). */
export function indexAdd(x: Tensor, axis: number, index: Tensor, src: Tensor): Tensor {
  const t = checkTensor(x, 'indexAdd');
  const idx = checkTensor(index, 'indexAdd', 'index');
  const s = checkTensor(src, 'indexAdd', 'src');
  checkIndexVector('indexAdd', idx);
  const a = normalizeAxis(axis, t.rank, 'indexAdd');
  const expected = [...t.shape];
  expected[a] = idx.shape[0]!;
  if (s.rank !== t.rank || s.shape.some((d, i) => d !== expected[i])) {
    throw new ShapeError('indexAdd', `src has shape ${fmtShape(s.shape)}, expected ${fmtShape(expected)}`);
  }
  if (s.dtype !== t.dtype) throw new DTypeError('indexAdd', `src has dtype ${s.dtype}, x has ${t.dtype}`);
  return indexAddOp([t, idx, s], { axis: a });
}

/** [...] int32 class indices → [..., numClasses] one-hot floats (no gradient). Out-of-range indices are an error. */
export function oneHot(indices: Tensor, numClasses: number, dtype: 'float32' | 'float64' = 'float32'): Tensor {
  const t = checkTensor(indices, 'oneHot', 'indices');
  checkInt(t, 'oneHot', 'indices');
  checkChoice(dtype, ['float32', 'float64'] as const, 'oneHot', 'dtype');
  if (!Number.isInteger(numClasses) || numClasses <= 0) throw new ArgumentError('oneHot', `numClasses must be a positive integer, got ${numClasses}`);
  if (t.backend.canReadSync) {
    for (const c of t.dataSync()) {
      if (c < 0 || c >= numClasses) throw new ArgumentError('oneHot', `index ${c} is out of range for ${numClasses} classes`);
    }
  }
  const classes = arange(numClasses, undefined, 1, { dtype });
  return eq(unsqueeze(cast(t, dtype), -1), classes);
}

function triangle(op: 'tril' | 'triu', x: Tensor, k: number): Tensor {
  const t = checkTensor(x, op);
  checkNumber(k, op, 'k', true);
  if (t.rank < 2) throw new ShapeError(op, `needs rank ≥ 2, got shape ${fmtShape(t.shape)}`);
  const rows = t.shape[t.rank - 2]!, cols = t.shape[t.rank - 1]!;
  const mask = new Int32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) mask[i * cols + j] = (op === 'tril' ? j - i <= k : j - i >= k) ? 1 : 0;
  }
  // a select, not a product with the mask: ∞ and NaN in the zeroed triangle become 0, not 0·∞ = NaN
  return where(tensor(mask, { shape: [rows, cols] }), t, 0);
}

/** Keeps the lower triangle of the last two dims (j ≤ i + k), zeroing the rest. */
export function tril(x: Tensor, k = 0): Tensor {
  return triangle('tril', x, k);
}

/** Keeps the upper triangle of the last two dims (j ≥ i + k), zeroing the rest. */
export function triu(x: Tensor, k = 0): Tensor {
  return triangle('triu', x, k);
}
