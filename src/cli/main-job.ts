#!/usr/bin/env node
// The main job (`npm start`): runs the shipped VIAR generator of a data set and writes out/ — class-conditional
// samples, the per-scale iteration knob side by side, inpainting, class editing, summary.json and an index.html.
// Usage: npm start [-- --help]

import { existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import {
  Rng, LeNet, LENET_DEFAULTS, loadModule, tidy, noGrad, keep, dispose, concat, add, mul, sub, slice, argmax, memory,
  imageGrid, savePng, setNumThreads, getBackend, getNumThreads, describeCpuKernels, loadTransformer, sampleByClass, iterationSchedule,
  fileFingerprint, checkTokenizerFit, editMask, inpaint, editClass, VIAR,
  type IterationSchedule, type Tensor, type VQVAE, type ImageDataset,
} from '../index.js';
import { CliError, SAMPLE_DEFAULTS, loadSplit, loadTokenizer, type DataName } from './transformer-commands.js';
import { LIMITS, SEED_MAX, checkInputFile, choice, flag, int, ints, parseOptions, prepareOutputDir, runCommandLine, seed, text, threads } from './options.js';

/** Defaults of the main job (sized for ~1 minute on 2 cores with the shipped MNIST VIAR). */
export const MAIN_DEFAULTS = {
  data: 'mnist' as DataName, seed: 0, out: 'out', perClass: 8, checkpoints: 'checkpoints',
  /** Columns of schedules.png: one image per class 0..9, all rows drawn with the same seed. */
  scheduleColumns: 10,
  /** Test images of the inpainting example, and the seeds each is inpainted with. */
  inpaintImages: 5, inpaintSeeds: 3, inpaintMask: 'center',
  /** Test images of the class-editing example (each edited towards every class). */
  editImages: 2, editMask: 'center', editCfg: 3,
} as const;

/** The rows of schedules.png: implicit iterations per scale as {left, right} (the official floor-linspace). */
export const COMPARED_SCHEDULES: readonly { left: number; right: number }[] = [
  { left: 1, right: 1 }, { left: 2, right: 2 }, { left: 4, right: 4 }, { left: 8, right: 8 }, { left: 8, right: 1 },
];

/** `npm start -- --help`. */
export const MAIN_HELP = `npm start [-- options]   (or: npx tsx src/cli/main-job.ts [options])
The main job: loads the shipped VIAR generator, its tokenizer and the classifier of a data set and writes
  <out>/samples.png     class-conditional samples, one row per class
  <out>/schedules.png   the same seeds at several per-scale iteration schedules (rows 1/1, 2/2, 4/4, 8/8, 8/1)
  <out>/inpaint.png     test images with their centre regenerated (source | masked | 3 seeds)
  <out>/edit.png        test images with their centre regenerated towards each class (source | masked | class 0..9)
  <out>/summary.json    time per image, iterations per scale, classifier agreement, peak memory
  <out>/index.html      the pictures and numbers together (open it in a browser)
Options:
  --data mnist|fashion   data set (default ${MAIN_DEFAULTS.data}); needs <checkpoints>/viar-<data>.safetensors and tokenizer-<data>.safetensors
  --schedule S           implicit iterations per scale of the samples, inpainting and editing: N (every scale),
                         LEFT,RIGHT (the official floor-linspace from LEFT to RIGHT, e.g. 8,1) or one count per scale
                         (e.g. 1,2,3,4,5,6); default: the checkpoint's (4 for the shipped models). A schedule not in
                         the comparison is added to schedules.png as an extra row.
  --seed S               base seed (default ${MAIN_DEFAULTS.seed}); class c of samples.png uses seed S·1000 + c, schedules.png uses S
  --per-class K          samples per class in samples.png (default ${MAIN_DEFAULTS.perClass})
  --out DIR              output folder (default ${MAIN_DEFAULTS.out}/)
  --threads T            CPU threads of the kernels (default: the machine's cores, at most 8)
  --checkpoints DIR      where viar-<data>, tokenizer-<data> and classifier-<data>.safetensors live (default ${MAIN_DEFAULTS.checkpoints}/)
  --model PATH, --tokenizer PATH, --classifier PATH   override single files (the classifier is optional:
                         without it the classifier-agreement figures are left out)
  --quiet                no progress bars
  --help                 this text
Sampler: cfg ${SAMPLE_DEFAULTS.cfg}, top-k ${SAMPLE_DEFAULTS.topK}, top-p ${SAMPLE_DEFAULTS.topP} (as viar sample); editing uses cfg ${MAIN_DEFAULTS.editCfg}.`;

/** Parsed options of the main job. */
export interface MainJobOptions {
  help: boolean;
  data: DataName;
  /** Undefined: the checkpoint's own schedule. */
  schedule?: IterationSchedule;
  seed: number;
  out: string;
  perClass: number;
  threads?: number;
  checkpoints: string;
  model?: string;
  tokenizer?: string;
  classifier?: string;
  quiet: boolean;
}

/** The largest --seed: class c is drawn with seed S·1000 + c, which must stay a 32-bit seed. */
export const MAIN_SEED_MAX = Math.floor((SEED_MAX - 999) / 1000);

const OPTIONS = {
  data: choice('mnist', 'fashion'), schedule: text, seed: seed(MAIN_SEED_MAX), out: text, 'per-class': int(1, LIMITS.gridImages), threads,
  checkpoints: text, model: text, tokenizer: text, classifier: text, quiet: flag, help: flag,
} as const;

/** Parses `--schedule`: N, LEFT,RIGHT or one count per scale (checked against the model later). */
export function parseSchedule(value: string): IterationSchedule {
  const n = parseOptions('npm start', ['--schedule', value], { schedule: ints(0, LIMITS.iterations, 64) }).schedule!;
  if (n.length === 1) return n[0]!;
  if (n.length === 2) return { left: n[0]!, right: n[1]! };
  return n;
}

/** Parses and validates the main job's arguments; mistakes throw CliError naming the option. */
export function parseMainArgs(argv: string[]): MainJobOptions {
  const v = parseOptions('npm start', argv, OPTIONS);
  const opts: MainJobOptions = {
    help: v.help === true, data: v.data ?? MAIN_DEFAULTS.data, seed: v.seed ?? MAIN_DEFAULTS.seed, out: v.out ?? MAIN_DEFAULTS.out,
    perClass: v['per-class'] ?? MAIN_DEFAULTS.perClass, checkpoints: v.checkpoints ?? MAIN_DEFAULTS.checkpoints, quiet: v.quiet === true,
  };
  if (v.schedule !== undefined) opts.schedule = parseSchedule(v.schedule);
  if (v.threads !== undefined) opts.threads = v.threads;
  if (v.model !== undefined) opts.model = v.model;
  if (v.tokenizer !== undefined) opts.tokenizer = v.tokenizer;
  if (v.classifier !== undefined) opts.classifier = v.classifier;
  return opts;
}

/** One row of schedules.png. */
export interface ScheduleRow {
  label: string;
  schedule: IterationSchedule;
  /** The schedule resolved to one count per scale. */
  perScale: number[];
  /** Iterations the sampler reports it ran per scale. */
  iterations: number[];
  msPerImage: number;
  /** Fraction of the row's images the classifier assigns to the requested class (null without a classifier). */
  agreement: number | null;
}

/** What the main job measured; also written to <out>/summary.json. */
export interface MainJobSummary {
  date: string;
  command: string;
  data: DataName;
  out: string;
  model: { path: string; parameters: number; trainedSteps: number | null; description: string; numScales: number; patchNums: number[] };
  tokenizer: string;
  classifier: string | null;
  threads: number;
  kernels: string;
  sampler: { cfg: number; topK: number; topP: number; seed: number };
  samples: {
    file: string; classes: number; perClass: number; images: number; seconds: number; msPerImage: number;
    schedule: string; iterationsPerScale: number[]; agreement: number | null; perClassAgreement: number[] | null;
  };
  schedules: { file: string; columns: number; seed: number; rowHeight: number; width: number; rows: ScheduleRow[] };
  inpaint: { file: string; mask: string; testIndices: number[]; labels: number[]; seeds: number[]; msPerImage: number; tokensRegenerated: string; agreement: number | null };
  edit: { file: string; mask: string; testIndices: number[]; sourceLabels: number[]; toClasses: number[]; cfg: number; msPerImage: number; agreement: number | null };
  memory: {
    /** The process's peak resident set size as the OS reports it (process.resourceUsage().maxRSS). */
    peakRssMiB: number;
    /** The largest process.memoryUsage().rss seen at the progress ticks. */
    sampledPeakRssMiB: number;
    /** The engine's live buffers (memory().numBytes / numDataBuffers), largest seen at the progress ticks. */
    enginePeakMiB: number;
    enginePeakBuffers: number;
    /** The CPU backend's WebAssembly heap arena (float32 tensor buffers, pooled by exact size, never handed back). */
    engineHeapArenaMiB: number;
    /** Live tensors once the models are disposed (0 = nothing leaked). */
    engineLiveTensorsAtEnd: number;
  };
  seconds: { total: number; loading: number; samples: number; schedules: number; inpaint: number; edit: number };
  files: string[];
}

const MiB = 2 ** 20;
const round = (x: number, digits = 1) => Number(x.toFixed(digits));
const scheduleLabel = (s: IterationSchedule): string =>
  typeof s === 'number' ? `${s}/${s}` : Array.isArray(s) ? `[${s.join(',')}]` : `${(s as { left: number }).left}/${(s as { right: number }).right}`;
const sameSchedule = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Peak memory seen at the progress ticks (JavaScript cannot interrupt a synchronous sampler call to look). */
class MemoryTracker {
  rss = 0;
  engineBytes = 0;
  engineBuffers = 0;
  arenaBytes = 0;
  tick(): void {
    this.rss = Math.max(this.rss, process.memoryUsage().rss);
    const m = memory();
    this.engineBytes = Math.max(this.engineBytes, m.numBytes);
    this.engineBuffers = Math.max(this.engineBuffers, m.numDataBuffers);
    // the CPU backend's WebAssembly heap arena: float32 buffers are carved from it and pooled by exact size, never
    // handed back, so its size is the high-water mark of tensor memory (other backends do not report it)
    const stats = (getBackend() as { poolStats?: () => { heapArenaBytes: number } }).poolStats?.();
    if (stats) this.arenaBytes = Math.max(this.arenaBytes, stats.heapArenaBytes);
  }
}

/** Class indices the classifier predicts for images [N, 1, 32, 32] in [−1, 1]. */
function classify(net: LeNet, images: Tensor): number[] {
  return tidy(() => noGrad(() => Array.from(argmax(net.forward(mul(add(images, 1), 0.5)), 1).dataSync())));
}

function agreementOf(predicted: readonly number[], wanted: readonly number[]): number {
  return predicted.filter((p, i) => p === wanted[i]).length / wanted.length;
}

/** `count` evenly spaced test images (class-balanced: the splits are grouped by class), [n, 1, H, W] in [−1, 1]. */
function testImages(test: ImageDataset, count: number, offset: number): { images: Tensor; labels: number[]; indices: number[] } {
  const indices = Array.from({ length: count }, (_, i) => Math.floor(((i + offset) * test.count) / (count + offset)));
  const { x, y } = test.subset(indices).toTensor();
  const images = tidy(() => keep(sub(mul(x, 2), 1)));
  const labels = Array.from(y.dataSync());
  x.dispose();
  y.dispose();
  return { images, labels, indices };
}

/** Resolves the checkpoint files, with a clear message for a missing generator (no Fashion generator is shipped yet). */
function resolveFiles(opts: MainJobOptions): { modelPath: string; tokenizerPath: string; classifierPath: string | null } {
  const dir = opts.checkpoints, data = opts.data;
  const modelPath = opts.model ?? join(dir, `viar-${data}.safetensors`);
  if (!existsSync(modelPath)) {
    if (data === 'fashion' && opts.model === undefined) {
      throw new CliError(`No Fashion-MNIST generator is shipped yet: ${modelPath} does not exist (only MNIST's VIAR is).\n` +
        `Run the main job on MNIST (npm start), or train one first: npm run viar -- train --model viar --data fashion`);
    }
    throw new CliError(`npm start: no VIAR checkpoint at ${modelPath}` +
      (opts.model === undefined ? ` (train it with: npm run viar -- train --model viar --data ${data}; or point --checkpoints / --model elsewhere)` : ''));
  }
  const tokenizerPath = opts.tokenizer ?? join(dir, `tokenizer-${data}.safetensors`);
  if (!existsSync(tokenizerPath)) throw new CliError(`npm start: no tokenizer at ${tokenizerPath} (pass --tokenizer PATH)`);
  const classifierPath = opts.classifier ?? join(dir, `classifier-${data}.safetensors`);
  if (opts.classifier !== undefined && !existsSync(classifierPath)) throw new CliError(`npm start: no classifier at ${classifierPath}`);
  for (const [what, path] of [['model', modelPath], ['tokenizer', tokenizerPath], ['classifier', existsSync(classifierPath) ? classifierPath : '']] as const) {
    if (path) checkInputFile('npm start', what, path);
  }
  return { modelPath, tokenizerPath, classifierPath: existsSync(classifierPath) ? classifierPath : null };
}

/** Progress bars, one per stage as it starts (nothing with --quiet). */
function progress(quiet: boolean) {
  let multi: cliProgress.MultiBar | null = null;
  let stopped = false;
  return {
    bar(stage: string, total: number) {
      if (quiet) return { update: (_value: number, _note?: string) => {}, done: () => {} };
      multi ??= new cliProgress.MultiBar({
        format: '{stage} |{bar}| {value}/{total} images | {duration_formatted} | ETA {eta_formatted} {note}',
        hideCursor: true, clearOnComplete: false, stopOnComplete: false, noTTYOutput: true, notTTYSchedule: 10_000, barsize: 30,
      }, cliProgress.Presets.shades_classic);
      const b = multi.create(total, 0, { stage: stage.padEnd(9), note: '' });
      // done() freezes the bar's elapsed time at the end of its stage
      return { update: (value: number, note = '') => b.update(value, { note }), done: () => b.stop() };
    },
    log(line: string) {
      if (multi && !stopped) multi.log(`${line}\n`); else if (!quiet) console.log(line);
    },
    stop() {
      if (!stopped) multi?.stop();
      stopped = true;
    },
  };
}

/**
 * Runs the main job with parsed options: writes samples.png, schedules.png, inpaint.png, edit.png, summary.json and
 * index.html to opts.out and returns the summary. Throws CliError for a missing checkpoint or a bad schedule.
 */
export function runMainJob(opts: MainJobOptions, command = 'npm start'): MainJobSummary {
  const started = performance.now();
  if (opts.threads !== undefined) setNumThreads(opts.threads);
  const files = resolveFiles(opts);
  prepareOutputDir('npm start', '--out', opts.out);
  const mem = new MemoryTracker();
  mem.tick();
  const { model, info } = loadTransformer(files.modelPath, { model: 'viar' });
  let modelDisposed = false;
  let vae: VQVAE | null = null;
  let net: LeNet | null = null;
  const bars = progress(opts.quiet);
  try {
    if (!(model instanceof VIAR)) throw new CliError(`npm start: ${files.modelPath} is not a VIAR checkpoint`);
    vae = loadTokenizer(files.tokenizerPath, opts.data);
    checkTokenizerFit(model.config, vae.config, 'npm start');
    if (info.metadata.tokenizerSha256 && fileFingerprint(files.tokenizerPath).sha256 !== info.metadata.tokenizerSha256) {
      bars.log(`warning: ${files.tokenizerPath} is not the tokenizer ${files.modelPath} was trained with (its SHA-256 differs)`);
    }
    if (files.classifierPath) {
      net = new LeNet(LENET_DEFAULTS, new Rng(0));
      loadModule(files.classifierPath, net);
      net.eval();
    }
    const numScales = model.numScales;
    let perScale: number[];
    const schedule = opts.schedule ?? model.config.implicit.schedule;
    try {
      perScale = iterationSchedule(schedule, numScales, 'npm start --schedule');
    } catch (err) {
      throw new CliError(`${(err as Error).message}`);
    }
    const { test } = loadSplit(opts.data);
    mem.tick();
    const loadingSeconds = (performance.now() - started) / 1000;
    mkdirSync(opts.out, { recursive: true });
    const sampler = { cfg: SAMPLE_DEFAULTS.cfg, topK: SAMPLE_DEFAULTS.topK, topP: SAMPLE_DEFAULTS.topP };
    const numClasses = model.config.numClasses;
    const classes = Array.from({ length: numClasses }, (_, c) => c);
    const rows: ScheduleRow[] = [];
    let compare = COMPARED_SCHEDULES.map((s) => ({ s: s as IterationSchedule, label: scheduleLabel(s) }));
    if (!compare.some(({ s }) => sameSchedule(iterationSchedule(s, numScales), perScale))) compare = [...compare, { s: schedule, label: `${scheduleLabel(schedule)} (--schedule)` }];
    const cols = Math.min(MAIN_DEFAULTS.scheduleColumns, numClasses);
    const columnLabels = Array.from({ length: cols }, (_, j) => j % numClasses);

    // 1. class-conditional samples, one row per class
    let t0 = performance.now();
    const sampleBar = bars.bar('samples', numClasses * opts.perClass);
    const sampleParts: Tensor[] = [];
    const samplePredicted: number[] = [];
    const sampleLabels: number[] = [];
    const ranIterations: number[][] = [];
    let samplingMs = 0;
    for (const c of classes) {
      const r = sampleByClass(model, vae, { classes: [c], perClass: opts.perClass, ...sampler, seed: opts.seed * 1000 + c, iterSchedule: schedule });
      samplingMs += r.ms;
      ranIterations.push(...(r.iterations ?? []));
      sampleParts.push(r.images);
      sampleLabels.push(...r.labels);
      if (net) samplePredicted.push(...classify(net, r.images));
      mem.tick();
      sampleBar.update((c + 1) * opts.perClass, `iterations/scale [${perScale.join(',')}]`);
    }
    sampleBar.done();
    const samplesFile = join(opts.out, 'samples.png');
    tidy(() => savePng(samplesFile, imageGrid(concat(sampleParts, 0), { cols: opts.perClass, scale: 2 })));
    dispose(sampleParts);
    const samplesSeconds = (performance.now() - t0) / 1000;
    const perClassAgreement = net ? classes.map((c) => agreementOf(samplePredicted.filter((_, i) => sampleLabels[i] === c), sampleLabels.filter((l) => l === c))) : null;

    // 2. the iteration knob: the same labels and seed at each schedule, one row each
    t0 = performance.now();
    const scheduleBar = bars.bar('schedules', compare.length * cols);
    const rowImages: Tensor[] = [];
    // one untimed warm-up call with the most iterations per scale of any row: the CPU backend grows its buffer pool
    // on the first use of each buffer size, which would otherwise be charged to whichever row comes first
    const warmup = perScale.map((_, i) => Math.max(...compare.map(({ s }) => iterationSchedule(s, numScales)[i]!)));
    scheduleBar.update(0, 'warm-up call (untimed)');
    dispose(sampleByClass(model, vae, { classes: columnLabels, perClass: 1, ...sampler, seed: opts.seed, iterSchedule: warmup }).images);
    mem.tick();
    for (const [k, { s, label }] of compare.entries()) {
      const r = sampleByClass(model, vae, { classes: columnLabels, perClass: 1, ...sampler, seed: opts.seed, iterSchedule: s });
      rowImages.push(r.images);
      const iterations = r.iterations?.[0] ?? [];
      rows.push({
        label, schedule: s, perScale: iterationSchedule(s, numScales), iterations, msPerImage: round(r.ms / r.labels.length),
        agreement: net ? round(agreementOf(classify(net, r.images), r.labels), 3) : null,
      });
      mem.tick();
      scheduleBar.update((k + 1) * cols, `${label}: ${round(r.ms / r.labels.length, 0)} ms/image`);
    }
    scheduleBar.done();
    const schedulesFile = join(opts.out, 'schedules.png');
    const scale = 2, pad = 2;
    const imageHeight = rowImages[0]!.shape[2]!;
    const gridImage = tidy(() => imageGrid(concat(rowImages, 0), { cols, scale, pad }));
    savePng(schedulesFile, gridImage);
    dispose(rowImages);
    const schedulesSeconds = (performance.now() - t0) / 1000;

    // 3. inpainting: the centre of test images regenerated with each image's own class, several seeds
    t0 = performance.now();
    const src = testImages(test, MAIN_DEFAULTS.inpaintImages, 0);
    const [, , h, w] = src.images.shape as [number, number, number, number];
    const seeds = Array.from({ length: MAIN_DEFAULTS.inpaintSeeds }, (_, i) => opts.seed + i);
    const inpaintResults: Tensor[] = [];
    let tokensRegenerated = '';
    let inpaintMs = 0;
    const inpaintPredicted: number[] = [];
    const mask = editMask(MAIN_DEFAULTS.inpaintMask, h, w);
    const inpaintBar = bars.bar('inpaint', src.labels.length * seeds.length);
    try {
      for (const [k, seed] of seeds.entries()) {
        const s0 = performance.now();
        const result = inpaint(model, vae, src.images, mask, { ...sampler, seed, labels: src.labels, threshold: 0.5, keepCoarse: 3, iterSchedule: schedule });
        inpaintMs += performance.now() - s0;
        const signed = tidy(() => keep(sub(mul(result.image, 2), 1)));
        if (net) inpaintPredicted.push(...classify(net, signed));
        inpaintResults.push(signed);
        tokensRegenerated = result.masks.map((m) => `${m.side}×${m.side}: ${m.count / src.labels.length}/${m.side * m.side}`).join(', ');
        dispose(result);
        mem.tick();
        inpaintBar.update((k + 1) * src.labels.length);
      }
      inpaintBar.done();
      const inpaintFile = join(opts.out, 'inpaint.png');
      tidy(() => {
        const masked = mul(src.images, sub(1, mask));
        const tiles: Tensor[] = [];
        for (let i = 0; i < src.labels.length; i++) for (const t of [src.images, masked, ...inpaintResults]) tiles.push(slice(t, [[i, i + 1]]));
        savePng(inpaintFile, imageGrid(concat(tiles, 0), { cols: 2 + seeds.length, scale: 3 }));
      });
    } finally {
      dispose(inpaintResults);
      mask.dispose();
      src.images.dispose();
    }
    const inpaintSeconds = (performance.now() - t0) / 1000;

    // 4. class editing: the centre of a few test images regenerated towards every class (cfg 3, as the official notebook)
    t0 = performance.now();
    const ed = testImages(test, MAIN_DEFAULTS.editImages, 1);
    const editMaskT = editMask(MAIN_DEFAULTS.editMask, h, w);
    const editBar = bars.bar('edit', ed.labels.length * numClasses);
    const editTiles: Tensor[] = [];
    let editMs = 0;
    const editPredicted: number[] = [];
    const editWanted: number[] = [];
    try {
      for (const [k, label] of ed.labels.entries()) {
        const one = slice(ed.images, [[k, k + 1]]);
        const batch = tidy(() => keep(concat(classes.map(() => one), 0)));
        const s0 = performance.now();
        const result = editClass(model, vae, batch, editMaskT, classes, { ...sampler, cfg: MAIN_DEFAULTS.editCfg, seed: opts.seed, threshold: 0.5, keepCoarse: 3, iterSchedule: schedule });
        editMs += performance.now() - s0;
        const signed = tidy(() => keep(sub(mul(result.image, 2), 1)));
        if (net) { editPredicted.push(...classify(net, signed)); editWanted.push(...classes); }
        editTiles.push(one, tidy(() => keep(mul(one, sub(1, editMaskT)))), signed);
        dispose(result);
        batch.dispose();
        mem.tick();
        editBar.update((k + 1) * numClasses, `source class ${label}`);
      }
      editBar.done();
      const editFile = join(opts.out, 'edit.png');
      tidy(() => {
        const tiles: Tensor[] = [];
        for (let k = 0; k < ed.labels.length; k++) {
          const [one, masked, edited] = editTiles.slice(3 * k, 3 * k + 3) as [Tensor, Tensor, Tensor];
          tiles.push(one, masked);
          for (let c = 0; c < numClasses; c++) tiles.push(slice(edited, [[c, c + 1]]));
        }
        savePng(editFile, imageGrid(concat(tiles, 0), { cols: 2 + numClasses, scale: 3 }));
      });
    } finally {
      dispose(editTiles);
      editMaskT.dispose();
      ed.images.dispose();
    }
    const editSeconds = (performance.now() - t0) / 1000;
    bars.stop();

    const nSamples = numClasses * opts.perClass;
    const meanIterations = perScale.map((_, s) => round(ranIterations.reduce((t, it) => t + (it[s] ?? 0), 0) / Math.max(1, ranIterations.length), 2));
    const parameters = model.numParameters();
    model.dispose();
    modelDisposed = true;
    vae.dispose();
    net?.dispose();
    vae = null;
    net = null;
    mem.tick();
    const rel = (f: string) => relative(opts.out, f);
    const summary: MainJobSummary = {
      date: new Date().toISOString(), command, data: opts.data, out: opts.out,
      model: {
        path: files.modelPath, parameters, trainedSteps: info.metadata.step !== undefined ? Number(info.metadata.step) : null,
        description: model.describe(), numScales, patchNums: [...model.config.patchNums],
      },
      tokenizer: files.tokenizerPath, classifier: files.classifierPath, threads: getNumThreads(), kernels: describeCpuKernels(),
      sampler: { ...sampler, seed: opts.seed },
      samples: {
        file: rel(samplesFile), classes: numClasses, perClass: opts.perClass, images: nSamples, seconds: round(samplesSeconds, 2),
        msPerImage: round(samplingMs / nSamples), schedule: `${scheduleLabel(schedule)}${opts.schedule === undefined ? ' (the checkpoint\'s)' : ''}`,
        iterationsPerScale: meanIterations, agreement: files.classifierPath === null ? null : round(agreementOf(samplePredicted, sampleLabels), 3),
        perClassAgreement: perClassAgreement?.map((a) => round(a, 3)) ?? null,
      },
      schedules: { file: rel(schedulesFile), columns: cols, seed: opts.seed, rowHeight: imageHeight * scale + pad, width: gridImage.width, rows },
      inpaint: {
        file: 'inpaint.png', mask: MAIN_DEFAULTS.inpaintMask, testIndices: src.indices, labels: src.labels, seeds,
        msPerImage: round(inpaintMs / (src.labels.length * seeds.length)), tokensRegenerated,
        agreement: files.classifierPath ? round(agreementOf(inpaintPredicted, seeds.flatMap(() => src.labels)), 3) : null,
      },
      edit: {
        file: 'edit.png', mask: MAIN_DEFAULTS.editMask, testIndices: ed.indices, sourceLabels: ed.labels, toClasses: classes, cfg: MAIN_DEFAULTS.editCfg,
        msPerImage: round(editMs / (ed.labels.length * numClasses)), agreement: files.classifierPath ? round(agreementOf(editPredicted, editWanted), 3) : null,
      },
      memory: {
        peakRssMiB: round((process.resourceUsage().maxRSS * 1024) / MiB, 0), sampledPeakRssMiB: round(mem.rss / MiB, 0),
        enginePeakMiB: round(mem.engineBytes / MiB, 1), enginePeakBuffers: mem.engineBuffers,
        engineHeapArenaMiB: round(mem.arenaBytes / MiB, 1), engineLiveTensorsAtEnd: memory().numTensors,
      },
      seconds: {
        total: 0, loading: round(loadingSeconds, 2), samples: round(samplesSeconds, 2), schedules: round(schedulesSeconds, 2),
        inpaint: round(inpaintSeconds, 2), edit: round(editSeconds, 2),
      },
      files: ['samples.png', 'schedules.png', 'inpaint.png', 'edit.png', 'summary.json', 'index.html'],
    };
    summary.seconds.total = round((performance.now() - started) / 1000, 2);
    writeFileSync(join(opts.out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    writeFileSync(join(opts.out, 'index.html'), renderIndex(summary));
    return summary;
  } finally {
    bars.stop();
    if (!modelDisposed) model.dispose();
    vae?.dispose();
    net?.dispose();
  }
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const pct = (x: number | null) => (x === null ? '—' : `${(100 * x).toFixed(1)} %`);

/** The self-contained report: relative image links, a table of numbers, a short explanation per picture. */
export function renderIndex(s: MainJobSummary): string {
  const m = s.model;
  const rowsHtml = s.schedules.rows.map((r, k) => `<tr><td>${esc(r.label)}</td><td>[${r.perScale.join(', ')}]</td>` +
    `<td><div class="strip" style="width:${s.schedules.width}px;height:${s.schedules.rowHeight + 2}px;background-position:0 -${k * s.schedules.rowHeight}px"></div></td>` +
    `<td class="num">${r.msPerImage}</td><td class="num">${pct(r.agreement)}</td></tr>`).join('\n');
  const perClass = s.samples.perClassAgreement ? s.samples.perClassAgreement.map((a, c) => `${c}: ${(100 * a).toFixed(0)} %`).join(', ') : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>viar main job: VIAR on ${esc(s.data)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
img, .strip { image-rendering: pixelated; }
img { border: 1px solid #ccc; }
.strip { background-image: url("schedules.png"); background-repeat: no-repeat; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: middle; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f4f4f4; padding: 0 3px; }
.note { color: #555; font-size: 0.92em; }
</style>
</head>
<body>
<h1>VIAR on ${s.data === 'mnist' ? 'MNIST' : 'Fashion-MNIST'}: the main job</h1>
<p class="note">Written by <code>${esc(s.command)}</code> on ${esc(s.date)} — ${esc(s.kernels)}; ${s.seconds.total} s in all.
Model <code>${esc(m.path)}</code> (${m.parameters.toLocaleString('en-US')} parameters${m.trainedSteps !== null ? `, ${m.trainedSteps} training steps` : ''}; ${esc(m.description)}),
tokenizer <code>${esc(s.tokenizer)}</code>, classifier ${s.classifier ? `<code>${esc(s.classifier)}</code>` : 'none (agreement not measured)'}.
Sampler: cfg ${s.sampler.cfg}, top-k ${s.sampler.topK}, top-p ${s.sampler.topP}, base seed ${s.sampler.seed}.</p>

<h2>Numbers</h2>
<table>
<tr><th>what</th><th>value</th></tr>
<tr><td>time per image (class-conditional samples, decoding included)</td><td class="num">${s.samples.msPerImage} ms</td></tr>
<tr><td>implicit iterations per scale (scales ${m.patchNums.map((p) => `${p}×${p}`).join(', ')})</td><td class="num">[${s.samples.iterationsPerScale.join(', ')}] (schedule ${esc(s.samples.schedule)})</td></tr>
<tr><td>classifier agrees with the requested class (${s.samples.images} samples)</td><td class="num">${pct(s.samples.agreement)}</td></tr>
<tr><td>peak memory: resident set size (OS peak)</td><td class="num">${s.memory.peakRssMiB} MiB</td></tr>
<tr><td>peak memory: engine buffers (largest seen between steps)</td><td class="num">${s.memory.enginePeakMiB} MiB in ${s.memory.enginePeakBuffers} buffers</td></tr>
<tr><td>engine WebAssembly heap arena (float32 tensor buffers, pooled by size and never handed back: the high-water mark)</td><td class="num">${s.memory.engineHeapArenaMiB} MiB</td></tr>
<tr><td>live tensors after disposing the models</td><td class="num">${s.memory.engineLiveTensorsAtEnd}</td></tr>
<tr><td>wall time: loading / samples / schedules / inpaint / edit / total</td><td class="num">${s.seconds.loading} / ${s.seconds.samples} / ${s.seconds.schedules} / ${s.seconds.inpaint} / ${s.seconds.edit} / ${s.seconds.total} s</td></tr>
<tr><td>threads</td><td class="num">${s.threads}</td></tr>
</table>

<h2>Class-conditional samples</h2>
<p>One row per class (0 at the top), ${s.samples.perClass} samples each; class <i>c</i> is drawn with seed ${s.sampler.seed}·1000 + <i>c</i>.
VIAR generates the 1×1 token map first and each larger map (${m.patchNums.join(', ')}) from all the coarser ones, running its implicit block the scheduled number of times per scale.</p>
<p><img src="${esc(s.samples.file)}" alt="class-conditional samples, one row per class"></p>
${perClass ? `<p class="note">Classifier agreement per class: ${perClass}.</p>` : ''}

<h2>The iteration knob</h2>
<p>The same labels (${s.schedules.columns} columns, class 0 to ${s.schedules.columns - 1}) and the same seed (${s.schedules.seed}) in every row, so a column changes only through the
number of implicit iterations per scale. A schedule LEFT/RIGHT runs floor(linspace(LEFT, RIGHT, 10)) iterations at the first scales, as the official
sampler (so 8/1 over ${m.numScales} scales is [${s.schedules.rows.find((r) => r.label === '8/1')?.perScale.join(', ') ?? '…'}]). More iterations cost time and bring the implicit
block closer to its fixed point; the time per image below shows the cost of the knob (measured after one untimed warm-up call).</p>
<table>
<tr><th>schedule</th><th>iterations per scale</th><th>samples (same seed)</th><th>ms / image</th><th>classifier agreement</th></tr>
${rowsHtml}
</table>
<p class="note">The whole grid: <a href="${esc(s.schedules.file)}">${esc(s.schedules.file)}</a>. Agreement per row is measured on ${s.schedules.columns} images only.</p>

<h2>Inpainting</h2>
<p>Test images (indices ${s.inpaint.testIndices.join(', ')}, classes ${s.inpaint.labels.join(', ')}), one per row: the source, the source with the
'${esc(s.inpaint.mask)}' region greyed out, then that region regenerated with seeds ${s.inpaint.seeds.join(', ')}. Zero-shot, as VAR: the source is
tokenized and at every scale the tokens outside the mask are re-imposed; only masked tokens are sampled, conditioned on the image's own class.
Tokens regenerated per scale and image: ${esc(s.inpaint.tokensRegenerated)}. ${s.inpaint.msPerImage} ms per image${s.inpaint.agreement !== null ? `; the classifier still reads the source class in ${pct(s.inpaint.agreement)}` : ''}.</p>
<p><img src="${esc(s.inpaint.file)}" alt="inpainting: source, masked, three inpaintings"></p>

<h2>Class editing</h2>
<p>Test images (indices ${s.edit.testIndices.join(', ')}, classes ${s.edit.sourceLabels.join(', ')}), one per row: the source, the masked source, then the
'${esc(s.edit.mask)}' region regenerated conditioned on class 0, 1, …, ${s.edit.toClasses.length - 1} (cfg ${s.edit.cfg}); the border stays the source's.
${s.edit.msPerImage} ms per image${s.edit.agreement !== null ? `; the classifier reads the requested class in ${pct(s.edit.agreement)} of the edits` : ''}.</p>
<p><img src="${esc(s.edit.file)}" alt="class editing: source, masked, the region regenerated towards each class"></p>

<p class="note">All numbers are in <a href="summary.json">summary.json</a>. Peak memory: the OS's peak resident set size of the process (Node, the
data set, the WebAssembly heap that holds the tensors) and the engine's own counters (<code>memory()</code>), sampled between sampler calls.</p>
</body>
</html>
`;
}

/** Parses argv, runs the job and prints the summary; returns null for --help. */
export function mainJob(argv: string[]): MainJobSummary | null {
  const opts = parseMainArgs(argv);
  if (opts.help) {
    console.log(MAIN_HELP);
    return null;
  }
  const s = runMainJob(opts, `npm start${argv.length ? ` -- ${argv.join(' ')}` : ''}`);
  const log = opts.quiet ? () => {} : (line: string) => console.log(line);
  log(`VIAR (${s.model.parameters.toLocaleString('en-US')} parameters) on ${s.data}, ${s.kernels}:`);
  log(`  samples    ${s.samples.images} images, ${s.samples.msPerImage} ms per image, iterations per scale [${s.samples.iterationsPerScale.join(', ')}]` +
    (s.samples.agreement !== null ? `, classifier agreement ${pct(s.samples.agreement)}` : ''));
  for (const r of s.schedules.rows) log(`  schedule ${r.label.padEnd(6)} [${r.perScale.join(', ')}]: ${r.msPerImage} ms per image${r.agreement !== null ? `, agreement ${pct(r.agreement)}` : ''}`);
  log(`  inpaint    ${s.inpaint.msPerImage} ms per image; edit ${s.edit.msPerImage} ms per image`);
  log(`  peak memory: ${s.memory.peakRssMiB} MiB resident (OS peak), engine buffers ${s.memory.enginePeakMiB} MiB live at most (heap arena ${s.memory.engineHeapArenaMiB} MiB); ${s.seconds.total} s in all`);
  log(`wrote ${s.files.map((f) => join(s.out, f)).join(', ')}\nopen ${join(s.out, 'index.html')} in a browser`);
  return s;
}

function isEntryPoint(): boolean {
  const arg = process.argv[1];
  if (!arg) return false;
  try {
    return realpathSync(resolve(arg)) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) await runCommandLine(() => mainJob(process.argv.slice(2)));
