// The samplers' optional per-scale callback (SampleOptions.onScale), used by the browser demo to show the image form
// scale by scale: called once per scale in order, f̂ growing to the final one, VIAR's iterations and residuals, and
// sampling unchanged by it (same tokens with and without), without leaking tensors.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';

let varModel: V.VAR;
let viarModel: V.VIAR;
let vae: V.VQVAE;

beforeAll(() => {
  varModel = new V.VAR(V.VAR_TINY, { rng: new V.Rng(0) }).eval();
  viarModel = new V.VIAR(V.VIAR_TINY, { rng: new V.Rng(0) }).eval();
  vae = new V.VQVAE(V.VQVAE_TINY, new V.Rng(0)).eval();
});

afterAll(() => {
  for (const m of [varModel, viarModel, vae]) m.dispose();
});

const flat = (t: V.Tensor) => Array.from(t.dataSync());

describe('SampleOptions.onScale', () => {
  test.each([['VAR'], ['VIAR']] as const)('%s: once per scale, in order; f̂ ends as the result’s; sampling unchanged', (kind) => {
    const model = kind === 'VAR' ? varModel : viarModel;
    const opts = { labels: [3, 7], cfg: 1.5, topK: 10, seed: 5, ...(kind === 'VIAR' ? { iterSchedule: [1, 2, 3, 1, 2, 0] } : {}) };
    const plain = model.sample(vae, opts);
    const seen: { scale: number; numScales: number; side: number; fHat: number[]; pixels: number; iterations?: number; residuals?: number[] }[] = [];
    const before = V.memory().numTensors;
    const watched = model.sample(vae, {
      ...opts,
      onScale: (p) => {
        const image = vae.fhatToImage(p.fHat); // a temporary the sampler's scope must free
        seen.push({
          scale: p.scale, numScales: p.numScales, side: Math.sqrt(p.indices.shape[1]!), fHat: flat(p.fHat), pixels: image.size,
          ...(p.iterations !== undefined ? { iterations: p.iterations, residuals: p.residuals! } : {}),
        });
      },
    });
    const pn = V.VAR_TINY.patchNums;
    expect(seen.map((s) => s.scale)).toEqual(pn.map((_, i) => i));
    expect(seen.every((s) => s.numScales === pn.length)).toBe(true);
    expect(seen.map((s) => s.side)).toEqual([...pn]);
    expect(seen.every((s) => s.pixels === 2 * 3 * 32 * 32)).toBe(true);
    expect(seen.at(-1)!.fHat).toEqual(flat(watched.fHat));
    expect(watched.indices.map(flat)).toEqual(plain.indices.map(flat));
    expect(flat(watched.image)).toEqual(flat(plain.image));
    if (kind === 'VIAR') {
      const w = watched as V.ViarSampleResult;
      expect(seen.map((s) => s.iterations)).toEqual([1, 2, 3, 1, 2, 0]);
      expect(seen.map((s) => s.residuals)).toEqual(w.residuals);
    } else {
      expect(seen.every((s) => s.iterations === undefined)).toBe(true);
    }
    V.dispose(watched);
    expect(V.memory().numTensors).toBe(before);
    V.dispose(plain);
  });

  test('inpaint passes it through (VIAR)', () => {
    const scales: number[] = [];
    const r = V.tidy(() => {
      const images = V.mul(V.ones([1, 3, 32, 32]), 0.2);
      const out = V.inpaint(viarModel, vae, images, V.editMask('center', 32, 32), { labels: [1], seed: 2, iterSchedule: 2, onScale: (p) => scales.push(p.scale) });
      return out.iterations;
    });
    expect(scales).toEqual([0, 1, 2, 3, 4, 5]);
    expect(r).toEqual([2, 2, 2, 2, 2, 2]);
  });
});
