// Emits the float32 elementwise interpreter of the fast CPU kernels: vector instructions (strided/broadcast loads,
// constants, the primitive ops, where, clamp) run chunk by chunk over a rank-4 output, each over a whole chunk held in
// a scratch "register" (as numexpr does). One fixed module serves every op and fused program: nothing compiles per program.

import type { FunctionBuilder, ModuleBuilder } from './module-builder.js';

/** Floats per register (one chunk of a row); a register is CHUNK·4 bytes of the thread's scratch. */
export const CHUNK = 256;
/** Bytes of one instruction record: [op, dst, a, b, c, x0, x1, x2] as i32 words. */
export const INSTR_BYTES = 32;
/**
 * Bytes before the first instruction: [count, result register, output address, d0, d1, d2, d3, unused, o0, o1, o2,
 * o3] (o: the output's element strides).
 */
export const HEADER_BYTES = 48;

type Emit = (f: FunctionBuilder) => void;

/**
 * The vector ops, by opcode (position). Operand registers arrive in locals va, vb (and vc for where); each pushes
 * its result. `exact` marks ops whose float32 result equals the reference kernel's (a double computation rounded
 * once) bit for bit: +, −, ×, ÷ and √ of floats are correctly rounded either way.
 */
export const VECTOR_OPS = {
  neg: { arity: 1, exact: true, emit: (f) => { f.get('va').f32x4_neg(); } },
  abs: { arity: 1, exact: true, emit: (f) => { f.get('va').f32x4_abs(); } },
  sqrt: { arity: 1, exact: true, emit: (f) => { f.get('va').f32x4_sqrt(); } },
  rsqrt: { arity: 1, exact: false, emit: (f) => { f.get('one').get('va').f32x4_sqrt().f32x4_div(); } },
  relu: { arity: 1, exact: true, emit: (f) => { f.get('zero').get('va').get('va').get('zero').f32x4_lt().v128_bitselect(); } },
  sign: {
    arity: 1, exact: true, emit: (f) => {
      f.get('one');
      f.get('minusOne');
      f.get('zero').get('va').get('va').get('zero').f32x4_eq().v128_bitselect(); // ±0 → +0, NaN stays
      f.get('va').get('zero').f32x4_lt().v128_bitselect();
      f.get('va').get('zero').f32x4_gt().v128_bitselect();
    },
  },
  floor: { arity: 1, exact: true, emit: (f) => { f.get('va').f32x4_floor(); } },
  step: { arity: 1, exact: true, emit: (f) => { f.get('va').get('zero').f32x4_gt().get('one').v128_and(); } },
  square: { arity: 1, exact: true, emit: (f) => { f.get('va').get('va').f32x4_mul(); } },
  reciprocal: { arity: 1, exact: true, emit: (f) => { f.get('one').get('va').f32x4_div(); } },
  exp: { arity: 1, exact: false, emit: (f) => { emitExp(f, () => f.get('va')); } },
  sigmoid: { arity: 1, exact: false, emit: (f) => { f.get('one').get('one'); emitExp(f, () => f.get('va').f32x4_neg()); f.f32x4_add().f32x4_div(); } },
  tanh: { arity: 1, exact: false, emit: emitTanh },
  geluTanh: {
    arity: 1, exact: false, emit: (f) => {
      // x / (1 + e^(−2u)), u = c(x + 0.044715x³)
      f.get('va');
      f.get('one');
      emitExp(f, () => { cubic(f); splat(f, -2 * GELU_C).f32x4_mul(); });
      f.f32x4_add().f32x4_div();
    },
  },
  geluTanhGrad: {
    arity: 1, exact: false, emit: (f) => {
      // ½(1 + t) + ½x(1 − t²)·c(1 + 0.134145x²) with t = tanh u, u = c(x + 0.044715x³), written without
      // cancellation: ½(1 + t) = σ = 1/(1 + e^(−2u)), ½(1 − t²) = 2σ·s with s = 1 − σ = 1/(1 + e^(2u)), both from
      // one e = e^(−2|u|) ≤ 1; for |x| > 30, σ (0 or 1: the rest underflows, where x² would overflow)
      cubic(f); f.set('vt');
      emitExp(f, () => { f.get('vt').f32x4_abs(); splat(f, -2 * GELU_C).f32x4_mul(); }); f.set('vc'); // e
      f.get('one').get('one').get('vc').f32x4_add().f32x4_div().set('vu'); // d = 1/(1 + e)
      f.get('vc').get('vu').f32x4_mul().set('vc'); // a = e/(1 + e)
      // σ = u ≥ 0 ? d : a; s = u ≥ 0 ? a : d
      f.get('vu').get('vc').get('vt').get('zero').f32x4_ge().v128_bitselect();
      f.get('vc').get('vu').get('vt').get('zero').f32x4_ge().v128_bitselect();
      f.set('vc').set('vu'); // vu = σ, vc = s
      f.get('vu');
      f.get('vu');
      splat(f, 2 * GELU_C).get('va').f32x4_mul().get('vc').f32x4_mul().get('vu').f32x4_mul();
      f.get('one').get('va').get('va').f32x4_mul(); splat(f, 0.134145).f32x4_mul().f32x4_add().f32x4_mul();
      f.f32x4_add();
      f.get('va').f32x4_abs(); splat(f, 30).f32x4_gt();
      f.v128_bitselect();
      f.get('va').get('va').f32x4_sub().f32x4_add(); // ±∞ give NaN, as the reference's ∞·0
    },
  },
  add: { arity: 2, exact: true, emit: (f) => { f.get('va').get('vb').f32x4_add(); } },
  sub: { arity: 2, exact: true, emit: (f) => { f.get('va').get('vb').f32x4_sub(); } },
  mul: { arity: 2, exact: true, emit: (f) => { f.get('va').get('vb').f32x4_mul(); } },
  div: { arity: 2, exact: true, emit: (f) => { f.get('va').get('vb').f32x4_div(); } },
  // NaN wins and equal operands give a (the reference's rule): b where b > a or b is NaN (unless a is)
  maximum: {
    arity: 2, exact: true, emit: (f) => {
      f.get('vb').get('va');
      f.get('vb').get('va').f32x4_gt().get('vb').get('vb').f32x4_ne().v128_or().get('va').get('va').f32x4_eq().v128_and();
      f.v128_bitselect();
    },
  },
  minimum: {
    arity: 2, exact: true, emit: (f) => {
      f.get('vb').get('va');
      f.get('vb').get('va').f32x4_lt().get('vb').get('vb').f32x4_ne().v128_or().get('va').get('va').f32x4_eq().v128_and();
      f.v128_bitselect();
    },
  },
  eq: { arity: 2, exact: true, emit: (f) => { f.get('va').get('vb').f32x4_eq().get('one').v128_and(); } },
  ne: { arity: 2, exact: true, emit: (f) => { f.get('va').get('vb').f32x4_ne().get('one').v128_and(); } },
  lt: { arity: 2, exact: true, emit: (f) => { f.get('va').get('vb').f32x4_lt().get('one').v128_and(); } },
  le: { arity: 2, exact: true, emit: (f) => { f.get('va').get('vb').f32x4_le().get('one').v128_and(); } },
  gt: { arity: 2, exact: true, emit: (f) => { f.get('va').get('vb').f32x4_gt().get('one').v128_and(); } },
  ge: { arity: 2, exact: true, emit: (f) => { f.get('va').get('vb').f32x4_ge().get('one').v128_and(); } },
  // cond ≠ 0 (NaN counts as true) ? a : b, with the condition in va
  where: { arity: 3, exact: true, emit: (f) => { f.get('vb').get('vc').get('va').get('zero').f32x4_ne().v128_bitselect(); } },
} satisfies Record<string, { arity: 1 | 2 | 3; exact: boolean; emit: Emit }>;

