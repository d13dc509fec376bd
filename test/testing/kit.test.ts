// viar/testing checked both ways: every oracle passes on correct problems and fails, with a readable report, on a
// broken one (a wrong Lipschitz claim, a wrong VJP, a batch-coupled layer, a leak, unroll's growing memory).

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import * as K from '../../src/testing/index.js';

const SEED = 2424;
const spec = (over: Partial<K.ContractionSpec> = {}): K.ContractionSpec =>
  ({ kind: 'tanh', dim: 4, batch: 2, lipschitz: 0.8, seed: 1, z0Scale: 2, ...over });

describe('arbitraries', () => {
  test('tensor specs build tensors of their shape and dtype; int32 values are integers', () => {
    K.runProperty(fc.property(K.tensorArb({ dtype: ['float32', 'float64', 'int32'] }), (s) => V.tidy(() => {
      const t = K.toTensor(s);
      expect(t.shape).toEqual(s.shape);
      expect(t.dtype).toBe(s.dtype);
      expect(Array.from(t.dataSync())).toEqual(s.values);
    })), { seed: SEED, numRuns: 40 });
  });

  test('broadcastable pairs broadcast; view chains end in the planned shape with the planned values', () => {
    K.runProperty(fc.property(K.broadcastablePairArb(), ([a, b]) => {
      expect(() => V.broadcastShapes([a, b], 'pair')).not.toThrow();
    }), { seed: SEED, numRuns: 60 });
    K.runProperty(fc.property(K.viewChainArb(), (chain) => V.tidy(() => {
      const x = V.randn(chain.shape, new V.Rng(1), { dtype: 'float64' });
      const view = K.applyViewChain(x, chain);
      expect(view.shape).toEqual(chain.outShape);
      // the same chain applied to a contiguous copy at every step gives the same values
      let copy = x;
      for (const step of chain.steps) copy = V.contiguous(K.applyViewChain(copy, { shape: copy.shape as number[], steps: [step], outShape: [] }));
      expect(Array.from(V.contiguous(view).dataSync())).toEqual(Array.from(copy.dataSync()));
    })), { seed: SEED, numRuns: 60 });
  });

  test('contractions have the spectral norm they claim; schedules are valid VIAR schedules', () => {
    K.runProperty(fc.property(K.contractionArb(), (s) => V.tidy(() => {
      const p = K.buildProblem(s);
      const w = p.W.dataSync(), d = s.dim;
      const rows = Array.from({ length: d }, (_, i) => Array.from(w.subarray(i * d, (i + 1) * d)));
      // ‖W‖₂² is the largest eigenvalue of WᵀW: power iteration from a fixed start converges to it from below
      let v = Array.from({ length: d }, (_, i) => 1 + i / d), sigma = 0;
      for (let it = 0; it < 500; it++) {
        const wv = rows.map((r) => K.linalg.dot(r, v));
        const wtwv = v.map((_, j) => rows.reduce((acc, r, i) => acc + r[j]! * wv[i]!, 0));
        sigma = Math.sqrt(K.linalg.l2(wtwv) / K.linalg.l2(v));
        v = wtwv.map((x) => x / K.linalg.l2(wtwv));
      }
      expect(sigma).toBeLessThanOrEqual(s.lipschitz * (1 + 1e-9));
      expect(sigma).toBeGreaterThan(s.lipschitz * 0.99);
    })), { seed: SEED, numRuns: 20 });
    K.runProperty(fc.property(K.iterationScheduleArb(6), (schedule) => {
      expect(V.iterationSchedule(schedule, 6)).toHaveLength(6);
    }), { seed: SEED, numRuns: 40 });
  });
});

describe('oracles pass on correct problems', () => {
  test.each(['linear', 'tanh'] as const)('%s contractions, well and ill conditioned', (kind) => {
    K.runProperty(fc.property(fc.oneof(K.fixedPointProblemArb('well', { kind }), K.fixedPointProblemArb('ill', { kind })), (s) => V.tidy(() => {
      const p = K.buildProblem(s);
      K.assertContraction(p);
      K.assertBanachBounds(p, { solve: { solver: 'anderson', tol: 1e-9, maxIter: 500 } });
      K.assertJfbCosine(p);
      K.assertPhantomConvergence(p, { ks: [1, 4, 16] });
    })), { seed: SEED, numRuns: 12 });
  });
});

