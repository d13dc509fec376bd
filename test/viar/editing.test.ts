// Zero-shot editing (src/viar/editing.ts) on the tiny parity models (var-tiny, viar-tiny, vqvae-tiny): the mask
// downsampling rule, known tokens re-imposed at every scale, the all-zero / all-one mask limits, outpainting and
// class editing, seeding, leaks, named errors, and a smoke run of the `viar inpaint` / `viar edit` commands.

import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { editCommand, inpaintCommand } from '../../src/cli/edit-commands.js';

const fixtures = join(import.meta.dirname, '../fixtures/parity');

function officialWeights(file: string): Map<string, Tensor> {
  const { tensors } = V.loadSafetensors(join(fixtures, file));
  return new Map([...tensors].filter(([k]) => k.startsWith('weights.')).map(([k, t]) => [k.slice('weights.'.length), t]));
}

let varModel: V.VAR;
let viarModel: V.VIAR;
let vae: V.VQVAE;
let images: Tensor; // [2, 3, 32, 32] in [−1, 1]
const PNS = V.VAR_TINY.patchNums; // [1, 2, 3, 4, 6, 8]

beforeAll(() => {
  varModel = new V.VAR(V.VAR_TINY, { rng: new V.Rng(0) });
  varModel.loadStateDict(officialWeights('var-tiny.safetensors'));
  varModel.eval();
  viarModel = new V.VIAR(V.VIAR_TINY, { rng: new V.Rng(0) });
  viarModel.loadStateDict(officialWeights('viar-tiny.safetensors'));
  viarModel.eval();
  vae = new V.VQVAE(V.VQVAE_TINY, new V.Rng(0));
  vae.loadStateDict(officialWeights('vqvae-tiny.safetensors'), { strict: false });
  vae.eval();
  // smooth-ish source images: the decoding of random tokens (clamped to [−1, 1])
  images = V.tidy(() => V.keep(V.noGrad(() => {
    const rng = new V.Rng(3);
    return vae.indicesToImage(PNS.map((p) => V.randint(0, 64, [2, p * p], rng, { dtype: 'int32' })));
  })));
});

afterAll(() => {
  for (const m of [varModel, viarModel, vae]) m.dispose();
  images.dispose();
});

const rows = (t: Tensor) => Array.from(t.dataSync());
const models = () => [['VAR', varModel], ['VIAR', viarModel]] as const;
const viarOpts = { iterSchedule: { left: 3, right: 1 } };

