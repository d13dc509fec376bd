// Ownership: tidy frees what it created, graphs are freed deterministically, a training loop does not grow.

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import { copyOfArray } from '../../src/tensor/dtype.js';

describe('memory', () => {
  test('tidy disposes intermediates and keeps returned tensors', () => {
    const before = V.memory();
    const kept = V.tidy(() => {
      const a = V.ones([10]);
      const b = V.mul(a, 2);
      return { out: V.add(b, 1), list: [V.exp(b)] };
    });
    expect(V.memory().numTensors).toBe(before.numTensors + 2);
    V.dispose(kept);
    expect(V.memory().numTensors).toBe(before.numTensors);
    expect(V.memory().numDataBuffers).toBe(before.numDataBuffers);
  });

  test('tidy disposes everything when fn throws', () => {
    const before = V.memory();
    expect(() => V.tidy(() => { V.ones([3]); throw new Error('boom'); })).toThrow('boom');
    expect(V.memory().numTensors).toBe(before.numTensors);
  });

  test('views share storage and keep it alive after the base is disposed', () => {
    const base = V.arange(6).reshape([2, 3]);
    const view = V.transpose(base);
    expect(view.dataId).toBe(base.dataId);
    expect(view.isContiguous).toBe(false);
    base.dispose();
    expect(view.toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
    view.dispose();
  });

  test('a graph that is never differentiated is freed when its tensors are', () => {
    const before = V.memory();
    const w = V.randn([8, 8], new V.Rng(1)).requireGrad();
    V.tidy(() => { V.sum(V.tanh(V.matmul(w, w))); });
    expect(V.memory().numGradNodes).toBe(before.numGradNodes);
    expect(V.memory().numDataBuffers).toBe(before.numDataBuffers + 1);
    w.dispose();
  });

  test('backward frees saved tensors as it goes (without retainGraph)', () => {
    const w = V.randn([8, 8], new V.Rng(1)).requireGrad();
    V.tidy(() => {
      const y = V.sum(V.tanh(V.matmul(w, w)));
      const held = V.memory().numBytes;
      y.backward();
      // only the gradient of w (256 bytes) is new; saved activations were released
      expect(V.memory().numBytes).toBeLessThanOrEqual(held + 256);
    });
    w.dispose();
  });

  test('a training loop keeps a constant number of tensors, buffers and nodes', () => {
    const rng = new V.Rng(3);
    const w = V.randn([4, 3], rng).requireGrad();
    const x = V.randn([16, 4], rng);
    const y = V.randn([16, 3], rng);
    const step = () => V.tidy(() => {
      const loss = V.mean(V.square(V.sub(V.matmul(x, w), y)));
      loss.backward();
      w.assign(V.sub(w, V.mul(w.grad!, 0.1)));
      w.grad!.dispose();
      w.grad = null;
      return loss.item();
    });
    const losses = [step()];
    const after1 = V.memory();
    for (let i = 0; i < 20; i++) losses.push(step());
    expect(V.memory()).toEqual(after1);
    expect(losses[20]!).toBeLessThan(losses[0]!);
  });

  test('async and sync reads agree, including strided views', async () => {
    const t = V.transpose(V.arange(6, undefined, 1, { dtype: 'float64' }).reshape([2, 3]));
    expect(Array.from(await t.data())).toEqual(Array.from(t.dataSync()));
    expect(await t.array()).toEqual(t.toArray());
  });
});

describe('reading values out', () => {
  test('copyOfArray copies a view of shared memory (at an offset) into a fresh, unshared array', () => {
    const shared = new Float32Array(new SharedArrayBuffer(64), 8, 10);
    shared.forEach((_, i) => { shared[i] = i + 0.5; });
    const copy = copyOfArray(shared, 7);
    expect(copy.buffer instanceof SharedArrayBuffer).toBe(false);
    expect(Array.from(copy)).toEqual([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
    shared[0] = 99;
    expect(copy[0]).toBe(0.5);
    const ints = copyOfArray(new Int32Array(new SharedArrayBuffer(16)).fill(-3));
    expect(ints).toBeInstanceOf(Int32Array);
    expect(Array.from(ints)).toEqual([-3, -3, -3, -3]);
  });

  test('dataSync and data return fresh arrays, not views of the backend\'s memory', async () => {
    const t = V.tensor(Float32Array.from({ length: 300 }, (_, i) => i), { shape: [3, 100] });
    for (const read of [t.dataSync(), await t.data(), V.transpose(t, 0, 1).dataSync()]) {
      expect(read.buffer instanceof SharedArrayBuffer).toBe(false);
      read[1] = -1;
    }
    expect(t.dataSync()[1]).toBe(1);
    t.dispose();
  });
});
