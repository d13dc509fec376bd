// VIAR.sample's implicitCache policies: 'last-iterate' equals the official 'iteration' cache whenever no scale runs
// more iterations than an earlier one, lends a scale's last iterate to the later iterations it skipped, and lets each
// scale stop on its own residual.

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';

const TINY_VIAR: V.ViarConfig = {
  ...V.varConfig(2, {
    embedDim: 32, numHeads: 2, numClasses: 5, patchNums: [1, 2, 4], vaeChannels: 4, vocabSize: 16, condDropRate: 0, dropPathRate: 0,
    init: { ...V.OFFICIAL_VAR_INIT, adalnGamma: 1 },
  }),
  nPre: 1, nPost: 1, implicit: { ...V.OFFICIAL_IMPLICIT, schedule: 2 },
};
const TINY_VQVAE: V.VqvaeConfig = {
  ch: 8, chMult: [1, 2], numResBlocks: 1, inChannels: 3, zChannels: 4, usingSa: false, usingMidSa: false, normGroups: 4,
  vocabSize: 16, patchNums: [1, 2, 4], beta: 0.25, quantResi: 0.5, shareQuantResi: 4, quantConvKernel: 3,
};

function setup() {
  return { model: new V.VIAR(TINY_VIAR, { rng: new V.Rng(3) }).eval(), vae: new V.VQVAE(TINY_VQVAE, new V.Rng(4)).eval() };
}

/** Tokens and CFG logits of every scale and the image's values of one seeded sample (logits: tokens alone may hide a change). */
function draw(model: V.VIAR, vae: V.VQVAE, opts: V.ViarSampleOptions): { tokens: number[][]; logits: number[][]; image: number[]; iterations: number[] } {
  return V.tidy(() => {
    const out = model.sample(vae, { labels: [1, 3], cfg: 1.5, topK: 8, seed: 5, recordLogits: true, ...opts });
    return {
      tokens: out.indices.map((t) => Array.from(t.dataSync())), logits: out.logits!.map((t) => Array.from(t.dataSync())),
      image: Array.from(out.image.dataSync()), iterations: out.iterations,
    };
  });
}

describe('implicitCache', () => {
  test.each([3, [4, 3, 2], { left: 3, right: 1 }] as V.IterationSchedule[])('reproduces the official cache exactly under the non-increasing schedule %j', (iterSchedule) => {
    const { model, vae } = setup();
    expect(draw(model, vae, { iterSchedule, implicitCache: 'last-iterate' })).toEqual(draw(model, vae, { iterSchedule, implicitCache: 'iteration' }));
    model.dispose(); vae.dispose();
  });

  test("lends a scale's last iterate to the iterations it skipped: with a map constant in z, shorter schedules sample as the full ones", () => {
    const { model, vae } = setup();
    // P(concat(z, x)) with the z columns zeroed ignores z: every iteration of a scale then makes the same keys/values,
    // so iteration 0's stand in exactly for the iterations 1 and 2 a scale skipped
    const w = model.implicit_block_projection.at(0) as V.Linear;
    const c = TINY_VIAR.embedDim;
    const values = Float32Array.from(w.weight.dataSync());
    for (let row = 0; row < 2 * c; row++) values.fill(0, row * 2 * c, row * 2 * c + c);
    w.weight.assign(V.tensor(values, { shape: w.weight.shape }));
    const all = draw(model, vae, { iterSchedule: [3, 3, 3] });
    // (a scale's output is its last iteration's, so each pair makes a later scale's last iteration read a lent entry)
    // a cache first needed by a later scale starts from the last iterates; an existing one gets the skipped scale's
    for (const [short, full] of [[[1, 3, 3], [3, 3, 3]], [[2, 2, 3], [3, 3, 3]], [[3, 1, 2], [3, 3, 2]]]) {
      const expected = draw(model, vae, { iterSchedule: full!, implicitCache: 'iteration' });
      expect(draw(model, vae, { iterSchedule: short!, implicitCache: 'last-iterate' }), `${short}`).toEqual({ ...expected, iterations: short });
    }
    // the official cache leaves scale 0 out of iterations 1 and 2: a different sample (the test can tell them apart)
    expect(draw(model, vae, { iterSchedule: [1, 3, 3], implicitCache: 'iteration' }).logits).not.toEqual(all.logits);
    model.dispose(); vae.dispose();
  });

  test('each scale stops on its own residual (no cap), unless capAfterEarlyStop asks for it', () => {
    const { model, vae } = setup();
    const full = V.tidy(() => model.sample(vae, { labels: [1, 3], cfg: 1.5, topK: 8, seed: 5, iterSchedule: 8, earlyStopTol: 0, implicitCache: 'last-iterate' }));
    const tol = full.residuals[0]![2]! * 1.0001; // scale 0 stops after 3 iterations
    for (const cap of [false, true]) {
      const out = V.tidy(() => model.sample(vae, { labels: [1, 3], cfg: 1.5, topK: 8, seed: 5, iterSchedule: 8, earlyStopTol: tol, implicitCache: 'last-iterate', capAfterEarlyStop: cap }));
      expect(out.iterations[0]).toBe(3);
      out.residuals.forEach((trace, s) => {
        // a scale runs until its relative step falls below tol, or to its limit
        expect(trace.slice(0, -1).every((r) => r >= tol), `scale ${s}`).toBe(true);
        const limit = cap ? Math.min(8, ...out.iterations.slice(0, s).filter((n) => n < 8)) : 8;
        expect(trace.at(-1)! < tol || trace.length === limit, `scale ${s}`).toBe(true);
        expect(trace.length).toBeLessThanOrEqual(limit);
      });
    }
    model.dispose(); vae.dispose();
  });

  test('an unknown policy is refused, naming the option', () => {
    const { model, vae } = setup();
    expect(() => model.sample(vae, { labels: [1], implicitCache: 'latest' as V.ImplicitCachePolicy })).toThrow(/VIAR\.sample: implicitCache must be 'iteration' or 'last-iterate', got 'latest'/);
    model.dispose(); vae.dispose();
  });
});
