// The referee's robustness question: sample quality (FID-proxy, class agreement, precision/recall — viar eval's own
// code) and ms/image of the shipped VIAR over per-scale iteration schedules inside and outside its training range,
// with the shipped VAR as reference. Writes experiments/results/schedules.{json,svg}. Run: npx tsx experiments/schedules.ts [--help]

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as V from '../src/index.js';
import { SAMPLE_DEFAULTS, loadTokenizer } from '../src/cli/transformer-commands.js';
import {
  RESULTS_DIR, intArg, parseScheduleList, progressBar, runInfo, scheduleLabel, scheduleShape, sig, spread, tokenIterations, writeJson, writeText,
} from './lib/common.js';
import { describePoint, measureQuality, type QualityPoint } from './lib/quality.js';
import { lineChart, panels } from './svg-plot.js';

const DEFAULT_SCHEDULES = '0;1;2;3;4;6;8;10;16;10,8,6,4,2,1;10/1;4/1;1,2,4,6,8,10;1/10';

const HELP = `npx tsx experiments/schedules.ts [options]
  For every schedule, samples --per-class images of each class from the VIAR checkpoint with the same seeds (viar eval's:
  class images done…done+9 use seed S·1000 + done) and measures them as viar eval does (FID-proxy against 10·N test
  images with the train-vs-test floor at that count, class agreement, k-NN precision/recall), plus ms/image.
  --schedules LIST   ';'-separated: N (every scale), L/R (official floor-linspace, e.g. 10/1 = 10,9,8,7,6,5 over 6
                     scales) or a,b,c,d,e,f (one count per scale); default '${DEFAULT_SCHEDULES}'
  --per-class N      images per class per schedule (default 20)     --seed S (default 0)
  --noise-seeds L    extra seeds for the checkpoint's own schedule, to show the metric's seed-to-seed spread (default 1,2; '' = none)
  --checkpoint P     (default checkpoints/viar-mnist.safetensors)   --var P (default checkpoints/var-mnist.safetensors; 'none' = skip)
  --timing-reps R    rounds of the timing pass (default 5; 0 = off): each round samples 10 images (one per class) with every
                     setting in turn; msPerImageTimed is the median round (less exposed to other jobs than msPerImage,
                     the quality run's own wall time)
  --threads T (default 1)   --out-dir DIR (default ${RESULTS_DIR})
  --plot-only        only redraw DIR/schedules.svg from DIR/schedules.json`;

const { values: a } = parseArgs({
  options: {
    schedules: { type: 'string' }, 'per-class': { type: 'string' }, seed: { type: 'string' }, 'noise-seeds': { type: 'string' }, checkpoint: { type: 'string' },
    var: { type: 'string' }, 'timing-reps': { type: 'string' }, 'plot-only': { type: 'boolean' }, threads: { type: 'string' }, 'out-dir': { type: 'string' }, help: { type: 'boolean' },
  },
});
if (a.help) { console.log(HELP); process.exit(0); }
if (a['plot-only']) {
  const dir = a['out-dir'] ?? RESULTS_DIR;
  writeText(`${dir}/schedules.svg`, plot(JSON.parse(readFileSync(`${dir}/schedules.json`, 'utf8'))));
  console.log(`redrew ${dir}/schedules.svg from ${dir}/schedules.json`);
  process.exit(0);
}
V.setNumThreads(intArg('threads', a.threads, 1));
const perClass = intArg('per-class', a['per-class'], 20, 2), seed = intArg('seed', a.seed, 0, 0);
const checkpoint = a.checkpoint ?? 'checkpoints/viar-mnist.safetensors', varPath = a.var ?? 'checkpoints/var-mnist.safetensors';
const outDir = a['out-dir'] ?? RESULTS_DIR;
const schedules = parseScheduleList(a.schedules ?? DEFAULT_SCHEDULES);
const timingReps = intArg('timing-reps', a['timing-reps'], 5, 0);
const noiseSeeds = (a['noise-seeds'] ?? '1,2').split(',').filter((s) => s.trim() !== '').map((s) => intArg('noise-seeds', s, 0, 0));
const info0 = runInfo('experiments/schedules.ts', process.argv.slice(2));

const meta = V.readSafetensorsMetadata(checkpoint);
const config = JSON.parse(meta.config!) as V.ViarConfig;
const patchNums = config.patchNums;
const trained = [config.implicit.noGradIters[0] + config.implicit.withGradIters[0], config.implicit.noGradIters[1] + config.implicit.withGradIters[1]] as const;
const own = config.implicit.schedule;

