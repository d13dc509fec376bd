// im2col / col2im on contiguous NCHW data: the layout change that turns convolution and pooling into matmul
// and reductions. col2im is im2col's adjoint (it sums overlapping windows). tilesOf / tilesInto: the same for
// Winograd convolution, each patch transformed on the way (L·P·Lᵀ) and back (Lᵀ·Q·L).

import type { ConvGeometry, TileGeometry, WinogradGeometry } from '../backend.js';
import { allocArray, dtypeOfArray, type FloatArray, type TypedArray } from '../../dtype.js';
import { WINOGRAD_INPUT, WINOGRAD_OUTPUT, winogradTiles } from '../winograd-transforms.js';
import { gemm } from './gemm.js';

/** cols[n, (c·kh + i)·kw + j, oy·outW + ox] = x[n, c, oy·sh − ph + i·dh, ox·sw − pw + j·dw] (padValue outside). */
export function im2colKernel(x: TypedArray, g: ConvGeometry, cols: TypedArray): void {
  const { n, c, h, w, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW, padValue } = g;
  const { lo, hi } = validColumns(g);
  // When one output row continues exactly where the previous one ended in the input (stride 1 along both axes,
  // same width), a window position's whole valid block is one contiguous run: copy it in one loop, then patch
  // the padded columns and rows.
  const runs = strideW === 1 && strideH === 1 && outW === w;
  let dst = 0;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const plane = (b * c + ch) * h * w;
      for (let i = 0; i < kh; i++) {
        const yOff = i * dilationH - padH; // input row of output row oy is oy·strideH + yOff
        const oyLo = yOff >= 0 ? 0 : Math.min(outH, Math.ceil(-yOff / strideH));
        const oyHi = Math.max(oyLo, Math.min(outH, Math.floor((h - 1 - yOff) / strideH) + 1));
        for (let j = 0; j < kw; j++, dst += outH * outW) {
          const first = lo[j]!, end = hi[j]!, x0 = -padW + j * dilationW;
          for (let k = dst, e = dst + oyLo * outW; k < e; k++) cols[k] = padValue;
          for (let k = dst + oyHi * outW, e = dst + outH * outW; k < e; k++) cols[k] = padValue;
          if (runs && oyHi > oyLo) {
            const from = dst + oyLo * outW + first, to = dst + (oyHi - 1) * outW + end;
            for (let k = from, xx = plane + (oyLo + yOff) * w + x0 + first; k < to; k++, xx++) cols[k] = x[xx]!;
            for (let oy = oyLo; oy < oyHi; oy++) {
              const row = dst + oy * outW;
              for (let ox = 0; ox < first; ox++) cols[row + ox] = padValue;
              for (let ox = end; ox < outW; ox++) cols[row + ox] = padValue;
            }
            continue;
          }
          for (let oy = oyLo; oy < oyHi; oy++) {
            const row = dst + oy * outW, src = plane + (oy * strideH + yOff) * w + x0;
            for (let ox = 0; ox < first; ox++) cols[row + ox] = padValue;
            for (let ox = first, xx = src + first * strideW; ox < end; ox++, xx += strideW) cols[row + ox] = x[xx]!;
            for (let ox = end; ox < outW; ox++) cols[row + ox] = padValue;
          }
        }
      }
    }
  }
}

/** x[n, c, y, x] += cols[...] for every window position that reads (y, x); positions in the padding are dropped. */
export function col2imKernel(cols: TypedArray, g: ConvGeometry, x: TypedArray): void {
  const { n, c, h, w, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW } = g;
  const { lo, hi } = validColumns(g);
  let src = 0;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const plane = (b * c + ch) * h * w;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const first = lo[j]!, end = hi[j]!, x0 = -padW + j * dilationW;
          for (let oy = 0; oy < outH; oy++, src += outW) {
            const y = oy * strideH - padH + i * dilationH;
            if (y < 0 || y >= h) continue;
            for (let ox = first, xx = plane + y * w + x0 + first * strideW; ox < end; ox++, xx += strideW) x[xx]! += cols[src + ox]!;
          }
        }
      }
    }
  }
}

/** For each kernel column j, the output columns [lo, hi) whose input column lies inside the image. */
function validColumns(g: ConvGeometry): { lo: Int32Array; hi: Int32Array } {
  const lo = new Int32Array(g.kw), hi = new Int32Array(g.kw);
  for (let j = 0; j < g.kw; j++) {
    const x0 = -g.padW + j * g.dilationW;
    lo[j] = firstValid(x0, g.strideW, g.outW);
    hi[j] = endValid(x0, g.strideW, g.w, g.outW, lo[j]!);
  }
  return { lo, hi };
}

/** The first output column whose input column x0 + ox·stride is ≥ 0. */
function firstValid(x0: number, stride: number, outW: number): number {
  return x0 >= 0 ? 0 : Math.min(outW, Math.ceil(-x0 / stride));
}

/** One past the last output column whose input column x0 + ox·stride is < w (at least lo). */
function endValid(x0: number, stride: number, w: number, outW: number, lo: number): number {
  return x0 >= w ? lo : Math.max(lo, Math.min(outW, Math.floor((w - 1 - x0) / stride) + 1));
}

