// The transform matrices of Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray 2016): a 3×3 convolution
// computes each 2×2 output tile as Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A from the 4×4 input patch d. Shared by the tile ops
// (src/tensor/ops/winograd.ts) and the WebAssembly kernels specialised to them.

import type { TileGeometry, WinogradGeometry } from './backend.js';

/** Bᵀ [4×4]: 4×4 input patch d → Bᵀ d B, the 16 transformed inputs. */
export const WINOGRAD_INPUT: readonly (readonly number[])[] = [
  [1, 0, -1, 0],
  [0, 1, 1, 0],
  [0, -1, 1, 0],
  [0, 1, 0, -1],
];

/** G [4×3]: 3×3 filter g → G g Gᵀ, the 16 transformed weights. */
export const WINOGRAD_FILTER: readonly (readonly number[])[] = [
  [1, 0, 0],
  [0.5, 0.5, 0.5],
  [0.5, -0.5, 0.5],
  [0, 0, 1],
];

/** kron(G, G) [16×9], row-major: U = G g Gᵀ of a row-major 3×3 filter g as one matrix product, U = kron(G, G)·g. */
export const WINOGRAD_FILTER_KRON: readonly number[] = WINOGRAD_FILTER.flatMap((gr) => WINOGRAD_FILTER.flatMap((gu) =>
  gr.flatMap((a) => gu.map((b) => a * b))));

/** A [4×2]: 16 products m (4×4) → the 2×2 output tile Aᵀ m A. */
export const WINOGRAD_OUTPUT: readonly (readonly number[])[] = [
  [1, 0],
  [1, 1],
  [1, -1],
  [0, -1],
];

/** Whether two matrices are equal entry by entry. */
export function sameMatrix(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): boolean {
  return a.length === b.length && a.every((row, i) => row.length === b[i]!.length && row.every((v, j) => v === b[i]![j]));
}

/** The tile geometries of a Winograd convolution: its 4×4 input patches (with padding) and its 2×2 output tiles. */
export function winogradTiles(g: WinogradGeometry): { patches: TileGeometry; outputs: TileGeometry } {
  const { n, c, o, h, w, outH, outW, padH, padW, tilesH, tilesW } = g;
  return {
    patches: { n, c, h, w, size: 4, step: 2, tilesH, tilesW, offsetH: -padH, offsetW: -padW },
    outputs: { n, c: o, h: outH, w: outW, size: 2, step: 2, tilesH, tilesW, offsetH: 0, offsetW: 0 },
  };
}
