// VAR, the next-scale prediction transformer (models/var.py): configuration, the embeddings, block-causal mask, head
// and official initialisation shared with VIAR (NextScaleTransformer), the teacher-forced forward with label
// dropout, and the seeded, batched, KV-cached sampler with the per-scale CFG ramp that decodes through the VQVAE.

import type { Tensor } from '../tensor/tensor.js';
import { ArgumentError, DTypeError, ShapeError, ViarError, fmtShape } from '../tensor/errors.js';
import { tensor, zeros } from '../tensor/creation.js';
import { keep, tidy } from '../tensor/memory.js';
import { captureGraph } from '../tensor/capture.js';
import { Rng } from '../tensor/random.js';
import {
  add, clone, concat, embedding, matmul, mul, permute, reshape, slice, transpose, where,
} from '../tensor/ops/index.js';
import { noGrad } from '../tensor/graph/grad-mode.js';
import { readsAreFree } from '../tensor/backend/backend.js';
import { Module, type LoadOptions, type LoadReport } from '../nn/module.js';
import { Act, Embedding, Linear, Sequential } from '../nn/layers.js';
import { KVCache } from '../nn/attention.js';
import { truncatedNormal } from '../nn/init.js';
import { AdaLNBeforeHead, AdaLNSelfAttn, type BlockConfig } from './var-blocks.js';
import { cfgStrength, checkSamplingOptions, filterLogits, gumbelSoftmax, mixGuidance, sampleTokens, type TokenSamplingOptions } from './sampling.js';
import type { VQVAE } from './vqvae.js';
import { SamplerPlans, weightData } from './sampler-plans.js';

/** The official init_weights arguments (build_vae_var defaults: 0.5, 1e-5, 0.02, −1). */
export interface VarInitOptions {
  /** Factor on the AdaLN scale/shift rows of every block and on head_nm's ada_lin. */
  adaln: number;
  /** Factor on the AdaLN gamma rows of every block (the official --alng). */
  adalnGamma: number;
  /** Factor on head.weight. */
  head: number;
  /** Std of the truncated-normal init; negative means √(1/(3C)). */
  std: number;
}

export interface VarConfig {
  /** Number of blocks (VAR), and the depth the drop-path schedule and the proj/fc2 init divisor √(2·depth) use. */
  depth: number;
  /** Width C (official 64·depth). */
  embedDim: number;
  /** Attention heads H (official depth, so headDim 64). */
  numHeads: number;
  /** FFN width / C (official 4). */
  mlpRatio: number;
  /** Real classes; index numClasses is the null class (CFG, label dropout, unconditional). */
  numClasses: number;
  /** Side of each scale's token map, coarse to fine (official 256 px: 1,2,3,4,5,6,8,10,13,16). */
  patchNums: readonly number[];
  /** Latent width of the VQVAE (Cvae, official 32). */
  vaeChannels: number;
  /** Codebook size V (official 4096). */
  vocabSize: number;
  /** Probability of replacing a label by the null class in training (official 0.1). */
  condDropRate: number;
  /** Largest drop-path rate, spread linearly over depth (official 0.1·depth/24). */
  dropPathRate: number;
  /** LayerNorm epsilon (official 1e-6). */
  normEps: number;
  /** Cosine attention with learned temperatures (official true). */
  attnL2Norm: boolean;
  /**
   * The official shared_aln (default false): one shared_ada_lin (SiLU, Linear C → 6C) for all blocks, each block
   * adding its own ada_gss [1, 1, 6, C] instead of having an ada_lin; the head keeps its own.
   */
  sharedAln?: boolean;
  init: VarInitOptions;
}

export const OFFICIAL_VAR_INIT: VarInitOptions = { adaln: 0.5, adalnGamma: 1e-5, head: 0.02, std: -1 };
/** The 256 px scale set (L = 680). */
export const PATCH_NUMS_256 = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16] as const;

/**
 * The official build_vae_var sizes for a depth: C = 64·depth, H = depth, 1000 classes, 256 px scales, Cvae 32,
 * V 4096, label dropout 0.1, drop-path 0.1·depth/24. Overrides replace single fields.
 * @example varConfig(16) // VAR-d16: C 1024, 16 heads, 310,283,520 parameters
 */
export function varConfig(depth: number, overrides: Partial<VarConfig> = {}): VarConfig {
  return {
    depth, embedDim: 64 * depth, numHeads: depth, mlpRatio: 4, numClasses: 1000, patchNums: PATCH_NUMS_256,
    vaeChannels: 32, vocabSize: 4096, condDropRate: 0.1, dropPathRate: (0.1 * depth) / 24, normEps: 1e-6,
    attnL2Norm: true, init: OFFICIAL_VAR_INIT, ...overrides,
  };
}

