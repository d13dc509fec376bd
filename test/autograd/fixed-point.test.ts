// fixedPoint: convergence oracles (Banach contraction), solver comparisons, every gradient rule against exact
// answers, failure statuses, options, batching and memory. float64 throughout; docs/notes/deq.md gives the facts used.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import * as C from '../helpers/contractions.js';
import * as K from '../../src/testing/index.js';

const SEED = 4242;
const prop = <T extends unknown[]>(p: fc.IProperty<T>, numRuns = 40) => K.runProperty(p, { seed: SEED, numRuns });

/** A tanh layer f(z) = tanh(z Wᵀ + x Uᵀ + b) with ‖W‖₂ = s exactly (G6). */
function tanhLayer(d: number, s: number, seed: number) {
  const rng = new V.Rng(seed);
  const sig = Array.from({ length: d }, (_, i) => (i === 0 ? s : s * rng.uniform()));
  const W = C.f64(C.withSingularValues(sig, rng));
  const U = V.randn([d, d], rng, { dtype: 'float64', std: 0.5 });
  const b = V.randn([d], rng, { dtype: 'float64', std: 0.3 });
  const f = (z: Tensor, x: Tensor, w: Tensor, u: Tensor, bias: Tensor) =>
    V.tanh(V.add(V.add(V.matmul(z, V.transpose(w)), V.matmul(x, V.transpose(u))), bias));
  return { W, U, b, f };
}

describe('Banach contraction oracles (Picard)', () => {
  test('Banach\'s a-priori and a-posteriori bounds hold at every Picard step k, from any start (viar/testing)', () => {
    prop(fc.property(K.contractionArb({ kind: 'tanh', maxBatch: 1, minLipschitz: 0.2, maxLipschitz: 0.95, maxStart: 100 }),
      (spec) => V.tidy(() => { K.assertBanachBounds(K.buildProblem(spec), { steps: 12 }); })));
  });

  test('the Picard residual shrinks by at least L every step (monotone trace)', () => {
    prop(fc.property(fc.integer({ min: 2, max: 10 }), fc.double({ min: 0.2, max: 0.95, noNaN: true }), fc.nat(), (d, s, seed) => V.tidy(() => {
      const { W, U, b, f } = tanhLayer(d, s, seed);
      const x = V.randn([3, d], new V.Rng(seed + 1), { dtype: 'float64' });
      const { stats } = V.fixedPoint(f, [x, W, U, b], { tol: 1e-12, maxIter: 200 });
      for (const trace of stats.absTrace) {
        for (let k = 1; k < trace.length; k++) expect(trace[k]!).toBeLessThanOrEqual(s * trace[k - 1]! * (1 + 1e-9) + 1e-15);
      }
    })));
  });

  test('every solver lands within ‖f(y) − y‖/(1−L) of the unique fixed point, from far-apart starts (viar/testing)', () => {
    prop(fc.property(K.contractionArb({ maxLipschitz: 0.9, maxStart: 100 }), fc.constantFrom('picard', 'anderson', 'broyden'),
      (spec, solver) => V.tidy(() => {
        const problem = K.buildProblem(spec);
        const solve = { solver, tol: 1e-10, maxIter: 400 } as const;
        expect(V.fixedPoint(problem.f, problem.inputs, { ...solve, z0: problem.z0 }).stats.converged).toBe(true);
        K.assertBanachBounds(problem, { steps: 0, solve });
      })), 30);
  });

  test('linear maps: the solution matches (I − W)⁻¹ b', () => {
    const rng = new V.Rng(7);
    const d = 6;
    const w = C.withSingularValues([0.9, 0.7, 0.5, 0.3, 0.2, 0.1], rng);
    const bias = Array.from({ length: d }, () => rng.normal());
    const exact = C.solve(C.identityMinus(w), bias);
    for (const solver of ['picard', 'anderson', 'broyden'] as const) {
      const { z, stats } = V.fixedPoint(C.linearMap(C.f64(w)), [C.f64(bias, [1, d])], { solver, tol: 1e-13, maxIter: 500 });
      expect(stats.status).toEqual(['converged']);
      expect(C.l2(z.dataSync(), exact)).toBeLessThan(1e-11);
    }
  });

  test('scaled orthogonal maps take exactly ⌈log(tol/r₀)/log c⌉ + 1 evaluations (±1)', () => {
    prop(fc.property(fc.integer({ min: 2, max: 6 }), fc.double({ min: 0.1, max: 0.95, noNaN: true }), fc.integer({ min: 3, max: 10 }), fc.nat(), (d, c, u, seed) => V.tidy(() => {
      const rng = new V.Rng(seed);
      const w = C.orthogonal(d, rng).map((row) => row.map((v) => v * c));
      const bias = C.f64(Array.from({ length: d }, () => rng.normal()), [1, d]);
      const tol = 10 ** -u;
      const { stats } = V.fixedPoint(C.linearMap(C.f64(w)), [bias], { tol, maxIter: 5000, stagnationWindow: 0 });
      const r0 = stats.absTrace[0]![0]!;
      const expected = Math.max(0, Math.ceil(Math.log(tol / r0) / Math.log(c))) + 1;
      expect(Math.abs(stats.nFevals[0]! - expected)).toBeLessThanOrEqual(1);
    })));
  });

  test('damping keeps the fixed point; a rotation needs it (Krasnosel\'skii–Mann)', () => {
    const theta = 1.0;
    const rot = C.f64([[Math.cos(theta), -Math.sin(theta)], [Math.sin(theta), Math.cos(theta)]]);
    const bias = C.f64([1, 0.5], [1, 2]);
    const plain = V.fixedPoint(C.linearMap(rot), [bias], { tol: 1e-8, maxIter: 500, stagnationWindow: 0 });
    expect(plain.stats.status).toEqual(['maxIter']);
    const damped = V.fixedPoint(C.linearMap(rot), [bias], { tol: 1e-8, maxIter: 500, damping: 0.5 });
    expect(damped.stats.status).toEqual(['converged']);
    const exact = C.solve(C.identityMinus([[Math.cos(theta), -Math.sin(theta)], [Math.sin(theta), Math.cos(theta)]]), [1, 0.5]);
    expect(C.l2(damped.z.dataSync(), exact)).toBeLessThan(1e-7);
  });
});

