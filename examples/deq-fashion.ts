// A DEQ classifier on Fashion-MNIST (z* = tanh(W z* + U x + b), logits = V z* + c) trained with JFB, IFT and phantom, with and without
// Jacobian regularization and spectral normalization, over seeds; prints accuracy, f-evals, ρ at z* and time as a markdown table.
// Run: npm run example:deq-fashion -- [--train 2000 --test 1000 --epochs 1 --seeds 3 --hidden 48 --gain 1 --rules jfb,ift,phantom --variants plain,jr,sn,jr+sn --json out.json]

import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import {
  Adam, Linear, Module, Rng, add, argmax, crossEntropy, detach, eq, estimateSpectralRadius, fixedPoint, jacobianRegularization,
  loadFashionMnist, mean, mul, noGrad, reshape, resetDeq, spectralNorm, standardSplit, sub, tanh, tidy,
  type FixedPointStats, type GradientRule, type ImageDataset, type Tensor,
} from '../src/index.js';

const { values: flags } = parseArgs({
  options: {
    train: { type: 'string', default: '2000' }, test: { type: 'string', default: '1000' },
    epochs: { type: 'string', default: '1' }, seeds: { type: 'string', default: '3' },
    hidden: { type: 'string', default: '48' }, batch: { type: 'string', default: '50' },
    gamma: { type: 'string', default: '1' }, gain: { type: 'string', default: '1' }, rules: { type: 'string', default: 'jfb,ift,phantom' },
    variants: { type: 'string', default: 'plain,jr,sn,jr+sn' }, json: { type: 'string' },
  },
  strict: true,
});
const num = (k: keyof typeof flags): number => {
  const v = Number(flags[k]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`deq-fashion: --${k} must be a positive number, got ${String(flags[k])}`);
  return v;
};
const trainCount = num('train'), testCount = num('test'), epochs = num('epochs'), seeds = num('seeds');
const hidden = num('hidden'), batchSize = num('batch'), gamma = num('gamma'), gain = num('gain');
const RULES: Record<string, GradientRule> = {
  jfb: 'jfb',
  ift: { mode: 'ift', tol: 1e-5, maxIter: 40 },
  phantom: { mode: 'phantom', k: 5, damping: 0.8 },
};
const rules = flags.rules!.split(',');
const variants = flags.variants!.split(',');
for (const r of rules) if (!(r in RULES)) throw new Error(`deq-fashion: unknown rule '${r}' in --rules (jfb, ift, phantom)`);
for (const v of variants) if (!['plain', 'jr', 'sn', 'jr+sn'].includes(v)) throw new Error(`deq-fashion: unknown variant '${v}' in --variants (plain, jr, sn, jr+sn)`);
const SOLVE = { solver: 'anderson', tol: 1e-4, maxIter: 30 } as const;

/** The implicit cell f(z, inj) = tanh(W z + inj); the injection U x + b is computed once per batch. */
class DeqClassifier extends Module {
  inject: Linear;
  cell: Linear;
  readout: Linear;
  constructor(rng: Rng) {
    super();
    this.inject = new Linear(784, hidden, { rng });
    this.cell = new Linear(hidden, hidden, { rng, bias: false });
    this.readout = new Linear(hidden, 10, { rng });
  }
  f = (z: Tensor, inj: Tensor): Tensor => tanh(add(this.cell.forward(z), inj));
}

interface RunResult { accuracy: number; fwdEvals: number; bwdEvals: number; radius: number; epochSeconds: number; diverged: number }

const average = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
const flat = (x: Tensor): Tensor => sub(reshape(x, [x.shape[0]!, 784]), 0.5);

