// Spectral radius of ∂f/∂z at a point, per sample, by power iteration on vector-Jacobian products. Only tensor ops
// run (no reads), so it works unchanged on backends that read asynchronously; await the result's data() to see it.

import type { Tensor } from '../../tensor/tensor.js';
import { tidy } from '../../tensor/memory.js';
import { detach, div, maximum, mul, reshape, sqrt } from '../../tensor/ops/index.js';
import { noGrad } from '../../tensor/graph/grad-mode.js';
import { vjp } from '../functional.js';
import { countOption, normalProbe, perSampleSquaredNorm, probeRng, statePoint, type ProbeOptions } from './probes.js';
import type { State } from '../fixed-point/state.js';

export interface SpectralRadiusOptions extends ProbeOptions {
  /** Power iterations (VJPs of f at z; default 20). f itself is evaluated once. */
  iterations?: number;
}

/** Below this per-sample norm a vector counts as zero (the map sent it to 0). */
const TINY = 1e-30;

/** v / ‖v‖ per sample, where ‖·‖ is over every axis but the first. */
function normalizePerSample(v: Tensor, norms: Tensor): Tensor {
  const b = v.shape[0]!;
  const shape = [b, ...v.shape.slice(1).map(() => 1)];
  return div(v, reshape(maximum(norms, TINY), shape));
}

/**
 * Estimates ρ(∂f/∂z) at z for each sample: power iteration v ← Jᵀv/‖Jᵀv‖ from a seeded normal start, returning
 * ‖Jᵀv‖ at the last step. It converges to the largest |eigenvalue| when that eigenvalue is real and unique in
 * modulus, or when J is symmetric; for complex-dominant spectra it is an estimate that oscillates around ρ.
 * A DEQ's solver converges locally when ρ < 1 (Picard needs it; Anderson and Broyden tolerate more).
 *
 * Shapes: z [B, ...] with the first axis the batch (or an array/record of such tensors, packed as fixedPoint packs
 * states); f(z) must keep z's structure and shapes and treat samples independently (no batch statistics), so each
 * sample's Jacobian is its own block. Returns a detached [B] tensor of z's dtype.
 * @example const rho = await estimateSpectralRadius((z) => tanh(add(matmul(z, W), x)), zStar).data();
 */
export function estimateSpectralRadius<S extends State = Tensor>(f: (z: S) => S, z: S, options: SpectralRadiusOptions = {}): Tensor {
  const op = 'estimateSpectralRadius';
  const iterations = countOption(op, 'iterations', options.iterations, 20);
  const rng = probeRng(op, options);
  return tidy(() => {
    const { point, F } = statePoint(op, f, z);
    const { output, pullback } = vjp(F, detach(point));
    try {
      return noGrad(() => {
        const start = normalProbe(point, rng);
        let v = normalizePerSample(start, sqrt(perSampleSquaredNorm(start)));
        let radius = mul(perSampleSquaredNorm(v), 0);
        if (!output.requiresGrad) return radius; // f does not depend on z: J = 0
        for (let k = 0; k < iterations; k++) {
          const w = pullback(v)[0]!;
          radius = sqrt(perSampleSquaredNorm(w));
          v = normalizePerSample(w, radius);
        }
        return radius;
      });
    } finally {
      output.dispose();
    }
  });
}
