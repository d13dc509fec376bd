// The WebGPU runner: gpu.js compiles each kernel to WGSL (wgsl-kernels.ts), this file owns the dispatch. Ops are
// recorded into one open compute pass, their parameters in one uniform arena, tensors as slots of a few arena buffers
// (arena-allocator.ts) bound at dynamic offsets, so bind groups are cached per (kernel, arenas) and rarely created.
// The queue is submitted at a read, at `flush`, or every MAX_BATCH commands; every write into a slot is a recorded
// command (uploads are copies from a staging buffer), so slots are reused the moment they are released.

import { BufferPool, Pins, Recording, sizeClass, type PoolStats } from './buffer-pool.js';
import { ArenaAllocator, levelFor, type Slot } from './arena-allocator.js';
import {
  Batch, KERNEL_SETTINGS, KernelTable, loadGpuJs, MAX_BATCH, newCounters, releaseArray, trackLive, type PooledArray,
  type CapturedPlan, type DeviceArray, type GpuJsModule, type KernelRunner,
} from './kernel-runner.js';
import { KERNELS, type KernelSource } from './kernel-sources.js';
import { compileWgsl, workgroups, writeParams, type WgslKernel } from './wgsl-kernels.js';
import { KernelProfiler, type KernelTime } from './kernel-profiler.js';
import { acquireDevice, USAGE, type GpuBuffer, type GpuCommandEncoder, type GpuComputePass, type GpuContext, type GpuDevice } from './webgpu-device.js';

const COMPUTE = 4;
/** Largest uniform block of any kernel, rounded to the offset alignment, times the batch bound. */
const SLOT_BYTES = 512;
/** Uploads up to this size go through the batch's staging buffer (recorded copies); larger ones get a fresh buffer. */
const STAGED_UPLOAD_BYTES = 8 * 2 ** 20;
const STAGING_BYTES = 32 * 2 ** 20;

interface Kernel extends WgslKernel {
  id: number;
  name: string;
  pipeline: unknown;
  layout: unknown;
  /** Whether its storage bindings take dynamic offsets (else each slot is bound at a fixed offset). */
  dynamic: boolean;
}

type GpuSlot = Slot<GpuBuffer>;

class GpuArray implements PooledArray<GpuSlot> {
  released = false;
  constructor(readonly buffer: GpuSlot, readonly length: number) {}
}

/** A dispatch kept by a capture: its pipeline, bind group over the plan's own uniform buffer, and workgroups. */
interface PlanStep {
  kernel: Kernel;
  buffers: GpuSlot[];
  params: Uint8Array;
  groups: { x: number; y: number };
  bindGroup?: unknown;
  offsets?: number[];
}
/** An upload made while recording: replays copy its bytes again from the plan's constants buffer, at `source`. */
interface PlanConstant {
  constant: GpuSlot;
  bytes: Uint8Array;
  source?: number;
}
type PlanCommand = PlanStep | PlanConstant | { copy: [from: GpuSlot, to: GpuSlot, bytes: number] };

class GpuPlan implements CapturedPlan {
  uniforms: GpuBuffer | null = null;
  constants: GpuBuffer | null = null;
  constructor(readonly commands: PlanCommand[], readonly pins: Pins<GpuSlot>, private readonly runner: WebGpuRunner) {}
  get steps(): number {
    return this.commands.length;
  }
  dispose(): void {
    this.runner.disposePlan(this);
  }
}

/** gpu.js's WebGPU device, its kernels compiled to pipelines, and the recording state of the current batch. */
export class WebGpuRunner implements KernelRunner {
  readonly mode = 'webgpu' as const;
  readonly canReadSync = false;
  readonly counters = newCounters();
  private readonly table = new KernelTable();
  private readonly kernels = new Map<string, Kernel>();
  private readonly pool: BufferPool<GpuSlot>;
  private readonly arenas: ArenaAllocator<GpuBuffer>;
  private readonly maxDynamic: number;
  private readonly profiler: KernelProfiler | null;
  private readonly batch: Batch;
  private readonly device: GpuDevice;
  private readonly align: number;
  private readonly arena: GpuBuffer;
  private readonly arenaBytes: ArrayBuffer;
  private readonly arenaView: DataView;
  private arenaUsed = 0;
  private readonly staging: GpuBuffer;
  private readonly stagingBytes = new Uint8Array(STAGING_BYTES);
  private stagingUsed = 0;
  private encoder: GpuCommandEncoder | null = null;
  private pass: GpuComputePass | null = null;
  /** The pipeline the open pass has set (a pass keeps it between dispatches). */
  private pipelineSet: unknown = null;
  private readonly bindGroups = new Map<string, unknown>();
  /** Buffers that live until the next submission (copies within a slab). */
  private readonly scratch: GpuBuffer[] = [];
  /** The buffer copies within one arena go through (see encodeCopy). */
  private copyScratch: GpuBuffer | null = null;
  private readonly bufferIds = new WeakMap<GpuBuffer, number>();
  private nextBufferId = 0;
  private flushScheduled = false;
  private submitted: Promise<void> = Promise.resolve();
  private resolveSubmitted: (() => void) | null = null;
  private deviceError: string | null = null;
  private capture: Recording<PlanCommand, GpuSlot> | null = null;
  /** Bind-group cache hits and misses (a steady loop hits). */
  readonly bindGroupStats = { hits: 0, misses: 0 };

