// Calls of the float32 row kernels of row-module.ts (row sums, column sums, softmax, row normalization and their
// backwards) on heap arrays, rows split between threads. Each returns false when the fast path does not apply
// (an operand outside the heap), so the caller runs the TypeScript kernel.

import type { WasmGemmRuntime } from './wasm-gemm.js';
import type { KernelExport } from './kernel-exports.js';
import { StagingArea } from './staging-area.js';

/** Below this many elements of work one thread runs the kernel. */
const PARALLEL_MIN_ELEMENTS = 1 << 15;

/**
 * Byte addresses of the inputs (staged into the heap when outside it) and of the outputs (which must live in the
 * heap), or null.
 */
function addresses(area: StagingArea, rt: WasmGemmRuntime, inputs: readonly ArrayLike<number>[], outputs: readonly ArrayLike<number>[]): number[] | null {
  const out: number[] = [];
  for (const a of outputs) {
    const at = a instanceof Float32Array ? rt.addressOf(a) : -1;
    if (at < 0) return null;
    out.push(at);
  }
  const ins: number[] = [];
  for (const a of inputs) {
    const at = a instanceof Float32Array ? area.place(a, 0, a.length) : null;
    if (at === null) return null;
    ins.push(at);
  }
  return area.take(0) === null ? null : [...ins, ...out]; // take(0): keeps 64 bytes of slack above everything
}

/** Splits [0, count) into ranges (quantum-aligned starts), one task each, a few per thread. */
function split(rt: WasmGemmRuntime, count: number, work: number, quantum: number, call: (s: number, e: number) => number[]): number[][] {
  const units = Math.ceil(count / quantum);
  const parts = Math.max(1, Math.min(work >= PARALLEL_MIN_ELEMENTS && rt.numThreads > 1 ? rt.numThreads * rt.tasksPerThread : 1, units));
  const calls: number[][] = [];
  for (let t = 0; t < parts; t++) {
    const s = Math.min(count, Math.floor((units * t) / parts) * quantum), e = Math.min(count, Math.floor((units * (t + 1)) / parts) * quantum);
    calls.push(call(s, e));
  }
  return calls;
}

/** Runs a row kernel over inputs then outputs (addresses in that order), rows split between threads. */
function rowKernel(rt: WasmGemmRuntime, name: KernelExport, inputs: readonly ArrayLike<number>[], outputs: readonly ArrayLike<number>[],
  rows: number, n: number, args: (addr: number[], r0: number, r1: number) => number[]): boolean {
  if (rows === 0) return true;
  const addr = addresses(new StagingArea(rt), rt, inputs, outputs);
  if (!addr) return false;
  rt.runKernel(name, split(rt, rows, rows * n, 1, (r0, r1) => args(addr, r0, r1)));
  return true;
}

/** out[r] = Σ x[r, :] (float64 accumulation). */
export function sumRowsWasm(rt: WasmGemmRuntime, x: Float32Array, rows: number, n: number, out: Float32Array): boolean {
  return rowKernel(rt, 'sumRows', [x], [out], rows, n, ([xa, oa], r0, r1) => [xa!, n, oa!, r0, r1]);
}

/**
 * out[b, c] = Σ_r x[offset + b·batchStride + r·rowStride + c] for b < batches, c < cols, in row order (float64):
 * bitwise the TypeScript kernel's.
 */
export function colSumWasm(
  rt: WasmGemmRuntime, x: Float32Array, offset: number, batches: number, batchStride: number, rows: number, cols: number,
  rowStride: number, out: Float32Array,
): boolean {
  if (cols === 0 || batches === 0) return true;
  if (rows === 0) return false;
  const area = new StagingArea(rt);
  const base = area.place(x, offset, (batches - 1) * batchStride + (rows - 1) * rowStride + cols);
  const addr = base === null ? null : addresses(area, rt, [], [out]);
  if (base === null || !addr) return false;
  rt.runKernel('colSum', colSumTasks(rt, base, batches, batchStride, rows, cols, rowStride, addr[0]!));
  return true;
}

/** The colSum kernel's tasks for heap byte addresses `base` (x[0]) and `outAt`, strides in elements; columns split between threads. */
export function colSumTasks(rt: WasmGemmRuntime, base: number, batches: number, batchStride: number, rows: number, cols: number,
  rowStride: number, outAt: number): number[][] {
  return split(rt, cols, batches * rows * cols, 8, (c0, c1) => [base, rows, cols, 4 * rowStride, batches, 4 * batchStride, outAt, c0, c1]);
}

export function softmaxRowsWasm(rt: WasmGemmRuntime, x: Float32Array, rows: number, n: number, out: Float32Array): boolean {
  return rowKernel(rt, 'softmaxRows', [x], [out], rows, n, ([xa, oa], r0, r1) => [xa!, oa!, n, r0, r1]);
}

export function softmaxRowsBackwardWasm(rt: WasmGemmRuntime, y: Float32Array, gy: Float32Array, rows: number, n: number, out: Float32Array): boolean {
  return rowKernel(rt, 'softmaxRowsBackward', [y, gy], [out], rows, n, ([ya, ga, oa], r0, r1) => [ya!, ga!, oa!, n, r0, r1]);
}

/** Row normalization; rows whose moments overflow come back with rstd 0 or NaN (the caller redoes those). */
export function normRowsWasm(rt: WasmGemmRuntime, x: Float32Array, rows: number, n: number, eps: number, xhat: Float32Array, rstd: Float32Array): boolean {
  if (rows === 0) return true;
  const area = new StagingArea(rt);
  const epsAt = area.take(8);
  const addr = epsAt === null ? null : addresses(area, rt, [x], [xhat, rstd]);
  if (epsAt === null || !addr) return false;
  new Float64Array(rt.heapWords.buffer, epsAt, 1)[0] = eps;
  rt.runKernel('normRows', split(rt, rows, rows * n, 1, (r0, r1) => [addr[0]!, addr[1]!, addr[2]!, n, epsAt, r0, r1]));
  return true;
}

export function normRowsBackwardWasm(rt: WasmGemmRuntime, xhat: Float32Array, rstd: Float32Array, gy: Float32Array, rows: number, n: number, out: Float32Array): boolean {
  return rowKernel(rt, 'normRowsBackward', [xhat, rstd, gy], [out], rows, n, ([xa, ra, ga, oa], r0, r1) => [xa!, ra!, ga!, oa!, n, r0, r1]);
}
