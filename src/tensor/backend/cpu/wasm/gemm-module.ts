// Emits the WebAssembly SIMD128 float32 matrix multiply: the same GotoBLAS blocking as the TypeScript
// reference in ../gemm.ts (packed panels, an MR×NR register tile), written as wasm bytes by our module builder.
// Every address and stride the functions take is in bytes into the shared memory.

import { ModuleBuilder, type FunctionBuilder } from './module-builder.js';
import { addElementwiseInterpreter } from './elementwise-module.js';
import { addRowKernels } from './row-module.js';
import { addTileKernels } from './tile-module.js';
import { addAttentionKernels } from './attention-module.js';
import { addWinogradKernels } from './winograd-module.js';

export interface GemmTiling {
  /** Micro-tile rows (A sliver height). */
  mr: number;
  /** Micro-tile columns (B sliver width), a multiple of 4 (one f32x4 per 4 columns). */
  nr: number;
  /** Depth of a packed block. */
  kc: number;
  /** Rows of A per packed block (multiple of mr). */
  mc: number;
  /** Columns of B per packed panel (multiple of nr). */
  nc: number;
  /** Use relaxed-SIMD fused multiply-add (only where the engine validates it). */
  fma: boolean;
}

/** Tuned on the 2-core AMD EPYC (Zen 3) this project measures on; bench/gemm.ts compares tilings. */
export const DEFAULT_TILING: GemmTiling = { mr: 6, nr: 8, kc: 256, mc: 96, nc: 1024, fma: true };

/** Bytes of packing scratch one thread needs: an A block, a B panel and one edge tile. */
export function packScratchBytes(t: GemmTiling): number {
  return 4 * (t.mc * t.kc + t.kc * t.nc + t.mr * t.nr);
}

/**
 * Exports `gemm(batch, m, n, k, a, aBatch, aRow, aCol, b, bBatch, bRow, bCol, c, cBatch, ldc, scratch, accumulate)`:
 * for each of `batch` problems, C (+)= A·B with A (m×k) and B (k×n) at any byte strides and C row-major with
 * row stride ldc bytes (unit column stride). With cBatch = 0 the batch is summed into one C. C is overwritten
 * unless `accumulate` is 1. `scratch` points at packScratchBytes(tiling).
 */
