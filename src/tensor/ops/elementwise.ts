// Primitive elementwise ops: unary math, broadcasting binary arithmetic, comparisons, where, clamp, cast.
// Each op is one defineOp: the forward calls a backend kernel; the VJP (with its derivation) uses differentiable ops.

import { defineOp } from '../graph/define-op.js';
import type { BinaryOp, UnaryOp } from '../backend/backend.js';
import { Tensor, fromDataId } from '../tensor.js';
import { DTYPES, type DType } from '../dtype.js';
import { ArgumentError } from '../errors.js';
import { broadcastShapes, broadcastStrides } from '../shape.js';
import {
  binaryOperands, checkChoice, checkFloat, checkNumber, checkTensor, scalarTensor, type TensorOrNumber,
} from './operands.js';
import { sumToShape } from './reduce.js';

// ---------- unary ----------

function unaryForward(op: UnaryOp) {
  return ([x]: readonly Tensor[]): Tensor => fromDataId(x!.backend, x!.backend.unary(op, x!.info()), x!.shape, x!.dtype);
}

function defineUnary(op: UnaryOp, vjp: (gy: Tensor, x: Tensor, y: Tensor) => Tensor, save: 'x' | 'y' | 'none', floatOnly = true) {
  const applied = defineOp<undefined>({
    name: op,
    forward: unaryForward(op),
    saveInputs: save === 'x',
    saveOutput: save === 'y',
    vjp: (gy, ctx) => [vjp(gy, ctx.inputs[0]!, ctx.output!)],
  });
  return (x: Tensor): Tensor => {
    const t = checkTensor(x, op);
    if (floatOnly) checkFloat(t, op);
    return applied([t], undefined);
  };
}

/** -x */
export const neg = defineUnary('neg', (gy) => neg(gy), 'none', false);
/** |x|. d|x| = sgn(x) dx with sgn = (x > 0) − (x < 0): 0 at 0 and at NaN (PyTorch's; sign(NaN) itself is NaN) */
export const abs = defineUnary('abs', (gy, x) => mul(gy, sub(gt(x, 0), lt(x, 0))), 'x', false);
/** eˣ. d eˣ = eˣ dx (reuses the output) */
export const exp = defineUnary('exp', (gy, _x, y) => mul(gy, y), 'y');
/** Natural log. d log x = dx / x */
export const log = defineUnary('log', (gy, x) => div(gy, x), 'x');
/** √x. d√x = dx / (2√x) */
export const sqrt = defineUnary('sqrt', (gy, _x, y) => div(gy, mul(y, 2)), 'y');
/** 1/√x. d x^(-1/2) = -½ x^(-3/2) dx = -½ y³ dx */
export const rsqrt = defineUnary('rsqrt', (gy, _x, y) => mul(gy, mul(mul(y, mul(y, y)), -0.5)), 'y');
/** sin x. d sin x = cos x dx */
export const sin = defineUnary('sin', (gy, x) => mul(gy, cos(x)), 'x');
/** cos x. d cos x = -sin x dx */
export const cos = defineUnary('cos', (gy, x) => neg(mul(gy, sin(x))), 'x');
/** tanh x. d tanh x = (1 - tanh² x) dx */
export const tanh = defineUnary('tanh', (gy, _x, y) => mul(gy, sub(1, mul(y, y))), 'y');
/** 1/(1+e⁻ˣ), computed without overflow. dσ = σ(1-σ) dx */
export const sigmoid = defineUnary('sigmoid', (gy, _x, y) => mul(gy, mul(y, sub(1, y))), 'y');
/** max(x, 0) (NaN stays NaN). d relu = dx where x > 0 or NaN, 0 where x ≤ 0 (a select, as PyTorch: 0·NaN never appears) */
export const relu = defineUnary('relu', (gy, x) => where(le(x, 0), 0, gy), 'x', false);
/** log(1+eˣ), computed without overflow. d softplus = σ(x) dx */
export const softplus = defineUnary('softplus', (gy, x) => mul(gy, sigmoid(x)), 'x');
/** The error function. d erf x = 2/√π e^(-x²) dx */
export const erf = defineUnary('erf', (gy, x) => mul(gy, mul(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI))), 'x');
/** x². d x² = 2x dx */
export const square = defineUnary('square', (gy, x) => mul(gy, mul(x, 2)), 'x', false);
/** 1/x. d(1/x) = -1/x² dx = -y² dx */
export const reciprocal = defineUnary('reciprocal', (gy, _x, y) => neg(mul(gy, mul(y, y))), 'y');
/** A zero gradient of gy's shape (not gy·0, which is NaN where gy is ±∞ or NaN; PyTorch gives 0 too). */
const zeroGradient = (gy: Tensor): Tensor => fromDataId(gy.backend, gy.backend.fill(gy.size, 0, gy.dtype), gy.shape, gy.dtype);

