// Winograd convolution F(2×2, 3×3) (Lavin & Gray 2016): a 3×3, stride-1 convolution as 16 channel matmuls between
// transformed 4×4 input patches and transformed filters, 2.25× fewer multiplications than im2col's. tilesOf and
// tilesInto are its primitives, each other's adjoint (as im2col and col2im); everything else is matmul. Backends that
// fuse the three steps image by image (winogradConv) run it as one kernel forward and one backward.

import { defineOp, type AppliedOp } from '../graph/define-op.js';
import { isGradEnabled } from '../graph/grad-mode.js';
import type { Backend, TileGeometry, WinogradGeometry } from '../backend/backend.js';
import { WINOGRAD_FILTER_KRON, WINOGRAD_INPUT, WINOGRAD_OUTPUT, winogradTiles } from '../backend/winograd-transforms.js';
import { allocArray } from '../dtype.js';
import { Tensor, fromDataId } from '../tensor.js';
import { ArgumentError, ShapeError, fmtShape } from '../errors.js';
import { reshape, transpose } from './movement.js';
import { matmul } from './matmul.js';

type Matrix = readonly (readonly number[])[];
interface TileAttrs { g: TileGeometry; transform: Matrix }

/** The backend's tile transforms, or a one-line error naming the op where it has none. */
function tileKernels(backend: Backend, op: string): Required<Pick<Backend, 'tilesOf' | 'tilesInto'>> {
  if (!backend.tilesOf || !backend.tilesInto) throw new ArgumentError(op, `the ${backend.name} backend has no tile transforms (tilesOf / tilesInto)`);
  return backend as Required<Pick<Backend, 'tilesOf' | 'tilesInto'>>;
}

const tilesShape = ({ g, transform }: TileAttrs) => [transform.length ** 2, g.c, g.n * g.tilesH * g.tilesW];

/** Every patch P of x [N, C, H, W] → L·P·Lᵀ, as [q², C, N·T]. */
const tilesOf: AppliedOp<TileAttrs> = defineOp<TileAttrs>({
  name: 'tilesOf',
  forward: ([x], a) => fromDataId(x!.backend, tileKernels(x!.backend, 'tilesOf').tilesOf(x!.info(), a.g, a.transform), tilesShape(a), x!.dtype),
  // linear in x: its adjoint takes each cotangent patch back through Lᵀ·Q·L and sums the overlaps (tilesInto)
  vjp: (gy, { attrs }) => [tilesInto([gy], attrs)],
});

/** Σ over patches of Lᵀ·Q·L placed back in an image [N, C, H, W]: the adjoint of tilesOf. */
const tilesInto: AppliedOp<TileAttrs> = defineOp<TileAttrs>({
  name: 'tilesInto',
  forward: ([t], a) => fromDataId(t!.backend, tileKernels(t!.backend, 'tilesInto').tilesInto(t!.info(), a.g, a.transform), [a.g.n, a.g.c, a.g.h, a.g.w], t!.dtype),
  // a sum of transformed copies: its adjoint is tilesOf with the same L
  vjp: (gy, { attrs }) => [tilesOf([gy], attrs)],
});

/** kron(G, G) [16×9] as a tensor like w: U = G g Gᵀ of each row-major 3×3 filter g is kron(G, G)·g. */
function filterTransform(w: Tensor): Tensor {
  const values = allocArray(w.dtype, 16 * 9);
  values.set(WINOGRAD_FILTER_KRON);
  return fromDataId(w.backend, w.backend.write(values), [16, 9], w.dtype);
}

/** U = G w Gᵀ [16, O, C] of filters w [O, C, 3, 3]: one matmul with kron(G, G). */
function transformedFilters(w: Tensor): Tensor {
  const [o, c] = w.shape as [number, number];
  return reshape(matmul(filterTransform(w), transpose(reshape(w, [o * c, 9]))), [16, o, c]);
}

/** dw [O, C, 3, 3] from dU [16, O, C]: the filter transform's adjoint, kron(G, G)ᵀ·dU. */
function filterGradient(du: Tensor, w: Tensor): Tensor {
  return reshape(transpose(matmul(transpose(filterTransform(w)), reshape(du, [16, -1]))), w.shape);
}

/**
 * tilesInto(U·tilesOf(x, Bᵀ), A) with U = G w Gᵀ as one op: x [N, C, H, W], w [O, C, 3, 3] → [N, O, outH, outW], on
 * backends that fuse it. Its VJP is one kernel too, except while a graph of the gradient is being built: then it is
 * written with the primitives, dx = tilesInto(Uᵀ·dM, Bᵀ) and dU = dM·Vᵀ with dM = tilesOf(gy, A) and V = tilesOf(x, Bᵀ),
 * and dw through the filter transform's matmul.
 */
