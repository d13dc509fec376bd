// Zero-shot editing with the next-scale samplers (VAR's demo_zero_shot_edit procedure, docs/notes/var-spec.md): pixel edit masks
// and their per-scale token masks, and inpaint / outpaint / editClass for VAR and VIAR, which re-impose the source
// image's tokens outside the mask at every scale of the KV-cached sampler and sample only the masked ones.

import type { Tensor } from '../tensor/tensor.js';
import { ArgumentError, DTypeError, ShapeError, ViarError, fmtShape } from '../tensor/errors.js';
import { tensor } from '../tensor/creation.js';
import { tidy } from '../tensor/memory.js';
import { noGrad } from '../tensor/graph/grad-mode.js';
import { NextScaleTransformer, type SampleResult, type VAR } from './var-model.js';
import { VIAR, type ViarSampleOptions } from './viar-model.js';
import type { VQVAE } from './vqvae.js';

/**
 * When a token counts as masked: a number t in (0, 1] regenerates a token when at least the fraction t of its pixel
 * footprint is masked; 'any' when any of it is (fraction > 0); 'all' when all of it is (fraction = 1).
 */
export type MaskThreshold = number | 'any' | 'all';

export interface MaskToScalesOptions {
  /** Default 0.5: a token is regenerated when at least half of its footprint is masked (ties regenerate). */
  threshold?: MaskThreshold;
  /**
   * Scales with pₖ² ≤ keepCoarse tokens always keep the source tokens, whatever the mask (the official notebook's
   * rule with 3: the 1×1 scale, the global layout, is never resampled). Default 3; 0 turns it off.
   */
  keepCoarse?: number;
}

/** Which tokens of one scale are regenerated. */
export interface TokenMask {
  /** Side pₖ of the scale's token grid. */
  side: number;
  /** Images B (1 for a shared [H, W] mask). */
  batch: number;
  /** [B, pₖ²] row-major (token (y, x) of image b at b·pₖ² + y·pₖ + x): 1 = regenerate, 0 = keep the source token. */
  regenerate: Uint8Array;
  /** Regenerated tokens over all images. */
  count: number;
}

const isTensor = (t: unknown): t is Tensor => typeof t === 'object' && t !== null && (t as { isTensor?: boolean }).isTensor === true;

/** The mask as B plain [H, W] planes, checked: [H, W] or [B, 1, H, W], values in [0, 1]. */
function maskPlanes(mask: Tensor, op: string): { batch: number; height: number; width: number; values: Float64Array } {
  if (!isTensor(mask)) throw new ArgumentError(op, 'mask must be a Tensor [H, W] or [B, 1, H, W] (1 = regenerate)');
  const ok = mask.rank === 2 || (mask.rank === 4 && mask.shape[1] === 1);
  if (!ok || mask.size === 0) throw new ShapeError(op, `mask must be [H, W] or [B, 1, H, W] (1 = regenerate), got ${fmtShape(mask.shape)}`);
  const [batch, height, width] = mask.rank === 2 ? [1, mask.shape[0]!, mask.shape[1]!] : [mask.shape[0]!, mask.shape[2]!, mask.shape[3]!];
  const values = Float64Array.from(mask.dataSync());
  const bad = values.findIndex((v) => !(v >= 0 && v <= 1));
  if (bad >= 0) throw new ArgumentError(op, `mask values must be in [0, 1] (1 = regenerate), got ${values[bad]} at flat index ${bad}`);
  return { batch, height, width, values };
}

/** overlap[i·n + y] = length of [i·n, (i+1)·n) ∩ [y·p, (y+1)·p): token i of p against pixel y of n, in units of 1/p pixel. */
function overlaps(p: number, n: number): Float64Array {
  const w = new Float64Array(p * n);
  for (let i = 0; i < p; i++) {
    for (let y = Math.floor((i * n) / p); y < Math.min(n, Math.ceil(((i + 1) * n) / p)); y++) {
      w[i * n + y] = Math.max(0, Math.min((i + 1) * n, (y + 1) * p) - Math.max(i * n, y * p));
    }
  }
  return w;
}

