// micrograd's README expression through the public API: forward 24.7041, dg/da 138.8338, dg/db 645.5773.

import { expect, test } from 'vitest';
import { scalar, relu, add, sub, mul, div, pow, neg } from '../../src/index.js';

test("micrograd's README example reproduces its numbers", () => {
  const a = scalar(-4, 'float64').requireGrad();
  const b = scalar(2, 'float64').requireGrad();
  let c = add(a, b);
  let d = add(mul(a, b), pow(b, 3));
  c = add(c, add(c, 1));
  c = add(c, add(add(1, c), neg(a)));
  d = add(d, add(mul(d, 2), relu(add(b, a))));
  d = add(d, add(mul(3, d), relu(sub(b, a))));
  const e = sub(c, d);
  const f = pow(e, 2);
  let g = div(f, 2);
  g = add(g, div(10, f));
  expect(g.item()).toBeCloseTo(24.7041, 4);
  g.backward();
  expect(a.grad!.item()).toBeCloseTo(138.8338, 4);
  expect(b.grad!.item()).toBeCloseTo(645.5773, 4);
});

test('the same expression with fluent methods', () => {
  const a = scalar(-4, 'float64').requireGrad();
  const b = scalar(2, 'float64').requireGrad();
  let c = a.add(b);
  let d = a.mul(b).add(b.pow(3));
  c = c.add(c.add(1));
  c = c.add(c.add(1).sub(a));
  d = d.add(d.mul(2).add(b.add(a).relu()));
  d = d.add(d.mul(3).add(b.sub(a).relu()));
  const f = c.sub(d).pow(2);
  const g = f.div(2).add(div(10, f));
  g.backward();
  expect(g.item()).toBeCloseTo(24.7041, 4);
  expect(a.grad!.item()).toBeCloseTo(138.8338, 4);
  expect(b.grad!.item()).toBeCloseTo(645.5773, 4);
});
