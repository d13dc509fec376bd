// Standard layers: Linear, Embedding, LayerNorm, GroupNorm, Conv2d, Dropout, Sequential and MLP.
// Weight layouts and parameter names follow PyTorch (Linear.weight is [out, in]), so state dicts line up.

import type { Tensor } from '../tensor/tensor.js';
import { ArgumentError } from '../tensor/errors.js';
import { ones, zeros } from '../tensor/creation.js';
import type { Rng } from '../tensor/random.js';
import {
  add, conv2d, dropout, embedding, groupNorm, layerNorm, matmul, transpose, type Pair,
} from '../tensor/ops/index.js';
import { biasActivation, fusedActivation, type FusedActivation } from '../tensor/fusion/index.js';
import { Module } from './module.js';
import { kaimingUniform, normal, uniform } from './init.js';

/**
 * y = x·Wᵀ + b, or act(x·Wᵀ + b) with an activation (bias add and activation then run as one fused pass).
 * Shapes: x [..., in] → [..., out]; weight [out, in], bias [out]. PyTorch's default init.
 */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: { rng: Rng; bias?: boolean }) {
    super();
    if (!opts?.rng) throw new ArgumentError('Linear', 'needs an explicit rng (e.g. { rng: new Rng(0) })');
    this.weight = kaimingUniform([outFeatures, inFeatures], opts.rng, { a: Math.sqrt(5) }).requireGrad();
    const bound = inFeatures > 0 ? 1 / Math.sqrt(inFeatures) : 0;
    this.bias = opts.bias === false ? null : uniform([outFeatures], opts.rng, { low: -bound, high: bound }).requireGrad();
  }

  forward(x: Tensor, activation?: Activation): Tensor {
    const y = matmul(x, transpose(this.weight));
    if (activation) return this.bias ? biasActivation(y, this.bias, activation) : activate(y, activation);
    return this.bias ? add(y, this.bias) : y;
  }
}

/** Lookup table: int32 indices [...] → [..., dim]; weight [num, dim] ~ N(0, 1). */
export class Embedding extends Module {
  weight: Tensor;

  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, opts: { rng: Rng }) {
    super();
    this.weight = normal([numEmbeddings, embeddingDim], opts.rng).requireGrad();
  }

  forward(indices: Tensor): Tensor {
    return embedding(this.weight, indices);
  }
}

/** Normalizes the trailing dims; affine weight (ones) and bias (zeros) unless elementwiseAffine is false. */
export class LayerNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  readonly normalizedShape: number[];

  constructor(normalizedShape: number | readonly number[], readonly opts: { eps?: number; elementwiseAffine?: boolean } = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    const affine = opts.elementwiseAffine ?? true;
    this.weight = affine ? ones(this.normalizedShape).requireGrad() : null;
    this.bias = affine ? zeros(this.normalizedShape).requireGrad() : null;
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.opts.eps ?? 1e-5);
  }
}

/** Group normalization of [N, C, ...] with per-channel affine parameters. */
export class GroupNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;

  constructor(readonly numGroups: number, readonly numChannels: number, readonly opts: { eps?: number; affine?: boolean } = {}) {
    super();
    if (numChannels % numGroups !== 0) throw new ArgumentError('GroupNorm', `numGroups = ${numGroups} must divide numChannels = ${numChannels}`);
    const affine = opts.affine ?? true;
    this.weight = affine ? ones([numChannels]).requireGrad() : null;
    this.bias = affine ? zeros([numChannels]).requireGrad() : null;
  }

  forward(x: Tensor): Tensor {
    return groupNorm(x, this.numGroups, this.weight, this.bias, this.opts.eps ?? 1e-5);
  }
}

export interface Conv2dLayerOptions {
  rng: Rng;
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

/** 2-D convolution layer: weight [out, in/groups, kh, kw], bias [out]; PyTorch's default init. */
export class Conv2d extends Module {
  weight: Tensor;
  bias: Tensor | null;

  constructor(readonly inChannels: number, readonly outChannels: number, kernel: Pair, readonly opts: Conv2dLayerOptions) {
    super();
    const [kh, kw] = typeof kernel === 'number' ? [kernel, kernel] : kernel;
    const groups = opts.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new ArgumentError('Conv2d', `groups = ${groups} must divide inChannels = ${inChannels} and outChannels = ${outChannels}`);
    }
    this.weight = kaimingUniform([outChannels, inChannels / groups, kh, kw], opts.rng, { a: Math.sqrt(5) }).requireGrad();
    const bound = 1 / Math.sqrt((inChannels / groups) * kh * kw);
    this.bias = opts.bias === false ? null : uniform([outChannels], opts.rng, { low: -bound, high: bound }).requireGrad();
  }

  forward(x: Tensor): Tensor {
    const { stride, padding, dilation, groups } = this.opts;
    return conv2d(x, this.weight, this.bias, { stride, padding, dilation, groups });
  }
}

/** Dropout with its own Rng; active only in training mode. */
export class Dropout extends Module {
  constructor(readonly p: number, private readonly rng: Rng) {
    super();
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, { training: this.training, rng: this.rng });
  }
}

export type Activation = FusedActivation;

/** The activation `kind` of x, as one fused pass. */
export function activate(x: Tensor, kind: Activation): Tensor {
  return fusedActivation(x, kind);
}

/** A parameter-free activation as a module (so it can sit in a Sequential). */
export class Act extends Module {
  constructor(readonly kind: Activation) {
    super();
  }

  forward(x: Tensor): Tensor {
    return activate(x, this.kind);
  }
}

interface Forwardable {
  forward(x: Tensor): Tensor;
}

/**
 * Runs modules in order. Children are named '0', '1', … as in PyTorch's nn.Sequential. A Linear followed by an
 * Act runs as Linear.forward(x, activation) (bias and activation fused).
 */
export class Sequential extends Module {
  readonly length: number;

  constructor(...modules: (Module & Forwardable)[]) {
    super();
    modules.forEach((m, i) => { (this as unknown as Record<string, Module>)[String(i)] = m; });
    this.length = modules.length;
  }

  at(i: number): Module & Forwardable {
    return (this as unknown as Record<string, Module & Forwardable>)[String(i)]!;
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (let i = 0; i < this.length; i++) {
      const layer = this.at(i), next = i + 1 < this.length ? this.at(i + 1) : null;
      if (layer instanceof Linear && next instanceof Act) {
        y = layer.forward(y, next.kind);
        i++;
      } else {
        y = layer.forward(y);
      }
    }
    return y;
  }
}

/** Linear layers of the given sizes with an activation between them (none after the last). */
export class MLP extends Module {
  layers: Linear[];

  constructor(readonly sizes: readonly number[], readonly opts: { rng: Rng; activation?: Activation; bias?: boolean }) {
    super();
    if (sizes.length < 2) throw new ArgumentError('MLP', `needs at least 2 sizes (in and out), got [${sizes.join(', ')}]`);
    this.layers = sizes.slice(1).map((out, i) => new Linear(sizes[i]!, out, { rng: opts.rng, bias: opts.bias }));
  }

  forward(x: Tensor): Tensor {
    let y = x;
    this.layers.forEach((layer, i) => {
      y = layer.forward(y, i < this.layers.length - 1 ? this.opts.activation ?? 'relu' : undefined);
    });
    return y;
  }
}
