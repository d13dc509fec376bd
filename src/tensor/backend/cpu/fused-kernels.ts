// CPU lowering of fused elementwise programs (src/tensor/fusion): one JavaScript row loop generated per program key
// and array types, over strided/broadcast operands walked by forEachRow. Each instruction is the scalar expression of
// its primitive op, rounded to the output dtype as the primitive kernel would store it, so a fused float32 or float64
// forward equals its unfused chain bit for bit.

import type { TensorInfo } from '../backend.js';
import type { DType, TypedArray } from '../../dtype.js';
import { stridesOf, type Shape } from '../../shape.js';
import { operandsOf, type FusedInstr, type FusedProgram } from '../../fusion/program.js';
import { BINARY_EXPRESSIONS, UNARY_EXPRESSIONS } from './elementwise-kernels.js';
import { collapseDims, forEachRow } from './strided-loop.js';
import { erf, expForFloat32, sigmoid, softplus } from './special-functions.js';

type FusedRow = (
  arrays: readonly TypedArray[], offsets: readonly number[], strides: readonly number[], out: TypedArray, n: number,
  constants: readonly number[],
) => void;

const rows = new Map<string, FusedRow>();
const range = (n: number) => Array.from({ length: n }, (_, k) => k);

/** `expression` (in the names `names`) with those names replaced by `values`. */
function substitute(expression: string, names: readonly string[], values: readonly string[]): string {
  return expression.replace(new RegExp(`\\b(${names.join('|')})\\b`, 'g'), (m) => values[names.indexOf(m)]!);
}

/** The value an instruction stores: rounded as an array of the output dtype would round it. */
function store(dtype: DType, expression: string): string {
  if (dtype === 'float32') return `Math.fround(${expression})`;
  if (dtype === 'int32') return `((${expression}) | 0)`;
  return `(${expression})`;
}

function expressionOf(i: FusedInstr, dtype: DType): string {
  const v = (k: number) => `v${k}`;
  switch (i.kind) {
    case 'input': return `A${i.index}[o${i.index}]`;
    case 'const': return `r${i.slot}`;
    case 'unary': {
      // float32 outputs of the exp-based GELU use the float32-accurate exp, as the unfused kernel does
      const expr = dtype === 'float32' && i.op.startsWith('geluTanh') ? UNARY_EXPRESSIONS[i.op].replace(/Math\.exp/g, 'EXP32') : UNARY_EXPRESSIONS[i.op];
      return store(dtype, substitute(expr, ['x'], [v(i.x)]));
    }
    case 'binary': return store(dtype, substitute(BINARY_EXPRESSIONS[i.op], ['a', 'b'], [v(i.a), v(i.b)]));
    case 'where': return `(${v(i.cond)} !== 0 ? ${v(i.a)} : ${v(i.b)})`;
    // bounds unrounded, as the clamp kernel compares them
    case 'clamp': return store(dtype, `${v(i.x)} < c${i.lo} ? c${i.lo} : ${v(i.x)} > c${i.hi} ? c${i.hi} : ${v(i.x)}`);
  }
}

/**
 * The row loop of `p` for these array types. Inputs flagged in `rowConstant` (stride 0 along the row: broadcast
 * operands such as a per-row norm or a per-head scale) are read once per row, and every instruction that depends
 * on nothing else is computed once per row, before the loop.
 */
function compile(p: FusedProgram, arrays: readonly TypedArray[], out: TypedArray, dtype: DType, rowConstant: readonly boolean[]): FusedRow {
  const key = `${p.key}|${arrays.map((a) => a.constructor.name).join(',')}|${out.constructor.name}|${rowConstant.map(Number).join('')}`;
  let row = rows.get(key);
  if (row) return row;
  const n = p.numInputs;
  const each = (f: (k: number) => string, sep = '') => Array.from({ length: n }, (_, k) => f(k)).join(sep);
  const constants = p.constants.map((_, s) => `const c${s} = K[${s}], r${s} = ${store(dtype, `c${s}`)};`).join('\n    ');
  const hoisted: boolean[] = [];
  p.instrs.forEach((i, k) => {
    hoisted[k] = i.kind === 'const' || (i.kind === 'input' ? rowConstant[i.index]! : operandsOf(i).every((o) => hoisted[o]));
  });
  const statements = (outside: boolean) => p.instrs.flatMap((i, k) => (hoisted[k] === outside ? [`const v${k} = ${expressionOf(i, dtype)};`] : []));
  const moving = range(n).filter((k) => !rowConstant[k]);
  const source = `return function fused_row(A, O, S, out, n, K) {
    ${each((k) => `const A${k} = A[${k}], s${k} = S[${k}]; let o${k} = O[${k}];`, '\n    ')}
    const oo = O[${n}];
    ${constants}
    let t = 0;
    ${statements(true).join('\n    ')}
    for (let i = 0; i < n; i++${moving.map((k) => `, o${k} += s${k}`).join('')}) {
      ${statements(false).join('\n      ')}
      out[oo + i] = v${p.output};
    }
  };`;
  row = new Function('erf', 'sigmoid', 'softplus', 'GELU_C', 'EXP32', source)(
    erf, sigmoid, softplus, Math.sqrt(2 / Math.PI), expForFloat32) as FusedRow;
  rows.set(key, row);
  return row;
}

/** Evaluates `p` over `inputs` (broadcast strides for `shape`) into the contiguous `out` of dtype `dtype`. */
export function fusedKernel(
  p: FusedProgram, inputs: readonly TensorInfo[], arrays: readonly TypedArray[], shape: Shape, dtype: DType, out: TypedArray,
): void {
  const operandStrides = [...inputs.map((x) => x.strides), stridesOf(shape)];
  // the row plan forEachRow walks: operands whose row stride is 0 are constant along each row
  const { strides } = collapseDims(shape, operandStrides);
  const row = compile(p, arrays, out, dtype, inputs.map((_, k) => strides[k]![strides[k]!.length - 1] === 0));
  forEachRow(shape, operandStrides, [...inputs.map((x) => x.offset), 0], (o, n, s) =>
    row(arrays, o, s, out, n, p.constants));
}
