// Argument checking shared by the ops: tensors are alive, numbers become scalars of the partner's dtype, dtypes agree.

import { Tensor, fromDataId } from '../tensor.js';
import type { DType } from '../dtype.js';
import { ArgumentError, DTypeError } from '../errors.js';
import { getBackend } from '../backend/registry.js';
import { describe } from '../shape.js';

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

// ---------- plain-JavaScript argument checks (TypeScript callers get these from the types) ----------

/** A number (NaN rejected); `integer` also rejects fractions and ±∞. */
export function checkNumber(v: unknown, op: string, arg: string, integer = false): number {
  if (typeof v !== 'number' || Number.isNaN(v) || (integer && !Number.isInteger(v))) {
    throw new ArgumentError(op, `${arg} must be ${integer ? 'an integer' : 'a number'}, got ${describe(v)}`);
  }
  return v;
}

/** An array of integers (e.g. a shape, dims or axes list). */
export function checkIntArray(v: unknown, op: string, arg: string): readonly number[] {
  if (!Array.isArray(v) || v.some((d) => typeof d !== 'number' || !Number.isInteger(d))) {
    throw new ArgumentError(op, `${arg} must be an array of integers, got ${describe(v)}`);
  }
  return v as readonly number[];
}

/** An options object (or undefined, when `required` is false). */
export function checkOptions<T extends object>(v: T | undefined, op: string, required = false, arg = 'options'): T {
  if (v === undefined && !required) return {} as T;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ArgumentError(op, `${arg} must be an object${required ? '' : ' or undefined'}, got ${describe(v)}`);
  }
  return v;
}

/** One of the allowed string values. */
export function checkChoice<T extends string>(v: unknown, allowed: readonly T[], op: string, arg: string): T {
  if (!allowed.includes(v as T)) throw new ArgumentError(op, `${arg} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(v)}`);
  return v as T;
}
