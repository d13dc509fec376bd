// defineOp: the one place an op's forward and its VJP meet. Applying an op runs the forward without
// recording, then (if grad is on and an input requires grad) records a GradNode with what the VJP saved.
// The recorder lives in the tensor layer because every op records as it runs; src/autograd consumes the graph.

import { Tensor, makeSavedAlias, makeView, tensorIdWatermark } from '../tensor.js';
import { GradNode, type Vjp } from './node.js';
import { isGradEnabled, noGrad } from './grad-mode.js';

export interface OpDefinition<A> {
  /** Public op name, used in errors and as the node's label. */
  name: string;
  /**
   * Computes the output from live inputs (run without recording). May also return extra tensors for the VJP
   * as `saved`: these must be graph-internal aliases (makeSavedAlias), which the node disposes when freed.
   */
  forward: (inputs: readonly Tensor[], attrs: A) => Tensor | { output: Tensor; saved: Tensor[] };
  /** The VJP; omit for non-differentiable ops (their outputs never require grad). */
  vjp?: Vjp<A>;
  /** Inputs the VJP reads: true for all, or their positions. */
  saveInputs?: boolean | readonly number[];
  /** Whether the VJP reads the output (e.g. exp, tanh, sigmoid). */
  saveOutput?: boolean;
}

export type AppliedOp<A> = (inputs: readonly Tensor[], attrs: A) => Tensor;

export function defineOp<A = undefined>(def: OpDefinition<A>): AppliedOp<A> {
  const apply: AppliedOp<A> = (inputs, attrs) => {
    inputs.forEach((t, i) => t.assertAlive(def.name, inputs.length === 1 ? 'x' : `input ${i}`));
    const firstNew = tensorIdWatermark();
    const result = noGrad(() => def.forward(inputs, attrs));
    let out = result instanceof Tensor ? result : result.output;
    // A forward may hand back a tensor that existed before it ran (an input, or one it closed over), or one with a
    // graph: record on a fresh view of it, so the original keeps its own node (or stays a leaf).
    if (out.node !== null || out.id < firstNew) out = makeView(out, out.shape, out.strides, out.offset);
    const extra = result instanceof Tensor ? [] : result.saved;
    const needs = inputs.map((t) => t.requiresGrad);
    if (!def.vjp || !isGradEnabled() || !needs.some(Boolean)) {
      for (const t of extra) t.dispose();
      return out;
    }
    const save = def.saveInputs ?? false;
    const vjp = def.vjp;
    const node = new GradNode({
      op: def.name,
      inputs,
      needs,
      attrs,
      vjp: (gy, ctx) => vjp(gy, { ...ctx, attrs }),
      savedInputs: inputs.map((t, i) => (save === true || (Array.isArray(save) && save.includes(i)) ? makeSavedAlias(t, t.node) : null)),
      savedExtra: extra,
    });
    // The output becomes a recorded result: attach the node (the output tensor holds one reference).
    out.node = node;
    node.incRef();
    if (def.saveOutput) node.setSavedOutput(makeSavedAlias(out, node));
    return out;
  };
  Object.defineProperty(apply, 'name', { value: def.name });
  return apply;
}
