// Token sampling for the next-scale samplers: the per-scale CFG ramp and mix, top-k / top-p filtering (the official
// sample_with_top_k_top_p_), seeded multinomial or greedy picks, Gumbel-softmax smoothing, and VIAR's per-scale
// implicit-iteration schedule (the official floor-linspace rule).

import type { Tensor } from '../tensor/tensor.js';
import { ArgumentError, ShapeError, fmtShape } from '../tensor/errors.js';
import { tensor } from '../tensor/creation.js';
import type { Rng } from '../tensor/random.js';
import { add, argmax, cumsum, div, gather, lt, le, min, mul, multinomial, reshape, scatterAdd, slice, softmax, topk, where } from '../tensor/ops/index.js';
import { cfgMix } from '../tensor/fusion/index.js';
import { zerosLike } from '../tensor/creation.js';

/** CFG strength at scale si of numScales: t = cfg · si/(SN − 1), 0 at the first scale (the official linear ramp). */
export function cfgStrength(cfg: number, si: number, numScales: number): number {
  return numScales > 1 ? (cfg * si) / (numScales - 1) : 0;
}

/**
 * Classifier-free guidance: logits2B [2B, l, V] holds the conditional rows then the unconditional rows;
 * returns (1 + t)·cond − t·uncond, [B, l, V].
 */
export function mixGuidance(logits2B: Tensor, t: number): Tensor {
  const rows = logits2B.shape[0]!;
  if (logits2B.rank < 1 || rows % 2 !== 0) throw new ShapeError('mixGuidance', `logits must have an even number of rows (B conditional, then B unconditional), got ${fmtShape(logits2B.shape)}`);
  const b = rows / 2;
  const cond = slice(logits2B, [[0, b]]);
  const uncond = slice(logits2B, [[b, rows]]);
  return cfgMix(cond, uncond, t);
}

export interface TokenSamplingOptions {
  /** Keep only logits ≥ the k-th largest per row (ties kept); 0 = off (official FID preset: 900). */
  topK?: number;
  /** Nucleus filtering: drop the smallest entries whose cumulative probability is ≤ 1 − p (the largest is always kept); 0 = off. */
  topP?: number;
  /** Logits are divided by this before filtering (default 1; not in the official sampler). */
  temperature?: number;
  /** Take the argmax instead of drawing (the first maximum on ties). */
  greedy?: boolean;
}

/** Validates and fills in sampling options (errors are reported under `op`). */
export function checkSamplingOptions(opts: TokenSamplingOptions, vocab: number, op: string): Required<TokenSamplingOptions> {
  const topK = opts.topK ?? 0, topP = opts.topP ?? 0, temperature = opts.temperature ?? 1;
  if (!Number.isInteger(topK) || topK < 0) throw new ArgumentError(op, `topK must be a non-negative integer, got ${topK}`);
  if (!(topP >= 0 && topP <= 1)) throw new ArgumentError(op, `topP must be in [0, 1], got ${topP}`);
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new ArgumentError(op, `temperature must be a positive number, got ${temperature}`);
  if (vocab < 1) throw new ShapeError(op, 'logits have an empty vocabulary axis');
  return { topK: Math.min(topK, vocab), topP, temperature, greedy: opts.greedy ?? false };
}

/**
 * Top-k then top-p filtering of logits [..., V] (the official sample_with_top_k_top_p_ before its draw), as tensor ops
 * on the logits' backend (nothing is read): filtered entries become −Infinity. top-k keeps every logit ≥ the k-th
 * largest (ties kept); top-p sorts each row ascending (ties by position), takes the cumulative softmax mass, and drops
 * the entries whose mass is ≤ 1 − p, never the largest. Logits are divided by `temperature` first. → [..., V].
 */
export function filterLogits(logits: Tensor, opts: { topK?: number; topP?: number; temperature?: number }): Tensor {
  const v = logits.shape[logits.rank - 1] ?? 0;
  const { topK, topP, temperature } = checkSamplingOptions(opts, v, 'filterLogits');
  let x = temperature !== 1 ? div(logits, temperature) : logits;
  if (topK > 0 && topK < v) {
    const kth = min(topk(x, topK).values, -1, true);
    x = where(lt(x, kth), -Infinity, x);
  }
  if (topP > 0) {
    const ascending = topk(x, v, { largest: false }).indices;
    const mass = cumsum(softmax(gather(x, -1, ascending), -1), -1);
    // drop where the cumulative mass is ≤ 1 − p, never the last (largest) entry
    const notLast = tensor(Float32Array.from({ length: v }, (_, j) => (j < v - 1 ? 1 : 0)), { dtype: x.dtype });
    const dropSorted = mul(where(le(mass, 1 - topP), 1, 0), notLast);
    const drop = scatterAdd(zerosLike(dropSorted), -1, ascending, dropSorted);
    x = where(lt(drop, 0.5), x, -Infinity);
  }
  return x;
}

