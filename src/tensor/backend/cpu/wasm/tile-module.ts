// Emits the Winograd tile transforms of the fast CPU backend in WebAssembly SIMD, specialised at build time to the
// F(2×2, 3×3) matrices (zeros skipped, ±1 as add/subtract). Four neighbouring patches of a tile row share each
// vector; each image plane is staged zero-padded in the thread's scratch, so patches near the border need no test.

import type { FunctionBuilder, ModuleBuilder } from './module-builder.js';
import { WINOGRAD_INPUT, WINOGRAD_OUTPUT } from '../../winograd-transforms.js';

type Matrix = readonly (readonly number[])[];

/** The transforms with a kernel: export name suffix → L [q×size]. */
export const TILE_TRANSFORMS = { Input: WINOGRAD_INPUT, Output: WINOGRAD_OUTPUT } as const;

const i32 = 'i32' as const;
/** i8x16.shuffle byte lanes: lanes 0, 2 of each of two vectors (the even columns of 8), and lanes 1, 3. */
const EVEN = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];
const ODD = [4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31];
/** (a0, b0, a1, b1) and (a2, b2, a3, b3): the inverse of EVEN/ODD. */
const INTERLEAVE_LO = [0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23];
const INTERLEAVE_HI = [8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31];

/**
 * Exports tilesOf{Input,Output}(x, c, n, h, w, th, tw, offH, offW, T, firstTile, tiles, plane0, plane1, scratch) and
 * tilesInto{…}(tiles, …, x, …): the kernels of ../conv-kernels.ts (tilesOfKernel, tilesIntoKernel) for step 2 over the
 * planes [plane0, plane1) (plane = n·C + c), for a band of th tile rows whose first tile is firstTile of the T per
 * image (patches from image row offH on). tilesInto writes x: the band with the first tile row zeroes each plane,
 * then every band adds its patches (bands can overlap).
 * Addresses in bytes; scratch holds the padded band and its transformed patches.
 */
export function addTileKernels(mod: ModuleBuilder): Record<string, FunctionBuilder> {
  const kernels: Record<string, FunctionBuilder> = {};
  for (const [suffix, L] of Object.entries(TILE_TRANSFORMS)) {
    kernels[`tilesOf${suffix}`] = emitTileKernel(mod, 'tilesOf', suffix, L);
    kernels[`tilesInto${suffix}`] = emitTileKernel(mod, 'tilesInto', suffix, L);
  }
  return kernels;
}

/**
 * Bytes of scratch one plane needs: the padded plane ((2·th + size − 2) rows × (2·tw4 + 2) columns, tw4 = ⌈tw/4⌉·4)
 * and the plane's transformed patches (q² × th × tw4), which go out (or come in) one entry's contiguous run at a time.
 */
export function tileScratchBytes(q: number, size: number, tilesH: number, tilesW: number): number {
  const tw4 = 4 * Math.ceil(tilesW / 4);
  return 4 * ((2 * tilesH + size - 2) * (2 * tw4 + 2) + q * q * tilesH * tw4) + 16;
}

/** Pushes Σ_k coefs[k]·term(k) (f32x4), skipping zero coefficients and multiplying only where |coef| ≠ 1. */
function combine(f: FunctionBuilder, coefs: readonly number[], term: (k: number) => void): void {
  let first = true;
  coefs.forEach((c, k) => {
    if (c === 0) return;
    term(k);
    if (Math.abs(c) !== 1) f.f32(Math.abs(c)).f32x4_splat().f32x4_mul();
    if (first) {
      if (c < 0) f.f32x4_neg();
      first = false;
    } else if (c > 0) {
      f.f32x4_add();
    } else {
      f.f32x4_sub();
    }
  });
  if (first) f.v128_zero();
}

