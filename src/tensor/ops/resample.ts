// interpolate: nearest, bilinear, bicubic and area resampling of NCHW images, defined exactly as PyTorch defines
// them. Every mode is separable and linear: a dense product Mh·X·Mwᵀ for finite data, or per axis a few weighted taps
// (gather, weight, sum) where NaN/±∞ must reach only the outputs that read them. The gradient comes for free.

import type { Tensor } from '../tensor.js';
import { ArgumentError, ShapeError, fmtShape } from '../errors.js';
import { tensor } from '../creation.js';
import { checkFloat, checkIntArray, checkOptions, checkTensor } from './operands.js';
import { describe } from '../shape.js';
import { mul, where } from './elementwise.js';
import { indexSelect } from './indexing.js';
import { reshape, transpose } from './movement.js';
import { matmul } from './matmul.js';
import { sum } from './reduce.js';

export type InterpolateMode = 'nearest' | 'bilinear' | 'bicubic' | 'area';

export interface InterpolateOptions {
  /** Output size [H, W] (or one number for both). */
  size?: number | readonly [number, number];
  /** Alternative to size: output = ⌊input·scaleFactor⌋ (the ratio in/out is then recomputed from the sizes). */
  scaleFactor?: number | readonly [number, number];
  mode?: InterpolateMode;
  /** bilinear/bicubic only: align the corner pixels' centres (default false, PyTorch's default). */
  alignCorners?: boolean;
}


/** PyTorch's cubic convolution weights (A = −0.75): cc1 for |x| ≤ 1, cc2 for 1 < |x| < 2. */
const A = -0.75;
const cc1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
const cc2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;

/** One axis's resampling as taps: output o reads in[index[o·T + t]] with weight[o·T + t], t < T. */
interface Taps {
  /** Taps per output (the widest window for 'area'). */
  perOutput: number;
  index: Int32Array;
  weight: Float64Array;
  /** 'area' only, when windows differ in width: 1 for a real tap, 0 for padding (read nowhere, not even as 0·x). */
  real: Float64Array | null;
}

/**
 * The taps of one axis's resampling, exactly PyTorch's (zero-weight taps included: bilinear and bicubic read them,
 * so a NaN there reaches the output in PyTorch too). Source coordinates are computed in the data's precision, as
 * PyTorch does (float32 arithmetic for float32 images, float64 for float64).
 */
export function resampleTaps(mode: InterpolateMode, inSize: number, outSize: number, alignCorners = false, precision: 'float32' | 'float64' = 'float32'): Taps {
  const f32 = precision === 'float32' ? Math.fround : (v: number) => v;
  const lists: [number, number][][] = Array.from({ length: outSize }, () => []);
  const put = (o: number, i: number, w: number) => { lists[o]!.push([Math.min(Math.max(i, 0), inSize - 1), w]); };
  // source coordinate of an output index (area_pixel_compute_source_index)
  const source = (o: number, cubic: boolean): number => {
    if (alignCorners) return outSize > 1 ? (o * (inSize - 1)) / (outSize - 1) : 0;
    const s = f32(f32(f32(inSize / outSize) * (o + 0.5)) - 0.5);
    return !cubic && s < 0 ? 0 : s;
  };
  for (let o = 0; o < outSize; o++) {
    switch (mode) {
      case 'nearest': {
        // PyTorch's legacy 'nearest': floor(o·in/out) in float32, with the exact fast paths for equal and doubled sizes
        const i = outSize === inSize ? o : outSize === 2 * inSize ? o >> 1 : Math.min(Math.floor(f32(o * f32(inSize / outSize))), inSize - 1);
        put(o, i, 1);
        break;
      }
      case 'area': {
        const start = Math.floor((o * inSize) / outSize);
        const end = Math.ceil(((o + 1) * inSize) / outSize);
        for (let i = start; i < end; i++) put(o, i, 1 / (end - start));
        break;
      }
      case 'bilinear': {
        const s = source(o, false);
        const i0 = Math.floor(s);
        const lambda = s - i0;
        put(o, i0, 1 - lambda);
        put(o, i0 < inSize - 1 ? i0 + 1 : i0, lambda);
        break;
      }
      case 'bicubic': {
        const s = source(o, true);
        const i0 = Math.floor(s);
        const t = s - i0;
        put(o, i0 - 1, cc2(t + 1));
        put(o, i0, cc1(t));
        put(o, i0 + 1, cc1(1 - t));
        put(o, i0 + 2, cc2(2 - t));
        break;
      }
    }
  }
  const perOutput = Math.max(...lists.map((l) => l.length));
  const index = new Int32Array(outSize * perOutput), weight = new Float64Array(outSize * perOutput);
  const ragged = lists.some((l) => l.length < perOutput);
  const real = ragged ? new Float64Array(outSize * perOutput) : null;
  lists.forEach((l, o) => l.forEach(([i, w], t) => {
    index[o * perOutput + t] = i;
    weight[o * perOutput + t] = w;
    if (real) real[o * perOutput + t] = 1;
  }));
  return { perOutput, index, weight, real };
}

