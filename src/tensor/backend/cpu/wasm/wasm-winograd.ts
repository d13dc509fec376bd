// Calls of the fused Winograd kernels of winograd-module.ts on float32 data: images split between tasks, each task
// with its own workspace; the backward sums its filter gradient over a fixed number of image groups (one partial
// sum each, then a column sum), so results are bitwise the same for any thread count. Returns false where the fused
// path does not apply (an image too large for the workspace or the tile scratch, a heap that cannot grow).

import type { WinogradGeometry } from '../../backend.js';
import type { WasmGemmRuntime } from './wasm-gemm.js';
import { SCRATCH_ARG } from './thread-pool.js';
import { StagingArea } from './staging-area.js';
import { tileScratchBytes } from './tile-module.js';
import { colSumTasks } from './wasm-rows.js';

/** Below this many multiply-adds one thread runs the kernel. */
const PARALLEL_MIN_WORK = 1 << 20;
/** The backward's image groups (partial filter gradients) at most: a constant, so the sum never depends on threads. */
const MAX_GROUPS = 8;
/** ...and fewer where their partial sums [16, O, C] would take more than this (wide layers on small images). */
const MAX_PARTIALS_BYTES = 32 << 20;
/** Largest workspace of one image, bytes: images needing more take the unfused path (whole-batch tile tensors). */
const MAX_WORKSPACE_BYTES = 4 << 20;
/** Images of a task are transformed and multiplied several at a time while their workspace stays below this (L2-sized). */
const GROUP_WORKSPACE_BYTES = 1 << 20;

/** Workspace bytes of one image, or null where an image does not fit the fused path. */
function imageWorkspaceBytes(rt: WasmGemmRuntime, g: WinogradGeometry, backward: boolean): number | null {
  const T = g.tilesH * g.tilesW;
  const bytes = 64 * T * ((backward ? 2 : 1) * g.c + g.o);
  const tilesFit = [4, 2].every((size) => tileScratchBytes(4, size, g.tilesH, g.tilesW) <= rt.scratchBytes); // one plane at a time
  return tilesFit && bytes <= MAX_WORKSPACE_BYTES ? bytes : null;
}

/** Images per step within a task of `images` (from the geometry alone, so the backward's sums never depend on threads). */
const imagesPerStep = (imageBytes: number, images: number) => Math.max(1, Math.min(images, Math.floor(GROUP_WORKSPACE_BYTES / imageBytes)));

const geometryArgs = (g: WinogradGeometry) => [g.c, g.o, g.h, g.w, g.outH, g.outW, g.tilesH, g.tilesW, g.padH, g.padW];

/** [start, end) of part t of n items split into `parts`. */
const range = (n: number, t: number, parts: number) => [Math.floor((n * t) / parts), Math.floor((n * (t + 1)) / parts)] as const;

/** y [N, O, outH, outW] of x [N, C, H, W] and transformed filters u [16, O, C] (see ../conv-kernels.ts, winogradConvKernel). */
export function winogradForwardWasm(rt: WasmGemmRuntime, x: Float32Array, u: Float32Array, g: WinogradGeometry, y: Float32Array): boolean {
  const image = imageWorkspaceBytes(rt, g, false);
  if (image === null) return false;
  if (y.length === 0) return true;
  const multiplyAdds = 16 * g.n * g.tilesH * g.tilesW * g.c * g.o;
  const parts = Math.min(g.n, multiplyAdds >= PARALLEL_MIN_WORK && rt.numThreads > 1 ? rt.numThreads * rt.tasksPerThread : 1);
  const group = imagesPerStep(image, Math.ceil(g.n / parts)), work = group * image;
  const area = new StagingArea(rt);
  const xAt = area.place(x, 0, x.length), uAt = area.place(u, 0, u.length);
  const home = rt.addressOf(y), yAt = home >= 0 ? home : area.take(4 * y.length), workAt = area.take(parts * work);
  if (xAt === null || uAt === null || yAt === null || workAt === null) return false;
  rt.runKernel('winogradForward', Array.from({ length: parts }, (_, t) =>
    [xAt, uAt, yAt, ...geometryArgs(g), ...range(g.n, t, parts), group, workAt + t * work, SCRATCH_ARG]));
  if (home < 0) y.set(rt.heapWords.subarray(yAt / 4, yAt / 4 + y.length));
  return true;
}

/** dx [N, C, H, W] and du [16, O, C] for the output cotangent gy (see ../conv-kernels.ts, winogradConvBackwardKernel). */
export function winogradBackwardWasm(rt: WasmGemmRuntime, x: Float32Array, u: Float32Array, gy: Float32Array, g: WinogradGeometry,
  dx: Float32Array, du: Float32Array): boolean {
  const image = imageWorkspaceBytes(rt, g, true);
  if (image === null) return false;
  if (g.n === 0 || du.length === 0) {
    dx.fill(0);
    du.fill(0);
    return true;
  }
  const duSize = du.length, groups = Math.max(1, Math.min(g.n, MAX_GROUPS, Math.floor(MAX_PARTIALS_BYTES / (4 * duSize))));
  const group = imagesPerStep(image, Math.ceil(g.n / groups)), work = group * image;
  const area = new StagingArea(rt);
  const [xAt, uAt, gyAt] = [x, u, gy].map((a) => area.place(a, 0, a.length));
  const dxHome = rt.addressOf(dx), duHome = rt.addressOf(du);
  const dxAt = dxHome >= 0 ? dxHome : area.take(4 * dx.length), duAt = duHome >= 0 ? duHome : area.take(4 * duSize);
  const partialsAt = area.take(4 * groups * duSize), workAt = area.take(groups * work);
  if ([xAt, uAt, gyAt, dxAt, duAt, partialsAt, workAt].some((at) => at === null || at === undefined)) return false;
  rt.runKernel('winogradBackward', Array.from({ length: groups }, (_, t) =>
    [xAt!, uAt!, gyAt!, dxAt!, partialsAt! + 4 * t * duSize, ...geometryArgs(g), ...range(g.n, t, groups), group, workAt! + t * work, SCRATCH_ARG]));
  // du = Σ over groups of their partial sums, in group order
  rt.runKernel('colSum', colSumTasks(rt, partialsAt!, 1, 0, groups, duSize, duSize, duAt!));
  const heap = rt.heapWords;
  if (dxHome < 0) dx.set(heap.subarray(dxAt! / 4, dxAt! / 4 + dx.length));
  if (duHome < 0) du.set(heap.subarray(duAt! / 4, duAt! / 4 + duSize));
  return true;
}
