// Convolution and pooling through im2col: conv2d is a (grouped, batched) matmul of the weights with the unfolded input
// (3×3 stride-1 float32 ones take Winograd, winograd.ts, where the backend offers it); pooling reduces the unfolded
// windows. im2col / col2im are primitives, each other's adjoint; under a maxElements bound the windows go in pieces.
import { defineOp, type AppliedOp } from '../graph/define-op.js';
import type { ConvGeometry } from '../backend/backend.js';
import { Tensor, fromDataId } from '../tensor.js';
import { ArgumentError, ShapeError, fmtShape } from '../errors.js';
import { checkFloat, checkOptions, checkTensor } from './operands.js';
import { add, div, maximum } from './elementwise.js';
import { max, sum } from './reduce.js';
import { concat, pad, reshape, slice } from './movement.js';
import { matmul } from './matmul.js';
import { tidy } from '../memory.js';
import { winogradApplies, winogradConv2d } from './winograd.js';

export type Pair = number | readonly [number, number];

const pair = (v: Pair, name: string, op: string, min: number): [number, number] => {
  const p: [number, number] = typeof v === 'number' ? [v, v] : Array.isArray(v) && v.length === 2 ? [v[0], v[1]] : [NaN, NaN];
  if (!p.every((x) => Number.isInteger(x) && x >= min)) throw new ArgumentError(op, `${name} must be an integer ≥ ${min} or a pair of them, got ${JSON.stringify(v)}`);
  return p;
};

