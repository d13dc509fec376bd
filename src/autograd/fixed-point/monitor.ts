// Per-sample convergence bookkeeping for the solvers: residuals (numbers, never tensors), status, traces,
// evaluation counts, and the best and last iterate of every sample.

import type { Tensor } from '../../tensor/tensor.js';
import { keep, tidy } from '../../tensor/memory.js';
import { abs, max, mul, sqrt, square, sub, sum, where } from '../../tensor/ops/index.js';
import { tensor } from '../../tensor/creation.js';
import type { ResolvedSolve } from './options.js';

export type SampleStatus = 'running' | 'converged' | 'maxIter' | 'stagnated' | 'diverged' | 'nonFinite';

export interface Residuals {
  /** ‖f(x) − x‖ per sample, dimension-normalized (rms or max). */
  abs: Float64Array;
  /** ‖f(x) − x‖ / ‖f(x)‖ per sample (same norm). */
  rel: Float64Array;
}

/** Residuals of x ([B, d]) given fx = f(x). */
export function residuals(x: Tensor, fx: Tensor, norm: 'rms' | 'max'): Residuals {
  return tidy(() => {
    const diff = sub(fx, x);
    const d = x.shape[1]!;
    if (norm === 'max') {
      const a = max(abs(diff), 1).dataSync();
      const f = max(abs(fx), 1).dataSync();
      return { abs: Float64Array.from(a), rel: Float64Array.from(a, (v, i) => v / (f[i]! + 1e-30)) };
    }
    const l2 = sqrt(sum(square(diff), 1)).dataSync();
    const f = sqrt(sum(square(fx), 1)).dataSync();
    return { abs: Float64Array.from(l2, (v) => v / Math.sqrt(Math.max(d, 1))), rel: Float64Array.from(l2, (v, i) => v / (f[i]! + 1e-30)) };
  });
}

/** Per-sample state of one solve. Owns (keeps) zBest and zLast; call dispose() when done. */
export class Monitor {
  readonly status: SampleStatus[];
  readonly nFevals: number[];
  readonly absTrace: number[][];
  readonly relTrace: number[][];
  readonly bestResidual: number[];
  readonly bestStep: number[];
  readonly lastResidual: number[];
  private readonly firstResidual: number[];
  private readonly bestHistory: number[][];
  zBest: Tensor | null = null;
  zLast: Tensor | null = null;

  constructor(readonly batch: number, private readonly s: ResolvedSolve) {
    const fill = <T>(v: () => T) => Array.from({ length: batch }, v);
    this.status = fill(() => 'running' as SampleStatus);
    this.nFevals = fill(() => 0);
    this.absTrace = fill(() => []);
    this.relTrace = fill(() => []);
    this.bestResidual = fill(() => Infinity);
    this.bestStep = fill(() => -1);
    this.lastResidual = fill(() => NaN);
    this.firstResidual = fill(() => NaN);
    this.bestHistory = fill(() => []);
  }

  isActive(b: number): boolean {
    return this.status[b] === 'running';
  }

  anyActive(): boolean {
    return this.status.some((s) => s === 'running');
  }

  /** [B, 1] tensor: 1 for running samples, 0 for finished ones. */
  activeMask(like: Tensor): Tensor {
    const m = this.status.map((s) => (s === 'running' ? 1 : 0));
    return tensor(m, { dtype: like.dtype, shape: [this.batch, 1] });
  }

  /** Counts an evaluation whose result was discarded (e.g. a rejected Anderson step) for the given samples. */
  countExtraEvaluation(samples: readonly boolean[]): void {
    samples.forEach((on, b) => { if (on) this.nFevals[b]!++; });
  }

  /** Records that x (with residuals r, from one evaluation of f) is the newest iterate of every running sample. */
  record(x: Tensor, r: Residuals): void {
    const improved: boolean[] = [];
    const wasActive: boolean[] = [];
    for (let b = 0; b < this.batch; b++) {
      wasActive.push(this.isActive(b));
      improved.push(false);
      if (!this.isActive(b)) continue;
      const a = r.abs[b]!, rel = r.rel[b]!;
      const step = this.absTrace[b]!.length;
      this.nFevals[b]!++;
      this.absTrace[b]!.push(a);
      this.relTrace[b]!.push(rel);
      this.lastResidual[b] = a;
      if (step === 0) this.firstResidual[b] = a;
      if (!Number.isFinite(a)) {
        this.status[b] = 'nonFinite';
        continue;
      }
      if (a < this.bestResidual[b]! || this.bestStep[b] === -1) {
        this.bestResidual[b] = a;
        this.bestStep[b] = step;
        improved[b] = true;
      }
      const hist = this.bestHistory[b]!;
      hist.push(this.bestResidual[b]!);
      if (a <= this.s.tol || (this.s.relTol > 0 && rel <= this.s.relTol)) this.status[b] = 'converged';
      else if (a > this.s.divergenceFactor * Math.max(this.firstResidual[b]!, 1e-300)) this.status[b] = 'diverged';
      else if (this.s.stagnationWindow > 0 && hist.length > this.s.stagnationWindow
        && hist[hist.length - 1]! > this.s.stagnationRatio * hist[hist.length - 1 - this.s.stagnationWindow]!) this.status[b] = 'stagnated';
    }
    this.zBest = this.replace(this.zBest, x, improved);
    this.zLast = this.replace(this.zLast, x, wasActive);
  }

  /**
   * Records iterate x without measuring its residual (a solve with no tolerance on a device backend, where a residual
   * would be a read of the device): traces get NaN, x becomes the best and the last iterate; `evaluated` counts f(x).
   */
  recordUnmeasured(x: Tensor, evaluated = true): void {
    const active = Array.from({ length: this.batch }, (_, b) => this.isActive(b));
    active.forEach((a, b) => {
      if (!a) return;
      this.bestStep[b] = this.absTrace[b]!.length;
      if (evaluated) this.nFevals[b]!++;
      this.absTrace[b]!.push(NaN);
      this.relTrace[b]!.push(NaN);
      this.lastResidual[b] = NaN;
    });
    this.zBest = this.replace(this.zBest, x, active);
    this.zLast = this.replace(this.zLast, x, active);
  }

  private replace(old: Tensor | null, x: Tensor, mask: readonly boolean[]): Tensor {
    if (!old) return keep(mul(x, 1));
    if (!mask.some(Boolean)) return old;
    const next = keep(tidy(() => where(tensor(mask.map(Number), { dtype: x.dtype, shape: [this.batch, 1] }), x, old)));
    old.dispose();
    return next;
  }

  /** Ends the solve: running samples become maxIter. */
  finish(): void {
    this.status.forEach((s, b) => { if (s === 'running') this.status[b] = 'maxIter'; });
  }

  /** The iterate each sample returns: its best one, or its last one (best for diverged/nonFinite samples). */
  returned(which: 'best' | 'last'): { z: Tensor; steps: number[] } {
    const useBest = this.status.map((s) => which === 'best' || s === 'nonFinite' || s === 'diverged');
    const steps = useBest.map((u, b) => (u ? this.bestStep[b]! : this.absTrace[b]!.length - 1));
    const z = tidy(() => where(tensor(useBest.map(Number), { dtype: this.zBest!.dtype, shape: [this.batch, 1] }), this.zBest!, this.zLast!));
    return { z, steps };
  }

  dispose(): void {
    this.zBest?.dispose();
    this.zLast?.dispose();
    this.zBest = this.zLast = null;
  }
}

