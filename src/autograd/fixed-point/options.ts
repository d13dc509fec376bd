// fixedPoint's options: types, defaults and strict validation (an unknown or misspelled key is an error that
// suggests the closest valid key; TorchDEQ silently ignores unknown keys).

import { ArgumentError } from '../../tensor/errors.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { FixedPointSolver } from './solvers.js';
import type { State } from './state.js';

export type SolverName = 'picard' | 'anderson' | 'broyden';
export type ResidualNorm = 'rms' | 'max';

export interface AndersonOptions {
  /** History size (default 5). */
  m?: number;
  /** Mixing: x = β·Σαf + (1−β)·Σαx (default 1). */
  beta?: number;
  /** Ridge on the Gram matrix; relative to its mean diagonal by default (an absolute ridge stalls Anderson once the residuals fall below it). */
  ridge?: number;
  ridgeMode?: 'relative' | 'absolute';
  /** Reject a step that raises a sample's residual and take a damped Picard step instead (default true). */
  safeguard?: boolean;
}

export interface BroydenOptions {
  /** Rank-1 pairs stored before the inverse-Jacobian estimate restarts from −I (limited memory; default 30). */
  history?: number;
}

/** Settings shared by the forward solve and the IFT adjoint solve. */
export interface SolveSettings {
  /** A built-in solver, or your own (see FixedPointSolver): it gets the same stopping, stats and gradient rules. */
  solver?: SolverName | FixedPointSolver;
  /**
   * Evaluations of f that advance the solve (default 40 forward, 60 for the IFT adjoint; 0 allowed). A sample still
   * running when they are spent gets one more evaluation at its returned iterate if measureReturned is on.
   */
  maxIter?: number;
  /**
   * Spend one more evaluation measuring the iterate the solve returns when maxIter ends it (default true), so its
   * residual is in the stats; false returns that newest iterate unmeasured (its trace ends one iterate earlier).
   */
  measureReturned?: boolean;
  /** Stop a sample when its residual ‖f(z) − z‖ (dimension-normalized) ≤ tol (default 1e-4 forward, 1e-6 adjoint). */
  tol?: number;
  /** Also stop when ‖f(z) − z‖ / ‖f(z)‖ ≤ relTol (default: off). */
  relTol?: number;
  /** rms = ‖·‖₂/√d (default) or max = ‖·‖∞: both independent of the state size. */
  norm?: ResidualNorm;
  /** Damping τ: z ← τ·f(z) + (1−τ)·z (default 1, plain Picard). */
  damping?: number;
  anderson?: AndersonOptions;
  broyden?: BroydenOptions;
  /** A sample whose residual exceeds this factor × its first residual is marked diverged (default 1e4). */
  divergenceFactor?: number;
  /** A sample is marked stagnated when its best residual improved by less than stagnationRatio over this many evaluations (0 = off; default 30). */
  stagnationWindow?: number;
  stagnationRatio?: number;
}

export type GradientRule =
  | 'jfb' | 'phantom' | 'ift' | 'unroll'
  | { mode: 'jfb' }
  | { mode: 'phantom'; k?: number; damping?: number }
  | { mode: 'ift'; solver?: SolverName | FixedPointSolver; tol?: number; maxIter?: number; norm?: ResidualNorm; init?: 'zero' | 'grad'; cache?: AdjointCache; anderson?: AndersonOptions; broyden?: BroydenOptions; damping?: number }
  | { mode: 'unroll' };

/** Holds the last adjoint solution u between calls, so an IFT backward can warm-start from it. */
export interface AdjointCache {
  u: Tensor | null;
}

export interface FixedPointOptions<S extends State = Tensor> extends SolveSettings {
  /**
   * Starting point (warm start); its structure (a tensor, an array or a record of tensors) is the state's. Default:
   * zeros shaped like inputs[0], allowed only when the state is one tensor of that shape (a mismatch names z0).
   */
  z0?: S;
  /** Treat axis 0 as independent samples with their own stopping and stats (default: true when z has rank ≥ 2). */
  perSample?: boolean;
  /** Gradient rule (default 'jfb'). */
  gradient?: GradientRule;
  /** Which iterate each sample returns: the lowest-residual one (default) or the last. */
  returnIterate?: 'best' | 'last';
  /** 'throw' raises a FixedPointError when any sample does not converge; 'return' (default) reports it in stats. */
  onFailure?: 'return' | 'throw';
  /** Throw if f reads a tensor that requires grad without it being in `inputs` (default false: the tape handles captured tensors). */
  strictInputs?: boolean;
  /**
   * Iterates to return beside the output, by trace index (0 = z0; negative counts from the end of the solve), each
   * passed through the gradient rule like z* (TorchDEQ's indexing, for a fixed-point correction loss). An index past
   * the end of the solve gives the returned iterate.
   */
  states?: readonly number[];
  /** Put a per-sample estimate of ρ(∂f/∂z) at z* into stats.spectralRadius (power iteration on VJPs; default 20 iterations). */
  spectralRadius?: boolean | { iterations?: number; seed?: number };
}

