// What fusing elementwise chains saves, VIAR_SMALL with fusion off (every chain op by op) and on: kernel dispatches of
// a teacher-forced forward pass, a training step and sampling on the gpu backend (gpu.js cpu mode: counts do not
// depend on the device), and the cpu backend's training-step time (median, the two settings alternating).
// `npx tsx bench/fusion-dispatches.ts [--batch 2] [--cpu-batch 16] [--cpu-steps 7] [--skip-dispatches]` → bench/results/fusion-dispatches.json

import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as V from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '2' },
    'cpu-steps': { type: 'string', default: '7' },
    'cpu-batch': { type: 'string', default: '16' },
    'skip-dispatches': { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results/fusion-dispatches.json' },
  },
});
const batch = Number(args.batch), cpuSteps = Number(args['cpu-steps']), cpuBatch = Number(args['cpu-batch']);
// fixed implicit iterations, so that both settings run the same graph
const TRAIN_ITERATIONS = { noGrad: 2, withGrad: 1 };
const FORWARD_ITERATIONS = 4;
const SAMPLE_ITERATIONS = 4;

await V.initGpuBackend({ mode: 'cpu', activate: false, log: false });
const gpu = V.getBackendByName('gpu') as V.GpuBackend;

function setup(batch: number) {
  const rng = new V.Rng(0);
  const model = V.createModel('viar', V.VIAR_SMALL, rng) as V.VIAR;
  const c = model.config;
  const x = V.randn([batch, model.seqLen - model.firstLen, c.vaeChannels], rng);
  const targets = V.randint(0, c.vocabSize, [batch * model.seqLen], rng, { dtype: 'int32' });
  const labels = Array.from({ length: batch }, (_, i) => i % c.numClasses);
  const opt = new V.AdamW(model.parameters(), { lr: 1e-4, betas: [0.9, 0.95], weightDecay: 0.05 });
  const step = () => {
    V.tidy(() => {
      const logits = V.reshape(model.forward(labels, x, { iterations: TRAIN_ITERATIONS }), [-1, c.vocabSize]);
      V.crossEntropy(logits, targets).backward();
    });
    opt.step();
    opt.zeroGrad();
  };
  const forward = () => V.tidy(() => { V.noGrad(() => model.forward(labels, x, { iterations: FORWARD_ITERATIONS })); });
  return { model, step, forward };
}

function dispatches(fused: boolean): { forward: number; trainingStep: number; sampling: number } {
  V.setFusionEnabled(fused);
  V.setBackend('gpu');
  try {
    const { model, step, forward } = setup(batch);
    model.eval();
    let before = gpu.counters().dispatches;
    forward();
    const forwardCount = gpu.counters().dispatches - before;
    model.train();
    step(); // warm-up: the optimizer's state is created on the first step
    before = gpu.counters().dispatches;
    step();
    const trainingStep = gpu.counters().dispatches - before;
    // sampling `batch` images with CFG (random tokenizer weights: the count does not depend on them)
    model.eval();
    const vae = new V.VQVAE(V.TOKENIZER_SMALL, new V.Rng(1)).eval();
    before = gpu.counters().dispatches;
    V.tidy(() => { model.sample(vae, { labels: Array.from({ length: batch }, (_, i) => i), cfg: 1.5, topK: 20, seed: 3, iterSchedule: SAMPLE_ITERATIONS }); });
    return { forward: forwardCount, trainingStep, sampling: gpu.counters().dispatches - before };
  } finally {
    V.setBackend('cpu');
    V.setFusionEnabled(true);
  }
}

type Times = Record<'unfused' | 'fused', { wallMs: number[]; processCpuMs: number[] }>;

/**
 * Training-step times of one model, fusion off and on alternating step by step (machine noise hits both alike):
 * wall time and the process's CPU time (all its threads; less sensitive to other processes on a shared machine).
 */
function cpuStepTimes(): Times {
  const times: Times = { unfused: { wallMs: [], processCpuMs: [] }, fused: { wallMs: [], processCpuMs: [] } };
  const { model, step } = setup(cpuBatch);
  model.train();
  try {
    for (let i = 0; i < cpuSteps + 1; i++) {
      for (const fused of i % 2 === 0 ? [false, true] : [true, false]) {
        V.setFusionEnabled(fused);
        const t0 = performance.now(), c0 = process.cpuUsage();
        step();
        const c = process.cpuUsage(c0);
        if (i === 0) continue; // warm-up
        times[fused ? 'fused' : 'unfused'].wallMs.push(performance.now() - t0);
        times[fused ? 'fused' : 'unfused'].processCpuMs.push((c.user + c.system) / 1000);
      }
    }
  } finally {
    V.setFusionEnabled(true);
  }
  return times;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const skip = args['skip-dispatches'];
const unfused = skip ? null : dispatches(false), fused = skip ? null : dispatches(true);
if (unfused && fused) console.log(`dispatches (VIAR_SMALL, batch ${batch}): forward ${unfused.forward} → ${fused.forward}, training step ${unfused.trainingStep} → ${fused.trainingStep}, sampling ${unfused.sampling} → ${fused.sampling}`);
const times = cpuStepTimes();
const medians = (t: Times['fused']) => ({ wallMs: median(t.wallMs), processCpuMs: median(t.processCpuMs) });
const cpu = { unfusedMedian: medians(times.unfused), fusedMedian: medians(times.fused), loadAverage: loadavg(), samples: times };
console.log(`cpu training step (batch ${cpuBatch}, medians of ${cpuSteps}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}): ` +
  `wall ${cpu.unfusedMedian.wallMs.toFixed(1)} ms unfused, ${cpu.fusedMedian.wallMs.toFixed(1)} fused; ` +
  `process CPU ${cpu.unfusedMedian.processCpuMs.toFixed(1)} ms unfused, ${cpu.fusedMedian.processCpuMs.toFixed(1)} fused`);
mkdirSync('bench/results', { recursive: true });
writeFileSync(args.out!, `${JSON.stringify({
  model: 'VIAR_SMALL', batch, trainIterations: TRAIN_ITERATIONS, forwardIterations: FORWARD_ITERATIONS, sampleIterations: SAMPLE_ITERATIONS,
  dispatches: { unfused, fused }, cpuTrainingStep: { batch: cpuBatch, ...cpu }, date: new Date().toISOString(),
}, null, 2)}\n`);
