// The `viar train`, `viar sample` and `viar encode-tokens` commands: argument parsing (exported, so tests call it
// directly), the resumable VAR / VIAR training loop with a time budget, progress bar, log file and sample grids, and
// class-conditional sampling from a checkpoint whose metadata says which model it is.

import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import {
  Rng, VQVAE, loadVqvae, loadMnist, loadFashionMnist, standardSplit, imageGrid, savePng, setNumThreads,
  getNumThreads, describeCpuKernels, TRANSFORMER_CONFIGS, TransformerTrainer, checkTokenizerFit, createModel, fileFingerprint,
  loadOrEncodeTokens, loadTransformer, initGpuBackend, isBackendRegistered, prefetch, setBackend, withBackend, readSafetensorsMetadata, sampleByClass, saveTransformer, iterationSchedule, VIAR,
  type GpuMode, type ImageDataset, type ImplicitCachePolicy, type IterationSchedule, type NextScaleModel, type TokenDataset, type TrainStepResult, type TransformerCheckpointInfo,
  type TransformerKind,
} from '../index.js';
import { CliError, LIMITS, checkInputFile, choice, flag, int, ints, num, parseOptions, prepareOutputDir, prepareOutputFile, seed, text, threads } from './options.js';

export { CliError };

export type DataName = 'mnist' | 'fashion';

/**
 * Defaults of `viar train`, chosen for ~25 minutes of 4 threads per run with 4 runs side by side (measured on a
 * 16-core Xeon: VAR_SMALL 3.3 s and VIAR_SMALL 2.0 s per step of 16 images; batch 32 costs twice that): batch 16
 * (at equal wall time it reached a lower validation loss than 32), peak lr 3e-3 (better than 1e-3 in the same test)
 * after min(100, 5%) warmup steps, cosine to 10%. Steps fill ~23 minutes of training; pass --steps for other budgets
 * (steps ≈ seconds of training / seconds per step).
 */
export const TRAIN_DEFAULTS = {
  batch: 16, lr: 3e-3, steps: { var: 400, viar: 650 } as Record<TransformerKind, number>, sampleEvery: 250, logEvery: 25,
  valImages: 256, config: 'small', out: 'checkpoints',
} as const;

/** Sampler settings of the grids written during training (and `viar sample`'s defaults). */
export const SAMPLE_DEFAULTS = { cfg: 1.5, topK: 60, topP: 0.96, perClass: 8, seed: 0 } as const;

/** --fit-minutes times this many steps of the new run (the first excluded) before choosing the total. */
export const FIT_STEPS = 8;
/** Warmup with --fit-minutes: it must outlast the timing, since the schedule may change only during the warmup. */
export const FIT_WARMUP = 25;

export const TRAIN_HELP = `viar train --model var|viar --data mnist|fashion [options]
  --steps N          total steps: the end of the cosine schedule (default VAR ${TRAIN_DEFAULTS.steps.var}, VIAR ${TRAIN_DEFAULTS.steps.viar}; on --resume, the saved run's)
  --fit-minutes F    instead of --steps: time the first ${FIT_STEPS} steps of a new run and choose the steps (saved with the run) so that
                     training, sample grids included, takes about F minutes over all chunks (the warmup is then ${FIT_WARMUP} steps)
  --minutes M        stop cleanly before M minutes of wall time (from start-up), saving a checkpoint
  --batch B          images per step (default ${TRAIN_DEFAULTS.batch})
  --lr LR            peak learning rate (default ${TRAIN_DEFAULTS.lr}); --warmup N steps (default min(100, 5%))
  --seed S           model init and data order (default 0)
  --out DIR          writes DIR/<model>-<data>.safetensors, .train-state.safetensors and .log (default ${TRAIN_DEFAULTS.out})
  --resume           continue from DIR/<model>-<data>.train-state.safetensors when it exists (bit-identical)
  --threads T        CPU threads of the kernels
  --backend cpu|gpu  where tensors live (default cpu); gpu = the gpu.js backend on WebGPU (fails when no adapter answers)
  --capture          replay each step's forward and backward (one recording per batch size and implicit split): the same
                     training, without the host's per-op work on the gpu backend (bench/gpu.ts's step: 1.5-2x on an H200)
  --sample-every N   sample grid (one row per class) to out/<model>-<data>/ and a validation loss every N steps (default ${TRAIN_DEFAULTS.sampleEvery}; 0 = off)
  --log-every N      log line every N steps (default ${TRAIN_DEFAULTS.logEvery}); --save-every N (default: --sample-every)
  --config NAME      ${Object.keys(TRANSFORMER_CONFIGS).join(' | ')} (default ${TRAIN_DEFAULTS.config}); --tokenizer PATH (default checkpoints/tokenizer-<data>.safetensors)
  --train-images N   train on N evenly spaced images of the train split (default all); --val-images N (default ${TRAIN_DEFAULTS.valImages})`;

