// VAR's multi-scale residual quantizer (models/quant.py, VectorQuantizer2): one shared codebook, squared-L2 nearest
// neighbour, area-downsampled residuals, bicubic-upsampled code maps refined by partially shared Phi convolutions.
// Scale k's tokens quantize what scales 0..k−1 left over, so decoding the first k scales gives a coarse image.

import type { Tensor } from '../tensor/tensor.js';
import { ArgumentError, ShapeError, fmtShape } from '../tensor/errors.js';
import { tensor, zeros } from '../tensor/creation.js';
import type { Rng } from '../tensor/random.js';
import {
  add, argmin, concat, detach, embedding, interpolate, matmul, mean, mul, permute, reshape, square, sub, sum, transpose,
} from '../tensor/ops/index.js';
import { Module } from '../nn/module.js';
import { Conv2d, Embedding } from '../nn/layers.js';

/**
 * The Phi index table: scale si of SN uses Phi number argmin_k |tick_k − si/(SN−1)| (first minimum), with
 * ticks = linspace(1/(3K), 1 − 1/(3K), K) when K = 4 and linspace(1/(2K), 1 − 1/(2K), K) otherwise, computed
 * in float64 exactly as numpy does (step = (stop − start)/(K − 1), tick_i = i·step + start, last tick = stop).
 * K = 1 shares one Phi; K = 0 means one Phi per scale (K = SN).
 */
export function phiIndexTable(numScales: number, sharedPhis: number): number[] {
  const k = sharedPhis === 0 ? numScales : sharedPhis;
  if (k === 1) return new Array<number>(numScales).fill(0);
  const [start, stop] = k === 4 ? [1 / (3 * k), 1 - 1 / (3 * k)] : [1 / (2 * k), 1 - 1 / (2 * k)];
  const step = (stop - start) / (k - 1);
  const ticks = Array.from({ length: k }, (_, i) => (i === k - 1 ? stop : i * step + start));
  return Array.from({ length: numScales }, (_, si) => {
    const at = numScales > 1 ? si / (numScales - 1) : 0;
    let best = 0;
    for (let i = 1; i < k; i++) if (Math.abs(ticks[i]! - at) < Math.abs(ticks[best]! - at)) best = i;
    return best;
  });
}

/** Phi(h) = (1 − r)·h + r·conv3×3(h) (the official `Phi`, a Conv2d subclass: its keys are weight/bias). */
export class Phi extends Conv2d {
  constructor(channels: number, readonly ratio: number, rng: Rng) {
    super(channels, channels, 3, { rng, padding: 1 });
  }

  override forward(h: Tensor): Tensor {
    return add(mul(h, 1 - this.ratio), mul(super.forward(h), this.ratio));
  }
}

/** The official PhiPartiallyShared: `qresi_ls` holds the shared Phis. */
export class PhiPartiallyShared extends Module {
  qresi_ls: Phi[];

  constructor(channels: number, ratio: number, count: number, rng: Rng) {
    super();
    this.qresi_ls = Array.from({ length: count }, () => new Phi(channels, ratio, rng));
  }
}

export interface QuantizerConfig {
  vocabSize: number;
  /** Latent channels (Cvae). */
  channels: number;
  /** Side of each scale's token map, coarse to fine; the last equals the latent's side. */
  patchNums: readonly number[];
  /** Weight of the commitment term (official 0.25). */
  beta: number;
  /** Phi residual ratio r (official 0.5). */
  quantResi: number;
  /** Number of shared Phis (official 4; 0 = one per scale, 1 = one for all). */
  shareQuantResi: number;
}

export interface QuantizeResult {
  /** Straight-through f̂: equals f̂ in value, passes gradients to f unchanged. */
  fHat: Tensor;
  /** mean over scales of β·MSE(sg(f̂ₛ), f) + MSE(f̂ₛ, sg(f)). */
  vqLoss: Tensor;
  /** Code hits per scale (numbers), for usage statistics. */
  hits: number[][];
}

export class VectorQuantizer extends Module {
  embedding: Embedding;
  quant_resi: PhiPartiallyShared;
  readonly phiTable: number[];

