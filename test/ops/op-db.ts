// The op table: one entry per public op, with sample inputs (broadcast and non-contiguous ones included),
// a naive reference, whether it is differentiable, and the error cases with the messages users see.
// forward.test.ts, gradients.test.ts and errors.test.ts are all driven from here.

import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import * as R from '../helpers/reference.js';
import type { Nd } from '../helpers/reference.js';

export interface InputSpec {
  shape: number[];
  /** Uniform range of float values (default [-2, 2]). */
  lo?: number;
  hi?: number;
  /** Draw values from this list instead (ties, zeros, masks). */
  choices?: number[];
  /** Exactly these values in order, repeated to fill the shape (special values: ±0, ±∞, NaN, denormals, huge). */
  values?: number[];
  /** int32 input in [lo, hi). */
  int?: boolean;
  /** Materialize as the transpose of a contiguous tensor, so the input is a non-contiguous view. */
  transposed?: boolean;
}

export interface OpCase {
  inputs: InputSpec[];
  label?: string;
  /**
   * Special values (±∞, NaN, ...) where finite differences mean nothing: no gradcheck; the VJP (cotangent of ones,
   * float64) is compared with `grads` when given, else only run.
   */
  special?: boolean;
  /** Expected float64 VJPs with a cotangent of ones, one array per gradWrt input (special cases). */
  grads?: number[][];
  /** Why the case runs in float64 only (e.g. values beyond float32's range); such cases skip the gpu backend too. */
  float64Only?: string;
  /** Why the gpu backend (float32 shader arithmetic) is not held to this case. */
  notOnGpu?: string;
}

export interface ErrorCase {
  label: string;
  run: () => unknown;
  message: RegExp;
}

export interface OpEntry {
  name: string;
  run: (...xs: Tensor[]) => Tensor;
  ref: (...xs: Nd[]) => Nd;
  cases: OpCase[];
  /** false for ops without a gradient (comparisons, argmax...). */
  differentiable?: boolean;
  /** Inputs to gradcheck (default: every float input). */
  gradWrt?: number[];
  errors?: ErrorCase[];
}

const f = (shape: number[], o: Omit<InputSpec, 'shape'> = {}): InputSpec => ({ shape, ...o });

/** An additive causal mask [Lq, Lk] for queries that are the last Lq of Lk positions (0 keeps, −∞ blocks). */
function causalMask(lq: number, lk: number, dtype: V.DType): Tensor {
  return V.tensor(Array.from({ length: lq * lk }, (_, n) => (n % lk > Math.floor(n / lk) + lk - lq ? -Infinity : 0)), { shape: [lq, lk], dtype });
}

/** softmax(q·kᵀ/√d + mask)·v, naively per output element. */
function attentionRef(q: Nd, k: Nd, v: Nd, causal: boolean): Nd {
  const [b, h, lq, d] = q.shape as [number, number, number, number], lk = k.shape[2]!, e = v.shape[3]!;
  return R.build([b, h, lq, e], ([bi, hi, i, c]) => {
    const s = Array.from({ length: lk }, (_, j) => {
      if (causal && j > i! + lk - lq) return -Infinity;
      let dot = 0;
      for (let t = 0; t < d; t++) dot += R.at(q, [bi!, hi!, i!, t]) * R.at(k, [bi!, hi!, j, t]);
      return dot / Math.sqrt(d);
    });
    const m = Math.max(...s), w = s.map((x) => Math.exp(x - m)), z = w.reduce((p, x) => p + x, 0);
    return w.reduce((p, x, j) => p + (x / z) * R.at(v, [bi!, hi!, j, c!]), 0);
  });
}

const pos = (shape: number[], o: Omit<InputSpec, 'shape'> = {}): InputSpec => ({ shape, lo: 0.5, hi: 2, ...o });
const idx = (shape: number[], hi: number): InputSpec => ({ shape, int: true, lo: 0, hi });

/** Signed zeros, ±∞, NaN, float64 denormals, huge and tiny magnitudes, ordinary values (float32 rounds some to 0/∞). */
export const SPECIAL_VALUES = [0, -0, 1, -1.5, 0.5, Infinity, -Infinity, NaN, 5e-324, -1e-310, 1e300, -1e300, 3, 1e-30];
/** The gpu backend is held to finite values only. */
const SHADER_SPECIALS = 'WGSL leaves NaN/±∞ arithmetic and denormals implementation-defined';

/** A special-value case: no gradcheck (see OpCase.special), not on the gpu backend. */
function special(inputs: InputSpec[], label: string, extra: Partial<OpCase> = {}): OpCase {
  return { inputs, label, special: true, notOnGpu: SHADER_SPECIALS, ...extra };
}
const sv = (shape: number[], values: number[] = SPECIAL_VALUES): InputSpec => ({ shape, values });

/** Standard samples for unary elementwise ops: scalar, vector, matrix, a non-contiguous view, a 4-D tensor, special values, empty. */
function unaryCases(spec: (shape: number[], o?: Omit<InputSpec, 'shape'>) => InputSpec = f): OpCase[] {
  return [
    { inputs: [spec([])], label: 'scalar' },
    { inputs: [spec([5])] },
    { inputs: [spec([3, 4], { transposed: true })], label: 'non-contiguous' },
    { inputs: [spec([2, 1, 3, 2])] },
    special([sv([SPECIAL_VALUES.length])], 'special values'),
    { inputs: [spec([0, 3])], label: 'empty' },
  ];
}

function unary(name: string, run: (x: Tensor) => Tensor, ref: (x: number) => number, spec = f, extra: Partial<OpEntry> = {}): OpEntry {
  return { name, run, ref: (x) => R.map(x, ref), cases: unaryCases(spec), ...extra };
}

const binaryCases = (spec = f, specB = spec): OpCase[] => [
  { inputs: [spec([4]), specB([4])] },
  { inputs: [spec([2, 3]), specB([3])], label: 'broadcast row' },
  { inputs: [spec([2, 1, 3]), specB([4, 1])], label: 'broadcast both' },
  { inputs: [spec([3, 4], { transposed: true }), specB([3, 4])], label: 'non-contiguous' },
  { inputs: [spec([]), specB([2, 2])], label: 'scalar tensor' },
  // every pair of special values (a as a column, b as a row)
  special([sv([SPECIAL_VALUES.length, 1]), sv([SPECIAL_VALUES.length])], 'special values'),
  { inputs: [spec([0, 3]), specB([3])], label: 'empty' },
  { inputs: [spec([2, 0]), specB([2, 1])], label: 'empty, broadcast' },
];