describe('Anderson and Broyden', () => {
  test('Anderson (m ≥ d, tiny relative ridge) never takes more evaluations than Picard on linear contractions', () => {
    prop(fc.property(fc.integer({ min: 2, max: 8 }), fc.double({ min: 0.3, max: 0.95, noNaN: true }), fc.nat(), (d, s, seed) => V.tidy(() => {
      const rng = new V.Rng(seed);
      const sig = Array.from({ length: d }, (_, i) => (i === 0 ? s : s * rng.uniform()));
      const W = C.f64(C.withSingularValues(sig, rng));
      const bias = C.f64(Array.from({ length: d }, () => rng.normal()), [1, d]);
      const common = { tol: 1e-9, maxIter: 3000, stagnationWindow: 0 };
      const p = V.fixedPoint(C.linearMap(W), [bias], { ...common, solver: 'picard' });
      const a = V.fixedPoint(C.linearMap(W), [bias], { ...common, solver: 'anderson', anderson: { m: d + 1, ridge: 1e-12 } });
      expect(a.stats.status).toEqual(['converged']);
      expect(a.stats.nFevals[0]!).toBeLessThanOrEqual(p.stats.nFevals[0]!);
    })));
  });

  test('the safeguard never lets a sample\'s residual rise (contractive tanh layers, small memory)', () => {
    prop(fc.property(fc.integer({ min: 3, max: 12 }), fc.double({ min: 0.5, max: 0.97, noNaN: true }), fc.nat(), (d, s, seed) => V.tidy(() => {
      const { W, U, b, f } = tanhLayer(d, s, seed);
      const x = V.randn([4, d], new V.Rng(seed + 9), { dtype: 'float64' });
      const { stats } = V.fixedPoint(f, [x, W, U, b], { solver: 'anderson', anderson: { m: 2 }, tol: 1e-11, maxIter: 100 });
      for (const trace of stats.absTrace) {
        for (let k = 1; k < trace.length; k++) expect(trace[k]!).toBeLessThanOrEqual(trace[k - 1]! * (1 + 1e-12));
      }
    })));
  });

  test('Broyden terminates within 2d + 2 evaluations on linear systems, and its first step is a Picard step', () => {
    prop(fc.property(fc.integer({ min: 2, max: 7 }), fc.double({ min: 0.3, max: 0.95, noNaN: true }), fc.nat(), (d, s, seed) => V.tidy(() => {
      const rng = new V.Rng(seed);
      const W = C.f64(C.withSingularValues(Array.from({ length: d }, () => s * (0.2 + 0.8 * rng.uniform())), rng));
      const bias = C.f64(Array.from({ length: d }, () => rng.normal()), [1, d]);
      const br = V.fixedPoint(C.linearMap(W), [bias], { solver: 'broyden', tol: 1e-9, maxIter: 100, broyden: { history: 100 } });
      expect(br.stats.status).toEqual(['converged']);
      expect(br.stats.nFevals[0]!).toBeLessThanOrEqual(2 * d + 2);
      const pic = V.fixedPoint(C.linearMap(W), [bias], { solver: 'picard', tol: 0, maxIter: 2, stagnationWindow: 0 });
      const br2 = V.fixedPoint(C.linearMap(W), [bias], { solver: 'broyden', tol: 0, maxIter: 2, stagnationWindow: 0 });
      expect(br2.stats.absTrace[0]![1]!).toBeCloseTo(pic.stats.absTrace[0]![1]!, 14);
    })), 30);
  });

  test('an absolute ridge slows Anderson at small tolerances (why the default is relative)', () => {
    const rng = new V.Rng(11);
    const d = 8;
    const W = C.f64(C.withSingularValues(Array.from({ length: d }, (_, i) => 0.95 - 0.1 * i), rng));
    const bias = C.f64(Array.from({ length: d }, () => rng.normal()), [1, d]);
    const run = (anderson: V.AndersonOptions) =>
      V.fixedPoint(C.linearMap(W), [bias], { solver: 'anderson', anderson, tol: 1e-10, maxIter: 2000, stagnationWindow: 0 }).stats.nFevals[0]!;
    expect(run({ m: 6, ridge: 1e-4, ridgeMode: 'absolute' })).toBeGreaterThan(run({ m: 6 }));
  });
});

