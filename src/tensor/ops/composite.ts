// Composite ops: built from primitives, so their gradients come for free from the primitives' VJPs.
// A hand-written VJP appears only where the composite would be unstable (norm at the zero vector).

import { defineOp } from '../graph/define-op.js';
import type { Tensor } from '../tensor.js';
import { ArgumentError } from '../errors.js';
import { tidy } from '../memory.js';
import { describe, normalizeAxes, sizeOf } from '../shape.js';
import { checkFloat, checkNumber, checkOptions, checkTensor } from './operands.js';
import {
  abs, add, div, eq, erf, exp, log, mul, pow, sigmoid, softplus, sqrt, sub, where, neg, sign,
} from './elementwise.js';
import { max, sum } from './reduce.js';
import { detach, fresh, reshape, expand, transpose } from './movement.js';
import { geluTanhOp, softmaxLastAxis } from './row-ops.js';

function floatArg(x: Tensor, op: string): Tensor {
  const t = checkTensor(x, op);
  checkFloat(t, op);
  return t;
}

function countOf(x: Tensor, axes: number | readonly number[] | undefined, op: string): number {
  return sizeOf(normalizeAxes(axes, x.rank, op).map((a) => x.shape[a]!));
}

/** Mean over `axes` (all by default). */
export function mean(x: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  const t = floatArg(x, 'mean');
  if (typeof keepdims !== 'boolean') throw new ArgumentError('mean', `keepdims must be a boolean, got ${describe(keepdims)}`);
  return div(sum(t, axes, keepdims), countOf(t, axes, 'mean'));
}

export interface VarianceOptions {
  /** Bessel's correction: divide by N − correction (1 = unbiased, PyTorch's default; 0 = population). */
  correction?: number;
  keepdims?: boolean;
}

/** Variance over `axes`: Σ(x − mean)² / (N − correction). */
export function variance(x: Tensor, axes?: number | readonly number[], opts: VarianceOptions = {}, op = 'variance'): Tensor {
  const t = floatArg(x, op);
  checkOptions(opts, op);
  if (opts.correction !== undefined) checkNumber(opts.correction, op, 'correction');
  const n = countOf(t, axes, op);
  const centered = sub(t, mean(t, axes, true));
  return div(sum(mul(centered, centered), axes, opts.keepdims ?? false), Math.max(0, n - (opts.correction ?? 1)));
}

/** √v whose gradient is 0 where v = 0 (PyTorch's std rule: there the spread is constant, not infinitely steep). */
const stdSqrtOp = defineOp<undefined>({
  name: 'std',
  forward: ([v]) => sqrt(v!),
  saveOutput: true,
  // d√v = dv / (2√v), masked to 0 where √v = 0; the denominator is made safe too so second derivatives stay finite
  vjp: (gy, { output }) => {
    const zero = eq(output!, 0);
    return [where(zero, 0, div(gy, mul(where(zero, 1, output!), 2)))];
  },
});

/** Standard deviation: √variance (gradient 0 where it is 0). */
export function std(x: Tensor, axes?: number | readonly number[], opts: VarianceOptions = {}): Tensor {
  return stdSqrtOp([variance(x, axes, opts, 'std')], undefined);
}

/**
 * The max of x over `axes` as a constant shift for exp (0 where it is ±∞ or where an axis is empty), so that
 * log Σ exp(x − m) neither overflows nor turns a row of −∞ into NaN.
 */
function stableShift(t: Tensor, axes: number[], op: string): Tensor | null {
  if (axes.some((a) => t.shape[a] === 0)) return null;
  const m = detach(max(t, axes, true, op));
  return where(eq(abs(m), Infinity), 0, m);
}

/** log Σ exp(x) over `axes`, stable: the max is subtracted first (as a constant, so the gradient is softmax). */
export function logSumExp(x: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  const t = floatArg(x, 'logSumExp');
  const list = normalizeAxes(axes, t.rank, 'logSumExp');
  const shift = stableShift(t, list, 'logSumExp');
  // an empty axis sums to 0: log 0 = −∞, as PyTorch
  const lse = shift ? add(log(sum(exp(sub(t, shift)), list, true)), shift) : log(sum(exp(t), list, true));
  return keepdims ? lse : reshape(lse, lse.shape.filter((_, i) => !list.includes(i)));
}

