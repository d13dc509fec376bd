// Training on the gpu backend with WebGPU's read semantics (gpu.js CPU mode, asynchronous reads only): a VIAR
// trains and evaluates through trainStepAsync / evaluateAsync with one read per step, matches the cpu backend's first
// step, and saves a checkpoint after prefetch(); live device buffers stay flat over the steps.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as V from '../../src/index.js';

let gpu: V.GpuBackend;
beforeAll(async () => {
  await V.initGpuBackend({ mode: 'cpu', asyncReads: true, activate: false, log: false });
  gpu = V.getBackendByName('gpu') as V.GpuBackend;
});
afterAll(() => { V.setBackend('cpu'); });

function syntheticTokens(count: number): V.TokenDataset {
  const rng = new V.Rng(1);
  const patchNums = V.VIAR_MICRO.patchNums;
  const seqLen = patchNums.reduce((s, p) => s + p * p, 0);
  const tokens = new Int32Array(count * seqLen), labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 10;
    for (let t = 0; t < seqLen; t++) tokens[i * seqLen + t] = rng.uniform() < 0.8 ? (labels[i]! * 3 + (t % 5)) % V.VIAR_MICRO.vocabSize : rng.int(0, V.VIAR_MICRO.vocabSize);
  }
  return { tokens, labels, count, patchNums, seqLen };
}

async function firstSteps(backend: string, steps: number) {
  V.setBackend(backend);
  try {
    const model = V.createModel('viar', V.VIAR_MICRO, new V.Rng(0));
    const trainer = new V.TransformerTrainer(model, new V.VQVAE(V.TOKENIZER_MICRO, new V.Rng(3)).quantize, syntheticTokens(32), { totalSteps: 50, lr: 1e-2, warmupSteps: 2, batchSize: 8 });
    const results: V.TrainStepResult[] = [];
    const live: number[] = [];
    for (let i = 0; i < steps; i++) {
      results.push(await trainer.trainStepAsync());
      live.push(backend === 'gpu' ? gpu.memory().numDataBuffers : 0);
    }
    return { model, trainer, results, live };
  } finally {
    V.setBackend('cpu');
  }
}

describe('training on the gpu backend (asynchronous reads)', () => {
  test('trainStepAsync matches the cpu backend, keeps buffers flat, and a checkpoint saves after prefetch', async () => {
    const cpu = await firstSteps('cpu', 1);
    const before = gpu.counters().readbacks;
    const g = await firstSteps('gpu', 6);
    // the first step draws the same k, m and dropout, so its loss and gradient norm agree at float32 tolerance
    expect(Math.abs(g.results[0]!.loss - cpu.results[0]!.loss)).toBeLessThan(1e-4);
    expect(Math.abs(g.results[0]!.gradNorm - cpu.results[0]!.gradNorm) / cpu.results[0]!.gradNorm).toBeLessThan(1e-3);
    expect(g.results.every((r) => Number.isFinite(r.loss) && r.accuracy >= 0 && r.accuracy <= 1)).toBe(true);
    expect(gpu.counters().readbacks - before).toBe(g.results.length); // loss, accuracy and gradient norm in one read per step
    expect(g.live.at(-1)).toBe(g.live[2]);
    const ev = await g.trainer.evaluateAsync(syntheticTokens(16));
    expect(ev.loss).toBeGreaterThan(0);
    expect(() => g.model.stateDict().values().next().value!.dataSync()).toThrow(/asynchronous/);
    await V.prefetch([...g.model.stateDict().values()]);
    const dir = mkdtempSync(join(tmpdir(), 'viar-gpu-train-'));
    try {
      V.saveTransformer(join(dir, 'viar.safetensors'), g.model);
      const { model: back } = V.loadTransformer(join(dir, 'viar.safetensors'));
      const a = [...back.stateDict().values()][5]!.dataSync(), b = [...g.model.stateDict().values()][5]!.dataSync();
      expect(Array.from(a)).toEqual(Array.from(b));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('TransformerTrainer.captureSteps: replayed forward and backward', () => {
  /** `steps` trainer steps of VIAR_MICRO on `backend`, plain or with captureSteps; the step results and the parameters. */
  async function run(backend: string, capture: boolean, steps: number) {
    V.setBackend(backend);
    try {
      const model = V.createModel('viar', V.VIAR_MICRO, new V.Rng(0));
      const trainer = new V.TransformerTrainer(model, new V.VQVAE(V.TOKENIZER_MICRO, new V.Rng(3)).quantize, syntheticTokens(32), { totalSteps: 50, lr: 1e-2, warmupSteps: 2, batchSize: 8 });
      trainer.captureSteps = capture;
      const results: V.TrainStepResult[] = [];
      const replayedBefore = gpu.counters().replayedDispatches;
      for (let i = 0; i < steps; i++) results.push(await trainer.trainStepAsync());
      const replayed = gpu.counters().replayedDispatches - replayedBefore;
      const params = await Promise.all(model.parameters().map(async (p) => Array.from(await p.data())));
      trainer.disposeRecordings();
      return { results, params, replayed };
    } finally {
      V.setBackend('cpu');
    }
  }

  test.each(['cpu', 'gpu'])('%s: the same losses, accuracies, implicit splits and parameters as plain steps', async (backend) => {
    const plain = await run(backend, false, 6);
    const captured = await run(backend, true, 6);
    captured.results.forEach((r, i) => {
      const p = plain.results[i]!;
      expect(r.loss).toBeCloseTo(p.loss, 5);
      expect(r.accuracy).toBe(p.accuracy);
      expect([r.implicit?.noGradIters, r.implicit?.withGradIters]).toEqual([p.implicit?.noGradIters, p.implicit?.withGradIters]);
    });
    captured.params.forEach((p, i) => p.forEach((v, j) => expect(v).toBeCloseTo(plain.params[i]![j]!, 5)));
    if (backend === 'gpu') {
      expect(captured.replayed).toBeGreaterThan(6 * 300);
      expect(gpu.poolStats().pinned).toBe(0);
    }
  }, 120_000);
});
