// fixedPoint: an implicit layer as one autodiff primitive. The forward solves z* = f(z*, ...inputs) with no tape;
// the output is f applied once more at z*, and the gradient rule decides how that output is differentiated:
//
//   jfb      out = f(sg(z*), x)             θ̄ = Mᵀḡ                 (Jacobian-free backprop: (I − J)⁻¹ ≈ I)
//   phantom  z₀ = sg(z*), zₜ = (1−λ)zₜ₋₁ + λf(zₜ₋₁, x), out = z_k   θ̄ = Mᵀ A_{k,λ}ᵀ ḡ,  A → (I − J)⁻¹ as k → ∞
//   ift      out = f(sg(z*), x), but its cotangent is replaced by u solving u = ḡ + Jᵀu, so θ̄ = Mᵀ(I − Jᵀ)⁻¹ḡ
//   unroll   the solver's own iterations are recorded and backpropagated (memory grows with iterations)
//
// where J = ∂f/∂z and M = ∂f/∂θ at z*, sg = stop-gradient. Implicit function theorem: z* = f(z*, θ) gives
// dz* = J dz* + M dθ, so dz*/dθ = (I − J)⁻¹M and θ̄ = Mᵀ(I − Jᵀ)⁻¹ z̄*. The initial guess z0 gets no gradient
// (except under unroll). Tensors f reads from its closure are found on the tape, so they get correct gradients too.
//
// Under createGraph, ift keeps z* and its adjoint implicit again (ift.ts), so its second derivatives are exact too.
// Everything below works on the packed state [B, d] (state.ts); the solve is a generator (solvers.ts) that
// fixedPoint drives with synchronous reads and fixedPointAsync with asynchronous ones (drive.ts); argument checks
// and the tape audit are in setup.ts and bookkeeping.ts.

import type { Tensor } from '../../tensor/tensor.js';
import { ViarError } from '../../tensor/errors.js';
import { keep, tidy } from '../../tensor/memory.js';
import { add, detach, fresh, mul } from '../../tensor/ops/index.js';
import { enableGrad, isGradEnabled, noGrad } from '../../tensor/graph/grad-mode.js';
import { gradNodeWatermark } from '../../tensor/graph/node.js';
import { estimateSpectralRadius } from '../deq/spectral-radius.js';
import { read, runAsync, runSync, type Solving } from './drive.js';
import { iftOutput } from './ift.js';
import { capturedBy, primitiveNodes, solveFixedPoint, type Solved, type SolveStats } from './bookkeeping.js';
import type { FixedPointOptions, ResolvedGradient } from './options.js';
import { auditTape, prepare } from './setup.js';
import type { State } from './state.js';

export type { SolveStats } from './bookkeeping.js';

export interface FixedPointStats extends SolveStats {
  gradient: ResolvedGradient['mode'];
  /** Samples (axis 0, or 1 when perSample is off) and state size per sample. */
  batch: number;
  dim: number;
  /** Every sample converged. */
  converged: boolean;
  /** Batched calls of f made by the forward solve. */
  forwardCalls: number;
  /** Which iterate each sample's z* is ('best' falls back to it for diverged/nonFinite samples) and its trace index. */
  returned: 'best' | 'last';
  returnedStep: number[];
  /** Graph nodes the primitive recorded and the bytes of tensors they keep alive for backward. */
  memory: { tapeNodes: number; retainedBytes: number };
  /** Tensors requiring grad that f read from its closure rather than from `inputs`. */
  capturedTensors: number;
  /** Per-sample estimate of ρ(∂f/∂z) at z* (option spectralRadius), else null. */
  spectralRadius: number[] | null;
  /** Filled when the IFT backward runs (null until then, and for other rules). */
  backward: SolveStats | null;
}

export interface FixedPointResult<S extends State = Tensor> {
  /** The layer's output f(z*) under the gradient rule, structured like the state. */
  z: S;
  /** The solver's returned iterate z* itself (detached, except under unroll where it is the taped iterate). */
  zStar: S;
  /** The iterates asked for by option `states`, each through the gradient rule like z (a fixed-point correction loss). */
  states: S[];
  stats: FixedPointStats;
}

/** Thrown by fixedPoint with onFailure: 'throw' when a sample did not converge; carries the stats. */
export class FixedPointError extends ViarError {
  constructor(message: string, readonly stats: FixedPointStats) {
    super('fixedPoint', message);
  }
}

/** onFailure: 'throw': a FixedPointError naming the first samples that did not converge. */
function throwIfUnconverged(stats: FixedPointStats): void {
  if (stats.converged) return;
  const bad = stats.status.map((s, b) => [s, b] as const).filter(([s]) => s !== 'converged');
  const which = bad.slice(0, 5).map(([s, b]) => `sample ${b}: ${s}, residual ${stats.lastResidual[b]!.toExponential(2)}`).join('; ');
  throw new FixedPointError(`${bad.length} of ${stats.batch} samples did not converge (${which})`, stats);
}

