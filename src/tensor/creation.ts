// Creating tensors: from nested arrays or typed arrays, constant fills, ranges, identity, and seeded random draws.

import { Tensor, fromDataId, type NestedArray } from './tensor.js';
import { DTYPES, allocArray, dtypeOfArray, type DType, type TypedArray } from './dtype.js';
import { ArgumentError, DTypeError, ShapeError, fmtShape } from './errors.js';
import { assertValidShape, describe, sizeOf, type Shape } from './shape.js';
import { getBackend } from './backend/registry.js';
import type { Rng } from './random.js';

export interface CreateOptions {
  dtype?: DType;
  /** Mark the new leaf as requiring gradients. */
  requiresGrad?: boolean;
}

/** The dtype asked for in `opts` (or `fallback`), checked for plain-JavaScript callers. */
function dtypeOption(opts: CreateOptions | undefined, op: string, fallback: DType = 'float32'): DType {
  if (opts !== undefined && (typeof opts !== 'object' || opts === null || Array.isArray(opts))) {
    throw new ArgumentError(op, `options must be an object or undefined, got ${describe(opts)}`);
  }
  const dtype = opts?.dtype ?? fallback;
  if (!DTYPES.includes(dtype)) throw new DTypeError(op, `dtype must be one of ${DTYPES.map((d) => `'${d}'`).join(', ')}, got ${describe(dtype)}`);
  return dtype;
}

/** A number argument (NaN rejected; ±∞ too unless `infinite`). */
function numberArg(v: unknown, op: string, arg: string, infinite = false): number {
  if (typeof v !== 'number' || Number.isNaN(v) || (!infinite && !Number.isFinite(v))) {
    throw new ArgumentError(op, `${arg} must be a ${infinite ? '' : 'finite '}number, got ${describe(v)}`);
  }
  return v;
}

function finish(values: TypedArray, shape: Shape, opts: CreateOptions | undefined): Tensor {
  const t = fromDataId(getBackend(), getBackend().write(values), shape, dtypeOfArray(values));
  if (opts?.requiresGrad) t.requireGrad();
  return t;
}

function inferShape(value: NestedArray, op: string): number[] {
  const shape: number[] = [];
  let v: NestedArray = value;
  while (Array.isArray(v)) {
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0]!;
  }
  const check = (node: NestedArray, depth: number): void => {
    if (depth === shape.length) {
      if (typeof node !== 'number') throw new ArgumentError(op, `expected a number at depth ${depth}, got ${Array.isArray(node) ? 'an array' : typeof node}`);
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw new ShapeError(op, `ragged nested array: at depth ${depth} expected length ${shape[depth]}, got ${Array.isArray(node) ? node.length : typeof node}`);
    }
    for (const child of node) check(child, depth + 1);
  };
  check(value, 0);
  return shape;
}

/**
 * A tensor on the current backend that takes over `values` without copying them (decoders that built the array
 * themselves use it): the caller must not read or write the array afterwards. dtype is the array's.
 * @example const t = adoptArray(decoded, [2, 3]);
 */
export function adoptArray(values: TypedArray, shape: Shape): Tensor {
  assertValidShape(shape, 'adoptArray');
  if (!(values instanceof Float32Array || values instanceof Float64Array || values instanceof Int32Array)) {
    throw new ArgumentError('adoptArray', `values must be a Float32Array, Float64Array or Int32Array, got ${describe(values)}`);
  }
  if (sizeOf(shape) !== values.length) throw new ShapeError('adoptArray', `shape ${fmtShape(shape)} needs ${sizeOf(shape)} values, got ${values.length}`);
  return finish(values, shape, undefined);
}

/**
 * A tensor from nested arrays, a typed array (with `shape`), or a number (a scalar).
 * @example tensor([[1, 2], [3, 4]])            // float32 [2, 2]
 * @example tensor(new Float64Array(6), { shape: [2, 3] })
 */
export function tensor(values: NestedArray | TypedArray | readonly number[], opts: CreateOptions & { shape?: Shape } = {}): Tensor {
  if (ArrayBuffer.isView(values)) {
    const src = values as TypedArray;
    const shape = opts.shape ?? [src.length];
    assertValidShape(shape, 'tensor');
    if (sizeOf(shape) !== src.length) throw new ShapeError('tensor', `shape ${fmtShape(shape)} needs ${sizeOf(shape)} values, got ${src.length}`);
    const dtype = dtypeOption(opts, 'tensor', dtypeOfArray(src));
    const out = allocArray(dtype, src.length);
    out.set(src);
    return finish(out, shape, opts);
  }
  const dtype = dtypeOption(opts, 'tensor');
  if (typeof values !== 'number' && !Array.isArray(values)) {
    throw new ArgumentError('tensor', `values must be a number, a nested array of numbers or a typed array, got ${describe(values)}`);
  }
  const shape = inferShape(values as NestedArray, 'tensor');
  if (opts.shape) assertValidShape(opts.shape, 'tensor');
  if (opts.shape && sizeOf(opts.shape) !== sizeOf(shape)) {
    throw new ShapeError('tensor', `shape ${fmtShape(opts.shape)} does not match the data's ${fmtShape(shape)}`);
  }
  const out = allocArray(dtype, sizeOf(shape));
  if (shape.length === 0) out[0] = values as number;
  else out.set((values as NestedArray[]).flat(Infinity as 1) as unknown as number[]);
  return finish(out, opts.shape ?? shape, opts);
}

