// Names of the elementwise, row and tile kernels the shared WebAssembly module exports (see elementwise-module.ts,
// row-module.ts and tile-module.ts), in the order the worker threads index them after the matmul's own exports.

export const KERNEL_EXPORTS = ['ew', 'sumRows', 'colSum', 'softmaxRows', 'softmaxRowsBackward', 'normRows', 'normRowsBackward',
  'tilesOfInput', 'tilesIntoInput', 'tilesOfOutput', 'tilesIntoOutput'] as const;
export type KernelExport = (typeof KERNEL_EXPORTS)[number];