describe('maskToScales', () => {
  test('hand-made 8×8 mask: the masked fraction of each token footprint, ties regenerate, the coarse rule', () => {
    V.tidy(() => {
      // the left 3 of 8 columns are masked
      const mask = V.boxMask(8, 8, { x0: 0, y0: 0, x1: 3, y1: 8 });
      const m = V.maskToScales(mask, [1, 2, 3, 4, 8], { keepCoarse: 0 });
      expect(m.map((s) => s.side)).toEqual([1, 2, 3, 4, 8]);
      expect(Array.from(m[0]!.regenerate)).toEqual([0]); // 24/64 = 0.375 < 0.5
      expect(Array.from(m[1]!.regenerate)).toEqual([1, 0, 1, 0]); // left column: 3/4 masked
      // 3×3: column 0 covers x ∈ [0, 8/3), fully masked; column 1 covers [8/3, 16/3): 1/8 masked
      expect(Array.from(m[2]!.regenerate)).toEqual([1, 0, 0, 1, 0, 0, 1, 0, 0]);
      // 4×4: column 1 covers x ∈ [2, 4), exactly half masked: a tie, regenerated
      expect(Array.from(m[3]!.regenerate)).toEqual(new Array(4).fill([1, 1, 0, 0]).flat());
      expect(Array.from(m[4]!.regenerate)).toEqual(new Array(8).fill([1, 1, 1, 0, 0, 0, 0, 0]).flat());
      expect(m.map((s) => s.count)).toEqual([0, 2, 3, 8, 24]);
      // 'any' regenerates every token that touches the mask; 'all' only those fully inside it
      const any = V.maskToScales(mask, [1, 3, 4], { threshold: 'any', keepCoarse: 0 });
      expect(any.map((s) => Array.from(s.regenerate))).toEqual([[1], [1, 1, 0, 1, 1, 0, 1, 1, 0], new Array(4).fill([1, 1, 0, 0]).flat()]);
      const all = V.maskToScales(mask, [4], { threshold: 'all' });
      expect(Array.from(all[0]!.regenerate)).toEqual(new Array(4).fill([1, 0, 0, 0]).flat());
      // the official coarse rule (default keepCoarse 3): scales with pₖ² ≤ 3 keep every source token
      expect(V.maskToScales(V.ones([8, 8]), [1, 2, 4]).map((s) => s.count)).toEqual([0, 4, 16]);
      expect(V.maskToScales(V.ones([8, 8]), [1, 2, 4], { keepCoarse: 4 }).map((s) => s.count)).toEqual([0, 0, 16]);
      // non-divisible footprints: 5 px over 2 tokens, each 2.5 px wide; a soft mask weighs pixels by value
      const cols2 = V.boxMask(5, 5, { x0: 0, y0: 0, x1: 2, y1: 5 }); // token 0: 2/2.5 masked, token 1: none
      expect(Array.from(V.maskToScales(cols2, [2])[0]!.regenerate)).toEqual([1, 0, 1, 0]);
      const cols3 = V.boxMask(5, 5, { x0: 0, y0: 0, x1: 3, y1: 5 }); // token 1: 0.5/2.5 masked
      expect(Array.from(V.maskToScales(cols3, [2])[0]!.regenerate)).toEqual([1, 0, 1, 0]);
      expect(V.maskToScales(V.full([4, 4], 0.5), [2])[0]!.count).toBe(4);
      expect(V.maskToScales(V.full([4, 4], 0.5), [2], { threshold: 0.6 })[0]!.count).toBe(0);
      // one mask per image: [B, 1, H, W]
      const both = V.concat([V.reshape(mask, [1, 1, 8, 8]), V.zeros([1, 1, 8, 8])], 0);
      const perImage = V.maskToScales(both, [2]);
      expect(perImage[0]!.batch).toBe(2);
      expect(Array.from(perImage[0]!.regenerate)).toEqual([1, 0, 1, 0, 0, 0, 0, 0]);
    });
  });

  test('mask builders: boxes, borders and the named masks', () => {
    V.tidy(() => {
      const grid = (t: Tensor) => { const v = rows(t); return Array.from({ length: t.shape[0]! }, (_, y) => v.slice(y * t.shape[1]!, (y + 1) * t.shape[1]!).join('')); };
      expect(grid(V.borderMask(4, 5, { left: 2, top: 1 }))).toEqual(['11111', '11000', '11000', '11000']);
      expect(grid(V.borderMask(4, 4, 1))).toEqual(['1111', '1001', '1001', '1111']);
      expect(grid(V.editMask('center', 4, 4))).toEqual(['0000', '0110', '0110', '0000']);
      expect(grid(V.editMask('left', 2, 4))).toEqual(['1100', '1100']);
      expect(grid(V.editMask('bottom', 2, 2))).toEqual(['00', '11']);
      expect(grid(V.editMask('box:1,0,3,1', 2, 4))).toEqual(['0110', '0000']);
      expect(V.sum(V.editMask('border', 32, 32)).item()).toBe(32 * 32 - 16 * 16);
    });
  });
});