describe('oracles fail with readable reports', () => {
  test('a Lipschitz claim below the truth breaks the contraction and Banach checks', () => {
    V.tidy(() => {
      const p = { ...K.buildProblem(spec({ kind: 'linear', lipschitz: 0.95 })), lipschitz: 0.5 };
      expect(() => K.assertContraction(p)).toThrow(/^assertContraction: linear contraction .*: f is not an L-contraction: ‖f\(a\) − f\(b\)‖\/‖a − b‖ = 0\.9\d+ > L = 0\.5/);
      expect(() => K.assertBanachBounds(p)).toThrow(/break Banach's bounds[^]*step \d+, sample \d: ‖z − z\*‖ [\d.e-]+ > a-priori/);
      expect(K.checkPhantomConvergence(p).ok).toBe(false);
    });
  });

  test('a wrong VJP is caught by the IFT gradient oracle and by assertGradcheck', () => {
    V.tidy(() => {
      // tanh with a derivative off by a factor 1.1 on the backward pass
      const badTanh = V.customVjp({
        name: 'badTanh',
        forward: (x) => { const y = V.tanh(x); return { output: y, saved: [y] }; },
        backward: (gy, ctx) => [V.mul(gy, V.mul(V.sub(1, V.square(ctx.saved[0]!)), 1.1))],
      });
      const good = K.buildProblem(spec({ dim: 3 }));
      K.assertIftGradient(good);
      const bad: K.FixedPointProblem = { ...good, f: (z, x, w, u, b) => badTanh(V.add(V.add(V.matmul(z, V.transpose(w!)), V.matmul(x!, V.transpose(u!))), b!)) };
      expect(() => K.assertIftGradient(bad)).toThrow(/^assertIftGradient: tanh contraction .*: IFT \d+ gradient entries differ from central finite differences[^]*input 0\[\d+\]: analytic/);
      expect(() => K.assertGradcheck((x) => badTanh(x), [V.randn([3], new V.Rng(1), { dtype: 'float64' })])).toThrow(/^assertGradcheck: 3 gradient entries differ/);
    });
  });

  test('a layer that mixes samples fails batch independence', () => {
    V.tidy(() => {
      const p = K.buildProblem(spec({ batch: 3 }));
      K.assertBatchIndependence(p);
      const coupled: K.FixedPointProblem = { ...p, f: (z, ...xs) => V.add(p.f(z, ...xs), V.mul(V.mean(z, 0, true), 0.05)) };
      expect(() => K.assertBatchIndependence(coupled)).toThrow(/samples depend on the rest of the batch:\n {2}sample 0: ‖z_batch − z_alone‖/);
    });
  });

  test('memory: JFB is flat in the iterations, unroll is not; a kept tensor is a leak', () => {
    const step = (gradient: V.GradientRule) => (n: number) => {
      const p = K.buildProblem(spec({ dim: 16, batch: 8, lipschitz: 0.9 }));
      const w = p.W.requireGrad();
      const { z } = V.fixedPoint(p.f, [p.inputs[0]!, w, ...p.inputs.slice(2)], { maxIter: n, tol: 0, gradient });
      V.sum(z).backward();
    };
    K.assertFlatMemory(step('jfb'));
    expect(() => K.assertFlatMemory(step('unroll'))).toThrow(/^assertFlatMemory: peak live bytes GROW across iteration counts \(2 iterations: \d+ bytes, 40 iterations: \d+ bytes/);
    K.assertNoLeak(() => V.tidy(() => step('jfb')(5)));
    const kept: Tensor[] = [];
    expect(() => K.assertNoLeak(() => { kept.push(V.zeros([3])); })).toThrow(/^assertNoLeak: leak over 5 calls: numTensors \+5 \(1\.000 per call\), numDataBuffers \+5/);
    V.dispose(kept);
  });

  test('runProperty prints the shrunk counterexample, the oracle report, and a replay line; the seed replays', () => {
    const property = fc.property(K.contractionArb({ kind: 'linear' }), (s) => V.tidy(() => {
      K.assertContraction({ ...K.buildProblem(s), lipschitz: s.lipschitz * 0.9 });
    }));
    let message = '';
    try {
      K.runProperty(property, { seed: 7, numRuns: 20 });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/Counterexample: \[\{"kind":"linear","dim":2,"batch":1,"lipschitz":0\.1,"seed":0,"z0Scale":0\}\]/);
    expect(message).toMatch(/f is not an L-contraction/);
    const replay = /replay: VIAR_SEED=7 VIAR_PATH=([\d:]+) /.exec(message);
    expect(replay).not.toBeNull();
    expect(() => K.runProperty(property, { seed: 7, path: replay![1]! })).toThrow(/Counterexample: \[\{"kind":"linear","dim":2/);
  });
});
