// Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay), with PyTorch's exact formulas.

import type { Tensor } from '../../tensor/tensor.js';
import { add, div, mul, sqrt, square, sub } from '../../tensor/ops/index.js';
import { Optimizer } from './optimizer.js';

export interface AdamOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/**
 * m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²; p ← p − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε).
 * Adam adds weightDecay·p to g first; AdamW instead multiplies p by (1 − lr·weightDecay).
 */
export class Adam extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  protected readonly decoupled: boolean = false;

  constructor(params: Iterable<Tensor>, opts: AdamOptions) {
    super(params, opts.lr);
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
  }

  protected update(p: Tensor, g: Tensor, state: Map<string, Tensor>, step: number): void {
    const [b1, b2] = this.betas;
    let grad = g;
    let param = p;
    if (this.weightDecay) {
      if (this.decoupled) param = mul(p, 1 - this.lr * this.weightDecay);
      else grad = add(g, mul(p, this.weightDecay));
    }
    const m0 = state.get('exp_avg'), v0 = state.get('exp_avg_sq');
    const m = this.setState(state, 'exp_avg', m0 ? add(mul(m0, b1), mul(grad, 1 - b1)) : mul(grad, 1 - b1));
    const v = this.setState(state, 'exp_avg_sq', v0 ? add(mul(v0, b2), mul(square(grad), 1 - b2)) : mul(square(grad), 1 - b2));
    const bc1 = 1 - b1 ** step, bc2 = 1 - b2 ** step;
    const denom = add(div(sqrt(v), Math.sqrt(bc2)), this.eps);
    p.assign(sub(param, mul(div(m, denom), this.lr / bc1)));
  }

  protected hyperparameters(): Record<string, number> {
    return { beta1: this.betas[0], beta2: this.betas[1], eps: this.eps, weightDecay: this.weightDecay };
  }
}

/** Adam with decoupled weight decay (Loshchilov & Hutter); PyTorch's default weightDecay is 0.01. */
export class AdamW extends Adam {
  protected override readonly decoupled = true;

  constructor(params: Iterable<Tensor>, opts: AdamOptions) {
    super(params, { weightDecay: 0.01, ...opts });
  }
}
