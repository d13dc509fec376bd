// Per-sample convergence bookkeeping for the solvers: residuals, status, traces, evaluation counts, and the best
// and last iterate of every sample. Two modes share one interface (SolveContext): 'host' reads each residual and
// decides on the CPU (early exit, stagnation, Anderson's safeguard); 'device' decides with masks on the device
// and reads nothing until one optional read of the whole trace at the end (used when no decision needs a read,
// and for the IFT adjoint on backends that cannot read synchronously).

import type { Tensor } from '../../tensor/tensor.js';
import { keep, tidy } from '../../tensor/memory.js';
import { abs, concat, div, fresh, max, maximum, mul, sqrt, square, stack, sub, sum, where } from '../../tensor/ops/index.js';
import { onesLike, tensor } from '../../tensor/creation.js';
import { read, readIfPossible, type Solving } from './drive.js';
import type { ResolvedSolve } from './options.js';

export type SampleStatus = 'running' | 'converged' | 'maxIter' | 'stagnated' | 'diverged' | 'nonFinite';

/** Stop codes the device mode writes into its trace (one per sample and step). */
const CODE: Record<number, SampleStatus> = { 0: 'running', 1: 'converged', 2: 'nonFinite', 3: 'diverged' };
const INACTIVE = 4;

/** ‖f(x) − x‖ and ‖f(x) − x‖ / ‖f(x)‖ of the iterate a solver just evaluated, per sample (null in device mode). */
export interface Residuals {
  abs: Float64Array;
  rel: Float64Array;
}

/**
 * ‖v‖ per row of v [B, d]: the rms ‖v‖₂/√d or the max ‖v‖∞. Scaled by the row's largest magnitude before squaring,
 * so float32 values up to its maximum (not only up to √max ≈ 1.8e19) give a finite norm.
 */
export function rowNorm(v: Tensor, norm: 'rms' | 'max' | 'l2'): Tensor {
  const m = max(abs(v), 1, true);
  if (norm === 'max') return m;
  const scale = where(m.gt(0), m, 1);
  const l2 = mul(sqrt(sum(square(div(v, scale)), 1, true)), m);
  return norm === 'rms' ? mul(l2, 1 / Math.sqrt(Math.max(v.shape[1]!, 1))) : l2;
}

/** [B, 2]: the residual of x ([B, d]) given fx = f(x), absolute (dimension-normalized) and relative. */
export function residualMeasure(x: Tensor, fx: Tensor, norm: 'rms' | 'max'): Tensor {
  return tidy(() => {
    const diff = sub(fx, x);
    const a = rowNorm(diff, norm);
    const rel = div(rowNorm(diff, norm === 'max' ? 'max' : 'l2'), maximum(rowNorm(fx, norm === 'max' ? 'max' : 'l2'), 1e-30));
    return concat([a, rel], 1);
  });
}

/** The interface a solver (built-in or yours) works through. Tensors are [B, d]; B samples stop independently. */
export interface SolveContext {
  readonly settings: ResolvedSolve;
  readonly batch: number;
  /** True when residuals are read and decided on the CPU (early exit, stagnation); Anderson needs it. */
  readonly readsResiduals: boolean;
  /** f at x: one evaluation of every running sample, counted against maxIter. */
  f(x: Tensor): Tensor;
  /** Evaluations left in maxIter. */
  budgetLeft(): boolean;
  /** Measures x's residual given fx = f(x): a read in host mode (numbers returned), none in device mode (null). */
  measure(x: Tensor, fx: Tensor): Solving<Measurement>;
  /** Records x (measured by m) as the newest iterate of every running sample; stops samples that are done. */
  record(x: Tensor, m: Measurement): void;
  /** Some sample is still running (always true in device mode, which cannot know without a read). */
  anyActive(): boolean;
  isActive(b: number): boolean;
  /** [B, 1]: 1 for running samples, 0 for stopped ones (of like's dtype). */
  activeMask(like: Tensor): Tensor;
  /** Counts an evaluation whose result was discarded (a rejected Anderson step) for the given samples. */
  countExtraEvaluation(samples: readonly boolean[]): void;
}

/** One measured residual: its [B, 2] tensor (owned until recorded or disposed) and, in host mode, its values. */
export interface Measurement {
  values: Residuals | null;
  tensor: Tensor;
  dispose(): void;
}

/** Per-sample statistics as plain numbers. */
export interface TraceStats {
  status: SampleStatus[];
  nFevals: number[];
  absTrace: number[][];
  relTrace: number[][];
  bestResidual: number[];
  bestStep: number[];
  lastResidual: number[];
}

