// The op variants of the differential fuzzer: for each, when it applies to a tensor of a given shape, how its
// arguments are drawn, and how it runs on our engine. bench/fuzz/torch-runner.py maps the same names to PyTorch.

import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';

/** A seeded source of draws (the engine's Rng plus a few helpers). */
export class Draw {
  readonly rng: V.Rng;
  constructor(seed: number) { this.rng = new V.Rng(seed); }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number { return hi < lo ? lo : this.rng.int(lo, hi + 1); }
  chance(p: number): boolean { return this.rng.uniform() < p; }
  pick<T>(xs: readonly T[]): T { return xs[this.rng.int(0, xs.length)]!; }
  shuffle<T>(xs: readonly T[]): T[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) { const j = this.rng.int(0, i + 1); [out[i], out[j]] = [out[j]!, out[i]!]; }
    return out;
  }
  /** A non-empty random subset of 0..rank-1, sorted. */
  axes(rank: number): number[] {
    const picked = Array.from({ length: rank }, (_, i) => i).filter(() => this.chance(0.5));
    return picked.length ? picked : [this.int(0, rank - 1)];
  }
}

/** An extra operand an op needs: a float tensor (differentiable input) or an int32 index tensor. */
export interface ExtraSpec {
  shape: number[];
  kind: 'float' | 'index';
  /** index tensors: values in [lo, hi] (-100 = ignore, for crossEntropy). */
  lo?: number;
  hi?: number;
  ignore?: boolean;
}

