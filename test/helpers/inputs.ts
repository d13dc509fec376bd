// Builds op-table inputs as tensors (of a dtype) and as plain reference arrays with the same values.

import * as V from '../../src/index.js';
import type { Tensor, DType } from '../../src/index.js';
import type { InputSpec } from '../ops/op-db.js';
import type { Nd } from './reference.js';

export function makeInput(spec: InputSpec, dtype: DType, rng: V.Rng): Tensor {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const lo = spec.lo ?? -2, hi = spec.hi ?? 2;
  const values = Array.from({ length: n }, (_, i) => {
    if (spec.values) return spec.values[i % spec.values.length]!;
    if (spec.choices) return spec.choices[rng.int(0, spec.choices.length)]!;
    if (spec.int) return rng.int(lo, hi);
    return lo + (hi - lo) * rng.uniform();
  });
  const type = spec.int ? 'int32' : dtype;
  if (spec.transposed && spec.shape.length >= 2) {
    // store the values of the transpose contiguously, then view it transposed: same logical values, strided layout
    const r = spec.shape.length;
    const tShape = [...spec.shape];
    [tShape[r - 2], tShape[r - 1]] = [tShape[r - 1]!, tShape[r - 2]!];
    const logical = V.tensor(values, { dtype: type }).reshape(spec.shape);
    const base = V.contiguous(V.transpose(logical));
    const view = V.transpose(base);
    if (view.isContiguous) throw new Error('expected a non-contiguous view');
    return view;
  }
  return V.tensor(values, { dtype: type, shape: spec.shape });
}

export function toNd(t: Tensor): Nd {
  return { shape: [...t.shape], data: Array.from(t.dataSync()) };
}
