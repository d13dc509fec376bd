// Every op-table error case throws a ViarError whose message names the op, the argument and the shapes.

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import { OPS } from './op-db.js';

const cases = OPS.flatMap((e) => (e.errors ?? []).map((c) => ({ op: e.name, ...c })));

describe('op error messages', () => {
  test.each(cases)('$op: $label', ({ run, message }) => {
    V.tidy(() => {
      let thrown: unknown;
      try {
        run();
      } catch (err) {
        thrown = err;
      }
      expect(thrown, 'expected an error').toBeInstanceOf(V.ViarError);
      expect((thrown as Error).message).toMatch(message);
    });
  });

  test('every op with inputs rejects a disposed tensor, naming the op', () => {
    const x = V.ones([2, 2]);
    x.dispose();
    expect(() => V.exp(x)).toThrow(/^exp: argument 'x' \(tensor #\d+, shape \[2, 2\]\) was disposed/);
    expect(() => V.add(x, 1)).toThrow(/^add: argument 'a' .* was disposed/);
    expect(() => V.matmul(V.ones([2, 2]), x)).toThrow(/^matmul: argument 'b' .* was disposed/);
    expect(() => x.dataSync()).toThrow(/^dataSync: .* was disposed/);
  });

  test('a non-tensor argument is named', () => {
    expect(() => V.exp([1, 2] as never)).toThrow(/^exp: argument 'x' must be a Tensor, got an array/);
    expect(() => V.add(1, 2)).toThrow(/^add: at least one operand must be a Tensor/);
  });

  test('random ops need an explicit generator', () => {
    expect(() => V.randn([2], undefined as never)).toThrow(/^randn: needs an explicit Rng/);
  });
});