  private constructor(private readonly gpuJs: GpuJsModule, private readonly context: GpuContext, profile: boolean) {
    this.device = context.device;
    this.align = Math.max(256, this.device.limits.minUniformBufferOffsetAlignment, this.device.limits.minStorageBufferOffsetAlignment);
    this.maxDynamic = this.device.limits.maxDynamicStorageBuffersPerPipelineLayout;
    const arenaSize = MAX_BATCH * SLOT_BYTES;
    this.arena = this.device.createBuffer({ size: arenaSize, usage: USAGE.UNIFORM | USAGE.COPY_DST });
    this.arenaBytes = new ArrayBuffer(arenaSize);
    this.arenaView = new DataView(this.arenaBytes);
    this.staging = this.device.createBuffer({ size: STAGING_BYTES, usage: USAGE.COPY_SRC | USAGE.COPY_DST });
    const limits = this.device.limits;
    const window = Math.min(64 * 2 ** 20, limits.maxStorageBufferBindingSize);
    this.arenas = new ArenaAllocator<GpuBuffer>(
      (bytes) => this.device.createBuffer({ size: bytes, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST }),
      (b) => b.destroy(),
      { window, capacity: 64 * 2 ** 20, maxCapacity: Math.min(2 ** 30, limits.maxBufferSize - window) },
    );
    this.pool = new BufferPool<GpuSlot>((bytes, level) => this.arenas.carve(bytes, level), (slot) => this.arenas.free(slot));
    this.batch = new Batch(this.counters, () => this.submit());
    this.profiler = profile && this.hasTimestamps() ? new KernelProfiler(this.device) : null;
  }

  private hasTimestamps(): boolean {
    return this.context.adapter.features.has('timestamp-query') && (this.device as unknown as { features: { has(n: string): boolean } }).features.has('timestamp-query');
  }

  /**
   * Acquires a WebGPU device and builds every built-in kernel's pipeline (in parallel). With `profile` (or the
   * environment variable VIAR_GPU_PROFILE=1), each dispatch is timed on the GPU: see `profile()`.
   */
  static async create(options: { profile?: boolean } = {}): Promise<WebGpuRunner> {
    const gpuJs = loadGpuJs();
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
    const profile = options.profile ?? env?.VIAR_GPU_PROFILE === '1';
    const context = await acquireDevice(profile);
    const runner = new WebGpuRunner(gpuJs, context, profile);
    const names = Object.keys(KERNELS);
    const built = await Promise.allSettled(names.map((name) => runner.build(name, true)));
    const failed = built.flatMap((r, i) => (r.status === 'rejected' ? [`${names[i]}: ${String((r.reason as Error)?.message ?? r.reason).split('\n').slice(0, 3).join(' ')}`] : []));
    if (failed.length > 0) throw new Error(`gpu backend: ${failed.length} kernels did not build for WebGPU:\n${failed.join('\n')}`);
    return runner;
  }

