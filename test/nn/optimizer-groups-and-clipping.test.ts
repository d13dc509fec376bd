// Optimizer parameter groups (a weight decay per group, chosen by a predicate on the parameter's name) and gradient
// clipping written once in tensor ops: the same norms and clipped gradients on the cpu backend and on the gpu backend
// with asynchronous reads (gpu.js cpu mode), checked against a host reference.

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import { useAsyncGpuBackend, valuesOn } from '../helpers/async-gpu.js';

useAsyncGpuBackend();

/** [name, leaf] pairs with seeded values. */
function namedLeaves(seed: number): [string, V.Tensor][] {
  const rng = new V.Rng(seed);
  return [['layer.weight', [3, 4]], ['layer.bias', [4]], ['pos_embed', [2, 4]]].map(([name, shape]) =>
    [name as string, V.keep(V.randn(shape as number[], rng)).requireGrad()]);
}

describe('parameter groups', () => {
  test('AdamW: a group with weightDecay 0 leaves its parameters undecayed, the rest decay by 1 − lr·wd', () => {
    const named = namedLeaves(1);
    const before = named.map(([, p]) => Array.from(p.dataSync()));
    const opt = new V.AdamW(named, { lr: 0.1, weightDecay: 0.05, groups: [{ match: (name, p) => p.rank <= 1 || name.startsWith('pos_'), weightDecay: 0 }] });
    expect(opt.paramNames).toEqual(['layer.weight', 'layer.bias', 'pos_embed']);
    expect([0, 1, 2].map((i) => opt.groupOf(i)?.weightDecay ?? null)).toEqual([null, 0, 0]);
    for (const [, p] of named) p.grad = V.keep(V.zeros(p.shape)); // zero gradients: only the decay moves parameters
    opt.step();
    named.forEach(([name, p], k) => {
      const now = p.dataSync();
      if (name === 'layer.weight') before[k]!.forEach((x, i) => expect(now[i]).toBeCloseTo(x * (1 - 0.1 * 0.05), 6));
      else expect(Array.from(now)).toEqual(before[k]);
    });
    opt.dispose();
    named.forEach(([, p]) => p.dispose());
  });

  test('a grouped parameter follows the same trajectory as an optimizer built with the group settings', () => {
    const a = namedLeaves(2), b = namedLeaves(2);
    const grouped = new V.AdamW(a, { lr: 0.05, weightDecay: 0.1, groups: [{ match: (name) => name === 'layer.bias', weightDecay: 0 }] });
    const plain = new V.AdamW([b[0]![1], b[2]![1]], { lr: 0.05, weightDecay: 0.1 });
    const noDecay = new V.AdamW([b[1]![1]], { lr: 0.05, weightDecay: 0 });
    const rng = new V.Rng(9);
    for (let s = 0; s < 3; s++) {
      a.forEach(([, p], i) => {
        const g = V.randn(p.shape, rng);
        p.grad = V.keep(g);
        b[i]![1].grad = V.keep(V.mul(g, 1));
      });
      grouped.step(); plain.step(); noDecay.step();
    }
    a.forEach(([, p], i) => expect(Array.from(p.dataSync())).toEqual(Array.from(b[i]![1].dataSync())));
    for (const o of [grouped, plain, noDecay]) o.dispose();
  });

  test('SGD takes groups too; unnamed parameters are matched by their index; the first matching group wins', () => {
    const ps = [V.keep(V.ones([2])).requireGrad(), V.keep(V.ones([2])).requireGrad()];
    const opt = new V.SGD(ps, { lr: 0.5, weightDecay: 0.2, groups: [{ match: (name) => name === '1', weightDecay: 0.4 }, { match: () => true, weightDecay: 0 }] });
    for (const p of ps) p.grad = V.keep(V.zeros([2]));
    opt.step();
    expect(Array.from(ps[0]!.dataSync())).toEqual([1, 1]); // second group: no decay
    expect(Array.from(ps[1]!.dataSync())[0]).toBeCloseTo(1 - 0.5 * 0.4, 6); // first group
    ps.forEach((p) => p.dispose());
  });

  test('bad groups are named in the error', () => {
    const p = V.keep(V.ones([2])).requireGrad();
    expect(() => new V.AdamW([p], { lr: 0.1, groups: [{ match: 'bias' as never }] })).toThrow(/^AdamW: groups\[0\]\.match must be a function/);
    expect(() => new V.SGD([p], { lr: 0.1, groups: [{ match: () => true, weightDecay: -1 }] })).toThrow(/^SGD: groups\[0\]\.weightDecay must be a finite number ≥ 0, got -1/);
    expect(() => new V.Adam([['w', V.ones([2])]], { lr: 0.1 })).toThrow(/^Adam: parameter 0 'w' \(shape \[2\]\) is not a leaf that requires grad/);
    p.dispose();
  });
});

