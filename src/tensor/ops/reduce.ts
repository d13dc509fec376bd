// Primitive reductions over any set of axes (sum, max, min, argmax, argmin) and sumToShape, the un-broadcast helper.
// Reduced axes are permuted to the end (a view), so the backend only ever reduces trailing rows.

import { defineOp } from '../graph/define-op.js';
import type { ArgReduceOp, DataId, TensorInfo } from '../backend/backend.js';
import { Tensor, fromDataId } from '../tensor.js';
import { ArgumentError, ShapeError, fmtShape } from '../errors.js';
import {
  describe, normalizeAxes, normalizeAxis, reductionAxes, shapesEqual, sizeOf, type Shape,
} from '../shape.js';
import { checkNumber, checkTensor } from './operands.js';
import { div, eq, mul } from './elementwise.js';
import { expand, reshape } from './movement.js';

interface ReduceAttrs {
  axes: number[];
  keepdims: boolean;
}

function keptShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function reduceForward(x: Tensor, axes: readonly number[], run: (rows: number, reduceSize: number, info: TensorInfo) => DataId) {
  const keep = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const order = [...keep, ...axes];
  const info = {
    ...x.info(),
    shape: order.map((i) => x.shape[i]!),
    strides: order.map((i) => x.strides[i]!),
  };
  const reduceSize = sizeOf(axes.map((i) => x.shape[i]!));
  const rows = sizeOf(keep.map((i) => x.shape[i]!));
  return run(rows, reduceSize, info);
}

function outShape(shape: Shape, { axes, keepdims }: ReduceAttrs): number[] {
  return keepdims ? keptShape(shape, axes) : shape.filter((_, i) => !axes.includes(i));
}

function defineReduce(op: 'max' | 'min', vjp: (gy: Tensor, x: Tensor, y: Tensor, attrs: ReduceAttrs) => Tensor) {
  return defineOp<ReduceAttrs>({
    name: op,
    forward: ([x], attrs) => {
      const id = reduceForward(x!, attrs.axes, (rows, n, info) => x!.backend.reduce(op, info, rows, n));
      return fromDataId(x!.backend, id, outShape(x!.shape, attrs), x!.dtype);
    },
    saveInputs: true,
    saveOutput: true,
    vjp: (gy, ctx) => [vjp(gy, ctx.inputs[0]!, ctx.output!, ctx.attrs)],
  });
}

// d max: the gradient goes to the positions equal to the max, split evenly among ties (as PyTorch's amax)
const extremumVjp = (gy: Tensor, x: Tensor, y: Tensor, { axes }: ReduceAttrs): Tensor => {
  const kept = keptShape(x.shape, axes);
  const mask = eq(x, reshape(y, kept));
  const count = sum(mask, axes, true);
  return mul(div(mask, count), reshape(gy, kept));
};
const maxOp = defineReduce('max', extremumVjp);
const minOp = defineReduce('min', extremumVjp);

const sumOp = defineOp<ReduceAttrs>({
  name: 'sum',
  forward: ([x], attrs) => {
    const id = reduceForward(x!, attrs.axes, (rows, n, info) => x!.backend.reduce('sum', info, rows, n));
    return fromDataId(x!.backend, id, outShape(x!.shape, attrs), x!.dtype);
  },
  // d Σx = the output gradient broadcast back over the reduced axes
  vjp: (gy, { attrs: { axes }, inputShapes }) => [expand(reshape(gy, keptShape(inputShapes[0]!, axes)), inputShapes[0]!)],
});

function reduceArgs(x: Tensor, axes: number | readonly number[] | undefined, keepdims: boolean, op: string): ReduceAttrs {
  const t = checkTensor(x, op);
  if (typeof keepdims !== 'boolean') throw new ArgumentError(op, `keepdims must be a boolean, got ${describe(keepdims)}`);
  return { axes: normalizeAxes(axes, t.rank, op), keepdims };
}

/**
 * Sum over `axes` (all by default).
 * @example sum(x, 1, true)   // [B, N] → [B, 1]
 */
export function sum(x: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  return sumOp([x], reduceArgs(x, axes, keepdims, 'sum'));
}

/**
 * A max/min-like reduction has no identity, so reducing over a zero-size axis is an error (as in PyTorch); an empty
 * tensor reduced over non-empty axes gives an empty result. `caller` is the public op the user called.
 */
export function assertReducible(x: Tensor, axes: readonly number[], caller: string): void {
  const empty = axes.find((a) => x.shape[a] === 0);
  if (empty !== undefined) {
    throw new ArgumentError(caller, `cannot reduce over axis ${empty} of size 0 (shape ${fmtShape(x.shape)}): the reduction has no identity`);
  }
}

/** Maximum over `axes` (all by default). */
export function max(x: Tensor, axes?: number | readonly number[], keepdims = false, caller = 'max'): Tensor {
  const attrs = reduceArgs(x, axes, keepdims, caller);
  assertReducible(x, attrs.axes, caller);
  return maxOp([x], attrs);
}

/** Minimum over `axes` (all by default). */
export function min(x: Tensor, axes?: number | readonly number[], keepdims = false, caller = 'min'): Tensor {
  const attrs = reduceArgs(x, axes, keepdims, caller);
  assertReducible(x, attrs.axes, caller);
  return minOp([x], attrs);
}

function argReduce(op: ArgReduceOp, x: Tensor, axis: number | undefined, keepdims: boolean): Tensor {
  const t = checkTensor(x, op);
  if (axis !== undefined) checkNumber(axis, op, 'axis', true);
  if (axis === undefined) {
    if (t.size === 0) throw new ArgumentError(op, `cannot reduce an empty tensor of shape ${fmtShape(t.shape)} over all axes`);
    return argReduce(op, reshape(t, [t.size]), 0, false);
  }
  const a = normalizeAxis(axis, t.rank, op);
  assertReducible(t, [a], op);
  const id = reduceForward(t, [a], (rows, n, info) => t.backend.argReduce(op, info, rows, n));
  return fromDataId(t.backend, id, outShape(t.shape, { axes: [a], keepdims }), 'int32');
}

/** Index (int32) of the maximum along `axis` (of the flattened tensor when omitted). No gradient. */
export function argmax(x: Tensor, axis?: number, keepdims = false): Tensor {
  return argReduce('argmax', x, axis, keepdims);
}

/** Index (int32) of the minimum along `axis` (of the flattened tensor when omitted). No gradient. */
export function argmin(x: Tensor, axis?: number, keepdims = false): Tensor {
  return argReduce('argmin', x, axis, keepdims);
}

/**
 * Sums a broadcast gradient back to `shape` (the inverse of broadcasting): leading axes are summed away,
 * axes where `shape` has 1 are summed with keepdims.
 */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  if (g.rank < shape.length) throw new ShapeError('sumToShape', `cannot sum ${fmtShape(g.shape)} down to the larger rank ${fmtShape(shape)}`);
  const axes = reductionAxes(shape, g.shape);
  return reshape(sum(g, axes, true), shape);
}

