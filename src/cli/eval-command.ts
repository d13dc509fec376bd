// `viar eval`: samples N images per class with fixed seeds from each VAR / VIAR checkpoint and measures them with
// the shipped classifier — FID-proxy (Fréchet distance of its penultimate features against real test images),
// class agreement, k-NN precision/recall and diversity — written as JSON (docs/eval-<model>-<data>.json).

import { basename, join } from 'node:path';
import { existsSync } from 'node:fs';
import cliProgress from 'cli-progress';
import {
  Rng, LeNet, LENET_DEFAULTS, loadModule, tidy, noGrad, add, mul, argmax, setNumThreads, describeCpuKernels, loadTransformer,
  sampleByClass, iterationSchedule, checkTokenizerFit, fileFingerprint, featureMatrix, concatFeatures, selectRows, gaussianStats,
  frechetParts, precisionRecall, meanPairwiseDistance, VIAR,
  type FeatureMatrix, type ImageDataset, type ImplicitCachePolicy, type IterationSchedule, type Tensor,
} from '../index.js';
import { CliError, SAMPLER_OPTIONS, SAMPLE_DEFAULTS, loadSplit, loadTokenizer, scheduleOption, type DataName } from './transformer-commands.js';
import { LIMITS, SEED_MAX, checkInputFile, choice, flag, int, parseOptions, prepareOutputDir, prepareOutputFile, seed, text, threads, writeResultJson } from './options.js';

/** What the FID-proxy is, written into every result file. */
export const FID_PROXY_NOTE =
  'FID-proxy: the Fréchet distance |μ₁ − μ₂|² + tr C₁ + tr C₂ − 2 tr (C₁C₂)^½ between Gaussians fitted to the 128-d ' +
  'penultimate (ReLU) features of the shipped LeNet classifier, for generated images and real test images. It differs from ' +
  'ImageNet FID in the feature network (a small LeNet trained on this data set, not Inception-v3 pool3 2048-d trained on ' +
  'ImageNet), the images (32×32 grayscale) and the sample sizes (about 1,000 per side instead of 50,000; the estimate is ' +
  'biased upwards for small samples), so its values are comparable only between runs with the same classifier, data set and ' +
  'counts — never with published FIDs. reference.fidProxyTrainVsTest is the same distance between as many real training ' +
  'images and the test images: the floor a perfect generator would reach at this sample size.';

/** Defaults of `viar eval`: images per class, per sampler call (chunk), seed, output folder and k of precision/recall. */
export const EVAL_DEFAULTS = { perClass: 100, chunk: 10, seed: 0, outDir: 'docs', k: 3 } as const;

/** `viar eval --help`. */
export const EVAL_HELP = `viar eval [--data mnist|fashion] [--checkpoint PATH …] [options]
  samples --per-class N images of every class from each checkpoint (default: checkpoints/var-<data> and viar-<data>,
  those that exist; --checkpoint may repeat) and measures them with the classifier's 128-d penultimate features:
    FID-proxy      Fréchet distance to --real M test images (default 10·N), with the real-train-vs-test floor; not
                   comparable with ImageNet FID (LeNet's 128-d features instead of Inception's 2048-d, 32×32 grayscale,
                   ~1,000 samples instead of 50,000): compare it only between runs with the same settings
    agreement      the classifier's prediction equals the requested class (overall and per class)
    precision / recall   k-NN (k = ${EVAL_DEFAULTS.k}) manifold precision and recall against the same test images
    diversity      mean pairwise feature distance, overall and within classes (real images' for reference)
  Options:
  --per-class N (default ${EVAL_DEFAULTS.perClass})  --real M (default 10·N, at most the test split)  --seed S (default ${EVAL_DEFAULTS.seed})
  --cfg ${SAMPLE_DEFAULTS.cfg}  --top-k ${SAMPLE_DEFAULTS.topK}  --top-p ${SAMPLE_DEFAULTS.topP}   (as viar sample and eval:generator)
  VIAR only: --iters N | --schedule LEFT,RIGHT | --schedule-list a,b,c,… (one count per scale), --tol T (early stop),
             --implicit-cache iteration|last-iterate (default iteration, the official cache; see viar sample --help)
  --classifier PATH (default checkpoints/classifier-<data>.safetensors), --tokenizer PATH (default: the checkpoint's, else
  checkpoints/tokenizer-<data>.safetensors), --threads T, --quiet
  --out FILE (one checkpoint only) or --out-dir DIR: writes DIR/eval-<checkpoint name>.json (default ${EVAL_DEFAULTS.outDir}/, e.g. docs/eval-viar-mnist.json)
  Seeds: images done…done+${EVAL_DEFAULTS.chunk - 1} of every class come from one sampler call with seed S·1000 + done (as eval:generator).`;

