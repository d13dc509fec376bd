// The plain-TypeScript CPU backend: refcounted typed-array storage and dispatch to the pure kernels beside it.

import type {
  ArgReduceOp, Backend, BinaryOp, ConvGeometry, DataId, MemoryInfo, ReduceOp, TensorInfo, TileGeometry, UnaryOp, WinogradGeometry,
} from '../backend.js';
import { allocArray, dtypeOfArray, type DType, type FloatArray, type TypedArray } from '../../dtype.js';
import { isContiguous, sizeOf, type Shape } from '../../shape.js';
import {
  binaryKernel, clampKernel, copyKernel, stridedWriteKernel, unaryKernel, whereKernel,
} from './elementwise-kernels.js';
import {
  argReduceKernel, cumsumKernel, multinomialKernel, reduceKernel, stridedSumKernel, topkKernel,
} from './reduce-kernels.js';
import { concatKernel, gatherKernel, indexAddKernel, indexSelectKernel, scatterAddKernel } from './index-kernels.js';
import { gemm } from './gemm.js';
import { getCpuKernels } from './kernel-settings.js';
import { fusedKernel } from './fused-kernels.js';
import type { FusedProgram } from '../../fusion/program.js';
import { wasmGemmRuntime, type MatrixOperand } from './wasm/wasm-gemm.js';
import { primitivePrograms, runFusedWasm, type OutputView } from './wasm/wasm-elementwise.js';
import {
  colSumWasm, normRowsBackwardWasm, normRowsWasm, softmaxRowsBackwardWasm, softmaxRowsWasm, sumRowsWasm,
} from './wasm/wasm-rows.js';
import { col2imKernel, im2colKernel, tilesIntoKernel, tilesOfKernel, winogradConvBackwardKernel, winogradConvKernel } from './conv-kernels.js';
import { tilesWasm } from './wasm/wasm-tiles.js';
import { winogradBackwardWasm, winogradForwardWasm } from './wasm/wasm-winograd.js';
import { WINOGRAD_FILTER_KRON } from '../winograd-transforms.js';
import { attentionBackwardKernel, attentionKernel, type AttentionOperand } from './attention-kernels.js';
import { attentionBackwardWasm, attentionWasm } from './wasm/wasm-attention.js';
import { collapseDims } from './strided-loop.js';
import {
  normalizeRowsBackwardKernel, normalizeRowsKernel, softmaxRowsBackwardKernel, softmaxRowsKernel,
} from './row-kernels.js';

const EMPTY = new Float32Array(0);

const kronByDtype = new Map<DType, FloatArray>();
/** kron(G, G) [16×9] (the Winograd filter transform) as an array of `dtype`. */
function winogradKron(dtype: DType): FloatArray {
  let k = kronByDtype.get(dtype);
  if (!k) kronByDtype.set(dtype, k = (dtype === 'float64' ? Float64Array : Float32Array).from(WINOGRAD_FILTER_KRON));
  return k;
}

/** How many leading dims of `shape` multiply to `rows` (the kept dims of a reduction view), or -1. */
function keptDims(shape: Shape, rows: number): number {
  let p = 1;
  for (let d = 0; d <= shape.length; d++) {
    if (p === rows) return d;
    if (d === shape.length || p > rows) break;
    p *= shape[d]!;
  }
  return -1;
}

class CpuData implements DataId {
  readonly backend = 'cpu';
  refCount = 1;
  constructor(public values: TypedArray) {}
}

/** Freed buffers are kept for reuse up to this many bytes (per backend). */
const POOL_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Buffers this backend allocated, kept by type and length once released, so a training loop reuses the same
 * arrays every step instead of allocating (and garbage-collecting) fresh ones.
 */
/** Heap blocks come in size classes (four per power of two), so buffers of nearby sizes share blocks. */
function heapSizeClass(size: number): number {
  if (size <= 64) return 64;
  const quarter = 2 ** Math.floor(Math.log2(size)) / 4;
  return Math.ceil(size / quarter) * quarter;
}

class BufferPool {
  private readonly free = new Map<string, TypedArray[]>();
  private readonly owned = new WeakSet<TypedArray>();
  /** float32 buffers carved from the WebAssembly heap (matmuls use them in place) → the block behind each. */
  private readonly heapBlock = new WeakMap<TypedArray, Float32Array>();
  private liveHeapBuffers = 0;
  pooledBytes = 0;
  hits = 0;
  misses = 0;

