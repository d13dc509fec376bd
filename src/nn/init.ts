// Parameter initializers drawing from an explicit seeded Rng: normal, truncated normal, uniform, Kaiming, Xavier.
// Fan computation follows PyTorch (fan_in = shape[1]·receptive field, fan_out = shape[0]·receptive field).

import type { Tensor } from '../tensor/tensor.js';
import { ArgumentError } from '../tensor/errors.js';
import { tensor } from '../tensor/creation.js';
import type { Rng } from '../tensor/random.js';
import type { Shape } from '../tensor/shape.js';

type Dtype = 'float32' | 'float64';

function fill(shape: Shape, dtype: Dtype, draw: () => number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = draw();
  return tensor(values, { shape });
}

/** fan_in and fan_out of a weight shape ([out, in] for Linear, [out, in/groups, kh, kw] for Conv2d). */
export function fans(shape: Shape): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new ArgumentError('init', `fan in/out need a weight of rank ≥ 2, got rank ${shape.length}`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1]! * receptive, fanOut: shape[0]! * receptive };
}

export function normal(shape: Shape, rng: Rng, opts: { mean?: number; std?: number; dtype?: Dtype } = {}): Tensor {
  const mean = opts.mean ?? 0, std = opts.std ?? 1;
  return fill(shape, opts.dtype ?? 'float32', () => mean + std * rng.normal());
}

/** Normal(mean, std) redrawn until it falls in [a, b] (absolute bounds, as torch.nn.init.trunc_normal_; default ±2). */
export function truncatedNormal(shape: Shape, rng: Rng, opts: { mean?: number; std?: number; a?: number; b?: number; dtype?: Dtype } = {}): Tensor {
  const mean = opts.mean ?? 0, std = opts.std ?? 1, a = opts.a ?? -2, b = opts.b ?? 2;
  if (!(a < b)) throw new ArgumentError('truncatedNormal', `a (${a}) must be below b (${b})`);
  return fill(shape, opts.dtype ?? 'float32', () => {
    for (let tries = 0; tries < 1000; tries++) {
      const v = mean + std * rng.normal();
      if (v >= a && v <= b) return v;
    }
    return Math.min(Math.max(mean, a), b);
  });
}

export function uniform(shape: Shape, rng: Rng, opts: { low?: number; high?: number; dtype?: Dtype } = {}): Tensor {
  const low = opts.low ?? 0, high = opts.high ?? 1;
  return fill(shape, opts.dtype ?? 'float32', () => low + (high - low) * rng.uniform());
}

export type Nonlinearity = 'linear' | 'relu' | 'leakyRelu' | 'tanh' | 'sigmoid' | 'gelu';

/** PyTorch's calculate_gain. */
export function gain(nonlinearity: Nonlinearity, negativeSlope = 0.01): number {
  switch (nonlinearity) {
    case 'linear': case 'sigmoid': case 'gelu': return 1;
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'leakyRelu': return Math.sqrt(2 / (1 + negativeSlope ** 2));
  }
}

export interface KaimingOptions {
  mode?: 'fanIn' | 'fanOut';
  nonlinearity?: Nonlinearity;
  /** Negative slope for leakyRelu (PyTorch's `a`). */
  a?: number;
  dtype?: Dtype;
}

/** U(−bound, bound) with bound = gain·√(3/fan): PyTorch's kaiming_uniform_. */
export function kaimingUniform(shape: Shape, rng: Rng, opts: KaimingOptions = {}): Tensor {
  const { fanIn, fanOut } = fans(shape);
  const fan = (opts.mode ?? 'fanIn') === 'fanIn' ? fanIn : fanOut;
  const bound = gain(opts.nonlinearity ?? 'leakyRelu', opts.a ?? 0) * Math.sqrt(3 / fan);
  return uniform(shape, rng, { low: -bound, high: bound, dtype: opts.dtype });
}

/** N(0, std²) with std = gain/√fan: PyTorch's kaiming_normal_. */
export function kaimingNormal(shape: Shape, rng: Rng, opts: KaimingOptions = {}): Tensor {
  const { fanIn, fanOut } = fans(shape);
  const fan = (opts.mode ?? 'fanIn') === 'fanIn' ? fanIn : fanOut;
  return normal(shape, rng, { std: gain(opts.nonlinearity ?? 'leakyRelu', opts.a ?? 0) / Math.sqrt(fan), dtype: opts.dtype });
}

/** U(−a, a) with a = gain·√(6/(fan_in + fan_out)). */
export function xavierUniform(shape: Shape, rng: Rng, opts: { gain?: number; dtype?: Dtype } = {}): Tensor {
  const { fanIn, fanOut } = fans(shape);
  const a = (opts.gain ?? 1) * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(shape, rng, { low: -a, high: a, dtype: opts.dtype });
}

/** N(0, std²) with std = gain·√(2/(fan_in + fan_out)). */
export function xavierNormal(shape: Shape, rng: Rng, opts: { gain?: number; dtype?: Dtype } = {}): Tensor {
  const { fanIn, fanOut } = fans(shape);
  return normal(shape, rng, { std: (opts.gain ?? 1) * Math.sqrt(2 / (fanIn + fanOut)), dtype: opts.dtype });
}
