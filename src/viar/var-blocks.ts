// VAR's transformer blocks (models/basic_var.py): AdaLN self-attention blocks with l2-normalized q/k and a learned,
// capped per-head temperature, an optional per-layer KV cache, per-block or shared (ada_gss) AdaLN, the AdaLN layer
// before the head, and drop-path. Field names reproduce the official state-dict keys (attn.mat_qkv, ada_lin.1, …).

import { Tensor } from '../tensor/tensor.js';
import { ArgumentError, ShapeError, fmtShape } from '../tensor/errors.js';
import { full, randn, tensor, zeros } from '../tensor/creation.js';
import type { Rng } from '../tensor/random.js';
import {
  add, cast, concat, detach, layerNorm, matmul, mul, permute, reshape, slice, square, sum, transpose,
} from '../tensor/ops/index.js';
import { noGrad } from '../tensor/graph/grad-mode.js';
import { fusedFunction, gatedResidual, l2Scale, maskedGatedResidual, modulate } from '../tensor/fusion/index.js';
import { Module } from '../nn/module.js';
import { Act, Linear, Sequential } from '../nn/layers.js';
import { KVCache, scaledDotProductAttention } from '../nn/attention.js';

/** Sizes and switches of one AdaLN block. */
export interface BlockConfig {
  /** Width C of the token stream. */
  embedDim: number;
  /** Width D of the condition (the class embedding; D = C in VAR). */
  condDim: number;
  numHeads: number;
  /** FFN hidden width = round(C · mlpRatio) (official 4). */
  mlpRatio: number;
  /** LayerNorm epsilon (official 1e-6). */
  normEps: number;
  /** Cosine attention with a learned per-head temperature (official true); otherwise scale 0.25/√headDim. */
  attnL2Norm: boolean;
  /** Drop-path (stochastic depth) probability of this block, active only in training mode. */
  dropPath: number;
  /**
   * The official shared_aln: the block has no ada_lin but a parameter ada_gss [1, 1, 6, C] added to the model's
   * shared_ada_lin output (default false).
   */
  sharedAln?: boolean;
}

/** The official `max_scale_mul`: the attention temperature exp(scale_mul) is capped at 100. */
export const MAX_LOG_TEMPERATURE = Math.log(100);

/**
 * Stochastic depth: in training, each sample's branch is zeroed with probability p and the others are scaled
 * by 1/(1 − p) (the official DropPath). Identity in eval mode or when p = 0. x: [B, ...].
 */
export function dropPath(x: Tensor, p: number, training: boolean, rng: Rng): Tensor {
  const mask = dropPathMask(x, p, training, rng);
  return mask ? mul(x, mask) : x;
}

/** The per-sample keep mask of dropPath ([B, 1, ...], values 0 or 1/(1 − p)), or null where it is the identity. */
function dropPathMask(x: Tensor, p: number, training: boolean, rng: Rng): Tensor | null {
  if (!training || p <= 0) return null;
  const keepProb = 1 - p;
  const b = x.shape[0]!;
  const mask = Float64Array.from({ length: b }, () => (rng.uniform() < keepProb ? 1 / keepProb : 0));
  return tensor(mask, { dtype: x.dtype, shape: [b, ...x.shape.slice(1).map(() => 1)] });
}

/** x + drop_path(y·γ), one fused pass. */
function residual(x: Tensor, gamma: Tensor, y: Tensor, p: number, training: boolean, rng: Rng): Tensor {
  const mask = dropPathMask(y, p, training, rng);
  return mask ? maskedGatedResidual(x, gamma, y, mask) : gatedResidual(x, gamma, y);
}

/** x / max(‖x‖₂, 1e-12) over the last axis (torch.nn.functional.normalize). */
function l2Normalize(x: Tensor): Tensor {
  return l2Scale(x, sum(square(x), -1, true), 1e-12, 1);
}

/** Queries: x / max(√sumSquares, 1e-12) · exp(min(logT, ln 100)), the capped per-head temperature, in one pass. */
const normalizeWithTemperature = fusedFunction('normalizeWithTemperature', (x, sumSquares, logT) =>
  x.div(sumSquares.sqrt().maximum(1e-12)).mul(logT.clamp(-Infinity, MAX_LOG_TEMPERATURE).exp()));