/** @deprecated The same as filterLogits, which runs on every backend without reading the logits. */
export function filterLogitsOnDevice(logits: Tensor, opts: { topK?: number; topP?: number; temperature?: number }): Tensor {
  return filterLogits(logits, opts);
}

/**
 * Picks one token per position from logits [B, l, V] → int32 [B, l]: greedy argmax, or a draw from
 * softmax(filterLogits(logits)) with the given seeded Rng (rows drawn in row-major order) or B·l uniforms in [0, 1).
 */
export function sampleTokens(logits: Tensor, opts: TokenSamplingOptions, draws: Rng | Tensor): Tensor {
  if (logits.rank !== 3) throw new ShapeError('sampleTokens', `logits must be [B, l, V], got ${fmtShape(logits.shape)}`);
  const [b, l, v] = logits.shape as [number, number, number];
  const o = checkSamplingOptions(opts, v, 'sampleTokens');
  if (o.greedy) return argmax(logits, 2);
  const filtered = filterLogits(logits, o);
  const probs = softmax(reshape(filtered, [b * l, v]), -1);
  return reshape(multinomial(probs, 1, draws), [b, l]);
}

/**
 * Gumbel-softmax relaxation softmax((logits + g)/τ) with g = −log(−log U), U uniform from `rng` (the official
 * more_smooth path, hard = False), as tensor ops on the logits' backend: only the noise is drawn on the host. Entries
 * at −Infinity get probability 0. logits [..., V] → [..., V].
 */
export function gumbelSoftmax(logits: Tensor, tau: number, rng: Rng): Tensor {
  if (!(tau > 0)) throw new ArgumentError('gumbelSoftmax', `tau must be positive, got ${tau}`);
  const noise = Float64Array.from({ length: logits.size }, () => {
    let u = rng.uniform();
    while (u === 0) u = rng.uniform();
    return -Math.log(-Math.log(u));
  });
  const g = tensor(logits.dtype === 'float64' ? noise : Float32Array.from(noise), { shape: logits.shape, dtype: logits.dtype });
  return softmax(div(add(logits, g), tau), -1);
}

/** A per-scale implicit-iteration schedule: a constant, an explicit list (one count per scale) or {left, right}. */
export type IterationSchedule = number | readonly number[] | { left: number; right: number };

/**
 * Implicit iterations per scale. {left, right} follows the official sampler: floor(linspace(left, right, 10)) with
 * 10 points whatever the number of scales, the first SN used (so 3→1 over 6 scales is [3, 2, 2, 2, 2, 1]); numpy's
 * float64 linspace is reproduced (i·step + start, the last point exactly `right`). With more than 10 scales (where the
 * official code fails with an IndexError) SN points are used instead.
 * @example iterationSchedule({ left: 10, right: 5 }, 10) // [10, 9, 8, 8, 7, 7, 6, 6, 5, 5]
 */
export function iterationSchedule(schedule: IterationSchedule, numScales: number, op = 'iterationSchedule'): number[] {
  const checkCount = (n: number, what: string) => {
    if (!Number.isInteger(n) || n < 0) throw new ArgumentError(op, `${what} must be a non-negative integer, got ${n}`);
  };
  if (typeof schedule === 'number') {
    checkCount(schedule, 'the iteration count');
    return new Array<number>(numScales).fill(schedule);
  }
  if (Array.isArray(schedule)) {
    if (schedule.length !== numScales) {
      throw new ArgumentError(op, `iteration schedule has ${schedule.length} entries [${schedule.join(', ')}] but the model has ${numScales} scales; give one count per scale or {left, right}`);
    }
    schedule.forEach((n, i) => checkCount(n, `schedule[${i}]`));
    return [...schedule];
  }
  const { left, right } = schedule as { left: number; right: number };
  checkCount(left, 'left');
  checkCount(right, 'right');
  const points = Math.max(10, numScales);
  const step = (right - left) / (points - 1);
  const line = Array.from({ length: points }, (_, i) => (i === points - 1 ? right : i * step + left));
  return line.slice(0, numScales).map(Math.floor);
}