  take(dtype: DType, size: number, zeroed: boolean): TypedArray {
    const heap = dtype === 'float32' && size > 0 && getCpuKernels() === 'fast' ? wasmGemmRuntime() : null;
    if (heap) {
      const cls = heapSizeClass(size);
      let block = this.free.get(`heap:${cls}`)?.pop() as Float32Array | undefined;
      if (block) {
        this.hits++;
        this.pooledBytes -= block.byteLength;
      } else {
        block = heap.allocArena(cls) ?? undefined;
        if (block) this.misses++;
      }
      if (block) {
        const view = new Float32Array(block.buffer, block.byteOffset, size);
        this.heapBlock.set(view, block);
        this.liveHeapBuffers++;
        if (zeroed) view.fill(0); // blocks are recycled
        return view;
      }
    }
    const list = this.free.get(`${dtype}:${size}`);
    const reused = list?.pop();
    if (reused) {
      this.hits++;
      this.pooledBytes -= reused.byteLength;
      if (zeroed) reused.fill(0);
      return reused;
    }
    this.misses++;
    const fresh = allocArray(dtype, size);
    if (size > 0) this.owned.add(fresh);
    return fresh;
  }

  /**
   * `values` moved into a heap block when it is a float32 array from outside the heap (a tensor made from user data
   * or a decoded file) and the fast kernels are on: the kernels then read it in place instead of staging a copy at
   * every use. Otherwise `values` itself.
   */
  adopt(values: TypedArray): TypedArray {
    if (!(values instanceof Float32Array) || values.length === 0 || this.heapBlock.has(values) || getCpuKernels() !== 'fast') return values;
    const rt = wasmGemmRuntime();
    if (!rt || rt.addressOf(values) >= 0) return values;
    const home = this.take('float32', values.length, false);
    if (!this.heapBlock.has(home)) {
      this.give(home);
      return values;
    }
    home.set(values);
    return home;
  }

  /** Keeps a released buffer for reuse if this pool allocated it (heap blocks always; others while there is room). */
  give(values: TypedArray): void {
    const block = this.heapBlock.get(values);
    if (block) {
      this.heapBlock.delete(values);
      this.liveHeapBuffers--;
      this.push(`heap:${block.length}`, block);
      return;
    }
    if (!this.owned.has(values) || this.pooledBytes + values.byteLength > POOL_MAX_BYTES) return;
    this.push(`${dtypeOfArray(values)}:${values.length}`, values);
  }

  private push(key: string, values: TypedArray): void {
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(values);
    this.pooledBytes += values.byteLength;
  }

  /** Drops the kept buffers; the heap arena is reset too when none of its buffers is alive. */
  clear(): void {
    if (this.liveHeapBuffers === 0) {
      this.free.clear();
      this.pooledBytes = 0;
      wasmGemmRuntime()?.resetArena();
      return;
    }
    for (const [key, list] of this.free) {
      if (key.startsWith('heap:')) continue;
      this.pooledBytes -= list.reduce((sum, v) => sum + v.byteLength, 0);
      this.free.delete(key);
    }
  }