/** The configuration of test/fixtures/parity/var-tiny (docs/notes/parity.md): depth 2, C 128, 2 heads, 10 classes, scales 1-2-3-4-6-8, Cvae 8, V 64, alng 1. */
export const VAR_TINY: VarConfig = varConfig(2, {
  numClasses: 10, patchNums: [1, 2, 3, 4, 6, 8], vaeChannels: 8, vocabSize: 64, init: { ...OFFICIAL_VAR_INIT, adalnGamma: 1 },
});

function checkConfig(c: VarConfig, op: string): void {
  const posInt = (v: number, name: string) => {
    if (!Number.isInteger(v) || v < 1) throw new ArgumentError(op, `config.${name} must be a positive integer, got ${v}`);
  };
  posInt(c.depth, 'depth'); posInt(c.embedDim, 'embedDim'); posInt(c.numHeads, 'numHeads'); posInt(c.numClasses, 'numClasses');
  posInt(c.vaeChannels, 'vaeChannels'); posInt(c.vocabSize, 'vocabSize');
  if (c.embedDim % c.numHeads !== 0) throw new ArgumentError(op, `config.embedDim = ${c.embedDim} must be divisible by numHeads = ${c.numHeads}`);
  if (c.patchNums.length === 0 || c.patchNums.some((p, i) => !Number.isInteger(p) || p < 1 || (i > 0 && p < c.patchNums[i - 1]!))) {
    throw new ArgumentError(op, `config.patchNums must be non-decreasing positive integers, got [${c.patchNums.join(', ')}]`);
  }
  if (!(c.condDropRate >= 0 && c.condDropRate < 1)) throw new ArgumentError(op, `config.condDropRate must be in [0, 1), got ${c.condDropRate}`);
  if (!(c.dropPathRate >= 0 && c.dropPathRate < 1)) throw new ArgumentError(op, `config.dropPathRate must be in [0, 1), got ${c.dropPathRate}`);
  if (c.sharedAln !== undefined && typeof c.sharedAln !== 'boolean') throw new ArgumentError(op, `config.sharedAln must be a boolean, got ${String(c.sharedAln)}`);
}

/** The official drop-path schedule linspace(0, rate, depth). */
export function dropPathRates(rate: number, depth: number): number[] {
  return Array.from({ length: depth }, (_, i) => (depth > 1 ? (rate * i) / (depth - 1) : 0));
}

/** State-dict entries the official checkpoints hold that are recomputed here (docs/notes/var-spec.md, 'Recomputed buffers'). */
function isRecomputedBuffer(key: string): boolean {
  return key === 'lvl_1L' || key === 'attn_bias_for_masking' || key.endsWith('.attn.zero_k_bias');
}

export interface SampleOptions extends TokenSamplingOptions {
  /** Class per image (B = its length), or one class for all (negative = the null class); default: random classes. */
  labels?: Tensor | readonly number[] | number;
  /** B when labels is a single number or absent (default 1). */
  batchSize?: number;
  /** Guidance strength; scale si uses t = cfg·si/(SN − 1) (default 1.5, the official FID setting). */
  cfg?: number;
  /** Seed of the sampler's Rng (default 0), used for random labels, draws and Gumbel noise; or pass `rng`. */
  seed?: number;
  rng?: Rng;
  /** The official more_smooth: code maps are Gumbel-softmax mixtures of the codebook (the index is still drawn). */
  moreSmooth?: boolean;
  /** Use these indices (int32 [B, pₖ²] per scale) instead of sampling: the cached sampler under teacher forcing. */
  forcedIndices?: readonly Tensor[];
  /**
   * Partial teacher forcing (zero-shot editing): int32 [B, pₖ²] per scale; wherever knownMask[k] ≠ 0 the token is
   * knownIndices[k] (also its code map under moreSmooth), elsewhere the drawn one. Every position is still drawn,
   * so the Rng stream is that of plain sampling. Needs knownMask; cannot be combined with forcedIndices.
   */
  knownIndices?: readonly Tensor[];
  /** Where knownIndices apply: int32 [B, pₖ²] per scale, 1 = known (re-imposed), 0 = sampled. */
  knownMask?: readonly Tensor[];
  /** Return the CFG-mixed logits of every scale (before filtering). */
  recordLogits?: boolean;
  /**
   * Called after each scale (progressive display): its tensors live only during the call, which runs in its own
   * tidy scope without gradients, e.g. `({ fHat }) => show(vqvae.fhatToImage(fHat).dataSync())`.
   */
  onScale?: (progress: ScaleProgress) => void;
  /**
   * Record the whole pass (every scale, then the decoder) on the first call and replay the recording on later calls
   * with the same batch size and settings: on the gpu backend this skips the host's per-op work, like CUDA graphs.
   * Tokens and images equal those of plain sampling with the same seed. Not with forcedIndices, knownIndices,
   * moreSmooth, recordLogits or onScale (nor VIAR's earlyStopTol). Each recording keeps one pass's device memory
   * (the two most recent are kept; disposeSamplerPlans() frees them).
   */
  capture?: boolean;
}