export function buildGemmModule(tiling: GemmTiling, memory: { initialPages: number; maximumPages: number; shared: boolean }): Uint8Array<ArrayBuffer> {
  const { mr, nr, kc: KC, mc: MC, nc: NC } = tiling;
  if (nr % 4 !== 0 || MC % mr !== 0 || NC % nr !== 0) throw new Error(`gemm module: invalid tiling ${JSON.stringify(tiling)}`);
  const vecs = nr / 4;
  const mod = new ModuleBuilder(memory);
  const i32 = 'i32' as const;

  // packA(mc, kc, a, rowStride, colStride, dst): MR-tall slivers, element (r, p) of sliver s at ((s·kc + p)·MR + r)·4.
  const packA = mod.func('packA', [['mc', i32], ['kc', i32], ['a', i32], ['rs', i32], ['cs', i32], ['dst', i32]]);
  {
    const f = packA;
    f.local('s', i32); f.local('p', i32); f.local('rows', i32); f.local('src', i32); f.local('rowPtr', i32);
    f.local('__tmp', 'f32');
    const fastA = mr % 4 === 0 || mr % 4 === 2;
    if (fastA) {
      for (let r = 0; r < mr; r++) f.local(`ro${r}`, i32);
      for (const n of ['v0', 'v1', 'v2', 'v3', 'u0', 'u1']) f.local(n, 'v128');
      for (let r = 0; r < mr; r++) f.get('rs').i32(r).i32_mul().set(`ro${r}`);
    }
    f.for_('s', 0, 'mc', mr, () => {
      f.assign('rows', 'mc', '-', 's');
      f.get('a').get('s').get('rs').i32_mul().i32_add().set('rowPtr'); // &A[s, 0]
      const scalarLoop = () => {
        f.for_('p', 0, 'kc', 1, () => {
          f.get('rowPtr').set('src');
          for (let r = 0; r < mr; r++) {
            f.get('dst');
            f.i32(r).get('rows').i32_lt_s();
            f.if_(() => { f.get('src').f32_load().set('__tmp'); }, () => { f.f32(0).set('__tmp'); });
            f.get('__tmp').f32_store(4 * r);
            if (r < mr - 1) f.get('src').get('rs').i32_add().set('src');
          }
          f.get('dst').i32(4 * mr).i32_add().set('dst');
          f.get('rowPtr').get('cs').i32_add().set('rowPtr');
        });
      };
      if (!fastA) { scalarLoop(); return; }
      // A full sliver of row-major A: four columns at a time, rows transposed in groups of four with shuffles
      f.get('rows').i32(mr).i32_ge_s().get('cs').i32(4).i32_eq().i32_mul();
      f.if_(() => {
        f.i32(0).set('p');
        f.block(() => f.loop(() => {
          f.get('p').i32(4).i32_add().get('kc').i32_gt_s().br_if(1);
          for (let g = 0; g + 4 <= mr; g += 4) {
            for (let q = 0; q < 4; q++) f.get('rowPtr').get(`ro${g + q}`).i32_add().v128_load().set(`v${q}`);
            transpose4(f, (i) => { f.get('dst').i32(4 * (i * mr + g)).i32_add(); });
          }
          if (mr % 4 === 2) {
            f.get('rowPtr').get(`ro${mr - 2}`).i32_add().v128_load().set('v0');
            f.get('rowPtr').get(`ro${mr - 1}`).i32_add().v128_load().set('v1');
            f.get('v0').get('v1').i8x16_shuffle(INTERLEAVE_LO).set('u0');
            f.get('v0').get('v1').i8x16_shuffle(INTERLEAVE_HI).set('u1');
            for (let i = 0; i < 4; i++) f.get('dst').get(i < 2 ? 'u0' : 'u1').v128_store64_lane(i % 2, 4 * (i * mr + mr - 2));
          }
          f.get('dst').i32(16 * mr).i32_add().set('dst');
          f.get('rowPtr').i32(16).i32_add().set('rowPtr');
          f.get('p').i32(4).i32_add().set('p');
          f.br(0);
        }));
        f.for_('p', 'p', 'kc', 1, () => {
          for (let r = 0; r < mr; r++) f.get('dst').get('rowPtr').get(`ro${r}`).i32_add().f32_load().f32_store(4 * r);
          f.get('dst').i32(4 * mr).i32_add().set('dst');
          f.get('rowPtr').i32(4).i32_add().set('rowPtr');
        });
      }, () => {
        // A full sliver of a column-major A (unit row stride, e.g. a transposed operand): its MR rows at column p
        // are contiguous, so each column is copied with vector loads
        f.get('rows').i32(mr).i32_ge_s().get('rs').i32(4).i32_eq().i32_mul();
        f.if_(() => {
          f.for_('p', 0, 'kc', 1, () => {
            let r = 0;
            for (; r + 4 <= mr; r += 4) f.get('dst').get('rowPtr').v128_load(4 * r).v128_store(4 * r);
            if (mr - r >= 2) { f.get('dst').get('rowPtr').v128_load64_splat(4 * r).v128_store64_lane(0, 4 * r); r += 2; }
            if (mr - r === 1) f.get('dst').get('rowPtr').f32_load(4 * r).f32_store(4 * r);
            f.get('dst').i32(4 * mr).i32_add().set('dst');
            f.get('rowPtr').get('cs').i32_add().set('rowPtr');
          });
        }, scalarLoop);
      });
    });
  }

  // packB(kc, nc, b, rowStride, colStride, dst): NR-wide slivers, element (p, j) of sliver t at ((t·kc + p)·NR + j)·4.
  const packB = mod.func('packB', [['kc', i32], ['nc', i32], ['b', i32], ['rs', i32], ['cs', i32], ['dst', i32]]);
  {
    const f = packB;
    f.local('t', i32); f.local('p', i32); f.local('cols', i32); f.local('src', i32); f.local('colPtr', i32);
    f.local('__tmp', 'f32');
    for (let j = 0; j < nr; j++) f.local(`co${j}`, i32);
    for (const n of ['v0', 'v1', 'v2', 'v3']) f.local(n, 'v128');
    for (let j = 0; j < nr; j++) f.get('cs').i32(j).i32_mul().set(`co${j}`);
    f.for_('t', 0, 'nc', nr, () => {
      f.assign('cols', 'nc', '-', 't');
      f.get('b').get('t').get('cs').i32_mul().i32_add().set('colPtr'); // &B[0, t]
      // A whole sliver of unit-stride columns: copy NR floats per row with vector loads.
      f.get('cols').i32(nr).i32_ge_s().get('cs').i32(4).i32_eq().i32_mul();
      f.if_(() => {
        f.for_('p', 0, 'kc', 1, () => {
          for (let v = 0; v < vecs; v++) f.get('dst').get('colPtr').v128_load(16 * v).v128_store(16 * v);
          f.get('dst').i32(4 * nr).i32_add().set('dst');
          f.get('colPtr').get('rs').i32_add().set('colPtr');
        });
      }, () => {
        // A whole sliver of a transposed B (unit row stride, e.g. a Linear weight): four rows at a time, each group
        // of four columns transposed with shuffles
        f.get('cols').i32(nr).i32_ge_s().get('rs').i32(4).i32_eq().i32_mul();
        f.if_(() => {
          f.i32(0).set('p');
          f.block(() => f.loop(() => {
            f.get('p').i32(4).i32_add().get('kc').i32_gt_s().br_if(1);
            for (let g = 0; g < vecs; g++) {
              for (let q = 0; q < 4; q++) f.get('colPtr').get(`co${4 * g + q}`).i32_add().v128_load().set(`v${q}`);
              transpose4(f, (i) => { f.get('dst').i32(4 * (i * nr + 4 * g)).i32_add(); });
            }
            f.get('dst').i32(16 * nr).i32_add().set('dst');
            f.get('colPtr').i32(16).i32_add().set('colPtr');
            f.get('p').i32(4).i32_add().set('p');
            f.br(0);
          }));
          f.for_('p', 'p', 'kc', 1, () => {
            for (let j = 0; j < nr; j++) f.get('dst').get('colPtr').get(`co${j}`).i32_add().f32_load().f32_store(4 * j);
            f.get('dst').i32(4 * nr).i32_add().set('dst');
            f.get('colPtr').i32(4).i32_add().set('colPtr');
          });
        }, () => {
          f.for_('p', 0, 'kc', 1, () => {
            f.get('colPtr').set('src');
            for (let j = 0; j < nr; j++) {
              f.get('dst');
              f.i32(j).get('cols').i32_lt_s();
              f.if_(() => { f.get('src').f32_load().set('__tmp'); }, () => { f.f32(0).set('__tmp'); });
              f.get('__tmp').f32_store(4 * j);
              if (j < nr - 1) f.get('src').get('cs').i32_add().set('src');
            }
            f.get('dst').i32(4 * nr).i32_add().set('dst');
            f.get('colPtr').get('rs').i32_add().set('colPtr');
          });
        });
      });
    });
  }

  // micro{R}(kc, ap, bp, c, ldc, cols, first, tile): C[R×cols] (+)= R rows of a packed A sliver · a packed B sliver,
  // one variant per row count R ≤ MR, so a last sliver of fewer rows neither computes nor spills the rows it lacks
  const micros = Array.from({ length: mr }, (_, r) => emitMicroKernel(mod, tiling, r + 1));

  // gemm: the batch loop and the five GotoBLAS loops around packA/packB/micro.
  const gemm = mod.func('gemm', [
    ['batch', i32], ['m', i32], ['n', i32], ['k', i32],
    ['a', i32], ['aBatch', i32], ['aRow', i32], ['aCol', i32],
    ['b', i32], ['bBatch', i32], ['bRow', i32], ['bCol', i32],
    ['c', i32], ['cBatch', i32], ['ldc', i32], ['scratch', i32], ['accumulate', i32]]);
  {
    const f = gemm;
    for (const name of ['t', 'jc', 'pc', 'ic', 'jr', 'ir', 'nc', 'kc', 'mc', 'aPack', 'bPack', 'tile', 'aT', 'bT', 'cT', 'rows']) f.local(name, i32);
    const min = (dst: string, x: string | number, y: string | number) => {
      // dst = min(x, y) via select
      const push = (v: string | number) => (typeof v === 'number' ? f.i32(v) : f.get(v));
      push(x); push(y); push(x); push(y); f.i32_lt_s().select().set(dst);
    };
    f.get('scratch').set('aPack');
    f.get('scratch').i32(4 * MC * KC).i32_add().set('bPack');
    f.get('bPack').i32(4 * KC * NC).i32_add().set('tile');
    f.get('a').set('aT'); f.get('b').set('bT'); f.get('c').set('cT');
    f.for_('t', 0, 'batch', 1, () => {
      f.for_('jc', 0, 'n', NC, () => {
        f.assign('nc', 'n', '-', 'jc'); min('nc', 'nc', NC);
        f.for_('pc', 0, 'k', KC, () => {
          f.assign('kc', 'k', '-', 'pc'); min('kc', 'kc', KC);
          // packB(kc, nc, &B[pc, jc], ...)
          f.get('kc').get('nc');
          f.get('bT').get('pc').get('bRow').i32_mul().i32_add().get('jc').get('bCol').i32_mul().i32_add();
          f.get('bRow').get('bCol').get('bPack').call(mod.indexOf(packB));
          f.for_('ic', 0, 'm', MC, () => {
            f.assign('mc', 'm', '-', 'ic'); min('mc', 'mc', MC);
            f.get('mc').get('kc');
            f.get('aT').get('ic').get('aRow').i32_mul().i32_add().get('pc').get('aCol').i32_mul().i32_add();
            f.get('aRow').get('aCol').get('aPack').call(mod.indexOf(packA));
            f.for_('jr', 0, 'nc', nr, () => {
              f.for_('ir', 0, 'mc', mr, () => {
                const callMicro = (variant: FunctionBuilder): void => {
                  f.get('kc');
                  f.get('aPack').get('ir').get('kc').i32_mul().i32(2).i32_shl().i32_add(); // A sliver ir/MR
                  f.get('bPack').get('jr').get('kc').i32_mul().i32(2).i32_shl().i32_add(); // B sliver jr/NR
                  // &C[ic+ir, jc+jr]
                  f.get('cT').get('ic').get('ir').i32_add().get('ldc').i32_mul().i32_add()
                    .get('jc').get('jr').i32_add().i32(2).i32_shl().i32_add();
                  f.get('ldc');
                  pushMin(f, 'nc', 'jr', nr);
                  // first write of this C tile: pc = 0, not accumulating into C, and (new batch entry or a
                  // batch that is summed into one C, cBatch = 0, at its first entry)
                  f.get('pc').i32_eqz().get('accumulate').i32_eqz().i32_mul();
                  f.get('t').i32_eqz().get('cBatch').i32(0).i32_ne().i32_add().i32(0).i32_ne().i32_mul();
                  f.get('tile');
                  f.call(mod.indexOf(variant));
                };
                // the variant for the rows left in this sliver, min(mc − ir, MR)
                f.get('mc').get('ir').i32_sub().set('rows');
                const callFor = (r: number): void => {
                  if (r === 1) { callMicro(micros[0]!); return; }
                  f.get('rows').i32(r).i32_ge_s();
                  f.if_(() => callMicro(micros[r - 1]!), () => callFor(r - 1));
                };
                callFor(mr);
              });
            });
          });
        });
      });
      f.get('aT').get('aBatch').i32_add().set('aT');
      f.get('bT').get('bBatch').i32_add().set('bT');
      f.get('cT').get('cBatch').i32_add().set('cT');
    });
  }
  addConvLayoutFunctions(mod);
  addElementwiseInterpreter(mod);
  addRowKernels(mod);
  addWinogradKernels(mod, gemm, addTileKernels(mod));
  addAttentionKernels(mod, gemm);
  return mod.toBytes();
}