describe('editing with VAR and VIAR', () => {
  for (const [kind, get] of [['VAR', () => varModel], ['VIAR', () => viarModel]] as const) {
    test(`${kind}: an all-zero mask reproduces the source tokens at every scale exactly (and the tokenizer's reconstruction)`, () => {
      V.tidy(() => {
        const model = get();
        const extra = kind === 'VIAR' ? viarOpts : {};
        const out = V.inpaint(model, vae, images, V.zeros([32, 32]), { labels: [3, 7], topK: 8, seed: 1, ...extra });
        const source = V.noGrad(() => vae.imageToIndices(images));
        out.indices.forEach((idx, k) => {
          expect(rows(idx), `scale ${k}`).toEqual(rows(source[k]!));
          expect(rows(out.sourceIndices[k]!)).toEqual(rows(source[k]!));
        });
        expect(out.masks.every((m) => m.count === 0 && m.batch === 2)).toBe(true);
        const recon = V.noGrad(() => V.mul(V.add(vae.indicesToImage(source), 1), 0.5));
        expect(V.max(V.abs(V.sub(out.image, recon))).item()).toBeLessThan(1e-5);
        expect(out.labels).toEqual([3, 7]);
        if (kind === 'VIAR') expect(out.iterations).toEqual([3, 2, 2, 2, 2, 1]);
        else expect(out.iterations).toBeNull();
      });
    });

    test(`${kind}: an all-one mask (keepCoarse 0) is plain class-conditional sampling with the same seed`, () => {
      V.tidy(() => {
        const model = get();
        const common = { cfg: 1.5, topK: 10, topP: 0.9, seed: 5, ...(kind === 'VIAR' ? viarOpts : {}) };
        const edited = V.inpaint(model, vae, images, V.ones([32, 32]), { labels: [3, 7], keepCoarse: 0, ...common });
        const plain = model.sample(vae, { labels: [3, 7], ...common });
        edited.indices.forEach((idx, k) => expect(rows(idx), `scale ${k}`).toEqual(rows(plain.indices[k]!)));
        expect(rows(edited.image)).toEqual(rows(plain.image));
        // more_smooth: the code maps too (the known code map replaces the Gumbel mixture only where known)
        const smooth = { ...common, moreSmooth: true };
        const a = V.inpaint(model, vae, images, V.ones([32, 32]), { labels: [3, 7], keepCoarse: 0, ...smooth });
        expect(rows(a.fHat)).toEqual(rows(model.sample(vae, { labels: [3, 7], ...smooth }).fHat));
        // the default official rule keeps the 1×1 scale
        const official = V.inpaint(model, vae, images, V.ones([32, 32]), { labels: [3, 7], ...common });
        expect(rows(official.indices[0]!)).toEqual(rows(official.sourceIndices[0]!));
        expect(official.masks.map((m) => m.count / 2)).toEqual([0, 4, 9, 16, 36, 64]);
      });
    });

    test(`${kind}: with a half mask the known tokens are unchanged at every scale; seeded, batched, leak-free`, () => {
      const model = get();
      const extra = kind === 'VIAR' ? viarOpts : {};
      const mask = V.editMask('left', 32, 32);
      V.dispose(V.inpaint(model, vae, images, mask, { labels: [1, 2], ...extra })); // the model caches constants on first use
      const before = V.memory();
      const opts = { labels: [1, 2], topK: 20, seed: 9, ...extra };
      const a = V.inpaint(model, vae, images, mask, opts);
      const b = V.inpaint(model, vae, images, mask, opts);
      const c = V.inpaint(model, vae, images, mask, { ...opts, seed: 10 });
      const expected = V.maskToScales(mask, PNS);
      let changed = 0;
      a.indices.forEach((idx, k) => {
        const m = a.masks[k]!;
        expect(Array.from(m.regenerate), `mask of scale ${k}`).toEqual([...expected[k]!.regenerate, ...expected[k]!.regenerate]);
        const got = rows(idx), src = rows(a.sourceIndices[k]!);
        got.forEach((v, i) => {
          if (m.regenerate[i] === 0) expect(v, `scale ${k}, token ${i}`).toBe(src[i]);
          else if (v !== src[i]) changed++;
        });
        expect(rows(b.indices[k]!)).toEqual(got);
      });
      expect(changed).toBeGreaterThan(10); // the masked region is really resampled
      expect(a.indices.map(rows)).not.toEqual(c.indices.map(rows));
      expect(rows(a.image)).toEqual(rows(b.image));
      expect(Math.min(...rows(a.image))).toBeGreaterThanOrEqual(0);
      expect(Math.max(...rows(a.image))).toBeLessThanOrEqual(1);
      for (const r of [a, b, c]) V.dispose(r);
      expect(V.memory().numTensors).toBe(before.numTensors);
      expect(V.memory().numBytes).toBe(before.numBytes);
      mask.dispose();
    });
  }

  test('greedy rows do not depend on their batch; a [B, 1, H, W] mask edits each image with its own mask', () => {
    V.tidy(() => {
      const mask = V.editMask('center', 32, 32);
      const pair = V.inpaint(varModel, vae, images, mask, { labels: [4, 4], greedy: true });
      const single = V.inpaint(varModel, vae, V.slice(images, [[1, 2]]), mask, { labels: [4], greedy: true });
      pair.indices.forEach((t, k) => expect(rows(t).slice(t.shape[1]!)).toEqual(rows(single.indices[k]!)));
      const perImage = V.concat([V.reshape(mask, [1, 1, 32, 32]), V.zeros([1, 1, 32, 32])], 0);
      const mixed = V.inpaint(varModel, vae, images, perImage, { labels: [4, 4], greedy: true });
      mixed.indices.forEach((t, k) => {
        const n = t.shape[1]!;
        expect(rows(t).slice(0, n), `scale ${k}, image 0`).toEqual(rows(pair.indices[k]!).slice(0, n));
        expect(rows(t).slice(n), `scale ${k}, image 1`).toEqual(rows(mixed.sourceIndices[k]!).slice(n));
      });
    });
  });

  test('outpaint regenerates the border and keeps the interior; editClass conditions on the new class', () => {
    V.tidy(() => {
      for (const [, model] of models()) {
        const out = V.outpaint(model, vae, images, { left: 8, right: 8 }, { labels: 5, topK: 10, seed: 2 });
        const expected = V.maskToScales(V.borderMask(32, 32, { left: 8, right: 8 }), PNS);
        out.masks.forEach((m, k) => expect(m.count).toBe(2 * expected[k]!.count));
        out.indices.forEach((idx, k) => rows(idx).forEach((v, i) => {
          if (out.masks[k]!.regenerate[i] === 0) expect(v).toBe(rows(out.sourceIndices[k]!)[i]);
        }));
        expect(out.labels).toEqual([5, 5]);
      }
      const mask = V.editMask('center', 32, 32);
      const edit = V.editClass(viarModel, vae, images, mask, [8, 2], { cfg: 3, topK: 10, seed: 3, iterSchedule: 2 });
      expect(edit.labels).toEqual([8, 2]);
      expect(edit.iterations).toEqual([2, 2, 2, 2, 2, 2]);
      edit.indices.forEach((idx, k) => rows(idx).forEach((v, i) => {
        if (edit.masks[k]!.regenerate[i] === 0) expect(v).toBe(rows(edit.sourceIndices[k]!)[i]);
      }));
      // the null class (the default) makes CFG irrelevant: any cfg gives the same tokens
      const n1 = V.inpaint(varModel, vae, images, mask, { cfg: 0, greedy: true });
      const n2 = V.inpaint(varModel, vae, images, mask, { cfg: 4, greedy: true });
      expect(n1.labels).toEqual([10, 10]);
      expect(n1.indices.map(rows)).toEqual(n2.indices.map(rows));
    });
  });
});

