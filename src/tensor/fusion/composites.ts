// Fused composites: elementwise chains written as their math with the tracing builder, each running as one kernel
// forward and one per input gradient backward. `fusedFunction` turns any such chain into an op in one line.

import type { Tensor } from '../tensor.js';
import { ArgumentError } from '../errors.js';
import { checkTensor } from '../ops/operands.js';
import { applyProgram } from './fused-op.js';
import { ProgramBuilder, type FusedProgram, type FusedValue } from './program.js';

/**
 * An op running `fn` as one fused program over its arguments, broadcast together. Tensor arguments become inputs,
 * numbers become constants (passed to the kernel at run time, so changing them compiles nothing new).
 * @example const residual = fusedFunction('residual', (x, g, y) => x.add(g.mul(y)));
 */
export function fusedFunction(name: string, fn: (...args: FusedValue[]) => FusedValue): (...args: (Tensor | number)[]) => Tensor {
  const programs = new Map<string, FusedProgram>();
  return (...args: (Tensor | number)[]): Tensor => {
    if (args.length !== fn.length) throw new ArgumentError(name, `takes ${fn.length} arguments, got ${args.length}`);
    const tensors = args.flatMap((a, k) => (typeof a === 'number' ? [] : [checkTensor(a, name, `argument ${k}`)]));
    if (tensors.length === 0) throw new ArgumentError(name, 'at least one argument must be a Tensor');
    const key = args.map((a) => (typeof a !== 'number' ? 't' : Object.is(a, -0) ? '-0' : String(a))).join(',');
    let program = programs.get(key);
    if (!program) {
      const b = new ProgramBuilder(tensors.length);
      let next = 0;
      program = b.finish(fn(...args.map((a) => (typeof a === 'number' ? b.constant(a) : b.input(next++)))));
      if (programs.size >= 256) programs.clear();
      programs.set(key, program);
    }
    return applyProgram(program, tensors, name);
  };
}

/** AdaLN modulation x·(1 + scale) + shift. x [..., C], scale/shift broadcastable to x (e.g. [B, 1, C]). */
export const modulate: (x: Tensor, scale: Tensor, shift: Tensor) => Tensor =
  fusedFunction('modulate', (x, scale, shift) => x.mul(scale.add(1)).add(shift));

/** Gated residual x + y·γ (AdaLN blocks), broadcasting. */
export const gatedResidual: (x: Tensor, gamma: Tensor, y: Tensor) => Tensor =
  fusedFunction('gatedResidual', (x, gamma, y) => x.add(y.mul(gamma)));

/** Gated residual with a keep-mask (drop-path): x + (y·γ)·mask, broadcasting. */
export const maskedGatedResidual: (x: Tensor, gamma: Tensor, y: Tensor, mask: Tensor) => Tensor =
  fusedFunction('maskedGatedResidual', (x, gamma, y, mask) => x.add(y.mul(gamma).mul(mask)));

/** Classifier-free guidance (1 + s)·cond − s·uncond. */
export const cfgMix: (cond: Tensor, uncond: Tensor, s: number) => Tensor =
  fusedFunction('cfgMix', (cond, uncond, s) => cond.mul(s.add(1)).sub(uncond.mul(s)));

export type FusedActivation = 'relu' | 'gelu' | 'geluTanh' | 'silu' | 'tanh';

/** The activations as traced chains, each the formula of its unfused op (src/tensor/ops/composite.ts). */
const ACTIVATIONS: Record<FusedActivation, (v: FusedValue) => FusedValue> = {
  relu: (v) => v.relu(),
  gelu: (v) => v.mul(0.5).mul(v.mul(Math.SQRT1_2).erf().add(1)),
  geluTanh: (v) => v.geluTanh(),
  silu: (v) => v.mul(v.sigmoid()),
  tanh: (v) => v.tanh(),
};

const activations = Object.fromEntries(Object.entries(ACTIVATIONS).map(([kind, f]) =>
  [kind, fusedFunction(kind, (x) => f(x))])) as Record<FusedActivation, (x: Tensor) => Tensor>;
const biasActivations = Object.fromEntries(Object.entries(ACTIVATIONS).map(([kind, f]) =>
  [kind, fusedFunction(`bias+${kind}`, (x, bias) => f(x.add(bias)))])) as Record<FusedActivation, (x: Tensor, bias: Tensor) => Tensor>;

/** An activation as one fused pass (gelu and silu are chains of several primitives otherwise). */
export function fusedActivation(x: Tensor, kind: FusedActivation): Tensor {
  return activations[kind](x);
}

/** act(x + bias) in one pass: a Linear layer's bias add and the activation after it. bias broadcastable to x. */
export function biasActivation(x: Tensor, bias: Tensor, kind: FusedActivation): Tensor {
  return biasActivations[kind](x, bias);
}

/** Attention scores s·scale + mask (mask additive, broadcastable). */
export const scaleAndMask: (scores: Tensor, scale: number, mask: Tensor) => Tensor =
  fusedFunction('scaleAndMask', (scores, scale, mask) => scores.mul(scale).add(mask));

/** x / max(√sumSquares, eps) · factor: an l2 normalization finished after its reduction (factor broadcastable). */
export const l2Scale: (x: Tensor, sumSquares: Tensor, eps: number, factor: Tensor | number) => Tensor =
  fusedFunction('l2Scale', (x, ss, eps, factor) => x.div(ss.sqrt().maximum(eps)).mul(factor));

/** Inverted dropout: x·(u < keep)·(1/keep) for uniforms u (same shape as x). */
export const dropoutMask: (x: Tensor, uniforms: Tensor, keep: number) => Tensor =
  fusedFunction('dropoutMask', (x, u, keep) => x.mul(u.lt(keep).mul(keep.builder.constant(1).div(keep))));
