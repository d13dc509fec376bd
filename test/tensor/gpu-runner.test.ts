// The gpu runner's bookkeeping, tested where CI can: every kernel compiles to WGSL through gpu.js with parameters that
// fit the runner's uniform slots; released buffers are reused in op order; a VIAR forward pass costs a handful of
// submissions; 1,000 training steps reuse buffers without growth or use-after-release; captured graphs replay exactly.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRequire } from 'node:module';
import * as V from '../../src/index.js';
import { BufferPool, Pins, Recording, sizeClass } from '../../src/tensor/backend/gpu/buffer-pool.js';
import { ArenaAllocator, levelFor, OWN_ARENA, type Slot } from '../../src/tensor/backend/gpu/arena-allocator.js';
import { KERNELS } from '../../src/tensor/backend/gpu/kernel-sources.js';
import { KERNEL_SETTINGS, MAX_BATCH, type GpuJsModule } from '../../src/tensor/backend/gpu/kernel-runner.js';
import { compileWgsl, workgroups, writeParams } from '../../src/tensor/backend/gpu/wgsl-kernels.js';
import { attachNavigatorGpu } from '../../src/tensor/backend/gpu/gpu-setup.js';
import { splitFactor } from '../../src/tensor/backend/gpu/gpu-backend.js';

let gpu: V.GpuBackend;
beforeAll(async () => {
  await V.initGpuBackend({ mode: 'cpu', asyncReads: true, activate: false, log: false });
  gpu = V.getBackendByName('gpu') as V.GpuBackend;
});
afterAll(() => { V.setBackend('cpu'); });

function onGpu<T>(f: () => T): T {
  V.setBackend('gpu');
  try { return f(); } finally { V.setBackend('cpu'); }
}

describe('kernels compiled to WGSL by gpu.js (no device needed)', () => {
  const gpuJs = createRequire(import.meta.url)('gpu.js') as GpuJsModule;
  test.each(Object.keys(KERNELS))('%s: WGSL with a uniform block the runner can place', (name) => {
    const k = compileWgsl(gpuJs, name, KERNELS[name as keyof typeof KERNELS], KERNEL_SETTINGS);
    expect(k.code).toMatch(/@compute @workgroup_size\(64, 1, 1\)/);
    expect(k.arrayDimsOffsets).toHaveLength(KERNELS[name as keyof typeof KERNELS].arrays.length);
    expect(k.scalars).toHaveLength(KERNELS[name as keyof typeof KERNELS].scalars.length);
    expect(k.paramBytes).toBeLessThanOrEqual(512);
    // every scalar lies inside the block, in declaration order
    const offsets = k.scalars.map((s) => s.offset);
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
    if (offsets.length > 0) expect(offsets.at(-1)! + 4).toBeLessThanOrEqual(k.paramBytes);
  });

  test('parameters are written where the WGSL struct reads them', () => {
    const k = compileWgsl(gpuJs, 'binary', KERNELS.binary, KERNEL_SETTINGS);
    const view = new DataView(new ArrayBuffer(1024));
    writeParams(view, 256, k, 1000, 64 * 16, [10, 20], KERNELS.binary.scalars.map((_, i) => i + 0.5));
    expect([view.getUint32(256, true), view.getUint32(256 + 12, true)]).toEqual([1000, 1024]);
    expect(view.getUint32(256 + k.arrayDimsOffsets[1]!, true)).toBe(20);
    expect(view.getFloat32(256 + k.scalars[3]!.offset, true)).toBe(3.5);
  });

  test('1-D dispatches fold into y beyond the per-dimension limit', () => {
    expect(workgroups(100, 64, 65535)).toEqual({ x: 2, y: 1, dispatchWidth: 128 });
    const big = workgroups(65535 * 64 + 1, 64, 65535);
    expect(big.y).toBe(2);
    expect(big.x * big.y * 64).toBeGreaterThanOrEqual(65535 * 64 + 1);
    expect(big.x).toBeLessThanOrEqual(65535);
  });
});

