// The efficiency headline read both ways (docs/notes/official-measurements.md): sampling peak memory (live tensor bytes, process RSS)
// and throughput of the shipped VIAR at 10/10 vs lowered schedules, and of VAR vs VIAR, at several batch sizes, each
// setting in a fresh process. Writes experiments/results/efficiency.{json,svg}. Run: npx tsx experiments/efficiency.ts [--help]

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import * as V from '../src/index.js';
import { CpuBackend } from '../src/tensor/backend/cpu/cpu-backend.js';
import { SAMPLE_DEFAULTS, loadTokenizer } from '../src/cli/transformer-commands.js';
import { RESULTS_DIR, intArg, parseScheduleList, progressBar, runInfo, scheduleLabel, sig, spread, tokenIterations, writeJson, writeText } from './lib/common.js';
import { lineChart, panels } from './svg-plot.js';

const HELP = `npx tsx experiments/efficiency.ts [options]
  For every model setting × batch size, a fresh child process loads the checkpoint and its tokenizer, samples one warm-up
  image, then samples --images-per-setting images (at least one batch) in batches of B with the CPU backend's peak counter reset:
    peakLiveMiB      the peak of live tensor bytes during sampling (weights, tokenizer, KV caches, activations)
    activationMiB    the same minus the bytes live before sampling (weights and tokenizer)
    transformerActivationMiB  the same up to the last scale's tokens (before the tokenizer decodes to pixels)
    maxRssMiB        the child process's peak resident set (Node, the WebAssembly heap, everything)
    ms/image, images/s  wall time per image of the median timed batch (decoding included)
  --schedules LIST  VIAR schedules, ';'-separated N | L/R | a,b,… (default '10;4;10/1;1'; the first is the reference)
  --batches LIST    batch sizes (default 1,8,32)     --images-per-setting N (default 32)
  --checkpoint P    (default checkpoints/viar-mnist.safetensors)   --var P (default checkpoints/var-mnist.safetensors; 'none' = skip)
  --variants L      shipped and/or block-scoped (default both): block-scoped runs every block's forward in its own tidy
                    scope, freeing its temporaries when it returns as an eager framework does (the shipped samplers free
                    them at the end of each scale; VIAR's implicit iterations each have their own scope)
  --threads T (default 1)   --out-dir DIR (default ${RESULTS_DIR})
  --reanalyze       recompute the ratios and redraw the figure from DIR/efficiency.json's rows (no sampling)
  Throughput ratios use, per setting and batch, the better of the variants' runs (same arithmetic, run at different
  times: damps interference from other jobs); memory ratios are given per variant.`;

interface ChildSpec { checkpoint: string; schedule: V.IterationSchedule | null; batch: number; images: number; threads: number; blockScoped: boolean }

/**
 * Runs every transformer block's forward in its own tidy scope, so its temporaries are freed when it returns (as an
 * eager framework frees them) instead of at the end of the scale; outputs and KV caches are unchanged.
 */
function scopeBlocks(model: V.VAR | V.VIAR): void {
  const m = model as unknown as { blocks?: V.AdaLNSelfAttn[]; pre_blocks?: V.AdaLNSelfAttn[]; post_blocks?: V.AdaLNSelfAttn[]; implicit_block?: V.AdaLNSelfAttn };
  for (const blk of [...(m.blocks ?? []), ...(m.pre_blocks ?? []), ...(m.post_blocks ?? []), ...(m.implicit_block ? [m.implicit_block] : [])]) {
    const forward = blk.forward.bind(blk);
    blk.forward = (...args: Parameters<typeof forward>) => V.tidy(() => forward(...args));
  }
}
interface ChildResult { msPerImage: number; peakLiveBytes: number; transformerPeakBytes: number; baseBytes: number; maxRssBytes: number; heapArenaBytes: number; perScale: number[] | null; images: number; patchNums: number[] }