function run(rule: string, variant: string, seed: number, train: ImageDataset, test: ImageDataset): RunResult {
  const rng = new Rng(seed);
  const model = new DeqClassifier(rng);
  // --gain scales the cell's initial weight (PyTorch's default init) to start nearer the edge of stability
  if (gain !== 1) noGrad(() => model.cell.weight.assign(mul(model.cell.weight, gain)));
  if (variant.includes('sn')) spectralNorm(model.cell, 'weight', { targetNorm: 0.9, rng: rng.fork() });
  const opt = new Adam(model.parameters(), { lr: 2e-3 });
  const gradient = RULES[rule]!;
  const useJr = variant.includes('jr');
  const fwd: number[] = [], bwd: number[] = [];
  let diverged = 0, seconds = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const start = performance.now();
    for (const { x, y } of train.batches(batchSize, { shuffle: true, rng, dropLast: true })) {
      resetDeq(model); // TorchDEQ's reset_deq: one power iteration of the spectral norm per step
      const stats: FixedPointStats = tidy(() => {
        const inj = model.inject.forward(flat(x));
        const { z, stats: s } = fixedPoint(model.f, [inj], { ...SOLVE, gradient });
        let loss = crossEntropy(model.readout.forward(z), y);
        if (useJr) loss = add(loss, mul(jacobianRegularization((zz) => model.f(zz, inj), detach(z), { rng }), gamma));
        loss.backward();
        return s;
      });
      opt.step();
      opt.zeroGrad();
      x.dispose(); y.dispose();
      fwd.push(average(stats.nFevals));
      // VJPs of f per sample in the backward pass: JFB 1, phantom k, IFT the adjoint's iterations + the final one
      bwd.push(rule === 'ift' ? average(stats.backward?.nFevals ?? [NaN]) + 1 : rule === 'phantom' ? 5 : 1);
      diverged += stats.status.filter((st) => st !== 'converged').length;
    }
    seconds += (performance.now() - start) / 1000;
  }
  model.eval();
  let correct = 0;
  const radii: number[] = [];
  for (const { x, y } of test.batches(250)) {
    tidy(() => {
      const inj = noGrad(() => model.inject.forward(flat(x)));
      const { z } = noGrad(() => fixedPoint(model.f, [inj], SOLVE));
      correct += noGrad(() => mean(eq(argmax(model.readout.forward(z), 1), y).cast('float32')).item()) * y.shape[0]!;
      radii.push(average(Array.from(estimateSpectralRadius((zz) => model.f(zz, inj), z, { iterations: 30, seed }).dataSync())));
    });
    x.dispose(); y.dispose();
  }
  model.dispose();
  return { accuracy: correct / test.count, fwdEvals: average(fwd), bwdEvals: average(bwd), radius: average(radii), epochSeconds: seconds / epochs, diverged };
}

function meanStd(xs: readonly number[], digits: number, scale = 1): string {
  const m = average(xs);
  const sd = Math.sqrt(average(xs.map((v) => (v - m) ** 2)));
  return xs.length > 1 ? `${(m * scale).toFixed(digits)} ± ${(sd * scale).toFixed(digits)}` : (m * scale).toFixed(digits);
}

const data = loadFashionMnist({ size: 28 });
const split = standardSplit(data);
// the split keeps the file's class order, so take evenly spaced images: every class in equal parts
const spaced = (set: ImageDataset, n: number): ImageDataset =>
  set.subset(Array.from({ length: Math.min(n, set.count) }, (_, i) => Math.floor((i * set.count) / Math.min(n, set.count))));
const train = spaced(split.train, trainCount);
const test = spaced(split.test, testCount);
console.log(`DEQ on Fashion-MNIST: ${train.count} train / ${test.count} test images, hidden ${hidden}, ${epochs} epoch(s), batch ${batchSize}, ${seeds} seed(s); anderson tol ${SOLVE.tol} (rms), maxIter ${SOLVE.maxIter}; JR weight ${gamma}, SN target 0.9, cell init gain ${gain}`);
run('jfb', 'jr+sn', 0, spaced(train, 100), spaced(test, 50)); // warm-up (JIT), not reported
const rows: { rule: string; variant: string; runs: RunResult[] }[] = [];
const total = performance.now();
for (const rule of rules) {
  for (const variant of variants) {
    const runs: RunResult[] = [];
    for (let s = 0; s < seeds; s++) runs.push(run(rule, variant, s, train, test));
    rows.push({ rule, variant, runs });
    const last = rows.at(-1)!;
    console.log(`  ${rule} ${variant}: accuracy ${meanStd(last.runs.map((r) => r.accuracy), 1, 100)} %, ρ ${meanStd(last.runs.map((r) => r.radius), 2)}`);
  }
}
console.log(`\n| rule | variant | test accuracy (%) | forward f-evals / sample | backward VJPs / sample | spectral radius at z* | unconverged sample-solves (all seeds) | s / epoch |`);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const { rule, variant, runs } of rows) {
  const col = (k: keyof RunResult, d: number, scale = 1) => meanStd(runs.map((r) => r[k]), d, scale);
  console.log(`| ${rule} | ${variant} | ${col('accuracy', 1, 100)} | ${col('fwdEvals', 1)} | ${col('bwdEvals', 1)} | ${col('radius', 2)} | ${runs.reduce((a, r) => a + r.diverged, 0)} | ${col('epochSeconds', 2)} |`);
}
console.log(`\ntotal ${((performance.now() - total) / 1000).toFixed(0)} s (mean ± std over seeds 0..${seeds - 1})`);
if (flags.json) writeFileSync(flags.json, JSON.stringify({ flags, rows }, null, 2));