export type VectorOp = keyof typeof VECTOR_OPS;
const OP_NAMES = Object.keys(VECTOR_OPS) as VectorOp[];
const GELU_C = Math.sqrt(2 / Math.PI);

/** Opcodes: 0 load, 1 constant, 2 clamp, then the vector ops in VECTOR_OPS order. */
export const OPCODE = {
  load: 0, const: 1, clamp: 2,
  ...Object.fromEntries(OP_NAMES.map((n, k) => [n, 3 + k])) as Record<VectorOp, number>,
};

/** 1.5·2²³: adding it rounds a float32 of magnitude < 2²² to an integer (the low mantissa bits hold that integer). */
const ROUNDING_MAGIC = 12582912;
const EXP_POLY = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
const TANH_POLY = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1];
/** Every float constant the vector ops splat: hoisted into locals once per function (see hoistConstants). */
/** The smallest argument of emitExp whose result is kept (e^−87 is a normal float32; below, 0). */
const EXP_MIN = -87;
const CONSTANTS = [88.73, EXP_MIN, Math.LOG2E, ROUNDING_MAGIC, 0.693359375, -2.12194440e-4, ...EXP_POLY, ...TANH_POLY,
  0.044715, 0.134145, GELU_C, 2 * GELU_C, -2 * GELU_C, 30, 2, -2, 0.625];