function binary(name: string, run: (a: Tensor, b: Tensor) => Tensor, ref: (a: number, b: number) => number, spec = f, specB = spec, extra: Partial<OpEntry> = {}): OpEntry {
  return {
    name, run, ref: (a, b) => R.zip(ref, a, b), cases: binaryCases(spec, specB),
    errors: [{
      label: 'incompatible shapes',
      run: () => run(V.zeros([2, 3]), V.zeros([4])),
      message: new RegExp(`^${name}: shapes \\[2, 3\\] \\(a\\) and \\[4\\] \\(b\\) cannot be broadcast`),
    }, {
      label: 'dtype mismatch',
      run: () => run(V.zeros([2]), V.zeros([2], { dtype: 'float64' })),
      message: new RegExp(`^${name}: dtype mismatch: a is float32, b is float64`),
    }],
    ...extra,
  };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const softplus = (x: number) => Math.log1p(Math.exp(-Math.abs(x))) + Math.max(x, 0);
const lse = (x: Nd, axis: number, keep: boolean): Nd => {
  // shifted by the max, or by 0 where that is ±∞ (so +∞ gives +∞ and a row of −∞ gives −∞, as PyTorch)
  const m = R.map(R.reduce(x, [axis], true, -Infinity, Math.max), (v) => (Math.abs(v) === Infinity ? 0 : v));
  const s = R.reduce(R.zip((a, b) => Math.exp(a - b), x, m), [axis], true, 0, (p, q) => p + q);
  const out = R.zip((a, b) => Math.log(a) + b, s, m);
  return keep ? out : { shape: out.shape.filter((_, i) => i !== (axis < 0 ? axis + x.shape.length : axis)), data: out.data };
};
const meanRef = (x: Nd, axes: number[] | undefined, keep: boolean): Nd => {
  const n = (axes ?? x.shape.map((_, i) => i)).reduce((p, a) => p * x.shape[a < 0 ? a + x.shape.length : a]!, 1);
  return R.map(R.reduce(x, axes, keep, 0, (p, q) => p + q), (v) => v / n);
};
const varRef = (x: Nd, axes: number[], correction: number): Nd => {
  const n = axes.reduce((p, a) => p * x.shape[a]!, 1);
  const m = meanRef(x, axes, true);
  const sq = R.zip((a, b) => (a - b) ** 2, x, m);
  return R.map(R.reduce(sq, axes, false, 0, (p, q) => p + q), (v) => v / Math.max(0, n - correction));
};
const ints = (t: Nd): number[] => t.data;
/** Ascending order with NaN as the largest value (PyTorch's sort and topk order). */
const ascendingNaNLast = (a: number, b: number): number => (Number.isNaN(a) ? (Number.isNaN(b) ? 0 : 1) : Number.isNaN(b) ? -1 : a === b ? 0 : a < b ? -1 : 1);
/** erf through the reference's integration, with its limits outside [-6, 6] (where it is ±1 in double precision). */
const erfRef = (x: number): number => (Number.isNaN(x) ? NaN : Math.abs(x) > 6 ? Math.sign(x) : R.erf(x));
/** C's pow (PyTorch's), which differs from JavaScript's ** at 1^NaN and (−1)^±∞: both are 1. */
const powRef = (a: number, b: number): number => (a === 1 || (a === -1 && Math.abs(b) === Infinity) ? 1 : a ** b);
/** log softmax along `axis` as (x − m) − log Σ exp(x − m), m the max, which keeps the precision of large x. */
const logSoftmaxRef = (x: Nd, axis: number): Nd => {
  const m = R.reduce(x, [axis], true, -Infinity, (p, q) => (Number.isNaN(p) ? p : Number.isNaN(q) || q > p ? q : p));
  const shifted = R.zip((a, b) => a - b, x, m);
  const s = R.reduce(R.map(shifted, Math.exp), [axis], true, 0, (p, q) => p + q);
  return R.zip((a, b) => a - Math.log(b), shifted, s);
};

const BASE: OpEntry[] = [
  // ---- unary elementwise ----
  unary('neg', V.neg, (x) => -x),
  unary('abs', V.abs, Math.abs),
  unary('exp', V.exp, Math.exp),
  unary('log', V.log, Math.log, pos, {
    errors: [{ label: 'int input', run: () => V.log(V.zeros([2], { dtype: 'int32' })), message: /^log: argument 'x' must be float32 or float64, got int32/ }],
  }),
  unary('sqrt', V.sqrt, Math.sqrt, pos),
  unary('rsqrt', V.rsqrt, (x) => 1 / Math.sqrt(x), pos),
  unary('sin', V.sin, Math.sin),
  unary('cos', V.cos, Math.cos),
  unary('tanh', V.tanh, Math.tanh),
  unary('sigmoid', V.sigmoid, sigmoid),
  unary('relu', V.relu, (x) => Math.max(x, 0)),
  unary('gelu', V.gelu, (x) => 0.5 * x * (1 + erfRef(x / Math.SQRT2))),
  unary('geluTanh', V.geluTanh, (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)))),
  unary('silu', V.silu, (x) => x * sigmoid(x)),
  unary('softplus', V.softplus, softplus),
  unary('logSigmoid', V.logSigmoid, (x) => -softplus(-x)),
  unary('erf', V.erf, erfRef),
  unary('sign', V.sign, Math.sign),
  unary('floor', V.floor, Math.floor),
  unary('square', V.square, (x) => x * x),
  unary('reciprocal', V.reciprocal, (x) => 1 / x, pos),
  unary('clamp', (x) => V.clamp(x, -0.5, 0.7), (x) => Math.min(Math.max(x, -0.5), 0.7), f, {
    errors: [{ label: 'lo > hi', run: () => V.clamp(V.zeros([2]), 1, 0), message: /^clamp: lo \(1\) must not exceed hi \(0\)/ }],
  }),

  // ---- binary elementwise with broadcasting ----
  binary('add', V.add, (a, b) => a + b),
  binary('sub', V.sub, (a, b) => a - b),
  binary('mul', V.mul, (a, b) => a * b),
  binary('div', V.div, (a, b) => a / b, f, pos),
  binary('pow', V.pow, powRef, pos, f),
  binary('maximum', V.maximum, Math.max),
  binary('minimum', V.minimum, Math.min),
  ...(['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const).map((name) => {
    const cmp: Record<string, (a: number, b: number) => boolean> = {
      eq: (a, b) => a === b, ne: (a, b) => a !== b, lt: (a, b) => a < b, le: (a, b) => a <= b, gt: (a, b) => a > b, ge: (a, b) => a >= b,
    };
    const choice = (shape: number[], o: Omit<InputSpec, 'shape'> = {}) => f(shape, { choices: [-1, 0, 1], ...o });
    return binary(name, V[name], (a, b) => (cmp[name]!(a, b) ? 1 : 0), choice, choice, { differentiable: false });
  }),
  {
    name: 'where',
    run: (c, a, b) => V.where(c!, a!, b!),
    ref: (c, a, b) => R.zip((x, y, z) => (x !== 0 ? y : z), c!, a!, b!),
    cases: [
      { inputs: [f([2, 3], { choices: [0, 1] }), f([2, 3]), f([2, 3])] },
      { inputs: [f([2, 1], { choices: [0, 1] }), f([3]), f([2, 3], { transposed: false })], label: 'broadcast' },
    ],
    gradWrt: [1, 2],
    errors: [{ label: 'bad broadcast', run: () => V.where(V.zeros([2]), V.zeros([3]), V.zeros([3])), message: /^where: shapes \[2\] \(cond\) and \[3\] \(a\) and \[3\] \(b\) cannot be broadcast/ }],
  },

  // ---- reductions ----
  {
    name: 'sum',
    run: (x) => V.sum(x!, [0, 2], true),
    ref: (x) => R.reduce(x!, [0, 2], true, 0, (a, b) => a + b),
    cases: [{ inputs: [f([2, 3, 4])] }, { inputs: [f([3, 3, 2], { transposed: true })], label: 'non-contiguous' }],
    errors: [
      { label: 'axis out of range', run: () => V.sum(V.zeros([2, 3]), 2), message: /^sum: axis 2 is out of range for a tensor of rank 2 \(valid: -2\.\.1\)/ },
      { label: 'repeated axis', run: () => V.sum(V.zeros([2, 3]), [1, -1]), message: /^sum: axis 1 appears twice/ },
    ],
  },
  { name: 'sum(all)', run: (x) => V.sum(x!), ref: (x) => R.reduce(x!, undefined, false, 0, (a, b) => a + b), cases: unaryCases() },
  { name: 'mean', run: (x) => V.mean(x!, -1), ref: (x) => meanRef(x!, [-1], false), cases: [{ inputs: [f([3, 4])] }, { inputs: [f([2, 3, 4], { transposed: true })] }] },
  { name: 'max', run: (x) => V.max(x!, 1), ref: (x) => R.reduce(x!, [1], false, -Infinity, Math.max), cases: [{ inputs: [f([3, 4])] }, { inputs: [f([2, 3, 5], { transposed: true })] }] },
  { name: 'max(ties)', run: (x) => V.max(x!, 1), ref: (x) => R.reduce(x!, [1], false, -Infinity, Math.max), cases: [{ inputs: [f([3, 4], { choices: [0.5, 1] })] }], differentiable: false },
  { name: 'min', run: (x) => V.min(x!, [0, 1], true), ref: (x) => R.reduce(x!, [0, 1], true, Infinity, Math.min), cases: [{ inputs: [f([3, 4, 2])] }] },
  {
    name: 'argmax', run: (x) => V.argmax(x!, 1), ref: (x) => R.argReduce(x!, 1, (v, b) => !Number.isNaN(b) && (Number.isNaN(v) || v > b)),
    cases: [{ inputs: [f([3, 4])] }, { inputs: [f([3, 4], { choices: [0, 1] })], label: 'ties pick the first' }], differentiable: false,
  },
  { name: 'argmin', run: (x) => V.argmin(x!, 0), ref: (x) => R.argReduce(x!, 0, (v, b) => v < b), cases: [{ inputs: [f([3, 4], { transposed: true })] }], differentiable: false },
  { name: 'variance', run: (x) => V.variance(x!, [1]), ref: (x) => varRef(x!, [1], 1), cases: [{ inputs: [f([3, 5])] }] },
  { name: 'std', run: (x) => V.std(x!, [0, 1], { correction: 0 }), ref: (x) => R.map(varRef(x!, [0, 1], 0), Math.sqrt), cases: [{ inputs: [f([3, 4, 2])] }] },
  { name: 'logSumExp', run: (x) => V.logSumExp(x!, 1), ref: (x) => lse(x!, 1, false), cases: [{ inputs: [f([3, 4])] }, { inputs: [f([2, 4], { lo: 50, hi: 60 })], label: 'large values' }] },
  {
    name: 'softmax', run: (x) => V.softmax(x!, -1),
    ref: (x) => R.map(logSoftmaxRef(x!, -1), Math.exp),
    cases: [{ inputs: [f([3, 4])] }, { inputs: [f([2, 3, 4], { transposed: true })] }, { inputs: [f([2, 5], { lo: 80, hi: 100 })], label: 'large logits' }],
  },
  {
    name: 'logSoftmax', run: (x) => V.logSoftmax(x!, 0),
    ref: (x) => logSoftmaxRef(x!, 0),
    cases: [{ inputs: [f([3, 4])] }],
  },
  { name: 'norm(2)', run: (x) => V.norm(x!, 2, -1), ref: (x) => R.reduce(x!, [-1], false, 0, (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.hypot(a, b))), cases: [{ inputs: [f([3, 4])] }] },
  {
    name: 'norm(3)', run: (x) => V.norm(x!, 3),
    ref: (x) => { const s = Math.max(...x!.data.map(Math.abs)) || 1; return { shape: [], data: [s * x!.data.reduce((a, b) => a + Math.abs(b / s) ** 3, 0) ** (1 / 3)] }; },
    cases: [{ inputs: [f([2, 3])] }],
  },
  { name: 'norm(1)', run: (x) => V.norm(x!, 1, 0, true), ref: (x) => R.reduce(x!, [0], true, 0, (a, b) => a + Math.abs(b)), cases: [{ inputs: [f([3, 2])] }] },
  { name: 'norm(inf)', run: (x) => V.norm(x!, Infinity, 1), ref: (x) => R.reduce(x!, [1], false, 0, (a, b) => Math.max(a, Math.abs(b))), cases: [{ inputs: [f([3, 4])] }] },

  // ---- movement ----
  {
    name: 'reshape', run: (x) => V.reshape(x!, [4, -1]), ref: (x) => R.reshape(x!, [4, x!.data.length / 4]),
    cases: [{ inputs: [f([2, 3, 2])] }, { inputs: [f([4, 3], { transposed: true })], label: 'non-contiguous (copies)' }],
    errors: [
      { label: 'size mismatch', run: () => V.reshape(V.zeros([2, 3]), [4, 2]), message: /^reshape: cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\] \(8 elements\)/ },
      { label: 'two -1', run: () => V.reshape(V.zeros([2, 3]), [-1, -1]), message: /^reshape: only one dimension can be -1/ },
    ],
  },
  { name: 'flatten', run: (x) => V.flatten(x!, 1), ref: (x) => R.reshape(x!, [x!.shape[0]!, x!.data.length / x!.shape[0]!]), cases: [{ inputs: [f([2, 3, 2])] }] },
  {
    name: 'permute', run: (x) => V.permute(x!, [2, 0, 1]), ref: (x) => R.permute(x!, [2, 0, 1]),
    cases: [{ inputs: [f([2, 3, 4])] }, { inputs: [f([2, 3, 4], { transposed: true })] }],
    errors: [{ label: 'not a permutation', run: () => V.permute(V.zeros([2, 3]), [0, 0]), message: /^permute: dims \[0, 0\] is not a permutation/ }],
  },
  { name: 'transpose', run: (x) => V.transpose(x!), ref: (x) => R.permute(x!, [0, 2, 1]), cases: [{ inputs: [f([2, 3, 4])] }] },
  {
    name: 'expand', run: (x) => V.expand(x!, [2, 3, 4]), ref: (x) => R.expand(x!, [2, 3, 4]),
    cases: [{ inputs: [f([3, 1])] }, { inputs: [f([1, 3, 4], { transposed: true })] }],
    errors: [{ label: 'bad expand', run: () => V.expand(V.zeros([2, 3]), [2, 4]), message: /^expand: cannot expand \[2, 3\] to \[2, 4\]: dimension 1 is 3, not 1 or 4/ }],
  },
  {
    name: 'squeeze', run: (x) => V.squeeze(x!, 1), ref: (x) => R.reshape(x!, [x!.shape[0]!, x!.shape[2]!]), cases: [{ inputs: [f([3, 1, 2])] }],
    errors: [{ label: 'not size 1', run: () => V.squeeze(V.zeros([2, 3]), 0), message: /^squeeze: axis 0 has size 2, not 1/ }],
  },
  { name: 'unsqueeze', run: (x) => V.unsqueeze(x!, -1), ref: (x) => R.reshape(x!, [...x!.shape, 1]), cases: [{ inputs: [f([3, 2], { transposed: true })] }] },
  {
    name: 'slice', run: (x) => V.slice(x!, [[1, null], [null, null, 2], [3, 0, -2]]),
    ref: (x) => R.sliceResolved(x!, [1, 0, 3], [x!.shape[0]! - 1, Math.ceil(x!.shape[1]! / 2), 2], [1, 2, -2]),
    cases: [{ inputs: [f([3, 5, 4])] }, { inputs: [f([3, 4, 4], { transposed: true })] }],
    errors: [
      { label: 'index out of range', run: () => V.slice(V.zeros([2, 3]), [5]), message: /^slice: index 5 is out of range for dimension 0 of size 2/ },
      { label: 'zero step', run: () => V.slice(V.zeros([2, 3]), [[0, 2, 0]]), message: /^slice: step must be a non-zero integer/ },
    ],
  },
  { name: 'slice(index)', run: (x) => V.slice(x!, [null, -1]), ref: (x) => R.reshape(R.sliceResolved(x!, [0, x!.shape[1]! - 1], [x!.shape[0]!, 1], [1, 1]), [x!.shape[0]!]), cases: [{ inputs: [f([3, 4])] }] },
  { name: 'flip', run: (x) => V.flip(x!, [0, 2]), ref: (x) => R.build([...x!.shape], (i) => R.at(x!, [x!.shape[0]! - 1 - i[0]!, i[1]!, x!.shape[2]! - 1 - i[2]!])), cases: [{ inputs: [f([2, 3, 4])] }] },
  {
    name: 'pad', run: (x) => V.pad(x!, [[1, 0], [2, 1]], 0.5), ref: (x) => R.pad(x!, [[1, 0], [2, 1]], 0.5),
    cases: [{ inputs: [f([2, 3])] }, { inputs: [f([3, 2, 2], { transposed: true })] }],
    errors: [{ label: 'negative width', run: () => V.pad(V.zeros([2]), [[-1, 0]]), message: /^pad: pad widths must be non-negative integers/ }],
  },
  {
    name: 'concat', run: (a, b, c) => V.concat([a!, b!, c!], 1), ref: (a, b, c) => R.concat([a!, b!, c!], 1),
    cases: [{ inputs: [f([2, 1, 3]), f([2, 3, 3], { transposed: true }), f([2, 2, 3])] }],
    errors: [
      { label: 'mismatched dims', run: () => V.concat([V.zeros([2, 3]), V.zeros([3, 3])], 1), message: /^concat: xs\[1\] has shape \[3, 3\], incompatible with xs\[0\] \[2, 3\] along axis 1/ },
      { label: 'empty list', run: () => V.concat([]), message: /^concat: needs a non-empty array of tensors/ },
    ],
  },
  {
    name: 'stack', run: (a, b) => V.stack([a!, b!], 1), ref: (a, b) => R.concat([R.reshape(a!, [a!.shape[0]!, 1, a!.shape[1]!]), R.reshape(b!, [b!.shape[0]!, 1, b!.shape[1]!])], 1),
    cases: [{ inputs: [f([2, 3]), f([2, 3], { transposed: true })] }],
    errors: [{ label: 'shape mismatch', run: () => V.stack([V.zeros([2]), V.zeros([3])]), message: /^stack: xs\[1\] has shape \[3\], xs\[0\] has \[2\]/ }],
  },
  {
    name: 'split', run: (x) => V.split(x!, [1, 2], 1)[1]!, ref: (x) => R.sliceResolved(x!, [0, 1], [x!.shape[0]!, 2], [1, 1]),
    cases: [{ inputs: [f([2, 3])] }],
    errors: [{ label: 'bad sizes', run: () => V.split(V.zeros([2, 3]), [1, 1], 1), message: /^split: sizes \[1, 1\] must be non-negative and sum to 3/ }],
  },
  { name: 'contiguous', run: (x) => V.contiguous(x!), ref: (x) => x!, cases: [{ inputs: [f([3, 4], { transposed: true })] }] },
  { name: 'fresh', run: (x) => V.fresh(x!), ref: (x) => x!, cases: [{ inputs: [f([3, 4], { transposed: true })] }] },

  // ---- matmul ----
  {
    name: 'matmul', run: (a, b) => V.matmul(a!, b!), ref: (a, b) => R.matmul(a!, b!),
    cases: [
      { inputs: [f([3, 4]), f([4, 2])] },
      { inputs: [f([3, 4], { transposed: true }), f([4, 5], { transposed: true })], label: 'transposed operands' },
      { inputs: [f([2, 1, 3, 4]), f([3, 4, 2])], label: 'broadcast batch' },
      { inputs: [f([4]), f([4, 3])], label: '1-D @ 2-D' },
      { inputs: [f([2, 3, 4]), f([4])], label: 'batched @ 1-D' },
      { inputs: [f([4]), f([4])], label: 'dot' },
      { inputs: [f([33, 5]), f([5, 8], { transposed: true })], label: 'tall @ transposed b, 4 | n (row-major copy, 4 outputs per gpu thread)' },
      { inputs: [f([2, 33, 5]), f([5, 6], { transposed: true })], label: 'batch @ broadcast transposed b, 4 ∤ n' },
      { inputs: [f([2, 256]), f([256, 4])], label: 'long inner dimension (split-k on the gpu)' },
    ],
    errors: [
      { label: 'inner mismatch', run: () => V.matmul(V.zeros([2, 3]), V.zeros([4, 2])), message: /^matmul: inner dimensions differ: a \[2, 3\] has 3 columns, b \[4, 2\] has 4 rows/ },
      { label: 'batch mismatch', run: () => V.matmul(V.zeros([2, 2, 3]), V.zeros([3, 3, 2])), message: /^matmul: shapes \[2\] \(a batch\) and \[3\] \(b batch\) cannot be broadcast/ },
      { label: 'int operands', run: () => V.matmul(V.zeros([2, 2], { dtype: 'int32' }), V.zeros([2, 2], { dtype: 'int32' })), message: /^matmul: argument 'a' must be float32 or float64, got int32/ },
    ],
  },

  // ---- indexing ----
  {
    name: 'gather', run: (x, i) => V.gather(x!, 1, i!), ref: (x, i) => R.gather(x!, 1, i!),
    cases: [{ inputs: [f([3, 4]), idx([3, 6], 4)] }, { inputs: [f([4, 3], { transposed: true }), idx([2, 2], 4)], label: 'smaller index' }],
    errors: [
      { label: 'float index', run: () => V.gather(V.zeros([2, 2]), 1, V.zeros([2, 2])), message: /^gather: argument 'index' must be int32, got float32/ },
      { label: 'index out of range', run: () => V.gather(V.zeros([2, 2]), 1, V.full([2, 1], 7, { dtype: 'int32' })), message: /^gather: index 7 is out of range for an axis of length 2/ },
      { label: 'rank mismatch', run: () => V.gather(V.zeros([2, 2]), 1, V.zeros([2], { dtype: 'int32' })), message: /^gather: index \[2\] must have the same rank as x \[2, 2\]/ },
    ],
  },
  {
    name: 'scatterAdd', run: (x, i, s) => V.scatterAdd(x!, 0, i!, s!), ref: (x, i, s) => R.scatterAdd(x!, 0, i!, s!),
    cases: [{ inputs: [f([3, 4]), idx([5, 4], 3), f([5, 4])] }, { inputs: [f([3, 2]), idx([2, 2], 3), f([4, 3])], label: 'src larger than index' }],
  },
  {
    name: 'indexSelect', run: (x, i) => V.indexSelect(x!, 0, i!), ref: (x, i) => R.indexSelect(x!, 0, ints(i!)),
    cases: [{ inputs: [f([5, 3]), idx([7], 5)] }, { inputs: [f([3, 4], { transposed: true }), idx([2], 3)] }],
    errors: [{ label: '2-D index', run: () => V.indexSelect(V.zeros([2, 2]), 0, V.zeros([1, 1], { dtype: 'int32' })), message: /^indexSelect: index must be 1-D, got shape \[1, 1\]/ }],
  },
  {
    name: 'indexAdd', run: (x, i, s) => V.indexAdd(x!, 1, i!, s!), ref: (x, i, s) => R.indexAdd(x!, 1, ints(i!), s!),
    cases: [{ inputs: [f([2, 4]), idx([6], 4), f([2, 6])] }],
  },
  { name: 'tril', run: (x) => V.tril(x!, -1), ref: (x) => R.build([...x!.shape], (i) => (i[i.length - 1]! - i[i.length - 2]! <= -1 ? R.at(x!, i) : 0)), cases: [{ inputs: [f([2, 3, 4])] }] },
  { name: 'triu', run: (x) => V.triu(x!, 1), ref: (x) => R.build([...x!.shape], (i) => (i[i.length - 1]! - i[i.length - 2]! >= 1 ? R.at(x!, i) : 0)), cases: [{ inputs: [f([4, 3], { transposed: true })] }] },
  {
    name: 'oneHot', run: (i) => V.oneHot(i!, 4), ref: (i) => R.build([...i!.shape, 4], (k) => (R.at(i!, k.slice(0, -1)) === k[k.length - 1] ? 1 : 0)),
    cases: [{ inputs: [idx([2, 3], 4)] }], differentiable: false,
    errors: [{ label: 'out of range', run: () => V.oneHot(V.full([2], 5, { dtype: 'int32' }), 4), message: /^oneHot: index 5 is out of range for 4 classes/ }],
  },
  {
    name: 'cumsum', run: (x) => V.cumsum(x!, 1), ref: (x) => R.cumsum(x!, 1, false),
    cases: [{ inputs: [f([2, 5, 3])] }, { inputs: [f([3, 4], { transposed: true })] }],
  },
  { name: 'cumsum(reverse)', run: (x) => V.cumsum(x!, 0, { reverse: true }), ref: (x) => R.cumsum(x!, 0, true), cases: [{ inputs: [f([4, 3])] }] },
  {
    name: 'topk(values)', run: (x) => V.topk(x!, 2, { axis: 1 }).values,
    ref: (x) => R.build([x!.shape[0]!, 2, x!.shape[2]!], (i) => {
      const col = Array.from({ length: x!.shape[1]! }, (_, j) => R.at(x!, [i[0]!, j, i[2]!])).sort((a, b) => ascendingNaNLast(b, a));
      return col[i[1]!]!;
    }),
    cases: [{ inputs: [f([2, 5, 3])] }],
    errors: [{ label: 'k too large', run: () => V.topk(V.zeros([2, 3]), 4), message: /^topk: k = 4 is out of range for dimension 1 of size 3/ }],
  },
  {
    name: 'topk(indices)', run: (x) => V.topk(x!, 3, { largest: false }).indices,
    ref: (x) => R.build([x!.shape[0]!, 3], (i) => {
      const row = Array.from({ length: x!.shape[1]! }, (_, j) => [R.at(x!, [i[0]!, j]), j] as const).sort((a, b) => ascendingNaNLast(a[0], b[0]) || a[1] - b[1]);
      return row[i[1]!]![1];
    }),
    cases: [{ inputs: [f([3, 6])] }, { inputs: [f([3, 6], { choices: [0, 1] })], label: 'ties keep index order' }],
    differentiable: false,
  },
  // ---- convolution, pooling, resampling (naive per-output references) ----
  ...([
    { label: '3×3 pad 1', args: { padding: 1 }, x: [2, 3, 5, 5], w: [4, 3, 3, 3], bias: true, p: { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 } },
    { label: 'stride 2', args: { stride: 2 }, x: [2, 2, 7, 6], w: [3, 2, 3, 3], bias: false, p: { stride: [2, 2], padding: [0, 0], dilation: [1, 1], groups: 1 } },
    { label: 'dilation 2', args: { dilation: 2, padding: 2 }, x: [1, 2, 6, 6], w: [2, 2, 3, 3], bias: true, p: { stride: [1, 1], padding: [2, 2], dilation: [2, 2], groups: 1 } },
    { label: 'groups 2, 2×3 kernel, stride (2,1)', args: { groups: 2, stride: [2, 1], padding: [1, 0] }, x: [2, 4, 5, 6], w: [6, 2, 2, 3], bias: true, p: { stride: [2, 1], padding: [1, 0], dilation: [1, 1], groups: 2 } },
  ] as const).map((c): OpEntry => ({
    name: `conv2d (${c.label})`,
    run: (x, w, b) => V.conv2d(x!, w!, c.bias ? b : null, c.args as V.Conv2dOptions),
    ref: (x, w, b) => R.conv2d(x!, w!, c.bias ? b! : null, c.p as unknown as R.ConvParams),
    cases: [{ inputs: [f([...c.x]), f([...c.w]), f([c.w[0]])] }, { inputs: [f([...c.x], { transposed: true }), f([...c.w]), f([c.w[0]])], label: 'non-contiguous' }],
    gradWrt: c.bias ? [0, 1, 2] : [0, 1],
  })),
  // Winograd F(2×2, 3×3) directly (conv2d takes it for float32 with ≥ 16 channels): output widths that do and do
  // not fill whole groups of four tiles, odd sizes (the last tile row and column cropped), paddings 0–2
  ...([[[2, 3, 5, 7], [4, 3], 1], [[1, 2, 10, 9], [3, 2], 0], [[2, 2, 4, 11], [2, 2], 2], [[1, 3, 18, 4], [2, 3], 1]] as const).map(([x, [o, c], p]): OpEntry => ({
    name: `winogradConv2d (x [${x.join(', ')}], ${o} filters, pad ${p})`,
    run: (xx, w) => V.winogradConv2d(xx!, w!, [p, p]),
    ref: (xx, w) => R.conv2d(xx!, w!, null, { stride: [1, 1], padding: [p, p], dilation: [1, 1], groups: 1 }),
    cases: [{ inputs: [f([...x]), f([o, c, 3, 3])], notOnGpu: 'the gpu backend has no tile transforms' },
      { inputs: [f([...x], { transposed: true }), f([o, c, 3, 3])], label: 'non-contiguous', notOnGpu: 'the gpu backend has no tile transforms' }],
  })),
  // attention: one fused op on the cpu backend (TypeScript kernels in float64, WebAssembly in float32), the
  // composite elsewhere; strided (transposed) heads, a causal mask with Lq < Lk, Lk not a multiple of four
  ...([[false, [2, 2, 5, 3], [2, 2, 5, 3], [2, 2, 5, 4]], [true, [1, 2, 3, 4], [1, 2, 6, 4], [1, 2, 6, 2]]] as const).map(([causal, qs, ks, vs]): OpEntry => ({
    name: `attention (${causal ? 'causal mask, Lq < Lk' : 'no mask'})`,
    run: (q, k, v) => V.attention(q!, k!, v!, { mask: causal ? causalMask(q!.shape[2]!, k!.shape[2]!, q!.dtype) : null }),
    ref: (q, k, v) => attentionRef(q!, k!, v!, causal),
    cases: [{ inputs: [f([...qs]), f([...ks]), f([...vs])] }, { inputs: [f([...qs], { transposed: true }), f([...ks], { transposed: true }), f([...vs])], label: 'non-contiguous' }],
  })),
  {
    name: 'conv2d errors', run: (x) => x!, ref: (x) => x!, cases: [], differentiable: false,
    errors: [
      { label: 'channel mismatch', run: () => V.conv2d(V.zeros([1, 3, 5, 5]), V.zeros([4, 2, 3, 3])), message: /^conv2d: weight \[4, 2, 3, 3\] expects 2 input channels \(2 per group × 1 groups\), input \[1, 3, 5, 5\] has 3/ },
      { label: 'bad groups', run: () => V.conv2d(V.zeros([1, 3, 5, 5]), V.zeros([4, 1, 3, 3]), null, { groups: 2 }), message: /^conv2d: groups = 2 must divide both the 3 input channels and the 4 output channels/ },
      { label: 'kernel too big', run: () => V.conv2d(V.zeros([1, 1, 2, 2]), V.zeros([1, 1, 3, 3])), message: /^conv2d: a 3×3 window .* does not fit input \[1, 1, 2, 2\]/ },
      { label: 'not 4-D', run: () => V.conv2d(V.zeros([3, 5, 5]), V.zeros([1, 3, 3, 3])), message: /^conv2d: input must be \[N, C, H, W\], got \[3, 5, 5\]/ },
    ],
  },
  { name: 'maxPool2d', run: (x) => V.maxPool2d(x!, 2), ref: (x) => R.pool2d(x!, [2, 2], [2, 2], [0, 0], 'max'), cases: [{ inputs: [f([2, 3, 4, 6])] }, { inputs: [f([1, 2, 5, 5], { transposed: true })] }] },
  { name: 'maxPool2d (3, stride 2, pad 1)', run: (x) => V.maxPool2d(x!, 3, { stride: 2, padding: 1 }), ref: (x) => R.pool2d(x!, [3, 3], [2, 2], [1, 1], 'max'), cases: [{ inputs: [f([2, 2, 7, 6])] }] },
  { name: 'avgPool2d', run: (x) => V.avgPool2d(x!, 2), ref: (x) => R.pool2d(x!, [2, 2], [2, 2], [0, 0], 'avg'), cases: [{ inputs: [f([2, 3, 4, 6])] }] },
  { name: 'avgPool2d (3, stride 1, pad 1)', run: (x) => V.avgPool2d(x!, 3, { stride: 1, padding: 1 }), ref: (x) => R.pool2d(x!, [3, 3], [1, 1], [1, 1], 'avg'), cases: [{ inputs: [f([1, 2, 5, 4])] }] },
  { name: 'avgPool2d (countIncludePad false)', run: (x) => V.avgPool2d(x!, 3, { stride: 2, padding: 1, countIncludePad: false }), ref: (x) => R.pool2d(x!, [3, 3], [2, 2], [1, 1], 'avg', false), cases: [{ inputs: [f([1, 2, 5, 6])] }] },
  ...([
    ['nearest', [4, 4], [8, 8]], ['nearest', [8, 5], [3, 7]], ['bilinear', [4, 4], [7, 7]], ['bilinear', [9, 6], [4, 5]],
    ['bicubic', [3, 3], [8, 8]], ['bicubic', [8, 5], [5, 9]], ['area', [9, 9], [4, 4]], ['area', [8, 16], [3, 13]], ['bicubic', [1, 1], [4, 4]],
  ] as const).map(([mode, from, to]): OpEntry => ({
    name: `interpolate ${mode} ${from.join('×')}→${to.join('×')}`,
    run: (x) => V.interpolate(x!, { size: [to[0], to[1]], mode }),
    ref: (x) => R.resize(x!, [to[0], to[1]], mode),
    cases: [{ inputs: [f([2, 2, from[0], from[1]])] }],
  })),
  {
    name: 'interpolate errors', run: (x) => x!, ref: (x) => x!, cases: [], differentiable: false,
    errors: [
      { label: 'unknown mode', run: () => V.interpolate(V.zeros([1, 1, 2, 2]), { size: 4, mode: 'cubic' as never }), message: /^interpolate: unknown mode 'cubic'/ },
      { label: 'no size', run: () => V.interpolate(V.zeros([1, 1, 2, 2]), {}), message: /^interpolate: pass size or scaleFactor/ },
    ],
  },
  {
    name: 'unfold', run: (x) => V.unfold(x!, [2, 3], { padding: 1, stride: [1, 2] }),
    ref: (x) => {
      const [n, c, h, w] = x!.shape as [number, number, number, number];
      const oh = h + 2 - 2 + 1, ow = Math.floor((w + 2 - 3) / 2) + 1;
      return R.build([n, c * 6, oh * ow], ([b, r, l]) => {
        const ch = Math.floor(r! / 6), i = Math.floor((r! % 6) / 3), j = r! % 3;
        const y = Math.floor(l! / ow) - 1 + i, xx = (l! % ow) * 2 - 1 + j;
        return y < 0 || y >= h || xx < 0 || xx >= w ? 0 : R.at(x!, [b!, ch, y, xx]);
      });
    },
    cases: [{ inputs: [f([2, 2, 4, 5])] }],
  },

  // ---- normalization, embedding, losses ----
  {
    name: 'layerNorm (affine)', run: (x, w, b) => V.layerNorm(x!, [5], w, b, 1e-5), ref: (x, w, b) => R.layerNorm(x!, 1, w!, b!, 1e-5),
    cases: [{ inputs: [f([3, 5]), f([5]), f([5])] }, { inputs: [f([2, 4, 5], { transposed: false }), f([5]), f([5])] }],
    errors: [{ label: 'shape', run: () => V.layerNorm(V.zeros([2, 3]), [4]), message: /^layerNorm: normalizedShape \[4\] must match the trailing dims of x \[2, 3\]/ }],
  },
  { name: 'layerNorm (2 dims, no affine)', run: (x) => V.layerNorm(x!, [3, 4], null, null, 1e-6), ref: (x) => R.layerNorm(x!, 2, null, null, 1e-6), cases: [{ inputs: [f([2, 3, 4], { transposed: true })] }] },
  {
    name: 'groupNorm', run: (x, w, b) => V.groupNorm(x!, 2, w, b, 1e-6),
    ref: (x, w, b) => {
      const [n, c] = x!.shape as [number, number];
      const inner = x!.data.length / n / c;
      const normed = R.layerNorm({ shape: [n, 2, (c / 2) * inner], data: x!.data }, 1, null, null, 1e-6);
      return R.build([...x!.shape], (i) => normed.data[R.ravel(i, x!.shape)]! * w!.data[i[1]!]! + b!.data[i[1]!]!);
    },
    cases: [{ inputs: [f([2, 4, 3, 2]), f([4]), f([4])] }],
    errors: [{ label: 'groups', run: () => V.groupNorm(V.zeros([1, 6, 2]), 4), message: /^groupNorm: numGroups = 4 must divide the 6 channels/ }],
  },
  {
    name: 'embedding', run: (w, i) => V.embedding(w!, i!), ref: (w, i) => R.build([...i!.shape, w!.shape[1]!], (k) => R.at(w!, [R.at(i!, k.slice(0, -1)), k[k.length - 1]!])),
    cases: [{ inputs: [f([6, 3]), idx([2, 5], 6)] }],
  },
  {
    name: 'crossEntropy', run: (z, t) => V.crossEntropy(z!, t!), ref: (z, t) => R.crossEntropy(z!, t!, 0, -100, 'mean'),
    cases: [{ inputs: [f([5, 4]), idx([5], 4)] }],
    errors: [
      { label: 'float target', run: () => V.crossEntropy(V.zeros([2, 3]), V.zeros([2])), message: /^crossEntropy: argument 'target' must be int32 class indices, got float32/ },
      { label: 'target out of range', run: () => V.crossEntropy(V.zeros([2, 3]), V.tensor([0, 3], { dtype: 'int32' })), message: /^crossEntropy: target 3 is out of range for 3 classes/ },
      { label: 'shape mismatch', run: () => V.crossEntropy(V.zeros([2, 3]), V.zeros([3], { dtype: 'int32' })), message: /^crossEntropy: target \[3\] does not match logits \[2, 3\]/ },
    ],
  },
  {
    name: 'crossEntropy (smoothing, ignore, sum)', run: (z, t) => V.crossEntropy(z!, V.where(V.eq(t!, 3), -100, t!), { labelSmoothing: 0.1, reduction: 'sum' }),
    ref: (z, t) => R.crossEntropy(z!, { shape: t!.shape, data: t!.data.map((v) => (v === 3 ? -100 : v)) }, 0.1, -100, 'sum'),
    cases: [{ inputs: [f([6, 5]), idx([6], 5)] }],
  },
  {
    // a fresh Rng(5) per call gives the same mask every time, so the op is a fixed linear map the gradcheck can probe
    name: 'dropout (training, fixed mask)', run: (x) => V.dropout(x!, 0.3, { training: true, rng: new V.Rng(5) }),
    ref: (x) => { const rng = new V.Rng(5); return R.map(x!, (v) => (rng.uniform() < 0.7 ? v / 0.7 : 0)); },
    cases: [{ inputs: [f([4, 5])] }],
    errors: [{ label: 'p out of range', run: () => V.dropout(V.zeros([2]), 1, { training: true }), message: /^dropout: p must be in \[0, 1\), got 1/ }],
  },
];