export interface ResolvedSolve {
  solver: SolverName | FixedPointSolver;
  maxIter: number;
  measureReturned: boolean;
  tol: number;
  relTol: number;
  norm: ResidualNorm;
  damping: number;
  anderson: Required<AndersonOptions>;
  broyden: Required<BroydenOptions>;
  divergenceFactor: number;
  stagnationWindow: number;
  stagnationRatio: number;
}

export type ResolvedGradient =
  | { mode: 'jfb' }
  | { mode: 'phantom'; k: number; damping: number }
  | { mode: 'ift'; solve: ResolvedSolve; init: 'zero' | 'grad'; cache: AdjointCache | null }
  | { mode: 'unroll' };

const SOLVE_KEYS = ['solver', 'maxIter', 'measureReturned', 'tol', 'relTol', 'norm', 'damping', 'anderson', 'broyden', 'divergenceFactor', 'stagnationWindow', 'stagnationRatio'];
const TOP_KEYS = [...SOLVE_KEYS, 'z0', 'perSample', 'gradient', 'returnIterate', 'onFailure', 'strictInputs', 'states', 'spectralRadius'];
const ANDERSON_KEYS = ['m', 'beta', 'ridge', 'ridgeMode', 'safeguard'];
const BROYDEN_KEYS = ['history'];
const GRADIENT_KEYS: Record<string, string[]> = {
  jfb: ['mode'],
  phantom: ['mode', 'k', 'damping'],
  ift: ['mode', 'solver', 'tol', 'maxIter', 'norm', 'init', 'cache', 'anderson', 'broyden', 'damping'],
  unroll: ['mode'],
};

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

function checkKeys(obj: object, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue;
    const best = [...allowed].sort((p, q) => editDistance(key, p) - editDistance(key, q))[0]!;
    const hint = editDistance(key, best) <= 3 ? ` (did you mean '${best}'?)` : '';
    throw new ArgumentError('fixedPoint', `unknown option '${where}${key}'${hint}; valid options: ${allowed.join(', ')}`);
  }
}

function num(value: unknown, name: string, dflt: number, check: (v: number) => boolean, rule: string): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'number' || Number.isNaN(value) || !check(value)) {
    throw new ArgumentError('fixedPoint', `option '${name}' must be ${rule}, got ${String(value)}`);
  }
  return value;
}

