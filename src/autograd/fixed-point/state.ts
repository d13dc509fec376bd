// The state of a fixed-point problem as the solvers see it: one [B, d] matrix. A state that is several tensors
// (an array or a record, like a JAX pytree) is packed into it and unpacked for f; both directions are tensor ops,
// so the packing is differentiable and every gradient rule works on structured states unchanged.

import type { Tensor } from '../../tensor/tensor.js';
import { ArgumentError, ShapeError, fmtShape } from '../../tensor/errors.js';
import { concat, reshape, slice } from '../../tensor/ops/index.js';
import { shapesEqual } from '../../tensor/shape.js';
import { checkTensor } from '../../tensor/ops/operands.js';

/** A fixed-point state: one tensor, an array of tensors, or a record of tensors (each [B, ...] when perSample). */
export type State = Tensor | readonly Tensor[] | { readonly [name: string]: Tensor };

/** Packs a state into [B, d] and back. */
export interface StateCodec<S extends State> {
  readonly batch: number;
  readonly dim: number;
  readonly dtype: Tensor['dtype'];
  /** Shapes of the parts, by name ('' for a single tensor, '0', '1', … for an array). */
  readonly parts: readonly { name: string; shape: readonly number[] }[];
  /** `what` names the state's source in errors: the starting point or f's result. */
  pack(s: S, what: 'f' | 'z0'): Tensor;
  unpack(flat: Tensor): S;
}

function isTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && (v as Tensor).isTensor === true;
}

function entriesOf(s: State, what: 'f' | 'z0'): [string, Tensor][] {
  if (isTensor(s)) return [['', s]];
  if (Array.isArray(s)) return s.map((t, i) => [String(i), t] as [string, Tensor]);
  if (typeof s === 'object' && s !== null) return Object.entries(s);
  throw new ArgumentError('fixedPoint', `${what === 'f' ? 'f must return' : 'z0 must be'} a Tensor, an array of tensors or a record of tensors (the state's structure), got ${String(s)}`);
}

const label = (what: string, name: string) => (name === '' ? what : `${what}[${JSON.stringify(name)}]`);

/** The codec of states structured like `z0`; perSample makes axis 0 of every part the batch. */
export function stateCodec<S extends State>(z0: S, perSample: boolean | undefined): StateCodec<S> {
  const entries = entriesOf(z0, 'z0').map(([name, t]) => [name, checkTensor(t, 'fixedPoint', label('z0', name))] as const);
  if (entries.length === 0) throw new ArgumentError('fixedPoint', 'z0 must hold at least one tensor');
  const dtype = entries[0]![1].dtype;
  for (const [name, t] of entries) {
    if (t.dtype === 'int32') throw new ArgumentError('fixedPoint', `${label('z0', name)} must be a float tensor`);
    if (t.dtype !== dtype) throw new ArgumentError('fixedPoint', `${label('z0', name)} is ${t.dtype}, but the state's other parts are ${dtype}`);
  }
  const byRank = perSample ?? entries.every(([, t]) => t.rank >= 2);
  const batch = byRank ? (entries[0]![1].shape[0] ?? 1) : 1;
  for (const [name, t] of entries) {
    if (byRank && t.shape[0] !== batch) throw new ShapeError('fixedPoint', `${label('z0', name)} has ${t.shape[0]} samples on axis 0, the state's first part ${batch}`);
  }
  const parts = entries.map(([name, t]) => ({ name, shape: [...t.shape] }));
  const widths = parts.map((p) => (batch === 0 ? 0 : p.shape.reduce((a, b) => a * b, 1) / batch));
  const dim = widths.reduce((a, b) => a + b, 0);
  const kind = isTensor(z0) ? 'tensor' : Array.isArray(z0) ? 'array' : 'record';
  return {
    batch, dim, dtype, parts,
    pack(s: S, what: 'f' | 'z0'): Tensor {
      const got = entriesOf(s, what);
      if (got.length !== parts.length || got.some(([name], i) => name !== parts[i]!.name)) {
        throw new ShapeError('fixedPoint', `${what === 'f' ? 'f returned' : 'z0 has'} parts [${got.map(([n]) => n).join(', ')}], the state has [${parts.map((p) => p.name).join(', ')}]`);
      }
      const flat = got.map(([name, t], i) => {
        if (!isTensor(t)) throw new ArgumentError('fixedPoint', `${what === 'f' ? 'f must return' : 'z0 must hold'} a Tensor for ${label('z', name)}, got ${String(t)}`);
        const want = parts[i]!.shape;
        if (!shapesEqual(t.shape, want)) {
          throw new ShapeError('fixedPoint', `f returned shape ${fmtShape(t.shape)} for ${label('z', name)} of shape ${fmtShape(want)}; f(z, ...inputs) must keep z's shape`);
        }
        if (t.dtype !== dtype) throw new ArgumentError('fixedPoint', `f returned ${t.dtype} for a ${dtype} ${label('z', name)}`);
        return reshape(t, [batch, widths[i]!]);
      });
      return flat.length === 1 ? flat[0]! : concat(flat, 1);
    },
    unpack(flat: Tensor): S {
      if (kind === 'tensor') return reshape(flat, parts[0]!.shape) as unknown as S;
      let at = 0;
      const tensors = parts.map((p, i) => {
        const part = reshape(slice(flat, [[0, batch], [at, at + widths[i]!]]), p.shape);
        at += widths[i]!;
        return part;
      });
      if (kind === 'array') return tensors as unknown as S;
      return Object.fromEntries(parts.map((p, i) => [p.name, tensors[i]!])) as unknown as S;
    },
  };
}
