// The autograd engine's semantics: accumulation, grad modes, detach, retained and freed graphs, functional
// transforms, higher order, custom VJPs and their contract errors.

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import { expectClose, F64 } from '../helpers/close.js';

const f64 = (values: number[] | number, shape?: number[]) =>
  V.tensor(values as number[], { dtype: 'float64', ...(shape && { shape }) });

describe('backward', () => {
  test('a tensor used twice accumulates both contributions (diamond)', () => {
    const x = f64([1, 2, 3]).requireGrad();
    const h = V.mul(x, 2);
    const y = V.sum(V.add(V.mul(h, h), V.sin(h))); // two paths from h
    y.backward();
    expectClose(x.grad!.dataSync(), [1, 2, 3].map((v) => 8 * v + 2 * Math.cos(2 * v)), F64);
  });

  test('.grad accumulates across backward calls until cleared', () => {
    const x = f64([3]).requireGrad();
    V.sum(V.square(x)).backward();
    V.sum(V.square(x)).backward();
    expect(x.grad!.item()).toBe(12);
  });

  test('a second backward through a freed graph names the op and the fix', () => {
    const x = f64([2]).requireGrad();
    const y = V.sum(V.exp(x));
    y.backward();
    expect(() => y.backward()).toThrow(/^backward: the graph through '(sum|exp)' was already freed by an earlier backward; pass \{ retainGraph: true \}/);
  });

  test('retainGraph allows differentiating twice', () => {
    const x = f64([2]).requireGrad();
    const y = V.sum(V.exp(x));
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expect(x.grad!.item()).toBeCloseTo(2 * Math.exp(2), 12);
  });

  test('a non-scalar output needs an explicit gradient', () => {
    const x = f64([1, 2]).requireGrad();
    const y = V.mul(x, 3);
    expect(() => y.backward()).toThrow(/^backward: the output has shape \[2\]; pass a gradient of that shape/);
    expect(() => y.backward(f64([1, 1, 1]))).toThrow(/^backward: gradient has shape \[3\], output has \[2\]/);
    y.backward(f64([1, 10]));
    expectClose(x.grad!.dataSync(), [3, 30], F64);
  });

  test('an output that does not require grad is an error', () => {
    const y = V.sum(f64([1, 2]));
    expect(() => y.backward()).toThrow(/^backward: the output \(shape \[\]\) does not require grad/);
  });

  test('noGrad records nothing; enableGrad re-enables inside it', () => {
    const x = f64([1]).requireGrad();
    const y = V.noGrad(() => V.mul(x, 2));
    expect(y.requiresGrad).toBe(false);
    const z = V.noGrad(() => V.enableGrad(() => V.mul(x, 2)));
    expect(z.requiresGrad).toBe(true);
    expect(V.isGradEnabled()).toBe(true);
  });

  test('detach stops the gradient', () => {
    const x = f64([2]).requireGrad();
    const y = V.sum(V.mul(x, V.detach(x)));
    y.backward();
    expect(x.grad!.item()).toBe(2);
  });

  test('only float leaves can require grad', () => {
    expect(() => V.zeros([2], { dtype: 'int32' }).requireGrad()).toThrow(/^requireGrad: only float tensors can require gradients, got int32/);
  });
});

