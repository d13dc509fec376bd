// Weight and spectral normalization as reparameterizations of a Module's parameter, with TorchDEQ's per-step reset:
// reading module.weight recomputes the normalized weight from the raw parameters (differentiable), while the
// spectral norm's power-iteration vectors move only in reset() — so f is one fixed function during a solve.

import { Tensor } from '../tensor/tensor.js';
import { ArgumentError } from '../tensor/errors.js';
import { keep, tidy } from '../tensor/memory.js';
import { full, randn } from '../tensor/creation.js';
import { Rng } from '../tensor/random.js';
import { detach, div, matmul, maximum, mul, norm, permute, reshape, sum, transpose } from '../tensor/ops/index.js';
import { noGrad } from '../tensor/graph/grad-mode.js';
import { Module } from './module.js';
import { Conv2d, Linear } from './layers.js';
import { resetDropout } from './variational-dropout.js';

export type NormKind = 'weightNorm' | 'spectralNorm';

/** A parameter replaced by a normalized function of new parameters; module[name] reads the normalized weight. */
export interface Reparameterization {
  readonly kind: NormKind;
  readonly name: string;
  /** The normalized weight, recorded on the tape (what reading module[name] returns). */
  weight(): Tensor;
  /** The per-step update: spectral norm runs its power iterations (training mode only); weight norm has none. */
  reset(): void;
  /** Bakes the current normalized weight into a plain parameter `name` and drops the extra parameters and buffers. */
  remove(): void;
}

export interface WeightNormOptions {
  /** The axis that keeps its own norm and scale (default 0: one per output row of Linear/Conv2d); null: the whole tensor. */
  dim?: number | null;
  /** Learn the per-row scale g (default true, as in Salimans & Kingma); false fixes it at targetNorm. */
  learnScale?: boolean;
  targetNorm?: number;
}

export interface SpectralNormOptions {
  /** Power iterations per reset() (default 1: the vectors persist, so one step per training step tracks σ). */
  iterations?: number;
  /** Power iterations at setup (default 20), so the first steps already use a good σ. */
  warmup?: number;
  /** The axis that becomes the matrix's rows (default 0). */
  dim?: number;
  /** Learn a per-row scale g (TorchDEQ's default); default false here, so ‖W‖₂ stays at targetNorm. */
  learnScale?: boolean;
  /** σ is normalized to this (default 1). */
  targetNorm?: number;
  /** Draws the starting vectors (default new Rng(0)). */
  rng?: Rng;
  /** Floor on vector norms in the power iteration (default 1e-12). */
  eps?: number;
}

type Fields = Record<string, unknown>;
/** Module's registerBuffer is protected and its buffer set private; reparameterizations add and drop buffers. */
interface BufferAccess { registerBuffer(name: string, value: Tensor): void; bufferNames: Set<string> }

const registry = new WeakMap<Module, Map<string, Reparameterization>>();

function takeParameter(op: string, module: Module, name: string): Tensor {
  if (!(module instanceof Module)) throw new ArgumentError(op, 'module must be a Module');
  if (registry.get(module)?.has(name)) throw new ArgumentError(op, `'${name}' is already reparameterized (${registry.get(module)!.get(name)!.kind}); remove() it first`);
  const w = (module as unknown as Fields)[name];
  if (!(w instanceof Tensor) || !w.isLeaf || !w.requiresGrad || w.dtype === 'int32') {
    throw new ArgumentError(op, `'${name}' is not a float parameter (a leaf tensor that requires grad) of ${module.constructor.name}`);
  }
  return w;
}

function checkDim(op: string, dim: number, rank: number): void {
  if (!Number.isInteger(dim) || dim < 0 || dim >= rank) throw new ArgumentError(op, `option 'dim' must be an axis in [0, ${rank}), got ${dim}`);
}

/** Swaps the field `name` for an accessor that computes the weight; assigning to it is an error. */
function install(module: Module, r: Reparameterization, fields: Record<string, Tensor>, buffers: Record<string, Tensor>): void {
  const host = module as unknown as Fields;
  for (const k of [...Object.keys(fields), ...Object.keys(buffers)]) {
    if (k in host) throw new ArgumentError(r.kind, `${module.constructor.name} already has a field '${k}'; normalize a parameter whose derived names are free`);
  }
  delete host[r.name];
  for (const [k, t] of Object.entries(fields)) host[k] = t;
  for (const [k, t] of Object.entries(buffers)) (module as unknown as BufferAccess).registerBuffer(k, t);
  Object.defineProperty(module, r.name, {
    configurable: true,
    enumerable: false,
    get: () => r.weight(),
    set: () => { throw new ArgumentError(r.kind, `'${r.name}' is computed from ${Object.keys(fields).join(', ')}; assign to those, or remove() the reparameterization first`); },
  });
  if (!registry.has(module)) registry.set(module, new Map());
  registry.get(module)!.set(r.name, r);
}

