// Matrix product with NumPy semantics: 1-D operands are promoted and squeezed, batch dims broadcast.
// The primitive works on rank ≥ 2; its VJP is two more matmuls (with transposed views, so no copies).

import { defineOp } from '../graph/define-op.js';
import type { TensorInfo } from '../backend/backend.js';
import { Tensor, fromDataId } from '../tensor.js';
import { ShapeError, fmtShape } from '../errors.js';
import { broadcastShapes, broadcastStrides, sizeOf } from '../shape.js';
import { checkFloat, checkTensor, binaryOperands } from './operands.js';
import { sumToShape } from './reduce.js';
import { reshape, transpose } from './movement.js';

function batchBroadcast(a: Tensor, b: Tensor): { aView: TensorInfo; bView: TensorInfo; batch: number[] } {
  const batch = broadcastShapes([a.shape.slice(0, -2), b.shape.slice(0, -2)], 'matmul', ['a batch', 'b batch']);
  const view = (t: Tensor) => {
    const shape = [...batch, ...t.shape.slice(-2)];
    return { ...t.info(), shape, strides: broadcastStrides(t.shape, t.strides, shape) };
  };
  return { aView: view(a), bView: view(b), batch };
}

const matmulOp = defineOp<undefined>({
  name: 'matmul',
  forward: ([a, b]) => {
    const { aView, bView, batch } = batchBroadcast(a!, b!);
    const shape = [...batch, a!.shape[a!.rank - 2]!, b!.shape[b!.rank - 1]!];
    return fromDataId(a!.backend, a!.backend.matmul(aView, bView), shape, a!.dtype);
  },
  saveInputs: true,
  // d(AB) = dA·B + A·dB, so ḡA = ḡ·Bᵀ and ḡB = Aᵀ·ḡ (summed over broadcast batch dims)
  vjp: (gy, { inputs: [a, b], needs }) => [
    needs[0] ? productSummedTo(gy, transpose(b!), a!.shape) : null,
    needs[1] ? productSummedTo(transpose(a!), gy, b!.shape) : null,
  ],
});

/** Σ over the batch dims flagged in `reduce` of x·y (x, y rank ≥ 2 with broadcastable batch dims). */
const matmulSumOp = defineOp<{ reduce: boolean[] }>({
  name: 'matmul',
  forward: ([x, y], { reduce }) => {
    const { aView, bView, batch } = batchBroadcast(x!, y!);
    const shape = [...batch.filter((_, d) => !reduce[d]), x!.shape[x!.rank - 2]!, y!.shape[y!.rank - 1]!];
    return fromDataId(x!.backend, x!.backend.matmul(aView, bView, reduce), shape, x!.dtype);
  },
  saveInputs: true,
  // a sum of products Σᵣ XᵣYᵣ: each term gets the same ḡ (broadcast back over the summed dims)
  vjp: (gy, { inputs: [x, y], needs, attrs: { reduce } }) => {
    const batch = broadcastShapes([x!.shape.slice(0, -2), y!.shape.slice(0, -2)], 'matmul', ['a batch', 'b batch']);
    const g = reshape(gy, [...batch.map((d, i) => (reduce[i] ? 1 : d)), ...gy.shape.slice(-2)]);
    return [
      needs[0] ? productSummedTo(g, transpose(y!), x!.shape) : null,
      needs[1] ? productSummedTo(transpose(x!), g, y!.shape) : null,
    ];
  },
});

/**
 * x·y summed down to `target` (the shape of the operand a gradient is for): batch dims where the target was
 * broadcast are summed inside the matmul (one pass, no [batch, m, n] intermediate) instead of afterwards.
 */
function productSummedTo(x: Tensor, y: Tensor, target: readonly number[]): Tensor {
  const batch = broadcastShapes([x.shape.slice(0, -2), y.shape.slice(0, -2)], 'matmul', ['a batch', 'b batch']);
  const tBatch = target.slice(0, -2);
  const padded = [...new Array<number>(batch.length - tBatch.length).fill(1), ...tBatch];
  const reduce = batch.map((d, i) => padded[i] === 1 && d !== 1);
  if (!reduce.some(Boolean)) return sumToShape(matmulOp([x, y], undefined), target);
  return reshape(matmulSumOp([x, y], { reduce }), target);
}

/**
 * Matrix product. Shapes: [..., m, k] @ [..., k, n] → [..., m, n] with broadcast batch dims;
 * a 1-D a is [k] → treated as [1, k]; a 1-D b is [k] → [k, 1]; the added dims are removed again.
 * @example matmul(x, transpose(w))   // [B, in] @ [in, out]
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const [ta, tb] = binaryOperands(checkTensor(a, 'matmul', 'a'), checkTensor(b, 'matmul', 'b'), 'matmul');
  checkFloat(ta, 'matmul', 'a');
  if (ta.rank === 0 || tb.rank === 0) throw new ShapeError('matmul', `operands must have rank ≥ 1, got a ${fmtShape(ta.shape)} and b ${fmtShape(tb.shape)}`);
  const a2 = ta.rank === 1 ? reshape(ta, [1, ta.shape[0]!]) : ta;
  const b2 = tb.rank === 1 ? reshape(tb, [tb.shape[0]!, 1]) : tb;
  const k1 = a2.shape[a2.rank - 1]!, k2 = b2.shape[b2.rank - 2]!;
  if (k1 !== k2) {
    throw new ShapeError('matmul', `inner dimensions differ: a ${fmtShape(ta.shape)} has ${k1} columns, b ${fmtShape(tb.shape)} has ${k2} rows`);
  }
  // [..., m, k] @ [k, n] is one [(…·m), k] @ [k, n] product (one packing of b instead of one per batch entry)
  if (a2.rank > 2 && b2.rank === 2) {
    const flat = matmulOp([reshape(a2, [sizeOf(a2.shape.slice(0, -1)), k1]), b2], undefined);
    const out = reshape(flat, [...a2.shape.slice(0, -1), b2.shape[1]!]);
    return tb.rank === 1 ? reshape(out, out.shape.slice(0, -1)) : out;
  }
  const out = matmulOp([a2, b2], undefined);
  if (ta.rank > 1 && tb.rank > 1) return out;
  const shape = [...out.shape];
  if (tb.rank === 1) shape.pop();
  if (ta.rank === 1) shape.splice(shape.length - (tb.rank === 1 ? 1 : 2), 1);
  return reshape(out, shape);
}

