// Every differentiable op-table case: float64 gradcheck (central differences), broadcast, strided and empty inputs
// included; special-value cases compare their VJP with the expected values instead.

import { describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import { OPS } from './op-db.js';
import { makeInput } from '../helpers/inputs.js';
import { expectClose, F64 } from '../helpers/close.js';

const differentiable = OPS.filter((e) => e.differentiable !== false && e.cases.length > 0);

describe.each(differentiable)('$name gradient', (entry) => {
  test.each(entry.cases.map((c, i) => ({ ...c, i, label: c.label ?? `case ${i}` })))('$label', (c) => {
    V.tidy(() => {
      const rng = new V.Rng(2000 + c.i);
      const inputs = c.inputs.map((s) => makeInput(s, 'float64', rng));
      const wrt = entry.gradWrt ?? inputs.map((_, i) => i).filter((i) => inputs[i]!.dtype === 'float64');
      if (!c.special) {
        V.assertGradcheck(entry.run, inputs, { wrt });
        return;
      }
      const { output, pullback } = V.vjp((...xs: V.Tensor[]) => entry.run(...inputs.map((x, i) => (wrt.includes(i) ? xs[wrt.indexOf(i)]! : x))), ...wrt.map((i) => inputs[i]!));
      const grads = pullback(V.onesLike(output));
      grads.forEach((g, k) => expect(g.shape, `gradient ${k} shape`).toEqual(inputs[wrt[k]!]!.shape));
      c.grads?.forEach((want, k) => expectClose(grads[k]!.dataSync(), want, F64, `${entry.name} gradient ${k}`));
    });
  });
});