describe('bad input is named', () => {
  test('mask shape and values, images, classes, options', () => {
    V.tidy(() => {
      const mask = V.editMask('center', 32, 32);
      expect(() => V.inpaint(varModel, vae, images, V.zeros([16, 16]))).toThrow(V.ShapeError);
      expect(() => V.inpaint(varModel, vae, images, V.zeros([16, 16]))).toThrow(/^inpaint: mask must be \[32, 32\] or \[1 or 2, 1, 32, 32\] to fit images \[2, 3, 32, 32\], got \[16, 16\]/);
      expect(() => V.editClass(varModel, vae, images, V.zeros([3, 1, 32, 32]), 1)).toThrow(/^editClass: mask must be .*got \[3, 1, 32, 32\]/);
      expect(() => V.inpaint(varModel, vae, images, V.full([32, 32], 2))).toThrow(/^inpaint: mask values must be in \[0, 1\] \(1 = regenerate\), got 2 at flat index 0/);
      expect(() => V.maskToScales(V.zeros([2, 3, 4]), [1, 2])).toThrow(/^maskToScales: mask must be \[H, W\] or \[B, 1, H, W\] \(1 = regenerate\), got \[2, 3, 4\]/);
      expect(() => V.maskToScales(mask, [1, 2], { threshold: 0 })).toThrow(/^maskToScales: threshold must be a number in \(0, 1\], 'any' or 'all', got 0/);
      expect(() => V.inpaint(varModel, vae, V.zeros([2, 1, 32, 32]), mask)).toThrow(/^inpaint: images must be \[B, 3, H, W\] in \[−1, 1\] \(the tokenizer takes 3 channels\), got \[2, 1, 32, 32\]/);
      expect(() => V.inpaint(varModel, vae, V.zeros([1, 3, 16, 16]), V.zeros([16, 16]))).toThrow(/^inpaint: images \[1, 3, 16, 16\] do not fit the tokenizer/);
      // classes
      expect(() => V.inpaint(varModel, vae, images, mask, { labels: [3, 11] })).toThrow(V.ArgumentError);
      expect(() => V.inpaint(varModel, vae, images, mask, { labels: [3, 11] })).toThrow(/^inpaint: labels\[1\] = 11 is out of range: classes are 0\.\.9 and 10 is the null class/);
      expect(() => V.inpaint(varModel, vae, images, mask, { labels: [3] })).toThrow(/^inpaint: labels must hold 2 classes \(one per image\), got 1/);
      expect(() => V.editClass(varModel, vae, images, mask, 10)).toThrow(/^editClass: newLabels = 10 is out of range: classes are 0\.\.9$/);
      expect(() => V.editClass(viarModel, vae, images, mask, [1, -2])).toThrow(/^editClass: newLabels\[1\] = -2 is out of range/);
      // options: VIAR's on a VAR, sampler options reported under the edit's name, a mismatched tokenizer
      expect(() => V.inpaint(varModel, vae, images, mask, { iterSchedule: 2 })).toThrow(/^inpaint: iterSchedule is a VIAR option; the model is a VAR/);
      expect(() => V.inpaint(varModel, vae, images, mask, { topK: -1 })).toThrow(/^inpaint: topK must be a non-negative integer, got -1/);
      expect(() => V.outpaint(varModel, vae, images, { left: 40 })).toThrow(/^outpaint: border.left must be an integer in \[0, 32\], got 40/);
      expect(() => V.editMask('diagonal', 32, 32)).toThrow(/^editMask: unknown mask 'diagonal': expected one of center, left/);
      expect(() => V.editMask('box:0,0,40,8', 32, 32)).toThrow(/^editMask: box must be integers with 0 ≤ x0 < x1 ≤ 32/);
      const otherVae = new V.VQVAE({ ...V.VQVAE_TINY, vocabSize: 32 }, new V.Rng(1));
      expect(() => V.inpaint(varModel, otherVae, images, mask)).toThrow(/^inpaint: the VQVAE \(patchNums \[1, 2, 3, 4, 6, 8\], Cvae 8, V 32\) does not match the model/);
      otherVae.dispose();
      // the sampler hook itself
      const known = PNS.map((p) => V.zeros([1, p * p], { dtype: 'int32' }));
      expect(() => varModel.sample(vae, { labels: [0], knownIndices: known })).toThrow(/^VAR\.sample: knownIndices and knownMask must be given together/);
      expect(() => varModel.sample(vae, { labels: [0], knownIndices: known, knownMask: known.slice(1) })).toThrow(/^VAR\.sample: knownMask has 5 scales, the model has 6/);
      expect(() => viarModel.sample(vae, { labels: [0, 1], knownIndices: known, knownMask: known })).toThrow(/^VIAR\.sample: knownIndices\[0\] must be int32 \[2, 1\], got int32 \[1, 1\]/);
    });
  });
});

