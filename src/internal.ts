// Everything the curated subpath indexes leave out, for the repository's own tests, scripts and benchmarks:
// src/index.ts re-exports it (whole modules, so a helper added to them is reachable at once); the package does not.

export * from './tensor/ops/index.js';
export * from './tensor/fusion/index.js';
export { winogradConv2d, WINOGRAD_MIN_CHANNELS, WINOGRAD_MIN_PIXELS } from './tensor/ops/winograd.js';
export * from './nn/safetensors.js';
export * from './nn/data/index.js';
export * from './viar/vqvae-blocks.js';
export * from './viar/quantizer.js';
export * from './viar/var-blocks.js';
export * from './viar/sampling.js';
export * from './viar/var-model.js';
export * from './viar/transformer-configs.js';
export * from './viar/token-dataset.js';
export * from './viar/token-cache.js';
export * from './viar/next-scale-model.js';
export * from './viar/transformer-checkpoint.js';
export * from './viar/transformer-trainer.js';
export * from './viar/class-samples.js';
export * from './viar/config-validation.js';
export * from './viar/metrics.js';
