// Winograd convolution on the CPU: the WebAssembly tile kernels and the fused image-by-image kernels against the
// TypeScript reference kernels (tile rows that do and do not fill groups of four, every padding offset, odd sizes,
// batches that do not split evenly), 1 vs 2 threads bitwise, and conv2d's dispatch: float32 3×3 convolutions with
// enough channels take Winograd and agree with im2col, forward and backward.

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import type { TileGeometry, WinogradGeometry } from '../../src/tensor/backend/backend.js';
import { WINOGRAD_INPUT, WINOGRAD_OUTPUT } from '../../src/tensor/backend/winograd-transforms.js';
import { fromDataId } from '../../src/tensor/tensor.js';
import { tilesIntoKernel, tilesOfKernel, winogradConvBackwardKernel, winogradConvKernel } from '../../src/tensor/backend/cpu/conv-kernels.js';
import { wasmGemmRuntime } from '../../src/tensor/backend/cpu/wasm/wasm-gemm.js';
import { tilesWasm } from '../../src/tensor/backend/cpu/wasm/wasm-tiles.js';
import { winogradBackwardWasm, winogradForwardWasm } from '../../src/tensor/backend/cpu/wasm/wasm-winograd.js';
import { expectClose, expectSame } from '../helpers/close.js';
import { withCpuSettings } from '../helpers/cpu-settings.js';

/** Runs the backend's tilesOf or tilesInto on x and returns the values. */
function runTiles(direction: 'tilesOf' | 'tilesInto', x: Tensor, g: TileGeometry, transform: readonly (readonly number[])[]): Float32Array {
  const be = x.backend;
  const id = direction === 'tilesOf' ? be.tilesOf!(x.info(), g, transform) : be.tilesInto!(x.info(), g, transform);
  const q = transform.length, shape = direction === 'tilesOf' ? [q * q, g.c, g.n * g.tilesH * g.tilesW] : [g.n, g.c, g.h, g.w];
  return V.tidy(() => fromDataId(be, id, shape, 'float32').dataSync() as Float32Array);
}

// [n, c, h, w, tilesH, tilesW, offsetH, offsetW]: the input transform (4×4 patches) of convolutions with padding
// 0, 1, 2, and the output transform (2×2 patches) of outputs whose last tile row/column is cropped
// (the 600×600 planes do not fit a thread's scratch whole: the kernels run them in bands of tile rows)
const INPUT_CASES = [[2, 3, 16, 16, 8, 8, -1, -1], [1, 2, 5, 7, 3, 4, -1, -1], [3, 1, 9, 10, 4, 4, 0, 0], [1, 2, 4, 11, 3, 7, -2, -2], [1, 1, 2, 3, 1, 1, -1, -1], [2, 2, 7, 19, 3, 9, -1, -1],
  [1, 2, 600, 601, 300, 300, -1, -1]] as const;
const OUTPUT_CASES = [[2, 3, 16, 16, 8, 8, 0, 0], [1, 2, 5, 7, 3, 4, 0, 0], [2, 2, 9, 17, 5, 9, 0, 0], [1, 1, 1, 1, 1, 1, 0, 0], [1, 2, 600, 599, 300, 300, 0, 0]] as const;
const cases = [
  ...INPUT_CASES.map((c) => ({ c, size: 4, transform: WINOGRAD_INPUT, kind: 'input' })),
  ...OUTPUT_CASES.map((c) => ({ c, size: 2, transform: WINOGRAD_OUTPUT, kind: 'output' })),
].map(({ c: [n, c, h, w, tilesH, tilesW, offsetH, offsetW], size, transform, kind }) => ({
  label: `${kind} transform, image [${n}, ${c}, ${h}, ${w}], ${tilesH}×${tilesW} tiles from (${offsetH}, ${offsetW})`,
  g: { n, c, h, w, size, step: 2, tilesH, tilesW, offsetH, offsetW } as TileGeometry,
  transform,
}));