function uninstall(module: Module, r: Reparameterization, drop: readonly string[]): void {
  const baked = keep(noGrad(() => detach(r.weight())));
  const host = module as unknown as Fields;
  const access = module as unknown as BufferAccess;
  delete host[r.name];
  for (const k of drop) {
    (host[k] as Tensor).dispose();
    delete host[k];
    access.bufferNames.delete(k);
  }
  host[r.name] = baked.requireGrad();
  registry.get(module)!.delete(r.name);
}

/** A shape of `rank` ones with `size` at `dim` (per-row scales that broadcast against the weight). */
function rowShape(rank: number, dim: number, size: number): number[] {
  return Array.from({ length: rank }, (_, i) => (i === dim ? size : 1));
}

/**
 * Weight normalization (Salimans & Kingma 2016): module[name] = g · v / ‖v‖, the norm over every axis but `dim`.
 * Renames the parameter `${name}_v` (the same tensor) and, when learnScale, `${name}_g` (its norms, so
 * the layer starts unchanged). Shapes: v like the weight; g is 1 on every axis but dim.
 * @example weightNorm(linear, 'weight'); linear.forward(x); // uses weight_g · weight_v / ‖weight_v‖
 */
export function weightNorm(module: Module, name = 'weight', options: WeightNormOptions = {}): Reparameterization {
  const op = 'weightNorm';
  const w = takeParameter(op, module, name);
  const dim = options.dim === undefined ? 0 : options.dim;
  if (dim !== null) checkDim(op, dim, w.rank);
  const axes = dim === null ? undefined : w.shape.map((_, i) => i).filter((i) => i !== dim);
  const norms = (v: Tensor): Tensor => (dim === null ? reshape(norm(v), w.shape.map(() => 1)) : norm(v, 2, axes, true));
  const learnScale = options.learnScale ?? true;
  const target = options.targetNorm ?? 1;
  const host = module as unknown as Fields;
  const vName = `${name}_v`, gName = `${name}_g`;
  const fields: Record<string, Tensor> = {};
  if (learnScale) fields[gName] = keep(noGrad(() => norms(w))).requireGrad();
  fields[vName] = w; // the raw weight is v itself, so an optimizer built earlier still updates it
  const r: Reparameterization = {
    kind: op,
    name,
    weight: () => {
      const v = host[vName] as Tensor;
      const scale = learnScale ? (host[gName] as Tensor) : target;
      return mul(v, div(scale, norms(v)));
    },
    reset: () => {},
    remove: () => uninstall(module, r, Object.keys(fields)),
  };
  install(module, r, fields, {});
  return r;
}

/**
 * Spectral normalization (Miyato et al. 2018) for DEQs: module[name] = W · target / σ̂, σ̂ = uᵀ W_mat v, where W_mat
 * is the weight with `dim` moved first and the rest flattened, and u, v are power-iteration estimates of its top
 * singular vectors. u and v are buffers (`${name}_u`, `${name}_v`, saved in checkpoints) that move only in
 * reset(): call resetNorms(model) (or resetDeq) once per training step, before the solve, so σ̂ is the same for
 * every call of f. The raw weight becomes `${name}_orig`; with learnScale, a per-row `${name}_g` multiplies the result.
 * σ̂ ≤ σ for any unit u, v, so ‖W_sn‖₂ ≥ target until the power iteration has converged (warmup, then persistence).
 * @example spectralNorm(linear, 'weight', { iterations: 1 }); for (...) { resetNorms(model); ...train step... }
 */
