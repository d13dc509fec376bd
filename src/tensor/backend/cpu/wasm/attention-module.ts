// Emits fused attention for the fast CPU backend: per (batch, head), the scores q·kᵀ (the module's gemm) stay in a
// per-task buffer while a row pass scales, masks and normalizes them, and the gemm applies them to v; the backward
// recomputes the probabilities from the saved row max and sum. The kernels of ../attention-kernels.ts, in WebAssembly.

import type { FunctionBuilder, ModuleBuilder } from './module-builder.js';
import { emitExp, hoistConstants } from './elementwise-module.js';

const i32 = 'i32' as const;

/**
 * Word offsets of an attention call's descriptor (i32 words in the heap; addresses and strides in bytes, `scale`
 * as float32 bits). q, k, v, gOut are strided [B, H, L, ·] views (stride per batch, head, row, column); the mask,
 * when maskAddr ≠ 0, is [B, H, Lq, Lk] with unit column stride; outputs are contiguous.
 */
export const ATTENTION_DESCRIPTOR = {
  heads: 0, lq: 1, lk: 2, d: 3, e: 4, ldS: 5,
  q: 6, k: 11, v: 16, g: 29, // each: address, batch, head, row, column stride
  mask: 21, // address, batch, head, row stride
  out: 25, rowMax: 26, rowSum: 27, scale: 28,
  dq: 34, dk: 35, dv: 36,
  words: 37,
} as const;