describe('wide work for narrow outputs', () => {
  test('split-k matmul and two-stage reductions equal the cpu backend', async () => {
    const rng = new V.Rng(4);
    const a = V.randn([3, 4096], rng), b = V.randn([4096, 5], rng), x = V.randn([2, 6000], rng);
    const ref = [V.matmul(a, b), V.sum(x, 1), V.max(x, 1), V.matmul(V.transpose(a, 0, 1), V.ones([3, 2]))].map((t) => t.dataSync());
    const got = await (async () => {
      V.setBackend('gpu');
      try {
        const [ga, gb, gx] = [a, b, x].map((t) => V.tensor(t.dataSync() as Float32Array, { shape: [...t.shape] }));
        const outs = [V.matmul(ga!, gb!), V.sum(gx!, 1), V.max(gx!, 1), V.matmul(V.transpose(ga!, 0, 1), V.ones([3, 2]))];
        return Promise.all(outs.map((t) => t.data()));
      } finally { V.setBackend('cpu'); }
    })();
    expect(splitFactor(4096, 15)).toBeGreaterThan(1);
    ref.forEach((r, i) => { for (let j = 0; j < r.length; j++) expect(got[i]![j]).toBeCloseTo(r[j]!, 2); });
  });
});

test('layer norm of many long rows (interleaved partial statistics) equals the cpu backend', async () => {
  const rng = new V.Rng(8);
  const host = V.randn([8192, 130], rng, { mean: 3 }).dataSync() as Float32Array;
  const norm = async (backend: string) => V.withBackend(backend, () => V.layerNorm(V.tensor(host, { shape: [8192, 130] }), [130], null, null, 1e-5).data());
  const [ref, got] = [await norm('cpu'), await norm('gpu')];
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!));
  expect(worst).toBeLessThan(1e-4);
});

test('reductions over leading axes read columns where they lie, long rows by interleaved parts: equal to the cpu backend (sum, max, min)', async () => {
  const cases: { shape: number[]; axes: number[]; offset?: boolean }[] = [
    { shape: [300, 40], axes: [0] }, { shape: [7, 50, 33], axes: [0, 1] }, { shape: [5000, 64], axes: [0] },
    { shape: [3, 4000, 48], axes: [0, 1], offset: true }, { shape: [40, 300], axes: [1] },
    // rows of a prime length (no split by divisors): read by 32 or 16 interleaved parts
    { shape: [50, 131], axes: [1] }, { shape: [20, 67], axes: [1] },
  ];
  for (const [i, c] of cases.entries()) {
    const values = V.randn(c.offset ? [c.shape[0]! + 1, ...c.shape.slice(1)] : c.shape, new V.Rng(20 + i)).dataSync();
    for (const op of ['sum', 'max', 'min'] as const) {
      const run = (on: 'cpu' | 'gpu') => V.withBackend(on, () => {
        const full = V.tensor(values, { shape: c.offset ? [c.shape[0]! + 1, ...c.shape.slice(1)] : c.shape });
        const x = c.offset ? V.slice(full, [[1, c.shape[0]! + 1]]) : full;
        return V[op](x, c.axes);
      });
      const before = gpu.counters().dispatches;
      const y = run('gpu');
      if (i < 4) expect(gpu.counters().dispatches - before).toBe([2, 2, 2, 3][i]); // column stages only, no transposing copy
      const [got, want] = [await y.data(), run('cpu').dataSync()];
      expect(got.length).toBe(want.length);
      got.forEach((v, j) => expect(v).toBeCloseTo(want[j]!, 3));
    }
  }
});