export const SAMPLE_HELP = `viar sample --checkpoint PATH [options]
  --model var|viar   checked against the checkpoint's metadata (inferred from it when omitted)
  --data mnist|fashion, --tokenizer PATH (defaults: from the checkpoint's metadata)
  --class c|a,b,…|all  classes, one grid row each (default all); --n K images per class (default ${SAMPLE_DEFAULTS.perClass})
  --cfg S (default ${SAMPLE_DEFAULTS.cfg}), --top-k K (default ${SAMPLE_DEFAULTS.topK}; 0 = off), --top-p P (default ${SAMPLE_DEFAULTS.topP}; 0 = off), --seed S
  VIAR only: --iters N | --schedule LEFT,RIGHT | --schedule-list a,b,c,… (one count per scale), --tol T (early stop),
             --implicit-cache iteration|last-iterate (which earlier-scale keys each iteration reads; last-iterate lets
             every scale stop on its own residual under --tol; default iteration, the official cache)
  --out FILE.png     (default out/samples-<model>-<data>.png); --threads T`;

export const ENCODE_HELP = `viar encode-tokens --data mnist|fashion [--tokenizer PATH] [--threads T] [--val-images N] [--train-images N]
  encodes the train split (and the validation images) once into the token cache next to the tokenizer`;

// ---------------------------------------------------------------------------------------------------------------
// Argument parsing

export interface TrainArgs {
  help: boolean;
  model: TransformerKind;
  data: DataName;
  config: string;
  /** Undefined when not given (then: the saved run's on --resume, else the default). */
  steps?: number;
  /** Choose the steps from timed steps so that training takes this long (new runs only). */
  fitMinutes?: number;
  minutes?: number;
  batch?: number;
  lr?: number;
  warmup?: number;
  seed?: number;
  out: string;
  resume: boolean;
  /** Replay each step's forward and backward (TransformerTrainer.captureSteps). */
  capture: boolean;
  threads?: number;
  sampleEvery: number;
  logEvery: number;
  saveEvery: number;
  tokenizer?: string;
  trainImages?: number;
  valImages: number;
  backend: 'cpu' | 'gpu';
}

const DATA = choice('mnist', 'fashion');
const MODEL = choice('var', 'viar');
const minutes = num((n) => n > 0 && n <= LIMITS.minutes, `a positive number of minutes (at most ${LIMITS.minutes})`);

const TRAIN_OPTIONS = {
  model: MODEL, data: DATA, config: text, steps: int(1, LIMITS.steps), minutes, 'fit-minutes': minutes,
  batch: int(1, LIMITS.batch), lr: num((n) => n > 0 && n < 1, 'a learning rate in (0, 1)'), warmup: int(0, LIMITS.steps), seed: seed(),
  out: text, resume: flag, threads, 'sample-every': int(0, LIMITS.steps), 'log-every': int(1, LIMITS.steps), 'save-every': int(0, LIMITS.steps),
  tokenizer: text, 'train-images': int(1, LIMITS.images), 'val-images': int(0, LIMITS.images), backend: choice('cpu', 'gpu'), capture: flag, help: flag,
} as const;

/** Sets the optional fields that were given (exactOptionalPropertyTypes: absent stays absent). */
function assignDefined<T extends object>(into: T, values: Partial<T>): T {
  for (const [k, v] of Object.entries(values)) if (v !== undefined) (into as Record<string, unknown>)[k] = v;
  return into;
}

/** Parses and validates `viar train` arguments; throws CliError with a message naming the option. */
export function parseTrainArgs(argv: string[]): TrainArgs {
  const a = parseOptions('viar train', argv, TRAIN_OPTIONS);
  const help = a.help === true;
  if (!help && !a.model) throw new CliError('viar train: --model var|viar is required');
  if (!help && !a.data) throw new CliError('viar train: --data mnist|fashion is required');
  const config = a.config ?? TRAIN_DEFAULTS.config;
  if (!TRANSFORMER_CONFIGS[config]) throw new CliError(`viar train: --config must be one of ${Object.keys(TRANSFORMER_CONFIGS).join(', ')}, got '${config}'`);
  const sampleEvery = a['sample-every'] ?? TRAIN_DEFAULTS.sampleEvery;
  const out = assignDefined<TrainArgs>({
    help, model: a.model ?? 'var', data: a.data ?? 'mnist', config, out: a.out ?? TRAIN_DEFAULTS.out, resume: a.resume === true,
    sampleEvery, logEvery: a['log-every'] ?? TRAIN_DEFAULTS.logEvery, saveEvery: a['save-every'] ?? sampleEvery,
    valImages: a['val-images'] ?? TRAIN_DEFAULTS.valImages, backend: a.backend ?? 'cpu', capture: a.capture === true,
  }, {
    steps: a.steps, fitMinutes: a['fit-minutes'], minutes: a.minutes, batch: a.batch, lr: a.lr, warmup: a.warmup, seed: a.seed,
    threads: a.threads, tokenizer: a.tokenizer, trainImages: a['train-images'],
  });
  if (out.steps !== undefined && out.fitMinutes !== undefined) throw new CliError('viar train: give --steps or --fit-minutes, not both');
  if (out.fitMinutes !== undefined && out.warmup !== undefined && out.warmup < FIT_STEPS + 1) throw new CliError(`viar train: with --fit-minutes, --warmup must be at least ${FIT_STEPS + 1} (the schedule is chosen after ${FIT_STEPS} timed steps)`);
  if (out.warmup !== undefined && out.steps !== undefined && out.warmup >= out.steps) throw new CliError(`viar train: --warmup (${out.warmup}) must be below --steps (${out.steps})`);
  return out;
}

