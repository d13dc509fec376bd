// Public surface of src/tensor: the Tensor type, creation, ops, memory management, dtypes, random, backends.

/** @module viar/tensor */

import './fluent.js';

export { Tensor, type NestedArray } from './tensor.js';
export * from './creation.js';
export {
  abs, add, argmax, argmin, avgPool2d, cast, clamp, clone, concat, contiguous, conv2d, type Conv2dOptions, cos,
  crossEntropy, type CrossEntropyOptions, cumsum, detach, div, dropout, embedding, eq, erf, exp, expand, flatten,
  flip, floor, gather, ge, gelu, geluTanh, groupNorm, gt, indexAdd, indexSelect, interpolate, type InterpolateMode,
  type InterpolateOptions, layerNorm, le, log, logSigmoid, logSoftmax, logSumExp, lt, matmul, max, maximum,
  maxPool2d, mean, min, minimum, mul, multinomial, ne, neg, norm, oneHot, pad, type Pair, permute, type PoolOptions,
  pow, reciprocal, relu, reshape, rsqrt, scatterAdd, sigmoid, sign, silu, sin, slice, type SliceSpec, softmax,
  softplus, split, sqrt, square, squeeze, stack, std, step, sub, sum, tanh, type TensorOrNumber, topk, type TopK,
  transpose, tril, triu, unfold, unsqueeze, variance, type VarianceOptions, where,
} from './ops/index.js';
export {
  dropoutMask, fusedActivation, type FusedActivation, fusedFunction, type FusedInstr, type FusedProgram,
  isFusionEnabled, select, setFusionEnabled, trace,
} from './fusion/index.js';
export { tidy, keep, dispose, memory, prefetch, type MemoryReport } from './memory.js';
export { captureGraph, type CapturedGraph } from './capture.js';
export { Rng } from './random.js';
export type { DType, TypedArray, FloatArray } from './dtype.js';
export type { Shape } from './shape.js';
export { broadcastShapes } from './shape.js';
export { ViarError, ShapeError, ArgumentError, DTypeError, DisposedError, GradError } from './errors.js';
export { getBackend, getBackendByName, isBackendRegistered, setBackend, registerBackend, withBackend } from './backend/registry.js';
export { initGpuBackend, isWebGpuAvailable, installNodeWebGpu, provideGpuJs, GpuBackend, type GpuInitOptions, type GpuInitResult, type GpuMode, type RunnerCounters } from './backend/gpu/index.js';
export type { Backend, BufferPoolStats, TensorInfo, DataId } from './backend/backend.js';
export { readsAreFree } from './backend/backend.js';
export {
  setCpuKernels, getCpuKernels, setNumThreads, getNumThreads, describeCpuKernels, type CpuKernels,
} from './backend/cpu/kernel-settings.js';
