// The gpu backend: the whole backend contract on gpu.js kernels (kernel-sources.ts) through a KernelRunner. Tensors
// live as float32 device buffers (int32 values are stored as exact floats); views are read in place by the strided
// kernels, other kernels get contiguous copies. Buffers are refcounted and freed deterministically.

import type {
  ArgReduceOp, Backend, BinaryOp, ConvGeometry, DataId, GraphCapture, MemoryInfo, ReduceOp, ReplayPlan, TensorInfo, UnaryOp,
} from '../backend.js';
import type { DType, TypedArray } from '../../dtype.js';
import { isContiguous, sizeOf, stridesOf, type Shape } from '../../shape.js';
import { ArgumentError, DTypeError } from '../../errors.js';
import { BINARY_CODES, MAX_ELEMENTS, MAX_RANK, REDUCE_CODES, UNARY_CODES, type KernelName } from './kernel-sources.js';
import type { CapturedPlan, DeviceArray, KernelRunner, RunnerCounters } from './kernel-runner.js';
import type { PoolStats } from './buffer-pool.js';
import { runFusedKernel } from './fused-kernels.js';
import { evaluateWithPrimitives } from '../../fusion/primitive-lowering.js';
import type { FusedProgram } from '../../fusion/program.js';

class GpuData implements DataId {
  readonly backend = 'gpu';
  refCount = 1;
  /** A host copy fetched by prefetch(): buffers are never written after creation, so it stays valid. */
  host: Float32Array | null = null;
  /** A row-major copy of a transposed matrix view of this buffer (a Linear's weight, for matmul), made once. */
  rowMajor: { key: string; array: DeviceArray } | null = null;
  constructor(public array: DeviceArray | null, readonly size: number, readonly dtype: DType) {}
}

/** A view padded to MAX_RANK dims: offset, strides and dims (leading size-1 dims, stride 0). */
function padded(shape: Shape, strides: readonly number[], offset: number): { o: number; s: number[]; d: number[] } {
  const pad = MAX_RANK - shape.length;
  return {
    o: offset,
    s: [...new Array<number>(pad).fill(0), ...strides],
    d: [...new Array<number>(pad).fill(1), ...shape],
  };
}

/** Dims of size 1 dropped and neighbours merged where every listed view allows it (fewer dims for the kernels). */
function simplify(shape: Shape, views: (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = views.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (size === 1) continue;
    const last = outShape.length - 1;
    let merges = last >= 0;
    for (let i = 0; merges && i < views.length; i++) merges = outStrides[i]![last] === views[i]![d]! * size;
    if (merges) outShape[last]! *= size;
    else outShape.push(size);
    for (let i = 0; i < views.length; i++) {
      if (merges) outStrides[i]![last] = views[i]![d]!;
      else outStrides[i]!.push(views[i]![d]!);
    }
  }
  return { shape: outShape, strides: outStrides };
}

/** Threads below which a long reduction is split into chunks (a large GPU wants a hundred thousand in flight). */
const MIN_THREADS = 131072;

/** What each reduction starts from. */
const REDUCE_INIT = { sum: 0, max: -Infinity, min: Infinity } as const;

/**
 * x as [rows, reduceSize] when its rows are unit-stride columns and the reduced dims merge into one stride (a sum over
 * the leading axes of a contiguous tensor): that stride, else null. Worth it from 32 columns (a warp's width).
 */
function columnView(x: TensorInfo, rows: number, reduceSize: number): { rowStride: number } | null {
  if (rows < 32 || reduceSize < 2) return null;
  let d = 0, size = 1;
  while (d < x.shape.length && size < rows) size *= x.shape[d++]!;
  if (size !== rows) return null;
  const kept = simplify(x.shape.slice(0, d), [x.strides.slice(0, d)]);
  const reduced = simplify(x.shape.slice(d), [x.strides.slice(d)]);
  if (kept.shape.length !== 1 || kept.strides[0]![0] !== 1 || reduced.shape.length !== 1) return null;
  return { rowStride: reduced.strides[0]![0]! };
}

/**
 * How many chunks to split a reduction of length n into when only `outputs` threads would run: a divisor s of n with
 * chunks of at least 32, enough to reach MIN_THREADS; 1 when the work is already wide (or n has no such divisor).
 */