export interface SampleArgs {
  help: boolean;
  checkpoint?: string;
  model?: TransformerKind;
  data?: DataName;
  tokenizer?: string;
  /** null = all classes. */
  classes: number[] | null;
  perClass: number;
  cfg: number;
  topK: number;
  topP: number;
  seed: number;
  /** VIAR's per-scale iterations, when given. */
  schedule?: IterationSchedule;
  tol?: number;
  /** VIAR's implicitCache policy, when given. */
  implicitCache?: ImplicitCachePolicy;
  out?: string;
  threads?: number;
}

/** Options shared by the sampling commands (sample, eval, npm start): guidance, filtering and iteration counts. */
export const SAMPLER_OPTIONS = {
  cfg: num((n) => n >= 0 && n <= LIMITS.cfg, `a number in [0, ${LIMITS.cfg}]`),
  'top-k': int(0, LIMITS.topK), 'top-p': num((n) => n >= 0 && n <= 1, 'in [0, 1]'),
  iters: int(0, LIMITS.iterations), schedule: ints(0, LIMITS.iterations, 2), 'schedule-list': ints(0, LIMITS.iterations, 64),
  tol: num((n) => n >= 0 && n <= 1e6, 'a non-negative number (at most 1e6)'),
  'implicit-cache': choice('iteration', 'last-iterate'),
} as const;

/** The one schedule of --iters / --schedule LEFT,RIGHT / --schedule-list, or undefined; more than one is an error. */
export function scheduleOption(label: string, a: { iters?: number; schedule?: number[]; 'schedule-list'?: number[] }): IterationSchedule | undefined {
  const given = (['iters', 'schedule', 'schedule-list'] as const).filter((k) => a[k] !== undefined);
  if (given.length > 1) throw new CliError(`${label}: give at most one of --iters, --schedule and --schedule-list (got ${given.map((k) => `--${k}`).join(', ')})`);
  if (a.schedule !== undefined) {
    if (a.schedule.length !== 2) throw new CliError(`${label}: --schedule must be LEFT,RIGHT (two counts), got '${a.schedule.join(',')}'`);
    return { left: a.schedule[0]!, right: a.schedule[1]! };
  }
  return a.iters ?? a['schedule-list'];
}

const SAMPLE_OPTIONS = {
  checkpoint: text, model: MODEL, data: DATA, tokenizer: text, class: text, n: int(1, LIMITS.perClass), ...SAMPLER_OPTIONS,
  seed: seed(), out: text, threads, help: flag,
} as const;

