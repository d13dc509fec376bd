// Argument checking shared by the ops: tensors are alive, numbers become scalars of the partner's dtype, dtypes agree.

import { Tensor, fromDataId } from '../tensor.js';
import type { DType } from '../dtype.js';
import { ArgumentError, DTypeError } from '../errors.js';
import { getBackend } from '../backend/registry.js';

export type TensorOrNumber = Tensor | number;

/** Checks that `x` is a live Tensor; the error names the op and the argument. */
export function checkTensor(x: unknown, op: string, arg = 'x'): Tensor {
  if (!(x instanceof Tensor)) {
    throw new ArgumentError(op, `argument '${arg}' must be a Tensor, got ${x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x}`);
  }
  x.assertAlive(op, arg);
  return x;
}

/** A rank-0 tensor of `dtype` on the current backend. */
export function scalarTensor(value: number, dtype: DType): Tensor {
  const be = getBackend();
  return fromDataId(be, be.fill(1, value, dtype), [], dtype);
}

/** Tensors for a binary op: numbers take the dtype of the tensor operand; two tensors must share a dtype. */
export function binaryOperands(a: TensorOrNumber, b: TensorOrNumber, op: string): [Tensor, Tensor] {
  if (typeof a === 'number' && typeof b === 'number') throw new ArgumentError(op, 'at least one operand must be a Tensor');
  if (typeof a === 'number') {
    const tb = checkTensor(b, op, 'b');
    return [scalarTensor(a, tb.dtype), tb];
  }
  const ta = checkTensor(a, op, 'a');
  if (typeof b === 'number') return [ta, scalarTensor(b, ta.dtype)];
  const tb = checkTensor(b, op, 'b');
  if (ta.dtype !== tb.dtype) {
    throw new DTypeError(op, `dtype mismatch: a is ${ta.dtype}, b is ${tb.dtype}; convert one with cast()`);
  }
  return [ta, tb];
}

export function checkFloat(x: Tensor, op: string, arg = 'x'): void {
  if (x.dtype === 'int32') throw new DTypeError(op, `argument '${arg}' must be float32 or float64, got ${x.dtype}`);
}

export function checkInt(x: Tensor, op: string, arg = 'index'): void {
  if (x.dtype !== 'int32') throw new DTypeError(op, `argument '${arg}' must be int32, got ${x.dtype}`);
}
