// Optimizer base: holds parameters and per-parameter state, applies updates without recording a graph, and
// serializes its state (tensors + step count) for checkpoints.

import type { Tensor } from '../../tensor/tensor.js';
import { ArgumentError } from '../../tensor/errors.js';
import { keep, tidy } from '../../tensor/memory.js';
import { noGrad } from '../../tensor/graph/grad-mode.js';
import { add, div, minimum, sqrt, sum, square, mul, stack, fresh } from '../../tensor/ops/index.js';

export interface OptimizerState {
  /** Per-parameter state tensors, named `<paramIndex>.<slot>` (e.g. `0.exp_avg`). */
  tensors: Map<string, Tensor>;
  /** Step count and hyperparameters. */
  meta: Record<string, number>;
}

export abstract class Optimizer {
  readonly params: Tensor[];
  /** Learning rate; schedules set it before each step. */
  lr: number;
  stepCount = 0;
  protected readonly state: Map<string, Tensor>[];

  constructor(params: Iterable<Tensor>, lr: number) {
    this.params = [...params];
    if (this.params.length === 0) throw new ArgumentError(new.target.name, 'got no parameters to optimize');
    this.params.forEach((p, i) => {
      if (!p.requiresGrad || !p.isLeaf) throw new ArgumentError(new.target.name, `parameter ${i} (shape [${p.shape.join(', ')}]) is not a leaf that requires grad`);
    });
    if (!(lr >= 0)) throw new ArgumentError(new.target.name, `lr must be ≥ 0, got ${lr}`);
    this.lr = lr;
    this.state = this.params.map(() => new Map());
  }

  /** The update for one parameter with gradient g (runs under noGrad inside a tidy scope). */
  protected abstract update(p: Tensor, g: Tensor, state: Map<string, Tensor>, step: number): void;

  /** Stores a state tensor, disposing the one it replaces and keeping the new one out of tidy scopes. */
  protected setState(state: Map<string, Tensor>, slot: string, value: Tensor): Tensor {
    const old = state.get(slot);
    state.set(slot, keep(value));
    if (old && old !== value) old.dispose();
    return value;
  }

  /** Applies one update to every parameter that has a gradient. */
  step(): void {
    this.stepCount++;
    noGrad(() => {
      this.params.forEach((p, i) => {
        if (!p.grad) return;
        tidy(() => this.update(p, p.grad!, this.state[i]!, this.stepCount));
      });
    });
  }

  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Hyperparameters worth saving besides lr and the step count. */
  protected abstract hyperparameters(): Record<string, number>;

  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.state.forEach((s, i) => { for (const [slot, t] of s) tensors.set(`${i}.${slot}`, t); });
    return { tensors, meta: { step: this.stepCount, lr: this.lr, ...this.hyperparameters() } };
  }

  /** Restores state saved by stateDict() for the same parameter list (shapes are checked). */
  loadStateDict(saved: OptimizerState): void {
    for (const [name, t] of saved.tensors) {
      const [index, slot] = [Number(name.slice(0, name.indexOf('.'))), name.slice(name.indexOf('.') + 1)];
      const p = this.params[index];
      if (!p || !slot) throw new ArgumentError('Optimizer.loadStateDict', `state '${name}' does not belong to any of the ${this.params.length} parameters`);
      if (t.shape.join() !== p.shape.join()) throw new ArgumentError('Optimizer.loadStateDict', `state '${name}' has shape [${t.shape.join(', ')}], parameter ${index} has [${p.shape.join(', ')}]`);
      this.setState(this.state[index]!, slot, fresh(t));
    }
    this.stepCount = saved.meta.step ?? 0;
    if (saved.meta.lr !== undefined) this.lr = saved.meta.lr;
  }

  dispose(): void {
    for (const s of this.state) for (const t of s.values()) t.dispose();
    this.state.forEach((s) => s.clear());
  }
}

/**
 * Scales gradients in place so that their global norm is at most maxNorm (PyTorch's clip_grad_norm_: the factor is
 * maxNorm / (norm + 1e-6), applied only when below 1). Returns the norm before clipping.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, normType = 2): number {
  const withGrad = [...params].filter((p) => p.grad);
  if (withGrad.length === 0) return 0;
  return noGrad(() => tidy(() => {
    let total: number;
    if (normType === Infinity) {
      total = Math.max(...withGrad.map((p) => Math.max(...Array.from(p.grad!.abs().max().dataSync()))));
    } else {
      const perParam = withGrad.map((p) => sum(normType === 2 ? square(p.grad!) : p.grad!.abs().pow(normType)));
      const s = sum(stack(perParam)).item();
      total = normType === 2 ? Math.sqrt(s) : s ** (1 / normType);
    }
    const coef = maxNorm / (total + 1e-6);
    if (coef < 1) {
      for (const p of withGrad) {
        const scaled = keep(mul(p.grad!, coef));
        p.grad!.dispose();
        p.grad = scaled;
      }
    }
    return total;
  }));
}

/**
 * clipGradNorm (2-norm) without reading the device, for asynchronous backends: the factor min(1, maxNorm/(‖g‖ + 1e-6))
 * is computed and applied as tensor ops (a factor of 1 leaves gradients unchanged). Returns ‖g‖ before clipping as
 * a kept scalar tensor, to read when convenient (await norm.data()); the caller disposes it.
 */
export function clipGradNormOnDevice(params: Iterable<Tensor>, maxNorm: number): Tensor | null {
  const withGrad = [...params].filter((p) => p.grad);
  if (withGrad.length === 0) return null;
  return noGrad(() => tidy(() => {
    const total = sqrt(sum(stack(withGrad.map((p) => sum(square(p.grad!))))));
    const coef = minimum(div(maxNorm, add(total, 1e-6)), 1);
    for (const p of withGrad) {
      const scaled = keep(mul(p.grad!, coef));
      p.grad!.dispose();
      p.grad = scaled;
    }
    return keep(total);
  }));
}
