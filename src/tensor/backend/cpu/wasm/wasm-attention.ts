// Calls of the fused attention kernels of attention-module.ts: a descriptor of the operands' heap addresses and byte
// strides, the (batch, head) pairs split between threads, each task with its own score buffers. Returns false where
// the fast path does not apply (not float32, a mask whose columns are not contiguous, a heap that cannot grow).

import type { TypedArray } from '../../../dtype.js';
import type { AttentionOperand as AttentionView } from '../attention-kernels.js';
import type { WasmGemmRuntime } from './wasm-gemm.js';
import { SCRATCH_ARG } from './thread-pool.js';
import { StagingArea } from './staging-area.js';
import { ATTENTION_DESCRIPTOR as D } from './attention-module.js';

/** Below this many multiply-adds one thread runs the kernel. */
const PARALLEL_MIN_WORK = 1 << 16;

/** out = softmax(scale·q·kᵀ + mask)·v per (batch, head), with each row's max and sum (see ../attention-kernels.ts). */
export function attentionWasm(rt: WasmGemmRuntime, q: AttentionView, k: AttentionView, v: AttentionView, mask: AttentionView | null, scale: number,
  out: TypedArray, rowMax: TypedArray, rowSum: TypedArray): boolean {
  return run(rt, 'attention', q, k, v, mask, scale, [], [out, rowMax, rowSum], null);
}

/** dq, dk, dv of the attention from its saved row statistics and the output cotangent g. */
export function attentionBackwardWasm(rt: WasmGemmRuntime, q: AttentionView, k: AttentionView, v: AttentionView, mask: AttentionView | null, scale: number,
  rowMax: TypedArray, rowSum: TypedArray, g: AttentionView, dq: TypedArray, dk: TypedArray, dv: TypedArray): boolean {
  return run(rt, 'attentionBackward', q, k, v, mask, scale, [rowMax, rowSum], [dq, dk, dv], g);
}

function run(rt: WasmGemmRuntime, name: 'attention' | 'attentionBackward', q: AttentionView, k: AttentionView, v: AttentionView, mask: AttentionView | null,
  scale: number, stats: TypedArray[], outputs: TypedArray[], g: AttentionView | null): boolean {
  const [nb, nh, lq, d] = q.info.shape as [number, number, number, number], lk = k.info.shape[2]!, e = v.info.shape[3]!;
  const pairs = nb * nh;
  if (pairs === 0 || lq === 0) return true;
  if (lk === 0 || (mask && mask.info.strides[3] !== 1 && lk > 1)) return false;
  const operands = [q, k, v, ...(g ? [g] : []), ...(mask ? [mask] : [])];
  if (![...stats, ...outputs].every((a) => a instanceof Float32Array) || !operands.every((x) => x.values instanceof Float32Array)) return false;
  // operands and outputs outside the heap (a browser page without cross-origin isolation has no heap tensors) are staged
  const area = new StagingArea(rt);
  const bases = operands.map((x) => area.place(x.values as Float32Array, 0, x.values.length));
  const statAts = stats.map((a) => area.place(a as Float32Array, 0, a.length));
  const homes = outputs.map((a) => rt.addressOf(a as Float32Array));
  const outAts = outputs.map((a, j) => (homes[j]! >= 0 ? homes[j]! : area.take(4 * a.length)));
  if ([...statAts, ...outAts].some((at) => at === null)) return false;
  const ldS = 4 * Math.ceil(lk / 4);
  const work = pairs * lq * lk * (d + e);
  const parts = Math.min(pairs, work >= PARALLEL_MIN_WORK && rt.numThreads > 1 ? rt.numThreads * rt.tasksPerThread : 1);
  const bufferBytes = 4 * lq * ldS, buffers = area.take(2 * parts * bufferBytes), descAt = area.take(4 * D.words);
  if (bases.some((b) => b === null) || buffers === null || descAt === null) return false;
  const desc = new Int32Array(rt.heapWords.buffer, descAt, D.words);
  Object.assign(desc, { [D.heads]: nh, [D.lq]: lq, [D.lk]: lk, [D.d]: d, [D.e]: e, [D.ldS]: ldS });
  const describe = (x: AttentionView, base: number, at: number, columns = true) => {
    desc[at] = base + 4 * x.info.offset;
    x.info.strides.slice(0, columns ? 4 : 3).forEach((s, j) => { desc[at + 1 + j] = 4 * s; });
  };
  [q, k, v].forEach((x, j) => describe(x, bases[j]!, [D.q, D.k, D.v][j]!));
  if (g) describe(g, bases[3]!, D.g);
  if (mask) describe(mask, bases[operands.length - 1]!, D.mask, false);
  else desc[D.mask] = 0;
  if (name === 'attention') [desc[D.out], desc[D.rowMax], desc[D.rowSum]] = outAts as [number, number, number];
  else [desc[D.rowMax], desc[D.rowSum], desc[D.dq], desc[D.dk], desc[D.dv]] = [...statAts, ...outAts] as [number, number, number, number, number];
  desc[D.scale] = new Int32Array(new Float32Array([scale]).buffer)[0]!;
  rt.runKernel(name, Array.from({ length: parts }, (_, t) => [descAt, Math.floor((pairs * t) / parts), Math.floor((pairs * (t + 1)) / parts),
    buffers + 2 * t * bufferBytes, buffers + (2 * t + 1) * bufferBytes, SCRATCH_ARG]));
  const heap = rt.heapWords;
  outputs.forEach((a, j) => { if (homes[j]! < 0) a.set(heap.subarray(outAts[j]! / 4, outAts[j]! / 4 + a.length)); });
  return true;
}
