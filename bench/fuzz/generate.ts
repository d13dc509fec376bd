// Random programs for the differential fuzzer, generated and evaluated on our engine in one pass: each op is drawn
// for the shape the previous one actually produced. A program records its inputs, steps and cotangents (so
// torch-runner.py can replay it) and our results: the output, gradients and second derivatives (float64).

import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { Draw, OP_VARIANTS, drawInvalid, runInvalid, type ExtraSpec, type InvalidCall, type OpVariant } from './ops.js';

/** Numbers as JSON: ±∞ and NaN as strings (JSON has no literal for them). */
export type Encoded = (number | 'NaN' | 'Infinity' | '-Infinity')[];

export interface InputRecord { shape: number[]; dtype: 'float64' | 'int32'; values: Encoded }
export interface StepRecord { op: string; args: Record<string, unknown>; extras: number[] }
export interface ValueRecord { shape: number[]; values: Encoded }
export interface ErrorRecord { stage: 'forward' | 'grad' | 'grad2' | 'invalid'; message: string; named: boolean }

export interface Program {
  id: number;
  kind: 'valid' | 'invalid';
  inputs: InputRecord[];
  steps: StepRecord[];
  invalid?: InvalidCall;
  /** Cotangent of the output, and one per float input for the second derivative. */
  cot?: Encoded;
  cot2?: Encoded[];
  ours: {
    /** The value after each step (the first diverging step names the op that disagrees). */
    trace: ValueRecord[];
    out?: ValueRecord;
    grads?: ValueRecord[];
    grads2?: ValueRecord[];
    error?: ErrorRecord;
  };
}

const SPECIALS = [0, -0, Infinity, -Infinity, NaN, 5e-324, -1e-310, 1e300, -1e300, 1e-300];
const VIEW_OPS = new Set(['transpose', 'slice', 'flip', 'permute', 'unsqueezeExpand']);
const MAX_SIZE = 4096;

/** JSON.stringify replacer keeping ±∞ and NaN arguments (as strings; torch-runner.py decodes them). */
export function keepNonFinite(_key: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? String(v) : v;
}

export function encode(values: ArrayLike<number>): Encoded {
  return Array.from(values, (v) => (Number.isNaN(v) ? 'NaN' : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : v));
}

const sizeOf = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function floatValues(d: Draw, n: number): number[] {
  const mode = d.pick(['plain', 'plain', 'plain', 'special', 'ties', 'positive']);
  return Array.from({ length: n }, () => {
    if (mode === 'special' && d.chance(0.3)) return d.pick(SPECIALS);
    if (mode === 'ties') return d.pick([-1, 0, 1, 2]);
    const u = d.rng.uniform();
    return mode === 'positive' ? 0.1 + 2 * u : 4 * u - 2;
  });
}

function randomShape(d: Draw): number[] {
  return Array.from({ length: d.int(0, 4) }, () => (d.chance(0.05) ? 0 : d.int(1, 5)));
}

function describeError(e: unknown): { message: string; named: boolean } {
  return { message: e instanceof Error ? e.message : String(e), named: e instanceof V.ViarError };
}

function valueOf(t: Tensor): ValueRecord {
  return { shape: [...t.shape], values: encode(t.dataSync()) };
}

/** ∂⟨ys, gys⟩/∂xs, zeros where nothing depends on the inputs (as PyTorch with allow_unused and zero fill). */
function gradOrZeros(y: Tensor, xs: Tensor[], gy: Tensor | undefined, createGraph: boolean): Tensor[] {
  if (!y.requiresGrad) return xs.map((x) => V.zerosLike(x));
  return V.gradients(y, xs, gy ? [gy] : undefined, { createGraph });
}

/** Draws and evaluates program `id` (deterministic in seed + id). `invalidShare` of programs end in an invalid call. */
export function generate(seed: number, id: number, invalidShare: number): Program {
  const d = new Draw(seed * 1_000_003 + id);
  const kind = d.chance(invalidShare) ? 'invalid' : 'valid';
  const program: Program = { id, kind, inputs: [], steps: [], ours: { trace: [] } };
  return V.tidy(() => {
    const tensors: Tensor[] = [];
    const addInput = (spec: ExtraSpec): number => {
      const n = sizeOf(spec.shape);
      let t: Tensor;
      if (spec.kind === 'index') {
        const values = Array.from({ length: n }, () => (spec.ignore && d.chance(0.25) ? -100 : d.int(spec.lo ?? 0, spec.hi ?? 0)));
        t = V.tensor(Int32Array.from(values), { shape: spec.shape });
        program.inputs.push({ shape: spec.shape, dtype: 'int32', values });
      } else {
        const values = floatValues(d, n);
        t = V.tensor(Float64Array.from(values), { shape: spec.shape }).requireGrad();
        program.inputs.push({ shape: spec.shape, dtype: 'float64', values: encode(values) });
      }
      tensors.push(t);
      return tensors.length - 1;
    };
    addInput({ shape: randomShape(d), kind: 'float' });
    const views = d.int(0, 2), ops = d.int(1, 4);
    const stage = { name: 'forward' as ErrorRecord['stage'] };
    try {
      let cur: Tensor = V.enableGrad(() => {
        let x = tensors[0]!;
        for (let s = 0; s < views + ops; s++) {
          const pool: OpVariant[] = OP_VARIANTS.filter((v) => (s < views ? VIEW_OPS.has(v.name) : true) && v.applies([...x.shape]));
          if (pool.length === 0) continue;
          const variant = d.pick(pool);
          const { args, extras = [] } = variant.draw(d, [...x.shape]);
          const ids = extras.map(addInput);
          program.steps.push({ op: variant.name, args, extras: ids });
          const next = variant.run(x, args, ids.map((i) => tensors[i]!));
          program.ours.trace.push(valueOf(next));
          x = next;
          if (x.size > MAX_SIZE) break;
        }
        return x;
      });
      if (kind === 'invalid') {
        const call = drawInvalid(d, [...cur.shape]);
        program.invalid = call;
        stage.name = 'invalid';
        cur = runInvalid(cur, call);
        program.ours.error = { stage: 'invalid', message: 'accepted', named: false };
        return program;
      }
      program.ours.out = valueOf(cur);
      const leaves = tensors.filter((t) => t.dtype === 'float64');
      const cot = V.tensor(Float64Array.from({ length: cur.size }, () => 4 * d.rng.uniform() - 2), { shape: cur.shape });
      program.cot = encode(cot.dataSync());
      stage.name = 'grad';
      const grads = V.enableGrad(() => gradOrZeros(cur, leaves, cot, true));
      program.ours.grads = grads.map(valueOf);
      const cot2 = leaves.map((x) => V.tensor(Float64Array.from({ length: x.size }, () => 4 * d.rng.uniform() - 2), { shape: x.shape }));
      program.cot2 = cot2.map((c) => encode(c.dataSync()));
      stage.name = 'grad2';
      const grads2 = V.enableGrad(() => {
        const terms = grads.map((g, i) => V.sum(V.mul(g, cot2[i]!)));
        const total = terms.reduce((a, b) => V.add(a, b));
        return gradOrZeros(total, leaves, undefined, false);
      });
      program.ours.grads2 = grads2.map(valueOf);
    } catch (e) {
      program.ours.error = { stage: stage.name, ...describeError(e) };
    }
    return program;
  });
}
