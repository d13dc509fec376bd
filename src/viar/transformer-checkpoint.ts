// Checkpoints of a VAR / VIAR alone: the weights with the model's kind and config in the safetensors metadata, and
// a loader that rebuilds the model from them after validating the config against the file's header.

import { ArgumentError } from '../tensor/errors.js';
import { nodeBuiltin } from '../tensor/node-builtins.js';
import { Rng } from '../tensor/random.js';
import { readSafetensorsHeader, saveSafetensors } from '../nn/safetensors.js';
import type { VarConfig } from './var-model.js';
import type { ViarConfig } from './viar-model.js';
import { checkTransformerHeader, loadCheckedModule, parseConfigJson, validateTransformerConfig, withConfigDefaults } from './config-validation.js';
import type { TransformerKind } from './transformer-configs.js';
import { createModel, describeConfigDiff, modelKind, type NextScaleModel } from './next-scale-model.js';

/** Metadata written into a transformer checkpoint: enough to rebuild the model without knowing its config. */
export interface TransformerCheckpointInfo {
  model: TransformerKind;
  config: VarConfig | ViarConfig;
  /** Anything else recorded (data, tokenizer path and hash, step, …). */
  metadata: Record<string, string>;
}

/** Saves the model's weights (atomically) with its kind and config in `__metadata__`, plus `metadata`. */
export function saveTransformer(path: string, model: NextScaleModel, metadata: Record<string, string> = {}): void {
  saveSafetensors(path, model.stateDict(), { ...metadata, format: 'viar-transformer-v1', model: modelKind(model), config: JSON.stringify(model.config) });
}

/** Options of loadTransformer. */
export interface LoadTransformerOptions {
  /** The kind the file must hold (needed when it records none). */
  model?: TransformerKind;
  /** The config the file must record (used when it records none). */
  config?: VarConfig | ViarConfig;
  /** Refuse NaN / ±Infinity weights, naming the tensor (default true; false skips the scan). */
  checkFinite?: boolean;
  /** Complete a partial recorded config with varConfig(depth) / viarConfig defaults (withConfigDefaults). */
  fillDefaults?: boolean;
}

/**
 * Loads a checkpoint written by saveTransformer, rebuilding the model from its recorded kind and config.
 * `expect.model` / `expect.config` (when given) must match what the file records, else a clear error; a file without
 * recorded kind or config needs them given. Before anything is built, the config is validated (types, ranges, caps:
 * validateTransformerConfig) and checked against the tensor shapes in the file's header; a failed load frees
 * everything it allocated.
 */
export function loadTransformer(path: string, expect: LoadTransformerOptions = {}): { model: NextScaleModel; info: TransformerCheckpointInfo } {
  const op = 'loadTransformer';
  if (!nodeBuiltin('node:fs', op).existsSync(path)) throw new ArgumentError(op, `no checkpoint at ${path}`);
  const header = readSafetensorsHeader(path);
  const meta = header.metadata;
  if (meta.format === 'viar-training-state-v1') throw new ArgumentError(op, `${path} is a training-state file; pass the weights file (without .train-state)`);
  const recorded = meta.model;
  if (recorded !== undefined && recorded !== 'var' && recorded !== 'viar') throw new ArgumentError(op, `${path} records an unknown model kind '${recorded.slice(0, 40)}'`);
  const recordedKind = recorded as TransformerKind | undefined;
  if (expect.model && recordedKind && expect.model !== recordedKind) {
    throw new ArgumentError(op, `${path} holds a ${recordedKind.toUpperCase()} model, but ${expect.model.toUpperCase()} was asked for`);
  }
  const kind = recordedKind ?? expect.model;
  if (!kind) throw new ArgumentError(op, `${path} does not record its model kind (metadata 'model'); say which with --model var|viar`);
  let config: VarConfig | ViarConfig;
  if (meta.config !== undefined) {
    const raw = parseConfigJson(meta.config, path, op);
    config = validateTransformerConfig(kind, expect.fillDefaults ? withConfigDefaults(kind, raw, path, op) : raw, path, op);
    if (expect.config && JSON.stringify(expect.config) !== meta.config) {
      throw new ArgumentError(op, `${path} was saved with another config (${describeConfigDiff(config, expect.config)})`);
    }
  } else if (expect.config) {
    config = validateTransformerConfig(kind, { ...expect.config } as unknown as Record<string, unknown>, path, op);
  } else {
    throw new ArgumentError(op, `${path} does not record its config (metadata 'config'); pass one`);
  }
  checkTransformerHeader(kind, config, header.tensors, path, op);
  const { module: model } = loadCheckedModule(path, () => createModel(kind, config, new Rng(0)), { checkFinite: expect.checkFinite ?? true, op });
  return { model: model.eval(), info: { model: kind, config, metadata: { ...meta } } };
}
