// The fast float32 batched matmul of the CPU backend: stages strided operands into a shared WebAssembly memory,
// runs the SIMD kernel of gemm-module.ts on the calling thread plus worker threads (split over batch, columns or
// rows, so every output element is computed by the same instruction sequence whatever the thread count), and
// copies the result out. `wasmGemmRuntime()` is null where WebAssembly SIMD is unavailable.

import { buildGemmModule, DEFAULT_TILING, packScratchBytes, type GemmTiling } from './gemm-module.js';
import { CONTROL_BLOCK_BYTES, MAX_TASKS, SCRATCH_ARG, ThreadPool, type ThreadCall } from './thread-pool.js';
import { copyKernel } from '../elementwise-kernels.js';
import type { ConvGeometry } from '../../backend.js';
import { KERNEL_EXPORTS, type KernelExport } from './kernel-exports.js';

const PAGE = 65536;
const MAX_PAGES = 32768; // 2 GiB: byte addresses stay positive i32s
/** Worker threads' packing scratch is reserved for this many threads up front, so the layout never moves. */
const MAX_THREADS = 8;
/** Tensor buffers are carved from the heap (see allocArena) until it holds this many bytes. */
const ARENA_LIMIT_BYTES = 1536 * 1024 * 1024;
/** The module's exports the workers can run, by index (ThreadCall.fn). */
const EXPORTS = ['gemm', 'im2col', 'col2im', ...KERNEL_EXPORTS] as const;
/** Below this many flops a matmul runs on one thread (waking a worker costs more than it saves). */
const PARALLEL_MIN_FLOPS = 1 << 21;
/** Tasks per thread of a parallel kernel (threads take them from a shared counter; see ThreadPool). */
const TASKS_PER_THREAD = 2;

/** A strided batch of matrices: element (batch index…, i, j) at offset + Σ batchIdx·batchStrides + i·rowStride + j·colStride. */
export interface MatrixOperand {
  values: Float32Array;
  offset: number;
  batchShape: readonly number[];
  batchStrides: readonly number[];
  rowStride: number;
  colStride: number;
  rows: number;
  cols: number;
}

function defaultThreadCount(): number {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined>; getBuiltinModule?: (n: string) => unknown } }).process;
  const fromEnv = Number(proc?.env?.VIAR_NUM_THREADS);
  if (Number.isInteger(fromEnv) && fromEnv >= 1) return fromEnv;
  const os = proc?.getBuiltinModule?.('node:os') as { availableParallelism?: () => number } | undefined;
  return Math.max(1, Math.min(os?.availableParallelism?.() ?? 1, 8));
}

/**
 * Relaxed SIMD gives the kernel a fused multiply-add. V8 ships it from 11.4 (Node 22); Node 20's V8 has it
 * behind --experimental-wasm-relaxed-simd, which we switch on at runtime unless VIAR_NO_RELAXED_SIMD is set.
 */
function enableRelaxedSimd(probe: Uint8Array<ArrayBuffer>): boolean {
  if (WebAssembly.validate(probe)) return true;
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined>; getBuiltinModule?: (n: string) => unknown } }).process;
  if (proc?.env?.VIAR_NO_RELAXED_SIMD) return false;
  const v8 = proc?.getBuiltinModule?.('node:v8') as { setFlagsFromString?: (flags: string) => void } | undefined;
  v8?.setFlagsFromString?.('--experimental-wasm-relaxed-simd');
  return WebAssembly.validate(probe);
}

