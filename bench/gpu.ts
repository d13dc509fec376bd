// The shipped MNIST VIAR on the gpu backend (gpu.js webgpu) beside our cpu backend, in one run: sampling throughput,
// a training step (forward + JFB backward + AdamW), device counters (readbacks during a forward pass, live buffers
// over many training steps). `npx tsx bench/gpu.ts` on a machine with a GPU; results to bench/results/gpu.json.
// bench/gpu-torch.py measures the same model and weights in PyTorch (its JSON is merged in when given).

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import * as V from '../src/index.js';
import { loadTokenizerCheckpoint } from '../src/cli/edit-commands.js';
import { viarSmallTrainingStep } from './viar-small-step.js';

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'webgpu' },
    batch: { type: 'string', default: '100' },
    batches: { type: 'string', default: '1,16,100' },
    'train-batches': { type: 'string', default: '16,64' },
    'capture-batches': { type: 'string', default: '16,100' },
    dispatch: { type: 'string', default: 'bench/results/gpu-dispatch.json' },
    'cpu-batch': { type: 'string', default: '20' },
    schedule: { type: 'string', default: '4' },
    'train-batch': { type: 'string', default: '16' },
    'leak-steps': { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '20' },
    'captured-warmup': { type: 'string', default: '60' },
    repeats: { type: 'string', default: '1' },
    'cpu-threads': { type: 'string' },
    torch: { type: 'string', default: 'bench/results/gpu-torch.json' },
    out: { type: 'string', default: 'bench/results/gpu.json' },
    help: { type: 'boolean' },
  },
});
if (args.help) {
  console.log(`npx tsx bench/gpu.ts [--mode webgpu] [--batch 100] [--cpu-batch 20] [--schedule 4] [--train-batch 16] [--leak-steps 1000]
  [--cpu-threads N (default: all cores)] [--torch bench/results/gpu-torch.json] [--out bench/results/gpu.json]`);
  process.exit(0);
}
const batches = args.batches!.split(',').map(Number), trainBatches = args['train-batches']!.split(',').map(Number);
const batch = Number(args.batch), cpuBatch = Number(args['cpu-batch']), schedule = Number(args.schedule);
const trainBatch = Number(args['train-batch']), leakSteps = Number(args['leak-steps']);
V.setNumThreads(Number(args['cpu-threads'] ?? cpus().length));

const init = await V.initGpuBackend({ mode: args.mode as V.GpuMode, activate: false });
const gpu = V.getBackendByName('gpu') as V.GpuBackend;
const SAMPLE = { cfg: 1.5, topK: 60, topP: 0.96 };

function onBackend<T>(name: string, f: () => T): T {
  V.setBackend(name);
  try { return f(); } finally { V.setBackend('cpu'); }
}

/**
 * Samples `n` images (classes cycling) once as warm-up, then --repeats times; ms per image of the median repetition,
 * image read included. With `capture` (SampleOptions.capture) the warm-up records the pass and the repeats replay it.
 */
