// ImageDataset: labelled images held in memory as typed arrays ([n, c, h, w] float32 pixels, int32 labels), with
// seeded stratified splits, subsets, and mini-batches turned into tensors lazily, with optional plain-TS augmentation.

import { tensor } from '../../tensor/creation.js';
import { Rng } from '../../tensor/random.js';
import { ArgumentError, ShapeError } from '../../tensor/errors.js';
import type { Tensor } from '../../tensor/tensor.js';

/** What an {@link ImageDataset} is built from. */
export interface ImageDatasetInit {
  /** Pixels, [count, channels, height, width] row-major. Taken as is (not copied). */
  images: Float32Array;
  /** One class index per image. Taken as is (not copied). */
  labels: Int32Array;
  channels: number;
  height: number;
  width: number;
  /** Names of the classes, indexed by label. */
  classNames?: string[];
  /** A short name of the source (e.g. 'mnist'), kept by split() and subset(). */
  name?: string;
  /** False for data a mirror image changes the meaning of (digits): batches() then refuses `flip`. Default true. */
  allowHorizontalFlip?: boolean;
}

/** Augmentation applied to each image of a batch, in plain TypeScript on the copied pixels. */
export interface AugmentOptions {
  /** Random translation by a whole number of pixels in [-translate, translate] along each axis, zero fill. */
  translate?: number;
  /** Mirror left-right with probability 1/2 (default false; refused for digits). */
  flip?: boolean;
}

export interface BatchOptions {
  /** Visit the images in a fresh random order each time the iterable is iterated (default false). */
  shuffle?: boolean;
  /**
   * The generator for shuffling and augmentation, required when either is on. An Rng keeps advancing, so each
   * epoch gets a new order; a number seeds a new Rng on every iteration, so every epoch repeats the same order.
   */
  rng?: Rng | number;
  /** Skip the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  augment?: AugmentOptions;
}

/** One mini-batch. The tensors are new: dispose them, or create the batch inside tidy(). */
export interface Batch {
  /** Pixels [b, c, h, w], float32. */
  x: Tensor;
  /** Labels [b], int32. */
  y: Tensor;
  /** The dataset indices of the batch's images, in batch order. */
  indices: Int32Array;
}

/** The batches of one pass; iterating again starts a new epoch (with a new order when shuffling with an Rng). */
export interface BatchIterable extends Iterable<Batch> {
  /** Number of batches per epoch. */
  readonly length: number;
}

export interface SplitOptions {
  /** Give every class the same share of the test set, up to rounding (default true). */
  stratify?: boolean;
}

/** A train/test partition. */
export interface Split {
  train: ImageDataset;
  test: ImageDataset;
}

function toRng(rng: Rng | number | undefined, op: string): Rng {
  if (rng instanceof Rng) return rng;
  if (typeof rng === 'number' && Number.isFinite(rng)) return new Rng(rng);
  throw new ArgumentError(op, 'needs an explicit Rng or a numeric seed as its rng');
}

/** Fisher–Yates shuffle in place, driven by `rng`. */
export function shuffleInPlace<T extends { length: number; [i: number]: number }>(items: T, rng: Rng): T {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    const t = items[i]!;
    items[i] = items[j]!;
    items[j] = t;
  }
  return items;
}

/**
 * Writes `src` ([c, h, w]) translated by (dx, dy) pixels into `dst` (same size): dst[y][x] = src[y − dy][x − dx],
 * zero where that falls outside. Positive dx moves content right, positive dy moves it down. With `flip`, the result
 * is also mirrored left-right. `src` and `dst` must not overlap.
 */
export function translateImage(src: Float32Array, dst: Float32Array, channels: number, height: number, width: number, dx: number, dy: number, flip = false): void {
  const plane = height * width;
  if (src.length < channels * plane || dst.length < channels * plane) {
    throw new ShapeError('translateImage', `buffers hold ${src.length} and ${dst.length} values, need ${channels * plane}`);
  }
  dst.fill(0, 0, channels * plane);
  const x0 = Math.max(0, dx), x1 = Math.min(width, width + dx); // destination columns with a source
  if (x1 <= x0) return;
  for (let c = 0; c < channels; c++) {
    const base = c * plane;
    for (let y = Math.max(0, dy); y < Math.min(height, height + dy); y++) {
      const drow = base + y * width, srow = base + (y - dy) * width;
      if (flip) {
        for (let x = x0; x < x1; x++) dst[drow + width - 1 - x] = src[srow + x - dx]!;
      } else {
        dst.set(src.subarray(srow + x0 - dx, srow + x1 - dx), drow + x0);
      }
    }
  }
}

/**
 * Labelled images in memory: `images` is [count, channels, height, width] float32 (row-major), `labels` int32.
 * Splits and subsets copy the selected images; batches copy into new tensors, one batch at a time.
 * @example
 * const { train, test } = dataset.split(0.2, 0);
 * for (const { x, y } of train.batches(128, { shuffle: true, rng, augment: { translate: 2 } })) {
 *   tidy(() => step(x, y)); dispose([x, y]);
 * }
 */
