// VIAR vs VAR at a matched training budget over seeds: evaluates every VAR / VIAR checkpoint under a root folder
// (e.g. checkpoints/matched/seed-{0,1,2}) with viar eval's metrics and fixed seeds, plus steps/time from metadata and logs;
// per-model figures, mean and min–max per kind. Run: npx tsx experiments/matched-budget.ts [ROOT] [--help]

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import * as V from '../src/index.js';
import { RESULTS_DIR, intArg, parseScheduleSpec, progressBar, runInfo, sig, spread, writeJson, writeText, type Spread } from './lib/common.js';
import { describePoint, measureQuality, type QualityPoint } from './lib/quality.js';
import { parseTrainingLog, seedFromPath } from './lib/training-log.js';
import { barChart, panels } from './svg-plot.js';

const HELP = `npx tsx experiments/matched-budget.ts [ROOT] [options]
  Finds every VAR / VIAR weights file under ROOT (default checkpoints/matched; searched 3 folders deep, symlinks
  followed; .train-state and token caches skipped), e.g. ROOT/seed-{0,1,2}/{var,viar}-mnist.safetensors, and for each:
    parameters, trained steps (metadata), the run's seed, total steps, batch and lr (the .train-state file beside it),
    training wall time, runs and last validation loss/accuracy (the .log beside it),
    FID-proxy (with its floor), class agreement, precision/recall and ms/image: viar eval's measurement with
    --per-class images per class and seed --seed (VIAR at its own default schedule unless --schedule)
  then the mean, std and min–max of every figure per kind, and the VIAR − VAR differences (paired by seed where both exist).
  --per-class N (default 20)   --seed S (default 0)   --schedule N|L/R|a,b,… (VIAR; default: each checkpoint's own)
  --out FILE (default ${RESULTS_DIR}/matched-budget.json; the SVG is written beside it)   --threads T (default 1)`;

const { values: a, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'per-class': { type: 'string' }, seed: { type: 'string' }, schedule: { type: 'string' }, out: { type: 'string' }, threads: { type: 'string' }, help: { type: 'boolean' } },
});
if (a.help) { console.log(HELP); process.exit(0); }
V.setNumThreads(intArg('threads', a.threads, 1));
const root = positionals[0] ?? 'checkpoints/matched';
const perClass = intArg('per-class', a['per-class'], 20, 2), seed = intArg('seed', a.seed, 0, 0);
const out = a.out ?? `${RESULTS_DIR}/matched-budget.json`;
const schedule = a.schedule !== undefined ? parseScheduleSpec(a.schedule) : undefined;
const info0 = runInfo('experiments/matched-budget.ts', process.argv.slice(2));
if (!existsSync(root)) throw new Error(`matched-budget: no folder ${root} (train the models first, e.g. viar train --model viar --data mnist --seed 0 --fit-minutes M --out ${root}/seed-0)`);

/** Weights files of VAR / VIAR models under `dir`, `depth` folders deep. */
function findModels(dir: string, depth: number): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) {
      if (depth > 0) found.push(...findModels(path, depth - 1));
    } else if (name.endsWith('.safetensors') && !name.endsWith('.train-state.safetensors') && !name.includes('.tokens-')) {
      const meta = V.readSafetensorsMetadata(path);
      if (meta.format === 'viar-transformer-v1' && (meta.model === 'var' || meta.model === 'viar')) found.push(path);
    }
  }
  return found;
}
const paths = findModels(root, 3);
if (!paths.length) throw new Error(`matched-budget: no VAR / VIAR checkpoints under ${root}`);
console.log(`found ${paths.length} models under ${root}: ${paths.join(', ')}`);