describe('WebAssembly tile kernels vs the TypeScript reference', () => {
  test.each(cases)('$label', ({ g, transform }) => {
    V.tidy(() => {
      const rng = new V.Rng(g.h * 100 + g.w);
      const image = V.randn([g.n, g.c, g.h, g.w], rng);
      const tiles = V.randn([transform.length ** 2, g.c, g.n * g.tilesH * g.tilesW], rng);
      for (const direction of ['tilesOf', 'tilesInto'] as const) {
        const input = direction === 'tilesOf' ? image : tiles;
        const reference = withCpuSettings('reference', 1, () => runTiles(direction, input, g, transform));
        const fast1 = withCpuSettings('fast', 1, () => runTiles(direction, input, g, transform));
        const fast2 = withCpuSettings('fast', 2, () => runTiles(direction, input, g, transform));
        expectClose(fast1, Array.from(reference), { rtol: 1e-5, atol: 1e-5 }, `${direction} fast vs reference`);
        expectSame(fast2, fast1, `${direction}: 2 threads bitwise as 1`);
      }
    });
  });

  test('arrays outside the WebAssembly heap (a browser page without cross-origin isolation) are staged in and out', () => {
    const rt = wasmGemmRuntime();
    if (!rt) return;
    const g: TileGeometry = { n: 2, c: 3, h: 9, w: 10, size: 4, step: 2, tilesH: 5, tilesW: 5, offsetH: -1, offsetW: -1 };
    const rng = new V.Rng(8);
    const image = Float32Array.from(V.randn([2, 3, 9, 10], rng).dataSync()), tiles = Float32Array.from(V.randn([16, 3, 50], rng).dataSync());
    const want = [new Float32Array(tiles.length), new Float32Array(image.length)];
    tilesOfKernel(image, g, WINOGRAD_INPUT, want[0]!);
    tilesIntoKernel(tiles, g, WINOGRAD_INPUT, want[1]!);
    const got = [new Float32Array(tiles.length).fill(NaN), new Float32Array(image.length).fill(NaN)];
    expect(rt.addressOf(got[0]!)).toBe(-1);
    expect(tilesWasm(rt, 'tilesOf', image, g, WINOGRAD_INPUT, got[0]!)).toBe(true);
    expect(tilesWasm(rt, 'tilesInto', tiles, g, WINOGRAD_INPUT, got[1]!)).toBe(true);
    expectClose(got[0]!, Array.from(want[0]!), { rtol: 1e-5, atol: 1e-5 }, 'tilesOf');
    expectClose(got[1]!, Array.from(want[1]!), { rtol: 1e-5, atol: 1e-5 }, 'tilesInto');
  });

  test('a transform the module has no kernel for runs in TypeScript, with the same results', () => {
    V.tidy(() => {
      const g: TileGeometry = { n: 1, c: 2, h: 6, w: 6, size: 3, step: 2, tilesH: 2, tilesW: 2, offsetH: 0, offsetW: 0 };
      const L = [[1, 2, 0], [0, -1, 3]];
      const x = V.randn([1, 2, 6, 6], new V.Rng(5));
      expectSame(withCpuSettings('fast', 2, () => runTiles('tilesOf', x, g, L)), withCpuSettings('reference', 1, () => runTiles('tilesOf', x, g, L)));
    });
  });
});

/** conv2d through im2col (unfold + matmul), the path Winograd replaces. */
const im2colConv = (x: Tensor, w: Tensor, p: number): Tensor => {
  const [n, , h, wd] = x.shape as [number, number, number, number], o = w.shape[0]!;
  return V.reshape(V.matmul(V.reshape(w, [o, -1]), V.unfold(x, 3, { padding: p })), [n, o, h + 2 * p - 2, wd + 2 * p - 2]);
};