/**
 * The register-tile kernel for `rows` (≤ MR) rows: micro{rows}(kc, ap, bp, c, ldc, cols, first, tile) computes
 * C[rows×cols] (+)= A sliver · B sliver over kc, the A sliver packed MR rows wide (rows past `rows` are not read).
 * Every C element is the same chain of multiply-adds whichever variant computes it. A tile of NR columns is stored
 * (first write) or added into C directly; a narrower one is spilled to `tile` and its valid part copied.
 */
function emitMicroKernel(mod: ModuleBuilder, tiling: GemmTiling, rows: number): FunctionBuilder {
  const { mr, nr } = tiling, vecs = nr / 4;
  const f = mod.func(`micro${rows}`, [['kc', 'i32'], ['ap', 'i32'], ['bp', 'i32'], ['c', 'i32'], ['ldc', 'i32'],
    ['cols', 'i32'], ['first', 'i32'], ['tile', 'i32']]);
  const acc = (r: number, v: number) => `acc${r}_${v}`;
  for (let r = 0; r < rows; r++) for (let v = 0; v < vecs; v++) f.local(acc(r, v), 'v128');
  for (let v = 0; v < vecs; v++) f.local(`b${v}`, 'v128');
  f.local('av', 'v128'); f.local('p', 'i32'); f.local('row', 'i32'); f.local('r', 'i32'); f.local('j', 'i32'); f.local('x', 'f32');
  for (let r = 0; r < rows; r++) for (let v = 0; v < vecs; v++) f.v128_zero().set(acc(r, v));
  f.for_('p', 0, 'kc', 1, () => {
    for (let v = 0; v < vecs; v++) f.get('bp').v128_load(16 * v).set(`b${v}`);
    for (let r = 0; r < rows; r++) {
      f.get('ap').v128_load32_splat(4 * r).set('av');
      for (let v = 0; v < vecs; v++) {
        if (tiling.fma) {
          f.get('av').get(`b${v}`).get(acc(r, v)).f32x4_relaxed_madd().set(acc(r, v));
        } else {
          f.get(acc(r, v)).get('av').get(`b${v}`).f32x4_mul().f32x4_add().set(acc(r, v));
        }
      }
    }
    f.get('ap').i32(4 * mr).i32_add().set('ap');
    f.get('bp').i32(4 * nr).i32_add().set('bp');
  });
  f.get('cols').i32(nr).i32_eq();
  f.if_(() => {
    // one branch per tile: overwrite C on its first write, else add into it
    const storeTile = (add: boolean) => {
      f.get('c').set('row');
      for (let r = 0; r < rows; r++) {
        for (let v = 0; v < vecs; v++) {
          f.get('row');
          if (add) f.get('row').v128_load(16 * v).get(acc(r, v)).f32x4_add(); else f.get(acc(r, v));
          f.v128_store(16 * v);
        }
        if (r < rows - 1) f.get('row').get('ldc').i32_add().set('row');
      }
    };
    f.get('first');
    f.if_(() => storeTile(false), () => storeTile(true));
  }, () => {
    for (let r = 0; r < rows; r++) for (let v = 0; v < vecs; v++) f.get('tile').get(acc(r, v)).v128_store(16 * (r * vecs + v));
    f.get('c').set('row');
    f.for_('r', 0, rows, 1, () => {
      f.for_('j', 0, 'cols', 1, () => {
        // x = tile[r·NR + j]
        f.get('tile').get('r').i32(nr).i32_mul().get('j').i32_add().i32(2).i32_shl().i32_add().f32_load().set('x');
        f.get('row').get('j').i32(2).i32_shl().i32_add(); // &C[r, j]
        f.get('first');
        f.if_(() => { f.get('x').set('x'); }, () => {
          f.get('row').get('j').i32(2).i32_shl().i32_add().f32_load().get('x').f32_add().set('x');
        });
        f.get('x').f32_store();
      });
      f.get('row').get('ldc').i32_add().set('row');
    });
  });
  return f;
}

