// The IFT gradient rule as ops. First order: an identity op on y = f(sg(z*), x) whose VJP solves u = ḡ + Jᵀu and
// hands u to y's graph, which applies Mᵀ: θ̄ = Mᵀ(I − Jᵀ)⁻¹ḡ. Under createGraph the VJP instead returns
// θ̄ = M(z*, θ)ᵀu built from taped ops in which z* and u are themselves implicit functions of θ:
//
//   z*  is this op's own output, whose derivative is the IFT one: dz* = (I − J)⁻¹ M dθ
//   u   comes from an adjoint op with value u*: u = ḡ + Jᵀ(z*, θ)u gives du = (I − Jᵀ)⁻¹(dḡ + d(Jᵀ)u*), so its
//       VJP solves w = v + Jw (J w is the VJP of Jᵀu with respect to u) and sends w to ḡ and to Jᵀ(z*, θ)u*.
//
// The taped pieces are built on stand-in leaves for z* and the inputs (so that each is a partial derivative) and
// rebound to the real tensors by a substitution op. Second derivatives are exact; a third is refused.

import type { Tensor } from '../../tensor/tensor.js';
import { makeSavedAlias } from '../../tensor/tensor.js';
import { ArgumentError, GradError } from '../../tensor/errors.js';
import { keep, tidy } from '../../tensor/memory.js';
import { add, detach, fresh, mul, sum } from '../../tensor/ops/index.js';
import { zerosLike } from '../../tensor/creation.js';
import { shapesEqual } from '../../tensor/shape.js';
import { defineOp } from '../../tensor/graph/define-op.js';
import { isGradEnabled, noGrad } from '../../tensor/graph/grad-mode.js';
import type { GradNode } from '../../tensor/graph/node.js';
import { gradients } from '../backward.js';
import { runSync } from './drive.js';
import { solveFixedPoint, type SolveStats } from './bookkeeping.js';
import type { AdjointCache, ResolvedSolve } from './options.js';

export const ADJOINT_ANDERSON = "the IFT adjoint cannot run Anderson on a backend that reads asynchronously (its mixing weights are solved on the host, and backward cannot await a read): use gradient { mode: 'ift', solver: 'picard' } or 'broyden'";

export interface IftSettings {
  settings: ResolvedSolve;
  init: 'zero' | 'grad';
  cache: AdjointCache | null;
  /** Receives the adjoint solve's statistics (null: not reported); again when a trace read later completes them. */
  report: ((stats: SolveStats) => void) | null;
  /** Receives the read of a trace the backward could not wait for (an asynchronous backend). */
  pending: ((read: Promise<void>) => void) | null;
}

interface IftAttrs extends IftSettings {
  /** The leaf that stands for z* in y's graph; the op saves an alias of it (freed with the node). */
  zLeaf: Tensor;
  /** f on the packed state with the inputs passed explicitly, for the taped rebuild under createGraph. */
  map: (z: Tensor, xs: readonly Tensor[]) => Tensor;
  xs: readonly Tensor[];
  /** Which inputs required grad when the op was recorded (they follow y among the op's inputs). */
  differentiable: readonly boolean[];
  /** Tensors requiring grad that f read from its closure (the op's last inputs). */
  captured: readonly Tensor[];
}

/**
 * Solves u = ḡ + Aᵀ(u) for the adjoint, A the VJP `pull`, on the adjoint settings (forced to read nothing on a
 * backend that cannot read synchronously: converged samples are then frozen on the device and the whole budget runs).
 */
function solveAdjoint(g: Tensor, pull: (u: Tensor) => Tensor, s: IftSettings, u0: Tensor): Tensor {
  const noReads = !g.backend.canReadSync;
  if (noReads && s.settings.solver === 'anderson') throw new ArgumentError('fixedPoint', ADJOINT_ANDERSON);
  const map = (u: Tensor): Tensor => tidy(() => add(g, pull(u)));
  const solved = runSync(solveFixedPoint(map, u0, s.settings, { grad: false, returnIterate: 'best', noReads }));
  s.report?.(solved.stats);
  // backward cannot await: a trace it could not read is read in the background and the statistics reported again
  if (solved.pending) s.pending?.(solved.pending.then((stats) => s.report?.(stats)));
  return solved.z;
}

