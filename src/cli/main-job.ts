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
  fileFingerprint, checkTokenizerFit, editMask, inpaint, editClass, VIAR, DIGIT_CLASS_NAMES, FASHION_CLASS_NAMES,
  type IterationSchedule, type Tensor, type VQVAE, type ImageDataset,
} from '../index.js';
import { CliError, SAMPLE_DEFAULTS, loadSplit, loadTokenizer, type DataName } from './transformer-commands.js';
import { renderIndex, pct, type MainJobSummary, type ScheduleRow } from './main-job-report.js';
import { LIMITS, SEED_MAX, checkInputFile, choice, flag, int, ints, parseOptions, prepareOutputDir, runCommandLine, seed, text, threads } from './options.js';

export { renderIndex, type MainJobSummary, type ScheduleRow } from './main-job-report.js';

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
  --data mnist|fashion   data set (default ${MAIN_DEFAULTS.data}; fashion: Fashion-MNIST, its classes named in the report);
                         needs <checkpoints>/viar-<data>.safetensors and tokenizer-<data>.safetensors
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
    const arena = getBackend().poolStats?.().heapArenaBytes;
    if (arena !== undefined) this.arenaBytes = Math.max(this.arenaBytes, arena);
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

/** What `npm start` trains a missing generator of `data` with (the shipped Fashion-MNIST VIAR uses the official iteration ranges). */
const TRAIN_HINT: Record<DataName, string> = {
  mnist: 'npm run viar -- train --model viar --data mnist',
  fashion: 'npm run viar -- train --model viar --config small-official --data fashion',
};

