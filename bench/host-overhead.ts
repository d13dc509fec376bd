// The engine's own host cost per op on the gpu backend, without any GPU: `--runner null` records nothing (op
// bookkeeping alone: shape checks, views, autograd, fusion), `--runner webgpu` is the real WebGPU runner on a fake
// device that computes nothing (adds pooling, parameters, bind groups; not Dawn's own encoding cost).
// `npx tsx bench/host-overhead.ts [--runner null|webgpu] [--batch 16] [--steps 30]`; `node --cpu-prof --import tsx` to see where it goes.

import { parseArgs } from 'node:util';
import * as V from '../src/index.js';
import type { CapturedPlan, DeviceArray, KernelRunner } from '../src/tensor/backend/gpu/kernel-runner.js';
import { newCounters } from '../src/tensor/backend/gpu/kernel-runner.js';
import { installFakeWebGpu } from '../test/helpers/fake-webgpu.js';
import { viarSmallTrainingStep } from './viar-small-step.js';
import { loadTokenizerCheckpoint } from '../src/cli/edit-commands.js';

const { values: args } = parseArgs({ options: { runner: { type: 'string', default: 'null' }, work: { type: 'string', default: 'train' }, batch: { type: 'string', default: '16' }, steps: { type: 'string', default: '30' } } });

/** Records nothing: arrays are lengths, reads are ones (valid probabilities and token indices). */
class NullRunner implements KernelRunner {
  readonly mode = 'cpu' as const;
  readonly canReadSync = true;
  readonly counters = newCounters();
  define(): void {}
  upload(values: Float32Array): DeviceArray { this.counters.uploads++; return { length: values.length }; }
  run(_name: string, length: number): DeviceArray { this.counters.dispatches++; return { length }; }
  copyInto(): void {}
  read(a: DeviceArray): Promise<Float32Array> { return Promise.resolve(new Float32Array(a.length).fill(1)); }
  readSync(a: DeviceArray): Float32Array { return new Float32Array(a.length).fill(1); }
  release(): void {}
  flush(): void {}
  beginCapture(): void { throw new Error('not here'); }
  endCapture(): CapturedPlan { throw new Error('not here'); }
  replay(): void {}
  poolStats() { return { inUse: 0, free: 0, freeBytes: 0, created: 0, pinned: 0 }; }
  describe(): string { return 'null runner (records nothing)'; }
}

let runner: KernelRunner;
let fakeErrors: string[] | null = null;
if (args.runner === 'webgpu') {
  fakeErrors = installFakeWebGpu().stats.errors;
  await V.initGpuBackend({ mode: 'webgpu', log: false });
  runner = (V.getBackendByName('gpu') as V.GpuBackend).runner;
} else {
  runner = new NullRunner();
  const backend = new V.GpuBackend(runner);
  V.registerBackend('null-gpu', () => backend);
  V.setBackend('null-gpu');
}
const b = Number(args.batch), steps = Number(args.steps);
let step: () => Promise<void> | void, what: string;
if (args.work === 'sample') {
  // the shipped VIAR sampling b images (schedule 4, cfg 1.5, top-k 60, top-p 0.96), the image read at the end
  const { model } = V.loadTransformer('checkpoints/viar-mnist.safetensors', { model: 'viar' });
  const vae = loadTokenizerCheckpoint('checkpoints/tokenizer-mnist.safetensors');
  model.eval();
  const labels = Array.from({ length: b }, (_, i) => i % 10);
  let seed = 0;
  step = async () => {
    const image = V.tidy(() => V.keep(model.sample(vae, { labels, seed: seed++, iterSchedule: 4, cfg: 1.5, topK: 60, topP: 0.96 } as V.ViarSampleOptions).image));
    await image.data();
    image.dispose();
  };
  what = `sampling ${b} images with the shipped VIAR`;
} else {
  const work = viarSmallTrainingStep(b);
  step = () => work.step().dispose();
  what = `a VIAR_SMALL training step (batch ${b})`;
}
for (let i = 0; i < 3; i++) await step();
const d0 = runner.counters.dispatches, t0 = performance.now();
for (let i = 0; i < steps; i++) await step();
const ms = (performance.now() - t0) / steps, dispatches = (runner.counters.dispatches - d0) / steps;
console.log(`host cost of ${what} with the ${args.runner} runner: ${ms.toFixed(2)} ms, ${dispatches.toFixed(0)} kernels, ${((1000 * ms) / dispatches).toFixed(2)} µs per kernel`);
if (fakeErrors?.length) console.log(`the fake device found invalid commands:\n${fakeErrors.join('\n')}`);
