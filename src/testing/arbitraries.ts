// fast-check arbitraries of the testing kit. They generate plain data (shapes, specs, plans) that prints readably in a
// counterexample and shrinks well; build tensors from it inside the property (in tidy()) with the matching function.

import fc from 'fast-check';
import type { Tensor } from '../tensor/tensor.js';
import type { DType } from '../tensor/dtype.js';
import { tensor } from '../tensor/creation.js';
import { Rng } from '../tensor/random.js';
import { expand, flip, permute, reshape, slice, transpose } from '../tensor/ops/index.js';
import type { IterationSchedule } from '../viar/sampling.js';
import type { ContractionSpec } from './problems.js';

export interface ShapeConstraints {
  minRank?: number;
  maxRank?: number;
  /** Each dimension in [minDim, maxDim] (defaults 1 and 4). */
  minDim?: number;
  maxDim?: number;
}

/** Shapes (number[]) of rank minRank..maxRank (defaults 0..4) with dimensions minDim..maxDim. */
export function shapeArb(c: ShapeConstraints = {}): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: c.minDim ?? 1, max: c.maxDim ?? 4 }), { minLength: c.minRank ?? 0, maxLength: c.maxRank ?? 4 });
}

/** A tensor as plain data; {@link toTensor} builds it. */
export interface TensorSpec {
  shape: number[];
  dtype: DType;
  values: number[];
}

export interface TensorConstraints extends ShapeConstraints {
  /** A fixed shape (else drawn with the shape constraints). */
  shape?: readonly number[];
  /** One dtype or a choice (default 'float64'). */
  dtype?: DType | readonly DType[];
  /** Float values in [-maxAbs, maxAbs] (default 10); int32 values in the same range, rounded. */
  maxAbs?: number;
}

/** Tensors of given or random shapes and dtypes, finite values, as {@link TensorSpec}s. */
export function tensorArb(c: TensorConstraints = {}): fc.Arbitrary<TensorSpec> {
  const dtypes: readonly DType[] = c.dtype === undefined ? ['float64'] : typeof c.dtype === 'string' ? [c.dtype] : c.dtype;
  const max = c.maxAbs ?? 10;
  const shapes: fc.Arbitrary<number[]> = c.shape ? fc.constant([...c.shape]) : shapeArb(c);
  return fc.tuple(shapes, fc.constantFrom(...dtypes)).chain(([shape, dtype]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const value = dtype === 'int32'
      ? fc.integer({ min: -Math.floor(max), max: Math.floor(max) })
      : fc.double({ min: -max, max, noNaN: true, noDefaultInfinity: true }).map((v) => (dtype === 'float32' ? Math.fround(v) : v));
    return fc.array(value, { minLength: n, maxLength: n }).map((values) => ({ shape, dtype, values }));
  });
}

/** The tensor of a {@link TensorSpec}. */
export function toTensor(spec: TensorSpec): Tensor {
  return tensor(spec.values, { shape: spec.shape, dtype: spec.dtype });
}

/**
 * Pairs of shapes that broadcast together: the first drawn freely, the second from it with some dimensions replaced
 * by 1 and some leading dimensions dropped; either order is returned.
 */
export function broadcastablePairArb(c: ShapeConstraints = {}): fc.Arbitrary<[number[], number[]]> {
  return shapeArb(c).chain((s) =>
    fc.tuple(fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }), fc.nat({ max: s.length }), fc.boolean())
      .map(([ones, drop, swap]): [number[], number[]] => {
        const other = s.map((d, i) => (ones[i] ? 1 : d)).slice(drop);
        return swap ? [other, s] : [s, other];
      }));
}

/** One step of a view chain; {@link applyViewChain} applies it. */
export type ViewStep =
  | { op: 'permute'; perm: number[] }
  | { op: 'transpose' }
  | { op: 'flip'; axis: number }
  | { op: 'slice'; ranges: [number, number | null, number][] }
  | { op: 'reshape'; shape: number[] }
  | { op: 'expand'; shape: number[] };

/** A view chain and the shapes before and after it. */
export interface ViewChain {
  shape: number[];
  steps: ViewStep[];
  outShape: number[];
}

/** Plans `length` random view steps from `shape` (deterministic in the seed), tracking the shape. */
export function planViewChain(shape: readonly number[], length: number, seed: number): ViewChain {
  const rng = new Rng(seed);
  const pick = (n: number) => Math.min(n - 1, Math.floor(rng.uniform() * n));
  let s = [...shape];
  const steps: ViewStep[] = [];
  for (let i = 0; i < length; i++) {
    const kinds = ['reshape', 'expand', ...(s.length >= 1 ? ['permute', 'flip', 'slice'] : []), ...(s.length >= 2 ? ['transpose'] : [])];
    const kind = kinds[pick(kinds.length)]!;
    if (kind === 'permute') {
      const perm = s.map((_, j) => j);
      for (let j = perm.length - 1; j > 0; j--) { const k = pick(j + 1); [perm[j], perm[k]] = [perm[k]!, perm[j]!]; }
      steps.push({ op: 'permute', perm });
      s = perm.map((j) => s[j]!);
    } else if (kind === 'transpose') {
      steps.push({ op: 'transpose' });
      s = [...s.slice(0, -2), s.at(-1)!, s.at(-2)!];
    } else if (kind === 'flip') {
      steps.push({ op: 'flip', axis: pick(s.length) });
    } else if (kind === 'slice') {
      // [start, end, step] forwards, or the same elements backwards ([end − 1, start − 1 or null, −step]): Python semantics
      const ranges = s.map((d): [number, number | null, number] => {
        const step = 1 + pick(2), start = pick(d), end = start + 1 + pick(d - start);
        return rng.uniform() < 0.3 ? [end - 1, start === 0 ? null : start - 1, -step] : [start, end, step];
      });
      steps.push({ op: 'slice', ranges });
      s = s.map((_, j) => {
        const [a, b, st] = ranges[j]!;
        return st > 0 ? Math.ceil((b! - a) / st) : Math.ceil((a + 1 - (b === null ? 0 : b + 1)) / -st);
      });
    } else if (kind === 'reshape') {
      const size = s.reduce((a, b) => a * b, 1);
      const out: number[] = [];
      let rest = size;
      while (rest > 1 && out.length < 3) {
        const divisors = Array.from({ length: rest }, (_, j) => j + 1).filter((q) => rest % q === 0);
        const q = divisors[pick(divisors.length)]!;
        out.push(q);
        rest /= q;
      }
      if (rest > 1) out.push(rest);
      steps.push({ op: 'reshape', shape: out });
      s = out;
    } else {
      const lead = 1 + pick(3);
      const target = [lead, ...s.map((d) => (d === 1 ? 1 + pick(3) : d))];
      steps.push({ op: 'expand', shape: target });
      s = target;
    }
  }
  return { shape: [...shape], steps, outShape: s };
}