export class WasmGemmRuntime {
  private heapF32: Float32Array;
  /** Every SharedArrayBuffer/ArrayBuffer object the memory has had (growing a shared memory gives a new one). */
  private readonly heapBuffers = new Set<ArrayBufferLike>();
  /**
   * Heap layout: [control block | packing scratch × MAX_THREADS | arena → … | staging (per call)]. The arena is a
   * bump allocator for tensor buffers (the CPU backend's pool recycles them); staging sits above its top.
   */
  private readonly arenaBase: number;
  private arenaTop: number;
  private pool: ThreadPool | null = null;
  private threads = 1;
  private readonly gemmFn: (...args: number[]) => void;
  private readonly layoutFns: Record<'im2col' | 'col2im', (...args: number[]) => void>;
  private readonly kernelFns = {} as Record<KernelExport, (...args: number[]) => void>;
  readonly scratchBytes: number;
  /**
   * Whether tensor buffers may live in the heap (allocArena): only on a shared memory, whose growth leaves existing
   * views valid. Growing a non-shared memory (a browser page without cross-origin isolation) detaches its buffer and
   * every view on it, so there tensors stay in ordinary arrays and matmuls stage them through the heap.
   */
  readonly heapTensors: boolean;

  private constructor(
    readonly tiling: GemmTiling,
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
  ) {
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    this.gemmFn = instance.exports.gemm as (...args: number[]) => void;
    this.layoutFns = {
      im2col: instance.exports.im2col as (...args: number[]) => void,
      col2im: instance.exports.col2im as (...args: number[]) => void,
    };
    for (const name of KERNEL_EXPORTS) this.kernelFns[name] = instance.exports[name] as (...args: number[]) => void;
    this.heapF32 = new Float32Array(memory.buffer);
    this.heapBuffers.add(memory.buffer);
    this.heapTensors = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    this.scratchBytes = packScratchBytes(tiling);
    this.arenaBase = this.arenaTop = align(CONTROL_BLOCK_BYTES + MAX_THREADS * this.scratchBytes, 64);
    if (!this.ensureBytes(this.arenaBase)) throw new Error('wasm gemm: cannot reserve the packing scratch');
  }

  /**
   * A Float32Array of `size` elements living in the heap, so matmuls read and write it in place (no staging
   * copy), or null once the arena is full. Its contents are not zeroed. Arena memory is never handed back: the
   * caller recycles such arrays (the CPU backend's buffer pool), or calls resetArena when none is alive. Always null
   * when the heap is not shared memory (see heapTensors).
   */
  allocArena(size: number): Float32Array | null {
    const bytes = align(4 * size, 64);
    if (!this.heapTensors || size === 0 || this.arenaTop + bytes - this.arenaBase > ARENA_LIMIT_BYTES) return null;
    if (!this.ensureBytes(this.arenaTop + bytes)) return null;
    const view = new Float32Array(this.memory.buffer, this.arenaTop, size);
    this.arenaTop += bytes;
    return view;
  }

  /** Forgets every arena allocation: only valid when none of them is referenced any more. */
  resetArena(): void {
    this.arenaTop = this.arenaBase;
  }

  /** Bytes handed out by allocArena so far. */
  get arenaBytes(): number {
    return this.arenaTop - this.arenaBase;
  }

