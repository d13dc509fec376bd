// Every op-table case: the CPU backend's forward against the naive reference, in float32 and float64
// (special-value cases included: NaN must meet NaN and ±∞ the same ∞).

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import { OPS } from './op-db.js';
import { makeInput, toNd } from '../helpers/inputs.js';
import { expectClose, F32, F64 } from '../helpers/close.js';

describe.each(OPS.filter((e) => e.cases.length > 0))('$name forward', (entry) => {
  test.each(entry.cases.map((c, i) => ({ ...c, i, label: c.label ?? `case ${i}` })))('$label', (c) => {
    for (const dtype of c.float64Only ? ['float64'] as const : ['float32', 'float64'] as const) {
      V.tidy(() => {
        const rng = new V.Rng(1000 + c.i);
        const inputs = c.inputs.map((s) => makeInput(s, dtype, rng));
        const out = entry.run(...inputs);
        const expected = entry.ref(...inputs.map(toNd));
        expect(out.shape, `${dtype} shape`).toEqual(expected.shape);
        // the double-precision reference rounded to float32 where the op runs in it (so an overflow is ∞ on both sides)
        const want = dtype === 'float32' ? expected.data.map(Math.fround) : expected.data;
        expectClose(out.dataSync(), want, dtype === 'float32' ? F32 : { ...F64, atol: 1e-9 }, `${entry.name} ${dtype}`);
      });
    }
  });
});
