// Forward solvers for z = F(z) on a batch [B, d]: damped Picard, safeguarded Anderson acceleration with a
// scale-relative ridge, and limited-memory Broyden. They run on whatever grad mode the caller set (noGrad for
// the solve, enableGrad for full unroll), evaluate F once per step, and leave the bookkeeping to Monitor.

import type { Tensor } from '../../tensor/tensor.js';
import { keep, tidy } from '../../tensor/memory.js';
import { add, matmul, mul, reciprocal, reshape, stack, sub, sum, transpose, where } from '../../tensor/ops/index.js';
import { tensor } from '../../tensor/creation.js';
import { Monitor, residuals } from './monitor.js';
import type { ResolvedSolve } from './options.js';

export type BatchMap = (x: Tensor) => Tensor;

/** Replaces `state` with `next` (disposing the old value), keeping the new one out of tidy scopes. */
function swap(old: Tensor | null, next: Tensor): Tensor {
  old?.dispose();
  return keep(next);
}

/** x ← τ·f(x) + (1−τ)·x */
function damped(x: Tensor, fx: Tensor, tau: number): Tensor {
  return tau === 1 ? mul(fx, 1) : add(mul(fx, tau), mul(x, 1 - tau));
}

/** Solves z = F(z) from x0 ([B, d]) and returns the monitor (which holds the best and last iterates). */
export function solveFixedPoint(F: BatchMap, x0: Tensor, s: ResolvedSolve): Monitor {
  const monitor = new Monitor(x0.shape[0]!, s);
  switch (s.solver) {
    case 'picard': picard(F, x0, s, monitor); break;
    case 'anderson': anderson(F, x0, s, monitor); break;
    case 'broyden': broyden(F, x0, s, monitor); break;
  }
  monitor.finish();
  return monitor;
}

