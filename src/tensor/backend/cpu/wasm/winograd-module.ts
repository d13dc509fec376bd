// Emits the fused Winograd convolution of the fast CPU backend: image by image, the tile transforms of tile-module.ts
// and the module's gemm run on a per-task workspace, so the transformed tiles (16× the image's channels) stay in the
// cache instead of making round trips through memory as whole-batch tensors.

import type { FunctionBuilder, ModuleBuilder } from './module-builder.js';

const i32 = 'i32' as const;

/** Geometry arguments shared by both kernels (addresses and strides are derived from them). */
const GEOMETRY = ['c', 'o', 'h', 'w', 'outH', 'outW', 'th', 'tw', 'padH', 'padW'] as const;

/**
 * Adds, over the images [img0, img1), `group` images at a time (their tiles side by side, so the gemm calls are
 * wider), with `work` a task's workspace and `scratch` its thread's scratch:
 *
 * winogradForward(x, u, y, …GEOMETRY, img0, img1, group, work, scratch): per group of images, V = tilesOfInput(x)
 * [16, C, g·T], M[ξ] = U[ξ]·V[ξ] [16, O, g·T], y = tilesIntoOutput(M). Workspace: 16·group·T·(C + O) floats.
 *
 * winogradBackward(x, u, gy, dx, du, …GEOMETRY, img0, img1, group, work, scratch): per group, dM = tilesOfOutput(gy),
 * V = tilesOfInput(x), dV[ξ] = U[ξ]ᵀ·dM[ξ], dx = tilesIntoInput(dV), and du[ξ] (+)= dM[ξ]·V[ξ]ᵀ: the first group
 * of the call overwrites du, the others add to it (du is this task's partial sum). Workspace: 16·group·T·(2C + O).
 *
 * x, y, gy, dx are contiguous NCHW float32 arrays, u and du [16, O, C]; T = th·tw tiles per image.
 */
