// VIAR on the gpu backend (gpu.js CPU mode here): the teacher-forced forward equals the cpu backend's and reads
// nothing back from the device; sampling leaves no buffer behind (filterLogits on every backend: filter-logits.test.ts).

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';

let gpu: V.GpuBackend;

beforeAll(async () => {
  await V.initGpuBackend({ mode: 'cpu', activate: false, log: false });
  gpu = V.getBackendByName('gpu') as V.GpuBackend;
});
afterAll(() => { V.setBackend('cpu'); });

function onBackend<T>(name: string, f: () => T): T {
  V.setBackend(name);
  try { return f(); } finally { V.setBackend('cpu'); }
}

function teacherForcedLogits(backend: string): { logits: number[]; readbacks: number } {
  return onBackend(backend, () => V.tidy(() => {
    const rng = new V.Rng(7);
    const model = new V.VIAR(V.VIAR_TINY, { rng }).eval();
    const x = V.randn([2, model.seqLen - model.firstLen, V.VIAR_TINY.vaeChannels], rng);
    const before = gpu.counters().readbacks;
    const logits = V.noGrad(() => model.forward([1, 3], x, { iterations: 3 }));
    const readbacks = gpu.counters().readbacks - before;
    return { logits: Array.from(logits.dataSync()), readbacks };
  }));
}

describe('VIAR on the gpu backend', () => {
  test('teacher-forced logits equal the cpu backend, with no readback during the forward pass', () => {
    const cpu = teacherForcedLogits('cpu');
    const g = teacherForcedLogits('gpu');
    expect(g.readbacks).toBe(0);
    expect(g.logits.length).toBe(cpu.logits.length);
    let worst = 0;
    for (let i = 0; i < cpu.logits.length; i++) worst = Math.max(worst, Math.abs(g.logits[i]! - cpu.logits[i]!));
    expect(worst).toBeLessThan(1e-4);
  });

  test('sampling on the device: valid tokens, residual traces skipped only where reads are asynchronous, no leak', () => {
    onBackend('gpu', () => {
      const rng = new V.Rng(3);
      const model = new V.VIAR(V.VIAR_TINY, { rng }).eval();
      const vae = new V.VQVAE(V.VQVAE_TINY, rng).eval();
      const run = () => V.tidy(() => {
        const out = model.sample(vae, { labels: [0, 2, 4], cfg: 1.5, topK: 5, topP: 0.9, seed: 11, iterSchedule: 2 });
        expect(out.image.shape[0]).toBe(3);
        for (const idx of out.indices) for (const v of idx.dataSync()) expect(v >= 0 && v < V.VIAR_TINY.vocabSize).toBe(true);
        return out.iterations;
      });
      run();
      const live = gpu.memory().numDataBuffers;
      expect(run()).toEqual(new Array(V.VIAR_TINY.patchNums.length).fill(2));
      expect(gpu.memory().numDataBuffers).toBe(live);
      model.dispose?.();
    });
  }, 180_000); // ~30 s on an idle 2-core machine, gpu.js cpu mode
});