function emitTileKernel(mod: ModuleBuilder, direction: 'tilesOf' | 'tilesInto', suffix: string, L: Matrix): FunctionBuilder {
  const q = L.length, size = L[0]!.length;
  const image = direction === 'tilesOf' ? 'src' : 'dst', tiles = direction === 'tilesOf' ? 'dst' : 'src';
  const f = mod.func(`${direction}${suffix}`, [['src', i32], ['c', i32], ['n', i32], ['h', i32], ['w', i32], ['th', i32], ['tw', i32],
    ['offH', i32], ['offW', i32], ['tilesT', i32], ['firstTile', i32], ['dst', i32], ['plane0', i32], ['plane1', i32], ['scratch', i32]]);
  for (const name of ['p', 'plane', 'tileBase', 'slab', 'sw', 'sh', 'rb', 'tw4', 'buf', 'bslab', 'ty', 'tx', 'base', 'at', 'xi', 'row', 'y', 'x0', 'x1', 'ptr', 'k', 'd', 'end']) f.local(name, i32);
  const P = (i: number, j: number) => `P${i}_${j}`, H = (r: number, j: number) => `H${r}_${j}`, Q = (r: number, u: number) => `Q${r}_${u}`;
  for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) f.local(P(i, j), 'v128');
  for (let r = 0; r < q; r++) for (let j = 0; j < size; j++) f.local(H(r, j), 'v128');
  for (let r = 0; r < q; r++) for (let u = 0; u < q; u++) f.local(Q(r, u), 'v128');
  f.local('a', 'v128'); f.local('b', 'v128');

  // slab = bytes between transformed entries (C·N·T floats); the scratch plane is sh × sw floats, rb bytes a row
  // the transformed patches of the plane: q² runs of th × tw4 floats (bslab bytes each) after the staged plane
  f.get('c').get('n').i32_mul().get('tilesT').i32_mul().i32(2).i32_shl().set('slab');
  f.get('tw').i32(3).i32_add().i32(-4).i32_and().set('tw4');
  f.get('tw4').i32(1).i32_shl().i32(2).i32_add().set('sw');
  f.get('th').i32(1).i32_shl().i32(size - 2).i32_add().set('sh');
  f.get('sw').i32(2).i32_shl().set('rb');
  f.get('sh').get('rb').i32_mul().get('scratch').i32_add().i32(15).i32_add().i32(-16).i32_and().set('buf');
  f.get('th').get('tw4').i32_mul().i32(2).i32_shl().set('bslab');

  f.for_('p', 'plane0', 'plane1', 1, () => {
    f.get(image).get('p').get('h').i32_mul().get('w').i32_mul().i32(2).i32_shl().i32_add().set('plane');
    // this band's tiles of plane (b, c) start at float c·N·T + b·T + firstTile, with b = p / C and c = p mod C
    f.get('p').get('c').i32_rem_u().get('n').i32_mul().get('p').get('c').i32_div_u().i32_add()
      .get('tilesT').i32_mul().get('firstTile').i32_add().i32(2).i32_shl().get(tiles).i32_add().set('tileBase');
    if (direction === 'tilesOf') stagePlaneIn(f); else { zeroScratch(f); movePatches(f, q, 'in'); }
    f.for_('ty', 0, 'th', 1, () => {
      f.for_('tx', 0, 'tw', 4, () => {
        // base = &scratch[2·ty, 2·tx], at = &buf[0, ty, tx]
        f.get('ty').get('rb').i32_mul().i32(1).i32_shl().get('tx').i32(3).i32_shl().i32_add().get('scratch').i32_add().set('base');
        f.get('ty').get('tw4').i32_mul().get('tx').i32_add().i32(2).i32_shl().get('buf').i32_add().set('at');
        if (direction === 'tilesOf') gatherGroup(f, L, q, size, P, H); else scatterGroup(f, L, q, size, P, H, Q);
      });
    });
    if (direction === 'tilesOf') {
      movePatches(f, q, 'out');
    } else {
      // the band of the first tile row writes the plane (zeroes it, then adds the patches); later bands add
      f.get('firstTile').i32_eqz();
      f.if_(() => zeroRun(f, () => { f.get('plane'); }, () => { f.get('h').get('w').i32_mul(); }));
      stagePlaneOut(f);
    }
  });
  return f;

  /** Four patches' row i, columns j: lanes k = scratch[base + i·sw + 2k + j], from two (possibly unaligned) loads. */
  function gatherGroup(g: FunctionBuilder, m: Matrix, rows: number, s: number, p: typeof P, h: typeof H): void {
    for (let i = 0; i < s; i++) {
      for (let j0 = 0; j0 < s; j0 += 2) {
        g.get('base').get('rb').i32(i).i32_mul().i32_add().set('ptr');
        g.get('ptr').v128_load(4 * j0).set('a');
        g.get('ptr').v128_load(4 * j0 + 16).set('b');
        g.get('a').get('b').i8x16_shuffle(EVEN).set(p(i, j0));
        g.get('a').get('b').i8x16_shuffle(ODD).set(p(i, j0 + 1));
      }
    }
    // H = L·P, then (L·P)·Lᵀ stored per entry
    for (let r = 0; r < rows; r++) for (let j = 0; j < s; j++) { combine(g, m[r]!, (i) => g.get(p(i, j))); g.set(h(r, j)); }
    g.get('at').set('ptr');
    for (let r = 0; r < rows; r++) {
      for (let u = 0; u < rows; u++) {
        combine(g, m[u]!, (j) => g.get(h(r, j)));
        g.set('a');
        g.get('ptr').get('a').v128_store();
        g.get('ptr').get('bslab').i32_add().set('ptr');
      }
    }
  }

  /** Lᵀ·Q·L of four patches, added into the staged plane (two interleaved stores per row and column pair). */
  function scatterGroup(g: FunctionBuilder, m: Matrix, rows: number, s: number, p: typeof P, h: typeof H, o: typeof Q): void {
    g.get('at').set('ptr');
    for (let r = 0; r < rows; r++) {
      for (let u = 0; u < rows; u++) {
        g.get('ptr').v128_load().set(o(r, u));
        g.get('ptr').get('bslab').i32_add().set('ptr');
      }
    }
    // H = Q·L, then P = Lᵀ·H
    for (let r = 0; r < rows; r++) for (let j = 0; j < s; j++) { combine(g, m.map((row) => row[j]!), (u) => g.get(o(r, u))); g.set(h(r, j)); }
    for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) { combine(g, m.map((row) => row[i]!), (r) => g.get(h(r, j))); g.set(p(i, j)); }
    for (let i = 0; i < s; i++) {
      g.get('base').get('rb').i32(i).i32_mul().i32_add().set('ptr');
      for (let j0 = 0; j0 < s; j0 += 2) {
        g.get('ptr').get('ptr').v128_load(4 * j0).get(p(i, j0)).get(p(i, j0 + 1)).i8x16_shuffle(INTERLEAVE_LO).f32x4_add().v128_store(4 * j0);
        g.get('ptr').get('ptr').v128_load(4 * j0 + 16).get(p(i, j0)).get(p(i, j0 + 1)).i8x16_shuffle(INTERLEAVE_HI).f32x4_add().v128_store(4 * j0 + 16);
      }
    }
  }
}