/** Parses and validates `viar sample` arguments; throws CliError with a message naming the option. */
export function parseSampleArgs(argv: string[]): SampleArgs {
  const c = 'viar sample';
  const a = parseOptions(c, argv, SAMPLE_OPTIONS);
  const schedule = scheduleOption(c, a);
  const cls = a.class;
  const out = assignDefined<SampleArgs>({
    help: a.help === true,
    classes: cls === undefined || cls === 'all' ? null : parseOptions(c, ['--class', cls], { class: ints(0, LIMITS.classes, LIMITS.perClass) }).class!,
    perClass: a.n ?? SAMPLE_DEFAULTS.perClass, cfg: a.cfg ?? SAMPLE_DEFAULTS.cfg, topK: a['top-k'] ?? SAMPLE_DEFAULTS.topK,
    topP: a['top-p'] ?? SAMPLE_DEFAULTS.topP, seed: a.seed ?? SAMPLE_DEFAULTS.seed,
  }, { checkpoint: a.checkpoint, model: a.model, data: a.data, tokenizer: a.tokenizer, schedule, tol: a.tol, implicitCache: a['implicit-cache'], out: a.out, threads: a.threads });
  if (!out.help && !out.checkpoint && !(out.model && out.data)) throw new CliError('viar sample: --checkpoint PATH is required (or --model and --data for checkpoints/<model>-<data>.safetensors)');
  if (out.model === 'var' && (out.schedule !== undefined || out.tol !== undefined || out.implicitCache !== undefined)) throw new CliError('viar sample: --iters, --schedule, --schedule-list, --tol and --implicit-cache are for VIAR checkpoints only');
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Shared helpers

/** The standard split of MNIST or Fashion-MNIST. */
export function loadSplit(name: DataName): { train: ImageDataset; test: ImageDataset } {
  return standardSplit(name === 'mnist' ? loadMnist() : loadFashionMnist());
}

/**
 * Loads a tokenizer checkpoint (eval mode) with loadVqvae: the recorded config is validated and checked against the
 * file's tensors before anything is built; a missing path, a folder or a FIFO is a one-line error.
 */
export function loadTokenizer(path: string, data: string): VQVAE {
  checkInputFile('viar', 'tokenizer', path, `; train one with: npm run viar -- train-tokenizer --data ${data}`);
  return loadVqvae(path).vae;
}

/** `count` evenly spaced images of a set (class-balanced for the class-grouped MNIST / Fashion-MNIST splits). */
function evenlySpaced(set: ImageDataset, count: number): ImageDataset {
  const n = Math.min(count, set.count);
  return set.subset(Array.from({ length: n }, (_, i) => Math.floor((i * set.count) / n)));
}

/** Quotes an argument for a shell command line when needed. */
const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

function encodeWithBar(vae: VQVAE, images: ImageDataset, tokenizerPath: string, data: DataName, split: string): { dataset: TokenDataset; cached: boolean; seconds: number; path: string } {
  const start = performance.now();
  let bar: cliProgress.SingleBar | null = null;
  const r = loadOrEncodeTokens(vae, images, {
    tokenizerPath, data, split,
    onProgress: (done, total) => {
      if (!bar) {
        bar = new cliProgress.SingleBar({ format: `encoding ${data} ${split} |{bar}| {value}/{total} images | ETA {eta_formatted}`, noTTYOutput: true, notTTYSchedule: 30_000 }, cliProgress.Presets.shades_classic);
        bar.start(total, 0);
      }
      bar.update(done);
    },
  });
  (bar as cliProgress.SingleBar | null)?.stop();
  return { ...r, seconds: (performance.now() - start) / 1000 };
}

function tokenSets(vae: VQVAE, tokenizerPath: string, data: DataName, trainImages: number | undefined, valImages: number) {
  const { train, test } = loadSplit(data);
  const trainSet = trainImages !== undefined && trainImages < train.count ? evenlySpaced(train, trainImages) : train;
  const trainTokens = encodeWithBar(vae, trainSet, tokenizerPath, data, trainSet === train ? 'train' : `train-${trainSet.count}`);
  const val = valImages > 0 ? encodeWithBar(vae, evenlySpaced(test, valImages), tokenizerPath, data, `test-${Math.min(valImages, test.count)}`) : null;
  return { train: trainTokens, val };
}

// ---------------------------------------------------------------------------------------------------------------
// viar encode-tokens

/** `viar encode-tokens`: fills the token cache of a data set (train split and validation images). */
export function encodeTokensCommand(argv: string[]): void {
  const c = 'viar encode-tokens';
  const a = parseOptions(c, argv, { data: DATA, tokenizer: text, threads, 'val-images': int(0, LIMITS.images), 'train-images': int(1, LIMITS.images), help: flag });
  if (a.help) return void console.log(ENCODE_HELP);
  const data = a.data;
  if (!data) throw new CliError('viar encode-tokens: --data mnist|fashion is required');
  if (a.threads !== undefined) setNumThreads(a.threads);
  const tokenizerPath = a.tokenizer ?? `checkpoints/tokenizer-${data}.safetensors`;
  const vae = loadTokenizer(tokenizerPath, data);
  try {
    const sets = tokenSets(vae, tokenizerPath, data, a['train-images'], a['val-images'] ?? TRAIN_DEFAULTS.valImages);
    for (const s of [sets.train, sets.val]) {
      if (s) console.log(`${s.cached ? 'cached' : `encoded in ${s.seconds.toFixed(1)} s`}: ${s.dataset.count} images → ${s.path}`);
    }
  } finally {
    vae.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// viar train

const fmtLr = (lr: number) => lr.toExponential(2);

interface Window {
  results: TrainStepResult[];
}

/** "1.32 s/step", or below a second "15.2 ms/step" (GPU steps would all read 0.02 s). */
function stepTime(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(1)} ms/step` : `${(ms / 1000).toFixed(2)} s/step`;
}

function summarize(w: Window): string {
  const r = w.results;
  const avg = (f: (x: TrainStepResult) => number) => r.reduce((s, x) => s + f(x), 0) / r.length;
  const ms = r.reduce((s, x) => s + x.ms, 0), tokens = r.reduce((s, x) => s + x.tokens, 0);
  let line = `loss ${avg((x) => x.loss).toFixed(4)}, acc ${(100 * avg((x) => x.accuracy)).toFixed(2)}%, lr ${fmtLr(r.at(-1)!.lr)}, grad ${avg((x) => x.gradNorm).toFixed(2)}, ` +
    `${Math.round((tokens * 1000) / ms)} tok/s, ${stepTime(ms / r.length)}`;
  if (r[0]!.implicit) {
    const imp = (f: (x: NonNullable<TrainStepResult['implicit']>) => number) => avg((x) => f(x.implicit!));
    // a replayed (captured) step reads no residual: NaN, left out of the mean
    const measured = r.filter((x) => Number.isFinite(x.implicit!.residual));
    const res = (f: (x: NonNullable<TrainStepResult['implicit']>) => number) => (measured.reduce((s, x) => s + f(x.implicit!), 0) / measured.length).toExponential(2);
    line += `, implicit k ${imp((i) => i.noGradIters).toFixed(1)} m ${imp((i) => i.withGradIters).toFixed(1)} ` +
      (measured.length ? `residual ${res((i) => i.residual)} (rel ${res((i) => i.relResidual)})` : 'residual not measured');
  }
  return line;
}

/** The settings a training state records, checked as the options that set them (a state file is input too). */
const SAVED_SETTINGS: Record<string, keyof typeof TRAIN_OPTIONS> = {
  totalSteps: 'steps', batchSize: 'batch', lr: 'lr', seed: 'seed', warmupSteps: 'warmup', fitMinutes: 'fit-minutes',
};

function savedNumber(meta: Record<string, string> | null, key: string, file: string): number | undefined {
  const v = meta?.[key];
  if (v === undefined || v === '') return undefined;
  const option = SAVED_SETTINGS[key]!;
  try {
    return parseOptions('viar train', [`--${option}=${v}`], { [option]: TRAIN_OPTIONS[option] })[option] as number;
  } catch (err) {
    throw new CliError(`viar train: ${file} records ${key} '${v.slice(0, 40)}', which is out of range (${(err as Error).message.replace(/^viar train: /, '')})`);
  }
}

/**
 * `viar train`: trains VAR or VIAR on a tokenizer's codes of MNIST or Fashion-MNIST, resumable, within an optional
 * wall-time budget. Writes DIR/<model>-<data>.safetensors (weights + config metadata), .train-state.safetensors,
 * .log (appended) and sample grids under out/<model>-<data>/.
 */
export async function trainCommand(argv: string[]): Promise<void> {
  const started = performance.now();
  const args = parseTrainArgs(argv);
  if (args.help) return void console.log(TRAIN_HELP);
  if (args.threads !== undefined) setNumThreads(args.threads);
  if (args.backend === 'gpu' && isBackendRegistered('gpu')) {
    setBackend('gpu'); // started earlier in this process (e.g. by a script that trains several runs): one device for all
  } else if (args.backend === 'gpu') {
    // VIAR_GPU_MODE=cpu runs the gpu backend's kernels in gpu.js's CPU mode with WebGPU's asynchronous reads (testing)
    const mode = (process.env.VIAR_GPU_MODE ?? 'webgpu') as GpuMode;
    try {
      await initGpuBackend({ mode, asyncReads: mode !== 'webgpu' });
    } catch (err) {
      throw new CliError(`viar train: --backend gpu: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  const { model: kind, data } = args;
  const name = `${kind}-${data}`;
  const weightsPath = join(args.out, `${name}.safetensors`);
  const statePath = join(args.out, `${name}.train-state.safetensors`);
  const logPath = join(args.out, `${name}.log`);
  const gridDir = join('out', name);
  prepareOutputDir('viar train', '--out', args.out);
  prepareOutputDir('viar train', 'the sample-grid folder', gridDir);
  if (args.tokenizer !== undefined) checkInputFile('viar train', '--tokenizer', args.tokenizer);
  const log = (line: string) => { console.log(line); appendFileSync(logPath, `${line}\n`); };
  log(`command: npm run viar -- train ${argv.map(quote).join(' ')}`);

  const saved = args.resume && existsSync(statePath) ? readSafetensorsMetadata(statePath) : null;
  if (args.resume && !saved) log(`no training state at ${statePath}: starting a new run`);
  const config = TRANSFORMER_CONFIGS[args.config]![kind];
  const pick = (given: number | undefined, key: string, fallback: number) => {
    const old = savedNumber(saved, key, statePath);
    if (given !== undefined && old !== undefined && given !== old) log(`note: --${key === 'totalSteps' ? 'steps' : key === 'batchSize' ? 'batch' : key === 'warmupSteps' ? 'warmup' : key} ${given} replaces the saved run's ${old}`);
    return given ?? old ?? fallback;
  };
  const fitMinutes = args.steps === undefined ? args.fitMinutes ?? savedNumber(saved, 'fitMinutes', statePath) : undefined;
  let fitPending = fitMinutes !== undefined && saved?.fitted !== 'yes';
  if (args.fitMinutes !== undefined && saved?.fitted === 'yes') log(`note: the saved run already chose its steps (${saved.totalSteps}); --fit-minutes is ignored`);
  const totalSteps = fitPending ? 1_000_000 : pick(args.steps, 'totalSteps', TRAIN_DEFAULTS.steps[kind]);
  const batch = pick(args.batch, 'batchSize', TRAIN_DEFAULTS.batch);
  const lr = pick(args.lr, 'lr', TRAIN_DEFAULTS.lr);
  const seed = pick(args.seed, 'seed', 0);
  const warmup = args.warmup ?? (args.steps === undefined ? savedNumber(saved, 'warmupSteps', statePath) : undefined) ??
    (fitMinutes !== undefined ? FIT_WARMUP : Math.min(100, Math.floor(totalSteps / 20)));

  const tokenizerPath = args.tokenizer ?? `checkpoints/tokenizer-${data}.safetensors`;
  const vae = loadTokenizer(tokenizerPath, data);
  checkTokenizerFit(config, vae.config, 'viar train');
  // images are tokenized on the CPU (once, then cached); on the gpu backend the model's tokenizer stays on the device
  const encoder = args.backend === 'gpu' ? withBackend('cpu', () => loadTokenizer(tokenizerPath, data)) : vae;
  const sets = withBackend('cpu', () => tokenSets(encoder, tokenizerPath, data, args.trainImages, args.valImages));
  const trainTokens = sets.train.dataset;
  const model = createModel(kind, config, new Rng(seed));
  const trainer = new TransformerTrainer(model, vae.quantize, trainTokens, { totalSteps, batchSize: batch, lr, warmupSteps: warmup, seed });
  trainer.captureSteps = args.capture;
  if (saved) {
    trainer.loadState(statePath);
    log(`resumed from ${statePath} at step ${trainer.step}`);
  }
  const tokenizerHash = fileFingerprint(tokenizerPath).sha256;
  log(`${kind.toUpperCase()} '${args.config}' (${model.numParameters()} parameters; ${model.describe()}) on ${data}: ${trainTokens.count} train images ` +
    `(tokens ${sets.train.cached ? 'from cache' : `encoded in ${sets.train.seconds.toFixed(0)} s`}), ${fitPending ? `steps fitted to ${fitMinutes} min after ${FIT_STEPS} timed steps` : `${totalSteps} steps`} of ${batch}, AdamW lr ${lr} ` +
    `(warmup ${warmup}, cosine to ${+(lr * 0.1).toPrecision(3)}), betas 0.9/0.95, wd 0.05, clip 2, seed ${seed}, ${describeCpuKernels()}` +
    (model instanceof VIAR ? `, implicit k ∈ [${model.config.implicit.noGradIters.join(', ')}], m ∈ [${model.config.implicit.withGradIters.join(', ')}]` : ''));

  const meta = () => ({
    data, configName: args.config, tokenizer: tokenizerPath, tokenizerSha256: tokenizerHash, step: String(trainer.step), date: new Date().toISOString(),
    ...(fitMinutes !== undefined ? { fitMinutes: String(fitMinutes), fitted: fitPending ? 'no' : 'yes' } : {}),
  });
  let saveSeconds = 2;
  const save = async () => {
    const t = performance.now();
    // on an asynchronous backend the weights and optimizer moments come to the host in one batch of reads first
    await prefetch([...model.stateDict().values(), ...trainer.optimizer.stateDict().tensors.values()]);
    saveTransformer(weightsPath, model, meta());
    trainer.saveState(statePath, meta());
    saveSeconds = (performance.now() - t) / 1000;
  };
  const grid = async () => {
    const r = sampleByClass(model, vae, { perClass: SAMPLE_DEFAULTS.perClass, cfg: SAMPLE_DEFAULTS.cfg, topK: SAMPLE_DEFAULTS.topK, topP: SAMPLE_DEFAULTS.topP, seed: SAMPLE_DEFAULTS.seed });
    const file = join(gridDir, `step-${String(trainer.step).padStart(6, '0')}.png`);
    await r.images.prefetch();
    savePng(file, imageGrid(r.images, { cols: SAMPLE_DEFAULTS.perClass, scale: 2 }));
    r.images.dispose();
    const val = sets.val ? await trainer.evaluateAsync(sets.val.dataset) : null;
    log(`step ${trainer.step}: ${val ? `val loss ${val.loss.toFixed(4)}, val acc ${(100 * val.accuracy).toFixed(2)}% (${val.count} test images), ` : ''}samples ${file} (${(r.ms / r.labels.length).toFixed(0)} ms per image)`);
  };

  const budgetMs = args.minutes !== undefined ? args.minutes * 60_000 : Infinity;
  let stopReason: string | null = null;
  // Ctrl-C stops after the current step and saves. A terminal's Ctrl-C reaches this process twice under
  // `npm run` (once from the terminal, once relayed by tsx), so repeats within a second are the same press; a later
  // third press leaves without saving.
  let interrupts: number[] = [];
  const onSigint = () => {
    const now = performance.now();
    if (interrupts.length && now - interrupts.at(-1)! < 1000) return;
    interrupts = [...interrupts, now];
    if (interrupts.length === 1) console.error(`\n${name}: stopping after this step and saving (press Ctrl-C twice more to leave without saving)`);
    if (interrupts.length >= 3) process.exit(130);
    stopReason = 'interrupted';
  };
  process.on('SIGINT', onSigint);
  const bar = new cliProgress.SingleBar({
    format: `${name} step {value}/{total} |{bar}| loss {loss} | acc {acc} | {tps} tok/s | ETA {eta_formatted}`,
    noTTYOutput: true, notTTYSchedule: 30_000,
  }, cliProgress.Presets.shades_classic);
  bar.start(trainer.totalSteps, trainer.step, { loss: '-', acc: '-', tps: '-' });
  const window: Window = { results: [] };
  const timed: number[] = [];
  let stepMs = 0, slowest = 0, gridSeconds = -1;
  try {
    while (trainer.step < trainer.totalSteps) {
      const elapsed = performance.now() - started;
      if (elapsed + 1.5 * Math.max(stepMs, slowest * 0.75) + 1000 * (saveSeconds + 1) > budgetMs) { stopReason = `time budget of ${args.minutes} min`; break; }
      if (stopReason) break;
      const r = await trainer.trainStepAsync();
      stepMs = stepMs ? 0.9 * stepMs + 0.1 * r.ms : r.ms;
      slowest = Math.max(slowest * 0.98, r.ms);
      window.results.push(r);
      timed.push(r.ms);
      if (fitPending && timed.length > FIT_STEPS) {
        // median of this process's timed steps (the first, with its one-off costs, excluded)
        const sorted = timed.slice(1).sort((x, y) => x - y);
        const median = sorted[Math.floor(sorted.length / 2)]! / 1000;
        const gridShare = args.sampleEvery > 0 ? 12 / args.sampleEvery : 0; // a grid + validation pass ≈ 12 steps
        const fitted = Math.max(trainer.step + 1, warmup + 1, Math.floor((fitMinutes! * 60) / median / (1 + gridShare)));
        trainer.setTotalSteps(fitted);
        bar.setTotal(fitted);
        fitPending = false;
        log(`fit: ${median.toFixed(2)} s per step → ${fitted} steps for ${fitMinutes} min of training`);
      }
      bar.update(trainer.step, { loss: r.loss.toFixed(3), acc: `${(100 * r.accuracy).toFixed(1)}%`, tps: Math.round((r.tokens * 1000) / r.ms) });
      if (trainer.step % args.logEvery === 0 || trainer.step === trainer.totalSteps) {
        log(`step ${trainer.step}/${trainer.totalSteps}: ${summarize(window)} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
        window.results = [];
      }
      const gridDue = args.sampleEvery > 0 && (trainer.step % args.sampleEvery === 0 || trainer.step === trainer.totalSteps);
      // leave room for the grid within the budget: skip it (not the step) when it would not fit
      const gridGuess = gridSeconds >= 0 ? gridSeconds : (12 * stepMs) / 1000; // ~80 samples + the validation pass
      if (gridDue && performance.now() - started + 1000 * (gridGuess + saveSeconds + 1) < budgetMs) {
        const t = performance.now();
        await grid();
        gridSeconds = (performance.now() - t) / 1000;
      }
      if ((args.saveEvery > 0 && trainer.step % args.saveEvery === 0) || trainer.step === trainer.totalSteps) await save();
      await new Promise<void>((resolve) => setImmediate(resolve)); // lets SIGINT through between steps
    }
  } finally {
    bar.stop();
    process.removeListener('SIGINT', onSigint);
  }
  if (window.results.length) log(`step ${trainer.step}/${trainer.totalSteps}: ${summarize(window)} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  await save();
  const total = ((performance.now() - started) / 1000).toFixed(0);
  if (trainer.step >= trainer.totalSteps) log(`done: ${trainer.totalSteps} steps; wrote ${weightsPath} and ${statePath} (${total} s this run)`);
  else log(`stopped at step ${trainer.step}/${trainer.totalSteps} (${stopReason ?? 'stopped'}); saved ${weightsPath} and ${statePath}; continue with --resume (${total} s this run)`);
  // everything this run put on the device goes with it (a script may train several runs in one process)
  trainer.disposeRecordings();
  trainer.optimizer.dispose();
  model.dispose();
  if (encoder !== vae) encoder.dispose();
  vae.dispose();
}

// ---------------------------------------------------------------------------------------------------------------
// viar sample

/** `viar sample`: class-conditional samples of a VAR / VIAR checkpoint as one PNG grid (one row per class). */
export function sampleCommand(argv: string[]): void {
  const args = parseSampleArgs(argv);
  if (args.help) return void console.log(SAMPLE_HELP);
  if (args.threads !== undefined) setNumThreads(args.threads);
  const path = checkInputFile('viar sample', 'checkpoint', args.checkpoint ?? `checkpoints/${args.model}-${args.data}.safetensors`);
  if (args.out !== undefined) prepareOutputFile('viar sample', '--out', args.out);
  const { model, info } = loadTransformer(path, args.model ? { model: args.model } : {});
  try {
    sampleWith(args, path, model, info);
  } finally {
    model.dispose();
  }
}

function sampleWith(args: SampleArgs, path: string, model: NextScaleModel, info: TransformerCheckpointInfo): void {
  const recorded = args.data ?? info.metadata.data;
  if (recorded !== undefined && recorded !== 'mnist' && recorded !== 'fashion') throw new CliError(`${path} records data '${recorded.slice(0, 40)}'; pass --data mnist|fashion`);
  const data = recorded as DataName | undefined;
  const tokenizerPath = args.tokenizer ?? info.metadata.tokenizer ?? (data ? `checkpoints/tokenizer-${data}.safetensors` : undefined);
  if (!tokenizerPath) throw new CliError(`${path} does not record its tokenizer or data set; pass --tokenizer PATH or --data mnist|fashion`);
  const isViar = model instanceof VIAR;
  if (!isViar && (args.schedule !== undefined || args.tol !== undefined || args.implicitCache !== undefined)) throw new CliError(`viar sample: ${path} is a VAR checkpoint; --iters, --schedule, --schedule-list, --tol and --implicit-cache are for VIAR`);
  if (isViar && args.schedule !== undefined) {
    try {
      iterationSchedule(args.schedule, model.numScales, 'viar sample');
    } catch (err) {
      throw new CliError((err as Error).message);
    }
  }
  const n = model.config.numClasses;
  const bad = (args.classes ?? []).filter((k) => k >= n);
  if (bad.length) throw new CliError(`viar sample: --class ${bad.slice(0, 10).join(', ')} is out of range: the model has classes 0..${n - 1}`);
  const images = (args.classes?.length ?? n) * args.perClass;
  if (images > LIMITS.sampleImages) throw new CliError(`viar sample: ${images} images asked for (classes × --n); at most ${LIMITS.sampleImages}`);
  const file = prepareOutputFile('viar sample', '--out', args.out ?? join('out', `samples-${info.model}-${data ?? 'unknown'}.png`));
  const vae = loadTokenizer(tokenizerPath, data ?? 'mnist');
  let r: ReturnType<typeof sampleByClass>;
  try {
    checkTokenizerFit(model.config, vae.config, 'viar sample');
    if (info.metadata.tokenizerSha256 && fileFingerprint(tokenizerPath).sha256 !== info.metadata.tokenizerSha256) {
      console.warn(`warning: ${tokenizerPath} is not the tokenizer this model was trained with (its SHA-256 differs)`);
    }
    r = sampleByClass(model, vae, {
      ...(args.classes ? { classes: args.classes } : {}), perClass: args.perClass, cfg: args.cfg, topK: args.topK, topP: args.topP, seed: args.seed,
      ...(args.schedule !== undefined ? { iterSchedule: args.schedule } : {}), ...(args.tol !== undefined ? { earlyStopTol: args.tol } : {}),
      ...(args.implicitCache !== undefined ? { implicitCache: args.implicitCache } : {}),
    });
  } finally {
    vae.dispose();
  }
  try {
    savePng(file, imageGrid(r.images, { cols: args.perClass, scale: 2 }));
  } finally {
    r.images.dispose();
  }
  console.log(`${info.model.toUpperCase()} ${path} (step ${info.metadata.step ?? '?'}): ${r.labels.length} images in ${(r.ms / 1000).toFixed(2)} s, ` +
    `${(r.ms / r.labels.length).toFixed(1)} ms per image (${getNumThreads()} threads; cfg ${args.cfg}, top-k ${args.topK}, top-p ${args.topP}, seed ${args.seed})`);
  if (r.iterations) {
    const distinct = [...new Set(r.iterations.map((it) => it.join(', ')))];
    console.log(`implicit iterations per scale: ${distinct.map((d) => `[${d}]`).join(' / ')}`);
  }
  console.log(`wrote ${file}`);
}
