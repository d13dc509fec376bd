// VIAR against the official code on seeded weights (test/fixtures/parity/viar-tiny.safetensors, see
// docs/notes/parity.md): 1 pre + 1 implicit + 1 post block; teacher-forced logits after 3, 1 and
// 0 implicit iterations, and the greedy CFG sample with the official iteration schedule 3→1 (also needs vqvae-tiny).

import { beforeAll, describe, expect, test } from 'vitest';
import { join } from 'node:path';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { fixtureGetter, maxDiff, officialWeights } from '../helpers/parity.js';

const fixtures = join(import.meta.dirname, '../fixtures/parity');

let T: Map<string, Tensor>;
let metadata: Record<string, string>;
let model: V.VIAR;
let vae: V.VQVAE;

const get = fixtureGetter(() => T);

beforeAll(() => {
  const file = V.loadSafetensors(join(fixtures, 'viar-tiny.safetensors'));
  T = file.tensors;
  metadata = file.metadata;
  model = new V.VIAR(V.VIAR_TINY, { rng: new V.Rng(0) });
  expect(model.loadStateDict(officialWeights(T))).toEqual({ missing: [], unexpected: [] });
  model.eval();
  vae = new V.VQVAE(V.VQVAE_TINY, new V.Rng(0));
  vae.loadStateDict(officialWeights(V.loadSafetensors(join(fixtures, 'vqvae-tiny.safetensors')).tensors), { strict: false });
  vae.eval();
});

describe('VIAR parity with the official code (viar-tiny)', () => {
  test('state-dict keys and parameter count are the official ones', () => {
    expect([...model.stateDict().keys()].sort()).toEqual([...officialWeights(T).keys()].sort());
    expect(model.numParameters()).toBe(1_050_182);
    const config = JSON.parse(metadata.config!);
    expect(config.parameters).toBe(1_050_182);
    expect(config.blocks).toEqual({ implicit_block: 1, post_blocks: 1, pre_blocks: 1 });
  });

  for (const n of [3, 1, 0]) {
    test(`teacher-forced logits after exactly ${n} implicit iteration(s)`, () => {
      V.tidy(() => {
        const logits = V.noGrad(() => model.forward(get('input.label'), get('input.x'), { iterations: n }));
        const d = maxDiff(logits.dataSync(), get(`out.logits.iters${n}`).dataSync());
        expect(d.abs / d.scale).toBeLessThan(1e-4);
        expect(d.abs).toBeLessThan(1e-6);
        expect(model.lastImplicit).toMatchObject({ noGradIters: 0, withGradIters: n });
      });
    });
  }

  test('the untaped/taped split does not change the values (k = 2, m = 1 gives the 3-iteration logits)', () => {
    V.tidy(() => {
      const logits = V.noGrad(() => model.forward(get('input.label'), get('input.x'), { iterations: { noGrad: 2, withGrad: 1 } }));
      const d = maxDiff(logits.dataSync(), get('out.logits.iters3').dataSync());
      expect(d.abs).toBeLessThan(1e-6);
      // the solver made k + 1 calls (the last measures its returned iterate's residual); the m taped steps come after
      expect(model.lastImplicit!.stats!.forwardCalls).toBe(2 + 1);
      expect(model.lastImplicit!.stats!.gradient).toBe('jfb');
    });
  });

  test('the official schedule 3→1 over 6 scales is [3, 2, 2, 2, 2, 1]', () => {
    expect(V.iterationSchedule({ left: 3, right: 1 }, 6)).toEqual(Array.from(get('out.greedy.iters').dataSync()));
    expect(V.iterationSchedule({ left: 3, right: 1 }, 10)).toEqual(JSON.parse(metadata.config!).iters_list_official);
  });

  // a non-increasing schedule: the 'last-iterate' cache lends nothing, so it must reproduce the official cache exactly
  test.each(['iteration', 'last-iterate'] as const)('greedy CFG sample with schedule 3→1 (implicitCache %s): iterations, indices of every scale exactly, CFG logits, image within 1e-4', (implicitCache) => {
    V.tidy(() => {
      const out = model.sample(vae, { labels: [3, 7], cfg: 1.5, greedy: true, recordLogits: true, iterSchedule: { left: 3, right: 1 }, implicitCache });
      expect(out.iterations).toEqual(Array.from(get('out.greedy.iters').dataSync()));
      out.residuals.forEach((trace, k) => expect(trace).toHaveLength(out.iterations[k]!));
      out.indices.forEach((idx, k) => {
        expect(Array.from(idx.dataSync()), `scale ${k}`).toEqual(Array.from(get(`out.greedy.idx.s${k}`).dataSync()));
        expect(maxDiff(out.logits![k]!.dataSync(), get(`out.greedy.cfg_logits.s${k}`).dataSync()).abs, `cfg logits s${k}`).toBeLessThan(1e-6);
      });
      expect(maxDiff(out.image.dataSync(), get('out.greedy.img').dataSync()).abs).toBeLessThan(1e-4);
    });
  });
});
