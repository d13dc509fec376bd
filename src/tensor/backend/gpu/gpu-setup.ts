// Choosing and starting the gpu backend: WebGPU (in Node through the `webgpu` package's Dawn, in browsers natively)
// or a gpu.js CPU mode; `initGpuBackend({ mode: 'auto' })` takes the GPU when an adapter answers, else the CPU backend.

import { registerBackend, setBackend } from '../registry.js';
import { GpuBackend } from './gpu-backend.js';
import { HostModeRunner, type GpuMode, type KernelRunner } from './kernel-runner.js';
import { WebGpuRunner } from './webgpu-runner.js';

export interface GpuInitOptions {
  /** 'auto' (default): webgpu when an adapter answers, else the cpu backend. */
  mode?: GpuMode | 'auto';
  /** Make it the current backend (default true). */
  activate?: boolean;
  /** Print which backend and mode runs (default true). */
  log?: boolean;
  /** CPU modes only: read asynchronously like WebGPU (tests the code paths a GPU takes, on any machine). */
  asyncReads?: boolean;
}

export interface GpuInitResult {
  /** 'gpu' or, when mode 'auto' found no adapter, 'cpu'. */
  backend: 'gpu' | 'cpu';
  mode: GpuMode | null;
  description: string;
}

interface NavigatorWithGpu { gpu?: { requestAdapter(o?: unknown): Promise<unknown> } }

/**
 * Makes `navigator.gpu` exist in Node from the `webgpu` package (Dawn), with the shim its binding needs: the device
 * object rejects a plain function assigned to `onuncapturederror` (which gpu.js does), so the property is redefined
 * on each device as an accessor. Throws an error naming what is missing.
 */
export async function installNodeWebGpu(): Promise<void> {
  const g = globalThis as unknown as { navigator?: NavigatorWithGpu; process?: { versions?: { node?: string } } };
  if (g.navigator?.gpu) return;
  if (!g.process?.versions?.node) throw new Error('gpu backend: this environment has no navigator.gpu (no WebGPU)');
  let dawn: { create(flags: string[]): NavigatorWithGpu['gpu']; globals: Record<string, unknown> };
  const packageName = 'webgpu';
  try {
    dawn = await import(/* @vite-ignore */ packageName) as typeof dawn;
  } catch (e) {
    const why = (e as Error).message;
    throw new Error(`gpu backend: WebGPU for Node comes from the 'webgpu' package (Dawn), which did not load (install it with \`npm install webgpu\`): ${why}` +
      (/GLIBCXX|libstdc\+\+/.test(why) ? ' — this system\'s libstdc++ is older than Dawn needs' : '') +
      (/vulkan/i.test(why) ? ' — the Vulkan loader (libvulkan1) is missing' : ''));
  }
  Object.assign(globalThis, dawn.globals);
  // Dawn validates every recorded command again (about as costly as recording it); the runner's commands are checked
  // in CI against a validating fake device, so validation is skipped unless VIAR_GPU_VALIDATE=1 asks for it. Per-kernel
  // profiles (VIAR_GPU_PROFILE=1) need timestamps at full resolution, not Dawn's default quantization.
  const env = (g.process as { env?: Record<string, string | undefined> }).env ?? {};
  const enable = env.VIAR_GPU_VALIDATE === '1' ? [] : ['skip_validation'];
  const disable = env.VIAR_GPU_PROFILE === '1' ? ['timestamp_quantization'] : [];
  const gpu = dawn.create([...(enable.length ? [`enable-dawn-features=${enable.join(',')}`] : []), ...(disable.length ? [`disable-dawn-features=${disable.join(',')}`] : [])])!;
  const requestAdapter = gpu.requestAdapter.bind(gpu);
  gpu.requestAdapter = async (options?: unknown) => {
    const adapter = await requestAdapter(options) as { requestDevice(d?: unknown): Promise<object> } | null;
    if (!adapter) return adapter;
    const requestDevice = adapter.requestDevice.bind(adapter);
    adapter.requestDevice = async (descriptor?: unknown) => {
      const device = await requestDevice(descriptor);
      let handler: unknown = null;
      Object.defineProperty(device, 'onuncapturederror', { configurable: true, get: () => handler, set: (f: unknown) => { handler = f; } });
      return device;
    };
    return adapter;
  };
  attachNavigatorGpu(gpu);
}

