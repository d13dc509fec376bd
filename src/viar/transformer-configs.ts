// Named VAR / VIAR configurations: the shipped MNIST / Fashion-MNIST generators on TOKENIZER_SMALL's latent, tiny
// ones for tests, and the checks that a transformer fits the tokenizer whose codes it predicts.

import { ArgumentError } from '../tensor/errors.js';
import { OFFICIAL_VAR_INIT, PATCH_NUMS_256, varConfig, type VarConfig } from './var-model.js';
import { OFFICIAL_IMPLICIT, viarConfig, type ViarConfig } from './viar-model.js';
import { TOKENIZER_SMALL } from './tokenizer-configs.js';
import type { VqvaeConfig } from './vqvae.js';

/** The two next-scale transformers. */
export type TransformerKind = 'var' | 'viar';

/**
 * VAR baseline of the shipped 32×32 generators: 8 AdaLN blocks of width 128 with 2 heads (head dim 64, as official) on
 * TOKENIZER_SMALL's latent (Cvae 8, V 256, scales 1, 2, 3, 4, 6, 8 → L = 130 tokens), 10 classes, label dropout 0.1.
 * alng 1e-3 as the official d16/d20 commands; no drop-path (runs of a few epochs do not overfit).
 * 2,459,792 parameters.
 */
export const VAR_SMALL: VarConfig = varConfig(8, {
  embedDim: 128, numHeads: 2, numClasses: 10, patchNums: TOKENIZER_SMALL.patchNums, vaeChannels: TOKENIZER_SMALL.zChannels,
  vocabSize: TOKENIZER_SMALL.vocabSize, condDropRate: 0.1, dropPathRate: 0, init: { ...OFFICIAL_VAR_INIT, adalnGamma: 1e-3 },
});

/**
 * VIAR counterpart of {@link VAR_SMALL}: the same width, embeddings and head, with 1 pre-block, one implicit block
 * (plus its 2C → 2C → C projection) and 1 post-block, so 1,074,950 parameters, 43.7% of VAR_SMALL's (the paper: 38% of VAR-d30).
 * `depth` stays 8 so the init divisor √(2·depth) matches the baseline, as the official VIAR keeps d30's.
 *
 * Training iterations are kept small for CPU budgets: k ∈ 0..4 untaped, then m ∈ 1..2 taped (the official ranges
 * are 0..10 and 1..12); sampling runs 4 implicit iterations per scale by default (override with iterSchedule).
 */
export const VIAR_SMALL: ViarConfig = {
  ...VAR_SMALL, nPre: 1, nPost: 1,
  implicit: { ...OFFICIAL_IMPLICIT, noGradIters: [0, 4], withGradIters: [1, 2], schedule: 4 },
};

/**
 * {@link VIAR_SMALL} trained with the official iteration ranges, k ∈ 0..10 untaped and m ∈ 1..12 taped, and sampled
 * with the official 10 iterations per scale: the same parameters, about 3× the implicit work per training step.
 */
export const VIAR_SMALL_OFFICIAL_ITERS: ViarConfig = { ...VIAR_SMALL, implicit: { ...OFFICIAL_IMPLICIT } };

/**
 * A tokenizer for tests only (random weights do): 1×32×32 images, ×4 downsampling to an 8×8 latent of 4 channels,
 * 16 codes, scales 1, 2, 4, 8 (L = 85). Pair it with {@link VAR_MICRO} / {@link VIAR_MICRO}.
 */
export const TOKENIZER_MICRO: VqvaeConfig = {
  ch: 4, chMult: [1, 2, 2], numResBlocks: 1, inChannels: 1, zChannels: 4, usingSa: false, usingMidSa: false, normGroups: 2,
  vocabSize: 16, patchNums: [1, 2, 4, 8], beta: 0.25, quantResi: 0.5, shareQuantResi: 4, quantConvKernel: 3,
};

/** A VAR for tests: 2 blocks of width 32, 2 heads, 10 classes, on TOKENIZER_MICRO's latent (Cvae 4, V 16, scales 1, 2, 4, 8). */
export const VAR_MICRO: VarConfig = varConfig(2, {
  embedDim: 32, numHeads: 2, numClasses: 10, patchNums: TOKENIZER_MICRO.patchNums, vaeChannels: TOKENIZER_MICRO.zChannels,
  vocabSize: TOKENIZER_MICRO.vocabSize, condDropRate: 0.1, dropPathRate: 0, init: { ...OFFICIAL_VAR_INIT, adalnGamma: 1 },
});