const fusedWinograd = defineOp<{ g: WinogradGeometry }>({
  name: 'winogradConv',
  forward: ([x, w], { g }) => fromDataId(x!.backend, x!.backend.winogradConv!(x!.info(), w!.info(), g), [g.n, g.o, g.outH, g.outW], x!.dtype),
  saveInputs: true,
  vjp: (gy, { inputs, attrs: { g } }) => {
    const [x, w] = inputs as [Tensor, Tensor];
    if (isGradEnabled()) {
      const { patches, outputs } = winogradTiles(g);
      const dm = tilesOf([gy], { g: outputs, transform: WINOGRAD_OUTPUT }), v = tilesOf([x], { g: patches, transform: WINOGRAD_INPUT });
      const u = transformedFilters(w);
      const dx = tilesInto([matmul(transpose(u, 1, 2), dm)], { g: patches, transform: WINOGRAD_INPUT });
      return [dx, filterGradient(matmul(dm, transpose(v, 1, 2)), w)];
    }
    const [dx, dw] = x.backend.winogradConvBackward!(x.info(), w.info(), gy.info(), g);
    return [fromDataId(x.backend, dx, x.shape, x.dtype), fromDataId(x.backend, dw, w.shape, w.dtype)];
  },
});

/**
 * Whether conv2d takes the Winograd path: float32 on a backend with tile transforms, a 3×3 filter, stride 1, no
 * dilation or groups, and a problem big enough to pay for the transforms (bench/winograd.ts measured the crossover of
 * the fused path: from 8 channels in and out, and 7×7 output positions, it wins or ties on this project's CPU).
 */
export function winogradApplies(x: Tensor, weight: Tensor, stride: readonly number[], dilation: readonly number[], groups: number, outPixels: number): boolean {
  const [o, c, kh, kw] = weight.shape as [number, number, number, number];
  return x.dtype === 'float32' && x.backend.tilesOf !== undefined && x.backend.tilesInto !== undefined
    && kh === 3 && kw === 3 && groups === 1 && stride.every((s) => s === 1) && dilation.every((d) => d === 1)
    && c >= WINOGRAD_MIN_CHANNELS && o >= WINOGRAD_MIN_CHANNELS && outPixels >= WINOGRAD_MIN_PIXELS;
}

/** Below this many input or output channels the transforms cost more than the multiplications they save. */
export const WINOGRAD_MIN_CHANNELS = 8;
/** Below this many output positions per image the same holds. */
export const WINOGRAD_MIN_PIXELS = 49;

/**
 * conv2d(x, w, null, { padding }) for a 3×3 filter and stride 1, as Winograd F(2×2, 3×3): per 2×2 output tile,
 *   V = Bᵀ d B  (each 4×4 input patch d, tilesOf),   U = G g Gᵀ  (each filter g),
 *   M[ξ] = U[ξ] · V[ξ]  (16 matmuls over channels),   y = Aᵀ M A  (tilesInto, cropped to the output).
 * Shapes: x [N, C, H, W], w [O, C, 3, 3] → [N, O, H + 2p − 2, W + 2p − 2]. Gradients follow through the
 * primitives' adjoints and matmul; a backend that fuses the steps (winogradConv) runs V, M and y image by image.
 */
export function winogradConv2d(x: Tensor, w: Tensor, padding: readonly [number, number] = [0, 0]): Tensor {
  if (x.rank !== 4 || w.rank !== 4 || w.shape[2] !== 3 || w.shape[3] !== 3 || w.shape[1] !== x.shape[1]) {
    throw new ShapeError('winogradConv2d', `needs x [N, C, H, W] and w [O, C, 3, 3], got ${fmtShape(x.shape)} and ${fmtShape(w.shape)}`);
  }
  const [n, c, h, wd] = x.shape as [number, number, number, number], o = w.shape[0]!;
  const [ph, pw] = padding, outH = h + 2 * ph - 2, outW = wd + 2 * pw - 2;
  if (outH < 1 || outW < 1) throw new ShapeError('winogradConv2d', `a 3×3 window (padding ${ph}×${pw}) does not fit input ${fmtShape(x.shape)}`);
  const g: WinogradGeometry = { n, c, o, h, w: wd, outH, outW, padH: ph, padW: pw, tilesH: Math.ceil(outH / 2), tilesW: Math.ceil(outW / 2) };
  if (x.backend.winogradConv && x.backend.winogradConvBackward && x.dtype === w.dtype) return fusedWinograd([x, w], { g });
  const u = transformedFilters(w);
  const { patches, outputs } = winogradTiles(g);
  const v = tilesOf([x], { g: patches, transform: WINOGRAD_INPUT }); // [16, C, N·T]
  const m = matmul(u, v); // [16, O, N·T]
  return tilesInto([m], { g: outputs, transform: WINOGRAD_OUTPUT });
}
