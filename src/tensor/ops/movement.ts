// Movement ops: views that only change (shape, strides, offset) — reshape, permute, expand, slice, flip —
// plus the copies concat and pad. Each view's VJP is its adjoint movement (slice ↔ pad-with-zeros, expand ↔ sum).

import { defineOp, type AppliedOp } from '../graph/define-op.js';
import { Tensor, fromDataId, makeView } from '../tensor.js';
import { ArgumentError, DTypeError, ShapeError, fmtShape } from '../errors.js';
import {
  assertValidShape, describe, normalizeAxes, normalizeAxis, shapesEqual, sizeOf, stridesOf,
} from '../shape.js';
import { checkIntArray, checkNumber, checkTensor } from './operands.js';
import { sumToShape } from './reduce.js';

// ---------- contiguous / clone ----------

const copyOp = defineOp<undefined>({
  name: 'contiguous',
  forward: ([x]) => fromDataId(x!.backend, x!.backend.copy(x!.info(), x!.dtype), x!.shape, x!.dtype),
  // d copy(x) = dx
  vjp: (gy) => [gy],
});

/** x itself if already contiguous, else a contiguous copy. */
export function contiguous(x: Tensor): Tensor {
  const t = checkTensor(x, 'contiguous');
  return t.isContiguous ? t : copyOp([t], undefined);
}

/** A contiguous copy with its own buffer (differentiable). */
export function clone(x: Tensor): Tensor {
  return copyOp([checkTensor(x, 'clone')], undefined);
}

// ---------- fresh ----------

const freshOp = defineOp<undefined>({
  name: 'fresh',
  // defineOp records on a new view when a forward hands back its input, so nothing is copied
  forward: ([x]) => x!,
  // d x = dx
  vjp: (gy) => [gy],
});

/**
 * A new reference to x's values that the caller owns: a view sharing x's buffer (no copy), differentiable as
 * the identity. Disposing one leaves the other alive, so it is the idiom wherever a tensor gets a second owner:
 * an accumulator keeping a gradient a VJP passed through, a cache or optimizer state keeping a value the
 * caller may dispose. (Buffers are never written in place, so sharing one is safe.)
 */
export function fresh(x: Tensor): Tensor {
  return freshOp([checkTensor(x, 'fresh')], undefined);
}

// ---------- reshape ----------

const reshapeOp = defineOp<{ shape: number[] }>({
  name: 'reshape',
  forward: ([x], { shape }) => {
    if (x!.isContiguous) return makeView(x!, shape, stridesOf(shape), x!.offset);
    return fromDataId(x!.backend, x!.backend.copy(x!.info(), x!.dtype), shape, x!.dtype);
  },
  // d reshape(x) = reshape(dx)
  vjp: (gy, { inputShapes }) => [reshape(gy, inputShapes[0]!)],
});

/** Same data, new shape (one dim may be -1). A view when x is contiguous, else a copy. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const t = checkTensor(x, 'reshape');
  checkIntArray(shape, 'reshape', 'shape');
  const resolved = [...shape];
  const inferred = shape.indexOf(-1);
  if (inferred !== shape.lastIndexOf(-1)) throw new ShapeError('reshape', `only one dimension can be -1, got ${fmtShape(shape)}`);
  if (inferred >= 0) {
    const rest = sizeOf(shape.filter((_, i) => i !== inferred));
    if (rest === 0 || t.size % rest !== 0) throw new ShapeError('reshape', `cannot reshape ${fmtShape(t.shape)} (${t.size} elements) to ${fmtShape(shape)}`);
    resolved[inferred] = t.size / rest;
  }
  assertValidShape(resolved, 'reshape');
  if (sizeOf(resolved) !== t.size) {
    throw new ShapeError('reshape', `cannot reshape ${fmtShape(t.shape)} (${t.size} elements) to ${fmtShape(shape)} (${sizeOf(resolved)} elements)`);
  }
  if (shapesEqual(resolved, t.shape)) return t;
  return reshapeOp([t], { shape: resolved });
}

/** Flattens dims start..end (inclusive) into one. */
export function flatten(x: Tensor, start = 0, end = -1): Tensor {
  const t = checkTensor(x, 'flatten');
  if (t.rank === 0) return reshape(t, [1]);
  const s = normalizeAxis(start, t.rank, 'flatten', 'start');
  const e = normalizeAxis(end, t.rank, 'flatten', 'end');
  if (e < s) throw new ArgumentError('flatten', `end (${end}) comes before start (${start})`);
  return reshape(t, [...t.shape.slice(0, s), sizeOf(t.shape.slice(s, e + 1)), ...t.shape.slice(e + 1)]);
}