  /**
   * im2col (image [N, C, H, W] → cols [N, C·kh·kw, Ho·Wo]) or col2im (its adjoint, summing into a zeroed image) of
   * contiguous float32 data, in the layout of ../conv-kernels.ts, split over the threads by image plane. Returns
   * false when the data does not fit the heap (the caller then runs the TypeScript kernel).
   */
  convLayout(direction: 'im2col' | 'col2im', src: Float32Array, g: ConvGeometry, out: Float32Array): boolean {
    const planes = g.n * g.c;
    if (planes === 0 || out.length === 0) return true;
    const srcHome = this.addressOf(src), outHome = this.addressOf(out);
    const srcAt = this.arenaTop, outStage = srcAt + (srcHome >= 0 ? 0 : align(4 * src.length, 64));
    if (!this.ensureBytes(outStage + (outHome >= 0 ? 0 : 4 * out.length))) return false;
    if (srcHome < 0) this.heapF32.set(src, srcAt / 4);
    const srcAddr = srcHome >= 0 ? srcHome : srcAt, outAddr = outHome >= 0 ? outHome : outStage;
    if (direction === 'col2im') this.heapF32.fill(0, outAddr / 4, outAddr / 4 + out.length);
    const padBits = new Int32Array(new Float32Array([g.padValue]).buffer)[0]!;
    const geometry = [g.h, g.w, g.kh, g.kw, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.outH, g.outW];
    const work = planes * g.kh * g.kw * g.outH * g.outW;
    const parts = this.threads > 1 && work >= 1 << 16 ? Math.min(TASKS_PER_THREAD * this.threads, planes) : 1;
    const tasks = Array.from({ length: parts }, (_, t) =>
      [srcAddr, ...geometry, padBits, outAddr, Math.floor((planes * t) / parts), Math.floor((planes * (t + 1)) / parts)]);
    this.runTasks(EXPORTS.indexOf(direction), this.layoutFns[direction], tasks);
    if (outHome < 0) out.set(this.heapF32.subarray(outAddr / 4, outAddr / 4 + out.length));
    return true;
  }

  /** The byte address of x[0] when x lives in this runtime's heap, else -1. */
  addressOf(x: Float32Array | Int32Array): number {
    return this.heapBuffers.has(x.buffer) ? x.byteOffset : -1;
  }

  /**
   * Byte address of `bytes` of staging space above the arena's top (valid until the next heap allocation), for a
   * kernel's descriptor; null when the heap cannot grow that far.
   */
  staging(bytes: number): number | null {
    return this.ensureBytes(this.arenaTop + align(bytes, 64) + 64) ? this.arenaTop : null;
  }

  /** The whole heap as words (refreshed when the memory grows). */
  get heapWords(): Float32Array {
    return this.heapF32;
  }

  /** Byte address of thread t's scratch (the gemm's packing space, free while no matmul runs). */
  scratchOf(t: number): number {
    return CONTROL_BLOCK_BYTES + t * this.scratchBytes;
  }

  /**
   * Runs the kernel export `name` once per argument list (a task), shared out between this thread and the workers;
   * an argument SCRATCH_ARG becomes the running thread's scratch address.
   */
  runKernel(name: KernelExport, tasks: number[][]): void {
    this.runTasks(EXPORTS.indexOf(name), this.kernelFns[name], tasks);
  }

  /** Tasks per thread a parallel kernel is cut into, so a thread the OS delays leaves its share to the others. */
  get tasksPerThread(): number {
    return TASKS_PER_THREAD;
  }

  private runTasks(fnIndex: number, fn: (...args: number[]) => void, tasks: number[][]): void {
    const scratch = this.scratchOf(0);
    if (tasks.length === 1 || !this.pool) {
      for (const args of tasks) fn(...args.map((v) => (v === SCRATCH_ARG ? scratch : v)));
      return;
    }
    for (let i = 0; i < tasks.length; i += MAX_TASKS) {
      this.pool.runAll(tasks.slice(i, i + MAX_TASKS).map((args) => ({ fn: fnIndex, args })), scratch, (call) => fn(...call.args));
    }
  }

  /** Builds the module (shared memory where the platform allows it); null without WebAssembly SIMD. */
  static create(): WasmGemmRuntime | null {
    if (typeof WebAssembly === 'undefined') return null;
    const shared = typeof SharedArrayBuffer !== 'undefined'
      && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== false;
    const memoryType = { initialPages: 64, maximumPages: MAX_PAGES, shared };
    let tiling = DEFAULT_TILING;
    if (tiling.fma && !enableRelaxedSimd(buildGemmModule(tiling, memoryType))) tiling = { ...tiling, fma: false };
    const bytes = buildGemmModule(tiling, memoryType);
    if (!WebAssembly.validate(bytes)) return null;
    try {
      const memory = new WebAssembly.Memory({ initial: memoryType.initialPages, maximum: MAX_PAGES, shared });
      const runtime = new WasmGemmRuntime(tiling, new WebAssembly.Module(bytes), memory);
      runtime.setThreads(defaultThreadCount());
      return runtime;
    } catch {
      return null;
    }
  }

