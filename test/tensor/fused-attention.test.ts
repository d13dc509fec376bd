// The fused attention op against the same math in matmul and softmax: forward and gradients on strided heads (the
// views MultiheadAttention makes), causal and broadcast masks, Lk not a multiple of four, Lq ≠ Lk; the WebAssembly
// kernels against the TypeScript reference, 1 vs 2 threads bitwise; second-order gradients through the composite VJP.

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { expectClose } from '../helpers/close.js';
import { withCpuSettings } from '../helpers/cpu-settings.js';
import { attentionBackwardKernel, attentionKernel, type AttentionOperand } from '../../src/tensor/backend/cpu/attention-kernels.js';
import { wasmGemmRuntime } from '../../src/tensor/backend/cpu/wasm/wasm-gemm.js';
import { attentionBackwardWasm, attentionWasm } from '../../src/tensor/backend/cpu/wasm/wasm-attention.js';

/** softmax(scale·q·kᵀ + mask)·v in plain ops: what the fused op must equal. */
const composite = (q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null, scale: number): Tensor => {
  const s = V.mul(V.matmul(q, V.transpose(k)), scale);
  return V.matmul(V.softmax(mask ? V.add(s, mask) : s, -1), v);
};

/** Heads as MultiheadAttention makes them: a [B, L, H·d] tensor reshaped and permuted to a strided [B, H, L, d] view. */
const heads = (b: number, l: number, h: number, d: number, rng: V.Rng): Tensor => V.permute(V.reshape(V.randn([b, l, h * d], rng), [b, l, h, d]), [0, 2, 1, 3]);

const causal = (lq: number, lk: number): Tensor =>
  V.tensor(Float32Array.from({ length: lq * lk }, (_, i) => (i % lk > Math.floor(i / lk) + lk - lq ? -Infinity : 0)), { shape: [lq, lk] });

const CASES = [
  { label: 'B 2, H 3, L 7, d 5, no mask', b: 2, h: 3, lq: 7, lk: 7, d: 5, e: 5, mask: 'none' },
  { label: 'B 2, H 4, L 13, d 8, causal', b: 2, h: 4, lq: 13, lk: 13, d: 8, e: 8, mask: 'causal' },
  { label: 'B 1, H 2, Lq 5 < Lk 22, d 16, e 6, causal (a cache)', b: 1, h: 2, lq: 5, lk: 22, d: 16, e: 6, mask: 'causal' },
  { label: 'B 3, H 2, L 34, d 32, a per-batch mask [B, 1, L, L]', b: 3, h: 2, lq: 34, lk: 34, d: 32, e: 32, mask: 'batch' },
  { label: 'B 2, H 1, Lk 1', b: 2, h: 1, lq: 3, lk: 1, d: 4, e: 2, mask: 'none' },
] as const;

function inputs(c: (typeof CASES)[number], rng: V.Rng): { q: Tensor; k: Tensor; v: Tensor; mask: Tensor | null } {
  const q = heads(c.b, c.lq, c.h, c.d, rng), k = heads(c.b, c.lk, c.h, c.d, rng), v = heads(c.b, c.lk, c.h, c.e, rng);
  const mask = c.mask === 'causal' ? causal(c.lq, c.lk)
    : c.mask === 'batch' ? V.where(V.lt(V.rand([c.b, 1, c.lq, c.lk], rng), 0.3), -Infinity, 0) : null;
  if (mask && c.mask === 'batch') {
    // keep one key per row so that no row is fully masked
    const m = mask.dataSync() as Float32Array;
    for (let r = 0; r < m.length / c.lk; r++) m[r * c.lk] = 0;
    return { q, k, v, mask: V.tensor(m, { shape: mask.shape }) };
  }
  return { q, k, v, mask };
}