describe('conv2d takes Winograd for float32 3×3 convolutions with enough channels', () => {
  const shapes = [
    { x: [2, 16, 9, 10], o: 16, p: 1 }, { x: [1, 24, 12, 12], o: 20, p: 0 }, { x: [3, 16, 11, 13], o: 32, p: 2 },
  ];
  test.each(shapes.map((s) => ({ ...s, label: `x [${s.x.join(', ')}], ${s.o} filters, pad ${s.p}` })))('$label', ({ x: shape, o, p }) => {
    for (const kernels of ['fast', 'reference'] as const) {
      withCpuSettings(kernels, 2, () => V.tidy(() => {
        const rng = new V.Rng(shape[2]!);
        const x = V.randn(shape, rng).requireGrad(), w = V.mul(V.randn([o, shape[1]!, 3, 3], rng), 0.2).requireGrad();
        const y = V.conv2d(x, w, null, { padding: p });
        expectSame(y.dataSync(), V.winogradConv2d(x, w, [p, p]).dataSync(), 'conv2d is winogradConv2d');
        const gy = V.randn(y.shape, rng);
        const [dx, dw] = V.gradients(V.sum(V.mul(y, gy)), [x, w]) as [Tensor, Tensor];
        const ref = im2colConv(x, w, p);
        const [rdx, rdw] = V.gradients(V.sum(V.mul(ref, gy)), [x, w]) as [Tensor, Tensor];
        const tol = { rtol: 1e-4, atol: 1e-4 };
        expectClose(y.dataSync(), Array.from(ref.dataSync()), tol, `${kernels}: y`);
        expectClose(dx.dataSync(), Array.from(rdx.dataSync()), tol, `${kernels}: dx`);
        expectClose(dw.dataSync(), Array.from(rdw.dataSync()), tol, `${kernels}: dw`);
      }));
    }
  });

  test('float64, few channels, strides and groups keep im2col', () => {
    V.tidy(() => {
      const rng = new V.Rng(9);
      const x = V.randn([1, 16, 8, 8], rng), w = V.randn([16, 16, 3, 3], rng);
      const x64 = V.cast(x, 'float64'), w64 = V.cast(w, 'float64');
      expectSame(V.conv2d(x64, w64, null, { padding: 1 }).dataSync(), im2colConv(x64, w64, 1).dataSync());
      const few = V.randn([1, 4, 8, 8], rng), wf = V.randn([8, 4, 3, 3], rng);
      expectSame(V.conv2d(few, wf, null, { padding: 1 }).dataSync(), im2colConv(few, wf, 1).dataSync());
    });
  });
});

/** The geometry of a padded 3×3 convolution of x [n, c, h, w] into o channels. */
function geometry([n, c, h, w]: readonly number[], o: number, pad: number): WinogradGeometry {
  const outH = h! + 2 * pad - 2, outW = w! + 2 * pad - 2;
  return { n: n!, c: c!, o, h: h!, w: w!, outH, outW, padH: pad, padW: pad, tilesH: Math.ceil(outH / 2), tilesW: Math.ceil(outW / 2) };
}

/** The backend's fused forward and backward on x, w, gy: [y, dx, dw] as arrays. */
function runFused(x: Tensor, w: Tensor, gy: Tensor, g: WinogradGeometry): Float32Array[] {
  const be = x.backend;
  return V.tidy(() => {
    const y = be.winogradConv!(x.info(), w.info(), g), [dx, dw] = be.winogradConvBackward!(x.info(), w.info(), gy.info(), g);
    return [[y, gy.shape], [dx, x.shape], [dw, w.shape]].map(([id, shape]) => fromDataId(be, id as never, shape as number[], 'float32').dataSync() as Float32Array);
  });
}

