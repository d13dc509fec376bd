// Public surface of src/nn: Module, layers, attention, initializers, optimizers, checkpoints and data sets.

/** @module viar/nn */

import '../tensor/fluent.js';

export { Module, type LoadOptions, type LoadReport } from './module.js';
export * from './layers.js';
export * from './attention.js';
export * as init from './init.js';
export * from './optim/index.js';
export {
  type DecodeOptions, decodeSafetensors, encodeSafetensors, type HeaderTensorInfo, loadModule,
  type LoadModuleOptions, loadSafetensors, readSafetensorsHeader, type SafetensorsContents, type SafetensorsHeader,
  saveModule, saveSafetensors,
} from './safetensors.js';
export { loadPth, decodePth, type PthContents, type PthOptions } from './pth/load-pth.js';
export {
  type AugmentOptions, type Batch, type BatchIterable, type BatchOptions, clearMnistCache, DIGIT_CLASS_NAMES,
  FASHION_CLASS_NAMES, ImageDataset, type ImageDatasetInit, loadFashionMnist, loadMnist, type MnistName,
  type MnistOptions, type Split, type SplitOptions, STANDARD_SPLITS, standardSplit, standardSplitIndices,
  translateImage,
} from './data/index.js';
export * from './lenet.js';
export * from './training-state.js';
export * from './reparameterizations.js';
export * from './variational-dropout.js';
