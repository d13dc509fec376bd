// Maps with known Lipschitz constants (docs/notes/deq.md, generators) and small dense linear algebra for closed forms: the dense
// algebra is viar/testing's (one implementation); this file adds the tensor helpers the fixed-point tests share.

import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';

export { orthogonal, matmul, transpose, withSingularValues, symmetric, solve, identityMinus, l2, type Mat } from '../../src/testing/linalg.js';

export function f64(values: number[] | number[][], shape?: number[]): Tensor {
  const flat = (values as number[][]).flat ? (values as number[][]).flat() : (values as number[]);
  return V.tensor(flat as number[], { dtype: 'float64', shape: shape ?? (Array.isArray(values[0]) ? [values.length, (values[0] as number[]).length] : [values.length]) });
}

/** The linear map z ↦ z Wᵀ + b on rows (each sample z_b ↦ W z_b + b). */
export function linearMap(W: Tensor) {
  return (z: Tensor, b: Tensor) => V.add(V.matmul(z, V.transpose(W)), b);
}