test('four rows per thread (large products): equal to the cpu backend, batched, strided, split-k, any width', async () => {
  const cases: { a: number[]; b: number[]; transposeA?: boolean }[] = [
    { a: [40, 12], b: [12, 9] }, { a: [3, 8, 5], b: [3, 5, 7] }, { a: [16, 6], b: [6, 4] },
    { a: [2000, 8], b: [8, 4], transposeA: true }, { a: [4, 3000], b: [3000, 5] },
  ];
  const saved = gpu.rows4MinMacs;
  gpu.rows4MinMacs = 0;
  try {
    for (const [i, c] of cases.entries()) {
      const rng = new V.Rng(10 + i);
      const av = V.randn(c.transposeA ? [c.a[1]!, c.a[0]!] : c.a, rng).dataSync(), bv = V.randn(c.b, rng).dataSync();
      const product = (on: 'cpu' | 'gpu') => V.withBackend(on, () => {
        const a = c.transposeA ? V.transpose(V.tensor(av, { shape: [c.a[1]!, c.a[0]!] }), 0, 1) : V.tensor(av, { shape: c.a });
        return V.matmul(a, V.tensor(bv, { shape: c.b }));
      });
      const before = gpu.counters().dispatches;
      const y = product('gpu');
      expect(gpu.counters().dispatches - before).toBeGreaterThanOrEqual(2); // the product and its reordering
      const [got, want] = [await y.data(), product('cpu').dataSync()];
      expect(got.length).toBe(want.length);
      got.forEach((v, j) => expect(v).toBeCloseTo(want[j]!, 3));
    }
  } finally { gpu.rows4MinMacs = saved; }
});

test('a transposed weight is copied row-major once and reused by every product with it, freed with it', async () => {
  V.setBackend('gpu');
  try {
    const rng = new V.Rng(4);
    const w = V.randn([8, 5], rng), x = V.randn([40, 5], rng);
    const live = gpu.counters().liveBuffers;
    const dispatches = () => gpu.counters().dispatches;
    const d0 = dispatches();
    const wt = V.transpose(w, 0, 1);
    const y1 = V.matmul(x, wt);
    const d1 = dispatches();
    const y2 = V.matmul(x, wt);
    expect([d1 - d0, dispatches() - d1]).toEqual([2, 1]); // the copy and the product, then the product alone
    const [xv, wv] = [await x.data(), await w.data()] as Float32Array[];
    const ref = await V.withBackend('cpu', () => V.matmul(V.tensor(xv!, { shape: [40, 5] }), V.transpose(V.tensor(wv!, { shape: [8, 5] }), 0, 1)).data());
    for (const y of [y1, y2]) (await y.data()).forEach((v, i) => expect(v).toBeCloseTo(ref[i]!, 4));
    y1.dispose(); y2.dispose(); wt.dispose(); w.dispose();
    expect(gpu.counters().liveBuffers).toBe(live - 1); // w and its copy are gone, x stays
    x.dispose();
  } finally { V.setBackend('cpu'); }
});

