// fused(program, inputs): one differentiable op running a whole elementwise program in one backend kernel. Its VJP
// is derived from the program (derivative.ts) and is itself a fused program per input, so backward passes (and
// higher orders) are fused too. With fusion switched off, programs run op by op on the primitive tensor ops.

import { defineOp, type AppliedOp } from '../graph/define-op.js';
import type { BinaryOp, UnaryOp } from '../backend/backend.js';
import type { DType } from '../dtype.js';
import { DTypeError } from '../errors.js';
import { broadcastShapes, broadcastStrides, shapesEqual, sizeOf } from '../shape.js';
import { Tensor, fromDataId } from '../tensor.js';
import * as ew from '../ops/elementwise.js';
import { geluTanh } from '../ops/composite.js';
import { expand } from '../ops/movement.js';
import { scalarTensor } from '../ops/operands.js';
import { sumToShape } from '../ops/reduce.js';
import { geluTanhGradProgram, gradientProgram } from './derivative.js';
import { compactInputs, conditionOnlyInputs, type FusedProgram } from './program.js';

let fusionEnabled = true;

/**
 * Switches fusion on (default) or off. Off, every program runs as its chain of primitive ops (one kernel each, the
 * primitives' own gradients): the unfused reference, and the "before" of dispatch counts.
 */
export function setFusionEnabled(enabled: boolean): void {
  fusionEnabled = enabled;
}

export function isFusionEnabled(): boolean {
  return fusionEnabled;
}

/** Derived programs by (key, input, constants); bounded, since constants may vary from call to call. */
const gradientCache = new Map<string, FusedProgram | null>();

const constantsKey = (p: FusedProgram) => p.constants.map((c) => (Object.is(c, -0) ? '-0' : c)).join(',');

/** The gradient program of input k; equal programs (same key and constants) are one object. */
function cachedGradient(p: FusedProgram, k: number): FusedProgram | null {
  const key = `${p.key}|${k}|${constantsKey(p)}`;
  let g = gradientCache.get(key);
  if (g === undefined) {
    if (gradientCache.size >= 1024) gradientCache.clear();
    g = gradientProgram(p, k);
    if (g) {
      const canonical = `${g.key}|${constantsKey(g)}`;
      g = gradientCache.get(canonical) ?? g;
      gradientCache.set(canonical, g);
    }
    gradientCache.set(key, g);
  }
  return g;
}

const conditionInputs = new WeakMap<FusedProgram, Set<number>>();

/** The output dtype: that of the inputs read as values (which must agree); condition-only inputs may differ. */
function outputDtype(p: FusedProgram, inputs: readonly Tensor[], name: string): DType {
  let conds = conditionInputs.get(p);
  if (!conds) conditionInputs.set(p, (conds = conditionOnlyInputs(p)));
  const values = inputs.filter((_, k) => !conds.has(k));
  const dtype = (values[0] ?? inputs[0])!.dtype;
  if (values.some((t) => t.dtype !== dtype)) {
    throw new DTypeError(name, `dtype mismatch: inputs are ${values.map((t) => t.dtype).join(', ')}; convert one with cast()`);
  }
  return dtype;
}

const fusedOps = new Map<string, AppliedOp<FusedProgram>>();

/** The inputs some input's gradient program reads (the ones the op saves for its backward). */
function inputsReadByGradients(p: FusedProgram): number[] {
  const read = new Set<number>();
  for (let k = 0; k < p.numInputs; k++) {
    for (const i of cachedGradient(p, k)?.instrs ?? []) if (i.kind === 'input' && i.index < p.numInputs) read.add(i.index);
  }
  return [...read];
}

/** One defineOp per op name and program structure (the name labels graph nodes and errors). */
function fusedOp(name: string, program: FusedProgram): AppliedOp<FusedProgram> {
  const key = `${name}|${program.key}`;
  let op = fusedOps.get(key);
  if (op) return op;
  op = defineOp<FusedProgram>({
    name,
    forward: (inputs, program) => {
      const shape = broadcastShapes(inputs.map((t) => t.shape), name);
      const be = inputs[0]!.backend;
      const infos = inputs.map((t) => ({ ...t.info(), strides: broadcastStrides(t.shape, t.strides, shape) }));
      const dtype = outputDtype(program, inputs, name);
      return fromDataId(be, be.fusedElementwise(program, infos, shape, dtype), shape, dtype);
    },
    saveInputs: inputsReadByGradients(program),
    // input k: the sum over its broadcast axes of g·∂out/∂x_k, that product being one fused program
    vjp: (gy, { inputs, needs, inputShapes, attrs: program }) => {
      // inputs with the same gradient program (x and b of act(x + b)) share one evaluation
      const evaluated = new Map<FusedProgram, Tensor>();
      return needs.map((need, k) => {
        if (!need) return null;
        const g = cachedGradient(program, k);
        const shape = inputShapes[k]!;
        if (!g) return fromDataId(gy.backend, gy.backend.fill(sizeOf(shape), 0, gy.dtype), shape, gy.dtype);
        let full = evaluated.get(g);
        // inputs not saved are not read by any gradient program: gy (output-shaped) stands in for them
        if (!full) evaluated.set(g, (full = applyProgram(g, [...inputs.map((t) => t ?? gy), gy], `${name}'`)));
        return sumToShape(full, shape);
      });
    },
  });
  if (fusedOps.size >= 1024) fusedOps.clear();
  fusedOps.set(key, op);
  return op;
}

