// Per-call scratch above the heap arena's top for the elementwise and row kernels: their descriptors, and copies
// of float32 (or int32) operands that live outside the heap (tensors made from user arrays), so those run in wasm too.

import type { WasmGemmRuntime } from './wasm-gemm.js';

export class StagingArea {
  private used = 0;

  constructor(private readonly rt: WasmGemmRuntime) {}

  /** Byte address of `bytes` more staging space (64-byte aligned), or null when the heap cannot grow that far. */
  take(bytes: number): number | null {
    const base = this.rt.staging(this.used + bytes);
    if (base === null) return null;
    const at = base + this.used;
    this.used += Math.ceil(bytes / 64) * 64;
    return at;
  }

  /**
   * Byte address of x[from] for a kernel reading x[from, from + count): x itself when it lives in the heap, else a
   * staged copy of that span; null when it does not fit.
   */
  place(x: Float32Array | Int32Array, from: number, count: number): number | null {
    const home = this.rt.addressOf(x);
    if (home >= 0) return home + 4 * from;
    const at = this.take(4 * count);
    if (at === null) return null;
    const heap = this.rt.heapWords;
    (x instanceof Int32Array ? new Int32Array(heap.buffer, heap.byteOffset, heap.length) : heap).set(x.subarray(from, from + count), at / 4);
    return at;
  }
}