/** Parsed options of `viar eval` (see EVAL_HELP). */
export interface EvalArgs {
  help: boolean;
  data: DataName;
  checkpoints: string[];
  perClass: number;
  real?: number;
  seed: number;
  cfg: number;
  topK: number;
  topP: number;
  schedule?: IterationSchedule;
  tol?: number;
  /** VIAR's implicitCache policy (default: VIAR.sample's, the official 'iteration'). */
  implicitCache?: ImplicitCachePolicy;
  classifier?: string;
  tokenizer?: string;
  threads?: number;
  out?: string;
  outDir: string;
  quiet: boolean;
}

/** The largest --seed: the command samples with seed S·1000 + done (done < 1000), which must stay a 32-bit seed. */
export const EVAL_SEED_MAX = Math.floor((SEED_MAX - 999) / 1000);

const OPTIONS = {
  data: choice('mnist', 'fashion'), checkpoint: { type: 'strings' }, 'per-class': int(2, LIMITS.perClass), real: int(EVAL_DEFAULTS.k + 1, LIMITS.images),
  seed: seed(EVAL_SEED_MAX), ...SAMPLER_OPTIONS, classifier: text, tokenizer: text, threads, out: text, 'out-dir': text, quiet: flag, help: flag,
} as const;

/** Parses and validates `viar eval` arguments; mistakes throw CliError naming the option. */
export function parseEvalArgs(argv: string[]): EvalArgs {
  const c = 'viar eval';
  const v = parseOptions(c, argv, OPTIONS);
  const args: EvalArgs = {
    help: v.help === true, data: v.data ?? 'mnist', checkpoints: v.checkpoint ?? [], perClass: v['per-class'] ?? EVAL_DEFAULTS.perClass,
    seed: v.seed ?? EVAL_DEFAULTS.seed, cfg: v.cfg ?? SAMPLE_DEFAULTS.cfg, topK: v['top-k'] ?? SAMPLE_DEFAULTS.topK, topP: v['top-p'] ?? SAMPLE_DEFAULTS.topP,
    outDir: v['out-dir'] ?? EVAL_DEFAULTS.outDir, quiet: v.quiet === true,
  };
  const optional = {
    real: v.real, schedule: scheduleOption(c, v), tol: v.tol, implicitCache: v['implicit-cache'], classifier: v.classifier, tokenizer: v.tokenizer, threads: v.threads, out: v.out,
  };
  for (const [k, x] of Object.entries(optional)) if (x !== undefined) (args as unknown as Record<string, unknown>)[k] = x;
  if (args.out !== undefined && v['out-dir'] !== undefined) throw new CliError('viar eval: give --out FILE or --out-dir DIR, not both');
  if (args.out !== undefined && args.checkpoints.length > 1) throw new CliError('viar eval: --out FILE takes one --checkpoint; use --out-dir DIR for several');
  return args;
}

