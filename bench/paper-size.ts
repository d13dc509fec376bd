// The paper-sized models on one backend: VAR-d16 (C 1024, 16 heads, 310 M parameters) or the paper's VIAR (C 1920,
// 5 pre + implicit + 5 post, 10 iterations per scale) with the official VQVAE (ch 160, V 4096, Cvae 32), random
// weights from a seed or loaded (.safetensors or .pth, float32/float16/bfloat16), sampling one 256×256 image.
// Reports build/load time, time per image (transformer and decoder), per-scale times and peak memory as JSON.
// bench/paper-size-torch.py runs the official PyTorch code on the same weights (exported with --export).
// On the gpu backend (no tensor over 2^24 − 1 elements) the transformer is built and loaded on the CPU backend and
// moved over, a Linear weight above that limit (the paper VIAR's ada_lin, 6C × C = 22.1 M) as row blocks.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import * as V from '../src/index.js';

const HELP = `npx tsx bench/paper-size.ts [--model var|viar] [--backend cpu|gpu] [--mode webgpu] [--threads N]
  [--weights-dir DIR (loads DIR/<model>.safetensors|.pth and DIR/vae.safetensors|.pth; default: random weights from --seed)]
  [--weights FILE] [--vae-weights FILE] (override those files, e.g. DIR/var-bf16.pth)
  [--load-only (measure the load, no sampling; --weights may then list several files, each loaded in turn)]
  [--export DIR (write the random weights there as safetensors, for bench/paper-size-torch.py)] [--export-only]
  [--scales N (stop after N of the 10 scales: a CPU budget)] [--warmup N (default 1 on gpu, 0 on cpu)]
  [--decoder same|cpu (same, the default: the VQVAE decodes on --backend, conv2d splitting its im2col under the gpu
   backend's 2^24 element limit; cpu: the sampler skips the decode, which then runs on the CPU backend)]
  [--label 207] [--cfg 1.5] [--top-k 900] [--top-p 0.96] [--schedule 10] [--seed 0] [--greedy]
  [--config paper|narrow|small|micro (narrow: the paper's scales, vocabulary and 256x256 VQVAE layout at small widths, a
   check of the paper-sized code path that runs in minutes, e.g. on the gpu backend in gpu.js CPU mode: --mode cpu)]
  [--linear-limit N (gpu: Linear weights over N elements move as row blocks; default the backend's limit, 2^24 - 1;
   lower it to check that path with --config narrow)]
  [--out bench/results/paper-size-<model>-<backend>.json]`;

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: 'var' }, backend: { type: 'string', default: 'cpu' }, mode: { type: 'string', default: 'webgpu' },
    threads: { type: 'string' }, 'weights-dir': { type: 'string' }, weights: { type: 'string' }, 'vae-weights': { type: 'string' },
    'load-only': { type: 'boolean', default: false }, export: { type: 'string' }, 'export-only': { type: 'boolean', default: false },
    scales: { type: 'string' }, warmup: { type: 'string' }, label: { type: 'string', default: '207' }, cfg: { type: 'string', default: '1.5' },
    'top-k': { type: 'string', default: '900' }, 'top-p': { type: 'string', default: '0.96' }, schedule: { type: 'string', default: '10' },
    seed: { type: 'string', default: '0' }, decoder: { type: 'string', default: 'same' }, greedy: { type: 'boolean', default: false }, config: { type: 'string', default: 'paper' },
    'linear-limit': { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', default: false },
  },
});
if (a.help) {
  console.log(HELP);
  process.exit(0);
}
const kind = a.model as V.TransformerKind;
/** The paper's shapes at small widths: 2 blocks of C 64 (VIAR: 1 pre + implicit + 1 post), the VQVAE at ch 32. */
const narrowVar = V.varConfig(2, { embedDim: 64, numHeads: 1 });
const NARROW_CONFIGS = { var: narrowVar, viar: V.viarConfig({ ...narrowVar, nPre: 1, nPost: 1 }), tokenizer: { ...V.TOKENIZER_OFFICIAL, ch: 32 } };
const configs = a.config === 'paper' ? V.PAPER_CONFIGS : a.config === 'narrow' ? NARROW_CONFIGS : V.TRANSFORMER_CONFIGS[a.config!];
if ((kind !== 'var' && kind !== 'viar') || !configs || (a.backend !== 'cpu' && a.backend !== 'gpu')) {
  console.error(`bad arguments\n${HELP}`);
  process.exit(2);
}
const seed = Number(a.seed), numScales = configs[kind].patchNums.length;
const stopAfter = a.scales === undefined ? numScales : Math.min(Number(a.scales), numScales);
const warmup = Number(a.warmup ?? (a.backend === 'gpu' ? 1 : 0));
const out = a.out ?? `bench/results/paper-size-${kind}-${a.backend}${a.config === 'paper' ? '' : `-${a.config}`}.json`;
V.setNumThreads(Number(a.threads ?? cpus().length));

