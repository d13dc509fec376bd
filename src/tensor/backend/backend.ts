// The backend contract: storage (refcounted data ids, sync/async reads) plus a fixed set of primitive kernels.
// Kernels take TensorInfo views (any strides, stride 0 for broadcast) and return a new contiguous buffer; they know nothing of autograd.

import type { DType, TypedArray } from '../dtype.js';
import type { Shape } from '../shape.js';
import type { FusedProgram } from '../fusion/program.js';

/** Opaque handle to a buffer owned by a backend. */
export interface DataId {
  readonly backend: string;
}

/** A strided view on a buffer: element at index (i0, i1, ...) lives at offset + Σ ik·strides[k]. */
export interface TensorInfo {
  readonly dataId: DataId;
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
}

export type UnaryOp =
  | 'neg' | 'abs' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'sin' | 'cos' | 'tanh' | 'sigmoid' | 'relu'
  | 'sign' | 'floor' | 'erf' | 'softplus' | 'step' | 'square' | 'reciprocal' | 'geluTanh' | 'geluTanhGrad';
export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
export type ReduceOp = 'sum' | 'max' | 'min';
export type ArgReduceOp = 'argmax' | 'argmin';

/** Sliding-window geometry shared by im2col/col2im (and so conv2d and pooling). */
export interface ConvGeometry {
  n: number; c: number; h: number; w: number;
  kh: number; kw: number;
  strideH: number; strideW: number;
  padH: number; padW: number;
  dilationH: number; dilationW: number;
  outH: number; outW: number;
  /** Value read where a window overlaps the padding (0 for conv/avg, -Infinity for max pooling). */
  padValue: number;
}

/**
 * Geometry of the tile transforms (tilesOf / tilesInto): size×size patches of an image [N, C, H, W] every `step`
 * pixels, patch (ty, tx) covering rows step·ty + offsetH … and columns step·tx + offsetW … (reads outside the
 * image are 0; writes there are dropped). tilesH × tilesW patches per image.
 */
export interface TileGeometry {
  n: number; c: number; h: number; w: number;
  size: number; step: number;
  tilesH: number; tilesW: number;
  offsetH: number; offsetW: number;
}

/**
 * A 3×3, stride-1 convolution of x [N, C, H, W] into [N, O, outH, outW] (outH = H + 2·padH − 2) as Winograd
 * F(2×2, 3×3) over tilesH × tilesW = ⌈outH/2⌉ × ⌈outW/2⌉ output tiles (see winograd-transforms.ts).
 */
export interface WinogradGeometry {
  n: number; c: number; o: number; h: number; w: number;
  outH: number; outW: number; padH: number; padW: number;
  tilesH: number; tilesW: number;
}

export interface MemoryInfo {
  numDataBuffers: number;
  numBytes: number;
}

/**
 * Buffer-pool counters a backend may report (optional capability; each backend fills the fields it tracks, all counts
 * of buffers or bytes).
 */
export interface BufferPoolStats {
  /** Allocations served from the pool, and fresh ones. */
  hits?: number;
  misses?: number;
  /** Bytes held for reuse. */
  pooledBytes?: number;
  /** Size of the heap arena buffers are carved from (never handed back: the high-water mark of tensor memory). */
  heapArenaBytes?: number;
  /** Live bytes at their peak since resetPeak(). */
  peakLiveBytes?: number;
  /** Buffers handed out and not yet released. */
  inUse?: number;
  /** Buffers free for reuse, and their bytes. */
  free?: number;
  freeBytes?: number;
  /** Buffers ever created. */
  created?: number;
  /** Buffers held by captured plans. */
  pinned?: number;
}

/** A recorded sequence of kernels over fixed buffers (see GraphCapture). */
export interface ReplayPlan {
  /** Commands in the plan. */
  readonly steps: number;
  dispose(): void;
}

/**
 * Optional capability: record the kernels an ordinary run issues into a plan, then replay the plan without running
 * the ops again (the gpu backend; CUDA graphs are the analogue). captureGraph() in src/tensor/capture.ts uses it.
 */
export interface GraphCapture {
  begin(): void;
  end(): ReplayPlan;
  replay(plan: ReplayPlan): void;
  /** Copies the (contiguous, equally long) values of `from` into `to`, in order with the recorded work. */
  copyInto(from: DataId, to: DataId): void;
}

export interface Backend {
  readonly name: string;
  /** Whether readSync is available (CPU: yes; asynchronous GPU modes: no; no backend while a capture records). */
  readonly canReadSync: boolean;

