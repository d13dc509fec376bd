// VQVAE: encoder → quant_conv → multi-scale quantizer → post_quant_conv → decoder, with the official state-dict
// keys (encoder.*, decoder.*, quant_conv.*, post_quant_conv.*, quantize.*), so official checkpoints load unchanged;
// and loadVqvae, which rebuilds one from a checkpoint whose recorded config it validates first.

import type { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { clamp } from '../tensor/ops/index.js';
import { Module } from '../nn/module.js';
import { readSafetensorsHeader } from '../nn/safetensors.js';
import { checkVqvaeHeader, loadCheckedModule, parseConfigJson, validateVqvaeConfig } from './config-validation.js';
import { Conv2d } from '../nn/layers.js';
import { Decoder, Encoder, type AutoencoderConfig } from './vqvae-blocks.js';
import { VectorQuantizer, type QuantizerConfig } from './quantizer.js';

export interface VqvaeConfig extends AutoencoderConfig, Omit<QuantizerConfig, 'channels'> {
  /** Kernel of quant_conv / post_quant_conv (official 3). */
  quantConvKernel: number;
}

/** The configuration of test/fixtures/parity/vqvae-tiny (docs/notes/parity.md): 32×32 RGB, ×4 downsampling, Cvae 8, V 64. */
export const VQVAE_TINY: VqvaeConfig = {
  ch: 32, chMult: [1, 2, 2], numResBlocks: 2, inChannels: 3, zChannels: 8, usingSa: true, usingMidSa: true,
  vocabSize: 64, patchNums: [1, 2, 3, 4, 6, 8], beta: 0.25, quantResi: 0.5, shareQuantResi: 4, quantConvKernel: 3,
};

export class VQVAE extends Module {
  encoder: Encoder;
  decoder: Decoder;
  quantize: VectorQuantizer;
  quant_conv: Conv2d;
  post_quant_conv: Conv2d;

  constructor(readonly config: VqvaeConfig, rng: Rng) {
    super();
    this.encoder = new Encoder(config, rng);
    this.decoder = new Decoder(config, rng);
    this.quantize = new VectorQuantizer({ ...config, channels: config.zChannels }, rng);
    const k = config.quantConvKernel;
    this.quant_conv = new Conv2d(config.zChannels, config.zChannels, k, { rng, padding: Math.floor(k / 2) });
    this.post_quant_conv = new Conv2d(config.zChannels, config.zChannels, k, { rng, padding: Math.floor(k / 2) });
  }

  /** Image [B, C, H, W] in [−1, 1] → latent f [B, Cvae, p, p]. */
  encode(img: Tensor): Tensor {
    return this.quant_conv.forward(this.encoder.forward(img));
  }

  /** f̂ → image, not clamped (the official decoder(post_quant_conv(f̂))). */
  decode(fHat: Tensor): Tensor {
    return this.decoder.forward(this.post_quant_conv.forward(fHat));
  }

  /** f̂ → image clamped to [−1, 1] (the official fhat_to_img). */
  fhatToImage(fHat: Tensor): Tensor {
    return clamp(this.decode(fHat), -1, 1);
  }

  /** Image → per-scale code indices, int32 [B, pₖ²] each (the official img_to_idxBl). */
  imageToIndices(img: Tensor): Tensor[] {
    return this.quantize.toIndices(this.encode(img));
  }

  /** Per-scale indices (the first `upToScale` scales) → image in [−1, 1] (the official idxBl_to_img, last_one). */
  indicesToImage(indices: readonly Tensor[], upToScale = indices.length): Tensor {
    return this.fhatToImage(this.quantize.indicesToFhat(indices, upToScale));
  }

  /** Training forward: reconstruction (not clamped), VQ loss and code hits per scale. */
  forward(img: Tensor): { reconstruction: Tensor; vqLoss: Tensor; hits: number[][] } {
    const { fHat, vqLoss, hits } = this.quantize.forward(this.encode(img));
    return { reconstruction: this.decode(fHat), vqLoss, hits };
  }
}

/** Options of loadVqvae. */
export interface LoadVqvaeOptions {
  /** Refuse NaN / ±Infinity weights, naming the tensor (default true; false skips the scan). */
  checkFinite?: boolean;
}

/**
 * Loads a tokenizer checkpoint (eval mode), rebuilding the VQVAE from the config in its metadata. The config is
 * validated (types, ranges, caps) and checked against the tensor shapes in the header before anything is built; a
 * failed load frees everything it allocated.
 * @throws ArgumentError('loadVqvae', '<path>…') naming the field or tensor at fault.
 * @example const { vae } = loadVqvae('checkpoints/tokenizer-mnist.safetensors');
 */
export function loadVqvae(path: string, opts: LoadVqvaeOptions = {}): { vae: VQVAE; metadata: Record<string, string> } {
  const op = 'loadVqvae';
  const header = readSafetensorsHeader(path);
  const config = validateVqvaeConfig(parseConfigJson(header.metadata.config, path, op), path, op);
  checkVqvaeHeader(config, header.tensors, path, op);
  const { module, metadata } = loadCheckedModule(path, () => new VQVAE(config, new Rng(0)), { ...opts, op });
  return { vae: module.eval(), metadata };
}
