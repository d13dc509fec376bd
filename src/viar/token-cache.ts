// The disk cache of token datasets: a data set's tokens saved as safetensors next to the tokenizer, keyed by the
// tokenizer file's SHA-256 (so a retrained tokenizer never reuses stale tokens), the data set, the split and the scales.

import { nodeBuiltin } from '../tensor/node-builtins.js';
import { tensor } from '../tensor/creation.js';
import { loadSafetensors, saveSafetensors } from '../nn/safetensors.js';
import type { ImageDataset } from '../nn/data/dataset.js';
import { encodeImages, type TokenDataset } from './token-dataset.js';
import type { VQVAE } from './vqvae.js';

/** SHA-256 (hex) and size of a file: what the token cache and checkpoints record of the tokenizer. */
export function fileFingerprint(path: string): { sha256: string; bytes: number } {
  const { readFileSync, statSync } = nodeBuiltin('node:fs', 'fileFingerprint');
  const { createHash } = nodeBuiltin('node:crypto', 'fileFingerprint');
  return { sha256: createHash('sha256').update(readFileSync(path)).digest('hex'), bytes: statSync(path).size };
}

export interface TokenCacheOptions {
  /** The tokenizer checkpoint the tokens come from (hashed into the cache key). */
  tokenizerPath: string;
  /** Data set name, e.g. 'mnist'. */
  data: string;
  /** Which images, e.g. 'train' or 'test-256'. */
  split: string;
  /** Folder of the cache file (default: the tokenizer's folder). */
  cacheDir?: string;
  onProgress?: (done: number, total: number) => void;
}

/** Where the token cache of these options lives: `<dir>/<tokenizer>.tokens-<data>-<split>-<sha12>.safetensors`. */
export function tokenCachePath(opts: TokenCacheOptions, sha256 = fileFingerprint(opts.tokenizerPath).sha256): string {
  const { basename, dirname, join } = nodeBuiltin('node:path', 'tokenCachePath');
  const stem = basename(opts.tokenizerPath).replace(/\.safetensors$/, '');
  return join(opts.cacheDir ?? dirname(opts.tokenizerPath), `${stem}.tokens-${opts.data}-${opts.split}-${sha256.slice(0, 12)}.safetensors`);
}

/**
 * The tokens of `images`, read from the cache file when its key (tokenizer SHA-256 and size, data set, split,
 * image count, scales) matches, otherwise encoded with `vae` and written there (atomically) for the next run.
 */
export function loadOrEncodeTokens(vae: VQVAE, images: ImageDataset, opts: TokenCacheOptions): { dataset: TokenDataset; path: string; cached: boolean } {
  const print = fileFingerprint(opts.tokenizerPath);
  const path = tokenCachePath(opts, print.sha256);
  const key = JSON.stringify({
    format: 'viar-token-cache-v1', tokenizerSha256: print.sha256, tokenizerBytes: print.bytes, data: opts.data, split: opts.split,
    count: images.count, patchNums: vae.config.patchNums,
  });
  if (nodeBuiltin('node:fs', 'loadOrEncodeTokens').existsSync(path)) {
    const { tensors, metadata } = loadSafetensors(path);
    try {
      const t = tensors.get('tokens'), y = tensors.get('labels');
      const seqLen = vae.config.patchNums.reduce((s, p) => s + p * p, 0);
      if (metadata.key === key && t && y && t.shape[0] === images.count && t.shape[1] === seqLen && y.shape[0] === images.count) {
        const dataset = { tokens: Int32Array.from(t.dataSync()), labels: Int32Array.from(y.dataSync()), count: images.count, patchNums: [...vae.config.patchNums], seqLen };
        return { dataset, path, cached: true };
      }
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  }
  const dataset = encodeImages(vae, images, opts.onProgress ? { onProgress: opts.onProgress } : {});
  const tokens = tensor(dataset.tokens, { shape: [dataset.count, dataset.seqLen], dtype: 'int32' });
  const labels = tensor(dataset.labels, { shape: [dataset.count], dtype: 'int32' });
  try {
    saveSafetensors(path, new Map([['tokens', tokens], ['labels', labels]]), { key });
  } finally {
    tokens.dispose(); labels.dispose();
  }
  return { dataset, path, cached: false };
}
