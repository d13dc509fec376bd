// The VAR / VIAR trainer on a token dataset: teacher-forced cross-entropy with AdamW (official betas, no weight decay
// for biases and position/level/temperature parameters), warmup + cosine, gradient clipping, VIAR solver statistics,
// and bit-identical resume. A step runs as tensor ops on the parameters' backend; its results are read once at the end.

import type { Tensor } from '../tensor/tensor.js';
import { ArgumentError } from '../tensor/errors.js';
import { Rng } from '../tensor/random.js';
import { tensor } from '../tensor/creation.js';
import { keep, tidy } from '../tensor/memory.js';
import { withBackend } from '../tensor/backend/registry.js';
import type { TypedArray } from '../tensor/dtype.js';
import { add, argmax, cast, concat, crossEntropy, eq, reshape, stack, sum } from '../tensor/ops/index.js';
import { noGrad } from '../tensor/graph/grad-mode.js';
import { AdamW } from '../nn/optim/adam.js';
import { clipGradNormTensor } from '../nn/optim/optimizer.js';
import { captureGradients, type CapturedGradients } from '../autograd/capture-gradients.js';
import { warmupCosine, type Schedule } from '../nn/optim/schedules.js';
import { readSafetensorsHeader } from '../nn/safetensors.js';
import { loadTrainingState, saveTrainingState } from '../nn/training-state.js';
import { shuffleInPlace } from '../nn/data/dataset.js';
import type { VarConfig } from './var-model.js';
import { VIAR } from './viar-model.js';
import { iterationSchedule } from './sampling.js';
import { parseConfigJson } from './config-validation.js';
import type { VectorQuantizer } from './quantizer.js';
import { tokenBatch, type TokenDataset } from './token-dataset.js';
import { describeConfigDiff, modelKind, type NextScaleModel } from './next-scale-model.js';

/** Parameters the official trainer exempts from weight decay: 1-D tensors (biases) and the position/level/temperature ones. */
export function isNoDecayParameter(name: string, p: Tensor): boolean {
  return p.rank <= 1 || /(^|\.)(pos_1LC|pos_start|lvl_embed|scale_mul_1H11|ada_gss)($|\.)/.test(name);
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
  /**
   * Mean over samples of the rms residual ‖f(z) − z‖/√d at the solver's returned iterate (before the taped steps);
   * NaN where nothing was measured (a replayed step of captureSteps, or no iteration at all).
   */
  residual: number;
  /** The same relative to ‖z‖ (mean over samples); NaN likewise. */
  relResidual: number;
}

/** Mean loss and token accuracy of an evaluation pass. */
export interface EvalResult {
  loss: number;
  accuracy: number;
  count: number;
}

/** A step that has run but whose results are not read yet: [loss, correct tokens, gradient norm or NaN]. */
interface PendingStep {
  readout: Tensor;
  tokens: number;
  start: number;
  lr: number;
}

/** Options of evaluate / evaluateAsync. */
export interface EvaluateOptions {
  /** Images per forward pass (default 64). */
  batchSize?: number;
  /** VIAR: implicit iterations per scale (default: the largest of the config's sampling schedule). */
  iterations?: number;
}

/** The number of rows whose argmax logit is the target, as a float32 scalar (logits [N, V], targets int32 [N]). */
function countCorrect(logits: Tensor, targets: Tensor): Tensor {
  return noGrad(() => sum(cast(eq(argmax(logits, 1), targets), 'float32')));
}

