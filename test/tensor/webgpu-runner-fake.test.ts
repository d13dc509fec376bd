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
