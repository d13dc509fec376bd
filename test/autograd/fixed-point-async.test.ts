// fixedPointAsync on the gpu backend with WebGPU's read semantics (gpu.js CPU mode, asynchronous reads only): every
// solver, tolerance, per-sample freezing, the stats and every gradient rule equal the cpu backend's at float32
// tolerance; the synchronous entry point names fixedPointAsync when a solve would need a read.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';

beforeAll(async () => {
  await V.initGpuBackend({ mode: 'cpu', asyncReads: true, activate: false, log: false });
});
afterAll(() => { V.setBackend('cpu'); });

const ATOL = 2e-4, RTOL = 2e-3;
const close = (got: ArrayLike<number>, want: ArrayLike<number>, what: string) => {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const a = got[i]!, e = want[i]!;
    if (!(Math.abs(a - e) <= ATOL + RTOL * Math.abs(e))) expect.fail(`${what}[${i}]: ${a} vs ${e}`);
  }
};

interface Outcome { z: number[]; zStar: number[]; states: number[][]; grads: number[][]; stats: V.FixedPointStats }

/** A batch of 3 tanh layers (one slow sample) solved and differentiated on `backend`, reads awaited. */
async function run(backend: string, options: V.FixedPointOptions): Promise<Outcome> {
  V.setBackend(backend);
  const held: Tensor[] = [];
  try {
    const rng = new V.Rng(5);
    const d = 6;
    const W = V.keep(V.mul(V.randn([d, d], rng), 0.25)).requireGrad();
    const x = V.keep(V.randn([3, d], rng)).requireGrad();
    const scale = V.keep(V.tensor([[1], [1.5], [0.4]]));
    held.push(W, x, scale);
    const f = (z: Tensor, inj: Tensor, s: Tensor) => V.tanh(V.add(V.mul(V.matmul(z, W), s), inj));
    const { z, zStar, states, stats } = await V.fixedPointAsync(f, [x, scale], options);
    held.push(V.keep(z), V.keep(zStar), ...states.map((t) => V.keep(t)));
    const loss = () => states.reduce((acc, t) => V.add(acc, V.sum(t)), V.sum(V.mul(z, z)));
    const [gW, gx] = V.tidy(() => V.gradients(loss(), [W, x]).map((g) => V.keep(g)));
    held.push(gW!, gx!);
    const read = async (t: Tensor) => Array.from(await t.data());
    return {
      z: await read(z), zStar: await read(zStar), states: await Promise.all(states.map(read)),
      grads: [await read(gW!), await read(gx!)], stats,
    };
  } finally {
    held.forEach((t) => t.dispose());
    V.setBackend('cpu');
  }
}

const CASES: [string, V.FixedPointOptions][] = [
  ['picard, tol 1e-4, jfb', { tol: 1e-4, maxIter: 60 }],
  ['picard, relTol, max norm, damping, phantom', { tol: 0, relTol: 1e-5, norm: 'max', damping: 0.8, maxIter: 80, gradient: { mode: 'phantom', k: 4, damping: 0.7 } }],
  ['anderson, ift (picard adjoint)', { solver: 'anderson', tol: 1e-5, maxIter: 60, gradient: { mode: 'ift', tol: 1e-6, maxIter: 80 } }],
  ['broyden, ift (broyden adjoint)', { solver: 'broyden', tol: 1e-5, maxIter: 60, gradient: { mode: 'ift', solver: 'broyden', tol: 1e-6, maxIter: 40 } }],
  ['picard, unroll, returnIterate last', { tol: 1e-3, maxIter: 30, gradient: 'unroll', returnIterate: 'last' }],
  ['picard without tolerance (device-side monitor), measureReturned off', { tol: 0, stagnationWindow: 0, maxIter: 12, measureReturned: false }],
  ['anderson without budget to converge (maxIter status)', { solver: 'anderson', tol: 1e-9, maxIter: 4 }],
  ['broyden with states, spectralRadius and ift', { solver: 'broyden', tol: 1e-5, maxIter: 60, states: [1, -1], spectralRadius: { iterations: 30 }, gradient: 'ift' }],
];

