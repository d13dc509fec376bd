// The parts of WebGPU the runner uses, typed locally (no DOM types in a Node build), and the device it asks for: every
// storage binding may take a dynamic offset (the arenas), and timestamp queries when profiling.

export interface GpuBuffer {
  readonly size: number;
  destroy(): void;
  mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
  getMappedRange(offset?: number, size?: number): ArrayBuffer;
  unmap(): void;
}
export interface GpuQuerySet { destroy(): void }
export interface GpuComputePass {
  setPipeline(p: unknown): void;
  setBindGroup(index: number, group: unknown, dynamicOffsets?: number[]): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
  end(): void;
}
export interface GpuCommandEncoder {
  beginComputePass(d?: { timestampWrites?: { querySet: GpuQuerySet; beginningOfPassWriteIndex: number; endOfPassWriteIndex: number } }): GpuComputePass;
  resolveQuerySet(q: GpuQuerySet, first: number, count: number, to: GpuBuffer, offset: number): void;
  copyBufferToBuffer(a: GpuBuffer, ao: number, b: GpuBuffer, bo: number, n: number): void;
  finish(): unknown;
}
export interface GpuDevice {
  createBuffer(d: { size: number; usage: number; mappedAtCreation?: boolean }): GpuBuffer;
  createCommandEncoder(): GpuCommandEncoder;
  createShaderModule(d: { code: string }): unknown;
  createBindGroupLayout(d: unknown): unknown;
  createPipelineLayout(d: unknown): unknown;
  createComputePipeline(d: unknown): unknown;
  createComputePipelineAsync(d: unknown): Promise<unknown>;
  createBindGroup(d: unknown): unknown;
  createQuerySet(d: { type: 'timestamp'; count: number }): GpuQuerySet;
  pushErrorScope(filter: string): void;
  popErrorScope(): Promise<{ message: string } | null>;
  queue: { writeBuffer(b: GpuBuffer, offset: number, data: ArrayBufferView | ArrayBuffer, dataOffset?: number, size?: number): void; submit(c: unknown[]): void };
  limits: GpuLimits;
  lost: Promise<{ reason: string; message: string }>;
}
export interface GpuLimits {
  maxStorageBufferBindingSize: number; maxBufferSize: number; minUniformBufferOffsetAlignment: number;
  minStorageBufferOffsetAlignment: number; maxComputeWorkgroupsPerDimension: number;
  maxDynamicStorageBuffersPerPipelineLayout: number; maxStorageBuffersPerShaderStage: number;
}
export interface GpuAdapter {
  info?: { vendor?: string; architecture?: string; description?: string };
  limits: GpuLimits;
  features: { has(name: string): boolean };
  requestDevice(d: { requiredLimits: Partial<GpuLimits>; requiredFeatures: string[] }): Promise<GpuDevice>;
}
export interface GpuContext {
  adapter: GpuAdapter;
  device: GpuDevice;
  isLost: boolean;
}

/**
 * Our own device (gpu.js only compiles): every storage buffer of a binding may take a dynamic offset, and with
 * `profile` the timestamp queries the per-kernel profile needs.
 */
export async function acquireDevice(profile: boolean): Promise<GpuContext> {
  const gpu = (globalThis as unknown as { navigator?: { gpu?: { requestAdapter(o?: unknown): Promise<GpuAdapter | null> } } }).navigator?.gpu;
  if (!gpu) throw new Error('gpu backend: navigator.gpu is missing (no WebGPU here)');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('gpu backend: WebGPU is present but no adapter answered');
  const wanted = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxDynamicStorageBuffersPerPipelineLayout', 'maxStorageBuffersPerShaderStage'] as const;
  const requiredLimits: Partial<GpuLimits> = {};
  for (const name of wanted) requiredLimits[name] = adapter.limits[name];
  const requiredFeatures = profile && adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const context: GpuContext = { adapter, device, isLost: false };
  void device.lost.then((info) => {
    context.isLost = true;
    if (info.reason !== 'destroyed') console.error(`gpu backend: WebGPU device lost: ${info.message}`);
  });
  return context;
}

/** GPUBufferUsage and GPUShaderStage flags (the globals are absent before a WebGPU implementation loads). */
export const USAGE = { MAP_READ: 0x0001, COPY_SRC: 0x0004, COPY_DST: 0x0008, UNIFORM: 0x0040, STORAGE: 0x0080, QUERY_RESOLVE: 0x0200 };