/**
 * im2col(x, h, w, kh, kw, sh, sw, ph, pw, dh, dw, outH, outW, padBits, cols, plane0, plane1) and
 * col2im(cols, …, x, plane0, plane1) over the planes [plane0, plane1) of an NCHW image (plane = n·C + c), in the
 * layout of ../conv-kernels.ts: cols row (plane·kh + i)·kw + j holds the window tap (i, j) at every output
 * position. Addresses in bytes; padBits is the float32 pad value's bit pattern. Planes are independent, so
 * threads split them. Out-of-image taps load a clamped address and select the pad value (no branch).
 */
function addConvLayoutFunctions(mod: ModuleBuilder): void {
  const i32 = 'i32' as const;
  const geometry: [string, 'i32'][] = ['h', 'w', 'kh', 'kw', 'sh', 'sw', 'ph', 'pw', 'dh', 'dw', 'outH', 'outW'].map((n) => [n, i32]);
  for (const direction of ['im2col', 'col2im'] as const) {
    const f = mod.func(direction, direction === 'im2col'
      ? [['x', i32], ...geometry, ['padBits', i32], ['cols', i32], ['plane0', i32], ['plane1', i32]]
      : [['cols', i32], ...geometry, ['padBits', i32], ['x', i32], ['plane0', i32], ['plane1', i32]]);
    for (const n of ['p', 'i', 'j', 'oy', 'ox', 'y', 'xx', 'row', 'src', 'dst', 'okY', 'ok', 'addr']) f.local(n, i32);
    f.local('pad', 'f32');
    f.get('padBits').f32_reinterpret_i32().set('pad');
    f.for_('p', 'plane0', 'plane1', 1, () => {
      f.for_('i', 0, 'kh', 1, () => {
        f.for_('j', 0, 'kw', 1, () => {
          // cols byte offset of row (p·kh + i)·kw + j
          f.get('p').get('kh').i32_mul().get('i').i32_add().get('kw').i32_mul().get('j').i32_add()
            .get('outH').i32_mul().get('outW').i32_mul().i32(2).i32_shl().get('cols').i32_add().set('dst');
          f.for_('oy', 0, 'outH', 1, () => {
            f.get('oy').get('sh').i32_mul().get('ph').i32_sub().get('i').get('dh').i32_mul().i32_add().set('y');
            f.get('y').get('h').i32_lt_u().set('okY'); // 0 ≤ y < h
            // row = &x[p, clamp(y), 0]
            f.get('p').get('h').i32_mul().get('y').i32(0).get('okY').select().i32_add().get('w').i32_mul().i32(2).i32_shl().get('x').i32_add().set('row');
            f.for_('ox', 0, 'outW', 1, () => {
              f.get('ox').get('sw').i32_mul().get('pw').i32_sub().get('j').get('dw').i32_mul().i32_add().set('xx');
              f.get('xx').get('w').i32_lt_u().get('okY').i32_and().set('ok');
              f.get('row').get('xx').i32(0).get('ok').select().i32(2).i32_shl().i32_add().set('addr');
              if (direction === 'im2col') {
                f.get('dst');
                f.get('addr').f32_load().get('pad').get('ok').select();
                f.f32_store();
              } else {
                f.get('ok');
                f.if_(() => { f.get('addr').get('addr').f32_load().get('dst').f32_load().f32_add().f32_store(); });
              }
              f.get('dst').i32(4).i32_add().set('dst');
            });
          });
        });
      });
    });
  }
}