/** exp(x) / Σ exp(x) along `axis` (rows sum to 1). */
export function softmax(x: Tensor, axis = -1): Tensor {
  const t = floatArg(x, 'softmax');
  const [a] = normalizeAxes(checkNumber(axis, 'softmax', 'axis', true), t.rank, 'softmax');
  if (a === undefined || a === t.rank - 1) return softmaxLastAxis([t], undefined);
  return transpose(softmaxLastAxis([transpose(t, a, -1)], undefined), a, -1);
}

/**
 * x − logSumExp(x) along `axis`, computed as (x − m) − log Σ exp(x − m) so that large x keep their absolute
 * precision (x − logSumExp(x) rounds both terms at the scale of x first).
 */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const t = floatArg(x, 'logSoftmax');
  const list = normalizeAxes(checkNumber(axis, 'logSoftmax', 'axis', true), t.rank, 'logSoftmax');
  if (list.some((a) => t.shape[a] === 0)) return fresh(t); // an empty axis: the result is empty too
  // the max itself (not stableShift's), as PyTorch: a row holding +∞, or all −∞, is NaN
  const shifted = sub(t, detach(max(t, list, true, 'logSoftmax')));
  return sub(shifted, log(sum(exp(shifted), list, true)));
}

const pNormOp = defineOp<{ p: number; axes: number[]; keepdims: boolean }>({
  name: 'norm',
  // ‖x‖ₚ = s·‖x/s‖ₚ with s = max|x| (1 where that is 0 or ∞), so |x|ᵖ neither overflows nor underflows
  forward: ([x], { p, axes, keepdims }) => tidy(() => {
    const a = abs(x!);
    if (axes.some((ax) => x!.shape[ax] === 0)) return pow(sum(pow(a, p), axes, keepdims), 1 / p);
    const m = max(a, axes, true);
    const s = where(eq(m, 0), 1, where(eq(m, Infinity), 1, m));
    const scaled = pow(sum(pow(div(a, s), p), axes, true), 1 / p);
    const n = mul(scaled, s);
    return keepdims ? n : reshape(n, n.shape.filter((_, i) => !axes.includes(i)));
  }),
  saveInputs: true,
  saveOutput: true,
  // d‖x‖ₚ = sign(x)|x|^(p−1) / ‖x‖ₚ^(p−1) dx; NOTE: 0 at the zero vector (as PyTorch), where the formula is 0/0
  vjp: (gy, { inputs: [x], output, attrs: { p, axes, keepdims } }) => {
    const n = keepdims ? output! : reshape(output!, x!.shape.map((d, i) => (axes.includes(i) ? 1 : d)));
    const g = keepdims ? gy : reshape(gy, n.shape);
    const safe = where(eq(n, 0), 1, n);
    const num = p === 2 ? x! : mul(sign(x!), pow(abs(x!), p - 1));
    const den = p === 2 ? safe : pow(safe, p - 1);
    return [mul(expand(g, x!.shape), div(num, den))];
  },
});

/**
 * The p-norm over `axes` (all by default): p = 2 (default), any p ≥ 1, or Infinity (max |x|).
 * @example norm(v, 2, -1, true)   // row norms
 */
export function norm(x: Tensor, p = 2, axes?: number | readonly number[], keepdims = false): Tensor {
  const t = floatArg(x, 'norm');
  checkNumber(p, 'norm', 'p');
  const list = normalizeAxes(axes, t.rank, 'norm');
  if (p === Infinity) return max(abs(t), list, keepdims, 'norm');
  if (!(p >= 1)) throw new ArgumentError('norm', `p must be ≥ 1 or Infinity, got ${p}`);
  if (p === 1) return sum(abs(t), list, keepdims);
  return pNormOp([t], { p, axes: list, keepdims });
}

/** Exact GELU: x·Φ(x) = ½x(1 + erf(x/√2)). */
export function gelu(x: Tensor): Tensor {
  const t = floatArg(x, 'gelu');
  return mul(mul(t, 0.5), add(erf(mul(t, Math.SQRT1_2)), 1));
}

/** Tanh-approximate GELU: ½x(1 + tanh(√(2/π)(x + 0.044715x³))), as in GPT-2 and VAR. */
export function geluTanh(x: Tensor): Tensor {
  return geluTanhOp([floatArg(x, 'geluTanh')], undefined);
}

/** SiLU / swish: x·σ(x). */
export function silu(x: Tensor): Tensor {
  const t = floatArg(x, 'silu');
  return mul(t, sigmoid(t));
}

/** log σ(x) = 0 − softplus(−x), stable for large |x| (written as 0 − s so that large x give +0, as PyTorch). */
export function logSigmoid(x: Tensor): Tensor {
  return sub(0, softplus(neg(floatArg(x, 'logSigmoid'))));
}