  get heapBytes(): number {
    return wasmGemmRuntime()?.arenaBytes ?? 0;
  }
}

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  readonly canReadSync = true;
  private numBuffers = 0;
  private numBytes = 0;
  private peakBytes = 0;
  private readonly pool = new BufferPool();
  /** Contiguous copies made for the kernel running now (see contiguous()). */
  private readonly temporaries: TypedArray[] = [];

  write(values: TypedArray): DataId {
    // A kernel writes its output last: the contiguous copies it read from can go back to the pool now.
    for (const t of this.temporaries) this.pool.give(t);
    this.temporaries.length = 0;
    values = this.pool.adopt(values);
    this.numBuffers++;
    this.numBytes += values.byteLength;
    if (this.numBytes > this.peakBytes) this.peakBytes = this.numBytes;
    return new CpuData(values);
  }

  read(id: DataId): Promise<TypedArray> {
    return Promise.resolve(this.readSync(id));
  }

  readSync(id: DataId): TypedArray {
    return (id as CpuData).values;
  }

  incRef(id: DataId): void {
    (id as CpuData).refCount++;
  }

  decRef(id: DataId): void {
    const d = id as CpuData;
    if (--d.refCount === 0) {
      this.numBuffers--;
      this.numBytes -= d.values.byteLength;
      this.pool.give(d.values);
      d.values = EMPTY;
    }
  }

  memory(): MemoryInfo {
    return { numDataBuffers: this.numBuffers, numBytes: this.numBytes };
  }

  /** Buffer-pool counters: allocations served from the pool (hits) or fresh (misses), bytes held for reuse. */
  poolStats(): { hits: number; misses: number; pooledBytes: number; heapArenaBytes: number; peakLiveBytes: number } {
    return {
      hits: this.pool.hits, misses: this.pool.misses, pooledBytes: this.pool.pooledBytes, heapArenaBytes: this.pool.heapBytes,
      peakLiveBytes: this.peakBytes,
    };
  }

  /** Restarts the peak of live bytes that poolStats() reports at the current live bytes. */
  resetPeak(): void {
    this.peakBytes = this.numBytes;
  }

  /** Drops the buffers kept for reuse (they become garbage). */
  releasePooledBuffers(): void {
    this.pool.clear();
  }

  private values(x: TensorInfo): TypedArray {
    return (x.dataId as CpuData).values;
  }

  /** A buffer for a kernel's output: zero-filled unless the kernel promises to write every element. */
  private alloc(dtype: DType, size: number, zeroed = true): TypedArray {
    return this.pool.take(dtype, size, zeroed);
  }

  /** The data of x as a contiguous array starting at 0 (x's own buffer when already so). */
  private contiguous(x: TensorInfo): TypedArray {
    const size = sizeOf(x.shape);
    const v = this.values(x);
    if (isContiguous(x.shape, x.strides)) {
      return x.offset === 0 && v.length === size ? v : v.subarray(x.offset, x.offset + size);
    }
    const out = this.alloc(x.dtype, size, false);
    this.copyInto(x, out);
    this.temporaries.push(out);
    return out;
  }

  copy(x: TensorInfo, dtype: DType): DataId {
    const out = this.alloc(dtype, sizeOf(x.shape), false);
    this.copyInto(x, out);
    return this.write(out);
  }

  /** out = x's values in row-major order; one value broadcast everywhere (every stride 0, as a gradient of a sum) is a fill. */
  private copyInto(x: TensorInfo, out: TypedArray): void {
    if (out.length > 0 && x.strides.every((s) => s === 0)) out.fill(this.values(x)[x.offset]!);
    else if (!this.fastElementwise(primitivePrograms.copy(), [x], x.shape, out)) copyKernel(this.values(x), x.shape, x.strides, x.offset, out);
  }

  /**
   * Runs `p` on the WebAssembly SIMD interpreter (float32 operands in the heap, fast kernels); false: the caller
   * runs the TypeScript kernel.
   */
  private fastElementwise(p: FusedProgram, inputs: readonly TensorInfo[], shape: Shape, out: TypedArray, view?: OutputView): boolean {
    if (!(out instanceof Float32Array) || getCpuKernels() !== 'fast') return false;
    const rt = wasmGemmRuntime();
    return rt !== null && runFusedWasm(rt, p, inputs, inputs.map((x) => this.values(x)), shape, out, view);
  }

  /** The WebAssembly runtime for a fast float32 kernel writing `out`, or null (reference kernels, or not float32). */
  private fastRuntime(out: TypedArray): ReturnType<typeof wasmGemmRuntime> {
    return out instanceof Float32Array && getCpuKernels() === 'fast' ? wasmGemmRuntime() : null;
  }

  fill(size: number, value: number, dtype: DType): DataId {
    const out = this.alloc(dtype, size);
    if (value !== 0) out.fill(value);
    return this.write(out);
  }

  unary(op: UnaryOp, x: TensorInfo): DataId {
    const out = this.alloc(x.dtype, sizeOf(x.shape), false);
    if (!this.fastElementwise(primitivePrograms.unary(op), [x], x.shape, out)) unaryKernel(op, this.values(x), x.shape, x.strides, x.offset, out);
    return this.write(out);
  }

  clamp(x: TensorInfo, lo: number, hi: number): DataId {
    const out = this.alloc(x.dtype, sizeOf(x.shape), false);
    if (!this.fastElementwise(primitivePrograms.clamp(lo, hi), [x], x.shape, out)) clampKernel(this.values(x), x.shape, x.strides, x.offset, lo, hi, out);
    return this.write(out);
  }

  binary(op: BinaryOp, a: TensorInfo, b: TensorInfo, outShape: Shape, outDtype: DType): DataId {
    const out = this.alloc(outDtype, sizeOf(outShape), false);
    if (this.fastElementwise(primitivePrograms.binary(op), [a, b], outShape, out)) return this.write(out);
    binaryKernel(op, this.values(a), a.strides, a.offset, this.values(b), b.strides, b.offset, outShape, out);
    return this.write(out);
  }

  fusedElementwise(program: FusedProgram, inputs: readonly TensorInfo[], outShape: Shape, outDtype: DType): DataId {
    const out = this.alloc(outDtype, sizeOf(outShape), false);
    if (this.fastElementwise(program, inputs, outShape, out)) return this.write(out);
    fusedKernel(program, inputs, inputs.map((x) => this.values(x)), outShape, outDtype, out);
    return this.write(out);
  }

  where(cond: TensorInfo, a: TensorInfo, b: TensorInfo, outShape: Shape): DataId {
    const out = this.alloc(a.dtype, sizeOf(outShape), false);
    if (this.fastElementwise(primitivePrograms.where(), [cond, a, b], outShape, out)) return this.write(out);
    whereKernel(
      this.values(cond), cond.strides, cond.offset, this.values(a), a.strides, a.offset,
      this.values(b), b.strides, b.offset, outShape, out,
    );
    return this.write(out);
  }

  reduce(op: ReduceOp, x: TensorInfo, rows: number, reduceSize: number): DataId {
    const out = this.alloc(x.dtype, rows, false);
    if (op === 'sum' && rows > 1 && reduceSize > 1 && !isContiguous(x.shape, x.strides)) {
      const keptRank = keptDims(x.shape, rows);
      if (keptRank >= 0 && this.fastColumnSum(x, keptRank, out)) return this.write(out);
      if (keptRank >= 0) {
        stridedSumKernel(this.values(x), x.shape, x.strides, x.offset, keptRank, out);
        return this.write(out);
      }
    }
    const data = this.contiguous(x);
    const rt = op === 'sum' ? this.fastRuntime(out) : null;
    if (!rt || !sumRowsWasm(rt, data as Float32Array, rows, reduceSize, out as Float32Array)) reduceKernel(op, data, rows, reduceSize, out);
    return this.write(out);
  }

  /**
   * A strided sum whose reduced dims collapse to one and whose kept dims collapse to a unit-stride run of columns,
   * maybe under one more kept dim (a bias gradient: the sum over rows of [R, C]; an AdaLN one: over L of [B, L, C]),
   * on the WebAssembly column-sum kernel; false otherwise.
   */
  private fastColumnSum(x: TensorInfo, keptRank: number, out: TypedArray): boolean {
    const rt = this.fastRuntime(out);
    const values = this.values(x);
    if (!rt || !(values instanceof Float32Array)) return false;
    const kept = collapseDims(x.shape.slice(0, keptRank), [x.strides.slice(0, keptRank)]);
    const reduced = collapseDims(x.shape.slice(keptRank), [x.strides.slice(keptRank)]);
    const k = kept.shape.length;
    if (k > 2 || kept.strides[0]![k - 1] !== 1 || reduced.shape.length !== 1) return false;
    const cols = kept.shape[k - 1]!, rows = reduced.shape[0]!, rowStride = reduced.strides[0]![0]!;
    const batches = k === 2 ? kept.shape[0]! : 1, batchStride = k === 2 ? kept.strides[0]![0]! : 0;
    // memory order batch > row > column: the order in which the reference adds
    if (rowStride < cols || (k === 2 && batchStride < rows * rowStride)) return false;
    return colSumWasm(rt, values, x.offset, batches, batchStride, rows, cols, rowStride, out as Float32Array);
  }

  argReduce(op: ArgReduceOp, x: TensorInfo, rows: number, reduceSize: number): DataId {
    const out = new Int32Array(rows);
    argReduceKernel(op, this.contiguous(x), rows, reduceSize, out);
    return this.write(out);
  }

  matmul(a: TensorInfo, b: TensorInfo, reduce?: readonly boolean[]): DataId {
    const rank = a.shape.length;
    const m = a.shape[rank - 2]!, k = a.shape[rank - 1]!, n = b.shape[rank - 1]!;
    const batchShape = a.shape.slice(0, rank - 2);
    const batch = sizeOf(batchShape);
    const cStrides: number[] = new Array<number>(batchShape.length);
    let kept = 1;
    for (let d = batchShape.length - 1; d >= 0; d--) {
      cStrides[d] = reduce?.[d] ? 0 : kept * m * n;
      if (!reduce?.[d]) kept *= batchShape[d]!;
    }
    // C starts at zero when a summed dim has 0 entries (nothing is written) or several (each adds onto it)
    const reducing = reduce?.some((r, d) => r && batchShape[d]! !== 1) ?? false;
    const out = this.alloc(a.dtype, kept * m * n, reducing) as FloatArray;
    const av = this.values(a) as FloatArray, bv = this.values(b) as FloatArray;
    if (a.dtype === 'float32' && getCpuKernels() === 'fast') {
      const runtime = wasmGemmRuntime();
      const operand = (x: TensorInfo, values: FloatArray, rows: number, cols: number): MatrixOperand => ({
        values: values as Float32Array, offset: x.offset, batchShape, batchStrides: x.strides.slice(0, rank - 2),
        rowStride: x.strides[rank - 2]!, colStride: x.strides[rank - 1]!, rows, cols,
      });
      if (runtime?.matmul(operand(a, av, m, k), operand(b, bv, k, n), out as Float32Array, reduce)) return this.write(out);
    }
    // Reference: one gemm per batch entry, accumulating into the same C along summed dims.
    const counter = new Array<number>(batchShape.length).fill(0);
    let aOff = a.offset, bOff = b.offset, cOff = 0;
    for (let t = 0; t < batch; t++) {
      gemm(
        m, n, k,
        av, aOff, a.strides[rank - 2]!, a.strides[rank - 1]!,
        bv, bOff, b.strides[rank - 2]!, b.strides[rank - 1]!,
        out, cOff, n, reducing,
      );
      for (let d = batchShape.length - 1; d >= 0; d--) {
        counter[d]!++;
        aOff += a.strides[d]!;
        bOff += b.strides[d]!;
        cOff += cStrides[d]!;
        if (counter[d]! < batchShape[d]!) break;
        aOff -= a.strides[d]! * batchShape[d]!;
        bOff -= b.strides[d]! * batchShape[d]!;
        cOff -= cStrides[d]! * batchShape[d]!;
        counter[d] = 0;
      }
    }
    return this.write(out);
  }

  place(x: TensorInfo, outShape: Shape, offset: number, strides: readonly number[], fillValue: number): DataId {
    const out = this.alloc(x.dtype, sizeOf(outShape));
    if (fillValue !== 0) out.fill(fillValue);
    if (!this.fastElementwise(primitivePrograms.copy(), [x], x.shape, out, { strides, offset })) {
      stridedWriteKernel(this.values(x), x.shape, x.strides, x.offset, out, strides, offset);
    }
    return this.write(out);
  }

  concat(xs: readonly TensorInfo[], axis: number, outShape: Shape): DataId {
    const out = this.alloc(xs[0]!.dtype, sizeOf(outShape));
    concatKernel(xs.map((x) => ({ data: this.contiguous(x), shape: x.shape })), axis, outShape, out);
    return this.write(out);
  }

  cumsum(x: TensorInfo, axis: number, reverse: boolean): DataId {
    const out = this.alloc(x.dtype, sizeOf(x.shape));
    const outer = sizeOf(x.shape.slice(0, axis));
    const inner = sizeOf(x.shape.slice(axis + 1));
    cumsumKernel(this.contiguous(x), outer, x.shape[axis]!, inner, reverse, out);
    return this.write(out);
  }

  gather(x: TensorInfo, axis: number, index: TensorInfo): DataId {
    const out = this.alloc(x.dtype, sizeOf(index.shape));
    gatherKernel(this.contiguous(x), x.shape, axis, this.contiguous(index) as Int32Array, index.shape, out);
    return this.write(out);
  }

  scatterAdd(x: TensorInfo, axis: number, index: TensorInfo, src: TensorInfo): DataId {
    const out = this.alloc(x.dtype, sizeOf(x.shape));
    copyKernel(this.values(x), x.shape, x.strides, x.offset, out);
    scatterAddKernel(out, x.shape, axis, this.contiguous(index) as Int32Array, index.shape, this.contiguous(src), src.shape);
    return this.write(out);
  }

  indexSelect(x: TensorInfo, axis: number, index: TensorInfo): DataId {
    const outShape = [...x.shape];
    outShape[axis] = index.shape[0]!;
    const out = this.alloc(x.dtype, sizeOf(outShape));
    indexSelectKernel(this.contiguous(x), x.shape, axis, this.contiguous(index) as Int32Array, out);
    return this.write(out);
  }

  indexAdd(x: TensorInfo, axis: number, index: TensorInfo, src: TensorInfo): DataId {
    const out = this.alloc(x.dtype, sizeOf(x.shape));
    copyKernel(this.values(x), x.shape, x.strides, x.offset, out);
    indexAddKernel(out, x.shape, axis, this.contiguous(index) as Int32Array, this.contiguous(src));
    return this.write(out);
  }

  topkIndices(x: TensorInfo, k: number, largest: boolean): DataId {
    const n = x.shape[x.shape.length - 1]!;
    const rows = n === 0 ? 0 : sizeOf(x.shape) / n;
    const out = new Int32Array(rows * k);
    topkKernel(this.contiguous(x), rows, n, k, largest, out);
    return this.write(out);
  }

  softmaxRows(x: TensorInfo, rows: number, n: number): DataId {
    const out = this.alloc(x.dtype, rows * n, false);
    const data = this.contiguous(x), rt = this.fastRuntime(out);
    if (!rt || !softmaxRowsWasm(rt, data as Float32Array, rows, n, out as Float32Array)) softmaxRowsKernel(data, rows, n, out);
    return this.write(out);
  }

  softmaxRowsBackward(y: TensorInfo, gy: TensorInfo, rows: number, n: number): DataId {
    const out = this.alloc(y.dtype, rows * n, false);
    const yv = this.contiguous(y), gv = this.contiguous(gy), rt = this.fastRuntime(out);
    if (!rt || !softmaxRowsBackwardWasm(rt, yv as Float32Array, gv as Float32Array, rows, n, out as Float32Array)) {
      softmaxRowsBackwardKernel(yv, gv, rows, n, out);
    }
    return this.write(out);
  }

  normalizeRows(x: TensorInfo, rows: number, n: number, eps: number): [DataId, DataId] {
    const xhat = this.alloc(x.dtype, rows * n, false), rstd = this.alloc(x.dtype, rows, false);
    const data = this.contiguous(x), rt = this.fastRuntime(xhat);
    if (rt && normRowsWasm(rt, data as Float32Array, rows, n, eps, xhat as Float32Array, rstd as Float32Array)) {
      // rows whose moments overflowed (rstd 0 or NaN) take the reference kernel's rescaled path
      for (let r = 0; r < rows; r++) {
        if (rstd[r]! > 0) continue;
        normalizeRowsKernel(data.subarray(r * n, (r + 1) * n), 1, n, eps, xhat.subarray(r * n, (r + 1) * n), rstd.subarray(r, r + 1));
      }
    } else {
      normalizeRowsKernel(data, rows, n, eps, xhat, rstd);
    }
    return [this.write(xhat), this.write(rstd)];
  }

  normalizeRowsBackward(xhat: TensorInfo, rstd: TensorInfo, gy: TensorInfo, rows: number, n: number): DataId {
    const out = this.alloc(xhat.dtype, rows * n, false);
    const xv = this.contiguous(xhat), rv = this.contiguous(rstd), gv = this.contiguous(gy), rt = this.fastRuntime(out);
    if (!rt || !normRowsBackwardWasm(rt, xv as Float32Array, rv as Float32Array, gv as Float32Array, rows, n, out as Float32Array)) {
      normalizeRowsBackwardKernel(xv, rv, gv, rows, n, out);
    }
    return this.write(out);
  }

  /** im2col / col2im in the WebAssembly module on all threads (float32, fast kernels); false: use the TS kernel. */
  private fastConvLayout(direction: 'im2col' | 'col2im', src: TypedArray, g: ConvGeometry, out: TypedArray): boolean {
    if (!(src instanceof Float32Array) || !(out instanceof Float32Array) || getCpuKernels() !== 'fast') return false;
    return wasmGemmRuntime()?.convLayout(direction, src, g, out) ?? false;
  }

  im2col(x: TensorInfo, g: ConvGeometry): DataId {
    const out = this.alloc(x.dtype, g.n * g.c * g.kh * g.kw * g.outH * g.outW, false); // im2col writes every element
    const src = this.contiguous(x);
    if (!this.fastConvLayout('im2col', src, g, out)) im2colKernel(src, g, out);
    return this.write(out);
  }

  col2im(cols: TensorInfo, g: ConvGeometry): DataId {
    const out = this.alloc(cols.dtype, g.n * g.c * g.h * g.w, false); // zeroed by whichever kernel runs
    const src = this.contiguous(cols);
    if (!this.fastConvLayout('col2im', src, g, out)) {
      out.fill(0);
      col2imKernel(src, g, out);
    }
    return this.write(out);
  }

  /** A tile kernel in the WebAssembly module on all threads (float32, fast kernels); false: use the TS kernel. */
  private fastTiles(direction: 'tilesOf' | 'tilesInto', src: TypedArray, g: TileGeometry, transform: readonly (readonly number[])[], out: TypedArray): boolean {
    const rt = src instanceof Float32Array ? this.fastRuntime(out) : null;
    return rt !== null && tilesWasm(rt, direction, src as Float32Array, g, transform, out as Float32Array);
  }

  tilesOf(x: TensorInfo, g: TileGeometry, transform: readonly (readonly number[])[]): DataId {
    const out = this.alloc(x.dtype, transform.length ** 2 * g.c * g.n * g.tilesH * g.tilesW, false); // every entry written
    const src = this.contiguous(x);
    if (!this.fastTiles('tilesOf', src, g, transform, out)) tilesOfKernel(src, g, transform, out);
    return this.write(out);
  }

  tilesInto(tiles: TensorInfo, g: TileGeometry, transform: readonly (readonly number[])[]): DataId {
    const out = this.alloc(tiles.dtype, g.n * g.c * g.h * g.w, false); // zeroed by whichever kernel runs
    const src = this.contiguous(tiles);
    if (!this.fastTiles('tilesInto', src, g, transform, out)) {
      out.fill(0);
      tilesIntoKernel(src, g, transform, out);
    }
    return this.write(out);
  }

  winogradConv(x: TensorInfo, w: TensorInfo, g: WinogradGeometry): DataId {
    const y = this.alloc(x.dtype, g.n * g.o * g.outH * g.outW, false) as FloatArray;
    const xs = this.contiguous(x) as FloatArray, u = this.winogradFilters(this.contiguous(w) as FloatArray, g);
    const rt = this.fastRuntime(y);
    if (!rt || !winogradForwardWasm(rt, xs as Float32Array, u as Float32Array, g, y as Float32Array)) winogradConvKernel(xs, u, g, y);
    return this.write(y);
  }

  winogradConvBackward(x: TensorInfo, w: TensorInfo, gy: TensorInfo, g: WinogradGeometry): [DataId, DataId] {
    const oc = g.o * g.c;
    const dx = this.alloc(x.dtype, g.n * g.c * g.h * g.w, false) as FloatArray, dw = this.alloc(w.dtype, 9 * oc, false) as FloatArray;
    const du = this.alloc(w.dtype, 16 * oc, false) as FloatArray;
    this.temporaries.push(du);
    const [xs, gys] = [this.contiguous(x), this.contiguous(gy)] as FloatArray[], u = this.winogradFilters(this.contiguous(w) as FloatArray, g);
    const rt = this.fastRuntime(dx);
    if (!rt || !winogradBackwardWasm(rt, xs as Float32Array, u as Float32Array, gys as Float32Array, g, dx as Float32Array, du as Float32Array)) {
      winogradConvBackwardKernel(xs!, u, gys!, g, dx, du);
    }
    // dw [O·C, 9] = duᵀ·kron(G, G): the filter transform's adjoint
    this.gemmInto(oc, 9, 16, du, 1, oc, winogradKron(w.dtype), 9, 1, dw);
    return [this.write(dx), this.write(dw)];
  }

  /** U [16, O·C] = kron(G, G)·w viewed as [9, O·C] (the transformed filters), a temporary of this kernel. */
  private winogradFilters(w: FloatArray, g: WinogradGeometry): FloatArray {
    const oc = g.o * g.c, u = this.alloc(dtypeOfArray(w), 16 * oc, false) as FloatArray;
    this.temporaries.push(u);
    this.gemmInto(16, oc, 9, winogradKron(dtypeOfArray(w)), 9, 1, w, 1, 9, u);
    return u;
  }

  /** out [m×n] (row-major) = A·B for strided A [m×k] and B [k×n]: the wasm gemm for float32 fast kernels, else the reference. */
  private gemmInto(m: number, n: number, k: number, a: FloatArray, aRow: number, aCol: number, b: FloatArray, bRow: number, bCol: number, out: FloatArray): void {
    const operand = (values: FloatArray, rows: number, cols: number, rowStride: number, colStride: number): MatrixOperand =>
      ({ values: values as Float32Array, offset: 0, batchShape: [], batchStrides: [], rowStride, colStride, rows, cols });
    const rt = this.fastRuntime(out);
    if (rt?.matmul(operand(a, m, k, aRow, aCol), operand(b, k, n, bRow, bCol), out as Float32Array)) return;
    gemm(m, n, k, a, 0, aRow, aCol, b, 0, bRow, bCol, out, 0, n, false);
  }

  /** The operands as strided views of their arrays, for the attention kernels. */
  private attentionViews(...xs: (TensorInfo | null)[]): (AttentionOperand | null)[] {
    return xs.map((x) => (x ? { values: this.values(x), info: x } : null));
  }

  attention(q: TensorInfo, k: TensorInfo, v: TensorInfo, mask: TensorInfo | null, scale: number): [DataId, DataId, DataId] {
    const [nb, nh, lq] = q.shape as [number, number, number], e = v.shape[3]!;
    const out = this.alloc(q.dtype, nb * nh * lq * e, false), rowMax = this.alloc(q.dtype, nb * nh * lq, false), rowSum = this.alloc(q.dtype, nb * nh * lq, false);
    const [qv, kv, vv, mv] = this.attentionViews(q, k, v, mask) as [AttentionOperand, AttentionOperand, AttentionOperand, AttentionOperand | null];
    const rt = this.fastRuntime(out);
    if (!rt || !attentionWasm(rt, qv, kv, vv, mv, scale, out, rowMax, rowSum)) attentionKernel(qv, kv, vv, mv, scale, out, rowMax, rowSum);
    return [this.write(out), this.write(rowMax), this.write(rowSum)];
  }

  attentionBackward(q: TensorInfo, k: TensorInfo, v: TensorInfo, mask: TensorInfo | null, scale: number,
    rowMax: TensorInfo, rowSum: TensorInfo, gOut: TensorInfo): [DataId, DataId, DataId] {
    const dq = this.alloc(q.dtype, sizeOf(q.shape), false), dk = this.alloc(q.dtype, sizeOf(k.shape), false), dv = this.alloc(q.dtype, sizeOf(v.shape), false);
    const [qv, kv, vv, mv, gv] = this.attentionViews(q, k, v, mask, gOut) as [AttentionOperand, AttentionOperand, AttentionOperand, AttentionOperand | null, AttentionOperand];
    const [maxes, sums] = [this.contiguous(rowMax), this.contiguous(rowSum)];
    const rt = this.fastRuntime(dq);
    if (!rt || !attentionBackwardWasm(rt, qv, kv, vv, mv, scale, maxes, sums, gv, dq, dk, dv)) {
      for (const a of [dq, dk, dv]) a.fill(0);
      attentionBackwardKernel(qv, kv, vv, mv, scale, maxes, sums, gv, dq, dk, dv);
    }
    return [this.write(dq), this.write(dk), this.write(dv)];
  }

  multinomial(probs: TensorInfo, numSamples: number, replacement: boolean, uniforms: TensorInfo): DataId {
    const n = probs.shape[probs.shape.length - 1]!;
    const rows = sizeOf(probs.shape) / n;
    const out = new Int32Array(rows * numSamples);
    multinomialKernel(this.contiguous(probs), rows, n, numSamples, replacement, this.contiguous(uniforms), out);
    return this.write(out);
  }
}

