// Training VAR / VIAR on a frozen tokenizer: the dataset encoded once into per-scale code indices (cached on disk,
// keyed by the tokenizer file's hash), teacher-forced cross-entropy with AdamW (official betas and decay groups),
// warmup + cosine, clipping, VIAR solver statistics, bit-identical resume, checkpoints and class-per-row samples.

import type { Tensor } from '../tensor/tensor.js';
import { ArgumentError } from '../tensor/errors.js';
import { nodeBuiltin } from '../tensor/node-builtins.js';
import { tensor } from '../tensor/creation.js';
import { Rng } from '../tensor/random.js';
import { keep, tidy } from '../tensor/memory.js';
import { withBackend } from '../tensor/backend/registry.js';
import { argmax, cast, concat, crossEntropy, eq, mul, reshape, stack, sub, sum } from '../tensor/ops/index.js';
import { noGrad } from '../tensor/graph/grad-mode.js';
import { AdamW, type AdamOptions } from '../nn/optim/adam.js';
import { clipGradNorm, clipGradNormOnDevice } from '../nn/optim/optimizer.js';
import { warmupCosine, type Schedule } from '../nn/optim/schedules.js';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors } from '../nn/safetensors.js';
import { loadTrainingState, saveTrainingState } from '../nn/training-state.js';
import { shuffleInPlace, type ImageDataset } from '../nn/data/dataset.js';
import { VAR, type VarConfig } from './var-model.js';
import { VIAR, type ViarConfig } from './viar-model.js';
import { iterationSchedule, type IterationSchedule } from './sampling.js';
import { checkTransformerHeader, loadCheckedModule, parseConfigJson, validateTransformerConfig, withConfigDefaults } from './config-validation.js';
import type { VectorQuantizer } from './quantizer.js';
import type { VQVAE } from './vqvae.js';
import type { TransformerKind } from './transformer-configs.js';

// ---------------------------------------------------------------------------------------------------------------
// Token datasets and their cache

/** A dataset encoded by a tokenizer: every image's codes of all scales, concatenated coarse to fine. */
export interface TokenDataset {
  /** [count, L] row-major: image i's tokens are tokens[i·L, (i + 1)·L), scale k at [start(k), start(k + 1)). */
  tokens: Int32Array;
  labels: Int32Array;
  count: number;
  /** The tokenizer's scales; L = Σ pₖ². */
  patchNums: readonly number[];
  seqLen: number;
}

/** Images [N, 1, H, W] in [0, 1] → [−1, 1], the tokenizer's range. */
export const toSignedImages = (x: Tensor): Tensor => sub(mul(x, 2), 1);

/**
 * Encodes every image of `images` (pixels in [0, 1]) with the tokenizer in eval mode, in batches, without a tape.
 * @example const train = encodeImages(vae, standardSplit(loadMnist()).train);
 */
export function encodeImages(vae: VQVAE, images: ImageDataset, opts: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {}): TokenDataset {
  const patchNums = vae.config.patchNums;
  const seqLen = patchNums.reduce((s, p) => s + p * p, 0);
  const tokens = new Int32Array(images.count * seqLen);
  const labels = Int32Array.from(images.labels);
  const wasTraining = vae.training;
  vae.eval();
  let done = 0;
  try {
    for (const { x, y } of images.batches(opts.batchSize ?? 100)) {
      const b = x.shape[0]!;
      tidy(() => noGrad(() => {
        const perScale = vae.imageToIndices(toSignedImages(x)).map((t) => t.dataSync());
        for (let i = 0; i < b; i++) {
          let at = (done + i) * seqLen;
          patchNums.forEach((p, k) => {
            const n = p * p;
            tokens.set(perScale[k]!.subarray(i * n, (i + 1) * n), at);
            at += n;
          });
        }
      }));
      x.dispose(); y.dispose();
      done += b;
      opts.onProgress?.(done, images.count);
    }
  } finally {
    vae.train(wasTraining);
  }
  return { tokens, labels, count: images.count, patchNums: [...patchNums], seqLen };
}

/** A token dataset of the rows at `indices`, in that order. */
export function subsetTokens(ds: TokenDataset, indices: ArrayLike<number>): TokenDataset {
  const l = ds.seqLen;
  const tokens = new Int32Array(indices.length * l);
  const labels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (!Number.isInteger(i) || i < 0 || i >= ds.count) throw new ArgumentError('subsetTokens', `index ${i} is out of range for ${ds.count} rows`);
    tokens.set(ds.tokens.subarray(i * l, (i + 1) * l), k * l);
    labels[k] = ds.labels[i]!;
  }
  return { tokens, labels, count: indices.length, patchNums: ds.patchNums, seqLen: l };
}