async function sampling(backend: string, n: number, capture = false): Promise<{ images: number; capture: boolean; msPerImage: number; imagesPerSecond: number; repeats: number; msPerImageEachRepeat: number[]; readbacks?: number; dispatchesPerImage?: number; replayedDispatchesPerImage?: number; submissionsPerImage?: number; recordMsPerImage?: number }> {
  const { model } = onBackend(backend, () => V.loadTransformer('checkpoints/viar-mnist.safetensors', { model: 'viar' }));
  const vae = onBackend(backend, () => loadTokenizerCheckpoint('checkpoints/tokenizer-mnist.safetensors'));
  model.eval();
  const labels = Array.from({ length: n }, (_, i) => i % 10);
  const once = async (seed: number) => {
    const image = onBackend(backend, () => V.tidy(() => V.keep(model.sample(vae, { labels, seed, iterSchedule: schedule, capture, ...SAMPLE } as V.ViarSampleOptions).image)));
    await image.data();
    image.dispose();
  };
  await once(0);
  const repeats = Math.max(1, Number(args.repeats));
  const before = gpu.counters();
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await once(1 + r);
    times.push(performance.now() - t0);
  }
  const ms = [...times].sort((a, b) => a - b)[Math.floor(repeats / 2)]!;
  const after = gpu.counters();
  model.dispose?.();
  vae.dispose?.();
  const perImage = (k: keyof V.RunnerCounters) => (after[k] - before[k]) / (n * repeats);
  return {
    images: n, capture, msPerImage: ms / n, imagesPerSecond: (1000 * n) / ms, repeats, msPerImageEachRepeat: times.map((t) => t / n),
    ...(backend === 'gpu' ? {
      readbacks: (after.readbacks - before.readbacks) / repeats, dispatchesPerImage: perImage('dispatches'), replayedDispatchesPerImage: perImage('replayedDispatches'),
      submissionsPerImage: perImage('submissions'), recordMsPerImage: perImage('recordMs'),
    } : {}),
  };
}

/** VIAR_SMALL training steps on synthetic teacher-forcing batches (JFB, k and m drawn as in training; no clipping). */
async function training(backend: string, steps: number, leakCheck: boolean, trainBatch: number, captured = false) {
  const work = onBackend(backend, () => viarSmallTrainingStep(trainBatch));
  let lastLoss: V.Tensor | null = null;
  const step = () => {
    lastLoss?.dispose();
    lastLoss = captured ? work.capturedStep() : work.step();
  };
  // warm-up: each drawn (k, m) first compiles its fused kernels and meets new arena combinations (captured: is
  // recorded; the default 60 steps meet all ten splits with probability ~98 %); then the queue is drained, so that
  // the timed steps do not pay for warm-up work still queued (as gpu-torch.py synchronizes)
  onBackend(backend, () => { for (let i = 0; i < (backend !== 'gpu' ? 3 : captured ? Number(args['captured-warmup']) : Number(args.warmup)); i++) step(); });
  await lastLoss!.data();
  return onBackend(backend, () => {
    const liveAfterWarmup = gpu.counters().liveBuffers;
    const before = gpu.counters();
    const bindGroups = (gpu.runner as { bindGroupStats?: { hits: number; misses: number } }).bindGroupStats;
    const bindBefore = { ...bindGroups };
    const t0 = performance.now();
    let hostMs = 0;
    for (let i = 0; i < steps; i++) { const h0 = performance.now(); step(); hostMs += performance.now() - h0; }
    const after = gpu.counters();
    const perStep = (k: keyof V.RunnerCounters) => (after[k] - before[k]) / steps;
    return {
      lastLoss: lastLoss!, dispose: work.dispose, t0, hostMsPerStep: hostMs / steps, liveAfterWarmup, leakCheck, steps, recordings: work.recordings(),
      dispatchesPerStep: perStep('dispatches'), submissionsPerStep: perStep('submissions'), recordMsPerStep: perStep('recordMs'),
      bindGroupMissesPerStep: bindGroups ? (bindGroups.misses - (bindBefore.misses ?? 0)) / steps : undefined,
    };
  });
}

/** Training steps timed until the last loss is read (the queue drained); host time = the synchronous step calls. */
async function trainingResult(backend: string, steps: number, trainBatch: number, captured = false) {
  const r = await training(backend, steps, backend === 'gpu' && !captured, trainBatch, captured);
  const loss = (await r.lastLoss.data())[0]!;
  const msPerStep = (performance.now() - r.t0) / steps;
  const liveAfter = gpu.counters().liveBuffers;
  r.lastLoss.dispose(); r.dispose();
  return {
    steps, batch: trainBatch, msPerStep, loss, ...(captured ? { captured, recordings: r.recordings } : {}),
    ...(backend === 'gpu' ? {
      liveBuffersAfterWarmup: r.liveAfterWarmup, liveBuffersAfterSteps: liveAfter, dispatchesPerStep: r.dispatchesPerStep, submissionsPerStep: r.submissionsPerStep,
      bindGroupMissesPerStep: r.bindGroupMissesPerStep,
      profile: { hostMsPerStep: r.hostMsPerStep, recordMsPerStep: r.recordMsPerStep, opBookkeepingMsPerStep: r.hostMsPerStep - r.recordMsPerStep, waitingForGpuMsPerStep: Math.max(0, msPerStep - r.hostMsPerStep) },
    } : {}),
  };
}

