// customVjp: a user-defined differentiable function with a hand-written backward rule (JAX's custom_vjp).
// The contract is checked: one gradient (or null) per input, each of its input's shape and dtype.

import type { Tensor } from '../tensor/tensor.js';
import { makeSavedAlias } from '../tensor/tensor.js';
import { GradError, fmtShape } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import { checkTensor } from '../tensor/ops/operands.js';
import { defineOp } from '../tensor/graph/define-op.js';

export interface CustomVjpContext {
  /** Tensors the forward returned in `saved` (constants for the backward: not differentiated again). */
  saved: readonly Tensor[];
  /** needs[i]: input i requires a gradient; return null for the others to skip work. */
  needs: readonly boolean[];
  inputShapes: readonly (readonly number[])[];
}

export interface CustomVjpDefinition {
  /** Name used in errors and as the graph node's label. */
  name: string;
  /** Runs without recording; returns the output and whatever the backward needs. */
  forward: (...inputs: Tensor[]) => { output: Tensor; saved?: Tensor[] };
  /** Given the output gradient, returns exactly one gradient (or null) per input, using tensor ops. */
  backward: (gy: Tensor, ctx: CustomVjpContext) => readonly (Tensor | null)[];
}

/**
 * Wraps forward/backward into a differentiable function (JAX's custom_vjp, PyTorch's autograd.Function).
 * @example
 * const clip = customVjp({ name: 'clipGrad', forward: (x) => ({ output: clone(x) }),
 *                          backward: (g) => [clamp(g, -1, 1)] });
 */
export function customVjp(def: CustomVjpDefinition): (...inputs: Tensor[]) => Tensor {
  const op = defineOp<undefined>({
    name: def.name,
    forward: (inputs) => tidy(() => {
      const r = def.forward(...inputs);
      if (!r || typeof r !== 'object' || !(r.output as Tensor | undefined)?.isTensor) {
        throw new GradError(def.name, 'forward must return { output: Tensor, saved?: Tensor[] }');
      }
      const saved = (r.saved ?? []).map((t, i) => makeSavedAlias(checkTensor(t, def.name, `saved[${i}]`), null));
      return { output: r.output, saved };
    }),
    vjp: (gy, ctx) => {
      const grads = def.backward(gy, { saved: ctx.saved, needs: ctx.needs, inputShapes: ctx.inputShapes });
      if (!Array.isArray(grads) || grads.length !== ctx.needs.length) {
        throw new GradError(def.name, `backward returned ${Array.isArray(grads) ? grads.length : typeof grads} gradients for ${ctx.needs.length} inputs; return one per input (null where none)`);
      }
      grads.forEach((g, i) => {
        if (g === null) return;
        if (!(g as Tensor | undefined)?.isTensor) throw new GradError(def.name, `backward returned ${String(g)} for input ${i}; expected a Tensor or null`);
        const want = ctx.inputShapes[i]!;
        const shape = (g as Tensor).shape;
        if (shape.length !== want.length || shape.some((d, k) => d !== want[k])) {
          throw new GradError(def.name, `backward returned a gradient of shape ${fmtShape(shape)} for input ${i} of shape ${fmtShape(want)}`);
        }
      });
      return grads;
    },
  });
  return (...inputs) => op(inputs.map((t, i) => checkTensor(t, def.name, `inputs[${i}]`)), undefined);
}