describe('buffer pool', () => {
  test('a released buffer is the next one of its size class handed out (the op sequence decides reuse)', () => {
    let created = 0;
    const pool = new BufferPool<{ id: number }>(() => ({ id: created++ }), () => {});
    const a = pool.acquire(1000)!, b = pool.acquire(1000)!;
    pool.release(a);
    pool.release(b);
    expect(pool.acquire(1000)!).toBe(b);
    expect(pool.acquire(1000)!).toBe(a);
    expect(created).toBe(2);
    expect(sizeClass(1000)).toBe(1024);
    expect(sizeClass(5000)).toBeLessThan(5000 * 1.13);
  });

  test('over the free-bytes cap the least recently released buffers are dropped, after the next submission', () => {
    const destroyed: number[] = [];
    let created = 0;
    const pool = new BufferPool<{ id: number }>(() => ({ id: created++ }), (b) => destroyed.push(b.id), 4096);
    const old = pool.acquire(4096)!;
    pool.release(old);
    const fresh = pool.acquire(1024)!;
    pool.release(fresh); // over the cap: the old 4 KiB buffer goes, the one just released stays
    expect(destroyed).toEqual([]);
    pool.destroyDoomed();
    expect(destroyed).toEqual([old.id]);
    expect(pool.acquire(1024)!).toBe(fresh);
  });

  test('a free buffer no acquire wanted for maxAge submissions is destroyed; one a loop keeps reusing stays', () => {
    const destroyed: number[] = [];
    let created = 0;
    const pool = new BufferPool<{ id: number }>(() => ({ id: created++ }), (b) => destroyed.push(b.id), 2 ** 30, 3);
    const old = pool.acquire(4096)!;
    pool.release(old);
    let loop = pool.acquire(256)!;
    for (let submission = 0; submission < 3; submission++) {
      pool.release(loop);
      pool.afterSubmission();
      loop = pool.acquire(256)!;
    }
    expect(destroyed).toEqual([]); // dropped after the third submission, destroyed after the next one
    pool.afterSubmission();
    expect(destroyed).toEqual([old.id]);
    expect(loop.id).toBe(1);
  });

  test('pinned buffers stay out of the pool until their plan is disposed', () => {
    let created = 0;
    const pool = new BufferPool<{ id: number }>(() => ({ id: created++ }), () => {});
    const pins = new Pins<{ id: number }>();
    pool.beginPinning(pins);
    const a = pool.acquire(64)!;
    pool.endPinning();
    pool.release(a);
    expect(pool.acquire(64)!).not.toBe(a);
    pool.unpin(pins);
    expect(pool.acquire(64)!).toBe(a);
  });

  test('a recording reuses the buffers it released; after it ends, they stay with its plan', () => {
    let created = 0;
    const pool = new BufferPool<{ id: number }>(() => ({ id: created++ }), () => {});
    const recording = Recording.begin<unknown, { id: number }>(null, pool);
    const a = pool.acquire(64)!;
    pool.release(a);
    expect(pool.acquire(64)).toBe(a); // every write is a recorded command and replays keep their order: safe reuse
    const d = pool.acquire(64)!;
    pool.release(d);
    Recording.end(recording, pool, () => []);
    const after = pool.acquire(64)!;
    expect([a, d]).not.toContain(after);
    pool.release(after);
    pool.unpin(recording.pins);
    expect([pool.acquire(64)!, pool.acquire(64)!]).toEqual([d, after]);
  });

  test('a buffer made before a recording and released during it is not reused by it: its plan keeps it if it read it', () => {
    let created = 0;
    const pool = new BufferPool<{ id: number }>(() => ({ id: created++ }), () => {});
    const [read, unread] = [pool.acquire(64)!, pool.acquire(64)!];
    const recording = Recording.begin<{ reads: { id: number }[] }, { id: number }>(null, pool);
    recording.commands.push({ reads: [read] });
    pool.release(read);
    pool.release(unread);
    expect([read, unread]).not.toContain(pool.acquire(64)); // a replay still reads `read` as it was before the recording
    Recording.end(recording, pool, (c) => c.reads);
    expect(pool.acquire(64)).toBe(unread);
    expect(pool.acquire(64)).not.toBe(read);
    pool.unpin(recording.pins);
    expect(pool.acquire(64)).toBe(read);
  });
});

describe('arenas', () => {
  const allocator = () => {
    const destroyed: number[] = [];
    let next = 0;
    const arenas = new ArenaAllocator<{ id: number; bytes: number }>((bytes) => ({ id: next++, bytes }), (b) => destroyed.push(b.id), { capacity: 4096, maxCapacity: 8192, window: 1024 });
    return { arenas, destroyed };
  };

  test('slots of any class are carved side by side in a level\'s arena, each with a window that fits; null when it is full', () => {
    const { arenas } = allocator();
    const slots = [256, 512, 1024, 256, 256].map((b) => arenas.carve(b, 0)!);
    expect(slots.map((s) => s.offset)).toEqual([0, 256, 768, 1792, 2048]);
    expect(new Set(slots.map((s) => s.arena)).size).toBe(1);
    expect(slots.every((s) => s.offset % 256 === 0 && s.offset + s.arena.window <= s.arena.bytes && s.bytes <= s.arena.window)).toBe(true);
    expect(arenas.carve(2048, 0)!.arena.level).toBe(OWN_ARENA); // larger than the window: a buffer of its own
    expect(arenas.carve(1024, 0)).not.toBeNull(); // 3328 of 4096
    expect(arenas.carve(1024, 0)).toBeNull();
    expect(arenas.carve(1024, 1)!.arena.bytes).toBe(8192 + 1024); // level 1 holds twice as much
  });

  test('an arena is destroyed once all its slots are freed', () => {
    const { arenas, destroyed } = allocator();
    const a = arenas.carve(1024, 0)!, c = arenas.carve(1024, 0)!;
    arenas.free(a);
    expect(destroyed).toEqual([]);
    arenas.free(c);
    expect(destroyed).toEqual([a.arena.buffer.id]);
    expect(arenas.carve(256, 0)!.arena).not.toBe(a.arena);
  });

  test('an output goes to the lowest level none of its inputs is in, so a repeated op sequence touches the same arenas', () => {
    const { arenas } = allocator();
    type S = Slot<{ id: number; bytes: number }>;
    const pool = new BufferPool<S>((bytes, level) => arenas.carve(bytes, level), (s) => arenas.free(s));
    const levels = () => {
      const x = levelFor(pool, 1000, 1024, []);
      const y = levelFor(pool, 1000, 1024, [{ buffer: x }]);
      const z = levelFor(pool, 1000, 1024, [{ buffer: x }, { buffer: y }]);
      const out = [x, y, z].map((s) => s.arena.level);
      for (const s of [x, y, z]) pool.release(s);
      return out;
    };
    expect(levels()).toEqual([0, 1, 2]);
    expect(levels()).toEqual([0, 1, 2]);
  });
});