const hoisted = new WeakMap<FunctionBuilder, Map<number, string>>();

/**
 * Declares a v128 local per constant of the vector ops (and i32x4 splats of 127 and of the rounding magic's bits) and
 * sets them here, at the function's start, so loops read a register or a stack slot instead of re-splatting.
 */
export function hoistConstants(f: FunctionBuilder): void {
  const names = new Map<number, string>();
  CONSTANTS.forEach((value, k) => {
    if (names.has(value)) return;
    names.set(value, f.local(`const${k}`, 'v128'));
    f.f32(value).f32x4_splat().set(names.get(value)!);
  });
  f.local('int127', 'v128'); f.i32(127).i32x4_splat().set('int127');
  f.local('magicBits', 'v128'); f.i32(0x4b400000).i32x4_splat().set('magicBits');
  hoisted.set(f, names);
}

function splat(f: FunctionBuilder, value: number): FunctionBuilder {
  const local = hoisted.get(f)?.get(value);
  return local ? f.get(local) : f.f32(value).f32x4_splat();
}

/** Pushes x + 0.044715·x³ for x in va. */
function cubic(f: FunctionBuilder): void {
  f.get('va').get('va').get('va').f32x4_mul().get('va').f32x4_mul(); splat(f, 0.044715).f32x4_mul().f32x4_add();
}

/**
 * Pushes eˣ for the x that `x` pushes (into local ex): x = k·ln2 + r (Cody–Waite, |r| ≤ ln2/2), e^r = 1 + r + r²·P(r)
 * with the degree-5 minimax P of the Cephes expf, 2^k applied in two halves so that results up to the float32 maximum
 * come out right. Within ~2 ulp of the correctly rounded value; NaN stays NaN. Results below e^−87 ≈ 1.6e-38 are
 * flushed to 0 (the reference gives subnormals there): an arithmetic subnormal result costs x86 a microcode assist
 * of ~100 cycles, and a causal mask's −∞ scores make half of a softmax's exps land there.
 */
export function emitExp(f: FunctionBuilder, x: () => void): void {
  x();
  f.set('ex');
  f.get('ex'); splat(f, 88.73).f32x4_pmin(); splat(f, EXP_MIN).f32x4_pmax().set('exc'); // NaN passes (selected below)
  // t = x·log2e + magic holds k = round(x·log2e) in its low bits; k as a float is t − magic
  f.get('exc'); splat(f, Math.LOG2E).f32x4_mul(); splat(f, ROUNDING_MAGIC).f32x4_add().set('eki');
  f.get('eki'); splat(f, ROUNDING_MAGIC).f32x4_sub().set('ek');
  // r = x − k·C1 − k·C2 (C1 has 9 significant bits: k·C1 is exact)
  f.get('exc').get('ek'); splat(f, 0.693359375).f32x4_mul().f32x4_sub().get('ek'); splat(f, -2.12194440e-4).f32x4_mul().f32x4_sub().set('er');
  splat(f, EXP_POLY[0]!);
  for (const c of EXP_POLY.slice(1)) {
    f.get('er').f32x4_mul(); splat(f, c).f32x4_add();
  }
  f.get('er').get('er').f32x4_mul().f32x4_mul().get('er').f32x4_add().get('one').f32x4_add();
  // 2^k = 2^k1 · 2^k2, k1 = ⌊k/2⌋, k2 = k − k1, each an exponent field (k1 + 127) << 23
  f.get('eki').get('magicBits').i32x4_sub().set('eki');
  f.get('eki').i32(1).i32x4_shr_s().set('ek1');
  f.get('ek1').get('int127').i32x4_add().i32(23).i32x4_shl().f32x4_mul();
  f.get('eki').get('ek1').i32x4_sub().get('int127').i32x4_add().i32(23).i32x4_shl().f32x4_mul();
  f.set('exc');
  f.get('zero').get('exc').get('ex'); splat(f, EXP_MIN).f32x4_lt().v128_bitselect(); // below e^−87: 0 (no subnormals)
  f.set('exc');
  f.get('ex').get('exc').get('ex').get('ex').f32x4_ne().v128_bitselect(); // NaN in, NaN out
}