/** The figures of one checkpoint (the JSON file's content). */
export interface EvalResult {
  date: string;
  command: string;
  data: DataName;
  checkpoint: string;
  model: 'var' | 'viar';
  parameters: number;
  trainedSteps: number | null;
  tokenizer: string;
  classifier: string;
  kernels: string;
  sampler: { cfg: number; topK: number; topP: number; seed: number; seeds: string; schedule: IterationSchedule | null; perScale: number[] | null; tol: number | null; implicitCache: ImplicitCachePolicy | null };
  samples: { perClass: number; total: number; msPerImage: number; meanIterationsPerScale: number[] | null };
  real: { split: 'test'; images: number; selection: string };
  fidProxy: number;
  fidProxyTerms: { meanTerm: number; traceTerm: number };
  agreement: number;
  perClassAgreement: number[];
  precision: number;
  recall: number;
  k: number;
  diversity: { generated: number; real: number; generatedWithinClass: number; realWithinClass: number };
  reference: { fidProxyTrainVsTest: number; trainImages: number; precisionTrainVsTest: number; recallTrainVsTest: number };
  note: string;
}

const r4 = (x: number) => Number(x.toFixed(4));

/** The training step a checkpoint records, or null when it records none (or something that is not a count). */
export function recordedStep(step: string | undefined): number | null {
  const n = Number(step);
  return step !== undefined && step.trim() !== '' && Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** `count` evenly spaced images of a split (class-balanced: the splits are grouped by class). */
function evenly(set: ImageDataset, count: number): ImageDataset {
  const n = Math.min(count, set.count);
  return set.subset(Array.from({ length: n }, (_, i) => Math.floor((i * set.count) / n)));
}

/** The classifier's features and predictions for images [N, 1, 32, 32] in [−1, 1]. */
function measure(net: LeNet, images: Tensor): { features: FeatureMatrix; predicted: number[] } {
  return tidy(() => noGrad(() => {
    const x = mul(add(images, 1), 0.5);
    const f = net.features(x);
    return { features: featureMatrix(f), predicted: Array.from(argmax(net.fc2.forward(f), 1).dataSync()) };
  }));
}

/** Features and labels of a real image set (in [0, 1]), batched. */
function realFeatures(net: LeNet, set: ImageDataset): { features: FeatureMatrix; labels: number[] } {
  const parts: FeatureMatrix[] = [];
  const labels: number[] = [];
  for (const { x, y } of set.batches(250)) {
    parts.push(tidy(() => noGrad(() => featureMatrix(net.features(x)))));
    labels.push(...y.dataSync());
    x.dispose();
    y.dispose();
  }
  return { features: concatFeatures(parts), labels };
}

function withinClass(x: FeatureMatrix, labels: readonly number[], numClasses: number): number {
  let sum = 0, n = 0;
  for (let c = 0; c < numClasses; c++) {
    const rows = labels.flatMap((l, i) => (l === c ? [i] : []));
    if (rows.length < 2) continue;
    sum += meanPairwiseDistance(selectRows(x, rows));
    n++;
  }
  return n ? sum / n : 0;
}

/** Runs the evaluation; returns one result per checkpoint and the files written. */
export function runEval(args: EvalArgs, command = 'viar eval'): { results: EvalResult[]; files: string[] } {
  if (args.threads !== undefined) setNumThreads(args.threads);
  const data = args.data;
  const checkpoints = args.checkpoints.length ? args.checkpoints
    : ['var', 'viar'].map((k) => `checkpoints/${k}-${data}.safetensors`).filter((p) => existsSync(p));
  if (!checkpoints.length) {
    throw new CliError(`viar eval: no checkpoints/var-${data}.safetensors or viar-${data}.safetensors` +
      `; pass --checkpoint PATH, or train one: npm run viar -- train --model viar --data ${data}`);
  }
  for (const p of checkpoints) checkInputFile('viar eval', 'checkpoint', p);
  const classifierPath = args.classifier ?? `checkpoints/classifier-${data}.safetensors`;
  checkInputFile('viar eval', 'classifier', classifierPath, ` (train it with npm run train:classifier -- --data ${data})`);
  const outFile = (path: string) => args.out ?? join(args.outDir, `eval-${basename(path).replace(/\.safetensors$/, '')}.json`);
  if (args.out !== undefined) prepareOutputFile('viar eval', '--out', args.out);
  else prepareOutputDir('viar eval', '--out-dir', args.outDir);
  for (const p of checkpoints) prepareOutputFile('viar eval', 'the result file', outFile(p));
  const net = new LeNet(LENET_DEFAULTS, new Rng(0));
  loadModule(classifierPath, net);
  net.eval();
  const log = args.quiet ? () => {} : (line: string) => console.log(line);
  const { train, test } = loadSplit(data);
  const realCount = Math.min(args.real ?? 10 * args.perClass, test.count, train.count);
  const real = realFeatures(net, evenly(test, realCount));
  const trainRef = realFeatures(net, evenly(train, realCount));
  const realStats = gaussianStats(real.features);
  const k = EVAL_DEFAULTS.k;
  const refPr = precisionRecall(real.features, trainRef.features, k);
  const reference = {
    fidProxyTrainVsTest: r4(frechetParts(gaussianStats(trainRef.features), realStats).total), trainImages: trainRef.features.rows,
    precisionTrainVsTest: r4(refPr.precision), recallTrainVsTest: r4(refPr.recall),
  };
  const numClasses = LENET_DEFAULTS.numClasses;
  const realDiversity = { real: r4(meanPairwiseDistance(real.features)), realWithinClass: r4(withinClass(real.features, real.labels, numClasses)) };
  log(`real: ${realCount} ${data} test images; FID-proxy of as many training images against them (the floor): ${reference.fidProxyTrainVsTest.toFixed(3)}`);

  const results: EvalResult[] = [];
  const files: string[] = [];
  for (const path of checkpoints) {
    const { model, info } = loadTransformer(path);
    try {
      const isViar = model instanceof VIAR;
      const tokenizerPath = args.tokenizer ?? (info.metadata.tokenizer && existsSync(info.metadata.tokenizer) ? info.metadata.tokenizer : `checkpoints/tokenizer-${data}.safetensors`);
      const vae = loadTokenizer(tokenizerPath, data);
      try {
        checkTokenizerFit(model.config, vae.config, 'viar eval');
        if (info.metadata.tokenizerSha256 && fileFingerprint(tokenizerPath).sha256 !== info.metadata.tokenizerSha256) {
          console.warn(`warning: ${tokenizerPath} is not the tokenizer ${path} was trained with (its SHA-256 differs)`);
        }
        if (model.config.numClasses !== numClasses) throw new CliError(`viar eval: ${path} has ${model.config.numClasses} classes, the classifier ${numClasses}`);
        let perScale: number[] | null = null;
        if (isViar) {
          try {
            perScale = iterationSchedule(args.schedule ?? model.config.implicit.schedule, model.numScales, 'viar eval');
          } catch (err) {
            throw new CliError((err as Error).message);
          }
        } else if (args.schedule !== undefined || args.tol !== undefined || args.implicitCache !== undefined) {
          log(`note: ${path} is a VAR checkpoint; --iters/--schedule/--schedule-list/--tol/--implicit-cache apply to VIAR only and are ignored for it`);
        }
        const bar = args.quiet ? null : new cliProgress.SingleBar({
          format: `${info.model} sampling |{bar}| {value}/{total} images | ETA {eta_formatted}`, noTTYOutput: true, notTTYSchedule: 20_000,
        }, cliProgress.Presets.shades_classic);
        bar?.start(numClasses * args.perClass, 0);
        const feats: FeatureMatrix[] = [];
        const labels: number[] = [];
        const predicted: number[] = [];
        const iterations: number[][] = [];
        let ms = 0;
        try {
          for (let done = 0; done < args.perClass; done += EVAL_DEFAULTS.chunk) {
            const n = Math.min(EVAL_DEFAULTS.chunk, args.perClass - done);
            const r = sampleByClass(model, vae, {
              perClass: n, cfg: args.cfg, topK: args.topK, topP: args.topP, seed: args.seed * 1000 + done,
              ...(isViar && args.schedule !== undefined ? { iterSchedule: args.schedule } : {}),
              ...(isViar && args.tol !== undefined ? { earlyStopTol: args.tol } : {}),
              ...(isViar && args.implicitCache !== undefined ? { implicitCache: args.implicitCache } : {}),
              // every chunk has the same batch and settings: one recorded sampler replayed (no early stop to read)
              capture: !(isViar && args.tol !== undefined),
            });
            ms += r.ms;
            if (r.iterations) iterations.push(...r.iterations);
            const m = measure(net, r.images);
            r.images.dispose();
            feats.push(m.features);
            predicted.push(...m.predicted);
            labels.push(...r.labels);
            bar?.increment(numClasses * n);
          }
        } finally {
          bar?.stop();
          model.disposeSamplerPlans();
        }
        const gen = concatFeatures(feats);
        const fd = frechetParts(gaussianStats(gen), realStats);
        const pr = precisionRecall(real.features, gen, k);
        const right = new Array<number>(numClasses).fill(0);
        labels.forEach((c, i) => { if (predicted[i] === c) right[c]!++; });
        const total = labels.length;
        const meanIters = iterations.length ? iterations[0]!.map((_, s) => Number((iterations.reduce((t, it) => t + it[s]!, 0) / iterations.length).toFixed(2))) : null;
        const result: EvalResult = {
          date: new Date().toISOString(), command, data, checkpoint: path, model: info.model, parameters: model.numParameters(),
          trainedSteps: recordedStep(info.metadata.step), tokenizer: tokenizerPath, classifier: classifierPath,
          kernels: describeCpuKernels(),
          sampler: {
            cfg: args.cfg, topK: args.topK, topP: args.topP, seed: args.seed, seeds: `class images done…done+${EVAL_DEFAULTS.chunk - 1}: seed ${args.seed}·1000 + done`,
            schedule: isViar ? args.schedule ?? (model as VIAR).config.implicit.schedule : null, perScale, tol: isViar ? args.tol ?? null : null,
            implicitCache: isViar ? args.implicitCache ?? 'iteration' : null,
          },
          samples: { perClass: args.perClass, total, msPerImage: Number((ms / total).toFixed(1)), meanIterationsPerScale: meanIters },
          real: { split: 'test', images: realCount, selection: 'evenly spaced over the standard test split (class-balanced)' },
          fidProxy: r4(fd.total), fidProxyTerms: { meanTerm: r4(fd.meanTerm), traceTerm: r4(fd.traceTerm) },
          agreement: r4(right.reduce((a, b) => a + b, 0) / total), perClassAgreement: right.map((x) => r4(x / args.perClass)),
          precision: r4(pr.precision), recall: r4(pr.recall), k,
          diversity: { generated: r4(meanPairwiseDistance(gen)), generatedWithinClass: r4(withinClass(gen, labels, numClasses)), ...realDiversity },
          reference, note: FID_PROXY_NOTE,
        };
        const file = outFile(path);
        writeResultJson('viar eval', file, result, { 'generated images': total });
        files.push(file);
        results.push(result);
        log(`${info.model.toUpperCase()} ${path}: FID-proxy ${result.fidProxy.toFixed(3)} (floor ${reference.fidProxyTrainVsTest.toFixed(3)}), ` +
          `agreement ${(100 * result.agreement).toFixed(1)}%, precision ${result.precision.toFixed(3)}, recall ${result.recall.toFixed(3)}, ` +
          `diversity ${result.diversity.generated.toFixed(2)} (real ${result.diversity.real.toFixed(2)}; within class ${result.diversity.generatedWithinClass.toFixed(2)} vs ${result.diversity.realWithinClass.toFixed(2)}), ` +
          `${result.samples.msPerImage} ms/image${meanIters ? `, iterations per scale [${meanIters.join(', ')}]` : ''}`);
        log(`  per class: ${result.perClassAgreement.map((a, c) => `${c} ${(100 * a).toFixed(0)}%`).join(', ')}`);
        log(`wrote ${file}`);
      } finally {
        vae.dispose();
      }
    } finally {
      model.dispose();
    }
  }
  net.dispose();
  return { results, files };
}

/** `viar eval …` (see EVAL_HELP): prints a summary per checkpoint and writes the JSON files. */
export function evalCommand(argv: string[]): void {
  const args = parseEvalArgs(argv);
  if (args.help) {
    console.log(EVAL_HELP);
    return;
  }
  runEval(args, `npm run viar -- eval${argv.length ? ` ${argv.join(' ')}` : ''}`);
}