describe('navigator.gpu on Node 21+ (getter-only navigator)', () => {
  test('gpu is attached although navigator cannot be assigned', () => {
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    const nodeNavigator = { hardwareConcurrency: 2, userAgent: 'Node.js/22' };
    Object.defineProperty(globalThis, 'navigator', { get: () => nodeNavigator, configurable: true });
    try {
      expect(() => { (globalThis as { navigator?: unknown }).navigator = {}; }).toThrow(/only a getter/);
      const fakeGpu = { requestAdapter: async () => null };
      attachNavigatorGpu(fakeGpu);
      const nav = (globalThis as unknown as { navigator: { gpu: unknown; hardwareConcurrency: number } }).navigator;
      expect(nav.gpu).toBe(fakeGpu);
      expect(nav.hardwareConcurrency).toBe(2);
    } finally {
      if (saved) Object.defineProperty(globalThis, 'navigator', saved);
      else delete (globalThis as { navigator?: unknown }).navigator;
    }
  });
});

describe('recording and submission (gpu.js cpu mode, asynchronous reads)', () => {
  test('a VIAR forward pass is a handful of submissions and no reads', () => {
    const { dispatches, submissions, readbacks } = onGpu(() => V.tidy(() => {
      const { model } = V.loadTransformer('checkpoints/viar-mnist.safetensors', { model: 'viar' });
      model.eval();
      const x = V.randn([2, model.seqLen - model.firstLen, model.config.vaeChannels], new V.Rng(1));
      gpu.flush();
      const before = gpu.counters();
      V.noGrad(() => (model as V.VIAR).forward([3, 7], x, { iterations: 2 }));
      gpu.flush();
      const after = gpu.counters();
      model.dispose?.();
      return { dispatches: after.dispatches - before.dispatches, submissions: after.submissions - before.submissions, readbacks: after.readbacks - before.readbacks };
    }));
    expect(readbacks).toBe(0);
    expect(dispatches).toBeGreaterThan(100);
    expect(submissions).toBe(Math.ceil(dispatches / MAX_BATCH));
    expect(submissions).toBeLessThanOrEqual(8);
  });

  test('1,000 training steps: the same parameters as the cpu backend, no buffer growth, nothing read after release', async () => {
    const train = async (backend: string) => {
      V.setBackend(backend);
      try {
        const rng = new V.Rng(5);
        const net = new V.MLP([4, 16, 3], { rng });
        const opt = new V.AdamW(net.parameters(), { lr: 1e-2 });
        const x = V.keep(V.randn([32, 4], rng));
        const y = V.keep(V.randint(0, 3, [32], rng, { dtype: 'int32' }));
        const created: number[] = [];
        for (let step = 0; step < 1000; step++) {
          V.tidy(() => V.crossEntropy(net.forward(x), y).backward());
          opt.step();
          opt.zeroGrad();
          if (backend === 'gpu' && step % 100 === 99) created.push(gpu.poolStats().created);
          if (backend === 'gpu' && step === 999) console.log(`1,000 training steps: buffers created after each 100 steps: ${created.join(', ')}; pool ${JSON.stringify(gpu.poolStats())}`);
        }
        const params = await Promise.all(net.parameters().map((p) => p.data()));
        x.dispose(); y.dispose(); net.dispose?.();
        return { params, created };
      } finally {
        V.setBackend('cpu');
      }
    };
    const cpu = await train('cpu');
    const g = await train('gpu');
    g.params.forEach((p, i) => {
      const ref = cpu.params[i]!;
      for (let j = 0; j < p.length; j++) expect(Math.abs(p[j]! - ref[j]!)).toBeLessThan(3e-2 * (1 + Math.abs(ref[j]!)));
    });
    // buffers were created in the first step, then only reused (an output's arena level follows from its inputs')
    expect(g.created.at(-1)).toBe(g.created[0]);
  }, 120_000);
});

