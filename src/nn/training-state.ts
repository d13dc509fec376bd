// Resumable training: one safetensors file holding the model, the optimizer state, the RNG state and user
// metadata (epoch, step...), written atomically, so a run can stop anywhere and continue where it was.

import type { Tensor } from '../tensor/tensor.js';
import { ArgumentError } from '../tensor/errors.js';
import type { Rng } from '../tensor/random.js';
import type { Module } from './module.js';
import type { Optimizer } from './optim/optimizer.js';
import { loadSafetensors, saveSafetensors } from './safetensors.js';

export interface TrainingState {
  model: Module;
  optimizer?: Optimizer;
  rng?: Rng;
  /** Free-form string metadata (epoch, step, config...). */
  metadata?: Record<string, string>;
  /** loadTrainingState: refuse NaN / ±Infinity in the file, naming the tensor (default true). */
  checkFinite?: boolean;
}

/** A JSON value recorded under a metadata key; a malformed one is an error naming the file and the key. */
function recordedJson(path: string, metadata: Record<string, string>, key: string): unknown {
  try {
    return JSON.parse(metadata[key]!);
  } catch {
    throw new ArgumentError('loadTrainingState', `${path}: metadata '${key}' is not valid JSON`);
  }
}

/** Writes model (`model.*`), optimizer (`optimizer.*`, step and hyperparameters) and RNG state to one file. */
export function saveTrainingState(path: string, state: TrainingState): void {
  const tensors = new Map<string, Tensor>();
  for (const [k, t] of state.model.stateDict()) tensors.set(`model.${k}`, t);
  const meta: Record<string, string> = { ...state.metadata, format: 'viar-training-state-v1' };
  if (state.optimizer) {
    const opt = state.optimizer.stateDict();
    for (const [k, t] of opt.tensors) tensors.set(`optimizer.${k}`, t);
    meta.optimizer = JSON.stringify(opt.meta);
  }
  if (state.rng) meta.rng = JSON.stringify(state.rng.getState());
  saveSafetensors(path, tensors, meta);
}

/**
 * Restores what saveTrainingState wrote into the given model, optimizer and rng (strict names and shapes).
 * @returns the user metadata.
 */
export function loadTrainingState(path: string, state: TrainingState): Record<string, string> {
  const { tensors, metadata } = loadSafetensors(path, { checkFinite: state.checkFinite ?? true });
  try {
    if (metadata.format !== 'viar-training-state-v1') throw new ArgumentError('loadTrainingState', `${path} is not a training-state file (format '${metadata.format ?? 'missing'}')`);
    const part = (prefix: string) => new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
    state.model.loadStateDict(part('model.'));
    if (state.optimizer) {
      if (!metadata.optimizer) throw new ArgumentError('loadTrainingState', `${path} holds no optimizer state`);
      const meta = recordedJson(path, metadata, 'optimizer');
      if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw new ArgumentError('loadTrainingState', `${path}: metadata 'optimizer' must be a JSON object`);
      state.optimizer.loadStateDict({ tensors: part('optimizer.'), meta: meta as Record<string, number> });
    }
    if (state.rng) {
      if (!metadata.rng) throw new ArgumentError('loadTrainingState', `${path} holds no RNG state`);
      const words = recordedJson(path, metadata, 'rng');
      const isWord = (w: unknown) => Number.isInteger(w) && (w as number) >= 0 && (w as number) < 2 ** 32;
      if (!Array.isArray(words) || words.length < 4 || words.length > 5 || !words.slice(0, 4).every(isWord) || !(words[4] == null || typeof words[4] === 'number')) {
        throw new ArgumentError('loadTrainingState', `${path}: metadata 'rng' must be 4 unsigned 32-bit integers and an optional spare normal`);
      }
      state.rng.setState(words as number[]);
    }
    const { optimizer: _o, rng: _r, format: _f, ...user } = metadata;
    return user;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
