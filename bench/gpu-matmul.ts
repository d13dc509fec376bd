// The gpu backend's matmul kernels on the matmul shapes of a VIAR_SMALL batch-64 training step and batch-100 sampling:
// the kernels as they were (f32 index arithmetic, kept below as matmul4F32 / matmulF32) beside the current ones (i32), in
// one run, dispatched as the backend dispatches them. Needs a GPU: `npx tsx bench/gpu-matmul.ts`; results to --out.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import * as V from '../src/index.js';
import { divmod, KERNELS, type KernelSource } from '../src/tensor/backend/gpu/kernel-sources.js';
import { splitFactor } from '../src/tensor/backend/gpu/gpu-backend.js';
import { attachNavigatorGpu } from '../src/tensor/backend/gpu/gpu-setup.js';
import type { DeviceArray, KernelRunner } from '../src/tensor/backend/gpu/kernel-runner.js';
import type { KernelTime } from '../src/tensor/backend/gpu/kernel-profiler.js';

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'webgpu' },
    repeats: { type: 'string', default: '20' },
    scale: { type: 'string', default: '1' },
    only: { type: 'string' },
    out: { type: 'string', default: 'bench/results/gpu-matmul.json' },
    'no-robustness': { type: 'boolean' },
    help: { type: 'boolean' },
  },
});
if (args.help) {
  console.log(`npx tsx bench/gpu-matmul.ts [--repeats 20] [--only qkv,attention] [--out bench/results/gpu-matmul.json]
  [--mode webgpu|cpu] [--scale 1 (rows and batches times this: --mode cpu --scale 0.01 is a smoke run)]
  [--no-robustness (Dawn without its bounds clamps on buffer accesses: the disable_robustness toggle)]
  VIAR_GPU_PROFILE=1 adds the GPU time per dispatch from timestamp queries.`);
  process.exit(0);
}
const repeats = Number(args.repeats), scale = Number(args.scale);

// ---- the kernels before integer scalars (f32 index arithmetic, every load through an f32 → i32 conversion) ----

const MATMUL_SCALARS = KERNELS.matmul.scalars;

function oldRowTimesFour(n: string, k: string): string {
  return `let av${n} = a[pa + (${k}) * aCol];
      let q${n} = pb + (${k}) * bRow;
      acc0 += av${n} * b[q${n}];
      acc1 += av${n} * b[q${n} + 1];
      acc2 += av${n} * b[q${n} + 2];
      acc3 += av${n} * b[q${n} + 3];`;
}

const OLD_KERNELS: Record<string, KernelSource> = {
  matmulF32: {
    arrays: ['a', 'b'], scalars: MATMUL_SCALARS,
    body: `let flat = this.thread.x + 0.5 - 0.5;
  let mn = m * n;
  ${divmod('flat', 'mn', 'bi', 'ij')}
  ${divmod('ij', 'n', 'i', 'j')}
  let acc = 0.0;
  for (let r = 0; r < nRed; r++) {
    let pa = ao + bi * aBatch + r * aRed + i * aRow;
    let pb = bo + bi * bBatch + r * bRed + j * bCol;
    for (let k = 0; k < kk; k++) {
      acc += a[pa + k * aCol] * b[pb + k * bRow];
    }
  }
  return acc;`,
  },
  matmul4F32: {
    arrays: ['a', 'b'], scalars: MATMUL_SCALARS, lanes: 4,
    body: `let flat = this.thread.x + 0.5 - 0.5;
  let nq = n / 4;
  let mq = m * nq;
  ${divmod('flat', 'mq', 'bi', 'ij')}
  ${divmod('ij', 'nq', 'i', 'jq')}
  let acc0 = 0.0;
  let acc1 = 0.0;
  let acc2 = 0.0;
  let acc3 = 0.0;
  for (let r = 0; r < nRed; r++) {
    let pa = ao + bi * aBatch + r * aRed + i * aRow;
    let pb = bo + bi * bBatch + r * bRed + jq * 4;
    let k4 = Math.floor(kk / 4) * 4;
    for (let k = 0; k < k4; k += 4) {
      ${[0, 1, 2, 3].map((o) => oldRowTimesFour(`${o}`, `k + ${o}`)).join('\n      ')}
    }
    for (let kr = 0; kr < kk - k4; kr++) {
      ${oldRowTimesFour('', 'k4 + kr')}
    }
  }
  return [acc0, acc1, acc2, acc3];`,
  },
};

