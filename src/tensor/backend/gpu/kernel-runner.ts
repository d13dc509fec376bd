// The contract between the gpu backend and what runs its gpu.js kernels: record a dispatch, upload, read, release,
// define a kernel at run time, capture and replay a plan. Here also the host runner (gpu.js 'cpu'/'webasm' modes, for
// CI), which pools and batches exactly as the WebGPU runner (webgpu-runner.ts) so that CI tests the same bookkeeping.

import { nodeRequire } from '../../node-builtins.js';
import { BufferPool, Pins, Recording, type PoolStats } from './buffer-pool.js';
import { ArenaAllocator, levelFor, type Slot } from './arena-allocator.js';
import { kernelFunctionSource, KERNELS, type KernelName, type KernelSource } from './kernel-sources.js';

/** gpu.js modes the backend runs in: on the GPU through WebGPU, or on the CPU for testing kernels. */
export type GpuMode = 'webgpu' | 'webgl2' | 'cpu' | 'webasm';

/** A buffer of float32 values owned by a runner: `length` values at the start of a (pooled, maybe larger) buffer. */
export interface DeviceArray {
  readonly length: number;
}

export interface RunnerCounters {
  /** Kernel dispatches recorded. */
  dispatches: number;
  /** Queue submissions (command buffers handed to the GPU; in host modes, what would have been submitted). */
  submissions: number;
  /** Host → device transfers (writes of tensor data). */
  uploads: number;
  /** Device → host transfers (reads). */
  readbacks: number;
  /** Device buffers held by tensors now, their bytes, and the most there were. */
  liveBuffers: number;
  liveBytes: number;
  peakBuffers: number;
  /** Dispatches replayed from captured plans (not counted in `dispatches`). */
  replayedDispatches: number;
  /** Milliseconds the host spent recording commands (dispatch encoding, parameter writes, bind groups). */
  recordMs: number;
}

/** A recorded sequence of dispatches over fixed buffers, replayed without re-running the ops that recorded it. */
export interface CapturedPlan {
  /** Dispatches in the plan. */
  readonly steps: number;
  /** Frees the plan's pinned buffers (those no tensor holds go back to the pool). */
  dispose(): void;
}

export interface KernelRunner {
  readonly mode: GpuMode;
  /** Whether results can be read synchronously (CPU modes without asyncReads). */
  readonly canReadSync: boolean;
  readonly counters: RunnerCounters;
  /** Adds a kernel generated at run time (fused elementwise programs); synchronous, idempotent per name. */
  define(name: string, source: KernelSource): void;
  upload(values: Float32Array): DeviceArray;
  /** Records `name` (built-in or defined) for `length` threads; arrays first, then the scalars, in the kernel's order. */
  run(name: KernelName | string, length: number, arrays: readonly DeviceArray[], scalars: readonly number[]): DeviceArray;
  /** Copies `from` into `to` (both `length` values), in order with the recorded dispatches. */
  copyInto(from: DeviceArray, to: DeviceArray): void;
  read(a: DeviceArray): Promise<Float32Array>;
  readSync(a: DeviceArray): Float32Array;
  release(a: DeviceArray): void;
  /** Submits what was recorded (reads and the batch bound do this themselves). */
  flush(): void;
  /** Starts recording a plan: every dispatch until `endCapture` is kept; buffers it touches are pinned. */
  beginCapture(): void;
  endCapture(): CapturedPlan;
  /** Records the plan's dispatches again, over the same buffers. */
  replay(plan: CapturedPlan): void;
  /** Buffer-pool bookkeeping (for tests and leak checks). */
  poolStats(): PoolStats;
  /** Human-readable adapter / mode description. */
  describe(): string;
}

/** Dispatches recorded before the runner submits on its own (bounds the uniform arena and keeps the GPU fed). */
export const MAX_BATCH = 512;

/** A pooled array as both runners hold them: `length` values at the start of `buffer`, released at most once. */
export interface PooledArray<B> extends DeviceArray {
  readonly buffer: B;
  released: boolean;
}

/** Counts a new array as live (the counters every runner keeps). */
export function trackLive<A extends DeviceArray>(counters: RunnerCounters, a: A): A {
  counters.liveBuffers++;
  counters.liveBytes += a.length * 4;
  counters.peakBuffers = Math.max(counters.peakBuffers, counters.liveBuffers);
  return a;
}

/** Releases an array once: counted as no longer live, its buffer back to the pool. */
export function releaseArray<B>(counters: RunnerCounters, pool: BufferPool<B>, a: PooledArray<B>): void {
  if (a.released) return;
  a.released = true;
  counters.liveBuffers--;
  counters.liveBytes -= a.length * 4;
  pool.release(a.buffer);
}

export function newCounters(): RunnerCounters {
  return { dispatches: 0, submissions: 0, uploads: 0, readbacks: 0, liveBuffers: 0, liveBytes: 0, peakBuffers: 0, replayedDispatches: 0, recordMs: 0 };
}

