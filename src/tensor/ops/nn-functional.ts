// Layer-level functions as composites of primitives: layerNorm, groupNorm, dropout, embedding and crossEntropy
// (with label smoothing and ignore index). Their gradients come from the primitives they are built from.

import type { Tensor } from '../tensor.js';
import { ArgumentError, DTypeError, ShapeError, fmtShape } from '../errors.js';
import { sizeOf } from '../shape.js';
import { rand } from '../creation.js';
import type { Rng } from '../random.js';
import {
  checkChoice, checkFloat, checkInt, checkIntArray, checkNumber, checkOptions, checkTensor,
} from './operands.js';
import { add, cast, div, mul, ne, where } from './elementwise.js';
import { dropoutMask } from '../fusion/composites.js';
import { sum } from './reduce.js';
import { mean, logSoftmax } from './composite.js';
import { normalizeLastAxis } from './row-ops.js';
import { indexSelect, gather } from './indexing.js';
import { permute, reshape, unsqueeze, squeeze } from './movement.js';

/**
 * Normalizes over the trailing dims given by `normalizedShape` (population variance), then scales and shifts.
 * x [..., *normalizedShape], weight/bias [*normalizedShape] (optional).
 */
export function layerNorm(x: Tensor, normalizedShape: readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  const t = checkTensor(x, 'layerNorm');
  checkFloat(t, 'layerNorm');
  checkIntArray(normalizedShape, 'layerNorm', 'normalizedShape');
  checkNumber(eps, 'layerNorm', 'eps');
  const k = normalizedShape.length;
  if (k === 0 || k > t.rank || normalizedShape.some((d, i) => d !== t.shape[t.rank - k + i])) {
    throw new ShapeError('layerNorm', `normalizedShape ${fmtShape(normalizedShape)} must match the trailing dims of x ${fmtShape(t.shape)}`);
  }
  for (const [name, p] of [['weight', weight], ['bias', bias]] as const) {
    if (p !== undefined && p !== null) checkTensor(p, 'layerNorm', name);
    if (p && (p.rank !== k || p.shape.some((d, i) => d !== normalizedShape[i]))) {
      throw new ShapeError('layerNorm', `${name} must have shape ${fmtShape(normalizedShape)}, got ${fmtShape(p.shape)}`);
    }
  }
  const rows = reshape(t, [...t.shape.slice(0, t.rank - k), sizeOf(normalizedShape)]);
  let y = reshape(normalizeLastAxis([rows], { eps }), t.shape);
  if (weight) y = mul(y, weight);
  if (bias) y = add(y, bias);
  return y;
}

/** Group normalization: x [N, C, ...] with C split into numGroups groups; weight/bias [C] (optional). */
export function groupNorm(x: Tensor, numGroups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  const t = checkTensor(x, 'groupNorm');
  checkFloat(t, 'groupNorm');
  checkNumber(eps, 'groupNorm', 'eps');
  if (weight !== undefined && weight !== null) checkTensor(weight, 'groupNorm', 'weight');
  if (bias !== undefined && bias !== null) checkTensor(bias, 'groupNorm', 'bias');
  if (t.rank < 2) throw new ShapeError('groupNorm', `x must be [N, C, ...], got ${fmtShape(t.shape)}`);
  const [n, c] = [t.shape[0]!, t.shape[1]!];
  if (!Number.isInteger(numGroups) || numGroups < 1 || c % numGroups !== 0) {
    throw new ArgumentError('groupNorm', `numGroups = ${numGroups} must divide the ${c} channels`);
  }
  const grouped = reshape(t, [n, numGroups, sizeOf(t.shape.slice(1)) / numGroups]);
  const normed = reshape(layerNorm(grouped, [grouped.shape[2]!], null, null, eps), t.shape);
  const affineShape = [1, c, ...t.shape.slice(2).map(() => 1)];
  let y = normed;
  if (weight) {
    if (weight.rank !== 1 || weight.shape[0] !== c) throw new ShapeError('groupNorm', `weight must be [${c}], got ${fmtShape(weight.shape)}`);
    y = mul(y, reshape(weight, affineShape));
  }
  if (bias) {
    if (bias.rank !== 1 || bias.shape[0] !== c) throw new ShapeError('groupNorm', `bias must be [${c}], got ${fmtShape(bias.shape)}`);
    y = add(y, reshape(bias, affineShape));
  }
  return y;
}

