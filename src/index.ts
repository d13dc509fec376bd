// The viar engine: tensors (with the graph recorder), autograd, nn and the VAR/VIAR models, from one import.

export * from './tensor/index.js';
export * from './autograd/index.js';
export * from './nn/index.js';
export * from './viar/index.js';