type Job = { kind: 'viar'; schedule: V.IterationSchedule; seed: number } | { kind: 'var'; seed: number };
const jobs: Job[] = [
  ...schedules.map((schedule) => ({ kind: 'viar' as const, schedule, seed })),
  ...noiseSeeds.map((s) => ({ kind: 'viar' as const, schedule: own, seed: s })),
  ...(varPath !== 'none' ? [{ kind: 'var' as const, seed }] : []),
];
const bar = progressBar('schedules', 'settings');
bar.start(jobs.length, 0, { what: '' });
type Timed = QualityPoint & { msPerImageTimed: number | null };
type PlotRow = Timed & { label: string; shape: string; tokenIterations: number };
const rows: (Timed & { label: string; shape: string; tokenIterations: number; inTrainingRange: boolean })[] = [];
let varPoint: Timed | null = null;
const t0 = performance.now();
for (const job of jobs) {
  bar.update({ what: job.kind === 'var' ? 'VAR' : `VIAR ${scheduleLabel(job.schedule)} seed ${job.seed}` });
  if (job.kind === 'var') {
    varPoint = { ...measureQuality({ checkpoint: varPath, perClass, seed: job.seed }), msPerImageTimed: null };
    bar.increment();
    console.log(`\nVAR: ${describePoint(varPoint)}`);
    continue;
  }
  const p = measureQuality({ checkpoint, perClass, seed: job.seed, schedule: job.schedule });
  const perScale = p.perScale!;
  rows.push({
    ...p, msPerImageTimed: null, label: scheduleLabel(job.schedule), shape: scheduleShape(perScale), tokenIterations: tokenIterations(perScale, patchNums),
    inTrainingRange: perScale.every((n) => n >= trained[0] && n <= trained[1]),
  });
  bar.increment();
  console.log(`\nVIAR ${scheduleLabel(job.schedule)} [${perScale.join(',')}] seed ${job.seed}: ${describePoint(p)}`);
}
bar.stop();

// A separate timing pass: --timing-reps rounds; in each, one batch of 10 images (one per class) per setting, the
// settings interleaved so that load from other jobs spreads over all of them; the median round per setting counts.
const timing = new Map<string, number[]>();
if (timingReps > 0) {
  const { model: viar, info } = V.loadTransformer(checkpoint);
  const vae = loadTokenizer(info.metadata.tokenizer ?? 'checkpoints/tokenizer-mnist.safetensors', 'mnist');
  const varModel = varPath !== 'none' ? V.loadTransformer(varPath).model : null;
  const labels = Array.from({ length: 10 }, (_, c) => c);
  const common = { labels, cfg: SAMPLE_DEFAULTS.cfg, topK: SAMPLE_DEFAULTS.topK, topP: SAMPLE_DEFAULTS.topP };
  const timed: [string, (seed: number) => void][] = [
    ...schedules.map((sch) => [scheduleLabel(sch), (sd: number) => V.tidy(() => { (viar as V.VIAR).sample(vae, { ...common, seed: sd, iterSchedule: sch }); })] as [string, (seed: number) => void]),
    ...(varModel ? [['VAR', (sd: number) => V.tidy(() => { varModel.sample(vae, { ...common, seed: sd }); })] as [string, (seed: number) => void]] : []),
  ];
  timed[0]![1](999); // warm-up
  const tbar = progressBar('timing', 'rounds');
  tbar.start(timingReps, 0, { what: `${timed.length} settings × 10 images` });
  for (let rep = 0; rep < timingReps; rep++) {
    for (const [label, run] of timed) {
      const s0 = performance.now();
      run(rep);
      timing.set(label, [...(timing.get(label) ?? []), (performance.now() - s0) / labels.length]);
    }
    tbar.increment();
  }
  tbar.stop();
  viar.dispose();
  varModel?.dispose();
  vae.dispose();
}
const timedMs = (label: string) => (timing.has(label) ? sig(spread(timing.get(label)!).median) : null);
for (const r of rows) r.msPerImageTimed = timedMs(r.label);
if (varPoint) varPoint.msPerImageTimed = timedMs('VAR');
const seconds = (performance.now() - t0) / 1000;

