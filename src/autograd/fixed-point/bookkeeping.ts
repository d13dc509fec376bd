// fixedPoint's bookkeeping, kept out of the math: running one solve to its statistics, grad mode across a
// generator's steps, the tape audit (nodes and bytes the primitive retains, tensors f captured from its closure).

import type { Tensor } from '../../tensor/tensor.js';
import { keep } from '../../tensor/memory.js';
import { fresh } from '../../tensor/ops/index.js';
import { enableGrad, noGrad } from '../../tensor/graph/grad-mode.js';
import type { GradNode } from '../../tensor/graph/node.js';
import type { Solving } from './drive.js';
import { Monitor, type SampleStatus } from './monitor.js';
import type { ResolvedSolve, SolverName } from './options.js';
import { anderson, broyden, picard, type FixedPointSolver } from './solvers.js';

/** Per-sample results of one solve (forward, or the IFT adjoint). Traces are plain numbers. */
export interface SolveStats {
  /** The solver's name ('custom' for a FixedPointSolver function). */
  solver: SolverName | 'custom';
  status: SampleStatus[];
  /** Evaluations of f (forward) or of the VJP (adjoint) per sample. */
  nFevals: number[];
  bestResidual: number[];
  lastResidual: number[];
  /** Index (into the trace) of each sample's lowest residual. */
  bestStep: number[];
  absTrace: number[][];
  relTrace: number[][];
  /** Reads of the device the solve made (0 for a solve that reads nothing; see docs/fixed-point.md). */
  reads: number;
  timeMs: number;
}

const SOLVERS: Record<SolverName, FixedPointSolver> = { picard, anderson, broyden };

/**
 * Which monitor a solve uses. 'device' (freezing by masks, no early exit, one optional read of the trace at the end)
 * whenever no decision needs a read: no tolerance, no stagnation test, and not Anderson (whose mixing weights are
 * solved on the host); and always when `noReads` (the IFT adjoint on a backend without synchronous reads).
 */
function monitorMode(s: ResolvedSolve, noReads: boolean): 'host' | 'device' {
  if (noReads) return 'device';
  return s.solver === 'anderson' || s.tol > 0 || s.relTol > 0 || s.stagnationWindow > 0 ? 'host' : 'device';
}

/** A finished solve: what it returns and its statistics. */
export interface Solved {
  /** Each sample's returned iterate, [B, d] (the caller owns it). */
  z: Tensor;
  /** The iterates asked for by index (the caller owns them; the returned iterate where the solve ended first). */
  states: Tensor[];
  stats: SolveStats;
  returnedStep: number[];
  /** Batched calls of the map. */
  calls: number;
  /** With noReads on a backend that cannot read synchronously: the statistics, completed by a trace read in the background. */
  pending: Promise<SolveStats> | null;
}

export interface SolveOptions {
  /** Record the solve on the tape (unroll). */
  grad: boolean;
  returnIterate: 'best' | 'last';
  states?: readonly number[];
  /** Decide nothing on reads, and read the trace in the background (the IFT adjoint in a backward on an asynchronous backend). */
  noReads?: boolean;
}

/**
 * Solves z = F(z) from x0 ([B, d], not consumed): the solver, then the iterate the budget left unmeasured is measured
 * (measureReturned) or returned as is, then the statistics. On an exception everything it made is freed.
 */
export function* solveFixedPoint(F: (x: Tensor) => Tensor, x0: Tensor, s: ResolvedSolve, o: SolveOptions): Solving<Solved> {
  const start = performance.now();
  const counter = { reads: 0 };
  const monitor = yield* inGradMode(o.grad, runSolve(F, x0, s, monitorMode(s, o.noReads ?? false), o.states ?? []), counter);
  const stats = () => solveStats(monitor, s, counter.reads, performance.now() - start);
  try {
    const { z, steps } = monitor.returned(o.returnIterate);
    const states = (o.states ?? []).map((i) => fresh(monitor.iterate(i) ?? z));
    const unread = monitor.takeUnreadTrace();
    if (unread && !o.noReads) unread.dispose(); // a forward solve on the synchronous path: its traces stay NaN
    const pending = unread && o.noReads
      ? unread.data().then((v) => { monitor.complete(Float64Array.from(v)); counter.reads++; return stats(); }).finally(() => unread.dispose())
      : null;
    return { z, states, stats: stats(), returnedStep: steps, calls: monitor.calls, pending };
  } finally {
    monitor.dispose();
  }
}

function* runSolve(F: (x: Tensor) => Tensor, x0: Tensor, s: ResolvedSolve, mode: 'host' | 'device', snapshotAt: readonly number[]): Solving<Monitor> {
  const monitor = new Monitor(x0.shape[0]!, s, F, mode, snapshotAt);
  try {
    const solver = typeof s.solver === 'function' ? s.solver : SOLVERS[s.solver];
    const next = s.maxIter === 0 ? keep(fresh(x0)) : yield* solver(x0, monitor);
    if (next) {
      try {
        if (s.measureReturned) {
          const fx = keep(monitor.f(next));
          try { monitor.record(next, yield* monitor.measure(next, fx)); } finally { fx.dispose(); }
        } else {
          monitor.recordUnmeasured(next);
        }
      } finally {
        next.dispose();
      }
    }
    yield* monitor.finish();
    return monitor;
  } catch (err) {
    monitor.dispose();
    throw err;
  }
}

/** The statistics of a finished solve. */
function solveStats(monitor: Monitor, s: ResolvedSolve, reads: number, timeMs: number): SolveStats {
  const st = monitor.stats;
  return {
    solver: typeof s.solver === 'function' ? 'custom' : s.solver,
    status: [...st.status], nFevals: [...st.nFevals], bestResidual: [...st.bestResidual], lastResidual: [...st.lastResidual],
    bestStep: [...st.bestStep], absTrace: st.absTrace.map((t) => [...t]), relTrace: st.relTrace.map((t) => [...t]),
    reads, timeMs,
  };
}

/**
 * Runs every step of `gen` in one grad mode (a generator's steps run whenever its driver resumes it, under whatever
 * mode is current then), and counts the reads it yields into counter.reads.
 */
export function* inGradMode<T>(enabled: boolean, gen: Solving<T>, counter: { reads: number }): Solving<T> {
  const run = enabled ? enableGrad : noGrad;
  let step = run(() => gen.next(null));
  while (!step.done) {
    let answer: Float64Array | null;
    try {
      answer = yield step.value;
    } catch (err) {
      step = run(() => gen.throw(err));
      continue;
    }
    if (answer !== null) counter.reads++;
    step = run(() => gen.next(answer));
  }
  return step.value;
}

/** Nodes recorded at or after `watermark` that `outs` depend on. */
export function primitiveNodes(outs: readonly Tensor[], watermark: number): GradNode[] {
  const found: GradNode[] = [];
  const seen = new Set<GradNode>();
  const stack = outs.flatMap((o) => (o.node ? [o.node] : []));
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n) || n.id < watermark) continue;
    seen.add(n);
    found.push(n);
    for (const p of n.parents) if (p) stack.push(p);
  }
  return found;
}

/** Tensors requiring grad reached by the primitive's nodes that are not `allowed` (closure captures). */
export function capturedBy(nodes: readonly GradNode[], watermark: number, allowed: readonly Tensor[]): Tensor[] {
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
