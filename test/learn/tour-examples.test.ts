// The runnable examples of the guided tour (docs/learn/): each `#region` below is shown verbatim in a chapter,
// and running this file checks that what the chapter says still happens.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { expectClose } from '../helpers/close.js';

const repoRoot = join(import.meta.dirname, '../..');
const f64 = { dtype: 'float64' } as const;

describe('the tour, run', () => {
  test('1. a transpose is a view: same buffer, swapped strides', () => {
    // #region views
    const a = V.tensor([[1, 2, 3], [4, 5, 6]]);
    const t = V.transpose(a);
    expect(t.shape).toEqual([3, 2]);
    expect(t.strides).toEqual([1, 3]); // a's strides were [3, 1]
    expect(t.dataId).toBe(a.dataId); // no copy
    expect(t.toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
    // #endregion views
  });

  test('2. a new op is one defineOp: forward, what to save, the VJP', () => {
    // #region define-op
    const cube = V.defineOp<undefined>({
      name: 'cube',
      forward: ([x]) => V.mul(x!, V.mul(x!, x!)),
      saveInputs: true,
      // d x³ = 3x² dx
      vjp: (gy, { inputs: [x] }) => [V.mul(gy, V.mul(V.mul(x!, x!), 3))],
    });
    const x = V.tensor([1, 2], f64).requireGrad();
    V.sum(cube([x], undefined)).backward();
    expect(x.grad!.toArray()).toEqual([3, 12]);
    // #endregion define-op
  });

  test('3. the node an op records', () => {
    // #region node
    const w = V.tensor([0.5, -1], f64).requireGrad();
    const y = V.exp(w);
    expect(y.node!.op).toBe('exp');
    expect(y.node!.inputs[0]).toBe(w);
    expect(y.node!.parents).toEqual([null]); // w is a leaf: no node produced it
    expect(y.node!.saved.output).not.toBeNull(); // exp's VJP reads its output (d eˣ = eˣ dx)
    expect(y.node!.saved.inputs).toEqual([null]); // ... and not its input
    // #endregion node
  });

  test('4. backward: a tensor used twice gets the sum of both paths', () => {
    // #region diamond
    const a = V.tensor([2, -1], f64).requireGrad();
    a.name = 'a';
    const b = V.tensor([3, 0.5], f64).requireGrad();
    b.name = 'b';
    const loss = V.sum(V.mul(V.exp(a), V.add(a, b))); // Σ eᵃ(a + b)
    loss.backward(undefined, { retainGraph: true }); // retain what the ops saved, to draw it
    const picture = V.toDot(loss, { values: true }); // with data and grads, as micrograd's draw_dot
    const [a0, a1] = [2, -1], [b0, b1] = [3, 0.5];
    // ∂/∂a = eᵃ(a + b) + eᵃ   (through exp, and through add)      ∂/∂b = eᵃ
    expectClose(a.grad!.dataSync(), [Math.exp(a0) * (a0 + b0 + 1), Math.exp(a1) * (a1 + b1 + 1)]);
    expectClose(b.grad!.dataSync(), [Math.exp(a0), Math.exp(a1)]);
    // #endregion diamond
    // the picture in chapter 4 is this graph. After a change to the printer or the ops, regenerate it with
    //   UPDATE_TOUR=1 npx vitest run test/learn/tour-examples.test.ts && dot -Tsvg docs/learn/images/diamond.dot > docs/learn/images/diamond.svg
    const dotFile = join(repoRoot, 'docs/learn/images/diamond.dot');
    if (process.env.UPDATE_TOUR) writeFileSync(dotFile, picture);
    expect(picture).toBe(readFileSync(dotFile, 'utf8'));
  });

  test('5. gradcheck catches a wrong VJP', () => {
    // #region gradcheck
    const wrongSin = V.defineOp<undefined>({
      name: 'wrongSin',
      forward: ([x]) => V.sin(x!),
      saveInputs: true,
      vjp: (gy, { inputs: [x] }) => [V.mul(gy, V.sin(x!))], // should be cos x
    });
    const x = V.tensor([0.3, 1.2], f64);
    expect(V.gradcheck(V.sin, [x]).ok).toBe(true);
    const report = V.gradcheck((t) => wrongSin([t], undefined), [x]);
    expect(report.ok).toBe(false);
    expect(report.mismatches.map((m) => m.index)).toEqual([0, 1]);
    // #endregion gradcheck
  });

  test('6. the gradient rules of fixedPoint as partial sums of one Neumann series', () => {
    // #region neumann
    const A = V.tensor([[0.5, 0.2], [0.1, 0.3]], f64);
    const f = (z: Tensor, b: Tensor) => V.add(V.matmul(z, A), b); // z* = b(I − A)⁻¹
    const gradOfB = (gradient: V.GradientRule): number[] => {
      const b = V.tensor([[1, -1]], f64).requireGrad();
      const { z } = V.fixedPoint(f, [b], { tol: 1e-12, maxIter: 200, gradient });
      V.sum(z).backward();
      return Array.from(b.grad!.dataSync());
    };
    // ∂ Σz*/∂b = (I − A)⁻¹𝟙 = 𝟙 + A𝟙 + A²𝟙 + …; firstTerms(k) sums the first k terms
    const firstTerms = (k: number): number[] => {
      let [v0, v1, s0, s1] = [1, 1, 0, 0]; // v = Aⁱ𝟙, s = the sum so far
      for (let i = 0; i < k; i++) {
        [s0, s1] = [s0 + v0, s1 + v1];
        [v0, v1] = [0.5 * v0 + 0.2 * v1, 0.1 * v0 + 0.3 * v1];
      }
      return [s0, s1];
    };
    expectClose(gradOfB('ift'), firstTerms(100)); // the whole series (an adjoint solve)
    expectClose(gradOfB('jfb'), firstTerms(1)); // its first term: (I − J)⁻¹ ≈ I
    expectClose(gradOfB({ mode: 'phantom', k: 3, damping: 1 }), firstTerms(3)); // its first k terms
    // #endregion neumann
    // #region adjoint
    // the IFT backward by hand: iterate u ← ḡ + Jᵀu, each Jᵀu one VJP of f at z*
    const b = V.tensor([[1, -1]], f64);
    const { z: zStar } = V.fixedPoint(f, [b], { tol: 1e-12, maxIter: 200 });
    const { pullback } = V.vjp((z) => f(z, b), zStar); // z ↦ f(z, b) around z*; pullback(u) = Jᵀu
    const gBar = V.onesLike(zStar); // ∂Σz*/∂z*
    let u = gBar;
    for (let i = 0; i < 100; i++) u = V.add(gBar, pullback(u)[0]!);
    expectClose(u.dataSync(), firstTerms(100)); // b enters f additively (M = I), so b̄ = u
    // #endregion adjoint
  });

  test('7. VIAR: the implicit layer in training and the per-scale schedule in sampling', () => {
    // #region viar
    const config: V.ViarConfig = {
      ...V.varConfig(2, { embedDim: 16, numHeads: 2, numClasses: 3, patchNums: [1, 2, 3], vaeChannels: 4, vocabSize: 8 }),
      nPre: 1, nPost: 1, implicit: V.OFFICIAL_IMPLICIT,
    };
    const model = new V.VIAR(config, { rng: new V.Rng(0) });
    const tokens = V.randn([2, 4 + 9, 4], new V.Rng(1)); // teacher forcing: every scale after the first
    model.forward([0, 2], tokens, { iterations: { noGrad: 4, withGrad: 1 } }); // 4 untaped + 1 taped (JFB)
    expect(model.lastImplicit!.stats!.gradient).toBe('jfb');
    const vqvae = new V.VQVAE({ ...V.VQVAE_TINY, zChannels: 4, vocabSize: 8, patchNums: [1, 2, 3] }, new V.Rng(2));
    const { iterations } = model.sample(vqvae, { labels: [1], iterSchedule: { left: 3, right: 1 } });
    expect(iterations).toEqual([3, 2, 2]); // the official floor(linspace(3, 1, 10)), its first 3 entries
    // #endregion viar
  });
});