/** Per-sample state of one solve. Owns (keeps) its iterates; call dispose() when done. */
export class Monitor implements SolveContext {
  readonly stats: TraceStats;
  readonly readsResiduals: boolean;
  evaluations = 0;
  /** Batched calls of f (forward calls), for the stats. */
  calls = 0;
  private step = 0;
  private readonly firstResidual: number[];
  private readonly bestHistory: number[][];
  /** Samples whose returned iterate is the unmeasured one after the budget (measureReturned: false). */
  private readonly unmeasured: boolean[];
  private deviceUnmeasured = false;
  private zBest: Tensor | null = null;
  private zLast: Tensor | null = null;
  /** Iterates kept for `states` (step index → iterate), and the newest ones for negative indices. */
  private readonly snapshots = new Map<number, Tensor>();
  private readonly recent: Tensor[] = [];
  // device mode
  private active: Tensor | null = null;
  private bad: Tensor | null = null;
  private bestAbs: Tensor | null = null;
  private firstAbs: Tensor | null = null;
  private readonly trace: Tensor[] = [];
  /** Device mode, when the trace could not be read at the end: the kept [steps, B, 3] trace (takeUnreadTrace). */
  private unread: Tensor | null = null;

  constructor(
    readonly batch: number, readonly settings: ResolvedSolve, private readonly fn: (x: Tensor) => Tensor,
    mode: 'host' | 'device', private readonly snapshotAt: readonly number[] = [],
  ) {
    this.readsResiduals = mode === 'host';
    this.stats = {} as TraceStats;
    this.firstResidual = [];
    this.bestHistory = [];
    this.unmeasured = [];
    this.resetStats();
  }

  private resetStats(): void {
    const fill = <T>(v: () => T) => Array.from({ length: this.batch }, v);
    Object.assign(this.stats, {
      status: fill(() => 'running' as SampleStatus), nFevals: fill(() => 0), absTrace: fill(() => []), relTrace: fill(() => []),
      bestResidual: fill(() => Infinity), bestStep: fill(() => -1), lastResidual: fill(() => NaN),
    });
    this.firstResidual.splice(0, Infinity, ...fill(() => NaN));
    this.bestHistory.splice(0, Infinity, ...fill((): number[] => []));
    this.unmeasured.splice(0, Infinity, ...fill(() => false));
  }

  f(x: Tensor): Tensor {
    this.evaluations++;
    this.calls++;
    return this.fn(x);
  }

  budgetLeft(): boolean {
    return this.evaluations < this.settings.maxIter;
  }

  isActive(b: number): boolean {
    return this.stats.status[b] === 'running';
  }

  anyActive(): boolean {
    return this.stats.status.some((s) => s === 'running');
  }

  activeMask(like: Tensor): Tensor {
    if (this.active) return where(this.active, 1, 0).cast(like.dtype);
    return tensor(this.stats.status.map((s) => (s === 'running' ? 1 : 0)), { dtype: like.dtype, shape: [this.batch, 1] });
  }

  countExtraEvaluation(samples: readonly boolean[]): void {
    samples.forEach((on, b) => { if (on) this.stats.nFevals[b]!++; });
  }

  *measure(x: Tensor, fx: Tensor): Solving<Measurement> {
    const t = keep(residualMeasure(x, fx, this.settings.norm));
    const dispose = () => t.dispose();
    if (!this.readsResiduals) return { values: null, tensor: t, dispose };
    try {
      const v = yield* read(t);
      const absR = new Float64Array(this.batch), rel = new Float64Array(this.batch);
      for (let b = 0; b < this.batch; b++) { absR[b] = v[2 * b]!; rel[b] = v[2 * b + 1]!; }
      return { values: { abs: absR, rel }, tensor: t, dispose };
    } catch (err) {
      t.dispose();
      throw err;
    }
  }

  /** Keeps x if `states` asks for this step (or may ask for it counting from the end). */
  private snapshot(x: Tensor): void {
    if (this.snapshotAt.includes(this.step)) this.snapshots.set(this.step, keep(fresh(x)));
    const fromEnd = Math.max(0, ...this.snapshotAt.map((i) => -i));
    if (fromEnd > 0) {
      this.recent.push(keep(fresh(x)));
      if (this.recent.length > fromEnd) this.recent.shift()!.dispose();
    }
    this.step++;
  }

  /** The iterate at step `i` of the solve (negative: from the end), or null when the solve ended before it. */
  iterate(i: number): Tensor | null {
    if (i >= 0) return this.snapshots.get(i) ?? null;
    return this.recent[this.recent.length + i] ?? this.recent[0] ?? null;
  }