export function addWinogradKernels(mod: ModuleBuilder, gemm: FunctionBuilder, tiles: Record<string, FunctionBuilder>): void {
  const call = (f: FunctionBuilder, kernel: FunctionBuilder, args: (() => void)[]) => {
    for (const push of args) push();
    f.call(mod.indexOf(kernel));
  };
  for (const backward of [false, true]) {
    const operands = backward ? ['x', 'u', 'gy', 'dx', 'du'] : ['x', 'u', 'y'];
    const f = mod.func(backward ? 'winogradBackward' : 'winogradForward',
      [...operands, ...GEOMETRY, 'img0', 'img1', 'group', 'work', 'scratch'].map((n): [string, 'i32'] => [n, i32]));
    for (const n of ['b', 'g', 'T', 'gT', 'gc', 'go', 'inPlane', 'outPlane', 'xb', 'yb', 'V', 'M', 'dV', 'negH', 'negW']) f.local(n, i32);
    const get = (n: string) => () => { f.get(n); };
    const num = (v: number) => () => { f.i32(v); };
    const bytes = (...factors: string[]) => () => {
      f.i32(4);
      for (const x of factors) f.get(x).i32_mul();
    };
    f.get('th').get('tw').i32_mul().set('T');
    f.get('h').get('w').i32_mul().i32(2).i32_shl().set('inPlane');
    f.get('outH').get('outW').i32_mul().i32(2).i32_shl().set('outPlane');
    f.i32(0).get('padH').i32_sub().set('negH');
    f.i32(0).get('padW').i32_sub().set('negW');
    // workspace for `group` images of T tiles: V [16, C, group·T], then M (forward) or dM [16, O, group·T] and
    // dV [16, C, group·T] (backward)
    f.get('work').set('V');
    f.get('V').i32(64).get('c').i32_mul().get('T').i32_mul().get('group').i32_mul().i32_add().set('M');
    f.get('M').i32(64).get('o').i32_mul().get('T').i32_mul().get('group').i32_mul().i32_add().set('dV');

    // g = min(group, img1 − b) images at a time from image b: their tiles side by side, gT = g·T columns
    f.get('img0').set('b');
    f.block(() => f.loop(() => {
      f.get('b').get('img1').i32_ge_s().br_if(1);
      f.get('img1').get('b').i32_sub().set('g');
      f.get('group').get('g').get('group').get('g').i32_lt_s().select().set('g');
      f.get('g').get('T').i32_mul().set('gT');
      f.get('g').get('c').i32_mul().set('gc');
      f.get('g').get('o').i32_mul().set('go');
      step();
      f.get('b').get('g').i32_add().set('b');
      f.br(0);
    }));

    function step(): void {
      f.get('x').get('b').get('c').i32_mul().get('inPlane').i32_mul().i32_add().set('xb');
      f.get('b').get('o').i32_mul().get('outPlane').i32_mul().set('yb'); // byte offset of image b in y / gy
      // tile kernel arguments: (src, c, n = g, h, w, th, tw, offH, offW, T, firstTile = 0, dst, plane0 = 0, plane1 = g·c, scratch)
      const inputTiles = (src: string, dst: string) => [get(src), get('c'), get('g'), get('h'), get('w'), get('th'), get('tw'), get('negH'), get('negW'),
        get('T'), num(0), get(dst), num(0), get('gc'), get('scratch')];
      const outputTiles = (src: () => void, dst: () => void) => [src, get('o'), get('g'), get('outH'), get('outW'), get('th'), get('tw'), num(0), num(0),
        get('T'), num(0), dst, num(0), get('go'), get('scratch')];
      const imageOf = (base: string) => () => { f.get(base).get('yb').i32_add(); };
      if (!backward) {
        call(f, tiles.tilesOfInput!, inputTiles('xb', 'V'));
        // gemm(batch, m, n, k, a, aBatch, aRow, aCol, b, bBatch, bRow, bCol, c, cBatch, ldc, scratch, accumulate)
        call(f, gemm, [num(16), get('o'), get('gT'), get('c'), get('u'), bytes('o', 'c'), bytes('c'), num(4),
          get('V'), bytes('c', 'gT'), bytes('gT'), num(4), get('M'), bytes('o', 'gT'), bytes('gT'), get('scratch'), num(0)]);
        call(f, tiles.tilesIntoOutput!, outputTiles(get('M'), imageOf('y')));
        return;
      }
      call(f, tiles.tilesOfOutput!, outputTiles(imageOf('gy'), get('M')));
      call(f, tiles.tilesOfInput!, inputTiles('xb', 'V'));
      // dV[ξ] = U[ξ]ᵀ·dM[ξ]: U[ξ]ᵀ is [C, O] with row stride 4 bytes and column stride 4·C
      call(f, gemm, [num(16), get('c'), get('gT'), get('o'), get('u'), bytes('o', 'c'), num(4), bytes('c'),
        get('M'), bytes('o', 'gT'), bytes('gT'), num(4), get('dV'), bytes('c', 'gT'), bytes('gT'), get('scratch'), num(0)]);
      f.get('dx').get('b').get('c').i32_mul().get('inPlane').i32_mul().i32_add().set('xb');
      call(f, tiles.tilesIntoInput!, inputTiles('dV', 'xb'));
      // du[ξ] (+)= dM[ξ]·V[ξ]ᵀ: V[ξ]ᵀ is [gT, C] with row stride 4 bytes and column stride 4·gT
      call(f, gemm, [num(16), get('o'), get('c'), get('gT'), get('M'), bytes('o', 'gT'), bytes('gT'), num(4),
        get('V'), bytes('c', 'gT'), num(4), bytes('gT'), get('du'), bytes('o', 'c'), bytes('c'), get('scratch'),
        () => { f.get('b').get('img0').i32_ne(); }]);
    }
  }
}