function geometry(op: string, x: Tensor, kernel: [number, number], stride: Pair, padding: Pair, dilation: Pair, padValue: number): ConvGeometry {
  if (x.rank !== 4) throw new ShapeError(op, `input must be [N, C, H, W], got ${fmtShape(x.shape)}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [strideH, strideW] = pair(stride, 'stride', op, 1);
  const [padH, padW] = pair(padding, 'padding', op, 0);
  const [dilationH, dilationW] = pair(dilation, 'dilation', op, 1);
  const [kh, kw] = kernel;
  const outH = Math.floor((h + 2 * padH - dilationH * (kh - 1) - 1) / strideH) + 1;
  const outW = Math.floor((w + 2 * padW - dilationW * (kw - 1) - 1) / strideW) + 1;
  if (outH < 1 || outW < 1) {
    throw new ShapeError(op, `a ${kh}×${kw} window (dilation ${dilationH}×${dilationW}, padding ${padH}×${padW}) does not fit input ${fmtShape(x.shape)}`);
  }
  return { n, c, h, w, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW, padValue };
}

const colsShape = (g: ConvGeometry) => [g.n, g.c * g.kh * g.kw, g.outH * g.outW];

const im2colOp: AppliedOp<ConvGeometry> = defineOp<ConvGeometry>({
  name: 'im2col',
  forward: ([x], g) => fromDataId(x!.backend, x!.backend.im2col(x!.info(), g), colsShape(g), x!.dtype),
  // unfolding copies each pixel into the windows that read it; its adjoint sums them back (col2im)
  vjp: (gy, { attrs }) => [col2imOp([gy], { ...attrs, padValue: 0 })],
});

const col2imOp: AppliedOp<ConvGeometry> = defineOp<ConvGeometry>({
  name: 'col2im',
  forward: ([cols], g) => fromDataId(cols!.backend, cols!.backend.col2im(cols!.info(), g), [g.n, g.c, g.h, g.w], cols!.dtype),
  // col2im is a sum of copies, so its adjoint is im2col
  vjp: (gy, { attrs }) => [im2colOp([gy], { ...attrs, padValue: 0 })],
});

/**
 * Sliding windows as columns: [N, C, H, W] → [N, C·kh·kw, Ho·Wo] (PyTorch's F.unfold).
 * @example unfold(x, [3, 3], { padding: 1 })
 */
export function unfold(x: Tensor, kernel: Pair, opts: { stride?: Pair; padding?: Pair; dilation?: Pair } = {}): Tensor {
  const t = checkTensor(x, 'unfold');
  checkOptions(opts, 'unfold');
  const g = geometry('unfold', t, pair(kernel, 'kernel', 'unfold', 1), opts.stride ?? 1, opts.padding ?? 0, opts.dilation ?? 1, 0);
  checkOutputSize('unfold', t, colsShape(g)); // the columns are the result here: nothing to split
  return im2colOp([t], g);
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

/**
 * 2-D convolution (cross-correlation, as PyTorch). Shapes: x [N, C, H, W], weight [O, C/groups, kh, kw],
 * bias [O] → [N, O, Ho, Wo] with Ho = ⌊(H + 2p − d(kh−1) − 1)/s⌋ + 1.
 * @example conv2d(x, w, b, { padding: 1 })   // 3×3 "same" convolution
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const t = checkTensor(x, 'conv2d', 'x');
  const w = checkTensor(weight, 'conv2d', 'weight');
  checkFloat(t, 'conv2d', 'x');
  checkOptions(opts, 'conv2d');
  if (bias !== undefined && bias !== null) checkTensor(bias, 'conv2d', 'bias');
  if (w.rank !== 4) throw new ShapeError('conv2d', `weight must be [O, C/groups, kh, kw], got ${fmtShape(w.shape)}`);
  const groups = opts.groups ?? 1;
  const [o, cg, kh, kw] = w.shape as [number, number, number, number];
  if (t.rank !== 4) throw new ShapeError('conv2d', `input must be [N, C, H, W], got ${fmtShape(t.shape)}`);
  const c = t.shape[1]!;
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0 || o % groups !== 0) {
    throw new ArgumentError('conv2d', `groups = ${groups} must divide both the ${c} input channels and the ${o} output channels`);
  }
  if (cg !== c / groups) {
    throw new ShapeError('conv2d', `weight ${fmtShape(w.shape)} expects ${cg * groups} input channels (${cg} per group × ${groups} groups), input ${fmtShape(t.shape)} has ${c}`);
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== o)) throw new ShapeError('conv2d', `bias must be [${o}], got ${fmtShape(bias.shape)}`);
  const g = geometry('conv2d', t, [kh, kw], opts.stride ?? 1, opts.padding ?? 0, opts.dilation ?? 1, 0);
  checkOutputSize('conv2d', t, [g.n, o, g.outH, g.outW]);
  if (winogradApplies(t, w, [g.strideH, g.strideW], [g.dilationH, g.dilationW], groups, g.outH * g.outW)) {
    const y = winogradConv2d(t, w, [g.padH, g.padW]);
    return bias ? add(y, reshape(bias, [1, o, 1, 1])) : y;
  }
  const wg = reshape(w, [groups, o / groups, cg * kh * kw]);
  // per piece: [G, O/G, C/G·kh·kw] @ [n, G, C/G·kh·kw, L] → [n, G, O/G, L]; with groups > 1 a batched product may
  // copy the weights once per image, so that copy counts against the limit as well
  const y = windowed('conv2d', t, g, o, (cols, p) => reshape(matmul(wg, reshape(cols, [p.n, groups, cg * kh * kw, p.outH * p.outW])), [p.n, o, p.outH * p.outW]),
    groups > 1 ? o * cg * kh * kw : 0);
  return bias ? add(y, reshape(bias, [1, o, 1, 1])) : y;
}

/** A clear error where the result itself would be larger than the backend's per-tensor limit (nothing to split). */
function checkOutputSize(op: string, x: Tensor, shape: readonly number[]): void {
  const limit = x.backend.maxElements, size = shape.reduce((a, b) => a * b, 1);
  if (limit !== undefined && size > limit) {
    throw new ShapeError(op, `the output ${fmtShape(shape)} of input ${fmtShape(x.shape)} has ${size} elements, more than the ${x.backend.name} backend's limit of ${limit} per tensor`);
  }
}

/** [start, end) pieces of 0..n of at most `size` each, the last one shorter where `size` does not divide n. */
const chunks = (n: number, size: number): [number, number][] =>
  Array.from({ length: Math.ceil(n / size) }, (_, i) => [i * size, Math.min(n, (i + 1) * size)]);