  record(x: Tensor, m: Measurement): void {
    this.snapshot(x);
    if (m.values) this.recordHost(x, m.values);
    else this.recordDevice(x, m.tensor);
    m.dispose();
  }

  /** Host mode: statuses decided on the read values, iterates replaced under host masks. */
  private recordHost(x: Tensor, r: Residuals): void {
    const wasActive = Array.from({ length: this.batch }, (_, b) => this.isActive(b));
    const improved = wasActive.map((on, b) => on && this.update(b, r.abs[b]!, r.rel[b]!, null));
    this.zBest = this.replace(this.zBest, x, improved);
    this.zLast = this.replace(this.zLast, x, wasActive);
  }

  /**
   * One sample's newest residual: traces, best, status (from `code` when the device decided it). Returns whether it
   * is the sample's best iterate so far.
   */
  private update(b: number, a: number, rel: number, code: SampleStatus | null): boolean {
    const s = this.settings, st = this.stats;
    const step = st.absTrace[b]!.length;
    st.nFevals[b]!++;
    st.absTrace[b]!.push(a);
    st.relTrace[b]!.push(rel);
    st.lastResidual[b] = a;
    if (step === 0) this.firstResidual[b] = a;
    if (!Number.isFinite(a)) {
      st.status[b] = 'nonFinite';
      return false;
    }
    let improved = false;
    if (a < st.bestResidual[b]! || st.bestStep[b] === -1) {
      st.bestResidual[b] = a;
      st.bestStep[b] = step;
      improved = true;
    }
    if (code !== null) {
      st.status[b] = code;
      return improved;
    }
    const hist = this.bestHistory[b]!;
    hist.push(st.bestResidual[b]!);
    if (a <= s.tol || (s.relTol > 0 && rel <= s.relTol)) st.status[b] = 'converged';
    else if (a > s.divergenceFactor * Math.max(this.firstResidual[b]!, 1e-300)) st.status[b] = 'diverged';
    else if (s.stagnationWindow > 0 && hist.length > s.stagnationWindow
      && hist[hist.length - 1]! > s.stagnationRatio * hist[hist.length - 1 - s.stagnationWindow]!) st.status[b] = 'stagnated';
    return improved;
  }

  /** Device mode: the same rules as masks (no stagnation), a stop code per sample appended to the trace. */
  private recordDevice(x: Tensor, m: Tensor): void {
    const s = this.settings;
    const next = tidy(() => {
      const a = m.slice([[0, this.batch], [0, 1]]);
      const rel = m.slice([[0, this.batch], [1, 2]]);
      const active = this.active ?? onesLike(a);
      const r0 = this.firstAbs ?? a;
      const nonFinite = where(sub(a, a).eq(0), 0, 1);
      let converged = a.le(s.tol);
      if (s.relTol > 0) converged = where(rel.le(s.relTol), 1, converged);
      const diverged = Number.isFinite(s.divergenceFactor) ? a.gt(mul(maximum(r0, 1e-300), s.divergenceFactor)) : mul(onesLike(a), 0);
      const code = where(active.eq(0), INACTIVE, where(nonFinite, 2, where(converged, 1, where(diverged, 3, 0))));
      const bestAbs = this.bestAbs ?? mul(onesLike(a), Infinity);
      const improved = where(active, where(nonFinite, 0, where(a.lt(bestAbs), 1, 0)), 0);
      return {
        active: keep(where(code.eq(0), 1, 0)),
        bad: keep(where(active, where(nonFinite, 1, diverged), this.bad ?? 0)),
        bestAbs: keep(where(improved, a, bestAbs)),
        firstAbs: this.firstAbs ? null : keep(fresh(a)),
        zBest: keep(this.zBest ? where(improved, x, this.zBest) : fresh(x)),
        zLast: keep(this.zLast ? where(active, x, this.zLast) : fresh(x)),
        row: keep(concat([m, code.cast(m.dtype)], 1)),
      };
    });
    for (const t of [this.active, this.bad, this.bestAbs, this.zBest, this.zLast]) t?.dispose();
    ({ active: this.active, bad: this.bad, bestAbs: this.bestAbs, zBest: this.zBest, zLast: this.zLast } = next);
    if (next.firstAbs) this.firstAbs = next.firstAbs;
    this.trace.push(next.row);
  }

