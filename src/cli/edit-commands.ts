// `viar inpaint` and `viar edit`: zero-shot inpainting / outpainting and class editing of test-set images with a
// VAR or VIAR checkpoint, written as a before | masked | after PNG grid; plus the checkpoint loaders they use.
// Usage: inpaintCommand(['--checkpoint', 'checkpoints/var-mnist.safetensors', '--mask', 'center'])

import { CliError, SAMPLER_OPTIONS } from './transformer-commands.js';
import { LIMITS, checkInputFile, choice, flag, int, ints, num, parseOptions, prepareOutputFile, seed, text, threads, type Parsed } from './options.js';
import {
  tidy, noGrad, keep, dispose, concat, mul, sub, slice, loadMnist, loadFashionMnist, standardSplit, loadTransformer, loadVqvae,
  readSafetensorsMetadata, imageGrid, savePng, setNumThreads, editMask, inpaint, editClass,
  type EditOptions, type EditResult, type Tensor, type VAR, type VIAR, type VQVAE,
} from '../index.js';

const HELP = `viar inpaint — regenerate a masked region of test images (zero-shot, VAR's per-scale teacher forcing):
  --checkpoint PATH   VAR/VIAR checkpoint (safetensors whose metadata holds model = var|viar and config = JSON)
  --tokenizer PATH    VQVAE checkpoint (default: the checkpoint's metadata 'tokenizer', else checkpoints/tokenizer-<data>.safetensors)
  --data mnist|fashion                     test split of the data set (default: the checkpoint's, else mnist)
  --index i | --count n                    one test image, or n evenly spaced ones (default --count 8)
  --mask center|left|right|top|bottom|border|box:x0,y0,x1,y1   region to regenerate, in pixels (default center)
  --seed 0  --cfg 1.5  --top-k 0  --top-p 0  --greedy  --more-smooth
  --threshold 0.5     a token is regenerated when this fraction of its pixels is masked ('any', 'all' or a number)
  --keep-coarse 3     scales with at most this many tokens always keep the source tokens (official 3; 0 = off)
  --iters N|a,b,..    VIAR only: implicit iterations per scale
  --unconditional     condition on the null class instead of each image's label
  --threads T         CPU threads of the kernels
  --out out/inpaint-<data>.png
viar edit — the same, but regenerates the region conditioned on another class:
  ... --to-class c [--cfg 3] [--out out/edit-<data>.png]`;

type Kind = 'var' | 'viar';

/**
 * Loads a VAR or VIAR checkpoint: a safetensors file whose metadata holds `model` ('var' | 'viar') and `config` (the
 * VarConfig / ViarConfig as JSON; missing fields take varConfig(depth) / viarConfig defaults, so `depth` is needed).
 * The config is validated and checked against the file's tensors before the model is built (loadTransformer); the
 * weights must fit the rebuilt model exactly. Returns the model in evaluation mode.
 */
export function loadNextScaleModel(path: string): { model: VAR | VIAR; kind: Kind; metadata: Record<string, string> } {
  checkInputFile('loadNextScaleModel', 'checkpoint', path);
  const kind = readSafetensorsMetadata(path).model;
  if (kind !== 'var' && kind !== 'viar') {
    throw new CliError(`loadNextScaleModel: ${path} must record model = 'var' or 'viar' in its metadata, got ${kind === undefined ? 'none' : `'${kind.slice(0, 40)}'`}`);
  }
  const { model, info } = loadTransformer(path, { model: kind, fillDefaults: true });
  return { model, kind, metadata: info.metadata };
}

/** Loads a tokenizer checkpoint (loadVqvae: its recorded config validated first), in evaluation mode. */
export function loadTokenizerCheckpoint(path: string): VQVAE {
  checkInputFile('viar', 'tokenizer', path, '; train one with: npm run viar -- train-tokenizer');
  return loadVqvae(path).vae;
}

const OPTIONS = {
  checkpoint: text, tokenizer: text, data: choice('mnist', 'fashion'), index: int(0, LIMITS.images), count: int(1, LIMITS.gridImages), mask: text,
  seed: seed(), cfg: SAMPLER_OPTIONS.cfg, 'top-k': SAMPLER_OPTIONS['top-k'], 'top-p': SAMPLER_OPTIONS['top-p'], greedy: flag, 'more-smooth': flag,
  threshold: text, 'keep-coarse': int(0, LIMITS.iterations), iters: ints(0, LIMITS.iterations, 64), unconditional: flag, out: text, help: flag,
  'to-class': int(0, LIMITS.classes), threads,
} as const;