export function splitFactor(n: number, outputs: number): number {
  if (outputs >= MIN_THREADS || n < 64) return 1;
  const wanted = Math.min(Math.floor(n / 32), Math.ceil(MIN_THREADS / Math.max(outputs, 1)));
  for (let s = wanted; s >= 2; s--) if (n % s === 0) return s;
  return 1;
}

export class GpuBackend implements Backend {
  readonly name = 'gpu';
  /** Float32 index arithmetic is exact below 2^24 (see kernel-sources.ts). */
  readonly maxElements = MAX_ELEMENTS - 1;
  private numBuffers = 0;
  private numBytes = 0;
  private readonly temporaries: DeviceArray[] = [];
  /** Enough ones for every split below MIN_THREADS / 32 parts (see splitFactor and onesOf). */
  private readonly ones: DeviceArray;
  /** Whether a capture is recording. */
  private recording = false;
  /** Multiply-adds per matrix from which matmul runs four rows per thread (see matmul; tests lower it). */
  rows4MinMacs = 2 ** 24;

  constructor(readonly runner: KernelRunner) {
    this.ones = runner.run('fill', MIN_THREADS / 32, [], [1]);
  }

  /** False while a capture records: code that reads only when reads are synchronous (checks, statistics) then skips them. */
  get canReadSync(): boolean {
    return this.runner.canReadSync && !this.recording;
  }

  /** Which gpu.js mode and adapter run the kernels. */
  describe(): string {
    return this.runner.describe();
  }

  /** Transfers, dispatches, submissions and live device buffers (see RunnerCounters). */
  counters(): RunnerCounters {
    return { ...this.runner.counters };
  }

  /** The buffer pool: buffers in use, waiting for submission, free, created, pinned by captured plans. */
  poolStats(): PoolStats {
    return this.runner.poolStats();
  }

  /** Submits the recorded work now (reads submit by themselves; useful before timing or idling). */
  flush(): void {
    this.runner.flush();
  }

  readonly capture: GraphCapture = {
    begin: () => { this.runner.beginCapture(); this.recording = true; },
    end: () => { this.recording = false; return this.runner.endCapture(); },
    replay: (plan: ReplayPlan) => this.runner.replay(plan as CapturedPlan),
    copyInto: (from: DataId, to: DataId) => this.runner.copyInto(this.array(from), this.array(to)),
  };

  private array(id: DataId): DeviceArray {
    return this.dataOf(id).array!;
  }

  private checkSize(op: string, size: number): void {
    if (size >= MAX_ELEMENTS) {
      throw new ArgumentError(op, `the gpu backend indexes tensors with float32 arithmetic: ${size} elements exceed its limit of ${MAX_ELEMENTS - 1}`);
    }
  }

  private checkDtype(op: string, dtype: DType): void {
    if (dtype === 'float64') {
      throw new DTypeError(op, 'the gpu backend has no float64 (WebGPU and WebGL compute in float32); keep float64 work such as gradcheck on the cpu backend');
    }
  }

  private own(array: DeviceArray, size: number, dtype: DType): DataId {
    for (const t of this.temporaries) this.runner.release(t);
    this.temporaries.length = 0;
    this.numBuffers++;
    this.numBytes += size * 4;
    return new GpuData(array, size, dtype);
  }

  private data(x: TensorInfo): GpuData {
    return this.dataOf(x.dataId);
  }

  private dataOf(id: DataId): GpuData {
    const d = id as GpuData;
    if (d.backend !== 'gpu') throw new ArgumentError('gpu backend', `a tensor of the '${d.backend}' backend was passed to the gpu backend; create tensors on one backend (setBackend('gpu') or withBackend('gpu', fn)) or copy the values over (tensor(await t.data()))`);
    if (!d.array) throw new ArgumentError('gpu backend', 'a disposed buffer was used');
    return d;
  }

  private run(op: string, name: KernelName, length: number, arrays: DeviceArray[], scalars: number[]): DeviceArray {
    this.checkSize(op, length);
    return this.runner.run(name, length, arrays, scalars);
  }

  /** x as a contiguous buffer starting at 0 (its own when already so; else a temporary copy freed after the op). */
  private contiguous(x: TensorInfo): DeviceArray {
    const d = this.data(x);
    if (isContiguous(x.shape, x.strides) && x.offset === 0) return d.array!;
    const copy = this.stridedUnary('contiguous', x, UNARY_CODES.identity, 0, 0, false);
    this.temporaries.push(copy);
    return copy;
  }

