// Tensor: a strided view (shape, strides, offset) on a refcounted backend buffer, plus its autograd links.
// Views share storage; dispose() releases this view's reference. Methods like t.add(u) are attached in fluent.ts.

import type { Backend, DataId, TensorInfo } from './backend/backend.js';
import type { DType, TypedArray } from './dtype.js';
import { allocArray, copyOfArray, isFloatDType } from './dtype.js';
import { DisposedError, DTypeError, ArgumentError, fmtShape } from './errors.js';
import { isContiguous, sizeOf, stridesOf, type Shape } from './shape.js';
import { trackTensor, untrackTensor } from './memory.js';
import type { GradNode } from './graph/node.js';

let nextTensorId = 0;

/** The id the next tensor will get: tensors with id ≥ a watermark were created after it was read. */
export function tensorIdWatermark(): number {
  return nextTensorId;
}

/** Nested arrays of numbers, as produced by toArray(). */
export type NestedArray = number | NestedArray[];

export interface TensorInit {
  backend: Backend;
  dataId: DataId;
  shape: Shape;
  dtype: DType;
  strides?: readonly number[];
  offset?: number;
  /** The recorded op that produced this tensor. */
  node?: GradNode | null;
  /** false for graph-internal aliases whose lifetime is bound to a node (they neither hold a node reference nor join tidy scopes). */
  owned?: boolean;
  gradTarget?: Tensor | null;
}

export class Tensor {
  readonly isTensor = true;
  readonly id = nextTensorId++;
  readonly backend: Backend;
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  /** The buffer; replaced (never mutated) by assign(), so graphs that saved the old value stay correct. */
  dataId: DataId;
  /** The recorded op that produced this tensor, or null for leaves and untracked results. */
  node: GradNode | null;
  /** Accumulated gradient of a leaf that requires grad (filled by backward()). */
  grad: Tensor | null = null;
  /** Optional label used in error messages and debugging. */
  name: string | undefined;
  /** For a graph-saved alias of a leaf that requires grad: the leaf whose .grad it stands for (higher-order gradients). */
  readonly gradTarget: Tensor | null;
  private leafRequiresGrad = false;
  private disposed = false;
  private readonly owned: boolean;

  constructor(init: TensorInit) {
    this.backend = init.backend;
    this.dataId = init.dataId;
    this.shape = Object.freeze([...init.shape]);
    this.strides = Object.freeze(init.strides ? [...init.strides] : stridesOf(init.shape));
    this.offset = init.offset ?? 0;
    this.dtype = init.dtype;
    this.node = init.node ?? null;
    this.owned = init.owned ?? true;
    this.gradTarget = init.gradTarget ?? null;
    if (this.gradTarget) this.leafRequiresGrad = true;
    if (this.owned) {
      this.node?.incRef();
      trackTensor(this);
    }
  }

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** True for leaves marked with requireGrad() and for results of recorded ops. */
  get requiresGrad(): boolean {
    return this.leafRequiresGrad || this.node !== null;
  }

  /** A leaf is a tensor not produced by a recorded op. */
  get isLeaf(): boolean {
    return this.node === null;
  }

  get isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  /** Marks a leaf as requiring gradients (float dtypes only). Returns this. */
  requireGrad(flag = true): this {
    if (this.node) throw new ArgumentError('requireGrad', 'only leaf tensors can be marked; use detach() to make a leaf');
    if (flag && !isFloatDType(this.dtype)) throw new DTypeError('requireGrad', `only float tensors can require gradients, got ${this.dtype}`);
    this.leafRequiresGrad = flag;
    return this;
  }

  /** Throws a DisposedError naming `op` if this tensor was disposed. */
  assertAlive(op: string, arg = 'x'): void {
    if (this.disposed) {
      throw new DisposedError(op, `argument '${arg}' (tensor #${this.id}${this.name ? ` '${this.name}'` : ''}, shape ${fmtShape(this.shape)}) was disposed`);
    }
  }

  /** The view description handed to backend kernels. */
  info(): TensorInfo {
    return { dataId: this.dataId, shape: this.shape, strides: this.strides, offset: this.offset, dtype: this.dtype };
  }

  /** The values in row-major order (a fresh contiguous array), read asynchronously. Works on every backend. */
  async data(): Promise<TypedArray> {
    this.assertAlive('data');
    if (this.isContiguous && this.offset === 0) {
      return copyOfArray(await this.backend.read(this.dataId), this.size);
    }
    const id = this.backend.copy(this.info(), this.dtype);
    try {
      return copyOfArray(await this.backend.read(id));
    } finally {
      this.backend.decRef(id);
    }
  }

  /** Synchronous read (a fresh contiguous array); throws on backends that only read asynchronously. */
  dataSync(): TypedArray {
    this.assertAlive('dataSync');
    if (!this.backend.canReadSync) {
      if (!this.backend.prefetch) throw new ArgumentError('dataSync', `backend '${this.backend.name}' reads asynchronously; use await t.data()`);
      // a buffer fetched by prefetch() is read from its host copy (the backend throws a clear error otherwise)
      const base = this.backend.readSync(this.dataId);
      if (this.isContiguous && this.offset === 0) return copyOfArray(base, this.size);
      const out = allocArray(this.dtype, this.size);
      gatherView(base, this.shape, this.strides, this.offset, out);
      return out;
    }
    if (this.isContiguous && this.offset === 0) return copyOfArray(this.backend.readSync(this.dataId), this.size);
    const id = this.backend.copy(this.info(), this.dtype);
    try {
      return copyOfArray(this.backend.readSync(id));
    } finally {
      this.backend.decRef(id);
    }
  }