/** Inserts a size-1 dim at `axis` (which may equal rank, or be negative). */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const t = checkTensor(x, 'unsqueeze');
  const a = normalizeAxis(axis, t.rank + 1, 'unsqueeze');
  return reshape(t, [...t.shape.slice(0, a), 1, ...t.shape.slice(a)]);
}

/** Removes size-1 dims (all of them, or the given axes, which must have size 1). */
export function squeeze(x: Tensor, axes?: number | readonly number[]): Tensor {
  const t = checkTensor(x, 'squeeze');
  if (axes !== undefined && typeof axes !== 'number') checkIntArray(axes, 'squeeze', 'axes');
  const list = axes === undefined ? t.shape.map((_, i) => i).filter((i) => t.shape[i] === 1)
    : (typeof axes === 'number' ? [axes] : axes).map((a) => normalizeAxis(a, t.rank, 'squeeze'));
  for (const a of list) {
    if (t.shape[a] !== 1) throw new ShapeError('squeeze', `axis ${a} has size ${t.shape[a]}, not 1, in shape ${fmtShape(t.shape)}`);
  }
  return reshape(t, t.shape.filter((_, i) => !list.includes(i)));
}

// ---------- permute / transpose ----------

const permuteOp = defineOp<{ dims: number[] }>({
  name: 'permute',
  forward: ([x], { dims }) => makeView(x!, dims.map((d) => x!.shape[d]!), dims.map((d) => x!.strides[d]!), x!.offset),
  // d permute(x, p) = permute(dx, p⁻¹)
  vjp: (gy, { attrs: { dims } }) => {
    const inverse = new Array<number>(dims.length);
    dims.forEach((d, i) => { inverse[d] = i; });
    return [permute(gy, inverse)];
  },
});

/** Reorders dims: out.shape[i] = x.shape[dims[i]]. A view. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const t = checkTensor(x, 'permute');
  checkIntArray(dims, 'permute', 'dims');
  if (dims.length !== t.rank) throw new ArgumentError('permute', `dims ${fmtShape(dims)} has ${dims.length} entries for a tensor of rank ${t.rank}`);
  const norm = dims.map((d) => normalizeAxis(d, t.rank, 'permute', 'dims'));
  if (new Set(norm).size !== norm.length) throw new ArgumentError('permute', `dims ${fmtShape(dims)} is not a permutation`);
  if (norm.every((d, i) => d === i)) return t;
  return permuteOp([t], { dims: norm });
}

/** Swaps two dims (the last two by default). A view. */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  const t = checkTensor(x, 'transpose');
  if (t.rank < 2 && dim0 === -2 && dim1 === -1) throw new ShapeError('transpose', `needs rank ≥ 2, got shape ${fmtShape(t.shape)}`);
  const a = normalizeAxis(dim0, t.rank, 'transpose', 'dim0');
  const b = normalizeAxis(dim1, t.rank, 'transpose', 'dim1');
  const dims = t.shape.map((_, i) => i);
  [dims[a], dims[b]] = [b, a];
  return permute(t, dims);
}

// ---------- expand ----------

const expandOp = defineOp<{ shape: number[] }>({
  name: 'expand',
  forward: ([x], { shape }) => {
    const lead = shape.length - x!.rank;
    const strides = shape.map((d, i) => (i < lead || (x!.shape[i - lead] === 1 && d !== 1) ? 0 : x!.strides[i - lead]!));
    return makeView(x!, shape, strides, x!.offset);
  },
  // d expand(x) = sum of dy over the broadcast dims
  vjp: (gy, { inputShapes }) => [sumToShape(gy, inputShapes[0]!)],
});

