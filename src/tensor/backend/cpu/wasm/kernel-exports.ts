// Names of the elementwise and row kernels the shared WebAssembly module exports (see elementwise-module.ts and
// row-module.ts), in the order the worker threads index them after the matmul's own exports.

export const KERNEL_EXPORTS = ['ew', 'sumRows', 'colSum', 'softmaxRows', 'softmaxRowsBackward', 'normRows', 'normRowsBackward'] as const;
export type KernelExport = (typeof KERNEL_EXPORTS)[number];