describe('fused Winograd kernels (image by image) vs the TypeScript reference', () => {
  // 9 images: the backward's 8 image groups are uneven; cropped last tiles (odd outputs); paddings 0, 1, 2
  const cases = [{ x: [9, 16, 9, 10], o: 20, p: 1 }, { x: [1, 17, 5, 7], o: 16, p: 0 }, { x: [3, 16, 11, 13], o: 24, p: 2 }, { x: [16, 32, 16, 16], o: 64, p: 1 }];
  test.each(cases.map((c) => ({ ...c, label: `x [${c.x.join(', ')}], ${c.o} filters, pad ${c.p}` })))('$label', ({ x: shape, o, p }) => {
    V.tidy(() => {
      const g = geometry(shape, o, p), rng = new V.Rng(shape[0]! * 31 + o);
      const x = V.randn(shape, rng), w = V.randn([o, shape[1]!, 3, 3], rng), gy = V.randn([g.n, o, g.outH, g.outW], rng);
      const reference = withCpuSettings('reference', 1, () => runFused(x, w, gy, g));
      const fast1 = withCpuSettings('fast', 1, () => runFused(x, w, gy, g)), fast2 = withCpuSettings('fast', 2, () => runFused(x, w, gy, g));
      ['y', 'dx', 'dw'].forEach((name, j) => {
        expectClose(fast1[j]!, Array.from(reference[j]!), { rtol: 1e-4, atol: 1e-4 }, `${name} fast vs reference`);
        expectSame(fast2[j]!, fast1[j]!, `${name}: 2 threads bitwise as 1`);
      });
    });
  });

  test('arrays outside the WebAssembly heap are staged in and out', () => {
    const rt = wasmGemmRuntime()!;
    const g = geometry([3, 16, 7, 9], 16, 1), rng = new V.Rng(12);
    const [x, u, gy] = [[3, 16, 7, 9], [16, 16, 16], [3, 16, 7, 9]].map((s) => Float32Array.from(V.randn(s, rng).dataSync()));
    const want = [new Float32Array(gy!.length), new Float32Array(x!.length), new Float32Array(u!.length)];
    winogradConvKernel(x!, u!, g, want[0]!);
    winogradConvBackwardKernel(x!, u!, gy!, g, want[1]!, want[2]!);
    const got = want.map((a) => new Float32Array(a.length).fill(NaN));
    expect(rt.addressOf(got[0]!)).toBe(-1);
    expect(winogradForwardWasm(rt, x!, u!, g, got[0]!)).toBe(true);
    expect(winogradBackwardWasm(rt, x!, u!, gy!, g, got[1]!, got[2]!)).toBe(true);
    ['y', 'dx', 'du'].forEach((name, j) => expectClose(got[j]!, Array.from(want[j]!), { rtol: 1e-4, atol: 1e-4 }, name));
  });

  test('an image too large for a task\'s workspace takes the whole-batch path, with the same results', () => {
    const rt = wasmGemmRuntime()!;
    V.tidy(() => {
      const rng = new V.Rng(13);
      const x = V.randn([1, 16, 100, 100], rng), w = V.mul(V.randn([16, 16, 3, 3], rng), 0.2);
      const g = geometry(x.shape, 16, 1);
      expect(winogradForwardWasm(rt, new Float32Array(x.size), new Float32Array(16 * 16 * 16), g, new Float32Array(x.size))).toBe(false);
      expectClose(V.conv2d(x, w, null, { padding: 1 }).dataSync(), Array.from(im2colConv(x, w, 1).dataSync()), { rtol: 1e-4, atol: 1e-4 }, 'y');
    });
  });

  test('second-order gradients go through the primitives (float64 gradcheck of a gradient built with createGraph)', () => {
    V.tidy(() => {
      const rng = new V.Rng(14);
      const x = V.cast(V.randn([1, 2, 4, 5], rng), 'float64'), w = V.cast(V.randn([2, 2, 3, 3], rng), 'float64');
      const r = V.cast(V.randn([1, 2, 4, 5], rng), 'float64');
      // (x, w) ↦ ∇_x and ∇_w of Σ r ⊙ winogradConv2d(x, w)
      for (const wrt of [0, 1]) {
        const gradOf = (xx: Tensor, ww: Tensor): Tensor => V.enableGrad(() => {
          const leaves = [xx, ww].map((t) => (t.requiresGrad ? t : V.detach(t).requireGrad())) as [Tensor, Tensor];
          return V.gradients(V.sum(V.mul(V.winogradConv2d(leaves[0], leaves[1], [1, 1]), r)), [leaves[wrt]!], undefined, { createGraph: true })[0]!;
        });
        const result = V.gradcheck(gradOf, [x, w]);
        expect(result.ok, `∇${wrt ? 'w' : 'x'}: ${JSON.stringify(result.mismatches.slice(0, 3))}`).toBe(true);
        // the composite VJP's values are the fused kernel's
        const plain = [V.detach(x).requireGrad(), V.detach(w).requireGrad()] as const;
        const fused = V.gradients(V.sum(V.mul(V.winogradConv2d(plain[0], plain[1], [1, 1]), r)), [...plain]);
        const leaves = [V.detach(x).requireGrad(), V.detach(w).requireGrad()] as const;
        const composite = V.gradients(V.sum(V.mul(V.winogradConv2d(leaves[0], leaves[1], [1, 1]), r)), [...leaves], undefined, { createGraph: true });
        expectClose(composite[wrt]!.dataSync(), Array.from(fused[wrt]!.dataSync()), { rtol: 1e-9, atol: 1e-12 }, `∇${wrt ? 'w' : 'x'} with createGraph`);
      }
    });
  });
});