function evalResult(sums: TypedArray, tokens: number, count: number): EvalResult {
  return { loss: sums[0]! / tokens, accuracy: sums[1]! / tokens, count };
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
 * while (trainer.step < 1500) console.log((await trainer.trainStepAsync()).loss); // or trainStep() on the cpu backend
 */
export class TransformerTrainer {
  readonly optimizer: AdamW;
  /** lr as a function of the 0-based step. */
  schedule: Schedule;
  readonly batchSize: number;
  /** The end of the cosine (see setTotalSteps). */
  totalSteps: number;
  readonly opts: Required<TransformerTrainerOptions>;
  /** Steps taken so far. */
  step = 0;
  /**
   * Replay each step's forward and backward (captureGradients: one recording per batch size and, for VIAR, per
   * implicit split; the step's random choices drawn first, as the forward pass would draw them). The same losses and
   * parameters as plain steps; on the gpu backend the host's per-op work goes. Needs dropPathRate 0.
   */
  captureSteps = false;
  private readonly recordings = new Map<string, CapturedGradients>();
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
    this.optimizer = new AdamW(model.namedParameters(), {
      lr: this.opts.lr, betas: this.opts.betas, weightDecay: this.opts.weightDecay, eps: 1e-8,
      groups: [{ match: isNoDecayParameter, weightDecay: 0 }],
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

  /**
   * One optimizer step on the next batch, as tensor ops on the parameters' backend: forward, backward, clipping
   * (clipGradNormTensor) and the update, with loss, correct tokens and gradient norm gathered into one tensor
   * [loss, correct, norm] that nothing has read yet. trainStep and trainStepAsync differ only in how they read it.
   */
  private runStep(): PendingStep {
    const start = performance.now();
    const idx = this.batchIndices(this.step);
    const lr = this.schedule(this.step);
    this.optimizer.lr = lr;
    this.model.train();
    const params = this.optimizer.params;
    const pending = withBackend(params[0]!.backend.name, () => {
      const step = tidy(() => {
        const { indices, labels, targets } = tokenBatch(this.data, idx);
        if (this.captureSteps) return this.replayedGradients(labels, this.teacherInput(indices), targets);
        const logits = reshape(this.model.forward(labels, this.teacherInput(indices)), [-1, this.model.config.vocabSize]);
        const loss = crossEntropy(logits, targets);
        loss.backward();
        return { stats: keep(noGrad(() => stack([cast(loss, 'float32'), countCorrect(logits, targets)]))), tokens: targets.size };
      });
      const norm = this.opts.clipNorm > 0 ? clipGradNormTensor(params, this.opts.clipNorm) : null;
      this.optimizer.step();
      this.optimizer.zeroGrad();
      const readout = tidy(() => keep(concat([step.stats, norm ? reshape(cast(norm, 'float32'), [1]) : tensor([NaN])], 0)));
      step.stats.dispose();
      norm?.dispose();
      return { readout, tokens: step.tokens };
    });
    this.step++;
    return { ...pending, start, lr };
  }

  /**
   * The step's loss and gradients from the recording of its batch size and implicit split (recorded at first use):
   * the parameters' .grad set, [loss, correct tokens] kept.
   */
  private replayedGradients(labels: Tensor, input: Tensor, targets: Tensor): { stats: Tensor; tokens: number } {
    const model = this.model, b = labels.shape[0]!;
    if (model.config.dropPathRate > 0) throw new ArgumentError('TransformerTrainer', `captureSteps needs dropPathRate 0 (drop-path draws inside the pass), got ${model.config.dropPathRate}`);
    const { labelDropMask, iterations } = model.drawForwardChoices(b);
    const key = `${b}:${iterations ? `${iterations.noGrad},${iterations.withGrad}` : ''}`;
    let recording = this.recordings.get(key);
    if (!recording) {
      const vocab = model.config.vocabSize;
      recording = captureGradients((lab, x, t, drop) => {
        const logits = reshape(model instanceof VIAR ? model.forward(lab, x, { labelDropMask: drop, iterations: iterations! }) : model.forward(lab, x, { labelDropMask: drop }), [-1, vocab]);
        return { loss: crossEntropy(logits, t), aux: [countCorrect(logits, t)] };
      }, this.optimizer.params, [labels, input, targets, labelDropMask]);
      this.recordings.set(key, recording);
    }
    const { loss, grads, aux } = recording.run(labels, input, targets, labelDropMask);
    this.optimizer.params.forEach((p, i) => { p.grad = keep(grads[i]!); });
    if (model instanceof VIAR) model.lastImplicit = { noGradIters: iterations!.noGrad, withGradIters: iterations!.withGrad, stats: null };
    return { stats: keep(stack([cast(loss, 'float32'), aux[0]!])), tokens: targets.size };
  }

  /** Frees the recordings of captureSteps (and the device memory they hold). */
  disposeRecordings(): void {
    for (const r of this.recordings.values()) r.dispose();
    this.recordings.clear();
  }

  /** The result of a step from its read values [loss, correct, norm]. */
  private stepResult(p: PendingStep, values: TypedArray): TrainStepResult {
    return {
      step: this.step, loss: values[0]!, accuracy: values[1]! / p.tokens, tokens: p.tokens, ms: performance.now() - p.start, lr: p.lr,
      gradNorm: values[2]!, implicit: this.implicitStats(),
    };
  }

  /**
   * One optimizer step on the next batch, its results read synchronously: for backends that read synchronously (the
   * cpu backend); trainStepAsync works on every backend.
   */
  trainStep(): TrainStepResult {
    const p = this.runStep();
    try {
      return this.stepResult(p, p.readout.dataSync());
    } finally {
      p.readout.dispose();
    }
  }

  /** One optimizer step on the next batch, on any backend: the step reads nothing until its results, read once at the end. */
  async trainStepAsync(): Promise<TrainStepResult> {
    const p = this.runStep();
    try {
      return this.stepResult(p, await p.readout.data());
    } finally {
      p.readout.dispose();
    }
  }

  private implicitStats(): ImplicitStepStats | null {
    if (!(this.model instanceof VIAR)) return null;
    const r = this.model.lastImplicit;
    if (!r) return null;
    return {
      noGradIters: r.noGradIters, withGradIters: r.withGradIters,
      residual: r.stats ? mean(r.stats.lastResidual) : NaN,
      relResidual: r.stats ? mean(r.stats.relTrace.map((t) => t.at(-1) ?? NaN)) : NaN,
    };
  }

  /**
   * Sums over `ds` in eval mode, as a tensor [loss sum, correct tokens] on the parameters' backend that nothing has
   * read yet, and the number of tokens (evaluate and evaluateAsync differ only in how they read it).
   */
  private evaluationSums(ds: TokenDataset, opts: EvaluateOptions): { sums: Tensor; tokens: number } {
    const b = opts.batchSize ?? 64;
    if (!Number.isInteger(b) || b < 1) throw new ArgumentError('TransformerTrainer.evaluate', `batchSize must be a positive integer, got ${b}`);
    const v = this.model.config.vocabSize;
    let sums: Tensor | null = null;
    let tokens = 0;
    const wasTraining = this.model.training;
    this.model.eval();
    try {
      withBackend(this.optimizer.params[0]!.backend.name, () => {
        for (let at = 0; at < ds.count; at += b) {
          const idx = Int32Array.from({ length: Math.min(b, ds.count - at) }, (_, i) => at + i);
          const next: Tensor = tidy(() => noGrad(() => {
            const { indices, labels, targets } = tokenBatch(ds, idx);
            const input = this.quantizer.indicesToVarInput(indices);
            const logits = reshape(forwardFixed(this.model, labels, input, opts.iterations), [-1, v]);
            tokens += targets.size;
            const batch = stack([cast(crossEntropy(logits, targets, { reduction: 'sum' }), 'float32'), countCorrect(logits, targets)]);
            return keep(sums ? add(sums, batch) : batch);
          }));
          sums?.dispose();
          sums = next;
        }
      });
    } catch (e) {
      (sums as Tensor | null)?.dispose();
      throw e;
    } finally {
      this.model.train(wasTraining);
    }
    return { sums: sums!, tokens };
  }

  /**
   * Mean token loss and accuracy on `ds` in eval mode (no label dropout or drop-path); VIAR runs `iterations`
   * implicit iterations (default: the largest of its sampling schedule). Leaves the model's generator untouched.
   * Reads synchronously (backends that can); evaluateAsync works on every backend.
   */
  evaluate(ds: TokenDataset, opts: EvaluateOptions = {}): EvalResult {
    const { sums, tokens } = this.evaluationSums(ds, opts);
    try {
      return evalResult(sums.dataSync(), tokens, ds.count);
    } finally {
      sums.dispose();
    }
  }

  /** evaluate on any backend: the sums stay on the parameters' backend and are read once at the end. */
  async evaluateAsync(ds: TokenDataset, opts: EvaluateOptions = {}): Promise<EvalResult> {
    const { sums, tokens } = this.evaluationSums(ds, opts);
    try {
      return evalResult(await sums.data(), tokens, ds.count);
    } finally {
      sums.dispose();
    }
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
    const meta = readSafetensorsHeader(path).metadata;
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

/** Teacher-forced logits with a fixed number of VIAR iterations (n − 1 untaped, 1 taped: n iterations, as the sampler). */
function forwardFixed(model: NextScaleModel, labels: Tensor, input: Tensor, iterations?: number): Tensor {
  if (!(model instanceof VIAR)) return model.forward(labels, input);
  const n = iterations ?? Math.max(...iterationSchedule(model.config.implicit.schedule, model.numScales));
  return model.forward(labels, input, { iterations: n === 0 ? 0 : { noGrad: n - 1, withGrad: 1 } });
}
