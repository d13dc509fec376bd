// The data module: MNIST / Fashion-MNIST loading (counts, ranges, padding, class balance, mean images), fixed
// splits, ImageDataset splits and batches (each index once per epoch), and seeded translation/flip augmentation.

import { beforeAll, describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import {
  ImageDataset, loadMnist, loadFashionMnist, standardSplit, standardSplitIndices, translateImage, mnistLoadTimes,
  FASHION_CLASS_NAMES, type Batch,
} from '../../src/nn/data/index.js';

/** Sum of an image region [y0, y1) × [x0, x1) for image i of a 1-channel dataset. */
function regionSum(ds: ImageDataset, i: number, y0: number, y1: number, x0: number, x1: number): number {
  const img = ds.image(i);
  let s = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) s += img[y * ds.width + x]!;
  return s;
}

/** Elementwise equality (expect().toEqual is slow on large typed arrays). */
function sameArray(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}

/** Mean image of class `label`, as a Float64Array [h·w]. */
function classMean(ds: ImageDataset, label: number): Float64Array {
  const out = new Float64Array(ds.imageSize);
  let n = 0;
  for (let i = 0; i < ds.count; i++) {
    if (ds.labels[i] !== label) continue;
    const img = ds.image(i);
    for (let p = 0; p < out.length; p++) out[p]! += img[p]!;
    n++;
  }
  return out.map((v) => v / n);
}