/**
 * `reduceWindows(cols, piece)` over the unfolded windows of x, in pieces that keep every buffer under the backend's
 * maxElements: all of x when it fits, else chunks of the batch, else bands of output rows of one image, each band
 * unfolding only the input rows it reads (with its stride, dilation and padding halo). reduceWindows maps columns
 * [n, C·kh·kw, L] to [n, channels, L]; the results are concatenated into [N, channels, Ho, Wo]. A composite of
 * differentiable ops (slice, pad, im2col, concat), so the gradients follow. The output must fit (checkOutputSize).
 */
function windowed(op: string, x: Tensor, g: ConvGeometry, channels: number, reduceWindows: (cols: Tensor, piece: ConvGeometry) => Tensor, perImageExtra = 0): Tensor {
  const limit = x.backend.maxElements ?? Infinity;
  const whole = (input: Tensor, p: ConvGeometry) => reshape(reduceWindows(im2colOp([input], p), p), [p.n, channels, p.outH, p.outW]);
  const rowCost = Math.max(g.c * g.kh * g.kw, channels) * g.outW; // columns (or result) of one output row of one image
  const imageCost = Math.max(rowCost * g.outH, perImageExtra);
  if (g.n * imageCost <= limit) return whole(x, g);
  if (imageCost <= limit) {
    const pieces = chunks(g.n, Math.floor(limit / imageCost));
    return concat(pieces.map(([b0, b1]) => tidy(() => whole(slice(x, [[b0, b1]]), { ...g, n: b1 - b0 }))), 0);
  }
  const bands = chunks(g.outH, bandRows(op, g, rowCost, limit, x.backend.name));
  const images = chunks(g.n, 1).map(([b0, b1]) => (g.n === 1 ? x : slice(x, [[b0, b1]])));
  return concat(images.map((image) => concat(bands.map(([r0, r1]) => tidy(() => rowBand(image, g, r0, r1, whole))), 2)), 0);
}

/** The most output rows per band: their columns, and the input rows they read, each within the limit. */
function bandRows(op: string, g: ConvGeometry, rowCost: number, limit: number, backend: string): number {
  const inputRows = Math.floor(limit / (g.c * g.w));
  const rows = Math.min(g.outH, Math.floor(limit / rowCost), Math.floor((inputRows - g.dilationH * (g.kh - 1) - 1) / g.strideH) + 1);
  if (rows < 1) {
    throw new ShapeError(op, `one output row of ${g.outW} windows of ${g.c}×${g.kh}×${g.kw} over input rows ${g.w} wide does not fit the ${backend} backend's limit of ${limit} elements per tensor`);
  }
  return rows;
}

/**
 * Output rows [r0, r1) of one image [1, C, H, W]: the input rows the windows read (rows above and below the image
 * are padding, added by pad), unfolded with no vertical padding.
 */
function rowBand(image: Tensor, g: ConvGeometry, r0: number, r1: number, whole: (input: Tensor, p: ConvGeometry) => Tensor): Tensor {
  const first = r0 * g.strideH - g.padH; // input row of the band's first window's top (negative: padding)
  const last = (r1 - 1) * g.strideH - g.padH + g.dilationH * (g.kh - 1);
  const rows = last - first + 1;
  const lo = Math.max(first, 0), hi = Math.min(last + 1, g.h);
  const input = lo < hi
    ? pad(slice(image, [null, null, [lo, hi]]), [[0, 0], [0, 0], [lo - first, last + 1 - hi]], g.padValue)
    : filled(image, [1, g.c, rows, g.w], g.padValue); // a band that reads padding only (padding wider than the window)
  return whole(input, { ...g, n: 1, h: rows, padH: 0, outH: r1 - r0 });
}

/** A constant tensor on x's backend (no gradient). */
const filled = (x: Tensor, shape: readonly number[], value: number): Tensor =>
  fromDataId(x.backend, x.backend.fill(shape.reduce((a, b) => a * b, 1), value, x.dtype), shape, x.dtype);

export interface PoolOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
}

