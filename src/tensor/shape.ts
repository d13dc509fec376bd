// Shape arithmetic: sizes, row-major strides, axis normalization and NumPy broadcasting.

import { ArgumentError, ShapeError, fmtShape } from './errors.js';

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i]!;
  return n;
}

/** Row-major (C-order) strides in elements. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/** True when (shape, strides) walks memory in row-major order with no gaps (size-1 dims are free). */
export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] === 1) continue;
    if (strides[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Maps a possibly negative axis into [0, rank); throws naming the op when out of range. */
export function normalizeAxis(axis: number, rank: number, op: string, arg = 'axis'): number {
  if (!Number.isInteger(axis)) throw new ArgumentError(op, `${arg} must be an integer, got ${axis}`);
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    throw new ArgumentError(op, `${arg} ${axis} is out of range for a tensor of rank ${rank} (valid: ${-rank}..${rank - 1})`);
  }
  return a;
}

/** Normalizes a list of axes (undefined = all), sorted ascending, rejecting duplicates. */
export function normalizeAxes(axes: number | readonly number[] | undefined, rank: number, op: string): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  if (typeof axes !== 'number' && !Array.isArray(axes)) throw new ArgumentError(op, `axes must be an integer, an array of integers or undefined, got ${describe(axes)}`);
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = list.map((a) => normalizeAxis(a, rank, op));
  const sorted = [...out].sort((x, y) => x - y);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] === sorted[i - 1]) throw new ArgumentError(op, `axis ${sorted[i]} appears twice in [${list.join(', ')}]`);
  }
  return sorted;
}

/** NumPy broadcasting of any number of shapes: align right, dims must be equal or 1. */
export function broadcastShapes(shapes: readonly Shape[], op: string, names?: readonly string[]): number[] {
  let rank = 0;
  for (const s of shapes) if (s.length > rank) rank = s.length;
  const out = new Array<number>(rank).fill(1);
  for (let i = 0; i < rank; i++) {
    for (const s of shapes) {
      const k = s.length - rank + i;
      const d = k >= 0 ? s[k]! : 1;
      if (d === 1) continue;
      if (out[i] === 1) out[i] = d;
      else if (out[i] !== d) {
        const described = shapes.map((sh, k) => `${fmtShape(sh)}${names?.[k] ? ` (${names[k]})` : ''}`).join(' and ');
        throw new ShapeError(op, `shapes ${described} cannot be broadcast: dimension ${i - rank} is ${out[i]} vs ${d}`);
      }
    }
  }
  return out;
}

/** Strides that read `shape` as if broadcast to `target` (stride 0 on broadcast dims). */
export function broadcastStrides(shape: Shape, strides: readonly number[], target: Shape): number[] {
  const out = new Array<number>(target.length).fill(0);
  const lead = target.length - shape.length;
  for (let i = 0; i < shape.length; i++) {
    out[lead + i] = shape[i] === 1 && target[lead + i] !== 1 ? 0 : strides[i]!;
  }
  return out;
}

/** Axes of `target` that were broadcast from `shape` (to sum over when un-broadcasting a gradient). */
export function reductionAxes(shape: Shape, target: Shape): number[] {
  const lead = target.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < target.length; i++) {
    if (i < lead || (shape[i - lead] === 1 && target[i] !== 1)) axes.push(i);
  }
  return axes;
}

/** A short description of a value of the wrong kind, for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array [${v.map((e) => (typeof e === 'number' ? String(e) : typeof e)).join(', ')}]`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return `'${v}'`;
  return typeof v;
}

export function assertValidShape(shape: readonly number[], op: string, arg = 'shape'): void {
  if (!Array.isArray(shape)) throw new ShapeError(op, `${arg} must be an array of non-negative integers, got ${describe(shape)}`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(op, `invalid shape ${fmtShape(shape)}: dims must be non-negative integers`);
  }
}