  private stridedUnary(op: string, x: TensorInfo, code: number, lo: number, hi: number, toInt: boolean): DeviceArray {
    const { shape, strides } = simplify(x.shape, [x.strides]);
    this.checkRank(op, shape);
    const v = padded(shape, strides[0]!, x.offset);
    return this.run(op, 'unary', sizeOf(x.shape), [this.data(x).array!], [code, lo, hi, toInt ? 1 : 0, v.o, ...v.s, ...v.d]);
  }

  private checkRank(op: string, shape: Shape): void {
    if (shape.length > MAX_RANK) throw new ArgumentError(op, `the gpu backend handles views of up to ${MAX_RANK} dims after merging; got [${shape.join(', ')}]`);
  }

  write(values: TypedArray): DataId {
    if (values instanceof Float64Array) this.checkDtype('write', 'float64');
    this.checkSize('write', values.length);
    const dtype: DType = values instanceof Int32Array ? 'int32' : 'float32';
    const f32 = values instanceof Float32Array ? values : Float32Array.from(values);
    return this.own(this.runner.upload(f32), values.length, dtype);
  }

  private convert(values: Float32Array, dtype: DType): TypedArray {
    return dtype === 'int32' ? Int32Array.from(values) : values;
  }

  async read(id: DataId): Promise<TypedArray> {
    const d = id as GpuData;
    return this.convert(d.host ?? await this.runner.read(d.array!), d.dtype);
  }

  /** Fetches the buffer's values to the host, so that later synchronous reads of it succeed (see prefetch()). */
  async prefetch(id: DataId): Promise<void> {
    const d = id as GpuData;
    if (!d.host && d.array) d.host = await this.runner.read(d.array);
  }

  readSync(id: DataId): TypedArray {
    const d = id as GpuData;
    if (d.host) return this.convert(d.host, d.dtype);
    if (!this.runner.canReadSync) {
      throw new ArgumentError('dataSync', `the gpu backend (${this.runner.mode}) reads asynchronously: use await t.data(), or await prefetch([t]) before synchronous reads`);
    }
    return this.convert(this.runner.readSync(d.array!), d.dtype);
  }

  incRef(id: DataId): void {
    (id as GpuData).refCount++;
  }

  decRef(id: DataId): void {
    const d = id as GpuData;
    if (--d.refCount === 0 && d.array) {
      this.runner.release(d.array);
      if (d.rowMajor) this.runner.release(d.rowMajor.array);
      d.rowMajor = null;
      d.array = null;
      d.host = null;
      this.numBuffers--;
      this.numBytes -= d.size * 4;
    }
  }

  memory(): MemoryInfo {
    return { numDataBuffers: this.numBuffers, numBytes: this.numBytes };
  }

  copy(x: TensorInfo, dtype: DType): DataId {
    this.checkDtype('copy', dtype);
    const toInt = dtype === 'int32' && x.dtype !== 'int32';
    return this.own(this.stridedUnary('copy', x, UNARY_CODES.identity, 0, 0, toInt), sizeOf(x.shape), dtype);
  }

  fill(size: number, value: number, dtype: DType): DataId {
    this.checkDtype('fill', dtype);
    return this.own(this.run('fill', 'fill', size, [], [value]), size, dtype);
  }

  unary(op: UnaryOp, x: TensorInfo): DataId {
    const toInt = x.dtype === 'int32';
    return this.own(this.stridedUnary(op, x, UNARY_CODES[op], 0, 0, toInt), sizeOf(x.shape), x.dtype);
  }

  clamp(x: TensorInfo, lo: number, hi: number): DataId {
    return this.own(this.stridedUnary('clamp', x, UNARY_CODES.clamp, lo, hi, false), sizeOf(x.shape), x.dtype);
  }

  binary(op: BinaryOp, a: TensorInfo, b: TensorInfo, outShape: Shape, outDtype: DType): DataId {
    this.checkDtype(op, outDtype);
    const { shape, strides } = simplify(outShape, [a.strides, b.strides]);
    this.checkRank(op, shape);
    const va = padded(shape, strides[0]!, a.offset), vb = padded(shape, strides[1]!, b.offset);
    const toInt = outDtype === 'int32' && (op === 'div' || op === 'pow');
    const size = sizeOf(outShape);
    const out = this.run(op, 'binary', size, [this.data(a).array!, this.data(b).array!],
      [BINARY_CODES[op], toInt ? 1 : 0, va.o, ...va.s, vb.o, ...vb.s, ...va.d]);
    return this.own(out, size, outDtype);
  }