/** The first-order adjoint u* of the op's node (numbers only: no graph). */
function adjointValue(gy: Tensor, y: Tensor, zLeaf: Tensor, a: IftSettings): Tensor {
  return noGrad(() => {
    const g = detach(gy);
    const cached = a.cache?.u && shapesEqual(a.cache.u.shape, g.shape) && a.cache.u.dtype === g.dtype ? a.cache.u : null;
    const u0 = keep(cached ? fresh(cached) : a.init === 'grad' ? fresh(g) : zerosLike(g));
    let u: Tensor;
    try {
      u = solveAdjoint(g, (v) => gradients(y, [zLeaf], [v], { retainGraph: true })[0]!, a, u0);
    } finally {
      u0.dispose();
    }
    if (a.cache) {
      a.cache.u?.dispose();
      a.cache.u = keep(fresh(u));
    }
    return u;
  });
}

/**
 * The VJP of y with respect to xs at cotangent v, kept differentiable in v as well when createGraph (gradients()
 * seeds its cotangents outside the graph, so v enters through ⟨y, v⟩ instead).
 */
function vjpOf(y: Tensor, xs: readonly Tensor[], v: Tensor, createGraph: boolean): Tensor[] {
  if (!createGraph) return gradients(y, xs, [v], { retainGraph: true });
  return gradients(sum(mul(y, v)), xs, undefined, { createGraph: true });
}

/** Whether some tensor of `others` lies in t's recorded history (then t's partial derivative cannot be taken alone). */
function dependsOnAny(t: Tensor, others: ReadonlySet<Tensor>): boolean {
  const nodes = new Set(Array.from(others, (o) => o.node).filter((n): n is GradNode => n !== null));
  const seen = new Set<GradNode>();
  const stack = t.node ? [...t.node.parents] : [];
  while (stack.length) {
    const n = stack.pop();
    if (!n || seen.has(n)) continue;
    if (nodes.has(n)) return true;
    seen.add(n);
    if (n.inputs.some((x) => others.has(x.gradTarget ?? x))) return true;
    stack.push(...n.parents);
  }
  return false;
}

/**
 * rebind(E; leaves → targets): E's value, differentiated as if each stand-in leaf were its target (the leaf's
 * gradient in E's graph is sent to the target). Saved: E (with its graph) and the leaves.
 */
const rebindOp = defineOp<{ leaves: readonly Tensor[] }>({
  name: 'fixedPoint.rebind',
  forward: ([e], { leaves }) => ({ output: fresh(e!), saved: leaves.map((l) => makeSavedAlias(l, null)) }),
  saveInputs: [0],
  vjp: (c, ctx) => [c, ...vjpOf(ctx.inputs[0]!, ctx.saved, c, isGradEnabled())],
});

/**
 * The adjoint u* as a function of ḡ and h = Jᵀ(z*, θ)u* (taped at the fixed u*): du = (I − Jᵀ)⁻¹(dḡ + dh). Its VJP
 * solves w = v + J w, with J w the VJP of h with respect to the leaf uLeaf standing for u. Inputs: ḡ, rebound h,
 * and the raw h (saved for its graph, gets no gradient).
 */
const adjointOp = defineOp<IftSettings & { u: Tensor; uLeaf: Tensor }>({
  name: 'fixedPoint.iftAdjoint',
  forward: (_inputs, { u, uLeaf }) => ({ output: fresh(u), saved: [makeSavedAlias(uLeaf, null)] }),
  saveInputs: [2],
  vjp: (v, ctx) => {
    if (isGradEnabled()) {
      throw new GradError('fixedPoint', "gradient 'ift' gives exact second derivatives but no third (createGraph through its second backward); use gradient 'unroll' or { mode: 'phantom', k }");
    }
    const h = ctx.inputs[2]!, uLeaf = ctx.saved[0]!;
    const w = noGrad(() => {
      const u0 = keep(fresh(v));
      try {
        return solveAdjoint(v, (x) => gradients(h, [uLeaf], [x], { retainGraph: true })[0]!, { ...ctx.attrs, report: null, pending: null, cache: null }, u0);
      } finally {
        u0.dispose();
      }
    });
    return [w, fresh(w), null];
  },
});

