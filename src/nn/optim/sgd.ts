// SGD with momentum, dampening, Nesterov and L2 weight decay, with PyTorch's exact update order.

import type { Tensor } from '../../tensor/tensor.js';
import { ArgumentError } from '../../tensor/errors.js';
import { add, mul, sub, fresh } from '../../tensor/ops/index.js';
import { Optimizer, type OptimizerParams, type ParamGroup } from './optimizer.js';

export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
  /** Parameter groups with their own weight decay (e.g. none for biases); see ParamGroup. */
  groups?: readonly ParamGroup[];
}

/**
 * d = g + wd·p; buf = μ·buf + (1−τ)·d (buf₁ = d); d = nesterov ? d + μ·buf : buf; p ← p − lr·d.
 */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;

  constructor(params: OptimizerParams, opts: SgdOptions) {
    super(params, opts.lr, opts.groups);
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.nesterov = opts.nesterov ?? false;
    this.weightDecay = opts.weightDecay ?? 0;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) throw new ArgumentError('SGD', 'nesterov needs momentum > 0 and zero dampening');
  }

  protected update(p: Tensor, g: Tensor, state: Map<string, Tensor>, _step: number, index: number): void {
    const wd = this.weightDecayOf(index, this.weightDecay);
    let d = wd ? add(g, mul(p, wd)) : g;
    if (this.momentum) {
      const prev = state.get('momentum_buffer');
      const buf = prev ? add(mul(prev, this.momentum), mul(d, 1 - this.dampening)) : fresh(d);
      this.setState(state, 'momentum_buffer', buf);
      d = this.nesterov ? add(d, mul(buf, this.momentum)) : buf;
    }
    p.assign(sub(p, mul(d, this.lr)));
  }

  protected hyperparameters(): Record<string, number> {
    return { momentum: this.momentum, dampening: this.dampening, nesterov: Number(this.nesterov), weightDecay: this.weightDecay };
  }
}
