// VAR / VIAR properties on small random models: block-causality, the KV-cached sampler against the teacher-forced
// forward, VIAR with no implicit iteration = VAR's pre → post, a float64 gradcheck under `unroll`, JFB training,
// the official init and parameter counts, seeded/batched sampling without leaks, sampling helpers and errors.

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';

const GAMMA1 = { ...V.OFFICIAL_VAR_INIT, adalnGamma: 1 }; // attention and FFN visible in the outputs (see the parity README)
const TINY: V.VarConfig = V.varConfig(2, {
  embedDim: 32, numHeads: 2, numClasses: 5, patchNums: [1, 2, 4], vaeChannels: 4, vocabSize: 16, condDropRate: 0, dropPathRate: 0, init: GAMMA1,
});
const TINY_VIAR: V.ViarConfig = { ...TINY, nPre: 1, nPost: 1, implicit: { ...V.OFFICIAL_IMPLICIT, schedule: 2 } };
const TINY_VQVAE: V.VqvaeConfig = {
  ch: 8, chMult: [1, 2], numResBlocks: 1, inChannels: 3, zChannels: 4, usingSa: false, usingMidSa: false, normGroups: 4,
  vocabSize: 16, patchNums: [1, 2, 4], beta: 0.25, quantResi: 0.5, shareQuantResi: 4, quantConvKernel: 3,
};
const L = 1 + 4 + 16;

function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]!));
  return m;
}

/** max over batch and vocabulary of |a − b| for each token position of [B, L, V] logits. */
function perPositionDiff(a: Tensor, b: Tensor): number[] {
  const [bs, l, v] = a.shape as [number, number, number];
  const x = a.dataSync(), y = b.dataSync();
  return Array.from({ length: l }, (_, t) => {
    let m = 0;
    for (let i = 0; i < bs; i++) for (let j = 0; j < v; j++) m = Math.max(m, Math.abs(x[(i * l + t) * v + j]! - y[(i * l + t) * v + j]!));
    return m;
  });
}

function randomIndices(rng: V.Rng, batch: number, patchNums: readonly number[], vocab: number): Tensor[] {
  return patchNums.map((p) => V.randint(0, vocab, [batch, p * p], rng, { dtype: 'int32' }));
}

/** Replaces the tensor at a dotted state-dict name (e.g. implicit_block_projection.0.weight) with `value`. */
function setTensor(module: V.Module, name: string, value: Tensor): void {
  const path = name.split('.');
  let owner = module as unknown as Record<string, unknown>;
  for (const part of path.slice(0, -1)) owner = owner[part] as Record<string, unknown>;
  owner[path.at(-1)!] = value;
}

const teacherForced = (model: V.VAR | V.VIAR, labels: number[], x: Tensor, iterations: number) =>
  model instanceof V.VIAR ? model.forward(labels, x, { iterations }) : model.forward(labels, x);

describe('block-causality', () => {
  for (const kind of ['VAR', 'VIAR'] as const) {
    test(`${kind}: no token's logits depend on tokens of later scales; later scales do see earlier ones`, () => {
      V.tidy(() => V.noGrad(() => {
        const rng = new V.Rng(1);
        const model = kind === 'VAR' ? new V.VAR(TINY, { rng }) : new V.VIAR(TINY_VIAR, { rng });
        model.eval();
        const x = V.randn([2, L - 1, 4], rng);
        const base = teacherForced(model, [1, 3], x, 2);
        for (let s = 1; s < 3; s++) {
          const [start, end] = [model.scaleStarts[s]!, model.scaleStarts[s + 1]!];
          // x row r feeds token r + 1 (token 0 is the sos)
          const rows = V.tensor(Float32Array.from({ length: L - 1 }, (_, r) => (r + 1 >= start && r + 1 < end ? 1 : 0)), { shape: [1, L - 1, 1] });
          const perturbed = V.add(x, V.mul(V.randn(x.shape, rng), rows));
          const diff = perPositionDiff(teacherForced(model, [1, 3], perturbed, 2), base);
          expect(Math.max(...diff.slice(0, start)), `positions before scale ${s}`).toBe(0);
          expect(Math.min(...diff.slice(start, end)), `positions of scale ${s}`).toBeGreaterThan(1e-6);
          if (end < L) expect(Math.min(...diff.slice(end)), `positions after scale ${s}`).toBeGreaterThan(1e-7);
        }
      }));
    });
  }

  test('the mask is 0 where scale(key) ≤ scale(query), −∞ elsewhere', () => {
    const model = new V.VAR(TINY, { rng: new V.Rng(0) });
    const mask = model.blockCausalMask().dataSync();
    for (let q = 0; q < L; q++) {
      for (let k = 0; k < L; k++) expect(mask[q * L + k]).toBe(model.scaleOf(k) <= model.scaleOf(q) ? 0 : -Infinity);
    }
    expect([0, 1, 4, 5, 20].map((t) => model.scaleOf(t))).toEqual([0, 1, 1, 2, 2]);
    model.dispose();
  });
});

