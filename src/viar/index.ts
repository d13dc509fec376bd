// Public surface of src/viar: VAR's multi-scale VQ tokenizer, the VAR / VIAR next-scale transformers, editing and metrics.

export * from './vqvae-blocks.js';
export * from './quantizer.js';
export * from './vqvae.js';
export * from './tokenizer-training.js';
export * from './image-grid.js';
export * from './tokenizer-configs.js';
export * from './var-blocks.js';
export * from './sampling.js';
export * from './var-model.js';
export * from './viar-model.js';
export * from './editing.js';
export * from './transformer-configs.js';
export * from './transformer-training.js';
export * from './config-validation.js';
export * from './metrics.js';