  /** Threads used for one matmul (the caller plus workers); falls back to 1 where workers are unavailable. */
  get numThreads(): number {
    return this.threads;
  }

  setThreads(n: number): void {
    n = Math.min(n, MAX_THREADS);
    if (n === this.threads && (n === 1 || this.pool)) return;
    this.pool?.close();
    this.pool = null;
    this.threads = 1;
    if (n > 1) {
      this.pool = ThreadPool.create(this.module, this.memory, [...EXPORTS], n - 1, (t) => this.scratchOf(t));
      if (this.pool) this.threads = this.pool.size + 1;
    }
  }

  private ensureBytes(bytes: number): boolean {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) {
      const pages = Math.ceil(bytes / PAGE);
      if (pages > MAX_PAGES) return false;
      this.memory.grow(pages - have / PAGE);
    }
    if (this.heapF32.buffer !== this.memory.buffer || this.heapF32.length * 4 !== this.memory.buffer.byteLength) {
      this.heapF32 = new Float32Array(this.memory.buffer);
      this.heapBuffers.add(this.memory.buffer);
    }
    return true;
  }

  /**
   * out[kept batch…, m, n] = Σ over the `reduce` batch dims of A[batch…, m, k] · B[batch…, k, n] (batch shapes
   * already broadcast to the same shape; a broadcast operand has stride 0 there). Returns false (and writes
   * nothing) when the problem does not fit the 2 GiB heap, so the caller can use the reference kernel.
   */
  matmul(a: MatrixOperand, b: MatrixOperand, out: Float32Array, reduce?: readonly boolean[]): boolean {
    const m = a.rows, k = a.cols, n = b.cols;
    const batchShape = a.batchShape;
    const isReduced = (d: number) => reduce?.[d] === true;
    const keptCount = batchShape.reduce((p, s, d) => (isReduced(d) ? p : p * s), 1);
    const cWords = keptCount * m * n;
    if (cWords === 0) return true;
    if (k === 0 || batchShape.some((s) => s === 0)) {
      out.fill(0, 0, cWords);
      return true;
    }
    const batch = batchShape.reduce((p, d) => p * d, 1);
    const threads = this.threads;
    // Operands already in the heap are read in place; others are copied above the arena's top, as is C when the
    // output array is not a heap array.
    const aHome = this.addressOf(a.values), bHome = this.addressOf(b.values), cHome = this.addressOf(out);
    const aSpan = aHome >= 0 ? null : spanOf(a), bSpan = bHome >= 0 ? null : spanOf(b);
    const aWords = aHome >= 0 ? 0 : aSpan ?? batch * m * k, bWords = bHome >= 0 ? 0 : bSpan ?? batch * k * n;
    const aAt = this.arenaTop / 4, bAt = aAt + aWords, cStage = bAt + bWords;
    if (!this.ensureBytes(4 * (cStage + (cHome >= 0 ? 0 : cWords)))) return false;
    const A = aHome >= 0 ? inPlace(a, aHome) : stage(a, aSpan, this.heapF32, aAt, [m, k]);
    const B = bHome >= 0 ? inPlace(b, bHome) : stage(b, bSpan, this.heapF32, bAt, [k, n]);
    const cAt = cHome >= 0 ? cHome / 4 : cStage;

    // C strides: kept dims contiguous, summed dims 0. Kept dims go outside, summed ones inside, then runs of
    // dims with one uniform stride in A, B and C are merged: the innermost is the kernel's batch loop (summed into
    // one C when its C stride is 0), the outer ones are iterated here.
    const cStrides: number[] = new Array<number>(batchShape.length);
    for (let d = batchShape.length - 1, s = m * n; d >= 0; d--) {
      cStrides[d] = isReduced(d) ? 0 : s;
      if (!isReduced(d)) s *= batchShape[d]!;
    }
    const order = [...batchShape.keys()].sort((x, y) => Number(isReduced(x)) - Number(isReduced(y)) || x - y);
    const dims = mergeBatchDims(order.map((d) => ({ size: batchShape[d]!, a: A.batchStrides[d]!, b: B.batchStrides[d]!, c: cStrides[d]! })));
    const inner = dims.pop() ?? { size: 1, a: 0, b: 0, c: 0 };
    const outerCount = dims.reduce((p, d) => p * d.size, 1);
    const counter = new Array<number>(dims.length).fill(0);
    let aOff = A.offset, bOff = B.offset, cOff = cAt;
    const parallel = threads > 1 && 2 * batch * m * n * k >= PARALLEL_MIN_FLOPS;
    for (let o = 0; o < outerCount; o++) {
      // accumulate into C when an outer summed dim is past its first entry
      const accumulate = dims.some((d, i) => d.c === 0 && counter[i]! > 0) ? 1 : 0;
      const calls = splitCalls(parallel ? TASKS_PER_THREAD * threads : 1, inner.size, m, n, this.tiling, {
        a: aOff, aBatch: inner.a, aRow: A.rowStride, aCol: A.colStride,
        b: bOff, bBatch: inner.b, bRow: B.rowStride, bCol: B.colStride,
        c: cOff, cBatch: inner.c, ldc: n, k, accumulate,
      });
      this.runTasks(0, this.gemmFn, calls.map((c) => c.args));
      for (let d = dims.length - 1; d >= 0; d--) {
        const dim = dims[d]!;
        aOff += dim.a; bOff += dim.b; cOff += dim.c;
        if (++counter[d]! < dim.size) break;
        aOff -= dim.a * dim.size; bOff -= dim.b * dim.size; cOff -= dim.c * dim.size;
        counter[d] = 0;
      }
    }
    if (cHome < 0) out.set(this.heapF32.subarray(cAt, cAt + cWords));
    return true;
  }
}