// ---- edge cases (special values, empty shapes, ties) added to the entries above, by entry name ----

const nanAt = (n: number, k: number): number[] => Array.from({ length: n }, (_, i) => (i === k ? NaN : 1 + ((i * 7) % 5)));
const EXTRA_CASES: Record<string, OpCase[]> = {
  'where': [special([f([4], { values: [1, 0, 1, 0] }), sv([4], [Infinity, NaN, 1, 2]), sv([4], [0, 1, -Infinity, NaN])], 'special values')],
  'sum': [special([sv([2, 7, 2])], 'special values'), { inputs: [f([2, 0, 3])], label: 'empty reduced axes' }],
  'mean': [special([sv([2, 7])], 'special values'), { inputs: [f([3, 0])], label: 'empty axis (NaN, as PyTorch)' }],
  'max': [special([sv([2, 7], [1, NaN, 3, -Infinity, 2, Infinity, 0])], 'NaN wins'), { inputs: [f([0, 4])], label: 'empty, non-empty axis' }],
  // ties: the gradient is split evenly (finite differences see ½ per side, so no gradcheck)
  'min': [special([f([3, 4, 2], { choices: [-1, 0.5] })], 'ties', { notOnGpu: undefined }), { inputs: [f([3, 4, 0])], label: 'empty, non-empty axes' }],
  'argmax': [special([sv([2, 7], [1, NaN, 3, -Infinity, NaN, Infinity, 0])], 'first NaN wins'), { inputs: [f([0, 4])], label: 'empty, non-empty axis' }],
  'argmin': [{ inputs: [f([3, 4], { choices: [0, 1] })], label: 'ties pick the first' }],
  'variance': [{ inputs: [f([3, 0])], label: 'empty rows' }],
  'std': [
    special([f([3, 1, 1], { values: [2, 2, 2] })], 'constant (gradient 0, not NaN)', { grads: [[0, 0, 0]] }),
    special([f([1, 1, 1], { values: [0.5] })], 'one element', { grads: [[0]] }),
  ],
  'logSumExp': [
    special([sv([2, 4], [Infinity, 1, -Infinity, 2, -Infinity, -Infinity, -Infinity, -Infinity])], '+∞ and all −∞ rows'),
    { inputs: [f([3, 0])], label: 'empty axis (−∞)' }, { inputs: [f([0, 4])], label: 'empty rows' },
  ],
  'softmax': [special([sv([3, 3], [Infinity, 1, 2, -Infinity, 0, 1, -Infinity, -Infinity, -Infinity])], '±∞ rows'), { inputs: [f([0, 4])], label: 'empty' }],
  'logSoftmax': [
    special([sv([2, 3], [Infinity, -Infinity, 1, 0, -Infinity, 1e300])], '±∞ columns'),
    special([f([2, 1], { values: [1e17, 1e17] })], 'large equal logits keep their precision', { float64Only: '1e17 + 0.69 rounds in float32 as in float64; float32 is covered by the 3000 case' }),
    special([f([2, 1], { values: [3000, 3000] })], 'float32 logits 3000'),
    { inputs: [f([0, 4])], label: 'empty axis' }, { inputs: [f([3, 0])], label: 'empty rows' },
  ],
  'norm(2)': [
    special([f([2, 3], { values: [1e200, 1e200, -3e200, 1e-200, 0, 5e-324] })], 'huge and tiny (scaled, no overflow)', { float64Only: 'beyond float32 range' }),
    special([sv([2, 3], [Infinity, 1, 2, NaN, 1, 0])], '∞ and NaN'),
    { inputs: [f([3, 0])], label: 'empty axis (0)' },
  ],
  'norm(3)': [special([f([2, 3], { values: [1e200, 2e200, -3e200, 1, 2, 3] })], 'huge (scaled, no overflow)', { float64Only: 'beyond float32 range' })],
  'norm(inf)': [{ inputs: [f([0, 4])], label: 'empty, non-empty axis' }],
  'reshape': [{ inputs: [f([0, 4])], label: 'empty' }],
  'slice': [special([sv([3, 5, 4])], 'special values')],
  'pad': [{ inputs: [f([0, 2])], label: 'empty input' }],
  'concat': [{ inputs: [f([2, 0, 3]), f([2, 3, 3]), f([2, 0, 3])], label: 'empty pieces' }],
  'matmul': [
    { inputs: [f([2, 1, 0]), f([0, 3])], label: 'inner size 0 (zeros)' },
    { inputs: [f([0, 3]), f([3, 2])], label: 'no rows' },
    { inputs: [f([0, 2, 3]), f([3, 4])], label: 'empty batch' },
    { inputs: [f([3, 2]), f([0, 2, 1])], label: 'empty broadcast batch (gradient summed over nothing)' },
    special([sv([2, 3], [Infinity, 0, 1, NaN, 2, 1]), f([3, 2], { values: [0, 1, 2, 3, 0, 1] })], '∞·0 and NaN'),
  ],
  'gather': [{ inputs: [f([3, 4]), idx([3, 0], 4)], label: 'empty index' }],
  'indexSelect': [{ inputs: [f([5, 3]), idx([0], 5)], label: 'empty index' }],
  'tril': [special([sv([2, 3, 4], [Infinity, NaN, -Infinity, 1])], '∞/NaN in the zeroed triangle become 0'), { inputs: [f([2, 0, 3])], label: 'empty' }],
  'triu': [special([sv([4, 3], [NaN, Infinity, 1])], '∞/NaN in the zeroed triangle become 0')],
  'cumsum': [{ inputs: [f([2, 0, 3])], label: 'empty' }],
  'topk(values)': [special([sv([2, 5, 3], [1, NaN, 0.5, -Infinity, 2, NaN, Infinity])], 'NaN counts as the largest (found by the fuzzer)')],
  'topk(indices)': [special([sv([3, 6], [1, NaN, 0.5, NaN, 2, -1, 0])], 'NaN counts as the largest, so smallest-k skips it')],
  'layerNorm (affine)': [{ inputs: [f([0, 5]), f([5]), f([5])], label: 'no rows' }],
  'groupNorm': [{ inputs: [f([0, 4, 3, 2]), f([4]), f([4])], label: 'empty batch' }],
  'embedding': [{ inputs: [f([6, 3]), idx([0], 6)], label: 'no indices' }],
  'crossEntropy': [{ inputs: [f([0, 4]), idx([0], 4)], label: 'empty batch (NaN mean, as PyTorch)' }],
  'maxPool2d': [
    { inputs: [f([0, 2, 4, 6])], label: 'empty batch' },
    special([f([1, 2, 4, 4], { choices: [0, 1] })], 'ties (gradient split evenly: a documented difference)', { notOnGpu: undefined }),
  ],
  'maxPool2d (3, stride 2, pad 1)': [{ inputs: [f([2, 0, 7, 6])], label: 'no channels' }],
  'avgPool2d': [{ inputs: [f([0, 3, 4, 6])], label: 'empty batch' }],
  'unfold': [{ inputs: [f([0, 2, 4, 5])], label: 'empty batch' }],
  'winogradConv2d (x [2, 3, 5, 7], 4 filters, pad 1)': [
    { inputs: [f([0, 3, 5, 7]), f([4, 3, 3, 3])], label: 'empty batch (weight gradient 0)', notOnGpu: 'the gpu backend has no tile transforms' }],
  'attention (no mask)': [{ inputs: [f([0, 2, 5, 3]), f([0, 2, 5, 3]), f([0, 2, 5, 4])], label: 'empty batch' },
    { inputs: [f([1, 2, 3, 3]), f([1, 2, 0, 3]), f([1, 2, 0, 4])], label: 'no keys (the output is 0, as an empty sum)' }],
  ...Object.fromEntries((['3×3 pad 1', 'stride 2'] as const).map((l) => [`conv2d (${l})`, [
    { inputs: [f([0, l === 'stride 2' ? 2 : 3, 7, 6]), f(l === 'stride 2' ? [3, 2, 3, 3] : [4, 3, 3, 3]), f([l === 'stride 2' ? 3 : 4])], label: 'empty batch (weight gradient 0)' },
  ]])),
};
for (const mode of ['nearest', 'bilinear', 'bicubic', 'area'] as const) {
  for (const e of BASE.filter((b) => b.name.startsWith(`interpolate ${mode} `))) {
    const [h, w] = e.name.split(' ')[2]!.split('→')[0]!.split('×').map(Number) as [number, number];
    EXTRA_CASES[e.name] = [
      special([f([1, 2, h, w], { values: nanAt(2 * h * w, Math.min(h * w - 1, w + 1)) })], 'one NaN (reaches only the outputs whose taps read it)'),
      special([f([1, 1, h, w], { values: nanAt(h * w, 0).map((v) => (Number.isNaN(v) ? Infinity : v)) })], 'one +∞'),
      { inputs: [f([0, 2, h, w])], label: 'empty batch' },
    ];
  }
}

