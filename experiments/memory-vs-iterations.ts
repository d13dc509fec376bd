// The seed's memory claim at small scale: training memory of the shipped VIAR config versus the number of forward
// iterations of its implicit block, under JFB (n − 1 untaped iterations + 1 taped) and full unrolling (n taped).
// Writes experiments/results/memory-vs-iterations.{json,svg}. Run: npx tsx experiments/memory-vs-iterations.ts

import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as V from '../src/index.js';
import { CpuBackend } from '../src/tensor/backend/cpu/cpu-backend.js';
import { lineChart } from './svg-plot.js';

const { values: a } = parseArgs({ options: { iters: { type: 'string', default: '1,2,4,8,16,32,64' }, batch: { type: 'string', default: '4' }, threads: { type: 'string' } } });
if (a.threads) V.setNumThreads(Number(a.threads));
const backend = V.getBackend();
if (!(backend instanceof CpuBackend)) throw new Error('this experiment reads the CPU backend\'s peak counter');
const iterCounts = a.iters!.split(',').map(Number);
const batch = Number(a.batch);

const rng = new V.Rng(0);
const vae = new V.VQVAE(V.TOKENIZER_SMALL, rng);
const L = V.VIAR_SMALL.patchNums.reduce((s, p) => s + p * p, 0);
const data = {
  tokens: Int32Array.from({ length: 64 * L }, () => rng.int(0, V.VIAR_SMALL.vocabSize)),
  labels: Int32Array.from({ length: 64 }, (_, i) => i % 10), count: 64, patchNums: V.VIAR_SMALL.patchNums, seqLen: L,
};

interface Row { rule: 'jfb' | 'unroll'; iterations: number; peakLiveMiB: number; tapeRetainedMiB: number; tapeNodes: number; msPerStep: number }
const rows: Row[] = [];
for (const rule of ['jfb', 'unroll'] as const) {
  for (const n of iterCounts) {
    const implicit = { ...V.VIAR_SMALL.implicit, noGradIters: rule === 'jfb' ? [n - 1, n - 1] as const : [0, 0] as const, withGradIters: rule === 'jfb' ? [1, 1] as const : [n, n] as const };
    const model = V.createModel('viar', { ...V.VIAR_SMALL, implicit }, new V.Rng(1)) as V.VIAR;
    const trainer = new V.TransformerTrainer(model, vae.quantize, data, { totalSteps: 10, batchSize: batch, lr: 1e-4 });
    trainer.trainStep(); // warm-up: optimizer state exists from here on
    backend.resetPeak();
    const base = backend.memory().numBytes;
    const t0 = performance.now();
    trainer.trainStep();
    const ms = performance.now() - t0;
    const stats = model.lastImplicit?.stats;
    rows.push({
      rule, iterations: n, peakLiveMiB: (backend.poolStats().peakLiveBytes - base) / 2 ** 20,
      tapeRetainedMiB: (stats?.memory.retainedBytes ?? 0) / 2 ** 20, tapeNodes: stats?.memory.tapeNodes ?? 0, msPerStep: ms,
    });
    const r = rows.at(-1)!;
    console.log(`${rule.padEnd(6)} n=${String(n).padStart(2)}: peak live +${r.peakLiveMiB.toFixed(1)} MiB above the resting state, implicit tape ${r.tapeRetainedMiB.toFixed(1)} MiB (${r.tapeNodes} nodes), ${(ms / 1000).toFixed(2)} s/step`);
    model.dispose();
  }
}
const at = (rule: string, n: number) => rows.find((r) => r.rule === rule && r.iterations === n)!;
const nMax = Math.max(...iterCounts), nMin = Math.min(...iterCounts);
const ratio = (rule: string) => at(rule, nMax).peakLiveMiB / at(rule, nMin).peakLiveMiB;
console.log(`peak-memory ratio ${nMax} vs ${nMin} iterations: JFB ${ratio('jfb').toFixed(3)}, unroll ${ratio('unroll').toFixed(3)}`);
mkdirSync('experiments/results', { recursive: true });
writeFileSync('experiments/results/memory-vs-iterations.json', JSON.stringify({
  date: new Date().toISOString(), command: 'npx tsx experiments/memory-vs-iterations.ts ' + process.argv.slice(2).join(' '),
  config: 'VIAR_SMALL (random weights: memory does not depend on them)', batch, kernels: V.describeCpuKernels(),
  measure: 'peakLiveMiB: the CPU backend\'s peak of live tensor bytes during one training step (forward, backward, AdamW), minus the bytes live before it; tapeRetainedMiB: what fixedPoint\'s taped iterations keep for backward',
  ratios: { jfb: ratio('jfb'), unroll: ratio('unroll'), iterations: [nMin, nMax] }, rows,
}, null, 2) + '\n');
writeFileSync('experiments/results/memory-vs-iterations.svg', lineChart([
  { name: 'JFB (n−1 untaped + 1)', points: rows.filter((r) => r.rule === 'jfb').map((r) => [r.iterations, r.peakLiveMiB]) },
  { name: 'full unroll (n taped)', points: rows.filter((r) => r.rule === 'unroll').map((r) => [r.iterations, r.peakLiveMiB]), dashed: true },
], { title: `VIAR_SMALL training-step memory vs forward iterations (batch ${batch})`, xLabel: 'implicit iterations n', yLabel: 'peak live tensor memory (MiB)', logX: true }));
console.log('wrote experiments/results/memory-vs-iterations.{json,svg}');