/** Child mode: one setting, result as the last stdout line (JSON). */
function child(spec: ChildSpec): ChildResult {
  V.setNumThreads(spec.threads);
  const backend = V.getBackend();
  if (!(backend instanceof CpuBackend)) throw new Error('efficiency: needs the CPU backend (its peak counter)');
  const { model, info } = V.loadTransformer(spec.checkpoint);
  const vae = loadTokenizer(info.metadata.tokenizer ?? 'checkpoints/tokenizer-mnist.safetensors', 'mnist');
  const isViar = model instanceof V.VIAR;
  if (spec.blockScoped) scopeBlocks(model as V.VAR | V.VIAR);
  let perScale: number[] | null = null;
  let transformerPeak = 0; // the peak up to the last scale's tokens, before the tokenizer decodes f̂
  const onScale = ({ scale, numScales }: { scale: number; numScales: number }) => {
    if (scale === numScales - 1) transformerPeak = Math.max(transformerPeak, backend.poolStats().peakLiveBytes);
  };
  const run = (batch: number, seed: number) => V.tidy(() => {
    const labels = Array.from({ length: batch }, (_, i) => i % model.config.numClasses);
    const common = { labels, cfg: SAMPLE_DEFAULTS.cfg, topK: SAMPLE_DEFAULTS.topK, topP: SAMPLE_DEFAULTS.topP, seed, onScale };
    if (isViar) perScale = (model as V.VIAR).sample(vae, { ...common, ...(spec.schedule !== null ? { iterSchedule: spec.schedule } : {}) }).iterations;
    else model.sample(vae, common);
  });
  run(1, 999); // warm-up: first-call costs out of the timing
  backend.resetPeak();
  transformerPeak = 0;
  const baseBytes = backend.memory().numBytes;
  const calls = Math.max(1, Math.ceil(spec.images / spec.batch));
  const perImage: number[] = [];
  for (let k = 0; k < calls; k++) {
    const t0 = performance.now();
    run(spec.batch, k);
    perImage.push((performance.now() - t0) / spec.batch);
  }
  const ms = spread(perImage).median; // the median call: robust to other jobs on a shared machine
  const r: ChildResult = {
    msPerImage: ms, peakLiveBytes: backend.poolStats().peakLiveBytes, transformerPeakBytes: transformerPeak, baseBytes,
    maxRssBytes: process.resourceUsage().maxRSS * 1024, heapArenaBytes: backend.poolStats().heapArenaBytes, perScale, images: calls * spec.batch,
    patchNums: [...model.config.patchNums],
  };
  model.dispose();
  vae.dispose();
  return r;
}

const { values: a } = parseArgs({
  options: {
    child: { type: 'string' }, schedules: { type: 'string' }, batches: { type: 'string' }, 'images-per-setting': { type: 'string' }, checkpoint: { type: 'string' },
    var: { type: 'string' }, variants: { type: 'string' }, reanalyze: { type: 'boolean' }, threads: { type: 'string' }, 'out-dir': { type: 'string' }, help: { type: 'boolean' },
  },
});
if (a.help) { console.log(HELP); process.exit(0); }
if (a.child) {
  console.log(JSON.stringify(child(JSON.parse(a.child) as ChildSpec)));
  process.exit(0);
}

interface Row {
  variant: string; name: string; model: 'viar' | 'var'; schedule: string | null; perScale: number[] | null; tokenIterations: number | null; batch: number; images: number;
  msPerImage: number; imagesPerSecond: number; peakLiveMiB: number; activationMiB: number; transformerActivationMiB: number; baseMiB: number; maxRssMiB: number; heapArenaMiB: number;
}
const outDir = a['out-dir'] ?? RESULTS_DIR;
const threads = intArg('threads', a.threads, 1);

if (a.reanalyze) {
  // the ratios and the figure again from the rows already measured (no sampling)
  const old = JSON.parse(readFileSync(`${outDir}/efficiency.json`, 'utf8')) as Record<string, unknown> & { rows: Row[]; threads: number };
  const { readings, throughputBest } = analyze(old.rows);
  writeJson(`${outDir}/efficiency.json`, { ...old, ...describe(), readings, throughputBest, rows: old.rows, reanalyzed: runInfo('experiments/efficiency.ts', process.argv.slice(2)) });
  writeText(`${outDir}/efficiency.svg`, plot(old.rows, throughputBest, old.threads));
  console.log(`re-analyzed ${outDir}/efficiency.json and redrew efficiency.svg`);
  process.exit(0);
}

V.setNumThreads(threads);
const schedules = parseScheduleList(a.schedules ?? '10;4;10/1;1');
const batches = (a.batches ?? '1,8,32').split(',').map((b) => intArg('batches', b, 1));
const images = intArg('images-per-setting', a['images-per-setting'], 32);
const variants = (a.variants ?? 'shipped,block-scoped').split(',').map((v) => {
  if (v !== 'shipped' && v !== 'block-scoped') throw new Error(`--variants takes shipped and/or block-scoped, got '${v}'`);
  return v;
});
const checkpoint = a.checkpoint ?? 'checkpoints/viar-mnist.safetensors', varPath = a.var ?? 'checkpoints/var-mnist.safetensors';
const info0 = runInfo('experiments/efficiency.ts', process.argv.slice(2));
const script = relative(process.cwd(), fileURLToPath(import.meta.url));

