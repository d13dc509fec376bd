// im2col / col2im on contiguous NCHW data: the layout change that turns convolution and pooling into matmul
// and reductions. col2im is im2col's adjoint (it sums overlapping windows).

import type { ConvGeometry } from '../backend.js';
import type { TypedArray } from '../../dtype.js';

/** cols[n, (c·kh + i)·kw + j, oy·outW + ox] = x[n, c, oy·sh − ph + i·dh, ox·sw − pw + j·dw] (padValue outside). */
export function im2colKernel(x: TypedArray, g: ConvGeometry, cols: TypedArray): void {
  const { n, c, h, w, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW, padValue } = g;
  let dst = 0;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const plane = (b * c + ch) * h * w;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          for (let oy = 0; oy < outH; oy++) {
            const y = oy * strideH - padH + i * dilationH;
            if (y < 0 || y >= h) {
              cols.fill(padValue, dst, dst + outW);
              dst += outW;
              continue;
            }
            const row = plane + y * w;
            let xx = -padW + j * dilationW;
            for (let ox = 0; ox < outW; ox++, xx += strideW) cols[dst++] = xx >= 0 && xx < w ? x[row + xx]! : padValue;
          }
        }
      }
    }
  }
}

/** x[n, c, y, x] += cols[...] for every window position that reads (y, x); positions in the padding are dropped. */
export function col2imKernel(cols: TypedArray, g: ConvGeometry, x: TypedArray): void {
  const { n, c, h, w, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW } = g;
  let src = 0;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const plane = (b * c + ch) * h * w;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          for (let oy = 0; oy < outH; oy++) {
            const y = oy * strideH - padH + i * dilationH;
            if (y < 0 || y >= h) { src += outW; continue; }
            const row = plane + y * w;
            let xx = -padW + j * dilationW;
            for (let ox = 0; ox < outW; ox++, xx += strideW, src++) if (xx >= 0 && xx < w) x[row + xx]! += cols[src]!;
          }
        }
      }
    }
  }
}