let gpuDescription: string | null = null;
if (a.backend === 'gpu') {
  const init = await V.initGpuBackend({ mode: a.mode as V.GpuMode, activate: true });
  gpuDescription = init.description;
}

/** Samples the device's used memory with nvidia-smi every 50 ms (null where there is none). */
function gpuMemoryProbe(): { stop: () => number | null } {
  let peak: number | null = null;
  let child: ChildProcess | null = null;
  try {
    child = spawn('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits', '-lms', '50'], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.on('error', () => { child = null; });
    child.stdout!.on('data', (d: Buffer) => {
      for (const v of d.toString().split('\n').map(Number).filter((n) => Number.isFinite(n) && n > 0)) peak = Math.max(peak ?? 0, v);
    });
  } catch {
    child = null;
  }
  return { stop: () => { child?.kill(); return peak; } };
}

const cpuBackend = () => V.getBackendByName('cpu') as unknown as { resetPeak(): void; poolStats(): { peakLiveBytes: number } };
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
const gpuCounters = () => (a.backend === 'gpu' ? (V.getBackendByName('gpu') as V.GpuBackend).counters() : null);

/** Loads `file`, or DIR/<name>.safetensors or DIR/<name>.pth, into the module; returns the file's size, stored dtypes and time. */
function loadInto(file: string | undefined, dir: string | undefined, name: string, module: V.Module) {
  file ??= [`${name}.safetensors`, `${name}.pth`].map((f) => join(dir ?? '.', f)).find((f) => { try { return statSync(f).isFile(); } catch { return false; } });
  if (!file) throw new Error(`${dir} has neither ${name}.safetensors nor ${name}.pth`);
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  let storedDtypes: Record<string, number> | null = null;
  if (file.endsWith('.pth')) {
    const held = new Set(module.stateDict().keys()); // as loadModule: a recomputed buffer may hold -Infinity
    const { tensors, storedDtypes: d } = V.loadPth(file, { checkFinite: (name) => held.has(name) });
    storedDtypes = d;
    try { module.loadStateDict(tensors); } finally { for (const t of tensors.values()) t.dispose(); }
  } else {
    V.loadModule(file, module);
  }
  return { file: basename(file), fileBytes: statSync(file).size, storedDtypes, ms: performance.now() - t0, rssGrowthMiB: mib(process.memoryUsage().rss - rss0) };
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Moves a module's tensors (parameters, buffers, cached constants) from the CPU backend to the current one. A Linear
 * weight over the current backend's element limit moves as row blocks under it, its forward concatenating their
 * products (the same values; the parameter count is unchanged, the state-dict keys are not).
 */
function moveToCurrentBackend(module: V.Module, limit = V.getBackend().maxElements ?? Infinity): string[] {
  const blocked: string[] = [];
  const upload = (values: ArrayLike<number>, like: V.Tensor, shape: readonly number[]) => {
    const t = V.tensor(like.dtype === 'int32' ? new Int32Array(values) : new Float32Array(values), { shape: [...shape], dtype: like.dtype }); // copies
    return like.requiresGrad ? t.requireGrad() : t;
  };
  const move = (t: V.Tensor) => { const moved = upload(t.dataSync(), t, t.shape); t.dispose(); return moved; };
  for (const [name, m] of module.namedModules()) {
    const fields = m as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(fields)) {
      if (v instanceof V.Tensor && m instanceof V.Linear && k === 'weight' && v.size > limit) {
        const [rows, cols] = v.shape as [number, number], per = Math.floor(limit / cols), host = v.dataSync();
        const blocks = Array.from({ length: Math.ceil(rows / per) }, (_, i) =>
          upload(host.subarray(i * per * cols, Math.min(rows, (i + 1) * per) * cols), v, [Math.min(rows, (i + 1) * per) - i * per, cols]));
        blocked.push(`${name}.weight [${rows}, ${cols}] as ${blocks.length} blocks`);
        delete fields[k];
        blocks.forEach((b, i) => { fields[`weight${i}`] = b; });
        v.dispose();
        m.forward = (x: V.Tensor, activation?: unknown) => {
          if (activation) throw new Error('a row-blocked Linear takes no fused activation');
          const y = V.concat(blocks.map((b) => V.matmul(x, V.transpose(b))), -1);
          return m.bias ? V.add(y, m.bias) : y; // (the bias field moves after this one)
        };
      } else if (v instanceof V.Tensor) {
        fields[k] = move(v);
      } else if (v instanceof Map) {
        for (const [key, t] of v) if (t instanceof V.Tensor) v.set(key, move(t));
      }
    }
  }
  return blocked;
}

