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
export function monitorMode(s: ResolvedSolve, noReads: boolean): 'host' | 'device' {
  if (noReads) return 'device';
  return s.solver === 'anderson' || s.tol > 0 || s.relTol > 0 || s.stagnationWindow > 0 ? 'host' : 'device';
}

/**
 * One solve of z = F(z) from x0 ([B, d], not consumed): the solver, then the iterate the budget left unmeasured is
 * measured (measureReturned) or recorded as is, then the statistics are completed. Returns the monitor (the caller
 * disposes it); on an exception everything it made is freed.
 */
export function* runSolve(F: (x: Tensor) => Tensor, x0: Tensor, s: ResolvedSolve, mode: 'host' | 'device', snapshotAt?: readonly number[]): Solving<Monitor> {
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
export function solveStats(monitor: Monitor, s: ResolvedSolve, reads: number, timeMs: number): SolveStats {
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