  fusedElementwise(program: FusedProgram, inputs: readonly TensorInfo[], outShape: Shape, outDtype: DType): DataId {
    this.checkDtype('fused', outDtype);
    const size = sizeOf(outShape);
    this.checkSize('fused', size);
    const out = runFusedKernel(this.runner, program, inputs, inputs.map((x) => this.data(x).array!), outShape, size, outDtype === 'int32');
    return out ? this.own(out, size, outDtype) : evaluateWithPrimitives(this, program, inputs, outShape, outDtype);
  }

  where(cond: TensorInfo, a: TensorInfo, b: TensorInfo, outShape: Shape): DataId {
    const { shape, strides } = simplify(outShape, [cond.strides, a.strides, b.strides]);
    this.checkRank('where', shape);
    const vw = padded(shape, strides[0]!, cond.offset), va = padded(shape, strides[1]!, a.offset), vb = padded(shape, strides[2]!, b.offset);
    const size = sizeOf(outShape);
    const out = this.run('where', 'where', size, [this.data(cond).array!, this.data(a).array!, this.data(b).array!],
      [vw.o, ...vw.s, va.o, ...va.s, vb.o, ...vb.s, ...vw.d]);
    return this.own(out, size, a.dtype);
  }

  /**
   * Rows that are x's unit-stride columns (a sum over leading axes, as a bias gradient) are reduced where they lie,
   * others from a contiguous copy; both read across the warp and split into parts while few threads would run.
   */
  reduce(op: ReduceOp, x: TensorInfo, rows: number, reduceSize: number): DataId {
    const columns = columnView(x, rows, reduceSize);
    // rows that are x's unit-stride columns are reduced where they lie (reading across a warp)
    const out = columns
      ? this.reduceColumns(op, this.data(x).array!, x.offset, columns.rowStride, rows, reduceSize)
      : this.reduceRows(op, this.contiguous(x), rows, reduceSize);
    return this.own(out, rows, x.dtype);
  }

  /** Columns c < cols of x[xo + r·rowStride + c], r < count, reduced; in parts while the columns leave the GPU idle. */
  private reduceColumns(op: ReduceOp, x: DeviceArray, xo: number, rowStride: number, cols: number, count: number): DeviceArray {
    const parts = splitFactor(count, cols);
    const out = this.run(op, 'reduceColumns', cols * parts, [x], [REDUCE_CODES[op], cols, xo, rowStride, count, count / parts, REDUCE_INIT[op]]);
    if (parts === 1) return out;
    this.temporaries.push(out);
    return this.reduceColumns(op, out, 0, cols, cols, parts);
  }

  /**
   * Each row of a contiguous [rows, n] reduced. Rows of 64 and more are read by interleaved parts (neighbouring threads
   * reading neighbouring values; more parts when the rows alone leave the GPU idle), and the parts reduced the same way
   * while they are many: one thread per long row would read a cache line per value across the warp.
   */
  private reduceRows(op: ReduceOp, input: DeviceArray, rows: number, n: number): DeviceArray {
    const split = splitFactor(n, rows);
    const parts = split > 1 ? split : n >= 128 ? 32 : n >= 64 ? 16 : 1;
    if (parts === 1) return this.run(op, 'reduce', rows, [input], [REDUCE_CODES[op], n, REDUCE_INIT[op]]);
    const partial = this.run(op, 'reducePartial', rows * parts, [input], [REDUCE_CODES[op], n, parts, REDUCE_INIT[op]]);
    this.temporaries.push(partial);
    return this.reduceRows(op, partial, rows, parts);
  }

  argReduce(op: ArgReduceOp, x: TensorInfo, rows: number, reduceSize: number): DataId {
    const out = this.run(op, 'argReduce', rows, [this.contiguous(x)], [op === 'argmax' ? 0 : 1, reduceSize]);
    return this.own(out, rows, 'int32');
  }

