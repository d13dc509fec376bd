// Small dense linear algebra on plain number[][] for the testing kit: matrices with a prescribed spectrum (so a map's
// Lipschitz constant is known exactly) and Gaussian elimination for closed-form answers. Not an engine path.

import { Rng } from '../tensor/random.js';

/** A dense matrix as rows. */
export type Mat = number[][];

/** A random orthogonal d×d matrix: Gram–Schmidt on a Gaussian matrix. */
export function orthogonal(d: number, rng: Rng): Mat {
  const q: Mat = [];
  while (q.length < d) {
    let v = Array.from({ length: d }, () => rng.normal());
    for (const u of q) {
      const p = dot(v, u);
      v = v.map((x, i) => x - p * u[i]!);
    }
    const n = Math.hypot(...v);
    if (n > 1e-8) q.push(v.map((x) => x / n));
  }
  return q;
}

/** A · B */
export function matmul(a: Mat, b: Mat): Mat {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((s, x, k) => s + x * b[k]![j]!, 0)));
}

/** Aᵀ */
export function transpose(a: Mat): Mat {
  return a[0]!.map((_, j) => a.map((row) => row[j]!));
}

/** W = U diag(σ) Vᵀ with random orthogonal U, V: its spectral norm is exactly max |σ|. */
export function withSingularValues(sigmas: readonly number[], rng: Rng): Mat {
  const u = orthogonal(sigmas.length, rng), v = orthogonal(sigmas.length, rng);
  return matmul(u.map((row) => row.map((x, j) => x * sigmas[j]!)), transpose(v));
}

/** W = Q diag(μ) Qᵀ: symmetric with eigenvalues μ. */
export function symmetric(mus: readonly number[], rng: Rng): Mat {
  const q = orthogonal(mus.length, rng);
  return matmul(q.map((row) => row.map((x, j) => x * mus[j]!)), transpose(q));
}

/** Solves A x = b by Gaussian elimination with partial pivoting (independent of the Anderson solver's own, which it checks). */
export function solve(A: Mat, b: readonly number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    [M[c], M[p]] = [M[p]!, M[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = M[r]![c]! / M[c]![c]!;
      for (let j = c; j <= n; j++) M[r]![j]! -= f * M[c]![j]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let v = M[r]![n]!;
    for (let j = r + 1; j < n; j++) v -= M[r]![j]! * x[j]!;
    x[r] = v / M[r]![r]!;
  }
  return x;
}

/** I − W */
export function identityMinus(w: Mat): Mat {
  return w.map((row, i) => row.map((x, j) => (i === j ? 1 : 0) - x));
}

/** ⟨a, b⟩ */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** ‖a − b‖₂ (‖a‖₂ without b). */
export function l2(a: ArrayLike<number>, b?: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - (b ? b[i]! : 0)) ** 2;
  return Math.sqrt(s);
}
