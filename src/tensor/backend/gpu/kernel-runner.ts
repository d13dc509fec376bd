// Runs the gpu.js kernels of kernel-sources.ts in one gpu.js mode and owns their device buffers: 'webgpu' keeps every
// result on the GPU (immutable pipeline buffers, dispatched synchronously once the kernels are built, read back
// asynchronously), the CPU modes ('cpu', 'webasm') hand back Float32Arrays. Counters say what crossed the bus.

import { nodeRequire } from '../../node-builtins.js';
import { kernelFunctionSource, KERNELS, type KernelName, type KernelSource } from './kernel-sources.js';

/** gpu.js modes the backend runs in: on the GPU through WebGPU or WebGL2, or on the CPU for testing kernels. */
export type GpuMode = 'webgpu' | 'webgl2' | 'cpu' | 'webasm';

/** A buffer of float32 values owned by a runner (a GPU buffer or a Float32Array). */
export interface DeviceArray {
  readonly length: number;
}

export interface RunnerCounters {
  /** Kernel dispatches. */
  dispatches: number;
  /** Host → device transfers (writes of tensor data). */
  uploads: number;
  /** Device → host transfers (reads). */
  readbacks: number;
  /** Device buffers alive now and the most there were. */
  liveBuffers: number;
  liveBytes: number;
  peakBuffers: number;
}

export interface KernelRunner {
  readonly mode: GpuMode;
  /** Whether results can be read synchronously (CPU modes). */
  readonly canReadSync: boolean;
  readonly counters: RunnerCounters;
  upload(values: Float32Array): DeviceArray;
  /** Adds a kernel generated at run time (fused elementwise programs); idempotent per name. Optional until every runner has it. */
  define?(name: string, source: KernelSource): void;
  /** Runs `name` (a built-in or a defined kernel) for `length` threads; arrays first, then the scalars, in the kernel's order. */
  run(name: KernelName | string, length: number, arrays: readonly DeviceArray[], scalars: readonly number[]): DeviceArray;
  read(a: DeviceArray): Promise<Float32Array>;
  readSync(a: DeviceArray): Float32Array;
  release(a: DeviceArray): void;
  /** Human-readable adapter / mode description. */
  describe(): string;
}

// gpu.js is CommonJS; its types describe the public API only, so the parts used here are typed locally.
interface GpuJsKernelShortcut {
  (...args: unknown[]): unknown;
  kernel: GpuJsKernel;
  setOutput(output: number[]): void;
}
interface GpuJsKernel {
  run(...args: unknown[]): unknown;
  setOutput(output: number[]): void;
  outputBuffer: GpuBufferLike | null;
  built: boolean;
}
interface GpuJs {
  createKernel(source: string, settings: Record<string, unknown>): GpuJsKernelShortcut;
  destroy(): void;
}
interface GpuBufferLike {
  size: number;
  _refs?: number;
  destroy(): void;
  mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
  getMappedRange(offset?: number, size?: number): ArrayBuffer;
  unmap(): void;
}
interface GpuDeviceLike {
  createBuffer(d: { size: number; usage: number; mappedAtCreation?: boolean }): GpuBufferLike;
  createCommandEncoder(): { copyBufferToBuffer(a: GpuBufferLike, ao: number, b: GpuBufferLike, bo: number, n: number): void; finish(): unknown };
  queue: { writeBuffer(b: GpuBufferLike, offset: number, data: ArrayBufferView): void; submit(c: unknown[]): void };
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
}
interface GpuContextLike {
  adapter: { info?: { vendor?: string; architecture?: string; description?: string } };
  device: GpuDeviceLike;
  isLost: boolean;
}

type GpuJsModule = { GPU: new (s: Record<string, unknown>) => GpuJs };
let gpuJsModule: GpuJsModule | null = null;

/**
 * Hands the gpu backend the gpu.js module to use. Node needs no call (gpu.js is required on first use); a browser
 * bundle passes gpu.js's browser build: `provideGpuJs(await import('gpu.js'))`.
 */
export function provideGpuJs(module: unknown): void {
  const m = module as Partial<GpuJsModule> & { default?: Partial<GpuJsModule> };
  const resolved = m.GPU ? m : m.default;
  if (!resolved?.GPU) throw new Error('gpu backend: provideGpuJs needs the gpu.js module (an object with a GPU class)');
  gpuJsModule = resolved as GpuJsModule;
}

/** gpu.js: the provided module, else required on first use (Node). */
function loadGpuJs(): GpuJsModule {
  if (!gpuJsModule) gpuJsModule = nodeRequire('gpu.js', 'gpu backend') as GpuJsModule;
  return gpuJsModule;
}

