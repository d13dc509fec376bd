// Tokenizer properties on random weights and configs, usage statistics, and a 100-step training smoke test.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as V from '../../src/index.js';
import { expectClose } from '../helpers/close.js';

/** A quantizer over a latent of side `last` with random non-decreasing patch sizes ending at `last`. */
const patchNumsArb = fc.integer({ min: 1, max: 6 }).chain((last) =>
  fc.array(fc.integer({ min: 1, max: last }), { minLength: 0, maxLength: 4 })
    .map((xs) => [...xs.sort((a, b) => a - b), last]));

describe('multi-scale quantizer properties', () => {
  test('decoding the indices of a scale-complete encoding gives back f̂; shapes follow patchNums', () => {
    fc.assert(fc.property(patchNumsArb, fc.nat(), fc.integer({ min: 0, max: 4 }), (patchNums, seed, share) => V.tidy(() => {
      const rng = new V.Rng(seed);
      const c = 4, last = patchNums.at(-1)!;
      const q = new V.VectorQuantizer({ vocabSize: 16, channels: c, patchNums, beta: 0.25, quantResi: 0.5, shareQuantResi: share }, rng);
      const f = V.randn([2, c, last, last], rng);
      const indices = q.toIndices(f);
      indices.forEach((idx, k) => expect(idx.shape).toEqual([2, patchNums[k]! ** 2]));
      const fHats = q.toFhats(f);
      expectClose(q.indicesToFhat(indices).dataSync(), fHats.at(-1)!.dataSync(), { atol: 1e-5, rtol: 1e-5 });
      if (patchNums.length > 1) {
        const tokens = patchNums.slice(1).reduce((s, p) => s + p * p, 0);
        expect(q.indicesToVarInput(indices).shape).toEqual([2, tokens, c]);
      }
      // one step of inference reproduces the running f̂ scale by scale
      let fHat = V.zeros(f.shape);
      patchNums.forEach((pn, si) => { fHat = q.nextInput(si, fHat, q.embed(indices[si]!, pn)).fHat; });
      expectClose(fHat.dataSync(), fHats.at(-1)!.dataSync(), { atol: 1e-5, rtol: 1e-5 });
    })), { seed: 77, numRuns: 25 });
  });

  test('invalid patchNums and latents are named', () => {
    const rng = new V.Rng(0);
    expect(() => new V.VectorQuantizer({ vocabSize: 8, channels: 2, patchNums: [2, 1], beta: 0.25, quantResi: 0.5, shareQuantResi: 4 }, rng))
      .toThrow(/^VectorQuantizer: patchNums must be non-decreasing positive integers, got \[2, 1\]/);
    const q = new V.VectorQuantizer({ vocabSize: 8, channels: 2, patchNums: [1, 2, 4], beta: 0.25, quantResi: 0.5, shareQuantResi: 4 }, rng);
    expect(() => q.toIndices(V.zeros([1, 2, 3, 3]))).toThrow(/latent must be \[B, 2, 4, 4\], got \[1, 2, 3, 3\]/);
  });
});

describe('usage statistics', () => {
  test('perplexity and used fraction', () => {
    expect(V.codebookStats([5, 5, 5, 5])).toEqual({ perplexity: 4, usedFraction: 1 });
    const s = V.codebookStats([10, 0, 0, 0]);
    expect(s.perplexity).toBeCloseTo(1, 12);
    expect(s.usedFraction).toBe(0.25);
    expect(V.psnr(V.zeros([4]), V.full([4], 0.2))).toBeCloseTo(20, 4); // 10·log10(2² / 0.2²), float32 pixels
  });
});

describe('training', () => {
  test('100 steps on a tiny config reduce the loss (smoke test)', () => {
    const rng = new V.Rng(0);
    const config: V.VqvaeConfig = {
      ch: 8, chMult: [1, 2], numResBlocks: 1, inChannels: 1, zChannels: 4, usingSa: false, usingMidSa: true, normGroups: 4,
      vocabSize: 32, patchNums: [1, 2, 4, 8], beta: 0.25, quantResi: 0.5, shareQuantResi: 4, quantConvKernel: 3,
    };
    const vae = new V.VQVAE(config, rng);
    const { train } = V.standardSplit(V.loadMnist());
    const images = V.tidy(() => {
      const { x } = train.subset(Array.from({ length: 64 }, (_, i) => i)).toTensor();
      return V.keep(V.sub(V.mul(V.interpolate(x, { size: 16, mode: 'area' }), 2), 1)); // [64, 1, 16, 16] in [−1, 1]
    });
    const trainer = new V.TokenizerTrainer(vae, { rng, lr: 3e-3, deadCodeSteps: 20 });
    const losses: number[] = [];
    for (let s = 0; s < 100; s++) {
      const batch = V.slice(images, [[(s % 8) * 8, (s % 8) * 8 + 8]]);
      losses.push(trainer.step(batch).loss);
      batch.dispose();
    }
    const first = losses.slice(0, 10).reduce((a, b) => a + b) / 10;
    const last = losses.slice(-10).reduce((a, b) => a + b) / 10;
    expect(last).toBeLessThan(first * 0.6);
    const recon = V.tidy(() => V.noGrad(() => vae.eval().indicesToImage(vae.imageToIndices(images))));
    expect(V.psnr(recon, images)).toBeGreaterThan(10);
  });
});
