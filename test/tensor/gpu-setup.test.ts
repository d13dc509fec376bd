// Starting the gpu backend: the errors and fallbacks a user meets (before init, 'auto' without an adapter, unknown
// modes, float64), with the messages naming what to do.

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';

describe('gpu backend start-up', () => {
  test('setBackend("gpu") before initGpuBackend says how to start it', () => {
    expect(() => V.setBackend('gpu')).toThrow(/unknown backend 'gpu'.*await initGpuBackend/);
  });

  test("'auto' takes WebGPU only when an adapter answers, else the cpu backend with the reason", async () => {
    const r = await V.initGpuBackend({ mode: 'auto', log: false });
    try {
      if (r.backend === 'cpu') {
        expect(r.mode).toBeNull();
        expect(r.description).toMatch(/no WebGPU here \(.+\): using the cpu backend/);
        expect(V.getBackend().name).toBe('cpu');
      } else {
        expect(r.mode).toBe('webgpu');
      }
    } finally {
      V.setBackend('cpu');
    }
  });

  test('provideGpuJs wants the gpu.js module', () => {
    expect(() => V.provideGpuJs({})).toThrow(/provideGpuJs needs the gpu.js module \(an object with a GPU class\)/);
  });

  test('unknown modes and float64 tensors are refused with clear errors', async () => {
    await expect(V.initGpuBackend({ mode: 'webgl9' as V.GpuMode, log: false })).rejects.toThrow(/mode 'webgl9' is not available here \(modes: auto, webgpu, cpu, webasm\)/);
    await V.initGpuBackend({ mode: 'cpu', log: false });
    try {
      expect(() => V.zeros([2], { dtype: 'float64' })).toThrow(/gpu backend has no float64.*keep float64 work such as gradcheck on the cpu backend/);
      expect(V.describeCpuKernels()).toBeTruthy();
    } finally {
      V.setBackend('cpu');
    }
  });
});