/** What onScale sees after scale `scale` of `numScales`. */
export interface ScaleProgress {
  scale: number;
  numScales: number;
  /** The scale's chosen code indices, int32 [B, pₖ²]. */
  indices: Tensor;
  /** f̂ so far (the sum of the upsampled code maps of scales 0..scale): [B, Cvae, p, p]; decode it to see the image. */
  fHat: Tensor;
  /** VIAR only: implicit iterations run at this scale. */
  iterations?: number;
  /** VIAR only: the relative step ‖z_{t+1} − z_t‖/‖z_t‖ (max over rows) after each of those iterations. */
  residuals?: number[];
}

export interface SampleResult {
  /** The class of every image (numClasses = null class). */
  labels: number[];
  /** Chosen code indices per scale: int32 [B, pₖ²]. */
  indices: Tensor[];
  /** (clamp(decode(f̂), −1, 1) + 1)/2: [B, 3, H, W] in [0, 1]. */
  image: Tensor;
  /** The final f̂: [B, Cvae, p, p]. */
  fHat: Tensor;
  /** CFG-mixed logits per scale [B, pₖ², V] when recordLogits, else null. */
  logits: Tensor[] | null;
}

/** One sampling run's view of a model's trunk: runs scale si's tokens [2B, pₖ², C] through the cached blocks. */
export interface SamplingSession {
  step(tokens: Tensor, si: number): Tensor;
  /** Frees the KV caches. */
  dispose(): void;
}

/**
 * What VAR and VIAR share (models/var.py outside the blocks): class_emb (numClasses + 1 rows, the last is the null
 * class), pos_start [1, p₀², C], pos_1LC [1, L, C], lvl_embed [SN, C], word_embed (Cvae → C), shared_ada_lin (with
 * sharedAln), head_nm and head (C → V), the block-causal mask, label dropout, the official init and the sampler loop.
 */
export abstract class NextScaleTransformer extends Module {
  class_emb: Embedding;
  pos_start: Tensor;
  pos_1LC: Tensor;
  lvl_embed: Embedding;
  word_embed: Linear;
  /** sharedAln only: SiLU then Linear(C → 6C), keys shared_ada_lin.1.weight / .bias; null otherwise. */
  shared_ada_lin: Sequential | null;
  head_nm: AdaLNBeforeHead;
  head: Linear;
  /** Tokens in the whole sequence, L = Σ pₖ². */
  readonly seqLen: number;
  /** Tokens of the first scale (the sos tokens). */
  readonly firstLen: number;
  /** Start of each scale's tokens in the sequence (and seqLen at the end): [0, 1, 5, 14, …]. */
  readonly scaleStarts: number[];
  /** Label dropout, drop-path and VIAR's iteration draws use this seeded generator in training. */
  protected readonly trainingRng: Rng;
  private readonly constants = new Map<string, Tensor>();
  /** Recorded sampling passes (SampleOptions.capture). */
  private readonly samplerPlans = new SamplerPlans();

  constructor(readonly config: VarConfig, rng: Rng, protected readonly opName: string) {
    super();
    checkConfig(config, opName);
    const c = config.embedDim;
    this.scaleStarts = [0];
    for (const p of config.patchNums) this.scaleStarts.push(this.scaleStarts.at(-1)! + p * p);
    this.seqLen = this.scaleStarts.at(-1)!;
    this.firstLen = config.patchNums[0]! ** 2;
    this.trainingRng = rng.fork();
    const std = initStd(config);
    this.class_emb = new Embedding(config.numClasses + 1, c, { rng });
    this.pos_start = truncatedNormal([1, this.firstLen, c], rng, { std }).requireGrad();
    this.pos_1LC = truncatedNormal([1, this.seqLen, c], rng, { std }).requireGrad();
    this.lvl_embed = new Embedding(config.patchNums.length, c, { rng });
    this.word_embed = new Linear(config.vaeChannels, c, { rng });
    this.shared_ada_lin = config.sharedAln ? new Sequential(new Act('silu'), new Linear(c, 6 * c, { rng })) : null;
    this.head_nm = new AdaLNBeforeHead(c, c, config.normEps, rng);
    this.head = new Linear(c, config.vocabSize, { rng });
  }

  /** Every AdaLN block, in order (for the init rules). */
  protected abstract allBlocks(): AdaLNSelfAttn[];

  /**
   * One sampling scale through `blocks` with their modulations and KV caches: x [R, l, C] → [R, l, C]. Each block runs
   * in its own scope, so its temporaries are freed as it returns (the input x stays the caller's).
   */
  protected throughBlocks(blocks: readonly AdaLNSelfAttn[], x: Tensor, mods: readonly Tensor[], caches: readonly KVCache[]): Tensor {
    let h = x;
    blocks.forEach((block, i) => {
      const input = h;
      h = tidy(() => block.forward(input, null, { modulation: mods[i]!, cache: caches[i]! }));
      if (input !== x) input.dispose();
    });
    return h;
  }

  get numScales(): number {
    return this.config.patchNums.length;
  }