describe('the KV-cached sampler equals the teacher-forced forward on the same tokens', () => {
  for (const kind of ['VAR', 'VIAR'] as const) {
    test(`${kind}: CFG-mixed logits of every scale (forced indices, cfg 1.5${kind === 'VIAR' ? ', constant schedule 2' : ''})`, () => {
      V.tidy(() => {
        const rng = new V.Rng(2);
        const model = kind === 'VAR' ? new V.VAR(TINY, { rng }) : new V.VIAR(TINY_VIAR, { rng });
        model.eval();
        const vae = new V.VQVAE(TINY_VQVAE, rng).eval();
        const indices = randomIndices(rng, 2, TINY.patchNums, 16);
        const out = model.sample(vae, { labels: [0, 4], cfg: 1.5, forcedIndices: indices, recordLogits: true, iterSchedule: 2 } as V.ViarSampleOptions);
        const x = V.noGrad(() => vae.quantize.indicesToVarInput(indices));
        const cond = V.noGrad(() => teacherForced(model, [0, 4], x, 2));
        const uncond = V.noGrad(() => teacherForced(model, [5, 5], x, 2));
        TINY.patchNums.forEach((_, si) => {
          const [start, end] = [model.scaleStarts[si]!, model.scaleStarts[si + 1]!];
          const t = V.cfgStrength(1.5, si, 3);
          const expected = V.sub(V.mul(V.slice(cond, [null, [start, end]]), 1 + t), V.mul(V.slice(uncond, [null, [start, end]]), t));
          const got = out.logits![si]!;
          expect(maxAbs(V.sub(got, expected).dataSync()), `scale ${si}`).toBeLessThan(1e-4 * maxAbs(expected.dataSync()));
          expect(Array.from(out.indices[si]!.dataSync())).toEqual(Array.from(indices[si]!.dataSync()));
        });
        expect(out.image.shape).toEqual([2, 3, 8, 8]);
      });
    });
  }
});