type Values = Parsed<typeof OPTIONS>;

/** The test images the command edits: [n, C, H, W] in [−1, 1], their labels and test-set indices. */
function testImages(label: string, a: Values, data: 'mnist' | 'fashion'): { images: Tensor; labels: number[]; picked: number[] } {
  if (a.index !== undefined && a.count !== undefined) throw new CliError(`${label}: --index and --count are exclusive`);
  const { test } = standardSplit(data === 'mnist' ? loadMnist() : loadFashionMnist());
  let picked: number[];
  if (a.index !== undefined) {
    if (a.index >= test.count) throw new CliError(`${label}: --index must be below ${test.count} (the ${data} test set), got ${a.index}`);
    picked = [a.index];
  } else {
    const n = Math.min(a.count ?? 8, test.count);
    picked = Array.from({ length: n }, (_, i) => Math.floor((i * test.count) / n));
  }
  const subset = test.subset(picked);
  const { x, y } = subset.toTensor();
  const images = tidy(() => keep(sub(mul(x, 2), 1)));
  const labels = Array.from(y.dataSync());
  x.dispose();
  y.dispose();
  return { images, labels, picked };
}

function samplingOptions(label: string, a: Values, kind: Kind, cfgDefault: number): EditOptions {
  const t = a.threshold ?? '0.5';
  const threshold = t === 'any' || t === 'all' ? t : parseOptions(label, ['--threshold', t], { threshold: num((n) => n > 0 && n <= 1, "a number in (0, 1], 'any' or 'all'") }).threshold!;
  const opts: EditOptions = {
    seed: a.seed ?? 0, cfg: a.cfg ?? cfgDefault, topK: a['top-k'] ?? 0, topP: a['top-p'] ?? 0, greedy: a.greedy === true, moreSmooth: a['more-smooth'] === true,
    threshold, keepCoarse: a['keep-coarse'] ?? 3,
  };
  if (a.iters !== undefined) {
    if (kind !== 'viar') throw new CliError(`${label}: --iters is for VIAR checkpoints; this one is a VAR`);
    opts.iterSchedule = a.iters.length === 1 ? a.iters[0]! : a.iters;
  }
  return opts;
}

interface EditRun {
  mode: 'inpaint' | 'edit';
  model: VAR | VIAR;
  kind: Kind;
  vqvae: VQVAE;
  images: Tensor;
  labels: number[];
  picked: number[];
  data: string;
  checkpoint: string;
  tokenizerPath: string;
  out: string;
}

/** Runs one edit, writes the before | masked | after grid and prints what it did. */
function editAndReport(a: Values, run: EditRun, opts: EditOptions): void {
  const { mode, model, kind, vqvae, images, labels, data, out } = run;
  const [b, c, h, w] = images.shape as [number, number, number, number];
  const toClass = mode === 'edit' ? a['to-class']! : null;
  const start = performance.now();
  const mask = editMask(a.mask ?? 'center', h, w);
  try {
    const result: EditResult = toClass !== null
      ? editClass(model, vqvae, images, mask, toClass, opts)
      : inpaint(model, vqvae, images, mask, { ...opts, labels: a.unconditional ? -1 : labels });
    const seconds = (performance.now() - start) / 1000;
    tidy(() => {
      // rows: one image each; columns: source, source with the region greyed out, result (all in [−1, 1])
      const masked = mul(images, sub(1, mask)); // grey (0) where regenerated
      const after = sub(mul(result.image, 2), 1);
      const tiles: Tensor[] = [];
      for (let i = 0; i < b; i++) for (const t of [images, masked, after]) tiles.push(slice(t, [[i, i + 1]]));
      savePng(out, imageGrid(concat(tiles, 0), { cols: 3, scale: 3 }));
    });
    const pixels = Array.from(mask.dataSync()).reduce((sum, v) => sum + v, 0);
    const perScale = result.masks.map((m) => `${m.side}×${m.side} ${m.count / b}/${m.side * m.side}`).join(', ');
    const cond = toClass !== null ? `class ${toClass}` : a.unconditional ? 'the null class' : `each image's own class`;
    const viarNote = result.iterations ? `, implicit iterations per scale [${result.iterations.join(', ')}]` : '';
    console.log(`viar ${mode}: ${kind.toUpperCase()} (${model.describe()}) from ${run.checkpoint}, tokenizer ${run.tokenizerPath} (${c}×${h}×${w})`);
    console.log(`${data} test images [${run.picked.join(', ')}] (labels ${labels.join(', ')})`);
    console.log(`mask '${a.mask}': ${pixels} of ${h * w} pixels; tokens regenerated per scale (per image): ${perScale}`);
    console.log(`sampled (conditioned on ${cond}) with seed ${opts.seed}, cfg ${opts.cfg}, top-k ${opts.topK}, top-p ${opts.topP}${opts.greedy ? ', greedy' : ''}${viarNote} in ${seconds.toFixed(1)} s`);
    console.log(`wrote ${out} (rows: images; columns: before | masked | after)`);
    dispose(result);
  } finally {
    mask.dispose();
  }
}