function tokenMasks(mask: Tensor, patchNums: readonly number[], opts: MaskToScalesOptions, op: string): TokenMask[] {
  const threshold = opts.threshold ?? 0.5, keepCoarse = opts.keepCoarse ?? 3;
  if (!(threshold === 'any' || threshold === 'all' || (typeof threshold === 'number' && threshold > 0 && threshold <= 1))) {
    throw new ArgumentError(op, `threshold must be a number in (0, 1], 'any' or 'all', got ${String(threshold)}`);
  }
  if (!Number.isInteger(keepCoarse) || keepCoarse < 0) throw new ArgumentError(op, `keepCoarse must be a non-negative integer, got ${keepCoarse}`);
  if (!Array.isArray(patchNums) || patchNums.length === 0 || patchNums.some((p) => !Number.isInteger(p) || p < 1)) {
    throw new ArgumentError(op, `patchNums must be positive integers, got [${String(patchNums)}]`);
  }
  const { batch, height: h, width: w, values } = maskPlanes(mask, op);
  // in units where a token spans h (rows) by w (columns) and a pixel p by p, every overlap is an integer, so a 0/1
  // mask's masked area is an exact integer and the comparisons (ties included) are exact
  const total = h * w;
  const masked = (area: number) => (threshold === 'any' ? area > 0 : threshold === 'all' ? area >= total : area >= threshold * total);
  return patchNums.map((p) => {
    const regenerate = new Uint8Array(batch * p * p);
    if (p * p > keepCoarse) {
      const rows = overlaps(p, h), cols = overlaps(p, w);
      const partial = new Float64Array(h * p); // [y, j] = Σₓ cols[j, x]·mask[y, x]
      for (let b = 0; b < batch; b++) {
        partial.fill(0);
        const plane = b * h * w;
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const m = values[plane + y * w + x]!;
            if (m !== 0) for (let j = 0; j < p; j++) partial[y * p + j]! += cols[j * w + x]! * m;
          }
        }
        for (let i = 0; i < p; i++) {
          for (let j = 0; j < p; j++) {
            let area = 0;
            for (let y = 0; y < h; y++) area += rows[i * h + y]! * partial[y * p + j]!;
            regenerate[b * p * p + i * p + j] = masked(area) ? 1 : 0;
          }
        }
      }
    }
    return { side: p, batch, regenerate, count: regenerate.reduce((a, v) => a + v, 0) };
  });
}

/**
 * Per-scale token masks of a pixel edit mask (1 = regenerate). Token (i, j) of a pₖ×pₖ grid covers the exact pixel
 * rectangle [i·H/pₖ, (i+1)·H/pₖ) × [j·W/pₖ, (j+1)·W/pₖ) (pixels cut by its edge count by the part inside); it is
 * regenerated when the masked fraction of that footprint (the area-downsampled mask) reaches `threshold`, by default
 * 0.5 — "most of it", ties regenerated — and always kept on scales with pₖ² ≤ keepCoarse (default 3, the official
 * rule). Soft masks (values in [0, 1]) weigh each pixel by its value.
 * @param mask [H, W] (one mask) or [B, 1, H, W] (one per image), values in [0, 1].
 * @returns one TokenMask per scale, regenerate [B, pₖ²] (B = 1 for an [H, W] mask).
 * @example maskToScales(boxMask(8, 8, { x0: 0, y0: 0, x1: 4, y1: 8 }), [1, 2, 4]) // left half: [0], [1,0,1,0], …
 */
export function maskToScales(mask: Tensor, patchNums: readonly number[], opts: MaskToScalesOptions = {}): TokenMask[] {
  return tokenMasks(mask, patchNums, opts, 'maskToScales');
}

/** A pixel box [x0, x1) × [y0, y1) (integers, end exclusive). */
export interface PixelBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

function checkSize(height: number, width: number, op: string): void {
  if (!Number.isInteger(height) || height < 1 || !Number.isInteger(width) || width < 1) {
    throw new ArgumentError(op, `height and width must be positive integers, got ${height} and ${width}`);
  }
}