/** -1, 0 or 1 (NaN stays NaN; PyTorch gives 0). Piecewise constant: zero gradient. */
export const sign = defineUnary('sign', zeroGradient, 'none', false);
/** Largest integer ≤ x. Piecewise constant: zero gradient. */
export const floor = defineUnary('floor', zeroGradient, 'none', false);
/** 1 where x > 0 else 0. Piecewise constant: zero gradient. */
export const step = defineUnary('step', zeroGradient, 'none', false);

// ---------- binary with broadcasting ----------

function binaryForward(op: BinaryOp, outDtype?: DType) {
  return ([a, b]: readonly Tensor[]): Tensor => {
    const shape = broadcastShapes([a!.shape, b!.shape], op, ['a', 'b']);
    const ai = { ...a!.info(), strides: broadcastStrides(a!.shape, a!.strides, shape) };
    const bi = { ...b!.info(), strides: broadcastStrides(b!.shape, b!.strides, shape) };
    const dtype = outDtype ?? a!.dtype;
    return fromDataId(a!.backend, a!.backend.binary(op, ai, bi, shape, dtype), shape, dtype);
  };
}

type BinaryVjp = (gy: Tensor, a: Tensor, b: Tensor, out: Tensor, needs: readonly boolean[]) => [Tensor | null, Tensor | null];

function defineBinary(op: BinaryOp, vjp: BinaryVjp | null, save: { inputs: boolean; output: boolean }) {
  const applied = defineOp<undefined>({
    name: op,
    forward: binaryForward(op),
    saveInputs: save.inputs,
    saveOutput: save.output,
    ...(vjp && {
      vjp: (gy, ctx) => {
        const [ga, gb] = vjp(gy, ctx.inputs[0]!, ctx.inputs[1]!, ctx.output!, ctx.needs);
        return [ga && sumToShape(ga, ctx.inputShapes[0]!), gb && sumToShape(gb, ctx.inputShapes[1]!)];
      },
    }),
  });
  return (a: TensorOrNumber, b: TensorOrNumber): Tensor => {
    const [ta, tb] = binaryOperands(a, b, op);
    broadcastShapes([ta.shape, tb.shape], op, ['a', 'b']);
    return applied([ta, tb], undefined);
  };
}

const NO_SAVE = { inputs: false, output: false };
const SAVE_INPUTS = { inputs: true, output: false };

/** a + b with broadcasting. d(a+b) = da + db */
export const add = defineBinary('add', (gy) => [gy, gy], NO_SAVE);
/** a - b. d(a-b) = da - db */
export const sub = defineBinary('sub', (gy, _a, _b, _o, needs) => [gy, needs[1] ? neg(gy) : null], NO_SAVE);
/** a · b elementwise. d(ab) = b da + a db */
export const mul = defineBinary('mul', (gy, a, b, _o, needs) => [needs[0] ? mul(gy, b) : null, needs[1] ? mul(gy, a) : null], SAVE_INPUTS);
/** a / b. d(a/b) = da/b - (a/b²) db = da/b - (out/b) db */
export const div = defineBinary(
  'div',
  (gy, _a, b, out, needs) => [needs[0] ? div(gy, b) : null, needs[1] ? neg(mul(gy, div(out, b))) : null],
  { inputs: true, output: true },
);
/**
 * aᵇ. d aᵇ = b aᵇ⁻¹ da + aᵇ log(a) db, with PyTorch's masks: the da term is 0 where b = 0 (b·aᵇ⁻¹ is 0·∞ at
 * a = 0), the db term is 0 where a = 0 and b ≥ 0 (aᵇ·log a is 0·−∞ there).
 */
export const pow = defineBinary(
  'pow',
  (gy, a, b, out, needs) => [
    needs[0] ? where(eq(b, 0), 0, mul(gy, mul(b, pow(a, sub(b, 1))))) : null,
    needs[1] ? where(mul(eq(a, 0), ge(b, 0)), 0, mul(gy, mul(out, log(a)))) : null,
  ],
  { inputs: true, output: true },
);
/**
 * The VJP of max/min as PyTorch writes it: an operand gets the gradient unless it lost (so a NaN comparison passes it to
 * both), and ties split it evenly.
 */
function extremumVjp(wins: (a: Tensor, b: Tensor) => Tensor, loses: (a: Tensor, b: Tensor) => Tensor): BinaryVjp {
  return (gy, a, b, _o, needs) => {
    const half = mul(eq(a, b), 0.5);
    return [needs[0] ? mul(gy, sub(sub(1, loses(a, b)), half)) : null, needs[1] ? mul(gy, sub(sub(1, wins(a, b)), half)) : null];
  };
}