/** f on the packed state: [B, d] → [B, d] (taped or not, as the current grad mode says). */
export type PackedMap = (z: Tensor) => Tensor;

// ---------- the gradient rules: one entry per rule, its output at the returned iterate ẑ ----------

interface RuleInput {
  f: PackedMap;
  rule: ResolvedGradient;
  /** f with the inputs passed explicitly, the inputs, and the closure captures of a graph f recorded (for IFT). */
  map: (z: Tensor, xs: readonly Tensor[]) => Tensor;
  xs: readonly Tensor[];
  capturedOf: (y: Tensor, zLeaf: Tensor) => Tensor[];
  /** Where the IFT adjoint's statistics go (null: not reported, e.g. for intermediate states). */
  stats: FixedPointStats | null;
  /** Leaves the rule made (the IFT's stand-in for z*), so the capture audit knows them. */
  leaves: Tensor[];
}

const GRADIENT_RULES: Record<ResolvedGradient['mode'], { derivation: string; output: (zHat: Tensor, r: RuleInput) => Tensor }> = {
  jfb: {
    derivation: 'out = f(sg(ẑ), x): the Neumann series (I − J)⁻¹ = I + J + J² + … cut after I, so θ̄ = Mᵀḡ',
    output: (zHat, { f }) => f(detach(zHat)),
  },
  phantom: {
    derivation: 'k damped steps from sg(ẑ), taped: θ̄ = Mᵀ Σₜ λ((1−λ)I + λJ)ᵗ ḡ, a truncated series for (I − J)⁻¹ (exact as k → ∞)',
    output: (zHat, { f, rule }) => {
      const { k, damping } = rule as Extract<ResolvedGradient, { mode: 'phantom' }>;
      let z = detach(zHat);
      for (let t = 0; t < k; t++) z = damping === 1 ? f(z) : add(mul(z, 1 - damping), mul(f(z), damping));
      return z;
    },
  },
  ift: {
    derivation: 'out = f(sg(ẑ), x), its cotangent ḡ replaced by u = ḡ + Jᵀu (solved in backward): θ̄ = Mᵀ(I − Jᵀ)⁻¹ḡ; under createGraph z* and u stay implicit (ift.ts)',
    output: (zHat, { f, map, xs, capturedOf, rule, stats, leaves }) => {
      if (!isGradEnabled()) return f(detach(zHat));
      const { solve, init, cache } = rule as Extract<ResolvedGradient, { mode: 'ift' }>;
      const report = stats ? (b: SolveStats) => { stats.backward = b; } : null;
      const pending = stats ? (read: Promise<void>) => { PENDING_READS.set(stats, [...(PENDING_READS.get(stats) ?? []), read]); } : null;
      return iftOutput(zHat, map, xs, { settings: solve, init, cache, report, pending }, capturedOf, leaves);
    },
  },
  unroll: {
    derivation: 'ẑ is the taped result of the solver\'s iterations: backprop runs through every one of them',
    output: (zHat, { f }) => f(zHat),
  },
};

// ---------- the primitive ----------

/**
 * The whole primitive as a generator of reads: the solve, the failure policy, the gradient rule at z* and at the
 * requested iterates, the tape audit. fixedPoint and fixedPointAsync only differ in who answers the reads.
 */
function* fixedPointSteps<S extends State>(
  f: (z: S, ...inputs: Tensor[]) => S, inputs: readonly Tensor[], options: FixedPointOptions<S>,
): Solving<FixedPointResult<S>> {
  const p = prepare(f, inputs, options);
  const gradOn = isGradEnabled();
  const watermark = gradNodeWatermark();
  const start = performance.now();

  // ---- the solve: untaped (taped for unroll), each evaluation of f in its own scope so memory stays flat ----
  let solved: Solved;
  try {
    solved = yield* solveFixedPoint((x) => tidy(() => p.f(x)), p.x0, p.solve, { grad: p.taped, returnIterate: p.returnIterate, states: p.states });
  } finally {
    p.x0.dispose();
  }
  const { z: zHat, states: iterates } = solved;
  const stats: FixedPointStats = {
    ...solved.stats, gradient: p.rule.mode, batch: p.codec.batch, dim: p.codec.dim,
    converged: solved.stats.status.every((s) => s === 'converged'), forwardCalls: solved.calls,
    returned: p.returnIterate, returnedStep: solved.returnedStep,
    memory: { tapeNodes: 0, retainedBytes: 0 }, capturedTensors: 0, spectralRadius: null, backward: null,
  };
  try {
    if (options.onFailure === 'throw') throwIfUnconverged(stats);
    if (p.spectralRadius) {
      const rho = keep(estimateSpectralRadius(p.f, detach(zHat), p.spectralRadius));
      try { stats.spectralRadius = Array.from(yield* read(rho)); } finally { rho.dispose(); }
      stats.reads++;
    }

    // ---- the outputs: the gradient rule at z* and at each requested iterate ----
    const leaves: Tensor[] = [];
    const capturedOf = (y: Tensor, zLeaf: Tensor) => capturedBy(primitiveNodes([y], watermark), watermark, [...p.xs, zLeaf]);
    const rule = GRADIENT_RULES[p.rule.mode];
    const at = (z: Tensor, report: boolean) => p.codec.unpack(rule.output(z, { f: p.f, map: p.map, xs: p.xs, capturedOf, rule: p.rule, stats: report ? stats : null, leaves }));
    const result = (gradOn ? enableGrad : noGrad)(() => tidy(() => ({
      z: at(zHat, true),
      zStar: p.codec.unpack(p.rule.mode === 'unroll' ? fresh(zHat) : detach(zHat)),
      states: iterates.map((t) => at(t, false)),
    })));

    auditTape(result, stats, watermark, [...p.xs, ...p.z0Parts, ...leaves], options.strictInputs ?? false);
    stats.timeMs = performance.now() - start;
    return { ...result, stats };
  } finally {
    [zHat, ...iterates].forEach((t) => t.dispose());
  }
}