interface ModelRow {
  path: string; kind: 'var' | 'viar'; seed: number | null; parameters: number; trainedSteps: number | null; totalSteps: number | null; batchSize: number | null;
  lr: number | null; fitMinutes: number | null; trainingSeconds: number | null; runs: number | null; fitSecondsPerStep: number | null; valLoss: number | null;
  valAccuracy: number | null; quality: QualityPoint;
}
const rows: ModelRow[] = [];
const bar = progressBar('matched-budget', 'models');
bar.start(paths.length, 0, { what: '' });
const t0 = performance.now();
for (const path of paths) {
  bar.update({ what: path });
  const meta = V.readSafetensorsMetadata(path);
  const stem = basename(path).replace(/\.safetensors$/, '');
  const statePath = join(dirname(path), `${stem}.train-state.safetensors`), logPath = join(dirname(path), `${stem}.log`);
  const state = existsSync(statePath) ? V.readSafetensorsMetadata(statePath) : {};
  const log = existsSync(logPath) ? parseTrainingLog(readFileSync(logPath, 'utf8')) : null;
  const num = (x: string | undefined) => (x !== undefined && x !== '' && Number.isFinite(Number(x)) ? Number(x) : null);
  const q = measureQuality({ checkpoint: path, perClass, seed, ...(schedule !== undefined && meta.model === 'viar' ? { schedule } : {}) });
  rows.push({
    path, kind: meta.model as 'var' | 'viar', seed: seedFromPath(path) ?? num(state.seed), parameters: q.parameters, trainedSteps: num(meta.step),
    totalSteps: num(state.totalSteps), batchSize: num(state.batchSize), lr: num(state.lr), fitMinutes: num(meta.fitMinutes),
    trainingSeconds: log?.seconds ?? null, runs: log?.runs ?? null, fitSecondsPerStep: log?.fitSecondsPerStep ?? null, valLoss: log?.valLoss ?? null,
    valAccuracy: log?.valAccuracy ?? null, quality: q,
  });
  bar.increment();
  console.log(`\n${path} (${meta.model}, seed ${rows.at(-1)!.seed}, ${meta.step} steps): ${describePoint(q)}`);
}
bar.stop();
const seconds = (performance.now() - t0) / 1000;

const METRICS: [string, (r: ModelRow) => number | null][] = [
  ['fidProxy', (r) => r.quality.fidProxy], ['agreement', (r) => r.quality.agreement], ['precision', (r) => r.quality.precision], ['recall', (r) => r.quality.recall],
  ['msPerImage', (r) => r.quality.msPerImage], ['parameters', (r) => r.parameters], ['trainedSteps', (r) => r.trainedSteps], ['trainingSeconds', (r) => r.trainingSeconds],
  ['valLoss', (r) => r.valLoss], ['valAccuracy', (r) => r.valAccuracy],
];
const round = (s: Spread): Spread => ({ ...s, mean: sig(s.mean), std: sig(s.std), min: sig(s.min), max: sig(s.max), median: sig(s.median), p10: sig(s.p10), p90: sig(s.p90) });
interface KindSummary { models: number; seeds: (number | null)[]; stats: Record<string, Spread | null> }
const byKind: Partial<Record<'var' | 'viar', KindSummary>> = {};
for (const k of ['var', 'viar'] as const) {
  const rs = rows.filter((r) => r.kind === k);
  if (!rs.length) continue;
  byKind[k] = { models: rs.length, seeds: rs.map((r) => r.seed), stats: Object.fromEntries(METRICS.map(([name, f]) => {
    const vals = rs.map(f).filter((v): v is number => v !== null && Number.isFinite(v));
    return [name, vals.length ? round(spread(vals)) : null];
  })) };
}
// paired by seed: VIAR − VAR per seed where both exist
const seeds = [...new Set(rows.map((r) => r.seed))].filter((s): s is number => s !== null).sort((x, y) => x - y);
const paired = seeds.flatMap((s) => {
  const v = rows.find((r) => r.kind === 'var' && r.seed === s), i = rows.find((r) => r.kind === 'viar' && r.seed === s);
  return v && i ? [{ seed: s, fidProxy: sig(i.quality.fidProxy - v.quality.fidProxy), agreement: sig(i.quality.agreement - v.quality.agreement), msPerImageRatio: sig(i.quality.msPerImage / v.quality.msPerImage) }] : [];
});
const result = {
  ...info0, experiment: 'VIAR vs VAR at a matched training budget over seeds', root, perClass, images: 10 * perClass, evalSeed: seed,
  viarSchedule: schedule ?? 'each checkpoint\'s default', seconds: sig(seconds),
  fidProxyFloor: rows[0]?.quality.fidProxyFloor ?? null,
  notes: [
    `Every model is measured with viar eval's code and the same seeds (${10 * perClass} samples, real sets of as many test / training images); the FID-proxy floor is the real-vs-real value at that count.`,
    'trainingSeconds: summed "(N s this run)" of the log\'s finished or stopped runs (the wall time of viar train, sample grids included); trainedSteps from the weights\' metadata.',
    'paired: VIAR − VAR for seeds where both kinds exist (FID-proxy lower is better, agreement higher is better).',
  ],
  byKind, paired,
  models: rows.map((r) => ({ ...r, quality: { fidProxy: r.quality.fidProxy, fidProxyFloor: r.quality.fidProxyFloor, agreement: r.quality.agreement, precision: r.quality.precision, recall: r.quality.recall, msPerImage: r.quality.msPerImage, perScale: r.quality.perScale, perClassAgreement: r.quality.perClassAgreement } })),
};
writeJson(out, result);

