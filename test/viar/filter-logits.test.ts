// filterLogits is written once in tensor ops: on the cpu backend and on the gpu backend with asynchronous reads
// (gpu.js cpu mode) it equals a float64 host reference of the official top-k / top-p rule, and on the gpu backend it
// reads nothing back; gumbelSoftmax gives the same probabilities on both.

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import { useAsyncGpuBackend, valuesOn } from '../helpers/async-gpu.js';

useAsyncGpuBackend();

/** The official sample_with_top_k_top_p_ filter on each row of `values` (length a multiple of v), in float64. */
function hostFilter(values: readonly number[], v: number, o: { topK?: number; topP?: number; temperature?: number }): number[] {
  const out: number[] = [];
  for (let r = 0; r < values.length / v; r++) {
    const row = values.slice(r * v, (r + 1) * v).map((x) => x / (o.temperature ?? 1));
    if (o.topK && o.topK < v) {
      const kth = [...row].sort((a, b) => b - a)[o.topK - 1]!;
      row.forEach((x, i) => { if (x < kth) row[i] = -Infinity; });
    }
    if (o.topP) {
      const order = row.map((_, i) => i).sort((a, b) => row[a]! - row[b]! || a - b);
      const top = row[order[v - 1]!]!;
      const total = row.reduce((s, x) => s + Math.exp(x - top), 0);
      let cumulative = 0;
      const drop: number[] = [];
      for (let j = 0; j < v - 1; j++) {
        cumulative += Math.exp(row[order[j]!]! - top) / total;
        if (cumulative <= 1 - o.topP) drop.push(order[j]!);
      }
      for (const i of drop) row[i] = -Infinity;
    }
    out.push(...row);
  }
  return out;
}

describe('filterLogits: one algorithm on every backend', () => {
  const rng = new V.Rng(5);
  const values = Array.from({ length: 3 * 4 * 40 }, () => 3 * rng.normal());
  const options = [{ topK: 7 }, { topP: 0.8 }, { topK: 12, topP: 0.9, temperature: 0.7 }, { topK: 1 }, { topP: 1e-9 }];

  test.each(['cpu', 'gpu'])('on the %s backend it equals the float64 host reference', async (backend) => {
    for (const o of options) {
      const [got] = await valuesOn(backend, () => [V.filterLogits(V.tensor(Float32Array.from(values), { shape: [3, 4, 40] }), o)]);
      const want = hostFilter(Array.from(Float32Array.from(values)), 40, o);
      got!.forEach((x, i) => {
        if (x === -Infinity || want[i] === -Infinity) expect(x).toBe(want[i]);
        else expect(Math.abs(x - want[i]!)).toBeLessThan(1e-5);
      });
    }
  });

  test('on the gpu backend filtering and sampling read nothing back until the result is read', async () => {
    const gpu = V.getBackendByName('gpu') as V.GpuBackend;
    V.setBackend('gpu');
    try {
      const logits = V.tensor(Float32Array.from(values), { shape: [3, 4, 40] });
      const before = gpu.counters().readbacks;
      const tokens = V.sampleTokens(logits, { topK: 5, topP: 0.9 }, new V.Rng(1));
      expect(gpu.counters().readbacks - before).toBe(0);
      const picked = await tokens.data();
      const allowed = hostFilter(Array.from(Float32Array.from(values)), 40, { topK: 5, topP: 0.9 });
      picked.forEach((t, row) => expect(allowed[row * 40 + t]).not.toBe(-Infinity));
      logits.dispose(); tokens.dispose();
    } finally {
      V.setBackend('cpu');
    }
  });
});

describe('gumbelSoftmax: tensor ops with noise drawn on the host', () => {
  test('the same seed gives the same probabilities on the cpu and gpu backends; −Infinity gets 0', async () => {
    const logits = () => V.tensor([[0.5, -Infinity, 2, 1], [3, 0, -Infinity, -1]]);
    const [cpu] = await valuesOn('cpu', () => [V.gumbelSoftmax(logits(), 0.7, new V.Rng(11))]);
    const [gpu] = await valuesOn('gpu', () => [V.gumbelSoftmax(logits(), 0.7, new V.Rng(11))]);
    gpu!.forEach((p, i) => expect(Math.abs(p - cpu![i]!)).toBeLessThan(1e-6));
    expect([cpu![1], cpu![6]]).toEqual([0, 0]);
    expect(cpu![0]! + cpu![1]! + cpu![2]! + cpu![3]!).toBeCloseTo(1, 6);
  });
});