const t0 = performance.now();
// on the gpu backend the transformer is built, loaded and exported on the CPU backend, then moved over (above)
const host = a.backend === 'gpu' ? 'cpu' : a.backend;
const model = V.withBackend(host, () => V.createModel(kind, configs[kind], new V.Rng(seed)));
const vae = new V.VQVAE(configs.tokenizer, new V.Rng(seed + 1));
// --decoder cpu: a copy of the VQVAE on the CPU backend decodes (same seed, so the same weights; or loaded below)
const cpuDecoder = a.decoder === 'cpu' && a.backend !== 'cpu';
const decoderVae = cpuDecoder ? V.withBackend('cpu', () => new V.VQVAE(configs.tokenizer, new V.Rng(seed + 1)).eval()) : vae;
// the sampler's VQVAE: with a CPU decoder its fhatToImage is the identity (the image is made from f̂ afterwards)
const samplerVae: V.VQVAE = cpuDecoder ? Object.create(vae, { fhatToImage: { value: (f: V.Tensor) => f } }) as V.VQVAE : vae;
model.eval();
vae.eval();
const buildMs = performance.now() - t0;
const weightBytes = (m: V.Module) => m.parameters().reduce((s, p) => s + p.size * 4, 0);
console.log(`built ${kind} (${model.numParameters().toLocaleString('en-US')} parameters) and the VQVAE (${vae.numParameters().toLocaleString('en-US')}) in ${(buildMs / 1000).toFixed(1)} s on ${a.backend}${host !== a.backend ? ` (the transformer on ${host}, moved after loading)` : ''}`);

if (a.export) {
  mkdirSync(a.export, { recursive: true });
  if (a.backend === 'gpu') await V.prefetch([...vae.stateDict().values()]);
  const meta = { format: 'viar-transformer-v1', model: kind, config: JSON.stringify(model.config), seed: String(seed) };
  V.saveSafetensors(join(a.export, `${kind}.safetensors`), model.stateDict(), meta);
  V.saveModule(join(a.export, 'vae.safetensors'), vae, { config: JSON.stringify(configs.tokenizer), seed: String(seed + 1) });
  console.log(`exported ${join(a.export, `${kind}.safetensors`)} and ${join(a.export, 'vae.safetensors')}`);
  if (a['export-only']) process.exit(0);
}

// with --load-only, every file of a comma-separated --weights is loaded in turn (the last one stays)
const loadTransformer = (file: string | undefined) => V.withBackend(host, () => loadInto(file, a['weights-dir'], kind, model));
const extraLoads = a['load-only'] && a.weights?.includes(',') ? a.weights.split(',').slice(0, -1).map(loadTransformer) : [];
const loads = a['weights-dir'] || a.weights
  ? { transformer: loadTransformer(a.weights?.split(',').at(-1)), vae: loadInto(a['vae-weights'], a['weights-dir'], 'vae', vae), extraLoads }
  : null;
