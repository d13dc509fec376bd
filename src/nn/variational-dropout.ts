// Variational dropout for implicit layers: one mask drawn at the first forward after a reset and held fixed for
// every call of f inside the solver (a mask redrawn per call would move the fixed point), redrawn per training step.

import type { Tensor } from '../tensor/tensor.js';
import { ArgumentError, fmtShape } from '../tensor/errors.js';
import { keep } from '../tensor/memory.js';
import { rand } from '../tensor/creation.js';
import type { Rng } from '../tensor/random.js';
import { div, lt, mul } from '../tensor/ops/index.js';
import { noGrad } from '../tensor/graph/grad-mode.js';
import { Module } from './module.js';

export interface VariationalDropoutOptions {
  /** Draws the masks (explicit, so runs are reproducible). */
  rng: Rng;
  /**
   * Axes along which one mask value is shared (size 1 in the mask, broadcast over x): e.g. [1] on [B, L, D]
   * drops whole feature channels for every token (TorchDEQ's VariationalDropout1d), [2] drops whole tokens
   * (VariationalDropToken1d). Default none: an independent value per element (TorchDEQ's VariationalDropout).
   */
  sharedAxes?: readonly number[];
}

/**
 * Dropout whose mask stays fixed until resetMask() (or resetDropout(model) / resetDeq(model) at the start of a
 * training step): every forward in between multiplies by the same mask, scaled by 1/(1 − p). Identity in eval mode.
 * Shapes: x [...] → same; the mask is x's shape with 1 on sharedAxes. Call it inside f, with the state or input.
 * @example const drop = new VariationalDropout(0.2, { rng }); resetDeq(cell); fixedPoint((z, x) => cell(drop.forward(z), x), [x]);
 */
export class VariationalDropout extends Module {
  /** The current mask (null until the first training forward after a reset). Not a parameter or buffer. */
  mask: Tensor | null = null;
  private readonly rng: Rng;
  private readonly sharedAxes: readonly number[];

  constructor(readonly p: number, opts: VariationalDropoutOptions) {
    super();
    if (!(p >= 0 && p < 1)) throw new ArgumentError('VariationalDropout', `p must be in [0, 1), got ${p}`);
    if (!opts?.rng || typeof opts.rng.uniform !== 'function') throw new ArgumentError('VariationalDropout', 'needs an explicit rng (e.g. { rng: new Rng(0) })');
    this.rng = opts.rng;
    this.sharedAxes = [...(opts.sharedAxes ?? [])];
    if (this.sharedAxes.some((a) => !Number.isInteger(a) || a < 0)) {
      throw new ArgumentError('VariationalDropout', `sharedAxes must be non-negative integers, got [${this.sharedAxes.join(', ')}]`);
    }
  }

  /** The mask's shape for an input of shape `shape`. */
  private maskShape(shape: readonly number[]): number[] {
    for (const a of this.sharedAxes) {
      if (a >= shape.length) throw new ArgumentError('VariationalDropout', `sharedAxes has axis ${a}, but x has rank ${shape.length} (shape ${fmtShape(shape)})`);
    }
    return shape.map((d, i) => (this.sharedAxes.includes(i) ? 1 : d));
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    const want = this.maskShape(x.shape);
    if (this.mask === null) {
      this.mask = keep(noGrad(() => div(lt(rand(want, this.rng, { dtype: x.dtype }), 1 - this.p), 1 - this.p)));
    } else if (this.mask.shape.length !== want.length || this.mask.shape.some((d, i) => d !== want[i])) {
      throw new ArgumentError('VariationalDropout', `the mask was drawn for shape ${fmtShape(this.mask.shape)} but x needs ${fmtShape(want)}; call resetDropout(model) (or resetDeq) at the start of each training step`);
    }
    return mul(x, this.mask);
  }

  /** Forgets the mask; the next training forward draws a new one. */
  resetMask(): void {
    this.mask?.dispose();
    this.mask = null;
  }

  override dispose(): void {
    this.resetMask();
    super.dispose();
  }
}

/** Resets the mask of every VariationalDropout in `model` (TorchDEQ's reset_dropout). Returns how many. */
export function resetDropout(model: Module): number {
  let n = 0;
  for (const [, m] of model.namedModules()) {
    if (m instanceof VariationalDropout) {
      m.resetMask();
      n++;
    }
  }
  return n;
}