const settings: { name: string; model: 'viar' | 'var'; checkpoint: string; schedule: V.IterationSchedule | null }[] = [
  ...schedules.map((s) => ({ name: `VIAR ${scheduleLabel(s)}`, model: 'viar' as const, checkpoint, schedule: s })),
  ...(varPath !== 'none' ? [{ name: 'VAR', model: 'var' as const, checkpoint: varPath, schedule: null }] : []),
];
const parameters = Object.fromEntries(settings.map((s) => {
  const { model } = V.loadTransformer(s.checkpoint);
  const n = model.numParameters();
  model.dispose();
  return [s.model, n];
}));
const MiB = 2 ** 20;
const rows: Row[] = [];
const bar = progressBar('efficiency', 'settings');
bar.start(variants.length * settings.length * batches.length, 0, { what: '' });
const t0 = performance.now();
for (const variant of variants) {
  for (const s of settings) {
    for (const batch of batches) {
      bar.update({ what: `${variant} ${s.name} batch ${batch}` });
      const spec: ChildSpec = { checkpoint: s.checkpoint, schedule: s.schedule, batch, images, threads, blockScoped: variant === 'block-scoped' };
      const p = spawnSync('npx', ['tsx', script, '--child', JSON.stringify(spec)], { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (p.status !== 0) throw new Error(`child failed for ${s.name} batch ${batch}: ${p.stderr}`);
      const r = JSON.parse(p.stdout.trim().split('\n').at(-1)!) as ChildResult;
      rows.push({
        variant, name: s.name, model: s.model, schedule: s.schedule === null ? null : scheduleLabel(s.schedule), perScale: r.perScale,
        tokenIterations: r.perScale ? tokenIterations(r.perScale, r.patchNums) : null, batch, images: r.images,
        msPerImage: sig(r.msPerImage), imagesPerSecond: sig(1000 / r.msPerImage), peakLiveMiB: sig(r.peakLiveBytes / MiB), activationMiB: sig((r.peakLiveBytes - r.baseBytes) / MiB),
        transformerActivationMiB: sig((r.transformerPeakBytes - r.baseBytes) / MiB),
        baseMiB: sig(r.baseBytes / MiB), maxRssMiB: sig(r.maxRssBytes / MiB), heapArenaMiB: sig(r.heapArenaBytes / MiB),
      });
      bar.increment();
    }
  }
}
bar.stop();
const seconds = (performance.now() - t0) / 1000;
const { readings, throughputBest } = analyze(rows);
writeJson(`${outDir}/efficiency.json`, {
  ...info0, experiment: 'sampling peak memory and throughput: VIAR schedules and VAR, several batch sizes', viarCheckpoint: checkpoint, varCheckpoint: varPath === 'none' ? null : varPath,
  parameters, imagesPerSetting: images, seconds: sig(seconds),
  sampler: { cfg: SAMPLE_DEFAULTS.cfg, topK: SAMPLE_DEFAULTS.topK, topP: SAMPLE_DEFAULTS.topP, labels: 'i mod 10', seeds: 'batch k uses seed k (warm-up: 999)' },
  ...describe(), readings, throughputBest, rows,
});
writeText(`${outDir}/efficiency.svg`, plot(rows, throughputBest, threads));
for (const r of rows) console.log(`${r.variant.padEnd(12)} ${r.name.padEnd(12)} B=${String(r.batch).padStart(2)}: ${r.imagesPerSecond} img/s, peak live ${r.peakLiveMiB} MiB (above weights ${r.activationMiB}, transformer ${r.transformerActivationMiB}), max RSS ${r.maxRssMiB} MiB`);
console.log(`${rows.length} settings in ${seconds.toFixed(0)} s; wrote ${outDir}/efficiency.{json,svg}`);

/** The fixed descriptions written into the JSON. */
function describe() {
  return {
    variants: {
      shipped: 'the samplers as shipped: since 2026-12-04 every block of VAR and VIAR\'s pre/post blocks runs in its own tidy scope while sampling, and VIAR frees each implicit iteration\'s temporaries (before, the blocks kept theirs until the scale ended, which the block-scoped variant was added to show); so the two variants now measure the same sampler',
      'block-scoped': 'every block\'s forward wrapped in its own tidy scope (temporaries freed when it returns, as an eager framework frees them between ops only more coarsely); same outputs and arithmetic',
    },
    measures: {
      peakLiveMiB: 'peak of live tensor bytes (CPU backend poolStats().peakLiveBytes after resetPeak()) while sampling, weights and tokenizer included',
      activationMiB: 'peakLiveMiB minus the bytes live before sampling (weights, tokenizer): KV caches, activations, decoder',
      transformerActivationMiB: 'the same, but only up to the end of the last scale\'s token sampling (before the tokenizer decodes f̂ to pixels): the transformer\'s own peak',
      maxRssMiB: 'peak resident set of the child process (process.resourceUsage().maxRSS): Node, the WebAssembly heap (it never shrinks), code',
      imagesPerSecond: '1000 / ms per image of the median timed batch (decoding included)',
      throughputBest: 'per setting and batch size, the better imagesPerSecond of the variants: both run the same arithmetic at different times, so the better of the two damps interference from other jobs on a shared machine; the throughput ratios use it',
    },
    paper: { memoryGB: [19.24, 8.53], memoryRatio: sig(8.53 / 19.24), imagesPerSecond: [15.16, 32.08], throughputRatio: sig(32.08 / 15.16), gpu: 'RTX 4090' },
  };
}

/** Memory ratios per variant and throughput ratios (best of the variants) for both readings of the headline. */
function analyze(rows: Row[]) {
  const variants = [...new Set(rows.map((r) => r.variant))];
  const names = [...new Set(rows.map((r) => r.name))];
  const batches = [...new Set(rows.map((r) => r.batch))];
  const find = (variant: string, name: string, batch: number) => rows.find((r) => r.variant === variant && r.name === name && r.batch === batch)!;
  const best = (name: string, batch: number) => Math.max(...rows.filter((r) => r.name === name && r.batch === batch).map((r) => r.imagesPerSecond));
  const throughputBest = names.map((name) => ({ name, perBatch: batches.map((batch) => ({ batch, imagesPerSecond: best(name, batch) })) }));
  const ratio = (variant: string, from: string, to: string) => batches.map((batch) => {
    const x = find(variant, from, batch), y = find(variant, to, batch);
    return {
      batch, peakLive: sig(y.peakLiveMiB / x.peakLiveMiB), activation: sig(y.activationMiB / x.activationMiB),
      transformerActivation: sig(y.transformerActivationMiB / x.transformerActivationMiB), maxRss: sig(y.maxRssMiB / x.maxRssMiB),
      throughput: sig(best(to, batch) / best(from, batch)),
    };
  });
  const viars = names.filter((n) => rows.find((r) => r.name === n)!.model === 'viar');
  const ref = viars[0]!;
  const readings = Object.fromEntries(variants.map((v) => [v, {
    sameModelLoweredSchedule: Object.fromEntries(viars.slice(1).map((n) => [`${ref} → ${n}`, ratio(v, ref, n)])),
    varToViar: names.includes('VAR') ? Object.fromEntries(viars.map((n) => [`VAR → ${n}`, ratio(v, 'VAR', n)])) : {},
  }]));
  return { readings, throughputBest };
}

/** The figure: throughput (best of the variants), RSS and the transformer's peak in both variants, against batch size. */
function plot(rows: Row[], throughputBest: { name: string; perBatch: { batch: number; imagesPerSecond: number }[] }[], threads: number): string {
  const variants = [...new Set(rows.map((r) => r.variant))];
  const names = [...new Set(rows.map((r) => r.name))];
  const batches = [...new Set(rows.map((r) => r.batch))];
  const isVar = (n: string) => rows.find((r) => r.name === n)!.model === 'var';
  const series = (variant: string, y: (r: Row) => number) => names.map((name) => ({
    name, dashed: isVar(name), points: batches.map((b) => [b, y(rows.find((r) => r.variant === variant && r.name === name && r.batch === b)!)] as [number, number]),
  }));
  const opts = { xLabel: 'batch size', logX: true, width: 560, height: 360 };
  const v0 = variants[0]!, vLast = variants.at(-1)!;
  return panels([
    lineChart(throughputBest.map((t) => ({ name: t.name, dashed: isVar(t.name), points: t.perBatch.map((p) => [p.batch, p.imagesPerSecond] as [number, number]) })),
      { ...opts, title: `throughput, ${threads} thread${threads > 1 ? 's' : ''} (best of the variants)`, yLabel: 'images / s' }),
    lineChart(series(v0, (r) => r.maxRssMiB), { ...opts, title: `peak process RSS (${v0})`, yLabel: 'MiB' }),
    lineChart(series(v0, (r) => r.transformerActivationMiB), { ...opts, title: `transformer peak above weights (${v0})`, yLabel: 'MiB' }),
    lineChart(series(vLast, (r) => r.transformerActivationMiB), { ...opts, title: `transformer peak above weights (${vLast})`, yLabel: 'MiB' }),
  ], 2);
}