if (loads && cpuDecoder) V.withBackend('cpu', () => loadInto(a['vae-weights'], a['weights-dir'], 'vae', decoderVae));
if (loads) console.log(`loaded ${loads.transformer.file} (${mib(loads.transformer.fileBytes)} MiB) in ${(loads.transformer.ms / 1000).toFixed(1)} s, ${loads.vae.file} in ${(loads.vae.ms / 1000).toFixed(1)} s`);
const moveStart = performance.now();
const rowBlocked = host !== a.backend ? moveToCurrentBackend(model, a['linear-limit'] === undefined ? undefined : Number(a['linear-limit'])) : [];
const moveToGpuMs = host !== a.backend ? performance.now() - moveStart : null;
if (moveToGpuMs !== null) console.log(`moved the transformer to the ${a.backend} backend in ${(moveToGpuMs / 1000).toFixed(1)} s${rowBlocked.length ? `; row blocks: ${rowBlocked.join(', ')}` : ''}`);

const labels = [Number(a.label)];
const samplingOptions = {
  labels, cfg: Number(a.cfg), topK: Number(a['top-k']), topP: Number(a['top-p']), seed, ...(kind === 'viar' ? { iterSchedule: Number(a.schedule) } : {}),
};
class StopAfterScales extends Error {}

/** One sample: wall time to the image on the host, per-scale times (host clock; on the gpu backend dispatch time only). */
async function sampleOnce(opts: V.ViarSampleOptions, stop: number) {
  const scaleMs: number[] = [], scaleCpuMs: number[] = [];
  const cpu0 = process.cpuUsage();
  let lastCpu = cpu0;
  const start = performance.now();
  let last = start;
  let image: V.Tensor | null = null, fHat: V.Tensor | null = null, picked: V.Tensor[] = [];
  let awaitedF: ArrayLike<number> | null = null;
  const onScale = ({ scale }: V.ScaleProgress) => {
    const now = performance.now(), nowCpu = process.cpuUsage();
    scaleMs.push(now - last);
    scaleCpuMs.push((nowCpu.user - lastCpu.user + nowCpu.system - lastCpu.system) / 1000);
    last = now;
    lastCpu = nowCpu;
    if (scale + 1 >= stop && stop < numScales) throw new StopAfterScales();
  };
  try {
    V.tidy(() => {
      const r = model.sample(samplerVae, { ...opts, onScale });
      image = V.keep(r.image);
      fHat = V.keep(r.fHat);
      if (opts.greedy) picked = r.indices.map((t) => V.keep(t));
    });
    await image!.data();
    if (cpuDecoder) awaitedF = await fHat!.data();
  } catch (e) {
    if (!(e instanceof StopAfterScales)) throw e;
  }
  const totalMs = performance.now() - start;
  const used = process.cpuUsage(cpu0);
  const cpuMs = (used.user + used.system) / 1000;
  let decodeMs: number | null = null;
  if (fHat) {
    // the decoder alone (a second time, or with --decoder cpu the only time), so that the transformer's share is known
    const d0 = performance.now();
    const f = cpuDecoder ? V.withBackend('cpu', () => V.tensor(Float32Array.from(awaitedF!), { shape: fHat!.shape })) : fHat!;
    const again = V.withBackend(cpuDecoder ? 'cpu' : V.getBackend().name, () => V.tidy(() => V.keep(V.noGrad(() => decoderVae.fhatToImage(f)))));
    await again.data();
    decodeMs = performance.now() - d0;
    again.dispose();
    if (f !== fHat) f.dispose();
  }
  const indices = picked.length ? await Promise.all(picked.map(async (t) => Array.from(await t.data()))) : null;
  for (const t of [image as V.Tensor | null, fHat as V.Tensor | null, ...picked]) t?.dispose();
  return { totalMs, cpuMs, decodeMs, scaleMs, scaleCpuMs, indices };
}

