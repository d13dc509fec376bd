// Public surface of src/viar: VAR's multi-scale VQ tokenizer (the transformers arrive with issue #7).

export * from './vqvae-blocks.js';
export * from './quantizer.js';
export * from './vqvae.js';
export * from './tokenizer-training.js';
export * from './image-grid.js';
export * from './tokenizer-configs.js';
