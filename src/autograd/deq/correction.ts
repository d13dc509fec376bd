// Fixed-point correction (Bai et al. 2022, "Deep Equilibrium Optical Flow Estimation"): the task loss applied to
// several iterates of the solve, weighted so later (closer to z*) iterates count more — TorchDEQ's fp_correction.

import type { Tensor } from '../../tensor/tensor.js';
import { ArgumentError, ShapeError, fmtShape } from '../../tensor/errors.js';
import { add, mul } from '../../tensor/ops/index.js';
import { checkTensor } from '../../tensor/ops/operands.js';

export interface CorrectionOptions {
  /**
   * Weight of the k-th of n losses (k = 0 first): 'exp' γ^(n−1−k) (default, γ = 0.8), 'linear' 1 − (n−1−k)/n·γ
   * (γ = 0.9), 'const' 1; or your own function of (n, k).
   */
  weighting?: 'exp' | 'linear' | 'const' | ((n: number, k: number) => number);
  gamma?: number;
}

/** The weights correctionLoss gives n losses. */
export function correctionWeights(n: number, options: CorrectionOptions = {}): number[] {
  const w = options.weighting ?? 'exp';
  if (typeof w !== 'function' && w !== 'exp' && w !== 'linear' && w !== 'const') {
    throw new ArgumentError('correctionLoss', `option 'weighting' must be 'exp', 'linear', 'const' or a function (n, k) => number, got ${JSON.stringify(w)}`);
  }
  const gamma = options.gamma ?? (w === 'linear' ? 0.9 : 0.8);
  if (!Number.isFinite(gamma)) throw new ArgumentError('correctionLoss', `option 'gamma' must be a finite number, got ${String(options.gamma)}`);
  return Array.from({ length: n }, (_, k) => {
    if (typeof w === 'function') return w(n, k);
    if (w === 'exp') return gamma ** (n - 1 - k);
    if (w === 'linear') return 1 - ((n - 1 - k) / n) * gamma;
    return 1;
  });
}

/**
 * Σₖ wₖ·lossₖ over the losses of successive iterates (the last one is usually the loss at z*). Pass scalar losses,
 * e.g. crossEntropy of each state fixedPoint returned through its `states` option.
 * @example const loss = correctionLoss(states.map((s) => crossEntropy(head(s), y)), { gamma: 0.8 });
 */
export function correctionLoss(losses: readonly Tensor[], options: CorrectionOptions = {}): Tensor {
  if (!Array.isArray(losses) || losses.length === 0) throw new ArgumentError('correctionLoss', 'losses must be a non-empty array of scalar tensors');
  const ts = losses.map((l, i) => {
    const t = checkTensor(l, 'correctionLoss', `losses[${i}]`);
    if (t.size !== 1) throw new ShapeError('correctionLoss', `losses[${i}] has shape ${fmtShape(t.shape)}; pass scalar losses`);
    return t;
  });
  const weights = correctionWeights(ts.length, options);
  return ts.reduce<Tensor | null>((acc, t, k) => (acc ? add(acc, mul(t, weights[k]!)) : mul(t, weights[k]!)), null)!;
}