export interface SelfAttentionOptions {
  /** Additive mask broadcastable to [B, H, Lq, Lk] (0 keeps, −Infinity blocks); omitted with a KV cache. */
  mask?: Tensor | null;
  /** Keys/values of earlier calls are prepended and this call's are appended (after the l2 normalization). */
  cache?: KVCache | null;
}

/**
 * VAR's multi-head self-attention (the official SelfAttention). Shapes: x [B, L, C] → [B, L, C].
 * qkv = x·mat_qkvᵀ + [q_bias, 0, v_bias]; with attnL2Norm, q ← normalize(q)·exp(min(scale_mul_1H11, ln 100)),
 * k ← normalize(k) and the softmax scale is 1.
 */
export class SelfAttention extends Module {
  mat_qkv: Linear;
  proj: Linear;
  q_bias: Tensor;
  v_bias: Tensor;
  /** Per-head log-temperature [1, H, 1, 1] (initialised to ln 4); null without attnL2Norm. */
  scale_mul_1H11: Tensor | null;
  readonly headDim: number;
  /** Softmax scale: 1 with attnL2Norm, else 0.25/√headDim (the official values). */
  readonly scale: number;

  constructor(readonly embedDim: number, readonly numHeads: number, opts: { rng: Rng; attnL2Norm: boolean }) {
    super();
    if (!Number.isInteger(numHeads) || numHeads < 1 || embedDim % numHeads !== 0) {
      throw new ArgumentError('SelfAttention', `embedDim = ${embedDim} must be divisible by numHeads = ${numHeads}`);
    }
    this.headDim = embedDim / numHeads;
    this.mat_qkv = new Linear(embedDim, 3 * embedDim, { rng: opts.rng, bias: false });
    this.proj = new Linear(embedDim, embedDim, { rng: opts.rng });
    this.q_bias = zeros([embedDim]).requireGrad();
    this.v_bias = zeros([embedDim]).requireGrad();
    this.scale_mul_1H11 = opts.attnL2Norm ? full([1, numHeads, 1, 1], Math.log(4)).requireGrad() : null;
    this.scale = opts.attnL2Norm ? 1 : 0.25 / Math.sqrt(this.headDim);
  }

  forward(x: Tensor, opts: SelfAttentionOptions = {}): Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.embedDim) {
      throw new ShapeError('SelfAttention', `x must be [B, L, ${this.embedDim}], got ${fmtShape(x.shape)}`);
    }
    const [b, l] = [x.shape[0]!, x.shape[1]!];
    const c = this.embedDim;
    // the official zero_k_bias buffer: keys get no bias
    const bias = concat([this.q_bias, zeros([c], { dtype: this.q_bias.dtype }), this.v_bias]);
    const qkv = add(matmul(x, transpose(this.mat_qkv.weight)), bias);
    // [B, L, 3, H, d] → [3, B, H, L, d]
    const heads = permute(reshape(qkv, [b, l, 3, this.numHeads, this.headDim]), [2, 0, 3, 1, 4]);
    let q = slice(heads, [0]), k = slice(heads, [1]);
    const v = slice(heads, [2]);
    if (this.scale_mul_1H11) {
      q = normalizeWithTemperature(q, sum(square(q), -1, true), this.scale_mul_1H11);
      k = l2Normalize(k);
    }
    const all = opts.cache ? opts.cache.append(k, v) : { k, v };
    const out = scaledDotProductAttention(q, all.k, all.v, opts.mask ?? null, this.scale); // [B, H, L, d]
    return this.proj.forward(reshape(permute(out, [0, 2, 1, 3]), [b, l, c]));
  }
}

/** fc2(GELU_tanh(fc1(x))): [.., C] → [.., C] with hidden width H (the official FFN). */
export class FeedForward extends Module {
  fc1: Linear;
  fc2: Linear;

  constructor(inFeatures: number, hiddenFeatures: number, rng: Rng) {
    super();
    this.fc1 = new Linear(inFeatures, hiddenFeatures, { rng });
    this.fc2 = new Linear(hiddenFeatures, inFeatures, { rng });
  }

  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.fc1.forward(x, 'geluTanh'));
  }
}

