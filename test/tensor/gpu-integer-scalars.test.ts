// Integer scalars of the gpu kernels: compileWgsl declares the scalars a kernel lists in `integers` as i32 (the matmul
// kernels' index arithmetic stays integer in WGSL, no f32 → i32 conversion per load) and writeParams writes them as
// i32; intDivide's quotient and the matmul kernels are exact in gpu.js cpu mode, batched, strided and split.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRequire } from 'node:module';
import * as V from '../../src/index.js';
import { intDivide, kernelFunctionSource, KERNELS } from '../../src/tensor/backend/gpu/kernel-sources.js';
import { KERNEL_SETTINGS, type GpuJsModule } from '../../src/tensor/backend/gpu/kernel-runner.js';
import { compileWgsl, writeParams } from '../../src/tensor/backend/gpu/wgsl-kernels.js';

const gpuJs = createRequire(import.meta.url)('gpu.js') as GpuJsModule;
type CpuKernel = ((...args: unknown[]) => Float32Array) & { setOutput(output: number[]): void };

describe('integer scalars in WGSL', () => {
  test.each(['matmul', 'matmul4'] as const)('%s: i32 parameters, i32 loop counters, no float index arithmetic', (name) => {
    const k = compileWgsl(gpuJs, name, KERNELS[name], KERNEL_SETTINGS);
    expect(k.scalars.map((s) => s.type)).toEqual(KERNELS[name].scalars.map(() => 'i32'));
    for (const s of KERNELS[name].scalars) expect(k.code).toMatch(new RegExp(`user_${s} : i32,`));
    expect(k.code).toMatch(/var user_bi : i32 = 0;/);
    expect(k.code).toMatch(/var user_i : i32 = 0;/);
    // the only f32 arithmetic on indices is the quotient estimate of the two divisions
    const inner = k.code.slice(k.code.indexOf('var user_r : i32'));
    expect(inner).not.toMatch(/f32\(/);
    expect(inner).not.toMatch(/get_user_[ab]\(0, 0, i32\([^)]*\.0/);
  });

  test('other kernels keep f32 scalars', () => {
    const k = compileWgsl(gpuJs, 'binary', KERNELS.binary, KERNEL_SETTINGS);
    expect(new Set(k.scalars.map((s) => s.type))).toEqual(new Set(['f32']));
  });

  test('writeParams writes integer scalars as i32', () => {
    const k = compileWgsl(gpuJs, 'matmul4', KERNELS.matmul4, KERNEL_SETTINGS);
    const view = new DataView(new ArrayBuffer(1024));
    const scalars = KERNELS.matmul4.scalars.map((_, i) => (i === 5 ? -7 : 1000 + i));
    writeParams(view, 256, k, 4096, 64 * 16, [10, 20], scalars);
    k.scalars.forEach((slot, i) => expect(view.getInt32(256 + slot.offset, true)).toBe(scalars[i]));
  });
});

describe('intDivide', () => {
  test('exact quotients, including multiples and large numerators', () => {
    const gpu = new gpuJs.GPU({ mode: 'cpu' });
    const k = gpu.createKernel(kernelFunctionSource('divide', { arrays: ['num'], scalars: ['den'], body: `${intDivide('num[this.thread.x]', 'den', 'q')}\n  return q;` }), {
      ...KERNEL_SETTINGS, argumentTypes: { num: 'Array', den: 'Integer' },
    }) as CpuKernel;
    const nums = new Float32Array([0, 1, 5, 6, 7, 11, 12, 2 ** 24 - 1, 2 ** 24 - 3, 3 * 4097, 3 * 4097 - 1]);
    for (const den of [1, 3, 4097, 2 ** 20]) {
      k.setOutput([nums.length]);
      expect(Array.from(k(nums, den))).toEqual(Array.from(nums, (x) => Math.floor(x / den)));
    }
  });
});

describe('matmul kernels in gpu.js cpu mode', () => {
  beforeAll(async () => { await V.initGpuBackend({ mode: 'cpu', activate: false, log: false }); });
  afterAll(() => { V.setBackend('cpu'); });

  const cases: [string, number[], number[], (a: V.Tensor, b: V.Tensor) => V.Tensor][] = [
    ['matmul4, remainder of k', [6, 7], [7, 8], V.matmul],
    ['matmul (odd width)', [5, 9], [9, 3], V.matmul],
    ['batched matmul4', [3, 4, 6], [3, 6, 12], V.matmul],
    ['strided a (transposed), split k', [300, 8], [300, 4], (a, b) => V.matmul(V.transpose(a, 0, 1), b)],
    ['strided b (transposed, small m)', [2, 16], [12, 16], (a, b) => V.matmul(a, V.transpose(b, 0, 1))],
    ['broadcast b over a batch', [2, 5, 8], [8, 4], V.matmul],
  ];
  test.each(cases)('%s', async (_, sa, sb, f) => {
    const av = V.randn(sa, new V.Rng(1)), bv = V.randn(sb, new V.Rng(2));
    const want = await f(av, bv).data();
    V.setBackend('gpu');
    try {
      const a = V.adoptArray(await av.data() as Float32Array, sa), b = V.adoptArray(await bv.data() as Float32Array, sb);
      const got = await f(a, b).data();
      expect(got.length).toBe(want.length);
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-4 * (1 + Math.abs(want[i]!)));
    } finally {
      V.setBackend('cpu');
    }
  });
});
