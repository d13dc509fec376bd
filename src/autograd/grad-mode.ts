// Moved to src/tensor/graph/grad-mode.ts (the graph recorder lives in the tensor layer); this re-export keeps
// imports that still use the old path working until they are updated.

export * from '../tensor/graph/grad-mode.js';
