// gpu.js as a compiler: a kernel function (kernel-sources.ts, or generated at run time) translated to WGSL by gpu.js,
// with the layout of its uniform parameters, so that the WebGPU runner can create the pipeline and own the dispatch.

import type { GpuJsModule } from './kernel-runner.js';
import { kernelFunctionSource, type KernelSource } from './kernel-sources.js';

/** One scalar parameter's place in the uniform block. */
export interface ScalarSlot {
  /** Byte offset in the uniform block. */
  offset: number;
  type: 'f32' | 'i32' | 'u32';
}

/** A kernel's WGSL and the layout of its `Params` uniform (see gpu.js's web-gpu kernel: output dims, then per array a vec4 of dims, then scalars). */
export interface WgslKernel {
  code: string;
  /** Byte offset of each array argument's dims vec4 (sizeX, sizeY, sizeZ, total). */
  arrayDimsOffsets: number[];
  scalars: ScalarSlot[];
  /** Size of the uniform block in bytes (a multiple of 16). */
  paramBytes: number;
  /** Threads per workgroup along x (1-D kernels). */
  workgroupSize: number;
  /** Outputs per thread (4 for kernels returning an Array(4)). */
  lanes: number;
}

/** What this file uses of gpu.js's WebGPUKernel: the synchronous half of its build (validation, translation, WGSL). */
interface GpuJsWebGpuKernel {
  setupConstants(): void;
  setupArguments(args: unknown[]): void;
  validateSettings(args: unknown[]): void;
  translateSource(): void;
  computeParamsLayout(): { arrayArgs: { dimsOffset: number }[]; scalarArgs: { offset: number; type: string }[]; byteLength: number; randomSeedOffset: number | null };
  assembleWGSL(): string;
  threadDim: number[];
  paramsLayout: unknown;
  workgroupSize: number[];
}

/**
 * Translates a kernel to WGSL with gpu.js (no device needed: this runs in CI too). Every array argument is a float32
 * storage buffer, every scalar an f32 (an i32 when the source lists it in `integers`), the output 1-D.
 */
export function compileWgsl(gpuJs: GpuJsModule, name: string, source: KernelSource, settings: Record<string, unknown>): WgslKernel {
  const integers = new Set(source.integers ?? []);
  const argumentTypes = [...source.arrays.map(() => 'WebGPUBuffer'), ...source.scalars.map((s) => (integers.has(s) ? 'Integer' : 'Float'))];
  const kernel = new gpuJs.WebGPUKernel(kernelFunctionSource(name, source), { ...settings, output: [1], argumentTypes }) as GpuJsWebGpuKernel;
  const args = [...source.arrays.map(() => ({ type: 'WebGPUBuffer', output: [1] })), ...source.scalars.map(() => 1)];
  kernel.setupConstants();
  kernel.setupArguments(args);
  kernel.validateSettings(args);
  kernel.threadDim = [1, 1, 1];
  kernel.translateSource();
  const layout = kernel.computeParamsLayout();
  kernel.paramsLayout = layout;
  if (layout.randomSeedOffset !== null) throw new Error(`gpu backend: kernel '${name}' draws random numbers inside the shader, which the runner does not seed`);
  const code = kernel.assembleWGSL();
  const scalarType = (t: string): ScalarSlot['type'] => (t === 'Integer' ? 'i32' : t === 'Boolean' ? 'u32' : 'f32');
  return {
    code,
    arrayDimsOffsets: layout.arrayArgs.map((a) => a.dimsOffset),
    scalars: layout.scalarArgs.map((s) => ({ offset: s.offset, type: scalarType(s.type) })),
    paramBytes: layout.byteLength,
    workgroupSize: kernel.workgroupSize[0]!,
    lanes: source.lanes ?? 1,
  };
}

/**
 * Writes one dispatch's parameters into `view` at `base` (bytes): thread count and dispatch width, each array's length
 * as its dims, the scalars. The same bytes gpu.js writes before its own dispatches.
 */
export function writeParams(view: DataView, base: number, k: WgslKernel, length: number, dispatchWidth: number, arrayLengths: readonly number[], scalars: readonly number[]): void {
  view.setUint32(base, length, true);
  view.setUint32(base + 4, 1, true);
  view.setUint32(base + 8, 1, true);
  view.setUint32(base + 12, dispatchWidth, true);
  k.arrayDimsOffsets.forEach((offset, i) => {
    const n = Math.max(arrayLengths[i]!, 1);
    view.setUint32(base + offset, n, true);
    view.setUint32(base + offset + 4, 1, true);
    view.setUint32(base + offset + 8, 1, true);
    view.setUint32(base + offset + 12, n, true);
  });
  k.scalars.forEach((slot, i) => {
    const v = scalars[i]!;
    if (slot.type === 'f32') view.setFloat32(base + slot.offset, v, true);
    else if (slot.type === 'i32') view.setInt32(base + slot.offset, v, true);
    else view.setUint32(base + slot.offset, v, true);
  });
}

/** Workgroups for `length` threads of a 1-D kernel: x up to the device limit, folded into y beyond it. */
export function workgroups(length: number, workgroupSize: number, maxPerDimension: number): { x: number; y: number; dispatchWidth: number } {
  const groups = Math.ceil(length / workgroupSize);
  const y = Math.ceil(groups / maxPerDimension);
  const x = Math.ceil(groups / y);
  return { x, y, dispatchWidth: x * workgroupSize };
}