/** float32 [H, W]: 1 inside the box [x0, x1) × [y0, y1), 0 elsewhere. */
export function boxMask(height: number, width: number, box: PixelBox): Tensor {
  return makeBoxMask(height, width, box, 'boxMask');
}

function makeBoxMask(height: number, width: number, box: PixelBox, op: string): Tensor {
  checkSize(height, width, op);
  const { x0, y0, x1, y1 } = box ?? ({} as PixelBox);
  if (![x0, y0, x1, y1].every(Number.isInteger) || x0 < 0 || y0 < 0 || x1 > width || y1 > height || x0 >= x1 || y0 >= y1) {
    throw new ArgumentError(op, `box must be integers with 0 ≤ x0 < x1 ≤ ${width} and 0 ≤ y0 < y1 ≤ ${height}, got ${JSON.stringify(box)}`);
  }
  const v = new Float32Array(height * width);
  for (let y = y0; y < y1; y++) v.fill(1, y * width + x0, y * width + x1);
  return tensor(v, { shape: [height, width] });
}

/** Border widths in pixels: one for every side, or per side (missing sides 0). */
export type BorderWidths = number | Partial<Record<'top' | 'right' | 'bottom' | 'left', number>>;

/**
 * float32 [H, W]: 1 on the border (the outpainting region), 0 inside. `border` is the width in pixels of every side
 * or of each side, e.g. { left: 8 } extends the image to the left.
 */
export function borderMask(height: number, width: number, border: BorderWidths): Tensor {
  return makeBorderMask(height, width, border, 'borderMask');
}

function makeBorderMask(height: number, width: number, border: BorderWidths, op: string): Tensor {
  checkSize(height, width, op);
  const sides = typeof border === 'number' ? { top: border, right: border, bottom: border, left: border } : { top: 0, right: 0, bottom: 0, left: 0, ...border };
  for (const [k, v] of Object.entries(sides)) {
    const limit = k === 'top' || k === 'bottom' ? height : width;
    if (!Number.isInteger(v) || v < 0 || v > limit) throw new ArgumentError(op, `border.${k} must be an integer in [0, ${limit}], got ${v}`);
  }
  const v = new Float32Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const edge = y < sides.top || y >= height - sides.bottom || x < sides.left || x >= width - sides.right;
      v[y * width + x] = edge ? 1 : 0;
    }
  }
  return tensor(v, { shape: [height, width] });
}

/** The names editMask understands. */
export const EDIT_MASK_NAMES = ['center', 'left', 'right', 'top', 'bottom', 'border', 'box:x0,y0,x1,y1'] as const;

/**
 * A named pixel mask float32 [H, W] (1 = regenerate): 'center' (the middle half in each direction), 'left' /
 * 'right' / 'top' / 'bottom' (that half), 'border' (a ring a quarter of the side wide: outpainting), or
 * 'box:x0,y0,x1,y1' (pixels, end exclusive).
 * @example editMask('center', 32, 32) // 1 on [8, 24) × [8, 24)
 */
export function editMask(spec: string, height: number, width: number): Tensor {
  checkSize(height, width, 'editMask');
  const hh = Math.round(height / 2), hw = Math.round(width / 2);
  const qh = Math.round(height / 4), qw = Math.round(width / 4);
  switch (spec) {
    case 'center': return makeBoxMask(height, width, { x0: qw, y0: qh, x1: width - qw, y1: height - qh }, 'editMask');
    case 'left': return makeBoxMask(height, width, { x0: 0, y0: 0, x1: hw, y1: height }, 'editMask');
    case 'right': return makeBoxMask(height, width, { x0: hw, y0: 0, x1: width, y1: height }, 'editMask');
    case 'top': return makeBoxMask(height, width, { x0: 0, y0: 0, x1: width, y1: hh }, 'editMask');
    case 'bottom': return makeBoxMask(height, width, { x0: 0, y0: hh, x1: width, y1: height }, 'editMask');
    case 'border': return makeBorderMask(height, width, { top: qh, bottom: qh, left: qw, right: qw }, 'editMask');
    default: {
      const m = /^box:(-?\d+),(-?\d+),(-?\d+),(-?\d+)$/.exec(spec ?? '');
      if (!m) throw new ArgumentError('editMask', `unknown mask '${spec}': expected one of ${EDIT_MASK_NAMES.join(', ')}`);
      const [x0, y0, x1, y1] = m.slice(1).map(Number) as [number, number, number, number];
      return makeBoxMask(height, width, { x0, y0, x1, y1 }, 'editMask');
    }
  }
}

