// Every tensor op, in one import.

export * from './elementwise.js';
export * from './reduce.js';
export * from './movement.js';
export * from './matmul.js';
export * from './indexing.js';
export * from './composite.js';
export * from './scan-and-sample.js';
export { checkTensor, type TensorOrNumber } from './operands.js';
export * from './conv.js';
export { attention, type FusedAttentionOptions } from './fused-attention.js';
export * from './resample.js';
export * from './nn-functional.js';
