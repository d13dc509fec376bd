// Names of the elementwise, row, tile, Winograd and attention kernels the shared WebAssembly module exports (see
// elementwise-module.ts, row-module.ts, tile-module.ts, winograd-module.ts and attention-module.ts), in the order the worker threads
// index them after the matmul's own exports.

export const KERNEL_EXPORTS = ['ew', 'sumRows', 'colSum', 'softmaxRows', 'softmaxRowsBackward', 'normRows', 'normRowsBackward',
  'tilesOfInput', 'tilesIntoInput', 'tilesOfOutput', 'tilesIntoOutput', 'winogradForward', 'winogradBackward', 'attention', 'attentionBackward'] as const;
export type KernelExport = (typeof KERNEL_EXPORTS)[number];
