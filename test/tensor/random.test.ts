// The seeded generator and the random ops: determinism, state round trips, distribution moments, multinomial.

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';

describe('Rng', () => {
  test('same seed, same stream; different seeds differ; state round-trips mid-stream', () => {
    const a = new V.Rng(42), b = new V.Rng(42), c = new V.Rng(43);
    const draw = (r: V.Rng) => Array.from({ length: 5 }, () => r.uniform());
    expect(draw(a)).toEqual(draw(b));
    expect(draw(a)).not.toEqual(draw(c));
    a.normal(); // leaves a cached second normal in the state
    const saved = a.getState();
    const next = [a.normal(), a.uniform(), a.normal()];
    const restored = new V.Rng(0).setState(saved);
    expect([restored.normal(), restored.uniform(), restored.normal()]).toEqual(next);
  });

  test('uniform, normal and int have the right range and moments', () => {
    const rng = new V.Rng(1);
    const n = 20000;
    const u = Array.from({ length: n }, () => rng.uniform());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(Math.abs(u.reduce((s, v) => s + v, 0) / n - 0.5)).toBeLessThan(0.01);
    const z = Array.from({ length: n }, () => rng.normal());
    const mean = z.reduce((s, v) => s + v, 0) / n;
    const variance = z.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
    const ints = new Set(Array.from({ length: 1000 }, () => rng.int(3, 7)));
    expect([...ints].sort()).toEqual([3, 4, 5, 6]);
  });

  test('randn/rand/randint tensors are reproducible and shaped', () => {
    const a = V.randn([3, 4], new V.Rng(5), { dtype: 'float64', mean: 2, std: 0.5 });
    const b = V.randn([3, 4], new V.Rng(5), { dtype: 'float64', mean: 2, std: 0.5 });
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    const r = V.randint(0, 10, [100], new V.Rng(2));
    expect(r.dtype).toBe('int32');
    expect(Array.from(r.dataSync()).every((v) => v >= 0 && v < 10)).toBe(true);
    expect(() => V.randint(3, 3, [2], new V.Rng(0))).toThrow(/^randint: high \(3\) must be greater than low \(3\)/);
  });
});

describe('multinomial', () => {
  test('frequencies follow the (unnormalized) weights', () => {
    const probs = V.tensor([[1, 2, 7], [5, 0, 5]]);
    const draws = V.multinomial(probs, 6000, new V.Rng(3), { replacement: true });
    expect(draws.shape).toEqual([2, 6000]);
    const values = draws.dataSync();
    const freq = (row: number, c: number) => Array.from(values.subarray(row * 6000, (row + 1) * 6000)).filter((v) => v === c).length / 6000;
    expect(Math.abs(freq(0, 0) - 0.1)).toBeLessThan(0.02);
    expect(Math.abs(freq(0, 2) - 0.7)).toBeLessThan(0.02);
    expect(freq(1, 1)).toBe(0);
  });

  test('without replacement every index is drawn at most once', () => {
    const draws = V.multinomial(V.ones([4, 6]), 6, new V.Rng(4)).toArray() as number[][];
    for (const row of draws) expect([...row].sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test('uniforms given as a tensor pick what the same draws from an Rng pick (inverse CDF at each uniform)', () => {
    const probs = V.tensor([[1, 2, 7], [5, 0, 5], [0, 0, 1]]);
    const fromRng = Array.from(V.multinomial(probs, 2, new V.Rng(9), { replacement: true }).dataSync());
    const rng = new V.Rng(9);
    const uniforms = V.tensor(Float32Array.from({ length: 6 }, () => rng.uniform()), { shape: [3, 2] });
    expect(Array.from(V.multinomial(probs, 2, uniforms, { replacement: true }).dataSync())).toEqual(fromRng);
    // u = 0.05 falls in the first tenth of row 0, 0.95 in its last 70 %
    expect(Array.from(V.multinomial(V.tensor([1, 2, 7]), 1, V.tensor([0.05])).dataSync())).toEqual([0]);
    expect(Array.from(V.multinomial(V.tensor([1, 2, 7]), 1, V.tensor([0.95])).dataSync())).toEqual([2]);
  });

  test('bad inputs are named', () => {
    const rng = new V.Rng(0);
    expect(() => V.multinomial(V.ones([2, 3]), 1, V.tensor([0.5]))).toThrow(/^multinomial: draws must hold rows·numSamples = 2 uniforms, got \[1\]/);
    expect(() => V.multinomial(V.ones([3]), 1, V.tensor(Int32Array.from([0]), { dtype: 'int32' }))).toThrow(/^multinomial: argument 'draws' must/);
    expect(() => V.multinomial(V.ones([3]), 1, {} as V.Rng)).toThrow(/^multinomial: needs an explicit Rng \(or a tensor of uniforms\)/);
    expect(() => V.multinomial(V.tensor([1, -1]), 1, rng)).toThrow(/^multinomial: probs must be finite and non-negative, got -1 in row 0/);
    expect(() => V.multinomial(V.zeros([2]), 1, rng)).toThrow(/^multinomial: row 0 of probs sums to 0/);
    expect(() => V.multinomial(V.ones([3]), 4, rng)).toThrow(/^multinomial: cannot draw 4 samples without replacement from 3 categories/);
  });
});