function checkRangeAndBorder(ds: ImageDataset, border: number): void {
  let min = Infinity, max = -Infinity, borderInk = 0;
  for (let i = 0; i < ds.images.length; i++) {
    const v = ds.images[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    const p = i % ds.imageSize, y = Math.floor(p / ds.width), x = p % ds.width;
    if (y < border || y >= ds.height - border || x < border || x >= ds.width - border) borderInk += Math.abs(v);
  }
  expect(min).toBe(0);
  expect(max).toBeLessThanOrEqual(1);
  expect(max).toBeGreaterThan(0.99);
  expect(borderInk).toBe(0);
}

/** A small synthetic dataset: image i is filled with i + pixel/100, label i % 3. */
function synthetic(n: number, c = 1, h = 3, w = 4): ImageDataset {
  const size = c * h * w;
  const images = new Float32Array(n * size).map((_, k) => Math.floor(k / size) + (k % size) / 100);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
  return new ImageDataset({ images, labels, channels: c, height: h, width: w, classNames: ['a', 'b', 'c'] });
}

/** Iterates one epoch, disposing the tensors, and returns the batches' indices and sizes. */
function epoch(it: Iterable<Batch>): { indices: number[]; sizes: number[] } {
  const indices: number[] = [], sizes: number[] = [];
  for (const b of it) {
    indices.push(...b.indices);
    sizes.push(b.indices.length);
    V.dispose([b.x, b.y]);
  }
  return { indices, sizes };
}

describe('mnist', () => {
  let digits: ImageDataset;
  beforeAll(() => {
    digits = loadMnist();
  });

  test('10,000 digits, 1×32×32, in [0, 1], 2-pixel zero border, balanced labels', () => {
    expect(digits.count).toBe(10_000);
    expect([digits.channels, digits.height, digits.width]).toEqual([1, 32, 32]);
    expect(digits.images.length).toBe(10_000 * 32 * 32);
    expect(digits.name).toBe('mnist');
    expect(digits.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    checkRangeAndBorder(digits, 2);
    const counts = digits.classCounts();
    expect(sum(counts)).toBe(10_000);
    for (const c of counts) expect(c).toBeGreaterThan(800), expect(c).toBeLessThan(1200);
    // the padding does not cut ink: the 28×28 interior keeps it all, every image has some
    for (const i of [0, 1234, 9999]) expect(regionSum(digits, i, 2, 30, 2, 30)).toBeGreaterThan(10);
    expect(mnistLoadTimes().mnist).toBeGreaterThan(0);
  });

  test('28×28 is the padded interior; bilinear 32×32 keeps range and mass', () => {
    const small = loadMnist({ size: 28 });
    expect([small.height, small.width, small.count]).toEqual([28, 28, 10_000]);
    expect(Array.from(small.labels)).toEqual(Array.from(digits.labels));
    for (const i of [0, 5000, 9999]) {
      for (let y = 0; y < 28; y++) {
        for (let x = 0; x < 28; x++) expect(small.image(i)[y * 28 + x]).toBe(digits.image(i)[(y + 2) * 32 + x + 2]);
      }
    }
    const smooth = loadMnist({ resize: 'bilinear' });
    expect([smooth.height, smooth.width]).toEqual([32, 32]);
    let min = Infinity, max = -Infinity;
    for (const v of smooth.images) (min = Math.min(min, v)), (max = Math.max(max, v));
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThanOrEqual(1);
    const ratio = sum(smooth.images) / sum(small.images); // area scale (32/28)² ≈ 1.306
    expect(ratio).toBeGreaterThan(1.2);
    expect(ratio).toBeLessThan(1.4);
    // each load returns fresh arrays: modifying one does not reach the next
    small.images[300] = 7;
    expect(loadMnist({ size: 28 }).images[300]).not.toBe(7);
  });

  test("mean images: '1' has ink in its centre column and none at the border; '0' has more ink than '1'", () => {
    const one = classMean(digits, 1), zero = classMean(digits, 0);
    let centre = 0, edge = 0;
    for (let y = 0; y < 32; y++) (centre += one[y * 32 + 16]!), (edge += one[y * 32 + 4]! + one[y * 32 + 27]!);
    expect(centre).toBeGreaterThan(5);
    expect(centre).toBeGreaterThan(10 * edge);
    expect(sum(zero)).toBeGreaterThan(1.5 * sum(one));
    // '0' is a ring: its centre pixel is darker than the ring at the same row
    expect(zero[16 * 32 + 16]!).toBeLessThan(0.5 * Math.max(zero[16 * 32 + 10]!, zero[16 * 32 + 22]!));
  });

  test('standardSplit: 8,000 / 2,000, stratified, disjoint, deterministic, the same at every size', () => {
    const idx = standardSplitIndices(digits);
    expect(idx.train.length).toBe(8_000);
    expect(idx.test.length).toBe(2_000);
    const seen = new Uint8Array(10_000);
    for (const i of [...idx.train, ...idx.test]) seen[i]!++;
    expect(seen.every((v) => v === 1)).toBe(true);
    const { train, test: held } = standardSplit(digits);
    expect([train.count, held.count]).toEqual([8_000, 2_000]);
    expect(Array.from(held.labels)).toEqual(Array.from(idx.test, (i) => digits.labels[i]));
    expect(held.image(7)).toEqual(digits.image(idx.test[7]!));
    const counts = held.classCounts(), all = digits.classCounts();
    counts.forEach((c, k) => expect(Math.abs(c - all[k]! / 5)).toBeLessThanOrEqual(1));
    // deterministic, and independent of size/resize
    const again = standardSplitIndices(loadMnist({ size: 28 }), 'mnist');
    expect(Array.from(again.test)).toEqual(Array.from(idx.test));
    expect(sameArray(standardSplit(digits).test.images, held.images)).toBe(true);
    expect(() => standardSplit(train)).toThrow(/10000 images, the dataset has 8000/);
    expect(held.name).toBe('mnist');
  });

  test('horizontal flips are refused for digits', () => {
    expect(() => digits.batches(8, { rng: 0, augment: { flip: true } })).toThrow(/flip is refused for mnist/);
  });

  test('translation augmentation keeps shape and mass and is one shift within ±k per image, seeded', () => {
    const sub = digits.subset(Int32Array.from({ length: 64 }, (_, i) => i * 150));
    const run = (seed: number): Float32Array[] => {
      const out: Float32Array[] = [];
      for (const b of sub.batches(16, { rng: seed, augment: { translate: 2 } })) {
        expect(b.x.shape).toEqual([16, 1, 32, 32]);
        expect(b.x.dtype).toBe('float32');
        out.push(b.x.dataSync() as Float32Array);
        V.dispose([b.x, b.y]);
      }
      return out;
    };
    const a = run(3), b = run(3), c = run(4);
    expect(a.every((x, k) => sameArray(x, b[k]!))).toBe(true);
    expect(a.every((x, k) => sameArray(x, c[k]!))).toBe(false);
    const flat = new Float32Array(64 * 1024);
    a.forEach((x, k) => flat.set(x, k * 16 * 1024));
    const shifts = new Map<string, number>();
    const buf = new Float32Array(1024);
    for (let i = 0; i < 64; i++) {
      const got = flat.subarray(i * 1024, (i + 1) * 1024);
      expect(Math.abs(sum(got) - sum(sub.image(i)))).toBeLessThan(0.02 * sum(sub.image(i)));
      let found: string | null = null;
      for (let dy = -2; dy <= 2 && !found; dy++) {
        for (let dx = -2; dx <= 2 && !found; dx++) {
          translateImage(sub.image(i), buf, 1, 32, 32, dx, dy);
          if (buf.every((v, p) => v === got[p])) found = `${dx},${dy}`;
        }
      }
      expect(found).not.toBeNull();
      shifts.set(found!, (shifts.get(found!) ?? 0) + 1);
    }
    expect(shifts.size).toBeGreaterThan(8); // of 25 possible shifts, 64 draws hit many
  });
});

describe('fashion-mnist', () => {
  let clothes: ImageDataset;
  beforeAll(() => {
    clothes = loadFashionMnist();
  });

  test('70,000 images, 7,000 per class, 1×32×32, in [0, 1], 2-pixel zero border, class names', () => {
    expect(clothes.count).toBe(70_000);
    expect([clothes.channels, clothes.height, clothes.width]).toEqual([1, 32, 32]);
    expect(clothes.classCounts()).toEqual(new Array(10).fill(7_000));
    expect(clothes.classNames).toEqual([...FASHION_CLASS_NAMES]);
    expect(clothes.classNames![0]).toBe('T-shirt/top');
    expect(clothes.classNames![9]).toBe('Ankle boot');
    checkRangeAndBorder(clothes, 2);
    // stored as bytes: every value is k/255
    for (let i = 0; i < 5000; i++) {
      const v = clothes.images[i * 7919 % clothes.images.length]!;
      expect(Math.abs(v * 255 - Math.round(v * 255))).toBeLessThan(1e-4);
    }
    expect(mnistLoadTimes()['fashion-mnist']).toBeGreaterThan(0);
  });

  test('mean images: trousers are narrow with a gap between the legs, bags are wide', () => {
    const width = (m: Float64Array, row: number): number => {
      let n = 0;
      for (let x = 0; x < 32; x++) if (m[row * 32 + x]! > 0.25) n++;
      return n;
    };
    const trouser = classMean(clothes, 1), bag = classMean(clothes, 8);
    expect(width(trouser, 12)).toBeLessThan(width(bag, 20));
    // near the bottom the two legs are brighter than the gap at the centre column
    const row = 28;
    const gap = trouser[row * 32 + 15]! + trouser[row * 32 + 16]!;
    let legs = 0;
    for (let x = 0; x < 32; x++) legs = Math.max(legs, trouser[row * 32 + x]!);
    expect(2 * legs).toBeGreaterThan(1.5 * gap);
    // the centre column has ink, the border does not
    let centre = 0;
    for (let y = 0; y < 32; y++) centre += trouser[y * 32 + 16]!;
    expect(centre).toBeGreaterThan(5);
  });

  test('standardSplit: 60,000 / 10,000 with exactly 1,000 test images per class, deterministic', () => {
    const idx = standardSplitIndices(clothes, 'fashion-mnist');
    expect([idx.train.length, idx.test.length]).toEqual([60_000, 10_000]);
    const isTest = new Uint8Array(70_000);
    for (const i of idx.test) isTest[i] = 1;
    expect(idx.train.every((i) => isTest[i] === 0)).toBe(true);
    expect(idx.train.every((v, k) => k === 0 || v > idx.train[k - 1]!)).toBe(true);
    const { train, test: held } = standardSplit(clothes);
    expect(held.classCounts()).toEqual(new Array(10).fill(1_000));
    expect(train.classCounts()).toEqual(new Array(10).fill(6_000));
    expect(Array.from(standardSplitIndices(clothes).test)).toEqual(Array.from(idx.test));
    expect(held.image(123)).toEqual(clothes.image(idx.test[123]!));
  });

  test('horizontal flip is allowed for clothes and mirrors the image', () => {
    const sub = clothes.subset(Array.from({ length: 16 }, (_, i) => i * 4_321));
    const seen = new Set<string>();
    for (const b of sub.batches(16, { rng: new V.Rng(1), augment: { flip: true } })) {
      const x = b.x.dataSync() as Float32Array;
      for (let k = 0; k < 16; k++) {
        const img = x.subarray(k * 1024, (k + 1) * 1024), src = sub.image(k);
        const mirrored = img.every((v, p) => v === src[Math.floor(p / 32) * 32 + 31 - (p % 32)]);
        const same = img.every((v, p) => v === src[p]);
        expect(mirrored || same).toBe(true);
        seen.add(mirrored ? 'm' : 's');
      }
      V.dispose([b.x, b.y]);
    }
    expect(seen).toEqual(new Set(['m', 's'])); // with probability 1/2 each, both occur among 16
  });
});

describe('ImageDataset', () => {
  test('validates its shape; image() is a view, subset() copies', () => {
    expect(() => new ImageDataset({ images: new Float32Array(10), labels: new Int32Array(2), channels: 1, height: 2, width: 3 }))
      .toThrow(/need 12/);
    const ds = synthetic(10);
    expect(ds.imageSize).toBe(12);
    expect(ds.numClasses).toBe(3);
    expect(ds.image(4)[0]).toBe(4);
    const sub = ds.subset([7, 2, 7]);
    expect(Array.from(sub.labels)).toEqual([1, 2, 1]);
    expect(sub.image(1)[5]).toBeCloseTo(2.05, 5);
    sub.images[0] = -1;
    expect(ds.image(7)[0]).toBe(7);
    expect(sub.classNames).toEqual(['a', 'b', 'c']);
    expect(() => ds.subset([10])).toThrow(/out of range/);
  });

  test('split: fraction or count, stratified, disjoint, seeded; Rng or seed', () => {
    const ds = synthetic(90);
    const a = ds.split(0.2, 5), b = ds.split(18, new V.Rng(5)), c = ds.split(18, 6);
    expect([a.train.count, a.test.count]).toEqual([72, 18]);
    expect(sameArray(a.test.images, b.test.images)).toBe(true);
    expect(sameArray(a.test.images, c.test.images)).toBe(false);
    expect(a.test.classCounts()).toEqual([6, 6, 6]);
    const ids = (d: ImageDataset): number[] => Array.from({ length: d.count }, (_, i) => d.image(i)[0]!);
    const all = [...ids(a.train), ...ids(a.test)].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 90 }, (_, i) => i));
    // parts keep the original order
    expect(ids(a.test)).toEqual([...ids(a.test)].sort((x, y) => x - y));
    // unequal classes: quotas by largest remainder sum to the count
    const skew = ds.subset(Array.from({ length: 40 }, (_, i) => (i < 30 ? 3 * i : 3 * (i - 30) + 1))); // 30 a, 10 b
    const s = skew.split(7, 1);
    expect(s.test.count).toBe(7);
    expect(s.test.classCounts()).toEqual([5, 2, 0]);
    const flat = ds.split(30, 1, { stratify: false });
    expect(flat.test.count).toBe(30);
    expect(() => ds.split(1.5, 0)).toThrow(/fraction in \(0, 1\) or a count/);
    expect(() => ds.split(91, 0)).toThrow(/count in \[0, 90\]/);
  });

  test('batches cover each index exactly once per epoch (shuffle on/off, dropLast)', () => {
    const ds = synthetic(23);
    const plain = ds.batches(5);
    expect(plain.length).toBe(5);
    const e0 = epoch(plain);
    expect(e0.indices).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(e0.sizes).toEqual([5, 5, 5, 5, 3]);

    const rng = new V.Rng(9);
    const shuffled = ds.batches(5, { shuffle: true, rng });
    const e1 = epoch(shuffled), e2 = epoch(shuffled);
    for (const e of [e1, e2]) expect([...e.indices].sort((a, b) => a - b)).toEqual(e0.indices);
    expect(e1.indices).not.toEqual(e0.indices);
    expect(e2.indices).not.toEqual(e1.indices); // an Rng advances: a new order each epoch
    expect(epoch(ds.batches(5, { shuffle: true, rng: 9 })).indices).toEqual(e1.indices); // a seed repeats it

    const dropped = ds.batches(5, { shuffle: true, rng: new V.Rng(2), dropLast: true });
    expect(dropped.length).toBe(4);
    const e3 = epoch(dropped);
    expect(e3.sizes).toEqual([5, 5, 5, 5]);
    expect(new Set(e3.indices).size).toBe(20);
    expect(epoch(ds.batches(5, { dropLast: true })).indices).toEqual(e0.indices.slice(0, 20));
    expect(ds.batches(23, { dropLast: true }).length).toBe(1);
    expect(ds.batches(24, { dropLast: true }).length).toBe(0);
  });

  test('batch tensors hold the selected images and labels, are created lazily and owned by the caller', () => {
    const ds = synthetic(11, 2, 3, 3);
    const before = V.memory().numTensors;
    const it = ds.batches(4, { shuffle: true, rng: 1 })[Symbol.iterator]();
    expect(V.memory().numTensors).toBe(before);
    const first = it.next().value as Batch;
    expect(V.memory().numTensors).toBe(before + 2);
    expect(first.x.shape).toEqual([4, 2, 3, 3]);
    expect(first.x.dtype).toBe('float32');
    expect(first.y.shape).toEqual([4]);
    expect(first.y.dtype).toBe('int32');
    const x = first.x.dataSync(), y = first.y.dataSync();
    first.indices.forEach((i, k) => {
      expect(Array.from(x.subarray(k * 18, (k + 1) * 18))).toEqual(Array.from(ds.image(i)));
      expect(y[k]).toBe(i % 3);
    });
    V.dispose([first.x, first.y]);
    V.tidy(() => {
      for (let r = it.next(); !r.done; r = it.next()) V.sum(r.value.x);
    });
    expect(V.memory().numTensors).toBe(before);
  });

  test('batches: options are checked', () => {
    const ds = synthetic(5);
    expect(() => ds.batches(0)).toThrow(/batchSize must be a positive integer/);
    expect(() => ds.batches(2, { shuffle: true })).toThrow(/explicit rng/);
    expect(() => ds.batches(2, { augment: { translate: 1 } })).toThrow(/explicit rng/);
    expect(() => ds.batches(2, { rng: 0, augment: { translate: 1.5 } })).toThrow(/non-negative integer/);
  });

  test('translateImage shifts exactly (zero fill, per channel), flip mirrors; toTensor', () => {
    const src = Float32Array.from({ length: 2 * 4 * 5 }, (_, k) => k + 1);
    const dst = new Float32Array(src.length);
    translateImage(src, dst, 2, 4, 5, 1, -2);
    for (let c = 0; c < 2; c++) {
      for (let y = 0; y < 4; y++) {
        for (let x = 0; x < 5; x++) {
          const sy = y + 2, sx = x - 1;
          const want = sy < 4 && sx >= 0 ? src[c * 20 + sy * 5 + sx] : 0;
          expect(dst[c * 20 + y * 5 + x]).toBe(want);
        }
      }
    }
    translateImage(src, dst, 2, 4, 5, 0, 0, true);
    expect(Array.from(dst.subarray(20, 25))).toEqual([25, 24, 23, 22, 21]);
    translateImage(src, dst, 2, 4, 5, 5, 0);
    expect(dst.every((v) => v === 0)).toBe(true);

    const ds = synthetic(6);
    const { x, y } = ds.toTensor();
    expect(x.shape).toEqual([6, 1, 3, 4]);
    expect(Array.from(y.dataSync())).toEqual([0, 1, 2, 0, 1, 2]);
    V.dispose([x, y]);
    expect(() => ds.toTensor({ maxBytes: 100 })).toThrow(/above maxBytes/);
  });
});
