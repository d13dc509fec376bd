// conv2d on the gpu backend (gpu.js CPU mode here) past its 2^24 − 1 element limit: a 5×5 convolution of a
// 256×256 image whose unfolded input (12·25 × 65536 ≈ 19.7 M) would not fit runs in row bands and matches the cpu
// backend, forward and all gradients.

import { afterAll, beforeAll, expect, test } from 'vitest';
import * as V from '../../src/index.js';

let gpu: V.GpuBackend;

beforeAll(async () => {
  await V.initGpuBackend({ mode: 'cpu', activate: false, log: false });
  gpu = V.getBackendByName('gpu') as V.GpuBackend;
});
afterAll(() => { V.setBackend('cpu'); });

/** Output and the gradients of Σ y·r (x, weight, bias) on one backend, from the same seeded values. */
function convAndGradients(backend: string): number[][] {
  return V.withBackend(backend, () => V.tidy(() => {
    const rng = new V.Rng(5);
    const x = V.randn([1, 12, 256, 256], rng), w = V.randn([4, 12, 5, 5], rng, { std: 0.1 }), b = V.randn([4], rng);
    const r = V.randn([1, 4, 256, 256], rng);
    const conv = (xx: V.Tensor, ww: V.Tensor, bb: V.Tensor) => V.conv2d(xx, ww, bb, { padding: 2 });
    const y = V.noGrad(() => conv(x, w, b));
    const grads = V.grad((xx, ww, bb) => V.sum(V.mul(conv(xx, ww, bb), r)))(x, w, b);
    return [y, ...grads].map((t) => Array.from(t.dataSync()));
  }));
}

test('a conv whose columns exceed the gpu limit runs there in bands and equals the cpu backend', () => {
  expect(12 * 25 * 256 * 256).toBeGreaterThan(gpu.maxElements);
  // the columns themselves do not fit there
  expect(() => V.withBackend('gpu', () => V.tidy(() => V.unfold(V.zeros([1, 12, 256, 256]), 5, { padding: 2 })))).toThrow(/^unfold: the output \[1, 300, 65536\] of input \[1, 12, 256, 256\] has 19660800 elements, more than the gpu backend's limit of 16777215 per tensor$/);
  const cpu = convAndGradients('cpu');
  const onGpu = convAndGradients('gpu');
  ['output', 'x gradient', 'weight gradient', 'bias gradient'].forEach((what, i) => {
    const [a, e] = [onGpu[i]!, cpu[i]!];
    expect(a.length, what).toBe(e.length);
    const scale = e.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    let worst = 0;
    for (let k = 0; k < e.length; k++) worst = Math.max(worst, Math.abs(a[k]! - e[k]!));
    expect(worst / scale, what).toBeLessThan(1e-5);
  });
}, 300_000);