describe('VIAR', () => {
  test('with zero implicit iterations it is VAR with blocks.0 as the pre-block and blocks.1 as the post-block', () => {
    V.tidy(() => {
      const rng = new V.Rng(3);
      const varModel = new V.VAR(TINY, { rng }).eval();
      const viar = new V.VIAR(TINY_VIAR, { rng }).eval();
      const state = new Map(viar.stateDict());
      for (const [k, t] of varModel.stateDict()) state.set(k.replace(/^blocks\.0\./, 'pre_blocks.0.').replace(/^blocks\.1\./, 'post_blocks.0.'), t);
      expect(viar.loadStateDict(state)).toEqual({ missing: [], unexpected: [] });
      const x = V.randn([2, L - 1, 4], rng);
      const a = V.noGrad(() => viar.forward([2, 0], x, { iterations: 0 }));
      const b = V.noGrad(() => varModel.forward([2, 0], x));
      expect(maxAbs(V.sub(a, b).dataSync())).toBeLessThan(1e-7);
      expect(viar.lastImplicit).toEqual({ noGradIters: 0, withGradIters: 0, stats: null });
      const vae = new V.VQVAE(TINY_VQVAE, rng).eval();
      const s1 = viar.sample(vae, { labels: [2, 0], greedy: true, iterSchedule: 0 });
      const s2 = varModel.sample(vae, { labels: [2, 0], greedy: true });
      expect(s1.iterations).toEqual([0, 0, 0]);
      s1.indices.forEach((idx, k) => expect(Array.from(idx.dataSync())).toEqual(Array.from(s2.indices[k]!.dataSync())));
    });
  });

  test('float64 gradcheck of a tiny VIAR loss through 2 unrolled implicit iterations', () => {
    const rng = new V.Rng(4);
    const config: V.ViarConfig = {
      ...V.varConfig(2, { embedDim: 8, numHeads: 2, mlpRatio: 2, numClasses: 3, patchNums: [1, 2], vaeChannels: 2, vocabSize: 5, condDropRate: 0, dropPathRate: 0, init: GAMMA1 }),
      nPre: 1, nPost: 1, implicit: { ...V.OFFICIAL_IMPLICIT, gradient: 'unroll' },
    };
    const model = V.castModule(new V.VIAR(config, { rng }), 'float64').eval();
    const x = V.randn([2, 4, 2], rng, { dtype: 'float64' });
    const targets = V.randint(0, 5, [10], rng, { dtype: 'int32' });
    const names = [
      'implicit_block_projection.0.weight', 'implicit_block_projection.2.bias', 'implicit_block.attn.scale_mul_1H11',
      'implicit_block.attn.q_bias', 'implicit_block.ada_lin.1.bias', 'pre_blocks.0.ffn.fc2.bias', 'word_embed.weight', 'pos_start',
    ];
    const originals = names.map((n) => model.stateDict().get(n)!);
    const loss = (xIn: Tensor, ...params: Tensor[]) => {
      names.forEach((n, i) => setTensor(model, n, params[i]!));
      return V.crossEntropy(V.reshape(model.forward([0, 2], xIn, { iterations: 2 }), [10, 5]), targets);
    };
    const result = V.gradcheck(loss, [x, ...originals]);
    names.forEach((n, i) => setTensor(model, n, originals[i]!));
    expect(result.mismatches.slice(0, 3)).toEqual([]);
    expect(result.ok).toBe(true);
    expect(model.lastImplicit!.stats!.gradient).toBe('unroll');
  });

  test('the official truncated rule with m = 1 is JFB: same gradients as fixedPoint\'s jfb over k + 1 iterations', () => {
    V.tidy(() => {
      const rng = new V.Rng(5);
      const model = new V.VIAR(TINY_VIAR, { rng }).eval();
      const x = V.randn([2, L - 1, 4], rng);
      const targets = V.randint(0, 16, [2 * L], rng, { dtype: 'int32' });
      const grads = (gradient: V.ImplicitGradient) => {
        model.zeroGrad();
        V.tidy(() => V.crossEntropy(V.reshape(model.forward([1, 2], x, { iterations: { noGrad: 2, withGrad: 1 }, gradient }), [2 * L, 16]), targets).backward());
        return model.parameters().map((p) => Float64Array.from(p.grad!.dataSync()));
      };
      const truncated = grads('truncated');
      const jfb = grads('jfb');
      truncated.forEach((g, i) => expect(maxAbs(g.map((v, j) => v - jfb[i]![j]!))).toBeLessThan(1e-6));
      // every parameter gets a gradient: the pre-blocks through the injection
      const named = model.namedParameters();
      expect(named.filter(([, p]) => maxAbs(p.grad!.dataSync()) === 0).map(([n]) => n)).toEqual([]);
      model.zeroGrad();
    });
  });

  test('JFB training (k ∈ 0..2 untaped, m = 1) lowers the loss in a few AdamW steps; solver stats are exposed', () => {
    const rng = new V.Rng(6);
    const config: V.ViarConfig = { ...TINY_VIAR, condDropRate: 0.1, implicit: { ...V.OFFICIAL_IMPLICIT, noGradIters: [0, 2], withGradIters: [1, 1] } };
    const model = new V.VIAR(config, { rng });
    const labels = [0, 1, 2, 3];
    const x = V.randn([4, L - 1, 4], rng);
    const targets = V.randint(0, 16, [4 * L], rng, { dtype: 'int32' });
    const evalLoss = () => V.tidy(() => V.noGrad(() => {
      model.eval();
      const l = V.crossEntropy(V.reshape(model.forward(labels, x, { iterations: 2 }), [4 * L, 16]), targets).item();
      model.train();
      return l;
    }));
    const before = evalLoss();
    const opt = new V.AdamW(model.parameters(), { lr: 1e-2, betas: [0.9, 0.95] });
    const seen = new Set<number>();
    let liveAfterStep2 = 0;
    for (let step = 0; step < 12; step++) {
      if (step === 2) liveAfterStep2 = V.memory().numTensors;
      V.tidy(() => V.crossEntropy(V.reshape(model.forward(labels, x), [4 * L, 16]), targets).backward());
      opt.step();
      opt.zeroGrad();
      const report = model.lastImplicit!;
      expect(report.withGradIters).toBe(1);
      expect(report.stats!.gradient).toBe('jfb');
      expect(report.stats!.absTrace[0]).toHaveLength(report.noGradIters + 1);
      seen.add(report.noGradIters);
    }
    expect([...seen].every((k) => k >= 0 && k <= 2)).toBe(true);
    expect(V.memory().numTensors).toBe(liveAfterStep2); // training steps free what they create
    const after = evalLoss();
    expect(after).toBeLessThan(before - 0.1);
    model.dispose();
  });

  test('early stopping per scale: a loose tolerance stops after one iteration and caps later scales; iterations and residuals are reported', () => {
    V.tidy(() => {
      const rng = new V.Rng(7);
      const model = new V.VIAR(TINY_VIAR, { rng }).eval();
      const vae = new V.VQVAE(TINY_VQVAE, rng).eval();
      V.dispose(model.sample(vae, { labels: [1, 2], greedy: true })); // constants are cached on first use
      const live = V.memory().numTensors;
      V.dispose(model.sample(vae, { labels: [1, 2], topK: 5, seed: 1, iterSchedule: { left: 3, right: 1 } }));
      expect(V.memory().numTensors).toBe(live); // the iteration-keyed caches are freed
      const loose = model.sample(vae, { labels: [1, 2], greedy: true, iterSchedule: [4, 3, 3], earlyStopTol: 1e9 });
      expect(loose.iterations).toEqual([1, 1, 1]);
      const full = model.sample(vae, { labels: [1, 2], greedy: true, iterSchedule: [4, 3, 3], earlyStopTol: 0 });
      expect(full.iterations).toEqual([4, 3, 3]);
      expect(full.residuals.map((r) => r.length)).toEqual([4, 3, 3]);
      expect(full.residuals.flat().every((r) => Number.isFinite(r) && r > 0)).toBe(true);
    });
  });
});

