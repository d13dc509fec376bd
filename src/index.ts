// The viar engine: tensors, autograd and (later) nn and the VIAR model, from one import.

export * from './tensor/index.js';
export * from './autograd/index.js';
export * from './nn/index.js';
export * from './viar/index.js';
