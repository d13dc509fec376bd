// PNG grids: layout, value mapping from [−1, 1] to bytes, and a round trip through the PNG decoder.

import { expect, test } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { PNG } from 'pngjs';
import * as V from '../../src/index.js';

test('a grid of 3 gray images in 2 columns: size, border, pixel values, PNG round trip', () => {
  const imgs = V.tensor([-1, 0, 1].flatMap((v) => new Array(4).fill(v)), { shape: [3, 1, 2, 2] });
  const grid = V.imageGrid(imgs, { cols: 2, pad: 1 });
  expect([grid.width, grid.height]).toEqual([2 * 3 + 1, 2 * 3 + 1]);
  const px = (x: number, y: number) => Array.from(grid.rgba.subarray((y * grid.width + x) * 4, (y * grid.width + x) * 4 + 4));
  expect(px(0, 0)).toEqual([255, 255, 255, 255]); // border
  expect(px(1, 1)).toEqual([0, 0, 0, 255]); // image 0 = −1 → black
  expect(px(4, 1)).toEqual([128, 128, 128, 255]); // image 1 = 0 → mid gray
  expect(px(1, 4)).toEqual([255, 255, 255, 255]); // image 2 = 1 → white
  const dir = mkdtempSync(join(tmpdir(), 'viar-png-'));
  try {
    V.savePng(join(dir, 'g.png'), grid);
    const back = PNG.sync.read(readFileSync(join(dir, 'g.png')));
    expect([back.width, back.height]).toEqual([grid.width, grid.height]);
    expect(Buffer.compare(back.data, Buffer.from(grid.rgba))).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  expect(() => V.imageGrid(V.zeros([2, 2, 4, 4]))).toThrow(/^imageGrid: images must be \[N, 1 or 3, H, W\], got \[2, 2, 4, 4\]/);
});
