// The referee's convergence question: the shipped VIAR's fixed-point residual per scale over many sampling
// iterations (relative step ‖z_{t+1} − z_t‖/‖z_t‖, as VIAR.sample reports it), mean and spread over sampled images.
// Writes experiments/results/residuals.{json,svg}. Run: npx tsx experiments/residuals.ts [--help]

import { parseArgs } from 'node:util';
import * as V from '../src/index.js';
import { SAMPLE_DEFAULTS, loadTokenizer } from '../src/cli/transformer-commands.js';
import { RESULTS_DIR, intArg, progressBar, runInfo, sig, spread, writeJson, writeText } from './lib/common.js';
import { lineChart } from './svg-plot.js';

const HELP = `npx tsx experiments/residuals.ts [options]
  Samples --per-class images of every class one at a time (batch 1, so the residual is that image's: VIAR.sample reports
  the max over rows, here its conditional and null-class CFG rows) with --iters implicit iterations at every scale,
  and records the relative step ‖z_{t+1} − z_t‖/‖z_t‖ after each iteration: mean, spread, quantiles per scale.
  --per-class N   images per class (default 10)        --iters K   iterations per scale (default 16)
  --seed S        image i uses seed S·1000 + i (default 0)
  --checkpoint P  (default checkpoints/viar-mnist.safetensors)   --threads T (default 1)
  --out-dir DIR   (default ${RESULTS_DIR})`;

const { values: a } = parseArgs({
  options: { 'per-class': { type: 'string' }, iters: { type: 'string' }, seed: { type: 'string' }, checkpoint: { type: 'string' }, threads: { type: 'string' }, 'out-dir': { type: 'string' }, help: { type: 'boolean' } },
});
if (a.help) { console.log(HELP); process.exit(0); }
V.setNumThreads(intArg('threads', a.threads, 1));
const perClass = intArg('per-class', a['per-class'], 10), iters = intArg('iters', a.iters, 16), seed = intArg('seed', a.seed, 0, 0);
const checkpoint = a.checkpoint ?? 'checkpoints/viar-mnist.safetensors', outDir = a['out-dir'] ?? RESULTS_DIR;
const info0 = runInfo('experiments/residuals.ts', process.argv.slice(2));

const { model, info } = V.loadTransformer(checkpoint, { model: 'viar' });
const viar = model as V.VIAR;
const vae = loadTokenizer(info.metadata.tokenizer ?? 'checkpoints/tokenizer-mnist.safetensors', 'mnist');
const patchNums = viar.config.patchNums;
const classes = viar.config.numClasses;
// traces[s][t] = residuals of every image at scale s after iteration t + 1
const traces: number[][][] = patchNums.map(() => Array.from({ length: iters }, () => []));
const bar = progressBar('residuals', 'images');
bar.start(classes * perClass, 0, { what: `${iters} iterations per scale` });
const t0 = performance.now();
for (let i = 0; i < classes * perClass; i++) {
  const label = Math.floor(i / perClass);
  const residuals = V.tidy(() => viar.sample(vae, {
    labels: [label], cfg: SAMPLE_DEFAULTS.cfg, topK: SAMPLE_DEFAULTS.topK, topP: SAMPLE_DEFAULTS.topP, seed: seed * 1000 + i, iterSchedule: iters,
  }).residuals);
  residuals.forEach((trace, s) => trace.forEach((r, t) => traces[s]![t]!.push(r)));
  bar.increment(1, { what: `class ${label}` });
}
bar.stop();
const seconds = (performance.now() - t0) / 1000;

const scales = patchNums.map((p, s) => {
  const perIter = traces[s]!.map((vals, t) => {
    const st = spread(vals);
    return { t: t + 1, mean: sig(st.mean), std: sig(st.std), min: sig(st.min), max: sig(st.max), median: sig(st.median), p10: sig(st.p10), p90: sig(st.p90) };
  });
  // contraction estimate: geometric mean of r_{t+1}/r_t of the median curve over the last half of the iterations
  const half = Math.floor(iters / 2);
  const ratios = perIter.slice(half).map((r, k) => r.median / perIter[half + k - 1]!.median).filter((x) => Number.isFinite(x) && x > 0);
  const rate = ratios.length ? Math.exp(ratios.reduce((acc, x) => acc + Math.log(x), 0) / ratios.length) : NaN;
  return { scale: s, side: p, tokens: p * p, rateLateHalf: sig(rate), iterations: perIter };
});
const at = (t: number) => scales.map((s) => s.iterations[Math.min(t, iters) - 1]!.mean);
const implicit = viar.config.implicit;
const result = {
  ...info0, experiment: 'fixed-point residual per scale over sampling iterations', checkpoint,
  trainedWith: { noGradIters: implicit.noGradIters, withGradIters: implicit.withGradIters, totalIterations: [implicit.noGradIters[0] + implicit.withGradIters[0], implicit.noGradIters[1] + implicit.withGradIters[1]], defaultSchedule: implicit.schedule },
  sampler: { cfg: SAMPLE_DEFAULTS.cfg, topK: SAMPLE_DEFAULTS.topK, topP: SAMPLE_DEFAULTS.topP, seeds: `image i (class ⌊i/${perClass}⌋) uses seed ${seed}·1000 + i`, batch: 1, iterationsPerScale: iters },
  images: classes * perClass, seconds: sig(seconds),
  measure: 'entry t (1-based): the relative step ‖z_t − z_{t−1}‖/‖z_{t−1}‖ of iteration t, z_0 = x the injection (so t = 1 compares f(x) with x); per image the max over its two CFG rows (conditional, null class), as VIAR.sample reports it; statistics over images',
  summary: {
    meanAt1: at(1).map((x) => sig(x)), meanAt4: at(4).map((x) => sig(x)), meanAt6: at(6).map((x) => sig(x)), meanAtLast: at(iters).map((x) => sig(x)),
    minOverIterations: scales.map((s) => sig(Math.min(...s.iterations.map((r) => r.mean)))),
    argminOverIterations: scales.map((s) => s.iterations.reduce((best, r) => (r.mean < best.mean ? r : best)).t),
  },
  scales,
};
writeJson(`${outDir}/residuals.json`, result);
writeText(`${outDir}/residuals.svg`, lineChart(scales.map((s) => ({
  name: `scale ${s.side}×${s.side}`, points: s.iterations.map((r) => [r.t, r.mean] as [number, number]),
  band: s.iterations.map((r) => [r.t, r.p10, r.p90] as [number, number, number]),
})), {
  title: `VIAR fixed-point residual per scale (mean, p10–p90 band over ${classes * perClass} images)`, xLabel: `implicit iteration t (training ran ${result.trainedWith.totalIterations.join('–')})`,
  yLabel: 'relative step ‖z_{t+1} − z_t‖ / ‖z_t‖', logY: true, width: 720,
}));
for (const s of scales) {
  console.log(`scale ${s.side}×${s.side}: mean residual t=1 ${s.iterations[0]!.mean.toExponential(2)}, t=4 ${s.iterations[Math.min(4, iters) - 1]!.mean.toExponential(2)}, t=${iters} ${s.iterations[iters - 1]!.mean.toExponential(2)}; late rate ${s.rateLateHalf}`);
}
console.log(`${classes * perClass} images in ${seconds.toFixed(1)} s; wrote ${outDir}/residuals.{json,svg}`);
viar.dispose();
vae.dispose();
