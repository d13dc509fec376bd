// The backend-neutral description of a fused elementwise chain: a small SSA program over broadcast inputs and
// constants using the primitive elementwise ops, its canonical key, and the tracing builder that writes one.

import type { BinaryOp, UnaryOp } from '../backend/backend.js';

/**
 * One instruction; operands are indices of earlier instructions. Constants live in numbered slots whose values
 * travel beside the program (`FusedProgram.constants`), so programs that differ only in constant values share a key
 * (and a compiled kernel).
 */
export type FusedInstr =
  | { readonly kind: 'input'; readonly index: number }
  | { readonly kind: 'const'; readonly slot: number }
  | { readonly kind: 'unary'; readonly op: UnaryOp; readonly x: number }
  | { readonly kind: 'binary'; readonly op: BinaryOp; readonly a: number; readonly b: number }
  /** cond ≠ 0 ? a : b */
  | { readonly kind: 'where'; readonly cond: number; readonly a: number; readonly b: number }
  /** min(max(x, lo), hi); lo and hi are constant slots. */
  | { readonly kind: 'clamp'; readonly x: number; readonly lo: number; readonly hi: number };

/**
 * A fused elementwise program: `numInputs` tensors broadcast to one output shape, evaluated per element by
 * `instrs` (inputs and constants included), the result being instruction `output`. Every value has the output's
 * dtype except inputs read only as a `where` condition.
 */
export interface FusedProgram {
  readonly numInputs: number;
  readonly instrs: readonly FusedInstr[];
  readonly constants: readonly number[];
  readonly output: number;
  /** Canonical text of the structure (not the constant values): equal keys compile to the same kernel. */
  readonly key: string;
}

function instrKey(i: FusedInstr): string {
  switch (i.kind) {
    case 'input': return `i${i.index}`;
    case 'const': return `k${i.slot}`;
    case 'unary': return `${i.op}(${i.x})`;
    case 'binary': return `${i.op}(${i.a},${i.b})`;
    case 'where': return `where(${i.cond},${i.a},${i.b})`;
    case 'clamp': return `clamp(${i.x};k${i.lo},k${i.hi})`;
  }
}

/** Operand instruction indices of `i` (constant slots of clamp are not instructions). */
export function operandsOf(i: FusedInstr): number[] {
  switch (i.kind) {
    case 'input': case 'const': return [];
    case 'unary': case 'clamp': return [i.x];
    case 'binary': return [i.a, i.b];
    case 'where': return [i.cond, i.a, i.b];
  }
}

/** Positions of the inputs that are read only as a `where` condition (they may have any dtype). */
export function conditionOnlyInputs(p: FusedProgram): Set<number> {
  const asValue = new Set<number>(), asCond = new Set<number>();
  const inputAt = (k: number) => { const i = p.instrs[k]!; return i.kind === 'input' ? i.index : -1; };
  const valueUse = (k: number) => { if (inputAt(k) >= 0) asValue.add(inputAt(k)); };
  for (const i of p.instrs) {
    if (i.kind === 'where') {
      if (inputAt(i.cond) >= 0) asCond.add(inputAt(i.cond));
      valueUse(i.a);
      valueUse(i.b);
    } else {
      operandsOf(i).forEach(valueUse);
    }
  }
  if (inputAt(p.output) >= 0) asValue.add(inputAt(p.output));
  return new Set([...asCond].filter((k) => !asValue.has(k)));
}

/** A traced value: calling its methods appends instructions to the program being built. */
export class FusedValue {
  /** @internal */
  constructor(readonly builder: ProgramBuilder, readonly id: number) {}