/** `ada_lin` = Sequential(SiLU, Linear(D → k·C)): keys ada_lin.1.weight / ada_lin.1.bias. */
function adaLin(condDim: number, outDim: number, rng: Rng): Sequential {
  return new Sequential(new Act('silu'), new Linear(condDim, outDim, { rng }));
}

/** cond must be [B, D] (or [1, D], broadcast over the batch); b = null skips the batch check. */
function checkCond(cond: Tensor, condDim: number, b: number | null, op: string): void {
  if (cond.rank !== 2 || cond.shape[1] !== condDim || (b !== null && cond.shape[0] !== b && cond.shape[0] !== 1)) {
    throw new ShapeError(op, `cond must be [${b ?? 'B'}, ${condDim}]${b !== null ? ` for x with batch ${b}` : ''}, got ${fmtShape(cond.shape)}`);
  }
}

/** With shared AdaLN the blocks' cond is the shared_ada_lin output [B (or 1), 1, 6, C]; b = null skips the batch check. */
function checkSharedCond(cond: Tensor, c: number, b: number | null): void {
  const [cb, one, six, cc] = cond.shape;
  if (cond.rank !== 4 || one !== 1 || six !== 6 || cc !== c || (b !== null && cb !== b && cb !== 1)) {
    throw new ShapeError('AdaLNSelfAttn', `with sharedAln, cond must be the shared_ada_lin output [${b ?? 'B'}, 1, 6, ${c}], got ${fmtShape(cond.shape)}`);
  }
}

export interface BlockForwardOptions extends SelfAttentionOptions {
  /** Precomputed `modulation(cond)` [B, 1, 6, C] (saves recomputing it when the same block runs many times). */
  modulation?: Tensor | null;
}

/**
 * Pre-norm transformer block with adaptive LayerNorm (the official AdaLNSelfAttn):
 *   (γ₁, γ₂, s₁, s₂, b₁, b₂) = ada_lin(cond)          (per block, shared_aln = False)
 *                            = ada_gss + cond          (sharedAln: cond is the model's shared_ada_lin output)
 *   x ← x + drop_path(γ₁ · Attn(LN(x)·(1 + s₁) + b₁))
 *   x ← x + drop_path(γ₂ · FFN(LN(x)·(1 + s₂) + b₂))
 * with LN a LayerNorm without affine parameters. Shapes: x [B, L, C], cond [B, D] (sharedAln: [B, 1, 6, C]) → [B, L, C].
 */
export class AdaLNSelfAttn extends Module {
  attn: SelfAttention;
  ffn: FeedForward;
  /** Per-block AdaLN (null with sharedAln). */
  ada_lin: Sequential | null;
  /** sharedAln only: this block's offset [1, 1, 6, C] to the shared modulation (official init randn/√C). */
  ada_gss: Tensor | null;

  constructor(readonly config: BlockConfig, rng: Rng, private readonly dropRng: Rng) {
    super();
    const { embedDim: c, condDim, numHeads, mlpRatio, attnL2Norm } = config;
    this.attn = new SelfAttention(c, numHeads, { rng, attnL2Norm });
    this.ffn = new FeedForward(c, Math.round(c * mlpRatio), rng);
    this.ada_lin = config.sharedAln ? null : adaLin(condDim, 6 * c, rng);
    this.ada_gss = config.sharedAln ? randn([1, 1, 6, c], rng, { std: 1 / Math.sqrt(c) }).requireGrad() : null;
  }

  /** The Linear inside ada_lin (rows: γ₁, γ₂, s₁, s₂, b₁, b₂, each C wide); null with sharedAln. */
  get adaLinear(): Linear | null {
    return this.ada_lin ? (this.ada_lin.at(1) as Linear) : null;
  }