describe('initialisation and sizes', () => {
  test('parameter counts follow the spec formulas (per block 18C² + 14C + H; outside 2C² + 5823C + 4096 at 256 px)', () => {
    const perBlock = (c: number, h: number) => 18 * c * c + 14 * c + h;
    const outside = (c: number) => 2 * c * c + 5823 * c + 4096;
    const d1 = new V.VAR(V.varConfig(1), { rng: new V.Rng(0) });
    expect(d1.numParameters()).toBe(perBlock(64, 1) + outside(64));
    expect(d1.seqLen).toBe(680);
    d1.dispose();
    const viar = new V.VIAR(V.viarConfig({ ...V.varConfig(2), nPre: 1, nPost: 1 }), { rng: new V.Rng(0) });
    expect(viar.numParameters()).toBe(3 * perBlock(128, 2) + (6 * 128 * 128 + 3 * 128) + outside(128));
    viar.dispose();
  });

  test('the official init_weights rules', () => {
    const config = V.varConfig(2, { embedDim: 64, numHeads: 2, numClasses: 10, patchNums: [1, 2, 3, 4], vaeChannels: 8, vocabSize: 64 });
    const model = new V.VAR(config, { rng: new V.Rng(8) });
    const std = Math.sqrt(1 / (3 * 64));
    const s = model.stateDict();
    const stats = (name: string, rows?: [number, number]) => {
      const t = s.get(name)!;
      let v = Array.from(t.dataSync());
      if (rows) v = v.slice(rows[0] * t.shape[1]!, rows[1] * t.shape[1]!);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length), maxAbs: maxAbs(v) };
    };
    const near = (name: string, expected: number, rows?: [number, number]) => {
      const st = stats(name, rows);
      expect(st.std / expected, name).toBeGreaterThan(0.85);
      expect(st.std / expected, name).toBeLessThan(1.15);
    };
    for (const name of ['class_emb.weight', 'pos_1LC', 'lvl_embed.weight', 'word_embed.weight', 'blocks.0.attn.mat_qkv.weight', 'blocks.1.ffn.fc1.weight']) near(name, std);
    near('head.weight', 0.02 * std);
    near('head_nm.ada_lin.1.weight', 0.5 * std);
    near('blocks.0.attn.proj.weight', std / 2);
    near('blocks.1.ffn.fc2.weight', std / 2);
    near('blocks.0.ada_lin.1.weight', 0.5 * std, [128, 384]);
    near('blocks.0.ada_lin.1.weight', 1e-5 * std, [0, 128]);
    for (const name of ['head.bias', 'blocks.0.ada_lin.1.bias', 'blocks.0.attn.q_bias', 'blocks.0.attn.v_bias', 'blocks.1.ffn.fc2.bias', 'word_embed.bias']) {
      expect(stats(name).maxAbs, name).toBe(0);
    }
    expect(Array.from(s.get('blocks.1.attn.scale_mul_1H11')!.dataSync())).toEqual([Math.fround(Math.log(4)), Math.fround(Math.log(4))]);
    expect(stats('pos_1LC').maxAbs).toBeLessThan(2);
    model.dispose();
  });
});

