// Capabilities in the Backend contract instead of backend names: pool statistics, whether reads are free, and
// synchronous reads of prefetched strided views on the gpu backend with asynchronous reads (gpu.js cpu mode).

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import { useAsyncGpuBackend } from '../helpers/async-gpu.js';

useAsyncGpuBackend();

describe('backend capabilities', () => {
  test('readsAreFree: true on the cpu backend, false where reads copy from a device', () => {
    expect(V.readsAreFree(V.getBackendByName('cpu'))).toBe(true);
    expect(V.readsAreFree(V.getBackendByName('gpu'))).toBe(false);
  });

  test('poolStats through the contract: the cpu backend tracks peak bytes, the gpu backend its buffers in use', () => {
    const cpu = V.getBackendByName('cpu'), gpu = V.getBackendByName('gpu');
    cpu.resetPeak?.();
    expect(typeof cpu.poolStats?.().peakLiveBytes).toBe('number');
    expect(typeof gpu.poolStats?.().inUse).toBe('number');
  });

  test('a prefetched strided view reads synchronously on an asynchronous backend', async () => {
    const values = Array.from({ length: 24 }, (_, i) => i * 1.5 - 7);
    const views = (x: V.Tensor) => [V.transpose(x, 0, 2), V.slice(x, [[1, 2], [0, 3], [1, 3]])];
    const want = V.tidy(() => views(V.tensor(values, { shape: [2, 3, 4] }).reshape([2, 3, 4])).map((t) => Array.from(t.dataSync())));
    V.setBackend('gpu');
    try {
      for (let k = 0; k < want.length; k++) {
        const x = V.mul(V.tensor(values), 1).reshape([2, 3, 4]); // computed on the device: no host copy yet
        const t = views(x)[k]!;
        expect(t.isContiguous).toBe(false);
        expect(() => t.dataSync()).toThrow(/asynchronous/);
        await t.prefetch();
        expect(Array.from(t.dataSync())).toEqual(want[k]);
        x.dispose();
        t.dispose();
      }
    } finally {
      V.setBackend('cpu');
    }
  });
});
