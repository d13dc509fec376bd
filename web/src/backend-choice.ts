// Which backend and kernels the demo's model worker runs on, chosen in this one place: the gpu.js backend on WebGPU
// when the browser has a hardware adapter (or when ?backend=gpu asks for any adapter), else the CPU backend with its
// WebAssembly SIMD kernels on one thread; described for the page.

import {
  getBackend, initGpuBackend, provideGpuJs, setBackend, setCpuKernels, describeCpuKernels, type CpuKernels,
} from '../../src/index.js';

/** The backend in use and how it is described on the page. */
export interface BackendChoice {
  /** The engine's backend name, 'cpu' or 'gpu'. */
  backend: string;
  /** Its kernels, e.g. 'wasm-simd128+fma, 1 thread' or 'gpu.js webgpu mode on …'. */
  mode: string;
  /** The execution context, e.g. 'Web Worker, not cross-origin isolated' (and why the GPU was not used). */
  where: string;
}

/** What the page may ask for (from its URL: ?kernels=reference, ?backend=gpu|cpu). */
export interface BackendRequest {
  kernels?: CpuKernels;
  backend?: 'auto' | 'gpu' | 'cpu';
}

interface AdapterLike { info?: { vendor?: string; architecture?: string }; isFallbackAdapter?: boolean }

/** A software rasterizer's adapter (SwiftShader, or one flagged as the fallback adapter): slower than the CPU kernels. */
function isSoftwareAdapter(adapter: AdapterLike): boolean {
  return adapter.isFallbackAdapter === true || /swiftshader/i.test(`${adapter.info?.vendor ?? ''} ${adapter.info?.architecture ?? ''}`);
}

/**
 * Selects the backend for the worker's tensors and describes it. gpu.js's browser build is loaded only when the GPU
 * is tried. The CPU backend's fast kernels are WebAssembly SIMD on one thread in a browser (its worker-thread pool is
 * Node's); where WebAssembly SIMD is missing they fall back to the TypeScript reference kernels by themselves.
 */
export async function chooseBackend(request: BackendRequest = {}): Promise<BackendChoice> {
  setCpuKernels(request.kernels ?? 'fast');
  const scope = globalThis as { crossOriginIsolated?: boolean; WorkerGlobalScope?: unknown; navigator?: { gpu?: { requestAdapter(): Promise<AdapterLike | null> } } };
  let where = `${scope.WorkerGlobalScope !== undefined ? 'Web Worker' : 'main thread'}, ${scope.crossOriginIsolated ? '' : 'not '}cross-origin isolated`;
  const wanted = request.backend ?? 'auto';
  if (wanted !== 'cpu') {
    const adapter = await scope.navigator?.gpu?.requestAdapter().catch(() => null) ?? null;
    if (!adapter) {
      where += '; no WebGPU adapter';
    } else if (wanted === 'auto' && isSoftwareAdapter(adapter)) {
      where += '; WebGPU is a software adapter here (?backend=gpu uses it anyway)';
    } else {
      try {
        provideGpuJs(await import('gpu.js'));
        const r = await initGpuBackend({ mode: 'webgpu', log: false });
        return { backend: 'gpu', mode: r.description, where };
      } catch (err) {
        setBackend('cpu');
        where += `; the GPU failed (${(err as Error).message})`;
      }
    }
  }
  setBackend('cpu');
  return { backend: getBackend().name, mode: describeCpuKernels(), where };
}