/** Adds attention(desc, pair0, pair1, S, T, scratch) and attentionBackward(…) over the (batch, head) pairs [pair0, pair1). */
export function addAttentionKernels(mod: ModuleBuilder, gemm: FunctionBuilder): void {
  for (const backward of [false, true]) {
    const f = mod.func(backward ? 'attentionBackward' : 'attention',
      [['desc', i32], ['pair0', i32], ['pair1', i32], ['S', i32], ['T', i32], ['scratch', i32]]);
    const D = ATTENTION_DESCRIPTOR;
    const fields = ['heads', 'lq', 'lk', 'd', 'e', 'ldS', 'maskAddr', 'mB', 'mH', 'mRow', 'out', 'rowMax', 'rowSum'] as const;
    for (const name of [...fields, 'pair', 'b', 'h', 'qa', 'ka', 'va', 'ga', 'ma', 'i', 'row', 'p', 'fbytes', 'nbytes', 'rowBytes', 'stat'] as const) f.local(name, i32);
    for (const op of ['q', 'k', 'v', 'g'] as const) for (const s of ['Addr', 'B', 'H', 'Row', 'Col']) f.local(`${op}${s}`, i32);
    f.local('scale', 'f32'); f.local('mx', 'f32'); f.local('sum', 'f32'); f.local('s', 'f32');
    for (const n of ['m', 'acc', 'x', 'sc', 'one', 'zero', 'ex', 'exc', 'ek', 'er', 'eki', 'ek1']) f.local(n, 'v128'); // zero: a local starts at 0
    f.f32(1).f32x4_splat().set('one');
    hoistConstants(f);

    const word = (k: number) => { f.get('desc').i32_load(4 * k); };
    (['heads', 'lq', 'lk', 'd', 'e', 'ldS'] as const).forEach((name) => { word(D[name]); f.set(name); });
    for (const op of ['q', 'k', 'v', 'g'] as const) {
      if (op === 'g' && !backward) continue;
      ['Addr', 'B', 'H', 'Row', 'Col'].forEach((s, j) => { word(D[op] + j); f.set(`${op}${s}`); });
    }
    ['maskAddr', 'mB', 'mH', 'mRow'].forEach((name, j) => { word(D.mask + j); f.set(name); });
    word(D.out); f.set('out'); word(D.rowMax); f.set('rowMax'); word(D.rowSum); f.set('rowSum');
    word(D.scale); f.f32_reinterpret_i32().set('scale');
    f.get('scale').f32x4_splat().set('sc');
    f.get('ldS').i32(2).i32_shl().set('rowBytes');
    f.get('lk').i32(2).i32_shr_s().i32(4).i32_shl().set('fbytes');
    f.get('lk').i32(2).i32_shl().set('nbytes');

    /** Calls gemm for one matrix: C[m×n] = A[m×k]·B[k×n] (byte strides), unit batch. */
    const matmul = (m: () => void, n: () => void, k: () => void, a: () => void, aRow: () => void, aCol: () => void,
      b: () => void, bRow: () => void, bCol: () => void, c: () => void, ldc: () => void) => {
      f.i32(1); m(); n(); k();
      a(); f.i32(0); aRow(); aCol();
      b(); f.i32(0); bRow(); bCol();
      c(); f.i32(0); ldc(); f.get('scratch'); f.i32(0);
      f.call(mod.indexOf(gemm));
    };
    const local = (name: string) => () => { f.get(name); };

    f.for_('pair', 'pair0', 'pair1', 1, () => {
      f.get('pair').get('heads').i32_div_u().set('b');
      f.get('pair').get('heads').i32_rem_u().set('h');
      for (const op of ['q', 'k', 'v', 'g'] as const) {
        if (op === 'g' && !backward) continue;
        f.get(`${op}Addr`).get('b').get(`${op}B`).i32_mul().i32_add().get('h').get(`${op}H`).i32_mul().i32_add().set(`${op}a`);
      }
      f.get('maskAddr').get('b').get('mB').i32_mul().i32_add().get('h').get('mH').i32_mul().i32_add().set('ma');
      // S = q·kᵀ (kᵀ: element (t, j) is k[j, t])
      matmul(local('lq'), local('lk'), local('d'), local('qa'), local('qRow'), local('qCol'), local('ka'), local('kCol'), local('kRow'), local('S'), local('rowBytes'));
      probabilities(f, backward);
      if (!backward) {
        // out = P·v
        matmul(local('lq'), local('e'), local('lk'), local('S'), local('rowBytes'), () => f.i32(4), local('va'), local('vRow'), local('vCol'),
          () => { f.get('out').get('pair').get('lq').i32_mul().get('e').i32_mul().i32(2).i32_shl().i32_add(); }, () => { f.get('e').i32(2).i32_shl(); });
        return;
      }
      const dOut = (name: 'dq' | 'dk' | 'dv', rows: string, cols: string) => () => {
        f.get('desc').i32_load(4 * D[name]).get('pair').get(rows).i32_mul().get(cols).i32_mul().i32(2).i32_shl().i32_add();
      };
      const bytes = (name: string) => () => { f.get(name).i32(2).i32_shl(); };
      // dv = Pᵀ·dO;  T = dP = dO·vᵀ
      matmul(local('lk'), local('e'), local('lq'), local('S'), () => f.i32(4), local('rowBytes'), local('ga'), local('gRow'), local('gCol'), dOut('dv', 'lk', 'e'), bytes('e'));
      matmul(local('lq'), local('lk'), local('e'), local('ga'), local('gRow'), local('gCol'), local('va'), local('vCol'), local('vRow'), local('T'), local('rowBytes'));
      scoreGradients(f);
      // dq = dS·k;  dk = dSᵀ·q
      matmul(local('lq'), local('d'), local('lk'), local('T'), local('rowBytes'), () => f.i32(4), local('ka'), local('kRow'), local('kCol'), dOut('dq', 'lq', 'd'), bytes('d'));
      matmul(local('lk'), local('d'), local('lq'), local('T'), () => f.i32(4), local('rowBytes'), local('qa'), local('qRow'), local('qCol'), dOut('dk', 'lk', 'd'), bytes('d'));
    });
  }
}

/**
 * Turns each row of S (scores) into probabilities, in place: s = scale·S + mask, then exp(s − max)/sum, with max
 * and sum computed (forward: stored in rowMax/rowSum) or read back (backward). The row's columns past lk, up to
 * ldS, are set to −∞ before the exponential, so whole vectors run and those columns come out 0.
 */