/** Elementwise max (NaN wins). */
export const maximum = defineBinary('maximum', extremumVjp((a, b) => gt(a, b), (a, b) => lt(a, b)), SAVE_INPUTS);
/** Elementwise min (NaN wins). */
export const minimum = defineBinary('minimum', extremumVjp((a, b) => lt(a, b), (a, b) => gt(a, b)), SAVE_INPUTS);

// Comparisons: 1 where true, 0 where false, in the operands' dtype; no gradient.
export const eq = defineBinary('eq', null, NO_SAVE);
export const ne = defineBinary('ne', null, NO_SAVE);
export const lt = defineBinary('lt', null, NO_SAVE);
export const le = defineBinary('le', null, NO_SAVE);
export const gt = defineBinary('gt', null, NO_SAVE);
export const ge = defineBinary('ge', null, NO_SAVE);

// ---------- where, clamp, cast ----------

const whereOp = defineOp<undefined>({
  name: 'where',
  forward: ([c, a, b]) => {
    const shape = broadcastShapes([c!.shape, a!.shape, b!.shape], 'where', ['cond', 'a', 'b']);
    const info = (t: Tensor) => ({ ...t.info(), strides: broadcastStrides(t.shape, t.strides, shape) });
    return fromDataId(a!.backend, a!.backend.where(info(c!), info(a!), info(b!), shape), shape, a!.dtype);
  },
  saveInputs: [0],
  // d where(c, a, b) = where(c, da, 0) + where(c, 0, db)
  vjp: (gy, { inputs: [c], needs, inputShapes }) => [
    null,
    needs[1] ? sumToShape(where(c!, gy, 0), inputShapes[1]!) : null,
    needs[2] ? sumToShape(where(c!, 0, gy), inputShapes[2]!) : null,
  ],
});

/**
 * cond ≠ 0 ? a : b, broadcasting all three. `cond` may have any dtype; a and b share one.
 * @example where(gt(x, 0), x, 0)   // relu
 */
export function where(cond: Tensor, a: TensorOrNumber, b: TensorOrNumber): Tensor {
  const c = checkTensor(cond, 'where', 'cond');
  // two numbers take cond's dtype (float32 when cond is int32)
  const [ta, tb] = typeof a === 'number' && typeof b === 'number'
    ? [scalarTensor(a, c.dtype === 'int32' ? 'float32' : c.dtype), scalarTensor(b, c.dtype === 'int32' ? 'float32' : c.dtype)]
    : binaryOperands(a, b, 'where');
  broadcastShapes([c.shape, ta.shape, tb.shape], 'where', ['cond', 'a', 'b']);
  return whereOp([c, ta, tb], undefined);
}

const clampOp = defineOp<{ lo: number; hi: number }>({
  name: 'clamp',
  forward: ([x], { lo, hi }) => fromDataId(x!.backend, x!.backend.clamp(x!.info(), lo, hi), x!.shape, x!.dtype),
  saveInputs: true,
  // d clamp(x) = dx inside [lo, hi] (boundaries included, as PyTorch), 0 outside or at NaN (a select: no 0·NaN)
  vjp: (gy, { inputs: [x], attrs: { lo, hi } }) => [where(mul(ge(x!, lo), le(x!, hi)), gy, 0)],
});

/** Limits x to [lo, hi]; either bound may be omitted (±Infinity). */
export function clamp(x: Tensor, lo = -Infinity, hi = Infinity): Tensor {
  const t = checkTensor(x, 'clamp');
  checkNumber(lo, 'clamp', 'lo');
  checkNumber(hi, 'clamp', 'hi');
  if (lo > hi) throw new ArgumentError('clamp', `lo (${lo}) must not exceed hi (${hi})`);
  return clampOp([t], { lo, hi });
}

const castOp = defineOp<{ dtype: DType }>({
  name: 'cast',
  forward: ([x], { dtype }) => fromDataId(x!.backend, x!.backend.copy(x!.info(), dtype), x!.shape, dtype),
  // d cast(x) = cast back of the gradient between float dtypes (int inputs never require grad)
  vjp: (gy, { needs, inputDtypes }) => [needs[0] ? cast(gy, inputDtypes[0]!) : null],
});

/** A cast to int32 is piecewise constant and records no gradient (as PyTorch, where integer tensors have none). */
const castToIntOp = defineOp<{ dtype: DType }>({
  name: 'cast',
  forward: ([x], { dtype }) => fromDataId(x!.backend, x!.backend.copy(x!.info(), dtype), x!.shape, dtype),
});

/** Converts to another dtype (a copy; floats → int32 truncate toward zero, and no gradient flows through that). */
export function cast(x: Tensor, dtype: DType): Tensor {
  const t = checkTensor(x, 'cast');
  checkChoice(dtype, DTYPES, 'cast', 'dtype');
  if (t.dtype === dtype) return t;
  return (dtype === 'int32' ? castToIntOp : castOp)([t], { dtype });
}