/** SHA-256 (hex) and size of a file: what the token cache and checkpoints record of the tokenizer. */
export function fileFingerprint(path: string): { sha256: string; bytes: number } {
  const { readFileSync, statSync } = nodeBuiltin('node:fs', 'fileFingerprint');
  const { createHash } = nodeBuiltin('node:crypto', 'fileFingerprint');
  return { sha256: createHash('sha256').update(readFileSync(path)).digest('hex'), bytes: statSync(path).size };
}

export interface TokenCacheOptions {
  /** The tokenizer checkpoint the tokens come from (hashed into the cache key). */
  tokenizerPath: string;
  /** Data set name, e.g. 'mnist'. */
  data: string;
  /** Which images, e.g. 'train' or 'test-256'. */
  split: string;
  /** Folder of the cache file (default: the tokenizer's folder). */
  cacheDir?: string;
  onProgress?: (done: number, total: number) => void;
}

/** Where the token cache of these options lives: `<dir>/<tokenizer>.tokens-<data>-<split>-<sha12>.safetensors`. */
export function tokenCachePath(opts: TokenCacheOptions, sha256 = fileFingerprint(opts.tokenizerPath).sha256): string {
  const { basename, dirname, join } = nodeBuiltin('node:path', 'tokenCachePath');
  const stem = basename(opts.tokenizerPath).replace(/\.safetensors$/, '');
  return join(opts.cacheDir ?? dirname(opts.tokenizerPath), `${stem}.tokens-${opts.data}-${opts.split}-${sha256.slice(0, 12)}.safetensors`);
}

/**
 * The tokens of `images`, read from the cache file when its key (tokenizer SHA-256 and size, data set, split,
 * image count, scales) matches, otherwise encoded with `vae` and written there (atomically) for the next run.
 */
export function loadOrEncodeTokens(vae: VQVAE, images: ImageDataset, opts: TokenCacheOptions): { dataset: TokenDataset; path: string; cached: boolean } {
  const print = fileFingerprint(opts.tokenizerPath);
  const path = tokenCachePath(opts, print.sha256);
  const key = JSON.stringify({
    format: 'viar-token-cache-v1', tokenizerSha256: print.sha256, tokenizerBytes: print.bytes, data: opts.data, split: opts.split,
    count: images.count, patchNums: vae.config.patchNums,
  });
  if (nodeBuiltin('node:fs', 'loadOrEncodeTokens').existsSync(path)) {
    const { tensors, metadata } = loadSafetensors(path);
    try {
      const t = tensors.get('tokens'), y = tensors.get('labels');
      const seqLen = vae.config.patchNums.reduce((s, p) => s + p * p, 0);
      if (metadata.key === key && t && y && t.shape[0] === images.count && t.shape[1] === seqLen && y.shape[0] === images.count) {
        const dataset = { tokens: Int32Array.from(t.dataSync()), labels: Int32Array.from(y.dataSync()), count: images.count, patchNums: [...vae.config.patchNums], seqLen };
        return { dataset, path, cached: true };
      }
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  }
  const dataset = encodeImages(vae, images, opts.onProgress ? { onProgress: opts.onProgress } : {});
  const tokens = tensor(dataset.tokens, { shape: [dataset.count, dataset.seqLen], dtype: 'int32' });
  const labels = tensor(dataset.labels, { shape: [dataset.count], dtype: 'int32' });
  try {
    saveSafetensors(path, new Map([['tokens', tokens], ['labels', labels]]), { key });
  } finally {
    tokens.dispose(); labels.dispose();
  }
  return { dataset, path, cached: false };
}

/**
 * The `__metadata__` of a safetensors file, read from its header only (no tensor data).
 * @throws ArgumentError for a file that is not safetensors (or not a regular file).
 */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  return readSafetensorsHeader(path).metadata;
}

// ---------------------------------------------------------------------------------------------------------------
// Optimizer

/** Parameters the official trainer exempts from weight decay: 1-D tensors (biases) and the position/level/temperature ones. */
export function isNoDecayParameter(name: string, p: Tensor): boolean {
  return p.rank <= 1 || /(^|\.)(pos_1LC|pos_start|lvl_embed|scale_mul_1H11|ada_gss)($|\.)/.test(name);
}

/**
 * AdamW whose decoupled weight decay applies only to some parameters (the official trainer's two parameter groups:
 * no decay for biases, 1-D tensors, pos_1LC, pos_start, lvl_embed and the attention temperatures).
 */
export class DecayGroupAdamW extends AdamW {
  private readonly decayed: ReadonlySet<Tensor>;

  constructor(params: Iterable<Tensor>, decayed: Iterable<Tensor>, opts: AdamOptions) {
    super(params, opts);
    this.decayed = new Set(decayed);
  }

