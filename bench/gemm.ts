// GFLOP/s of the blocked `gemm` vs the textbook `naiveGemm` on square Float32 matrices.
// Usage: npx tsx bench/gemm.ts [sizes, default 128,256,512,1024]
// Each figure is the median of several timed runs after warm-up runs (fewer for naive at 1024).
import { gemm, naiveGemm } from '../src/tensor/backend/cpu/gemm.js';

type Gemm = typeof gemm;

const sizes = (process.argv[2] ?? '128,256,512,1024').split(',').map(Number);

/** Deterministic values in [-1, 1) (mulberry32). */
function randomArray(len: number, seed: number): Float32Array {
  const out = new Float32Array(len);
  let s = seed >>> 0;
  for (let i = 0; i < len; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

function gflops(f: Gemm, n: number, runs: number, warmup: number): number {
  const a = randomArray(n * n, 1), b = randomArray(n * n, 2), c = new Float32Array(n * n);
  const call = (): void => f(n, n, n, a, 0, n, 1, b, 0, n, 1, c, 0, n, false);
  for (let i = 0; i < warmup; i++) call();
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    call();
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  const median = times[runs >> 1]!;
  return (2 * n ** 3) / (median * 1e6);
}

console.log('Float32 matmul n×n · n×n, single thread, GFLOP/s (median)');
console.log('     n     gemm    naive  speedup');
for (const n of sizes) {
  const g = gflops(gemm, n, n >= 1024 ? 7 : 11, 3);
  const v = gflops(naiveGemm, n, n >= 1024 ? 3 : 5, n >= 1024 ? 1 : 2);
  console.log(`${String(n).padStart(6)} ${g.toFixed(2).padStart(8)} ${v.toFixed(2).padStart(8)} ${(g / v).toFixed(1).padStart(7)}×`);
}
