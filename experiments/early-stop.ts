// Early stopping on the fixed-point residual (VIAR.sample's earlyStopTol) against fixed schedules, with the official
// iteration-keyed cache (capped) and the 'last-iterate' cache (each scale stops on its own): implicit iterations
// saved, quality kept (viar eval's metrics, the same seeds as experiments/schedules.ts).
// Writes experiments/results/early-stop.{json,svg}. Run: npx tsx experiments/early-stop.ts [--help]

import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as V from '../src/index.js';
import { RESULTS_DIR, intArg, parseScheduleList, progressBar, runInfo, scheduleLabel, sig, tokenIterations, writeJson, writeText } from './lib/common.js';
import { describePoint, measureQuality, type QualityPoint } from './lib/quality.js';
import { lineChart, panels } from './svg-plot.js';

const HELP = `npx tsx experiments/early-stop.ts [options]
  Samples --per-class images of each class from the VIAR checkpoint with at most --max-iters iterations per scale,
  stopping a scale once the relative step max over the batch's rows ‖z_{t+1} − z_t‖/‖z_t‖ < tol (VIAR.sample's
  earlyStopTol), for every --tols value and --policies cache policy: 'iteration' (the official cache; later scales then
  run at most as many iterations, capAfterEarlyStop) and 'last-iterate' (a scale that stopped lends its last iterate's
  keys/values to later iterations, so each scale stops on its own residual), and compares with fixed uniform schedules. Quality as viar eval (same seeds: seed S·1000 + done per chunk of
  10 images per class, i.e. 100 images per sampler call).
  --tols LIST       ';'-separated tolerances (default '0.3;0.1;0.05;0.02;0.01;0.001')
  --max-iters K     the cap per scale (default 16)
  --policies LIST   ';'-separated implicitCache policies of the early-stop runs (default 'iteration;last-iterate')
  --fixed LIST      fixed schedules to compare (default '1;2;3;4;6;8;16'); taken from --fixed-from when it holds
                    them with the same checkpoint, --per-class and --seed, else measured
  --fixed-from F    (default ${RESULTS_DIR}/schedules.json; 'none' = measure everything)
  --per-class N (default 20)   --seed S (default 0)   --checkpoint P (default checkpoints/viar-mnist.safetensors)
  --threads T (default 1)   --out-dir DIR (default ${RESULTS_DIR})`;

const { values: a } = parseArgs({
  options: {
    tols: { type: 'string' }, policies: { type: 'string' }, 'max-iters': { type: 'string' }, fixed: { type: 'string' }, 'fixed-from': { type: 'string' }, 'per-class': { type: 'string' },
    seed: { type: 'string' }, checkpoint: { type: 'string' }, threads: { type: 'string' }, 'out-dir': { type: 'string' }, help: { type: 'boolean' },
  },
});
if (a.help) { console.log(HELP); process.exit(0); }
V.setNumThreads(intArg('threads', a.threads, 1));
const perClass = intArg('per-class', a['per-class'], 20, 2), seed = intArg('seed', a.seed, 0, 0), maxIters = intArg('max-iters', a['max-iters'], 16);
const tols = (a.tols ?? '0.3;0.1;0.05;0.02;0.01;0.001').split(';').map((t) => {
  const x = Number(t);
  if (!(x > 0) || !Number.isFinite(x)) throw new Error(`--tols: bad tolerance '${t}'`);
  return x;
});
const policies = (a.policies ?? 'iteration;last-iterate').split(';').map((p) => {
  if (p !== 'iteration' && p !== 'last-iterate') throw new Error(`--policies: '${p}' is not iteration or last-iterate`);
  return p as V.ImplicitCachePolicy;
});
const fixed = parseScheduleList(a.fixed ?? '1;2;3;4;6;8;16');
const checkpoint = a.checkpoint ?? 'checkpoints/viar-mnist.safetensors', outDir = a['out-dir'] ?? RESULTS_DIR;
const fixedFrom = a['fixed-from'] ?? `${RESULTS_DIR}/schedules.json`;
const info0 = runInfo('experiments/early-stop.ts', process.argv.slice(2));
const config = JSON.parse(V.readSafetensorsMetadata(checkpoint).config!) as V.ViarConfig;
const patchNums = config.patchNums;

