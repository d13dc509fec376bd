// fixedPoint's arguments checked and its problem set up (options resolved, z0 given or defaulted and packed into
// [B, d], f on the packed state), and the tape audit on the way out.

import type { Tensor } from '../../tensor/tensor.js';
import { ArgumentError, fmtShape } from '../../tensor/errors.js';
import { keep, tidy } from '../../tensor/memory.js';
import { fresh } from '../../tensor/ops/index.js';
import { zeros } from '../../tensor/creation.js';
import { checkTensor } from '../../tensor/ops/operands.js';
import { enableGrad, isGradEnabled, noGrad } from '../../tensor/graph/grad-mode.js';
import { capturedBy, primitiveNodes } from './bookkeeping.js';
import type { FixedPointStats, PackedMap } from './fixed-point.js';
import { ADJOINT_ANDERSON } from './ift.js';
import {
  resolveGradient, resolveSolve, resolveTopLevel, type FixedPointOptions, type ResolvedGradient, type ResolvedSolve,
} from './options.js';
import { stateCodec, type State, type StateCodec } from './state.js';

export interface Problem<S extends State> {
  xs: Tensor[];
  solve: ResolvedSolve;
  rule: ResolvedGradient;
  returnIterate: 'best' | 'last';
  states: number[];
  spectralRadius: { iterations: number; seed: number } | null;
  codec: StateCodec<S>;
  /** The packed starting point (kept: the caller disposes it), recorded when the solve is (unroll). */
  x0: Tensor;
  taped: boolean;
  /** The parts of a z0 the caller passed (none when defaulted), for the capture audit. */
  z0Parts: Tensor[];
  /** f on the packed state, and the same with the inputs passed explicitly. */
  f: PackedMap;
  map: (z: Tensor, xs: readonly Tensor[]) => Tensor;
}

export function stateTensors(s: State): Tensor[] {
  return (s as Tensor).isTensor ? [s as Tensor] : Object.values(s as Record<string, Tensor>);
}

/** Validates every argument and option (before any work) and packs the problem. */
export function prepare<S extends State>(f: (z: S, ...inputs: Tensor[]) => S, inputs: readonly Tensor[], options: FixedPointOptions<S>): Problem<S> {
  const top = resolveTopLevel(options as FixedPointOptions<State>);
  if (typeof f !== 'function') throw new ArgumentError('fixedPoint', 'f must be a function (z, ...inputs) => z');
  if (!Array.isArray(inputs)) throw new ArgumentError('fixedPoint', 'inputs must be an array of tensors (possibly empty)');
  const xs = inputs.map((t, i) => checkTensor(t, 'fixedPoint', `inputs[${i}]`));
  const solve = resolveSolve(options, '', { maxIter: 40, tol: 1e-4 });
  const rule = resolveGradient(options.gradient);
  if (rule.mode === 'unroll' && solve.solver !== 'picard') {
    throw new ArgumentError('fixedPoint', `gradient 'unroll' backpropagates through Picard iterations only; got solver '${typeof solve.solver === 'function' ? 'custom' : solve.solver}'`);
  }
  if (options.z0 === undefined && xs.length === 0) throw new ArgumentError('fixedPoint', 'pass z0 (the starting point) when there are no inputs');
  const defaulted = options.z0 === undefined;
  const first = defaulted ? xs[0] : stateTensors(options.z0!)[0];
  if (rule.mode === 'ift' && rule.solve.solver === 'anderson' && !(first?.backend.canReadSync ?? true)) {
    throw new ArgumentError('fixedPoint', ADJOINT_ANDERSON);
  }
  const taped = rule.mode === 'unroll' && isGradEnabled();
  const z0 = (options.z0 ?? zeros(xs[0]!.shape, { dtype: xs[0]!.dtype })) as S;
  let codec: StateCodec<S>, x0: Tensor;
  try {
    codec = stateCodec(z0, options.perSample);
    x0 = keep((taped ? enableGrad : noGrad)(() => tidy(() => fresh(codec.pack(z0, 'z0')))));
  } finally {
    if (defaulted) (z0 as Tensor).dispose();
  }
  return {
    xs, solve, rule, returnIterate: top.returnIterate, states: top.states, spectralRadius: top.spectralRadius,
    codec, x0, taped, z0Parts: defaulted ? [] : stateTensors(z0),
    f: packedMap(f, xs, codec, defaulted ? xs[0]!.shape : null),
    map: (z, args) => codec.pack(f(codec.unpack(z), ...args), 'f'),
  };
}

/**
 * f on the packed state. When z0 was defaulted (zeros shaped like inputs[0]), the first call's failure says so: a
 * state wider than the input fails inside f (a matmul, a concat) long before any shape check could name z0.
 */
function packedMap<S extends State>(f: (z: S, ...inputs: Tensor[]) => S, xs: readonly Tensor[], codec: StateCodec<S>, defaultShape: readonly number[] | null): PackedMap {
  let first = defaultShape !== null;
  return (zFlat) => {
    if (!first) return codec.pack(f(codec.unpack(zFlat), ...xs), 'f');
    first = false;
    const hint = `z0 defaulted to zeros shaped like inputs[0], ${fmtShape(defaultShape!)}: pass z0 with the state's shape`;
    let out: S;
    try {
      out = f(codec.unpack(zFlat), ...xs);
    } catch (err) {
      throw new ArgumentError('fixedPoint', `f threw on the default z0 (${hint}): ${(err as Error).message}`);
    }
    try {
      return codec.pack(out, 'f');
    } catch (err) {
      throw new ArgumentError('fixedPoint', `${(err as Error).message.replace(/^fixedPoint: /, '')} (${hint})`);
    }
  };
}

/**
 * Fills stats.memory (nodes the primitive recorded for z and the bytes they keep) and stats.capturedTensors (tensors
 * requiring grad f read from its closure, not `allowed`); with strictInputs a capture is an error (outputs freed).
 */
export function auditTape(result: { z: State; zStar: State; states: State[] }, stats: FixedPointStats, watermark: number, allowed: readonly Tensor[], strict: boolean): void {
  const all = [result.z, result.zStar, ...result.states].flatMap(stateTensors);
  const nodes = primitiveNodes(stateTensors(result.z), watermark);
  stats.memory = { tapeNodes: nodes.length, retainedBytes: nodes.reduce((sum, n) => sum + n.savedBytes(), 0) };
  const captured = capturedBy(primitiveNodes(all, watermark), watermark, allowed);
  stats.capturedTensors = captured.length;
  if (strict && captured.length > 0) {
    all.forEach((t) => t.dispose());
    throw new ArgumentError('fixedPoint', `f reads ${captured.length} tensor(s) that require grad without them being in inputs (shapes ${captured.map((t) => fmtShape(t.shape)).join(', ')}); pass them in inputs, or drop strictInputs`);
  }
}