const KERNEL_SETTINGS = {
  output: [1], dynamicOutput: true, dynamicArguments: true, pipeline: true, immutable: true, precision: 'single',
  // loops run to the data's length (matmul's k, reductions): WGSL/GLSL loops are capped at this count
  loopMaxIterations: 1 << 24, tactic: 'precision',
};

const STORAGE = 0x0080, COPY_SRC = 0x0004, COPY_DST = 0x0008, MAP_READ = 0x0001;

function newCounters(): RunnerCounters {
  return { dispatches: 0, uploads: 0, readbacks: 0, liveBuffers: 0, liveBytes: 0, peakBuffers: 0 };
}

/** gpu.js in a synchronous CPU mode: kernels return Float32Arrays (for CI and for testing kernels without a GPU). */
export class HostModeRunner implements KernelRunner {
  readonly counters = newCounters();
  private readonly gpu: GpuJs;
  private readonly kernels = new Map<string, GpuJsKernelShortcut>();
  private readonly defined = new Map<string, KernelSource>();

  /** `canReadSync: false` makes it read like WebGPU (asynchronously only), to test asynchronous code paths on a CPU. */
  constructor(readonly mode: 'cpu' | 'webasm', readonly canReadSync = true) {
    const { GPU } = loadGpuJs();
    this.gpu = new GPU({ mode });
  }

  define(name: string, source: KernelSource): void {
    if (!this.defined.has(name)) this.defined.set(name, source);
  }

  private kernel(name: string): GpuJsKernelShortcut {
    let k = this.kernels.get(name);
    if (!k) {
      const source = this.defined.get(name) ?? KERNELS[name as KernelName];
      if (!source) throw new Error(`gpu backend: no kernel named '${name}' (runtime kernels need runner.define first)`);
      const argumentTypes: Record<string, string> = {};
      for (const a of source.arrays) argumentTypes[a] = 'Array';
      for (const s of source.scalars) argumentTypes[s] = 'Float';
      k = this.gpu.createKernel(kernelFunctionSource(name, source), { ...KERNEL_SETTINGS, argumentTypes });
      this.kernels.set(name, k);
    }
    return k;
  }

  private track(a: Float32Array): Float32Array {
    this.counters.liveBuffers++;
    this.counters.liveBytes += a.byteLength;
    this.counters.peakBuffers = Math.max(this.counters.peakBuffers, this.counters.liveBuffers);
    return a;
  }

  upload(values: Float32Array): DeviceArray {
    this.counters.uploads++;
    return this.track(values);
  }

  run(name: KernelName | string, length: number, arrays: readonly DeviceArray[], scalars: readonly number[]): DeviceArray {
    if (length === 0) return this.track(new Float32Array(0));
    const k = this.kernel(name);
    k.setOutput([length]);
    this.counters.dispatches++;
    // a kernel may hand back its own buffer on the next run: copy out
    const out = k(...arrays.map((a) => ((a as Float32Array).length === 0 ? PLACEHOLDER : a)), ...scalars) as Float32Array;
    return this.track(Float32Array.from(out));
  }

  read(a: DeviceArray): Promise<Float32Array> {
    this.counters.readbacks++;
    return Promise.resolve(a as Float32Array);
  }

  readSync(a: DeviceArray): Float32Array {
    if (!this.canReadSync) throw new Error(`gpu backend (${this.mode}, emulating asynchronous reads): results can only be read asynchronously: use await tensor.data()`);
    this.counters.readbacks++;
    return a as Float32Array;
  }

  release(a: DeviceArray): void {
    this.counters.liveBuffers--;
    this.counters.liveBytes -= (a as Float32Array).byteLength;
  }

  describe(): string {
    return `gpu.js ${this.mode} mode (kernels run in JavaScript${this.mode === 'webasm' ? '/WebAssembly' : ''} on the CPU)`;
  }
}

/** Stands in for an empty array argument (gpu.js rejects zero-length arrays). */
const PLACEHOLDER = new Float32Array(1);

/** A GPU-resident result, shaped as gpu.js's own pipeline handles so that kernels accept it as an argument. */
interface GpuHandle extends DeviceArray {
  readonly type: 'WebGPUBuffer';
  readonly buffer: GpuBufferLike;
  readonly output: number[];
  readonly componentCount: 1;
  readonly context: GpuContextLike;
  _deleted: boolean;
}

/**
 * gpu.js in WebGPU mode. gpu.js builds a kernel asynchronously on its first run; `create` builds them all up front, so
 * every later dispatch is synchronous (queue.submit) and results never leave the GPU until read.
 */
export class WebGpuRunner implements KernelRunner {
  readonly mode = 'webgpu' as const;
  readonly canReadSync = false;
  readonly counters = newCounters();
  private readonly kernels = new Map<KernelName, GpuJsKernel>();

  private constructor(private readonly gpu: GpuJs, private readonly context: GpuContextLike) {}