/** A scalar (rank-0) tensor. */
export function scalar(value: number, dtype: DType = 'float32'): Tensor {
  return tensor(value, { dtype });
}

/** A tensor of `shape` filled with `value`. */
export function full(shape: Shape, value: number, opts: CreateOptions = {}): Tensor {
  assertValidShape(shape, 'full');
  numberArg(value, 'full', 'value', true);
  const out = allocArray(dtypeOption(opts, 'full'), sizeOf(shape));
  if (value !== 0) out.fill(value);
  return finish(out, shape, opts);
}

export function zeros(shape: Shape, opts: CreateOptions = {}): Tensor {
  assertValidShape(shape, 'zeros');
  dtypeOption(opts, 'zeros');
  return full(shape, 0, opts);
}

export function ones(shape: Shape, opts: CreateOptions = {}): Tensor {
  assertValidShape(shape, 'ones');
  dtypeOption(opts, 'ones');
  return full(shape, 1, opts);
}

export function zerosLike(x: Tensor, opts: CreateOptions = {}): Tensor {
  return full(x.shape, 0, { dtype: x.dtype, ...opts });
}

export function onesLike(x: Tensor, opts: CreateOptions = {}): Tensor {
  return full(x.shape, 1, { dtype: x.dtype, ...opts });
}

export function fullLike(x: Tensor, value: number, opts: CreateOptions = {}): Tensor {
  return full(x.shape, value, { dtype: x.dtype, ...opts });
}

/** [start, start+step, ...) below `end` (like numpy.arange). arange(5) = [0..4]. */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  numberArg(start, 'arange', 'start');
  numberArg(end, 'arange', 'end');
  numberArg(step, 'arange', 'step');
  if (step === 0) throw new ArgumentError('arange', 'step must be non-zero');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const out = allocArray(dtypeOption(opts, 'arange'), n);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  return finish(out, [n], opts);
}

/** `num` evenly spaced values from start to end inclusive. */
export function linspace(start: number, end: number, num: number, opts: CreateOptions = {}): Tensor {
  if (!Number.isInteger(num) || num < 0) throw new ArgumentError('linspace', `num must be a non-negative integer, got ${num}`);
  numberArg(start, 'linspace', 'start');
  numberArg(end, 'linspace', 'end');
  const out = allocArray(dtypeOption(opts, 'linspace'), num);
  const step = num > 1 ? (end - start) / (num - 1) : 0;
  for (let i = 0; i < num; i++) out[i] = i === num - 1 && num > 1 ? end : start + i * step;
  return finish(out, [num], opts);
}

/** The n×m identity (m defaults to n). */
export function eye(n: number, m = n, opts: CreateOptions = {}): Tensor {
  assertValidShape([n, m], 'eye');
  const out = allocArray(dtypeOption(opts, 'eye'), n * m);
  for (let i = 0; i < Math.min(n, m); i++) out[i * m + i] = 1;
  return finish(out, [n, m], opts);
}

function assertRng(rng: Rng | undefined, op: string): asserts rng is Rng {
  if (!rng || typeof (rng as Rng).uniform !== 'function') throw new ArgumentError(op, 'needs an explicit Rng (e.g. new Rng(seed)) as its rng argument');
}

function assertFloat(dtype: DType, op: string): void {
  if (dtype === 'int32') throw new DTypeError(op, 'dtype must be float32 or float64');
}

/** Uniform in [low, high). */
export function rand(shape: Shape, rng: Rng, opts: CreateOptions & { low?: number; high?: number } = {}): Tensor {
  assertRng(rng, 'rand');
  assertValidShape(shape, 'rand');
  const dtype = dtypeOption(opts, 'rand');
  assertFloat(dtype, 'rand');
  const low = opts.low ?? 0, high = opts.high ?? 1;
  const out = allocArray(dtype, sizeOf(shape));
  for (let i = 0; i < out.length; i++) out[i] = low + (high - low) * rng.uniform();
  return finish(out, shape, opts);
}

/** Normal with the given mean and std (default standard normal). */
export function randn(shape: Shape, rng: Rng, opts: CreateOptions & { mean?: number; std?: number } = {}): Tensor {
  assertRng(rng, 'randn');
  assertValidShape(shape, 'randn');
  const dtype = dtypeOption(opts, 'randn');
  assertFloat(dtype, 'randn');
  const mean = opts.mean ?? 0, std = opts.std ?? 1;
  const out = allocArray(dtype, sizeOf(shape));
  for (let i = 0; i < out.length; i++) out[i] = mean + std * rng.normal();
  return finish(out, shape, opts);
}

/** Uniform integers in [low, high), int32 by default. */
export function randint(low: number, high: number, shape: Shape, rng: Rng, opts: CreateOptions = {}): Tensor {
  assertRng(rng, 'randint');
  assertValidShape(shape, 'randint');
  if (!Number.isInteger(low) || !Number.isInteger(high)) {
    throw new ArgumentError('randint', `low and high must be integers, got ${describe(low)} and ${describe(high)}`);
  }
  if (!(high > low)) throw new ArgumentError('randint', `high (${high}) must be greater than low (${low})`);
  const out = allocArray(dtypeOption(opts, 'randint', 'int32'), sizeOf(shape));
  for (let i = 0; i < out.length; i++) out[i] = rng.int(low, high);
  return finish(out, shape, opts);
}
