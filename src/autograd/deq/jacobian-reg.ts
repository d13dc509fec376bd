// Jacobian regularization (Bai, Koltun and Kolter 2021, "Stabilizing Equilibrium Models by Jacobian
// Regularization"): a Hutchinson estimate of ‖∂f/∂z‖²_F at z*, E_ε‖εᵀJ‖² = ‖J‖²_F for ε ~ N(0, I), built with
// createGraph VJPs so the estimate is itself differentiable and its gradient reaches whatever f reads.

import type { Tensor } from '../../tensor/tensor.js';
import { ArgumentError } from '../../tensor/errors.js';
import { tidy } from '../../tensor/memory.js';
import { zeros } from '../../tensor/creation.js';
import { add, detach, div, mean, sum } from '../../tensor/ops/index.js';
import { enableGrad } from '../../tensor/graph/grad-mode.js';
import { gradients } from '../backward.js';
import { checkStatePoint, countOption, normalProbe, perSampleSquaredNorm, probeRng, type ProbeOptions } from './probes.js';

export interface JacobianNormOptions extends ProbeOptions {
  /** Random probes ε averaged (default 1, as in the paper: one probe per step is unbiased). */
  probes?: number;
}

export interface JacobianRegOptions extends JacobianNormOptions {
  /**
   * 'mean' (default): mean over samples of ‖J_b‖²_F / d, TorchDEQ's scaling (‖·‖² over the batch ÷ numel);
   * 'sum': Σ_b ‖J_b‖²_F; 'none': the [B] per-sample estimates, unscaled.
   */
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * Per-sample Hutchinson estimate of ‖∂f/∂z‖²_F at z: mean over probes of ‖εᵀJ‖², ε ~ N(0, I). Unbiased; its
 * variance falls as 1/probes. z is a fixed point of evaluation (no gradient flows into z); the estimate is
 * differentiable with respect to everything else f reads (parameters, the injected input) when grad is enabled.
 *
 * Shapes: z [B, ...]; f(z) keeps z's shape and treats samples independently. Returns [B].
 * @example const fro = jacobianFrobeniusSq((z) => layer(z, x), zStar, { probes: 4, rng });
 */
export function jacobianFrobeniusSq(f: (z: Tensor) => Tensor, z: Tensor, options: JacobianNormOptions = {}): Tensor {
  const op = 'jacobianFrobeniusSq';
  const point = checkStatePoint(op, f, z);
  const probes = countOption(op, 'probes', options.probes, 1);
  const rng = probeRng(op, options);
  return tidy(() => enableGrad(() => {
    const leaf = detach(point).requireGrad();
    const out = f(leaf);
    if (!out || !(out as Tensor).isTensor) throw new ArgumentError(op, `f must return a Tensor, got ${String(out)}`);
    let total: Tensor | null = null;
    for (let k = 0; k < probes; k++) {
      if (!out.requiresGrad) break; // f does not depend on z: J = 0
      const eps = normalProbe(point, rng);
      const vjp = gradients(out, [leaf], [eps], { createGraph: true })[0]!;
      const sq = perSampleSquaredNorm(vjp);
      total = total ? add(total, sq) : sq;
    }
    return total ? div(total, probes) : zeros([point.shape[0]!], { dtype: point.dtype });
  }));
}

/**
 * The Jacobian-regularization loss term to add to a DEQ's training loss: the Hutchinson estimate of ‖∂f/∂z‖²_F at
 * z* (see jacobianFrobeniusSq), reduced over the batch. Call it with the detached equilibrium and the same f the
 * solver used; weight it (the paper uses γ between 0.5 and 2 with the mean scaling) and add it to the loss.
 * @example const loss = add(crossEntropy(logits, y), mul(jacobianRegularization((z) => cell(z, x), zStar, { rng }), 1.0));
 */
export function jacobianRegularization(f: (z: Tensor) => Tensor, z: Tensor, options: JacobianRegOptions = {}): Tensor {
  const reduction = options.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new ArgumentError('jacobianRegularization', `option 'reduction' must be 'mean', 'sum' or 'none', got ${JSON.stringify(reduction)}`);
  }
  return tidy(() => {
    const perSample = jacobianFrobeniusSq(f, z, options);
    if (reduction === 'none') return perSample;
    return reduction === 'sum' ? sum(perSample) : div(mean(perSample), z.size / z.shape[0]!);
  });
}