/** A VIAR for tests: VAR_MICRO's sizes with 1 pre, 1 implicit and 1 post block; k ∈ 0..2, m ∈ 1..2; 2 iterations at sampling. */
export const VIAR_MICRO: ViarConfig = {
  ...VAR_MICRO, nPre: 1, nPost: 1,
  implicit: { ...OFFICIAL_IMPLICIT, noGradIters: [0, 2], withGradIters: [1, 2], schedule: 2 },
};

/** {@link VIAR_MICRO} with wider iteration ranges (k ∈ 0..3, m ∈ 1..3, 3 at sampling): the tests' stand-in for 'small-official'. */
export const VIAR_MICRO_WIDE_ITERS: ViarConfig = {
  ...VIAR_MICRO, implicit: { ...VIAR_MICRO.implicit, noGradIters: [0, 3], withGradIters: [1, 3], schedule: 3 },
};

/**
 * The official VQVAE of VAR and VIAR (vae_ch160v4096z32.pth): 256×256 RGB, ×16 downsampling to a 16×16 latent of
 * 32 channels, V 4096, the 256 px scales; ch 160, chMult [1, 1, 2, 2, 4], 2 res blocks, attention in the lowest
 * level and the middle. 108,948,355 parameters.
 */
export const TOKENIZER_OFFICIAL: VqvaeConfig = {
  ch: 160, chMult: [1, 1, 2, 2, 4], numResBlocks: 2, inChannels: 3, zChannels: 32, usingSa: true, usingMidSa: true,
  vocabSize: 4096, patchNums: PATCH_NUMS_256, beta: 0.25, quantResi: 0.5, shareQuantResi: 4, quantConvKernel: 3,
};

/** VAR-d16 of the paper (var_d16.pth): C 1024, 16 heads, 1000 classes, 256 px scales, Cvae 32, V 4096; 310,283,520 parameters. */
export const VAR_D16: VarConfig = varConfig(16);

/** The paper's VIAR (viar.pth): VAR-d30 width (C 1920, 30 heads), 5 pre + 1 implicit + 5 post blocks, 10 iterations per scale. */
export const VIAR_PAPER: ViarConfig = viarConfig();

/** Named transformer configurations (`--config` of the CLI), each a VAR baseline and its VIAR. */
export const TRANSFORMER_CONFIGS: Record<string, { var: VarConfig; viar: ViarConfig; tokenizer: VqvaeConfig }> = {
  small: { var: VAR_SMALL, viar: VIAR_SMALL, tokenizer: TOKENIZER_SMALL },
  'small-official': { var: VAR_SMALL, viar: VIAR_SMALL_OFFICIAL_ITERS, tokenizer: TOKENIZER_SMALL },
  micro: { var: VAR_MICRO, viar: VIAR_MICRO, tokenizer: TOKENIZER_MICRO },
  'micro-official': { var: VAR_MICRO, viar: VIAR_MICRO_WIDE_ITERS, tokenizer: TOKENIZER_MICRO },
};

/** The paper-sized models and the official VQVAE (kept out of TRANSFORMER_CONFIGS: they are not trained on MNIST). */
export const PAPER_CONFIGS: { var: VarConfig; viar: ViarConfig; tokenizer: VqvaeConfig } = { var: VAR_D16, viar: VIAR_PAPER, tokenizer: TOKENIZER_OFFICIAL };

/**
 * Throws a clear error unless the transformer predicts this tokenizer's codes: same scales (patchNums), latent
 * channels (Cvae) and codebook size (V).
 */
export function checkTokenizerFit(config: VarConfig, tokenizer: VqvaeConfig, op = 'checkTokenizerFit'): void {
  const same = config.patchNums.length === tokenizer.patchNums.length && config.patchNums.every((p, i) => p === tokenizer.patchNums[i]);
  if (!same || config.vaeChannels !== tokenizer.zChannels || config.vocabSize !== tokenizer.vocabSize) {
    throw new ArgumentError(op, `the transformer (patchNums [${config.patchNums.join(', ')}], Cvae ${config.vaeChannels}, V ${config.vocabSize}) ` +
      `does not fit the tokenizer (patchNums [${tokenizer.patchNums.join(', ')}], Cvae ${tokenizer.zChannels}, V ${tokenizer.vocabSize})`);
  }
}