  /** Block settings for a block with the given drop-path rate. */
  protected blockConfig(dropPath: number): BlockConfig {
    const c = this.config;
    return {
      embedDim: c.embedDim, condDim: c.embedDim, numHeads: c.numHeads, mlpRatio: c.mlpRatio, normEps: c.normEps, attnL2Norm: c.attnL2Norm,
      dropPath, sharedAln: c.sharedAln ?? false,
    };
  }

  /**
   * What the blocks receive as their condition (the official cond_BD_or_gss): cond [B, C] itself, or with sharedAln
   * shared_ada_lin(cond) viewed as [B, 1, 6, C]. The head always gets cond.
   */
  protected blockCond(cond: Tensor): Tensor {
    if (!this.shared_ada_lin) return cond;
    return reshape(this.shared_ada_lin.forward(cond), [cond.shape[0]!, 1, 6, this.config.embedDim]);
  }

  /**
   * The official init_weights: trunc_normal(std) on every Linear and Embedding weight, zero biases; head.weight ×=
   * init.head; head_nm's ada_lin weight ×= init.adaln; per block proj and fc2 weights ÷= √(2·depth), ada_lin rows
   * [0, 2C) (the gammas) ×= init.adalnGamma and rows [2C, 6C) ×= init.adaln, zero ada_lin bias; with sharedAln the
   * same factors on ada_gss[:, :, 0:2] and [:, :, 2:6] (shared_ada_lin is an ordinary Linear).
   */
  protected initWeights(rng: Rng): void {
    const { init, depth, embedDim: c } = this.config;
    const std = initStd(this.config);
    const set = (t: Tensor, value: Tensor) => t.assign(value);
    noGrad(() => tidy(() => {
      for (const [, m] of this.namedModules()) {
        if (m instanceof Linear) {
          set(m.weight, truncatedNormal(m.weight.shape, rng, { std }));
          if (m.bias) set(m.bias, zeros(m.bias.shape));
        } else if (m instanceof Embedding) {
          set(m.weight, truncatedNormal(m.weight.shape, rng, { std }));
        }
      }
      set(this.head.weight, mul(this.head.weight, init.head));
      if (this.head.bias) set(this.head.bias, zeros(this.head.bias.shape));
      const headAda = this.head_nm.adaLinear;
      set(headAda.weight, mul(headAda.weight, init.adaln));
      if (headAda.bias) set(headAda.bias, zeros(headAda.bias.shape));
      const divisor = Math.sqrt(2 * depth);
      const rowFactor = tensor(Float32Array.from({ length: 6 * c }, (_, r) => (r < 2 * c ? init.adalnGamma : init.adaln)), { shape: [6 * c, 1] });
      const gssFactor = tensor(Float32Array.from({ length: 6 }, (_, r) => (r < 2 ? init.adalnGamma : init.adaln)), { shape: [1, 1, 6, 1] });
      for (const block of this.allBlocks()) {
        set(block.attn.proj.weight, mul(block.attn.proj.weight, 1 / divisor));
        set(block.ffn.fc2.weight, mul(block.ffn.fc2.weight, 1 / divisor));
        const ada = block.adaLinear;
        if (ada) {
          set(ada.weight, mul(ada.weight, rowFactor));
          if (ada.bias) set(ada.bias, zeros(ada.bias.shape));
        }
        if (block.ada_gss) set(block.ada_gss, mul(block.ada_gss, gssFactor));
      }
    }));
  }

  /** A cached constant (kept out of tidy scopes; freed by dispose()). */
  private constant(key: string, make: () => Tensor): Tensor {
    let t = this.constants.get(key);
    if (!t || t.isDisposed) {
      t = keep(noGrad(make));
      this.constants.set(key, t);
    }
    return t;
  }

  /** Scale index of every token: int32 [L] (the official lvl_1L buffer). */
  levelIndices(): Tensor {
    return this.constant('lvl', () => tensor(Int32Array.from({ length: this.seqLen }, (_, t) => this.scaleOf(t)), { shape: [this.seqLen] }));
  }

  /** Scale of token position t. */
  scaleOf(t: number): number {
    let si = 0;
    while (this.scaleStarts[si + 1]! <= t) si++;
    return si;
  }

  /**
   * The block-causal mask [L, L] (the official attn_bias_for_masking): 0 where scale(key) ≤ scale(query), else
   * −Infinity — bidirectional within a scale, causal across scales.
   */
  blockCausalMask(dtype: 'float32' | 'float64' = 'float32'): Tensor {
    return this.constant(`mask-${dtype}`, () => {
      const l = this.seqLen;
      const values = new Float64Array(l * l);
      for (let q = 0; q < l; q++) {
        const sq = this.scaleOf(q);
        for (let k = 0; k < l; k++) values[q * l + k] = this.scaleOf(k) <= sq ? 0 : -Infinity;
      }
      return tensor(values, { shape: [l, l], dtype });
    });
  }