/** Entries that exist for one defect each (issue #23): regression tests with exact expectations. */
const REGRESSIONS: OpEntry[] = [
  {
    // an int cast is piecewise constant: only the x term carries a gradient (it used to give 2)
    name: 'cast through int32 (no gradient)', run: (x) => V.add(x!, V.cast(V.cast(x!, 'int32'), x!.dtype)),
    ref: (x) => R.map(x!, (v) => v + Math.trunc(v)),
    cases: [{ inputs: [f([5], { values: [1.3, -2.6, 0.4, -0.3, 1.7] })] }, special([f([4], { values: [1.7, -2.5, 0, -0] })], 'integers and signed zeros', { grads: [[1, 1, 1, 1]] })],
  },
  {
    name: 'pow at base 0 and denormal bases', run: (a, b) => V.pow(a!, b!), ref: (a, b) => R.zip(powRef, a!, b!),
    cases: [special([f([5], { values: [0, 0, 0, 2, 5e-324] }), f([5], { values: [0, 1, 2, 0, 1] })], 'd/da', { grads: [[0, 1, 0, 0, 1]], float64Only: 'denormal base' })],
    gradWrt: [0],
  },
  {
    // the gradient of pow(x, 1) is 1; its own gradient (the second derivative of pow) is 0, not 0·∞
    name: 'pow second derivative', run: (x) => V.grad((t: Tensor) => V.sum(V.pow(t, 1)), { createGraph: true })(x!)[0]!,
    ref: (x) => R.map(x!, () => 1),
    cases: [special([f([4], { values: [0, -0, 5e-324, 2] })], 'at 0 and denormals', { grads: [[0, 0, 0, 0]], float64Only: 'denormal base' })],
  },
  {
    // a pooled buffer full of 8s is free before the backward: the summed-over-nothing gradient must still be 0
    name: 'matmul gradient over an empty summed batch',
    run: (a, b) => {
      for (let i = 0; i < 4; i++) V.add(V.full([a!.size], 7, { dtype: a!.dtype }), 1).dispose();
      return V.grad((t: Tensor) => V.sum(V.matmul(t, b!)))(a!)[0]!;
    },
    ref: (a) => R.map(a!, () => 0), cases: [{ inputs: [f([3, 2]), f([0, 2, 1])] }], differentiable: false,
  },
  {
    name: 'conv2d weight gradient with N = 0',
    run: (x, w) => {
      V.add(V.full([w!.size], 7, { dtype: w!.dtype }), 1).dispose();
      return V.grad((t: Tensor) => V.sum(V.conv2d(x!, t)))(w!)[0]!;
    },
    ref: (_x, w) => R.map(w!, () => 0), cases: [{ inputs: [f([0, 2, 4, 4]), f([3, 2, 3, 3])] }], differentiable: false,
  },
  {
    // a padding row of −∞ with the ignore index: 0·NaN must not reach the loss or the gradient
    name: 'crossEntropy with a non-finite ignored row',
    run: (z, t) => V.crossEntropy(z!, t!), ref: () => ({ shape: [], data: [Math.LN2] }),
    cases: [special([f([2, 2], { values: [-Infinity, -Infinity, 1, 1] }), f([2], { values: [-100, 0], int: true })], 'ignored [−∞, −∞] row', { grads: [[0, 0, -0.5, 0.5]] })],
    gradWrt: [0],
  },
  {
    // (x − μ)/σ of rows whose squares overflow: the moments are taken on x/max|x| (PyTorch gives NaN here)
    name: 'layerNorm of huge rows', run: (x) => V.layerNorm(x!, [3]),
    ref: (x) => {
      const out = R.map(x!, () => 0);
      for (let r = 0; r < x!.shape[0]!; r++) {
        const row = x!.data.slice(3 * r, 3 * r + 3), s = Math.max(...row.map(Math.abs));
        const u = row.map((v) => v / s), m = (u[0]! + u[1]! + u[2]!) / 3;
        const v = u.reduce((a, b) => a + (b - m) ** 2, 0) / 3;
        u.forEach((ui, i) => { out.data[3 * r + i] = (ui - m) / Math.sqrt(v + 1e-5 / s / s); });
      }
      return out;
    },
    cases: [special([f([2, 3], { values: [1e300, 1, 2, -1e300, 1e300, 0] })], 'huge rows', { float64Only: 'beyond float32 range' })],
  },
  {
    // sgn(NaN) = 0 in the gradient, so one NaN does not turn every gradient upstream into NaN (found by the fuzzer)
    name: 'abs gradient at NaN and 0', run: (x) => V.abs(x!), ref: (x) => R.map(x!, Math.abs),
    cases: [special([f([4], { values: [NaN, 0, -2, 3] })], 'NaN', { grads: [[0, 0, -1, 1]] })],
  },
  {
    // PyTorch's threshold_backward passes the gradient where the input is NaN (NaN ≤ 0 is false)
    name: 'relu passes NaN and −0', run: (x) => V.relu(x!), ref: (x) => R.map(x!, (v) => (v < 0 ? 0 : v)),
    cases: [special([f([4], { values: [NaN, -0, -1, 2] })], 'NaN', { grads: [[1, 0, 0, 1]] })],
  },
  {
    // a NaN operand is not a loser: both operands get the gradient (PyTorch); ties split it
    name: 'maximum gradient at NaN and ties', run: (a, b) => V.maximum(a!, b!), ref: (a, b) => R.zip(Math.max, a!, b!),
    cases: [special([f([3], { values: [NaN, 1, 2] }), f([3], { values: [0, 1, NaN] })], 'NaN and a tie', { grads: [[1, 0.5, 1], [1, 0.5, 1]] })],
  },
  {
    // clamp's gradient is a select: a NaN gradient arriving outside [lo, hi] stays 0 (found by the fuzzer)
    name: 'clamp gradient outside the range is 0, even for NaN', run: (x) => V.relu(V.log(V.clamp(x!, -0.5, 0))),
    ref: (x) => R.map(x!, (v) => { const c = Math.min(Math.max(v, -0.5), 0); const l = Math.log(c); return l < 0 ? 0 : l; }),
    cases: [special([f([3], { values: [0.7, -0.2, NaN] })], 'NaN upstream', { grads: [[0, -5, 0]] })],
  },
];

