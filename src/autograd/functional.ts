// Function transforms in the JAX style: grad, valueAndGrad and vjp return gradients instead of filling .grad.

import type { Tensor } from '../tensor/tensor.js';
import { GradError, fmtShape } from '../tensor/errors.js';
import { keep, tidy } from '../tensor/memory.js';
import { detach } from '../tensor/ops/movement.js';
import { checkTensor } from '../tensor/ops/operands.js';
import { enableGrad } from '../tensor/graph/grad-mode.js';
import { gradients, type BackwardOptions } from './backward.js';

type TensorFn = (...xs: Tensor[]) => Tensor;

function leavesOf(xs: readonly Tensor[], op: string): Tensor[] {
  return xs.map((x, i) => {
    const t = checkTensor(x, op, `xs[${i}]`);
    if (t.dtype === 'int32') throw new GradError(op, `argument ${i} is int32; only float inputs can be differentiated`);
    return detach(t).requireGrad();
  });
}

/**
 * valueAndGrad(f)(...xs) → { value, grads }: f's scalar output and its gradient with respect to every argument.
 * The inputs are treated as fresh leaves; nothing else's .grad changes.
 * @example const { value, grads: [dw] } = valueAndGrad((w) => loss(w, x))(w);
 */
export function valueAndGrad(f: TensorFn, opts: BackwardOptions = {}): (...xs: Tensor[]) => { value: Tensor; grads: Tensor[] } {
  return (...xs) => tidy(() => {
    const leaves = leavesOf(xs, 'valueAndGrad');
    const value = enableGrad(() => f(...leaves));
    checkTensor(value, 'valueAndGrad', 'the output of f');
    if (value.size !== 1) throw new GradError('valueAndGrad', `f must return a scalar, got shape ${fmtShape(value.shape)}`);
    const grads = gradients(value, leaves, undefined, opts);
    return { value: opts.createGraph ? value : detach(value), grads };
  });
}

/** grad(f)(...xs) → the gradient of scalar f with respect to each argument. */
export function grad(f: TensorFn, opts: BackwardOptions = {}): (...xs: Tensor[]) => Tensor[] {
  const vg = valueAndGrad(f, opts);
  return (...xs) => {
    const { value, grads } = vg(...xs);
    value.dispose();
    return grads;
  };
}

export interface VjpResult {
  output: Tensor;
  /** Maps a cotangent of output's shape to one cotangent per input; may be called repeatedly. */
  pullback: (cotangent: Tensor) => Tensor[];
}

/**
 * Runs f and returns its output with a reusable pullback (vector-Jacobian product).
 * The graph lives as long as `output` is not disposed.
 * @example const { output, pullback } = vjp((x) => matmul(a, x), x); const [gx] = pullback(u);
 */
export function vjp(f: TensorFn, ...xs: Tensor[]): VjpResult {
  const leaves = leavesOf(xs, 'vjp');
  const output = enableGrad(() => f(...leaves));
  checkTensor(output, 'vjp', 'the output of f');
  keep(output);
  return {
    output,
    pullback: (cotangent) => gradients(output, leaves, [cotangent], { retainGraph: true }),
  };
}
