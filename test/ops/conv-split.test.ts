// conv2d and pooling on a backend with a per-tensor element limit (maxElements, as the gpu backend's 2^24 − 1): the
// work is split over the batch and then over bands of output rows, and the outputs and all gradients equal the unsplit
// op's while no kernel output, forward or backward, exceeds the limit. A cpu backend with a small limit stands in here.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import { CpuBackend } from '../../src/tensor/backend/cpu/cpu-backend.js';
import type { Backend, DataId } from '../../src/tensor/backend/backend.js';

/** A cpu backend whose maxElements is `limit`, recording the largest buffer any kernel returned since `reset()`. */
const limited = { limit: undefined as number | undefined, peak: 0 };
const isDataId = (v: unknown): v is DataId => typeof v === 'object' && v !== null && typeof (v as DataId).backend === 'string';

function limitedCpu(): Backend {
  const target = new CpuBackend();
  return new Proxy(target, {
    get(t, prop) {
      if (prop === 'maxElements') return limited.limit;
      const value = Reflect.get(t, prop, t) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const out = (value as (...a: unknown[]) => unknown).apply(t, args);
        for (const id of Array.isArray(out) ? out : [out]) {
          if (isDataId(id) && prop !== 'write') limited.peak = Math.max(limited.peak, t.readSync(id).length);
        }
        return out;
      };
    },
  });
}

beforeAll(() => V.registerBackend('limited-cpu', limitedCpu));
afterAll(() => V.setBackend('cpu'));

type Conv = { n: number; c: number; o: number; h: number; w: number; kh: number; kw: number; stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number };

interface Run { y: number[]; grads: number[][]; peak: number }

/** conv2d forward and the gradients of Σ y·r with respect to x, weight and bias, with `limit` as maxElements. */
function runConv(s: Conv, limit: number | undefined, seed: number): Run {
  return V.withBackend('limited-cpu', () => V.tidy(() => {
    const rng = new V.Rng(seed);
    const opts = { dtype: 'float64' as const };
    const x = V.randn([s.n, s.c, s.h, s.w], rng, opts);
    const w = V.randn([s.o, s.c / s.groups, s.kh, s.kw], rng, opts);
    const b = V.randn([s.o], rng, opts);
    const conv = (xx: V.Tensor, ww: V.Tensor, bb: V.Tensor) => V.conv2d(xx, ww, bb, { stride: s.stride, padding: s.padding, dilation: s.dilation, groups: s.groups });
    const r = V.randn(V.noGrad(() => conv(x, w, b)).shape, rng, opts);
    limited.limit = limit;
    limited.peak = 0;
    try {
      const y = V.noGrad(() => conv(x, w, b));
      const grads = V.grad((xx, ww, bb) => V.sum(V.mul(conv(xx, ww, bb), r)))(x, w, b);
      return { y: Array.from(y.dataSync()), grads: grads.map((g) => Array.from(g.dataSync())), peak: limited.peak };
    } finally {
      limited.limit = undefined;
    }
  }));
}

function expectClose(actual: number[], expected: number[], what: string): void {
  expect(actual.length, what).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / (1 + Math.abs(expected[i]!)));
  expect(worst, what).toBeLessThan(1e-12);
}

const outSize = (h: number, k: number, s: number, p: number, d: number) => Math.floor((h + 2 * p - d * (k - 1) - 1) / s) + 1;

/** The smallest limit under which the split conv still runs: inputs, output, weights, one output row's columns. */
function smallestLimit(s: Conv): number {
  const oh = outSize(s.h, s.kh, s.stride[0], s.padding[0], s.dilation[0]), ow = outSize(s.w, s.kw, s.stride[1], s.padding[1], s.dilation[1]);
  return Math.max(s.n * s.c * s.h * s.w, s.n * s.o * oh * ow, s.o * (s.c / s.groups) * s.kh * s.kw,
    Math.max(s.c * s.kh * s.kw, s.o) * ow, s.c * s.w * (s.dilation[0] * (s.kh - 1) + 1));
}

function expectSplitMatches(s: Conv, limit: number, seed = 1): { whole: Run; split: Run } {
  const whole = runConv(s, undefined, seed);
  const split = runConv(s, limit, seed);
  expect(split.peak).toBeLessThanOrEqual(limit);
  expectClose(split.y, whole.y, 'output');
  ['x', 'weight', 'bias'].forEach((name, i) => expectClose(split.grads[i]!, whole.grads[i]!, `${name} gradient`));
  return { whole, split };
}

const base: Conv = { n: 3, c: 4, o: 6, h: 11, w: 7, kh: 3, kw: 3, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };

describe('conv2d under a backend element limit', () => {
  test('batch chunks: the limit holds 2 of the 3 images', () => {
    const perImage = 4 * 9 * 11 * 7;
    const { whole, split } = expectSplitMatches(base, 2 * perImage);
    expect(whole.peak).toBe(3 * perImage); // unsplit, the columns of all 3 images at once
    expect(split.peak).toBe(2 * perImage);
  });

  test('row bands (the last one shorter) with padding, stride and dilation', () => {
    for (const extra of [{}, { stride: [2, 1] }, { dilation: [2, 1], padding: [2, 1] }, { stride: [3, 2], padding: [2, 0], dilation: [1, 2] }] as Partial<Conv>[]) {
      const s = { ...base, n: 1, h: 31, w: 9, ...extra };
      const oh = outSize(s.h, s.kh, s.stride[0], s.padding[0], s.dilation[0]), ow = outSize(s.w, s.kw, s.stride[1], s.padding[1], s.dilation[1]);
      const limit = smallestLimit(s);
      expect(limit).toBeLessThan(36 * ow * oh); // less than the image's columns
      expect(oh % Math.floor(limit / (36 * ow))).not.toBe(0);
      expectSplitMatches(s, limit);
    }
  });

  test('grouped and depthwise convolutions, one output row per band', () => {
    expectSplitMatches({ ...base, c: 4, o: 6, groups: 2 }, smallestLimit({ ...base, groups: 2 }));
    expectSplitMatches({ ...base, c: 4, o: 4, groups: 4, kh: 5, padding: [2, 0] }, smallestLimit({ ...base, c: 4, o: 4, groups: 4, kh: 5, padding: [2, 0] }));
  });

  test('padding wider than the window: bands that read padding only', () => {
    const s: Conv = { ...base, n: 1, h: 2, w: 3, kh: 1, kw: 1, padding: [3, 1] };
    expectSplitMatches(s, smallestLimit(s));
  });

  test('property: any geometry and any limit the split can meet gives the unsplit values', () => {
    const geometry = fc.record({
      n: fc.integer({ min: 1, max: 3 }), groups: fc.integer({ min: 1, max: 3 }), cg: fc.integer({ min: 1, max: 3 }), og: fc.integer({ min: 1, max: 3 }),
      h: fc.integer({ min: 1, max: 12 }), w: fc.integer({ min: 1, max: 8 }), kh: fc.integer({ min: 1, max: 4 }), kw: fc.integer({ min: 1, max: 3 }),
      stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 })), padding: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 2 })),
      dilation: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 })), fraction: fc.double({ min: 0, max: 1, noNaN: true }), seed: fc.nat(),
    }).filter((g) => outSize(g.h, g.kh, g.stride[0], g.padding[0], g.dilation[0]) >= 1 && outSize(g.w, g.kw, g.stride[1], g.padding[1], g.dilation[1]) >= 1);
    let split = 0;
    fc.assert(fc.property(geometry, (g) => {
      const s: Conv = { ...g, c: g.cg * g.groups, o: g.og * g.groups };
      const whole = runConv(s, undefined, g.seed);
      const lowest = smallestLimit(s);
      const limit = Math.max(lowest, Math.floor(lowest + g.fraction * (whole.peak - lowest)));
      if (limit < whole.peak) split++;
      expectSplitMatches(s, limit, g.seed);
    }), { numRuns: 60 });
    expect(split).toBeGreaterThan(20); // most geometries do split
  });

  test('an output larger than the limit is a one-line error naming conv2d and the sizes', () => {
    expect(() => runConv(base, 3 * 6 * 11 * 7 - 1, 1)).toThrow(/^conv2d: the output \[3, 6, 11, 7\] of input \[3, 4, 11, 7\] has 1386 elements, more than the cpu backend's limit of 1385 per tensor$/);
  });

  test('a single output row too wide for the limit says so', () => {
    const s: Conv = { ...base, n: 1, c: 40, o: 1, h: 3, w: 3 };
    expect(() => runConv(s, 40 * 9, 1)).toThrow(/^conv2d: one output row of 3 windows of 40×3×3 .* does not fit the cpu backend's limit of 360 elements per tensor$/);
  });
});

describe('pooling under a backend element limit', () => {
  function runPool(f: (x: V.Tensor) => V.Tensor, shape: number[], limit: number | undefined): Run {
    return V.withBackend('limited-cpu', () => V.tidy(() => {
      const rng = new V.Rng(3);
      const x = V.randn(shape, rng, { dtype: 'float64' });
      const r = V.randn(V.noGrad(() => f(x)).shape, rng, { dtype: 'float64' });
      limited.limit = limit;
      limited.peak = 0;
      try {
        const y = V.noGrad(() => f(x));
        const [gx] = V.grad((xx) => V.sum(V.mul(f(xx), r)))(x);
        return { y: Array.from(y.dataSync()), grads: [Array.from(gx!.dataSync())], peak: limited.peak };
      } finally {
        limited.limit = undefined;
      }
    }));
  }

  const shape = [2, 3, 13, 9];
  const cases: [string, (x: V.Tensor) => V.Tensor][] = [
    ['maxPool2d 3×3 stride 2 padding 1', (x) => V.maxPool2d(x, 3, { stride: 2, padding: 1 })],
    ['maxPool2d 2×3 stride 1 dilation 2', (x) => V.maxPool2d(x, [2, 3], { stride: 1, dilation: 2 })],
    ['avgPool2d 3×3 stride 1 padding 1', (x) => V.avgPool2d(x, 3, { stride: 1, padding: 1 })],
    ['avgPool2d 3×3 stride 2 padding 1 without the padding in the count', (x) => V.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false })],
  ];
  for (const [name, f] of cases) {
    test(name, () => {
      const whole = runPool(f, shape, undefined);
      const limit = 2 * 3 * 13 * 9; // the input: the windows of 6 channel images do not fit, their rows must be banded
      expect(whole.peak).toBeGreaterThan(limit);
      const split = runPool(f, shape, limit);
      expect(split.peak).toBeLessThanOrEqual(limit);
      expectClose(split.y, whole.y, 'output');
      expectClose(split.grads[0]!, whole.grads[0]!, 'x gradient');
    });
  }
});
