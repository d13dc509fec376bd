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

import type { Tensor } from '../../tensor/tensor.js';
import { makeSavedAlias } from '../../tensor/tensor.js';
import { ArgumentError, ShapeError, ViarError, fmtShape } from '../../tensor/errors.js';
import { keep, tidy } from '../../tensor/memory.js';
import { add, detach, mul, reshape } from '../../tensor/ops/index.js';
import { zeros, zerosLike } from '../../tensor/creation.js';
import { shapesEqual } from '../../tensor/shape.js';
import { checkTensor } from '../../tensor/ops/operands.js';
import { defineOp } from '../../tensor/graph/define-op.js';
import { enableGrad, isGradEnabled, noGrad } from '../../tensor/graph/grad-mode.js';
import { gradients } from '../backward.js';
import { gradNodeWatermark, type GradNode } from '../../tensor/graph/node.js';
import { Monitor, type SampleStatus } from './monitor.js';
import { solveFixedPoint } from './solvers.js';
import {
  resolveGradient, resolveSolve, validateTopLevel,
  type FixedPointOptions, type ResolvedGradient, type ResolvedSolve, type SolverName,
} from './options.js';

/** Per-sample results of one solve (forward, or the IFT adjoint). Traces are plain numbers. */
export interface SolveStats {
  solver: SolverName;
  status: SampleStatus[];
  /** Evaluations of f (forward) or of the VJP (adjoint) per sample. */
  nFevals: number[];
  bestResidual: number[];
  lastResidual: number[];
  /** Index (into the trace) of each sample's lowest residual. */
  bestStep: number[];
  absTrace: number[][];
  relTrace: number[][];
  timeMs: number;
}

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
  /** Filled when the IFT backward runs (null until then, and for other rules). */
  backward: SolveStats | null;
}

export interface FixedPointResult {
  /** The layer's output, shaped like z. */
  z: Tensor;
  stats: FixedPointStats;
}

/** Thrown by fixedPoint with onFailure: 'throw' when a sample did not converge; carries the stats. */
export class FixedPointError extends ViarError {
  constructor(message: string, readonly stats: FixedPointStats) {
    super('fixedPoint', message);
  }
}

type ImplicitFn = (z: Tensor, ...inputs: Tensor[]) => Tensor;

function callF(f: ImplicitFn, z: Tensor, inputs: readonly Tensor[]): Tensor {
  const out = f(z, ...inputs);
  if (!out || !(out as Tensor).isTensor) throw new ArgumentError('fixedPoint', `f must return a Tensor, got ${String(out)}`);
  if (!shapesEqual(out.shape, z.shape)) {
    throw new ShapeError('fixedPoint', `f returned shape ${fmtShape(out.shape)} for z of shape ${fmtShape(z.shape)}; f(z, ...inputs) must keep z's shape`);
  }
  if (out.dtype !== z.dtype) throw new ArgumentError('fixedPoint', `f returned ${out.dtype} for a ${z.dtype} z`);
  return out;
}

function statsOf(monitor: Monitor, solver: SolverName, timeMs: number): SolveStats {
  return {
    solver,
    status: [...monitor.status],
    nFevals: [...monitor.nFevals],
    bestResidual: [...monitor.bestResidual],
    lastResidual: [...monitor.lastResidual],
    bestStep: [...monitor.bestStep],
    absTrace: monitor.absTrace.map((t) => [...t]),
    relTrace: monitor.relTrace.map((t) => [...t]),
    timeMs,
  };
}

/** Nodes recorded at or after `watermark` that `out` depends on. */
function primitiveNodes(out: Tensor, watermark: number): GradNode[] {
  const found: GradNode[] = [];
  const seen = new Set<GradNode>();
  const stack = out.node ? [out.node] : [];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n) || n.id < watermark) continue;
    seen.add(n);
    found.push(n);
    for (const p of n.parents) if (p) stack.push(p);
  }
  return found;
}

/** Tensors requiring grad reached by the primitive's nodes that are not `inputs` (closure captures). */
function capturedBy(nodes: readonly GradNode[], watermark: number, allowed: readonly Tensor[]): Tensor[] {
  const ok = new Set<Tensor>(allowed);
  const allowedNodes = new Set(allowed.map((t) => t.node).filter((n): n is GradNode => n !== null));
  const captured = new Set<Tensor>();
  for (const n of nodes) {
    n.inputs.forEach((t, i) => {
      if (!n.needs[i]) return;
      const leaf = t.gradTarget ?? t;
      const parent = n.parents[i];
      if (parent === null && !ok.has(leaf)) captured.add(leaf);
      if (parent !== null && parent!.id < watermark && !allowedNodes.has(parent!)) captured.add(t);
    });
  }
  return [...captured];
}

