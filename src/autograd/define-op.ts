// Moved to src/tensor/graph/define-op.ts (the graph recorder lives in the tensor layer); this re-export keeps
// imports that still use the old path working until they are updated.

export * from '../tensor/graph/define-op.js';