/** Broadcasts x to `shape` without copying (stride 0); -1 keeps a dim. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const t = checkTensor(x, 'expand');
  checkIntArray(shape, 'expand', 'shape');
  if (shape.length < t.rank) throw new ShapeError('expand', `cannot expand ${fmtShape(t.shape)} to the lower rank ${fmtShape(shape)}`);
  const lead = shape.length - t.rank;
  const resolved = shape.map((d, i) => (d === -1 && i >= lead ? t.shape[i - lead]! : d));
  assertValidShape(resolved, 'expand');
  for (let i = 0; i < t.rank; i++) {
    const d = t.shape[i]!;
    if (d !== 1 && d !== resolved[lead + i]) {
      throw new ShapeError('expand', `cannot expand ${fmtShape(t.shape)} to ${fmtShape(shape)}: dimension ${i} is ${d}, not 1 or ${resolved[lead + i]}`);
    }
  }
  if (shapesEqual(resolved, t.shape)) return t;
  return expandOp([t], { shape: resolved });
}

// ---------- slice and its adjoint ----------

interface StridedWindow {
  /** Full (outer) shape. */
  full: number[];
  starts: number[];
  steps: number[];
  /** Window shape. */
  window: number[];
}

const sliceOp: AppliedOp<StridedWindow> = defineOp<StridedWindow>({
  name: 'slice',
  forward: ([x], { starts, steps, window }) => {
    let offset = x!.offset;
    starts.forEach((s, i) => { offset += s * x!.strides[i]!; });
    return makeView(x!, window, steps.map((st, i) => st * x!.strides[i]!), offset);
  },
  // d slice(x) = dy written into zeros at the window (the adjoint of reading a window)
  vjp: (gy, { attrs }) => [placeOp([gy], { ...attrs, fill: 0, name: 'unslice' })],
});

const placeOp: AppliedOp<StridedWindow & { fill: number; name: string }> = defineOp<StridedWindow & { fill: number; name: string }>({
  name: 'pad',
  forward: ([x], { full, starts, steps, fill }) => {
    const cs = stridesOf(full);
    let offset = 0;
    starts.forEach((s, i) => { offset += s * cs[i]!; });
    const id = x!.backend.place(x!.info(), full, offset, steps.map((st, i) => st * cs[i]!), fill);
    return fromDataId(x!.backend, id, full, x!.dtype);
  },
  // d place(x) = the window of dy where x was written
  vjp: (gy, { attrs: { full, starts, steps, window } }) => [sliceOp([gy], { full, starts, steps, window })],
});

/** One entry per dim: an index (drops the dim), null (everything), or [start, end, step] with Python semantics. */
export type SliceSpec = number | null | readonly [number | null | undefined, (number | null)?, (number | null)?];

/** Python's slice.indices: clamps start/end for a dim of length n, any non-zero step. */
function sliceIndices(n: number, start: number | null | undefined, end: number | null | undefined, step: number): [number, number] {
  const lowerOut = step < 0 ? -1 : 0;
  const upperOut = step < 0 ? n - 1 : n;
  const fix = (v: number | null | undefined, dflt: number): number => {
    if (v === null || v === undefined) return dflt;
    if (v < 0) return Math.max(v + n, lowerOut);
    return Math.min(v, upperOut);
  };
  const s = fix(start, step < 0 ? upperOut : lowerOut);
  const e = fix(end, step < 0 ? lowerOut : upperOut);
  const count = step > 0 ? Math.max(0, Math.ceil((e - s) / step)) : Math.max(0, Math.ceil((s - e) / -step));
  return [s, count];
}

/**
 * NumPy-style basic indexing with steps (a view).
 * @example slice(x, [null, [1, 5, 2]])   // x[:, 1:5:2]
 * @example slice(x, [0])                 // x[0] (drops dim 0)
 */
