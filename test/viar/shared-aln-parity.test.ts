// Shared AdaLN (official shared_aln=True) against the official code on seeded weights: test/fixtures/shared-aln/*,
// written by test/fixtures/generate-shared-aln-fixtures.py. A VAR, a VIAR with 1 pre + 2 post blocks and a bare VIAR
// (0 pre, 0 post), all sizes unlike var-tiny/viar-tiny: keys, teacher-forced logits, greedy CFG samples, iterations.

import { beforeAll, describe, expect, test } from 'vitest';
import { join } from 'node:path';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { fixtureGetter, maxDiff, officialWeights } from '../helpers/parity.js';

const fixtures = join(import.meta.dirname, '../fixtures/shared-aln');

interface OfficialConfig {
  patch_nums: number[]; C: number; heads: number; mlp_ratio: number; V: number; Cvae: number; num_classes: number; depth: number;
  init_adaln_gamma: number; labels: number[]; cfg: number; parameters: number;
  pre_depth?: number; post_depth?: number; iter_left?: number; iter_right?: number; teacher_forced_iters?: number[];
}

/** Our configuration of the official build arguments recorded in the fixture. */
function configOf(o: OfficialConfig): V.VarConfig | V.ViarConfig {
  const base = V.varConfig(o.depth, {
    embedDim: o.C, numHeads: o.heads, mlpRatio: o.mlp_ratio, numClasses: o.num_classes, patchNums: o.patch_nums, vaeChannels: o.Cvae,
    vocabSize: o.V, sharedAln: true, init: { ...V.OFFICIAL_VAR_INIT, adalnGamma: o.init_adaln_gamma },
  });
  if (o.pre_depth === undefined) return base;
  return { ...base, nPre: o.pre_depth, nPost: o.post_depth!, implicit: { ...V.OFFICIAL_IMPLICIT, schedule: { left: o.iter_left!, right: o.iter_right! } } };
}

/** A VQVAE whose quantizer (codebook, Phi convs) takes the fixture's weights; its small decoder is not compared. */
function quantizerOnlyVqvae(o: OfficialConfig, tensors: Map<string, Tensor>): V.VQVAE {
  const vae = new V.VQVAE({
    ch: 4, chMult: [1, 2], numResBlocks: 1, inChannels: 3, zChannels: o.Cvae, usingSa: false, usingMidSa: false, normGroups: 2,
    vocabSize: o.V, patchNums: o.patch_nums, beta: 0.25, quantResi: 0.5, shareQuantResi: 4, quantConvKernel: 3,
  }, new V.Rng(0));
  const quant = new Map([...tensors].filter(([k]) => k.startsWith('vqvae.')).map(([k, t]) => [k.slice('vqvae.'.length), t]));
  expect(quant.size).toBe(9); // codebook + 4 Phi convs (weight, bias)
  expect(vae.loadStateDict(quant, { strict: false }).unexpected).toEqual([]);
  vae.eval();
  return vae;
}

for (const name of ['var', 'viar', 'viar-bare']) {
  describe(`shared AdaLN parity with the official code (${name})`, () => {
    let T: Map<string, Tensor>;
    let official: OfficialConfig;
    let model: V.VAR | V.VIAR;
    let vae: V.VQVAE;
    const get = fixtureGetter(() => T);

    beforeAll(() => {
      const file = V.loadSafetensors(join(fixtures, `${name}.safetensors`));
      T = file.tensors;
      official = JSON.parse(file.metadata.config!) as OfficialConfig;
      const config = configOf(official);
      model = 'nPre' in config ? new V.VIAR(config, { rng: new V.Rng(0) }) : new V.VAR(config, { rng: new V.Rng(0) });
      expect(model.loadStateDict(officialWeights(T))).toEqual({ missing: [], unexpected: [] });
      model.eval();
      vae = quantizerOnlyVqvae(official, T);
    });

    test('state-dict keys (shared_ada_lin, per-block ada_gss, no block ada_lin) and parameter count are the official ones', () => {
      const keys = [...model.stateDict().keys()].sort();
      expect(keys).toEqual([...officialWeights(T).keys()].sort());
      expect(keys).toContain('shared_ada_lin.1.weight');
      expect(keys.filter((k) => k.includes('ada_lin') && !k.startsWith('head_nm.') && !k.startsWith('shared_ada_lin.'))).toEqual([]);
      expect(keys.filter((k) => k.endsWith('.ada_gss'))).toHaveLength(model instanceof V.VIAR ? model.config.nPre + 1 + model.config.nPost : official.depth);
      expect(model.numParameters()).toBe(official.parameters);
    });

    test('teacher-forced logits within 1e-4 of max |logits| (and 1e-6 absolute)', () => {
      const runs = official.teacher_forced_iters ?? [null];
      for (const n of runs) {
        V.tidy(() => {
          const logits = V.noGrad(() => model instanceof V.VIAR
            ? model.forward(get('input.label'), get('input.x'), { iterations: n! })
            : model.forward(get('input.label'), get('input.x')));
          const d = maxDiff(logits.dataSync(), get(n === null ? 'out.logits' : `out.logits.iters${n}`).dataSync());
          expect(d.abs / d.scale, `iterations ${n}`).toBeLessThan(1e-4);
          expect(d.abs, `iterations ${n}`).toBeLessThan(1e-6);
        });
      }
    });

    test(`greedy CFG sample: iterations per scale, indices of every scale exactly, CFG logits within 1e-6, f̂ within 1e-5`, () => {
      V.tidy(() => {
        const opts = { labels: official.labels, cfg: official.cfg, greedy: true, recordLogits: true };
        const out = model instanceof V.VIAR ? model.sample(vae, { ...opts, iterSchedule: { left: official.iter_left!, right: official.iter_right! } }) : model.sample(vae, opts);
        if (model instanceof V.VIAR) {
          expect((out as V.ViarSampleResult).iterations).toEqual(Array.from(get('out.greedy.iters').dataSync()));
        }
        out.indices.forEach((idx, k) => {
          expect(Array.from(idx.dataSync()), `scale ${k}`).toEqual(Array.from(get(`out.greedy.idx.s${k}`).dataSync()));
          expect(maxDiff(out.logits![k]!.dataSync(), get(`out.greedy.cfg_logits.s${k}`).dataSync()).abs, `cfg logits s${k}`).toBeLessThan(1e-6);
        });
        expect(maxDiff(out.fHat.dataSync(), get('out.greedy.fhat').dataSync()).abs).toBeLessThan(1e-5);
      });
    });
  });
}