describe('viar inpaint / viar edit commands', () => {
  test('write a before | masked | after grid from a checkpoint with model/config metadata', () => {
    const dir = mkdtempSync(join(tmpdir(), 'viar-edit-'));
    try {
      const rng = new V.Rng(4);
      const tokenizer = new V.VQVAE(V.TOKENIZER_SMALL, rng); // random weights: only the plumbing is tested
      const tokPath = join(dir, 'tok.safetensors');
      V.saveModule(tokPath, tokenizer, { config: JSON.stringify(V.TOKENIZER_SMALL) });
      const config = V.varConfig(1, { embedDim: 32, numHeads: 2, numClasses: 10, patchNums: V.TOKENIZER_SMALL.patchNums, vaeChannels: 8, vocabSize: 256 });
      const model = new V.VAR(config, { rng });
      const ckpt = join(dir, 'var.safetensors');
      V.saveModule(ckpt, model, { model: 'var', config: JSON.stringify(config) });
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      const before = V.memory().numTensors;
      try {
        const out = join(dir, 'inpaint.png');
        inpaintCommand(['--checkpoint', ckpt, '--tokenizer', tokPath, '--data', 'mnist', '--count', '2', '--mask', 'border', '--seed', '1', '--out', out]);
        expect(existsSync(out)).toBe(true);
        const printed = log.mock.calls.map((c) => String(c[0])).join('\n');
        expect(printed).toMatch(/mnist test images \[0, 1000\]/);
        expect(printed).toMatch(/mask 'border': 768 of 1024 pixels; tokens regenerated per scale \(per image\): 1×1 0\/1, 2×2 4\/4/);
        expect(printed).toContain(`wrote ${out}`);
        const edited = join(dir, 'edit.png');
        editCommand(['--checkpoint', ckpt, '--tokenizer', tokPath, '--index', '3', '--mask', 'box:4,4,20,20', '--to-class', '7', '--out', edited]);
        expect(existsSync(edited)).toBe(true);
        expect(log.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(/sampled \(conditioned on class 7\) with seed 0, cfg 3/);
        expect(V.memory().numTensors).toBe(before);
        expect(() => editCommand(['--checkpoint', ckpt, '--tokenizer', tokPath])).toThrow(/--to-class c is required/);
        expect(() => inpaintCommand(['--checkpoint', tokPath, '--tokenizer', tokPath])).toThrow(/must record model = 'var' or 'viar' in its metadata, got none/);
      } finally {
        log.mockRestore();
        model.dispose();
        tokenizer.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