  matmul(a: TensorInfo, b: TensorInfo, reduce?: readonly boolean[]): DataId {
    const rank = a.shape.length;
    const m = a.shape[rank - 2]!, k = a.shape[rank - 1]!, n = b.shape[rank - 1]!;
    const batchShape = a.shape.slice(0, rank - 2);
    const kept: number[] = [], reduced: number[] = [];
    batchShape.forEach((_, d) => (reduce?.[d] ? reduced : kept).push(d));
    const group = (dims: number[]) => simplify(dims.map((d) => batchShape[d]!), [dims.map((d) => a.strides[d]!), dims.map((d) => b.strides[d]!)]);
    const gk = group(kept), gr = group(reduced);
    if (gk.shape.length > 1 || gr.shape.length > 1) {
      // batch dims that do not merge into one kept and one summed axis: run on contiguous copies
      const ac = this.contiguous(a), bc = this.contiguous(b);
      const full = (x: TensorInfo, array: DeviceArray): TensorInfo => ({ ...x, strides: stridesOf(x.shape), offset: 0, dataId: new GpuData(array, sizeOf(x.shape), x.dtype) });
      const fa = full(a, ac), fb = full(b, bc);
      if (fa.strides.join() === a.strides.join() && fb.strides.join() === b.strides.join()) {
        throw new ArgumentError('matmul', `the gpu backend cannot merge batch dims [${batchShape.join(', ')}] (reduce ${JSON.stringify(reduce)})`);
      }
      return this.matmul(fa, fb, reduce);
    }
    // a warp reads b in whole cache lines only when b's rows are contiguous: a strided b (a transposed weight) is
    // copied row-major first, when the product is tall enough for the copy to pay
    if (b.strides[rank - 1] !== 1 && n > 1 && m >= 32) return this.matmul(a, this.rowMajor(b), reduce);
    const keptCount = gk.shape[0] ?? 1, redCount = gr.shape[0] ?? 1;
    const size = keptCount * m * n;
    const aCol = a.strides[rank - 1]!, bRow = b.strides[rank - 2]!;
    const bContiguousRows = b.strides[rank - 1] === 1;
    // four rows per thread where they divide m and the product is large (b read in whole lines across the warp: 1.5-2×
    // on the H200 from 2^24 multiply-adds per matrix; below, the reordering copy costs more), else four columns, else one
    const rows4 = m % 4 === 0 && bContiguousRows && m * n * k >= this.rows4MinMacs;
    const kernel = rows4 ? 'matmulRows4' : n % 4 === 0 && bContiguousRows ? 'matmul4' : 'matmul';
    const lanes = kernel === 'matmul' ? 1 : 4;
    // split-k: a small output with a long inner dimension (weight gradients, their batch folded into k) runs as s
    // partial products over chunks of k (the chunk index taking the kept-batch slot), summed by a 1×s ones-vector product
    const s = keptCount === 1 ? splitFactor(k, (m * n) / lanes) : 1;
    const chunk = k / s;
    let out = this.run('matmul', kernel, s * size, [this.data(a).array!, this.data(b).array!], [
      m, n, chunk, redCount,
      a.offset, s > 1 ? chunk * aCol : gk.strides[0]![0] ?? 0, gr.strides[0]![0] ?? 0, a.strides[rank - 2]!, aCol,
      b.offset, s > 1 ? chunk * bRow : gk.strides[1]![0] ?? 0, gr.strides[1]![0] ?? 0, bRow, b.strides[rank - 1]!,
    ]);
    if (s > 1) {
      // the partial products share one layout, so they are summed as they lie
      const sum = this.run('matmul', size % 4 === 0 ? 'matmul4' : 'matmul', size, [this.onesOf(s), out], [1, size, s, 1, 0, 0, 0, 0, 1, 0, 0, 0, size, 1]);
      this.temporaries.push(out);
      out = sum;
    }
    if (kernel !== 'matmulRows4') return this.own(out, size, a.dtype);
    // [batch, m/4, n, 4] → [batch, m/4, 4, n]
    const quads: TensorInfo = {
      shape: [keptCount, m / 4, 4, n], strides: [m * n, 4 * n, 1, 4], offset: 0, dtype: a.dtype, dataId: new GpuData(out, size, a.dtype),
    };
    const rows = this.stridedUnary('matmul', quads, UNARY_CODES.identity, 0, 0, false);
    this.temporaries.push(out);
    return this.own(rows, size, a.dtype);
  }

  /**
   * `length` ones for split-k's sums: the backend's shared ones (buffers are never written after creation), or, for
   * the rare longer split, a temporary fill.
   */
  private onesOf(length: number): DeviceArray {
    if (length <= this.ones.length) return this.ones;
    const ones = this.runner.run('fill', length, [], [1]);
    this.temporaries.push(ones);
    return ones;
  }

