// fixedPoint's DEQ toolkit and hardening: structured states, z*, intermediate states for a fixed-point correction
// loss, custom solvers, measureReturned, spectral radius in the stats, the z0 mismatch error, higher-order derivatives
// under each gradient rule, no leak when f throws, and residual norms that do not overflow at float32's range.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import * as C from '../helpers/contractions.js';

const SEED = 1616;
const prop = <T extends unknown[]>(p: fc.IProperty<T>, numRuns = 25) => fc.assert(p, { seed: SEED, numRuns, verbose: 1 });
const SOLVERS = ['picard', 'anderson', 'broyden'] as const;
const RULES = ['jfb', 'phantom', 'ift', 'unroll'] as const;

/** f(z) = tanh(z Wᵀ + x) with ‖W‖₂ = s, float64. */
function tanhLayer(d: number, s: number, seed: number) {
  const rng = new V.Rng(seed);
  const W = C.f64(C.withSingularValues(Array.from({ length: d }, (_, i) => (i === 0 ? s : s * rng.uniform())), rng));
  const f = (z: Tensor, x: Tensor, w: Tensor) => V.tanh(V.add(V.matmul(z, V.transpose(w)), x));
  return { W, f };
}

const values = (t: Tensor) => Array.from(t.dataSync());

describe('structured states (arrays and records of tensors)', () => {
  test('a record state solves the same problem as its packed form, with the same gradients under every rule', () => {
    prop(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.nat(), fc.constantFrom(...RULES), (a, b, seed, rule) => V.tidy(() => {
      const d = a + b;
      const { W, f } = tanhLayer(d, 0.7, seed);
      const x = V.randn([2, d], new V.Rng(seed + 1), { dtype: 'float64' }).requireGrad();
      const w = V.detach(W).requireGrad();
      const opts = { tol: 1e-12, maxIter: 300, gradient: rule } as const;
      const packed = V.fixedPoint(f, [x, w], opts);
      const split = (z: Tensor) => ({ u: V.slice(z, [null, [0, a]]), v: V.slice(z, [null, [a, d]]) });
      const structured = V.fixedPoint((s: { u: Tensor; v: Tensor }, xx: Tensor, ww: Tensor) => split(f(V.concat([s.u, s.v], 1), xx, ww)), [x, w],
        { ...opts, z0: { u: V.zeros([2, a], { dtype: 'float64' }), v: V.zeros([2, b], { dtype: 'float64' }) } });
      const joined = V.concat([structured.z.u, structured.z.v], 1);
      expect(C.l2(values(joined), values(packed.z))).toBeLessThan(1e-12);
      expect(structured.stats.nFevals).toEqual(packed.stats.nFevals);
      const gp = V.gradients(V.sum(V.square(packed.z)), [x, w]);
      const gs = V.gradients(V.sum(V.square(joined)), [x, w]);
      gp.forEach((g, i) => expect(C.l2(values(gs[i]!), values(g))).toBeLessThan(1e-10));
    })));
  });

  test('array states keep their order; a part f returns with another shape is an error naming it', () => {
    const f = ([p, q]: readonly Tensor[]) => [V.add(V.mul(q!, 0.5), 1), V.mul(p!, 0.5)];
    const { z, zStar } = V.fixedPoint(f, [], { z0: [V.zeros([1, 2], { dtype: 'float64' }), V.zeros([1, 2], { dtype: 'float64' })], tol: 1e-13, maxIter: 200 });
    // p = q/2 + 1, q = p/2 → p = 4/3, q = 2/3
    expect(values(z[0]!)).toEqual([expect.closeTo(4 / 3, 10), expect.closeTo(4 / 3, 10)]);
    expect(values(zStar[1]!)).toEqual([expect.closeTo(2 / 3, 10), expect.closeTo(2 / 3, 10)]);
    expect(() => V.fixedPoint(([p]: readonly Tensor[]) => [p!, V.zeros([1, 3])], [], { z0: [V.zeros([1, 2]), V.zeros([1, 2])] }))
      .toThrow(/^fixedPoint: f returned shape \[1, 3\] for z\["1"\] of shape \[1, 2\]/);
    expect(() => V.fixedPoint(([p]: readonly Tensor[]) => [p!], [], { z0: [V.zeros([1, 2]), V.zeros([1, 2])] }))
      .toThrow(/^fixedPoint: f returned parts \[0\], the state has \[0, 1\]/);
  });
});