/** The p-norm of all values of `grads` and the clip factor min(1, maxNorm/(norm + 1e-6)), in float64 on the host. */
function hostClip(grads: number[][], maxNorm: number, normType: number): { norm: number; factor: number } {
  const all = grads.flat().map(Math.abs);
  const norm = normType === Infinity ? Math.max(...all) : all.reduce((s, x) => s + x ** normType, 0) ** (1 / normType);
  return { norm, factor: Math.min(1, maxNorm / (norm + 1e-6)) };
}

describe('clipGradNormTensor: one algorithm on every backend', () => {
  const cases = [
    { maxNorm: 1, normType: 2 }, { maxNorm: 100, normType: 2 }, { maxNorm: 0.5, normType: 1 }, { maxNorm: 2, normType: 3 },
    { maxNorm: 0.3, normType: Infinity },
  ];
  const grads = [[0.5, -1.5, 2, 0.25], [-3, 0.75]];

  /** Leaves with gradients `grads` on the current backend; clips them; returns [norm, ...clipped gradients]. */
  function clipped(maxNorm: number, normType: number): V.Tensor[] {
    const ps = grads.map((g) => V.zeros([g.length]).requireGrad());
    ps.forEach((p, i) => { p.grad = V.keep(V.tensor(grads[i]!)); });
    const norm = V.clipGradNormTensor(ps, maxNorm, normType)!;
    return [norm, ...ps.map((p) => V.mul(p.grad!, 1))]; // copies: the leaves, and their gradients, go with the tidy scope
  }

  test.each(['cpu', 'gpu'])('on the %s backend the norm and the clipped gradients match the host reference', async (backend) => {
    for (const { maxNorm, normType } of cases) {
      const [norm, ...after] = await valuesOn(backend, () => V.tidy(() => clipped(maxNorm, normType)));
      const want = hostClip(grads, maxNorm, normType);
      expect(Math.abs(norm![0]! - want.norm)).toBeLessThanOrEqual(1e-6 * want.norm);
      after.forEach((g, i) => g.forEach((x, j) => expect(Math.abs(x - grads[i]![j]! * want.factor)).toBeLessThanOrEqual(1e-6)));
      if (want.factor === 1) expect(after).toEqual(grads); // below the bound, gradients are left exactly as they are
    }
  });

  test('on the gpu backend clipping reads nothing back; clipGradNorm is its synchronous read', async () => {
    const gpu = V.getBackendByName('gpu') as V.GpuBackend;
    V.setBackend('gpu');
    try {
      const before = gpu.counters().readbacks;
      const [norm] = clipped(1, 2);
      expect(gpu.counters().readbacks - before).toBe(0);
      expect(() => norm!.item()).toThrow(/asynchronous/);
      expect((await norm!.data())[0]).toBeCloseTo(hostClip(grads, 1, 2).norm, 5);
      norm!.dispose();
    } finally {
      V.setBackend('cpu');
    }
    const ps = grads.map((g) => V.zeros([g.length]).requireGrad());
    ps.forEach((p, i) => { p.grad = V.keep(V.tensor(grads[i]!)); });
    expect(V.clipGradNorm(ps, 1)).toBeCloseTo(hostClip(grads, 1, 2).norm, 5);
    expect(V.clipGradNorm([V.zeros([1]).requireGrad()], 1)).toBe(0);
    expect(() => V.clipGradNorm(ps, -1)).toThrow(/^clipGradNorm: maxNorm must be a number ≥ 0, got -1/);
    ps.forEach((p) => p.dispose());
  });
});