  protected override update(p: Tensor, g: Tensor, state: Map<string, Tensor>, step: number): void {
    if (this.decayed.has(p)) return super.update(p, g, state, step);
    const self = this as unknown as { weightDecay: number };
    const wd = self.weightDecay;
    self.weightDecay = 0;
    try {
      super.update(p, g, state, step);
    } finally {
      self.weightDecay = wd;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The trainer

/** VAR or VIAR. */
export type NextScaleModel = VAR | VIAR;

/** 'var' or 'viar' for a model. */
export function modelKind(model: NextScaleModel): TransformerKind {
  return model instanceof VIAR ? 'viar' : 'var';
}

/** Builds a VAR or VIAR from a kind and a config (a ViarConfig is required for 'viar'). */
export function createModel(kind: TransformerKind, config: VarConfig | ViarConfig, rng: Rng): NextScaleModel {
  if (kind === 'viar') {
    const c = config as Partial<ViarConfig>;
    if (c.nPre === undefined || c.nPost === undefined || !c.implicit) throw new ArgumentError('createModel', 'a VIAR needs a ViarConfig (nPre, nPost, implicit)');
    return new VIAR(config as ViarConfig, { rng });
  }
  if (kind !== 'var') throw new ArgumentError('createModel', `model kind must be 'var' or 'viar', got '${String(kind)}'`);
  return new VAR(config, { rng });
}

/**
 * The model's own generator: label dropout, drop-path and VIAR's k/m draws use it in training, so a resumable run
 * must save and restore it (NextScaleTransformer keeps it protected; read here without changing the model's API).
 */
export function modelTrainingRng(model: NextScaleModel): Rng {
  return (model as unknown as { trainingRng: Rng }).trainingRng;
}

export interface TransformerTrainerOptions {
  /** Steps of the whole run: the end of the cosine schedule. */
  totalSteps: number;
  /** Peak learning rate (default 1e-3). */
  lr?: number;
  /** Linear warmup from 0 over this many steps (default min(100, 5% of totalSteps)). */
  warmupSteps?: number;
  /** The cosine ends at lr·minLrFactor (default 0.1, the official wpe of d16/d20). */
  minLrFactor?: number;
  /** Decoupled weight decay of matrices and embeddings (official 0.05). */
  weightDecay?: number;
  /** Adam betas (official [0.9, 0.95]). */
  betas?: [number, number];
  /** Global gradient-norm clip (official 2; 0 = off). */
  clipNorm?: number;
  /** Images per step (default 32); a step's order of images comes from `seed` and the epoch, so resuming needs nothing more. */
  batchSize?: number;
  /** Seed of the data order (default 0). */
  seed?: number;
}

/** What one training step measured; `implicit` is null for VAR. */
export interface TrainStepResult {
  /** The step just taken (1-based). */
  step: number;
  loss: number;
  /** Fraction of tokens whose argmax logit is the target code. */
  accuracy: number;
  /** Tokens in the batch (B·L). */
  tokens: number;
  ms: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  implicit: ImplicitStepStats | null;
}

/** VIAR's implicit layer in one training step. */
export interface ImplicitStepStats {
  /** Iterations without (k) and with (m) the tape. */
  noGradIters: number;
  withGradIters: number;
  /** Mean over samples of the rms residual ‖f(z) − z‖/√d at the solver's returned iterate (before the taped steps). */
  residual: number;
  /** The same relative to ‖z‖ (mean over samples). */
  relResidual: number;
}

/** Mean loss and token accuracy of an evaluation pass. */
export interface EvalResult {
  loss: number;
  accuracy: number;
  count: number;
}

/** Per-scale int32 index tensors [B, pₖ²], int32 labels [B] and flat int32 targets [B·L] for the rows `idx`. */
export function tokenBatch(ds: TokenDataset, idx: ArrayLike<number>): { indices: Tensor[]; labels: Tensor; targets: Tensor } {
  const b = idx.length, l = ds.seqLen;
  const flat = new Int32Array(b * l);
  const labels = new Int32Array(b);
  for (let k = 0; k < b; k++) {
    flat.set(ds.tokens.subarray(idx[k]! * l, (idx[k]! + 1) * l), k * l);
    labels[k] = ds.labels[idx[k]!]!;
  }
  let start = 0;
  const indices = ds.patchNums.map((p) => {
    const n = p * p;
    const part = new Int32Array(b * n);
    for (let k = 0; k < b; k++) part.set(flat.subarray(k * l + start, k * l + start + n), k * n);
    start += n;
    return tensor(part, { shape: [b, n], dtype: 'int32' });
  });
  return { indices, labels: tensor(labels, { shape: [b], dtype: 'int32' }), targets: tensor(flat, { shape: [b * l], dtype: 'int32' }) };
}

function mean(values: readonly number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}

/**
 * Teacher-forced training of VAR or VIAR on a token dataset: targets are the codes of all L tokens, inputs the
 * quantizer's idxBl_to_var_input, the loss the mean token cross-entropy (label dropout is the model's condDropRate).
 * Randomness: the model's generator (label dropout, drop-path, VIAR's k and m) and a data order that depends only on
 * (seed, epoch); saveState / loadState restore both, so a resumed run continues bit-identically.
 * @example
 * const trainer = new TransformerTrainer(model, vae.quantize, train, { totalSteps: 1500, lr: 1e-3 });
 * while (trainer.step < 1500) console.log(trainer.trainStep().loss);
 */
export class TransformerTrainer {
  readonly optimizer: DecayGroupAdamW;
  /** lr as a function of the 0-based step. */
  schedule: Schedule;
  readonly batchSize: number;
  /** The end of the cosine (see setTotalSteps). */
  totalSteps: number;
  readonly opts: Required<TransformerTrainerOptions>;
  /** Steps taken so far. */
  step = 0;
  private epochCache: { epoch: number; order: Int32Array } | null = null;

  constructor(readonly model: NextScaleModel, readonly quantizer: VectorQuantizer, readonly data: TokenDataset, opts: TransformerTrainerOptions) {
    const op = 'TransformerTrainer';
    const c = model.config;
    if (data.seqLen !== model.seqLen || data.patchNums.length !== c.patchNums.length || data.patchNums.some((p, i) => p !== c.patchNums[i])) {
      throw new ArgumentError(op, `the tokens (patchNums [${data.patchNums.join(', ')}]) do not fit the model (patchNums [${c.patchNums.join(', ')}])`);
    }
    if (quantizer.config.channels !== c.vaeChannels || quantizer.config.vocabSize !== c.vocabSize) {
      throw new ArgumentError(op, `the quantizer (Cvae ${quantizer.config.channels}, V ${quantizer.config.vocabSize}) does not fit the model (Cvae ${c.vaeChannels}, V ${c.vocabSize})`);
    }
    const totalSteps = opts.totalSteps;
    if (!Number.isInteger(totalSteps) || totalSteps < 1) throw new ArgumentError(op, `totalSteps must be a positive integer, got ${totalSteps}`);
    const batchSize = opts.batchSize ?? 32;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > data.count) throw new ArgumentError(op, `batchSize must be an integer in [1, ${data.count}] (the data set's size), got ${batchSize}`);
    this.opts = {
      totalSteps, batchSize, lr: opts.lr ?? 1e-3, warmupSteps: opts.warmupSteps ?? Math.min(100, Math.floor(totalSteps / 20)),
      minLrFactor: opts.minLrFactor ?? 0.1, weightDecay: opts.weightDecay ?? 0.05, betas: opts.betas ?? [0.9, 0.95],
      clipNorm: opts.clipNorm ?? 2, seed: opts.seed ?? 0,
    };
    if (!(this.opts.lr > 0)) throw new ArgumentError(op, `lr must be positive, got ${this.opts.lr}`);
    if (!Number.isInteger(this.opts.warmupSteps) || this.opts.warmupSteps < 0 || this.opts.warmupSteps >= totalSteps) {
      throw new ArgumentError(op, `warmupSteps must be an integer in [0, totalSteps), got ${this.opts.warmupSteps}`);
    }
    this.batchSize = batchSize;
    this.totalSteps = totalSteps;
    const named = model.namedParameters();
    this.optimizer = new DecayGroupAdamW(named.map(([, p]) => p), named.filter(([n, p]) => !isNoDecayParameter(n, p)).map(([, p]) => p), {
      lr: this.opts.lr, betas: this.opts.betas, weightDecay: this.opts.weightDecay, eps: 1e-8,
    });
    this.schedule = warmupCosine(this.opts.lr, this.opts.warmupSteps, totalSteps, this.opts.lr * this.opts.minLrFactor);
  }

  /**
   * Moves the end of the cosine to `totalSteps`. Allowed only during the warmup, whose learning rates do not depend
   * on it, so every step already taken keeps its lr (used to fit the run to a time budget once steps are timed).
   */
  setTotalSteps(totalSteps: number): void {
    const op = 'TransformerTrainer.setTotalSteps';
    if (this.step > this.opts.warmupSteps) throw new ArgumentError(op, `the warmup (${this.opts.warmupSteps} steps) is over at step ${this.step}; the schedule can no longer change`);
    if (!Number.isInteger(totalSteps) || totalSteps <= this.opts.warmupSteps) throw new ArgumentError(op, `totalSteps must be an integer above the warmup (${this.opts.warmupSteps}), got ${totalSteps}`);
    this.opts.totalSteps = totalSteps;
    this.totalSteps = totalSteps;
    this.schedule = warmupCosine(this.opts.lr, this.opts.warmupSteps, totalSteps, this.opts.lr * this.opts.minLrFactor);
  }

  /** Batches per epoch (the incomplete last batch is dropped). */
  get batchesPerEpoch(): number {
    return Math.floor(this.data.count / this.batchSize);
  }

  /** The data rows of step `step` (0-based): a seeded permutation per epoch, cut into batches. */
  batchIndices(step: number): Int32Array {
    const per = this.batchesPerEpoch;
    const epoch = Math.floor(step / per);
    if (this.epochCache?.epoch !== epoch) {
      const rng = new Rng((Math.imul(this.opts.seed + 1, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca77)) >>> 0);
      this.epochCache = { epoch, order: shuffleInPlace(Int32Array.from({ length: this.data.count }, (_, i) => i), rng) };
    }
    const at = (step % per) * this.batchSize;
    return this.epochCache.order.slice(at, at + this.batchSize);
  }

  /** The teacher-forcing input [B, L − p₀², Cvae] of per-scale indices (no tape). */
  teacherInput(indices: readonly Tensor[]): Tensor {
    return noGrad(() => this.quantizer.indicesToVarInput(indices));
  }

  /** Sets the learning rate of the current step and puts the model in training mode; the step's batch rows. */
  private beginStep(): { idx: Int32Array; lr: number } {
    const idx = this.batchIndices(this.step);
    const lr = this.schedule(this.step);
    this.optimizer.lr = lr;
    this.model.train();
    return { idx, lr };
  }

  /** Forward and backward on the batch rows `idx` (call inside a tidy): the loss, flat logits [B·L, V] and targets. */
  private backwardOnBatch(idx: Int32Array): { loss: Tensor; logits: Tensor; targets: Tensor } {
    const { indices, labels, targets } = tokenBatch(this.data, idx);
    const logits = reshape(this.model.forward(labels, this.teacherInput(indices)), [-1, this.model.config.vocabSize]);
    const loss = crossEntropy(logits, targets);
    loss.backward();
    return { loss, logits, targets };
  }

  /** One optimizer step on the next batch. */
  trainStep(): TrainStepResult {
    const start = performance.now();
    const { idx, lr } = this.beginStep();
    const { loss, correct, tokens } = tidy(() => {
      const { loss: l, logits, targets } = this.backwardOnBatch(idx);
      return { loss: l.item(), correct: countEqual(noGrad(() => argmax(logits, 1)), targets), tokens: targets.size };
    });
    const gradNorm = this.opts.clipNorm > 0 ? clipGradNorm(this.optimizer.params, this.opts.clipNorm) : NaN;
    this.optimizer.step();
    this.optimizer.zeroGrad();
    this.step++;
    return { step: this.step, loss, accuracy: correct / tokens, tokens, ms: performance.now() - start, lr, gradNorm, implicit: this.implicitStats() };
  }

  /**
   * trainStep for any backend: on an asynchronous one (WebGPU) the step runs without reading the device (gradient
   * clipping as tensor ops) and its loss, accuracy and gradient norm come back in one read at the end; on the CPU it
   * is trainStep.
   */
  async trainStepAsync(): Promise<TrainStepResult> {
    const first = this.optimizer.params[0];
    if (!first || first.backend.canReadSync) return this.trainStep();
    const start = performance.now();
    const { idx, lr } = this.beginStep();
    // the whole step runs on the parameters' backend (batches, constants and scalars are created there)
    const { stats, tokens, norm } = withBackend(first.backend.name, () => {
      const step = tidy(() => {
        const { loss: l, logits, targets } = this.backwardOnBatch(idx);
        const correct = noGrad(() => sum(cast(eq(argmax(logits, 1), targets), 'float32')));
        return { stats: keep(noGrad(() => stack([cast(l, 'float32'), correct]))), tokens: targets.size };
      });
      const clipped = this.opts.clipNorm > 0 ? clipGradNormOnDevice(this.optimizer.params, this.opts.clipNorm) : null;
      this.optimizer.step();
      this.optimizer.zeroGrad();
      return { ...step, norm: clipped };
    });
    this.step++;
    try {
      const [values, normValue] = await Promise.all([stats.data(), norm ? norm.data() : Promise.resolve(null)]);
      return {
        step: this.step, loss: values[0]!, accuracy: values[1]! / tokens, tokens, ms: performance.now() - start, lr,
        gradNorm: normValue ? normValue[0]! : NaN, implicit: this.implicitStats(),
      };
    } finally {
      stats.dispose();
      norm?.dispose();
    }
  }

  /** evaluate for any backend: per-batch sums stay on the device and are read once at the end. */
  async evaluateAsync(ds: TokenDataset, opts: { batchSize?: number; iterations?: number } = {}): Promise<EvalResult> {
    const first = this.optimizer.params[0];
    if (!first || first.backend.canReadSync) return this.evaluate(ds, opts);
    const b = opts.batchSize ?? 64;
    const v = this.model.config.vocabSize;
    const sums: Tensor[] = [];
    let tokens = 0;
    const wasTraining = this.model.training;
    this.model.eval();
    try {
      withBackend(first.backend.name, () => {
        for (let at = 0; at < ds.count; at += b) {
          const idx = Int32Array.from({ length: Math.min(b, ds.count - at) }, (_, i) => at + i);
          sums.push(tidy(() => noGrad(() => {
            const { indices, labels, targets } = tokenBatch(ds, idx);
            const input = this.quantizer.indicesToVarInput(indices);
            const logits = reshape(forwardFixed(this.model, labels, input, opts.iterations), [-1, v]);
            tokens += targets.size;
            return keep(stack([cast(crossEntropy(logits, targets, { reduction: 'sum' }), 'float32'), sum(cast(eq(argmax(logits, 1), targets), 'float32'))]));
          })));
        }
      });
      let lossSum = 0, correct = 0;
      for (const s of sums) {
        const [l, c] = await s.data();
        lossSum += l!;
        correct += c!;
      }
      return { loss: lossSum / tokens, accuracy: correct / tokens, count: ds.count };
    } finally {
      sums.forEach((s) => s.dispose());
      this.model.train(wasTraining);
    }
  }

  private implicitStats(): ImplicitStepStats | null {
    if (!(this.model instanceof VIAR)) return null;
    const r = this.model.lastImplicit;
    if (!r) return null;
    return {
      noGradIters: r.noGradIters, withGradIters: r.withGradIters,
      residual: r.stats ? mean(r.stats.lastResidual) : 0,
      relResidual: r.stats ? mean(r.stats.relTrace.map((t) => t.at(-1) ?? NaN)) : 0,
    };
  }

  /**
   * Mean token loss and accuracy on `ds` in eval mode (no label dropout or drop-path); VIAR runs `iterations`
   * implicit iterations (default: the largest of its sampling schedule). Leaves the model's generator untouched.
   */
  evaluate(ds: TokenDataset, opts: { batchSize?: number; iterations?: number } = {}): EvalResult {
    const b = opts.batchSize ?? 64;
    const v = this.model.config.vocabSize;
    let lossSum = 0, correct = 0, tokens = 0;
    const wasTraining = this.model.training;
    this.model.eval();
    try {
      for (let at = 0; at < ds.count; at += b) {
        const idx = Int32Array.from({ length: Math.min(b, ds.count - at) }, (_, i) => at + i);
        tidy(() => noGrad(() => {
          const { indices, labels, targets } = tokenBatch(ds, idx);
          const input = this.quantizer.indicesToVarInput(indices);
          const logits = reshape(forwardFixed(this.model, labels, input, opts.iterations), [-1, v]);
          lossSum += crossEntropy(logits, targets, { reduction: 'sum' }).item();
          correct += countEqual(argmax(logits, 1), targets);
          tokens += targets.size;
        }));
      }
    } finally {
      this.model.train(wasTraining);
    }
    return { loss: lossSum / tokens, accuracy: correct / tokens, count: ds.count };
  }

  /** Metadata describing the run (stored with the training state). */
  runMetadata(): Record<string, string> {
    const o = this.opts;
    return {
      step: String(this.step), totalSteps: String(o.totalSteps), lr: String(o.lr), warmupSteps: String(o.warmupSteps),
      minLrFactor: String(o.minLrFactor), weightDecay: String(o.weightDecay), batchSize: String(o.batchSize), seed: String(o.seed),
      clipNorm: String(o.clipNorm), model: modelKind(this.model), config: JSON.stringify(this.model.config),
    };
  }

  /** Writes model, optimizer, the model's generator and the step (plus `metadata`) to one file, atomically. */
  saveState(path: string, metadata: Record<string, string> = {}): void {
    saveTrainingState(path, { model: this.model, optimizer: this.optimizer, rng: modelTrainingRng(this.model), metadata: { ...metadata, ...this.runMetadata() } });
  }

  /**
   * Restores a state written by saveState: refuses a state of another model kind or config with a clear error,
   * then loads model, optimizer, generator and step. Returns the stored metadata.
   */
  loadState(path: string): Record<string, string> {
    const meta = readSafetensorsMetadata(path);
    const kind = modelKind(this.model);
    if (meta.model !== undefined && meta.model !== kind) throw new ArgumentError('TransformerTrainer.loadState', `${path} is the training state of a ${meta.model.toUpperCase()} model, not ${kind.toUpperCase()}`);
    if (meta.config !== undefined && meta.config !== JSON.stringify(this.model.config)) {
      const saved = parseConfigJson(meta.config, path, 'TransformerTrainer.loadState') as unknown as VarConfig;
      throw new ArgumentError('TransformerTrainer.loadState', `${path} was trained with another config (${describeConfigDiff(saved, this.model.config)})`);
    }
    const user = loadTrainingState(path, { model: this.model, optimizer: this.optimizer, rng: modelTrainingRng(this.model) });
    this.step = Number(user.step ?? this.optimizer.stepCount);
    return user;
  }
}

/** The fields where two configs differ, as "depth 6 vs 8, embedDim 64 vs 128". */
export function describeConfigDiff(saved: VarConfig | ViarConfig, current: VarConfig | ViarConfig): string {
  const a = saved as unknown as Record<string, unknown>, b = current as unknown as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  const diffs = keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).map((k) => `${k} ${JSON.stringify(a[k])} vs ${JSON.stringify(b[k])}`);
  return diffs.length ? `saved vs current: ${diffs.join(', ')}` : 'same fields, different serialization';
}

function countEqual(a: Tensor, b: Tensor): number {
  const x = a.dataSync(), y = b.dataSync();
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i] === y[i]) n++;
  return n;
}