function oneOf<T extends string>(value: unknown, name: string, dflt: T, allowed: readonly T[]): T {
  if (value === undefined) return dflt;
  if (!allowed.includes(value as T)) throw new ArgumentError('fixedPoint', `option '${name}' must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

const positiveInt = (v: number) => Number.isInteger(v) && v >= 1;
const countInt = (v: number) => Number.isInteger(v) && v >= 0;

function bool(value: unknown, name: string, dflt: boolean): boolean {
  if (value === undefined) return dflt;
  if (typeof value !== 'boolean') throw new ArgumentError('fixedPoint', `option '${name}' must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

function solverOption(value: unknown, name: string): SolverName | FixedPointSolver {
  if (typeof value === 'function') return value as FixedPointSolver;
  return oneOf<SolverName>(value, name, 'picard', ['picard', 'anderson', 'broyden']);
}

export function resolveSolve(o: SolveSettings, prefix: string, defaults: { maxIter: number; tol: number }): ResolvedSolve {
  const a = o.anderson ?? {};
  const b = o.broyden ?? {};
  checkKeys(a, ANDERSON_KEYS, `${prefix}anderson.`);
  checkKeys(b, BROYDEN_KEYS, `${prefix}broyden.`);
  return {
    solver: solverOption(o.solver, `${prefix}solver`),
    maxIter: num(o.maxIter, `${prefix}maxIter`, defaults.maxIter, countInt, 'an integer ≥ 0'),
    measureReturned: bool(o.measureReturned, `${prefix}measureReturned`, true),
    tol: num(o.tol, `${prefix}tol`, defaults.tol, (v) => v >= 0, 'a number ≥ 0'),
    relTol: num(o.relTol, `${prefix}relTol`, 0, (v) => v >= 0, 'a number ≥ 0'),
    norm: oneOf(o.norm, `${prefix}norm`, 'rms', ['rms', 'max']),
    damping: num(o.damping, `${prefix}damping`, 1, (v) => v > 0 && v <= 1, 'in (0, 1]'),
    anderson: {
      m: num(a.m, `${prefix}anderson.m`, 5, positiveInt, 'a positive integer'),
      beta: num(a.beta, `${prefix}anderson.beta`, 1, (v) => v > 0 && v <= 1, 'in (0, 1]'),
      ridge: num(a.ridge, `${prefix}anderson.ridge`, 1e-10, (v) => v >= 0, 'a number ≥ 0'),
      ridgeMode: oneOf(a.ridgeMode, `${prefix}anderson.ridgeMode`, 'relative', ['relative', 'absolute']),
      safeguard: a.safeguard === undefined ? true : Boolean(a.safeguard),
    },
    broyden: { history: num(b.history, `${prefix}broyden.history`, 30, positiveInt, 'a positive integer') },
    divergenceFactor: num(o.divergenceFactor, `${prefix}divergenceFactor`, 1e4, (v) => v > 1, 'a number > 1'),
    stagnationWindow: num(o.stagnationWindow, `${prefix}stagnationWindow`, 30, (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0'),
    stagnationRatio: num(o.stagnationRatio, `${prefix}stagnationRatio`, 0.999, (v) => v > 0 && v < 1, 'in (0, 1)'),
  };
}

export function resolveGradient(g: GradientRule | undefined): ResolvedGradient {
  const rule = g === undefined ? { mode: 'jfb' as const } : typeof g === 'string' ? { mode: g } : g;
  if (typeof rule !== 'object' || rule === null) throw new ArgumentError('fixedPoint', `option 'gradient' must be a mode name or an object with 'mode', got ${String(g)}`);
  const mode = oneOf(rule.mode, 'gradient.mode', 'jfb', ['jfb', 'phantom', 'ift', 'unroll']);
  checkKeys(rule, GRADIENT_KEYS[mode]!, 'gradient.');
  switch (mode) {
    case 'jfb': case 'unroll':
      return { mode };
    case 'phantom': {
      const r = rule as { k?: number; damping?: number };
      return {
        mode,
        k: num(r.k, 'gradient.k', 5, positiveInt, 'a positive integer'),
        damping: num(r.damping, 'gradient.damping', 0.5, (v) => v > 0 && v <= 1, 'in (0, 1]'),
      };
    }
    case 'ift': {
      const r = rule as Extract<GradientRule, { mode: 'ift' }>;
      const { init, cache, ...solve } = r;
      delete (solve as { mode?: string }).mode;
      return {
        mode,
        solve: resolveSolve({ ...solve, stagnationWindow: 0 }, 'gradient.', { maxIter: 60, tol: 1e-6 }),
        init: oneOf(init, 'gradient.init', 'grad', ['zero', 'grad']),
        cache: cache ?? null,
      };
    }
  }
}

/** Validates the keys that are not solve settings; returns them resolved. */
export function resolveTopLevel(o: FixedPointOptions<State>): { returnIterate: 'best' | 'last'; states: number[]; spectralRadius: { iterations: number; seed: number } | null } {
  if (typeof o !== 'object' || o === null) throw new ArgumentError('fixedPoint', 'options must be an object');
  checkKeys(o, TOP_KEYS, '');
  const returnIterate = oneOf(o.returnIterate, 'returnIterate', 'best', ['best', 'last']);
  if (o.states !== undefined && (!Array.isArray(o.states) || !o.states.every((i) => Number.isInteger(i)))) {
    throw new ArgumentError('fixedPoint', `option 'states' must be an array of integer iterate indices, got ${JSON.stringify(o.states)}`);
  }
  const sr = o.spectralRadius;
  let spectralRadius: { iterations: number; seed: number } | null = null;
  if (sr === true || (typeof sr === 'object' && sr !== null)) {
    const r = sr === true ? {} : sr;
    checkKeys(r, ['iterations', 'seed'], 'spectralRadius.');
    spectralRadius = {
      iterations: num(r.iterations, 'spectralRadius.iterations', 20, positiveInt, 'a positive integer'),
      seed: num(r.seed, 'spectralRadius.seed', 0, Number.isInteger, 'an integer'),
    };
  } else if (sr !== undefined && sr !== false) {
    throw new ArgumentError('fixedPoint', `option 'spectralRadius' must be true, false or { iterations }, got ${JSON.stringify(sr)}`);
  }
  return { returnIterate, states: [...(o.states ?? [])], spectralRadius };
}