describe('gradient rules', () => {
  const setup = (seed = 3, d = 4, batch = 2, s = 0.7) => {
    const layer = tanhLayer(d, s, seed);
    const x = V.randn([batch, d], new V.Rng(seed + 5), { dtype: 'float64' });
    return { ...layer, x };
  };

  test.each(['picard', 'anderson', 'broyden'] as const)('IFT gradient equals central finite differences of the solve (adjoint solver %s, viar/testing)', (adjoint) => {
    V.tidy(() => {
      const problem = K.buildProblem({ kind: 'tanh', dim: 4, batch: 2, lipschitz: 0.7, seed: 3, z0Scale: 0 });
      K.assertIftGradient(problem, { atol: 1e-7, rtol: 1e-5, solve: { tol: 1e-14, maxIter: 300, gradient: { mode: 'ift', solver: adjoint, tol: 1e-14, maxIter: 300 } } });
    });
  });

  test('IFT matches the closed form on linear maps: b̄ = (I − Wᵀ)⁻¹ c', () => {
    const rng = new V.Rng(21);
    const d = 5;
    const w = C.symmetric([0.8, -0.6, 0.4, 0.2, -0.1], rng);
    const bias = V.tensor(Array.from({ length: d }, () => rng.normal()), { dtype: 'float64', shape: [1, d] }).requireGrad();
    const cvec = Array.from({ length: d }, () => rng.normal());
    const { z } = V.fixedPoint(C.linearMap(C.f64(w)), [bias], { tol: 1e-14, maxIter: 1000, gradient: { mode: 'ift', tol: 1e-14, maxIter: 1000 } });
    const [gb] = V.gradients(V.sum(V.mul(z, C.f64(cvec, [1, d]))), [bias]);
    const exact = C.solve(C.identityMinus(C.transpose(w)), cvec);
    expect(C.l2(gb!.dataSync(), exact)).toBeLessThan(1e-10);
  });

  test('JFB is exact when ∂f/∂z = 0 at z*: Newton\'s square root gives d√a/da = 1/(2√a)', () => {
    const a = V.tensor([2, 9], { dtype: 'float64' }).requireGrad();
    const newton = (z: Tensor, aa: Tensor) => V.mul(V.add(z, V.div(aa, z)), 0.5);
    const { z } = V.fixedPoint(newton, [a], { z0: V.ones([2], { dtype: 'float64' }), tol: 1e-15, maxIter: 100, perSample: false });
    expect(Array.from(z.dataSync())).toEqual([Math.SQRT2, 3].map((v, i) => (i === 0 ? expect.closeTo(v, 14) : expect.closeTo(v, 14))));
    const [g] = V.gradients(V.sum(z), [a]);
    expect(g!.dataSync()[0]!).toBeCloseTo(1 / (2 * Math.SQRT2), 12);
    expect(g!.dataSync()[1]!).toBeCloseTo(1 / 6, 12);
  });

  test('JFB is a descent direction with cos∠(b̄_JFB, b̄_IFT) ≥ (1 − L)/(1 + L) (docs/notes/deq.md F7d, viar/testing)', () => {
    prop(fc.property(K.contractionArb({ maxDim: 6, maxLipschitz: 0.95 }), (spec) => V.tidy(() => { K.assertJfbCosine(K.buildProblem(spec)); })));
  });

  test('phantom gradients approach IFT at least as fast as (1 − λ + λL)ᵏ (viar/testing)', () => {
    prop(fc.property(K.contractionArb({ maxDim: 6, maxLipschitz: 0.95 }), fc.constantFrom(1, 0.5), (spec, damping) => V.tidy(() => {
      K.assertPhantomConvergence(K.buildProblem(spec), { ks: [1, 2, 5, 10, 20], damping });
    })), 20);
  });

  test('phantom with k = 1, λ = 1 equals JFB; phantom and unroll converge to IFT as k grows', () => {
    const rng = new V.Rng(5);
    const d = 6;
    const W = C.f64(C.symmetric([0.8, 0.6, -0.5, 0.3, 0.2, -0.1], rng));
    const bias = V.randn([1, d], rng, { dtype: 'float64' }).requireGrad();
    const c = V.randn([1, d], rng, { dtype: 'float64' });
    const grad = (gradient: V.GradientRule, maxIter = 3000) => V.tidy(() => {
      const { z } = V.fixedPoint(C.linearMap(W), [bias], { tol: 1e-14, maxIter, gradient, stagnationWindow: 0 });
      return Array.from(V.gradients(V.sum(V.mul(z, c)), [bias])[0]!.dataSync());
    });
    const ift = grad({ mode: 'ift', tol: 1e-14, maxIter: 3000 });
    expect(grad({ mode: 'phantom', k: 1, damping: 1 })).toEqual(grad('jfb').map((v) => expect.closeTo(v, 14)));
    const err = (g: number[]) => C.l2(g, ift) / C.l2(ift);
    const phantomErrors = [1, 2, 5, 10, 20, 50, 100].map((k) => err(grad({ mode: 'phantom', k, damping: 1 })));
    for (let i = 1; i < phantomErrors.length; i++) expect(phantomErrors[i]!).toBeLessThanOrEqual(phantomErrors[i - 1]! * (1 + 1e-9));
    expect(phantomErrors.at(-1)!).toBeLessThan(1e-8);
    const dampedErrors = [5, 20, 100].map((k) => err(grad({ mode: 'phantom', k, damping: 0.5 })));
    expect(dampedErrors[2]!).toBeLessThan(dampedErrors[0]!);
    const unrollErrors = [5, 20, 200].map((n) => err(grad('unroll', n)));
    expect(unrollErrors[1]!).toBeLessThan(unrollErrors[0]!);
    expect(unrollErrors[2]!).toBeLessThan(1e-10);
  });

  test('the gradient with respect to z0 is zero under jfb, phantom and ift, and not under unroll', () => {
    const { W, U, b, f, x } = setup();
    for (const gradient of ['jfb', 'phantom', 'ift', 'unroll'] as const) {
      V.tidy(() => {
        const z0 = V.randn(x.shape, new V.Rng(1), { dtype: 'float64' }).requireGrad();
        const w = V.detach(W).requireGrad(); // so the output requires grad under every rule
        const { z } = V.fixedPoint(f, [x, w, U, b], { z0, tol: 1e-10, maxIter: 100, gradient });
        const [g0] = V.gradients(V.sum(z), [z0]);
        const norm = C.l2(g0!.dataSync());
        if (gradient === 'unroll') expect(norm).toBeGreaterThan(0);
        else expect(norm).toBe(0);
      });
    }
  });

  test('a tensor f captures from its closure gets the same gradient as when passed in inputs', () => {
    const { W, U, b, f, x } = setup();
    for (const gradient of ['jfb', 'phantom', 'ift', 'unroll'] as const) {
      V.tidy(() => {
        const w = V.detach(W).requireGrad();
        const explicit = V.fixedPoint(f, [x, w, U, b], { tol: 1e-12, maxIter: 200, gradient });
        const [gExplicit] = V.gradients(V.sum(explicit.z), [w]);
        const captured = V.fixedPoint((z, xx) => f(z, xx, w, U, b), [x], { tol: 1e-12, maxIter: 200, gradient });
        expect(captured.stats.capturedTensors).toBe(1);
        const [gCaptured] = V.gradients(V.sum(captured.z), [w]);
        expect(C.l2(gExplicit!.dataSync(), gCaptured!.dataSync())).toBeLessThan(1e-12);
        expect(() => V.fixedPoint((z, xx) => f(z, xx, w, U, b), [x], { strictInputs: true }))
          .toThrow(/^fixedPoint: f reads 1 tensor\(s\) that require grad without them being in inputs \(shapes \[4, 4\]\)/);
      });
    }
  });

  test('the IFT adjoint warm-starts from a cache: a repeated backward needs one evaluation', () => {
    const { W, U, b, f, x } = setup();
    const cache: V.AdjointCache = { u: null };
    const run = () => {
      const { z, stats } = V.fixedPoint(f, [x, W.detach().requireGrad(), U, b], { tol: 1e-12, maxIter: 200, gradient: { mode: 'ift', cache, tol: 1e-10 } });
      V.sum(z).backward();
      return stats.backward!;
    };
    const first = run();
    const second = run();
    expect(first.status.every((s) => s === 'converged')).toBe(true);
    expect(second.nFevals.every((n) => n <= 1)).toBe(true);
    cache.u?.dispose();
  });
});

