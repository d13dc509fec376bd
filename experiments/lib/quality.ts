// Sample quality of one checkpoint at one sampler setting, measured by `viar eval`'s own code (runEval): FID-proxy
// with its real-vs-real floor at the same count, class agreement, k-NN precision/recall, ms/image.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEval, type EvalArgs, type EvalResult } from '../../src/cli/eval-command.js';
import { SAMPLE_DEFAULTS } from '../../src/cli/transformer-commands.js';
import type { ImplicitCachePolicy, IterationSchedule } from '../../src/index.js';

export interface QualityOptions {
  checkpoint: string;
  /** Images per class (10 classes); the real sets are 10 × this many test / train images, as viar eval. */
  perClass: number;
  /** viar eval's --seed: class images done…done+9 use seed S·1000 + done. */
  seed: number;
  /** VIAR only. */
  schedule?: IterationSchedule;
  /** VIAR only: early-stop tolerance on the relative step. */
  tol?: number;
  /** VIAR only: which earlier-scale keys/values each implicit iteration reads (default the official 'iteration'). */
  implicitCache?: ImplicitCachePolicy;
}

/** The figures of one setting (a subset of viar eval's EvalResult, flattened). */
export interface QualityPoint {
  checkpoint: string;
  model: 'var' | 'viar';
  parameters: number;
  trainedSteps: number | null;
  seed: number;
  images: number;
  perScale: number[] | null;
  meanIterationsPerScale: number[] | null;
  tol: number | null;
  implicitCache: ImplicitCachePolicy | null;
  msPerImage: number;
  fidProxy: number;
  fidProxyFloor: number;
  agreement: number;
  perClassAgreement: number[];
  precision: number;
  recall: number;
  precisionFloor: number;
  recallFloor: number;
  diversity: number;
  diversityReal: number;
}

/** Runs viar eval's measurement (quietly, its JSON to a temporary folder) and returns the flattened figures. */
export function measureQuality(o: QualityOptions): QualityPoint {
  const dir = mkdtempSync(join(tmpdir(), 'viar-exp-'));
  try {
    const args: EvalArgs = {
      help: false, data: 'mnist', checkpoints: [o.checkpoint], perClass: o.perClass, seed: o.seed, cfg: SAMPLE_DEFAULTS.cfg,
      topK: SAMPLE_DEFAULTS.topK, topP: SAMPLE_DEFAULTS.topP, outDir: dir, quiet: true,
      ...(o.schedule !== undefined ? { schedule: o.schedule } : {}), ...(o.tol !== undefined ? { tol: o.tol } : {}),
      ...(o.implicitCache !== undefined ? { implicitCache: o.implicitCache } : {}),
    };
    const r: EvalResult = runEval(args, 'experiments (runEval)').results[0]!;
    return {
      checkpoint: r.checkpoint, model: r.model, parameters: r.parameters, trainedSteps: r.trainedSteps, seed: o.seed,
      images: r.samples.total, perScale: r.sampler.perScale, meanIterationsPerScale: r.samples.meanIterationsPerScale, tol: r.sampler.tol, implicitCache: r.sampler.implicitCache,
      msPerImage: r.samples.msPerImage, fidProxy: r.fidProxy, fidProxyFloor: r.reference.fidProxyTrainVsTest, agreement: r.agreement,
      perClassAgreement: r.perClassAgreement, precision: r.precision, recall: r.recall, precisionFloor: r.reference.precisionTrainVsTest,
      recallFloor: r.reference.recallTrainVsTest, diversity: r.diversity.generated, diversityReal: r.diversity.real,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One line for the log. */
export function describePoint(p: QualityPoint): string {
  return `FID-proxy ${p.fidProxy.toFixed(1)} (floor ${p.fidProxyFloor.toFixed(1)}), agreement ${(100 * p.agreement).toFixed(1)}%, ` +
    `precision ${p.precision.toFixed(2)}, recall ${p.recall.toFixed(2)}, ${p.msPerImage} ms/image`;
}