/** The models editing works with. */
export type EditModel = VAR | VIAR;

/**
 * Sampling options of an edit (those of VAR.sample / VIAR.sample except what the edit sets itself) and the mask
 * rule. iterSchedule, earlyStopTol and capAfterEarlyStop are VIAR's and are refused for VAR.
 */
export interface EditOptions extends Omit<ViarSampleOptions, 'labels' | 'batchSize' | 'forcedIndices' | 'knownIndices' | 'knownMask'>, MaskToScalesOptions {}

export interface InpaintOptions extends EditOptions {
  /**
   * Class per image (int32 [B] or numbers; numClasses is the null class) or one for all (negative = the null class).
   * Default: the null class, as the official notebook (class 1000), where CFG has no effect.
   */
  labels?: Tensor | readonly number[] | number;
}

export interface EditResult extends SampleResult {
  /** The source image's tokens per scale, int32 [B, pₖ²]. */
  sourceIndices: Tensor[];
  /** The token masks used (1 = regenerated), broadcast to the batch: regenerate [B, pₖ²] per scale. */
  masks: TokenMask[];
  /** VIAR only: implicit iterations run at each scale (null for VAR). */
  iterations: number[] | null;
  /** VIAR only: per scale, the relative steps of its iterations (null for VAR). */
  residuals: number[][] | null;
}

const VIAR_ONLY = ['iterSchedule', 'earlyStopTol', 'capAfterEarlyStop'] as const;

function checkModels(model: EditModel, vqvae: VQVAE, opts: EditOptions, op: string): void {
  if (!(model instanceof NextScaleTransformer)) throw new ArgumentError(op, 'model must be a VAR or VIAR');
  const c = model.config, v = vqvae?.config;
  if (!v || !vqvae.quantize) throw new ArgumentError(op, 'needs the VQVAE whose codes the model predicts as its second argument');
  if (v.patchNums.length !== c.patchNums.length || v.patchNums.some((p, i) => p !== c.patchNums[i]) || v.zChannels !== c.vaeChannels || v.vocabSize !== c.vocabSize) {
    throw new ArgumentError(op, `the VQVAE (patchNums [${v.patchNums.join(', ')}], Cvae ${v.zChannels}, V ${v.vocabSize}) does not match the model (patchNums [${c.patchNums.join(', ')}], Cvae ${c.vaeChannels}, V ${c.vocabSize})`);
  }
  if (!(model instanceof VIAR)) {
    const given = VIAR_ONLY.filter((k) => (opts as Record<string, unknown>)[k] !== undefined);
    if (given.length > 0) throw new ArgumentError(op, `${given.join(', ')} ${given.length > 1 ? 'are VIAR options' : 'is a VIAR option'}; the model is a VAR`);
  }
}

function checkImages(images: Tensor, vqvae: VQVAE, op: string): [number, number, number] {
  const c = vqvae.config.inChannels;
  if (!isTensor(images) || images.rank !== 4 || images.shape[1] !== c || images.size === 0) {
    throw new ShapeError(op, `images must be [B, ${c}, H, W] in [−1, 1] (the tokenizer takes ${c} channel${c === 1 ? '' : 's'}), got ${isTensor(images) ? fmtShape(images.shape) : typeof images}`);
  }
  if (images.dtype === 'int32') throw new DTypeError(op, 'images must be float32 or float64 in [−1, 1], got int32');
  return [images.shape[0]!, images.shape[2]!, images.shape[3]!];
}

