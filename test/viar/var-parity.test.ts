// VAR against the official code on seeded weights (test/fixtures/parity/var-tiny.safetensors, see
// docs/notes/parity.md): state-dict keys, teacher-forced logits, and the greedy CFG sample
// (indices of every scale exactly, the CFG-mixed logits and the decoded image), which also needs vqvae-tiny.

import { beforeAll, describe, expect, test } from 'vitest';
import { join } from 'node:path';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { fixtureGetter, maxDiff, officialWeights } from '../helpers/parity.js';

const fixtures = join(import.meta.dirname, '../fixtures/parity');

let T: Map<string, Tensor>;
let model: V.VAR;
let vae: V.VQVAE;

const get = fixtureGetter(() => T);

beforeAll(() => {
  T = V.loadSafetensors(join(fixtures, 'var-tiny.safetensors')).tensors;
  model = new V.VAR(V.VAR_TINY, { rng: new V.Rng(0) });
  // the official buffers lvl_1L, attn_bias_for_masking and zero_k_bias are recomputed, and the fixture skips them
  expect(model.loadStateDict(officialWeights(T))).toEqual({ missing: [], unexpected: [] });
  model.eval();
  vae = new V.VQVAE(V.VQVAE_TINY, new V.Rng(0));
  vae.loadStateDict(officialWeights(V.loadSafetensors(join(fixtures, 'vqvae-tiny.safetensors')).tensors), { strict: false });
  vae.eval();
});

describe('VAR parity with the official code (var-tiny)', () => {
  test('state-dict keys and parameter count are the official ones', () => {
    const official = [...officialWeights(T).keys()].sort();
    expect([...model.stateDict().keys()].sort()).toEqual(official);
    expect(model.numParameters()).toBe(654_788);
    const config = JSON.parse(new Map(Object.entries(V.loadSafetensors(join(fixtures, 'var-tiny.safetensors')).metadata)).get('config')!);
    expect(config.parameters).toBe(654_788);
    expect([config.C, config.heads, config.depth, config.V, config.Cvae, config.num_classes]).toEqual([128, 2, 2, 64, 8, 10]);
  });

  test('teacher-forced logits (B, L, V) within 1e-4 of max |logits| (and 1e-6 absolute)', () => {
    V.tidy(() => {
      const logits = V.noGrad(() => model.forward(get('input.label'), get('input.x')));
      expect(logits.shape).toEqual([2, 130, 64]);
      const d = maxDiff(logits.dataSync(), get('out.logits').dataSync());
      expect(d.abs / d.scale).toBeLessThan(1e-4);
      expect(d.abs).toBeLessThan(1e-6);
    });
  });

  test('the teacher-forcing input the fixture used is the tokenizer\'s (vqvae-tiny out.var_input)', () => {
    V.tidy(() => {
      const VT = V.loadSafetensors(join(fixtures, 'vqvae-tiny.safetensors')).tensors;
      const indices = [0, 1, 2, 3, 4, 5].map((k) => VT.get(`out.idx.s${k}`)!);
      const x = V.noGrad(() => vae.quantize.indicesToVarInput(indices));
      expect(maxDiff(x.dataSync(), get('input.x').dataSync()).abs).toBeLessThan(1e-5);
    });
  });

  test('greedy CFG sample: indices of every scale exactly, CFG-mixed logits, image within 1e-4', () => {
    V.tidy(() => {
      const out = model.sample(vae, { labels: [3, 7], cfg: 1.5, greedy: true, recordLogits: true });
      expect(out.labels).toEqual([3, 7]);
      out.indices.forEach((idx, k) => {
        expect(Array.from(idx.dataSync()), `scale ${k}`).toEqual(Array.from(get(`out.greedy.idx.s${k}`).dataSync()));
        expect(maxDiff(out.logits![k]!.dataSync(), get(`out.greedy.cfg_logits.s${k}`).dataSync()).abs, `cfg logits s${k}`).toBeLessThan(1e-6);
      });
      expect(out.image.shape).toEqual([2, 3, 32, 32]);
      expect(maxDiff(out.image.dataSync(), get('out.greedy.img').dataSync()).abs).toBeLessThan(1e-4);
    });
  });

  test('top_k = 1 through the seeded multinomial gives the same indices as greedy (one candidate per token)', () => {
    V.tidy(() => {
      const out = model.sample(vae, { labels: [3, 7], cfg: 1.5, topK: 1, seed: 123 });
      out.indices.forEach((idx, k) => expect(Array.from(idx.dataSync()), `scale ${k}`).toEqual(Array.from(get(`out.greedy.idx.s${k}`).dataSync())));
    });
  });
});
