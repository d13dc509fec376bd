// Which backend and kernels the demo's model worker runs on, chosen in this one place (today the CPU backend with its
// WebAssembly SIMD kernels on one thread; the gpu.js backend will be wired in here) and described for the page.

import { getBackend, setCpuKernels, describeCpuKernels, type CpuKernels } from '../../src/index.js';

/** The backend in use and how it is described on the page. */
export interface BackendChoice {
  /** The engine's backend name, e.g. 'cpu'. */
  backend: string;
  /** Its kernels, e.g. 'wasm-simd128+fma, 1 thread' or 'typescript reference'. */
  mode: string;
  /** The execution context, e.g. 'Web Worker, not cross-origin isolated'. */
  where: string;
}

/** What the page may ask for (from its URL, e.g. ?kernels=reference to compare with the plain TypeScript kernels). */
export interface BackendRequest {
  kernels?: CpuKernels;
}

/**
 * Selects the backend for the worker's tensors and describes it. The CPU backend's fast kernels are WebAssembly SIMD
 * on one thread in a browser (its worker-thread pool is Node's; without cross-origin isolation the heap is not even
 * shared memory); where WebAssembly SIMD is missing they fall back to the TypeScript reference kernels by themselves.
 */
export function chooseBackend(request: BackendRequest = {}): BackendChoice {
  setCpuKernels(request.kernels ?? 'fast');
  const scope = globalThis as { crossOriginIsolated?: boolean; WorkerGlobalScope?: unknown };
  const where = `${scope.WorkerGlobalScope !== undefined ? 'Web Worker' : 'main thread'}, ${scope.crossOriginIsolated ? '' : 'not '}cross-origin isolated`;
  return { backend: getBackend().name, mode: describeCpuKernels(), where };
}
