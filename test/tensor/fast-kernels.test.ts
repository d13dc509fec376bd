// The fast CPU kernels against the plain-TypeScript reference kernels: the WebAssembly SIMD matmul on odd
// sizes, strided/transposed/broadcast operands and every block boundary; identical results on 1 and 2
// threads; the fused row ops' higher-order gradients; and the buffer pool's allocation discipline.

import { afterAll, describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { CpuBackend } from '../../src/tensor/backend/cpu/cpu-backend.js';
import { buildGemmModule, DEFAULT_TILING } from '../../src/tensor/backend/cpu/wasm/gemm-module.js';
import { expForFloat32 } from '../../src/tensor/backend/cpu/special-functions.js';
import { expectClose } from '../helpers/close.js';

afterAll(() => {
  V.setCpuKernels('fast');
  V.setNumThreads(2);
});

function withKernels<T>(choice: V.CpuKernels, fn: () => T): T {
  const before = V.getCpuKernels();
  V.setCpuKernels(choice);
  try {
    return fn();
  } finally {
    V.setCpuKernels(before);
  }
}

/** Operand layouts: contiguous, a transposed view, a strided slice of a larger buffer. */
type Layout = 'plain' | 'transposed' | 'sliced';
function operand(shape: number[], layout: Layout, rng: V.Rng): Tensor {
  const r = shape.length;
  if (layout === 'transposed') {
    const t = [...shape];
    [t[r - 2], t[r - 1]] = [t[r - 1]!, t[r - 2]!];
    return V.transpose(V.randn(t, rng), -2, -1);
  }
  if (layout === 'sliced') {
    const wide = [...shape];
    wide[r - 1] = 2 * shape[r - 1]! + 3;
    const specs: V.SliceSpec[] = shape.map(() => null);
    specs[r - 1] = [1, 1 + 2 * shape[r - 1]!, 2]; // every other column: column stride 2
    return V.slice(V.randn(wide, rng), specs);
  }
  return V.randn(shape, rng);
}

describe('wasm SIMD matmul vs the reference kernel', () => {
  const t = DEFAULT_TILING;
  // sizes straddling the micro-tile (mr×nr), the packed blocks (mc, kc, nc) and the few-rows case
  const sizes: [number, number, number][] = [
    [1, 1, 1], [1, 7, 5], [2, 3, 4], [t.mr, t.nr, 1], [t.mr + 1, t.nr + 1, 3], [t.mr - 1, t.nr - 1, 9],
    [t.mc + 1, 5, t.kc + 1], [13, t.nc + 5, 7], [31, 29, 2 * t.kc + 3], [64, 64, 64],
    // a last sliver of every row count below mr (each has its own micro-kernel), with whole and partial column tiles
    ...Array.from({ length: t.mr - 1 }, (_, r): [number, number, number] => [2 * t.mr + r + 1, r % 2 ? 2 * t.nr : 2 * t.nr + 3, 5 + r]),
  ];
  test.each(sizes.map(([m, n, k]) => ({ m, n, k })))('$m×$k · $k×$n, every operand layout', ({ m, n, k }) => {
    V.tidy(() => {
      const rng = new V.Rng(m * 1000 + n * 10 + k);
      for (const la of ['plain', 'transposed', 'sliced'] as const) {
        for (const lb of ['plain', 'transposed', 'sliced'] as const) {
          const a = operand([m, k], la, rng), b = operand([k, n], lb, rng);
          const fast = V.matmul(a, b).dataSync();
          const ref = withKernels('reference', () => V.matmul(a, b).dataSync());
          expectClose(fast, ref, { atol: 1e-5 * Math.sqrt(k), rtol: 1e-4 }, `${la}·${lb}`);
        }
      }
    });
  });

  test('strided slices, broadcast batch dims and batch dims that cannot be merged', () => {
    V.tidy(() => {
      const rng = new V.Rng(7);
      const base = V.randn([3, 2, 17, 2 * 23], rng);
      const a = V.slice(base, [null, null, null, [1, 47, 2]]); // [3, 2, 17, 23], column stride 2
      const b = V.randn([2, 23, 11], rng); // broadcast over the leading 3
      const c = V.permute(V.randn([2, 3, 17, 23], rng), [1, 0, 2, 3]); // batch dims in swapped order
      for (const [x, y] of [[a, b], [c, b], [a, V.transpose(V.randn([11, 23], rng))]] as const) {
        const fast = V.matmul(x, y).dataSync();
        const ref = withKernels('reference', () => V.matmul(x, y).dataSync());
        expectClose(fast, ref, { atol: 1e-4, rtol: 1e-4 });
      }
    });
  });

  test('results are bitwise identical on 1 and 2 threads (split over batch, columns and rows)', () => {
    V.tidy(() => {
      const rng = new V.Rng(3);
      const cases: [Tensor, Tensor][] = [
        [V.randn([8, 65, 70], rng), V.randn([8, 70, 33], rng)], // batch split
        [V.randn([150, 300], rng), V.randn([300, 200], rng)], // column split
        [V.randn([300, 257], rng), V.randn([257, 9], rng)], // row split (few columns)
      ];
      for (const [a, b] of cases) {
        V.setNumThreads(1);
        const one = V.matmul(a, b).dataSync();
        const threads = V.setNumThreads(2);
        const two = V.matmul(a, b).dataSync();
        expect(threads).toBe(2); // Node always has worker threads and shared memory
        expect(Buffer.from(two.buffer).equals(Buffer.from(one.buffer))).toBe(true);
      }
    });
  });

  test('gradients of broadcast operands (batch dims summed inside the matmul) match the reference', () => {
    V.tidy(() => {
      const rng = new V.Rng(11);
      // [target of the gradient, the other operand]: summed leading dims, a summed middle dim, two summed dims
      // that cannot be merged (permuted), and a conv-shaped case
      const cases: [Tensor, Tensor][] = [
        [V.randn([5, 7], rng), V.randn([4, 3, 7, 9], rng)],
        [V.randn([2, 1, 5, 7], rng), V.randn([2, 3, 7, 9], rng)],
        [V.randn([5, 7], rng), V.permute(V.randn([3, 4, 7, 9], rng), [1, 0, 2, 3])],
        [V.randn([2, 8, 18], rng), V.randn([16, 2, 18, 64], rng)],
      ];
      for (const [w, x] of cases) {
        const run = () => {
          const wl = V.detach(w).requireGrad(), xl = V.detach(x).requireGrad();
          const y = V.matmul(wl, xl);
          const r = V.randn(y.shape, new V.Rng(1));
          const grads = V.gradients(V.sum(V.mul(y, r)), [wl, xl]);
          return grads.map((g) => g!.dataSync());
        };
        const fast = run();
        V.setNumThreads(1);
        const fastOne = run();
        V.setNumThreads(2);
        const ref = withKernels('reference', run);
        for (let i = 0; i < 2; i++) {
          expectClose(fast[i]!, ref[i]!, { atol: 1e-4, rtol: 1e-4 }, `grad ${i} of ${w.shape} @ ${x.shape}`);
          expect(Buffer.from(fast[i]!.buffer).equals(Buffer.from(fastOne[i]!.buffer))).toBe(true);
        }
      }
    });
  });

  test('conv2d forward and gradients match the reference kernels', () => {
    V.tidy(() => {
      const rng = new V.Rng(12);
      const x = V.randn([3, 5, 9, 11], rng), w = V.randn([7, 5, 3, 3], rng);
      const run = () => {
        const xl = V.detach(x).requireGrad(), wl = V.detach(w).requireGrad();
        const y = V.conv2d(xl, wl, null, { padding: 1, stride: [2, 1] });
        const grads = V.gradients(V.sum(V.mul(y, y)), [xl, wl]);
        return [y.dataSync(), ...grads.map((g) => g!.dataSync())];
      };
      const fast = run(), ref = withKernels('reference', run);
      fast.forEach((v, i) => expectClose(v, ref[i]!, { atol: 1e-3, rtol: 1e-4 }, `conv output ${i}`));
    });
  });

  test('im2col / col2im on the wasm threads: pooling with padding and dilation, and unfold, match the reference', () => {
    V.tidy(() => {
      const rng = new V.Rng(13);
      const x = V.randn([2, 3, 11, 9], rng);
      const run = () => {
        const xl = V.detach(x).requireGrad();
        const pooled = V.maxPool2d(xl, 3, { stride: 2, padding: 1, dilation: 1 });
        const cols = V.unfold(xl, [3, 2], { padding: [1, 0], dilation: [2, 1], stride: [1, 2] });
        const [g] = V.gradients(V.add(V.sum(V.mul(pooled, pooled)), V.sum(V.mul(cols, cols))), [xl]);
        return [pooled.dataSync(), cols.dataSync(), g!.dataSync()];
      };
      const fast = run(), ref = withKernels('reference', run);
      fast.forEach((v, i) => expectClose(v, ref[i]!, { atol: 1e-5, rtol: 1e-5 }, `output ${i}`));
    });
  });

  test('float64 keeps the reference kernel (exact double accumulation)', () => {
    V.tidy(() => {
      const rng = new V.Rng(5);
      const a = V.randn([9, 300], rng, { dtype: 'float64' }), b = V.randn([300, 7], rng, { dtype: 'float64' });
      const fast = V.matmul(a, b).dataSync();
      const ref = withKernels('reference', () => V.matmul(a, b).dataSync());
      expect(Array.from(fast)).toEqual(Array.from(ref));
    });
  });

  test('the emitted module validates, with and without fused multiply-add', () => {
    for (const fma of [false, true]) {
      const bytes = buildGemmModule({ ...t, fma }, { initialPages: 1, maximumPages: 16, shared: false });
      expect(bytes.subarray(0, 4)).toEqual(new Uint8Array([0, 0x61, 0x73, 0x6d]));
      if (!fma) expect(WebAssembly.validate(bytes)).toBe(true);
    }
    // every Node this package supports has WebAssembly SIMD: a module that fails to build must not fall back silently
    expect(V.describeCpuKernels()).toMatch(/wasm-simd128/);
  });

  test('setCpuKernels / setNumThreads reject bad arguments', () => {
    expect(() => V.setCpuKernels('gpu' as never)).toThrow(/^setCpuKernels: expected 'fast' or 'reference'/);
    expect(() => V.setNumThreads(0)).toThrow(/^setNumThreads: expected a positive integer, got 0/);
  });
});

describe('fused row ops', () => {
  test('the float32 exp is within an ulp of float32 over its whole range, with IEEE special values', () => {
    const rng = new V.Rng(4);
    let worst = 0;
    for (let i = 0; i < 20000; i++) {
      const x = (rng.uniform() * 2 - 1) * 100;
      const want = Math.fround(Math.exp(x)), got = Math.fround(expForFloat32(x));
      if (want > 1e-37 && Number.isFinite(want)) worst = Math.max(worst, Math.abs(got - want) / want);
    }
    expect(worst).toBeLessThan(2.4e-7); // 2 ulp of float32 at most
    expect(expForFloat32(0)).toBe(1);
    expect(expForFloat32(-Infinity)).toBe(0);
    expect(expForFloat32(Infinity)).toBe(Infinity);
    expect(expForFloat32(-800)).toBe(0);
    expect(expForFloat32(800)).toBe(Infinity);
    expect(expForFloat32(NaN)).toBeNaN();
  });

  const f64 = (shape: number[], seed: number) => V.randn(shape, new V.Rng(seed), { dtype: 'float64' });

  test('softmax, layerNorm and geluTanh match their composite definitions, forward and backward', () => {
    V.tidy(() => {
      const x = f64([5, 13], 1).requireGrad();
      const composites: [string, (t: Tensor) => Tensor, (t: Tensor) => Tensor][] = [
        ['softmax', (t) => V.softmax(t, -1), (t) => { const e = V.exp(V.sub(t, V.detach(V.max(t, -1, true)))); return V.div(e, V.sum(e, -1, true)); }],
        ['layerNorm', (t) => V.layerNorm(t, [13]), (t) => { const c = V.sub(t, V.mean(t, -1, true)); return V.mul(c, V.rsqrt(V.add(V.mean(V.mul(c, c), -1, true), 1e-5))); }],
        ['geluTanh', (t) => V.geluTanh(t), (t) => V.mul(V.mul(t, 0.5), V.add(V.tanh(V.mul(V.add(t, V.mul(V.pow(t, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1))],
      ];
      const r = f64([5, 13], 2);
      for (const [name, fused, composite] of composites) {
        const [yf, yc] = [fused(x), composite(x)];
        expectClose(yf.dataSync(), yc.dataSync(), { atol: 1e-12, rtol: 1e-10 }, `${name} forward`);
        const [gf] = V.gradients(V.sum(V.mul(yf, r)), [x]);
        const [gc] = V.gradients(V.sum(V.mul(yc, r)), [x]);
        expectClose(gf!.dataSync(), gc!.dataSync(), { atol: 1e-12, rtol: 1e-10 }, `${name} gradient`);
      }
    });
  });

  test.each(['softmax', 'layerNorm', 'geluTanh', 'softmax (axis 0)'])('%s: second derivatives pass gradcheck', (name) => {
    const op = (t: Tensor): Tensor => name === 'softmax' ? V.softmax(t, -1) : name === 'layerNorm' ? V.layerNorm(t, [6])
      : name === 'geluTanh' ? V.geluTanh(t) : V.softmax(t, 0);
    V.tidy(() => {
      const r = f64([3, 6], 9);
      // x ↦ ∇ₓ Σ r ⊙ op(x), built with createGraph so that gradcheck can differentiate it again
      const gradOf = (t: Tensor): Tensor => V.enableGrad(() => {
        const leaf = t.requiresGrad ? t : V.detach(t).requireGrad();
        return V.gradients(V.sum(V.mul(op(leaf), r)), [leaf], undefined, { createGraph: true })[0]!;
      });
      const result = V.gradcheck(gradOf, [f64([3, 6], 4)]);
      expect(result.ok, JSON.stringify(result.mismatches.slice(0, 3))).toBe(true);
    });
  });
});

describe('buffer pool', () => {
  test('a repeated training step reuses buffers: no fresh allocations after warm-up', () => {
    const backend = V.getBackend();
    if (!(backend instanceof CpuBackend)) return;
    const rng = new V.Rng(0);
    const lin = new V.Linear(16, 8, { rng });
    const opt = new V.Adam(lin.parameters(), { lr: 1e-2 });
    const x = V.randn([32, 16], rng);
    const step = () => V.tidy(() => {
      opt.zeroGrad();
      V.mean(V.square(V.gelu(lin.forward(x)))).backward();
      opt.step();
    });
    for (let i = 0; i < 3; i++) step();
    const before = backend.poolStats();
    for (let i = 0; i < 5; i++) step();
    const after = backend.poolStats();
    expect(after.hits - before.hits).toBeGreaterThan(0);
    expect(after.misses - before.misses).toBe(0);
  });

  test('float32 buffers live in the WebAssembly heap; the arena resets once none is alive', () => {
    const backend = V.getBackend();
    if (!(backend instanceof CpuBackend)) return;
    const rng = new V.Rng(2);
    const a = V.randn([40, 30], rng), b = V.randn([30, 20], rng);
    const expected = withKernels('reference', () => V.matmul(a, b).dataSync());
    const c = V.matmul(V.mul(a, 1), V.mul(b, 1)); // both operands are kernel outputs, so heap-resident
    expect(backend.poolStats().heapArenaBytes).toBeGreaterThan(0);
    expectClose(c.dataSync(), expected, { atol: 1e-4, rtol: 1e-4 });
    c.dispose();
    backend.releasePooledBuffers();
    const again = V.tidy(() => V.matmul(V.mul(a, 1), V.mul(b, 1)).dataSync());
    expectClose(again, expected, { atol: 1e-4, rtol: 1e-4 });
    a.dispose(); b.dispose();
  });

  test('a user-supplied array is never recycled into another tensor', () => {
    const mine = new Float32Array([1, 2, 3, 4]);
    const t = V.tensor(mine);
    const y = V.mul(t, 2);
    t.dispose();
    y.dispose();
    V.tidy(() => { for (let i = 0; i < 4; i++) V.add(V.ones([4]), i); });
    expect(Array.from(mine)).toEqual([1, 2, 3, 4]);
  });
});