const kinds = (['var', 'viar'] as const).filter((k) => byKind[k]);
const cats = [...seeds.map((s) => `seed ${s}`), 'mean, min–max'];
const chart = (title: string, yLabel: string, f: (r: ModelRow) => number | null, key: string, scale = 1) => barChart(kinds.map((k) => {
  const st = byKind[k]!.stats[key];
  const perSeed = seeds.map((s) => { const r = rows.find((x) => x.kind === k && x.seed === s); const v = r ? f(r) : null; return v === null ? NaN : v * scale; });
  return {
    name: k.toUpperCase(), values: [...perSeed, (st?.mean ?? NaN) * scale],
    low: [...perSeed.map(() => NaN), (st?.min ?? NaN) * scale], high: [...perSeed.map(() => NaN), (st?.max ?? NaN) * scale],
  };
}), { title, yLabel, categories: cats, width: 560, height: 360, ...(key === 'fidProxy' && result.fidProxyFloor !== null ? { hLines: [{ y: result.fidProxyFloor, label: 'real-vs-real floor' }] } : {}) });
writeText(out.replace(/\.json$/, '') + '.svg', panels([
  chart(`FID-proxy (${10 * perClass} samples; lower is better)`, 'FID-proxy', (r) => r.quality.fidProxy, 'fidProxy'),
  chart('class agreement', 'agreement (%)', (r) => r.quality.agreement, 'agreement', 100),
  chart('last validation loss (training log)', 'cross-entropy', (r) => r.valLoss, 'valLoss'),
  chart('sampling time', 'ms / image', (r) => r.quality.msPerImage, 'msPerImage'),
], 2));
for (const k of kinds) {
  const b = byKind[k]!.stats;
  const fmt = (key: string, d = 3) => (b[key] ? `${b[key]!.mean.toFixed(d)} (${b[key]!.min.toFixed(d)}–${b[key]!.max.toFixed(d)})` : 'n/a');
  console.log(`${k.toUpperCase()} (${byKind[k]!.models} models): FID-proxy ${fmt('fidProxy', 1)}, agreement ${fmt('agreement')}, ms/image ${fmt('msPerImage', 1)}, steps ${fmt('trainedSteps', 0)}`);
}
console.log(`${rows.length} models in ${seconds.toFixed(0)} s; wrote ${out} and ${out.replace(/\.json$/, '')}.svg`);