describe('z0 defaults cannot silently mismatch', () => {
  test('a 4-wide input with a 16-wide state fails naming z0, not inside matmul', () => {
    const W = V.randn([16, 16], new V.Rng(1));
    const U = V.randn([4, 16], new V.Rng(2));
    const f = (z: Tensor, x: Tensor) => V.tanh(V.add(V.matmul(z, W), V.matmul(x, U)));
    const x = V.randn([2, 4], new V.Rng(3));
    expect(() => V.fixedPoint(f, [x])).toThrow(/^fixedPoint: f threw on the default z0 \(z0 defaulted to zeros shaped like inputs\[0\], \[2, 4\]: pass z0 with the state's shape\): matmul/);
    const g = (_z: Tensor, xx: Tensor) => V.matmul(xx, U); // returns [2, 16] for a [2, 4] z
    expect(() => V.fixedPoint(g, [x])).toThrow(/^fixedPoint: f returned shape \[2, 16\] for z of shape \[2, 4\].*\(z0 defaulted to zeros shaped like inputs\[0\]/);
    expect(V.fixedPoint(f, [x], { z0: V.zeros([2, 16]) }).z.shape).toEqual([2, 16]);
  });
});

describe('z*, intermediate states and the fixed-point correction loss', () => {
  test('zStar is the returned iterate: f(zStar) is the output, its residual the one in the stats', () => {
    const { W, f } = tanhLayer(5, 0.8, 3);
    const x = V.randn([3, 5], new V.Rng(4), { dtype: 'float64' });
    const { z, zStar, stats } = V.fixedPoint(f, [x, W], { tol: 1e-9, maxIter: 100 });
    expect(C.l2(values(f(zStar, x, W)), values(z))).toBeLessThan(1e-15);
    const r = V.sub(f(zStar, x, W), zStar);
    for (let b = 0; b < 3; b++) {
      const rb = C.l2(values(V.slice(r, [[b, b + 1]]))) / Math.sqrt(5);
      expect(rb).toBeCloseTo(stats.absTrace[b]![stats.returnedStep[b]!]!, 12);
    }
  });

  test('states under unroll are the taped iterates f(z_i): values and gradients equal an explicit unrolled loop', () => {
    prop(fc.property(fc.integer({ min: 2, max: 6 }), fc.nat(), fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 4 }), (d, seed, idx) => V.tidy(() => {
      const { W, f } = tanhLayer(d, 0.8, seed);
      const x = V.randn([2, d], new V.Rng(seed + 1), { dtype: 'float64' });
      const w = V.detach(W).requireGrad();
      const { states } = V.fixedPoint(f, [x, w], { tol: 0, stagnationWindow: 0, maxIter: 8, gradient: 'unroll', states: idx });
      const [g] = V.gradients(states.map((s) => V.sum(V.square(s))).reduce((a, b) => V.add(a, b)), [w]);
      // explicit: z_0 = 0, z_{i+1} = f(z_i); state i is f(z_i) = z_{i+1}
      const iterates: Tensor[] = [V.zeros([2, d], { dtype: 'float64' })];
      for (let i = 0; i <= 8; i++) iterates.push(f(iterates[i]!, x, w));
      const picked = idx.map((i) => iterates[i + 1]!);
      picked.forEach((p, j) => expect(C.l2(values(states[j]!), values(p))).toBeLessThan(1e-12));
      const explicitLoss = picked.map((p) => V.sum(V.square(p))).reduce((a, b) => V.add(a, b));
      const [ge] = V.gradients(explicitLoss, [w]);
      expect(C.l2(values(g!), values(ge!))).toBeLessThan(1e-10 * (1 + C.l2(values(ge!))));
    })), 15);
  });

  test('negative state indices count from the end; an index past the end gives the returned iterate', () => {
    const { W, f } = tanhLayer(3, 0.6, 30);
    const x = V.randn([2, 3], new V.Rng(31), { dtype: 'float64' });
    const { z, zStar, states } = V.fixedPoint(f, [x, W], { tol: 0, stagnationWindow: 0, maxIter: 5, states: [-1, -2, 99], returnIterate: 'last' });
    expect(C.l2(values(states[0]!), values(z))).toBe(0); // f at the last iterate z₅ is the output
    expect(C.l2(values(states[1]!), values(zStar))).toBeLessThan(1e-15); // f(z₄) = z₅
    expect(C.l2(values(states[2]!), values(z))).toBe(0);
  });

  test('states under jfb and phantom apply the rule at each iterate: gradients equal the rule applied by hand', () => {
    const { W, f } = tanhLayer(4, 0.7, 8);
    const x = V.randn([2, 4], new V.Rng(9), { dtype: 'float64' });
    for (const gradient of ['jfb', { mode: 'phantom', k: 3, damping: 0.5 }] as const) {
      V.tidy(() => {
        const w = V.detach(W).requireGrad();
        const { states } = V.fixedPoint(f, [x, w], { tol: 0, stagnationWindow: 0, maxIter: 6, states: [0, 2, 5], gradient });
        const [g] = V.gradients(states.map((s) => V.sum(s)).reduce((a, b) => V.add(a, b)), [w]);
        const its: Tensor[] = [V.zeros([2, 4], { dtype: 'float64' })];
        for (let i = 0; i < 6; i++) its.push(V.noGrad(() => f(its[i]!, x, W)));
        const byHand = [0, 2, 5].map((i) => {
          if (gradient === 'jfb') return f(its[i]!, x, w);
          let z = its[i]!;
          for (let t = 0; t < 3; t++) z = V.add(V.mul(z, 0.5), V.mul(f(z, x, w), 0.5));
          return z;
        });
        const [gh] = V.gradients(byHand.map((s) => V.sum(s)).reduce((a, b) => V.add(a, b)), [w]);
        expect(C.l2(values(g!), values(gh!))).toBeLessThan(1e-12);
      });
    }
  });
});

describe('custom solvers and measureReturned', () => {
  /** Damped Picard with τ = ½, written against the public solver interface. */
  const halfSteps: V.FixedPointSolver = function* (x0, ctx) {
    let x = V.keep(V.clone(x0));
    try {
      for (;;) {
        const fx = V.keep(ctx.f(x));
        ctx.record(x, yield* ctx.measure(x, fx));
        const next = V.keep(V.tidy(() => V.where(ctx.activeMask(x), V.add(V.mul(x, 0.5), V.mul(fx, 0.5)), x)));
        fx.dispose(); x.dispose(); x = next;
        if (!ctx.anyActive()) return null;
        if (!ctx.budgetLeft()) { const out = x; x = null as unknown as Tensor; return out; }
      }
    } finally {
      x?.dispose();
    }
  };

  test('a custom solver gets the same stats and gradient rules as the built-in one it imitates', () => {
    const { W, f } = tanhLayer(5, 0.8, 12);
    const x = V.randn([3, 5], new V.Rng(13), { dtype: 'float64' });
    for (const gradient of ['jfb', 'ift'] as const) {
      V.tidy(() => {
        const w = V.detach(W).requireGrad();
        const custom = V.fixedPoint(f, [x, w], { solver: halfSteps, tol: 1e-10, maxIter: 300, gradient });
        const builtIn = V.fixedPoint(f, [x, w], { solver: 'picard', damping: 0.5, tol: 1e-10, maxIter: 300, gradient });
        expect(custom.stats.solver).toBe('custom');
        expect(custom.stats.nFevals).toEqual(builtIn.stats.nFevals);
        expect(custom.stats.absTrace).toEqual(builtIn.stats.absTrace);
        const [gc] = V.gradients(V.sum(custom.z), [w]);
        const [gb] = V.gradients(V.sum(builtIn.z), [w]);
        expect(C.l2(values(gc!), values(gb!))).toBeLessThan(1e-14);
      });
    }
  });

  test('maxIter counts advancing evaluations; measureReturned adds the one at the returned iterate', () => {
    prop(fc.property(fc.integer({ min: 0, max: 12 }), fc.constantFrom(...SOLVERS), fc.boolean(), (n, solver, measure) => V.tidy(() => {
      const { W, f } = tanhLayer(4, 0.9, n);
      const x = V.randn([2, 4], new V.Rng(n), { dtype: 'float64' });
      const { stats } = V.fixedPoint(f, [x, W], { solver, tol: 1e-15, maxIter: n, measureReturned: measure, stagnationWindow: 0 });
      const evals = n + (measure ? 1 : 0);
      expect(stats.forwardCalls).toBeLessThanOrEqual(evals + (solver === 'anderson' ? 0 : 0));
      if (solver !== 'anderson') expect(stats.forwardCalls).toBe(evals);
      expect(stats.returnedStep.every((s, b) => s === (measure ? stats.bestStep[b] : stats.absTrace[b]!.length))).toBe(true);
    })), 30);
  });

  test('without the measuring evaluation, Picard returns z_n after n evaluations (the output is z_{n+1})', () => {
    const { W, f } = tanhLayer(3, 0.6, 2);
    const x = V.randn([1, 3], new V.Rng(3), { dtype: 'float64' });
    let z = V.zeros([1, 3], { dtype: 'float64' });
    for (let i = 0; i < 5; i++) z = f(z, x, W);
    const { zStar, stats } = V.fixedPoint(f, [x, W], { tol: 0, stagnationWindow: 0, maxIter: 5, measureReturned: false });
    expect(stats.forwardCalls).toBe(5);
    expect(stats.absTrace[0]).toHaveLength(5);
    expect(C.l2(values(zStar), values(z))).toBe(0);
  });
});

describe('spectral radius in the stats', () => {
  test('symmetric linear maps: the per-sample estimate is the largest |eigenvalue|', () => {
    prop(fc.property(fc.integer({ min: 2, max: 6 }), fc.double({ min: 0.1, max: 0.9, noNaN: true }), fc.nat(), (d, top, seed) => V.tidy(() => {
      const rng = new V.Rng(seed);
      const mus = Array.from({ length: d }, (_, i) => (i === 0 ? top : (rng.uniform() * 2 - 1) * top * 0.5));
      const W = C.f64(C.symmetric(mus, rng));
      const b = V.randn([3, d], rng, { dtype: 'float64' });
      const { stats } = V.fixedPoint(C.linearMap(W), [b], { tol: 1e-10, maxIter: 400, spectralRadius: { iterations: 200 } });
      expect(stats.spectralRadius).toHaveLength(3);
      for (const rho of stats.spectralRadius!) expect(rho).toBeCloseTo(top, 6);
    })), 15);
  });

  test('spectralRadius is off by default and validated', () => {
    const x = V.zeros([1, 2]);
    expect(V.fixedPoint((z, xx) => V.add(V.mul(z, 0.5), xx), [x]).stats.spectralRadius).toBeNull();
    expect(() => V.fixedPoint((z, xx) => V.add(V.mul(z, 0.5), xx), [x], { spectralRadius: { iters: 3 } } as never))
      .toThrow(/^fixedPoint: unknown option 'spectralRadius.iters'; valid options: iterations, seed/);
  });
});

describe('higher-order derivatives under each gradient rule (float64)', () => {
  // g(w, x) = ⟨∂L/∂x, e⟩ with L = Σ z*², differentiated once more with respect to w (the measurement)
  const d = 3;
  const { W, f } = tanhLayer(d, 0.5, 21);
  const x = V.randn([2, d], new V.Rng(22), { dtype: 'float64' });
  const e = V.randn([2, d], new V.Rng(23), { dtype: 'float64' });
  // (gradcheck evaluates the function under noGrad for its finite differences: the inner gradient needs grad on)
  const firstOrder = (gradient: V.GradientRule) => (w: Tensor, xx: Tensor) => V.enableGrad(() => {
    const xl = V.detach(xx).requireGrad();
    const { z } = V.fixedPoint(f, [xl, w], { tol: 1e-14, maxIter: 400, gradient, stagnationWindow: 0 });
    const [gx] = V.gradients(V.sum(V.square(z)), [xl], undefined, { createGraph: true });
    return V.sum(V.mul(gx!, e));
  });

  test('unroll: exact second derivatives (gradcheck of the first-order gradient)', () => {
    V.assertGradcheck(firstOrder('unroll'), [W, x], { eps: 1e-6, atol: 1e-7, rtol: 1e-5, wrt: [0] });
  });

  test('phantom with k = 60: second derivatives match finite differences of the re-solved gradient', () => {
    V.assertGradcheck(firstOrder({ mode: 'phantom', k: 60, damping: 1 }), [W, x], { eps: 1e-6, atol: 1e-7, rtol: 1e-5, wrt: [0] });
  });

  test('jfb: the second derivative is the one of its surrogate f(sg(z*), w) at the solved z*', () => {
    const w = V.detach(W).requireGrad();
    const analytic = V.gradients(firstOrder('jfb')(w, x), [w])[0]!;
    const zStar = V.fixedPoint(f, [x, W], { tol: 1e-14, maxIter: 400 }).zStar;
    const surrogate = (ww: Tensor, xx: Tensor) => V.enableGrad(() => {
      const xl = V.detach(xx).requireGrad();
      const [gx] = V.gradients(V.sum(V.square(f(zStar, xl, ww))), [xl], undefined, { createGraph: true });
      return V.sum(V.mul(gx!, e));
    });
    V.assertGradcheck(surrogate, [W, x], { eps: 1e-6, atol: 1e-8, rtol: 1e-6, wrt: [0] });
    const expected = V.gradients(surrogate(w, x), [w])[0]!;
    expect(C.l2(values(analytic), values(expected))).toBeLessThan(1e-12);
  });

  test('ift: exact second derivatives (z* and the adjoint stay implicit under createGraph), matching unroll', () => {
    V.assertGradcheck(firstOrder({ mode: 'ift', tol: 1e-14, maxIter: 400 }), [W, x], { eps: 1e-6, atol: 1e-7, rtol: 1e-5, wrt: [0] });
    const w = V.detach(W).requireGrad();
    const viaIft = V.gradients(firstOrder({ mode: 'ift', tol: 1e-14, maxIter: 400 })(w, x), [w])[0]!;
    const viaUnroll = V.gradients(firstOrder('unroll')(w, x), [w])[0]!;
    expect(C.l2(values(viaIft), values(viaUnroll))).toBeLessThan(1e-9 * (1 + C.l2(values(viaUnroll))));
  });

  test('ift on a linear map: second derivatives equal the closed form 2PᵀPe', () => {
    // z* = A z* + b, so z* = P b with P = (I − A)⁻¹; L = Σ z*² gives ∂L/∂b = 2PᵀPb and d/db ⟨∂L/∂b, e⟩ = 2PᵀPe
    const A = [[0.5, 0.1], [0.2, 0.25]];
    const W2 = C.f64(A);
    const b = C.f64([1, 2], [1, 2]).requireGrad();
    const e2 = C.f64([0.3, -0.7], [1, 2]);
    const { z } = V.fixedPoint((zz, bb) => V.add(V.matmul(zz, V.transpose(W2)), bb), [b], { tol: 1e-14, maxIter: 400, gradient: { mode: 'ift', tol: 1e-14, maxIter: 400 } });
    const [gb] = V.gradients(V.sum(V.square(z)), [b], undefined, { createGraph: true });
    const [hb] = V.gradients(V.sum(V.mul(gb!, e2)), [b]);
    const cols = [0, 1].map((i) => C.solve(C.identityMinus(A), [i === 0 ? 1 : 0, i === 1 ? 1 : 0])); // P's columns
    const Pe = C.solve(C.identityMinus(A), [0.3, -0.7]);
    const exact = [0, 1].map((j) => 2 * (cols[j]![0]! * Pe[0]! + cols[j]![1]! * Pe[1]!)); // (PᵀPe)_j = column j · Pe
    expect(C.l2(values(hb!), exact)).toBeLessThan(1e-10);
  });

  test('ift with a weight f captures from its closure: the same second derivatives as unroll', () => {
    const w = V.detach(W).requireGrad();
    const secondVia = (gradient: V.GradientRule) => V.gradients(V.enableGrad(() => {
      const xl = V.detach(x).requireGrad();
      const { z } = V.fixedPoint((zz: Tensor, xx: Tensor) => f(zz, xx, w), [xl], { tol: 1e-14, maxIter: 400, gradient, stagnationWindow: 0 });
      const [gx] = V.gradients(V.sum(V.square(z)), [xl], undefined, { createGraph: true });
      return V.sum(V.mul(gx!, e));
    }), [w])[0]!;
    const viaIft = secondVia({ mode: 'ift', tol: 1e-14, maxIter: 400 });
    const viaUnroll = secondVia('unroll');
    expect(C.l2(values(viaIft), values(viaUnroll))).toBeLessThan(1e-9 * (1 + C.l2(values(viaUnroll))));
  });

  test('ift second derivatives in tidy leave no tensor, buffer or graph node behind', () => {
    const before = V.memory();
    V.tidy(() => {
      const w = V.detach(W).requireGrad();
      V.gradients(firstOrder({ mode: 'ift', tol: 1e-12, maxIter: 200 })(w, x), [w]);
      w.dispose();
    });
    const after = V.memory();
    expect([after.numTensors, after.numDataBuffers, after.numGradNodes]).toEqual([before.numTensors, before.numDataBuffers, before.numGradNodes]);
  });

  test('ift refuses a graph of its second backward (a third derivative) with an error naming the rules that allow one', () => {
    const w = V.detach(W).requireGrad();
    expect(() => V.gradients(firstOrder('ift')(w, x), [w], undefined, { createGraph: true }))
      .toThrow(/^fixedPoint: gradient 'ift' gives exact second derivatives but no third .*use gradient 'unroll' or \{ mode: 'phantom', k \}/);
  });
});

describe('hardening: exceptions inside f, float32 range', () => {
  test.each(SOLVERS)('an exception thrown inside f frees every working tensor (%s, sync and async)', async (solver) => {
    const { W, f } = tanhLayer(4, 0.8, 5);
    const x = V.randn([2, 4], new V.Rng(6), { dtype: 'float64' });
    const failing = (after: number) => {
      let calls = 0;
      return (z: Tensor, xx: Tensor, w: Tensor) => {
        if (++calls > after) throw new Error('f failed');
        return f(z, xx, w);
      };
    };
    const before = V.memory();
    for (const after of [0, 1, 3, 7]) {
      expect(() => V.fixedPoint(failing(after), [x, W], { solver, tol: 1e-12, maxIter: 50, states: [1, 2] })).toThrow('f failed');
      await expect(V.fixedPointAsync(failing(after), [x, W], { solver, tol: 0, stagnationWindow: 0, maxIter: 50 })).rejects.toThrow('f failed');
    }
    // an exception in the IFT backward's VJP frees the adjoint's tensors too
    const w = V.detach(W).requireGrad();
    let armed = false;
    const fBackward = (z: Tensor, xx: Tensor, ww: Tensor) => (armed ? V.mul(f(z, xx, ww), V.tensor(NaN, { dtype: 'float64' })) : f(z, xx, ww));
    V.tidy(() => {
      const { z } = V.fixedPoint(fBackward, [x, w], { solver, tol: 1e-10, gradient: 'ift' });
      armed = true;
      V.sum(z).backward(); // NaN cotangents: the adjoint reports nonFinite, nothing is left behind
    });
    w.dispose();
    const after = V.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
    expect(after.numGradNodes).toBe(before.numGradNodes);
  });

  test.each(SOLVERS)('z ← 0.5z + x with x = 1e20 in float32 converges to 2e20 (%s): norms are scaled before squaring', (solver) => {
    for (const norm of ['rms', 'max'] as const) {
      const x = V.tensor([[1e20, -1e20, 3e19]], { dtype: 'float32' });
      const { z, stats } = V.fixedPoint((zz, xx) => V.add(V.mul(zz, 0.5), xx), [x], { solver, norm, tol: 0, relTol: 1e-6, maxIter: 60 });
      expect(stats.status).toEqual(['converged']);
      expect(stats.absTrace[0]!.every(Number.isFinite)).toBe(true);
      values(z).forEach((v, i) => expect(v / [2e20, -2e20, 6e19][i]! - 1).toBeLessThan(1e-5));
    }
  });
});
