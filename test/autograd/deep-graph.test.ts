// A graph tens of thousands of ops deep: backward and disposal run in loops, not recursion, so neither overflows
// the call stack, and disposing the result frees every node.

import { expect, test } from 'vitest';
import * as V from '../../src/index.js';

test('a 30,000-op chain: backward is exact, disposing the loss frees all 30,001 nodes', () => {
  const before = V.memory().numGradNodes;
  const x = V.tensor([1], { dtype: 'float64' }).requireGrad();
  let h = x;
  for (let i = 0; i < 30_000; i++) {
    const next = V.mul(h, 1.00001);
    if (h !== x) h.dispose(); // the graph keeps what it needs; the chain is held by the loss alone
    h = next;
  }
  const loss = V.sum(h);
  expect(V.memory().numGradNodes - before).toBe(30_001);
  loss.backward();
  expect(x.grad!.item()).toBeCloseTo(1.00001 ** 30_000, 9);
  h.dispose();
  loss.dispose();
  expect(V.memory().numGradNodes).toBe(before);
  x.dispose();
});