  /** lvl_embed[lvl_1L] + pos_1LC: [1, L, C]. */
  protected levelPositions(): Tensor {
    return add(embedding(this.lvl_embed.weight, this.levelIndices()), this.pos_1LC);
  }

  /** Labels as an int32 [B] tensor, checked against [0, numClasses] (numClasses is the null class). */
  protected labelTensor(labels: Tensor | readonly number[], batch: number, op: string): Tensor {
    const t = Array.isArray(labels) ? tensor(Int32Array.from(labels as number[]), { shape: [labels.length] }) : (labels as Tensor);
    if (t.dtype !== 'int32') throw new DTypeError(op, `labels must be int32 class indices, got ${t.dtype}`);
    if (t.rank !== 1 || t.shape[0] !== batch) throw new ShapeError(op, `labels must be [${batch}] (one class per image), got ${fmtShape(t.shape)}`);
    // values are checked where they are at hand: a label array, or a tensor whose backend reads host memory
    if (Array.isArray(labels)) this.checkLabelValues(labels as number[], op);
    else if (readsAreFree(t.backend)) this.checkLabelValues(Array.from(t.dataSync()), op);
    return t;
  }

  protected checkLabelValues(values: readonly number[], op: string): void {
    const n = this.config.numClasses;
    values.forEach((v, i) => {
      if (!Number.isInteger(v) || v < 0 || v > n) throw new ArgumentError(op, `labels[${i}] = ${v} is out of range: classes are 0..${n - 1} and ${n} is the null class`);
    });
  }

  /**
   * Token embeddings of the teacher-forced sequence. labels [B] (int32 or numbers), x [B, L − p₀², Cvae] (the
   * VQVAE's indicesToVarInput) → tokens [B, L, C] and the condition [B, C]. In training mode each label is replaced
   * by the null class with probability condDropRate.
   */
  protected embedTeacherForced(labels: Tensor | readonly number[], x: Tensor, op: string, rng?: Rng, labelDropMask?: Tensor): { tokens: Tensor; cond: Tensor } {
    const { vaeChannels, numClasses, condDropRate, embedDim: c } = this.config;
    const want = [x.shape[0] ?? 0, this.seqLen - this.firstLen, vaeChannels];
    if (x.rank !== 3 || x.shape[1] !== want[1] || x.shape[2] !== want[2]) {
      throw new ShapeError(op, `x must be [B, ${want[1]}, ${want[2]}] (L − p₀² tokens of Cvae channels), got ${fmtShape(x.shape)}`);
    }
    const b = x.shape[0]!;
    let lab = this.labelTensor(labels, b, op);
    if (labelDropMask) {
      if (labelDropMask.dtype !== 'int32' || labelDropMask.rank !== 1 || labelDropMask.shape[0] !== b) {
        throw new ShapeError(op, `labelDropMask must be int32 [${b}] (1 = use the null class), got ${labelDropMask.dtype} ${fmtShape(labelDropMask.shape)}`);
      }
      lab = where(labelDropMask, numClasses, lab);
    } else if (this.training && condDropRate > 0) {
      // the swap to the null class happens on the labels' device
      lab = where(tensor(this.drawLabelDrops(b, rng), { shape: [b] }), numClasses, lab);
    }
    const cond = this.class_emb.forward(lab);
    const sos = add(reshape(cond, [b, 1, c]), this.pos_start);
    const tokens = add(concat([sos, this.word_embed.forward(x)], 1), this.levelPositions());
    return { tokens, cond };
  }

  /** Label dropout for a batch of b: one uniform per row from rng (default: the model's), 1 = the null class. */
  private drawLabelDrops(b: number, rng?: Rng): Int32Array {
    const g = rng ?? this.trainingRng, rate = this.config.condDropRate;
    return Int32Array.from({ length: b }, () => (g.uniform() < rate ? 1 : 0));
  }

  /**
   * The random choices a forward pass in the current mode would draw, drawn now from the same generator in the same
   * order: label dropout as int32 [B] (1 = the null class; none drawn in eval mode), and for VIAR the implicit split.
   * Passing them back (forward's labelDropMask, VIAR's iterations) makes the pass a fixed function of its inputs, as
   * captureGradients needs; drop-path draws are not covered (dropPathRate must be 0).
   */
  drawForwardChoices(batch: number, rng?: Rng): { labelDropMask: Tensor; iterations?: { noGrad: number; withGrad: number } } {
    const drops = this.training && this.config.condDropRate > 0 ? this.drawLabelDrops(batch, rng) : new Int32Array(batch);
    return { labelDropMask: tensor(drops, { shape: [batch] }) };
  }

  /** head(head_nm(h, cond)): [B, l, C] → [B, l, V]. */
  protected logitsOf(h: Tensor, cond: Tensor): Tensor {
    return this.head.forward(this.head_nm.forward(h, cond));
  }