const ownRows = rows.filter((r) => r.label === scheduleLabel(own));
const noise = ownRows.length > 1 ? {
  schedule: scheduleLabel(own), seeds: ownRows.map((r) => r.seed),
  fidProxy: spread(ownRows.map((r) => r.fidProxy)), agreement: spread(ownRows.map((r) => r.agreement)),
  precision: spread(ownRows.map((r) => r.precision)), recall: spread(ownRows.map((r) => r.recall)),
} : null;
const result = {
  ...info0, experiment: 'VIAR sample quality and speed versus the per-scale iteration schedule', checkpoint, varCheckpoint: varPath === 'none' ? null : varPath,
  perClass, images: 10 * perClass, seed, seconds: sig(seconds), patchNums, trainedIterations: trained, defaultSchedule: scheduleLabel(own),
  notes: [
    'All schedules use the same seeds, so differences between them are paired (the same Rng stream).',
    `FID-proxy on ${10 * perClass} samples against ${10 * perClass} test images is biased upwards (fidProxyFloor: as many training images against the same test images); compare rows with each other and with the floor, never with published FIDs.`,
    'tokenIterations: implicit-block work per image, Σₛ nₛ·pₛ² (the part of the compute the schedule controls).',
    'inTrainingRange: every scale runs between the smallest and largest total iterations (k untaped + m taped) drawn in training.',
    'msPerImage: wall time of the quality run (batches of 100 images, decoding included); msPerImageTimed: the median of the timing pass\'s rounds (batches of 10, settings interleaved), on the thread count given, on a machine shared with other jobs.',
  ],
  noise, var: varPoint, rows,
};
writeJson(`${outDir}/schedules.json`, result);

writeText(`${outDir}/schedules.svg`, plot(result));
console.log(`${jobs.length} settings in ${seconds.toFixed(0)} s; wrote ${outDir}/schedules.{json,svg}`);

/** The figure: FID-proxy, agreement, time and precision/recall against the implicit work per image. */
function plot(res: { perClass: number; seed: number; rows: PlotRow[]; var: Timed | null; noise: { schedule: string; seeds: number[]; fidProxy: { min: number; max: number } } | null }): string {
  const main = res.rows.filter((r) => r.seed === res.seed);
  const live = main.filter((r) => r.tokenIterations > 0); // 0 iterations collapses (see the table): off the quality charts' scale
  const v = res.var;
  const ms = (r: Timed) => r.msPerImageTimed ?? r.msPerImage;
  const groups: [string, (r: PlotRow) => boolean, boolean][] = [
    ['uniform N/N', (r) => r.shape === 'uniform', false], ['decreasing', (r) => r.shape === 'decreasing', true], ['increasing', (r) => r.shape === 'increasing', true],
  ];
  const xLabel = 'implicit token-iterations per image Σ nₛ·pₛ²';
  const chart = (rows: PlotRow[], title: string, y: (r: PlotRow) => number, yLabel: string, h: { y: number; label: string }[], yMin?: number | 'auto') => lineChart(
    groups.map(([name, pick, noLine]) => {
      const pts = rows.filter(pick).sort((p, q) => p.tokenIterations - q.tokenIterations);
      return { name, noLine, points: pts.map((r) => [r.tokenIterations, y(r)] as [number, number]), labels: pts.map((r) => r.label) };
    }).filter((s) => s.points.length > 0),
    { title, xLabel, yLabel, xTicks: 'auto', hLines: h, width: 560, height: 380, ...(yMin !== undefined ? { yMin } : {}) },
  );
  const uniform = live.filter((r) => r.shape === 'uniform').sort((p, q) => p.tokenIterations - q.tokenIterations);
  return panels([
    chart(live, `FID-proxy, ${10 * res.perClass} samples (≥ 1 iteration)`, (r) => r.fidProxy, 'FID-proxy (lower is better)', [
      { y: live[0]?.fidProxyFloor ?? NaN, label: 'real-vs-real floor' }, ...(v ? [{ y: v.fidProxy, label: 'VAR' }] : []),
      ...(res.noise ? [{ y: res.noise.fidProxy.min, label: `schedule ${res.noise.schedule} over ${res.noise.seeds.length} seeds: min` }, { y: res.noise.fidProxy.max, label: 'max' }] : []),
    ]),
    chart(live, 'class agreement (≥ 1 iteration)', (r) => 100 * r.agreement, 'agreement (%)', v ? [{ y: 100 * v.agreement, label: 'VAR' }] : [], 'auto'),
    chart(main, 'sampling time (timing pass, median)', ms, 'ms / image', v ? [{ y: ms(v), label: 'VAR' }] : []),
    lineChart(['precision', 'recall'].map((k) => ({
      name: `${k} (uniform)`, points: uniform.map((r) => [r.tokenIterations, k === 'precision' ? r.precision : r.recall] as [number, number]), labels: uniform.map((r) => r.label),
    })), {
      title: 'k-NN precision and recall (uniform, ≥ 1 iteration)', xLabel, yLabel: 'precision / recall', xTicks: 'auto', yMin: 'auto',
      width: 560, height: 380, hLines: v ? [{ y: v.precision, label: 'VAR precision' }, { y: v.recall, label: 'VAR recall' }] : [],
    }),
  ], 2);
}