/** Teacher-forced logits with a fixed number of VIAR iterations (n − 1 untaped, 1 taped: n iterations, as the sampler). */
function forwardFixed(model: NextScaleModel, labels: Tensor, input: Tensor, iterations?: number): Tensor {
  if (!(model instanceof VIAR)) return model.forward(labels, input);
  const n = iterations ?? Math.max(...iterationSchedule(model.config.implicit.schedule, model.numScales));
  return model.forward(labels, input, { iterations: n === 0 ? 0 : { noGrad: n - 1, withGrad: 1 } });
}

// ---------------------------------------------------------------------------------------------------------------
// Checkpoints of the model alone

/** Metadata written into a transformer checkpoint: enough to rebuild the model without knowing its config. */
export interface TransformerCheckpointInfo {
  model: TransformerKind;
  config: VarConfig | ViarConfig;
  /** Anything else recorded (data, tokenizer path and hash, step, …). */
  metadata: Record<string, string>;
}

/** Saves the model's weights (atomically) with its kind and config in `__metadata__`, plus `metadata`. */
export function saveTransformer(path: string, model: NextScaleModel, metadata: Record<string, string> = {}): void {
  saveSafetensors(path, model.stateDict(), { ...metadata, format: 'viar-transformer-v1', model: modelKind(model), config: JSON.stringify(model.config) });
}

