// captureGradients: a scalar loss's forward and backward pass recorded once (captureGraph) and replayed, with the
// parameters' current values copied in at every run, so that an optimizer may replace them between runs.

import { Tensor } from '../tensor/tensor.js';
import { captureGraph } from '../tensor/capture.js';
import { ArgumentError, GradError, fmtShape } from '../tensor/errors.js';
import { detach } from '../tensor/ops/movement.js';
import { enableGrad } from '../tensor/graph/grad-mode.js';
import { gradients } from './backward.js';

/** A recorded loss and its gradients: `run` replays them on new inputs and the parameters' current values. */
export interface CapturedGradients {
  /**
   * loss(...inputs), its gradient with respect to each parameter and the loss function's auxiliary outputs (fresh
   * tensors the caller owns; no graph).
   */
  run(...inputs: Tensor[]): { loss: Tensor; grads: Tensor[]; aux: Tensor[] };
  /** Kernels and copies in the recording (0 where the backend runs eagerly). */
  readonly steps: number;
  /** Frees the recording and the device memory it pinned. */
  dispose(): void;
}

/**
 * Records the forward and backward pass of `loss` on `exampleInputs` once; each `run` replays it on new inputs with
 * the parameters' values at that moment. loss must issue the same kernels on every call: fixed shapes, no reads, and
 * random draws passed as inputs (a recording replays the values drawn while it was made). The parameters keep their
 * values; their .grad is left alone (an optimizer step takes the returned gradients). loss may also return
 * { loss, aux }: tensors computed on the way (an accuracy), returned by every run. On backends without recording (cpu)
 * `run` simply runs the pass.
 * @example
 * const step = captureGradients((x, y) => crossEntropy(model.forward(x), y), model.parameters(), [x, y]);
 * const { loss, grads } = step.run(x, y);
 * model.parameters().forEach((p, i) => { p.grad = grads[i]!; });
 * opt.step(); opt.zeroGrad();
 */
export function captureGradients(
  loss: (...inputs: Tensor[]) => Tensor | { loss: Tensor; aux: Tensor[] }, params: readonly Tensor[], exampleInputs: readonly Tensor[],
): CapturedGradients {
  if (typeof loss !== 'function') throw new ArgumentError('captureGradients', `loss must be a function, got ${typeof loss}`);
  if (!Array.isArray(params) || params.length === 0) throw new ArgumentError('captureGradients', 'params must be a non-empty array of tensors');
  params.forEach((p, i) => {
    p.assertAlive('captureGradients', `params[${i}]`);
    if (!p.requiresGrad || !p.isLeaf) throw new GradError('captureGradients', `params[${i}] (shape ${fmtShape(p.shape)}) is not a leaf that requires grad`);
  });
  const n = exampleInputs.length;
  let auxCount = 0;
  const graph = captureGraph((...all: Tensor[]) => {
    // each parameter reads its slot, which every run fills with the parameter's value at that moment
    params.forEach((p, i) => { if (all[n + i] !== p) p.assign(all[n + i]!); });
    const out = enableGrad(() => loss(...all.slice(0, n)));
    const value = out instanceof Tensor ? out : out?.loss;
    const aux = out instanceof Tensor ? [] : out?.aux ?? [];
    if (value?.size !== 1) throw new GradError('captureGradients', `loss must return a scalar (or { loss, aux }), got shape ${value ? fmtShape(value.shape) : String(value)}`);
    auxCount = aux.length;
    return [detach(value), ...aux.map(detach), ...gradients(value, params)];
  }, [...exampleInputs, ...params]);
  return {
    get steps() { return graph.steps; },
    run: (...inputs: Tensor[]) => {
      const [value, ...rest] = graph.run(...inputs, ...params);
      return { loss: value!, aux: rest.slice(0, auxCount), grads: rest.slice(auxCount) };
    },
    dispose: () => graph.dispose(),
  };
}