// ---- shapes ----

interface Shape {
  name: string;
  /** Kept batch (batched products), rows, inner size, columns. */
  batch: number; m: number; k: number; n: number;
  /** a is the transpose of a contiguous [k, m] (weight gradients: xᵀ·dy); the backend then splits k. */
  transposedA?: boolean;
}

const rows = (r: number) => Math.max(4, Math.round(r * scale));
const SHAPES: Shape[] = [
  { name: 'qkv', batch: 1, m: rows(12800), k: 128, n: 384 },
  { name: 'proj', batch: 1, m: rows(12800), k: 128, n: 128 },
  { name: 'mlp-up', batch: 1, m: rows(12800), k: 128, n: 512 },
  { name: 'mlp-down', batch: 1, m: rows(12800), k: 512, n: 128 },
  { name: 'wgrad-qkv', batch: 1, m: 128, k: rows(12800), n: 384, transposedA: true },
  { name: 'wgrad-mlp-up', batch: 1, m: 128, k: rows(12800), n: 512, transposedA: true },
  { name: 'wgrad-mlp-down', batch: 1, m: 512, k: rows(12800), n: 128, transposedA: true },
  { name: 'attention', batch: Math.max(1, Math.round(400 * scale)), m: 64, k: 64, n: 64 },
  { name: 'sample-qkv', batch: 1, m: rows(200), k: 128, n: 384 },
  { name: 'sample-mlp-down', batch: 1, m: rows(200), k: 512, n: 128 },
  { name: 'odd-width', batch: 1, m: rows(12800), k: 128, n: 126 },
];

/** The dispatches the backend makes for a product (gpu-backend.ts matmul): kernel, threads × lanes, scalars. */
function plan(s: Shape, fourLanes: string, oneLane: string) {
  const lanes = s.n % 4 === 0 ? 4 : 1;
  const aRow = s.transposedA ? 1 : s.k, aCol = s.transposedA ? s.m : 1;
  const size = s.batch * s.m * s.n;
  const split = s.batch === 1 ? splitFactor(s.k, (s.m * s.n) / lanes) : 1;
  const chunk = s.k / split;
  const product = {
    kernel: lanes === 4 ? fourLanes : oneLane, length: split * size,
    scalars: [s.m, s.n, chunk, 1, 0, split > 1 ? chunk * aCol : s.m * s.k, 0, aRow, aCol, 0, split > 1 ? chunk * s.n : s.k * s.n, 0, s.n, 1],
  };
  const sum = split > 1 ? { kernel: size % 4 === 0 ? fourLanes : oneLane, length: size, scalars: [1, size, split, 1, 0, 0, 0, 0, 1, 0, 0, 0, size, 1] } : null;
  return { product, sum, split, flops: 2 * s.batch * s.m * s.n * s.k };
}

function randomArray(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = ((x >>> 0) / 2 ** 32 - 0.5) * 2;
  }
  return out;
}

// ---- run ----

let runner: KernelRunner;
let description: string;
const robustness = !args['no-robustness'];
try {
  if (!robustness) {
    // Dawn made here with the toggle (initGpuBackend then finds navigator.gpu and uses it)
    const packageName = 'webgpu';
    const dawn = await import(/* @vite-ignore */ packageName) as { create(flags: string[]): unknown; globals: Record<string, unknown> };
    Object.assign(globalThis, dawn.globals);
    const validate = process.env.VIAR_GPU_VALIDATE === '1';
    attachNavigatorGpu(dawn.create([`enable-dawn-features=${validate ? '' : 'skip_validation,'}disable_robustness`]));
  }
  await V.initGpuBackend({ mode: args.mode as V.GpuMode, log: false });
  const gpu = V.getBackendByName('gpu') as V.GpuBackend;
  runner = gpu.runner;
  description = gpu.describe();
} catch (e) {
  console.error(`bench/gpu-matmul: ${(e as Error).message}`);
  process.exit(1);
}
for (const [name, source] of Object.entries(OLD_KERNELS)) runner.define(name, source);
const profiling = process.env.VIAR_GPU_PROFILE === '1' && 'profile' in runner;
const profiler = runner as unknown as { profile(): Promise<KernelTime[]>; resetProfile(): Promise<void> };
console.log(`bench/gpu-matmul on ${description}: ${repeats} repeats per shape${profiling ? ', GPU time from timestamp queries' : ''}${robustness ? '' : ', Dawn robustness off'}`);