/** One VIAR implicit iteration (teacher-forced shape, batch `b`) run k times eagerly vs replayed from a captured graph. */
async function captureSpeedup(b: number, k: number) {
  V.setBackend('gpu');
  try {
    const { model } = V.loadTransformer('checkpoints/viar-mnist.safetensors', { model: 'viar' });
    const viar = model as V.VIAR;
    model.eval();
    const rng = new V.Rng(3);
    const c = model.config.embedDim;
    const x = V.keep(V.randn([b, model.seqLen, c], rng));
    const mods = V.keep(V.noGrad(() => viar.implicit_block.modulation(V.randn([b, c], rng))));
    const mask = V.keep(viar.blockCausalMask('float32'));
    const f = (z: V.Tensor, inj: V.Tensor) => V.tidy(() => V.noGrad(() => viar.implicitStep(z, inj, { mask, modulation: mods })));
    const iterate = (step: (z: V.Tensor) => V.Tensor) => { let z = V.keep(V.tidy(() => V.mul(x, 1))); for (let t = 0; t < k; t++) { const n = step(z); z.dispose(); z = n; } return z; };
    const time = async (step: (z: V.Tensor) => V.Tensor) => {
      const w = iterate(step); await w.data(); w.dispose();
      const t0 = performance.now(); const z = iterate(step); const values = await z.data(); const ms = performance.now() - t0; z.dispose();
      return { ms, values };
    };
    const eager = await time((z) => V.keep(f(z, x)));
    const graph = V.captureGraph(f, [x, x]);
    const replay = await time((z) => graph.run(z, x));
    let maxDiff = 0;
    for (let i = 0; i < eager.values.length; i++) maxDiff = Math.max(maxDiff, Math.abs(eager.values[i]! - replay.values[i]!));
    const steps = graph.steps;
    graph.dispose(); x.dispose(); mods.dispose(); mask.dispose(); model.dispose?.();
    return { batch: b, iterations: k, kernelsPerIteration: steps, eagerMsPerIteration: eager.ms / k, replayMsPerIteration: replay.ms / k, speedup: eager.ms / replay.ms, maxAbsDifference: maxDiff };
  } finally {
    V.setBackend('cpu');
  }
}

/** Readbacks during one teacher-forced forward pass of the shipped VIAR on the gpu backend (should be 0). */
function forwardReadbacks(): number {
  return onBackend('gpu', () => V.tidy(() => {
    const { model } = V.loadTransformer('checkpoints/viar-mnist.safetensors', { model: 'viar' });
    model.eval();
    const x = V.randn([8, model.seqLen - model.firstLen, model.config.vaeChannels], new V.Rng(1));
    const before = gpu.counters().readbacks;
    V.noGrad(() => (model as V.VIAR).forward([0, 1, 2, 3, 4, 5, 6, 7], x, { iterations: 4 }));
    const n = gpu.counters().readbacks - before;
    model.dispose?.();
    return n;
  }));
}