  add(b: FusedValue | number): FusedValue { return this.builder.binary('add', this, b); }
  sub(b: FusedValue | number): FusedValue { return this.builder.binary('sub', this, b); }
  mul(b: FusedValue | number): FusedValue { return this.builder.binary('mul', this, b); }
  div(b: FusedValue | number): FusedValue { return this.builder.binary('div', this, b); }
  pow(b: FusedValue | number): FusedValue { return this.builder.binary('pow', this, b); }
  maximum(b: FusedValue | number): FusedValue { return this.builder.binary('maximum', this, b); }
  minimum(b: FusedValue | number): FusedValue { return this.builder.binary('minimum', this, b); }
  eq(b: FusedValue | number): FusedValue { return this.builder.binary('eq', this, b); }
  ne(b: FusedValue | number): FusedValue { return this.builder.binary('ne', this, b); }
  lt(b: FusedValue | number): FusedValue { return this.builder.binary('lt', this, b); }
  le(b: FusedValue | number): FusedValue { return this.builder.binary('le', this, b); }
  gt(b: FusedValue | number): FusedValue { return this.builder.binary('gt', this, b); }
  ge(b: FusedValue | number): FusedValue { return this.builder.binary('ge', this, b); }
  neg(): FusedValue { return this.builder.unary('neg', this); }
  abs(): FusedValue { return this.builder.unary('abs', this); }
  exp(): FusedValue { return this.builder.unary('exp', this); }
  log(): FusedValue { return this.builder.unary('log', this); }
  sqrt(): FusedValue { return this.builder.unary('sqrt', this); }
  rsqrt(): FusedValue { return this.builder.unary('rsqrt', this); }
  sin(): FusedValue { return this.builder.unary('sin', this); }
  cos(): FusedValue { return this.builder.unary('cos', this); }
  tanh(): FusedValue { return this.builder.unary('tanh', this); }
  sigmoid(): FusedValue { return this.builder.unary('sigmoid', this); }
  relu(): FusedValue { return this.builder.unary('relu', this); }
  sign(): FusedValue { return this.builder.unary('sign', this); }
  floor(): FusedValue { return this.builder.unary('floor', this); }
  erf(): FusedValue { return this.builder.unary('erf', this); }
  softplus(): FusedValue { return this.builder.unary('softplus', this); }
  step(): FusedValue { return this.builder.unary('step', this); }
  square(): FusedValue { return this.builder.unary('square', this); }
  reciprocal(): FusedValue { return this.builder.unary('reciprocal', this); }
  geluTanh(): FusedValue { return this.builder.unary('geluTanh', this); }
  geluTanhGrad(): FusedValue { return this.builder.unary('geluTanhGrad', this); }
  clamp(lo = -Infinity, hi = Infinity): FusedValue { return this.builder.clamp(this, lo, hi); }
}

/** cond ≠ 0 ? a : b inside a fused program. */
export function select(cond: FusedValue, a: FusedValue | number, b: FusedValue | number): FusedValue {
  return cond.builder.where(cond, a, b);
}

// Constant folding keeps JavaScript's double arithmetic for these (what `mul(x, 1 + t)` computes before the op).
const FOLD: Partial<Record<BinaryOp, (a: number, b: number) => number>> = {
  add: (a, b) => a + b, sub: (a, b) => a - b, mul: (a, b) => a * b, div: (a, b) => a / b,
};

/**
 * Builds a program by tracing: identical instructions are shared (common subexpressions), operations on two
 * constants of + − × ÷ (and negation) are folded into a new constant. Folding never depends on constant values,
 * so the structure (the key) of a traced function does not either.
 */
export class ProgramBuilder {
  private readonly instrs: FusedInstr[] = [];
  private readonly constants: number[] = [];
  private readonly seen = new Map<string, number>();

  constructor(readonly numInputs: number) {}

  private push(i: FusedInstr): FusedValue {
    const key = i.kind === 'const' ? null : instrKey(i);
    const known = key === null ? undefined : this.seen.get(key);
    if (known !== undefined) return new FusedValue(this, known);
    this.instrs.push(i);
    if (key !== null) this.seen.set(key, this.instrs.length - 1);
    return new FusedValue(this, this.instrs.length - 1);
  }

  input(index: number): FusedValue {
    if (!(index >= 0 && index < this.numInputs)) throw new RangeError(`fused program: input ${index} of ${this.numInputs}`);
    return this.push({ kind: 'input', index });
  }

  constant(value: number): FusedValue {
    this.constants.push(value);
    return this.push({ kind: 'const', slot: this.constants.length - 1 });
  }

  /** The value of a constant instruction, or null. */
  constantValue(v: FusedValue): number | null {
    const i = this.instrs[v.id]!;
    return i.kind === 'const' ? this.constants[i.slot]! : null;
  }

  private lift(v: FusedValue | number): FusedValue {
    if (typeof v === 'number') return this.constant(v);
    if (v.builder !== this) throw new Error('fused program: a value of another program was used');
    return v;
  }

  unary(op: UnaryOp, x: FusedValue): FusedValue {
    const c = this.constantValue(x);
    if (op === 'neg' && c !== null) return this.constant(-c);
    return this.push({ kind: 'unary', op, x: this.lift(x).id });
  }