  /** Maps official state-dict keys onto this model, skipping the buffers it recomputes; errors name the config. */
  override loadStateDict(state: ReadonlyMap<string, Tensor> | Record<string, Tensor>, opts: LoadOptions = {}): LoadReport {
    const entries = state instanceof Map ? [...state] : Object.entries(state);
    const filtered = new Map(entries.filter(([k]) => !isRecomputedBuffer(k)));
    try {
      return super.loadStateDict(filtered, opts);
    } catch (err) {
      if (!(err instanceof ViarError)) throw err;
      const Ctor = err.constructor as new (op: string, message: string) => ViarError;
      const msg = err.message.replace(/^loadStateDict: /, '');
      throw new Ctor(`${this.opName}.loadStateDict`, `the state dict does not fit this model (${this.describe()}): ${msg}`);
    }
  }

  /** A one-line summary of the configuration (used in error messages). */
  describe(): string {
    const c = this.config;
    return `depth ${c.depth}, C ${c.embedDim}, ${c.numHeads} heads, ${c.numClasses} classes, patchNums [${c.patchNums.join(', ')}], Cvae ${c.vaeChannels}, V ${c.vocabSize}${c.sharedAln ? ', shared AdaLN' : ''}`;
  }

  override dispose(): void {
    super.dispose();
    this.samplerPlans.dispose();
    for (const t of this.constants.values()) t.dispose();
    this.constants.clear();
  }

