// GFLOP/s of the blocked `gemm` vs the textbook `naiveGemm` on square Float32 matrices.
// Usage: npx tsx bench/gemm.ts [sizes, default 128,256,512,1024]
// Each figure is the median of several timed runs after warm-up (fewer runs for naive at 1024);
// the best run is shown too, as it is steadier on a shared machine.
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

/**
 * GFLOP/s of the median and of the fastest of `runs` timed runs, after at least `warmup` untimed
 * runs and at least 300 ms of them (so small sizes are fully optimized by V8 before timing).
 */
function gflops(f: Gemm, n: number, runs: number, warmup: number): { median: number; best: number } {
  const a = randomArray(n * n, 1), b = randomArray(n * n, 2), c = new Float32Array(n * n);
  const call = (): void => f(n, n, n, a, 0, n, 1, b, 0, n, 1, c, 0, n, false);
  const warmStart = performance.now();
  for (let i = 0; i < warmup || performance.now() - warmStart < 300; i++) call();
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    call();
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  const rate = (ms: number): number => (2 * n ** 3) / (ms * 1e6);
  return { median: rate(times[runs >> 1]!), best: rate(times[0]!) };
}

const fmt = (x: number): string => x.toFixed(2).padStart(7);
console.log('Float32 matmul (n×n)·(n×n), one thread, GFLOP/s: median of the timed runs (best in brackets)');
console.log('     n      gemm            naive      speedup');
for (const n of sizes) {
  const g = gflops(gemm, n, n >= 1024 ? 7 : 11, 3);
  const v = gflops(naiveGemm, n, n >= 1024 ? 3 : 5, n >= 1024 ? 1 : 2);
  console.log(`${String(n).padStart(6)} ${fmt(g.median)} (${fmt(g.best)}) ${fmt(v.median)} (${fmt(v.best)}) ` +
    `${(g.median / v.median).toFixed(1).padStart(6)}×`);
}