describe('sampling', () => {
  test('seeded, batched and leak-free: same seed same images, rows independent of their batch, memory returns to its level', () => {
    const rng = new V.Rng(9);
    const model = new V.VAR(TINY, { rng }).eval();
    const vae = new V.VQVAE(TINY_VQVAE, rng).eval();
    const flat = (r: V.SampleResult) => r.indices.map((t) => Array.from(t.dataSync()));
    V.dispose(model.sample(vae, { seed: 0 })); // the model caches its constant tensors on first use
    const before = V.memory();
    const a = model.sample(vae, { batchSize: 3, seed: 11, topK: 8, topP: 0.9 });
    const b = model.sample(vae, { batchSize: 3, seed: 11, topK: 8, topP: 0.9 });
    const c = model.sample(vae, { batchSize: 3, seed: 12, topK: 8, topP: 0.9 });
    expect(a.labels).toEqual(b.labels);
    expect(a.labels.every((l) => l >= 0 && l < 5)).toBe(true);
    expect(flat(a)).toEqual(flat(b));
    expect(flat(a)).not.toEqual(flat(c));
    expect(Array.from(a.image.dataSync())).toEqual(Array.from(b.image.dataSync()));
    const image = a.image.dataSync();
    expect(Math.min(...image)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...image)).toBeLessThanOrEqual(1);
    // greedy: each row's tokens do not depend on the other rows
    const pair = model.sample(vae, { labels: [1, 4], greedy: true });
    const single = model.sample(vae, { labels: [4], greedy: true });
    pair.indices.forEach((t, k) => expect(Array.from(t.dataSync()).slice(t.shape[1]!)).toEqual(Array.from(single.indices[k]!.dataSync())));
    for (const r of [a, b, c, pair, single]) V.dispose(r);
    expect(V.memory().numTensors).toBe(before.numTensors);
    expect(V.memory().numBytes).toBe(before.numBytes);
  });

  test('more_smooth (Gumbel-softmax code maps) runs and is seeded', () => {
    V.tidy(() => {
      const rng = new V.Rng(10);
      const model = new V.VAR(TINY, { rng }).eval();
      const vae = new V.VQVAE(TINY_VQVAE, rng).eval();
      const a = model.sample(vae, { labels: [0, 1], topK: 4, moreSmooth: true, seed: 3 });
      const b = model.sample(vae, { labels: [0, 1], topK: 4, moreSmooth: true, seed: 3 });
      expect(Array.from(a.fHat.dataSync())).toEqual(Array.from(b.fHat.dataSync()));
      expect(a.fHat.dataSync().every(Number.isFinite)).toBe(true);
    });
  });

  test('top-k keeps ties, top-p drops the low tail but always keeps the maximum, CFG ramps linearly', () => {
    V.tidy(() => {
      const logits = V.tensor([[[3, 1, 3, 2, 0]]]);
      expect(Array.from(V.filterLogits(logits, { topK: 1 }).dataSync())).toEqual([3, -Infinity, 3, -Infinity, -Infinity]);
      expect(Array.from(V.filterLogits(logits, { topK: 3 }).dataSync())).toEqual([3, -Infinity, 3, 2, -Infinity]);
      // probs ∝ e^[3,1,3,2,0] = [.39,.05,.39,.14,.02]: ascending cumulative .02,.07,.21,.61 — p = 0.85 drops those ≤ 0.15
      expect(Array.from(V.filterLogits(logits, { topP: 0.85 }).dataSync())).toEqual([3, -Infinity, 3, 2, -Infinity]);
      expect(Array.from(V.filterLogits(V.tensor([[[5, 0, 0]]]), { topP: 1e-9 }).dataSync())).toEqual([5, -Infinity, -Infinity]);
      expect(Array.from(V.sampleTokens(logits, { greedy: true }, new V.Rng(0)).dataSync())).toEqual([0]);
      expect([0, 1, 2, 5].map((si) => V.cfgStrength(1.5, si, 6))).toEqual([0, 0.3, 0.6, 1.5]);
      expect(Array.from(V.mixGuidance(V.tensor([[[1]], [[3]]]), 0.5).dataSync())).toEqual([0]);
    });
  });

  test('iteration schedules: floor(linspace(left, right, 10)), constants and explicit lists', () => {
    expect(V.iterationSchedule({ left: 10, right: 5 }, 10)).toEqual([10, 9, 8, 8, 7, 7, 6, 6, 5, 5]);
    expect(V.iterationSchedule({ left: 10, right: 1 }, 10)).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(V.iterationSchedule({ left: 3, right: 1 }, 6)).toEqual([3, 2, 2, 2, 2, 1]);
    expect(V.iterationSchedule(4, 3)).toEqual([4, 4, 4]);
    expect(V.iterationSchedule([3, 0, 1], 3)).toEqual([3, 0, 1]);
  });
});