console.log(`backend: ${init.description}; cpu backend: ${V.describeCpuKernels()}; node ${process.version}`);
const fwdReadbacks = forwardReadbacks();
console.log(`readbacks during a forward pass on the gpu: ${fwdReadbacks}`);
const gpuSamplingByBatch: Record<string, Awaited<ReturnType<typeof sampling>>> = {};
for (const b of batches) {
  gpuSamplingByBatch[b] = await sampling('gpu', b);
  const r = gpuSamplingByBatch[b]!;
  console.log(`gpu sampling, batch ${b}: ${r.msPerImage.toFixed(3)} ms/image (schedule ${schedule}; ${r.dispatchesPerImage?.toFixed(0)} dispatches and ${r.submissionsPerImage?.toFixed(2)} submissions per image)`);
}
const gpuCapturedByBatch: Record<string, Awaited<ReturnType<typeof sampling>>> = {};
for (const b of batches) {
  gpuCapturedByBatch[b] = await sampling('gpu', b, true);
  const r = gpuCapturedByBatch[b]!;
  console.log(`gpu sampling, batch ${b}, captured (replayed): ${r.msPerImage.toFixed(3)} ms/image (${r.replayedDispatchesPerImage?.toFixed(0)} replayed and ${r.dispatchesPerImage?.toFixed(1)} other dispatches, ${r.submissionsPerImage?.toFixed(2)} submissions per image)`);
}
const gpuSampling = gpuSamplingByBatch[batch] ?? await sampling('gpu', batch);
const cpuSampling = await sampling('cpu', cpuBatch);
console.log(`cpu sampling: ${cpuSampling.msPerImage.toFixed(2)} ms/image (${cpuBatch} images)`);
const gpuTrainByBatch: Record<string, Awaited<ReturnType<typeof trainingResult>>> = {};
for (const b of trainBatches) {
  gpuTrainByBatch[b] = await trainingResult('gpu', 20, b);
  const r = gpuTrainByBatch[b]!;
  console.log(`gpu training step, batch ${b}: ${r.msPerStep.toFixed(2)} ms (${r.dispatchesPerStep?.toFixed(0)} dispatches, ${r.submissionsPerStep?.toFixed(2)} submissions per step; host ${r.profile?.hostMsPerStep.toFixed(2)} ms of which recording ${r.profile?.recordMsPerStep.toFixed(2)}; ${r.bindGroupMissesPerStep?.toFixed(1)} bind groups created per step)`);
}
const gpuTrainCapturedByBatch: Record<string, Awaited<ReturnType<typeof trainingResult>>> = {};
for (const b of trainBatches) {
  gpuTrainCapturedByBatch[b] = await trainingResult('gpu', 20, b, true);
  const r = gpuTrainCapturedByBatch[b]!;
  console.log(`gpu training step, batch ${b}, forward and backward replayed (captureGradients, ${r.recordings} recordings): ${r.msPerStep.toFixed(2)} ms (${r.dispatchesPerStep?.toFixed(0)} dispatches and ${r.submissionsPerStep?.toFixed(2)} submissions per step besides the replays; host ${r.profile?.hostMsPerStep.toFixed(2)} ms)`);
}
const gpuTrain = gpuTrainByBatch[trainBatch] ?? await trainingResult('gpu', 20, trainBatch);
const cpuTrain = await trainingResult('cpu', 5, trainBatch);
console.log(`cpu training step: ${cpuTrain.msPerStep.toFixed(1)} ms (batch ${trainBatch})`);
const capture = [];
for (const b of args['capture-batches']!.split(',').filter(Boolean).map(Number)) capture.push(await captureSpeedup(b, 8));
for (const c of capture) console.log(`captured implicit iteration, batch ${c.batch}: eager ${c.eagerMsPerIteration.toFixed(3)} ms, replay ${c.replayMsPerIteration.toFixed(3)} ms (${c.speedup.toFixed(2)}×, max |Δ| ${c.maxAbsDifference.toExponential(1)})`);
const leak = await trainingResult('gpu', leakSteps, trainBatch);
console.log(`gpu: ${leakSteps} training steps, live device buffers ${leak.liveBuffersAfterWarmup} after warm-up → ${leak.liveBuffersAfterSteps} after (${leak.msPerStep.toFixed(1)} ms/step); pool ${JSON.stringify(gpu.poolStats())}`);