export class ImageDataset {
  images: Float32Array;
  labels: Int32Array;
  readonly count: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  classNames?: string[];
  name?: string;
  readonly allowHorizontalFlip: boolean;

  constructor(init: ImageDatasetInit) {
    const { images, labels, channels, height, width } = init;
    for (const [k, v] of [['channels', channels], ['height', height], ['width', width]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ArgumentError('ImageDataset', `${k} must be a positive integer, got ${v}`);
    }
    if (!(images instanceof Float32Array)) throw new ArgumentError('ImageDataset', 'images must be a Float32Array');
    if (!(labels instanceof Int32Array)) throw new ArgumentError('ImageDataset', 'labels must be an Int32Array');
    const per = channels * height * width;
    if (images.length !== labels.length * per) {
      throw new ShapeError('ImageDataset', `images hold ${images.length} values, but ${labels.length} labels × [${channels}, ${height}, ${width}] need ${labels.length * per}`);
    }
    this.images = images;
    this.labels = labels;
    this.count = labels.length;
    this.channels = channels;
    this.height = height;
    this.width = width;
    if (init.classNames) this.classNames = init.classNames;
    if (init.name !== undefined) this.name = init.name;
    this.allowHorizontalFlip = init.allowHorizontalFlip ?? true;
  }

  /** Values per image: channels × height × width. */
  get imageSize(): number {
    return this.channels * this.height * this.width;
  }

  /** Number of classes: classNames.length when given, else 1 + the largest label. */
  get numClasses(): number {
    if (this.classNames) return this.classNames.length;
    let max = -1;
    for (let i = 0; i < this.count; i++) if (this.labels[i]! > max) max = this.labels[i]!;
    return max + 1;
  }

  /** Image i's pixels [c, h, w], a view into `images` (not a copy). */
  image(i: number): Float32Array {
    this.checkIndex(i, 'ImageDataset.image');
    const n = this.imageSize;
    return this.images.subarray(i * n, (i + 1) * n);
  }

  /** How many images each class has, indexed by label. */
  classCounts(): number[] {
    const counts = new Array<number>(this.numClasses).fill(0);
    for (let i = 0; i < this.count; i++) counts[this.labels[i]!] = (counts[this.labels[i]!] ?? 0) + 1;
    return counts;
  }

  /** A new dataset of the images at `indices`, in that order (pixels and labels copied; repeats allowed). */
  subset(indices: ArrayLike<number>): ImageDataset {
    const n = this.imageSize;
    const images = new Float32Array(indices.length * n);
    const labels = new Int32Array(indices.length);
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k]!;
      this.checkIndex(i, 'ImageDataset.subset');
      images.set(this.images.subarray(i * n, (i + 1) * n), k * n);
      labels[k] = this.labels[i]!;
    }
    return this.derive(images, labels);
  }

  /** The disjoint index sets a {@link split} with the same arguments uses, each in increasing order. */
  splitIndices(test: number, rng: Rng | number, opts: SplitOptions = {}): { train: Int32Array; test: Int32Array } {
    const op = 'ImageDataset.split';
    const r = toRng(rng, op);
    let testCount: number;
    if (test > 0 && test < 1) testCount = Math.round(test * this.count);
    else if (Number.isInteger(test) && test >= 0 && test <= this.count) testCount = test;
    else throw new ArgumentError(op, `test must be a fraction in (0, 1) or a count in [0, ${this.count}], got ${test}`);

    const isTest = new Uint8Array(this.count);
    if (opts.stratify ?? true) {
      // Group indices by class, give class k round(testCount·n_k/n) test images (largest remainders make the total
      // exact), and pick them with a seeded shuffle inside each class.
      const groups = new Map<number, number[]>();
      for (let i = 0; i < this.count; i++) {
        const l = this.labels[i]!;
        let g = groups.get(l);
        if (!g) groups.set(l, (g = []));
        g.push(i);
      }
      const classes = [...groups.keys()].sort((a, b) => a - b);
      const quota = classes.map((c) => (testCount * groups.get(c)!.length) / this.count);
      const take = quota.map(Math.floor);
      let left = testCount - take.reduce((a, b) => a + b, 0);
      const byRemainder = classes.map((_, k) => k).sort((a, b) => quota[b]! - take[b]! - (quota[a]! - take[a]!) || a - b);
      for (const k of byRemainder) {
        if (left === 0) break;
        take[k]!++;
        left--;
      }
      classes.forEach((c, k) => {
        const members = shuffleInPlace(groups.get(c)!, r);
        for (let j = 0; j < take[k]!; j++) isTest[members[j]!] = 1;
      });
    } else {
      const order = shuffleInPlace(Int32Array.from({ length: this.count }, (_, i) => i), r);
      for (let j = 0; j < testCount; j++) isTest[order[j]!] = 1;
    }
    const trainIdx = new Int32Array(this.count - testCount), testIdx = new Int32Array(testCount);
    for (let i = 0, a = 0, b = 0; i < this.count; i++) {
      if (isTest[i]) testIdx[b++] = i;
      else trainIdx[a++] = i;
    }
    return { train: trainIdx, test: testIdx };
  }

  /**
   * Splits into disjoint train and test sets: `test` is a fraction in (0, 1) (rounded to a count) or a count.
   * Seeded by `rng` (an Rng, which is advanced, or a seed); stratified by label unless `stratify: false`.
   * Both parts keep the images' original relative order.
   * @example const { train, test } = digits.split(2000, 7);
   */
  split(test: number, rng: Rng | number, opts: SplitOptions = {}): Split {
    const idx = this.splitIndices(test, rng, opts);
    return { train: this.subset(idx.train), test: this.subset(idx.test) };
  }

  /**
   * Mini-batches of `batchSize` images, as an iterable that can be iterated once per epoch. Each batch's tensors
   * are created when the iterator reaches it; the caller owns them (dispose them, or work inside tidy()).
   * Every index appears exactly once per epoch (except the dropped tail with `dropLast`).
   */
  batches(batchSize: number, opts: BatchOptions = {}): BatchIterable {
    const op = 'ImageDataset.batches';
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new ArgumentError(op, `batchSize must be a positive integer, got ${batchSize}`);
    const augment = opts.augment;
    const translate = augment?.translate ?? 0;
    const flip = augment?.flip ?? false;
    if (!Number.isInteger(translate) || translate < 0) throw new ArgumentError(op, `augment.translate must be a non-negative integer, got ${translate}`);
    if (flip && !this.allowHorizontalFlip) {
      throw new ArgumentError(op, `augment.flip is refused for ${this.name ?? 'this dataset'}: a mirrored image changes its class`);
    }
    const augmenting = translate > 0 || flip;
    if ((opts.shuffle || augmenting) && opts.rng === undefined) {
      throw new ArgumentError(op, 'shuffle and augment need an explicit rng (an Rng, or a seed)');
    }
    const dropLast = opts.dropLast ?? false;
    const length = dropLast ? Math.floor(this.count / batchSize) : Math.ceil(this.count / batchSize);
    const { channels, height, width } = this;
    const dataset = this;

    function* epoch(): Generator<Batch> {
      const rng = opts.shuffle || augmenting ? toRng(opts.rng, op) : null;
      const order = Int32Array.from({ length: dataset.count }, (_, i) => i);
      if (opts.shuffle) shuffleInPlace(order, rng!);
      const augRng = augmenting ? rng!.fork() : null;
      const n = dataset.imageSize;
      for (let b = 0; b < length; b++) {
        const indices = order.slice(b * batchSize, Math.min((b + 1) * batchSize, dataset.count));
        const x = new Float32Array(indices.length * n);
        const y = new Int32Array(indices.length);
        for (let k = 0; k < indices.length; k++) {
          const i = indices[k]!;
          const src = dataset.images.subarray(i * n, (i + 1) * n);
          if (augRng) {
            const dx = translate ? augRng.int(-translate, translate + 1) : 0;
            const dy = translate ? augRng.int(-translate, translate + 1) : 0;
            const mirror = flip && augRng.uniform() < 0.5;
            translateImage(src, x.subarray(k * n, (k + 1) * n), channels, height, width, dx, dy, mirror);
          } else {
            x.set(src, k * n);
          }
          y[k] = dataset.labels[i]!;
        }
        yield {
          x: tensor(x, { shape: [indices.length, channels, height, width], dtype: 'float32' }),
          y: tensor(y, { shape: [indices.length], dtype: 'int32' }),
          indices,
        };
      }
    }
    return { length, [Symbol.iterator]: epoch };
  }

  /**
   * The whole set as tensors: x [count, c, h, w] float32 and y [count] int32. Refuses sets above `maxBytes` of
   * pixels (default 256 MiB), where batches() is the way.
   */
  toTensor(opts: { maxBytes?: number } = {}): { x: Tensor; y: Tensor } {
    const maxBytes = opts.maxBytes ?? 256 * 2 ** 20;
    if (this.images.byteLength > maxBytes) {
      throw new ArgumentError('ImageDataset.toTensor', `the pixels take ${this.images.byteLength} bytes, above maxBytes ${maxBytes}; use batches() or raise maxBytes`);
    }
    return {
      x: tensor(this.images, { shape: [this.count, this.channels, this.height, this.width], dtype: 'float32' }),
      y: tensor(this.labels, { shape: [this.count], dtype: 'int32' }),
    };
  }

  private derive(images: Float32Array, labels: Int32Array): ImageDataset {
    const init: ImageDatasetInit = {
      images, labels, channels: this.channels, height: this.height, width: this.width,
      allowHorizontalFlip: this.allowHorizontalFlip,
    };
    if (this.classNames) init.classNames = this.classNames;
    if (this.name !== undefined) init.name = this.name;
    return new ImageDataset(init);
  }

  private checkIndex(i: number, op: string): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new ArgumentError(op, `index ${i} is out of range for ${this.count} images`);
  }
}
