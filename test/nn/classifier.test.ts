// The LeNet classifier: shapes and errors, a short training run that learns, and the shipped checkpoints'
// accuracy on the standard test splits (the numbers the README states).

import { describe, expect, test } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as V from '../../src/index.js';

const root = join(import.meta.dirname, '../..');

function accuracy(model: V.LeNet, set: V.ImageDataset): number {
  let right = 0;
  for (const { x, y } of set.batches(1000)) {
    right += V.tidy(() => V.noGrad(() => V.sum(V.cast(V.eq(V.argmax(model.forward(x), 1), y), 'float32')).item()));
    x.dispose(); y.dispose();
  }
  return right / set.count;
}

describe('LeNet', () => {
  test('features are [B, 128], logits [B, 10]; other shapes are rejected', () => {
    const model = new V.LeNet(V.LENET_DEFAULTS, new V.Rng(0));
    V.tidy(() => {
      const x = V.rand([3, 1, 32, 32], new V.Rng(1));
      expect(model.features(x).shape).toEqual([3, 128]);
      expect(model.forward(x).shape).toEqual([3, 10]);
      expect(() => model.forward(V.zeros([3, 1, 28, 28]))).toThrow(/^LeNet: expects images \[B, 1, 32, 32\], got \[3, 1, 28, 28\]/);
    });
  });

  test('a few hundred steps on MNIST learn (loss falls, accuracy well above chance)', () => {
    const rng = new V.Rng(0);
    const { train, test } = V.standardSplit(V.loadMnist());
    const small = train.subset(Array.from({ length: 2048 }, (_, i) => i));
    const model = new V.LeNet(V.LENET_DEFAULTS, rng);
    const opt = new V.AdamW(model.parameters(), { lr: 3e-3 });
    const losses: number[] = [];
    for (const { x, y } of small.batches(64, { shuffle: true, rng })) {
      losses.push(V.tidy(() => {
        const l = V.crossEntropy(model.forward(x), y);
        l.backward();
        return l.item();
      }));
      opt.step();
      opt.zeroGrad();
      x.dispose(); y.dispose();
    }
    expect(losses.slice(-5).reduce((a, b) => a + b) / 5).toBeLessThan(losses.slice(0, 5).reduce((a, b) => a + b) / 5 / 2);
    expect(accuracy(model.eval(), test.subset(Array.from({ length: 500 }, (_, i) => i)))).toBeGreaterThan(0.7);
  });

  test.each([
    ['mnist', 0.98],
    ['fashion', 0.88],
  ] as const)('the shipped %s checkpoint reaches its stated accuracy (≥ %s) on the standard test split', (data, target) => {
    const path = join(root, `checkpoints/classifier-${data}.safetensors`);
    expect(existsSync(path), `${path} is shipped with the repo`).toBe(true);
    const model = new V.LeNet(V.LENET_DEFAULTS, new V.Rng(0));
    V.loadModule(path, model);
    const { test: testSet } = V.standardSplit(data === 'mnist' ? V.loadMnist() : V.loadFashionMnist());
    expect(accuracy(model.eval(), testSet)).toBeGreaterThanOrEqual(target);
    model.dispose();
  });
});