/**
 * Solves z* = f(z*, ...inputs) and returns f's output at z* with the chosen gradient rule, plus per-sample stats.
 * Reads residuals synchronously: on a backend that reads asynchronously (WebGPU) use fixedPointAsync, unless the
 * solve reads nothing (Picard or Broyden with tol: 0, relTol: 0, stagnationWindow: 0; its traces then stay NaN).
 *
 * Shapes: the state z (z0, or the first input's shape by default) is [B, ...] with B independent samples when
 * perSample (default for rank ≥ 2), or an array/record of such tensors sharing B; f(z, ...inputs) must return z's
 * structure, shapes and dtype.
 *
 * Reads per solve (each a [B, 2] residual, or a [B, n² + 1] Gram matrix): Picard and Broyden one per evaluation of
 * f; Anderson two per iteration (Gram and residual, a third when its safeguard rejects a step); a solve with no
 * tolerance and no stagnation test (not Anderson) reads nothing until one read of its whole trace at the end.
 * spectralRadius adds one. stats.reads counts them.
 * @example
 * const { z, stats } = fixedPoint((z, x) => tanh(add(matmul(z, W), x)), [x], { solver: 'anderson', tol: 1e-5 });
 */
export function fixedPoint<S extends State = Tensor>(
  f: (z: S, ...inputs: Tensor[]) => S, inputs: readonly Tensor[], options: FixedPointOptions<S> = {},
): FixedPointResult<S> {
  return runSync(fixedPointSteps(f, inputs, options));
}

/**
 * fixedPoint on any backend: the same options, algorithm and result, with every read awaited (await t.data()), so
 * it runs where results can only be read asynchronously (WebGPU). Costs the reads listed under fixedPoint, each an
 * await. The IFT backward (synchronous, like every backward) waits for no read on such a backend: its adjoint runs
 * the whole gradient.maxIter budget with converged samples frozen on the device, and its trace is read in the
 * background (await readBackwardStats(stats) for the complete stats.backward).
 * @example
 * const { z, stats } = await fixedPointAsync((z, x) => tanh(add(matmul(z, W), x)), [x], { tol: 1e-5 });
 */
export async function fixedPointAsync<S extends State = Tensor>(
  f: (z: S, ...inputs: Tensor[]) => S, inputs: readonly Tensor[], options: FixedPointOptions<S> = {},
): Promise<FixedPointResult<S>> {
  return runAsync(fixedPointSteps(f, inputs, options));
}

/** Reads of IFT adjoint traces that a backward on an asynchronous backend could not wait for. */
const PENDING_READS = new WeakMap<FixedPointStats, Promise<void>[]>();

/**
 * stats.backward once every read it waits for has completed: on a backend that reads asynchronously the IFT backward
 * cannot wait for its residual trace, so it reports NaN traces and reads them in the background; this resolves after.
 * @example loss.backward(); const adjoint = await readBackwardStats(stats);   // adjoint.absTrace: numbers
 */
export async function readBackwardStats(stats: FixedPointStats): Promise<SolveStats | null> {
  const reads = PENDING_READS.get(stats) ?? [];
  PENDING_READS.delete(stats);
  await Promise.all(reads);
  return stats.backward;
}

/** The gradient rules and their derivations, for documentation and the tests. */
export const gradientRules: Readonly<Record<ResolvedGradient['mode'], string>> = Object.fromEntries(
  Object.entries(GRADIENT_RULES).map(([mode, r]) => [mode, r.derivation]),
) as Record<ResolvedGradient['mode'], string>;