/**
 * Moves the plane's transformed patches between the scratch buffer (q² × th × tw4, the columns past tw zero) and the
 * tiles tensor (entry ξ's tiles of this plane: one contiguous run of th·tw floats at tileBase + ξ·slab), entry by entry:
 * one stream at a time, where writing all q² entries of each patch at once would thrash the cache (their addresses
 * differ by a multiple of a large power of two).
 */
function movePatches(f: FunctionBuilder, q: number, direction: 'in' | 'out'): void {
  const move = (tiles: () => void, buffer: () => void, count: () => void) => moveRun(f, direction === 'in' ? tiles : buffer, direction === 'in' ? buffer : tiles, count);
  const entry = (base: string, stride: string) => { f.get('xi').get(stride).i32_mul().get(base).i32_add(); };
  f.get('tw').get('tw4').i32_eq();
  f.if_(() => {
    // whole rows of four: the buffer's runs are the tiles' runs, one copy per entry
    f.for_('xi', 0, q * q, 1, () => move(() => entry('tileBase', 'slab'), () => entry('buf', 'bslab'), () => { f.get('th').get('tw').i32_mul(); }));
  }, () => {
    if (direction === 'in') zeroRun(f, () => { f.get('buf'); }, () => { f.get('bslab').i32(2).i32_shr_s().i32(q * q).i32_mul(); });
    f.for_('xi', 0, q * q, 1, () => {
      f.for_('ty', 0, 'th', 1, () => {
        move(() => { entry('tileBase', 'slab'); f.get('ty').get('tw').i32_mul().i32(2).i32_shl().i32_add(); },
          () => { entry('buf', 'bslab'); f.get('ty').get('tw4').i32_mul().i32(2).i32_shl().i32_add(); }, () => { f.get('tw'); });
      });
    });
  });
}

