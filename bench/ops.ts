// Op benchmark: the engine's matmul (through the public API) beside a naive triple loop in the same run, plus an
// attention-sized workload and softmax throughput. Prints a table and writes bench/results/ops.json.
// Run: npm run bench:ops  (the engine's default kernels and threads, see describeCpuKernels; medians after warm-up)

import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { describeCpuKernels, Rng, randn, matmul, softmax, transpose, mul, sum, conv2d, tidy, noGrad, enableGrad, gradients } from '../src/index.js';
import { naiveGemm } from '../src/tensor/backend/cpu/gemm.js';

/** Median milliseconds of `fn` over `samples` samples, each repeating fn until it lasts ≥ minMs. */
function timeIt(fn: () => void, samples = 5, minMs = 100): number {
  fn(); // warm-up (and JIT)
  const t0 = performance.now();
  fn();
  const once = Math.max(performance.now() - t0, 1e-3);
  const reps = Math.max(1, Math.ceil(minMs / once));
  const times: number[] = [];
  for (let s = 0; s < samples; s++) {
    const start = performance.now();
    for (let r = 0; r < reps; r++) fn();
    times.push((performance.now() - start) / reps);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const rng = new Rng(1);
const results: Record<string, unknown>[] = [];
const row = (name: string, ms: number, flops: number, extra: Record<string, unknown> = {}) => {
  const gflops = flops / ms / 1e6;
  results.push({ name, ms: Number(ms.toFixed(3)), gflops: Number(gflops.toFixed(2)), ...extra });
  console.log(`${name.padEnd(44)} ${ms.toFixed(2).padStart(10)} ms ${gflops.toFixed(2).padStart(8)} GFLOP/s${extra.speedup ? `  ×${extra.speedup} vs naive` : ''}`);
};

console.log(`viar ops benchmark — ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ${describeCpuKernels()}\n`);
noGrad(() => {
  for (const n of [128, 256, 512, 1024]) {
    const a = randn([n, n], rng), b = randn([n, n], rng);
    const flops = 2 * n * n * n;
    const engineMs = timeIt(() => tidy(() => { matmul(a, b); }), n >= 1024 ? 5 : 7);
    const A = a.dataSync() as Float32Array, B = b.dataSync() as Float32Array, C = new Float32Array(n * n);
    const naiveMs = timeIt(() => naiveGemm(n, n, n, A, 0, n, 1, B, 0, n, 1, C, 0, n, false), n >= 1024 ? 1 : 3, n >= 512 ? 0 : 100);
    row(`matmul ${n}×${n}×${n} naive triple loop`, naiveMs, flops);
    row(`matmul ${n}×${n}×${n} engine`, engineMs, flops, { speedup: Number((naiveMs / engineMs).toFixed(1)) });
    a.dispose(); b.dispose();
  }

  // attention forward at VAR-tiny size: batch 8, 4 heads, 130 tokens, head dim 32
  const [B, H, L, D] = [8, 4, 130, 32];
  const q = randn([B, H, L, D], rng), k = randn([B, H, L, D], rng), v = randn([B, H, L, D], rng);
  const attnFlops = 2 * (2 * B * H * L * L * D);
  const attnMs = timeIt(() => tidy(() => { matmul(softmax(mul(matmul(q, transpose(k)), 1 / Math.sqrt(D)), -1), v); }));
  row(`attention forward ${B}×${H}×${L}×${D} (2 matmuls)`, attnMs, attnFlops);
  const scores = randn([B, H, L, L], rng);
  const smMs = timeIt(() => tidy(() => { softmax(scores, -1); }));
  const elems = B * H * L * L;
  results.push({ name: `softmax ${B}×${H}×${L}×${L}`, ms: Number(smMs.toFixed(3)), melemsPerS: Number((elems / smMs / 1e3).toFixed(1)) });
  console.log(`${`softmax ${B}×${H}×${L}×${L}`.padEnd(44)} ${smMs.toFixed(2).padStart(10)} ms ${(elems / smMs / 1e3).toFixed(1).padStart(8)} Melem/s`);

  // conv 3×3 at a VAR-tokenizer-like size: batch 16, 32 → 64 channels, 16×16, padding 1
  const x = randn([16, 32, 16, 16], rng), w = randn([64, 32, 3, 3], rng), b = randn([64], rng);
  const convFlops = 2 * 16 * 64 * 32 * 9 * 16 * 16;
  row('conv2d 3×3 forward 16×32×16×16 → 64', timeIt(() => tidy(() => { conv2d(x, w, b, { padding: 1 }); })), convFlops);
  const xg = x.detach().requireGrad(), wg = w.detach().requireGrad(), bg = b.detach().requireGrad();
  row('conv2d 3×3 forward + backward (x, w, b)', timeIt(() => tidy(() => {
    enableGrad(() => gradients(sum(conv2d(xg, wg, bg, { padding: 1 })), [xg, wg, bg]));
  })), 3 * convFlops);
});

const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'ops.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, kernels: describeCpuKernels(), results }, null, 2) + '\n');
console.log(`\nwrote ${out}`);
