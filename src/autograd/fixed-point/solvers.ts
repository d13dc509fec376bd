// Forward solvers for z = f(z) on a batch [B, d]: damped Picard, safeguarded Anderson acceleration with a
// scale-relative ridge, and limited-memory Broyden. Each is a generator over a SolveContext (monitor.ts): it
// evaluates f through the context, yields the reads it needs, and leaves stopping and statistics to the context.
// They run on whatever grad mode the caller set (noGrad for the solve, enableGrad for full unroll).

import type { Tensor } from '../../tensor/tensor.js';
import { keep, tidy } from '../../tensor/memory.js';
import { abs, add, concat, div, fresh, matmul, max, maximum, mul, reciprocal, reshape, stack, sub, sum, transpose, where } from '../../tensor/ops/index.js';
import { tensor } from '../../tensor/creation.js';
import { read, type Solving } from './drive.js';
import { rowNorm, type Measurement, type SolveContext } from './monitor.js';

/**
 * A solver: from x0 ([B, d], owned by the caller), evaluate with ctx.f, measure and record every iterate it
 * evaluates (ctx.measure, ctx.record), stop when !ctx.anyActive() or !ctx.budgetLeft(). It returns the next
 * iterate it would evaluate when the budget ran out with samples still running (kept; the caller measures it
 * or returns it unmeasured), or null. Reads go through `yield*` (see drive.ts), so one solver runs on every backend.
 * @example
 * function* halfSteps(x0, ctx) {   // damped Picard with τ = ½, written as a custom solver
 *   let x = keep(clone(x0));
 *   for (;;) {
 *     const fx = ctx.f(x);
 *     ctx.record(x, yield* ctx.measure(x, fx));
 *     const next = keep(tidy(() => where(ctx.activeMask(x), add(mul(x, 0.5), mul(fx, 0.5)), x)));
 *     fx.dispose(); x.dispose();
 *     if (!ctx.anyActive()) { next.dispose(); return null; }
 *     if (!ctx.budgetLeft()) return next;
 *     x = next;
 *   }
 * }
 */
export type FixedPointSolver = (x0: Tensor, ctx: SolveContext) => Solving<Tensor | null>;

/** x ← τ·f(x) + (1−τ)·x */
function damped(x: Tensor, fx: Tensor, tau: number): Tensor {
  return tau === 1 ? fresh(fx) : add(mul(fx, tau), mul(x, 1 - tau));
}

/** Evaluates, measures and records x; returns f(x) (owned by the caller). */
function* evaluateAndRecord(x: Tensor, ctx: SolveContext): Solving<Tensor> {
  const fx = keep(ctx.f(x));
  try {
    ctx.record(x, yield* ctx.measure(x, fx));
    return fx;
  } catch (err) {
    fx.dispose();
    throw err;
  }
}

/** Damped Picard: evaluating f(x_k) gives x_k's residual and the next iterate at once. */
export function* picard(x0: Tensor, ctx: SolveContext): Solving<Tensor | null> {
  const state = new Owned(keep(fresh(x0)));
  try {
    for (;;) {
      const x = state.get();
      const fx = yield* evaluateAndRecord(x, ctx);
      state.set(keep(tidy(() => where(ctx.activeMask(x), damped(x, fx, ctx.settings.damping), x))));
      fx.dispose();
      if (!ctx.anyActive()) return null;
      if (!ctx.budgetLeft()) return state.release();
    }
  } finally {
    state.dispose();
  }
}

/** A kept tensor a solver owns: set() disposes the old value; release() hands it to the caller. */
class Owned {
  constructor(private t: Tensor | null) {}
  get(): Tensor { return this.t!; }
  set(next: Tensor): void { this.t?.dispose(); this.t = next; }
  release(): Tensor { const t = this.t!; this.t = null; return t; }
  dispose(): void { this.t?.dispose(); this.t = null; }
}

