// Emits the fused Winograd convolution of the fast CPU backend: image by image, the tile transforms of tile-module.ts
// and the module's gemm run on a per-task workspace, so the transformed tiles (16× the image's channels) stay in the
// cache instead of making round trips through memory as whole-batch tensors.

import type { FunctionBuilder, ModuleBuilder } from './module-builder.js';

const i32 = 'i32' as const;

/** Geometry arguments shared by both kernels (addresses and strides are derived from them). */
const GEOMETRY = ['c', 'o', 'h', 'w', 'outH', 'outW', 'th', 'tw', 'padH', 'padW'] as const;

/**
 * Adds, over the images [img0, img1) and with `work` a task's workspace and `scratch` its thread's scratch:
 *
 * winogradForward(x, u, y, …GEOMETRY, img0, img1, work, scratch): per image, V = tilesOfInput(x[b]) [16, C, T],
 * M[ξ] = U[ξ]·V[ξ] [16, O, T], y[b] = tilesIntoOutput(M). Workspace: 16·T·(C + O) floats.
 *
 * winogradBackward(x, u, gy, dx, du, …GEOMETRY, img0, img1, work, scratch): per image, dM = tilesOfOutput(gy[b]),
 * V = tilesOfInput(x[b]), dV[ξ] = U[ξ]ᵀ·dM[ξ], dx[b] = tilesIntoInput(dV), and du[ξ] (+)= dM[ξ]·V[ξ]ᵀ: the first
 * image of the call overwrites du, the others add to it (du is this task's partial sum). Workspace: 16·T·(2C + O).
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
      [...operands, ...GEOMETRY, 'img0', 'img1', 'work', 'scratch'].map((n): [string, 'i32'] => [n, i32]));
    for (const n of ['b', 'T', 'inPlane', 'outPlane', 'xb', 'yb', 'V', 'M', 'dV', 'negH', 'negW']) f.local(n, i32);
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
    // workspace: V [16, C, T], then M (forward) or dM [16, O, T] and dV [16, C, T] (backward)
    f.get('work').set('V');
    f.get('V').i32(64).get('c').i32_mul().get('T').i32_mul().i32_add().set('M');
    f.get('M').i32(64).get('o').i32_mul().get('T').i32_mul().i32_add().set('dV');

    f.for_('b', 'img0', 'img1', 1, () => {
      f.get('x').get('b').get('c').i32_mul().get('inPlane').i32_mul().i32_add().set('xb');
      f.get('b').get('o').i32_mul().get('outPlane').i32_mul().set('yb'); // byte offset of image b in y / gy
      // tile kernel arguments: (src, c, n = 1, h, w, th, tw, offH, offW, T, firstTile = 0, dst, plane0 = 0, plane1 = c, scratch)
      const inputTiles = (src: string, dst: string) => [get(src), get('c'), num(1), get('h'), get('w'), get('th'), get('tw'), get('negH'), get('negW'),
        get('T'), num(0), get(dst), num(0), get('c'), get('scratch')];
      const outputTiles = (src: () => void, dst: () => void) => [src, get('o'), num(1), get('outH'), get('outW'), get('th'), get('tw'), num(0), num(0),
        get('T'), num(0), dst, num(0), get('o'), get('scratch')];
      const imageOf = (base: string) => () => { f.get(base).get('yb').i32_add(); };
      if (!backward) {
        call(f, tiles.tilesOfInput!, inputTiles('xb', 'V'));
        // gemm(batch, m, n, k, a, aBatch, aRow, aCol, b, bBatch, bRow, bCol, c, cBatch, ldc, scratch, accumulate)
        call(f, gemm, [num(16), get('o'), get('T'), get('c'), get('u'), bytes('o', 'c'), bytes('c'), num(4),
          get('V'), bytes('c', 'T'), bytes('T'), num(4), get('M'), bytes('o', 'T'), bytes('T'), get('scratch'), num(0)]);
        call(f, tiles.tilesIntoOutput!, outputTiles(get('M'), imageOf('y')));
        return;
      }
      call(f, tiles.tilesOfOutput!, outputTiles(imageOf('gy'), get('M')));
      call(f, tiles.tilesOfInput!, inputTiles('xb', 'V'));
      // dV[ξ] = U[ξ]ᵀ·dM[ξ]: U[ξ]ᵀ is [C, O] with row stride 4 bytes and column stride 4·C
      call(f, gemm, [num(16), get('c'), get('T'), get('o'), get('u'), bytes('o', 'c'), num(4), bytes('c'),
        get('M'), bytes('o', 'T'), bytes('T'), num(4), get('dV'), bytes('c', 'T'), bytes('T'), get('scratch'), num(0)]);
      f.get('dx').get('b').get('c').i32_mul().get('inPlane').i32_mul().i32_add().set('xb');
      call(f, tiles.tilesIntoInput!, inputTiles('dV', 'xb'));
      // du[ξ] (+)= dM[ξ]·V[ξ]ᵀ: V[ξ]ᵀ is [T, C] with row stride 4 bytes and column stride 4·T
      call(f, gemm, [num(16), get('o'), get('c'), get('T'), get('M'), bytes('o', 'T'), bytes('T'), num(4),
        get('V'), bytes('c', 'T'), num(4), bytes('T'), get('du'), bytes('o', 'c'), bytes('c'), get('scratch'),
        () => { f.get('b').get('img0').i32_ne(); }]);
    });
  }
}
