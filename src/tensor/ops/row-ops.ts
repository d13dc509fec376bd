// Fused row-wise primitives over the last axis: softmax, row normalization (the core of layerNorm/groupNorm)
// and tanh-GELU. Each forward is one kernel; each VJP is one fused kernel, except while a graph of the
// gradient itself is being built (createGraph), when it is written with differentiable ops instead.

import { defineOp } from '../graph/define-op.js';
import { isGradEnabled } from '../graph/grad-mode.js';
import { Tensor, fromDataId, makeSavedAlias } from '../tensor.js';
import { add, mul, rsqrt, sub, tanh } from './elementwise.js';
import { sum } from './reduce.js';

function rowsOf(x: Tensor): { rows: number; n: number } {
  const n = x.rank === 0 ? 1 : x.shape[x.rank - 1]!;
  return { rows: n === 0 ? 0 : x.size / n, n };
}

/** softmax over the last axis. */
export const softmaxLastAxis = defineOp<undefined>({
  name: 'softmax',
  forward: ([x]) => {
    const { rows, n } = rowsOf(x!);
    return fromDataId(x!.backend, x!.backend.softmaxRows(x!.info(), rows, n), x!.shape, x!.dtype);
  },
  saveOutput: true,
  // dy = y ⊙ (dz − ⟨dz, y⟩) per row, from ∂yᵢ/∂xⱼ = yᵢ(δᵢⱼ − yⱼ)
  vjp: (gy, { output }) => {
    const y = output!;
    if (isGradEnabled()) return [mul(y, sub(gy, sum(mul(gy, y), -1, true)))];
    const { rows, n } = rowsOf(y);
    return [fromDataId(y.backend, y.backend.softmaxRowsBackward(y.info(), gy.info(), rows, n), y.shape, y.dtype)];
  },
});

/** (x − mean)/√(var + eps) over the last axis (population variance). */
export const normalizeLastAxis = defineOp<{ eps: number }>({
  name: 'normalize',
  forward: ([x], { eps }) => {
    const { rows, n } = rowsOf(x!);
    const [xhatId, rstdId] = x!.backend.normalizeRows(x!.info(), rows, n, eps);
    const rstd = fromDataId(x!.backend, rstdId, [...x!.shape.slice(0, -1), 1], x!.dtype);
    const saved = makeSavedAlias(rstd, null);
    rstd.dispose();
    return { output: fromDataId(x!.backend, xhatId, x!.shape, x!.dtype), saved: [saved] };
  },
  saveInputs: true,
  saveOutput: true,
  // x̂ = (x − μ)r, r = (σ² + ε)^(-1/2): dx = r·(dx̂ − mean(dx̂) − x̂·mean(dx̂ ⊙ x̂))
  vjp: (gy, { inputs, output, saved, attrs }) => {
    const xhat = output!, rstd = saved[0]!;
    if (isGradEnabled()) {
      // Building a graph of the gradient: recompute μ, r and x̂ from x with differentiable ops.
      // r = 1/√(σ² + ε) = rstd·(s/s) with s = 1/rstd held constant: the squares are taken of (x − μ)·rstd, which
      // cannot overflow where σ² would (the forward kernel's scaled moments), and the value is unchanged
      const x = inputs[0]!, n = x.shape[x.rank - 1]!;
      const centered = sub(x, mul(sum(x, -1, true), 1 / n));
      const scaled = mul(centered, rstd);
      const r = mul(rsqrt(add(mul(sum(mul(scaled, scaled), -1, true), 1 / n), mul(mul(rstd, rstd), attrs.eps))), rstd);
      const xh = mul(centered, r);
      const meanG = mul(sum(gy, -1, true), 1 / n);
      const meanGX = mul(sum(mul(gy, xh), -1, true), 1 / n);
      return [mul(r, sub(sub(gy, meanG), mul(xh, meanGX)))];
    }
    const { rows, n } = rowsOf(xhat);
    return [fromDataId(xhat.backend, xhat.backend.normalizeRowsBackward(xhat.info(), rstd.info(), gy.info(), rows, n), xhat.shape, xhat.dtype)];
  },
});

const GELU_C = Math.sqrt(2 / Math.PI);

/** ½x(1 + tanh(c(x + 0.044715x³))), c = √(2/π), elementwise. */
export const geluTanhOp = defineOp<undefined>({
  name: 'geluTanh',
  forward: ([x]) => fromDataId(x!.backend, x!.backend.unary('geluTanh', x!.info()), x!.shape, x!.dtype),
  saveInputs: true,
  // d/dx = ½(1 + t) + ½x(1 − t²)·c(1 + 3·0.044715x²), t = tanh(c(x + 0.044715x³))
  vjp: (gy, { inputs }) => {
    const x = inputs[0]!;
    if (isGradEnabled()) {
      const x2 = mul(x, x);
      const t = tanh(mul(add(x, mul(mul(x2, x), 0.044715)), GELU_C));
      const dt = mul(sub(1, mul(t, t)), mul(add(mul(x2, 3 * 0.044715), 1), GELU_C));
      return [mul(gy, add(mul(add(t, 1), 0.5), mul(mul(x, dt), 0.5)))];
    }
    const d = fromDataId(x.backend, x.backend.unary('geluTanhGrad', x.info()), x.shape, x.dtype);
    return [mul(gy, d)];
  },
});