  /** Builds every kernel on gpu.js's shared WebGPU device (the one its kernels acquire). */
  static async create(): Promise<WebGpuRunner> {
    const { GPU } = loadGpuJs();
    const gpu = new GPU({ mode: 'webgpu' });
    // the fill kernel takes no array: building it first yields the device every kernel shares
    const fill = gpu.createKernel(kernelFunctionSource('fill'), { ...KERNEL_SETTINGS, argumentTypes: { value: 'Float' } });
    const first = await (fill(0) as Promise<{ delete(): void }>);
    first.delete();
    const context = (fill.kernel as unknown as { context: GpuContextLike }).context;
    const runner = new WebGpuRunner(gpu, context);
    runner.kernels.set('fill', fill.kernel);
    await runner.buildAll();
    return runner;
  }

  private async buildAll(): Promise<void> {
    const dummy = this.upload(new Float32Array(4));
    const names = (Object.keys(KERNELS) as KernelName[]).filter((name) => !this.kernels.has(name));
    const built = await Promise.allSettled(names.map(async (name) => {
      const argumentTypes: Record<string, string> = {};
      for (const a of KERNELS[name].arrays) argumentTypes[a] = 'WebGPUBuffer';
      for (const s of KERNELS[name].scalars) argumentTypes[s] = 'Float';
      const shortcut = this.gpu.createKernel(kernelFunctionSource(name), { ...KERNEL_SETTINGS, argumentTypes });
      const first = await (shortcut(...KERNELS[name].arrays.map(() => dummy), ...KERNELS[name].scalars.map(() => 1)) as Promise<{ delete(): void }>);
      first.delete();
      this.kernels.set(name, shortcut.kernel);
    }));
    const failed = built.flatMap((r, i) => (r.status === 'rejected' ? [`${names[i]}: ${String((r.reason as Error)?.message ?? r.reason).split('\n').slice(0, 3).join(' ')}`] : []));
    if (failed.length > 0) throw new Error(`gpu backend: ${failed.length} kernels did not build for WebGPU:\n${failed.join('\n')}`);
    this.release(dummy);
    this.counters.uploads = 0;
  }

  private wrap(buffer: GpuBufferLike, length: number): GpuHandle {
    this.counters.liveBuffers++;
    this.counters.liveBytes += length * 4;
    this.counters.peakBuffers = Math.max(this.counters.peakBuffers, this.counters.liveBuffers);
    return { type: 'WebGPUBuffer', buffer, output: [Math.max(length, 1)], componentCount: 1, context: this.context, _deleted: false, length };
  }

  upload(values: Float32Array): DeviceArray {
    this.counters.uploads++;
    const { device } = this.context;
    const buffer = device.createBuffer({ size: Math.max(4, Math.ceil(values.byteLength / 4) * 4), usage: STORAGE | COPY_SRC | COPY_DST });
    buffer._refs = 1;
    if (values.length > 0) device.queue.writeBuffer(buffer, 0, values);
    return this.wrap(buffer, values.length);
  }

  run(name: KernelName, length: number, arrays: readonly DeviceArray[], scalars: readonly number[]): DeviceArray {
    if (length === 0) return this.upload(new Float32Array(0));
    if (this.context.isLost) throw new Error('gpu backend: the WebGPU device was lost; restart the process (or call initGpuBackend again)');
    const k = this.kernels.get(name)!;
    k.setOutput([length]);
    this.counters.dispatches++;
    // The run submits synchronously; its promise only wraps the result in a handle that takes one reference on the
    // fresh output buffer (immutable mode). That reference becomes ours: the handle object itself is not needed.
    void k.run(...arrays, ...scalars);
    return this.wrap(k.outputBuffer!, length);
  }

  async read(a: DeviceArray): Promise<Float32Array> {
    const h = a as GpuHandle;
    this.counters.readbacks++;
    if (h.length === 0) return new Float32Array(0);
    const { device } = this.context;
    const bytes = h.length * 4;
    const staging = device.createBuffer({ size: bytes, usage: MAP_READ | COPY_DST });
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(h.buffer, 0, staging, 0, bytes);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(1, 0, bytes);
    const out = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
    staging.unmap();
    staging.destroy();
    return out;
  }

  readSync(): Float32Array {
    throw new Error('gpu backend (webgpu): results can only be read asynchronously: use await tensor.data() instead of dataSync()/item()');
  }

  release(a: DeviceArray): void {
    const h = a as GpuHandle;
    if (h._deleted) return;
    h._deleted = true;
    this.counters.liveBuffers--;
    this.counters.liveBytes -= h.length * 4;
    if (h.buffer._refs !== undefined && --h.buffer._refs > 0) return;
    h.buffer.destroy();
  }

  describe(): string {
    const info = this.context.adapter.info;
    return `gpu.js webgpu mode on ${[info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'an unnamed adapter'}`;
  }
}
