// A WebGPU that checks and counts but computes nothing: navigator.gpu with one adapter whose device validates what the
// WebGPU runner hands it (bind-group entries inside their buffers, dynamic offsets aligned and in bounds, no buffer
// bound for writing beside another binding of it, copies between distinct buffers). Lets CI drive the real runner.

export interface FakeGpuStats {
  buffers: number;
  bindGroups: number;
  dispatches: number;
  submissions: number;
  errors: string[];
}

interface FakeBuffer { size: number; destroyed: boolean; destroy(): void; mapAsync(): Promise<void>; getMappedRange(o?: number, n?: number): ArrayBuffer; unmap(): void }
interface Entry { binding: number; resource: { buffer: FakeBuffer; offset?: number; size?: number } }
interface Layout { entries: { binding: number; buffer: { type: string; hasDynamicOffset?: boolean } }[] }
interface Group { layout: Layout; entries: Entry[] }

const LIMITS = {
  maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 32, minUniformBufferOffsetAlignment: 256, minStorageBufferOffsetAlignment: 256,
  maxComputeWorkgroupsPerDimension: 65535, maxDynamicStorageBuffersPerPipelineLayout: 8, maxStorageBuffersPerShaderStage: 10,
};

/** Installs the fake as navigator.gpu (returns its counters and a function restoring the previous navigator). */
export function installFakeWebGpu(): { stats: FakeGpuStats; restore: () => void } {
  const stats: FakeGpuStats = { buffers: 0, bindGroups: 0, dispatches: 0, submissions: 0, errors: [] };
  const fail = (message: string) => { if (stats.errors.length < 20) stats.errors.push(message); };
  const createBuffer = (d: { size: number }): FakeBuffer => {
    stats.buffers++;
    const buffer: FakeBuffer = {
      size: d.size, destroyed: false,
      destroy() { buffer.destroyed = true; },
      mapAsync: () => Promise.resolve(),
      getMappedRange: (_o = 0, n = d.size) => new ArrayBuffer(n),
      unmap() {},
    };
    return buffer;
  };
  const pass = () => {
    let group: Group | null = null;
    return {
      setPipeline() {},
      setBindGroup(_i: number, g: Group, offsets: number[] = []) {
        group = g;
        const dynamic = g.layout.entries.filter((e) => e.buffer.hasDynamicOffset);
        if (offsets.length !== dynamic.length) fail(`setBindGroup: ${offsets.length} dynamic offsets for ${dynamic.length} dynamic bindings`);
        const ranges: { buffer: FakeBuffer; start: number; end: number; writable: boolean }[] = [];
        let d = 0;
        for (const e of g.layout.entries) {
          const entry = g.entries.find((x) => x.binding === e.binding)!;
          const { buffer, offset = 0, size = buffer.size - offset } = entry.resource;
          const extra = e.buffer.hasDynamicOffset ? offsets[d++]! : 0;
          if (extra % 256 !== 0) fail(`setBindGroup: dynamic offset ${extra} is not a multiple of 256`);
          if (offset + extra + size > buffer.size) fail(`setBindGroup: binding ${e.binding} [${offset + extra}, +${size}) exceeds its buffer of ${buffer.size} bytes`);
          if (buffer.destroyed) fail(`setBindGroup: binding ${e.binding} uses a destroyed buffer`);
          ranges.push({ buffer, start: offset + extra, end: offset + extra + size, writable: e.buffer.type === 'storage' });
        }
        for (const a of ranges) for (const b of ranges) {
          if (a !== b && a.writable && a.buffer === b.buffer) fail('setBindGroup: a buffer bound for writing is bound again in the same dispatch');
        }
      },
      dispatchWorkgroups(x: number) {
        if (!group) fail('dispatch without a bind group');
        if (!(x >= 1 && x <= LIMITS.maxComputeWorkgroupsPerDimension)) fail(`dispatch of ${x} workgroups`);
        stats.dispatches++;
      },
      end() {},
    };
  };
  const device = {
    limits: LIMITS,
    features: { has: () => false },
    lost: new Promise(() => {}),
    queue: {
      writeBuffer(b: FakeBuffer, offset: number, data: ArrayBufferView | ArrayBuffer, _o = 0, size?: number) {
        const n = size ?? data.byteLength;
        if (offset + n > b.size) fail(`writeBuffer: ${n} bytes at ${offset} exceed ${b.size}`);
      },
      submit() { stats.submissions++; },
    },
    createBuffer,
    createCommandEncoder: () => ({
      beginComputePass: pass,
      copyBufferToBuffer(a: FakeBuffer, ao: number, b: FakeBuffer, bo: number, n: number) {
        if (a === b) fail('copyBufferToBuffer: source and destination are one buffer');
        if (ao + n > a.size || bo + n > b.size) fail(`copyBufferToBuffer: ${n} bytes out of range`);
        if (a.destroyed || b.destroyed) fail('copyBufferToBuffer: a destroyed buffer');
      },
      resolveQuerySet() {},
      finish: () => ({}),
    }),
    createShaderModule: () => ({}),
    createBindGroupLayout: (d: Layout) => d,
    createPipelineLayout: () => ({}),
    createComputePipeline: () => ({}),
    createComputePipelineAsync: () => Promise.resolve({}),
    createBindGroup: (d: Group) => { stats.bindGroups++; return d; },
    createQuerySet: () => ({ destroy() {} }),
    pushErrorScope() {},
    popErrorScope: () => Promise.resolve(null),
  };
  const adapter = { info: { vendor: 'fake', description: 'validating fake WebGPU' }, limits: LIMITS, features: { has: () => false }, requestDevice: () => Promise.resolve(device) };
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: { requestAdapter: () => Promise.resolve(adapter) } }, configurable: true, writable: true });
  return {
    stats,
    restore: () => {
      if (saved) Object.defineProperty(globalThis, 'navigator', saved);
      else delete (globalThis as { navigator?: unknown }).navigator;
    },
  };
}
