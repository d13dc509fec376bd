// Runs test code under a chosen CPU kernel set and thread count, restoring the previous ones afterwards.

import * as V from '../../src/index.js';

/** fn() with setCpuKernels(kernels) and setNumThreads(threads); both restored when it returns or throws. */
export function withCpuSettings<T>(kernels: V.CpuKernels, threads: number, fn: () => T): T {
  const before = [V.getCpuKernels(), V.getNumThreads()] as const;
  V.setCpuKernels(kernels);
  V.setNumThreads(threads);
  try {
    return fn();
  } finally {
    V.setCpuKernels(before[0]);
    V.setNumThreads(before[1]);
  }
}