  /** Takes ownership of `values` (refcount 1). */
  write(values: TypedArray): DataId;
  read(id: DataId): Promise<TypedArray>;
  /** The backing array itself on the CPU: callers must not mutate it. */
  readSync(id: DataId): TypedArray;
  /**
   * Largest element count one kernel's output may have (optional; absent means unbounded). Composite ops that would
   * build a larger intermediate (conv2d's unfolded input) split their work to stay under it.
   */
  readonly maxElements?: number;
  /** Record-and-replay of kernels (optional; absent where ops run eagerly, like the cpu backend). */
  readonly capture?: GraphCapture;
  /** Asynchronous backends: fetch the values now so that a later readSync(id) succeeds (optional). */
  prefetch?(id: DataId): Promise<void>;
  incRef(id: DataId): void;
  decRef(id: DataId): void;
  memory(): MemoryInfo;
  /** Buffer-pool counters (optional; see BufferPoolStats). */
  poolStats?(): BufferPoolStats;
  /** Restarts the peak that poolStats().peakLiveBytes reports at the current live bytes (optional, with it). */
  resetPeak?(): void;

  /** Materializes any view contiguously, converting to `dtype`. */
  copy(x: TensorInfo, dtype: DType): DataId;
  fill(size: number, value: number, dtype: DType): DataId;
  unary(op: UnaryOp, x: TensorInfo): DataId;
  /** clamp(x, lo, hi) elementwise. */
  clamp(x: TensorInfo, lo: number, hi: number): DataId;
  /** a and b already carry broadcast strides for `outShape`. Comparisons return 1/0 in `outDtype`. */
  binary(op: BinaryOp, a: TensorInfo, b: TensorInfo, outShape: Shape, outDtype: DType): DataId;
  /** cond ≠ 0 ? a : b, all three already broadcast to `outShape`. */
  where(cond: TensorInfo, a: TensorInfo, b: TensorInfo, outShape: Shape): DataId;
  /**
   * A fused elementwise program (src/tensor/fusion) in one pass: inputs already carry broadcast strides for
   * `outShape`; the result is what the program's chain of unary/binary/where/clamp kernels would give.
   */
  fusedElementwise(program: FusedProgram, inputs: readonly TensorInfo[], outShape: Shape, outDtype: DType): DataId;
  /** Reduces each row of x viewed (row-major) as [rows, reduceSize]; max/min of an empty row are ∓Infinity. */
  reduce(op: ReduceOp, x: TensorInfo, rows: number, reduceSize: number): DataId;
  /** Index (int32) of the max/min in each row of x viewed as [rows, reduceSize]; first occurrence wins. */
  argReduce(op: ArgReduceOp, x: TensorInfo, rows: number, reduceSize: number): DataId;
  /**
   * a: [...batch, m, k], b: [...batch, k, n] with identical batch dims (broadcast via strides) → [...batch, m, n];
   * batch dims flagged in `reduce` are summed over (and dropped from the output).
   */
  matmul(a: TensorInfo, b: TensorInfo, reduce?: readonly boolean[]): DataId;
  /** A buffer of `outShape` filled with `fillValue`, with x written into the view (offset, strides) of it. */
  place(x: TensorInfo, outShape: Shape, offset: number, strides: readonly number[], fillValue: number): DataId;
  concat(xs: readonly TensorInfo[], axis: number, outShape: Shape): DataId;
  cumsum(x: TensorInfo, axis: number, reverse: boolean): DataId;
  /** out[..i..] = x[..index[..i..]..] along `axis`; index has x's rank. */
  gather(x: TensorInfo, axis: number, index: TensorInfo): DataId;
  /** out = copy of x; out[..index[..i..]..] += src[..i..] along `axis`. */
  scatterAdd(x: TensorInfo, axis: number, index: TensorInfo, src: TensorInfo): DataId;
  /** out = x.take(index, axis) with a 1-D int32 index. */
  indexSelect(x: TensorInfo, axis: number, index: TensorInfo): DataId;
  /** out = copy of x; out.take(index, axis) += src. */
  indexAdd(x: TensorInfo, axis: number, index: TensorInfo, src: TensorInfo): DataId;
  /** Indices (int32) of the k largest (or smallest) entries of each trailing row of length n, sorted. */
  topkIndices(x: TensorInfo, k: number, largest: boolean): DataId;
  /** Unfolds sliding windows of x [N, C, H, W] into columns [N, C·kh·kw, Ho·Wo] (padding reads padValue). */
  im2col(x: TensorInfo, g: ConvGeometry): DataId;
  /** The adjoint of im2col: sums columns [N, C·kh·kw, Ho·Wo] back into an image [N, C, H, W] (padding dropped). */
  col2im(cols: TensorInfo, g: ConvGeometry): DataId;
  /**
   * Optional capability (backends offering it get Winograd convolution, see ops/winograd.ts). tilesOf: every patch P
   * of x [N, C, H, W] transformed as L·P·Lᵀ with L [q×size] (row-major) → [q·q, C, N·tilesH·tilesW], entry r·q + u
   * of patch (n, t) at [r·q + u, c, n·T + t].
   */
  tilesOf?(x: TensorInfo, g: TileGeometry, transform: readonly (readonly number[])[]): DataId;
  /** The adjoint of tilesOf: sums Lᵀ·Q·L of every transformed patch Q back into an image [N, C, H, W]. */
  tilesInto?(tiles: TensorInfo, g: TileGeometry, transform: readonly (readonly number[])[]): DataId;
  /**
   * Optional capability (with tilesOf / tilesInto; ops/winograd.ts fuses through it): the Winograd convolution of
   * x [N, C, H, W] with 3×3 filters w [O, C, 3, 3], y [N, O, outH, outW]: the same as tilesInto(U·tilesOf(x, Bᵀ), A)
   * with U = G w Gᵀ [16, O, C], computed image by image so the transformed tiles never leave the cache.
   */
  winogradConv?(x: TensorInfo, w: TensorInfo, g: WinogradGeometry): DataId;
  /** Its VJP for the output cotangent gy [N, O, outH, outW]: dx [N, C, H, W] and dw [O, C, 3, 3]. */
  winogradConvBackward?(x: TensorInfo, w: TensorInfo, gy: TensorInfo, g: WinogradGeometry): [dx: DataId, dw: DataId];
  /**
   * Optional capability (backends offering it get fused attention, see ops/fused-attention.ts): for q [B, H, Lq, d],
   * k [B, H, Lk, d], v [B, H, Lk, e] and an additive mask [B, H, Lq, Lk] (broadcast strides allowed) or null,
   * out = softmax(scale·q·kᵀ + mask)·v [B, H, Lq, e] with each score row's max and Σ exp(s − max) ([B, H, Lq]).
   */
  attention?(q: TensorInfo, k: TensorInfo, v: TensorInfo, mask: TensorInfo | null, scale: number): [out: DataId, rowMax: DataId, rowSum: DataId];
  /** The VJP of attention from its row statistics and the output cotangent: dq, dk, dv (shapes of q, k, v). */
  attentionBackward?(q: TensorInfo, k: TensorInfo, v: TensorInfo, mask: TensorInfo | null, scale: number,
    rowMax: TensorInfo, rowSum: TensorInfo, gOut: TensorInfo): [dq: DataId, dk: DataId, dv: DataId];
  /** Softmax of each row of x viewed (row-major) as [rows, n]. */
  softmaxRows(x: TensorInfo, rows: number, n: number): DataId;
  /** y·(gy − Σ gy·y) per row: the softmax VJP from its output y. */
  softmaxRowsBackward(y: TensorInfo, gy: TensorInfo, rows: number, n: number): DataId;
  /** Per row of x [rows, n]: xhat = (x − mean)/√(var + eps) and rstd = 1/√(var + eps) ([rows]). */
  normalizeRows(x: TensorInfo, rows: number, n: number, eps: number): [xhat: DataId, rstd: DataId];
  /** rstd·(gy − mean(gy) − xhat·mean(gy·xhat)) per row: the VJP of normalizeRows. */
  normalizeRowsBackward(xhat: TensorInfo, rstd: TensorInfo, gy: TensorInfo, rows: number, n: number): DataId;
  /** Per row of probs [rows, n], draw `numSamples` indices using uniforms in [0,1) (rows·numSamples of them, row-major). */
  multinomial(probs: TensorInfo, numSamples: number, replacement: boolean, uniforms: TensorInfo): DataId;
}

/**
 * Whether synchronous reads of `backend` are plain host-memory reads, with no device transfer and no wait for queued
 * work: it reads synchronously and keeps no device copies to prefetch (the cpu backend). Work that reads only when a
 * read costs nothing (a validation of values already at hand) asks this instead of naming a backend.
 */
export function readsAreFree(backend: Backend): boolean {
  return backend.canReadSync && backend.prefetch === undefined;
}
