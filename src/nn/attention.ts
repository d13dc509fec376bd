// Multi-head self-attention with an additive mask and a key/value cache for incremental decoding.

import type { Tensor } from '../tensor/tensor.js';
import { ArgumentError, ShapeError, fmtShape } from '../tensor/errors.js';
import { keep } from '../tensor/memory.js';
import type { Rng } from '../tensor/random.js';
import { attention, concat, permute, reshape, split, fresh } from '../tensor/ops/index.js';
import { Module } from './module.js';
import { Linear } from './layers.js';

/**
 * Keys and values of the tokens seen so far, per attention layer: [B, H, Lpast, headDim] each.
 * Owned by the caller: dispose() when decoding is done.
 */
export class KVCache {
  k: Tensor | null = null;
  v: Tensor | null = null;

  get length(): number {
    return this.k ? this.k.shape[2]! : 0;
  }

  /** Appends new keys/values and returns the full ones. */
  append(k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const fullK = this.k ? concat([this.k, k], 2) : k;
    const fullV = this.v ? concat([this.v, v], 2) : v;
    this.k?.dispose();
    this.v?.dispose();
    this.k = keep(fresh(fullK));
    this.v = keep(fresh(fullV));
    return { k: fullK, v: fullV };
  }

  dispose(): void {
    this.k?.dispose();
    this.v?.dispose();
    this.k = this.v = null;
  }
}

export interface AttentionOptions {
  /** Additive mask broadcastable to [B, H, Lq, Lk] (0 to keep, −Infinity to block), e.g. a causal [Lq, Lk] mask. */
  mask?: Tensor | null;
  /** When given, keys/values of earlier calls are prepended and this call's are appended. */
  cache?: KVCache | null;
}

/** softmax(q·kᵀ·scale + mask)·v for q [B, H, Lq, d], k/v [B, H, Lk, d] (the `attention` op: fused where the backend can). */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, mask?: Tensor | null, scale = 1 / Math.sqrt(q.shape[q.rank - 1]!)): Tensor {
  return attention(q, k, v, { mask: mask ?? null, scale });
}

/**
 * Multi-head self-attention: x [B, L, D] → [B, L, D]. Parameters: qkv (D → 3D) and proj (D → D), as in ViT/VAR.
 * @example attn.forward(x, { mask: causal })
 */
export class MultiheadAttention extends Module {
  qkv: Linear;
  proj: Linear;
  readonly headDim: number;

  constructor(readonly dim: number, readonly numHeads: number, opts: { rng: Rng; bias?: boolean }) {
    super();
    if (dim % numHeads !== 0) throw new ArgumentError('MultiheadAttention', `dim = ${dim} must be divisible by numHeads = ${numHeads}`);
    this.headDim = dim / numHeads;
    this.qkv = new Linear(dim, 3 * dim, { rng: opts.rng, bias: opts.bias });
    this.proj = new Linear(dim, dim, { rng: opts.rng, bias: opts.bias });
  }

  forward(x: Tensor, opts: AttentionOptions = {}): Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.dim) throw new ShapeError('MultiheadAttention', `x must be [B, L, ${this.dim}], got ${fmtShape(x.shape)}`);
    const [b, l] = [x.shape[0]!, x.shape[1]!];
    const heads = (t: Tensor) => permute(reshape(t, [b, l, this.numHeads, this.headDim]), [0, 2, 1, 3]);
    const [q, k, v] = split(this.qkv.forward(x), 3, -1).map(heads) as [Tensor, Tensor, Tensor];
    const full = opts.cache ? opts.cache.append(k, v) : { k, v };
    const out = scaledDotProductAttention(q, full.k, full.v, opts.mask);
    return this.proj.forward(reshape(permute(out, [0, 2, 1, 3]), [b, l, this.dim]));
  }
}
