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

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'webgpu' },
    batch: { type: 'string', default: '100' },
    'cpu-batch': { type: 'string', default: '20' },
    schedule: { type: 'string', default: '4' },
    'train-batch': { type: 'string', default: '16' },
    'leak-steps': { type: 'string', default: '1000' },
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

/** Samples `n` images (classes cycling) twice, the first as warm-up; ms per image of the second, image read included. */
async function sampling(backend: string, n: number): Promise<{ images: number; msPerImage: number; imagesPerSecond: number; readbacks?: number }> {
  const { model } = onBackend(backend, () => V.loadTransformer('checkpoints/viar-mnist.safetensors', { model: 'viar' }));
  const vae = onBackend(backend, () => loadTokenizerCheckpoint('checkpoints/tokenizer-mnist.safetensors'));
  model.eval();
  const labels = Array.from({ length: n }, (_, i) => i % 10);
  const once = async (seed: number) => {
    const image = onBackend(backend, () => V.tidy(() => V.keep(model.sample(vae, { labels, seed, iterSchedule: schedule, ...SAMPLE } as V.ViarSampleOptions).image)));
    await image.data();
    image.dispose();
  };
  await once(0);
  const before = gpu.counters().readbacks;
  const t0 = performance.now();
  await once(1);
  const ms = performance.now() - t0;
  const readbacks = backend === 'gpu' ? gpu.counters().readbacks - before : undefined;
  model.dispose?.();
  vae.dispose?.();
  return { images: n, msPerImage: ms / n, imagesPerSecond: (1000 * n) / ms, ...(readbacks !== undefined ? { readbacks } : {}) };
}

/** VIAR_SMALL training steps on synthetic teacher-forcing batches (JFB, k and m drawn as in training; no clipping). */
async function training(backend: string, steps: number, leakCheck: boolean) {
  return onBackend(backend, () => {
    const rng = new V.Rng(0);
    const model = V.createModel('viar', V.VIAR_SMALL, rng);
    model.train();
    const opt = new V.AdamW(model.parameters(), { lr: 1e-4, betas: [0.9, 0.95], weightDecay: 0.05 });
    const c = model.config;
    const x = V.keep(V.randn([trainBatch, model.seqLen - model.firstLen, c.vaeChannels], rng));
    const targets = V.keep(V.randint(0, c.vocabSize, [trainBatch * model.seqLen], rng, { dtype: 'int32' }));
    const labels = Array.from({ length: trainBatch }, (_, i) => i % c.numClasses);
    let lastLoss: V.Tensor | null = null;
    const step = () => {
      lastLoss?.dispose();
      lastLoss = V.tidy(() => {
        const logits = V.reshape(model.forward(labels, x), [-1, c.vocabSize]);
        const loss = V.crossEntropy(logits, targets);
        loss.backward();
        return V.keep(V.detach(loss));
      });
      opt.step();
      opt.zeroGrad();
    };
    for (let i = 0; i < 3; i++) step();
    const liveAfterWarmup = gpu.counters().liveBuffers;
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) step();
    const ms = (performance.now() - t0) / steps;
    return { lastLoss: lastLoss!, x, targets, model, msPerStep: ms, liveAfterWarmup, leakCheck };
  });
}

async function trainingResult(backend: string, steps: number) {
  const r = await training(backend, steps, backend === 'gpu');
  const loss = (await r.lastLoss.data())[0]!;
  const liveAfter = gpu.counters().liveBuffers;
  r.lastLoss.dispose(); r.x.dispose(); r.targets.dispose(); r.model.dispose?.();
  return { steps, batch: trainBatch, msPerStep: r.msPerStep, loss, ...(backend === 'gpu' ? { liveBuffersAfterWarmup: r.liveAfterWarmup, liveBuffersAfterSteps: liveAfter } : {}) };
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

console.log(`backend: ${init.description}; cpu backend: ${V.describeCpuKernels()}`);
const fwdReadbacks = forwardReadbacks();
console.log(`readbacks during a forward pass on the gpu: ${fwdReadbacks}`);
const gpuSampling = await sampling('gpu', batch);
console.log(`gpu sampling: ${gpuSampling.msPerImage.toFixed(2)} ms/image (${batch} images, schedule ${schedule}; ${gpuSampling.readbacks} readbacks)`);
const cpuSampling = await sampling('cpu', cpuBatch);
console.log(`cpu sampling: ${cpuSampling.msPerImage.toFixed(2)} ms/image (${cpuBatch} images)`);
const gpuTrain = await trainingResult('gpu', 20);
console.log(`gpu training step: ${gpuTrain.msPerStep.toFixed(1)} ms (batch ${trainBatch})`);
const cpuTrain = await trainingResult('cpu', 5);
console.log(`cpu training step: ${cpuTrain.msPerStep.toFixed(1)} ms (batch ${trainBatch})`);
const leak = await trainingResult('gpu', leakSteps);
console.log(`gpu: ${leakSteps} training steps, live device buffers ${leak.liveBuffersAfterWarmup} after warm-up → ${leak.liveBuffersAfterSteps} after (${leak.msPerStep.toFixed(1)} ms/step)`);

const torch = existsSync(args.torch!) ? JSON.parse(readFileSync(args.torch!, 'utf8')) as { sampling?: { msPerImage: number }; training?: { msPerStep: number } } : null;
const result = {
  command: `npx tsx bench/gpu.ts ${process.argv.slice(2).join(' ')}`.trim(),
  date: new Date().toISOString(),
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, gpu: init.description },
  gpuBackend: init.mode,
  cpuBackend: V.describeCpuKernels(),
  sampling: { gpu: gpuSampling, cpu: cpuSampling, schedule, ...SAMPLE, gpuOverCpuThroughput: gpuSampling.imagesPerSecond / cpuSampling.imagesPerSecond },
  training: { gpu: gpuTrain, cpu: cpuTrain, cpuOverGpuTime: cpuTrain.msPerStep / gpuTrain.msPerStep },
  forwardPassReadbacks: fwdReadbacks,
  leakCheck: leak,
  counters: gpu.counters(),
  ...(torch ? {
    torch,
    ratios: {
      samplingThroughputOursOverTorch: torch.sampling ? torch.sampling.msPerImage / gpuSampling.msPerImage : null,
      trainingSpeedOursOverTorch: torch.training ? torch.training.msPerStep / gpuTrain.msPerStep : null,
    },
  } : {}),
};
mkdirSync(dirname(args.out!), { recursive: true });
writeFileSync(args.out!, `${JSON.stringify(result, null, 2)}\n`);
console.log(`sampling throughput gpu/cpu: ${result.sampling.gpuOverCpuThroughput.toFixed(1)}×; training step cpu/gpu time: ${result.training.cpuOverGpuTime.toFixed(2)}×` +
  (torch ? `; vs PyTorch: sampling ${result.ratios!.samplingThroughputOursOverTorch?.toFixed(3)}×, training ${result.ratios!.trainingSpeedOursOverTorch?.toFixed(3)}×` : ''));
console.log(`wrote ${args.out}`);
process.exit(0);
