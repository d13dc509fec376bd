// captureGraph: run a fixed-shape function once while the backend records its kernels, then replay the recording for
// new inputs without running the ops again (the analogue of CUDA graphs). Backends that run eagerly just call fn.

import type { ReplayPlan } from './backend/backend.js';
import { getBackend } from './backend/registry.js';
import { ArgumentError } from './errors.js';
import { keep, tidy } from './memory.js';
import { fromDataId, type Tensor } from './tensor.js';

/** A captured function: `run` computes fn on new inputs of the example inputs' shapes and dtypes. */
export interface CapturedGraph<Out extends Tensor | Tensor[]> {
  /** fn(...inputs), replayed: fresh tensors the caller owns (no autograd graph: gradients do not flow through a replay). */
  run(...inputs: Tensor[]): Out;
  /** Kernels and copies in the recording (0 where the backend runs eagerly and `run` calls fn). */
  readonly steps: number;
  /** Frees the recording and the buffers it pinned. */
  dispose(): void;
}

function fresh(t: Tensor): Tensor {
  return fromDataId(t.backend, t.backend.copy(t.info(), t.dtype), t.shape, t.dtype);
}

/**
 * Captures `fn` on `exampleInputs`. fn must issue the same kernels for every input of these shapes: no reads of
 * values, no data-dependent control flow. Everything fn reads other than its arguments (weights, masks, constants, and
 * random numbers drawn on the host) is captured by value, as it was during the capture: pass what changes between
 * calls as an argument. On backends without recording (cpu) `run` simply calls fn.
 * @example
 * const step = captureGraph((z, x) => f(z, x), [z0, x]);   // one implicit iteration
 * let z = z0; for (let t = 0; t < 8; t++) { const next = step.run(z, x); z.dispose(); z = next; }
 */
export function captureGraph<Out extends Tensor | Tensor[]>(fn: (...inputs: Tensor[]) => Out, exampleInputs: readonly Tensor[]): CapturedGraph<Out> {
  if (typeof fn !== 'function') throw new ArgumentError('captureGraph', `fn must be a function, got ${typeof fn}`);
  if (!Array.isArray(exampleInputs)) throw new ArgumentError('captureGraph', 'exampleInputs must be an array of tensors');
  exampleInputs.forEach((t, i) => t.assertAlive('captureGraph', `exampleInputs[${i}]`));
  const backend = exampleInputs[0]?.backend ?? getBackend();
  const capture = backend.capture;
  if (!capture) return { steps: 0, run: (...inputs) => fn(...inputs), dispose: () => {} };

  // private contiguous slots: replays copy new inputs into them, never into a caller's tensor
  const slots = exampleInputs.map((t) => keep(fresh(t)));
  capture.begin();
  let outputs: Tensor[];
  let single: boolean;
  try {
    const result = tidy(() => fn(...slots));
    single = !Array.isArray(result);
    outputs = (single ? [result as Tensor] : result as Tensor[]).map((t) => keep(t));
  } catch (e) {
    try { capture.end().dispose(); } catch { /* the error of fn is the one to report */ }
    for (const s of slots) s.dispose();
    throw e;
  }
  let plan: ReplayPlan;
  try {
    plan = capture.end();
  } catch (e) {
    for (const t of [...slots, ...outputs]) t.dispose();
    throw e;
  }

  const check = (inputs: Tensor[]) => {
    if (inputs.length !== slots.length) throw new ArgumentError('captureGraph.run', `expected ${slots.length} inputs (as captured), got ${inputs.length}`);
    inputs.forEach((t, i) => {
      t.assertAlive('captureGraph.run', `inputs[${i}]`);
      const s = slots[i]!;
      if (t.dtype !== s.dtype || t.shape.length !== s.shape.length || t.shape.some((d, k) => d !== s.shape[k])) {
        throw new ArgumentError('captureGraph.run', `inputs[${i}] has shape [${t.shape.join(', ')}] ${t.dtype}, captured with [${s.shape.join(', ')}] ${s.dtype}`);
      }
      if (t.backend !== backend) throw new ArgumentError('captureGraph.run', `inputs[${i}] lives on the '${t.backend.name}' backend, the graph on '${backend.name}'`);
    });
  };
  let disposed = false;
  return {
    get steps() { return plan.steps; },
    run: (...inputs: Tensor[]) => {
      if (disposed) throw new ArgumentError('captureGraph.run', 'the captured graph was disposed');
      check(inputs);
      inputs.forEach((t, i) => {
        const contiguous = t.isContiguous && t.offset === 0;
        const source = contiguous ? t : fresh(t);
        capture.copyInto(source.dataId, slots[i]!.dataId);
        if (!contiguous) source.dispose();
      });
      capture.replay(plan);
      const copies = outputs.map(fresh);
      return (single ? copies[0] : copies) as Out;
    },
    dispose: () => {
      if (disposed) return;
      disposed = true;
      for (const t of [...slots, ...outputs]) t.dispose();
      plan.dispose();
    },
  };
}
