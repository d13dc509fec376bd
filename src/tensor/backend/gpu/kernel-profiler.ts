// Per-kernel GPU time (VIAR_GPU_PROFILE=1): each dispatch in a pass of its own with timestamps at its start and end,
// resolved at each submission and summed by kernel name. Profiling distorts wall time; only the GPU times count.

import { MAX_BATCH } from './kernel-runner.js';
import { USAGE, type GpuBuffer, type GpuCommandEncoder, type GpuDevice, type GpuQuerySet } from './webgpu-device.js';

/** GPU time spent in one kernel. */
export interface KernelTime {
  kernel: string;
  dispatches: number;
  /** Total GPU milliseconds between the start and the end of its passes. */
  ms: number;
}

/** Per-dispatch GPU timestamps: written at each pass's start and end, resolved at each submission, summed by kernel. */
export class KernelProfiler {
  private readonly querySet: GpuQuerySet;
  private readonly resolveBuffer: GpuBuffer;
  private names: string[] = [];
  private readonly pending: Promise<void>[] = [];
  private readonly totals = new Map<string, { dispatches: number; ns: number }>();

  constructor(private readonly device: GpuDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * MAX_BATCH });
    this.resolveBuffer = device.createBuffer({ size: 16 * MAX_BATCH, usage: USAGE.QUERY_RESOLVE | USAGE.COPY_SRC });
  }

  next(kernel: string): { querySet: GpuQuerySet; beginningOfPassWriteIndex: number; endOfPassWriteIndex: number } {
    const i = this.names.push(kernel) - 1;
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Before the submission: the batch's timestamps into a readable buffer. */
  private readback: GpuBuffer | null = null;
  resolve(encoder: GpuCommandEncoder): void {
    if (this.names.length === 0) return;
    const bytes = 16 * this.names.length;
    encoder.resolveQuerySet(this.querySet, 0, 2 * this.names.length, this.resolveBuffer, 0);
    this.readback = this.device.createBuffer({ size: bytes, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, this.readback, 0, bytes);
  }

  /** After the submission: sums the batch's durations when they arrive. */
  collect(): void {
    const readback = this.readback, names = this.names;
    this.readback = null;
    this.names = [];
    if (!readback) return;
    this.pending.push(readback.mapAsync(1).then(() => {
      const t = new BigUint64Array(readback.getMappedRange());
      names.forEach((name, i) => {
        const total = this.totals.get(name) ?? { dispatches: 0, ns: 0 };
        total.dispatches++;
        total.ns += Number(t[2 * i + 1]! - t[2 * i]!);
        this.totals.set(name, total);
      });
      readback.unmap();
      readback.destroy();
    }));
  }

  async table(): Promise<KernelTime[]> {
    await Promise.all(this.pending.splice(0));
    return [...this.totals].map(([kernel, t]) => ({ kernel, dispatches: t.dispatches, ms: t.ns / 1e6 })).sort((a, b) => b.ms - a.ms);
  }

  reset(): void {
    this.totals.clear();
  }
}
