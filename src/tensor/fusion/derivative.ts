// Symbolic reverse mode over a fused program: the gradient of the output with respect to one input, times the
// output gradient, as another fused program. The per-op rules below are the only place fused gradients are stated;
// they are the rules of src/tensor/ops/elementwise.ts written on traced values (same formulas, same order).

import type { BinaryOp, UnaryOp } from '../backend/backend.js';
import { ProgramBuilder, replay, select, trace, type FusedProgram, type FusedValue } from './program.js';

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_K = 0.044715;

/** ḡ·∂op(x)/∂x from x, the op's value y and the output gradient g; null where the derivative is 0. */
const UNARY_RULES: Record<UnaryOp, ((g: FusedValue, x: FusedValue, y: FusedValue) => FusedValue) | null> = {
  neg: (g) => g.neg(),
  abs: (g, x) => g.mul(x.sign()),
  exp: (g, _x, y) => g.mul(y),
  log: (g, x) => g.div(x),
  sqrt: (g, _x, y) => g.div(y.mul(2)),
  rsqrt: (g, _x, y) => g.mul(y.mul(y.mul(y)).mul(-0.5)),
  sin: (g, x) => g.mul(x.cos()),
  cos: (g, x) => g.mul(x.sin()).neg(),
  tanh: (g, _x, y) => g.mul(one(g).sub(y.mul(y))),
  sigmoid: (g, _x, y) => g.mul(y.mul(one(g).sub(y))),
  relu: (g, x) => g.mul(x.step()),
  softplus: (g, x) => g.mul(x.sigmoid()),
  erf: (g, x) => g.mul(x.mul(x).neg().exp().mul(2 / Math.sqrt(Math.PI))),
  square: (g, x) => g.mul(x.mul(2)),
  reciprocal: (g, _x, y) => g.mul(y.mul(y)).neg(),
  sign: null,
  floor: null,
  step: null,
  geluTanh: (g, x) => g.mul(x.geluTanhGrad()),
  // g'' = (1 − t²)·(u' − x·t·u'² + ½x·u''), t = tanh u, u = c(x + kx³), u' = c(1 + 3kx²), u'' = 6ckx
  geluTanhGrad: (g, x) => {
    const x2 = x.mul(x);
    const t = x.add(x2.mul(x).mul(GELU_K)).mul(GELU_C).tanh();
    const du = x2.mul(3 * GELU_K).add(1).mul(GELU_C);
    const inner = du.sub(x.mul(t).mul(du.mul(du))).add(x.mul(6 * GELU_C * GELU_K).mul(x).mul(0.5));
    return g.mul(one(g).sub(t.mul(t)).mul(inner));
  },
};

const one = (v: FusedValue) => v.builder.constant(1);

type BinaryRule = (g: FusedValue, a: FusedValue, b: FusedValue, y: FusedValue) => [FusedValue | null, FusedValue | null];

// max/min: the gradient goes to the winner, ties split it evenly (as PyTorch)
const extremum = (wins: 'gt' | 'lt'): BinaryRule => (g, a, b) => {
  const half = a.eq(b).mul(0.5);
  const loses = wins === 'gt' ? 'lt' : 'gt';
  return [g.mul(a[wins](b).add(half)), g.mul(a[loses](b).add(half))];
};

const BINARY_RULES: Record<BinaryOp, BinaryRule | null> = {
  add: (g) => [g, g],
  sub: (g) => [g, g.neg()],
  mul: (g, a, b) => [g.mul(b), g.mul(a)],
  div: (g, _a, b, y) => [g.div(b), g.mul(y.div(b)).neg()],
  pow: (g, a, b, y) => [g.mul(b.mul(a.pow(b.sub(1)))), g.mul(y.mul(select(a.eq(0), 0, a.log())))],
  maximum: extremum('gt'),
  minimum: extremum('lt'),
  eq: null, ne: null, lt: null, le: null, gt: null, ge: null,
};

/**
 * The program g·∂out/∂input_k over inputs [...p's inputs, g] (g: the output gradient, output-shaped), evaluated at
 * the output shape (the caller sums it to input k's shape). Null when the output does not depend on input k.
 */
export function gradientProgram(p: FusedProgram, k: number): FusedProgram | null {
  const b = new ProgramBuilder(p.numInputs + 1);
  const values: FusedValue[] = [];
  for (const i of p.instrs) values.push(replay(b, i, p, values, (index) => b.input(index)));
  const adjoint: (FusedValue | null)[] = p.instrs.map(() => null);
  const accumulate = (at: number, g: FusedValue | null) => {
    if (!g || p.instrs[at]!.kind === 'const') return;
    const prev = adjoint[at];
    adjoint[at] = prev ? prev.add(g) : g;
  };
  adjoint[p.output] = b.input(p.numInputs);
  for (let at = p.instrs.length - 1; at >= 0; at--) {
    const g = adjoint[at];
    const i = p.instrs[at]!;
    if (!g) continue;
    const y = values[at]!;
    switch (i.kind) {
      case 'unary': accumulate(i.x, UNARY_RULES[i.op]?.(g, values[i.x]!, y) ?? null); break;
      case 'binary': {
        const [ga, gb] = BINARY_RULES[i.op]?.(g, values[i.a]!, values[i.b]!, y) ?? [null, null];
        accumulate(i.a, ga);
        accumulate(i.b, gb);
        break;
      }
      // d where(c, a, b) = where(c, da, 0) + where(c, 0, db)
      case 'where':
        accumulate(i.a, select(values[i.cond]!, g, 0));
        accumulate(i.b, select(values[i.cond]!, 0, g));
        break;
      // d clamp(x) = dx inside [lo, hi] (boundaries included, as PyTorch), 0 outside
      case 'clamp': {
        const x = values[i.x]!;
        accumulate(i.x, g.mul(x.ge(p.constants[i.lo]!).mul(x.le(p.constants[i.hi]!))));
        break;
      }
      default: break;
    }
  }
  let result: FusedValue | null = null;
  p.instrs.forEach((i, at) => {
    if (i.kind !== 'input' || i.index !== k || !adjoint[at]) return;
    result = result ? result.add(adjoint[at]!) : adjoint[at]!;
  });
  return result ? b.finish(result) : null;
}

let geluTanhGrad: FusedProgram | null = null;

/** geluTanhGrad(x) = ½(1 + t) + ½x·(1 − t²)·c(1 + 3kx²) on differentiable primitives (the unfused path's form). */
export function geluTanhGradProgram(): FusedProgram {
  geluTanhGrad ??= trace(1, (x) => {
    const x2 = x.mul(x);
    const t = x.add(x2.mul(x).mul(GELU_K)).mul(GELU_C).tanh();
    const dt = one(x).sub(t.mul(t)).mul(x2.mul(3 * GELU_K).add(1).mul(GELU_C));
    return t.add(1).mul(0.5).add(x.mul(dt).mul(0.5));
  });
  return geluTanhGrad;
}