// fixed schedules already measured by experiments/schedules.ts with the same settings are reused (same seeds)
type Stored = QualityPoint & { label: string };
let stored: Stored[] = [];
if (fixedFrom !== 'none' && existsSync(fixedFrom)) {
  const s = JSON.parse(readFileSync(fixedFrom, 'utf8')) as { checkpoint: string; perClass: number; seed: number; rows: Stored[] };
  if (s.checkpoint === checkpoint && s.perClass === perClass && s.seed === seed) stored = s.rows.filter((r) => r.seed === seed);
}
const jobs: ({ kind: 'fixed'; schedule: V.IterationSchedule } | { kind: 'tol'; tol: number; policy: V.ImplicitCachePolicy })[] = [
  ...fixed.filter((f) => !stored.some((r) => r.label === scheduleLabel(f))).map((schedule) => ({ kind: 'fixed' as const, schedule })),
  ...policies.flatMap((policy) => tols.map((tol) => ({ kind: 'tol' as const, tol, policy }))),
];
const tolLabel = (tol: number, policy: V.ImplicitCachePolicy) => `tol ${tol}${policy === 'iteration' ? '' : `, ${policy}`}`;
const rows: (QualityPoint & { kind: 'fixed' | 'earlyStop'; label: string; meanTokenIterations: number; source: string })[] = [];
for (const f of fixed) {
  const r = stored.find((x) => x.label === scheduleLabel(f));
  if (r) rows.push({ ...r, kind: 'fixed', label: scheduleLabel(f), meanTokenIterations: tokenIterations(r.meanIterationsPerScale!, patchNums), source: fixedFrom });
}
const bar = progressBar('early-stop', 'settings');
bar.start(jobs.length, 0, { what: '' });
const t0 = performance.now();
for (const job of jobs) {
  const label = job.kind === 'tol' ? tolLabel(job.tol, job.policy) : scheduleLabel(job.schedule);
  bar.update({ what: job.kind === 'tol' ? label : `fixed ${label}` });
  const p = job.kind === 'tol'
    ? measureQuality({ checkpoint, perClass, seed, schedule: maxIters, tol: job.tol, implicitCache: job.policy })
    : measureQuality({ checkpoint, perClass, seed, schedule: job.schedule });
  rows.push({ ...p, kind: job.kind === 'tol' ? 'earlyStop' : 'fixed', label, meanTokenIterations: tokenIterations(p.meanIterationsPerScale!, patchNums), source: 'this run' });
  bar.increment();
  console.log(`\n${label}: iterations per scale [${p.meanIterationsPerScale!.join(', ')}], ${describePoint(p)}`);
}
bar.stop();
const seconds = (performance.now() - t0) / 1000;
const fixedRows = rows.filter((r) => r.kind === 'fixed').sort((x, y) => x.meanTokenIterations - y.meanTokenIterations);
const stopRows = rows.filter((r) => r.kind === 'earlyStop');
const capRow = fixedRows.find((r) => r.label === String(maxIters));
const defaultRow = fixedRows.find((r) => r.label === scheduleLabel(config.implicit.schedule));
// the cheapest fixed schedule at least as good on FID-proxy as a tolerance: what adaptive compute must beat
const cheapestAsGood = (fid: number) => fixedRows.find((f) => f.fidProxy <= fid) ?? null;
const compare = stopRows.map((r) => ({
  tol: r.tol, implicitCache: r.implicitCache ?? 'iteration', meanIterationsPerScale: r.meanIterationsPerScale, meanTokenIterations: sig(r.meanTokenIterations),
  cheapestFixedAsGood: cheapestAsGood(r.fidProxy) ? { label: cheapestAsGood(r.fidProxy)!.label, meanTokenIterations: sig(cheapestAsGood(r.fidProxy)!.meanTokenIterations) } : null,
  savedVsCap: capRow ? sig(1 - r.meanTokenIterations / capRow.meanTokenIterations) : null,
  vsDefaultSchedule: defaultRow ? sig(r.meanTokenIterations / defaultRow.meanTokenIterations) : null,
  fidProxy: r.fidProxy, agreement: r.agreement, msPerImage: r.msPerImage,
}));
writeJson(`${outDir}/early-stop.json`, {
  ...info0, experiment: 'early stopping on the fixed-point residual versus fixed schedules', checkpoint, perClass, images: 10 * perClass, seed, maxIters,
  defaultSchedule: scheduleLabel(config.implicit.schedule), seconds: sig(seconds),
  notes: [
    'Early stop: a scale stops after iteration t once max over the 200 rows of a sampler call (100 images × 2 CFG rows) of ‖z_{t+1} − z_t‖/‖z_t‖ < tol. With implicitCache iteration (the official cache) later scales of that call then run at most t iterations (capAfterEarlyStop, its default), so every iteration-keyed KV-cache entry they read exists; with last-iterate a stopped scale lends its last iterate\'s keys/values to later iterations, and every scale stops on its own residual.',
    'cheapestFixedAsGood: the fixed schedule with the least work whose FID-proxy is at most the tolerance\'s (same seeds); adaptive compute pays off where its work is below that schedule\'s.',
    `meanTokenIterations: Σₛ (mean iterations at scale s)·pₛ², the implicit-block work per image; savedVsCap: 1 − that / the fixed ${maxIters}-iteration schedule's.`,
    'Fixed rows with source = a file were measured by experiments/schedules.ts with the same checkpoint, sample count and seeds.',
  ],
  compare, rows,
});
const chart = (title: string, y: (r: QualityPoint) => number, yLabel: string, yMin?: 'auto') => lineChart([
  { name: 'fixed N/N', points: fixedRows.map((r) => [r.meanTokenIterations, y(r)] as [number, number]), labels: fixedRows.map((r) => r.label) },
  ...policies.map((policy) => {
    const of = stopRows.filter((r) => (r.implicitCache ?? 'iteration') === policy);
    return { name: `early stop, ${policy === 'iteration' ? 'official cache (capped)' : 'last-iterate cache'} (≤ ${maxIters})`, noLine: true, points: of.map((r) => [r.meanTokenIterations, y(r)] as [number, number]), labels: of.map((r) => String(r.tol)) };
  }),
], { title, xLabel: 'mean implicit token-iterations per image', yLabel, xTicks: 'auto', width: 560, height: 380, ...(yMin ? { yMin } : {}), hLines: title.startsWith('FID') && rows[0] ? [{ y: rows[0].fidProxyFloor, label: 'real-vs-real floor' }] : [] });
writeText(`${outDir}/early-stop.svg`, panels([
  chart(`FID-proxy (${10 * perClass} samples)`, (r) => r.fidProxy, 'FID-proxy'),
  chart('class agreement', (r) => 100 * r.agreement, 'agreement (%)', 'auto'),
], 2));
console.log(`${jobs.length} settings measured in ${seconds.toFixed(0)} s (${rows.length - jobs.length} reused); wrote ${outDir}/early-stop.{json,svg}`);
