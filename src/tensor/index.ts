// Public surface of src/tensor: the Tensor type, creation, ops, memory management, dtypes, random, backends.

import './fluent.js';

export { Tensor, type NestedArray } from './tensor.js';
export * from './creation.js';
export * from './ops/index.js';
export * from './fusion/index.js';
export { tidy, keep, dispose, memory, prefetch, type MemoryReport } from './memory.js';
export { captureGraph, type CapturedGraph } from './capture.js';
export { Rng } from './random.js';
export type { DType, TypedArray, FloatArray } from './dtype.js';
export type { Shape } from './shape.js';
export { broadcastShapes } from './shape.js';
export { ViarError, ShapeError, ArgumentError, DTypeError, DisposedError, GradError } from './errors.js';
export { getBackend, getBackendByName, setBackend, registerBackend, withBackend } from './backend/registry.js';
export { initGpuBackend, isWebGpuAvailable, installNodeWebGpu, provideGpuJs, GpuBackend, type GpuInitOptions, type GpuInitResult, type GpuMode, type RunnerCounters } from './backend/gpu/index.js';
export type { Backend, TensorInfo, DataId } from './backend/backend.js';
export {
  setCpuKernels, getCpuKernels, setNumThreads, getNumThreads, describeCpuKernels, type CpuKernels,
} from './backend/cpu/kernel-settings.js';
