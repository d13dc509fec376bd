// Where the GPU time goes: per-kernel GPU time (timestamp queries around each dispatch) for a VIAR_SMALL training step
// and for sampling the shipped VIAR, on the WebGPU runner. Needs a GPU; run with VIAR_GPU_PROFILE=1 set *before* Node
// starts (`VIAR_GPU_PROFILE=1 npx tsx bench/gpu-profile.ts`). Without it, the same work runs unprofiled (for a host
// profile: `node --cpu-prof`). Results to bench/results/gpu-profile.json.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import * as V from '../src/index.js';
import { loadTokenizerCheckpoint } from '../src/cli/edit-commands.js';
import { viarSmallTrainingStep } from './viar-small-step.js';
import type { WebGpuRunner } from '../src/tensor/backend/gpu/webgpu-runner.js';
import type { KernelTime } from '../src/tensor/backend/gpu/kernel-profiler.js';

const { values: args } = parseArgs({
  options: {
    'train-batches': { type: 'string', default: '16,64' },
    'sample-batches': { type: 'string', default: '100' },
    steps: { type: 'string', default: '5' },
    schedule: { type: 'string', default: '4' },
    top: { type: 'string', default: '15' },
    captured: { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results/gpu-profile.json' },
  },
});
const gpuProfile = process.env.VIAR_GPU_PROFILE === '1';
await V.initGpuBackend({ mode: 'webgpu' });
const gpu = V.getBackendByName('gpu') as V.GpuBackend;
const runner = gpu.runner as WebGpuRunner;
const top = Number(args.top), steps = Number(args.steps);

/** Runs `work` once to warm up, then again under the profiler; the kernels' GPU time per repetition. */
async function profiled(what: string, repeats: number, work: () => Promise<void>) {
  await work();
  if (gpuProfile) await runner.resetProfile();
  const before = gpu.counters();
  const t0 = performance.now();
  for (let i = 0; i < repeats; i++) await work();
  const wallMs = (performance.now() - t0) / repeats;
  const table = gpuProfile ? (await runner.profile()).map((t: KernelTime) => ({ ...t, ms: t.ms / repeats, dispatches: t.dispatches / repeats })) : [];
  const after = gpu.counters();
  const gpuMs = table.reduce((s, t) => s + t.ms, 0);
  const perRepeat = (k: keyof V.RunnerCounters) => ((after[k] - before[k]) / repeats).toFixed(1);
  console.log(`\n${what}: GPU ${gpuMs.toFixed(2)} ms in ${perRepeat('dispatches')} dispatches (wall ${wallMs.toFixed(1)} ms${gpuProfile ? ' with one pass per dispatch' : ''}; recording ${perRepeat('recordMs')} ms)`);
  for (const t of table.slice(0, top)) console.log(`  ${t.kernel.padEnd(28)} ${t.ms.toFixed(3).padStart(9)} ms  ${t.dispatches.toFixed(0).padStart(6)} dispatches  ${(1000 * t.ms / Math.max(t.dispatches, 1)).toFixed(1).padStart(8)} µs each`);
  return { what, gpuMs, wallMs, kernels: table };
}

async function trainingProfile(b: number) {
  const work = viarSmallTrainingStep(b);
  const captured = args.captured!;
  // --captured: the forward and backward replayed (captureGradients); 60 steps first record the (k, m) splits
  if (captured) for (let i = 0; i < 60; i++) { const loss = work.capturedStep(); await loss.data(); loss.dispose(); }
  const result = await profiled(`training step, VIAR_SMALL, batch ${b}${captured ? ', forward and backward replayed' : ''}`, steps, async () => {
    const loss = captured ? work.capturedStep() : work.step();
    await loss.data();
    loss.dispose();
  });
  work.dispose();
  return result;
}

async function samplingProfile(n: number) {
  const { model } = V.loadTransformer('checkpoints/viar-mnist.safetensors', { model: 'viar' });
  const vae = loadTokenizerCheckpoint('checkpoints/tokenizer-mnist.safetensors');
  model.eval();
  const labels = Array.from({ length: n }, (_, i) => i % 10);
  let seed = 0;
  const result = await profiled(`sampling, batch ${n}`, 1, async () => {
    const image = V.tidy(() => V.keep(model.sample(vae, { labels, seed: seed++, iterSchedule: Number(args.schedule), cfg: 1.5, topK: 60, topP: 0.96 } as V.ViarSampleOptions).image));
    await image.data();
    image.dispose();
  });
  model.dispose?.(); vae.dispose?.();
  return result;
}

const results = [];
for (const b of args['train-batches']!.split(',').filter(Boolean).map(Number)) results.push(await trainingProfile(b));
for (const n of args['sample-batches']!.split(',').filter(Boolean).map(Number)) results.push(await samplingProfile(n));
mkdirSync(dirname(args.out!), { recursive: true });
writeFileSync(args.out!, JSON.stringify({ device: gpu.describe(), date: new Date().toISOString(), results }, null, 1) + '\n');
console.log(`\nwrote ${args.out}`);
process.exit(0); // the device keeps Node's loop alive; exiting writes a --cpu-prof profile