/** tiles[r·q + u, c, n·T + t] = (L·P·Lᵀ)[r, u] for the patch P of tile t of x[n, c] (zeros outside the image). */
export function tilesOfKernel(x: TypedArray, g: TileGeometry, L: readonly (readonly number[])[], tiles: TypedArray): void {
  const { n, c, h, w, size, step, tilesH, tilesW, offsetH, offsetW } = g;
  const q = L.length, T = tilesH * tilesW, slab = c * n * T;
  const patch = new Float64Array(size * size), half = new Float64Array(q * size); // P, then L·P
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const plane = (b * c + ch) * h * w, at = ch * n * T + b * T;
      for (let ty = 0; ty < tilesH; ty++) {
        for (let tx = 0; tx < tilesW; tx++) {
          for (let i = 0; i < size; i++) {
            const y = step * ty + offsetH + i;
            for (let j = 0; j < size; j++) {
              const xx = step * tx + offsetW + j;
              patch[i * size + j] = y >= 0 && y < h && xx >= 0 && xx < w ? x[plane + y * w + xx]! : 0;
            }
          }
          for (let r = 0; r < q; r++) {
            for (let j = 0; j < size; j++) {
              let s = 0;
              for (let i = 0; i < size; i++) s += L[r]![i]! * patch[i * size + j]!;
              half[r * size + j] = s;
            }
          }
          for (let r = 0; r < q; r++) {
            for (let u = 0; u < q; u++) {
              let s = 0;
              for (let j = 0; j < size; j++) s += half[r * size + j]! * L[u]![j]!;
              tiles[(r * q + u) * slab + at + ty * tilesW + tx] = s;
            }
          }
        }
      }
    }
  }
}

/** x[n, c] += Lᵀ·Q·L on the patch of each tile, Q = tiles[·, c, n·T + t] as q×q (writes outside the image dropped). */
export function tilesIntoKernel(tiles: TypedArray, g: TileGeometry, L: readonly (readonly number[])[], x: TypedArray): void {
  const { n, c, h, w, size, step, tilesH, tilesW, offsetH, offsetW } = g;
  const q = L.length, T = tilesH * tilesW, slab = c * n * T;
  const half = new Float64Array(q * size); // Q·L
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const plane = (b * c + ch) * h * w, at = ch * n * T + b * T;
      for (let ty = 0; ty < tilesH; ty++) {
        for (let tx = 0; tx < tilesW; tx++) {
          const t = at + ty * tilesW + tx;
          for (let r = 0; r < q; r++) {
            for (let j = 0; j < size; j++) {
              let s = 0;
              for (let u = 0; u < q; u++) s += tiles[(r * q + u) * slab + t]! * L[u]![j]!;
              half[r * size + j] = s;
            }
          }
          for (let i = 0; i < size; i++) {
            const y = step * ty + offsetH + i;
            if (y < 0 || y >= h) continue;
            for (let j = 0; j < size; j++) {
              const xx = step * tx + offsetW + j;
              if (xx < 0 || xx >= w) continue;
              let s = 0;
              for (let r = 0; r < q; r++) s += L[r]![i]! * half[r * size + j]!;
              x[plane + y * w + xx]! += s;
            }
          }
        }
      }
    }
  }
}

/**
 * y [N, O, outH, outW] = Aᵀ[U ⊙ Bᵀ d B]A per output tile, for x [N, C, H, W] and transformed filters u [16, O, C]:
 * V = tilesOf(x, Bᵀ), M[ξ] = U[ξ]·V[ξ], y = tilesInto(M, A). The reference for the fused kernels.
 */
export function winogradConvKernel(x: FloatArray, u: FloatArray, g: WinogradGeometry, y: FloatArray): void {
  const { patches, outputs } = winogradTiles(g);
  const nt = g.n * g.tilesH * g.tilesW, { c, o } = g;
  const v = allocArray(dtypeOfArray(x), 16 * c * nt) as FloatArray, m = allocArray(dtypeOfArray(x), 16 * o * nt) as FloatArray;
  tilesOfKernel(x, patches, WINOGRAD_INPUT, v);
  for (let xi = 0; xi < 16; xi++) gemm(o, nt, c, u, xi * o * c, c, 1, v, xi * c * nt, nt, 1, m, xi * o * nt, nt, false);
  y.fill(0);
  tilesIntoKernel(m, outputs, WINOGRAD_OUTPUT, y);
}

/**
 * The VJP of winogradConvKernel for gy [N, O, outH, outW]: with dM = tilesOf(gy, A) and V = tilesOf(x, Bᵀ),
 * dx = tilesInto(Uᵀ·dM, Bᵀ) [N, C, H, W] and du[ξ] = dM[ξ]·V[ξ]ᵀ [16, O, C].
 */
export function winogradConvBackwardKernel(x: FloatArray, u: FloatArray, gy: FloatArray, g: WinogradGeometry, dx: FloatArray, du: FloatArray): void {
  const { patches, outputs } = winogradTiles(g);
  const nt = g.n * g.tilesH * g.tilesW, { c, o } = g;
  const dtype = dtypeOfArray(x);
  const dm = allocArray(dtype, 16 * o * nt) as FloatArray, v = allocArray(dtype, 16 * c * nt) as FloatArray, dv = allocArray(dtype, 16 * c * nt) as FloatArray;
  tilesOfKernel(gy, outputs, WINOGRAD_OUTPUT, dm);
  tilesOfKernel(x, patches, WINOGRAD_INPUT, v);
  for (let xi = 0; xi < 16; xi++) {
    gemm(c, nt, o, u, xi * o * c, 1, c, dm, xi * o * nt, nt, 1, dv, xi * c * nt, nt, false);
    gemm(o, c, nt, dm, xi * o * nt, nt, 1, v, xi * c * nt, 1, nt, du, xi * o * c, c, false);
  }
  dx.fill(0);
  tilesIntoKernel(dv, patches, WINOGRAD_INPUT, dx);
}