function checkMaskShape(mask: Tensor, batch: number, h: number, w: number, images: Tensor, op: string): void {
  const fits = isTensor(mask) && ((mask.rank === 2 && mask.shape[0] === h && mask.shape[1] === w)
    || (mask.rank === 4 && (mask.shape[0] === 1 || mask.shape[0] === batch) && mask.shape[1] === 1 && mask.shape[2] === h && mask.shape[3] === w));
  if (!fits) {
    throw new ShapeError(op, `mask must be [${h}, ${w}] or [${batch === 1 ? 1 : `1 or ${batch}`}, 1, ${h}, ${w}] to fit images ${fmtShape(images.shape)}, got ${isTensor(mask) ? fmtShape(mask.shape) : typeof mask}`);
  }
}

/** Labels as numbers, one per image, each in [0, numClasses] (numClasses = null) or [0, numClasses) when !allowNull. */
function resolveLabels(labels: Tensor | readonly number[] | number | undefined, batch: number, numClasses: number, name: string, allowNull: boolean, op: string): number[] {
  let values: number[];
  if (labels === undefined) {
    values = new Array<number>(batch).fill(numClasses);
  } else if (typeof labels === 'number') {
    values = new Array<number>(batch).fill(labels < 0 && allowNull ? numClasses : labels);
  } else if (isTensor(labels)) {
    if (labels.dtype !== 'int32') throw new DTypeError(op, `${name} must be int32 class indices, got ${labels.dtype}`);
    if (labels.rank !== 1 || labels.shape[0] !== batch) throw new ShapeError(op, `${name} must be [${batch}] (one class per image), got ${fmtShape(labels.shape)}`);
    values = Array.from(labels.dataSync());
  } else if (Array.isArray(labels)) {
    if (labels.length !== batch) throw new ShapeError(op, `${name} must hold ${batch} classes (one per image), got ${labels.length}`);
    values = [...labels as number[]];
  } else {
    throw new ArgumentError(op, `${name} must be a class, an array of classes or an int32 tensor, got ${typeof labels}`);
  }
  const single = typeof labels === 'number';
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > numClasses || (!allowNull && v === numClasses)) {
      const where = single ? `${name} = ${labels}` : `${name}[${i}] = ${v}`;
      const range = allowNull ? `classes are 0..${numClasses - 1} and ${numClasses} is the null class` : `classes are 0..${numClasses - 1}`;
      throw new ArgumentError(op, `${where} is out of range: ${range}`);
    }
  });
  return values;
}

function runEdit(op: string, model: EditModel, vqvae: VQVAE, images: Tensor, maskOrMake: Tensor | ((h: number, w: number) => Tensor), labels: Tensor | readonly number[] | number | undefined, labelName: string, allowNull: boolean, opts: EditOptions): EditResult {
  checkModels(model, vqvae, opts, op);
  const [b, h, w] = checkImages(images, vqvae, op);
  const made = typeof maskOrMake === 'function' ? maskOrMake(h, w) : null;
  const mask = made ?? (maskOrMake as Tensor);
  let shared: TokenMask[];
  try {
    checkMaskShape(mask, b, h, w, images, op);
    shared = tokenMasks(mask, model.config.patchNums, { threshold: opts.threshold, keepCoarse: opts.keepCoarse }, op);
  } finally {
    made?.dispose();
  }
  const classes = resolveLabels(labels, b, model.config.numClasses, labelName, allowNull, op);
  const sampling: Record<string, unknown> = { ...opts };
  for (const k of ['threshold', 'keepCoarse', 'labels']) delete sampling[k];
  const masks = shared.map((m) => {
    if (m.batch === b) return m;
    const regenerate = new Uint8Array(b * m.regenerate.length);
    for (let i = 0; i < b; i++) regenerate.set(m.regenerate, i * m.regenerate.length);
    return { side: m.side, batch: b, regenerate, count: m.count * b };
  });
  return noGrad(() => tidy(() => {
    let sourceIndices: Tensor[];
    try {
      sourceIndices = vqvae.imageToIndices(images);
    } catch (err) {
      if (!(err instanceof ShapeError)) throw err;
      throw new ShapeError(op, `images ${fmtShape(images.shape)} do not fit the tokenizer (${err.message})`);
    }
    const knownMask = masks.map((m) => tensor(Int32Array.from(m.regenerate, (r) => 1 - r), { shape: [b, m.side * m.side] }));
    const sampleOpts: ViarSampleOptions = { ...(sampling as ViarSampleOptions), labels: classes, knownIndices: sourceIndices, knownMask };
    let out: SampleResult & { iterations?: number[]; residuals?: number[][] };
    try {
      out = model instanceof VIAR ? model.sample(vqvae, sampleOpts) : model.sample(vqvae, sampleOpts);
    } catch (err) {
      // the sampler's own checks name it (VAR.sample: …); report them under the edit call instead
      if (!(err instanceof ViarError) || (err.op !== 'VAR.sample' && err.op !== 'VIAR.sample')) throw err;
      const Ctor = err.constructor as new (op: string, message: string) => ViarError;
      throw new Ctor(op, err.message.slice(err.op.length + 2));
    }
    return { ...out, sourceIndices, masks, iterations: out.iterations ?? null, residuals: out.residuals ?? null };
  }));
}

