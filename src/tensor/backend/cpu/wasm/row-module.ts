// Emits the float32 row kernels of the fast CPU backend in WebAssembly SIMD: row sums, column sums, softmax and row
// normalization with their backwards, over row (or column) ranges that threads split. Sums accumulate in float64 as
// the TypeScript kernels do; a row takes one instruction sequence whatever the split, so threads do not change results.

import type { FunctionBuilder, ModuleBuilder } from './module-builder.js';
import { emitExp, hoistConstants } from './elementwise-module.js';

const i32 = 'i32' as const;
/** Byte indices of i8x16.shuffle: lanes 2, 3 of the first vector into lanes 0, 1. */
const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
/** The two low float lanes of each of two vectors, side by side. */
const JOIN_LOW = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

/** Pushes the float64 pair of lanes 0, 1 (high = false) or 2, 3 of the float32 vector in local v. */
function half(f: FunctionBuilder, v: string, high: boolean): void {
  f.get(v);
  if (high) f.get(v).i8x16_shuffle(HIGH_HALF);
  f.f64x2_promote_low_f32x4();
}

/** Pushes the float32 vector made of two float64 pairs (locals lo, hi). */
function join(f: FunctionBuilder, lo: string, hi: string): void {
  f.get(lo).f32x4_demote_f64x2_zero().get(hi).f32x4_demote_f64x2_zero().i8x16_shuffle(JOIN_LOW);
}

/** Pushes lane 0 + lane 1 of the f64x2 local `v`. */
function lanes(f: FunctionBuilder, v: string): void {
  f.get(v).f64x2_extract_lane(0).get(v).f64x2_extract_lane(1).f64_add();
}

/** Declares the locals every row function uses; fbytes/nbytes are the whole-vector and full byte lengths of a row. */
function rowLocals(f: FunctionBuilder, extraV128: string[] = [], extraF64: string[] = []): void {
  for (const n of ['r', 'p', 'row', 'fbytes', 'nbytes']) f.local(n, i32);
  for (const n of ['v', 'w', 'lo', 'hi', 'acc0', 'acc1', ...extraV128]) f.local(n, 'v128');
  for (const n of ['s', 't', ...extraF64]) f.local(n, 'f64');
  f.get('n').i32(2).i32_shr_s().i32(4).i32_shl().set('fbytes');
  f.get('n').i32(2).i32_shl().set('nbytes');
}

/** for (r = r0; r < r1; r++) with row = base + r·n·4 (bytes). */
function eachRow(f: FunctionBuilder, base: string, body: () => void): void {
  f.for_('r', 'r0', 'r1', 1, () => {
    f.get('r').get('nbytes').i32_mul().get(base).i32_add().set('row');
    body();
  });
}

/** Float64 sum of x[row…row+n) into local s (pairs accumulated in acc0/acc1, then the tail in order). */
function rowSum(f: FunctionBuilder, at: (p: () => void) => void): void {
  f.v128_zero().set('acc0'); f.v128_zero().set('acc1');
  f.for_('p', 0, 'fbytes', 16, () => {
    at(() => f.get('p'));
    f.v128_load().set('v');
    f.get('acc0'); half(f, 'v', false); f.f64x2_add().set('acc0');
    f.get('acc1'); half(f, 'v', true); f.f64x2_add().set('acc1');
  });
  f.get('acc0').get('acc1').f64x2_add().set('acc0');
  lanes(f, 'acc0'); f.set('s');
  f.for_('p', 'fbytes', 'nbytes', 4, () => {
    f.get('s'); at(() => f.get('p')); f.f32_load().f64_promote_f32().f64_add().set('s');
  });
}