describe('functional transforms', () => {
  test('grad and valueAndGrad differentiate with respect to every argument', () => {
    const f = (a: V.Tensor, b: V.Tensor) => V.sum(V.mul(V.square(a), b));
    const a = f64([1, 2]), b = f64([3, 4]);
    const [ga, gb] = V.grad(f)(a, b);
    expectClose(ga!.dataSync(), [6, 16], F64);
    expectClose(gb!.dataSync(), [1, 4], F64);
    const { value } = V.valueAndGrad(f)(a, b);
    expect(value.item()).toBe(19);
    expect(a.grad).toBeNull();
  });

  test('gradients() of an intermediate tensor, and zeros for an unused input', () => {
    const x = f64([1, 2]).requireGrad();
    const unused = f64([5]).requireGrad();
    const h = V.mul(x, 3);
    const y = V.sum(V.square(h));
    const [gh, gu] = V.gradients(y, [h, unused]);
    expectClose(gh!.dataSync(), [6, 12], F64);
    expectClose(gu!.dataSync(), [0], F64);
    expect(x.grad).toBeNull();
  });

  test('vjp gives a reusable pullback', () => {
    const A = f64([1, 2, 3, 4], [2, 2]);
    const { output, pullback } = V.vjp((x) => V.matmul(A, x), f64([1, 1]));
    expectClose(output.dataSync(), [3, 7], F64);
    expectClose(pullback(f64([1, 0]))[0]!.dataSync(), [1, 2], F64);
    expectClose(pullback(f64([0, 1]))[0]!.dataSync(), [3, 4], F64);
  });

  test('createGraph gives higher derivatives: d²/dx² x³ = 6x', () => {
    const x = f64([2]).requireGrad();
    const y = V.sum(V.pow(x, 3));
    const [dy] = V.gradients(y, [x], undefined, { createGraph: true });
    expect(dy!.item()).toBeCloseTo(12, 12);
    const [d2y] = V.gradients(V.sum(dy!), [x]);
    expect(d2y!.item()).toBeCloseTo(12, 12);
  });

  test('second derivatives through tanh and softmax match finite differences of the first', () => {
    const f = (x: V.Tensor) => V.sum(V.mul(V.softmax(V.tanh(x)), f64([1, -2, 0.5])));
    const x0 = [0.3, -0.1, 0.7];
    const firstGrad = (vals: number[]) => {
      const x = f64(vals).requireGrad();
      return V.gradients(f(x), [x], undefined, { createGraph: true })[0]!;
    };
    const x = f64(x0).requireGrad();
    const g = V.gradients(f(x), [x], undefined, { createGraph: true })[0]!;
    const hvRow0 = V.gradients(V.slice(g, [0]), [x])[0]!.dataSync();
    const eps = 1e-6;
    const numeric = x0.map((_, j) => {
      const p = [...x0]; p[j]! += eps;
      const m = [...x0]; m[j]! -= eps;
      return (firstGrad(p).dataSync()[0]! - firstGrad(m).dataSync()[0]!) / (2 * eps);
    });
    expectClose(hvRow0, numeric, { atol: 1e-7, rtol: 1e-5 });
  });
});

describe('customVjp', () => {
  const clippedIdentity = V.customVjp({
    name: 'clipGrad',
    forward: (x) => ({ output: V.clone(x) }),
    backward: (g) => [V.clamp(g, -1, 1)],
  });

  test('uses the hand-written rule', () => {
    const x = f64([1, 2]).requireGrad();
    V.sum(V.mul(clippedIdentity(x), f64([5, -0.5]))).backward();
    expectClose(x.grad!.dataSync(), [1, -0.5], F64);
  });

  test('saved tensors reach the backward and are freed with the graph', () => {
    const myExp = V.customVjp({
      name: 'myExp',
      forward: (x) => { const y = V.exp(x); return { output: y, saved: [y] }; },
      backward: (g, { saved }) => [V.mul(g, saved[0]!)],
    });
    const before = V.memory();
    V.tidy(() => {
      const x = f64([0.5, 1]).requireGrad();
      V.assertGradcheck(myExp, [f64([0.5, 1])]);
      V.sum(myExp(x)).backward();
      expectClose(x.grad!.dataSync(), [Math.exp(0.5), Math.exp(1)], F64);
    });
    expect(V.memory().numDataBuffers).toBe(before.numDataBuffers);
    expect(V.memory().numGradNodes).toBe(before.numGradNodes);
  });

  test('contract violations are named', () => {
    const wrongCount = V.customVjp({ name: 'wrongCount', forward: (a) => ({ output: V.clone(a) }), backward: (g) => [g, g] });
    const wrongShape = V.customVjp({ name: 'wrongShape', forward: (a) => ({ output: V.sum(a) }), backward: (g) => [g] });
    const x = f64([1, 2]).requireGrad();
    expect(() => V.sum(wrongCount(x)).backward()).toThrow(/^wrongCount: backward returned 2 gradients for 1 inputs/);
    expect(() => V.sum(wrongShape(x)).backward()).toThrow(/^wrongShape: backward returned a gradient of shape \[\] for input 0 of shape \[2\]/);
  });
});

describe('gradcheck', () => {
  test('catches a wrong gradient rule', () => {
    const wrong = V.customVjp({ name: 'wrongSquare', forward: (x) => ({ output: V.square(x) }), backward: (g) => [g] });
    const r = V.gradcheck(wrong, [f64([0.3, 2])]);
    expect(r.ok).toBe(false);
    expect(() => V.assertGradcheck(wrong, [f64([0.3, 2])])).toThrow(/^gradcheck: 2 gradient entries differ/);
  });

  test('refuses float32 inputs', () => {
    expect(() => V.gradcheck(V.exp, [V.ones([2])])).toThrow(/^gradcheck: input 0 is float32; gradcheck needs float64 inputs/);
  });
});
