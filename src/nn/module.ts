// Module: the base class of layers and models. Parameters (leaf tensors that require grad), registered buffers
// and submodules are found from the instance's own fields, named with dotted paths like `blocks.0.attn.proj.weight`.

import { Tensor } from '../tensor/tensor.js';
import { ArgumentError, ShapeError, fmtShape } from '../tensor/errors.js';
import { shapesEqual } from '../tensor/shape.js';
import { noGrad } from '../tensor/graph/grad-mode.js';
import { cast } from '../tensor/ops/index.js';

export interface LoadOptions {
  /** Missing or unexpected keys are errors (default true); shapes must always match. */
  strict?: boolean;
}

export interface LoadReport {
  missing: string[];
  unexpected: string[];
}

/**
 * Base class. Subclasses assign parameters (tensors marked with requireGrad()), submodules and arrays of
 * submodules to fields in their constructor; registerBuffer() adds state that is saved but not trained.
 * @example class Affine extends Module { weight = randn([3, 3], rng).requireGrad(); forward(x: Tensor) { return matmul(x, this.weight); } }
 */
export class Module {
  /** Training mode (dropout active, label dropout...); switched by train()/eval(). */
  training = true;
  private readonly bufferNames = new Set<string>();

  /** Registers a tensor field that belongs to the state dict without being trained (e.g. a fixed index table). */
  protected registerBuffer(name: string, value: Tensor): void {
    (this as unknown as Record<string, Tensor>)[name] = value;
    this.bufferNames.add(name);
  }

  /** Own fields in declaration order: [name, value] for tensors, modules and arrays/Maps of modules. */
  private ownEntries(): [string, unknown][] {
    return Object.entries(this).filter(([k]) => k !== 'training' && k !== 'bufferNames');
  }

  /** Direct submodules with their field names (array elements are named `field.i`). */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [k, v] of this.ownEntries()) {
      if (v instanceof Module) out.push([k, v]);
      else if (Array.isArray(v)) v.forEach((m, i) => { if (m instanceof Module) out.push([`${k}.${i}`, m]); });
      else if (v instanceof Map) for (const [key, m] of v) if (m instanceof Module) out.push([`${k}.${String(key)}`, m]);
    }
    return out;
  }

  /** Every submodule (depth first), this one first, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.namedChildren()) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /** Parameters with dotted names, in a stable order (declaration order, depth first). */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [modName, mod] of this.namedModules(prefix)) {
      for (const [k, v] of mod.ownEntries()) {
        if (v instanceof Tensor && v.isLeaf && v.requiresGrad && !mod.bufferNames.has(k) && !seen.has(v)) {
          seen.add(v);
          out.push([modName ? `${modName}.${k}` : k, v]);
        }
      }
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [modName, mod] of this.namedModules(prefix)) {
      for (const name of mod.bufferNames) {
        const v = (mod as unknown as Record<string, unknown>)[name];
        if (v instanceof Tensor) out.push([modName ? `${modName}.${name}` : name, v]);
      }
    }
    return out;
  }

  /** Parameters and buffers by name (the tensors themselves, not copies). */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /** Number of trainable scalars. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /**
   * Copies values into this module's parameters and buffers by name. Shapes must match; missing or unexpected
   * names are errors unless strict is false (then they are reported). Values are cast to each tensor's dtype.
   */
  loadStateDict(state: ReadonlyMap<string, Tensor> | Record<string, Tensor>, opts: LoadOptions = {}): LoadReport {
    const strict = opts.strict ?? true;
    const incoming = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !incoming.has(k));
    const unexpected = [...incoming.keys()].filter((k) => !own.has(k));
    if (strict && (missing.length || unexpected.length)) {
      const parts = [
        missing.length ? `missing keys: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? `, … (${missing.length} in all)` : ''}` : '',
        unexpected.length ? `unexpected keys: ${unexpected.slice(0, 10).join(', ')}${unexpected.length > 10 ? `, … (${unexpected.length} in all)` : ''}` : '',
      ].filter(Boolean);
      throw new ArgumentError('loadStateDict', parts.join('; '));
    }
    for (const [name, target] of own) {
      const value = incoming.get(name);
      if (!value) continue;
      if (!shapesEqual(value.shape, target.shape)) {
        throw new ShapeError('loadStateDict', `'${name}' has shape ${fmtShape(value.shape)} in the checkpoint but ${fmtShape(target.shape)} in the model`);
      }
    }
    noGrad(() => {
      for (const [name, target] of own) {
        const value = incoming.get(name);
        if (!value) continue;
        if (value.dtype === target.dtype) {
          target.assign(value);
          continue;
        }
        // assign copies, so the cast copy is freed here (also when assign throws)
        const converted = cast(value, target.dtype);
        try {
          target.assign(converted);
        } finally {
          converted.dispose();
        }
      }
    });
    return { missing, unexpected };
  }

  /** Sets training mode on this module and every submodule. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Clears .grad of every parameter. */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Disposes every parameter and buffer. */
  dispose(): void {
    for (const t of this.stateDict().values()) t.dispose();
  }
}