/** Runs the product (and split-k's sum) once; the result. */
function dispatch(p: ReturnType<typeof plan>, a: DeviceArray, b: DeviceArray): DeviceArray {
  const out = runner.run(p.product.kernel, p.product.length, [a, b], p.product.scalars);
  if (!p.sum) return out;
  const ones = runner.run('fill', p.split, [], [1]);
  const sum = runner.run(p.sum.kernel, p.sum.length, [ones, out], p.sum.scalars);
  runner.release(ones);
  runner.release(out);
  return sum;
}

/** Waits for everything recorded so far: a one-value kernel queued after it, read back. */
async function drain(): Promise<void> {
  const marker = runner.run('fill', 1, [], [0]);
  await runner.read(marker);
  runner.release(marker);
}

/** Milliseconds per product (wall, and GPU when profiling) over `repeats` back-to-back dispatches. */
async function time(p: ReturnType<typeof plan>, a: DeviceArray, b: DeviceArray): Promise<{ ms: number; gpuMs: number | null }> {
  for (let i = 0; i < 2; i++) runner.release(dispatch(p, a, b));
  await drain();
  if (profiling) await profiler.resetProfile();
  const t0 = performance.now();
  for (let i = 0; i < repeats; i++) runner.release(dispatch(p, a, b));
  await drain();
  const ms = (performance.now() - t0) / repeats;
  let gpuMs: number | null = null;
  if (profiling) {
    const kernels = new Set([p.product.kernel, p.sum?.kernel].filter(Boolean));
    gpuMs = (await profiler.profile()).filter((t) => kernels.has(t.kernel)).reduce((sum, t) => sum + t.ms, 0) / repeats;
  }
  return { ms, gpuMs };
}

/**
 * The backend's own product (whatever kernels gpu-backend.ts picks: four rows per thread and the reordering of its
 * output where 4 divides m), timed like `time`, with the result read for comparison.
 */
async function timeBackend(s: Shape, aValues: Float32Array, bValues: Float32Array): Promise<{ ms: number; gpuMs: number | null; values: Float32Array; kernels: string[] }> {
  V.setBackend('gpu');
  {
    const a = s.transposedA ? V.transpose(V.tensor(aValues, { shape: [s.k, s.m] }), 0, 1) : V.tensor(aValues, { shape: s.batch > 1 ? [s.batch, s.m, s.k] : [s.m, s.k] });
    const b = V.tensor(bValues, { shape: s.batch > 1 ? [s.batch, s.k, s.n] : [s.k, s.n] });
    const values = await V.matmul(a, b).data() as Float32Array;
    for (let i = 0; i < 2; i++) V.matmul(a, b).dispose();
    await drain();
    if (profiling) await profiler.resetProfile();
    const t0 = performance.now();
    for (let i = 0; i < repeats; i++) V.matmul(a, b).dispose();
    await drain();
    const ms = (performance.now() - t0) / repeats;
    let gpuMs: number | null = null, kernels: string[] = [];
    if (profiling) {
      const times = (await profiler.profile()).filter((t) => t.kernel !== 'fill' || t.ms > 0.002);
      kernels = [...new Set(times.map((t) => t.kernel))];
      gpuMs = times.reduce((sum, t) => sum + t.ms, 0) / repeats;
    }
    a.dispose(); b.dispose();
    return { ms, gpuMs, values, kernels };
  }
}