/**
 * Zero-shot inpainting: tokenizes `images`, then samples with the source tokens re-imposed at every scale outside the
 * mask (token masks by {@link maskToScales}'s rule) and only the masked tokens drawn; each next-scale input is built
 * from the mixed token map. Works for VAR and VIAR (VIAR's iterSchedule / earlyStopTol pass through); seeded and
 * batched like the samplers (same seed and an all-one mask with keepCoarse 0 give plain sampling's tokens).
 * @param images [B, C, H, W] in [−1, 1], C = the tokenizer's input channels.
 * @param mask [H, W] or [1 or B, 1, H, W], 1 = regenerate.
 * @returns image [B, C, H, W] in [0, 1], indices and sourceIndices int32 [B, pₖ²] per scale, the token masks used,
 *   labels, f̂ (and VIAR's iterations/residuals).
 * @example const { image } = inpaint(model, vqvae, x, editMask('center', 32, 32), { labels: [3], seed: 1 });
 */
export function inpaint(model: EditModel, vqvae: VQVAE, images: Tensor, mask: Tensor, opts: InpaintOptions = {}): EditResult {
  return runEdit('inpaint', model, vqvae, images, mask, opts.labels, 'labels', true, opts);
}

/**
 * Zero-shot outpainting: regenerates the border region ({@link borderMask} of the given widths, or an explicit
 * [H, W] / [B, 1, H, W] mask) around the kept interior, as {@link inpaint}.
 * @example outpaint(model, vqvae, x, { left: 8, right: 8 }, { labels: [3, 5] }) // widen both sides by 8 px
 */
export function outpaint(model: EditModel, vqvae: VQVAE, images: Tensor, border: BorderWidths | Tensor, opts: InpaintOptions = {}): EditResult {
  const mask = isTensor(border) ? border : (h: number, w: number) => makeBorderMask(h, w, border, 'outpaint');
  return runEdit('outpaint', model, vqvae, images, mask, opts.labels, 'labels', true, opts);
}

/**
 * Class-conditional editing: regenerates the masked region conditioned on `newLabels` (real classes, one for all or
 * one per image; the kept tokens stay the source's), as {@link inpaint}. The official notebook uses cfg 3.
 * @param newLabels a class in [0, numClasses), one per image (numbers or int32 [B]), or one for all.
 */
export function editClass(model: EditModel, vqvae: VQVAE, images: Tensor, mask: Tensor, newLabels: Tensor | readonly number[] | number, opts: EditOptions = {}): EditResult {
  if (newLabels === undefined || newLabels === null) throw new ArgumentError('editClass', 'needs newLabels (the class to edit towards)');
  return runEdit('editClass', model, vqvae, images, mask, newLabels, 'newLabels', false, opts);
}