describe('failure statuses', () => {
  test('a map that starts returning NaN gives nonFinite and the best finite iterate', () => {
    let calls = 0;
    const f = (z: Tensor) => (++calls >= 6 ? V.mul(z, NaN) : V.add(V.mul(z, 0.5), 1));
    const { z, stats } = V.fixedPoint(f, [], { z0: V.zeros([1, 3], { dtype: 'float64' }), tol: 1e-12, maxIter: 50 });
    expect(stats.status).toEqual(['nonFinite']);
    expect(stats.nFevals[0]!).toBe(6);
    expect(Array.from(z.dataSync()).every(Number.isFinite)).toBe(false); // the output is f(best), and f now returns NaN
    expect(stats.bestResidual.every(Number.isFinite)).toBe(true);
    expect(stats.returnedStep[0]).toBe(stats.bestStep[0]);
  });

  test('a repelling map (2z + 1) is reported as diverged before maxIter, without NaN in the stats', () => {
    const { stats } = V.fixedPoint((z) => V.add(V.mul(z, 2), 1), [], { z0: V.zeros([2, 2], { dtype: 'float64' }), maxIter: 1000 });
    expect(stats.status).toEqual(['diverged', 'diverged']);
    expect(Math.max(...stats.nFevals)).toBeLessThan(1000);
    expect(stats.absTrace.flat().every(Number.isFinite)).toBe(true);
  });

  test('onFailure: "throw" raises a FixedPointError carrying the stats', () => {
    let thrown: unknown;
    try {
      V.fixedPoint((z) => V.add(V.mul(z, 2), 1), [], { z0: V.zeros([1, 2], { dtype: 'float64' }), onFailure: 'throw' });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(V.FixedPointError);
    expect((thrown as Error).message).toMatch(/^fixedPoint: 1 of 1 samples did not converge \(sample 0: diverged/);
    expect((thrown as V.FixedPointError).stats.status).toEqual(['diverged']);
  });
});

describe('options, stats and batching', () => {
  test('unknown or misspelled options are errors that suggest the right key', () => {
    const x = V.zeros([1, 2]);
    const f = (z: Tensor, xx: Tensor) => V.add(V.mul(z, 0.5), xx);
    expect(() => V.fixedPoint(f, [x], { maxIters: 5 } as never)).toThrow(/^fixedPoint: unknown option 'maxIters' \(did you mean 'maxIter'\?\)/);
    expect(() => V.fixedPoint(f, [x], { anderson: { mm: 3 } } as never)).toThrow(/^fixedPoint: unknown option 'anderson.mm' \(did you mean 'm'\?\)/);
    expect(() => V.fixedPoint(f, [x], { gradient: { mode: 'phantom', steps: 3 } } as never)).toThrow(/unknown option 'gradient.steps'/);
    expect(() => V.fixedPoint(f, [x], { solver: 'newton' } as never)).toThrow(/^fixedPoint: option 'solver' must be one of 'picard', 'anderson', 'broyden', got "newton"/);
    expect(() => V.fixedPoint(f, [x], { damping: 0 })).toThrow(/^fixedPoint: option 'damping' must be in \(0, 1\], got 0/);
    expect(() => V.fixedPoint((z) => V.sum(z), [x])).toThrow(/^fixedPoint: f returned shape \[\] for z of shape \[1, 2\]/);
  });

  test('stats are consistent: trace lengths, best residual and step, returned step', () => {
    const { W, U, b, f } = tanhLayer(5, 0.8, 1);
    const x = V.randn([3, 5], new V.Rng(2), { dtype: 'float64' });
    for (const solver of ['picard', 'anderson', 'broyden'] as const) {
      const { stats } = V.fixedPoint(f, [x, W, U, b], { solver, tol: 1e-9, maxIter: 100 });
      expect(stats.converged).toBe(true);
      stats.absTrace.forEach((trace, i) => {
        if (solver !== 'anderson') expect(trace.length).toBe(stats.nFevals[i]);
        expect(stats.bestResidual[i]).toBe(Math.min(...trace));
        expect(stats.bestStep[i]).toBe(trace.indexOf(Math.min(...trace)));
        expect(stats.lastResidual[i]).toBe(trace.at(-1));
        expect(stats.relTrace[i]!.length).toBe(trace.length);
      });
    }
  });

  test('solving a batch equals solving each sample alone; a slow sample does not change the fast ones', () => {
    const d = 4;
    const rng = new V.Rng(8);
    const W = C.f64(C.withSingularValues([0.6, 0.5, 0.3, 0.1], rng));
    const f = (z: Tensor, x: Tensor, scale: Tensor) => V.tanh(V.add(V.mul(V.matmul(z, V.transpose(W)), scale), x));
    const x = V.randn([3, d], rng, { dtype: 'float64', std: 0.05 }); // small: tanh stays near-linear
    const scale = V.tensor([[1], [1.6], [0.2]], { dtype: 'float64' }); // sample 1 is slow (L ≈ 0.96)
    const batch = V.fixedPoint(f, [x, scale], { tol: 1e-10, maxIter: 2000 });
    for (const solver of ['picard', 'anderson', 'broyden'] as const) {
      K.assertBatchIndependence({ f, inputs: [x, scale], lipschitz: 0.97, batched: [true, true] }, { solve: { solver, tol: 1e-10, maxIter: 2000 }, atol: 1e-12 });
    }
    expect(batch.stats.nFevals[1]!).toBeGreaterThan(batch.stats.nFevals[0]! + 10);
  });

  test('warm start at the solution stops after one evaluation', () => {
    const { W, U, b, f } = tanhLayer(4, 0.8, 4);
    const x = V.randn([2, 4], new V.Rng(1), { dtype: 'float64' });
    const first = V.fixedPoint(f, [x, W, U, b], { tol: 1e-10, maxIter: 200 });
    const again = V.fixedPoint(f, [x, W, U, b], { tol: 1e-10, maxIter: 200, z0: first.z });
    expect(again.stats.status).toEqual(['converged', 'converged']);
    expect(again.stats.nFevals).toEqual([1, 1]);
  });

  test('warm starts are not monotone in general: W = diag(0.9, 0.1) (docs/notes/deq.md F9, a documented non-property)', () => {
    const W = C.f64([[0.9, 0], [0, 0.1]]);
    const b = C.f64([0, 0], [1, 2]);
    const run = (z0: number[]) => V.fixedPoint(C.linearMap(W), [b], { z0: C.f64(z0, [1, 2]), tol: 1e-8, maxIter: 1000, norm: 'max', stagnationWindow: 0 }).stats.nFevals[0]!;
    // start A is much closer (residual 1e-3 along the slow direction) yet needs far more steps than start B
    expect(run([0.01, 0])).toBeGreaterThan(run([0, 1]) * 5);
  });
});

describe('memory retained by the primitive', () => {
  const measure = (gradient: V.GradientRule, iters: number) => V.tidy(() => {
    const { W, U, b, f } = tanhLayer(16, 0.9, 1);
    const x = V.randn([8, 16], new V.Rng(3), { dtype: 'float64' });
    const w = V.detach(W).requireGrad();
    const { stats } = V.fixedPoint(f, [x, w, U, b], { tol: 0, maxIter: iters, gradient, stagnationWindow: 0 });
    return stats.memory;
  });

  test('JFB retains the same tape at 1, 4, 16 and 64 forward iterations', () => {
    const bytes = [1, 4, 16, 64].map((n) => measure('jfb', n).retainedBytes);
    expect(bytes[0]!).toBeGreaterThan(0);
    for (const v of bytes) expect(v / bytes[0]!).toBeLessThanOrEqual(1.05);
  });

  test('unroll grows linearly with iterations; phantom is proportional to k and independent of iterations', () => {
    const unroll = [4, 16, 64].map((n) => measure('unroll', n).retainedBytes);
    const perIter1 = (unroll[1]! - unroll[0]!) / 12, perIter2 = (unroll[2]! - unroll[1]!) / 48;
    expect(perIter1).toBeGreaterThan(0);
    expect(Math.abs(perIter2 / perIter1 - 1)).toBeLessThan(0.05);
    // affine in k: every extra step retains the same bytes (the first step saves a little less: its input is detached)
    const phantom = [2, 4, 8].map((k) => measure({ mode: 'phantom', k }, 16).retainedBytes);
    const perStep = (phantom[1]! - phantom[0]!) / 2;
    expect(perStep).toBeGreaterThan(0);
    expect(phantom[2]! - phantom[1]!).toBe(4 * perStep);
    expect(Math.abs(phantom[0]! - 2 * perStep)).toBeLessThan(perStep);
    expect(measure({ mode: 'phantom', k: 4 }, 64).retainedBytes).toBe(phantom[1]);
  });

  test('nothing leaks: a solve + backward in tidy returns every buffer and node', () => {
    const { W, U, b, f } = tanhLayer(4, 0.8, 2);
    for (const gradient of ['jfb', 'phantom', 'ift', 'unroll'] as const) {
      for (const solver of ['picard', 'anderson', 'broyden'] as const) {
        if (gradient === 'unroll' && solver !== 'picard') continue;
        K.assertNoLeak(() => V.tidy(() => {
          const w = V.detach(W).requireGrad();
          const x = V.randn([2, 4], new V.Rng(3), { dtype: 'float64' });
          const { z } = V.fixedPoint(f, [x, w, U, b], { solver, gradient, tol: 1e-8, maxIter: 50 });
          V.sum(z).backward();
          w.dispose();
        }), { calls: 2, warmup: 0 });
      }
    }
  });
});

describe('fixedPoint memory in the number of iterations', () => {
  // f(z) = tanh(W z + x) through a few intermediate tensors per call; peak live bytes of a JFB training step must
  // not grow with the untaped iterations (each evaluation's intermediates are freed), while unroll's do.
  const peakOf = (maxIter: number, gradient: 'unroll'): number => {
    const backend = V.getBackend() as unknown as { resetPeak(): void; poolStats(): { peakLiveBytes: number }; memory(): { numBytes: number } };
    const rng = new V.Rng(0);
    const W = V.mul(V.randn([64, 64], rng), 0.05).requireGrad();
    const x = V.randn([32, 64], rng).requireGrad();
    const f = (z: Tensor, inj: Tensor) => V.tanh(V.add(V.matmul(V.mul(z, 1), W), V.mul(inj, 1)));
    backend.resetPeak();
    const base = backend.memory().numBytes;
    V.tidy(() => {
      const { z } = V.fixedPoint(f, [x], { maxIter, tol: 0, gradient });
      V.sum(z).backward();
    });
    const peak = backend.poolStats().peakLiveBytes - base;
    W.dispose(); x.dispose();
    return peak;
  };

  test('JFB: flat in the untaped iterations; unroll: grows with them', () => {
    const jfbStep = (maxIter: number) => {
      const rng = new V.Rng(0);
      const W = V.mul(V.randn([64, 64], rng), 0.05).requireGrad();
      const f = (z: Tensor, inj: Tensor) => V.tanh(V.add(V.matmul(V.mul(z, 1), W), V.mul(inj, 1)));
      V.sum(V.fixedPoint(f, [V.randn([32, 64], rng).requireGrad()], { maxIter, tol: 0, gradient: 'jfb' }).z).backward();
    };
    K.assertFlatMemory(jfbStep, { iterations: [2, 40], tolerance: 1.05 });
    expect(peakOf(40, 'unroll')).toBeGreaterThan(peakOf(2, 'unroll') * 5);
  });
});