/**
 * Runs `program` on `inputs` (broadcast together) as one op named `name`. Inputs the program does not read are
 * dropped; a program that only forwards an input or a constant runs no kernel.
 * @example applyProgram(trace(2, (a, b) => a.mul(b).add(1)), [a, b])
 */
export function applyProgram(program: FusedProgram, inputs: readonly Tensor[], name = 'fused'): Tensor {
  if (inputs.length !== program.numInputs) throw new RangeError(`${name}: the program takes ${program.numInputs} inputs, got ${inputs.length}`);
  if (inputs.length === 0) throw new RangeError(`${name}: a fused program needs at least one tensor input`);
  const shape = broadcastShapes(inputs.map((t) => t.shape), name);
  const { program: p, used } = compacted(program);
  const kept = used.map((k) => inputs[k]!);
  // the output keeps the shape of all inputs, read or not
  const widen = (t: Tensor) => (shapesEqual(t.shape, shape) ? t : expand(t, shape));
  if (kept.length === 0) kept.push(widen(scalarTensor(0, inputs[0]!.dtype)));
  else if (!shapesEqual(broadcastShapes(kept.map((t) => t.shape), name), shape)) kept[0] = widen(kept[0]!);
  const out = p.instrs[p.output]!;
  if (out.kind === 'input') return widen(kept[out.index]!);
  if (out.kind === 'const') return widen(scalarTensor(p.constants[out.slot]!, outputDtype(p, kept, name)));
  if (!fusionEnabled) return interpret(p, kept, outputDtype(p, kept, name));
  return fusedOp(name, p)(kept, p);
}

const compactions = new WeakMap<FusedProgram, ReturnType<typeof compactInputs>>();

function compacted(p: FusedProgram): ReturnType<typeof compactInputs> {
  let c = compactions.get(p);
  if (!c) compactions.set(p, (c = compactInputs(p)));
  return c;
}

const UNARY: Record<UnaryOp, (x: Tensor) => Tensor> = {
  neg: ew.neg, abs: ew.abs, exp: ew.exp, log: ew.log, sqrt: ew.sqrt, rsqrt: ew.rsqrt, sin: ew.sin, cos: ew.cos,
  tanh: ew.tanh, sigmoid: ew.sigmoid, relu: ew.relu, sign: ew.sign, floor: ew.floor, erf: ew.erf,
  softplus: ew.softplus, step: ew.step, square: ew.square, reciprocal: ew.reciprocal, geluTanh,
  geluTanhGrad: (x) => applyProgram(geluTanhGradProgram(), [x], 'geluTanhGrad'),
};

const BINARY: Record<BinaryOp, (a: Tensor, b: Tensor) => Tensor> = {
  add: ew.add, sub: ew.sub, mul: ew.mul, div: ew.div, pow: ew.pow, maximum: ew.maximum, minimum: ew.minimum,
  eq: ew.eq, ne: ew.ne, lt: ew.lt, le: ew.le, gt: ew.gt, ge: ew.ge,
};

/** The program as its chain of primitive ops (the unfused composition, with their gradients). */
function interpret(p: FusedProgram, inputs: readonly Tensor[], dtype: DType): Tensor {
  const values: Tensor[] = [];
  for (const i of p.instrs) {
    switch (i.kind) {
      case 'input': values.push(inputs[i.index]!); break;
      case 'const': values.push(scalarTensor(p.constants[i.slot]!, dtype)); break;
      case 'unary': values.push(UNARY[i.op](values[i.x]!)); break;
      case 'binary': values.push(BINARY[i.op](values[i.a]!, values[i.b]!)); break;
      case 'where': values.push(ew.where(values[i.cond]!, values[i.a]!, values[i.b]!)); break;
      case 'clamp': values.push(ew.clamp(values[i.x]!, p.constants[i.lo]!, p.constants[i.hi]!)); break;
    }
  }
  const out = values[p.output]!;
  return out;
}
