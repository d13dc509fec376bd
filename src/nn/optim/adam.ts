// Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay), with PyTorch's exact formulas.

import type { Tensor } from '../../tensor/tensor.js';
import { fusedFunction } from '../../tensor/fusion/index.js';
import { Optimizer, type OptimizerParams, type ParamGroup } from './optimizer.js';

// The update as fused passes (one kernel each instead of about fifteen per parameter), in the formulas' order.
/** Adam's L2 decay: g + p·wd. */
const decayedGradient = fusedFunction('adam.l2Decay', (g, p, wd) => g.add(p.mul(wd)));
/** m ← β·m + (1−β)·g (and its first step (1−β)·g). */
const firstMoment = fusedFunction('adam.firstMoment', (m, g, beta, oneMinusBeta) => m.mul(beta).add(g.mul(oneMinusBeta)));
const firstMoment0 = fusedFunction('adam.firstMoment', (g, oneMinusBeta) => g.mul(oneMinusBeta));
/** v ← β·v + (1−β)·g² (and its first step (1−β)·g²). */
const secondMoment = fusedFunction('adam.secondMoment', (v, g, beta, oneMinusBeta) => v.mul(beta).add(g.square().mul(oneMinusBeta)));
const secondMoment0 = fusedFunction('adam.secondMoment', (g, oneMinusBeta) => g.square().mul(oneMinusBeta));
/** p·decay − m / (√v/√bc₂ + ε) · stepSize (decay 1 without decoupled weight decay: p·1 = p exactly). */
const adamStep = fusedFunction('adam.step', (p, m, v, decay, sqrtBc2, eps, stepSize) =>
  p.mul(decay).sub(m.div(v.sqrt().div(sqrtBc2).add(eps)).mul(stepSize)));

export interface AdamOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** Parameter groups with their own weight decay (e.g. none for biases); see ParamGroup. */
  groups?: readonly ParamGroup[];
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

  constructor(params: OptimizerParams, opts: AdamOptions) {
    super(params, opts.lr, opts.groups);
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
  }

  protected update(p: Tensor, g: Tensor, state: Map<string, Tensor>, step: number, index: number): void {
    const [b1, b2] = this.betas;
    const wd = this.weightDecayOf(index, this.weightDecay);
    const grad = wd && !this.decoupled ? decayedGradient(g, p, wd) : g;
    const decay = wd && this.decoupled ? 1 - this.lr * wd : 1;
    const m0 = state.get('exp_avg'), v0 = state.get('exp_avg_sq');
    const m = this.setState(state, 'exp_avg', m0 ? firstMoment(m0, grad, b1, 1 - b1) : firstMoment0(grad, 1 - b1));
    const v = this.setState(state, 'exp_avg_sq', v0 ? secondMoment(v0, grad, b2, 1 - b2) : secondMoment0(grad, 1 - b2));
    const bc1 = 1 - b1 ** step, bc2 = 1 - b2 ** step;
    p.assign(adamStep(p, m, v, decay, Math.sqrt(bc2), this.eps, this.lr / bc1));
  }

  protected hyperparameters(): Record<string, number> {
    return { beta1: this.betas[0], beta2: this.betas[1], eps: this.eps, weightDecay: this.weightDecay };
  }
}

/** Adam with decoupled weight decay (Loshchilov & Hutter); PyTorch's default weightDecay is 0.01. */
export class AdamW extends Adam {
  protected override readonly decoupled = true;

  constructor(params: OptimizerParams, opts: AdamOptions) {
    super(params, { weightDecay: 0.01, ...opts });
  }
}