  /** Resolves the sampler's labels: explicit, one for all, or random classes drawn from rng. */
  private resolveLabels(opts: SampleOptions, rng: Rng, op: string): number[] {
    const { labels, batchSize } = opts;
    if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1)) throw new ArgumentError(op, `batchSize must be a positive integer, got ${batchSize}`);
    let values: number[];
    if (labels === undefined) {
      values = Array.from({ length: batchSize ?? 1 }, () => rng.int(0, this.config.numClasses));
    } else if (typeof labels === 'number') {
      values = new Array<number>(batchSize ?? 1).fill(labels < 0 ? this.config.numClasses : labels);
    } else {
      values = Array.isArray(labels) ? [...labels as number[]] : Array.from((labels as Tensor).dataSync());
      if (batchSize !== undefined && batchSize !== values.length) throw new ArgumentError(op, `batchSize = ${batchSize} but ${values.length} labels were given`);
      if (values.length === 0) throw new ArgumentError(op, 'labels is empty: give at least one class (or a number, or omit labels for random classes)');
    }
    this.checkLabelValues(values, op);
    return values;
  }

  private checkVqvae(vqvae: VQVAE, op: string): void {
    const c = this.config, v = vqvae?.config;
    if (!v || !vqvae.quantize) throw new ArgumentError(op, 'needs the VQVAE whose codes the model predicts as its first argument');
    if (v.patchNums.length !== c.patchNums.length || v.patchNums.some((p, i) => p !== c.patchNums[i]) || v.zChannels !== c.vaeChannels || v.vocabSize !== c.vocabSize) {
      throw new ArgumentError(op, `the VQVAE (patchNums [${v.patchNums.join(', ')}], Cvae ${v.zChannels}, V ${v.vocabSize}) does not match the model (patchNums [${c.patchNums.join(', ')}], Cvae ${c.vaeChannels}, V ${c.vocabSize})`);
    }
  }

  private checkForced(forced: readonly Tensor[], batch: number, op: string, name = 'forcedIndices'): void {
    const pns = this.config.patchNums;
    if (forced.length !== pns.length) throw new ArgumentError(op, `${name} has ${forced.length} scales, the model has ${pns.length}`);
    forced.forEach((t, si) => {
      if (t.dtype !== 'int32' || t.rank !== 2 || t.shape[0] !== batch || t.shape[1] !== pns[si]! ** 2) {
        throw new ShapeError(op, `${name}[${si}] must be int32 [${batch}, ${pns[si]! ** 2}], got ${t.dtype} ${fmtShape(t.shape)}`);
      }
    });
  }

  private checkKnown(opts: SampleOptions, batch: number, op: string): void {
    const { knownIndices, knownMask } = opts;
    if (!knownIndices && !knownMask) return;
    if (!knownIndices || !knownMask) throw new ArgumentError(op, 'knownIndices and knownMask must be given together');
    if (opts.forcedIndices) throw new ArgumentError(op, 'forcedIndices and knownIndices cannot be combined (forcedIndices already fixes every token)');
    this.checkForced(knownIndices, batch, op, 'knownIndices');
    this.checkForced(knownMask, batch, op, 'knownMask');
  }

  /**
   * The official autoregressive_infer_cfg loop around a trunk: 2B rows (B conditional, B null-class), the cond
   * doubles as the sos token, each scale runs `open(cond).step` on its tokens with KV caches, mixes the two halves
   * with t = cfg·si/(SN − 1), picks tokens (then re-imposes knownIndices where knownMask is set), adds Phi(upsampled
   * code map) to f̂ and embeds the area-downsampled f̂ as the next scale's tokens. Returns the images (decoded with
   * the VQVAE). With opts.capture the pass is recorded once per batch and settings (`captureKey` adds the subclass's
   * own) and replayed; `open` then learns that it runs under a recording, which cannot read values.
   */
  protected runSampler(vqvae: VQVAE, opts: SampleOptions, open: (cond: Tensor, capturing: boolean) => SamplingSession, op: string, captureKey = ''): SampleResult {
    this.checkVqvae(vqvae, op);
    const rng = opts.rng ?? new Rng(opts.seed ?? 0);
    const labels = this.resolveLabels(opts, rng, op);
    const b = labels.length;
    const cfg = opts.cfg ?? 1.5;
    // useful values are ~1–10 (official 1.5–4); huge ones make (1 + t)·cond − t·uncond overflow and fail far from the cause
    if (!Number.isFinite(cfg) || Math.abs(cfg) > 1e4) throw new ArgumentError(op, `cfg must be a finite number of magnitude at most 1e4, got ${cfg}`);
    if (opts.forcedIndices) this.checkForced(opts.forcedIndices, b, op);
    this.checkKnown(opts, b, op);
    const sampling = checkSamplingOptions(opts, this.config.vocabSize, op);
    const withNull = () => tensor(Int32Array.from([...labels, ...new Array<number>(b).fill(this.config.numClasses)]), { shape: [2 * b] });
    if (!opts.capture) {
      const out = noGrad(() => tidy(() => this.samplingPass(vqvae, withNull(), opts, () => rng, open, false)));
      return { labels, ...out };
    }
    const conflict = (['forcedIndices', 'knownIndices', 'moreSmooth', 'recordLogits', 'onScale'] as const).find((k) => opts[k]);
    if (conflict) throw new ArgumentError(op, `capture cannot be combined with ${conflict} (the recording replays fixed ops with draws made up front); leave capture off`);
    // the uniforms plain sampling draws, in its order (scale by scale, row-major), made up front: the recording's input
    const draws = new Float32Array(b * this.seqLen);
    if (!sampling.greedy) for (let i = 0; i < draws.length; i++) draws[i] = rng.uniform();
    const key = JSON.stringify([b, cfg, sampling, captureKey]);
    const { patchNums } = this.config;
    const sn = patchNums.length;
    const inputs = [withNull(), tensor(draws, { shape: [draws.length] })];
    try {
      const outputs = noGrad(() => this.samplerPlans.run(key, weightData(this, vqvae), inputs, () => captureGraph((labels2B: Tensor, uniforms: Tensor) => {
        const scaleDraws = (si: number) => slice(uniforms, [[b * this.scaleStarts[si]!, b * this.scaleStarts[si + 1]!]]);
        const r = this.samplingPass(vqvae, labels2B, opts, scaleDraws, open, true);
        return [...r.indices, r.fHat, r.image];
      }, inputs)));
      return { labels, indices: outputs.slice(0, sn), fHat: outputs[sn]!, image: outputs[sn + 1]!, logits: null };
    } finally {
      for (const t of inputs) t.dispose();
    }
  }

  /** Frees the recordings made by sampling with `capture` (and the device memory they hold). */
  disposeSamplerPlans(): void {
    this.samplerPlans.dispose();
  }

  /** One sampling pass for labels2B [2B] (B classes, then B null classes), scale si's draws from `draws(si)`. */
  private samplingPass(
    vqvae: VQVAE, labels2B: Tensor, opts: SampleOptions, draws: (si: number) => Rng | Tensor,
    open: (cond: Tensor, capturing: boolean) => SamplingSession, capturing: boolean,
  ): Omit<SampleResult, 'labels'> {
    const { patchNums, vaeChannels, embedDim: c } = this.config;
    const b = labels2B.shape[0]! / 2;
    const cfg = opts.cfg ?? 1.5;
    const sn = patchNums.length, pLast = patchNums[sn - 1]!;
    const cond = this.class_emb.forward(labels2B);
    const lvlPos = this.levelPositions();
    const session = open(cond, capturing);
    try {
      let tokens = add(add(reshape(cond, [2 * b, 1, c]), this.pos_start), slice(lvlPos, [null, [0, this.firstLen]]));
      let fHat = zeros([b, vaeChannels, pLast, pLast]);
      const indices: Tensor[] = [];
      const logits: Tensor[] = [];
      patchNums.forEach((pn, si) => {
        const step = tidy(() => {
          const mixed = mixGuidance(this.logitsOf(session.step(tokens, si), cond), cfgStrength(cfg, si, sn));
          let idx = opts.forcedIndices ? clone(opts.forcedIndices[si]!) : sampleTokens(mixed, opts, draws(si));
          const known = opts.knownMask?.[si];
          if (known) idx = where(known, opts.knownIndices![si]!, idx);
          let codes: Tensor; // [B, Cvae, pn, pn]
          if (opts.moreSmooth) {
            const ratio = sn > 1 ? si / (sn - 1) : 0;
            const soft = gumbelSoftmax(mul(filterLogits(mixed, opts), 1 + ratio), Math.max(0.27 * (1 - ratio * 0.95), 0.005), draws(si) as Rng);
            codes = permute(reshape(matmul(soft, vqvae.quantize.embedding.weight), [b, pn, pn, vaeChannels]), [0, 3, 1, 2]);
            if (known) codes = where(reshape(known, [b, 1, pn, pn]), vqvae.quantize.embed(opts.knownIndices![si]!, pn), codes);
          } else {
            codes = vqvae.quantize.embed(idx, pn);
          }
          const { fHat: updated, next } = vqvae.quantize.nextInput(si, fHat, codes);
          let nextTokens: Tensor | null = null;
          if (si < sn - 1) {
            const [start, end] = [this.scaleStarts[si + 1]!, this.scaleStarts[si + 2]!];
            const embedded = add(this.word_embed.forward(transpose(reshape(next, [b, vaeChannels, -1]), 1, 2)), slice(lvlPos, [null, [start, end]]));
            nextTokens = concat([embedded, embedded], 0);
          }
          return { idx, updated, nextTokens, mixed: opts.recordLogits ? mixed : null };
        });
        indices.push(step.idx);
        if (step.mixed) logits.push(step.mixed);
        tokens.dispose();
        fHat.dispose();
        fHat = step.updated;
        if (step.nextTokens) tokens = step.nextTokens;
        if (opts.onScale) tidy(() => opts.onScale!({ scale: si, numScales: sn, indices: step.idx, fHat }));
      });
      const image = mul(add(vqvae.fhatToImage(fHat), 1), 0.5);
      return { indices, image, fHat, logits: opts.recordLogits ? logits : null };
    } finally {
      session.dispose();
    }
  }
}