interface IftAttrs {
  settings: ResolvedSolve;
  init: 'zero' | 'grad';
  cache: { u: Tensor | null } | null;
  stats: FixedPointStats;
  shape: readonly number[];
  batch: number;
  /** The leaf that stands for z* in y's graph; the op saves an alias of it (freed with the node). */
  zLeaf: Tensor;
}

/**
 * The IFT rule as an op on y = f(sg(z*), x): identity forward; its VJP solves u = ḡ + Jᵀu by fixed-point
 * iteration (or Anderson/Broyden) using VJPs of y with respect to z*, and hands u on to y's graph, which
 * applies Mᵀ. Saved: y (with its graph) and the leaf standing for z*.
 */
const iftOp = defineOp<IftAttrs>({
  name: 'fixedPoint.ift',
  forward: ([y], attrs) => ({ output: mul(y!, 1), saved: [makeSavedAlias(attrs.zLeaf, null)] }),
  saveInputs: [0],
  vjp: (gy, ctx) => {
    const { settings, init, cache, stats, shape, batch } = ctx.attrs;
    const y = ctx.inputs[0]!;
    const zLeaf = ctx.saved[0]!;
    const start = performance.now();
    const u = noGrad(() => {
      const g = reshape(gy, [batch, -1]);
      const pullZ = (uFlat: Tensor): Tensor => add(g, reshape(gradients(y, [zLeaf], [reshape(uFlat, shape)], { retainGraph: true })[0]!, [batch, -1]));
      const cached = cache?.u && shapesEqual(cache.u.shape, shape) && cache.u.dtype === gy.dtype ? reshape(cache.u, [batch, -1]) : null;
      const u0 = cached ?? (init === 'grad' ? g : zerosLike(g));
      const monitor = solveFixedPoint(pullZ, u0, settings);
      const { z } = monitor.returned('best');
      stats.backward = statsOf(monitor, settings.solver, performance.now() - start);
      monitor.dispose();
      const uShaped = reshape(z, shape);
      if (cache) {
        cache.u?.dispose();
        cache.u = keep(mul(uShaped, 1));
      }
      return uShaped;
    });
    return [u];
  },
});

/**
 * Solves z* = f(z*, ...inputs) and returns f's output at z* with the chosen gradient rule, plus per-sample stats.
 *
 * Shapes: z (z0, or the first input's shape by default) is [B, ...] with B independent samples when
 * perSample (default for rank ≥ 2); f(z, ...inputs) must return z's shape and dtype.
 * @example
 * const { z, stats } = fixedPoint((z, x) => tanh(add(matmul(z, W), x)), [x], { solver: 'anderson', tol: 1e-5 });
 */