/**
 * Makes `navigator.gpu` answer with `gpu`. Since Node 21 `globalThis.navigator` is a getter-only property (plain
 * assignment throws), so `gpu` is defined on the navigator object Node gives, or the property is redefined.
 */
export function attachNavigatorGpu(gpu: unknown): void {
  const g = globalThis as unknown as { navigator?: Record<string, unknown> };
  const nav = g.navigator;
  if (nav) {
    try {
      Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, writable: true });
    } catch { /* a frozen navigator: replaced below */ }
    if (g.navigator?.gpu === gpu) return;
  }
  const replacement: Record<string, unknown> = { gpu };
  if (nav) for (const key of Object.getOwnPropertyNames(Object.getPrototypeOf(nav) ?? {}).concat(Object.keys(nav))) {
    if (key !== 'constructor' && key !== 'gpu') { try { replacement[key] = nav[key]; } catch { /* an accessor that throws */ } }
  }
  Object.defineProperty(globalThis, 'navigator', { value: replacement, configurable: true, writable: true, enumerable: true });
}

/** Whether a WebGPU adapter answers here (installing Node's Dawn binding when needed). */
export async function isWebGpuAvailable(): Promise<boolean> {
  try {
    await installNodeWebGpu();
    const nav = (globalThis as unknown as { navigator?: NavigatorWithGpu }).navigator;
    return Boolean(await nav?.gpu?.requestAdapter());
  } catch {
    return false;
  }
}

/**
 * Starts the gpu backend in `mode` and registers it as 'gpu' (and makes it current unless `activate: false`).
 * Mode 'webgpu' builds every kernel up front (a second or two), so that ops then dispatch synchronously.
 * @example await initGpuBackend({ mode: 'auto' }) // → { backend: 'gpu', mode: 'webgpu', description: ... }
 */
export async function initGpuBackend(options: GpuInitOptions = {}): Promise<GpuInitResult> {
  const requested = options.mode ?? 'auto';
  let runner: KernelRunner;
  if (requested === 'auto' || requested === 'webgpu') {
    let why = 'no adapter answered (no GPU, or no driver for it)';
    let available = false;
    try {
      await installNodeWebGpu();
      const nav = (globalThis as unknown as { navigator?: NavigatorWithGpu }).navigator;
      available = Boolean(await nav?.gpu?.requestAdapter());
    } catch (e) {
      why = (e as Error).message.replace(/^gpu backend: /, '');
    }
    if (!available) {
      if (requested === 'webgpu') throw new Error(`gpu backend: WebGPU is not available: ${why}`);
      if (options.activate !== false) setBackend('cpu');
      const description = `no WebGPU here (${why}): using the cpu backend`;
      if (options.log !== false) console.log(`backend: cpu (${description})`);
      return { backend: 'cpu', mode: null, description };
    }
    runner = await WebGpuRunner.create();
  } else if (requested === 'cpu' || requested === 'webasm') {
    runner = new HostModeRunner(requested, !options.asyncReads);
  } else {
    throw new Error(`gpu backend: mode '${requested}' is not available here (modes: auto, webgpu, cpu, webasm)`);
  }
  const backend = new GpuBackend(runner);
  registerBackend('gpu', () => backend);
  if (options.activate !== false) setBackend('gpu');
  const description = backend.describe();
  if (options.log !== false) console.log(`backend: gpu (${description})`);
  return { backend: 'gpu', mode: runner.mode, description };
}