const only = args.only ? new Set(args.only.split(',')) : null;
const results = [];
for (const s of SHAPES.filter((x) => !only || only.has(x.name))) {
  const aValues = randomArray(s.batch * s.m * s.k, 1), bValues = randomArray(s.batch * s.k * s.n, 2);
  const a = runner.upload(aValues), b = runner.upload(bValues);
  const before = plan(s, 'matmul4F32', 'matmulF32'), after = plan(s, 'matmul4', 'matmul');
  // the two kernels agree (same products, same order of summation)
  const [x, y] = [dispatch(before, a, b), dispatch(after, a, b)];
  const [vx, vy] = await Promise.all([runner.read(x), runner.read(y)]);
  runner.release(x);
  runner.release(y);
  let maxDiff = 0, maxAbs = 0;
  for (let i = 0; i < vx.length; i++) { maxDiff = Math.max(maxDiff, Math.abs(vx[i]! - vy[i]!)); maxAbs = Math.max(maxAbs, Math.abs(vx[i]!)); }
  const old = await time(before, a, b);
  const now = await time(after, a, b);
  runner.release(a);
  runner.release(b);
  // transposed a: the runner-level plans read a as [k, m] strided; the backend's product gets the same values
  const backend = await timeBackend(s, aValues, bValues);
  let backendDiff = 0;
  for (let i = 0; i < vx.length; i++) backendDiff = Math.max(backendDiff, Math.abs(vx[i]! - backend.values[i]!));
  const gflops = (ms: number | null) => (ms === null ? null : before.flops / ms / 1e6);
  const best = (t: { ms: number; gpuMs: number | null }) => t.gpuMs ?? t.ms;
  const row = {
    shape: s.name,
    a: s.batch > 1 ? [s.batch, s.m, s.k] : [s.m, s.k], b: s.batch > 1 ? [s.batch, s.k, s.n] : [s.k, s.n], transposedA: Boolean(s.transposedA),
    kernel: after.product.kernel, splitK: before.split, gflop: before.flops / 1e9,
    old: { ...old, gflops: gflops(old.ms), gpuGflops: gflops(old.gpuMs) },
    new: { ...now, gflops: gflops(now.ms), gpuGflops: gflops(now.gpuMs) },
    speedup: best(old) / best(now),
    backend: { ms: backend.ms, gpuMs: backend.gpuMs, kernels: backend.kernels, gflops: gflops(backend.ms), gpuGflops: gflops(backend.gpuMs), maxDiff: backendDiff },
    backendSpeedup: best(old) / best(backend),
    maxDiff, maxAbs,
  };
  results.push(row);
  const fmt = (t: { ms: number; gpuMs: number | null }) => `${best(t).toFixed(3).padStart(8)} ms ${(gflops(best(t))! / 1000).toFixed(2).padStart(6)} TFLOP/s`;
  const dims = `${row.a.join('×')} · ${row.b.join('×')}${s.transposedA ? ' (aᵀ)' : ''}${before.split > 1 ? ` split ${before.split}` : ''}`;
  console.log(`${s.name.padEnd(16)} ${dims.padEnd(36)} old ${fmt(old)}   i32 ${fmt(now)}   ×${row.speedup.toFixed(2)}   backend ${fmt(backend)}   ×${row.backendSpeedup.toFixed(2)}   |Δ| ${maxDiff.toExponential(1)} ${backendDiff.toExponential(1)}${backend.kernels.length ? ` [${backend.kernels.join(' ')}]` : ''}`);
  if (!(backendDiff <= 1e-4 * Math.max(1, maxAbs))) console.log(`  ! the backend's product differs by ${backendDiff} (largest value ${maxAbs})`);
  if (!(maxDiff <= 1e-4 * Math.max(1, maxAbs))) console.log(`  ! old and new differ by ${maxDiff} (largest value ${maxAbs})`);
}
mkdirSync(dirname(args.out!), { recursive: true });
writeFileSync(args.out!, JSON.stringify({ device: description, date: new Date().toISOString(), repeats, scale, robustness, timing: profiling ? 'gpu timestamps' : 'wall', results }, null, 1) + '\n');
console.log(`wrote ${args.out}`);
process.exit(0); // the device keeps Node's loop alive
