// Shared pieces of the DEQ toolkit: per-sample reductions over a leading batch axis, random probes drawn from an
// explicit Rng, and the checks every toolkit function applies to its (f, z) arguments.

import type { Tensor } from '../../tensor/tensor.js';
import { ArgumentError, ShapeError, fmtShape } from '../../tensor/errors.js';
import { Rng } from '../../tensor/random.js';
import { randn } from '../../tensor/creation.js';
import { reshape, square, sum } from '../../tensor/ops/index.js';
import { checkTensor } from '../../tensor/ops/operands.js';

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

/** Checks f and z (a float tensor with a leading batch axis) and returns z. */
export function checkStatePoint(op: string, f: unknown, z: unknown): Tensor {
  if (typeof f !== 'function') throw new ArgumentError(op, 'f must be a function (z) => Tensor');
  const t = checkTensor(z as Tensor, op, 'z');
  if (t.dtype === 'int32') throw new ArgumentError(op, 'z must be a float tensor');
  if (t.rank < 1 || t.shape[0] === 0) throw new ShapeError(op, `z must have a non-empty leading batch axis, got shape ${fmtShape(t.shape)}`);
  return t;
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
