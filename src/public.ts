// The package's root entry point (`import … from 'viar'`): the engine — viar/tensor, viar/autograd and viar/nn.
// The VAR / VIAR models are in viar/models (alias viar/viar), the property-test kit in viar/testing; helpers the
// subpaths leave out live in src/internal.ts and are not published.

/** @module viar */

export * from './tensor/index.js';
export * from './autograd/index.js';
export * from './nn/index.js';