describe('captureGraph', () => {
  test('replaying a VIAR implicit iteration equals running it, on new inputs, and frees what it pinned', async () => {
    const result = await (async () => {
      V.setBackend('gpu');
      try {
        const { model } = V.loadTransformer('checkpoints/viar-mnist.safetensors', { model: 'viar' });
        const viar = model as V.VIAR;
        model.eval();
        const rng = new V.Rng(2);
        const c = model.config.embedDim;
        const x = V.keep(V.randn([2, 5, c], rng));
        const z0 = V.keep(V.randn([2, 5, c], rng));
        const cond = V.keep(V.randn([2, c], rng));
        const mods = V.keep(V.noGrad(() => viar.implicit_block.modulation(cond)));
        const f = (z: V.Tensor, inj: V.Tensor) => V.tidy(() => V.noGrad(() => viar.implicitStep(z, inj, { mask: null, modulation: mods })));
        const buffersBefore = gpu.memory().numDataBuffers;
        const graph = V.captureGraph(f, [z0, x]);
        expect(graph.steps).toBeGreaterThan(10);
        // eager vs replayed, over three iterations from a different start
        const z1 = V.keep(V.tidy(() => V.mul(z0, 0.5)));
        const eager = [z1], replayed = [z1];
        for (let t = 0; t < 3; t++) { eager.push(V.keep(f(eager.at(-1)!, x))); replayed.push(graph.run(replayed.at(-1)!, x)); }
        const dispatchesBefore = gpu.counters().dispatches;
        graph.run(z1, x).dispose();
        const replayDispatches = gpu.counters().dispatches - dispatchesBefore;
        const [e, r] = await Promise.all([eager.at(-1)!.data(), replayed.at(-1)!.data()]);
        graph.dispose();
        for (const t of new Set([...eager, ...replayed])) t.dispose();
        const buffersAfter = gpu.memory().numDataBuffers;
        for (const t of [x, z0, cond, mods]) t.dispose();
        model.dispose?.();
        return { e, r, replayDispatches, pinned: gpu.poolStats().pinned, buffersBefore, buffersAfter };
      } finally {
        V.setBackend('cpu');
      }
    })();
    expect(result.r.length).toBe(result.e.length);
    for (let i = 0; i < result.e.length; i++) expect(result.r[i]).toBeCloseTo(result.e[i]!, 5);
    expect(result.replayDispatches).toBeLessThanOrEqual(2); // the output copy (and none of the ops)
    expect(result.pinned).toBe(0);
    expect(result.buffersAfter).toBe(result.buffersBefore);
  }, 60_000);

  test('a captured function may not read values; on the cpu backend run() calls fn', async () => {
    await expect(async () => {
      V.setBackend('gpu');
      try {
        const x = V.ones([3]);
        V.captureGraph((t: V.Tensor) => { t.data().catch(() => {}); return t; }, [x]);
      } finally { V.setBackend('cpu'); }
    }).rejects.toThrow(/captured function cannot read values/);
    const g = V.captureGraph((t: V.Tensor) => V.mul(t, 2), [V.ones([2])]);
    expect(g.steps).toBe(0);
    expect(Array.from(g.run(V.tensor([1, 2])).dataSync())).toEqual([2, 4]);
  });
});
