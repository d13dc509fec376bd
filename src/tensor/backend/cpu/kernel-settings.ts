// Switches of the CPU backend: fast kernels (WebAssembly SIMD, worker threads) or the plain-TypeScript
// reference kernels, and how many threads the fast kernels use.

import { wasmGemmRuntime } from './wasm/wasm-gemm.js';
import { ArgumentError } from '../../errors.js';

export type CpuKernels = 'fast' | 'reference';
let kernels: CpuKernels = 'fast';

/**
 * Chooses the CPU kernels: 'fast' (default; float32 matmuls, elementwise ops, fused programs, sums, softmax and row
 * normalization in WebAssembly SIMD on the worker threads, where available) or 'reference' (plain TypeScript, the
 * readable definition every fast kernel is tested against). float64 and int32 always use the TypeScript kernels.
 */
export function setCpuKernels(choice: CpuKernels): void {
  if (choice !== 'fast' && choice !== 'reference') throw new ArgumentError('setCpuKernels', `expected 'fast' or 'reference', got ${String(choice)}`);
  kernels = choice;
}

export function getCpuKernels(): CpuKernels {
  return kernels;
}

/**
 * Sets how many threads (the calling one plus workers) the fast CPU kernels use; default: the machine's
 * cores (at most 8), or VIAR_NUM_THREADS. Results are identical for any thread count. Returns the count in effect
 * (1 where worker threads or shared memory are unavailable).
 */
export function setNumThreads(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new ArgumentError('setNumThreads', `expected a positive integer, got ${n}`);
  const rt = wasmGemmRuntime();
  rt?.setThreads(n);
  return rt?.numThreads ?? 1;
}

/** Threads the fast CPU kernels use now. */
export function getNumThreads(): number {
  return wasmGemmRuntime()?.numThreads ?? 1;
}

/**
 * What runs the float32 kernels (matmul, elementwise, reductions, row kernels) now, for logs: e.g.
 * "wasm-simd128+fma, 2 threads" or "typescript reference".
 */
export function describeCpuKernels(): string {
  const rt = kernels === 'fast' ? wasmGemmRuntime() : null;
  if (!rt) return 'typescript reference';
  return `wasm-simd128${rt.tiling.fma ? '+fma' : ''}, ${rt.numThreads} thread${rt.numThreads === 1 ? '' : 's'}`;
}