  private pipelineDescriptor(wgsl: WgslKernel, dynamic: boolean): { layout: unknown; descriptor: unknown } {
    const arrays = wgsl.arrayDimsOffsets.length;
    const entries = [{ binding: 0, visibility: COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: wgsl.paramBytes } }];
    for (let i = 0; i < arrays; i++) entries.push({ binding: 1 + i, visibility: COMPUTE, buffer: { type: 'read-only-storage', hasDynamicOffset: dynamic } } as typeof entries[0]);
    entries.push({ binding: 1 + arrays, visibility: COMPUTE, buffer: { type: 'storage', hasDynamicOffset: dynamic } } as typeof entries[0]);
    const layout = this.device.createBindGroupLayout({ entries });
    const module = this.device.createShaderModule({ code: wgsl.code });
    return { layout, descriptor: { layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: 'main' } } };
  }

  /** Compiles a kernel; at start-up asynchronously (errors reported by name), at run time synchronously. */
  private build(name: string, async: true): Promise<void>;
  private build(name: string, async: false): Kernel;
  private build(name: string, async: boolean): Promise<void> | Kernel {
    const wgsl = compileWgsl(this.gpuJs, name, this.table.source(name), KERNEL_SETTINGS);
    if (wgsl.paramBytes > SLOT_BYTES) throw new Error(`gpu backend: kernel '${name}' has ${wgsl.paramBytes} bytes of parameters (the runner's slots hold ${SLOT_BYTES})`);
    const dynamic = wgsl.arrayDimsOffsets.length + 1 <= this.maxDynamic;
    const { layout, descriptor } = this.pipelineDescriptor(wgsl, dynamic);
    const finish = (pipeline: unknown): Kernel => {
      const kernel = { ...wgsl, id: this.kernels.size, name, pipeline, layout, dynamic };
      this.kernels.set(name, kernel);
      return kernel;
    };
    if (!async) return finish(this.device.createComputePipeline(descriptor));
    return this.device.createComputePipelineAsync(descriptor).then((p) => { finish(p); });
  }

  define(name: string, source: KernelSource): void {
    this.table.define(name, source);
  }

  private kernel(name: string): Kernel {
    return this.kernels.get(name) ?? this.build(name, false);
  }

  private check(): void {
    if (this.context.isLost) throw new Error('gpu backend: the WebGPU device was lost; restart the process (or call initGpuBackend again)');
    if (this.deviceError) throw new Error(`gpu backend: WebGPU reported an error in recorded work: ${this.deviceError}`);
  }

  /** A slot for `length` values, in none of the arenas `inputs` live in (a dispatch may not read and write one buffer). */
  private allocate(length: number, inputs: readonly GpuArray[] = []): GpuArray {
    const bytes = Math.max(4, length * 4);
    const limit = Math.min(this.device.limits.maxStorageBufferBindingSize, this.device.limits.maxBufferSize);
    if (bytes > limit) throw new Error(`gpu backend: a buffer of ${length} values exceeds this device's storage-buffer limit of ${limit} bytes`);
    return trackLive(this.counters, new GpuArray(levelFor(this.pool, bytes, this.arenas.sizes.window, inputs), length));
  }

  private array(a: DeviceArray, what: string): GpuArray {
    const g = a as GpuArray;
    if (g.released) throw new Error(`gpu backend: ${what} reads a released buffer`);
    return g;
  }

  private id(b: GpuBuffer): number {
    let id = this.bufferIds.get(b);
    if (id === undefined) this.bufferIds.set(b, id = this.nextBufferId++);
    return id;
  }

  /** The slot's arena buffer and offset for copies. */
  private static at(slot: GpuSlot): [GpuBuffer, number] {
    return [slot.arena.buffer, slot.offset];
  }

  /** The open encoder and compute pass (a new batch pushes an error scope that its submission pops). */
  private openPass(): GpuComputePass {
    if (!this.encoder) {
      this.device.pushErrorScope('validation');
      this.encoder = this.device.createCommandEncoder();
    }
    if (!this.pass) { this.pass = this.encoder.beginComputePass(); this.pipelineSet = null; }
    return this.pass;
  }

  private openEncoder(): GpuCommandEncoder {
    if (this.pass) { this.pass.end(); this.pass = null; }
    if (!this.encoder) {
      this.device.pushErrorScope('validation');
      this.encoder = this.device.createCommandEncoder();
    }
    return this.encoder;
  }

  /**
   * The bind group of a dispatch: per (kernel, arenas) when its bindings are dynamic (each arena bound as a window at
   * the slot's offset), else per (kernel, slots).
   */
  private bindGroup(k: Kernel, uniforms: GpuBuffer, slots: readonly GpuSlot[]): unknown {
    let key = `${k.id}`;
    for (const s of slots) key += k.dynamic ? `,${s.arena.id}` : `,${s.arena.id}@${s.offset}`;
    if (uniforms !== this.arena) key += `;${this.id(uniforms)}`;
    let group = this.bindGroups.get(key);
    if (group) { this.bindGroupStats.hits++; return group; }
    this.bindGroupStats.misses++;
    if (this.bindGroups.size > 200_000) this.bindGroups.clear();
    group = this.device.createBindGroup({
      layout: k.layout,
      entries: [
        { binding: 0, resource: { buffer: uniforms, offset: 0, size: k.paramBytes } },
        ...slots.map((s, i) => ({ binding: 1 + i, resource: k.dynamic ? { buffer: s.arena.buffer, offset: 0, size: s.arena.window } : { buffer: s.arena.buffer, offset: s.offset, size: s.bytes } })),
      ],
    });
    this.bindGroups.set(key, group);
    return group;
  }

  /** setBindGroup's dynamic offsets: the uniform slot's, then each storage slot's (when the kernel's are dynamic). */
  private static offsets(k: Kernel, uniformOffset: number, slots: readonly GpuSlot[]): number[] {
    return k.dynamic ? [uniformOffset, ...slots.map((s) => s.offset)] : [uniformOffset];
  }

  /**
   * Small uploads are staged: the values go to the batch's staging buffer (written just before the submission) and a
   * recorded copy moves them, in order with the dispatches. Large ones write a fresh buffer, which no recorded command
   * can be reading yet.
   */
  upload(values: Float32Array): DeviceArray {
    this.check();
    this.counters.uploads++;
    const bytes = values.byteLength;
    if (bytes > STAGED_UPLOAD_BYTES) {
      const size = sizeClass(bytes);
      const buffer = this.device.createBuffer({ size, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST });
      const slot = this.arenas.adopt(buffer, size);
      this.pool.adopt(slot, size, slot.arena.level);
      this.device.queue.writeBuffer(buffer, 0, values);
      this.recordUpload(slot, values);
      return trackLive(this.counters, new GpuArray(slot, values.length));
    }
    const out = this.allocate(values.length);
    if (bytes === 0) return out;
    this.recordUpload(out.buffer, values);
    const padded = Math.ceil(bytes / 4) * 4;
    if (this.stagingUsed + padded > STAGING_BYTES) this.batch.flush();
    const offset = this.stagingUsed;
    this.stagingBytes.set(new Uint8Array(values.buffer, values.byteOffset, bytes), offset);
    this.stagingUsed += Math.ceil(padded / 256) * 256;
    this.openEncoder().copyBufferToBuffer(this.staging, offset, ...WebGpuRunner.at(out.buffer), bytes);
    this.batch.add();
    return out;
  }

  /** While recording, an upload is a constant of the plan: every replay copies its bytes into `slot` again. */
  private recordUpload(slot: GpuSlot, values: Float32Array): void {
    this.capture?.commands.push({ constant: slot, bytes: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)) });
  }

  run(name: string, length: number, arrays: readonly DeviceArray[], scalars: readonly number[]): DeviceArray {
    const t0 = performance.now();
    try {
      return this.record(name, length, arrays, scalars);
    } finally {
      this.counters.recordMs += performance.now() - t0;
    }
  }

  private record(name: string, length: number, arrays: readonly DeviceArray[], scalars: readonly number[]): DeviceArray {
    this.check();
    const k = this.kernel(name);
    const inputs = arrays.map((a) => this.array(a, name));
    const out = this.allocate(length, inputs);
    if (length === 0) return out;
    const threads = Math.ceil(length / k.lanes);
    const groups = workgroups(threads, k.workgroupSize, this.device.limits.maxComputeWorkgroupsPerDimension);
    if (this.arenaUsed + SLOT_BYTES > this.arenaBytes.byteLength) this.batch.flush();
    const offset = this.arenaUsed;
    writeParams(this.arenaView, offset, k, threads, groups.dispatchWidth, inputs.map((a) => a.length), scalars);
    this.arenaUsed += Math.ceil(k.paramBytes / this.align) * this.align;
    const buffers = [...inputs.map((a) => a.buffer), out.buffer];
    if (this.capture) {
      this.capture.commands.push({ kernel: k, buffers, params: new Uint8Array(this.arenaBytes.slice(offset, offset + k.paramBytes)), groups });
    }
    const pass = this.profiler ? this.profiledPass(k) : this.openPass();
    if (this.pipelineSet !== k.pipeline) { pass.setPipeline(k.pipeline); this.pipelineSet = k.pipeline; }
    pass.setBindGroup(0, this.bindGroup(k, this.arena, buffers), WebGpuRunner.offsets(k, offset, buffers));
    pass.dispatchWorkgroups(groups.x, groups.y);
    if (this.profiler) { pass.end(); this.pass = null; }
    this.counters.dispatches++;
    this.batch.add();
    return out;
  }

  copyInto(from: DeviceArray, to: DeviceArray): void {
    this.check();
    const f = this.array(from, 'copyInto'), t = this.array(to, 'copyInto');
    if (f.length === 0) return;
    const bytes = f.length * 4;
    this.capture?.commands.push({ copy: [f.buffer, t.buffer, bytes] });
    this.encodeCopy(f.buffer, t.buffer, bytes);
    this.batch.add();
  }

  /**
   * A copy between slots; within one arena (a buffer cannot be its own copy source) through the scratch buffer, which
   * copies reuse one after another (commands run in order) and which grows by doubling (a new buffer costs an
   * allocation and Dawn's zeroing of it: at every copy, that made replays slower than running the ops).
   */
  private encodeCopy(from: GpuSlot, to: GpuSlot, bytes: number): void {
    const encoder = this.openEncoder();
    if (from.arena !== to.arena) { encoder.copyBufferToBuffer(...WebGpuRunner.at(from), ...WebGpuRunner.at(to), bytes); return; }
    const size = Math.ceil(bytes / 4) * 4;
    if (!this.copyScratch || this.copyScratch.size < size) {
      if (this.copyScratch) this.scratch.push(this.copyScratch); // destroyed after the submission of the copies using it
      this.copyScratch = this.device.createBuffer({ size: Math.max(size, 2 * (this.copyScratch?.size ?? 0)), usage: USAGE.COPY_SRC | USAGE.COPY_DST });
    }
    encoder.copyBufferToBuffer(...WebGpuRunner.at(from), this.copyScratch, 0, bytes);
    encoder.copyBufferToBuffer(this.copyScratch, 0, ...WebGpuRunner.at(to), bytes);
  }

  /** Ends the pass, writes the batch's parameters, submits (the batch then recycles released buffers). */
  private submit(): void {
    const encoder = this.openEncoder();
    this.pass = null;
    this.encoder = null;
    if (this.arenaUsed > 0) this.device.queue.writeBuffer(this.arena, 0, this.arenaBytes, 0, this.arenaUsed);
    if (this.stagingUsed > 0) this.device.queue.writeBuffer(this.staging, 0, this.stagingBytes, 0, this.stagingUsed);
    this.arenaUsed = 0;
    this.stagingUsed = 0;
    this.profiler?.resolve(encoder);
    this.device.queue.submit([encoder.finish()]);
    this.profiler?.collect();
    this.pool.afterSubmission();
    for (const b of this.scratch) b.destroy();
    this.scratch.length = 0;
    void this.device.popErrorScope().then((e) => { if (e && !this.deviceError) this.deviceError = e.message; });
    // reads recorded from now on need a new submission (a pending microtask then finds this one done)
    this.resolveSubmitted?.();
    this.resolveSubmitted = null;
    this.flushScheduled = false;
  }

  /** Submits at the end of the current synchronous stretch of work (so that several reads share one submission). */
  private submitSoon(): Promise<void> {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.submitted = new Promise<void>((resolve) => { this.resolveSubmitted = resolve; });
      queueMicrotask(() => {
        this.flushScheduled = false;
        if (this.batch.recorded > 0) this.batch.flush();
        else { this.resolveSubmitted?.(); this.resolveSubmitted = null; }
      });
    }
    return this.submitted;
  }

  async read(a: DeviceArray): Promise<Float32Array> {
    this.check();
    if (this.capture) throw this.capture.refuseRead();
    const g = this.array(a, 'read');
    this.counters.readbacks++;
    if (g.length === 0) return new Float32Array(0);
    const bytes = g.length * 4;
    const staging = this.device.createBuffer({ size: bytes, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    this.openEncoder().copyBufferToBuffer(...WebGpuRunner.at(g.buffer), staging, 0, bytes);
    this.batch.recorded++;
    await this.submitSoon();
    try {
      await staging.mapAsync(1, 0, bytes);
    } catch (e) {
      staging.destroy();
      this.check();
      throw e;
    }
    const out = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
    staging.unmap();
    staging.destroy();
    this.check();
    return out;
  }

  readSync(): Float32Array {
    throw new Error('gpu backend (webgpu): results can only be read asynchronously: use await tensor.data() instead of dataSync()/item()');
  }

  release(a: DeviceArray): void {
    releaseArray(this.counters, this.pool, a as GpuArray);
  }

  flush(): void {
    this.batch.flush();
  }

  beginCapture(): void {
    this.capture = Recording.begin(this.capture, this.pool);
  }

  endCapture(): CapturedPlan {
    const capture = Recording.end(this.capture, this.pool, (c) => ('kernel' in c ? c.buffers : 'copy' in c ? c.copy.slice(0, 2) as GpuSlot[] : [c.constant]));
    this.capture = null;
    const plan = new GpuPlan(capture.commands, capture.pins, this);
    const steps = capture.commands.filter((c): c is PlanStep => 'kernel' in c);
    let size = 0;
    const uniformOffsets = steps.map((s) => { const at = size; size += Math.ceil(s.kernel.paramBytes / this.align) * this.align; return at; });
    steps.forEach((s, i) => { s.offsets = WebGpuRunner.offsets(s.kernel, uniformOffsets[i]!, s.buffers); });
    const constants = capture.commands.filter((c): c is PlanConstant => 'constant' in c);
    let constantBytes = 0;
    for (const c of constants) { c.source = constantBytes; constantBytes += Math.ceil(c.bytes.byteLength / 4) * 4; }
    if (constantBytes > 0) {
      plan.constants = this.device.createBuffer({ size: constantBytes, usage: USAGE.COPY_SRC | USAGE.COPY_DST });
      const bytes = new Uint8Array(constantBytes);
      for (const c of constants) bytes.set(c.bytes, c.source);
      this.device.queue.writeBuffer(plan.constants, 0, bytes);
    }
    if (size > 0) {
      plan.uniforms = this.device.createBuffer({ size, usage: USAGE.UNIFORM | USAGE.COPY_DST });
      const bytes = new Uint8Array(size);
      steps.forEach((s, i) => bytes.set(s.params, uniformOffsets[i]));
      this.device.queue.writeBuffer(plan.uniforms, 0, bytes);
      for (const s of steps) s.bindGroup = this.bindGroup(s.kernel, plan.uniforms, s.buffers);
    }
    return plan;
  }

  replay(plan: CapturedPlan): void {
    this.check();
    const t0 = performance.now();
    const p = plan as GpuPlan;
    for (const c of p.commands) {
      if ('copy' in c) {
        this.encodeCopy(...c.copy);
      } else if ('constant' in c) {
        this.openEncoder().copyBufferToBuffer(p.constants!, c.source!, ...WebGpuRunner.at(c.constant), c.bytes.byteLength);
      } else {
        const pass = this.profiler ? this.profiledPass(c.kernel) : this.openPass();
        if (this.pipelineSet !== c.kernel.pipeline) { pass.setPipeline(c.kernel.pipeline); this.pipelineSet = c.kernel.pipeline; }
        pass.setBindGroup(0, c.bindGroup, c.offsets);
        pass.dispatchWorkgroups(c.groups.x, c.groups.y);
        if (this.profiler) { pass.end(); this.pass = null; }
      }
      this.counters.replayedDispatches++;
      this.batch.add();
    }
    this.counters.recordMs += performance.now() - t0;
  }

  /** Frees a plan: its uniform buffer, its bind groups (by clearing the cache) and its pins. */
  disposePlan(plan: GpuPlan): void {
    this.batch.flush();
    plan.uniforms?.destroy();
    plan.uniforms = null;
    plan.constants?.destroy();
    plan.constants = null;
    this.bindGroups.clear();
    this.pool.unpin(plan.pins);
    plan.commands.length = 0;
  }

  poolStats(): PoolStats {
    return { ...this.pool.stats(this.counters.liveBuffers), arenas: this.arenas.arenas, arenaBytes: this.arenas.bytes };
  }

  /** A pass of its own for one dispatch, with timestamps at its start and end (profiling only). */
  private profiledPass(k: Kernel): GpuComputePass {
    const encoder = this.openEncoder();
    this.pass = encoder.beginComputePass({ timestampWrites: this.profiler!.next(k.name) });
    this.pipelineSet = null;
    return this.pass;
  }

  /** GPU time per kernel since the runner started (profiling only: VIAR_GPU_PROFILE=1), slowest first. */
  async profile(): Promise<KernelTime[]> {
    if (!this.profiler) throw new Error('gpu backend: no GPU profile was taken (start with VIAR_GPU_PROFILE=1, on an adapter with timestamp-query)');
    this.batch.flush();
    return this.profiler.table();
  }

  /** Forgets the profile so far (after a warm-up). */
  async resetProfile(): Promise<void> {
    this.batch.flush();
    await this.profiler?.table();
    this.profiler?.reset();
  }

  describe(): string {
    const info = this.context.adapter.info;
    return `gpu.js webgpu mode on ${[info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'an unnamed adapter'}`;
  }
}
