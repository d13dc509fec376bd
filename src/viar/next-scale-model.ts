// VAR or VIAR behind one type: the union the trainer, checkpoints and samplers take, its kind, a factory from a kind
// and a config, and a readable difference of two configs (for refusing a checkpoint of another config).

import { ArgumentError } from '../tensor/errors.js';
import type { Rng } from '../tensor/random.js';
import { VAR, type VarConfig } from './var-model.js';
import { VIAR, type ViarConfig } from './viar-model.js';
import type { TransformerKind } from './transformer-configs.js';

/** VAR or VIAR. */
export type NextScaleModel = VAR | VIAR;

/** 'var' or 'viar' for a model. */
export function modelKind(model: NextScaleModel): TransformerKind {
  return model instanceof VIAR ? 'viar' : 'var';
}

/** Builds a VAR or VIAR from a kind and a config (a ViarConfig is required for 'viar'). */
export function createModel(kind: TransformerKind, config: VarConfig | ViarConfig, rng: Rng): NextScaleModel {
  if (kind === 'viar') {
    const c = config as Partial<ViarConfig>;
    if (c.nPre === undefined || c.nPost === undefined || !c.implicit) throw new ArgumentError('createModel', 'a VIAR needs a ViarConfig (nPre, nPost, implicit)');
    return new VIAR(config as ViarConfig, { rng });
  }
  if (kind !== 'var') throw new ArgumentError('createModel', `model kind must be 'var' or 'viar', got '${String(kind)}'`);
  return new VAR(config, { rng });
}

/** The fields where two configs differ, as "depth 6 vs 8, embedDim 64 vs 128". */
export function describeConfigDiff(saved: VarConfig | ViarConfig, current: VarConfig | ViarConfig): string {
  const a = saved as unknown as Record<string, unknown>, b = current as unknown as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  const diffs = keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).map((k) => `${k} ${JSON.stringify(a[k])} vs ${JSON.stringify(b[k])}`);
  return diffs.length ? `saved vs current: ${diffs.join(', ')}` : 'same fields, different serialization';
}
