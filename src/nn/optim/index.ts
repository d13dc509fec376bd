// Optimizers, gradient clipping and learning-rate schedules.

export {
  Optimizer, clipGradNorm, clipGradNormOnDevice, clipGradNormTensor, type OptimizerParams, type OptimizerState, type ParamGroup,
} from './optimizer.js';
export { SGD, type SgdOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export * from './schedules.js';
