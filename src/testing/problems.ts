// Fixed-point problems for the testing kit: the FixedPointProblem an oracle checks (a user's own layer, or one built
// here), and plain-data specs of contraction maps with a known Lipschitz constant that build into problems.

import type { Tensor } from '../tensor/tensor.js';
import { randn, tensor, zeros } from '../tensor/creation.js';
import { Rng } from '../tensor/random.js';
import { add, matmul, tanh, transpose } from '../tensor/ops/index.js';
import { ArgumentError } from '../tensor/errors.js';
import { withSingularValues } from './linalg.js';

/** An implicit layer's map: z ↦ f(z, ...inputs), returning z's shape [B, ...]. */
export type ImplicitMap = (z: Tensor, ...inputs: Tensor[]) => Tensor;

/**
 * A fixed-point problem z* = f(z*, ...inputs) for the oracles. `lipschitz` is an upper bound L < 1 on f's Lipschitz
 * constant in z, per sample, in the Euclidean norm (for tanh(W z + …), ‖W‖₂ is one): every bound the oracles check
 * follows from it, so a layer that breaks them is not an L-contraction or its gradient is wrong.
 */
export interface FixedPointProblem {
  f: ImplicitMap;
  inputs: readonly Tensor[];
  lipschitz: number;
  /** Start of the iteration, [B, ...] (default: zeros shaped like inputs[0]). */
  z0?: Tensor;
  /** Which inputs carry the batch on axis 0, sliced per sample by the batch-independence oracle (default: inputs[0] only). */
  batched?: readonly boolean[];
  /** Named in reports. */
  label?: string;
}

/**
 * A contraction map as plain data (prints readably in a fast-check counterexample):
 * - 'linear': f(z, x, W) = z Wᵀ + x;
 * - 'tanh':   f(z, x, W, U, b) = tanh(z Wᵀ + x Uᵀ + b);
 * W = P diag(σ) Qᵀ with σ₁ = lipschitz and the other σᵢ drawn in [0, lipschitz], so ‖W‖₂ = lipschitz exactly.
 */
export interface ContractionSpec {
  kind: 'linear' | 'tanh';
  dim: number;
  batch: number;
  lipschitz: number;
  /** Seeds W's singular vectors and spectrum, the inputs and z0. */
  seed: number;
  /** Scale of z0 (0 starts at the origin). */
  z0Scale: number;
}

/** Builds a spec's tensors (float64). Call inside tidy(), or dispose the problem's tensors yourself. */
export function buildProblem(spec: ContractionSpec): FixedPointProblem & { z0: Tensor; W: Tensor } {
  const { kind, dim: d, batch, lipschitz: L, seed } = spec;
  if (!(Number.isInteger(d) && d >= 1 && Number.isInteger(batch) && batch >= 1)) {
    throw new ArgumentError('buildProblem', `dim and batch must be positive integers, got ${d} and ${batch}`);
  }
  if (!(L >= 0 && L < 1)) throw new ArgumentError('buildProblem', `lipschitz must be in [0, 1), got ${L}`);
  const rng = new Rng(seed);
  const sigmas = Array.from({ length: d }, (_, i) => (i === 0 ? L : L * rng.uniform()));
  const W = tensor(withSingularValues(sigmas, rng).flat(), { dtype: 'float64', shape: [d, d] });
  const f64 = { dtype: 'float64' as const };
  const x = randn([batch, d], rng, f64);
  const z0 = spec.z0Scale === 0 ? zeros([batch, d], f64) : randn([batch, d], rng, { ...f64, std: spec.z0Scale });
  const label = `${kind} contraction (dim ${d}, batch ${batch}, ‖W‖₂ = ${L})`;
  if (kind === 'linear') {
    const f: ImplicitMap = (z, xx, w) => add(matmul(z, transpose(w!)), xx!);
    return { f, inputs: [x, W], lipschitz: L, z0, W, batched: [true, false], label };
  }
  const U = randn([d, d], rng, { ...f64, std: 0.5 });
  const b = randn([d], rng, { ...f64, std: 0.3 });
  const f: ImplicitMap = (z, xx, w, u, bias) => tanh(add(add(matmul(z, transpose(w!)), matmul(xx!, transpose(u!))), bias!));
  return { f, inputs: [x, W, U, b], lipschitz: L, z0, W, batched: [true, false, false, false], label };
}