type TorchRow = { msPerImage?: number; msPerStep?: number };
const torch = existsSync(args.torch!) ? JSON.parse(readFileSync(args.torch!, 'utf8')) as { sampling?: { msPerImage: number }; training?: { msPerStep: number }; samplingByBatch?: Record<string, TorchRow>; trainingByBatch?: Record<string, TorchRow> } : null;
const dispatchBench = existsSync(args.dispatch!) ? JSON.parse(readFileSync(args.dispatch!, 'utf8')) as unknown : null;
const ratioRows = torch ? {
  sampling: Object.fromEntries(batches.map((b) => [b, torch.samplingByBatch?.[b]?.msPerImage ? torch.samplingByBatch[b]!.msPerImage! / gpuSamplingByBatch[b]!.msPerImage : null])),
  samplingCaptured: Object.fromEntries(batches.map((b) => [b, torch.samplingByBatch?.[b]?.msPerImage ? torch.samplingByBatch[b]!.msPerImage! / gpuCapturedByBatch[b]!.msPerImage : null])),
  training: Object.fromEntries(trainBatches.map((b) => [b, torch.trainingByBatch?.[b]?.msPerStep ? torch.trainingByBatch[b]!.msPerStep! / gpuTrainByBatch[b]!.msPerStep : null])),
  trainingCaptured: Object.fromEntries(trainBatches.map((b) => [b, torch.trainingByBatch?.[b]?.msPerStep ? torch.trainingByBatch[b]!.msPerStep! / gpuTrainCapturedByBatch[b]!.msPerStep : null])),
} : null;
const result = {
  command: `npx tsx bench/gpu.ts ${process.argv.slice(2).join(' ')}`.trim(),
  date: new Date().toISOString(),
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, gpu: init.description },
  gpuBackend: init.mode,
  cpuBackend: V.describeCpuKernels(),
  node: process.version,
  sampling: { gpu: gpuSampling, cpu: cpuSampling, schedule, ...SAMPLE, gpuOverCpuThroughput: gpuSampling.imagesPerSecond / cpuSampling.imagesPerSecond, gpuByBatch: gpuSamplingByBatch, gpuCapturedByBatch },
  training: { gpu: gpuTrain, cpu: cpuTrain, cpuOverGpuTime: cpuTrain.msPerStep / gpuTrain.msPerStep, gpuByBatch: gpuTrainByBatch, gpuCapturedByBatch: gpuTrainCapturedByBatch },
  capture,
  dispatchBench,
  poolStats: gpu.poolStats(),
  bindGroupCache: (gpu.runner as { bindGroupStats?: { hits: number; misses: number } }).bindGroupStats ?? null,
  forwardPassReadbacks: fwdReadbacks,
  leakCheck: leak,
  counters: gpu.counters(),
  ...(torch ? {
    torch,
    ratios: {
      samplingThroughputOursOverTorch: torch.sampling ? torch.sampling.msPerImage / gpuSampling.msPerImage : null,
      trainingSpeedOursOverTorch: torch.training ? torch.training.msPerStep / gpuTrain.msPerStep : null,
      byBatch: ratioRows,
    },
  } : {}),
};
mkdirSync(dirname(args.out!), { recursive: true });
writeFileSync(args.out!, `${JSON.stringify(result, null, 2)}\n`);
console.log(`sampling throughput gpu/cpu: ${result.sampling.gpuOverCpuThroughput.toFixed(1)}×; training step cpu/gpu time: ${result.training.cpuOverGpuTime.toFixed(2)}×` +
  (torch ? `; vs PyTorch: sampling ${result.ratios!.samplingThroughputOursOverTorch?.toFixed(3)}×, training ${result.ratios!.trainingSpeedOursOverTorch?.toFixed(3)}×` : ''));
console.log(`wrote ${args.out}`);
process.exit(0);