/** i8x16.shuffle byte lanes: (a0, b0, a1, b1) and (a2, b2, a3, b3) of two float32 vectors; their low and high halves. */
const INTERLEAVE_LO = [0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23];
const INTERLEAVE_HI = [8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31];
const LOW_HALVES = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
const HIGH_HALVES = [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31];

/** Stores the transpose of the 4×4 block in locals v0…v3 (rows): lane i of each, in order, at the address `at(i)` pushes. */
function transpose4(f: FunctionBuilder, at: (i: number) => void): void {
  f.get('v0').get('v1').i8x16_shuffle(INTERLEAVE_LO); // (v0[0], v1[0], v0[1], v1[1])
  f.get('v2').get('v3').i8x16_shuffle(INTERLEAVE_LO);
  f.get('v0').get('v1').i8x16_shuffle(INTERLEAVE_HI); // (v0[2], v1[2], v0[3], v1[3])
  f.get('v2').get('v3').i8x16_shuffle(INTERLEAVE_HI);
  f.set('v3').set('v1').set('v2').set('v0'); // v0, v2: low interleaves; v1, v3: high ones
  at(0); f.get('v0').get('v2').i8x16_shuffle(LOW_HALVES).v128_store();
  at(1); f.get('v0').get('v2').i8x16_shuffle(HIGH_HALVES).v128_store();
  at(2); f.get('v1').get('v3').i8x16_shuffle(LOW_HALVES).v128_store();
  at(3); f.get('v1').get('v3').i8x16_shuffle(HIGH_HALVES).v128_store();
}

/** Pushes min(limit - offset, cap) (the rows or columns left in this tile). */
function pushMin(f: FunctionBuilder, limit: string, offset: string, cap: number): void {
  f.get(limit).get(offset).i32_sub(); // x
  f.i32(cap); // y
  f.get(limit).get(offset).i32_sub().i32(cap).i32_lt_s();
  f.select();
}