  constructor(readonly config: QuantizerConfig, rng: Rng) {
    super();
    const sn = config.patchNums.length;
    if (sn === 0 || config.patchNums.some((p, i) => !Number.isInteger(p) || p < 1 || (i > 0 && p < config.patchNums[i - 1]!))) {
      throw new ArgumentError('VectorQuantizer', `patchNums must be non-decreasing positive integers, got [${config.patchNums.join(', ')}]`);
    }
    this.embedding = new Embedding(config.vocabSize, config.channels, { rng });
    const count = config.shareQuantResi === 0 ? sn : config.shareQuantResi;
    this.quant_resi = new PhiPartiallyShared(config.channels, Math.abs(config.quantResi), count, rng);
    this.phiTable = phiIndexTable(sn, config.shareQuantResi);
    // the official usage statistic [SN, V] (kept so official checkpoints load; no output depends on it)
    this.registerBuffer('ema_vocab_hit_SV', zeros([sn, config.vocabSize]));
  }

  /** Phi of scale si. */
  phi(si: number): Phi {
    return this.quant_resi.qresi_ls[this.phiTable[si]!]!;
  }

  private checkLatent(f: Tensor, op: string): [number, number, number] {
    const pn = this.config.patchNums[this.config.patchNums.length - 1]!;
    if (f.rank !== 4 || f.shape[1] !== this.config.channels || f.shape[2] !== pn || f.shape[3] !== pn) {
      throw new ShapeError(op, `latent must be [B, ${this.config.channels}, ${pn}, ${pn}], got ${fmtShape(f.shape)}`);
    }
    return [f.shape[0]!, f.shape[2]!, f.shape[3]!];
  }

  /** Nearest code (squared L2, computed as ‖z‖² + ‖e‖² − 2z·e) of every vector of z [B, C, p, p] → int32 [B·p·p]. */
  nearest(z: Tensor): Tensor {
    const c = this.config.channels;
    const flat = reshape(permute(z, [0, 2, 3, 1]), [-1, c]);
    const e = this.embedding.weight;
    const d = sub(add(sum(square(flat), 1, true), sum(square(e), 1)), mul(matmul(flat, transpose(e)), 2));
    return argmin(d, 1);
  }

  /** Code maps idx [B, p·p] → embeddings [B, C, p, p]. */
  embed(idx: Tensor, pn: number): Tensor {
    return permute(reshape(embedding(this.embedding.weight, idx), [idx.shape[0]!, pn, pn, this.config.channels]), [0, 3, 1, 2]);
  }

  /** Scale si's contribution to f̂: Phi(bicubic-upsampled h) (no upsampling at the last scale). */
  contribution(si: number, h: Tensor, size: number): Tensor {
    const up = si < this.config.patchNums.length - 1 ? interpolate(h, { size, mode: 'bicubic' }) : h;
    return this.phi(si).forward(up);
  }

  private residualAt(fRest: Tensor, si: number): Tensor {
    const pn = this.config.patchNums[si]!;
    return si < this.config.patchNums.length - 1 ? interpolate(fRest, { size: pn, mode: 'area' }) : fRest;
  }

  /**
   * Training forward (the official VectorQuantizer2.forward): quantizes f [B, C, p, p] scale by scale and returns
   * the straight-through f̂, the VQ loss and the code hits per scale.
   */
  forward(f: Tensor): QuantizeResult {
    const [b, h] = this.checkLatent(f, 'VectorQuantizer');
    const fNoGrad = detach(f);
    let fRest = fNoGrad;
    let fHat = zeros(f.shape, { dtype: f.dtype });
    let loss: Tensor | null = null;
    const hits: number[][] = [];
    const sn = this.config.patchNums.length;
    this.config.patchNums.forEach((pn, si) => {
      const idx = this.nearest(detach(this.residualAt(fRest, si)));
      const counts = new Array<number>(this.config.vocabSize).fill(0);
      for (const i of idx.dataSync()) counts[i]!++;
      hits.push(counts);
      const hc = this.contribution(si, this.embed(reshape(idx, [b, pn * pn]), pn), h);
      fHat = add(fHat, hc);
      fRest = sub(fRest, detach(hc));
      const term = add(mul(mean(square(sub(detach(fHat), f))), this.config.beta), mean(square(sub(fHat, fNoGrad))));
      loss = loss ? add(loss, term) : term;
    });
    const vqLoss = mul(loss!, 1 / sn);
    // straight-through: value f̂, gradient to f as identity
    const st = add(detach(sub(fHat, fNoGrad)), f);
    return { fHat: st, vqLoss, hits };
  }

