// The shipped tokenizers (checkpoints/tokenizer-*.safetensors, trained by `npm run viar -- train-tokenizer`):
// reconstruction quality on test images, and the residual shrinking scale by scale on a trained model.

import { describe, expect, test } from 'vitest';
import { join } from 'node:path';
import * as V from '../../src/index.js';

const root = join(import.meta.dirname, '../..');

function load(data: 'mnist' | 'fashion'): V.VQVAE {
  const path = join(root, `checkpoints/tokenizer-${data}.safetensors`);
  const { tensors, metadata } = V.loadSafetensors(path);
  for (const t of tensors.values()) t.dispose();
  const vae = new V.VQVAE(JSON.parse(metadata.config!) as V.VqvaeConfig, new V.Rng(0));
  V.loadModule(path, vae);
  return vae.eval();
}

function testImages(data: 'mnist' | 'fashion', count: number): V.Tensor {
  const { test } = V.standardSplit(data === 'mnist' ? V.loadMnist() : V.loadFashionMnist());
  return V.tidy(() => V.keep(V.sub(V.mul(test.subset(Array.from({ length: count }, (_, i) => i)).toTensor().x, 2), 1)));
}

describe.each(['mnist', 'fashion'] as const)('shipped %s tokenizer', (data) => {
  test('reconstruction PSNR on 200 test images (MNIST target ≥ 24 dB)', () => {
    const vae = load(data);
    const images = testImages(data, 200);
    const p = V.tidy(() => V.noGrad(() => V.psnr(vae.indicesToImage(vae.imageToIndices(images)), images)));
    expect(p).toBeGreaterThanOrEqual(data === 'mnist' ? 24 : 20);
    images.dispose();
    vae.dispose();
  });

  test('the mean residual ‖f − f̂ₖ‖² does not increase across scales', () => {
    const vae = load(data);
    const images = testImages(data, 64);
    const residuals = V.tidy(() => V.noGrad(() => {
      const f = vae.encode(images);
      return vae.quantize.toFhats(f).map((fh) => V.mean(V.square(V.sub(f, fh))).item());
    }));
    for (let k = 1; k < residuals.length; k++) expect(residuals[k]!, `scale ${k}: ${residuals.join(', ')}`).toBeLessThanOrEqual(residuals[k - 1]! * (1 + 1e-6));
    images.dispose();
    vae.dispose();
  });
});
