// Generators of maps with known Lipschitz constants (docs/notes/deq.md, generators) and small dense linear algebra for closed forms.

import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';

export type Mat = number[][];

/** A random orthogonal matrix: Gram-Schmidt on a Gaussian matrix (G1). */
export function orthogonal(d: number, rng: V.Rng): Mat {
  const q: Mat = [];
  while (q.length < d) {
    let v = Array.from({ length: d }, () => rng.normal());
    for (const u of q) {
      const p = v.reduce((s, x, i) => s + x * u[i]!, 0);
      v = v.map((x, i) => x - p * u[i]!);
    }
    const n = Math.hypot(...v);
    if (n > 1e-8) q.push(v.map((x) => x / n));
  }
  return q;
}

export function matmul(a: Mat, b: Mat): Mat {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((s, x, k) => s + x * b[k]![j]!, 0)));
}

export function transpose(a: Mat): Mat {
  return a[0]!.map((_, j) => a.map((row) => row[j]!));
}

/** W = U diag(σ) Vᵀ: spectral norm exactly max σ (G2). */
export function withSingularValues(sigmas: number[], rng: V.Rng): Mat {
  const d = sigmas.length;
  const u = orthogonal(d, rng), v = orthogonal(d, rng);
  return matmul(u.map((row) => row.map((x, j) => x * sigmas[j]!)), transpose(v));
}

/** W = Q diag(μ) Qᵀ (G4). */
export function symmetric(mus: number[], rng: V.Rng): Mat {
  const q = orthogonal(mus.length, rng);
  return matmul(q.map((row) => row.map((x, j) => x * mus[j]!)), transpose(q));
}

/** Solves A x = b by Gaussian elimination with partial pivoting. */
export function solve(A: Mat, b: number[]): number[] {
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

export function f64(values: number[] | Mat, shape?: number[]): Tensor {
  const flat = (values as number[][]).flat ? (values as number[][]).flat() : (values as number[]);
  return V.tensor(flat as number[], { dtype: 'float64', shape: shape ?? (Array.isArray(values[0]) ? [values.length, (values[0] as number[]).length] : [values.length]) });
}

/** The linear map z ↦ z Wᵀ + b on rows (each sample z_b ↦ W z_b + b). */
export function linearMap(W: Tensor) {
  return (z: Tensor, b: Tensor) => V.add(V.matmul(z, V.transpose(W)), b);
}

export function l2(a: ArrayLike<number>, b?: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - (b ? b[i]! : 0)) ** 2;
  return Math.sqrt(s);
}
