// Module discovery and naming, layer shapes and semantics, attention with a KV cache, initializer statistics,
// optimizer state round trips.

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { expectClose } from '../helpers/close.js';

class Block extends V.Module {
  attn: V.MultiheadAttention;
  norm: V.LayerNorm;
  constructor(rng: V.Rng) {
    super();
    this.attn = new V.MultiheadAttention(8, 2, { rng });
    this.norm = new V.LayerNorm(8);
  }
}

class Net extends V.Module {
  embed: V.Embedding;
  blocks: Block[];
  head: V.Linear;
  scale = 3; // a plain number is not a parameter
  constructor(rng: V.Rng) {
    super();
    this.embed = new V.Embedding(5, 8, { rng });
    this.blocks = [new Block(rng), new Block(rng)];
    this.head = new V.Linear(8, 5, { rng, bias: false });
  }
}

describe('Module', () => {
  test('parameters are found from fields with dotted names, in declaration order', () => {
    const net = new Net(new V.Rng(0));
    const names = net.namedParameters().map(([n]) => n);
    expect(names).toEqual([
      'embed.weight',
      'blocks.0.attn.qkv.weight', 'blocks.0.attn.qkv.bias', 'blocks.0.attn.proj.weight', 'blocks.0.attn.proj.bias', 'blocks.0.norm.weight', 'blocks.0.norm.bias',
      'blocks.1.attn.qkv.weight', 'blocks.1.attn.qkv.bias', 'blocks.1.attn.proj.weight', 'blocks.1.attn.proj.bias', 'blocks.1.norm.weight', 'blocks.1.norm.bias',
      'head.weight',
    ]);
    expect(net.numParameters()).toBe(5 * 8 + 2 * (8 * 24 + 24 + 64 + 8 + 16) + 40);
  });

  test('train()/eval() reach every submodule', () => {
    const net = new Net(new V.Rng(0));
    net.eval();
    expect(net.namedModules().every(([, m]) => !m.training)).toBe(true);
    net.train();
    expect(net.blocks[1]!.norm.training).toBe(true);
  });

  test('Sequential names children 0, 1, … like PyTorch', () => {
    const rng = new V.Rng(0);
    const seq = new V.Sequential(new V.Linear(3, 4, { rng }), new V.Act('relu'), new V.Linear(4, 2, { rng }));
    expect(seq.namedParameters().map(([n]) => n)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    expect(seq.forward(V.ones([5, 3])).shape).toEqual([5, 2]);
  });

  test('loadStateDict: strict errors name the keys; shapes must match; non-strict reports', () => {
    const rng = new V.Rng(0);
    const a = new V.MLP([3, 4, 2], { rng });
    const b = new V.MLP([3, 4, 2], { rng: new V.Rng(1) });
    b.loadStateDict(a.stateDict());
    expect(Array.from(b.layers[0]!.weight.dataSync())).toEqual(Array.from(a.layers[0]!.weight.dataSync()));
    const state = new Map(a.stateDict());
    state.delete('layers.1.bias');
    state.set('extra.weight', V.ones([1]));
    expect(() => b.loadStateDict(state)).toThrow(/^loadStateDict: missing keys: layers\.1\.bias; unexpected keys: extra\.weight/);
    expect(b.loadStateDict(state, { strict: false })).toEqual({ missing: ['layers.1.bias'], unexpected: ['extra.weight'] });
    const wrong = new Map(a.stateDict());
    wrong.set('layers.0.weight', V.ones([3, 4]));
    expect(() => b.loadStateDict(wrong)).toThrow(/^loadStateDict: 'layers\.0\.weight' has shape \[3, 4\] in the checkpoint but \[4, 3\] in the model/);
  });
});

describe('layers', () => {
  test('Linear matches x·Wᵀ + b and uses PyTorch default bounds', () => {
    const lin = new V.Linear(50, 3, { rng: new V.Rng(0) });
    const w = lin.weight.dataSync();
    expect(Math.max(...Array.from(w, Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(50));
    const x = V.randn([2, 50], new V.Rng(1));
    expectClose(lin.forward(x).dataSync(), V.add(V.matmul(x, V.transpose(lin.weight)), lin.bias!).dataSync());
  });

  test('Dropout is the identity in eval mode and keeps the expectation in training', () => {
    const drop = new V.Dropout(0.5, new V.Rng(0));
    const x = V.ones([10000]);
    const y = drop.forward(x);
    const values = Array.from(y.dataSync());
    expect(values.every((v) => v === 0 || v === 2)).toBe(true);
    expect(Math.abs(values.reduce((a, b) => a + b, 0) / 10000 - 1)).toBeLessThan(0.05);
    drop.eval();
    expect(drop.forward(x)).toBe(x);
  });

  test('Conv2d output shape and GroupNorm statistics', () => {
    const rng = new V.Rng(0);
    const conv = new V.Conv2d(3, 8, 3, { rng, stride: 2, padding: 1 });
    const y = conv.forward(V.randn([2, 3, 9, 9], rng));
    expect(y.shape).toEqual([2, 8, 5, 5]);
    const gn = new V.GroupNorm(4, 8);
    const z = gn.forward(y).reshape([2, 4, -1]);
    expectClose(V.mean(z, -1).dataSync(), new Array(8).fill(0), { atol: 1e-5, rtol: 0 });
  });
});

describe('attention', () => {
  test('incremental decoding with a KV cache equals full causal attention', () => {
    const rng = new V.Rng(3);
    const attn = new V.MultiheadAttention(8, 2, { rng });
    const L = 5;
    const x = V.randn([2, L, 8], rng);
    const causal = V.tensor(Array.from({ length: L * L }, (_, k) => (k % L <= Math.floor(k / L) ? 0 : -Infinity)), { shape: [L, L] });
    const full = attn.forward(x, { mask: causal });
    const cache = new V.KVCache();
    const steps: Tensor[] = [];
    for (let t = 0; t < L; t++) steps.push(attn.forward(V.slice(x, [null, [t, t + 1]]), { cache }));
    expect(cache.length).toBe(L);
    expectClose(V.concat(steps, 1).dataSync(), full.dataSync(), { atol: 1e-5, rtol: 1e-4 });
    cache.dispose();
  });

  test('a blocked key gets no attention weight (additive −Infinity mask)', () => {
    const rng = new V.Rng(4);
    const q = V.randn([1, 1, 2, 4], rng), k = V.randn([1, 1, 3, 4], rng), v = V.randn([1, 1, 3, 4], rng);
    const mask = V.tensor([[0, -Infinity, 0], [0, -Infinity, 0]]);
    const out = V.scaledDotProductAttention(q, k, v, mask);
    const changedV = V.concat([V.slice(v, [null, null, [0, 1]]), V.mul(V.slice(v, [null, null, [1, 2]]), 100), V.slice(v, [null, null, [2, 3]])], 2);
    expectClose(V.scaledDotProductAttention(q, k, changedV, mask).dataSync(), out.dataSync());
  });
});

describe('initializers', () => {
  test('statistics match their definitions', () => {
    const rng = new V.Rng(0);
    const stats = (t: Tensor) => {
      const v = Array.from(t.dataSync());
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      return { mean: m, std: Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length), min: Math.min(...v), max: Math.max(...v) };
    };
    const kn = stats(V.init.kaimingNormal([256, 400], rng, { nonlinearity: 'relu' }));
    expect(kn.std).toBeCloseTo(Math.sqrt(2 / 400), 3);
    const xu = stats(V.init.xavierUniform([300, 200], rng));
    expect(xu.max).toBeLessThanOrEqual(Math.sqrt(6 / 500));
    expect(xu.std).toBeCloseTo(Math.sqrt(6 / 500) / Math.sqrt(3), 3);
    const tn = stats(V.init.truncatedNormal([20000], rng, { std: 1, a: -1, b: 1 }));
    expect(tn.min).toBeGreaterThanOrEqual(-1);
    expect(tn.max).toBeLessThanOrEqual(1);
    expect(V.init.fans([8, 4, 3, 3])).toEqual({ fanIn: 36, fanOut: 72 });
  });

  test('the same seed gives the same parameters', () => {
    const a = new V.MLP([4, 8, 2], { rng: new V.Rng(7) });
    const b = new V.MLP([4, 8, 2], { rng: new V.Rng(7) });
    expect(Array.from(a.layers[1]!.weight.dataSync())).toEqual(Array.from(b.layers[1]!.weight.dataSync()));
  });
});

describe('optimizers', () => {
  test('state round-trips: resuming from a saved state gives the same trajectory', () => {
    const run = (steps: number, resumeAt?: number) => {
      const p = V.tensor([1, -2, 3], { dtype: 'float64' }).requireGrad();
      let opt = new V.AdamW([p], { lr: 0.1 });
      for (let s = 0; s < steps; s++) {
        if (s === resumeAt) {
          const saved = opt.stateDict();
          const copy = { tensors: new Map([...saved.tensors].map(([k, t]) => [k, V.mul(t, 1)])), meta: { ...saved.meta } };
          opt.dispose();
          opt = new V.AdamW([p], { lr: 0.1 });
          opt.loadStateDict(copy);
        }
        V.sum(V.square(V.sub(p, 0.5))).backward();
        opt.step();
        opt.zeroGrad();
      }
      return Array.from(p.dataSync());
    };
    expect(run(6, 3)).toEqual(run(6));
  });

  test('a convex loss decreases under SGD with momentum', () => {
    const p = V.tensor([5, -3]).requireGrad();
    const opt = new V.SGD([p], { lr: 0.05, momentum: 0.9 });
    const losses: number[] = [];
    for (let s = 0; s < 50; s++) {
      const loss = V.sum(V.square(p));
      losses.push(loss.item());
      loss.backward();
      opt.step();
      opt.zeroGrad();
    }
    expect(losses[49]!).toBeLessThan(losses[0]! * 1e-2);
  });

  test('errors are named', () => {
    expect(() => new V.SGD([V.ones([2])], { lr: 0.1 })).toThrow(/^SGD: parameter 0 \(shape \[2\]\) is not a leaf that requires grad/);
    expect(() => new V.Adam([], { lr: 0.1 })).toThrow(/^Adam: got no parameters to optimize/);
  });
});
