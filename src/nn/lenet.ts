// A LeNet-style CNN for 1×32×32 images (MNIST, Fashion-MNIST). Its penultimate features feed the FID-proxy
// image-quality metric, and its predictions check whether a generator produced the requested class.

import type { Tensor } from '../tensor/tensor.js';
import { ShapeError, fmtShape } from '../tensor/errors.js';
import type { Rng } from '../tensor/random.js';
import { maxPool2d, relu, reshape } from '../tensor/ops/index.js';
import { Module } from './module.js';
import { Conv2d, Linear } from './layers.js';

export interface LeNetConfig {
  channels: [number, number];
  hidden: number;
  numClasses: number;
}

export const LENET_DEFAULTS: LeNetConfig = { channels: [8, 16], hidden: 128, numClasses: 10 };

/**
 * conv 5×5 (pad 2) → relu → maxpool 2 → conv 5×5 → relu → maxpool 2 → fc → relu (features) → fc (logits).
 * Input [B, 1, 32, 32] in [0, 1]; features [B, hidden]; logits [B, numClasses].
 */
export class LeNet extends Module {
  conv1: Conv2d;
  conv2: Conv2d;
  fc1: Linear;
  fc2: Linear;

  constructor(readonly config: LeNetConfig, rng: Rng) {
    super();
    const [c1, c2] = config.channels;
    this.conv1 = new Conv2d(1, c1, 5, { rng, padding: 2 });
    this.conv2 = new Conv2d(c1, c2, 5, { rng });
    this.fc1 = new Linear(c2 * 6 * 6, config.hidden, { rng });
    this.fc2 = new Linear(config.hidden, config.numClasses, { rng });
  }

  /** The penultimate activations [B, hidden] (what the FID-proxy compares). */
  features(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== 1 || x.shape[2] !== 32 || x.shape[3] !== 32) {
      throw new ShapeError('LeNet', `expects images [B, 1, 32, 32], got ${fmtShape(x.shape)}`);
    }
    const h1 = maxPool2d(relu(this.conv1.forward(x)), 2); // [B, c1, 16, 16]
    const h2 = maxPool2d(relu(this.conv2.forward(h1)), 2); // [B, c2, 6, 6]
    return relu(this.fc1.forward(reshape(h2, [x.shape[0]!, -1])));
  }

  /** Class logits [B, numClasses]. */
  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.features(x));
  }
}