  /**
   * Fetches the values of asynchronous backends (WebGPU) to the host, after which dataSync()/item() work on this
   * tensor; a no-op on the CPU. See also prefetch() for many tensors at once.
   */
  async prefetch(): Promise<this> {
    this.assertAlive('prefetch');
    await this.backend.prefetch?.(this.dataId);
    return this;
  }

  /** Nested arrays of numbers (synchronous read). */
  toArray(): NestedArray {
    return nest(this.dataSync(), this.shape);
  }

  async array(): Promise<NestedArray> {
    return nest(await this.data(), this.shape);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new ArgumentError('item', `tensor of shape ${fmtShape(this.shape)} has ${this.size} elements, expected exactly 1`);
    return this.dataSync()[0]!;
  }

  /** Releases this view's reference to its buffer and graph; idempotent. A leaf's .grad is disposed with it. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.backend.decRef(this.dataId);
    if (this.owned) {
      untrackTensor(this);
      this.node?.decRef();
    }
    this.grad?.dispose();
    this.grad = null;
  }

  /** Replaces this tensor's value with `value` (same shape and dtype), e.g. an optimizer update. Graphs that saved the old value keep it. */
  assign(value: Tensor): this {
    this.assertAlive('assign', 'this');
    value.assertAlive('assign', 'value');
    if (value.dtype !== this.dtype) throw new DTypeError('assign', `value has dtype ${value.dtype}, tensor has ${this.dtype}`);
    if (sizeOf(value.shape) !== this.size || value.shape.length !== this.shape.length || value.shape.some((d, i) => d !== this.shape[i])) {
      throw new ArgumentError('assign', `value has shape ${fmtShape(value.shape)}, tensor has ${fmtShape(this.shape)}`);
    }
    if (!this.isContiguous || this.offset !== 0) throw new ArgumentError('assign', 'only contiguous tensors (not views) can be assigned');
    const id = this.backend.copy(value.info(), this.dtype);
    this.backend.decRef(this.dataId);
    this.dataId = id;
    return this;
  }

  toString(): string {
    const grad = this.node ? `, grad_fn=${this.node.op}` : this.requiresGrad ? ', requiresGrad' : '';
    if (this.disposed) return `Tensor(<disposed>, shape=${fmtShape(this.shape)}, dtype=${this.dtype})`;
    const preview = this.backend.canReadSync && this.size <= 64 ? JSON.stringify(this.toArray()) : '…';
    return `Tensor(${preview}, shape=${fmtShape(this.shape)}, dtype=${this.dtype}${grad})`;
  }
}

/** Copies the view (shape, strides, offset) of the host array `base` into `out`, row-major. */
function gatherView(base: TypedArray, shape: Shape, strides: readonly number[], offset: number, out: TypedArray): void {
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  let at = offset;
  for (let i = 0; i < out.length; i++) {
    out[i] = base[at]!;
    for (let d = rank - 1; d >= 0; d--) { // odometer step: the last axis moves fastest
      index[d]!++;
      at += strides[d]!;
      if (index[d]! < shape[d]!) break;
      at -= strides[d]! * shape[d]!;
      index[d] = 0;
    }
  }
}

function nest(values: TypedArray, shape: Shape): NestedArray {
  if (shape.length === 0) return values[0]!;
  const build = (dim: number, offset: number): NestedArray[] => {
    const n = shape[dim]!;
    const stride = sizeOf(shape.slice(dim + 1));
    const out: NestedArray[] = [];
    for (let i = 0; i < n; i++) out.push(dim === shape.length - 1 ? values[offset + i]! : build(dim + 1, offset + i * stride));
    return out;
  };
  return build(0, 0);
}

/** A new tensor owning a fresh buffer. */
export function fromDataId(backend: Backend, dataId: DataId, shape: Shape, dtype: DType): Tensor {
  return new Tensor({ backend, dataId, shape, dtype });
}

/** A new view sharing x's buffer (the buffer's refcount goes up). */
export function makeView(x: Tensor, shape: Shape, strides: readonly number[], offset: number): Tensor {
  x.backend.incRef(x.dataId);
  return new Tensor({ backend: x.backend, dataId: x.dataId, shape, strides, offset, dtype: x.dtype });
}

/** A graph-internal alias of x (same buffer, same node) whose lifetime a GradNode controls. */
export function makeSavedAlias(x: Tensor, node: GradNode | null): Tensor {
  x.backend.incRef(x.dataId);
  const gradTarget = node === null && x.requiresGrad ? (x.gradTarget ?? x) : null;
  return new Tensor({
    backend: x.backend, dataId: x.dataId, shape: x.shape, strides: x.strides, offset: x.offset, dtype: x.dtype, node, owned: false, gradTarget,
  });
}
