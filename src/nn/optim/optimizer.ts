// Optimizer base: holds parameters (optionally named, in parameter groups with their own weight decay) and
// per-parameter state, applies updates without recording a graph, and serializes its state for checkpoints.

import type { Tensor } from '../../tensor/tensor.js';
import { ArgumentError } from '../../tensor/errors.js';
import { keep, tidy } from '../../tensor/memory.js';
import { noGrad } from '../../tensor/graph/grad-mode.js';
import { abs, add, div, max, minimum, mul, pow, sqrt, square, stack, sum, fresh } from '../../tensor/ops/index.js';

export interface OptimizerState {
  /** Per-parameter state tensors, named `<paramIndex>.<slot>` (e.g. `0.exp_avg`). */
  tensors: Map<string, Tensor>;
  /** Step count and hyperparameters. */
  meta: Record<string, number>;
}

/** What an optimizer optimizes: tensors, or [name, tensor] pairs (Module.namedParameters()) that groups match by name. */
export type OptimizerParams = Iterable<Tensor> | Iterable<readonly [string, Tensor]>;

/**
 * Settings for the parameters a group matches, in place of the optimizer's own (PyTorch's param_groups, chosen by a
 * predicate). The first group whose `match` holds takes a parameter; parameters no group takes use the options.
 * @example new AdamW(model.namedParameters(), { lr: 1e-3, weightDecay: 0.05, groups: [{ match: (name, p) => p.rank <= 1, weightDecay: 0 }] })
 */
export interface ParamGroup {
  /** Whether the group holds a parameter, given its name (its index as a string for unnamed parameters) and the tensor. */
  match: (name: string, param: Tensor) => boolean;
  /** The group's weight decay (default: the optimizer's). */
  weightDecay?: number;
}

export abstract class Optimizer {
  readonly params: Tensor[];
  /** The parameters' names: as given with [name, tensor] pairs, else their indices. */
  readonly paramNames: string[];
  /** Learning rate; schedules set it before each step. */
  lr: number;
  stepCount = 0;
  protected readonly state: Map<string, Tensor>[];
  /** Per parameter: the index of its group in `groups`, or -1 for none. */
  private readonly groupIndex: number[];

  constructor(params: OptimizerParams, lr: number, protected readonly groups: readonly ParamGroup[] = []) {
    const op = new.target.name;
    const entries = [...params].map((item, i) => (Array.isArray(item) ? item as readonly [string, Tensor] : [String(i), item as Tensor] as const));
    this.params = entries.map(([, p]) => p);
    this.paramNames = entries.map(([name]) => name);
    if (this.params.length === 0) throw new ArgumentError(op, 'got no parameters to optimize');
    this.params.forEach((p, i) => {
      const name = this.paramNames[i] === String(i) ? '' : ` '${this.paramNames[i]}'`;
      if (!p?.isTensor) throw new ArgumentError(op, `parameter ${i}${name} is not a tensor`);
      if (!p.requiresGrad || !p.isLeaf) throw new ArgumentError(op, `parameter ${i}${name} (shape [${p.shape.join(', ')}]) is not a leaf that requires grad`);
    });
    if (!(lr >= 0)) throw new ArgumentError(op, `lr must be ≥ 0, got ${lr}`);
    if (!Array.isArray(groups)) throw new ArgumentError(op, 'groups must be an array of { match, ... }');
    groups.forEach((g, k) => {
      if (typeof g?.match !== 'function') throw new ArgumentError(op, `groups[${k}].match must be a function (name, param) => boolean`);
      if (g.weightDecay !== undefined && !(g.weightDecay >= 0 && Number.isFinite(g.weightDecay))) {
        throw new ArgumentError(op, `groups[${k}].weightDecay must be a finite number ≥ 0, got ${g.weightDecay}`);
      }
    });
    this.lr = lr;
    this.state = this.params.map(() => new Map());
    this.groupIndex = this.params.map((p, i) => groups.findIndex((g) => g.match(this.paramNames[i]!, p)));
  }

  /** The group (in the constructor's `groups`) that holds parameter `index`, or null when none matched. */
  groupOf(index: number): ParamGroup | null {
    return this.groups[this.groupIndex[index] ?? -1] ?? null;
  }

  /** Parameter `index`'s weight decay: its group's when it sets one, else `fallback` (the optimizer's). */
  protected weightDecayOf(index: number, fallback: number): number {
    return this.groupOf(index)?.weightDecay ?? fallback;
  }

  /** The update for parameter `index` with gradient g (runs under noGrad inside a tidy scope). */
  protected abstract update(p: Tensor, g: Tensor, state: Map<string, Tensor>, step: number, index: number): void;

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
        tidy(() => this.update(p, p.grad!, this.state[i]!, this.stepCount, i));
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
 * Scales gradients in place so that their global norm is at most maxNorm (PyTorch's clip_grad_norm_: every gradient
 * is multiplied by min(1, maxNorm / (norm + 1e-6))). Written in tensor ops on the gradients' backend, so nothing is
 * read back: the norm before clipping comes back as a scalar tensor kept out of tidy scopes, to read when convenient
 * (`await norm.data()` on any backend, `norm.item()` where reads are synchronous) and to dispose. null when no
 * parameter has a gradient.
 * @param normType p of the p-norm (default 2; Infinity for the largest magnitude).
 * @example const norm = clipGradNormTensor(model.parameters(), 1); console.log((await norm!.data())[0]); norm!.dispose();
 */
export function clipGradNormTensor(params: Iterable<Tensor>, maxNorm: number, normType = 2): Tensor | null {
  if (!(maxNorm >= 0)) throw new ArgumentError('clipGradNorm', `maxNorm must be a number ≥ 0, got ${maxNorm}`);
  if (!(normType > 0)) throw new ArgumentError('clipGradNorm', `normType must be a positive number or Infinity, got ${normType}`);
  const withGrad = [...params].filter((p) => p.grad);
  if (withGrad.length === 0) return null;
  const grads = withGrad.map((p) => p.grad!);
  return noGrad(() => tidy(() => {
    let total: Tensor;
    if (normType === Infinity) total = max(stack(grads.map((g) => max(abs(g)))));
    else if (normType === 2) total = sqrt(sum(stack(grads.map((g) => sum(square(g))))));
    else total = pow(sum(stack(grads.map((g) => sum(pow(abs(g), normType))))), 1 / normType);
    const coef = minimum(div(maxNorm, add(total, 1e-6)), 1); // a factor of 1 leaves a gradient exactly as it is
    for (const p of withGrad) {
      const scaled = keep(mul(p.grad!, coef));
      p.grad!.dispose();
      p.grad = scaled;
    }
    return keep(total);
  }));
}

/**
 * clipGradNormTensor, then the norm read synchronously (0 when no parameter has a gradient): a convenience for
 * backends that read synchronously; elsewhere use clipGradNormTensor and `await norm.data()`.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, normType = 2): number {
  const norm = clipGradNormTensor(params, maxNorm, normType);
  if (!norm) return 0;
  try {
    return norm.item();
  } finally {
    norm.dispose();
  }
}

/** @deprecated The same as clipGradNormTensor(params, maxNorm), which works on every backend. */
export function clipGradNormOnDevice(params: Iterable<Tensor>, maxNorm: number): Tensor | null {
  return clipGradNormTensor(params, maxNorm);
}
