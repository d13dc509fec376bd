// Samples for a class grid: `perClass` images of each class from a VAR / VIAR, class-major, for imageGrid.

import type { Tensor } from '../tensor/tensor.js';
import { ArgumentError } from '../tensor/errors.js';
import { Rng } from '../tensor/random.js';
import { keep, tidy } from '../tensor/memory.js';
import { concat, mul, sub } from '../tensor/ops/index.js';
import { VIAR } from './viar-model.js';
import type { IterationSchedule } from './sampling.js';
import type { VQVAE } from './vqvae.js';
import type { NextScaleModel } from './next-scale-model.js';

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
  /**
   * Record the sampler on the first call and replay it on the others (SampleOptions.capture: the same images, on the
   * gpu backend without the host's per-op work). Default: on when there are several calls and no earlyStopTol, the
   * recording then freed on return; given explicitly, it stays with the model for later calls (disposeSamplerPlans()).
   */
  capture?: boolean;
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
  // (asked for with earlyStopTol, VIAR.sample refuses it, naming both)
  const capture = opts.capture ?? (labels.length > maxBatch && opts.earlyStopTol === undefined);
  try {
    const rng = new Rng(opts.seed ?? 0);
    for (let at = 0; at < labels.length; at += maxBatch) {
      const chunk = labels.slice(at, at + maxBatch);
      const common = { labels: chunk, cfg: opts.cfg ?? 1.5, topK: opts.topK ?? 0, topP: opts.topP ?? 0, rng, capture };
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
    if (capture && opts.capture === undefined) model.disposeSamplerPlans(); // asked for explicitly: the caller frees them
  }
  const ms = performance.now() - start;
  const images = parts.length === 1 ? parts[0]! : keep(concat(parts, 0));
  if (parts.length > 1) for (const p of parts) p.dispose();
  return { images, labels, ms, iterations: model instanceof VIAR ? iterations : null };
}
