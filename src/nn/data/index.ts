// Public surface of src/nn/data: the in-memory ImageDataset (splits, batches, augmentation) and the MNIST loaders.

export {
  ImageDataset, translateImage, shuffleInPlace,
  type ImageDatasetInit, type AugmentOptions, type BatchOptions, type Batch, type BatchIterable, type SplitOptions, type Split,
} from './dataset.js';
export {
  loadMnist, loadFashionMnist, standardSplit, standardSplitIndices, mnistLoadTimes, clearMnistCache,
  DIGIT_CLASS_NAMES, FASHION_CLASS_NAMES, STANDARD_SPLITS, type MnistName, type MnistOptions,
} from './mnist.js';
