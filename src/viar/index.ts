// Public surface of src/viar: VAR's multi-scale VQ tokenizer, the VAR / VIAR next-scale transformers, editing and metrics.

/** @module viar/models */

export {
  type AutoencoderConfig,
} from './vqvae-blocks.js';
export {
  type QuantizerConfig, type QuantizeResult, VectorQuantizer,
} from './quantizer.js';
export * from './vqvae.js';
export * from './tokenizer-training.js';
export * from './image-grid.js';
export * from './tokenizer-configs.js';
export {
  type BlockConfig, type BlockForwardOptions, type SelfAttentionOptions,
} from './var-blocks.js';
export {
  cfgStrength, filterLogits, iterationSchedule, type IterationSchedule, sampleTokens, type TokenSamplingOptions,
} from './sampling.js';
export {
  NextScaleTransformer, PATCH_NUMS_256, type SampleOptions, type SampleResult, type SamplingSession,
  type ScaleProgress, VAR, VAR_TINY, varConfig, type VarConfig, type VarInitOptions,
} from './var-model.js';
export * from './viar-model.js';
export * from './editing.js';
export {
  TOKENIZER_MICRO, TOKENIZER_OFFICIAL, TRANSFORMER_CONFIGS, type TransformerKind, VAR_D16, VAR_MICRO, VAR_SMALL,
  VIAR_MICRO, VIAR_PAPER, VIAR_SMALL,
} from './transformer-configs.js';
export { type TokenDataset, encodeImages, toSignedImages } from './token-dataset.js';
export { loadOrEncodeTokens, type TokenCacheOptions } from './token-cache.js';
export { createModel, type NextScaleModel } from './next-scale-model.js';
export { loadTransformer, type LoadTransformerOptions, saveTransformer, type TransformerCheckpointInfo } from './transformer-checkpoint.js';
export {
  type EvalResult, type EvaluateOptions, type ImplicitStepStats, type TrainStepResult, TransformerTrainer, type TransformerTrainerOptions,
} from './transformer-trainer.js';
export { type ClassSampleOptions, type ClassSampleResult, sampleByClass } from './class-samples.js';
export {

} from './config-validation.js';
export {
  type FeatureMatrix, frechetDistance, frechetDistanceOfFeatures, type FrechetParts, type GaussianStats,
  meanPairwiseDistance, precisionRecall,
} from './metrics.js';