/** Solves (A + λI) w = 1 for a small SPD A by Gaussian elimination with partial pivoting; null if singular. */
function solveRidge(A: number[][], ridge: number): number[] | null {
  const n = A.length;
  const M = A.map((row, i) => [...row.map((v, j) => v + (i === j ? ridge : 0)), 1]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    if (!(Math.abs(M[p]![c]!) > 1e-300)) return null;
    [M[c], M[p]] = [M[p]!, M[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = M[r]![c]! / M[c]![c]!;
      for (let j = c; j <= n; j++) M[r]![j]! -= f * M[c]![j]!;
    }
  }
  const w = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let v = M[r]![n]!;
    for (let j = r + 1; j < n; j++) v -= M[r]![j]! * w[j]!;
    w[r] = v / M[r]![r]!;
  }
  return w.every(Number.isFinite) ? w : null;
}

/**
 * Anderson acceleration (type II): α = argmin ‖Σ αᵢ gᵢ‖² + λ‖α‖² s.t. Σα = 1, i.e. α = w/(1ᵀw) with
 * (GGᵀ + λI) w = 1; next x = β Σ αᵢ f(xᵢ) + (1−β) Σ αᵢ xᵢ. Per sample; a step that raises the sample's
 * residual is rejected (safeguard) and replaced by a damped Picard step, restarting that sample's history.
 */
export function* anderson(x0: Tensor, ctx: SolveContext): Solving<Tensor | null> {
  const s = ctx.settings;
  const { m, beta, ridge, ridgeMode, safeguard } = s.anderson;
  const B = x0.shape[0]!;
  const X: Tensor[] = [];
  const FX: Tensor[] = [];
  /** valid[b][i]: history slot i may be used for sample b (cleared on restart). */
  const valid: boolean[][] = Array.from({ length: B }, () => []);
  const push = (x: Tensor, fx: Tensor) => {
    X.push(keep(fresh(x))); FX.push(keep(fresh(fx)));
    valid.forEach((v) => v.push(true));
    if (X.length > m) { X.shift()!.dispose(); FX.shift()!.dispose(); valid.forEach((v) => v.shift()); }
  };
  const rows = (mask: readonly boolean[], dtype: Tensor['dtype']) => tensor(mask.map(Number), { dtype, shape: [B, 1] });
  const x = new Owned(keep(fresh(x0)));
  const fx = new Owned(null);
  const xNew = new Owned(null);
  const fxNew = new Owned(null);
  const pending: Measurement[] = [];
  try {
    fx.set(keep(ctx.f(x.get())));
    const m0 = yield* ctx.measure(x.get(), fx.get());
    let r = m0.values!;
    ctx.record(x.get(), m0);
    push(x.get(), fx.get());
    while (ctx.anyActive()) {
      // the Gram matrix of the residual history, read to solve each sample's small least-squares problem
      let gram: Float64Array | null = null;
      if (X.length >= 2) gram = yield* gramOf(X, FX);
      const candidate = tidy(() => {
        const picardStep = damped(x.get(), fx.get(), s.damping);
        if (!gram) return picardStep;
        const n = X.length;
        const alpha = new Float64Array(B * n);
        for (let b = 0; b < B; b++) {
          const slots = valid[b]!.map((v, i) => (v ? i : -1)).filter((i) => i >= 0);
          const A = slots.map((i) => slots.map((j) => gram![b * n * n + i * n + j]!));
          const trace = slots.reduce((t, i) => t + gram![b * n * n + i * n + i]!, 0);
          const lam = ridgeMode === 'relative' ? ridge * (trace / Math.max(slots.length, 1)) : ridge;
          const w = slots.length > 1 ? solveRidge(A, lam) : null;
          const total = w ? w.reduce((p, q) => p + q, 0) : 0;
          if (!w || !Number.isFinite(total) || Math.abs(total) < 1e-300) {
            alpha[b * n + n - 1] = 1; // fall back to the newest point (a Picard step, damped by β below)
          } else {
            slots.forEach((i, k) => { alpha[b * n + i] = w[k]! / total; });
          }
        }
        const a = tensor(alpha, { dtype: x.get().dtype, shape: [B, 1, n] });
        const mixF = reshape(matmul(a, stack(FX, 1)), [B, -1]);
        const mixX = reshape(matmul(a, stack(X, 1)), [B, -1]);
        const mixed = beta === 1 ? mixF : add(mul(mixF, beta), mul(mixX, 1 - beta));
        return where(ctx.activeMask(x.get()), mixed, x.get());
      });
      xNew.set(keep(candidate));
      if (!ctx.budgetLeft()) return xNew.release();
      fxNew.set(keep(ctx.f(xNew.get())));
      pending.push(yield* ctx.measure(xNew.get(), fxNew.get()));
      let rNew = pending.at(-1)!.values!;
      if (safeguard && X.length >= 2) {
        const rejected = Array.from({ length: B }, (_, b) => ctx.isActive(b) && !(rNew.abs[b]! <= r.abs[b]!));
        if (rejected.some(Boolean) && !ctx.budgetLeft()) {
          // no budget left for a fallback step: rejected samples stay where they were
          const keepOld = keep(tidy(() => where(rows(rejected, x.get().dtype), x.get(), xNew.get())));
          const keepOldF = keep(tidy(() => where(rows(rejected, x.get().dtype), fx.get(), fxNew.get())));
          xNew.set(keepOld); fxNew.set(keepOldF);
          pending.pop()!.dispose();
          pending.push(yield* ctx.measure(xNew.get(), fxNew.get()));
        } else if (rejected.some(Boolean)) {
          ctx.countExtraEvaluation(rejected);
          xNew.set(keep(tidy(() => where(rows(rejected, x.get().dtype), damped(x.get(), fx.get(), s.damping), xNew.get()))));
          fxNew.set(keep(ctx.f(xNew.get())));
          pending.pop()!.dispose();
          pending.push(yield* ctx.measure(xNew.get(), fxNew.get()));
          rejected.forEach((rej, b) => { if (rej) valid[b] = valid[b]!.map(() => false); });
        }
        rNew = pending.at(-1)!.values!;
      }
      ctx.record(xNew.get(), pending.pop()!);
      x.set(xNew.release()); fx.set(fxNew.release()); r = rNew;
      push(x.get(), fx.get());
    }
    return null;
  } finally {
    for (const t of [x, fx, xNew, fxNew]) t.dispose();
    pending.forEach((p) => p.dispose());
    X.forEach((t) => t.dispose()); FX.forEach((t) => t.dispose());
  }
}

