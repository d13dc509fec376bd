// The WebAssembly SIMD128 ceiling on this machine: a pure multiply-add loop (no memory traffic) emitted by our module
// builder, on 1 thread and on every thread at once, and the engine's kernels as a fraction of it: matmuls in GFLOP/s,
// elementwise and row kernels in GB/s and in FLOP/s of their arithmetic.
// Run: npx tsx bench/simd-ceiling.ts [--json path] [--samples n]

import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import {
  Rng, attention, conv2d, describeCpuKernels, geluTanh, getNumThreads, matmul, mul, add, randn, softmax, sum, tidy, layerNorm, type Tensor,
} from '../src/index.js';
import { ModuleBuilder } from '../src/tensor/backend/cpu/wasm/module-builder.js';
import { wasmGemmRuntime } from '../src/tensor/backend/cpu/wasm/wasm-gemm.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    json: { type: 'string', default: join(here, 'results', 'simd-ceiling.json') },
    samples: { type: 'string', default: '7' },
  },
});
const SAMPLES = Number(args.samples);

/** Independent f32x4 accumulators: enough to cover the multiply-add latency on two pipes. */
const ACCUMULATORS = 12;
const ITERATIONS = 2_000_000;

/** fma(iterations): acc_i = acc_i·m + a for ACCUMULATORS vectors, relaxed fused multiply-add or mul + add. */
function ceilingModule(fma: boolean): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder({ initialPages: 1, maximumPages: 1, shared: false });
  const f = mod.func('fma', [['n', 'i32']], ['f32']);
  f.local('i', 'i32'); f.local('m', 'v128'); f.local('a', 'v128');
  for (let k = 0; k < ACCUMULATORS; k++) f.local(`acc${k}`, 'v128');
  f.f32(0.999).f32x4_splat().set('m');
  f.f32(0.001).f32x4_splat().set('a');
  for (let k = 0; k < ACCUMULATORS; k++) f.f32(k).f32x4_splat().set(`acc${k}`);
  f.for_('i', 0, 'n', 1, () => {
    for (let k = 0; k < ACCUMULATORS; k++) {
      if (fma) f.get(`acc${k}`).get('m').get('a').f32x4_relaxed_madd().set(`acc${k}`);
      else f.get(`acc${k}`).get('m').f32x4_mul().get('a').f32x4_add().set(`acc${k}`);
    }
  });
  f.get('acc0');
  for (let k = 1; k < ACCUMULATORS; k++) f.get(`acc${k}`).f32x4_add();
  f.f32x4_extract_lane(0);
  return mod.toBytes();
}

const FLOPS_PER_CALL = ITERATIONS * ACCUMULATORS * 4 * 2;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/**
 * GFLOP/s of the loop on one thread: the best sample (a ceiling is a peak; on a shared machine the median measures
 * the neighbours too).
 */
function singleThread(bytes: Uint8Array<ArrayBuffer>): number {
  const fn = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 1 }) } })
    .exports.fma as (n: number) => number;
  fn(ITERATIONS);
  const times: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const t0 = performance.now();
    fn(ITERATIONS);
    times.push(performance.now() - t0);
  }
  return FLOPS_PER_CALL / Math.min(...times) / 1e6;
}

/** Aggregate GFLOP/s of the loop on `threads` worker threads started together (the best round). */
async function allThreads(bytes: Uint8Array<ArrayBuffer>, threads: number): Promise<number> {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const fn = new WebAssembly.Instance(new WebAssembly.Module(workerData.bytes), { env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 1 }) } }).exports.fma;
    fn(${ITERATIONS});
    parentPort.on('message', () => { fn(${ITERATIONS}); parentPort.postMessage(0); });
    parentPort.postMessage('ready');`;
  const workers = Array.from({ length: threads }, () => new Worker(source, { eval: true, workerData: { bytes } }));
  await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r))));
  const rates: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const t0 = performance.now();
    await Promise.all(workers.map((w) => new Promise((r) => { w.once('message', r); w.postMessage(0); })));
    rates.push((threads * FLOPS_PER_CALL) / (performance.now() - t0) / 1e6);
  }
  await Promise.all(workers.map((w) => w.terminate()));
  return Math.max(...rates);
}

/** Median and best ms per call of fn (a sample repeats it for ≥ 100 ms). */
function time(fn: () => void): { median: number; best: number } {
  fn();
  const t0 = performance.now();
  fn();
  const reps = Math.max(1, Math.ceil(100 / Math.max(performance.now() - t0, 1e-3)));
  const samples: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const t1 = performance.now();
    for (let r = 0; r < reps; r++) fn();
    samples.push((performance.now() - t1) / reps);
  }
  return { median: median(samples), best: Math.min(...samples) };
}

const rt = wasmGemmRuntime();
const fmaAvailable = rt?.tiling.fma ?? false;
const threads = getNumThreads();
const ceiling = {
  fma1: fmaAvailable ? singleThread(ceilingModule(true)) : null,
  mulAdd1: singleThread(ceilingModule(false)),
  fmaAll: fmaAvailable ? await allThreads(ceilingModule(true), threads) : null,
  mulAddAll: await allThreads(ceilingModule(false), threads),
};
const peak = ceiling.fmaAll ?? ceiling.mulAddAll;
console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; wasm SIMD128 ceiling (${cpus()[0]?.model ?? 'cpu'}, ${threads} threads): ` +
  `fma ${ceiling.fma1?.toFixed(1) ?? '-'} GFLOP/s on 1 thread, ${ceiling.fmaAll?.toFixed(1) ?? '-'} on ${threads}; ` +
  `mul+add ${ceiling.mulAdd1.toFixed(1)} / ${ceiling.mulAddAll.toFixed(1)}`);

