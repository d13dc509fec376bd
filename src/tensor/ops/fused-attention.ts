// Attention as one op where the backend fuses it: softmax(scale·q·kᵀ + mask)·v in one kernel per (batch, head), and
// its VJP in one more from the saved row max and sum (the scores are recomputed, never stored). Elsewhere, and while a
// graph of the gradient is being built, the same math is written with matmul and softmax.

import { defineOp } from '../graph/define-op.js';
import { isGradEnabled } from '../graph/grad-mode.js';
import { Tensor, fromDataId, makeSavedAlias } from '../tensor.js';
import { ShapeError, fmtShape } from '../errors.js';
import { checkNumber, checkOptions, checkTensor } from './operands.js';
import { broadcastShapes } from '../shape.js';
import { mul, sub } from './elementwise.js';
import { sum } from './reduce.js';
import { expand, transpose } from './movement.js';
import { matmul } from './matmul.js';
import { softmax } from './composite.js';
import { scaleAndMask } from '../fusion/composites.js';

interface AttentionAttrs { scale: number; masked: boolean }

/** P = softmax(scale·q·kᵀ + mask), with differentiable ops. */
const probabilities = (q: Tensor, k: Tensor, mask: Tensor | null, scale: number): Tensor => {
  const raw = matmul(q, transpose(k));
  return softmax(mask ? scaleAndMask(raw, scale, mask) : mul(raw, scale), -1);
};

/** The gradients of q, k, v, and none for the mask when there is one. */
const withMask = (grads: Tensor[], masked: boolean): (Tensor | null)[] => (masked ? [...grads, null] : grads);

const attentionOp = defineOp<AttentionAttrs>({
  name: 'attention',
  forward: ([q, k, v, mask], { scale, masked }) => {
    const be = q!.backend;
    const [outId, maxId, sumId] = be.attention!(q!.info(), k!.info(), v!.info(), masked ? mask!.info() : null, scale);
    const statistic = (id: typeof outId) => {
      const t = fromDataId(be, id, q!.shape.slice(0, 3), q!.dtype);
      const saved = makeSavedAlias(t, null);
      t.dispose();
      return saved;
    };
    return { output: fromDataId(be, outId, [...q!.shape.slice(0, 3), v!.shape[3]!], q!.dtype), saved: [statistic(maxId), statistic(sumId)] };
  },
  saveInputs: true,
  // with P = softmax(S), S = scale·q·kᵀ + mask:  dv = Pᵀ·g,  dS = P ⊙ (g·vᵀ − rowsum(P ⊙ g·vᵀ)),
  // dq = scale·dS·k,  dk = scale·dSᵀ·q  (the mask is a constant here: the caller keeps masks that need a gradient off this op)
  vjp: (g, { inputs, saved, attrs: { scale, masked } }) => {
    const [q, k, v] = inputs as [Tensor, Tensor, Tensor], mask = masked ? inputs[3]! : null;
    if (isGradEnabled()) {
      const p = probabilities(q, k, mask, scale);
      const dp = matmul(g, transpose(v));
      const ds = mul(mul(p, sub(dp, sum(mul(p, dp), -1, true))), scale);
      return withMask([matmul(ds, k), matmul(transpose(ds), q), matmul(transpose(p), g)], masked);
    }
    const be = q.backend;
    const ids = be.attentionBackward!(q.info(), k.info(), v.info(), mask?.info() ?? null, scale, saved[0]!.info(), saved[1]!.info(), g.info());
    return withMask([fromDataId(be, ids[0], q.shape, q.dtype), fromDataId(be, ids[1], k.shape, k.dtype), fromDataId(be, ids[2], v.shape, v.dtype)], masked);
  },
});

export interface FusedAttentionOptions {
  /** Additive mask broadcastable to [B, H, Lq, Lk] (0 keeps, −∞ blocks), e.g. a causal [Lq, Lk] mask. */
  mask?: Tensor | null;
  /** Multiplies the scores (default 1/√d). */
  scale?: number;
}

/**
 * softmax(scale·q·kᵀ + mask)·v for q [B, H, Lq, d], k [B, H, Lk, d], v [B, H, Lk, e] → [B, H, Lq, e]. One fused op
 * (forward and backward) where the backend offers it and the mask needs no gradient; matmul and softmax otherwise.
 * @example attention(q, k, v, { mask: causal })
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: FusedAttentionOptions = {}): Tensor {
  [q, k, v] = [checkTensor(q, 'attention', 'q'), checkTensor(k, 'attention', 'k'), checkTensor(v, 'attention', 'v')];
  checkOptions(opts, 'attention');
  const mask = opts.mask ? checkTensor(opts.mask, 'attention', 'mask') : null;
  const scale = opts.scale === undefined ? 1 / Math.sqrt(q.shape[q.rank - 1]!) : checkNumber(opts.scale, 'attention', 'scale');
  if (!fusable(q, k, v, mask)) return matmul(probabilities(q, k, mask, scale), v);
  const [b, h, lq, d] = q.shape as [number, number, number, number], [kb, kh, lk, kd] = k.shape as [number, number, number, number];
  if (kb !== b || kh !== h || kd !== d || v.shape[0] !== b || v.shape[1] !== h || v.shape[2] !== lk) {
    throw new ShapeError('attention', `q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)} and v ${fmtShape(v.shape)} must be [B, H, Lq, d], [B, H, Lk, d], [B, H, Lk, e]`);
  }
  const scoreShape = [b, h, lq, lk];
  if (mask && broadcastShapes([mask.shape, scoreShape], 'attention', ['mask', 'scores']).some((s, i, all) => all.length !== 4 || s !== scoreShape[i])) {
    throw new ShapeError('attention', `mask ${fmtShape(mask.shape)} does not broadcast to the scores [${scoreShape.join(', ')}]`);
  }
  return mask ? attentionOp([q, k, v, expand(mask, scoreShape)], { scale, masked: true }) : attentionOp([q, k, v], { scale, masked: false });
}

/**
 * Whether the backend's fused kernels take this call: [B, H, L, ·] operands of one dtype on one backend, at least one
 * key (with none the composite's empty sums give 0 where a softmax row would be 0/0), a mask that needs no gradient.
 */
function fusable(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null): boolean {
  const be = q.backend, alike = (t: Tensor) => t.backend === be && t.dtype === q.dtype;
  return be.attention !== undefined && be.attentionBackward !== undefined && [q, k, v].every((t) => t.rank === 4 && alike(t))
    && k.shape[2] !== 0 && (mask === null || (alike(mask) && !mask.requiresGrad));
}