describe('fixedPointAsync on an asynchronous backend equals the cpu backend', () => {
  test.each(CASES)('%s', async (_name, options) => {
    const cpu = await run('cpu', options);
    const gpu = await run('gpu', options);
    close(gpu.z, cpu.z, 'z');
    close(gpu.zStar, cpu.zStar, 'zStar');
    gpu.states.forEach((t, i) => close(t, cpu.states[i]!, `states[${i}]`));
    if (cpu.stats.spectralRadius) close(gpu.stats.spectralRadius!, cpu.stats.spectralRadius, 'spectralRadius');
    gpu.grads.forEach((g, i) => close(g, cpu.grads[i]!, `gradient ${i}`));
    expect(gpu.stats.status).toEqual(cpu.stats.status);
    expect(gpu.stats.nFevals).toEqual(cpu.stats.nFevals);
    expect(gpu.stats.forwardCalls).toBe(cpu.stats.forwardCalls);
    expect(gpu.stats.returnedStep).toEqual(cpu.stats.returnedStep);
    gpu.stats.absTrace.forEach((t, b) => {
      expect(t.every(Number.isFinite)).toBe(true);
      close(t, cpu.stats.absTrace[b]!, `absTrace[${b}]`);
      close(gpu.stats.relTrace[b]!, cpu.stats.relTrace[b]!, `relTrace[${b}]`);
    });
    expect(gpu.stats.reads).toBe(cpu.stats.reads);
    expect(gpu.stats.reads).toBeGreaterThan(0);
  });

  test('per-sample freezing: the slow sample takes more evaluations, the others stop early (both backends)', async () => {
    const gpu = await run('gpu', { tol: 1e-5, maxIter: 200 });
    expect(gpu.stats.converged).toBe(true);
    expect(gpu.stats.nFevals[1]!).toBeGreaterThan(gpu.stats.nFevals[2]! + 5);
  });

  test('the IFT backward waits for no read on the async backend (device-side freezing) and matches the cpu gradient and stats', async () => {
    const gpuBackend = V.getBackendByName('gpu') as V.GpuBackend;
    const opts: V.FixedPointOptions = { tol: 1e-6, maxIter: 100, gradient: { mode: 'ift', tol: 1e-6, maxIter: 80 } };
    const cpu = await run('cpu', opts);
    const before = gpuBackend.counters().readbacks;
    const gpu = await run('gpu', opts);
    const backward = await V.readBackwardStats(gpu.stats);
    const reads = gpuBackend.counters().readbacks - before;
    // the forward's reads, the four result reads of the test itself, and the adjoint trace read in the background
    expect(reads).toBe(gpu.stats.reads + 4 + 1);
    gpu.grads.forEach((g, i) => close(g, cpu.grads[i]!, `gradient ${i}`));
    // the whole budget ran (80 + the measuring VJP) with converged samples frozen: the same per-sample statistics
    expect(backward!.status).toEqual(cpu.stats.backward!.status);
    expect(backward!.nFevals).toEqual(cpu.stats.backward!.nFevals);
    backward!.absTrace.forEach((t, b) => {
      expect(t.every(Number.isFinite)).toBe(true);
      close(t, cpu.stats.backward!.absTrace[b]!, `backward absTrace[${b}]`);
    });
    expect(cpu.stats.backward!.status.every((s) => s === 'converged')).toBe(true);
  });

  test('the synchronous entry point names fixedPointAsync when the solve decides on residuals, and leaks nothing', () => {
    V.setBackend('gpu');
    try {
      const before = V.memory();
      const x = V.randn([2, 3], new V.Rng(1));
      expect(() => V.fixedPoint((z, xx) => V.add(V.mul(z, 0.5), xx), [x], { tol: 1e-4 }))
        .toThrow(/^fixedPoint: the gpu backend reads asynchronously .*use await fixedPointAsync\(f, inputs, options\)/);
      expect(() => V.fixedPoint((z, xx) => V.add(V.mul(z, 0.5), xx), [x], { gradient: { mode: 'ift', solver: 'anderson' } }))
        .toThrow(/IFT adjoint cannot run Anderson on a backend that reads asynchronously/);
      x.dispose();
      expect(V.memory().numTensors).toBe(before.numTensors);
      expect(V.memory().numDataBuffers).toBe(before.numDataBuffers);
    } finally {
      V.setBackend('cpu');
    }
  });

  test('a solve that decides nothing runs through the synchronous entry point with no read (traces unread: NaN)', () => {
    V.setBackend('gpu');
    try {
      const x = V.randn([2, 3], new V.Rng(1));
      const { z, stats } = V.fixedPoint((zz, xx) => V.add(V.mul(zz, 0.5), xx), [x], { tol: 0, stagnationWindow: 0, maxIter: 5 });
      expect(stats.reads).toBe(0);
      expect(stats.nFevals).toEqual([6, 6]);
      expect(stats.absTrace[0]!.every(Number.isNaN)).toBe(true);
      expect(z.shape).toEqual([2, 3]);
      V.dispose([x, z]);
    } finally {
      V.setBackend('cpu');
    }
  });
});

describe('property: fixedPointAsync on the async backend equals fixedPoint on the cpu backend', () => {
  test('random contractions, solvers, tolerances and batch sizes: same z (float32) and statuses, evaluation counts within one', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 6 }), fc.double({ min: 0.2, max: 0.9, noNaN: true }), fc.nat(),
      fc.constantFrom('picard', 'anderson', 'broyden'), fc.constantFrom(1e-3, 1e-4),
      async (B, d, s, seed, solver, tol) => {
        const solve = async (backend: string) => {
          V.setBackend(backend);
          try {
            const rng = new V.Rng(seed);
            const W = V.keep(V.mul(V.randn([d, d], rng), s / Math.sqrt(d)));
            const x = V.keep(V.randn([B, d], rng));
            const options: V.FixedPointOptions = { solver, tol, maxIter: 30 };
            const { z, stats } = await V.fixedPointAsync((zz, xx) => V.tanh(V.add(V.matmul(zz, W), xx)), [x], options);
            const values = Array.from(await z.data());
            V.dispose([W, x, z]);
            return { values, stats };
          } finally {
            V.setBackend('cpu');
          }
        };
        const cpu = await solve('cpu');
        const gpu = await solve('gpu');
        close(gpu.values, cpu.values, 'z');
        expect(gpu.stats.status).toEqual(cpu.stats.status);
        // float32 rounding differs between the backends' kernels, so a residual can cross the tolerance one
        // evaluation apart (tolerances stay well above float32's noise floor, where trajectories are rounding-driven)
        gpu.stats.nFevals.forEach((n, b) => expect(Math.abs(n - cpu.stats.nFevals[b]!)).toBeLessThanOrEqual(1));
      }), { seed: 1618, numRuns: 12 });
  });
});