function probabilities(f: FunctionBuilder, backward: boolean): void {
  f.for_('i', 0, 'lq', 1, () => {
    f.get('S').get('i').get('rowBytes').i32_mul().i32_add().set('row');
    f.get('pair').get('lq').i32_mul().get('i').i32_add().i32(2).i32_shl().set('stat');
    // s = scale·S + mask: whole vectors, then the tail one column at a time; the padding columns get −∞
    f.f32(-Infinity).f32x4_splat().set('m');
    f.for_('p', 0, 'fbytes', 16, () => {
      f.get('row').get('p').i32_add().v128_load().get('sc').f32x4_mul().set('x');
      f.get('maskAddr');
      f.if_(() => { f.get('x').get('ma').get('i').get('mRow').i32_mul().i32_add().get('p').i32_add().v128_load().f32x4_add().set('x'); });
      f.get('row').get('p').i32_add().get('x').v128_store();
      f.get('m').get('x').f32x4_pmax().set('m');
    });
    f.get('m').f32x4_extract_lane(0).get('m').f32x4_extract_lane(1).f32_max()
      .get('m').f32x4_extract_lane(2).get('m').f32x4_extract_lane(3).f32_max().f32_max().set('mx');
    f.for_('p', 'fbytes', 'nbytes', 4, () => {
      f.get('row').get('p').i32_add().f32_load().get('scale').f32_mul().set('s');
      f.get('maskAddr');
      f.if_(() => { f.get('s').get('ma').get('i').get('mRow').i32_mul().i32_add().get('p').i32_add().f32_load().f32_add().set('s'); });
      f.get('row').get('p').i32_add().get('s').f32_store();
      f.get('mx').get('s').f32_max().set('mx');
    });
    f.for_('p', 'nbytes', 'rowBytes', 4, () => { f.get('row').get('p').i32_add().f32(-Infinity).f32_store(); });
    if (backward) {
      f.get('rowMax').get('stat').i32_add().f32_load().set('mx');
      f.get('rowSum').get('stat').i32_add().f32_load().set('sum');
    }
    // e = exp(s − max) over whole vectors (padding → 0), Σ e
    f.get('mx').f32x4_splat().set('m');
    f.v128_zero().set('acc');
    f.for_('p', 0, 'rowBytes', 16, () => {
      emitExp(f, () => { f.get('row').get('p').i32_add().v128_load().get('m').f32x4_sub(); });
      f.set('x');
      f.get('row').get('p').i32_add().get('x').v128_store();
      f.get('acc').get('x').f32x4_add().set('acc');
    });
    if (!backward) {
      f.get('acc').f32x4_extract_lane(0).get('acc').f32x4_extract_lane(1).f32_add()
        .get('acc').f32x4_extract_lane(2).get('acc').f32x4_extract_lane(3).f32_add().f32_add().set('sum');
      f.get('rowMax').get('stat').i32_add().get('mx').f32_store();
      f.get('rowSum').get('stat').i32_add().get('sum').f32_store();
    }
    f.f32(1).get('sum').f32_div().f32x4_splat().set('x');
    f.for_('p', 0, 'rowBytes', 16, () => { f.get('row').get('p').i32_add().get('row').get('p').i32_add().v128_load().get('x').f32x4_mul().v128_store(); });
  });
}

/** T := scale·P ⊙ (dP − Σ_j P·dP) per row, with P in S and dP in T (T's padding columns zeroed first: gemm leaves them). */
function scoreGradients(f: FunctionBuilder): void {
  f.for_('i', 0, 'lq', 1, () => {
    f.get('T').get('i').get('rowBytes').i32_mul().i32_add().set('row');
    f.for_('p', 'nbytes', 'rowBytes', 4, () => { f.get('row').get('p').i32_add().f32(0).f32_store(); });
    f.get('S').get('i').get('rowBytes').i32_mul().i32_add().set('ma'); // the P row (ma is free in the backward pass)
    f.v128_zero().set('acc');
    f.for_('p', 0, 'rowBytes', 16, () => {
      f.get('acc').get('ma').get('p').i32_add().v128_load().get('row').get('p').i32_add().v128_load().f32x4_mul().f32x4_add().set('acc');
    });
    f.get('acc').f32x4_extract_lane(0).get('acc').f32x4_extract_lane(1).f32_add()
      .get('acc').f32x4_extract_lane(2).get('acc').f32x4_extract_lane(3).f32_add().f32_add().f32x4_splat().set('m');
    f.for_('p', 0, 'rowBytes', 16, () => {
      f.get('row').get('p').i32_add();
      f.get('row').get('p').i32_add().v128_load().get('m').f32x4_sub().get('ma').get('p').i32_add().v128_load().f32x4_mul().get('sc').f32x4_mul();
      f.v128_store();
    });
  });
}