/**
 * The IFT op on y = f(sg(z*), x) (inputs: y, then the inputs and captured tensors that require grad, which get a
 * gradient only under createGraph). Saved: y, the leaf for z*, and the output (the differentiable z* of the
 * second-order rule).
 */
const iftOp = defineOp<IftAttrs>({
  name: 'fixedPoint.ift',
  forward: ([y], attrs) => ({ output: fresh(y!), saved: [makeSavedAlias(attrs.zLeaf, null)] }),
  saveInputs: [0],
  saveOutput: true,
  vjp: (gy, ctx) => {
    const a = ctx.attrs;
    const y = ctx.inputs[0]!, zLeaf = ctx.saved[0]!;
    const u = adjointValue(gy, y, zLeaf, a);
    const params = [...a.xs.filter((_, i) => a.differentiable[i]), ...a.captured];
    if (!isGradEnabled()) return [u, ...params.map(() => null)];
    return [null, ...secondOrder(gy, u, ctx.output!, zLeaf, a)];
  },
});

/** θ̄ = M(z*, θ)ᵀu as taped tensors for each parameter, with z* = zStar (implicit) and u implicit in ḡ, z*, θ. */
function secondOrder(gy: Tensor, u: Tensor, zStar: Tensor, zLeaf: Tensor, a: IftAttrs): Tensor[] {
  const xReal = a.xs.filter((_, i) => a.differentiable[i]);
  const standIns = new Set([...xReal, ...a.captured]);
  for (const c of a.captured) {
    if (dependsOnAny(c, new Set([...standIns].filter((t) => t !== c)))) {
      throw new GradError('fixedPoint', "gradient 'ift' under createGraph needs f's tensors to be independent: f reads a tensor and another computed from it; pass the one it is computed from in inputs and compute the other inside f");
    }
  }
  const zL = detach(zLeaf).requireGrad();
  const xL = a.xs.map((x, i) => (a.differentiable[i] ? detach(x).requireGrad() : x));
  const xLeaves = xL.filter((_, i) => a.differentiable[i]);
  const yL = a.map(zL, xL);
  // h = Jᵀu at the fixed u* (its u-dependence is the adjoint op's business), rebound to the real z* and inputs
  const uLeaf = detach(u).requireGrad();
  const h = vjpOf(yL, [zL], uLeaf, true)[0]!;
  const uDiff = adjointOp([gy, rebindOp([h, zStar, ...xReal], { leaves: [zL, ...xLeaves] }), h], { ...a, u, uLeaf });
  // θ̄ = Mᵀu on stand-ins for z*, the inputs and u, each rebound to its implicit or real tensor
  const uStandIn = detach(u).requireGrad();
  return vjpOf(yL, [...xLeaves, ...a.captured], uStandIn, true)
    .map((e) => rebindOp([e, zStar, ...xReal, uDiff], { leaves: [zL, ...xLeaves, uStandIn] }));
}

/** The IFT output at ẑ: y = f(sg(ẑ), x) through the IFT op (or y itself when nothing requires grad). */
export function iftOutput(
  zHat: Tensor, map: (z: Tensor, xs: readonly Tensor[]) => Tensor, xs: readonly Tensor[], s: IftSettings,
  capturedOf: (y: Tensor, zLeaf: Tensor) => Tensor[], leaves: Tensor[],
): Tensor {
  const zLeaf = detach(zHat).requireGrad();
  leaves.push(zLeaf);
  const y = map(zLeaf, xs);
  if (!y.node) return y; // nothing requires grad: no backward will run
  const captured = capturedOf(y, zLeaf);
  const differentiable = xs.map((x) => x.requiresGrad);
  return iftOp([y, ...xs.filter((_, i) => differentiable[i]), ...captured], { ...s, zLeaf, map, xs, differentiable, captured });
}