/** tanh of va: x + x³·P(x²) (Cephes tanhf) for |x| < 0.625, else sign(x)·(1 − e)/(1 + e) with e = e^(−2|x|). */
function emitTanh(f: FunctionBuilder): void {
  f.get('va').f32x4_abs().set('vt');
  f.get('one');
  emitExp(f, () => { f.get('vt'); splat(f, -2).f32x4_mul(); });
  f.set('vu');
  f.get('vu').f32x4_sub().get('one').get('vu').f32x4_add().f32x4_div().set('vc'); // large |x|: (1 − e)/(1 + e)
  f.get('vt').get('vt').f32x4_mul().set('vu'); // z = x²
  splat(f, TANH_POLY[0]!);
  for (const c of TANH_POLY.slice(1)) {
    f.get('vu').f32x4_mul(); splat(f, c).f32x4_add();
  }
  f.get('vu').f32x4_mul().get('vt').f32x4_mul().get('vt').f32x4_add(); // small |x|: x + x³·P(x²)
  f.get('vc');
  f.get('vt'); splat(f, 0.625).f32x4_lt();
  f.v128_bitselect().set('vu');
  // the sign bit of x on |tanh x|
  f.get('va').get('vu'); f.i32(-0x80000000).i32x4_splat(); f.v128_bitselect();
}

/** Registers a program may use: the scratch starts with a table of their data addresses (4 bytes each). */
export const MAX_REGISTERS = 64;
const TABLE_BYTES = 4 * MAX_REGISTERS;

/**
 * Adds `ew(desc, start, end, regs)`: runs the program at byte address `desc` over output elements [start, end) (flat,
 * row-major over the rank-4 shape in the header), with thread-private scratch at `regs`: a table giving, per register,
 * the address its chunk is read from, then the registers' own buffers (CHUNK·4 bytes each). A unit-stride float32
 * load only points its register at the operand (no copy); the last instruction writes straight into the output
 * when the output row is unit-stride and the chunk a whole number of vectors. Instruction words: load [0, dst, addr,
 * s0, s1, s2, s3, int32] (byte address, element strides, 1 for int32 data); constant [1, dst, bits]; clamp [2, dst, x,
 * loBits, hiBits]; vector op [op, dst, a, b, c]; dst, a, b, c are register numbers. Every element takes the same
 * instruction sequence wherever a range starts, so any split of the output between threads gives identical results.
 */