  /**
   * Records x as the newest iterate of every running sample without measuring it (a solve that ends with
   * measureReturned: false): traces do not grow, x becomes the best and the last iterate of those samples.
   */
  recordUnmeasured(x: Tensor): void {
    this.snapshot(x);
    if (this.active) {
      const next = tidy(() => ({ zBest: keep(where(this.active!, x, this.zBest!)), zLast: keep(where(this.active!, x, this.zLast!)) }));
      this.zBest!.dispose(); this.zLast!.dispose();
      ({ zBest: this.zBest, zLast: this.zLast } = next);
      this.deviceUnmeasured = true;
      return;
    }
    const running = Array.from({ length: this.batch }, (_, b) => this.isActive(b));
    running.forEach((on, b) => { if (on) this.markUnmeasured(b); });
    this.zBest = this.replace(this.zBest, x, running);
    this.zLast = this.replace(this.zLast, x, running);
  }

  private markUnmeasured(b: number): void {
    this.unmeasured[b] = true;
    this.stats.bestStep[b] = this.stats.absTrace[b]!.length;
  }

  private replace(old: Tensor | null, x: Tensor, mask: readonly boolean[]): Tensor {
    if (!old) return keep(fresh(x));
    if (!mask.some(Boolean)) return old;
    const next = keep(tidy(() => where(tensor(mask.map(Number), { dtype: x.dtype, shape: [this.batch, 1] }), x, old)));
    old.dispose();
    return next;
  }

  /**
   * Ends the solve: running samples become maxIter. In device mode, the trace is read (optionally: on a
   * synchronous driver over an asynchronous backend it stays unread, and the traces hold NaN).
   */
  *finish(): Solving<void> {
    if (this.trace.length > 0) {
      const steps = this.trace.length;
      const all = keep(tidy(() => stack(this.trace, 0)));
      this.trace.splice(0).forEach((t) => t.dispose());
      let values: Float64Array | null;
      try {
        values = yield* readIfPossible(all);
      } catch (err) {
        all.dispose();
        throw err;
      }
      if (values) all.dispose();
      else this.unread = all;
      this.replay(values, steps);
    }
    this.endRunning();
  }

  private endRunning(): void {
    this.stats.status.forEach((s, b) => { if (s === 'running') this.stats.status[b] = 'maxIter'; });
  }

  /** The trace finish() could not read (device mode on a synchronous driver over an asynchronous backend); the caller owns it. */
  takeUnreadTrace(): Tensor | null {
    const t = this.unread;
    this.unread = null;
    return t;
  }

  /** Recomputes the statistics from that trace's values, read later (numbers only: works after dispose()). */
  complete(values: Float64Array): TraceStats {
    this.resetStats();
    this.replay(values, values.length / (this.batch * 3));
    this.endRunning();
    return this.stats;
  }

  /** Device mode: fills the statistics from the trace read at the end ([steps, B, 3] values, or null if unread). */
  private replay(values: Float64Array | null, steps: number): void {
    const st = this.stats;
    for (let k = 0; k < steps; k++) {
      for (let b = 0; b < this.batch; b++) {
        if (!this.isActive(b)) continue;
        if (values) {
          const at = (k * this.batch + b) * 3;
          const code = values[at + 2]!;
          if (code !== INACTIVE) this.update(b, values[at]!, values[at + 1]!, CODE[code] ?? 'running');
          continue;
        }
        // unread: the evaluations are known, their residuals are not
        st.nFevals[b]!++;
        st.absTrace[b]!.push(NaN);
        st.relTrace[b]!.push(NaN);
        st.bestStep[b] = k;
      }
    }
    if (this.deviceUnmeasured) st.status.forEach((s, b) => { if (s === 'running') this.markUnmeasured(b); });
  }

  /** The iterate each sample returns: its best one, or its last one (best for diverged/nonFinite samples). */
  returned(which: 'best' | 'last'): { z: Tensor; steps: number[] } {
    const st = this.stats;
    const useBest = st.status.map((s) => which === 'best' || s === 'nonFinite' || s === 'diverged');
    const steps = useBest.map((u, b) => (u ? st.bestStep[b]! : st.absTrace[b]!.length - (this.unmeasured[b] ? 0 : 1)));
    const z = tidy(() => {
      const mask = this.bad && which === 'last' ? this.bad : tensor(useBest.map(Number), { dtype: this.zBest!.dtype, shape: [this.batch, 1] });
      return where(mask, this.zBest!, this.zLast!);
    });
    return { z, steps };
  }

  dispose(): void {
    for (const t of [this.zBest, this.zLast, this.active, this.bad, this.bestAbs, this.firstAbs, ...this.trace, ...this.snapshots.values(), ...this.recent, this.unread]) t?.dispose();
    this.unread = null;
    this.zBest = this.zLast = this.active = this.bad = this.bestAbs = this.firstAbs = null;
    this.trace.length = 0;
    this.recent.length = 0;
    this.snapshots.clear();
  }
}