/** reduceWindows over each channel's windows (every channel its own image): x [N, C, H, W] → [N, C, Ho, Wo]. */
function pooled(op: string, x: Tensor, kernel: Pair, opts: PoolOptions, padValue: number, reduceWindows: (cols: Tensor) => Tensor): { y: Tensor; g: ConvGeometry } {
  const t = checkTensor(x, op);
  checkFloat(t, op);
  checkOptions(opts, op);
  const k = pair(kernel, 'kernel', op, 1);
  const stride = opts.stride ?? k;
  const padding = pair(opts.padding ?? 0, 'padding', op, 0);
  if (padding[0] > k[0] / 2 || padding[1] > k[1] / 2) throw new ArgumentError(op, `padding ${padding.join('×')} must be at most half the kernel ${k.join('×')}`);
  const g = geometry(op, t, k, stride, padding, opts.dilation ?? 1, padValue);
  checkOutputSize(op, t, [g.n, g.c, g.outH, g.outW]);
  // [N·C, 1, H, W] → windows [n, kh·kw, L] per piece → [n, 1, L]
  const y = windowed(op, reshape(t, [g.n * g.c, 1, g.h, g.w]), { ...g, n: g.n * g.c, c: 1 }, 1, reduceWindows);
  return { y: reshape(y, [g.n, g.c, g.outH, g.outW]), g };
}

/**
 * Non-overlapping windows that tile the image exactly: the kh·kw strided views x[:, :, i::kh, j::kw], one per
 * window position (no im2col copy; each view is read in long rows). Null when the pooling is not of that form.
 */
function tiledWindows(x: Tensor, kernel: Pair, opts: PoolOptions): Tensor[] | null {
  if (typeof opts !== 'object' || opts === null || (typeof kernel !== 'number' && !Array.isArray(kernel))) return null; // windows() names the error
  const [kh, kw] = typeof kernel === 'number' ? [kernel, kernel] : kernel;
  const [sh, sw] = opts.stride === undefined ? [kh, kw] : typeof opts.stride === 'number' ? [opts.stride, opts.stride] : opts.stride;
  const pad = opts.padding ?? 0, dil = opts.dilation ?? 1;
  const noPad = typeof pad === 'number' ? pad === 0 : pad[0] === 0 && pad[1] === 0;
  const noDil = typeof dil === 'number' ? dil === 1 : dil[0] === 1 && dil[1] === 1;
  if (x.rank !== 4 || x.dtype === 'int32' || sh !== kh || sw !== kw || !noPad || !noDil || x.shape[2]! % kh !== 0 || x.shape[3]! % kw !== 0) return null;
  const views: Tensor[] = [];
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) views.push(slice(x, [null, null, [i, null, kh], [j, null, kw]]));
  return views;
}

/** Max over each window (padding never wins). x [N, C, H, W] → [N, C, Ho, Wo]; stride defaults to the kernel. */
export function maxPool2d(x: Tensor, kernel: Pair, opts: PoolOptions = {}): Tensor {
  const tiled = tiledWindows(checkTensor(x, 'maxPool2d'), kernel, opts);
  // NOTE: ties inside a window split the gradient evenly (maximum's rule); PyTorch sends it all to the first max
  if (tiled) return tiled.reduce((acc, v) => maximum(acc, v));
  return pooled('maxPool2d', x, kernel, opts, -Infinity, (cols) => max(cols, 1, true)).y;
}

/**
 * Mean over each window. With countIncludePad (default true, as PyTorch) padded zeros count in the divisor.
 * x [N, C, H, W] → [N, C, Ho, Wo]; stride defaults to the kernel.
 */
export function avgPool2d(x: Tensor, kernel: Pair, opts: PoolOptions & { countIncludePad?: boolean } = {}): Tensor {
  const tiled = tiledWindows(checkTensor(x, 'avgPool2d'), kernel, opts);
  if (tiled) return div(tiled.reduce((acc, v) => add(acc, v)), tiled.length);
  const windowSum = (cols: Tensor) => sum(cols, 1, true);
  const { y: total, g } = pooled('avgPool2d', x, kernel, opts, 0, windowSum);
  if (opts.countIncludePad ?? true) return div(total, g.kh * g.kw);
  // the divisor: how many of each window's pixels lie inside the image, the same window sum over an image of ones
  const counts = windowed('avgPool2d', filled(total, [1, 1, g.h, g.w], 1), { ...g, n: 1, c: 1 }, 1, windowSum); // [1, 1, Ho, Wo]
  return div(total, counts);
}

