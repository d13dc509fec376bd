// Ordering and sampling ops: cumsum (with its reverse-scan VJP), topk (values differentiable through gather),
// and multinomial sampling from an explicit Rng.

import { defineOp } from '../graph/define-op.js';
import { Tensor, fromDataId } from '../tensor.js';
import { ArgumentError, ShapeError, fmtShape } from '../errors.js';
import { normalizeAxis } from '../shape.js';
import type { Rng } from '../random.js';
import { checkFloat, checkOptions, checkTensor } from './operands.js';
import { gather } from './indexing.js';
import { transpose } from './movement.js';

const cumsumOp = defineOp<{ axis: number; reverse: boolean }>({
  name: 'cumsum',
  forward: ([x], { axis, reverse }) => fromDataId(x!.backend, x!.backend.cumsum(x!.info(), axis, reverse), x!.shape, x!.dtype),
  // yᵢ = Σ_{j≤i} xⱼ, so ḡxⱼ = Σ_{i≥j} ḡyᵢ: a cumsum in the opposite direction
  vjp: (gy, { attrs: { axis, reverse } }) => [cumsum(gy, axis, { reverse: !reverse })],
});

/** Running sum along `axis` (from the end when reverse). */
export function cumsum(x: Tensor, axis: number, opts: { reverse?: boolean } = {}): Tensor {
  const t = checkTensor(x, 'cumsum');
  checkOptions(opts, 'cumsum');
  return cumsumOp([t], { axis: normalizeAxis(axis, t.rank, 'cumsum'), reverse: opts.reverse ?? false });
}

export interface TopK {
  values: Tensor;
  /** int32 positions along the axis. */
  indices: Tensor;
}

/**
 * The k largest (or smallest) entries along `axis`, sorted; ties keep the lower index first.
 * Values are differentiable (they are a gather of x).
 */
export function topk(x: Tensor, k: number, opts: { axis?: number; largest?: boolean } = {}): TopK {
  const t = checkTensor(x, 'topk');
  checkOptions(opts, 'topk');
  if (t.rank === 0) throw new ShapeError('topk', 'needs rank ≥ 1, got a scalar');
  const axis = normalizeAxis(opts.axis ?? -1, t.rank, 'topk');
  const n = t.shape[axis]!;
  if (!Number.isInteger(k) || k < 0 || k > n) throw new ArgumentError('topk', `k = ${k} is out of range for dimension ${axis} of size ${n}`);
  const last = t.rank - 1;
  const moved = axis === last ? t : transpose(t, axis, last);
  const idShape = [...moved.shape.slice(0, -1), k];
  const movedIdx = fromDataId(t.backend, t.backend.topkIndices(moved.info(), k, opts.largest ?? true), idShape, 'int32');
  const indices = axis === last ? movedIdx : transpose(movedIdx, axis, last);
  return { values: gather(t, axis, indices), indices };
}

/**
 * Draws `numSamples` category indices per row of non-negative weights `probs` ([n] or [rows, n]; rows need not sum to 1)
 * by inverse CDF. `draws` is an Rng (rows·numSamples uniforms drawn on the host, row-major) or those uniforms as a
 * float tensor of rows·numSamples values in [0, 1) on the probs' backend (for captured graphs, which cannot draw).
 * @example multinomial(softmax(logits), 1, rng)   // [B, V] → [B, 1] int32
 */
export function multinomial(probs: Tensor, numSamples: number, draws: Rng | Tensor, opts: { replacement?: boolean } = {}): Tensor {
  const p = checkTensor(probs, 'multinomial', 'probs');
  checkFloat(p, 'multinomial', 'probs');
  if (p.rank !== 1 && p.rank !== 2) throw new ShapeError('multinomial', `probs must be 1-D or 2-D, got ${fmtShape(p.shape)}`);
  const given = draws instanceof Tensor;
  if (!given && (!draws || typeof (draws as Rng).uniform !== 'function')) throw new ArgumentError('multinomial', 'needs an explicit Rng (or a tensor of uniforms) as its draws argument');
  const n = p.shape[p.rank - 1]!;
  const replacement = opts.replacement ?? false;
  if (!Number.isInteger(numSamples) || numSamples < 1) throw new ArgumentError('multinomial', `numSamples must be a positive integer, got ${numSamples}`);
  if (!replacement && numSamples > n) throw new ArgumentError('multinomial', `cannot draw ${numSamples} samples without replacement from ${n} categories`);
  const rows = p.rank === 1 ? 1 : p.shape[0]!;
  if (given) {
    const u = checkTensor(draws, 'multinomial', 'draws');
    checkFloat(u, 'multinomial', 'draws');
    if (u.size !== rows * numSamples) throw new ShapeError('multinomial', `draws must hold rows·numSamples = ${rows * numSamples} uniforms, got ${fmtShape(u.shape)}`);
    if (u.backend !== p.backend) throw new ArgumentError('multinomial', `draws live on the '${u.backend.name}' backend, probs on '${p.backend.name}'`);
  }
  if (p.backend.canReadSync) {
    const v = p.dataSync();
    for (let r = 0; r < rows; r++) {
      let total = 0;
      for (let i = 0; i < n; i++) {
        const w = v[r * n + i]!;
        if (!(w >= 0) || w === Infinity) throw new ArgumentError('multinomial', `probs must be finite and non-negative, got ${w} in row ${r}`);
        total += w;
      }
      if (total <= 0) throw new ArgumentError('multinomial', `row ${r} of probs sums to 0`);
    }
  }
  const shape = p.rank === 1 ? [numSamples] : [rows, numSamples];
  const uniforms = given ? draws : hostUniforms(p, rows * numSamples, draws);
  try {
    return fromDataId(p.backend, p.backend.multinomial(p.info(), numSamples, replacement, uniforms.info()), shape, 'int32');
  } finally {
    if (!given) uniforms.dispose();
  }
}

/** `count` uniforms from `rng`, as a tensor on probs' backend (float64 beside float64 probs, else float32). */
function hostUniforms(p: Tensor, count: number, rng: Rng): Tensor {
  const values = p.dtype === 'float64' ? new Float64Array(count) : new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = rng.uniform();
  return fromDataId(p.backend, p.backend.write(values), [count], p.dtype);
}
