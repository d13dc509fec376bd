// The gpu.js backend's public surface: start it, ask what it runs on, read its counters.

export { initGpuBackend, installNodeWebGpu, isWebGpuAvailable, type GpuInitOptions, type GpuInitResult } from './gpu-setup.js';
export { GpuBackend } from './gpu-backend.js';
export { provideGpuJs } from './kernel-runner.js';
export type { GpuMode, RunnerCounters } from './kernel-runner.js';