/** View chains from shapes drawn with the constraints (or a fixed shape), up to maxLength steps (default 5). */
export function viewChainArb(c: ShapeConstraints & { shape?: readonly number[]; maxLength?: number } = {}): fc.Arbitrary<ViewChain> {
  const shapes: fc.Arbitrary<number[]> = c.shape ? fc.constant([...c.shape]) : shapeArb({ maxRank: 3, ...c });
  return fc.tuple(shapes, fc.integer({ min: 0, max: c.maxLength ?? 5 }), fc.nat()).map(([s, n, seed]) => planViewChain(s, n, seed));
}

/** Applies a view chain's steps to x (x.shape must be chain.shape). */
export function applyViewChain(x: Tensor, chain: ViewChain): Tensor {
  let t = x;
  for (const step of chain.steps) {
    if (step.op === 'permute') t = permute(t, step.perm);
    else if (step.op === 'transpose') t = transpose(t);
    else if (step.op === 'flip') t = flip(t, step.axis);
    else if (step.op === 'slice') t = slice(t, step.ranges);
    else if (step.op === 'reshape') t = reshape(t, step.shape);
    else t = expand(t, step.shape);
  }
  return t;
}

export interface ContractionConstraints {
  kind?: ContractionSpec['kind'] | readonly ContractionSpec['kind'][];
  /** Lipschitz constant range (default [0.1, 0.9]). */
  minLipschitz?: number;
  maxLipschitz?: number;
  minDim?: number;
  maxDim?: number;
  minBatch?: number;
  maxBatch?: number;
  /** z0 scale range (default [0, 10]). */
  maxStart?: number;
}

/**
 * Contraction maps with a known Lipschitz constant as {@link ContractionSpec}s: 'linear' (z Wᵀ + x with ‖W‖₂ = L
 * exactly) or 'tanh' (tanh(z Wᵀ + x Uᵀ + b), Lipschitz ≤ ‖W‖₂ = L). Build with buildProblem(spec) inside the property.
 */
export function contractionArb(c: ContractionConstraints = {}): fc.Arbitrary<ContractionSpec> {
  const kinds: readonly ContractionSpec['kind'][] = c.kind === undefined ? ['linear', 'tanh'] : typeof c.kind === 'string' ? [c.kind] : c.kind;
  return fc.record({
    kind: fc.constantFrom(...kinds),
    dim: fc.integer({ min: c.minDim ?? 2, max: c.maxDim ?? 8 }),
    batch: fc.integer({ min: c.minBatch ?? 1, max: c.maxBatch ?? 3 }),
    lipschitz: fc.double({ min: c.minLipschitz ?? 0.1, max: c.maxLipschitz ?? 0.9, noNaN: true }),
    seed: fc.nat(),
    z0Scale: fc.double({ min: 0, max: c.maxStart ?? 10, noNaN: true }),
  });
}

/**
 * Fixed-point problems by conditioning: 'well' (L in [0.05, 0.6], a few dozen Picard steps) or 'ill' (L in [0.95,
 * 0.99]: slow Picard, error amplification 1/(1 − L) of 20 to 100).
 */
export function fixedPointProblemArb(conditioning: 'well' | 'ill', c: Omit<ContractionConstraints, 'minLipschitz' | 'maxLipschitz'> = {}): fc.Arbitrary<ContractionSpec> {
  return conditioning === 'well'
    ? contractionArb({ ...c, minLipschitz: 0.05, maxLipschitz: 0.6 })
    : contractionArb({ ...c, minLipschitz: 0.95, maxLipschitz: 0.99 });
}

/**
 * VIAR per-scale iteration schedules in all three forms: a constant, one count per scale, or {left, right}
 * (counts in [0, maxIter], default 12).
 */
export function iterationScheduleArb(numScales: number, c: { maxIter?: number } = {}): fc.Arbitrary<IterationSchedule> {
  const count = fc.integer({ min: 0, max: c.maxIter ?? 12 });
  return fc.oneof(
    count,
    fc.array(count, { minLength: numScales, maxLength: numScales }),
    fc.record({ left: count, right: count }),
  ) as fc.Arbitrary<IterationSchedule>;
}