export function spectralNorm(module: Module, name = 'weight', options: SpectralNormOptions = {}): Reparameterization {
  const op = 'spectralNorm';
  const w = takeParameter(op, module, name);
  if (w.rank < 1) throw new ArgumentError(op, `'${name}' must have rank ≥ 1`);
  const dim = options.dim ?? 0;
  checkDim(op, dim, w.rank);
  const count = (key: string, value: number | undefined, fallback: number, min: number): number => {
    const n = value ?? fallback;
    if (!Number.isInteger(n) || n < min) throw new ArgumentError(op, `option '${key}' must be an integer ≥ ${min}, got ${String(value)}`);
    return n;
  };
  const iterations = count('iterations', options.iterations, 1, 1);
  const warmup = count('warmup', options.warmup, 20, 0);
  const eps = options.eps ?? 1e-12;
  const target = options.targetNorm ?? 1;
  const learnScale = options.learnScale ?? false;
  const rng = options.rng ?? new Rng(0);
  const order = [dim, ...w.shape.map((_, i) => i).filter((i) => i !== dim)];
  const rows = w.shape[dim]!;
  const cols = w.size / rows;
  const asMatrix = (t: Tensor): Tensor => reshape(permute(t, order), [rows, cols]);
  const unit = (t: Tensor): Tensor => div(t, maximum(norm(t), eps));
  const host = module as unknown as Fields;
  const oName = `${name}_orig`, gName = `${name}_g`, uName = `${name}_u`, vName = `${name}_v`;

  const fields: Record<string, Tensor> = { [oName]: w };
  if (learnScale) fields[gName] = full(rowShape(w.rank, dim, rows), target, { dtype: w.dtype }).requireGrad();
  const buffers = noGrad(() => ({
    [uName]: keep(unit(randn([rows], rng, { dtype: w.dtype }))),
    [vName]: keep(unit(randn([cols], rng, { dtype: w.dtype }))),
  }));
  const powerIterations = (n: number): void => tidy(() => noGrad(() => {
    const m = asMatrix(host[oName] as Tensor);
    let u = reshape(host[uName] as Tensor, [1, rows]);
    let v = reshape(host[vName] as Tensor, [1, cols]);
    for (let k = 0; k < n; k++) {
      v = unit(matmul(u, m)); // v ← W_matᵀ u / ‖·‖
      u = unit(matmul(v, transpose(m))); // u ← W_mat v / ‖·‖
    }
    (host[uName] as Tensor).assign(reshape(u, [rows]));
    (host[vName] as Tensor).assign(reshape(v, [cols]));
  }));
  const r: Reparameterization = {
    kind: op,
    name,
    weight: () => {
      const raw = host[oName] as Tensor;
      const u = reshape(host[uName] as Tensor, [1, rows]);
      const v = reshape(host[vName] as Tensor, [1, cols]);
      const sigma = sum(mul(matmul(u, asMatrix(raw)), v));
      const scale = learnScale ? div(host[gName] as Tensor, sigma) : div(target, sigma);
      return mul(raw, scale);
    },
    reset: () => {
      if (module.training) powerIterations(iterations);
    },
    remove: () => uninstall(module, r, [...Object.keys(fields), uName, vName]),
  };
  // the raw weight keeps its tensor (an optimizer built earlier still updates it) under its new name
  install(module, r, fields, buffers);
  if (warmup > 0) powerIterations(warmup);
  return r;
}

/** The reparameterizations installed on `module` itself (not its children), by parameter name. */
export function reparameterizationsOf(module: Module): ReadonlyMap<string, Reparameterization> {
  return registry.get(module) ?? new Map();
}

/** Runs reset() of every reparameterization in `model` (TorchDEQ's reset_norm). Returns how many. */
export function resetNorms(model: Module): number {
  let n = 0;
  for (const [, m] of model.namedModules()) {
    for (const r of reparameterizationsOf(m).values()) {
      r.reset();
      n++;
    }
  }
  return n;
}

/** Removes every reparameterization in `model`, baking the normalized weights in (TorchDEQ's remove_norm). */
export function removeNorms(model: Module): number {
  let n = 0;
  for (const [, m] of model.namedModules()) {
    for (const r of [...reparameterizationsOf(m).values()]) {
      r.remove();
      n++;
    }
  }
  return n;
}

/**
 * Applies weightNorm or spectralNorm to the `weight` of every Linear and Conv2d in `model` whose dotted name does
 * not contain one of `skip` (TorchDEQ's apply_norm with filter_out). Returns the names normalized.
 */
export function applyNorm(model: Module, kind: NormKind, options: (WeightNormOptions & SpectralNormOptions) & { skip?: readonly string[] } = {}): string[] {
  if (kind !== 'weightNorm' && kind !== 'spectralNorm') throw new ArgumentError('applyNorm', `kind must be 'weightNorm' or 'spectralNorm', got ${JSON.stringify(kind)}`);
  const done: string[] = [];
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Linear || m instanceof Conv2d)) continue;
    if (options.skip?.some((s) => name.includes(s))) continue;
    if (kind === 'weightNorm') weightNorm(m, 'weight', options);
    else spectralNorm(m, 'weight', options);
    done.push(name);
  }
  return done;
}

/**
 * The per-step reset of a DEQ (TorchDEQ's reset_deq): spectral-norm power iterations and new variational-dropout
 * masks. Call it at the start of every training step, before the forward solve.
 */
export function resetDeq(model: Module): void {
  resetNorms(model);
  resetDropout(model);
}