if (a['load-only']) {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({
    command: `npx tsx bench/paper-size.ts ${process.argv.slice(2).join(' ')}`.trim(), date: new Date().toISOString(), backend: a.backend,
    model: { kind, parameters: model.numParameters(), weightMiBOnDevice: mib(weightBytes(model) + weightBytes(vae)) }, buildMs, loads, moveToGpuMs,
    processMaxRssMiB: mib(process.resourceUsage().maxRSS * 1024),
  }, null, 2)}\n`);
  console.log(`wrote ${out}`);
  process.exit(0);
}

for (let i = 0; i < warmup; i++) {
  const w = await orRecordFailure('warm-up sampling', () => sampleOnce(samplingOptions, numScales));
  console.log(`warm-up ${i + 1}: ${(w.totalMs / 1000).toFixed(2)} s`);
}
if (a.backend === 'cpu') cpuBackend().resetPeak();
const probe = a.backend === 'gpu' ? gpuMemoryProbe() : null;
const rssBefore = process.memoryUsage().rss;
const loadBefore = loadavg()[0]!;
/** On a failure (e.g. a device limit) the result file still says what failed, so a device run is not lost. */
async function orRecordFailure<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify({ command: process.argv.slice(2).join(' '), failed: what, error: String((e as Error)?.stack ?? e), loads }, null, 2)}\n`);
    console.error(`${what} failed; wrote ${out}`);
    throw e;
  }
}
const run = await orRecordFailure('sampling', () => sampleOnce(samplingOptions, stopAfter));
const nvidiaPeakMiB = probe?.stop() ?? null;
const complete = stopAfter === numScales;
console.log(`${complete ? 'one image' : `${stopAfter} of ${numScales} scales`}: ${(run.totalMs / 1000).toFixed(2)} s${cpuDecoder ? ' without the decoder' : ''}` +
  (run.decodeMs !== null ? ` (decoder alone ${(run.decodeMs / 1000).toFixed(2)} s${cpuDecoder ? ' on the cpu backend' : ''})` : '') + `; per scale ${run.scaleMs.map((m) => (m / 1000).toFixed(2)).join(', ')} s`);
const greedy = a.greedy ? await orRecordFailure('greedy sampling', () => sampleOnce({ ...samplingOptions, greedy: true, recordLogits: false }, numScales)) : null;

const result = {
  command: `npx tsx bench/paper-size.ts ${process.argv.slice(2).join(' ')}`.trim(),
  date: new Date().toISOString(),
  machine: {
    cpu: cpus()[0]?.model, cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), gpu: gpuDescription, threads: V.getNumThreads(),
    loadAverage1mBeforeAndAfter: [loadBefore, loadavg()[0]!],
  },
  backend: a.backend,
  model: { kind, describe: model.describe(), parameters: model.numParameters(), vaeParameters: vae.numParameters(), weightMiBOnDevice: mib(weightBytes(model) + weightBytes(vae)) },
  weights: loads
    ? { source: 'files', ...loads }
    : { source: `random (seed ${seed})`, buildMs },
  ...(moveToGpuMs !== null ? { transformerBuiltOnCpuThenMovedMs: moveToGpuMs, rowBlockedLinearWeights: rowBlocked } : {}),
  sampling: { ...samplingOptions, images: 1, scalesRun: stopAfter, numScales, complete, warmup },
  timeMs: {
    ...(cpuDecoder
      // the sampler did not decode: its time is the transformer's; the image costs that plus the CPU decode
      ? { total: run.totalMs + (run.decodeMs ?? 0), transformerAndRest: run.totalMs, decoderAlone: run.decodeMs, decoderBackend: 'cpu', processCpuTimeOfSampler: run.cpuMs }
      : { total: run.totalMs, processCpuTime: run.cpuMs, ...(run.decodeMs !== null ? { decoderAlone: run.decodeMs, transformerAndRest: run.totalMs - run.decodeMs } : {}) }),
    perScale: run.scaleMs, perScaleProcessCpuTime: run.scaleCpuMs, perScaleIsDispatchOnly: a.backend === 'gpu',
  },
  memory: {
    ...(a.backend === 'cpu' ? { peakLiveTensorMiB: mib(cpuBackend().poolStats().peakLiveBytes) } : {}),
    processRssMiBBefore: mib(rssBefore), processRssMiBAfter: mib(process.memoryUsage().rss), processMaxRssMiB: mib(process.resourceUsage().maxRSS * 1024),
    ...(a.backend === 'gpu' ? { nvidiaSmiPeakMiB: nvidiaPeakMiB, gpuCounters: gpuCounters() } : {}),
  },
  ...(greedy ? { greedy: { totalMs: greedy.totalMs, indices: greedy.indices } } : {}),
};
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${out}`);
process.exit(0);
