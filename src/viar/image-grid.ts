// Image grids as PNG files: tiles a batch of images [N, C, H, W] (C = 1 or 3, values in [−1, 1]) into rows, with
// optional row labels left to the caller's file names. PNG encoding comes from the pngjs package.

import type { PNG as PngClass } from 'pngjs';
import type { Tensor } from '../tensor/tensor.js';
import { ShapeError, fmtShape } from '../tensor/errors.js';
import { nodeBuiltin, nodeRequire } from '../tensor/node-builtins.js';

export interface Grid {
  width: number;
  height: number;
  /** RGBA, row-major. */
  rgba: Uint8Array;
}

/** Tiles images [N, C, H, W] (values in [−1, 1], clamped) into `cols` columns with `pad` pixels of border. */
export function imageGrid(images: Tensor, opts: { cols?: number; pad?: number; scale?: number } = {}): Grid {
  if (images.rank !== 4 || (images.shape[1] !== 1 && images.shape[1] !== 3)) {
    throw new ShapeError('imageGrid', `images must be [N, 1 or 3, H, W], got ${fmtShape(images.shape)}`);
  }
  const [n, c, h, w] = images.shape as [number, number, number, number];
  const cols = Math.max(1, Math.min(opts.cols ?? n, n));
  const rows = Math.ceil(n / cols);
  const pad = opts.pad ?? 2, s = Math.max(1, Math.floor(opts.scale ?? 1));
  const width = cols * (w * s + pad) + pad, height = rows * (h * s + pad) + pad;
  const rgba = new Uint8Array(width * height * 4).fill(255);
  const v = images.dataSync();
  const byte = (x: number) => Math.round(Math.min(Math.max((x + 1) / 2, 0), 1) * 255);
  for (let i = 0; i < n; i++) {
    const ox = pad + (i % cols) * (w * s + pad), oy = pad + Math.floor(i / cols) * (h * s + pad);
    for (let y = 0; y < h * s; y++) {
      for (let x = 0; x < w * s; x++) {
        const src = (yy: number, ch: number) => v[((i * c + ch) * h + yy) * w + Math.floor(x / s)]!;
        const yy = Math.floor(y / s);
        const p = ((oy + y) * width + ox + x) * 4;
        rgba[p] = byte(src(yy, 0));
        rgba[p + 1] = byte(src(yy, c === 3 ? 1 : 0));
        rgba[p + 2] = byte(src(yy, c === 3 ? 2 : 0));
        rgba[p + 3] = 255;
      }
    }
  }
  return { width, height, rgba };
}

/** Writes a grid as a PNG (creating the folder). Node only (pngjs and node:fs are loaded on first use). */
export function savePng(path: string, grid: Grid): void {
  const { mkdirSync, writeFileSync } = nodeBuiltin('node:fs', 'savePng');
  const { dirname } = nodeBuiltin('node:path', 'savePng');
  const { PNG } = nodeRequire('pngjs', 'savePng') as { PNG: typeof PngClass };
  const png = new PNG({ width: grid.width, height: grid.height });
  png.data = Buffer.from(grid.rgba.buffer, grid.rgba.byteOffset, grid.rgba.byteLength);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, PNG.sync.write(png));
}