/**
 * Per-sample Gram matrices GGᵀ of the residual history gᵢ = f(xᵢ) − xᵢ, [B · n · n] in float64, from one read. G is
 * divided by each sample's largest |gᵢ| on the device and the square of that scale applied on the host, so
 * float32 states whose squares overflow (|g| > 1.8e19) still give finite Gram matrices.
 */
function* gramOf(X: readonly Tensor[], FX: readonly Tensor[]): Solving<Float64Array> {
  const B = X[0]!.shape[0]!, n = X.length;
  const packed = keep(tidy(() => {
    const G = stack(FX.map((f, i) => sub(f, X[i]!)), 1); // [B, n, d]
    const scale = max(abs(reshape(G, [B, -1])), 1, true); // [B, 1]
    const Gs = div(G, reshape(where(scale.gt(0), scale, 1), [B, 1, 1]));
    return concat([reshape(matmul(Gs, transpose(Gs)), [B, n * n]), scale], 1);
  }));
  let v: Float64Array;
  try { v = yield* read(packed); } finally { packed.dispose(); }
  const gram = new Float64Array(B * n * n);
  for (let b = 0; b < B; b++) {
    const s = v[b * (n * n + 1) + n * n]! || 1;
    for (let k = 0; k < n * n; k++) gram[b * n * n + k] = v[b * (n * n + 1) + k]! * s * s;
  }
  return gram;
}