export function addElementwiseInterpreter(mod: ModuleBuilder): void {
  const i32 = 'i32' as const;
  const f = mod.func('ew', [['desc', i32], ['start', i32], ['end', i32], ['regs', i32]]);
  for (const n of ['pos', 'i0', 'i1', 'i2', 'i3', 'd0', 'd1', 'd2', 'd3', 't', 'len', 'vbytes', 'fbytes', 'ip', 'ipEnd', 'last',
    'op', 'dst', 'slot', 'wa', 'wb', 'wc', 'ra', 'rb', 'rc', 'p', 'src', 's3', 'j', 'outChunk', 'direct']) f.local(n, i32);
  for (const n of ['va', 'vb', 'vc', 'vt', 'vu', 'ex', 'exc', 'ek', 'er', 'eki', 'ek1', 'zero', 'one', 'minusOne', 'half']) f.local(n, 'v128');
  f.v128_zero().set('zero');
  hoistConstants(f);
  splat(f, 1).set('one'); splat(f, -1).set('minusOne'); splat(f, 0.5).set('half');
  const word = (base: string, k: number) => f.get(base).i32_load(4 * k);
  /** Pushes the table slot address of register `index` (a local). */
  const slotOf = (index: string) => f.get(index).i32(2).i32_shl().get('regs').i32_add();
  word('desc', 3).set('d0'); word('desc', 4).set('d1'); word('desc', 5).set('d2'); word('desc', 6).set('d3');
  // multi-index of start
  f.get('start').set('pos');
  f.get('pos').get('d3').i32_rem_u().set('i3');
  f.get('pos').get('d3').i32_div_u().set('t');
  f.get('t').get('d2').i32_rem_u().set('i2');
  f.get('t').get('d2').i32_div_u().set('t');
  f.get('t').get('d1').i32_rem_u().set('i1');
  f.get('t').get('d1').i32_div_u().set('i0');
  f.get('desc').i32(HEADER_BYTES).i32_add().set('ip');
  word('desc', 0).i32(INSTR_BYTES).i32_mul().get('ip').i32_add().set('ipEnd');
  f.get('ipEnd').i32(INSTR_BYTES).i32_sub().set('last');
  word('desc', 11).set('s3'); // the output's row stride (s3 is reloaded per load below, so keep it in `direct` too)

  /** for (p = 0; p < limit; p += 16) body — over the chunk's vectors. */
  const vectors = (limit: string, body: () => void) => f.for_('p', 0, limit, 16, body);

  f.block(() => {
    f.loop(() => {
      f.get('pos').get('end').i32_ge_s().br_if(1);
      // len = min(d3 − i3, end − pos, CHUNK)
      f.get('d3').get('i3').i32_sub().set('len');
      f.get('end').get('pos').i32_sub().get('len').get('end').get('pos').i32_sub().get('len').i32_lt_s().select().set('len');
      f.i32(CHUNK).get('len').get('len').i32(CHUNK).i32_gt_s().select().set('len');
      f.get('len').i32(3).i32_add().i32(2).i32_shr_s().i32(4).i32_shl().set('vbytes');
      f.get('len').i32(2).i32_shr_s().i32(4).i32_shl().set('fbytes');
      // this chunk's output address: out + 4·(i0·o0 + i1·o1 + i2·o2 + i3·o3); written directly by the last
      // instruction when the row is unit-stride and the chunk whole vectors (so no lane lands past it)
      word('desc', 11).set('s3');
      f.get('i0'); word('desc', 8).i32_mul();
      f.get('i1'); word('desc', 9).i32_mul().i32_add();
      f.get('i2'); word('desc', 10).i32_mul().i32_add();
      f.get('i3').get('s3').i32_mul().i32_add();
      f.i32(2).i32_shl(); word('desc', 2).i32_add().set('outChunk');
      f.get('s3').i32(1).i32_eq().get('len').i32(3).i32_and().i32_eqz().i32_and().set('direct');
      f.get('desc').i32(HEADER_BYTES).i32_add().set('ip');
      f.loop(() => {
        word('ip', 0).set('op');
        word('ip', 1).set('slot');
        f.get('slot').i32(CHUNK * 4).i32_mul().get('regs').i32_add().i32(TABLE_BYTES).i32_add().set('dst'); // own buffer
        word('ip', 2).set('wa'); word('ip', 3).set('wb'); word('ip', 4).set('wc');
        /** Reads the operand registers' addresses from the table; the result goes to the output when allowed. */
        const operands = (count: number) => {
          slotOf('wa').i32_load().set('ra');
          if (count >= 2) slotOf('wb').i32_load().set('rb');
          if (count >= 3) slotOf('wc').i32_load().set('rc');
          f.get('ip').get('last').i32_eq().get('direct').i32_and();
          f.if_(() => { f.get('outChunk').set('dst'); });
        };
        const cases: (() => void)[] = [];
        // load: src = addr + 4·(i0·s0 + i1·s1 + i2·s2 + i3·s3)
        cases.push(() => {
          word('ip', 6).set('s3');
          f.get('i0').get('wb').i32_mul();
          f.get('i1').get('wc').i32_mul().i32_add();
          f.get('i2'); word('ip', 5).i32_mul().i32_add();
          f.get('i3').get('s3').i32_mul().i32_add();
          f.i32(2).i32_shl().get('wa').i32_add().set('src');
          // unit-stride float32: the register reads the operand in place
          f.get('s3').i32(1).i32_eq(); word('ip', 7).i32_eqz(); f.i32_and();
          f.if_(() => { f.get('src').set('dst'); }, () => {
            f.get('s3').i32(1).i32_eq();
            f.if_(() => {
              vectors('fbytes', () => { f.get('dst').get('p').i32_add().get('src').get('p').i32_add().v128_load().v128_store(); });
              f.for_('p', 'fbytes', 'vbytes', 4, () => {
                f.get('p').get('len').i32(2).i32_shl().i32_lt_s();
                f.if_(() => { f.get('dst').get('p').i32_add().get('src').get('p').i32_add().f32_load().f32_store(); });
              });
            }, () => {
              f.get('s3').i32_eqz();
              f.if_(() => {
                f.get('src').v128_load32_splat().set('va');
                vectors('vbytes', () => { f.get('dst').get('p').i32_add().get('va').v128_store(); });
              }, () => {
                f.for_('j', 0, 'len', 1, () => {
                  f.get('dst').get('j').i32(2).i32_shl().i32_add().get('src').f32_load().f32_store();
                  f.get('src').get('s3').i32(2).i32_shl().i32_add().set('src');
                });
              });
            });
            // word 7 = 1: the operand holds int32 values, converted to float32 (rounded to nearest, as a typed-array store)
            word('ip', 7);
            f.if_(() => {
              vectors('vbytes', () => { f.get('dst').get('p').i32_add().get('dst').get('p').i32_add().v128_load().f32x4_convert_i32x4_s().v128_store(); });
            });
          });
        });
        // constant: splat of the bits in word 2
        cases.push(() => {
          f.get('wa').i32x4_splat().set('va');
          vectors('vbytes', () => { f.get('dst').get('p').i32_add().get('va').v128_store(); });
        });
        // clamp: x < lo ? lo : x > hi ? hi : x
        cases.push(() => {
          operands(1);
          f.get('wb').i32x4_splat().set('vb');
          f.get('wc').i32x4_splat().set('vc');
          vectors('vbytes', () => {
            f.get('dst').get('p').i32_add();
            f.get('ra').get('p').i32_add().v128_load().set('va');
            f.get('vb');
            f.get('vc').get('va').get('va').get('vc').f32x4_gt().v128_bitselect();
            f.get('va').get('vb').f32x4_lt().v128_bitselect();
            f.v128_store();
          });
        });
        for (const name of OP_NAMES) {
          const op = VECTOR_OPS[name];
          cases.push(() => {
            operands(op.arity);
            vectors('vbytes', () => {
              f.get('dst').get('p').i32_add();
              f.get('ra').get('p').i32_add().v128_load().set('va');
              if (op.arity >= 2) f.get('rb').get('p').i32_add().v128_load().set('vb');
              if (op.arity >= 3) f.get('rc').get('p').i32_add().v128_load().set('vc');
              op.emit(f);
              f.v128_store();
            });
          });
        }
        f.switch_(() => f.get('op'), cases);
        slotOf('slot').get('dst').i32_store(); // where this register's chunk now lives
        f.get('ip').i32(INSTR_BYTES).i32_add().tee('ip').get('ipEnd').i32_lt_s().br_if(0);
      });
      // store the result register into the output, unless the last instruction wrote it there
      word('desc', 1).set('slot');
      slotOf('slot').i32_load().set('ra');
      f.get('ra').get('outChunk').i32_ne();
      f.if_(() => {
        f.get('outChunk').set('src');
        word('desc', 11).set('s3');
        f.get('s3').i32(1).i32_eq();
        f.if_(() => {
          vectors('fbytes', () => { f.get('src').get('p').i32_add().get('ra').get('p').i32_add().v128_load().v128_store(); });
          f.for_('p', 'fbytes', 'vbytes', 4, () => {
            f.get('p').get('len').i32(2).i32_shl().i32_lt_s();
            f.if_(() => { f.get('src').get('p').i32_add().get('ra').get('p').i32_add().f32_load().f32_store(); });
          });
        }, () => {
          f.for_('j', 0, 'len', 1, () => {
            f.get('src').get('ra').get('j').i32(2).i32_shl().i32_add().f32_load().f32_store();
            f.get('src').get('s3').i32(2).i32_shl().i32_add().set('src');
          });
        });
      });
      // advance the multi-index
      f.get('pos').get('len').i32_add().set('pos');
      f.get('i3').get('len').i32_add().set('i3');
      f.get('i3').get('d3').i32_ge_s();
      f.if_(() => {
        f.i32(0).set('i3');
        f.get('i2').i32(1).i32_add().set('i2');
        f.get('i2').get('d2').i32_ge_s();
        f.if_(() => {
          f.i32(0).set('i2');
          f.get('i1').i32(1).i32_add().set('i1');
          f.get('i1').get('d1').i32_ge_s();
          f.if_(() => { f.i32(0).set('i1'); f.get('i0').i32(1).i32_add().set('i0'); });
        });
      });
      f.br(0);
    });
  });
}
