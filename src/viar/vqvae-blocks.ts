// The building blocks of VAR's VQVAE encoder and decoder (models/basic_vae.py): GroupNorm(32, eps 1e-6) + SiLU
// ResnetBlocks, single-head spatial attention, padded stride-2 downsampling and nearest ×2 upsampling.
// Field names reproduce the official state-dict keys (encoder.down.1.block.0.nin_shortcut.weight, …).

import type { Tensor } from '../tensor/tensor.js';
import type { Rng } from '../tensor/random.js';
import {
  add, interpolate, matmul, mul, pad, permute, reshape, silu, softmax, split,
} from '../tensor/ops/index.js';
import { Module } from '../nn/module.js';
import { Conv2d, GroupNorm } from '../nn/layers.js';

/** GroupNorm(groups, eps 1e-6) — the official `Normalize` has 32 groups; smaller models may use fewer. */
export function normalize(channels: number, groups = 32): GroupNorm {
  return new GroupNorm(groups, channels, { eps: 1e-6 });
}

/** out = shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x)))))); shortcut is a 1×1 conv when in ≠ out. */
export class ResnetBlock extends Module {
  norm1: GroupNorm;
  conv1: Conv2d;
  norm2: GroupNorm;
  conv2: Conv2d;
  nin_shortcut: Conv2d | null;

  constructor(readonly inChannels: number, readonly outChannels: number, rng: Rng, groups = 32) {
    super();
    this.norm1 = normalize(inChannels, groups);
    this.conv1 = new Conv2d(inChannels, outChannels, 3, { rng, padding: 1 });
    this.norm2 = normalize(outChannels, groups);
    this.conv2 = new Conv2d(outChannels, outChannels, 3, { rng, padding: 1 });
    this.nin_shortcut = inChannels !== outChannels ? new Conv2d(inChannels, outChannels, 1, { rng }) : null;
  }

  forward(x: Tensor): Tensor {
    const h = this.conv2.forward(silu(this.norm2.forward(this.conv1.forward(silu(this.norm1.forward(x))))));
    return add(this.nin_shortcut ? this.nin_shortcut.forward(x) : x, h);
  }
}

/** Single-head attention over the H·W positions: x + proj_out(v·softmax(qᵀk/√C)ᵀ), q/k/v from one 1×1 conv. */
export class AttnBlock extends Module {
  norm: GroupNorm;
  qkv: Conv2d;
  proj_out: Conv2d;

  constructor(readonly channels: number, rng: Rng, groups = 32) {
    super();
    this.norm = normalize(channels, groups);
    this.qkv = new Conv2d(channels, 3 * channels, 1, { rng });
    this.proj_out = new Conv2d(channels, channels, 1, { rng });
  }

  forward(x: Tensor): Tensor {
    const [b, c, h, w] = x.shape as [number, number, number, number];
    const [q, k, v] = split(reshape(this.qkv.forward(this.norm.forward(x)), [b, 3 * c, h * w]), 3, 1) as [Tensor, Tensor, Tensor];
    // weights [B, HW(query), HW(key)]
    const attn = softmax(mul(matmul(permute(q, [0, 2, 1]), k), c ** -0.5), 2);
    const out = matmul(v, permute(attn, [0, 2, 1])); // [B, C, HW(query)]
    return add(x, this.proj_out.forward(reshape(out, [b, c, h, w])));
  }
}

/** Zero-pad right and bottom by one, then a 3×3 conv with stride 2 (the official Downsample2x). */
export class Downsample extends Module {
  conv: Conv2d;

  constructor(channels: number, rng: Rng) {
    super();
    this.conv = new Conv2d(channels, channels, 3, { rng, stride: 2 });
  }

  forward(x: Tensor): Tensor {
    return this.conv.forward(pad(x, [[0, 0], [0, 0], [0, 1], [0, 1]]));
  }
}

/** Nearest ×2, then a 3×3 conv with padding 1 (the official Upsample2x). */
export class Upsample extends Module {
  conv: Conv2d;

  constructor(channels: number, rng: Rng) {
    super();
    this.conv = new Conv2d(channels, channels, 3, { rng, padding: 1 });
  }

  forward(x: Tensor): Tensor {
    return this.conv.forward(interpolate(x, { size: [x.shape[2]! * 2, x.shape[3]! * 2], mode: 'nearest' }));
  }
}

export interface AutoencoderConfig {
  /** Base channels (`ch`). */
  ch: number;
  chMult: readonly number[];
  numResBlocks: number;
  inChannels: number;
  /** Latent channels (`z_channels`, Cvae). */
  zChannels: number;
  /** Attention blocks at the lowest resolution (`using_sa`) and in the middle (`using_mid_sa`). */
  usingSa: boolean;
  usingMidSa: boolean;
  /** GroupNorm groups (official 32; channels must be multiples of it). */
  normGroups?: number;
}