export function slice(x: Tensor, specs: readonly SliceSpec[]): Tensor {
  const t = checkTensor(x, 'slice');
  if (!Array.isArray(specs)) throw new ArgumentError('slice', `specs must be an array (one entry per leading dim), got ${describe(specs)}`);
  if (specs.length > t.rank) throw new ArgumentError('slice', `${specs.length} slice specs for a tensor of rank ${t.rank} (shape ${fmtShape(t.shape)})`);
  const starts: number[] = [], steps: number[] = [], window: number[] = [], dropped: number[] = [];
  t.shape.forEach((n, i) => {
    const spec = specs[i] ?? null;
    if (typeof spec === 'number') {
      if (!Number.isInteger(spec) || spec < -n || spec >= n) throw new ArgumentError('slice', `index ${spec} is out of range for dimension ${i} of size ${n}`);
      starts.push(spec < 0 ? spec + n : spec); steps.push(1); window.push(1); dropped.push(i);
      return;
    }
    if (spec !== null && (!Array.isArray(spec) || spec.length > 3)) {
      throw new ArgumentError('slice', `spec for dimension ${i} must be an index, null or [start, end, step], got ${describe(spec)}`);
    }
    const [s, e, st] = spec ?? [null, null, null];
    for (const [name, v] of [['start', s], ['end', e]] as const) {
      if (v !== null && v !== undefined && !Number.isInteger(v)) throw new ArgumentError('slice', `${name} must be an integer or null, got ${describe(v)} for dimension ${i}`);
    }
    const step = st ?? 1;
    if (!Number.isInteger(step) || step === 0) throw new ArgumentError('slice', `step must be a non-zero integer, got ${step} for dimension ${i}`);
    const [start, count] = sliceIndices(n, s, e, step);
    starts.push(count > 0 ? start : 0); steps.push(step); window.push(count);
  });
  let out = t;
  const identity = window.every((w, i) => w === t.shape[i] && steps[i] === 1 && starts[i] === 0);
  if (!identity) out = sliceOp([t], { full: [...t.shape], starts, steps, window });
  return dropped.length ? reshape(out, window.filter((_, i) => !dropped.includes(i))) : out;
}

/** Reverses the order along `axes`. A view (negative strides). */
export function flip(x: Tensor, axes: number | readonly number[]): Tensor {
  const t = checkTensor(x, 'flip');
  if (typeof axes !== 'number') checkIntArray(axes, 'flip', 'axes');
  const list = normalizeAxes(axes, t.rank, 'flip');
  const specs: SliceSpec[] = t.shape.map((_, i) => (list.includes(i) ? [null, null, -1] : null));
  return slice(t, specs);
}

/**
 * Constant padding: `widths[i] = [before, after]` for the leading dims listed (trailing dims unpadded).
 * @example pad(img, [[0, 0], [0, 0], [2, 2], [2, 2]])   // NCHW, 2 pixels around
 */
export function pad(x: Tensor, widths: readonly (readonly [number, number])[], value = 0): Tensor {
  const t = checkTensor(x, 'pad');
  if (!Array.isArray(widths) || widths.some((w) => !Array.isArray(w) || w.length !== 2)) {
    throw new ArgumentError('pad', `widths must be an array of [before, after] pairs, got ${describe(widths)}`);
  }
  checkNumber(value, 'pad', 'value');
  if (widths.length > t.rank) throw new ArgumentError('pad', `${widths.length} pad widths for a tensor of rank ${t.rank}`);
  const w = t.shape.map((_, i) => widths[i] ?? [0, 0]);
  for (const [a, b] of w) {
    if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < 0) throw new ArgumentError('pad', `pad widths must be non-negative integers, got [${a}, ${b}] (use slice to crop)`);
  }
  if (w.every(([a, b]) => a === 0 && b === 0)) return t;
  const full = t.shape.map((d, i) => d + w[i]![0] + w[i]![1]);
  return placeOp([t], { full, starts: w.map(([a]) => a), steps: t.shape.map(() => 1), window: [...t.shape], fill: value, name: 'pad' });
}

// ---------- concat, stack, split ----------