  /**
   * b with row-major matrices; a b broadcast over the batch dims stays broadcast, one matrix copied. That copy is kept
   * with b's buffer (buffers are never written after creation), so a weight is transposed once, not at every product.
   */
  private rowMajor(b: TensorInfo): TensorInfo {
    const rank = b.shape.length;
    const batchStrides = b.strides.slice(0, rank - 2);
    const broadcast = batchStrides.every((st) => st === 0);
    const matrix: TensorInfo = broadcast ? { ...b, shape: b.shape.slice(rank - 2), strides: b.strides.slice(rank - 2) } : b;
    let array: DeviceArray;
    if (broadcast) {
      const data = this.data(b);
      const key = `${b.offset};${matrix.shape.join(',')};${matrix.strides.join(',')}`;
      if (data.rowMajor?.key !== key) {
        if (data.rowMajor) this.runner.release(data.rowMajor.array);
        data.rowMajor = { key, array: this.stridedUnary('matmul', matrix, UNARY_CODES.identity, 0, 0, false) };
      }
      array = data.rowMajor.array;
    } else {
      array = this.contiguous(matrix);
    }
    const strides = stridesOf(matrix.shape);
    return { ...b, offset: 0, strides: broadcast ? [...batchStrides, ...strides] : strides, dataId: new GpuData(array, sizeOf(matrix.shape), b.dtype) };
  }

  place(x: TensorInfo, outShape: Shape, offset: number, strides: readonly number[], fillValue: number): DataId {
    const size = sizeOf(outShape);
    const xc = this.contiguous(x);
    const xStrides = stridesOf(x.shape);
    // a negative stride is walked from the other end: positive stride, offset at that end, x read backwards
    let start = offset, xStart = 0;
    const pos = strides.map((s, d) => {
      if (s >= 0 || x.shape[d]! <= 1) return s;
      start += (x.shape[d]! - 1) * s;
      xStart += (x.shape[d]! - 1) * xStrides[d]!;
      return -s;
    });
    const xDir = xStrides.map((s, d) => (strides[d]! < 0 && x.shape[d]! > 1 ? -s : s));
    // dims by decreasing stride: the greedy decomposition of a position into view coordinates
    const order = x.shape.map((_, d) => d).filter((d) => x.shape[d]! > 1).sort((p, q) => pos[q]! - pos[p]!);
    this.checkRank('place', order);
    for (let i = 0; i < order.length; i++) {
      const d = order[i]!;
      const span = order.slice(i + 1).reduce((acc, e) => acc + (x.shape[e]! - 1) * pos[e]!, 0);
      if (pos[d]! <= span) {
        throw new ArgumentError('place', `the gpu backend writes only non-overlapping views; got strides [${strides.join(', ')}] for shape [${x.shape.join(', ')}]`);
      }
    }
    const pad = (vals: number[], fill: number) => [...vals, ...new Array<number>(MAX_RANK - vals.length).fill(fill)];
    const out = this.run('place', 'place', size, [xc], [
      fillValue, start, xStart,
      ...pad(order.map((d) => pos[d]!), 0), ...pad(order.map((d) => x.shape[d]!), 1), ...pad(order.map((d) => xDir[d]!), 0),
    ]);
    return this.own(out, size, x.dtype);
  }

  concat(xs: readonly TensorInfo[], axis: number, outShape: Shape): DataId {
    const outer = sizeOf(outShape.slice(0, axis));
    const size = sizeOf(outShape);
    const parts = xs.filter((x) => sizeOf(x.shape.slice(axis)) > 0);
    if (parts.length === 0) return this.own(this.run('concat', 'fill', size, [], [0]), size, xs[0]!.dtype);
    if (parts.length === 1) return this.own(this.stridedUnary('concat', parts[0]!, UNARY_CODES.identity, 0, 0, false), size, xs[0]!.dtype);
    // pairwise: [acc | next] along the axis, the intermediate results freed after the op
    let acc = this.contiguous(parts[0]!); // the input's own buffer or a temporary copy (freed by contiguous's bookkeeping)
    let accInner = sizeOf(parts[0]!.shape.slice(axis));
    for (const [i, x] of parts.slice(1).entries()) {
      const inner = sizeOf(x.shape.slice(axis));
      const next = this.run('concat', 'concat2', outer * (accInner + inner), [acc, this.contiguous(x)], [accInner, inner]);
      if (i > 0) this.temporaries.push(acc); // an intermediate concat2 result
      acc = next;
      accInner += inner;
    }
    return this.own(acc, size, xs[0]!.dtype);
  }

