// Forward-solver benchmark: function evaluations and time to tolerance for Picard, Anderson and Broyden on
// problem families with known contraction factors. Writes bench/results/fixed-point.json.
// Run: npm run bench:fixed-point

import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as V from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { symmetric, f64 } from '../test/helpers/contractions.js';

interface Family {
  name: string;
  make: (seed: number) => { f: (z: Tensor, ...xs: Tensor[]) => Tensor; inputs: Tensor[] };
}

const d = 64, batch = 16;
function weights(L: number, seed: number): Tensor {
  const rng = new V.Rng(seed);
  // symmetric, eigenvalues spread over [L/2, L]: many slow directions, the regime where acceleration matters
  // (a random non-normal W with ‖W‖₂ = L has a much smaller spectral radius and is easy for every solver)
  return f64(symmetric(Array.from({ length: d }, (_, i) => (i === 0 ? L : L * (0.5 + 0.5 * rng.uniform()))), rng));
}
const linear = (L: number): Family => ({
  name: `linear z·Wᵀ + b, λ(W) ∈ [${L / 2}, ${L}]`,
  make: (seed) => ({
    f: (z, b, W) => V.add(V.matmul(z, V.transpose(W!)), b!),
    inputs: [V.randn([batch, d], new V.Rng(seed + 1), { dtype: "float64" }), weights(L, seed)],
  }),
});
const tanhLayer = (L: number): Family => ({
  name: `tanh(z·Wᵀ + x), λ(W) ∈ [${L / 2}, ${L}]`,
  make: (seed) => ({
    f: (z, x, W) => V.tanh(V.add(V.matmul(z, V.transpose(W!)), x!)),
    inputs: [V.randn([batch, d], new V.Rng(seed + 1), { dtype: 'float64', std: 0.3 }), weights(L, seed)],
  }),
});
const families = [linear(0.9), linear(0.99), tanhLayer(0.9), tanhLayer(0.99)];
const solvers = ['picard', 'anderson', 'broyden'] as const;
const tol = 1e-8, maxIter = 3000, seeds = [1, 2, 3];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: Record<string, unknown>[] = [];
console.log(`fixedPoint solvers — d = ${d}, batch ${batch}, tol ${tol} (rms residual), float64, ${seeds.length} seeds\n`);
console.log(`${'problem'.padEnd(40)} ${'solver'.padEnd(9)} ${'f-evals/sample'.padStart(15)} ${'converged'.padStart(10)} ${'ms/solve'.padStart(9)}`);
for (const family of families) {
  for (const solver of solvers) {
    const evals: number[] = [], times: number[] = [];
    let converged = 0, total = 0;
    for (const seed of seeds) {
      V.tidy(() => {
        const { f, inputs } = family.make(seed);
        const start = performance.now();
        const { stats } = V.fixedPoint(f, inputs, { solver, tol, maxIter, stagnationWindow: 0, anderson: { m: 6 }, broyden: { history: 30 } });
        times.push(performance.now() - start);
        evals.push(...stats.nFevals);
        converged += stats.status.filter((s) => s === 'converged').length;
        total += stats.batch;
      });
    }
    const row = { problem: family.name, solver, medianFevals: median(evals), maxFevals: Math.max(...evals), converged: `${converged}/${total}`, medianMs: Number(median(times).toFixed(1)) };
    rows.push(row);
    console.log(`${family.name.padEnd(40)} ${solver.padEnd(9)} ${`${row.medianFevals} (max ${row.maxFevals})`.padStart(15)} ${row.converged.padStart(10)} ${row.medianMs.toFixed(1).padStart(9)}`);
  }
}
const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'fixed-point.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, d, batch, tol, rows }, null, 2) + '\n');
console.log(`\nwrote ${out}`);