/** Zeroes `count` floats from byte address `ptr` (vectors, then single floats); uses locals k, end. */
function zeroRun(f: FunctionBuilder, ptr: () => void, count: () => void): void {
  ptr(); f.set('k');
  ptr(); count(); f.i32(2).i32_shl().i32_add().set('end');
  f.block(() => f.loop(() => {
    f.get('k').i32(16).i32_add().get('end').i32_gt_s().br_if(1);
    f.get('k').v128_zero().v128_store();
    f.get('k').i32(16).i32_add().set('k');
    f.br(0);
  }));
  f.for_('k', 'k', 'end', 4, () => { f.get('k').f32(0).f32_store(); });
}

/**
 * Copies (or adds) `count` floats from byte address `from` to (into) those at `to`: vectors, then single floats; uses
 * locals k, d, end.
 */
function moveRun(f: FunctionBuilder, from: () => void, to: () => void, count: () => void, mode: 'copy' | 'add' = 'copy'): void {
  from(); f.set('k');
  to(); f.set('d');
  from(); count(); f.i32(2).i32_shl().i32_add().set('end');
  // while a whole element of `bytes` is left at k: d (+)= k, both advance
  const run = (bytes: 16 | 4) => f.block(() => f.loop(() => {
    f.get('k').i32(bytes).i32_add().get('end').i32_gt_s().br_if(1);
    f.get('d');
    if (bytes === 16) {
      if (mode === 'add') f.get('d').v128_load().get('k').v128_load().f32x4_add(); else f.get('k').v128_load();
      f.v128_store();
    } else {
      if (mode === 'add') f.get('d').f32_load().get('k').f32_load().f32_add(); else f.get('k').f32_load();
      f.f32_store();
    }
    f.get('k').i32(bytes).i32_add().set('k');
    f.get('d').i32(bytes).i32_add().set('d');
    f.br(0);
  }));
  run(16);
  run(4);
}

/**
 * For each scratch row whose image row y = row + offH lies in the image, `run(image, scratch, count)` over the image
 * columns [x0, x1) that scratch columns [0, sw) cover (x = col + offW): byte addresses of the run's first float in the
 * image plane and in the scratch, and its length.
 */
function forCoveredRuns(f: FunctionBuilder, run: (image: () => void, scratch: () => void, count: () => void) => void): void {
  // x0 = max(0, offW), x1 = min(w, sw + offW)
  f.get('offW').i32(0).get('offW').i32(0).i32_gt_s().select().set('x0');
  f.get('sw').get('offW').i32_add().set('x1');
  f.get('w').get('x1').get('w').get('x1').i32_lt_s().select().set('x1');
  f.get('x1').get('x0').i32_gt_s();
  f.if_(() => {
    f.for_('row', 0, 'sh', 1, () => {
      f.get('row').get('offH').i32_add().set('y');
      f.get('y').get('h').i32_lt_u();
      f.if_(() => run(
        () => { f.get('y').get('w').i32_mul().get('x0').i32_add().i32(2).i32_shl().get('plane').i32_add(); },
        () => { f.get('row').get('sw').i32_mul().get('x0').get('offW').i32_sub().i32_add().i32(2).i32_shl().get('scratch').i32_add(); },
        () => { f.get('x1').get('x0').i32_sub(); }));
    });
  });
}

/** scratch[row, col] = x[plane, row + offH, col + offW], 0 outside the image: zero it all, copy the covered runs. */
function stagePlaneIn(f: FunctionBuilder): void {
  zeroScratch(f);
  forCoveredRuns(f, (image, scratch, count) => moveRun(f, image, scratch, count));
}

/** Zeroes the sh × sw staged plane (rounded up to whole vectors; tileScratchBytes leaves room). */
function zeroScratch(f: FunctionBuilder): void {
  f.get('sh').get('rb').i32_mul().get('scratch').i32_add().set('end');
  f.for_('ptr', 'scratch', 'end', 16, () => { f.get('ptr').v128_zero().v128_store(); });
}

/** x[plane, y, x] += scratch[y − offH, x − offW] where the band's patches reach (the covered rows' covered runs). */
function stagePlaneOut(f: FunctionBuilder): void {
  forCoveredRuns(f, (image, scratch, count) => moveRun(f, scratch, image, count, 'add'));
}