/** Resolves the checkpoint files; a missing generator or tokenizer is a one-line error naming the file. */
function resolveFiles(opts: MainJobOptions): { modelPath: string; tokenizerPath: string; classifierPath: string | null } {
  const dir = opts.checkpoints, data = opts.data;
  const modelPath = opts.model ?? join(dir, `viar-${data}.safetensors`);
  if (!existsSync(modelPath)) {
    throw new CliError(`npm start: no VIAR checkpoint at ${modelPath}` +
      (opts.model === undefined ? ` (train it with: ${TRAIN_HINT[data]}; or point --checkpoints / --model elsewhere)` : ''));
  }
  const tokenizerPath = opts.tokenizer ?? join(dir, `tokenizer-${data}.safetensors`);
  if (!existsSync(tokenizerPath)) {
    throw new CliError(`npm start: no tokenizer at ${tokenizerPath}` +
      (opts.tokenizer === undefined ? ` (train it with: npm run viar -- train-tokenizer --data ${data}; or pass --tokenizer PATH)` : ''));
  }
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
 * The names of classes 0..numClasses−1 of a data set (Fashion-MNIST's 'T-shirt/top' … 'Ankle boot', MNIST's '0' … '9');
 * a class beyond the data set's list is named by its index.
 */
export function classNamesOf(data: DataName, numClasses: number): string[] {
  const names = data === 'fashion' ? FASHION_CLASS_NAMES : DIGIT_CLASS_NAMES;
  return Array.from({ length: numClasses }, (_, c) => names[c] ?? String(c));
}

/** What every stage of the job uses: the loaded models, the sampler settings and the progress/memory trackers. */
interface JobContext {
  opts: MainJobOptions;
  model: VIAR;
  vae: VQVAE;
  /** The classifier that measures agreement (null: agreement not measured). */
  net: LeNet | null;
  sampler: { cfg: number; topK: number; topP: number };
  /** The sampling schedule (--schedule or the checkpoint's) and its iterations per scale. */
  schedule: IterationSchedule;
  perScale: number[];
  classes: number[];
  /** The data set's name of each class (indexed by label). */
  classNames: string[];
  mem: MemoryTracker;
  bars: ReturnType<typeof progress>;
}

/** 1. Class-conditional samples, one row per class: samples.png and its numbers. */
function classSamplesStage(ctx: JobContext): MainJobSummary['samples'] {
  const { opts, model, vae, net, sampler, schedule, perScale, classes, mem, bars } = ctx;
  const t0 = performance.now();
  const sampleBar = bars.bar('samples', classes.length * opts.perClass);
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
  const perClassAgreement = net ? classes.map((c) => agreementOf(samplePredicted.filter((_, i) => sampleLabels[i] === c), sampleLabels.filter((l) => l === c))) : null;
  const images = classes.length * opts.perClass;
  return {
    file: relative(opts.out, samplesFile), classes: classes.length, perClass: opts.perClass, images, seconds: round((performance.now() - t0) / 1000, 2),
    msPerImage: round(samplingMs / images), schedule: `${scheduleLabel(schedule)}${opts.schedule === undefined ? ' (the checkpoint\'s)' : ''}`,
    iterationsPerScale: perScale.map((_, s) => round(ranIterations.reduce((t, it) => t + (it[s] ?? 0), 0) / Math.max(1, ranIterations.length), 2)),
    agreement: net ? round(agreementOf(samplePredicted, sampleLabels), 3) : null,
    perClassAgreement: perClassAgreement?.map((a) => round(a, 3)) ?? null,
  };
}

/** 2. The iteration knob: the same labels and seed at each compared schedule, one row each (schedules.png). */
function scheduleStage(ctx: JobContext): { part: MainJobSummary['schedules']; seconds: number } {
  const { opts, model, vae, net, sampler, schedule, perScale, classes, mem, bars } = ctx;
  const t0 = performance.now();
  const numScales = model.numScales, numClasses = classes.length;
  let compare = COMPARED_SCHEDULES.map((s) => ({ s: s as IterationSchedule, label: scheduleLabel(s) }));
  if (!compare.some(({ s }) => sameSchedule(iterationSchedule(s, numScales), perScale))) {
    // e.g. --schedule 3,1, or the 10 per scale of a checkpoint trained with the official iteration ranges
    compare = [...compare, { s: schedule, label: `${scheduleLabel(schedule)} ${opts.schedule === undefined ? '(the checkpoint\'s)' : '(--schedule)'}` }];
  }
  const cols = Math.min(MAIN_DEFAULTS.scheduleColumns, numClasses);
  const columnLabels = Array.from({ length: cols }, (_, j) => j % numClasses);
  const rows: ScheduleRow[] = [];
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
  return {
    part: { file: relative(opts.out, schedulesFile), columns: cols, seed: opts.seed, rowHeight: imageHeight * scale + pad, width: gridImage.width, rows },
    seconds: (performance.now() - t0) / 1000,
  };
}

/** 3. Inpainting: the centre of test images regenerated with each image's own class, several seeds (inpaint.png). */
function inpaintStage(ctx: JobContext, test: ImageDataset): { part: MainJobSummary['inpaint']; seconds: number } {
  const { opts, model, vae, net, sampler, schedule, mem, bars } = ctx;
  const t0 = performance.now();
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
  return {
    part: {
      file: 'inpaint.png', mask: MAIN_DEFAULTS.inpaintMask, testIndices: src.indices, labels: src.labels, seeds,
      msPerImage: round(inpaintMs / (src.labels.length * seeds.length)), tokensRegenerated,
      agreement: net ? round(agreementOf(inpaintPredicted, seeds.flatMap(() => src.labels)), 3) : null,
    },
    seconds: (performance.now() - t0) / 1000,
  };
}

/** 4. Class editing: the centre of a few test images regenerated towards every class, cfg 3 as the official notebook (edit.png). */
function editStage(ctx: JobContext, test: ImageDataset): { part: MainJobSummary['edit']; seconds: number } {
  const { opts, model, vae, net, sampler, schedule, classes, classNames, mem, bars } = ctx;
  const t0 = performance.now();
  const numClasses = classes.length;
  const ed = testImages(test, MAIN_DEFAULTS.editImages, 1);
  const [, , h, w] = ed.images.shape as [number, number, number, number];
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
      editBar.update((k + 1) * numClasses, `source class ${classNames[label] ?? label}`);
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
  return {
    part: {
      file: 'edit.png', mask: MAIN_DEFAULTS.editMask, testIndices: ed.indices, sourceLabels: ed.labels, toClasses: classes, cfg: MAIN_DEFAULTS.editCfg,
      msPerImage: round(editMs / (ed.labels.length * numClasses)), agreement: net ? round(agreementOf(editPredicted, editWanted), 3) : null,
    },
    seconds: (performance.now() - t0) / 1000,
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
    if (info.metadata.data !== undefined && info.metadata.data !== opts.data) {
      bars.log(`warning: ${files.modelPath} was trained on ${info.metadata.data}, not on --data ${opts.data}`);
    }
    if (files.classifierPath) {
      net = new LeNet(LENET_DEFAULTS, new Rng(0));
      loadModule(files.classifierPath, net);
      net.eval();
    }
    const schedule = opts.schedule ?? model.config.implicit.schedule;
    let perScale: number[];
    try {
      perScale = iterationSchedule(schedule, model.numScales, 'npm start --schedule');
    } catch (err) {
      throw new CliError(`${(err as Error).message}`);
    }
    const { test } = loadSplit(opts.data);
    mem.tick();
    const loadingSeconds = (performance.now() - started) / 1000;
    mkdirSync(opts.out, { recursive: true });
    const ctx: JobContext = {
      opts, model, vae, net, schedule, perScale, mem, bars,
      sampler: { cfg: SAMPLE_DEFAULTS.cfg, topK: SAMPLE_DEFAULTS.topK, topP: SAMPLE_DEFAULTS.topP },
      classes: Array.from({ length: model.config.numClasses }, (_, c) => c), classNames: classNamesOf(opts.data, model.config.numClasses),
    };
    const samples = classSamplesStage(ctx);
    const schedules = scheduleStage(ctx);
    const inpainting = inpaintStage(ctx, test);
    const editing = editStage(ctx, test);
    bars.stop();

    const parameters = model.numParameters(), numScales = model.numScales, description = model.describe();
    model.dispose();
    modelDisposed = true;
    vae.dispose();
    net?.dispose();
    vae = null;
    net = null;
    mem.tick();
    const summary: MainJobSummary = {
      date: new Date().toISOString(), command, data: opts.data, classNames: ctx.classNames, out: opts.out,
      model: {
        path: files.modelPath, parameters, trainedSteps: info.metadata.step !== undefined ? Number(info.metadata.step) : null,
        description, numScales, patchNums: [...model.config.patchNums],
      },
      tokenizer: files.tokenizerPath, classifier: files.classifierPath, threads: getNumThreads(), kernels: describeCpuKernels(),
      sampler: { ...ctx.sampler, seed: opts.seed },
      samples, schedules: schedules.part, inpaint: inpainting.part, edit: editing.part,
      memory: {
        peakRssMiB: round((process.resourceUsage().maxRSS * 1024) / MiB, 0), sampledPeakRssMiB: round(mem.rss / MiB, 0),
        enginePeakMiB: round(mem.engineBytes / MiB, 1), enginePeakBuffers: mem.engineBuffers,
        engineHeapArenaMiB: round(mem.arenaBytes / MiB, 1), engineLiveTensorsAtEnd: memory().numTensors,
      },
      seconds: {
        total: 0, loading: round(loadingSeconds, 2), samples: samples.seconds, schedules: round(schedules.seconds, 2),
        inpaint: round(inpainting.seconds, 2), edit: round(editing.seconds, 2),
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
