// Named tokenizer configurations: the official tiny parity model and the small CPU-trainable ones we ship.

import type { VqvaeConfig } from './vqvae.js';
import { VQVAE_TINY } from './vqvae.js';

/**
 * A tokenizer small enough to train on 2 CPU cores: 1×32×32 images, ×4 downsampling to an 8×8 latent of 8 channels,
 * 256 codes, VAR's 6 scales (1, 2, 3, 4, 6, 8). Measured ~80 ms per image per training step on the project machine.
 */
export const TOKENIZER_SMALL: VqvaeConfig = {
  ch: 8, chMult: [1, 2, 4], numResBlocks: 1, inChannels: 1, zChannels: 8, usingSa: true, usingMidSa: true, normGroups: 4,
  vocabSize: 256, patchNums: [1, 2, 3, 4, 6, 8], beta: 0.25, quantResi: 0.5, shareQuantResi: 4, quantConvKernel: 3,
};

export const TOKENIZER_CONFIGS: Record<string, VqvaeConfig> = {
  small: TOKENIZER_SMALL,
  tiny: VQVAE_TINY,
};