/** What a caller without TypeScript can pass by mistake: each is a named error, not a TypeError or a wrong result. */
const js = (label: string, run: () => unknown, message: RegExp): ErrorCase => ({ label, run, message });
const X = () => V.zeros([2, 3]);
const IMG = () => V.zeros([1, 1, 2, 2]);
REGRESSIONS.push({
  name: 'argument validation (plain JavaScript)', run: (x) => x!, ref: (x) => x!, cases: [], differentiable: false,
  errors: [
    js('slice: fractional start', () => V.slice(X(), [[0.5, 3]] as never), /^slice: start must be an integer or null, got 0\.5 for dimension 0/),
    js('slice: negative fractional start', () => V.slice(X(), [[-0.5]] as never), /^slice: start must be an integer or null, got -0\.5/),
    js('slice: NaN end', () => V.slice(X(), [[0, NaN]] as never), /^slice: end must be an integer or null, got NaN/),
    js('slice: specs not an array', () => V.slice(X(), 1 as never), /^slice: specs must be an array/),
    js('arange(NaN)', () => V.arange(NaN), /^arange: end must be a finite number, got NaN/),
    js('linspace: NaN end', () => V.linspace(0, NaN, 3), /^linspace: end must be a finite number, got NaN/),
    js('full: NaN-free value', () => V.full([2], 'a' as never), /^full: value must be a number, got 'a'/),
    js('flip: repeated axis', () => V.flip(X(), [0, 0]), /^flip: axis 0 appears twice/),
    js('flip: no axes', () => (V.flip as (x: Tensor) => Tensor)(X()), /^flip: axes must be an array of integers, got undefined/),
    js('tril: fractional k', () => V.tril(X(), 0.5), /^tril: k must be an integer, got 0\.5/),
    js('reshape: number shape', () => V.reshape(X(), 6 as never), /^reshape: shape must be an array of integers, got 6/),
    js('permute: number dims', () => V.permute(X(), 1 as never), /^permute: dims must be an array of integers, got 1/),
    js('expand: number shape', () => V.expand(X(), 3 as never), /^expand: shape must be an array of integers, got 3/),
    js('pad: flat widths', () => V.pad(X(), [1, 1] as never), /^pad: widths must be an array of \[before, after\] pairs/),
    js('sum: null axes', () => V.sum(X(), null as never), /^sum: axes must be an integer, an array of integers or undefined, got null/),
    js('mean: keepdims not boolean', () => V.mean(X(), 0, 'yes' as never), /^mean: keepdims must be a boolean, got 'yes'/),
    js('softmax: fractional axis', () => V.softmax(X(), 0.5), /^softmax: axis must be an integer, got 0\.5/),
    js('argmax: fractional axis', () => V.argmax(X(), 0.5), /^argmax: axis must be an integer, got 0\.5/),
    js('interpolate: no options', () => (V.interpolate as (x: Tensor) => Tensor)(IMG()), /^interpolate: options must be an object, got undefined/),
    js('interpolate: size of one', () => V.interpolate(IMG(), { size: [2] as never }), /^interpolate: size must be one integer or a pair/),
    js('interpolate: NaN scaleFactor', () => V.interpolate(IMG(), { scaleFactor: NaN }), /^interpolate: scaleFactor must be a positive number/),
    js("cast: 'int64'", () => V.cast(X(), 'int64' as never), /^cast: dtype must be one of 'float32', 'float64', 'int32', got 'int64'/),
    js("zeros: dtype 'float16'", () => V.zeros([2], { dtype: 'float16' as never }), /^zeros: dtype must be one of 'float32', 'float64', 'int32', got 'float16'/),
    js('ones: number shape', () => V.ones(3 as never), /^ones: shape must be an array of non-negative integers, got 3/),
    js('tensor: a string', () => V.tensor('abc' as never), /^tensor: values must be a number, a nested array of numbers or a typed array/),
    js('conv2d: options not an object', () => V.conv2d(IMG(), V.zeros([1, 1, 1, 1]), null, 5 as never), /^conv2d: options must be an object or undefined, got 5/),
    js('maxPool2d: string kernel', () => V.maxPool2d(IMG(), 'a' as never), /^maxPool2d: kernel must be an integer ≥ 1 or a pair of them/),
    js('crossEntropy: unknown reduction', () => V.crossEntropy(X(), V.zeros([2], { dtype: 'int32' }), { reduction: 'avg' as never }), /^crossEntropy: reduction must be one of 'mean', 'sum', 'none', got 'avg'/),
    js('layerNorm: number normalizedShape', () => V.layerNorm(X(), 3 as never), /^layerNorm: normalizedShape must be an array of integers, got 3/),
    js('clamp: string bound', () => V.clamp(X(), 'a' as never), /^clamp: lo must be a number, got 'a'/),
    js('dropout: no options', () => (V.dropout as (x: Tensor, p: number) => Tensor)(X(), 0.5), /^dropout: options must be an object, got undefined/),
    js('norm: string p', () => V.norm(X(), 'fro' as never), /^norm: p must be a number, got 'fro'/),
    js('oneHot: int dtype', () => V.oneHot(V.zeros([2], { dtype: 'int32' }), 3, 'int32' as never), /^oneHot: dtype must be one of 'float32', 'float64', got 'int32'/),
    js('max over an empty axis names the op called', () => V.logSumExp(V.zeros([0, 3]), 0, false) && V.norm(V.zeros([0, 3]), Infinity, 0), /^norm: cannot reduce over axis 0 of size 0/),
  ],
});

export const OPS: OpEntry[] = [
  ...BASE.map((e) => (EXTRA_CASES[e.name] ? { ...e, cases: [...e.cases, ...EXTRA_CASES[e.name]!] } : e)),
  ...REGRESSIONS,
];

const unknown = Object.keys(EXTRA_CASES).filter((k) => !BASE.some((e) => e.name === k));
if (unknown.length) throw new Error(`op-db: extra cases for unknown entries: ${unknown.join(', ')}`);
