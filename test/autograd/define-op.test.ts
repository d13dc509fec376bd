// defineOp records on a new view when the forward hands back a tensor that existed before it ran, so a captured
// leaf stays a leaf and an input keeps its own node.

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';

const f64 = (values: number[]) => V.tensor(values, { dtype: 'float64' });

describe('defineOp: forwards that return an existing tensor', () => {
  test.each([
    ['customVjp', (w: V.Tensor) => { const op = V.customVjp({ name: 'captured', forward: () => ({ output: w }), backward: (g) => [g] }); return (x: V.Tensor) => op(x); }],
    ['defineOp', (w: V.Tensor) => { const op = V.defineOp<undefined>({ name: 'captured', forward: () => w, vjp: (g) => [g] }); return (x: V.Tensor) => op([x], undefined); }],
  ] as const)('%s: a leaf the forward closed over stays a leaf; the output is a recorded view of it', (_, make) => {
    const w = f64([1, 2]);
    const x = f64([3, 4]).requireGrad();
    const y = make(w)(x);
    expect(y).not.toBe(w);
    expect(w.isLeaf).toBe(true);
    expect(y.node!.inputs).toEqual([x]);
    expect(y.toArray()).toEqual([1, 2]);
    V.sum(y).backward();
    expect(x.grad!.toArray()).toEqual([1, 1]);
    expect(w.grad).toBeNull();
  });

  test('a forward returning its input: the input keeps its node, the output gets its own', () => {
    const x = f64([1, 2]).requireGrad();
    const h = V.mul(x, 2);
    const id = V.defineOp<undefined>({ name: 'identity', forward: ([t]) => t!, vjp: (g) => [g] });
    const y = id([h], undefined);
    expect(h.node!.op).toBe('mul');
    expect(y.node!.op).toBe('identity');
    expect(y.dataId).toBe(h.dataId);
  });
});