export function fixedPoint(f: ImplicitFn, inputs: readonly Tensor[], options: FixedPointOptions = {}): FixedPointResult {
  validateTopLevel(options);
  if (typeof f !== 'function') throw new ArgumentError('fixedPoint', 'f must be a function (z, ...inputs) => Tensor');
  if (!Array.isArray(inputs)) throw new ArgumentError('fixedPoint', 'inputs must be an array of tensors (possibly empty)');
  const xs = inputs.map((t, i) => checkTensor(t, 'fixedPoint', `inputs[${i}]`));
  const solve = resolveSolve(options, '', { maxIter: 40, tol: 1e-4 });
  const rule = resolveGradient(options.gradient);
  const returnIterate = options.returnIterate ?? 'best';
  if (returnIterate !== 'best' && returnIterate !== 'last') throw new ArgumentError('fixedPoint', `option 'returnIterate' must be 'best' or 'last', got ${JSON.stringify(returnIterate)}`);
  if (rule.mode === 'unroll' && solve.solver !== 'picard') {
    throw new ArgumentError('fixedPoint', `gradient 'unroll' backpropagates through Picard iterations only; got solver '${solve.solver}'`);
  }
  if (options.z0 === undefined && xs.length === 0) throw new ArgumentError('fixedPoint', 'pass z0 (the starting point) when there are no inputs');
  const z0 = options.z0 !== undefined ? checkTensor(options.z0, 'fixedPoint', 'z0') : null;
  if (z0 && z0.dtype === 'int32') throw new ArgumentError('fixedPoint', 'z0 must be a float tensor');

  const watermark = gradNodeWatermark();
  const start = performance.now();
  const shape = z0 ? z0.shape : xs[0]!.shape;
  const perSample = options.perSample ?? shape.length >= 2;
  const batch = perSample ? shape[0]! : 1;
  const dim = batch === 0 ? 0 : shape.reduce((a, b) => a * b, 1) / batch;
  let forwardCalls = 0;
  // Each evaluation in its own scope, so f's intermediates are freed as the solve goes (memory stays flat in the
  // number of untaped iterations); when taped, the graph keeps what backward needs through its saved tensors.
  const F = (x: Tensor): Tensor => tidy(() => {
    forwardCalls++;
    const out = callF(f, reshape(x, shape), xs);
    return reshape(out, [batch, dim]);
  });

  // ---- forward solve (recorded only for unroll) ----
  const taped = rule.mode === 'unroll' && isGradEnabled();
  const monitor = (taped ? enableGrad : noGrad)(() => tidy(() => {
    const x0 = reshape(z0 ?? zeros(shape, { dtype: xs[0]!.dtype }), [batch, dim]);
    return solveFixedPoint(F, x0, solve);
  }));
  const { z: zHatFlat, steps } = monitor.returned(returnIterate);
  const stats: FixedPointStats = {
    ...statsOf(monitor, solve.solver, 0),
    gradient: rule.mode, batch, dim,
    converged: monitor.status.every((s) => s === 'converged'),
    forwardCalls, returned: returnIterate, returnedStep: steps,
    memory: { tapeNodes: 0, retainedBytes: 0 }, capturedTensors: 0, backward: null,
  };
  monitor.dispose();

  if (options.onFailure === 'throw' && !stats.converged) {
    zHatFlat.dispose();
    const bad = stats.status.map((s, b) => [s, b] as const).filter(([s]) => s !== 'converged');
    throw new FixedPointError(`${bad.length} of ${batch} samples did not converge (${bad.slice(0, 5).map(([s, b]) => `sample ${b}: ${s}, residual ${stats.lastResidual[b]!.toExponential(2)}`).join('; ')})`, stats);
  }

  // ---- the differentiable output ----
  let internalLeaf: Tensor | null = null;
  const out = tidy(() => {
    const zHat = reshape(zHatFlat, shape);
    switch (rule.mode) {
      case 'unroll':
        return callF(f, zHat, xs);
      case 'jfb':
        return callF(f, detach(zHat), xs);
      case 'phantom': {
        let z = detach(zHat);
        for (let t = 0; t < rule.k; t++) {
          const fz = callF(f, z, xs);
          z = rule.damping === 1 ? fz : add(mul(z, 1 - rule.damping), mul(fz, rule.damping));
        }
        return z;
      }
      case 'ift': {
        if (!isGradEnabled()) return callF(f, detach(zHat), xs);
        const zLeaf = detach(zHat).requireGrad();
        internalLeaf = zLeaf;
        const y = callF(f, zLeaf, xs);
        if (!y.node) return y; // nothing requires grad: no backward will run
        return iftOp([y], { settings: rule.solve, init: rule.init, cache: rule.cache, stats, shape, batch, zLeaf });
      }
    }
  });
  zHatFlat.dispose();

  // ---- memory counters and closure captures ----
  const nodes = primitiveNodes(out, watermark);
  stats.memory = { tapeNodes: nodes.length, retainedBytes: nodes.reduce((s, n) => s + n.savedBytes(), 0) };
  const allowed = [...xs, ...(z0 ? [z0] : []), ...(internalLeaf ? [internalLeaf] : [])];
  const captured = capturedBy(nodes, watermark, allowed);
  stats.capturedTensors = captured.length;
  if (options.strictInputs && captured.length > 0) {
    out.dispose();
    throw new ArgumentError('fixedPoint', `f reads ${captured.length} tensor(s) that require grad without them being in inputs (shapes ${captured.map((t) => fmtShape(t.shape)).join(', ')}); pass them in inputs, or drop strictInputs`);
  }
  stats.timeMs = performance.now() - start;
  return { z: out, stats };
}
