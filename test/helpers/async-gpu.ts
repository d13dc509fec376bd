// Runs a computation on the gpu backend in gpu.js's CPU mode with asynchronous reads (WebGPU's read semantics, no
// GPU needed) and on the cpu backend, and compares every returned tensor at the op table's float32 tolerance.

import { afterAll, beforeAll, expect } from 'vitest';
import * as V from '../../src/index.js';
import { GPU_TOLERANCE } from './backend-parity.js';

/** Registers the gpu backend (cpu mode, asyncReads) before the suite's tests; the cpu backend stays active. */
export function useAsyncGpuBackend(): void {
  beforeAll(async () => {
    await V.initGpuBackend({ mode: 'cpu', asyncReads: true, activate: false, log: false });
  });
  afterAll(() => { V.setBackend('cpu'); });
}

/** fn's tensors computed on `backend`, read with await data() (never synchronously). */
export async function valuesOn(backend: string, fn: () => V.Tensor[]): Promise<number[][]> {
  V.setBackend(backend);
  try {
    const out = fn();
    return await Promise.all(out.map(async (t) => Array.from(await t.data())));
  } finally {
    V.setBackend('cpu');
  }
}

/** fn on the gpu backend equals fn on the cpu backend, tensor by tensor, at float32 tolerance. */
export async function expectGpuMatchesCpu(fn: () => V.Tensor[]): Promise<number[][]> {
  const want = await valuesOn('cpu', fn);
  const got = await valuesOn('gpu', fn);
  expect(got.length).toBe(want.length);
  got.forEach((values, k) => {
    expect(values.length).toBe(want[k]!.length);
    values.forEach((v, i) => expect(Math.abs(v - want[k]![i]!)).toBeLessThanOrEqual(GPU_TOLERANCE.atol + GPU_TOLERANCE.rtol * Math.abs(want[k]![i]!)));
  });
  return want;
}