describe('shared AdaLN on the gpu backend (gpu.js cpu mode)', () => {
  test('viar: teacher-forced logits after 5 iterations match the official ones (1e-4), with no readback in the forward pass', async () => {
    await V.initGpuBackend({ mode: 'cpu', activate: false, log: false });
    const gpu = V.getBackendByName('gpu') as V.GpuBackend;
    V.setBackend('gpu');
    try {
      const file = V.loadSafetensors(join(fixtures, 'viar.safetensors'));
      const official = JSON.parse(file.metadata.config!) as OfficialConfig;
      const model = new V.VIAR(configOf(official) as V.ViarConfig, { rng: new V.Rng(0) });
      model.loadStateDict(officialWeights(file.tensors));
      model.eval();
      const before = gpu.counters().readbacks;
      const logits = V.noGrad(() => model.forward(file.tensors.get('input.label')!, file.tensors.get('input.x')!, { iterations: 5 }));
      expect(gpu.counters().readbacks - before).toBe(0);
      const d = maxDiff(await logits.data(), await file.tensors.get('out.logits.iters5')!.data());
      expect(d.abs).toBeLessThan(1e-4);
      logits.dispose();
      model.dispose();
      for (const t of file.tensors.values()) t.dispose();
    } finally {
      V.setBackend('cpu');
    }
  });
});

describe('shared AdaLN built from a config', () => {
  test('official init: shared_ada_lin is a plain Linear (zero bias), ada_gss gammas ×adalnGamma and the rest ×adaln', () => {
    V.tidy(() => {
      const config = V.varConfig(2, { embedDim: 64, numHeads: 2, numClasses: 10, sharedAln: true, patchNums: [1, 2], vocabSize: 16, vaeChannels: 4 });
      const model = new V.VAR(config, { rng: new V.Rng(3) });
      const std = Math.sqrt(1 / (3 * 64));
      const w = model.stateDict().get('shared_ada_lin.1.weight')!;
      expect(w.shape).toEqual([384, 64]);
      const rms = (xs: ArrayLike<number>) => Math.sqrt(Array.from(xs).reduce((s, x) => s + x * x, 0) / xs.length);
      expect(rms(w.dataSync()) / std).toBeGreaterThan(0.9); // trunc_normal(std) cut at ±2 (absolute): rms ≈ std
      expect(rms(w.dataSync()) / std).toBeLessThan(1.1);
      expect(Array.from(model.stateDict().get('shared_ada_lin.1.bias')!.dataSync()).every((v) => v === 0)).toBe(true);
      const gss = model.stateDict().get('blocks.1.ada_gss')!;
      expect(gss.shape).toEqual([1, 1, 6, 64]);
      const rows = gss.dataSync();
      const row = (r: number) => rms(rows.slice(r * 64, (r + 1) * 64));
      for (const r of [0, 1]) expect(row(r) * Math.sqrt(64) / 1e-5).toBeLessThan(1.6); // randn/√C × 1e-5
      for (const r of [2, 3, 4, 5]) expect(row(r) * Math.sqrt(64) / 0.5).toBeGreaterThan(0.5);
      expect(model.describe()).toContain('shared AdaLN');
    });
  });

  test('a shared block refuses a [B, D] cond with a clear error', () => {
    const model = new V.VAR(V.varConfig(1, { embedDim: 8, numHeads: 2, numClasses: 3, sharedAln: true, patchNums: [1, 2], vocabSize: 8, vaeChannels: 2 }), { rng: new V.Rng(0) });
    expect(() => model.blocks[0]!.modulation(V.zeros([2, 8]))).toThrow(/sharedAln, cond must be the shared_ada_lin output \[B, 1, 6, 8\], got \[2, 8\]/);
  });
});
