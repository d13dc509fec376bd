// Every differentiable op-table case: float64 gradcheck (central differences), broadcast and strided inputs included.

import { describe, test } from 'vitest';
import * as V from '../../src/index.js';
import { OPS } from './op-db.js';
import { makeInput } from '../helpers/inputs.js';

const differentiable = OPS.filter((e) => e.differentiable !== false && e.cases.length > 0);

describe.each(differentiable)('$name gradient', (entry) => {
  test.each(entry.cases.map((c, i) => ({ ...c, i, label: c.label ?? `case ${i}` })))('$label', (c) => {
    V.tidy(() => {
      const rng = new V.Rng(2000 + c.i);
      const inputs = c.inputs.map((s) => makeInput(s, 'float64', rng));
      const wrt = entry.gradWrt ?? inputs.map((_, i) => i).filter((i) => inputs[i]!.dtype === 'float64');
      V.assertGradcheck(entry.run, inputs, { wrt });
    });
  });
});