  /** Image latent f → per-scale code indices (int32 [B, pₖ²] each); the official f_to_idxBl_or_fhat(to_fhat=False). */
  toIndices(f: Tensor): Tensor[] {
    return this.encodeScales(f).indices;
  }

  /** The cumulative f̂ after each scale; the official f_to_idxBl_or_fhat(to_fhat=True). */
  toFhats(f: Tensor): Tensor[] {
    return this.encodeScales(f).fHats;
  }

  private encodeScales(f: Tensor): { indices: Tensor[]; fHats: Tensor[] } {
    const [b, h] = this.checkLatent(f, 'VectorQuantizer.toIndices');
    let fRest = detach(f);
    let fHat = zeros(f.shape, { dtype: f.dtype });
    const indices: Tensor[] = [];
    const fHats: Tensor[] = [];
    this.config.patchNums.forEach((pn, si) => {
      const idx = reshape(this.nearest(this.residualAt(fRest, si)), [b, pn * pn]);
      const hc = this.contribution(si, this.embed(idx, pn), h);
      fHat = add(fHat, hc);
      fRest = sub(fRest, hc);
      indices.push(idx);
      fHats.push(fHat);
    });
    return { indices, fHats };
  }

  /** Per-scale indices → f̂ [B, C, p, p] (the official embed_to_fhat with all_to_max_scale, last_one). */
  indicesToFhat(indices: readonly Tensor[], upToScale = indices.length): Tensor {
    const pnLast = this.config.patchNums[this.config.patchNums.length - 1]!;
    const b = indices[0]!.shape[0]!;
    let fHat = zeros([b, this.config.channels, pnLast, pnLast], { dtype: this.embedding.weight.dtype });
    for (let si = 0; si < upToScale; si++) {
      const pn = this.config.patchNums[si]!;
      fHat = add(fHat, this.contribution(si, this.embed(indices[si]!, pn), pnLast));
    }
    return fHat;
  }

  /**
   * Teacher-forcing input of the transformer (the official idxBl_to_var_input): for k ≥ 1, scale k's input is
   * f̂ after scales 0..k−1, area-downsampled to pₖ. Returns [B, L − p₀², C].
   */
  indicesToVarInput(indices: readonly Tensor[]): Tensor {
    const pns = this.config.patchNums;
    const pnLast = pns[pns.length - 1]!;
    const b = indices[0]!.shape[0]!, c = this.config.channels;
    let fHat = zeros([b, c, pnLast, pnLast], { dtype: this.embedding.weight.dtype });
    const next: Tensor[] = [];
    for (let si = 0; si < pns.length - 1; si++) {
      const h = interpolate(this.embed(indices[si]!, pns[si]!), { size: pnLast, mode: 'bicubic' });
      fHat = add(fHat, this.phi(si).forward(h));
      const pn = pns[si + 1]!;
      next.push(transpose(reshape(interpolate(fHat, { size: pn, mode: 'area' }), [b, c, -1]), 1, 2));
    }
    return concat(next, 1);
  }

  /**
   * One inference step (the official get_next_autoregressive_input): adds scale si's code map h [B, C, pᵢ, pᵢ] to
   * f̂ and returns the updated f̂ and the next scale's input (area-downsampled f̂, or f̂ itself after the last scale).
   */
  nextInput(si: number, fHat: Tensor, h: Tensor): { fHat: Tensor; next: Tensor } {
    const pns = this.config.patchNums;
    const pnLast = pns[pns.length - 1]!;
    const updated = add(fHat, this.contribution(si, h, pnLast));
    if (si === pns.length - 1) return { fHat: updated, next: updated };
    return { fHat: updated, next: interpolate(updated, { size: pns[si + 1]!, mode: 'area' }) };
  }

  /** Adds code hits (one row per scale, as returned by forward) to the usage statistic buffer. */
  recordUsage(hits: readonly number[][]): void {
    const buf = (this as unknown as { ema_vocab_hit_SV: Tensor }).ema_vocab_hit_SV;
    const values = Float32Array.from(buf.dataSync());
    hits.forEach((row, si) => row.forEach((n, v) => { values[si * this.config.vocabSize + v]! += n; }));
    buf.assign(tensor(values, { shape: buf.shape }));
  }
}
