// Token datasets: a data set encoded once by a frozen tokenizer into every image's per-scale code indices, subsets
// of it, and the batches (per-scale index tensors, labels, flat targets) a trainer feeds the transformer.

import type { Tensor } from '../tensor/tensor.js';
import { ArgumentError } from '../tensor/errors.js';
import { tensor } from '../tensor/creation.js';
import { tidy } from '../tensor/memory.js';
import { mul, sub } from '../tensor/ops/index.js';
import { noGrad } from '../tensor/graph/grad-mode.js';
import type { ImageDataset } from '../nn/data/dataset.js';
import type { VQVAE } from './vqvae.js';

/** A dataset encoded by a tokenizer: every image's codes of all scales, concatenated coarse to fine. */
export interface TokenDataset {
  /** [count, L] row-major: image i's tokens are tokens[i·L, (i + 1)·L), scale k at [start(k), start(k + 1)). */
  tokens: Int32Array;
  labels: Int32Array;
  count: number;
  /** The tokenizer's scales; L = Σ pₖ². */
  patchNums: readonly number[];
  seqLen: number;
}

/** Images [N, 1, H, W] in [0, 1] → [−1, 1], the tokenizer's range. */
export const toSignedImages = (x: Tensor): Tensor => sub(mul(x, 2), 1);

/**
 * Encodes every image of `images` (pixels in [0, 1]) with the tokenizer in eval mode, in batches, without a tape.
 * @example const train = encodeImages(vae, standardSplit(loadMnist()).train);
 */
export function encodeImages(vae: VQVAE, images: ImageDataset, opts: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {}): TokenDataset {
  const patchNums = vae.config.patchNums;
  const seqLen = patchNums.reduce((s, p) => s + p * p, 0);
  const tokens = new Int32Array(images.count * seqLen);
  const labels = Int32Array.from(images.labels);
  const wasTraining = vae.training;
  vae.eval();
  let done = 0;
  try {
    for (const { x, y } of images.batches(opts.batchSize ?? 100)) {
      const b = x.shape[0]!;
      tidy(() => noGrad(() => {
        const perScale = vae.imageToIndices(toSignedImages(x)).map((t) => t.dataSync());
        for (let i = 0; i < b; i++) {
          let at = (done + i) * seqLen;
          patchNums.forEach((p, k) => {
            const n = p * p;
            tokens.set(perScale[k]!.subarray(i * n, (i + 1) * n), at);
            at += n;
          });
        }
      }));
      x.dispose(); y.dispose();
      done += b;
      opts.onProgress?.(done, images.count);
    }
  } finally {
    vae.train(wasTraining);
  }
  return { tokens, labels, count: images.count, patchNums: [...patchNums], seqLen };
}

/** A token dataset of the rows at `indices`, in that order. */
export function subsetTokens(ds: TokenDataset, indices: ArrayLike<number>): TokenDataset {
  const l = ds.seqLen;
  const tokens = new Int32Array(indices.length * l);
  const labels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (!Number.isInteger(i) || i < 0 || i >= ds.count) throw new ArgumentError('subsetTokens', `index ${i} is out of range for ${ds.count} rows`);
    tokens.set(ds.tokens.subarray(i * l, (i + 1) * l), k * l);
    labels[k] = ds.labels[i]!;
  }
  return { tokens, labels, count: indices.length, patchNums: ds.patchNums, seqLen: l };
}

/** Per-scale int32 index tensors [B, pₖ²], int32 labels [B] and flat int32 targets [B·L] for the rows `idx`. */
export function tokenBatch(ds: TokenDataset, idx: ArrayLike<number>): { indices: Tensor[]; labels: Tensor; targets: Tensor } {
  const b = idx.length, l = ds.seqLen;
  const flat = new Int32Array(b * l);
  const labels = new Int32Array(b);
  for (let k = 0; k < b; k++) {
    flat.set(ds.tokens.subarray(idx[k]! * l, (idx[k]! + 1) * l), k * l);
    labels[k] = ds.labels[idx[k]!]!;
  }
  let start = 0;
  const indices = ds.patchNums.map((p) => {
    const n = p * p;
    const part = new Int32Array(b * n);
    for (let k = 0; k < b; k++) part.set(flat.subarray(k * l + start, k * l + start + n), k * n);
    start += n;
    return tensor(part, { shape: [b, n], dtype: 'int32' });
  });
  return { indices, labels: tensor(labels, { shape: [b], dtype: 'int32' }), targets: tensor(flat, { shape: [b * l], dtype: 'int32' }) };
}