/** Damped Picard: evaluating f(x_k) gives x_k's residual and the next iterate at once. */
function picard(F: BatchMap, x0: Tensor, s: ResolvedSolve, monitor: Monitor): void {
  let x = keep(mul(x0, 1));
  // With no tolerance nothing depends on the residuals: on a device backend they are not read back at all, and the
  // evaluation at the returned iterate (which only measures its residual) is skipped.
  const unmeasured = x0.backend.name !== 'cpu' && !(s.tol > 0) && !(s.relTol > 0);
  if (unmeasured) {
    for (let k = 0; k < s.maxIter; k++) {
      monitor.recordUnmeasured(x, k < s.maxIter - 1);
      if (k === s.maxIter - 1) break;
      const fx = F(x);
      const next = tidy(() => damped(x, fx, s.damping));
      fx.dispose();
      x = swap(x, next);
    }
    x.dispose();
    return;
  }
  for (let k = 0; k < s.maxIter; k++) {
    const fx = F(x);
    monitor.record(x, residuals(x, fx, s.norm));
    if (!monitor.anyActive() || k === s.maxIter - 1) { fx.dispose(); break; }
    const next = tidy(() => where(monitor.activeMask(x), damped(x, fx, s.damping), x));
    fx.dispose();
    x = swap(x, next);
  }
  x.dispose();
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
function anderson(F: BatchMap, x0: Tensor, s: ResolvedSolve, monitor: Monitor): void {
  const { m, beta, ridge, ridgeMode, safeguard } = s.anderson;
  const B = x0.shape[0]!;
  const X: Tensor[] = [];
  const FX: Tensor[] = [];
  /** valid[b][i]: history slot i may be used for sample b (cleared on restart). */
  const valid: boolean[][] = Array.from({ length: B }, () => []);
  const push = (x: Tensor, fx: Tensor) => {
    X.push(keep(x)); FX.push(keep(fx));
    valid.forEach((v) => v.push(true));
    if (X.length > m) { X.shift()!.dispose(); FX.shift()!.dispose(); valid.forEach((v) => v.shift()); }
  };

  let x = keep(mul(x0, 1));
  let fx = keep(F(x));
  let r = residuals(x, fx, s.norm);
  monitor.record(x, r);
  push(mul(x, 1), mul(fx, 1));
  let evals = 1;
  while (monitor.anyActive() && evals < s.maxIter) {
    const candidate = tidy(() => {
      const picardStep = damped(x, fx, s.damping);
      if (X.length < 2) return picardStep;
      const G = stack(FX.map((f, i) => sub(f, X[i]!)), 1); // [B, n, d]
      const gram = matmul(G, transpose(G)).dataSync(); // [B, n, n]
      const n = X.length;
      const alpha = new Float64Array(B * n);
      for (let b = 0; b < B; b++) {
        const slots = valid[b]!.map((v, i) => (v ? i : -1)).filter((i) => i >= 0);
        const A = slots.map((i) => slots.map((j) => gram[b * n * n + i * n + j]!));
        const trace = slots.reduce((t, i) => t + gram[b * n * n + i * n + i]!, 0);
        const lam = ridgeMode === 'relative' ? ridge * (trace / Math.max(slots.length, 1)) : ridge;
        const w = slots.length > 1 ? solveRidge(A, lam) : null;
        const total = w ? w.reduce((p, q) => p + q, 0) : 0;
        if (!w || !Number.isFinite(total) || Math.abs(total) < 1e-300) {
          alpha[b * n + n - 1] = 1; // fall back to the newest point (a Picard step, damped by β below)
        } else {
          slots.forEach((i, k) => { alpha[b * n + i] = w[k]! / total; });
        }
      }
      const a = tensor(alpha, { dtype: x.dtype, shape: [B, 1, n] });
      const mixF = reshape(matmul(a, stack(FX, 1)), [B, -1]);
      const mixX = reshape(matmul(a, stack(X, 1)), [B, -1]);
      const mixed = beta === 1 ? mixF : add(mul(mixF, beta), mul(mixX, 1 - beta));
      return where(monitor.activeMask(x), mixed, x);
    });
    let xNew = keep(candidate);
    let fxNew = keep(F(xNew));
    evals++;
    let rNew = residuals(xNew, fxNew, s.norm);
    if (safeguard && X.length >= 2) {
      const rejected = Array.from({ length: B }, (_, b) => monitor.isActive(b) && !(rNew.abs[b]! <= r.abs[b]!));
      if (rejected.some(Boolean) && evals >= s.maxIter) {
        // no budget left for a fallback step: rejected samples stay where they were
        const keepOld = keep(tidy(() => where(tensor(rejected.map(Number), { dtype: x.dtype, shape: [B, 1] }), x, xNew)));
        const keepOldF = keep(tidy(() => where(tensor(rejected.map(Number), { dtype: x.dtype, shape: [B, 1] }), fx, fxNew)));
        xNew.dispose(); fxNew.dispose();
        xNew = keepOld; fxNew = keepOldF;
        rNew = residuals(xNew, fxNew, s.norm);
      } else if (rejected.some(Boolean)) {
        monitor.countExtraEvaluation(rejected);
        const fallback = keep(tidy(() => where(tensor(rejected.map(Number), { dtype: x.dtype, shape: [B, 1] }), damped(x, fx, s.damping), xNew)));
        xNew.dispose(); fxNew.dispose();
        xNew = fallback;
        fxNew = keep(F(xNew));
        evals++;
        rNew = residuals(xNew, fxNew, s.norm);
        rejected.forEach((rej, b) => { if (rej) valid[b] = valid[b]!.map(() => false); });
      }
    }
    monitor.record(xNew, rNew);
    x.dispose(); fx.dispose();
    x = xNew; fx = fxNew; r = rNew;
    push(mul(x, 1), mul(fx, 1));
  }
  x.dispose(); fx.dispose();
  X.forEach((t) => t.dispose()); FX.forEach((t) => t.dispose());
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
function broyden(F: BatchMap, x0: Tensor, s: ResolvedSolve, monitor: Monitor): void {
  const history = s.broyden.history;
  const U: Tensor[] = [];
  const V: Tensor[] = [];
  // H y = −y + Σ uⱼ (vⱼ·y);  Hᵀ y = −y + Σ vⱼ (uⱼ·y)
  const applyH = (y: Tensor) => U.reduce((acc, u, j) => add(acc, mul(u, rowDot(V[j]!, y))), mul(y, -1));
  const applyHt = (y: Tensor) => V.reduce((acc, v, j) => add(acc, mul(v, rowDot(U[j]!, y))), mul(y, -1));

  let x = keep(mul(x0, 1));
  let fx = F(x);
  let gx = keep(sub(fx, x));
  monitor.record(x, residuals(x, fx, s.norm));
  fx.dispose();
  let dir = keep(mul(gx, s.damping));
  for (let evals = 1; evals < s.maxIter && monitor.anyActive(); evals++) {
    const active = monitor.activeMask(x);
    const xn = keep(tidy(() => where(active, add(x, dir), x)));
    const fxn = F(xn);
    const gn = keep(sub(fxn, xn));
    monitor.record(xn, residuals(xn, fxn, s.norm));
    fxn.dispose();
    const [u, v] = tidy(() => {
      const dx = sub(xn, x);
      const dg = sub(gn, gx);
      const vt = applyHt(dx);
      const denom = rowDot(vt, dg);
      // frozen samples (Δx = 0) and degenerate updates get u = 0, so H is unchanged for them
      const ok = mul(active, where(mul(denom, denom).gt(1e-300), 1, 0));
      const safeDenom = where(ok, denom, 1);
      const uNew = mul(div0(sub(dx, applyH(dg)), safeDenom), ok);
      return [keep(zeroNonFinite(uNew)), keep(mul(zeroNonFinite(vt), ok))];
    });
    active.dispose();
    U.push(u!); V.push(v!);
    // NOTE: dropping the oldest pair breaks the secant structure and can diverge; restarting from H = −I is stable
    if (U.length >= history) { U.splice(0).forEach((t) => t.dispose()); V.splice(0).forEach((t) => t.dispose()); }
    x.dispose(); gx.dispose();
    x = xn; gx = gn;
    const nextDir = keep(tidy(() => mul(applyH(gx), -1)));
    dir.dispose();
    dir = nextDir;
  }
  x.dispose(); gx.dispose(); dir.dispose();
  U.forEach((t) => t.dispose()); V.forEach((t) => t.dispose());
}

function div0(a: Tensor, b: Tensor): Tensor {
  return mul(a, reciprocal(b));
}

function zeroNonFinite(t: Tensor): Tensor {
  // NaN ≠ NaN, and |±Inf| − |±Inf| is NaN: both become 0 (deq.md §2.3: NaN entries of the update are zeroed)
  return where(sub(t, t).eq(0), t, 0);
}