  cumsum(x: TensorInfo, axis: number, reverse: boolean): DataId {
    const size = sizeOf(x.shape);
    const len = x.shape[axis]!, inner = sizeOf(x.shape.slice(axis + 1));
    const out = this.run('cumsum', 'cumsum', size, [this.contiguous(x)], [len, inner, reverse ? 1 : 0]);
    return this.own(out, size, x.dtype);
  }

  gather(x: TensorInfo, axis: number, index: TensorInfo): DataId {
    const size = sizeOf(index.shape);
    const pad = MAX_RANK - x.shape.length;
    const xs = stridesOf(x.shape);
    const w = [...new Array<number>(pad).fill(0), ...xs.map((s, d) => (d === axis ? 0 : s))];
    const d = [...new Array<number>(pad).fill(1), ...index.shape];
    const out = this.run('gather', 'gather', size, [this.contiguous(x), this.contiguous(index)], [...d, ...w, xs[axis]!]);
    return this.own(out, size, x.dtype);
  }

  scatterAdd(x: TensorInfo, axis: number, index: TensorInfo, src: TensorInfo): DataId {
    const size = sizeOf(x.shape);
    const pad = MAX_RANK - x.shape.length;
    const lead = (v: number[], fill: number) => [...new Array<number>(pad).fill(fill), ...v];
    const is = stridesOf(index.shape), ss = stridesOf(src.shape);
    const out = this.run('scatterAdd', 'scatterAdd', size, [this.contiguous(x), this.contiguous(index), this.contiguous(src)], [
      ...lead([...x.shape], 1),
      ...lead(is.map((s, d) => (d === axis ? 0 : s)), 0), is[axis]!,
      ...lead(ss.map((s, d) => (d === axis ? 0 : s)), 0), ss[axis]!,
      ...lead([...index.shape], 1),
      ...lead(x.shape.map((_, d) => (d === axis ? 1 : 0)), 0),
      index.shape[axis]!,
    ]);
    return this.own(out, size, x.dtype);
  }

  indexSelect(x: TensorInfo, axis: number, index: TensorInfo): DataId {
    const nIndex = sizeOf(index.shape);
    const outer = sizeOf(x.shape.slice(0, axis)), inner = sizeOf(x.shape.slice(axis + 1));
    const size = outer * nIndex * inner;
    const out = this.run('indexSelect', 'indexSelect', size, [this.contiguous(x), this.contiguous(index)], [x.shape[axis]!, inner, nIndex]);
    return this.own(out, size, x.dtype);
  }

  indexAdd(x: TensorInfo, axis: number, index: TensorInfo, src: TensorInfo): DataId {
    const nIndex = sizeOf(index.shape);
    const inner = sizeOf(x.shape.slice(axis + 1));
    const size = sizeOf(x.shape);
    const out = this.run('indexAdd', 'indexAdd', size, [this.contiguous(x), this.contiguous(index), this.contiguous(src)], [x.shape[axis]!, inner, nIndex]);
    return this.own(out, size, x.dtype);
  }

  topkIndices(x: TensorInfo, k: number, largest: boolean): DataId {
    const n = x.shape[x.shape.length - 1]!;
    const rows = sizeOf(x.shape) / Math.max(n, 1);
    const ranks = this.run('topk', 'topkRank', rows * n, [this.contiguous(x)], [n, largest ? 1 : 0]);
    this.temporaries.push(ranks);
    const out = this.run('topk', 'topkPick', rows * k, [ranks], [n, k]);
    return this.own(out, rows * k, 'int32');
  }

  private geometry(g: ConvGeometry): number[] {
    return [g.c, g.h, g.w, g.kh, g.kw, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.outH, g.outW];
  }

  im2col(x: TensorInfo, g: ConvGeometry): DataId {
    const size = g.n * g.c * g.kh * g.kw * g.outH * g.outW;
    const out = this.run('im2col', 'im2col', size, [this.contiguous(x)], [...this.geometry(g), g.padValue]);
    return this.own(out, size, x.dtype);
  }