/** Words spanned by a strided operand with non-negative strides, or null when gathering it is cheaper/required. */
function spanOf(x: MatrixOperand): number | null {
  const shape = [...x.batchShape, x.rows, x.cols];
  const strides = [...x.batchStrides, x.rowStride, x.colStride];
  let last = 0, size = 1;
  for (let d = 0; d < shape.length; d++) {
    if (strides[d]! < 0) return null;
    last += (shape[d]! - 1) * strides[d]!;
    size *= shape[d]!;
  }
  const distinct = size / shape.reduce((p, s, d) => (strides[d] === 0 ? p * s : p), 1);
  return last + 1 <= 2 * distinct + 64 ? last + 1 : null;
}

interface Staged { offset: number; batchStrides: number[]; rowStride: number; colStride: number }

/** An operand that already lives in the heap at byte address `home` (its array's element 0). */
function inPlace(x: MatrixOperand, home: number): Staged {
  return { offset: home / 4 + x.offset, batchStrides: [...x.batchStrides], rowStride: x.rowStride, colStride: x.colStride };
}

function align(bytes: number, to: number): number {
  return Math.ceil(bytes / to) * to;
}

/** Copies x into heap at `at` (its raw span, keeping strides, or gathered contiguously); offsets in words. */
function stage(x: MatrixOperand, span: number | null, heap: Float32Array, at: number, matShape: [number, number]): Staged {
  if (span !== null) {
    heap.set(x.values.subarray(x.offset, x.offset + span), at);
    return { offset: at, batchStrides: [...x.batchStrides], rowStride: x.rowStride, colStride: x.colStride };
  }
  const shape = [...x.batchShape, ...matShape];
  const size = shape.reduce((p, d) => p * d, 1);
  copyKernel(x.values, shape, [...x.batchStrides, x.rowStride, x.colStride], x.offset, heap.subarray(at, at + size));
  const batchStrides: number[] = [];
  let s = matShape[0] * matShape[1];
  for (let d = x.batchShape.length - 1; d >= 0; d--) { batchStrides[d] = s; s *= x.batchShape[d]!; }
  return { offset: at, batchStrides, rowStride: matShape[1], colStride: 1 };
}

