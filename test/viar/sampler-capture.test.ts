// SampleOptions.capture: the whole sampling pass recorded once and replayed gives the tokens and images of plain
// sampling (gpu backend in gpu.js cpu mode with asynchronous reads, and the cpu backend, which just runs the pass),
// replays run no ops, a replaced weight makes a new recording, and options that need the host are refused.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';

let gpu: V.GpuBackend;
beforeAll(async () => {
  await V.initGpuBackend({ mode: 'cpu', asyncReads: true, activate: false, log: false });
  gpu = V.getBackendByName('gpu') as V.GpuBackend;
});
afterAll(() => { V.setBackend('cpu'); });

async function on<T>(backend: 'cpu' | 'gpu', f: () => Promise<T>): Promise<T> {
  V.setBackend(backend);
  try { return await f(); } finally { V.setBackend('cpu'); }
}

const kinds = [
  ['VAR', () => new V.VAR(V.VAR_MICRO, { rng: new V.Rng(0) }), {}],
  ['VIAR', () => new V.VIAR(V.VIAR_MICRO, { rng: new V.Rng(0) }), { iterSchedule: [1, 2, 3, 0] }],
] as const;

/** Indices of every scale and the image, read. */
async function read(r: V.SampleResult): Promise<{ indices: number[][]; image: Float32Array | Float64Array }> {
  const indices = await Promise.all(r.indices.map(async (t) => Array.from(await t.data())));
  const image = (await r.image.data()) as Float32Array;
  for (const t of [...r.indices, r.image, r.fHat]) t.dispose();
  return { indices, image };
}

describe.each(['gpu', 'cpu'] as const)('SampleOptions.capture on the %s backend', (backend) => {
  test.each(kinds)('%s: replays give the tokens and images of plain sampling, for new seeds and labels', async (_, make, extra) => {
    await on(backend, async () => {
      const model = make().eval();
      const vae = new V.VQVAE(V.TOKENIZER_MICRO, new V.Rng(0)).eval();
      const runs = [{ labels: [3, 7], seed: 5 }, { labels: [1, 2], seed: 6 }, { labels: [0, 9], seed: 7 }];
      const opts = (r: (typeof runs)[number]) => ({ ...r, cfg: 1.5, topK: 6, topP: 0.9, ...extra });
      const counters = () => (backend === 'gpu' ? { ...gpu.counters() } : null);
      for (const [i, r] of runs.entries()) {
        const plain = await read(model.sample(vae, opts(r)));
        const before = counters();
        const captured = await read(model.sample(vae, { ...opts(r), capture: true }));
        const after = counters();
        expect(captured.indices).toEqual(plain.indices);
        expect(captured.image.length).toBe(plain.image.length);
        for (let j = 0; j < plain.image.length; j++) expect(captured.image[j]).toBeCloseTo(plain.image[j]!, 5);
        if (before && after && i > 0) {
          // a replay: the recorded kernels, plus copies of the inputs in and of the outputs out
          expect(after.replayedDispatches - before.replayedDispatches).toBeGreaterThan(100);
          expect(after.dispatches - before.dispatches).toBeLessThanOrEqual(12);
        }
      }
      model.dispose();
      vae.dispose();
      if (backend === 'gpu') expect(gpu.poolStats().pinned).toBe(0);
    });
  }, 120_000);
});

test('a replaced weight makes a new recording; disposeSamplerPlans frees what the recordings pinned', async () => {
  await on('gpu', async () => {
    const model = new V.VAR(V.VAR_MICRO, { rng: new V.Rng(0) }).eval();
    const vae = new V.VQVAE(V.TOKENIZER_MICRO, new V.Rng(0)).eval();
    const opts = { labels: [3, 7], cfg: 1.5, topK: 6, seed: 5 };
    (await read(model.sample(vae, { ...opts, capture: true }))).indices;
    model.head.weight.assign(V.tidy(() => V.mul(model.head.weight, -3)));
    const plain = await read(model.sample(vae, opts));
    const captured = await read(model.sample(vae, { ...opts, capture: true }));
    expect(captured.indices).toEqual(plain.indices);
    expect(gpu.poolStats().pinned).toBeGreaterThan(0);
    model.disposeSamplerPlans();
    expect(gpu.poolStats().pinned).toBe(0);
    model.dispose();
    vae.dispose();
  });
}, 120_000);