// gpu.js is CommonJS; its types describe the public API only, so the parts used here are typed locally.
export interface GpuJsKernelShortcut {
  (...args: unknown[]): unknown;
  setOutput(output: number[]): void;
}
export interface GpuJs {
  createKernel(source: string, settings: Record<string, unknown>): GpuJsKernelShortcut;
}
export interface GpuJsModule {
  GPU: new (s: Record<string, unknown>) => GpuJs;
  WebGPUKernel: new (source: string, settings: Record<string, unknown>) => unknown;
  WebGPUContext: { acquire(): Promise<unknown> };
}
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
export function loadGpuJs(): GpuJsModule {
  if (!gpuJsModule) gpuJsModule = nodeRequire('gpu.js', 'gpu backend') as GpuJsModule;
  return gpuJsModule;
}

/** gpu.js settings shared by every kernel. */
export const KERNEL_SETTINGS = {
  output: [1], dynamicOutput: true, dynamicArguments: true, pipeline: true, immutable: true, precision: 'single',
  // loops run to the data's length (matmul's k, reductions): WGSL/GLSL loops are capped at this count
  loopMaxIterations: 1 << 24, tactic: 'precision',
};

/** The kernel sources a runner knows: the built-ins plus those defined at run time. */
export class KernelTable {
  private readonly defined = new Map<string, KernelSource>();

  define(name: string, source: KernelSource): boolean {
    if (this.defined.has(name) || name in KERNELS) return false;
    this.defined.set(name, source);
    return true;
  }

  source(name: string): KernelSource {
    const source = this.defined.get(name) ?? KERNELS[name as KernelName];
    if (!source) throw new Error(`gpu backend: no kernel named '${name}' (kernels generated at run time need runner.define first)`);
    return source;
  }
}

/** Commands recorded since the last submission; a submission happens at a read, at `flush`, or every MAX_BATCH commands. */
export class Batch {
  recorded = 0;
  constructor(private readonly counters: RunnerCounters, private readonly submit: () => void) {}

  /** Counts one recorded command; submits when the batch is full. */
  add(): void {
    if (++this.recorded >= MAX_BATCH) this.flush();
  }

  flush(): void {
    if (this.recorded === 0) return;
    this.submit();
    this.counters.submissions++;
    this.recorded = 0;
  }
}

/** One recorded command of a captured plan (a dispatch or a copy), with the buffers it reads. */
interface HostStep {
  execute(): void;
  reads: HostSlot[];
}

type HostSlot = Slot<Float32Array>;

/** A slot's values: `length` floats at its offset in its slab. */
function slotValues(slot: HostSlot, length: number): Float32Array {
  return slot.arena.buffer.subarray(slot.offset / 4, slot.offset / 4 + length);
}

class HostArray implements PooledArray<HostSlot> {
  released = false;
  constructor(readonly buffer: HostSlot, readonly length: number) {}
  get values(): Float32Array {
    return slotValues(this.buffer, this.length);
  }
}

class HostPlan implements CapturedPlan {
  constructor(readonly recorded: HostStep[], private readonly pins: Pins<HostSlot>, private readonly pool: BufferPool<HostSlot>) {}
  get steps(): number {
    return this.recorded.length;
  }
  dispose(): void {
    this.pool.unpin(this.pins);
    this.recorded.length = 0;
  }
}

/**
 * gpu.js in a CPU mode: kernels run in JavaScript when recorded. Buffers are pooled as on the GPU and reused at once,
 * so a use-after-release shows up here as wrong values in CI; submissions are counted where the GPU would make them.
 */
export class HostModeRunner implements KernelRunner {
  readonly counters = newCounters();
  private readonly gpu: GpuJs;
  private readonly table = new KernelTable();
  private readonly kernels = new Map<string, GpuJsKernelShortcut>();
  // as on the GPU (smaller): slots of arenas, an output never in its inputs' arenas
  private readonly arenas = new ArenaAllocator<Float32Array>((bytes) => new Float32Array(bytes / 4), () => {}, { capacity: 4 * 2 ** 20, window: 2 ** 20 });
  private readonly pool = new BufferPool<HostSlot>((bytes, level) => this.arenas.carve(bytes, level), (slot) => this.arenas.free(slot));
  private readonly batch: Batch;
  private capture: Recording<HostStep, HostSlot> | null = null;

  /** `canReadSync: false` makes it read like WebGPU (asynchronously only), to test asynchronous code paths on a CPU. */
  constructor(readonly mode: 'cpu' | 'webasm', readonly canReadSync = true) {
    const { GPU } = loadGpuJs();
    this.gpu = new GPU({ mode });
    this.batch = new Batch(this.counters, () => this.pool.afterSubmission());
  }

  define(name: string, source: KernelSource): void {
    this.table.define(name, source);
  }

