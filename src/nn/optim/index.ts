// Optimizers, gradient clipping and learning-rate schedules.

export { Optimizer, clipGradNorm, clipGradNormOnDevice, type OptimizerState } from './optimizer.js';
export { SGD, type SgdOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export * from './schedules.js';
