// Training the multi-scale VQ tokenizer (the official code does not release this): pixel loss + VQ loss with
// AdamW, codebook usage statistics, and restarts of dead codes from current encoder features.

import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/creation.js';
import type { Rng } from '../tensor/random.js';
import { keep, tidy } from '../tensor/memory.js';
import { noGrad } from '../tensor/graph/grad-mode.js';
import { abs, add, detach, mean, permute, reshape, square, sub } from '../tensor/ops/index.js';
import { AdamW } from '../nn/optim/adam.js';
import { clipGradNormTensor } from '../nn/optim/optimizer.js';
import type { VQVAE } from './vqvae.js';

export interface CodebookStats {
  /** exp(entropy) of the code histogram: the effective number of codes in use. */
  perplexity: number;
  /** Fraction of the vocabulary hit at least once. */
  usedFraction: number;
}

/** Perplexity and usage of a code histogram. */
export function codebookStats(hits: readonly number[]): CodebookStats {
  const total = hits.reduce((a, b) => a + b, 0);
  if (total === 0) return { perplexity: 0, usedFraction: 0 };
  let entropy = 0;
  for (const n of hits) if (n > 0) entropy -= (n / total) * Math.log(n / total);
  return { perplexity: Math.exp(entropy), usedFraction: hits.filter((n) => n > 0).length / hits.length };
}

/** Peak signal-to-noise ratio in dB for images with the given value range (2 for [−1, 1]). */
export function psnr(a: Tensor, b: Tensor, range = 2): number {
  const mse = tidy(() => noGrad(() => mean(square(sub(a, b))).item()));
  return 10 * Math.log10((range * range) / Math.max(mse, 1e-20));
}

export interface TokenizerTrainerOptions {
  rng: Rng;
  lr?: number;
  weightDecay?: number;
  /** 'l2' (default) or 'l1' pixel reconstruction loss. */
  pixelLoss?: 'l1' | 'l2';
  /** A code unused for this many steps is restarted at a random encoder feature of the current batch (0 = never). */
  deadCodeSteps?: number;
  /** Clip the global gradient norm (default 1; 0 = off). */
  clipNorm?: number;
}

export interface TokenizerStepResult {
  loss: number;
  pixelLoss: number;
  vqLoss: number;
  stats: CodebookStats;
  restartedCodes: number;
}

/** One optimizer and the bookkeeping for dead-code restarts; call step(images) with images in [−1, 1]. */
export class TokenizerTrainer {
  readonly optimizer: AdamW;
  private readonly lastUsed: Int32Array;
  stepCount = 0;

  constructor(readonly vae: VQVAE, readonly opts: TokenizerTrainerOptions) {
    this.optimizer = new AdamW(vae.parameters(), { lr: opts.lr ?? 2e-3, weightDecay: opts.weightDecay ?? 0 });
    this.lastUsed = new Int32Array(vae.config.vocabSize);
  }

  step(images: Tensor): TokenizerStepResult {
    this.vae.train();
    this.stepCount++;
    const { loss, pixel, vq, hits, features } = tidy(() => {
      const f = this.vae.encode(images);
      const { fHat, vqLoss, hits: h } = this.vae.quantize.forward(f);
      const rec = this.vae.decode(fHat);
      const diff = sub(rec, images);
      const pix = this.opts.pixelLoss === 'l1' ? mean(abs(diff)) : mean(square(diff));
      const total = add(pix, vqLoss);
      total.backward();
      const c = this.vae.config.zChannels;
      return { loss: total.item(), pixel: pix.item(), vq: vqLoss.item(), hits: h, features: keep(reshape(permute(detach(f), [0, 2, 3, 1]), [-1, c])) };
    });
    if ((this.opts.clipNorm ?? 1) > 0) clipGradNormTensor(this.vae.parameters(), this.opts.clipNorm ?? 1)?.dispose(); // the norm is not reported: no read
    this.optimizer.step();
    this.optimizer.zeroGrad();
    const all = hits.reduce((acc, row) => acc.map((n, v) => n + row[v]!), new Array<number>(this.vae.config.vocabSize).fill(0));
    this.vae.quantize.recordUsage(hits);
    all.forEach((n, v) => { if (n > 0) this.lastUsed[v] = this.stepCount; });
    const restartedCodes = this.restartDeadCodes(features);
    features.dispose();
    return { loss, pixelLoss: pixel, vqLoss: vq, stats: codebookStats(all), restartedCodes };
  }

  /** Moves codes unused for deadCodeSteps steps onto randomly chosen feature vectors [N, C]. */
  private restartDeadCodes(features: Tensor): number {
    const every = this.opts.deadCodeSteps ?? 50;
    if (every <= 0) return 0;
    const dead: number[] = [];
    this.lastUsed.forEach((s, v) => { if (this.stepCount - s >= every) dead.push(v); });
    if (dead.length === 0) return 0;
    const weight = this.vae.quantize.embedding.weight;
    const c = weight.shape[1]!;
    const values = Float32Array.from(weight.dataSync());
    const feats = features.dataSync();
    const n = features.shape[0]!;
    for (const v of dead) {
      const pick = this.opts.rng.int(0, n);
      for (let j = 0; j < c; j++) values[v * c + j] = feats[pick * c + j]! + 1e-3 * this.opts.rng.normal();
      this.lastUsed[v] = this.stepCount;
    }
    noGrad(() => weight.assign(tensor(values, { shape: weight.shape, dtype: weight.dtype })));
    return dead.length;
  }
}