  binary(op: BinaryOp, a: FusedValue | number, b: FusedValue | number): FusedValue {
    const va = this.lift(a), vb = this.lift(b);
    const ca = this.constantValue(va), cb = this.constantValue(vb), fold = FOLD[op];
    if (fold && ca !== null && cb !== null) return this.constant(fold(ca, cb));
    return this.push({ kind: 'binary', op, a: va.id, b: vb.id });
  }

  where(cond: FusedValue, a: FusedValue | number, b: FusedValue | number): FusedValue {
    return this.push({ kind: 'where', cond: this.lift(cond).id, a: this.lift(a).id, b: this.lift(b).id });
  }

  clamp(x: FusedValue, lo: number, hi: number): FusedValue {
    const xv = this.lift(x);
    this.constants.push(lo, hi);
    return this.push({ kind: 'clamp', x: xv.id, lo: this.constants.length - 2, hi: this.constants.length - 1 });
  }

  /** The program computing `output`, with unused instructions and constants dropped and renumbered. */
  finish(output: FusedValue): FusedProgram {
    const out = this.lift(output).id;
    const live = new Array<boolean>(this.instrs.length).fill(false);
    live[out] = true;
    for (let k = out; k >= 0; k--) if (live[k]) for (const o of operandsOf(this.instrs[k]!)) live[o] = true;
    const newId = new Map<number, number>();
    const instrs: FusedInstr[] = [];
    const constants: number[] = [];
    const slot = (s: number) => { constants.push(this.constants[s]!); return constants.length - 1; };
    const id = (k: number) => newId.get(k)!;
    this.instrs.forEach((i, k) => {
      if (!live[k]) return;
      let copy: FusedInstr;
      switch (i.kind) {
        case 'input': copy = i; break;
        case 'const': copy = { kind: 'const', slot: slot(i.slot) }; break;
        case 'unary': copy = { ...i, x: id(i.x) }; break;
        case 'binary': copy = { ...i, a: id(i.a), b: id(i.b) }; break;
        case 'where': copy = { ...i, cond: id(i.cond), a: id(i.a), b: id(i.b) }; break;
        case 'clamp': copy = { ...i, x: id(i.x), lo: slot(i.lo), hi: slot(i.hi) }; break;
      }
      newId.set(k, instrs.length);
      instrs.push(copy);
    });
    const output_ = id(out);
    const key = `${this.numInputs}:${instrs.map(instrKey).join(';')}->${output_}`;
    return { numInputs: this.numInputs, instrs, constants, output: output_, key };
  }
}

/**
 * Traces `fn` over `numInputs` symbolic inputs into a program.
 * @example trace(3, (x, scale, shift) => x.mul(scale.add(1)).add(shift))   // AdaLN modulation
 */
export function trace(numInputs: number, fn: (...inputs: FusedValue[]) => FusedValue): FusedProgram {
  const b = new ProgramBuilder(numInputs);
  const inputs = Array.from({ length: numInputs }, (_, k) => b.input(k));
  return b.finish(fn(...inputs));
}

/** The same program over a subset of its inputs: `used` lists the kept positions (those the program reads). */
export function compactInputs(p: FusedProgram): { program: FusedProgram; used: number[] } {
  const used = [...new Set(p.instrs.flatMap((i) => (i.kind === 'input' ? [i.index] : [])))].sort((a, b) => a - b);
  if (used.length === p.numInputs) return { program: p, used };
  const b = new ProgramBuilder(used.length);
  const values: FusedValue[] = [];
  for (const i of p.instrs) values.push(replay(b, i, p, values, (index) => b.input(used.indexOf(index))));
  return { program: b.finish(values[p.output]!), used };
}

/** Re-emits instruction `i` of `p` into builder `b` (operands already re-emitted in `values`). */
export function replay(
  b: ProgramBuilder, i: FusedInstr, p: FusedProgram, values: readonly FusedValue[], input: (index: number) => FusedValue,
): FusedValue {
  switch (i.kind) {
    case 'input': return input(i.index);
    case 'const': return b.constant(p.constants[i.slot]!);
    case 'unary': return b.unary(i.op, values[i.x]!);
    case 'binary': return b.binary(i.op, values[i.a]!, values[i.b]!);
    case 'where': return b.where(values[i.cond]!, values[i.a]!, values[i.b]!);
    case 'clamp': return b.clamp(values[i.x]!, p.constants[i.lo]!, p.constants[i.hi]!);
  }
}