export function addRowKernels(mod: ModuleBuilder): void {
  // sumRows(x, n, out, r0, r1): out[r] = Σ x[r, :]
  {
    const f = mod.func('sumRows', [['x', i32], ['n', i32], ['out', i32], ['r0', i32], ['r1', i32]]);
    rowLocals(f);
    eachRow(f, 'x', () => {
      rowSum(f, (p) => { f.get('row'); p(); f.i32_add(); });
      f.get('out').get('r').i32(2).i32_shl().i32_add().get('s').f32_demote_f64().f32_store();
    });
  }

  // colSum(x, rows, cols, rowBytes, batches, batchBytes, out, c0, c1): out[b, c] = Σ_r x[b, r, c] for every batch b
  // and c in [c0, c1), summed in row order (float64), eight columns at a time; c0 is a multiple of 8.
  {
    const f = mod.func('colSum', [['x', i32], ['rows', i32], ['cols', i32], ['rowBytes', i32], ['batches', i32], ['batchBytes', i32],
      ['out', i32], ['c0', i32], ['c1', i32]]);
    for (const n of ['c', 'r', 'ptr', 'b', 'xb', 'ob']) f.local(n, i32);
    for (const n of ['v', 'w', 'a0', 'a1', 'a2', 'a3']) f.local(n, 'v128');
    f.local('s', 'f64');
    f.for_('b', 0, 'batches', 1, () => {
      f.get('x').get('b').get('batchBytes').i32_mul().i32_add().set('xb');
      f.get('out').get('b').get('cols').i32_mul().i32(2).i32_shl().i32_add().set('ob');
      f.get('c0').set('c');
      f.block(() => f.loop(() => {
        f.get('c').i32(8).i32_add().get('c1').i32_gt_s().br_if(1);
        for (const a of ['a0', 'a1', 'a2', 'a3']) f.v128_zero().set(a);
        f.get('xb').get('c').i32(2).i32_shl().i32_add().set('ptr');
        f.for_('r', 0, 'rows', 1, () => {
          f.get('ptr').v128_load().set('v');
          f.get('ptr').v128_load(16).set('w');
          f.get('a0'); half(f, 'v', false); f.f64x2_add().set('a0');
          f.get('a1'); half(f, 'v', true); f.f64x2_add().set('a1');
          f.get('a2'); half(f, 'w', false); f.f64x2_add().set('a2');
          f.get('a3'); half(f, 'w', true); f.f64x2_add().set('a3');
          f.get('ptr').get('rowBytes').i32_add().set('ptr');
        });
        f.get('ob').get('c').i32(2).i32_shl().i32_add(); join(f, 'a0', 'a1'); f.v128_store();
        f.get('ob').get('c').i32(2).i32_shl().i32_add(); join(f, 'a2', 'a3'); f.v128_store(16);
        f.get('c').i32(8).i32_add().set('c');
        f.br(0);
      }));
      f.for_('c', 'c', 'c1', 1, () => {
        f.f64(0).set('s');
        f.get('xb').get('c').i32(2).i32_shl().i32_add().set('ptr');
        f.for_('r', 0, 'rows', 1, () => {
          f.get('s').get('ptr').f32_load().f64_promote_f32().f64_add().set('s');
          f.get('ptr').get('rowBytes').i32_add().set('ptr');
        });
        f.get('ob').get('c').i32(2).i32_shl().i32_add().get('s').f32_demote_f64().f32_store();
      });
    });
  }

  // softmaxRows(x, out, n, r0, r1): out = e^(x − max) / Σ e^(x − max) per row
  {
    const f = mod.func('softmaxRows', [['x', i32], ['out', i32], ['n', i32], ['r0', i32], ['r1', i32]]);
    rowLocals(f, ['m', 'one', 'zero', 'ex', 'exc', 'ek', 'er', 'eki', 'ek1'], []); // zero: a local starts at 0
    f.local('mx', 'f32'); f.local('inv', 'f32'); f.local('j', i32);
    f.f32(1).f32x4_splat().set('one');
    hoistConstants(f);
    eachRow(f, 'x', () => {
      f.f32(-Infinity).f32x4_splat().set('m');
      // pseudo-max drops a NaN; the row still comes out all NaN (its e is NaN, so is the sum), as the reference's
      f.for_('p', 0, 'fbytes', 16, () => { f.get('m').get('row').get('p').i32_add().v128_load().f32x4_pmax().set('m'); });
      f.get('m').f32x4_extract_lane(0).get('m').f32x4_extract_lane(1).f32_max()
        .get('m').f32x4_extract_lane(2).get('m').f32x4_extract_lane(3).f32_max().f32_max().set('mx');
      f.for_('p', 'fbytes', 'nbytes', 4, () => { f.get('mx').get('row').get('p').i32_add().f32_load().f32_max().set('mx'); });
      f.get('mx').f32x4_splat().set('m');
      // e = exp(x − max), stored; Σ in float64 (the tail's e is computed on a whole vector, its extra lanes dropped)
      f.v128_zero().set('acc0'); f.v128_zero().set('acc1');
      f.for_('p', 0, 'fbytes', 16, () => {
        emitExp(f, () => { f.get('row').get('p').i32_add().v128_load().get('m').f32x4_sub(); });
        f.set('v');
        f.get('out').get('r').get('nbytes').i32_mul().i32_add().get('p').i32_add().get('v').v128_store();
        f.get('acc0'); half(f, 'v', false); f.f64x2_add().set('acc0');
        f.get('acc1'); half(f, 'v', true); f.f64x2_add().set('acc1');
      });
      f.get('acc0').get('acc1').f64x2_add().set('acc0');
      lanes(f, 'acc0'); f.set('s');
      f.get('fbytes').get('nbytes').i32_lt_s();
      f.if_(() => {
        for (let lane = 0; lane < 4; lane++) {
          f.get('fbytes').i32(4 * lane).i32_add().get('nbytes').i32_lt_s();
          f.if_(() => { f.get('w').get('row').get('fbytes').i32_add().f32_load(4 * lane).f32x4_replace_lane(lane).set('w'); });
        }
        emitExp(f, () => { f.get('w').get('m').f32x4_sub(); });
        f.set('v');
        for (let lane = 0; lane < 3; lane++) {
          f.get('fbytes').i32(4 * lane).i32_add().get('nbytes').i32_lt_s();
          f.if_(() => {
            f.get('out').get('r').get('nbytes').i32_mul().i32_add().get('fbytes').i32_add().get('v').f32x4_extract_lane(lane).f32_store(4 * lane);
            f.get('s').get('v').f32x4_extract_lane(lane).f64_promote_f32().f64_add().set('s');
          });
        }
      });
      f.f64(1).get('s').f64_div().f32_demote_f64().set('inv');
      f.get('inv').f32x4_splat().set('w');
      f.get('out').get('r').get('nbytes').i32_mul().i32_add().set('row');
      f.for_('p', 0, 'fbytes', 16, () => {
        f.get('row').get('p').i32_add().get('row').get('p').i32_add().v128_load().get('w').f32x4_mul().v128_store();
      });
      f.for_('p', 'fbytes', 'nbytes', 4, () => {
        f.get('row').get('p').i32_add().get('row').get('p').i32_add().f32_load().get('inv').f32_mul().f32_store();
      });
    });
  }

  // softmaxRowsBackward(y, gy, out, n, r0, r1): out = y·(gy − Σ gy·y), in float64
  {
    const f = mod.func('softmaxRowsBackward', [['y', i32], ['gy', i32], ['out', i32], ['n', i32], ['r0', i32], ['r1', i32]]);
    rowLocals(f, ['d2', 'g'], []);
    f.local('off', i32);
    f.for_('r', 'r0', 'r1', 1, () => {
      f.get('r').get('nbytes').i32_mul().set('off');
      f.v128_zero().set('acc0'); f.v128_zero().set('acc1');
      f.for_('p', 0, 'fbytes', 16, () => {
        f.get('y').get('off').i32_add().get('p').i32_add().v128_load().set('v');
        f.get('gy').get('off').i32_add().get('p').i32_add().v128_load().set('g');
        f.get('acc0'); half(f, 'v', false); half(f, 'g', false); f.f64x2_mul().f64x2_add().set('acc0');
        f.get('acc1'); half(f, 'v', true); half(f, 'g', true); f.f64x2_mul().f64x2_add().set('acc1');
      });
      f.get('acc0').get('acc1').f64x2_add().set('acc0');
      lanes(f, 'acc0'); f.set('s');
      f.for_('p', 'fbytes', 'nbytes', 4, () => {
        f.get('s');
        f.get('y').get('off').i32_add().get('p').i32_add().f32_load().f64_promote_f32();
        f.get('gy').get('off').i32_add().get('p').i32_add().f32_load().f64_promote_f32();
        f.f64_mul().f64_add().set('s');
      });
      f.get('s').f64x2_splat().set('d2');
      f.for_('p', 0, 'fbytes', 16, () => {
        f.get('y').get('off').i32_add().get('p').i32_add().v128_load().set('v');
        f.get('gy').get('off').i32_add().get('p').i32_add().v128_load().set('g');
        half(f, 'v', false); half(f, 'g', false); f.get('d2').f64x2_sub().f64x2_mul().set('lo');
        half(f, 'v', true); half(f, 'g', true); f.get('d2').f64x2_sub().f64x2_mul().set('hi');
        f.get('out').get('off').i32_add().get('p').i32_add(); join(f, 'lo', 'hi'); f.v128_store();
      });
      f.for_('p', 'fbytes', 'nbytes', 4, () => {
        f.get('out').get('off').i32_add().get('p').i32_add();
        f.get('y').get('off').i32_add().get('p').i32_add().f32_load().f64_promote_f32();
        f.get('gy').get('off').i32_add().get('p').i32_add().f32_load().f64_promote_f32().get('s').f64_sub();
        f.f64_mul().f32_demote_f64().f32_store();
      });
    });
  }

  // normRows(x, xhat, rstd, n, epsAddr, r0, r1): xhat = (x − μ)·rstd, rstd = 1/√(σ² + eps), in float64
  // (eps is the float64 at epsAddr). A row whose squares overflow gets rstd 0 or NaN: the caller redoes it.
  {
    const f = mod.func('normRows', [['x', i32], ['xhat', i32], ['rstd', i32], ['n', i32], ['epsAddr', i32], ['r0', i32], ['r1', i32]]);
    rowLocals(f, ['mu2', 'd'], ['mu', 'rs', 'nf']);
    f.local('off', i32);
    f.get('n').f64_convert_i32_s().set('nf');
    f.for_('r', 'r0', 'r1', 1, () => {
      f.get('r').get('nbytes').i32_mul().set('off');
      f.get('x').get('off').i32_add().set('row');
      rowSum(f, (p) => { f.get('row'); p(); f.i32_add(); });
      f.get('s').get('nf').f64_div().set('mu');
      f.get('mu').f64x2_splat().set('mu2');
      f.v128_zero().set('acc0'); f.v128_zero().set('acc1');
      f.for_('p', 0, 'fbytes', 16, () => {
        f.get('row').get('p').i32_add().v128_load().set('v');
        half(f, 'v', false); f.get('mu2').f64x2_sub().set('d'); f.get('acc0').get('d').get('d').f64x2_mul().f64x2_add().set('acc0');
        half(f, 'v', true); f.get('mu2').f64x2_sub().set('d'); f.get('acc1').get('d').get('d').f64x2_mul().f64x2_add().set('acc1');
      });
      f.get('acc0').get('acc1').f64x2_add().set('acc0');
      lanes(f, 'acc0'); f.set('s');
      f.for_('p', 'fbytes', 'nbytes', 4, () => {
        f.get('row').get('p').i32_add().f32_load().f64_promote_f32().get('mu').f64_sub().set('t');
        f.get('s').get('t').get('t').f64_mul().f64_add().set('s');
      });
      f.f64(1).get('s').get('nf').f64_div().get('epsAddr').f64_load().f64_add().f64_sqrt().f64_div().set('rs');
      f.get('rstd').get('r').i32(2).i32_shl().i32_add().get('rs').f32_demote_f64().f32_store();
      f.get('rs').f64x2_splat().set('d');
      f.for_('p', 0, 'fbytes', 16, () => {
        f.get('row').get('p').i32_add().v128_load().set('v');
        half(f, 'v', false); f.get('mu2').f64x2_sub().get('d').f64x2_mul().set('lo');
        half(f, 'v', true); f.get('mu2').f64x2_sub().get('d').f64x2_mul().set('hi');
        f.get('xhat').get('off').i32_add().get('p').i32_add(); join(f, 'lo', 'hi'); f.v128_store();
      });
      f.for_('p', 'fbytes', 'nbytes', 4, () => {
        f.get('xhat').get('off').i32_add().get('p').i32_add();
        f.get('row').get('p').i32_add().f32_load().f64_promote_f32().get('mu').f64_sub().get('rs').f64_mul().f32_demote_f64().f32_store();
      });
    });
  }

  // normRowsBackward(xhat, rstd, gy, out, n, r0, r1): out = rstd·(gy − mean(gy) − xhat·mean(gy·xhat)), in float64
  {
    const f = mod.func('normRowsBackward', [['xhat', i32], ['rstd', i32], ['gy', i32], ['out', i32], ['n', i32], ['r0', i32], ['r1', i32]]);
    rowLocals(f, ['g', 'mg2', 'mgx2', 'rs2'], ['sgx', 'nf']);
    f.local('off', i32);
    f.get('n').f64_convert_i32_s().set('nf');
    f.for_('r', 'r0', 'r1', 1, () => {
      f.get('r').get('nbytes').i32_mul().set('off');
      f.v128_zero().set('acc0'); f.v128_zero().set('acc1'); f.v128_zero().set('lo'); f.v128_zero().set('hi');
      f.for_('p', 0, 'fbytes', 16, () => {
        f.get('gy').get('off').i32_add().get('p').i32_add().v128_load().set('g');
        f.get('xhat').get('off').i32_add().get('p').i32_add().v128_load().set('v');
        f.get('acc0'); half(f, 'g', false); f.f64x2_add().set('acc0');
        f.get('acc1'); half(f, 'g', true); f.f64x2_add().set('acc1');
        f.get('lo'); half(f, 'g', false); half(f, 'v', false); f.f64x2_mul().f64x2_add().set('lo');
        f.get('hi'); half(f, 'g', true); half(f, 'v', true); f.f64x2_mul().f64x2_add().set('hi');
      });
      f.get('acc0').get('acc1').f64x2_add().set('acc0');
      lanes(f, 'acc0'); f.set('s');
      f.get('lo').get('hi').f64x2_add().set('lo');
      lanes(f, 'lo'); f.set('sgx');
      f.for_('p', 'fbytes', 'nbytes', 4, () => {
        f.get('gy').get('off').i32_add().get('p').i32_add().f32_load().f64_promote_f32().set('t');
        f.get('s').get('t').f64_add().set('s');
        f.get('sgx').get('t').get('xhat').get('off').i32_add().get('p').i32_add().f32_load().f64_promote_f32().f64_mul().f64_add().set('sgx');
      });
      f.get('s').get('nf').f64_div().set('s');
      f.get('sgx').get('nf').f64_div().set('sgx');
      f.get('s').f64x2_splat().set('mg2');
      f.get('sgx').f64x2_splat().set('mgx2');
      f.get('rstd').get('r').i32(2).i32_shl().i32_add().f32_load().f64_promote_f32().set('t');
      f.get('t').f64x2_splat().set('rs2');
      f.for_('p', 0, 'fbytes', 16, () => {
        f.get('gy').get('off').i32_add().get('p').i32_add().v128_load().set('g');
        f.get('xhat').get('off').i32_add().get('p').i32_add().v128_load().set('v');
        f.get('rs2'); half(f, 'g', false); f.get('mg2').f64x2_sub(); half(f, 'v', false); f.get('mgx2').f64x2_mul().f64x2_sub().f64x2_mul().set('lo');
        f.get('rs2'); half(f, 'g', true); f.get('mg2').f64x2_sub(); half(f, 'v', true); f.get('mgx2').f64x2_mul().f64x2_sub().f64x2_mul().set('hi');
        f.get('out').get('off').i32_add().get('p').i32_add(); join(f, 'lo', 'hi'); f.v128_store();
      });
      f.for_('p', 'fbytes', 'nbytes', 4, () => {
        f.get('out').get('off').i32_add().get('p').i32_add();
        f.get('t');
        f.get('gy').get('off').i32_add().get('p').i32_add().f32_load().f64_promote_f32().get('s').f64_sub();
        f.get('xhat').get('off').i32_add().get('p').i32_add().f32_load().f64_promote_f32().get('sgx').f64_mul().f64_sub();
        f.f64_mul().f32_demote_f64().f32_store();
      });
    });
  }
}