/** One resolution level: ResnetBlocks, optional attention after each, optional resampling. */
class Level extends Module {
  block: ResnetBlock[] = [];
  attn: AttnBlock[] = [];
  downsample: Downsample | null = null;
  upsample: Upsample | null = null;

  run(h: Tensor): Tensor {
    this.block.forEach((b, i) => {
      h = b.forward(h);
      if (this.attn[i]) h = this.attn[i]!.forward(h);
    });
    if (this.downsample) h = this.downsample.forward(h);
    if (this.upsample) h = this.upsample.forward(h);
    return h;
  }
}

/** ResnetBlock → attention → ResnetBlock at the lowest resolution. */
class Mid extends Module {
  block_1: ResnetBlock;
  attn_1: AttnBlock | null;
  block_2: ResnetBlock;

  constructor(channels: number, usingAttn: boolean, rng: Rng, groups = 32) {
    super();
    this.block_1 = new ResnetBlock(channels, channels, rng, groups);
    this.attn_1 = usingAttn ? new AttnBlock(channels, rng, groups) : null;
    this.block_2 = new ResnetBlock(channels, channels, rng, groups);
  }

  forward(h: Tensor): Tensor {
    h = this.block_1.forward(h);
    if (this.attn_1) h = this.attn_1.forward(h);
    return this.block_2.forward(h);
  }
}

/** Image [B, inChannels, H, W] in [−1, 1] → latent [B, zChannels, H/2^(L−1), W/2^(L−1)]. */
export class Encoder extends Module {
  conv_in: Conv2d;
  down: Level[] = [];
  mid: Mid;
  norm_out: GroupNorm;
  conv_out: Conv2d;

  constructor(readonly config: AutoencoderConfig, rng: Rng) {
    super();
    const { ch, chMult, numResBlocks } = config;
    const g = config.normGroups ?? 32;
    this.conv_in = new Conv2d(config.inChannels, ch, 3, { rng, padding: 1 });
    const inMult = [1, ...chMult];
    let blockIn = ch;
    chMult.forEach((mult, level) => {
      const lvl = new Level();
      blockIn = ch * inMult[level]!;
      const blockOut = ch * mult;
      for (let i = 0; i < numResBlocks; i++) {
        lvl.block.push(new ResnetBlock(blockIn, blockOut, rng, g));
        blockIn = blockOut;
        if (level === chMult.length - 1 && config.usingSa) lvl.attn.push(new AttnBlock(blockIn, rng, g));
      }
      if (level !== chMult.length - 1) lvl.downsample = new Downsample(blockIn, rng);
      this.down.push(lvl);
    });
    this.mid = new Mid(blockIn, config.usingMidSa, rng, g);
    this.norm_out = normalize(blockIn, g);
    this.conv_out = new Conv2d(blockIn, config.zChannels, 3, { rng, padding: 1 });
  }

  forward(x: Tensor): Tensor {
    let h = this.conv_in.forward(x);
    for (const lvl of this.down) h = lvl.run(h);
    h = this.mid.forward(h);
    return this.conv_out.forward(silu(this.norm_out.forward(h)));
  }
}

/** Latent [B, zChannels, h, w] → image [B, inChannels, h·2^(L−1), w·2^(L−1)] (not clamped). */
export class Decoder extends Module {
  conv_in: Conv2d;
  mid: Mid;
  /** Indexed by level; level L−1 runs first (as the official `up` ModuleList). */
  up: Level[];
  norm_out: GroupNorm;
  conv_out: Conv2d;

  constructor(readonly config: AutoencoderConfig, rng: Rng) {
    super();
    const { ch, chMult, numResBlocks } = config;
    const g = config.normGroups ?? 32;
    let blockIn = ch * chMult[chMult.length - 1]!;
    this.conv_in = new Conv2d(config.zChannels, blockIn, 3, { rng, padding: 1 });
    this.mid = new Mid(blockIn, config.usingMidSa, rng, g);
    const levels: Level[] = [];
    for (let level = chMult.length - 1; level >= 0; level--) {
      const lvl = new Level();
      const blockOut = ch * chMult[level]!;
      for (let i = 0; i < numResBlocks + 1; i++) {
        lvl.block.push(new ResnetBlock(blockIn, blockOut, rng, g));
        blockIn = blockOut;
        if (level === chMult.length - 1 && config.usingSa) lvl.attn.push(new AttnBlock(blockIn, rng, g));
      }
      if (level !== 0) lvl.upsample = new Upsample(blockIn, rng);
      levels[level] = lvl;
    }
    this.up = levels;
    this.norm_out = normalize(blockIn, g);
    this.conv_out = new Conv2d(blockIn, config.inChannels, 3, { rng, padding: 1 });
  }

  forward(z: Tensor): Tensor {
    let h = this.mid.forward(this.conv_in.forward(z));
    for (let level = this.up.length - 1; level >= 0; level--) h = this.up[level]!.run(h);
    return this.conv_out.forward(silu(this.norm_out.forward(h)));
  }
}