export interface OpVariant {
  name: string;
  /** Whether the op applies to a float64 tensor of this shape. */
  applies: (shape: number[]) => boolean;
  /** Arguments (JSON) and extra operands, drawn for this shape. */
  draw: (d: Draw, shape: number[]) => { args: Record<string, unknown>; extras?: ExtraSpec[] };
  run: (x: Tensor, args: Record<string, unknown>, extras: Tensor[]) => Tensor;
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const any = () => true;
const ranked = (lo: number, hi = 8) => (s: number[]) => s.length >= lo && s.length <= hi;
const nonEmpty = (s: number[]) => size(s) > 0;
/** A shape that broadcasts against `s`: some dims set to 1, some leading dims dropped. */
function broadcastPartner(d: Draw, s: number[]): number[] {
  const drop = d.int(0, s.length);
  return s.slice(drop).map((v) => (d.chance(0.3) ? 1 : v));
}

type Run = OpVariant['run'];
const unary = (name: string, run: (x: Tensor) => Tensor): OpVariant => ({ name, applies: any, draw: () => ({ args: {} }), run: (x) => run(x) });
const binary = (name: string, run: (a: Tensor, b: Tensor | number) => Tensor): OpVariant => ({
  name,
  applies: any,
  draw: (d, s) => (d.chance(0.2)
    ? { args: { scalar: d.pick([0, 1, -1, 2, 0.5, -2.5, 3]) } }
    : { args: { swap: d.chance(0.3) }, extras: [{ shape: broadcastPartner(d, s), kind: 'float' }] }),
  run: (x, a, e) => (e[0] ? (a.swap ? run(e[0], x) : run(x, e[0])) : run(x, a.scalar as number)),
});
/** Reductions over a drawn axes list (or all axes) with keepdims. */
const reduction = (name: string, run: (x: Tensor, axes: number[] | undefined, keep: boolean) => Tensor, needsNonEmptyAxes = false): OpVariant => ({
  name,
  applies: (s) => !needsNonEmptyAxes || nonEmpty(s),
  draw: (d, s) => ({ args: { axes: s.length === 0 || d.chance(0.25) ? null : d.axes(s.length), keepdims: d.chance(0.4) } }),
  run: (x, a) => run(x, (a.axes as number[] | null) ?? undefined, a.keepdims as boolean),
});
const alongAxis = (name: string, run: Run, needsNonEmpty = false): OpVariant => ({
  name,
  applies: (s) => s.length >= 1 && (!needsNonEmpty || nonEmpty(s)),
  draw: (d, s) => ({ args: { axis: d.int(-s.length, s.length - 1) } }),
  run,
});

function factorize(d: Draw, shape: number[]): number[] {
  const n = size(shape);
  if (n === 0) return d.pick([[0], [0, 3].slice(0, 1 + d.int(0, 1)), [...shape].reverse()]);
  const out: number[] = [];
  let rest = n;
  for (let p = 2; p <= rest && out.length < 3;) {
    if (rest % p === 0 && d.chance(0.5)) { out.push(p); rest /= p; } else p++;
  }
  out.push(rest);
  return d.shuffle(out);
}

export const OP_VARIANTS: OpVariant[] = [
  ...([
    ['neg', V.neg], ['abs', V.abs], ['exp', V.exp], ['log', V.log], ['sqrt', V.sqrt], ['rsqrt', V.rsqrt], ['sin', V.sin], ['cos', V.cos],
    ['tanh', V.tanh], ['sigmoid', V.sigmoid], ['relu', V.relu], ['softplus', V.softplus], ['erf', V.erf], ['square', V.square],
    ['reciprocal', V.reciprocal], ['sign', V.sign], ['floor', V.floor], ['gelu', V.gelu], ['geluTanh', V.geluTanh], ['silu', V.silu],
    ['logSigmoid', V.logSigmoid], ['contiguous', V.contiguous],
  ] as const).map(([n, f]) => unary(n, f)),
  {
    name: 'clamp', applies: any,
    draw: (d) => { const lo = d.pick([-Infinity, -1, -0.5, 0]); return { args: { lo, hi: d.pick([Infinity, lo + 0.5, 1, 2]) } }; },
    run: (x, a) => V.clamp(x, a.lo as number, a.hi as number),
  },
  ...([['add', V.add], ['sub', V.sub], ['mul', V.mul], ['div', V.div], ['pow', V.pow], ['maximum', V.maximum], ['minimum', V.minimum]] as const)
    .map(([n, f]) => binary(n, f)),
  {
    name: 'where', applies: any,
    draw: (d, s) => ({ args: {}, extras: [{ shape: broadcastPartner(d, s), kind: 'float' }] }),
    run: (x, _a, [y]) => V.where(V.gt(x, 0), x, y!),
  },
  { name: 'castRoundTrip32', applies: any, draw: () => ({ args: {} }), run: (x) => V.cast(V.cast(x, 'float32'), 'float64') },
  { name: 'castRoundTripInt', applies: any, draw: () => ({ args: {} }), run: (x) => V.add(x, V.cast(V.cast(x, 'int32'), 'float64')) },
  reduction('sum', V.sum),
  reduction('mean', V.mean),
  reduction('max', V.max, true),
  reduction('min', V.min, true),
  reduction('logSumExp', V.logSumExp),
  {
    name: 'variance', applies: any,
    draw: (d, s) => ({ args: { axes: s.length === 0 || d.chance(0.25) ? null : d.axes(s.length), correction: d.pick([0, 1]), keepdims: d.chance(0.3) } }),
    run: (x, a) => V.variance(x, (a.axes as number[] | null) ?? undefined, { correction: a.correction as number, keepdims: a.keepdims as boolean }),
  },
  {
    name: 'std', applies: any,
    draw: (d, s) => ({ args: { axes: s.length === 0 || d.chance(0.25) ? null : d.axes(s.length), correction: d.pick([0, 1]), keepdims: d.chance(0.3) } }),
    run: (x, a) => V.std(x, (a.axes as number[] | null) ?? undefined, { correction: a.correction as number, keepdims: a.keepdims as boolean }),
  },
  {
    name: 'norm', applies: any,
    draw: (d, s) => ({ args: { p: d.pick([1, 2, 3, Infinity]), axes: s.length === 0 || d.chance(0.3) ? null : d.axes(s.length), keepdims: d.chance(0.3) } }),
    run: (x, a) => V.norm(x, a.p as number, (a.axes as number[] | null) ?? undefined, a.keepdims as boolean),
  },
  alongAxis('softmax', (x, a) => V.softmax(x, a.axis as number)),
  alongAxis('logSoftmax', (x, a) => V.logSoftmax(x, a.axis as number)),
  alongAxis('cumsum', (x, a) => V.cumsum(x, a.axis as number, { reverse: a.reverse as boolean })),
  {
    name: 'reshape', applies: any, draw: (d, s) => ({ args: { shape: factorize(d, s) } }),
    run: (x, a) => V.reshape(x, a.shape as number[]),
  },
  {
    name: 'permute', applies: ranked(2), draw: (d, s) => ({ args: { dims: d.shuffle(s.map((_, i) => i)) } }),
    run: (x, a) => V.permute(x, a.dims as number[]),
  },
  {
    name: 'transpose', applies: ranked(2), draw: (d, s) => ({ args: { a: d.int(0, s.length - 1), b: d.int(0, s.length - 1) } }),
    run: (x, a) => V.transpose(x, a.a as number, a.b as number),
  },
  {
    name: 'unsqueezeExpand', applies: ranked(0, 4), draw: (d, s) => ({ args: { axis: d.int(0, s.length), n: d.int(0, 3) } }),
    run: (x, a) => { const u = V.unsqueeze(x, a.axis as number); const shape = [...u.shape]; shape[a.axis as number] = a.n as number; return V.expand(u, shape); },
  },
  {
    name: 'slice', applies: ranked(1),
    draw: (d, s) => ({
      args: {
        specs: s.map((n) => (d.chance(0.15) && n > 0 ? d.int(-n, n - 1) : d.chance(0.3) ? null : [d.int(-n - 1, n), d.pick([null, d.int(-n - 1, n + 1)]), d.int(1, 3)])),
      },
    }),
    run: (x, a) => V.slice(x, a.specs as V.SliceSpec[]),
  },
  { name: 'flip', applies: ranked(1), draw: (d, s) => ({ args: { axes: d.axes(s.length) } }), run: (x, a) => V.flip(x, a.axes as number[]) },
  {
    name: 'pad', applies: ranked(1), draw: (d, s) => ({ args: { widths: s.map(() => [d.int(0, 2), d.int(0, 2)]), value: d.pick([0, 1.5, -Infinity]) } }),
    run: (x, a) => V.pad(x, a.widths as [number, number][], a.value as number),
  },
  {
    name: 'concat', applies: ranked(1),
    draw: (d, s) => { const axis = d.int(0, s.length - 1); const other = [...s]; other[axis] = d.int(0, 3); return { args: { axis }, extras: [{ shape: other, kind: 'float' }] }; },
    run: (x, a, [y]) => V.concat([x, y!], a.axis as number),
  },
  { name: 'tril', applies: ranked(2), draw: (d) => ({ args: { k: d.int(-2, 2) } }), run: (x, a) => V.tril(x, a.k as number) },
  { name: 'triu', applies: ranked(2), draw: (d) => ({ args: { k: d.int(-2, 2) } }), run: (x, a) => V.triu(x, a.k as number) },
  {
    name: 'matmul', applies: ranked(1),
    draw: (d, s) => {
      const k = s[s.length - 1]!, n = d.int(0, 4);
      const other = d.chance(0.2) ? [k] : s.length > 2 && d.chance(0.5) ? [...broadcastPartner(d, s.slice(0, -2)), k, n] : [k, n];
      return { args: {}, extras: [{ shape: other, kind: 'float' }] };
    },
    run: (x, _a, [y]) => V.matmul(x, y!),
  },
  {
    name: 'layerNorm', applies: ranked(1),
    draw: (d, s) => { const k = d.int(1, s.length); const ns = s.slice(s.length - k); return { args: { k, affine: d.chance(0.5) }, extras: [{ shape: ns, kind: 'float' }, { shape: ns, kind: 'float' }] }; },
    run: (x, a, [w, b]) => V.layerNorm(x, x.shape.slice(x.rank - (a.k as number)), a.affine ? w : null, a.affine ? b : null, 1e-5),
  },
  {
    name: 'groupNorm', applies: (s) => s.length >= 2 && s.length <= 4 && s[1]! > 0,
    draw: (d, s) => { const c = s[1]!; const gs = Array.from({ length: c }, (_, i) => i + 1).filter((g) => c % g === 0); return { args: { groups: d.pick(gs) }, extras: [{ shape: [c], kind: 'float' }, { shape: [c], kind: 'float' }] }; },
    run: (x, a, [w, b]) => V.groupNorm(x, a.groups as number, w, b, 1e-5),
  },
  {
    name: 'crossEntropy', applies: (s) => s.length >= 2 && s.length <= 4 && s[1]! > 0,
    draw: (d, s) => ({
      args: { smoothing: d.pick([0, 0, 0.1]), reduction: d.pick(['mean', 'sum', 'none']) },
      extras: [{ shape: [s[0]!, ...s.slice(2)], kind: 'index', lo: 0, hi: s[1]! - 1, ignore: d.chance(0.4) }],
    }),
    run: (x, a, [t]) => V.crossEntropy(x, t!, { labelSmoothing: a.smoothing as number, reduction: a.reduction as 'mean' }),
  },
  {
    name: 'interpolate', applies: (s) => s.length === 4 && s[2]! > 0 && s[3]! > 0,
    draw: (d) => ({ args: { size: [d.int(1, 7), d.int(1, 7)], mode: d.pick(['nearest', 'bilinear', 'bicubic', 'area']) } }),
    run: (x, a) => V.interpolate(x, { size: a.size as [number, number], mode: a.mode as V.InterpolateMode }),
  },
  {
    name: 'conv2d', applies: (s) => s.length === 4 && s[1]! > 0 && s[2]! > 0 && s[3]! > 0,
    draw: (d, s) => {
      const c = s[1]!, gs = [1, 2, 3].filter((g) => c % g === 0), groups = d.pick(gs);
      const kh = d.int(1, Math.min(3, s[2]! + 2)), kw = d.int(1, Math.min(3, s[3]! + 2)), padding = d.int(0, 1);
      const fits = s[2]! + 2 * padding >= kh && s[3]! + 2 * padding >= kw;
      const o = groups * d.int(1, 2);
      return { args: { stride: d.int(1, 2), padding: fits ? padding : 1, groups, bias: d.chance(0.5) }, extras: [{ shape: [o, c / groups, fits ? kh : 1, fits ? kw : 1], kind: 'float' }, { shape: [o], kind: 'float' }] };
    },
    run: (x, a, [w, b]) => V.conv2d(x, w!, a.bias ? b : null, { stride: a.stride as number, padding: a.padding as number, groups: a.groups as number }),
  },
  {
    name: 'maxPool2d', applies: (s) => s.length === 4 && s[2]! >= 2 && s[3]! >= 2,
    draw: (d) => ({ args: { kernel: 2, stride: d.pick([1, 2]), padding: d.int(0, 1) } }),
    run: (x, a) => V.maxPool2d(x, a.kernel as number, { stride: a.stride as number, padding: a.padding as number }),
  },
  {
    name: 'avgPool2d', applies: (s) => s.length === 4 && s[2]! >= 2 && s[3]! >= 2,
    draw: (d) => ({ args: { kernel: 2, stride: d.pick([1, 2]), padding: d.int(0, 1), countIncludePad: d.chance(0.5) } }),
    run: (x, a) => V.avgPool2d(x, a.kernel as number, { stride: a.stride as number, padding: a.padding as number, countIncludePad: a.countIncludePad as boolean }),
  },
  {
    name: 'gather', applies: (s) => s.length >= 1 && nonEmpty(s),
    draw: (d, s) => { const axis = d.int(0, s.length - 1); const shape = s.map((n, i) => (i === axis ? d.int(0, 4) : d.int(1, n))); return { args: { axis }, extras: [{ shape, kind: 'index', lo: 0, hi: s[axis]! - 1 }] }; },
    run: (x, a, [i]) => V.gather(x, a.axis as number, i!),
  },
  {
    name: 'indexSelect', applies: (s) => s.length >= 1 && nonEmpty(s),
    draw: (d, s) => { const axis = d.int(0, s.length - 1); return { args: { axis }, extras: [{ shape: [d.int(0, 5)], kind: 'index', lo: 0, hi: s[axis]! - 1 }] }; },
    run: (x, a, [i]) => V.indexSelect(x, a.axis as number, i!),
  },
  {
    name: 'topk', applies: (s) => s.length >= 1 && s.length <= 3,
    draw: (d, s) => { const axis = d.int(0, s.length - 1); return { args: { axis, k: d.int(0, s[axis]!), largest: d.chance(0.7) } }; },
    run: (x, a) => V.topk(x, a.k as number, { axis: a.axis as number, largest: a.largest as boolean }).values,
  },
];

// cumsum's reverse flag is drawn here so alongAxis stays generic
const cumsumVariant = OP_VARIANTS.find((v) => v.name === 'cumsum')!;
cumsumVariant.draw = (d, s) => ({ args: { axis: d.int(-s.length, s.length - 1), reverse: d.chance(0.3) } });

/**
 * Invalid calls: each returns a thunk that must throw a named error on our side (and raises in PyTorch too).
 * The name is the PyTorch-side twin in torch-runner.py.
 */
export interface InvalidCall { name: string; args: Record<string, unknown> }

export function drawInvalid(d: Draw, shape: number[]): InvalidCall {
  const r = shape.length;
  // (a 0-d tensor accepts axis 0 and -1 in PyTorch, hence rank + 1)
  const choices: InvalidCall[] = [
    { name: 'sum', args: { axes: [r + 1 + d.int(0, 1)], keepdims: false } },
    { name: 'softmax', args: { axis: r + 1 + d.int(0, 1) } },
    { name: 'reshape', args: { shape: [size(shape) + 1] } },
    { name: 'matmulMismatch', args: { k: (shape[r - 1] ?? 1) + 1 } },
    { name: 'maxEmpty', args: {} },
    { name: 'concatRank', args: {} },
    { name: 'crossEntropyFloatTarget', args: {} },
  ];
  if (r >= 1 && shape[r - 1] !== 1) choices.push({ name: 'addMismatch', args: { shape: [...shape.slice(0, -1), shape[r - 1]! + 2] } });
  if (r >= 2) choices.push({ name: 'permute', args: { dims: Array.from({ length: r }, () => 0) } });
  if (shape.some((n) => n !== 1)) choices.push({ name: 'expandBad', args: { shape: shape.map((n) => n + 2) } });
  if (r >= 1) choices.push({ name: 'sumRepeated', args: { axes: [0, 0 - r] } });
  return d.pick(choices);
}

export function runInvalid(x: Tensor, call: InvalidCall): Tensor {
  const a = call.args;
  switch (call.name) {
    case 'sum': return V.sum(x, a.axes as number[]);
    case 'sumRepeated': return V.sum(x, a.axes as number[]);
    case 'softmax': return V.softmax(x, a.axis as number);
    case 'reshape': return V.reshape(x, a.shape as number[]);
    case 'matmulMismatch': return V.matmul(x.rank === 0 ? V.reshape(x, [1]) : x, V.zeros([a.k as number, 2], { dtype: 'float64' }));
    case 'addMismatch': return V.add(x, V.zeros(a.shape as number[], { dtype: 'float64' }));
    case 'maxEmpty': return V.max(V.zeros([0, ...x.shape], { dtype: 'float64' }), 0);
    case 'concatRank': return V.concat([x, V.zeros([...x.shape, 2], { dtype: 'float64' })], 0);
    case 'crossEntropyFloatTarget': return V.crossEntropy(V.zeros([2, 3], { dtype: 'float64' }), V.zeros([2], { dtype: 'float64' }));
    case 'permute': return V.permute(x, a.dims as number[]);
    case 'expandBad': return V.expand(x, a.shape as number[]);
    default: throw new Error(`unknown invalid call ${call.name}`);
  }
}