const concatOp = defineOp<{ axis: number }>({
  name: 'concat',
  forward: (xs, { axis }) => {
    const shape = [...xs[0]!.shape];
    shape[axis] = xs.reduce((n, x) => n + x.shape[axis]!, 0);
    return fromDataId(xs[0]!.backend, xs[0]!.backend.concat(xs.map((x) => x.info()), axis, shape), shape, xs[0]!.dtype);
  },
  // d concat(xs) = the slice of dy belonging to each input
  vjp: (gy, { attrs: { axis }, inputShapes, needs }) => {
    let at = 0;
    return inputShapes.map((s, i) => {
      const begin = at;
      at += s[axis]!;
      if (!needs[i]) return null;
      const specs: SliceSpec[] = s.map((_, d) => (d === axis ? [begin, begin + s[axis]!] : null));
      return slice(gy, specs);
    });
  },
});

/** Joins tensors along an existing axis; all other dims must match. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) throw new ArgumentError('concat', 'needs a non-empty array of tensors');
  const ts = xs.map((x, i) => checkTensor(x, 'concat', `xs[${i}]`));
  const first = ts[0]!;
  const a = normalizeAxis(axis, first.rank, 'concat');
  ts.forEach((t, i) => {
    if (t.dtype !== first.dtype) throw new DTypeError('concat', `xs[${i}] has dtype ${t.dtype}, xs[0] has ${first.dtype}`);
    if (t.rank !== first.rank || t.shape.some((d, k) => k !== a && d !== first.shape[k])) {
      throw new ShapeError('concat', `xs[${i}] has shape ${fmtShape(t.shape)}, incompatible with xs[0] ${fmtShape(first.shape)} along axis ${a}`);
    }
  });
  if (ts.length === 1) return first;
  return concatOp(ts, { axis: a });
}

/** Joins same-shape tensors along a new axis. */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) throw new ArgumentError('stack', 'needs a non-empty array of tensors');
  const ts = xs.map((x, i) => checkTensor(x, 'stack', `xs[${i}]`));
  ts.forEach((t, i) => {
    if (!shapesEqual(t.shape, ts[0]!.shape)) throw new ShapeError('stack', `xs[${i}] has shape ${fmtShape(t.shape)}, xs[0] has ${fmtShape(ts[0]!.shape)}`);
  });
  const a = normalizeAxis(axis, ts[0]!.rank + 1, 'stack');
  return concat(ts.map((t) => unsqueeze(t, a)), a);
}

/** Splits along `axis` into pieces of the given sizes, or into `sections` equal pieces. Views. */
export function split(x: Tensor, sizesOrSections: number | readonly number[], axis = 0): Tensor[] {
  const t = checkTensor(x, 'split');
  if (typeof sizesOrSections !== 'number') checkIntArray(sizesOrSections, 'split', 'sizes');
  const a = normalizeAxis(axis, t.rank, 'split');
  const n = t.shape[a]!;
  let sizes: number[];
  if (typeof sizesOrSections === 'number') {
    if (!Number.isInteger(sizesOrSections) || sizesOrSections <= 0 || n % sizesOrSections !== 0) {
      throw new ShapeError('split', `cannot split dimension ${a} of size ${n} into ${sizesOrSections} equal sections`);
    }
    sizes = new Array<number>(sizesOrSections).fill(n / sizesOrSections);
  } else {
    sizes = [...sizesOrSections];
    const total = sizes.reduce((s, v) => s + v, 0);
    if (total !== n || sizes.some((v) => !Number.isInteger(v) || v < 0)) {
      throw new ShapeError('split', `sizes [${sizes.join(', ')}] must be non-negative and sum to ${n}, the size of dimension ${a}`);
    }
  }
  let at = 0;
  return sizes.map((s) => {
    const specs: SliceSpec[] = t.shape.map((_, d) => (d === a ? [at, at + s] : null));
    at += s;
    return slice(t, specs);
  });
}


/** A new leaf sharing x's data with no gradient history (gradients stop here). */
export function detach(x: Tensor): Tensor {
  const t = checkTensor(x, 'detach');
  return makeView(t, t.shape, t.strides, t.offset);
}