  /**
   * The six modulation vectors [B, 1, 6, C] in the order γ₁, γ₂, s₁, s₂, b₁, b₂: ada_lin(cond) from cond [B, D], or
   * with sharedAln ada_gss + cond from the shared_ada_lin output cond [B, 1, 6, C].
   */
  modulation(cond: Tensor): Tensor {
    if (this.ada_gss) {
      checkSharedCond(cond, this.config.embedDim, null);
      return add(this.ada_gss, cond);
    }
    checkCond(cond, this.config.condDim, null, 'AdaLNSelfAttn');
    return reshape(this.ada_lin!.forward(cond), [cond.shape[0]!, 1, 6, this.config.embedDim]);
  }

  /** cond may be null when opts.modulation is given. */
  forward(x: Tensor, cond: Tensor | null, opts: BlockForwardOptions = {}): Tensor {
    const c = this.config.embedDim;
    if (x.rank !== 3 || x.shape[2] !== c) throw new ShapeError('AdaLNSelfAttn', `x must be [B, L, ${c}], got ${fmtShape(x.shape)}`);
    let mods = opts.modulation ?? null;
    if (!mods) {
      if (!cond) throw new ArgumentError('AdaLNSelfAttn', 'needs cond or opts.modulation');
      if (this.ada_gss) checkSharedCond(cond, c, x.shape[0]!);
      else checkCond(cond, this.config.condDim, x.shape[0]!, 'AdaLNSelfAttn');
      mods = this.modulation(cond);
    }
    const part = (i: number) => slice(mods!, [null, null, i]); // [B, 1, C]
    const [gamma1, gamma2, scale1, scale2, shift1, shift2] = [0, 1, 2, 3, 4, 5].map(part) as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
    const { normEps, dropPath: p } = this.config;
    const ln = (t: Tensor) => layerNorm(t, [c], null, null, normEps);
    const attnOut = this.attn.forward(modulate(ln(x), scale1, shift1), { mask: opts.mask ?? null, cache: opts.cache ?? null });
    const h = residual(x, gamma1, attnOut, p, this.training, this.dropRng);
    const ffnOut = this.ffn.forward(modulate(ln(h), scale2, shift2));
    return residual(h, gamma2, ffnOut, p, this.training, this.dropRng);
  }
}

/**
 * The AdaLN layer before the head (the official AdaLNBeforeHead): (scale, shift) = ada_lin(cond), output
 * LN(x)·(1 + scale) + shift. Shapes: x [B, L, C], cond [B, D] → [B, L, C].
 */
export class AdaLNBeforeHead extends Module {
  ada_lin: Sequential;

  constructor(readonly embedDim: number, readonly condDim: number, readonly normEps: number, rng: Rng) {
    super();
    this.ada_lin = adaLin(condDim, 2 * embedDim, rng);
  }

  get adaLinear(): Linear {
    return this.ada_lin.at(1) as Linear;
  }

  forward(x: Tensor, cond: Tensor): Tensor {
    const c = this.embedDim;
    if (x.rank !== 3 || x.shape[2] !== c) throw new ShapeError('AdaLNBeforeHead', `x must be [B, L, ${c}], got ${fmtShape(x.shape)}`);
    checkCond(cond, this.condDim, x.shape[0]!, 'AdaLNBeforeHead');
    const mods = reshape(this.ada_lin.forward(cond), [cond.shape[0]!, 1, 2, c]);
    const scale = slice(mods, [null, null, 0]), shift = slice(mods, [null, null, 1]);
    return modulate(layerNorm(x, [c], null, null, this.normEps), scale, shift);
  }
}

/**
 * Converts every parameter and buffer of `module` to `dtype` in place (parameters stay trainable leaves), e.g. to
 * run a float64 gradient check of a whole model. Gradients and optimizer state of the old tensors are dropped.
 */
export function castModule<M extends Module>(module: M, dtype: 'float32' | 'float64'): M {
  noGrad(() => {
    for (const [, mod] of module.namedModules()) {
      const fields = mod as unknown as Record<string, unknown>;
      for (const [key, value] of Object.entries(fields)) {
        if (!(value instanceof Tensor) || value.dtype === 'int32' || value.dtype === dtype) continue;
        const trainable = value.isLeaf && value.requiresGrad;
        const converted = cast(detach(value), dtype);
        fields[key] = trainable ? converted.requireGrad() : converted;
        value.dispose();
      }
    }
  });
  return module;
}