// Kernels: FLOPs counted as the arithmetic a straightforward kernel does; bytes as the operands read and written once.
interface Row { kernel: string; ms: number; bestMs: number; gflops: number; gbs: number; fractionOfCeiling: number; bestFractionOfCeiling: number }
const rows: Row[] = [];
const rng = new Rng(1);
function kernel(name: string, flops: number, bytes: number, fn: () => void): void {
  const { median: ms, best } = time(() => tidy(fn));
  const gflops = flops / ms / 1e6;
  rows.push({ kernel: name, ms, bestMs: best, gflops, gbs: bytes / ms / 1e6, fractionOfCeiling: gflops / peak, bestFractionOfCeiling: flops / best / 1e6 / peak });
}
for (const n of [256, 512, 1024]) {
  const a = randn([n, n], rng), b = randn([n, n], rng);
  kernel(`matmul ${n}`, 2 * n ** 3, 12 * n * n, () => { matmul(a, b); });
}
const N = 1 << 20;
const x = mul(randn([1024, 1024], rng), 1), y = mul(randn([1024, 1024], rng), 1), bias = mul(randn([1024], rng), 1);
kernel('add 1M', N, 12 * N, () => { add(x, y); });
kernel('add bias (broadcast row) 1M', N, 8 * N, () => { add(x, bias); });
kernel('geluTanh 1M', 20 * N, 8 * N, () => { geluTanh(x); });
kernel('softmax rows 1024×1024', 20 * N, 8 * N, () => { softmax(x, -1); });
kernel('layerNorm rows 1024×1024', 8 * N, 8 * N, () => { layerNorm(x, [1024]); });
kernel('sum rows 1024×1024', N, 4 * N, () => { sum(x, -1); });
kernel('sum columns 1024×1024', N, 4 * N, () => { sum(x, 0); });
// point 3 of issue #17: the fused attention forward (2 matmuls of 130×130×32 per head, FLOPs of those) and the Winograd
// 3×3 convolution forward (FLOPs of the direct convolution it replaces, so the figure compares with a direct kernel)
const [q, k, v] = [0, 1, 2].map(() => randn([8, 4, 130, 32], rng)) as [Tensor, Tensor, Tensor];
kernel('attention fwd 8×4×130×32', 2 * 2 * 8 * 4 * 130 * 130 * 32, 4 * 4 * 8 * 4 * 130 * 32, () => { attention(q, k, v); });
const image = randn([16, 32, 16, 16], rng), filters = randn([64, 32, 3, 3], rng);
kernel('conv 3×3 fwd 16×32×16²→64 (Winograd)', 2 * 16 * 64 * 32 * 9 * 256, 4 * (16 * 32 * 256 + 16 * 64 * 256), () => { conv2d(image, filters, null, { padding: 1 }); });

console.log(`\nkernels (${describeCpuKernels()}), fraction of the ${peak.toFixed(1)} GFLOP/s ceiling:`);
console.log('kernel                          ms      GFLOP/s   GB/s   of ceiling (median; best sample)');
for (const r of rows) {
  console.log(`${r.kernel.padEnd(30)} ${r.ms.toFixed(3).padStart(8)} ${r.gflops.toFixed(1).padStart(9)} ${r.gbs.toFixed(1).padStart(6)}   ` +
    `${(100 * r.fractionOfCeiling).toFixed(0).padStart(3)} %; ${(100 * r.bestFractionOfCeiling).toFixed(0)} %`);
}
writeFileSync(args.json!, JSON.stringify({
  date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cpuCount: cpus().length, threads,
  loadAverage: loadavg(), kernels: describeCpuKernels(), ceilingGflops: ceiling, peakUsed: peak,
  method: `ceiling: best of ${SAMPLES} samples of the FMA loop (${ACCUMULATORS} f32x4 accumulators × ${ITERATIONS} iterations); kernels: median (and best) of ${SAMPLES} samples`, rows,
}, null, 2) + '\n');
console.log(`wrote ${args.json}`);
process.exit(0);