  private kernel(name: string): GpuJsKernelShortcut {
    let k = this.kernels.get(name);
    if (!k) {
      const source = this.table.source(name);
      const argumentTypes: Record<string, string> = {};
      for (const a of source.arrays) argumentTypes[a] = 'Array';
      for (const s of source.scalars) argumentTypes[s] = 'Float';
      k = this.gpu.createKernel(kernelFunctionSource(name, source), { ...KERNEL_SETTINGS, argumentTypes });
      this.kernels.set(name, k);
    }
    return k;
  }

  private allocate(length: number, inputs: readonly HostArray[] = []): HostArray {
    const out = new HostArray(levelFor(this.pool, Math.max(4, length * 4), this.arenas.sizes.window, inputs), length);
    if (inputs.some((a) => a.buffer.arena === out.buffer.arena)) throw new Error('gpu backend: an output was placed in the arena of one of its inputs');
    return trackLive(this.counters, out);
  }

  private array(a: DeviceArray, what: string): HostArray {
    const h = a as HostArray;
    if (h.released) throw new Error(`gpu backend: ${what} reads a released buffer`);
    return h;
  }

  upload(values: Float32Array): DeviceArray {
    this.counters.uploads++;
    const out = this.allocate(values.length);
    out.values.set(values);
    if (this.capture) {
      // kept like a kernel: a replay writes the value again (the recording may have used this buffer before)
      const target = out.buffer, constant = Float32Array.from(values);
      this.capture.commands.push({ reads: [], execute: () => slotValues(target, constant.length).set(constant) });
    }
    return out;
  }

  run(name: KernelName | string, length: number, arrays: readonly DeviceArray[], scalars: readonly number[]): DeviceArray {
    const arrayInputs = arrays.map((a) => this.array(a, name));
    const out = this.allocate(length, arrayInputs);
    if (length === 0) return out;
    const kernel = this.kernel(name);
    const lanes = this.table.source(name).lanes ?? 1;
    const inputs = arrayInputs.map((a) => a.buffer), lengths = arrayInputs.map((a) => a.length);
    const values = [...scalars], target = out.buffer;
    this.record({
      reads: inputs,
      execute: () => {
        kernel.setOutput([Math.ceil(length / lanes)]);
        // gpu.js rejects zero-length arrays: a placeholder stands in for an empty argument
        const args = inputs.map((slot, i) => (lengths[i] === 0 ? PLACEHOLDER : slotValues(slot, lengths[i]!)));
        const result = kernel(...args, ...values) as Float32Array | Float32Array[];
        const into = slotValues(target, length);
        if (lanes === 1) into.set((result as Float32Array).subarray(0, length));
        else (result as Float32Array[]).forEach((v, t) => into.set(v.subarray(0, Math.min(lanes, length - t * lanes)), t * lanes));
      },
    });
    this.counters.dispatches++;
    return out;
  }

  /** Runs a command now (host modes compute eagerly), keeps it when capturing, counts it in the batch. */
  private record(step: HostStep): void {
    step.execute();
    this.capture?.commands.push(step);
    this.batch.add();
  }

  copyInto(from: DeviceArray, to: DeviceArray): void {
    const f = this.array(from, 'copyInto'), t = this.array(to, 'copyInto');
    const source = f.buffer, target = t.buffer, length = f.length;
    this.record({ reads: [source], execute: () => slotValues(target, length).set(slotValues(source, length)) });
  }

  private readValues(a: DeviceArray): Float32Array {
    if (this.capture) throw this.capture.refuseRead();
    this.counters.readbacks++;
    this.batch.flush();
    return Float32Array.from(this.array(a, 'read').values);
  }

  read(a: DeviceArray): Promise<Float32Array> {
    try {
      return Promise.resolve(this.readValues(a));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  readSync(a: DeviceArray): Float32Array {
    if (!this.canReadSync) throw new Error(`gpu backend (${this.mode}, emulating asynchronous reads): results can only be read asynchronously: use await tensor.data()`);
    return this.readValues(a);
  }

  release(a: DeviceArray): void {
    releaseArray(this.counters, this.pool, a as HostArray);
  }

  flush(): void {
    this.batch.flush();
  }

  beginCapture(): void {
    this.batch.flush();
    this.capture = Recording.begin(this.capture, this.pool);
  }

  endCapture(): CapturedPlan {
    const recording = Recording.end(this.capture, this.pool, (step) => step.reads);
    this.capture = null;
    return new HostPlan(recording.commands, recording.pins, this.pool);
  }

  replay(plan: CapturedPlan): void {
    for (const step of (plan as HostPlan).recorded) {
      step.execute();
      this.counters.replayedDispatches++;
      this.batch.add();
    }
  }

  poolStats(): PoolStats {
    return { ...this.pool.stats(this.counters.liveBuffers), arenas: this.arenas.arenas, arenaBytes: this.arenas.bytes };
  }

  describe(): string {
    return `gpu.js ${this.mode} mode (kernels run in JavaScript${this.mode === 'webasm' ? '/WebAssembly' : ''} on the CPU)`;
  }
}

/** Stands in for an empty array argument (gpu.js rejects zero-length arrays). */
const PLACEHOLDER = new Float32Array(1);
