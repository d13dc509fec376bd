// Method-style ops (t.add(u).sum()), attached to Tensor.prototype here so that tensor.ts stays free of op imports.

import { Tensor } from './tensor.js';
import * as ops from './ops/index.js';
import type { TensorOrNumber, SliceSpec, TopK, VarianceOptions } from './ops/index.js';
import type { DType } from './dtype.js';
import type { Rng } from './random.js';
import { backward, type BackwardOptions } from '../autograd/backward.js';

declare module './tensor.js' {
  interface Tensor {
    add(b: TensorOrNumber): Tensor;
    sub(b: TensorOrNumber): Tensor;
    mul(b: TensorOrNumber): Tensor;
    div(b: TensorOrNumber): Tensor;
    pow(b: TensorOrNumber): Tensor;
    maximum(b: TensorOrNumber): Tensor;
    minimum(b: TensorOrNumber): Tensor;
    eq(b: TensorOrNumber): Tensor;
    ne(b: TensorOrNumber): Tensor;
    lt(b: TensorOrNumber): Tensor;
    le(b: TensorOrNumber): Tensor;
    gt(b: TensorOrNumber): Tensor;
    ge(b: TensorOrNumber): Tensor;
    neg(): Tensor;
    abs(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    rsqrt(): Tensor;
    sin(): Tensor;
    cos(): Tensor;
    tanh(): Tensor;
    sigmoid(): Tensor;
    relu(): Tensor;
    gelu(): Tensor;
    geluTanh(): Tensor;
    silu(): Tensor;
    softplus(): Tensor;
    sign(): Tensor;
    floor(): Tensor;
    square(): Tensor;
    clamp(lo?: number, hi?: number): Tensor;
    cast(dtype: DType): Tensor;
    sum(axes?: number | readonly number[], keepdims?: boolean): Tensor;
    mean(axes?: number | readonly number[], keepdims?: boolean): Tensor;
    max(axes?: number | readonly number[], keepdims?: boolean): Tensor;
    min(axes?: number | readonly number[], keepdims?: boolean): Tensor;
    argmax(axis?: number, keepdims?: boolean): Tensor;
    argmin(axis?: number, keepdims?: boolean): Tensor;
    variance(axes?: number | readonly number[], opts?: VarianceOptions): Tensor;
    std(axes?: number | readonly number[], opts?: VarianceOptions): Tensor;
    logSumExp(axes?: number | readonly number[], keepdims?: boolean): Tensor;
    softmax(axis?: number): Tensor;
    logSoftmax(axis?: number): Tensor;
    norm(p?: number, axes?: number | readonly number[], keepdims?: boolean): Tensor;
    reshape(shape: readonly number[]): Tensor;
    flatten(start?: number, end?: number): Tensor;
    permute(dims: readonly number[]): Tensor;
    transpose(dim0?: number, dim1?: number): Tensor;
    expand(shape: readonly number[]): Tensor;
    squeeze(axes?: number | readonly number[]): Tensor;
    unsqueeze(axis: number): Tensor;
    slice(specs: readonly SliceSpec[]): Tensor;
    flip(axes: number | readonly number[]): Tensor;
    pad(widths: readonly (readonly [number, number])[], value?: number): Tensor;
    split(sizesOrSections: number | readonly number[], axis?: number): Tensor[];
    contiguous(): Tensor;
    clone(): Tensor;
    detach(): Tensor;
    matmul(b: Tensor): Tensor;
    gather(axis: number, index: Tensor): Tensor;
    indexSelect(axis: number, index: Tensor): Tensor;
    cumsum(axis: number, opts?: { reverse?: boolean }): Tensor;
    topk(k: number, opts?: { axis?: number; largest?: boolean }): TopK;
    multinomial(numSamples: number, draws: Rng | Tensor, opts?: { replacement?: boolean }): Tensor;
    tril(k?: number): Tensor;
    triu(k?: number): Tensor;
    /** Accumulates gradients of this (scalar) tensor into the .grad of every leaf that requires grad. */
    backward(gradient?: Tensor, opts?: BackwardOptions): void;
  }
}

const methods: Partial<Record<keyof Tensor, (this: Tensor, ...args: never[]) => unknown>> = {};
const unary = [
  'neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'gelu', 'geluTanh', 'silu',
  'softplus', 'sign', 'floor', 'square', 'contiguous', 'clone', 'detach',
] as const;
const withArgs = [
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'clamp', 'cast',
  'sum', 'mean', 'max', 'min', 'argmax', 'argmin', 'variance', 'std', 'logSumExp', 'softmax', 'logSoftmax', 'norm',
  'reshape', 'flatten', 'permute', 'transpose', 'expand', 'squeeze', 'unsqueeze', 'slice', 'flip', 'pad', 'split',
  'matmul', 'gather', 'indexSelect', 'cumsum', 'topk', 'multinomial', 'tril', 'triu',
] as const;
for (const name of [...unary, ...withArgs]) {
  const fn = (ops as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!;
  methods[name] = function (this: Tensor, ...args: unknown[]) {
    return fn(this, ...args);
  } as never;
}
Object.assign(Tensor.prototype, methods);
Tensor.prototype.backward = function (this: Tensor, gradient?: Tensor, opts?: BackwardOptions): void {
  backward(this, gradient, opts);
};