/** The [out, in] matrix of one axis's resampling (the taps summed into a dense matrix). */
export function resampleMatrix(mode: InterpolateMode, inSize: number, outSize: number, alignCorners = false, precision: 'float32' | 'float64' = 'float32'): Float64Array {
  const { perOutput, index, weight } = resampleTaps(mode, inSize, outSize, alignCorners, precision);
  const m = new Float64Array(outSize * inSize);
  for (let j = 0; j < index.length; j++) m[Math.floor(j / perOutput) * inSize + index[j]!]! += weight[j]!;
  return m;
}

/**
 * Resamples `axis` of x (2 or 3 of [N, C, H, W]) through its taps: gather the taps, weight them, sum them.
 * NOTE: not a product with the dense resampling matrix, whose zeros would spread a NaN or ∞ (as 0·NaN) to every
 * output of its row or column.
 */
function resampleAxis(x: Tensor, axis: 2 | 3, taps: Taps): Tensor {
  const outSize = taps.index.length / taps.perOutput;
  const picked = indexSelect(x, axis, tensor(taps.index, { dtype: 'int32' }));
  if (taps.perOutput === 1 && taps.weight.every((w) => w === 1)) return picked;
  const split = [...x.shape];
  split.splice(axis, 1, outSize, taps.perOutput);
  const tapShape = axis === 2 ? [outSize, taps.perOutput, 1] : [outSize, taps.perOutput];
  let g = reshape(picked, split);
  if (taps.real) g = where(tensor(taps.real, { shape: tapShape, dtype: x.dtype }), g, 0);
  return sum(mul(g, tensor(taps.weight, { shape: tapShape, dtype: x.dtype })), axis + 1);
}

/**
 * Whether x holds a NaN or ±∞, where the dense resampling product would spread it as 0·NaN. Answered only where the
 * backend reads synchronously (the cpu backend); elsewhere false: the gpu backend does not promise IEEE specials.
 */
function hasNonFinite(x: Tensor): boolean {
  if (!x.backend.canReadSync) return false;
  const v = x.dataSync();
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return true;
  return false;
}

/**
 * Resamples x [N, C, H, W] to [N, C, Ho, Wo] like torch.nn.functional.interpolate (align_corners false by default).
 * 'area' is adaptive average pooling; 'bicubic' uses A = −0.75 with clamped taps.
 * @example interpolate(f, { size: 4, mode: 'area' })   // [B, 32, 16, 16] → [B, 32, 4, 4]
 */
export function interpolate(x: Tensor, opts: InterpolateOptions): Tensor {
  const t = checkTensor(x, 'interpolate');
  checkFloat(t, 'interpolate');
  checkOptions(opts, 'interpolate', true);
  if (t.rank !== 4) throw new ShapeError('interpolate', `input must be [N, C, H, W], got ${fmtShape(t.shape)}`);
  const mode = opts.mode ?? 'nearest';
  if (!['nearest', 'bilinear', 'bicubic', 'area'].includes(mode)) throw new ArgumentError('interpolate', `unknown mode '${mode}' (nearest, bilinear, bicubic, area)`);
  if (opts.alignCorners && (mode === 'nearest' || mode === 'area')) throw new ArgumentError('interpolate', `alignCorners only applies to bilinear and bicubic, not ${mode}`);
  const [h, w] = [t.shape[2]!, t.shape[3]!];
  let size: [number, number];
  if (opts.size !== undefined) {
    size = typeof opts.size === 'number' ? [opts.size, opts.size] : [...checkIntArray(opts.size, 'interpolate', 'size')] as [number, number];
    if (size.length !== 2) throw new ArgumentError('interpolate', `size must be one integer or a pair, got [${size.join(', ')}]`);
  } else if (opts.scaleFactor !== undefined) {
    const sf = typeof opts.scaleFactor === 'number' ? [opts.scaleFactor, opts.scaleFactor] : opts.scaleFactor;
    if (!Array.isArray(sf) || sf.length !== 2 || !sf.every((v) => typeof v === 'number' && v > 0 && Number.isFinite(v))) {
      throw new ArgumentError('interpolate', `scaleFactor must be a positive number or a pair of them, got ${describe(opts.scaleFactor)}`);
    }
    size = [Math.floor(h * sf[0]!), Math.floor(w * sf[1]!)];
  } else {
    throw new ArgumentError('interpolate', 'pass size or scaleFactor');
  }
  if (!size.every((v) => Number.isInteger(v) && v >= 1)) throw new ArgumentError('interpolate', `output size must be positive integers, got [${size.join(', ')}]`);
  const precision = t.dtype === 'float64' ? 'float64' : 'float32';
  if (hasNonFinite(t)) {
    const rows = resampleAxis(t, 2, resampleTaps(mode, h, size[0], opts.alignCorners, precision));
    return resampleAxis(rows, 3, resampleTaps(mode, w, size[1], opts.alignCorners, precision));
  }
  // finite data (the common case): two small dense products, 10-200× faster than the taps on this engine
  const mh = tensor(resampleMatrix(mode, h, size[0], opts.alignCorners, precision), { shape: [size[0], h], dtype: t.dtype });
  const mw = tensor(resampleMatrix(mode, w, size[1], opts.alignCorners, precision), { shape: [size[1], w], dtype: t.dtype });
  return matmul(matmul(mh, t), transpose(mw));
}
