// The WebGPU runner itself (not the host-mode runner) driven through a validating fake WebGPU device: every binding
// inside its buffer at an aligned dynamic offset, no output sharing a buffer with an input, copies between distinct
// buffers, and bind groups made once: a steady training loop creates none.

import { afterAll, beforeAll, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import { installFakeWebGpu, type FakeGpuStats } from '../helpers/fake-webgpu.js';

let stats: FakeGpuStats;
let restore: () => void;
beforeAll(async () => {
  ({ stats, restore } = installFakeWebGpu());
  await V.initGpuBackend({ mode: 'webgpu', log: false });
}, 60_000);
afterAll(() => { V.setBackend('cpu'); restore(); });

test('a VIAR training loop on the WebGPU runner: valid bindings and copies, no bind groups made once it is steady', () => {
  const rng = new V.Rng(0);
  const model = V.createModel('viar', V.VIAR_MICRO, rng);
  model.train();
  const opt = new V.AdamW(model.parameters(), { lr: 1e-3 });
  const c = model.config;
  const x = V.keep(V.randn([4, model.seqLen - model.firstLen, c.vaeChannels], rng));
  const targets = V.keep(V.randint(0, c.vocabSize, [4 * model.seqLen], rng, { dtype: 'int32' }));
  const step = () => {
    V.tidy(() => V.crossEntropy(V.reshape(model.forward([0, 1, 2, 3], x), [-1, c.vocabSize]), targets).backward());
    opt.step();
    opt.zeroGrad();
  };
  for (let i = 0; i < 20; i++) step();
  const gpu = V.getBackendByName('gpu') as V.GpuBackend;
  gpu.flush();
  const before = { ...stats }, dispatches = gpu.counters().dispatches;
  for (let i = 0; i < 20; i++) step();
  gpu.flush();
  expect(stats.errors).toEqual([]);
  expect(gpu.counters().dispatches - dispatches).toBeGreaterThan(1000);
  expect(stats.dispatches - before.dispatches).toBe(gpu.counters().dispatches - dispatches);
  expect(stats.bindGroups - before.bindGroups).toBe(0);
  x.dispose(); targets.dispose();
}, 120_000);

test('a captured sampler on the WebGPU runner: uploads replayed from the plan, valid copies, no bind groups on replay', () => {
  V.setBackend('gpu');
  try {
    const model = new V.VIAR(V.VIAR_MICRO, { rng: new V.Rng(0) }).eval();
    const vae = new V.VQVAE(V.TOKENIZER_MICRO, new V.Rng(0)).eval();
    const gpu = V.getBackendByName('gpu') as V.GpuBackend;
    const sample = (seed: number) => {
      const r = model.sample(vae, { labels: [1, 2], cfg: 1.5, topK: 6, topP: 0.9, seed, capture: true });
      for (const t of [...r.indices, r.image, r.fHat]) t.dispose();
    };
    sample(1);
    gpu.flush();
    const before = { ...stats }, counters = { ...gpu.counters() };
    sample(2);
    gpu.flush();
    expect(stats.errors).toEqual([]);
    expect(gpu.counters().replayedDispatches - counters.replayedDispatches).toBeGreaterThan(100);
    expect(gpu.counters().dispatches - counters.dispatches).toBeLessThanOrEqual(12);
    expect(stats.bindGroups - before.bindGroups).toBe(0);
    model.dispose();
    vae.dispose();
    gpu.flush();
    expect(gpu.poolStats().pinned).toBe(0);
  } finally {
    V.setBackend('cpu');
  }
}, 120_000);
