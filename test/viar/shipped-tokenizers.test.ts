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
  // MNIST: the whole 2,000-image test split, where the README states 24.02 dB (target ≥ 24 dB);
  // Fashion-MNIST has no target: a regression guard on its first 1,000 test images (21.85 dB on all 10,000)
  test('reconstruction PSNR on the test split', () => {
    const vae = load(data);
    const count = data === 'mnist' ? 2000 : 1000;
    const images = testImages(data, count);
    let se = 0;
    for (let s = 0; s < count; s += 250) {
      se += V.tidy(() => V.noGrad(() => {
        const x = V.slice(images, [[s, s + 250]]);
        return V.mean(V.square(V.sub(vae.indicesToImage(vae.imageToIndices(x)), x))).item() * x.shape[0]!;
      }));
    }
    const p = 10 * Math.log10(4 / (se / count));
    expect(p).toBeGreaterThanOrEqual(data === 'mnist' ? 24 : 21);
    images.dispose();
    vae.dispose();
  }, 300_000); // ~1 minute for 2,000 images on the CI machine

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