/** Options of loadTransformer. */
export interface LoadTransformerOptions {
  /** The kind the file must hold (needed when it records none). */
  model?: TransformerKind;
  /** The config the file must record (used when it records none). */
  config?: VarConfig | ViarConfig;
  /** Refuse NaN / ±Infinity weights, naming the tensor (default true; false skips the scan). */
  checkFinite?: boolean;
  /** Complete a partial recorded config with varConfig(depth) / viarConfig defaults (withConfigDefaults). */
  fillDefaults?: boolean;
}

/**
 * Loads a checkpoint written by saveTransformer, rebuilding the model from its recorded kind and config.
 * `expect.model` / `expect.config` (when given) must match what the file records, else a clear error; a file without
 * recorded kind or config needs them given. Before anything is built, the config is validated (types, ranges, caps:
 * validateTransformerConfig) and checked against the tensor shapes in the file's header; a failed load frees
 * everything it allocated.
 */
export function loadTransformer(path: string, expect: LoadTransformerOptions = {}): { model: NextScaleModel; info: TransformerCheckpointInfo } {
  const op = 'loadTransformer';
  if (!nodeBuiltin('node:fs', op).existsSync(path)) throw new ArgumentError(op, `no checkpoint at ${path}`);
  const header = readSafetensorsHeader(path);
  const meta = header.metadata;
  if (meta.format === 'viar-training-state-v1') throw new ArgumentError(op, `${path} is a training-state file; pass the weights file (without .train-state)`);
  const recorded = meta.model;
  if (recorded !== undefined && recorded !== 'var' && recorded !== 'viar') throw new ArgumentError(op, `${path} records an unknown model kind '${recorded.slice(0, 40)}'`);
  const recordedKind = recorded as TransformerKind | undefined;
  if (expect.model && recordedKind && expect.model !== recordedKind) {
    throw new ArgumentError(op, `${path} holds a ${recordedKind.toUpperCase()} model, but ${expect.model.toUpperCase()} was asked for`);
  }
  const kind = recordedKind ?? expect.model;
  if (!kind) throw new ArgumentError(op, `${path} does not record its model kind (metadata 'model'); say which with --model var|viar`);
  let config: VarConfig | ViarConfig;
  if (meta.config !== undefined) {
    const raw = parseConfigJson(meta.config, path, op);
    config = validateTransformerConfig(kind, expect.fillDefaults ? withConfigDefaults(kind, raw, path, op) : raw, path, op);
    if (expect.config && JSON.stringify(expect.config) !== meta.config) {
      throw new ArgumentError(op, `${path} was saved with another config (${describeConfigDiff(config, expect.config)})`);
    }
  } else if (expect.config) {
    config = validateTransformerConfig(kind, { ...expect.config } as unknown as Record<string, unknown>, path, op);
  } else {
    throw new ArgumentError(op, `${path} does not record its config (metadata 'config'); pass one`);
  }
  checkTransformerHeader(kind, config, header.tensors, path, op);
  const { module: model } = loadCheckedModule(path, () => createModel(kind, config, new Rng(0)), { checkFinite: expect.checkFinite ?? true, op });
  return { model: model.eval(), info: { model: kind, config, metadata: { ...meta } } };
}

