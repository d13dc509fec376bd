// Shared pieces of the DEQ toolkit: the checks every toolkit function applies to its (f, z) arguments, states that
// are several tensors packed into one [B, d] matrix (fixedPoint's codec), per-sample reductions and seeded probes.

import type { Tensor } from '../../tensor/tensor.js';
import { ArgumentError, DTypeError, ShapeError, ViarError, fmtShape } from '../../tensor/errors.js';
import { Rng } from '../../tensor/random.js';
import { randn } from '../../tensor/creation.js';
import { reshape, square, sum } from '../../tensor/ops/index.js';
import { checkTensor } from '../../tensor/ops/operands.js';
import { stateCodec, type State } from '../fixed-point/state.js';

/** Options shared by the randomized estimators: an Rng to draw from (advanced), or a seed (default 0). */
export interface ProbeOptions {
  rng?: Rng;
  seed?: number;
}

/** The Rng an estimator draws from: the caller's, or a fresh one from `seed`. */
export function probeRng(op: string, opts: ProbeOptions): Rng {
  if (opts.rng !== undefined) {
    if (typeof (opts.rng as Rng).normal !== 'function') throw new ArgumentError(op, "option 'rng' must be an Rng (e.g. new Rng(0))");
    return opts.rng;
  }
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new ArgumentError(op, `option 'seed' must be an integer, got ${String(seed)}`);
  return new Rng(seed);
}

function checkPart(op: string, t: unknown, name: string): Tensor {
  const part = checkTensor(t as Tensor, op, name);
  if (part.dtype === 'int32') throw new ArgumentError(op, `${name} must be a float tensor`);
  if (part.rank < 1 || part.shape[0] === 0) throw new ShapeError(op, `${name} must have a non-empty leading batch axis, got shape ${fmtShape(part.shape)}`);
  return part;
}

/**
 * Checks f and z and returns the problem as one [B, d] point and a map on it: a tensor z is used as it is (f untouched);
 * an array or record of tensors (each [B, ...]) is packed by fixedPoint's codec, and f's result packed the same way.
 */
export function statePoint<S extends State>(op: string, f: (z: S) => S, z: S): { point: Tensor; F: (z: Tensor) => Tensor } {
  if (typeof f !== 'function') throw new ArgumentError(op, 'f must be a function (z) => state');
  if ((z as Tensor)?.isTensor === true) return { point: checkPart(op, z, 'z'), F: f as unknown as (z: Tensor) => Tensor };
  if (z === null || typeof z !== 'object') throw new ArgumentError(op, `z must be a Tensor, an array of tensors or a record of tensors, got ${String(z)}`);
  const entries = Array.isArray(z) ? z.map((t, i) => [String(i), t] as const) : Object.entries(z);
  entries.forEach(([name, t]) => checkPart(op, t, `z[${JSON.stringify(name)}]`));
  const codec = inOp(op, () => stateCodec(z, true));
  return { point: inOp(op, () => codec.pack(z, 'z0')), F: (flat) => inOp(op, () => codec.pack(f(codec.unpack(flat)), 'f')) };
}

/** Runs the codec, reporting its errors under `op` (they name fixedPoint, whose codec it is). */
function inOp<T>(op: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof ViarError) || e.op !== 'fixedPoint') throw e;
    const Kind = e instanceof ShapeError ? ShapeError : e instanceof DTypeError ? DTypeError : ArgumentError;
    throw new Kind(op, e.message.slice('fixedPoint: '.length));
  }
}

/** A positive integer option, or its default. */
export function countOption(op: string, name: string, value: number | undefined, fallback: number): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 1) throw new ArgumentError(op, `option '${name}' must be a positive integer, got ${String(value)}`);
  return n;
}

/** Σ over every axis but the first: [B, ...] → [B]. */
export function perSampleSquaredNorm(t: Tensor): Tensor {
  return sum(square(reshape(t, [t.shape[0]!, -1])), 1);
}

/** A standard normal tensor shaped and typed like z, on the current backend. */
export function normalProbe(z: Tensor, rng: Rng): Tensor {
  return randn(z.shape, rng, { dtype: z.dtype });
}
