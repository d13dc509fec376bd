// The solvers are written once, as generators that yield "read these values" requests; a driver answers them.
// runSync reads with dataSync (the CPU), runAsync with await data() (any backend, WebGPU included). Between two
// requests a generator runs synchronously, so no tidy scope or grad mode ever spans an await.

import type { Tensor } from '../../tensor/tensor.js';
import { ArgumentError } from '../../tensor/errors.js';

/**
 * A request to read one tensor's values. `optional` reads (traces nobody decides on) are skipped by the
 * synchronous driver on a backend that cannot read synchronously; the generator then receives null.
 */
export interface ReadRequest {
  tensor: Tensor;
  optional: boolean;
}

export type Solving<T> = Generator<ReadRequest, T, Float64Array | null>;

/** Reads `t` (required: the algorithm decides on it). */
export function* read(t: Tensor): Solving<Float64Array> {
  const values = yield { tensor: t, optional: false };
  return values!;
}

/** Reads `t` if the driver can (statistics only); null otherwise. */
export function* readIfPossible(t: Tensor): Solving<Float64Array | null> {
  return yield { tensor: t, optional: true };
}

/** Runs `gen` to completion with synchronous reads. */
export function runSync<T>(gen: Solving<T>): T {
  let answer: Float64Array | null = null;
  for (;;) {
    const step = gen.next(answer);
    if (step.done) return step.value;
    const { tensor, optional } = step.value;
    if (!tensor.backend.canReadSync) {
      if (optional) { answer = null; continue; }
      const err = new ArgumentError('fixedPoint', `the ${tensor.backend.name} backend reads asynchronously and this solve decides on residuals: use await fixedPointAsync(f, inputs, options) (same options and result), or a solve that reads nothing (solver 'picard' or 'broyden' with tol: 0, relTol: 0, stagnationWindow: 0, divergenceFactor: Infinity, returnIterate: 'last')`);
      gen.throw(err);
      throw err; // unreachable: the generator rethrows after its cleanup
    }
    try {
      answer = Float64Array.from(tensor.dataSync());
    } catch (err) {
      gen.throw(err);
      throw err;
    }
  }
}

/** Runs `gen` to completion with asynchronous reads (one await per request). */
export async function runAsync<T>(gen: Solving<T>): Promise<T> {
  let answer: Float64Array | null = null;
  for (;;) {
    const step = gen.next(answer);
    if (step.done) return step.value;
    try {
      answer = Float64Array.from(await step.value.tensor.data());
    } catch (err) {
      gen.throw(err);
      throw err;
    }
  }
}