// ---------------------------------------------------------------------------------------------------------------
// Samples

export interface ClassSampleOptions {
  /** Classes to sample, one grid row each (default: all). */
  classes?: readonly number[];
  /** Images per class (default 8). */
  perClass?: number;
  /** CFG strength (default 1.5). */
  cfg?: number;
  topK?: number;
  topP?: number;
  /** Seed of the sampler (default 0). */
  seed?: number;
  /** VIAR: implicit iterations per scale (default: the config's schedule). */
  iterSchedule?: IterationSchedule;
  /** VIAR: stop a scale's iterations once the relative step is below this. */
  earlyStopTol?: number;
  /** Largest number of images per sampler call (default 100). */
  maxBatch?: number;
}

export interface ClassSampleResult {
  /** [classes·perClass, C, H, W] in [−1, 1], class-major (row r = classes[r]). */
  images: Tensor;
  labels: number[];
  /** Wall time of the sampler calls (decoding included). */
  ms: number;
  /** VIAR: implicit iterations per scale of each sampler call; null for VAR. */
  iterations: number[][] | null;
}

/** Samples `perClass` images of each class (eval mode), as one class per row for imageGrid({ cols: perClass }). */
export function sampleByClass(model: NextScaleModel, vae: VQVAE, opts: ClassSampleOptions = {}): ClassSampleResult {
  const classes = opts.classes ?? Array.from({ length: model.config.numClasses }, (_, c) => c);
  const perClass = opts.perClass ?? 8;
  if (!Number.isInteger(perClass) || perClass < 1) throw new ArgumentError('sampleByClass', `perClass must be a positive integer, got ${perClass}`);
  const labels = classes.flatMap((c) => new Array<number>(perClass).fill(c));
  const maxBatch = Math.max(1, opts.maxBatch ?? 100);
  const wasTraining = model.training;
  model.eval();
  const parts: Tensor[] = [];
  const iterations: number[][] = [];
  const start = performance.now();
  try {
    const rng = new Rng(opts.seed ?? 0);
    for (let at = 0; at < labels.length; at += maxBatch) {
      const chunk = labels.slice(at, at + maxBatch);
      const common = { labels: chunk, cfg: opts.cfg ?? 1.5, topK: opts.topK ?? 0, topP: opts.topP ?? 0, rng };
      parts.push(tidy(() => {
        let image: Tensor;
        if (model instanceof VIAR) {
          const r = model.sample(vae, {
            ...common, ...(opts.iterSchedule !== undefined ? { iterSchedule: opts.iterSchedule } : {}),
            ...(opts.earlyStopTol !== undefined ? { earlyStopTol: opts.earlyStopTol } : {}),
          });
          iterations.push(r.iterations);
          image = r.image;
        } else {
          image = model.sample(vae, common).image;
        }
        return keep(sub(mul(image, 2), 1));
      }));
    }
  } finally {
    model.train(wasTraining);
  }
  const ms = performance.now() - start;
  const images = parts.length === 1 ? parts[0]! : keep(concat(parts, 0));
  if (parts.length > 1) for (const p of parts) p.dispose();
  return { images, labels, ms, iterations: model instanceof VIAR ? iterations : null };
}