/** Per-sample dot product of [B, d] tensors → [B, 1]. */
function rowDot(a: Tensor, b: Tensor): Tensor {
  return sum(mul(a, b), 1, true);
}

/**
 * Limited-memory Broyden on g(z) = f(z) − z, with the inverse Jacobian estimate H ≈ (∂g/∂z)⁻¹ stored as
 * −I + Σ uⱼ vⱼᵀ. The first step (H = −I) is a Picard step. After each update the secant condition H Δg = Δx holds.
 * When `history` pairs are stored, the estimate restarts from −I (limited memory without a broken secant chain).
 */
export function* broyden(x0: Tensor, ctx: SolveContext): Solving<Tensor | null> {
  const s = ctx.settings;
  const U: Tensor[] = [];
  const V: Tensor[] = [];
  // H y = −y + Σ uⱼ (vⱼ·y);  Hᵀ y = −y + Σ vⱼ (uⱼ·y)
  const applyH = (y: Tensor) => U.reduce((acc, u, j) => add(acc, mul(u, rowDot(V[j]!, y))), mul(y, -1));
  const applyHt = (y: Tensor) => V.reduce((acc, v, j) => add(acc, mul(v, rowDot(U[j]!, y))), mul(y, -1));
  const x = new Owned(keep(fresh(x0)));
  const gx = new Owned(null);
  const dir = new Owned(null);
  const xn = new Owned(null);
  try {
    const fx0 = yield* evaluateAndRecord(x.get(), ctx);
    gx.set(keep(sub(fx0, x.get())));
    fx0.dispose();
    dir.set(keep(tidy(() => mul(gx.get(), s.damping))));
    for (;;) {
      if (!ctx.anyActive()) return null;
      const active = keep(tidy(() => ctx.activeMask(x.get())));
      try {
        xn.set(keep(tidy(() => where(active, add(x.get(), dir.get()), x.get()))));
        if (!ctx.budgetLeft()) return xn.release();
        const fxn = yield* evaluateAndRecord(xn.get(), ctx);
        const gn = keep(sub(fxn, xn.get()));
        fxn.dispose();
        const [u, v] = tidy(() => {
          const dx = sub(xn.get(), x.get());
          const dg = sub(gn, gx.get());
          // v is stored normalized (u absorbs its scale): no product of two iterate-sized numbers, so states near
          // float32's range (1e20) do not overflow the dot products
          const vt = applyHt(dx);
          const vUnit = div(vt, maximum(rowNorm(vt, 'l2'), 1e-30));
          const denom = rowDot(vUnit, dg);
          // frozen samples (Δx = 0) and degenerate updates get u = 0, so H is unchanged for them
          const ok = mul(active, where(mul(denom, denom).gt(1e-300), 1, 0));
          const safeDenom = where(ok, denom, 1);
          const uNew = mul(div0(sub(dx, applyH(dg)), safeDenom), ok);
          return [keep(zeroNonFinite(uNew)), keep(mul(zeroNonFinite(vUnit), ok))];
        });
        U.push(u!); V.push(v!);
        // NOTE: dropping the oldest pair breaks the secant structure and can diverge; restarting from H = −I is stable
        if (U.length >= s.broyden.history) { U.splice(0).forEach((t) => t.dispose()); V.splice(0).forEach((t) => t.dispose()); }
        x.set(xn.release()); gx.set(gn);
        dir.set(keep(tidy(() => mul(applyH(gx.get()), -1))));
      } finally {
        active.dispose();
      }
    }
  } finally {
    for (const t of [x, gx, dir, xn]) t.dispose();
    U.forEach((t) => t.dispose()); V.forEach((t) => t.dispose());
  }
}

function div0(a: Tensor, b: Tensor): Tensor {
  return mul(a, reciprocal(b));
}

function zeroNonFinite(t: Tensor): Tensor {
  // NaN ≠ NaN, and |±Inf| − |±Inf| is NaN: both become 0 (a NaN entry of a rank-1 update is dropped, not propagated)
  return where(sub(t, t).eq(0), t, 0);
}