  col2im(cols: TensorInfo, g: ConvGeometry): DataId {
    const size = g.n * g.c * g.h * g.w;
    const out = this.run('col2im', 'col2im', size, [this.contiguous(cols)], this.geometry(g));
    return this.own(out, size, cols.dtype);
  }

  softmaxRows(x: TensorInfo, rows: number, n: number): DataId {
    const xc = this.contiguous(x);
    const mx = this.reduceRows('max', xc, rows, n);
    const s = this.run('softmax', 'rowSumExp', rows, [xc, mx], [n]);
    const out = this.run('softmax', 'softmax', rows * n, [xc, mx, s], [n]);
    this.temporaries.push(mx, s);
    return this.own(out, rows * n, x.dtype);
  }

  softmaxRowsBackward(y: TensorInfo, gy: TensorInfo, rows: number, n: number): DataId {
    const yc = this.contiguous(y), gc = this.contiguous(gy);
    const dot = this.run('softmaxBackward', 'rowDot', rows, [yc, gc], [n, 1]);
    const out = this.run('softmaxBackward', 'softmaxBackward', rows * n, [yc, gc, dot], [n]);
    this.temporaries.push(dot);
    return this.own(out, rows * n, y.dtype);
  }

  normalizeRows(x: TensorInfo, rows: number, n: number, eps: number): [xhat: DataId, rstd: DataId] {
    const xc = this.contiguous(x);
    const [mean, rstd] = this.rowStatistics(xc, rows, n, eps);
    const xhat = this.run('normalize', 'normalize', rows * n, [xc, mean, rstd], [n]);
    this.temporaries.push(mean);
    const xhatId = this.own(xhat, rows * n, x.dtype);
    return [xhatId, this.own(rstd, rows, x.dtype)];
  }

  /**
   * Each row's mean and 1/√(var + eps). Many long rows run as interleaved partial sums (32 threads per row reading
   * neighbouring values) and a finishing pass; few or short rows, one thread per row.
   */
  private rowStatistics(xc: DeviceArray, rows: number, n: number, eps: number): [mean: DeviceArray, rstd: DeviceArray] {
    const parts = rows * n >= 2 ** 20 && n >= 64 ? 32 : 1;
    if (parts === 1) {
      const mean = this.run('normalize', 'rowSum', rows, [xc], [n, 1 / n]);
      return [mean, this.run('normalize', 'rowRstd', rows, [xc, mean], [n, eps])];
    }
    const sums = this.run('normalize', 'rowPartial', rows * parts, [xc, xc], [0, n, parts]);
    const mean = this.run('normalize', 'rowFinish', rows, [sums], [0, parts, n, 1 / n, 0]);
    const squares = this.run('normalize', 'rowPartial', rows * parts, [xc, mean], [1, n, parts]);
    const rstd = this.run('normalize', 'rowFinish', rows, [squares], [1, parts, n, 1, eps]);
    this.temporaries.push(sums, squares);
    return [mean, rstd];
  }

  normalizeRowsBackward(xhat: TensorInfo, rstd: TensorInfo, gy: TensorInfo, rows: number, n: number): DataId {
    const xc = this.contiguous(xhat), rc = this.contiguous(rstd), gc = this.contiguous(gy);
    const m1 = this.run('normalizeBackward', 'rowSum', rows, [gc], [n, 1 / n]);
    const m2 = this.run('normalizeBackward', 'rowDot', rows, [gc, xc], [n, 1 / n]);
    const out = this.run('normalizeBackward', 'normalizeBackward', rows * n, [xc, rc, gc, m1, m2], [n]);
    this.temporaries.push(m1, m2);
    return this.own(out, rows * n, gy.dtype);
  }

  multinomial(probs: TensorInfo, numSamples: number, replacement: boolean, uniforms: TensorInfo): DataId {
    if (!replacement && numSamples > 1) {
      throw new ArgumentError('multinomial', 'the gpu backend draws without replacement only one sample per row; use replacement: true or the cpu backend');
    }
    const n = probs.shape[probs.shape.length - 1]!;
    const rows = sizeOf(probs.shape) / Math.max(n, 1);
    const out = this.run('multinomial', 'multinomial', rows * numSamples, [this.contiguous(probs), this.contiguous(uniforms)], [n, numSamples]);
    return this.own(out, rows * numSamples, 'int32');
  }
}
