// toDot: the printed graph names every op with its output shape and saved tensors, every leaf, and every edge.

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';

const f64 = (values: number[]) => V.tensor(values, { dtype: 'float64' });

describe('toDot', () => {
  test('ops, leaves, saved tensors and edges of a small graph', () => {
    const a = f64([1, 2]).requireGrad();
    a.name = 'a';
    const k = f64([3, 4]);
    const y = V.sum(V.exp(V.mul(a, k)));
    const dot = V.toDot(y);
    expect(dot.startsWith('digraph viar {')).toBe(true);
    expect(dot).toContain('label="a\\n[2] float64\\nrequires grad"');
    expect(dot).toContain('label="[2] float64\\nconstant"');
    expect(dot).toContain('label="mul\\n→ [2] float64\\nsaves x0, x1"');
    expect(dot).toContain('label="exp\\n→ [2] float64\\nsaves out"');
    expect(dot).toMatch(/label="sum\\naxes=\[0\] keepdims=false\\n→ \[\] float64\\nsaves nothing", peripheries=2/);
    // 2 edges into mul (the constant dashed), 1 into exp, 1 into sum
    expect(dot.match(/ -> /g)).toHaveLength(4);
    expect(dot.match(/style=dashed/g)).toHaveLength(1);
  });

  test('a tensor used twice is one node with two edges; backward marks saved tensors freed', () => {
    const x = f64([0.5]).requireGrad();
    const y = V.mul(x, x);
    const before = V.toDot(y);
    expect(before.match(/shape=ellipse/g)).toHaveLength(1);
    expect(before.match(/ -> /g)).toHaveLength(2);
    y.backward();
    expect(V.toDot(y)).toContain('saved: (freed by backward)');
  });

  test('the text depends only on the graph (ids count from 0 in each printout)', () => {
    const build = () => V.tanh(V.add(V.mul(f64([1, 2]).requireGrad(), 3), f64([0, 1])));
    expect(V.toDot(build())).toBe(V.toDot(build()));
  });

  test('{ values: true } shows small tensors\' data and the leaves\' grad, as micrograd\'s draw_dot', () => {
    const a = f64([2, -1]).requireGrad();
    a.name = 'a';
    const y = V.sum(V.mul(a, a));
    expect(V.toDot(y)).not.toContain('data [');
    y.backward();
    const dot = V.toDot(y, { values: true });
    expect(dot).toContain('label="a\\n[2] float64\\nrequires grad\\ndata [2, -1]\\ngrad [4, -2]"');
    expect(dot).toContain('→ [] float64\\ndata [5]');
    const big = V.toDot(V.sum(V.mul(f64(Array.from({ length: 9 }, (_, i) => i)).requireGrad(), 2)), { values: true });
    expect(big).toContain('→ [] float64\\ndata [72]');
    expect(big).not.toContain('data [0, 1');
  });

  test('a leaf alone prints as one ellipse', () => {
    const dot = V.toDot(f64([1]));
    expect(dot.match(/shape=/g)).toHaveLength(1);
    expect(dot).not.toContain('->');
  });
});
