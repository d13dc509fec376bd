// gradcheck: compares the autograd gradient with central finite differences in float64 (PyTorch's defaults).
// The output is projected on a fixed random direction r, so one backward checks the whole VJP: ∂(Σ r·f)/∂x.

import { Tensor } from '../tensor/tensor.js';
import { DTypeError, GradError } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import { tensor } from '../tensor/creation.js';
import { Rng } from '../tensor/random.js';
import { mul, sum } from '../tensor/ops/index.js';
import { noGrad } from '../tensor/graph/grad-mode.js';
import { gradients } from './backward.js';
import { detach } from '../tensor/ops/movement.js';

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Tolerances: |analytic − numeric| ≤ atol + rtol·|numeric| (defaults 1e-5, 1e-3). */
  atol?: number;
  rtol?: number;
  /** Seed of the projection direction. */
  seed?: number;
  /** Which inputs to check (default: every float input). */
  wrt?: readonly number[];
}

export interface GradcheckMismatch {
  input: number;
  index: number;
  analytic: number;
  numeric: number;
}

export interface GradcheckResult {
  ok: boolean;
  maxAbsError: number;
  mismatches: GradcheckMismatch[];
}

/**
 * Checks f's gradients at `inputs` (float64 tensors). Returns a report; see assertGradcheck to throw instead.
 * @example gradcheck((a, b) => mul(a, b), [randn([3], rng, f64), randn([3], rng, f64)]).ok
 */
export function gradcheck(f: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckResult {
  const eps = opts.eps ?? 1e-6, atol = opts.atol ?? 1e-5, rtol = opts.rtol ?? 1e-3;
  const wrt = opts.wrt ?? inputs.map((_, i) => i).filter((i) => inputs[i]!.dtype !== 'int32');
  for (const i of wrt) {
    if (inputs[i]!.dtype !== 'float64') throw new DTypeError('gradcheck', `input ${i} is ${inputs[i]!.dtype}; gradcheck needs float64 inputs`);
  }
  return tidy(() => {
    const base = inputs.map((x) => Float64Array.from(x.dataSync()));
    const rebuild = (values: Float64Array[]): Tensor[] =>
      inputs.map((x, i) => (wrt.includes(i) ? tensor(values[i]!, { shape: x.shape, dtype: 'float64' }) : x));

    // analytic: gradient of L = Σ r ⊙ f(x)
    const leaves = rebuild(base).map((x, i) => (wrt.includes(i) ? detach(x).requireGrad() : x));
    const y0 = f(...leaves);
    if (!(y0 instanceof Tensor)) throw new GradError('gradcheck', 'f must return a Tensor');
    const rng = new Rng(opts.seed ?? 0);
    const r = tensor(Float64Array.from({ length: y0.size }, () => rng.uniform() * 2 - 1), { shape: y0.shape, dtype: y0.dtype });
    const projected = (y: Tensor): number => sum(mul(y, r)).item();
    const analytic = y0.requiresGrad
      ? gradients(sum(mul(y0, r)), wrt.map((i) => leaves[i]!)).map((g) => g.dataSync())
      : wrt.map((i) => new Float64Array(inputs[i]!.size));

    // numeric: central differences, one coordinate at a time
    const mismatches: GradcheckMismatch[] = [];
    let maxAbsError = 0;
    noGrad(() => {
      wrt.forEach((inputIndex, k) => {
        const values = base.map((v) => v.slice());
        const v = values[inputIndex]!;
        for (let j = 0; j < v.length; j++) {
          const orig = v[j]!;
          v[j] = orig + eps;
          const plus = tidy(() => projected(f(...rebuild(values))));
          v[j] = orig - eps;
          const minus = tidy(() => projected(f(...rebuild(values))));
          v[j] = orig;
          const numeric = (plus - minus) / (2 * eps);
          const a = analytic[k]![j]!;
          const err = Math.abs(a - numeric);
          if (!(err <= maxAbsError)) maxAbsError = Number.isNaN(err) ? NaN : Math.max(maxAbsError, err);
          if (!(err <= atol + rtol * Math.abs(numeric))) mismatches.push({ input: inputIndex, index: j, analytic: a, numeric });
        }
      });
    });
    return { ok: mismatches.length === 0, maxAbsError, mismatches };
  });
}

/** gradcheck that throws a GradError listing the first mismatches. */
export function assertGradcheck(f: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], opts: GradcheckOptions = {}): void {
  const r = gradcheck(f, inputs, opts);
  if (!r.ok) {
    const lines = r.mismatches.slice(0, 5).map((m) => `input ${m.input}[${m.index}]: analytic ${m.analytic}, numeric ${m.numeric}`);
    throw new GradError('gradcheck', `${r.mismatches.length} gradient entries differ from finite differences:\n  ${lines.join('\n  ')}`);
  }
}