test('capture refuses options that need the host between scales, naming them', () => {
  const model = new V.VIAR(V.VIAR_MICRO, { rng: new V.Rng(0) }).eval();
  const vae = new V.VQVAE(V.TOKENIZER_MICRO, new V.Rng(0)).eval();
  expect(() => model.sample(vae, { labels: [1], capture: true, moreSmooth: true })).toThrow(/^VIAR\.sample: capture cannot be combined with moreSmooth/);
  expect(() => model.sample(vae, { labels: [1], capture: true, onScale: () => {} })).toThrow(/^VIAR\.sample: capture cannot be combined with onScale/);
  expect(() => model.sample(vae, { labels: [1], capture: true, earlyStopTol: 1e-3 })).toThrow(/^VIAR\.sample: capture cannot be combined with earlyStopTol/);
  model.dispose();
  vae.dispose();
});

test('sampleByClass replays one recording over its calls (default with several calls) and gives the same images', async () => {
  await on('gpu', async () => {
    const model = new V.VIAR(V.VIAR_MICRO, { rng: new V.Rng(0) });
    const vae = new V.VQVAE(V.TOKENIZER_MICRO, new V.Rng(0)).eval();
    const opts = { classes: [0, 1, 2, 3, 4, 5], perClass: 1, maxBatch: 2, topK: 6, seed: 3, iterSchedule: [1, 1, 2, 0] };
    const before = gpu.counters().replayedDispatches;
    const captured = V.sampleByClass(model, vae, opts);
    expect(gpu.counters().replayedDispatches - before).toBeGreaterThan(300); // three calls: recorded once, replayed thrice
    const plain = V.sampleByClass(model, vae, { ...opts, capture: false });
    const [a, b] = [await captured.images.data(), await plain.images.data()];
    a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 5));
    expect(gpu.poolStats().pinned).toBe(0); // its recordings are freed when it returns
    // asked for explicitly (viar eval's chunks): the recording stays with the model for the next call
    const kept = V.sampleByClass(model, vae, { ...opts, capture: true });
    expect(gpu.poolStats().pinned).toBeGreaterThan(0);
    model.disposeSamplerPlans();
    expect(gpu.poolStats().pinned).toBe(0);
    for (const t of [captured.images, plain.images, kept.images, model, vae]) t.dispose();
  });
}, 120_000);

test('forward refuses a labelDropMask that is not int32 [B], naming it; drawForwardChoices draws what forward would', () => {
  const model = new V.VIAR(V.VIAR_MICRO, { rng: new V.Rng(0) });
  const x = V.randn([2, model.seqLen - model.firstLen, V.VIAR_MICRO.vaeChannels], new V.Rng(1));
  expect(() => model.forward([1, 2], x, { labelDropMask: V.tensor([1, 0]) })).toThrow(/^VIAR\.forward: labelDropMask must be int32 \[2\] \(1 = use the null class\), got float32 \[2\]/);
  expect(() => model.forward([1, 2], x, { labelDropMask: V.tensor(Int32Array.from([1]), { dtype: 'int32' }) })).toThrow(/^VIAR\.forward: labelDropMask must be int32 \[2\]/);
  // the same generator state: forward's own draws and the drawn choices passed back give the same logits
  model.train();
  const [a, b] = [new V.Rng(5), new V.Rng(5)];
  const own = V.noGrad(() => model.forward([1, 2], x, { rng: a }));
  const choices = model.drawForwardChoices(2, b);
  const given = V.noGrad(() => model.forward([1, 2], x, { rng: b, labelDropMask: choices.labelDropMask, iterations: choices.iterations }));
  expect(Array.from(given.dataSync())).toEqual(Array.from(own.dataSync()));
  model.dispose();
});
