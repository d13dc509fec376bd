// Calls of the Winograd tile kernels of tile-module.ts (tilesOf, tilesInto) on float32 data, image planes split
// between threads, large images in bands of tile rows. Returns false where the fast path does not apply (another step
// or transform, a heap that cannot grow), so the caller runs the TypeScript kernel.

import type { TileGeometry } from '../../backend.js';
import type { WasmGemmRuntime } from './wasm-gemm.js';
import { SCRATCH_ARG } from './thread-pool.js';
import { StagingArea } from './staging-area.js';
import { TILE_TRANSFORMS, tileScratchBytes } from './tile-module.js';
import { sameMatrix } from '../../winograd-transforms.js';

/** Below this many elements of work one thread runs the kernel. */
const PARALLEL_MIN_ELEMENTS = 1 << 15;

/**
 * tilesOf / tilesInto of float32 data in the module's kernels, in bands of tile rows small enough for a thread's
 * scratch (bands run one after another, in order: tilesInto's first band writes `out`, the later ones add into it).
 */
export function tilesWasm(rt: WasmGemmRuntime, direction: 'tilesOf' | 'tilesInto', src: Float32Array, g: TileGeometry,
  transform: readonly (readonly number[])[], out: Float32Array): boolean {
  const name = (Object.keys(TILE_TRANSFORMS) as (keyof typeof TILE_TRANSFORMS)[]).find((k) => sameMatrix(TILE_TRANSFORMS[k], transform));
  if (name === undefined || g.step !== 2) return false;
  let band = g.tilesH;
  while (band > 0 && tileScratchBytes(transform.length, g.size, band, g.tilesW) > rt.scratchBytes) band = Math.floor(band / 2);
  if (band === 0) return false;
  const planes = g.n * g.c;
  if (planes === 0 || out.length === 0) return true;
  // operands outside the heap (a browser page without cross-origin isolation has no heap tensors) are staged
  const area = new StagingArea(rt);
  const srcAt = area.place(src, 0, src.length);
  const home = rt.addressOf(out), outAt = home >= 0 ? home : area.take(4 * out.length);
  if (srcAt === null || outAt === null) return false;
  const T = g.tilesH * g.tilesW;
  const work = (src.length + out.length) * Math.min(1, band / g.tilesH);
  const parts = Math.min(planes, work >= PARALLEL_MIN_ELEMENTS && rt.numThreads > 1 ? rt.numThreads * rt.tasksPerThread : 1);
  for (let ty = 0; ty < g.tilesH; ty += band) {
    const rows = Math.min(band, g.tilesH - ty);
    rt.runKernel(`${direction}${name}`, Array.from({ length: parts }, (_, t) => [srcAt, g.c, g.n, g.h, g.w, rows, g.tilesW, g.offsetH + g.step * ty, g.offsetW,
      T, ty * g.tilesW, outAt, Math.floor((planes * t) / parts), Math.floor((planes * (t + 1)) / parts), SCRATCH_ARG]));
  }
  if (home < 0) out.set(rt.heapWords.subarray(outAt / 4, outAt / 4 + out.length));
  return true;
}