function initStd(config: VarConfig): number {
  return config.init.std < 0 ? Math.sqrt(1 / (3 * config.embedDim)) : config.init.std;
}

/**
 * VAR: `depth` AdaLN blocks between the embeddings and the head (state-dict keys as the official var_d*.pth:
 * blocks.{i}.attn.mat_qkv.weight, head_nm.ada_lin.1.weight, pos_1LC, …).
 * @example
 * const model = new VAR(VAR_TINY, { rng: new Rng(0) });
 * const logits = model.forward([3, 7], vqvae.quantize.indicesToVarInput(indices)); // [2, L, V]
 * const { indices, image } = model.sample(vqvae, { labels: [3, 7], cfg: 1.5, topK: 900, topP: 0.96, seed: 1 });
 */
export class VAR extends NextScaleTransformer {
  blocks: AdaLNSelfAttn[];

  constructor(config: VarConfig, opts: { rng: Rng }) {
    if (!opts?.rng) throw new ArgumentError('VAR', 'needs an explicit rng (e.g. { rng: new Rng(0) })');
    super(config, opts.rng, 'VAR');
    const rates = dropPathRates(config.dropPathRate, config.depth);
    this.blocks = rates.map((p) => new AdaLNSelfAttn(this.blockConfig(p), opts.rng, this.trainingRng));
    this.initWeights(opts.rng);
  }

  protected allBlocks(): AdaLNSelfAttn[] {
    return this.blocks;
  }

  /**
   * Teacher-forced logits (the official VAR.forward): labels [B], x [B, L − p₀², Cvae] → [B, L, V]. Token t's logits
   * predict the code at position t and depend only on tokens of scales ≤ its own (block-causal mask). In training
   * mode labels are dropped to the null class with probability condDropRate (drawn from opts.rng or the model's).
   */
  forward(labels: Tensor | readonly number[], xBLCwoFirst: Tensor, opts: { rng?: Rng; labelDropMask?: Tensor } = {}): Tensor {
    const { tokens, cond } = this.embedTeacherForced(labels, xBLCwoFirst, 'VAR.forward', opts.rng, opts.labelDropMask);
    const mask = this.blockCausalMask(tokens.dtype === 'float64' ? 'float64' : 'float32');
    const blockCond = this.blockCond(cond);
    let h = tokens;
    for (const block of this.blocks) h = block.forward(h, blockCond, { mask });
    return this.logitsOf(h, cond);
  }

  /**
   * Seeded, batched sampling with per-block KV caches (the official autoregressive_infer_cfg): per-scale indices
   * int32 [B, pₖ²], f̂ and the image in [0, 1] decoded by `vqvae`.
   */
  sample(vqvae: VQVAE, opts: SampleOptions = {}): SampleResult {
    return this.runSampler(vqvae, opts, (cond) => {
      const blockCond = this.blockCond(cond);
      const mods = this.blocks.map((blk) => blk.modulation(blockCond));
      const caches = this.blocks.map(() => new KVCache());
      return {
        step: (tokens: Tensor) => this.throughBlocks(this.blocks, tokens, mods, caches),
        dispose: () => caches.forEach((cache) => cache.dispose()),
      };
    }, 'VAR.sample');
  }
}