describe('attention op', () => {
  test.each(CASES)('$label: forward and gradients match matmul + softmax; fast kernels as the reference, 1 and 2 threads', (c) => {
    const results = (['reference', 'fast'] as const).flatMap((kernels) => ([1, 2] as const).map((threads) => withCpuSettings(kernels, threads, () => V.tidy(() => {
      const { q, k, v, mask } = inputs(c, new V.Rng(c.lq * 31 + c.lk));
      const scale = 1 / Math.sqrt(c.d);
      const gy = V.randn([c.b, c.h, c.lq, c.e], new V.Rng(7));
      const run = (f: typeof composite) => {
        const [qq, kk, vv] = [q, k, v].map((t) => V.detach(t).requireGrad());
        const y = f(qq!, kk!, vv!, mask, scale);
        const grads = V.gradients(V.sum(V.mul(y, gy)), [qq!, kk!, vv!]);
        return [y, ...grads].map((t) => Array.from(t.dataSync()));
      };
      const fused = run((a, b, d, m, s) => V.attention(a, b, d, { mask: m, scale: s }));
      const plain = run(composite);
      fused.forEach((got, i) => expectClose(got, plain[i]!, { rtol: 2e-5, atol: 2e-5 }, `${kernels}, ${threads} thread(s): ${['y', 'dq', 'dk', 'dv'][i]}`));
      return { kernels, threads, fused };
    }))));
    const fast = results.filter((r) => r.kernels === 'fast');
    expect(fast[1]!.fused, '2 threads bitwise as 1').toEqual(fast[0]!.fused);
  });

  test('arrays outside the WebAssembly heap (a browser page without cross-origin isolation) are staged in and out', () => {
    const rt = wasmGemmRuntime();
    if (!rt) return;
    const rng = new V.Rng(11);
    const [b, h, lq, lk, d, e] = [2, 2, 5, 6, 4, 3];
    const plain = (shape: number[]): AttentionOperand => {
      const values = Float32Array.from(V.randn(shape, rng).dataSync());
      const strides = shape.map((_, i) => shape.slice(i + 1).reduce((p, x) => p * x, 1));
      return { values, info: { dataId: null as never, shape, strides, offset: 0, dtype: 'float32' } };
    };
    const [q, k, v, g] = [plain([b, h, lq, d]), plain([b, h, lk, d]), plain([b, h, lk, e]), plain([b, h, lq, e])];
    const sizes = [b * h * lq * e, b * h * lq, b * h * lq];
    const want = sizes.map((n) => new Float32Array(n)), got = sizes.map((n) => new Float32Array(n).fill(NaN));
    attentionKernel(q!, k!, v!, null, 0.5, want[0]!, want[1]!, want[2]!);
    expect(rt.addressOf(got[0]!)).toBe(-1);
    expect(attentionWasm(rt, q!, k!, v!, null, 0.5, got[0]!, got[1]!, got[2]!)).toBe(true);
    got.forEach((x, i) => expectClose(x, Array.from(want[i]!), { rtol: 1e-5, atol: 1e-5 }, `forward output ${i}`));
    const grads = [q!, k!, v!].map((x) => x.values.length), wantG = grads.map((n) => new Float32Array(n)), gotG = grads.map((n) => new Float32Array(n).fill(NaN));
    attentionBackwardKernel(q!, k!, v!, null, 0.5, want[1]!, want[2]!, g!, wantG[0]!, wantG[1]!, wantG[2]!);
    expect(attentionBackwardWasm(rt, q!, k!, v!, null, 0.5, want[1]!, want[2]!, g!, gotG[0]!, gotG[1]!, gotG[2]!)).toBe(true);
    gotG.forEach((x, i) => expectClose(x, Array.from(wantG[i]!), { rtol: 1e-4, atol: 1e-5 }, `gradient ${i}`));
  });

  test('MultiheadAttention takes the fused op: same output as the composite path', () => {
    V.tidy(() => {
      const rng = new V.Rng(3);
      const attn = new V.MultiheadAttention(32, 4, { rng });
      const x = V.randn([2, 9, 32], rng);
      const mask = causal(9, 9);
      const y = attn.forward(x, { mask });
      const [b, l] = [2, 9];
      const split = V.split(attn.qkv.forward(x), 3, -1).map((t) => V.permute(V.reshape(t, [b, l, 4, 8]), [0, 2, 1, 3]));
      const ref = attn.proj.forward(V.reshape(V.permute(composite(split[0]!, split[1]!, split[2]!, mask, 1 / Math.sqrt(8)), [0, 2, 1, 3]), [b, l, 32]));
      expectClose(y.dataSync(), Array.from(ref.dataSync()), { rtol: 1e-5, atol: 1e-5 }, 'MultiheadAttention');
    });
  });

  test('second-order gradients go through the composite VJP (float64 gradcheck of a gradient built with createGraph)', () => {
    V.tidy(() => {
      const rng = new V.Rng(4);
      const [q, k, v] = [[1, 2, 4, 3], [1, 2, 5, 3], [1, 2, 5, 2]].map((s) => V.cast(V.randn(s, rng), 'float64'));
      const mask = V.cast(causal(4, 5), 'float64'), r = V.cast(V.randn([1, 2, 4, 2], rng), 'float64');
      // (q, k) ↦ ∇_q Σ r ⊙ attention(q, k, v)
      const gradOf = (qq: Tensor, kk: Tensor): Tensor => V.enableGrad(() => {
        const leaf = qq.requiresGrad ? qq : V.detach(qq).requireGrad();
        return V.gradients(V.sum(V.mul(V.attention(leaf, kk, v!, { mask }), r)), [leaf], undefined, { createGraph: true })[0]!;
      });
      const result = V.gradcheck(gradOf, [q!, k!]);
      expect(result.ok, JSON.stringify(result.mismatches.slice(0, 3))).toBe(true);
    });
  });

  test('a mask that needs a gradient, and mismatched shapes', () => {
    V.tidy(() => {
      const rng = new V.Rng(5);
      const q = V.randn([1, 1, 3, 2], rng), k = V.randn([1, 1, 4, 2], rng), v = V.randn([1, 1, 4, 2], rng);
      const mask = V.zeros([3, 4]).requireGrad();
      const g = V.gradients(V.sum(V.attention(q, k, v, { mask })), [mask])[0]!;
      expect(g.shape).toEqual([3, 4]);
      expect(() => V.attention(q, V.randn([1, 1, 4, 3], rng), v)).toThrow(/^attention: q \[1, 1, 3, 2\], k \[1, 1, 4, 3\] and v \[1, 1, 4, 2\] must be/);
      expect(() => V.attention(q, k, v, { mask: V.zeros([2, 4]) })).toThrow(/^attention: /);
      expect(() => V.attention(q, null as unknown as Tensor, v)).toThrow(/^attention: argument 'k' must be a Tensor/);
      expect(() => V.attention(q, k, v, { scale: 'big' as unknown as number })).toThrow(/^attention: scale must be a number, got/);
    });
  });
});
