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
import { countOption, normalProbe, perSampleSquaredNorm, probeRng, statePoint, type ProbeOptions } from './probes.js';
import type { State } from '../fixed-point/state.js';

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
 * Shapes: z [B, ...] (or an array/record of such tensors, packed as fixedPoint packs states); f(z) keeps z's
 * structure and shapes and treats samples independently. Returns [B].
 * @example const fro = jacobianFrobeniusSq((z) => layer(z, x), zStar, { probes: 4, rng });
 */
export function jacobianFrobeniusSq<S extends State = Tensor>(f: (z: S) => S, z: S, options: JacobianNormOptions = {}): Tensor {
  return tidy(() => {
    const { point, F } = statePoint('jacobianFrobeniusSq', f, z);
    return frobeniusSqAt('jacobianFrobeniusSq', F, point, options);
  });
}

/** The estimate at the packed point [B, d] for the packed map F. */
function frobeniusSqAt(op: string, F: (z: Tensor) => Tensor, point: Tensor, options: JacobianNormOptions): Tensor {
  const probes = countOption(op, 'probes', options.probes, 1);
  const rng = probeRng(op, options);
  return enableGrad(() => {
    const leaf = detach(point).requireGrad();
    const out = F(leaf);
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
  });
}

/**
 * The Jacobian-regularization loss term to add to a DEQ's training loss: the Hutchinson estimate of ‖∂f/∂z‖²_F at
 * z* (see jacobianFrobeniusSq), reduced over the batch. Call it with the detached equilibrium and the same f the
 * solver used; weight it (a hyperparameter the paper tunes per task) and add it to the loss.
 * @example const loss = add(crossEntropy(logits, y), mul(jacobianRegularization((z) => cell(z, x), zStar, { rng }), 1.0));
 */
export function jacobianRegularization<S extends State = Tensor>(f: (z: S) => S, z: S, options: JacobianRegOptions = {}): Tensor {
  const op = 'jacobianRegularization';
  const reduction = options.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new ArgumentError(op, `option 'reduction' must be 'mean', 'sum' or 'none', got ${JSON.stringify(reduction)}`);
  }
  return tidy(() => {
    const { point, F } = statePoint(op, f, z);
    const perSample = frobeniusSqAt(op, F, point, options);
    if (reduction === 'none') return perSample;
    return reduction === 'sum' ? sum(perSample) : div(mean(perSample), point.shape[1]!);
  });
}