function runCommand(argv: string[], mode: 'inpaint' | 'edit'): void {
  const label = `viar ${mode}`;
  const a = parseOptions(label, argv, OPTIONS);
  if (a.help) {
    console.log(HELP);
    return;
  }
  if (a.threads !== undefined) setNumThreads(a.threads);
  if (!a.checkpoint) throw new CliError(`${label}: --checkpoint PATH is required (a VAR/VIAR checkpoint; see --help)`);
  if (mode === 'inpaint' && a['to-class'] !== undefined) throw new CliError('viar inpaint: --to-class belongs to viar edit');
  if (mode === 'edit' && a['to-class'] === undefined) throw new CliError('viar edit: --to-class c is required (the class to edit towards)');
  checkInputFile(label, 'checkpoint', a.checkpoint);
  const { model, kind, metadata } = loadNextScaleModel(a.checkpoint);
  let vqvae: VQVAE | null = null;
  let images: Tensor | null = null;
  try {
    // data set and tokenizer: the flags, else what the checkpoint records (the training CLI writes data and tokenizer)
    const recorded = a.data ?? metadata.data ?? 'mnist';
    if (recorded !== 'mnist' && recorded !== 'fashion') throw new CliError(`${label}: ${a.checkpoint} records data '${recorded.slice(0, 40)}'; pass --data mnist|fashion`);
    const data: 'mnist' | 'fashion' = recorded;
    const opts = samplingOptions(label, a, kind, mode === 'edit' ? 3 : 1.5);
    if (a['to-class'] !== undefined && a['to-class'] >= model.config.numClasses) throw new CliError(`${label}: --to-class must be below ${model.config.numClasses} (the model's classes), got ${a['to-class']}`);
    const out = prepareOutputFile(label, '--out', a.out ?? `out/${mode}-${data}.png`);
    const tokenizerPath = a.tokenizer ?? metadata.tokenizer ?? `checkpoints/tokenizer-${data}.safetensors`;
    vqvae = loadTokenizerCheckpoint(tokenizerPath);
    const picked = testImages(label, a, data);
    images = picked.images;
    editAndReport(a, {
      mode, model, kind, vqvae, images, labels: picked.labels, picked: picked.picked, data, checkpoint: a.checkpoint, tokenizerPath, out,
    }, opts);
  } finally {
    images?.dispose();
    vqvae?.dispose();
    model.dispose();
  }
}

/**
 * `viar inpaint --checkpoint PATH [--tokenizer PATH] [--data mnist|fashion] [--index i | --count n] [--mask …]
 * [--seed] [--cfg] [--out file.png]`: regenerates the masked region of test images (conditioned on each image's
 * label, or the null class with --unconditional; --mask border outpaints) and writes a before | masked | after grid.
 */
export function inpaintCommand(argv: string[]): void {
  noGrad(() => runCommand(argv, 'inpaint'));
}

/** `viar edit … --to-class c`: as inpaint, but the masked region is regenerated conditioned on class c (cfg 3 by default). */
export function editCommand(argv: string[]): void {
  noGrad(() => runCommand(argv, 'edit'));
}