/** Zeroes each element with probability p and scales the rest by 1/(1−p) when training; identity otherwise. */
export function dropout(x: Tensor, p: number, opts: { training: boolean; rng?: Rng }): Tensor {
  const t = checkTensor(x, 'dropout');
  checkOptions(opts, 'dropout', true);
  if (!(p >= 0 && p < 1)) throw new ArgumentError('dropout', `p must be in [0, 1), got ${p}`);
  if (!opts.training || p === 0) return t;
  if (!opts.rng) throw new ArgumentError('dropout', 'needs an explicit Rng when training');
  // x·(u < 1 − p)·1/(1 − p) in one fused pass
  return dropoutMask(t, rand(t.shape, opts.rng, { dtype: t.dtype }), 1 - p);
}

/** Rows of `weight` [V, D] picked by int32 `indices` [...] → [..., D]. The gradient adds into the picked rows. */
export function embedding(weight: Tensor, indices: Tensor): Tensor {
  const w = checkTensor(weight, 'embedding', 'weight');
  const idx = checkTensor(indices, 'embedding', 'indices');
  checkInt(idx, 'embedding', 'indices');
  if (w.rank !== 2) throw new ShapeError('embedding', `weight must be [V, D], got ${fmtShape(w.shape)}`);
  return reshape(indexSelect(w, 0, reshape(idx, [idx.size])), [...idx.shape, w.shape[1]!]);
}

export interface CrossEntropyOptions {
  /** 'mean' (default) averages over non-ignored targets; 'sum'; 'none' returns the per-target losses. */
  reduction?: 'mean' | 'sum' | 'none';
  /** Targets equal to this are ignored (default −100, as PyTorch). */
  ignoreIndex?: number;
  /** ε: the target distribution is (1−ε)·onehot + ε/C. */
  labelSmoothing?: number;
}

/**
 * Cross-entropy of logits [N, C] (or [N, C, d1, ...]) against int32 class targets [N] (or [N, d1, ...]),
 * as torch.nn.functional.cross_entropy: −(1−ε)·log p_y − ε·mean_c log p_c, ignored targets contribute nothing.
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const z = checkTensor(logits, 'crossEntropy', 'logits');
  const y = checkTensor(target, 'crossEntropy', 'target');
  checkFloat(z, 'crossEntropy', 'logits');
  checkOptions(opts, 'crossEntropy');
  if (opts.reduction !== undefined) checkChoice(opts.reduction, ['mean', 'sum', 'none'] as const, 'crossEntropy', 'reduction');
  if (opts.ignoreIndex !== undefined) checkNumber(opts.ignoreIndex, 'crossEntropy', 'ignoreIndex', true);
  if (y.dtype !== 'int32') throw new DTypeError('crossEntropy', `argument 'target' must be int32 class indices, got ${y.dtype}`);
  if (z.rank < 2 || y.rank !== z.rank - 1 || y.shape[0] !== z.shape[0] || y.shape.some((d, i) => i > 0 && d !== z.shape[i + 1])) {
    throw new ShapeError('crossEntropy', `target ${fmtShape(y.shape)} does not match logits ${fmtShape(z.shape)} (expected [N, C, ...] and [N, ...])`);
  }
  const eps = opts.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) throw new ArgumentError('crossEntropy', `labelSmoothing must be in [0, 1], got ${eps}`);
  const ignore = opts.ignoreIndex ?? -100;
  const numClasses = z.shape[1]!;
  if (y.backend.canReadSync) {
    for (const v of y.dataSync()) {
      if (v !== ignore && (v < 0 || v >= numClasses)) throw new ArgumentError('crossEntropy', `target ${v} is out of range for ${numClasses} classes`);
    }
  }
  // classes last: [N, ..., C]
  const order = [0, ...Array.from({ length: z.rank - 2 }, (_, i) => i + 2), 1];
  const valid = ne(y, ignore);
  // ignored rows are replaced by zeros before the softmax: their logits (padding, often −∞) must not reach the
  // loss or its gradient, not even as 0·NaN
  const logp = logSoftmax(where(unsqueeze(valid, -1), permute(z, order), 0), -1);
  const safeTarget = where(valid, y, 0);
  const nll = mul(squeeze(gather(logp, -1, unsqueeze(safeTarget, -1)), -1), -1);
  let perTarget = eps > 0 ? add(mul(nll, 1 - eps), mul(mean(logp, -1), -eps)) : nll;
  const validF = cast(valid, z.dtype);
  perTarget = mul(perTarget, validF);
  switch (opts.reduction ?? 'mean') {
    case 'none': return perTarget;
    case 'sum': return sum(perTarget);
    case 'mean': return div(sum(perTarget), sum(validF));
  }
}