describe('bad input is named', () => {
  const rng = new V.Rng(11);
  const model = new V.VAR(TINY, { rng });
  const viar = new V.VIAR(TINY_VIAR, { rng });
  const vae = new V.VQVAE(TINY_VQVAE, rng);

  test('class out of range', () => {
    const x = V.zeros([1, L - 1, 4]);
    expect(() => model.forward([6], x)).toThrow(V.ArgumentError);
    expect(() => model.forward([6], x)).toThrow(/^VAR\.forward: labels\[0\] = 6 is out of range: classes are 0\.\.4 and 5 is the null class/);
    expect(() => viar.forward([-1], x)).toThrow(/^VIAR\.forward: labels\[0\] = -1 is out of range/);
    expect(() => model.sample(vae, { labels: [0, 9] })).toThrow(/^VAR\.sample: labels\[1\] = 9 is out of range/);
    expect(() => model.forward([1, 2], x)).toThrow(/^VAR\.forward: labels must be \[1\] \(one class per image\), got \[2\]/);
    expect(() => model.forward([1], V.zeros([1, L, 4]))).toThrow(/^VAR\.forward: x must be \[B, 20, 4\] \(L − p₀² tokens of Cvae channels\), got \[1, 21, 4\]/);
    x.dispose();
  });

  test('schedule of the wrong length, bad iteration counts and mismatched VQVAE / forced indices', () => {
    expect(() => viar.sample(vae, { labels: [0], iterSchedule: [2, 1] })).toThrow(V.ArgumentError);
    expect(() => viar.sample(vae, { labels: [0], iterSchedule: [2, 1] })).toThrow(/^VIAR\.sample: iteration schedule has 2 entries \[2, 1\] but the model has 3 scales/);
    expect(() => viar.sample(vae, { labels: [0], iterSchedule: { left: 2, right: -1 } })).toThrow(/^VIAR\.sample: right must be a non-negative integer, got -1/);
    expect(() => viar.forward([0], V.zeros([1, L - 1, 4]), { iterations: 1.5 })).toThrow(/^VIAR\.forward: iterations must be a non-negative integer, got 1.5/);
    const otherVae = new V.VQVAE({ ...TINY_VQVAE, vocabSize: 32 }, rng);
    expect(() => model.sample(otherVae, { labels: [0] })).toThrow(/^VAR\.sample: the VQVAE \(patchNums \[1, 2, 4\], Cvae 4, V 32\) does not match the model \(patchNums \[1, 2, 4\], Cvae 4, V 16\)/);
    expect(() => model.sample(vae, { labels: [0], forcedIndices: [V.zeros([1, 1], { dtype: 'int32' })] })).toThrow(/^VAR\.sample: forcedIndices has 1 scales, the model has 3/);
    expect(() => model.sample(vae, { labels: [0], topK: -1 })).toThrow(/^VAR\.sample: topK must be a non-negative integer, got -1/);
  });

  test('loading the state dict of another configuration', () => {
    const deeper = new V.VAR({ ...TINY, depth: 3 }, { rng });
    expect(() => deeper.loadStateDict(model.stateDict())).toThrow(V.ArgumentError);
    expect(() => deeper.loadStateDict(model.stateDict())).toThrow(/^VAR\.loadStateDict: the state dict does not fit this model \(depth 3, C 32, 2 heads.*\): missing keys: blocks\.2\./);
    const wider = new V.VAR({ ...TINY, embedDim: 64 }, { rng });
    expect(() => wider.loadStateDict(model.stateDict())).toThrow(V.ShapeError);
    expect(() => wider.loadStateDict(model.stateDict())).toThrow(/^VAR\.loadStateDict: the state dict does not fit this model \(depth 2, C 64.*\): 'pos_start' has shape \[1, 1, 32\] in the checkpoint but \[1, 1, 64\] in the model/);
    expect(() => viar.loadStateDict(model.stateDict())).toThrow(/^VIAR\.loadStateDict: .*1 pre \+ 1 implicit \+ 1 post blocks\): missing keys: .*unexpected keys: blocks\.0\./);
    // the official recomputable buffers are accepted and ignored
    const withBuffers = new Map(model.stateDict());
    withBuffers.set('lvl_1L', V.zeros([1, L], { dtype: 'int32' })).set('attn_bias_for_masking', V.zeros([1, 1, L, L])).set('blocks.0.attn.zero_k_bias', V.zeros([32]));
    expect(model.loadStateDict(withBuffers)).toEqual({ missing: [], unexpected: [] });
    deeper.dispose();
    wider.dispose();
  });
});