interface BatchDim { size: number; a: number; b: number; c: number }

/** Merges neighbouring dims (size-1 dims dropped) whose strides in A, B and C are one uniform stride. */
function mergeBatchDims(list: BatchDim[]): BatchDim[] {
  const dims: BatchDim[] = [];
  for (const dim of list) {
    if (dim.size === 1) continue;
    const prev = dims[dims.length - 1];
    if (prev && prev.a === dim.a * dim.size && prev.b === dim.b * dim.size && prev.c === dim.c * dim.size) {
      prev.size *= dim.size; prev.a = dim.a; prev.b = dim.b; prev.c = dim.c;
    } else {
      dims.push({ ...dim });
    }
  }
  return dims;
}

interface Problem {
  a: number; aBatch: number; aRow: number; aCol: number;
  b: number; bBatch: number; bRow: number; bCol: number;
  c: number; cBatch: number; ldc: number; k: number; accumulate: number;
}

/**
 * The kernel calls (tasks) of one matmul, `threads` of them: over batch ranges if there are enough, else column (or
 * row) ranges in whole tiles. Each call packs into the scratch of the thread that runs it (SCRATCH_ARG).
 */
function splitCalls(threads: number, batch: number, m: number, n: number, tiling: GemmTiling, p: Problem): ThreadCall[] {
  const call = (bt0: number, bt1: number, i0: number, i1: number, j0: number, j1: number): ThreadCall => ({
    fn: 0,
    args: [bt1 - bt0, i1 - i0, j1 - j0, p.k,
      4 * (p.a + bt0 * p.aBatch + i0 * p.aRow), 4 * p.aBatch, 4 * p.aRow, 4 * p.aCol,
      4 * (p.b + bt0 * p.bBatch + j0 * p.bCol), 4 * p.bBatch, 4 * p.bRow, 4 * p.bCol,
      4 * (p.c + bt0 * p.cBatch + i0 * p.ldc + j0), 4 * p.cBatch, 4 * p.ldc, SCRATCH_ARG, p.accumulate],
  });
  const ranges = (total: number, parts: number, quantum: number): [number, number][] => {
    const units = Math.ceil(total / quantum);
    parts = Math.min(parts, units);
    const out: [number, number][] = [];
    for (let t = 0; t < parts; t++) {
      const u0 = Math.floor((units * t) / parts), u1 = Math.floor((units * (t + 1)) / parts);
      out.push([Math.min(total, u0 * quantum), Math.min(total, u1 * quantum)]);
    }
    return out;
  };
  // a batch summed into one C (cBatch = 0) is never split: each C element keeps one summation order
  if (threads > 1 && batch >= threads && p.cBatch !== 0) return ranges(batch, threads, 1).map(([s, e]) => call(s, e, 0, m, 0, n));
  if (threads > 1 && n >= 2 * tiling.nr && n >= m) return ranges(n, threads, tiling.nr).map(([s, e]) => call(0, batch, 0, m, s, e));
  if (threads > 1 && m >= 2 * tiling.mr) return ranges(m, threads, tiling.mr).map(([s, e]) => call(0, batch, s, e, 0, n));
  return [call(0, batch, 0, m, 0, n)];
}

let runtime: WasmGemmRuntime | null | undefined;

/** The process-wide runtime, built on first use (null where WebAssembly SIMD is unavailable). */
export function wasmGemmRuntime(): WasmGemmRuntime | null {
  if (runtime === undefined) runtime = WasmGemmRuntime.create();
  return runtime;
}
