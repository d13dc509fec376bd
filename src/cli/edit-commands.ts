// `viar inpaint` and `viar edit`: zero-shot inpainting / outpainting and class editing of test-set images with a
// VAR or VIAR checkpoint, written as a before | masked | after PNG grid; plus the checkpoint loaders they use.
// Usage: inpaintCommand(['--checkpoint', 'checkpoints/var-mnist.safetensors', '--mask', 'center'])

import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { CliError } from './transformer-commands.js';
import {
  Rng, tidy, noGrad, keep, dispose, concat, mul, sub, slice, loadMnist, loadFashionMnist, standardSplit, loadSafetensors,
  imageGrid, savePng, setNumThreads, VQVAE, VAR, VIAR, OFFICIAL_IMPLICIT, varConfig, viarConfig, editMask, inpaint, editClass,
  type EditOptions, type EditResult, type Tensor, type VarConfig, type ViarConfig, type VqvaeConfig,
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
 * The weights must fit the rebuilt model exactly. Returns the model in evaluation mode.
 */
export function loadNextScaleModel(path: string): { model: VAR | VIAR; kind: Kind; metadata: Record<string, string> } {
  if (!existsSync(path)) throw new CliError(`loadNextScaleModel: no checkpoint at ${path}`);
  const { tensors, metadata } = loadSafetensors(path);
  try {
    const kind = metadata.model;
    if (kind !== 'var' && kind !== 'viar') {
      throw new CliError(`loadNextScaleModel: ${path} must record model = 'var' or 'viar' in its metadata, got ${kind === undefined ? 'none' : `'${kind}'`}`);
    }
    if (!metadata.config) throw new CliError(`loadNextScaleModel: ${path} does not record its model config (metadata 'config')`);
    const saved = JSON.parse(metadata.config) as Partial<ViarConfig>;
    if (!Number.isInteger(saved.depth)) throw new CliError(`loadNextScaleModel: the config in ${path} has no integer 'depth'`);
    const base = varConfig(saved.depth!);
    let model: VAR | VIAR;
    if (kind === 'var') {
      model = new VAR({ ...base, ...saved } as VarConfig, { rng: new Rng(0) });
    } else {
      const config = { ...viarConfig(), ...base, ...saved, implicit: { ...OFFICIAL_IMPLICIT, ...saved.implicit } } as ViarConfig;
      model = new VIAR(config, { rng: new Rng(0) });
    }
    model.loadStateDict(tensors);
    return { model: model.eval(), kind, metadata };
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** Loads a tokenizer checkpoint, rebuilding the VQVAE from the config recorded in its metadata (evaluation mode). */
export function loadTokenizerCheckpoint(path: string): VQVAE {
  if (!existsSync(path)) throw new CliError(`no tokenizer at ${path}; train one with: npm run viar -- train-tokenizer`);
  const { tensors, metadata } = loadSafetensors(path);
  try {
    if (!metadata.config) throw new CliError(`${path} does not record its tokenizer config (metadata 'config')`);
    const vae = new VQVAE(JSON.parse(metadata.config) as VqvaeConfig, new Rng(0));
    vae.loadStateDict(tensors);
    return vae.eval();
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

const OPTIONS = {
  checkpoint: { type: 'string' }, tokenizer: { type: 'string' }, data: { type: 'string' },
  index: { type: 'string' }, count: { type: 'string' }, mask: { type: 'string', default: 'center' },
  seed: { type: 'string', default: '0' }, cfg: { type: 'string' }, 'top-k': { type: 'string', default: '0' },
  'top-p': { type: 'string', default: '0' }, greedy: { type: 'boolean', default: false }, 'more-smooth': { type: 'boolean', default: false },
  threshold: { type: 'string', default: '0.5' }, 'keep-coarse': { type: 'string', default: '3' }, iters: { type: 'string' },
  unconditional: { type: 'boolean', default: false }, out: { type: 'string' }, help: { type: 'boolean', default: false },
  'to-class': { type: 'string' }, threads: { type: 'string' },
} as const;

const parse = (argv: string[]) => parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }).values;
type Values = ReturnType<typeof parse>;

function number(value: string | undefined, flag: string, check: (n: number) => boolean = Number.isFinite): number {
  const n = Number(value);
  if (value === undefined || value.trim() === '' || !check(n)) throw new CliError(`--${flag} must be a valid number, got '${value}'`);
  return n;
}

const isCount = (n: number) => Number.isInteger(n) && n >= 0;

/** The test images the command edits: [n, C, H, W] in [−1, 1], their labels and test-set indices. */
function testImages(a: Values, data: string): { images: Tensor; labels: number[]; picked: number[] } {
  if (data !== 'mnist' && data !== 'fashion') throw new CliError(`--data must be mnist or fashion, got ${data}`);
  if (a.index !== undefined && a.count !== undefined) throw new CliError('--index and --count are exclusive');
  const { test } = standardSplit(data === 'mnist' ? loadMnist() : loadFashionMnist());
  let picked: number[];
  if (a.index !== undefined) {
    const i = number(a.index, 'index', isCount);
    if (i >= test.count) throw new CliError(`--index must be below ${test.count} (the ${data} test set), got ${i}`);
    picked = [i];
  } else {
    const n = number(a.count ?? '8', 'count', (v) => isCount(v) && v >= 1 && v <= test.count);
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

function samplingOptions(a: Values, kind: Kind, cfgDefault: number): EditOptions {
  const threshold = a.threshold === 'any' || a.threshold === 'all' ? a.threshold : number(a.threshold, 'threshold');
  const opts: EditOptions = {
    seed: number(a.seed, 'seed', Number.isInteger), cfg: a.cfg === undefined ? cfgDefault : number(a.cfg, 'cfg'),
    topK: number(a['top-k'], 'top-k', isCount), topP: number(a['top-p'], 'top-p'), greedy: a.greedy!, moreSmooth: a['more-smooth']!,
    threshold, keepCoarse: number(a['keep-coarse'], 'keep-coarse', isCount),
  };
  if (a.iters !== undefined) {
    if (kind !== 'viar') throw new CliError('--iters is for VIAR checkpoints; this one is a VAR');
    const parts = a.iters.split(',').map((s) => number(s, 'iters', isCount));
    opts.iterSchedule = parts.length === 1 ? parts[0]! : parts;
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
function editAndReport(a: Values, run: EditRun): void {
  const { mode, model, kind, vqvae, images, labels, data, out } = run;
  const opts = samplingOptions(a, kind, mode === 'edit' ? 3 : 1.5);
  const [b, c, h, w] = images.shape as [number, number, number, number];
  const toClass = mode === 'edit' ? number(a['to-class'], 'to-class', isCount) : null;
  const start = performance.now();
  const mask = editMask(a.mask!, h, w);
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
  const a = parse(argv);
  if (a.help) {
    console.log(HELP);
    return;
  }
  if (a.threads !== undefined) setNumThreads(number(a.threads, 'threads', (n) => Number.isInteger(n) && n >= 1));
  if (!a.checkpoint) throw new CliError(`viar ${mode}: --checkpoint PATH is required (a VAR/VIAR checkpoint; see --help)`);
  if (mode === 'inpaint' && a['to-class'] !== undefined) throw new CliError('viar inpaint: --to-class belongs to viar edit');
  if (mode === 'edit' && a['to-class'] === undefined) throw new CliError('viar edit: --to-class c is required (the class to edit towards)');
  const { model, kind, metadata } = loadNextScaleModel(a.checkpoint);
  let vqvae: VQVAE | null = null;
  let images: Tensor | null = null;
  try {
    // data set and tokenizer: the flags, else what the checkpoint records (the training CLI writes data and tokenizer)
    const data = a.data ?? metadata.data ?? 'mnist';
    const tokenizerPath = a.tokenizer ?? metadata.tokenizer ?? `checkpoints/tokenizer-${data}.safetensors`;
    vqvae = loadTokenizerCheckpoint(tokenizerPath);
    const picked = testImages(a, data);
    images = picked.images;
    editAndReport(a, {
      mode, model, kind, vqvae, images, labels: picked.labels, picked: picked.picked, data,
      checkpoint: a.checkpoint, tokenizerPath, out: a.out ?? `out/${mode}-${data}.png`,
    });
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
