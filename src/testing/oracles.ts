// Oracles of the testing kit: each check* returns a report, each assert* throws an OracleError whose message is that
// report. The bounds follow from the problem's Lipschitz constant L alone (Banach, IFT, JFB, phantom), or from the
// engine's memory counters (leaks, peak bytes of a training step), so they hold for any correct implementation.

import type { Tensor } from '../tensor/tensor.js';
import { ViarError } from '../tensor/errors.js';
import { memory, tidy, type MemoryReport } from '../tensor/memory.js';
import { randn, zerosLike } from '../tensor/creation.js';
import { Rng } from '../tensor/random.js';
import { add, detach, mul, reshape, slice, sub, sum } from '../tensor/ops/index.js';
import { getBackend } from '../tensor/backend/registry.js';
import { noGrad } from '../tensor/graph/grad-mode.js';
import { gradients } from '../autograd/backward.js';
import { gradcheck, type GradcheckOptions, type GradcheckResult } from '../autograd/gradcheck.js';
import { fixedPoint } from '../autograd/fixed-point/fixed-point.js';
import type { FixedPointOptions, GradientRule } from '../autograd/fixed-point/options.js';
import type { FixedPointProblem, ImplicitMap } from './problems.js';
import { dot, l2 } from './linalg.js';

/** Thrown by the assert* oracles; `report` is the structured result the message was written from. */
export class OracleError<R = unknown> extends ViarError {
  constructor(oracle: string, message: string, readonly report: R) {
    super(oracle, message);
  }
}

/** Relative slack on every bound (floating-point rounding of the quantities compared). */
const REL = 1e-9;
/** Reference solves: tight enough that their own error is negligible, and added to the bounds anyway. */
const REFERENCE: FixedPointOptions = { solver: 'anderson', tol: 1e-13, maxIter: 5000, stagnationWindow: 0 };
const IFT: GradientRule = { mode: 'ift', solver: 'anderson', tol: 1e-13, maxIter: 5000 };

const fmt = (v: number): string => (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toPrecision(4) : v.toExponential(3));
const labelOf = (p: FixedPointProblem): string => p.label ?? 'problem';

function checkLipschitz(p: FixedPointProblem, oracle: string): number {
  const L = p.lipschitz;
  if (!(L >= 0 && L < 1)) throw new ViarError(oracle, `the problem's lipschitz must be in [0, 1) (a contraction), got ${L}`);
  return L;
}

function startOf(p: FixedPointProblem): Tensor {
  return p.z0 ?? zerosLike(p.inputs[0]!);
}

/** ‖t_i‖₂ of each sample (axis 0) of a [B, ...] tensor, as numbers. */
function sampleNorms(t: Tensor): number[] {
  const flat = reshape(t, [t.shape[0]!, -1]);
  const d = flat.shape[1]!, v = flat.dataSync();
  return Array.from({ length: flat.shape[0]! }, (_, i) => l2(v.subarray(i * d, (i + 1) * d)));
}

/** Rows of a [B, ...] tensor as flat number arrays. */
function sampleRows(t: Tensor): Float64Array[] {
  const flat = reshape(t, [t.shape[0]!, -1]);
  const d = flat.shape[1]!, v = Float64Array.from(flat.dataSync());
  return Array.from({ length: flat.shape[0]! }, (_, i) => v.subarray(i * d, (i + 1) * d));
}

/** A tight solve of the problem and a bound on its own error, ‖f(z) − z‖/(1 − L) per sample (Banach a-posteriori). */
function reference(p: FixedPointProblem, L: number): { z: Tensor; error: number[] } {
  const z = fixedPoint(p.f, p.inputs, { ...REFERENCE, z0: startOf(p) }).z;
  const error = sampleNorms(sub(p.f(z, ...p.inputs), z)).map((r) => r / (1 - L));
  return { z, error };
}

function fail<R>(oracle: string, report: R & { ok: boolean; text: string }): R {
  if (!report.ok) throw new OracleError(oracle, report.text, report);
  return report;
}

// ---------------------------------------------------------------------------------------------- gradcheck

/** A readable report of a {@link gradcheck} result: counts, the largest error and the first mismatching entries. */
export function formatGradcheck(r: GradcheckResult, opts: GradcheckOptions = {}, max = 8): string {
  const tol = `atol ${opts.atol ?? 1e-5}, rtol ${opts.rtol ?? 1e-3}, eps ${opts.eps ?? 1e-6}, projection seed ${opts.seed ?? 0}`;
  if (r.ok) return `gradients match finite differences (max |analytic − numeric| ${fmt(r.maxAbsError)}; ${tol})`;
  const rows = r.mismatches.slice(0, max).map((m) =>
    `  input ${m.input}[${m.index}]: analytic ${fmt(m.analytic)}, numeric ${fmt(m.numeric)}, |diff| ${fmt(Math.abs(m.analytic - m.numeric))}`);
  const more = r.mismatches.length > max ? `\n  … and ${r.mismatches.length - max} more` : '';
  return `${r.mismatches.length} gradient entries differ from central finite differences (max |analytic − numeric| ${fmt(r.maxAbsError)}; ${tol}):\n${rows.join('\n')}${more}`;
}

/**
 * {@link gradcheck} (float64 inputs, central differences along a random projection of the output) that throws an
 * OracleError with {@link formatGradcheck}'s report, and returns the result when the gradients match.
 */
export function assertGradcheck(f: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckResult {
  const r = gradcheck(f, inputs, opts);
  return fail('assertGradcheck', { ...r, text: formatGradcheck(r, opts) });
}

// ---------------------------------------------------------------------------------------------- Banach bounds

export interface BanachOptions {
  /** Picard steps z_k = f(z_{k−1}) checked (default 12). */
  steps?: number;
  /** Also check the a-posteriori bound at the output of this solve (any solver). */
  solve?: FixedPointOptions;
}

export interface BanachRow {
  /** Picard step k, or 'solve' for the output of options.solve. */
  step: number | 'solve';
  sample: number;
  /** ‖z_k − z*‖₂ */
  error: number;
  /** Lᵏ/(1 − L)·‖z₁ − z₀‖ (NaN for the solve row). */
  aPriori: number;
  /** L/(1 − L)·‖z_k − z_{k−1}‖, or ‖f(y) − y‖/(1 − L) for the solve's output y. */
  aPosteriori: number;
}

export interface BanachReport {
  ok: boolean;
  lipschitz: number;
  rows: BanachRow[];
  violations: BanachRow[];
  text: string;
}

/**
 * Banach's error bounds for an L-contraction, per sample, against a tight reference solve z* (whose own error bound
 * is added to every bound): a-priori ‖z_k − z*‖ ≤ Lᵏ/(1−L)‖z₁ − z₀‖ and a-posteriori ‖z_k − z*‖ ≤ L/(1−L)‖z_k − z_{k−1}‖
 * along the Picard solver's iterates from the problem's z0 (fixedPoint with maxIter k); with `solve`, also ‖y − z*‖ ≤ ‖f(y) − y‖/(1−L) at that solve's output.
 */
export function checkBanachBounds(problem: FixedPointProblem, opts: BanachOptions = {}): BanachReport {
  const L = checkLipschitz(problem, 'checkBanachBounds');
  const steps = opts.steps ?? 12;
  return tidy(() => noGrad(() => {
    const ref = reference(problem, L);
    const rows: BanachRow[] = [];
    const z0 = startOf(problem);
    let prev = z0;
    let r0: number[] = [];
    for (let k = 1; k <= steps; k++) {
      // the solver's own Picard iterate: with maxIter k its last iterate is z_{k−1} and its output f(z_{k−1}) = z_k
      const next = fixedPoint(problem.f, problem.inputs, { z0, solver: 'picard', tol: 0, maxIter: k, returnIterate: 'last', stagnationWindow: 0 }).z;
      const moved = sampleNorms(sub(next, prev));
      if (k === 1) r0 = moved;
      sampleNorms(sub(next, ref.z)).forEach((error, i) => rows.push({
        step: k, sample: i, error,
        aPriori: (L ** k / (1 - L)) * r0[i]! + ref.error[i]!,
        aPosteriori: (L / (1 - L)) * moved[i]! + ref.error[i]!,
      }));
      prev = next;
    }
    if (opts.solve) {
      const y = fixedPoint(problem.f, problem.inputs, { z0: startOf(problem), ...opts.solve }).z;
      const res = sampleNorms(sub(problem.f(y, ...problem.inputs), y));
      sampleNorms(sub(y, ref.z)).forEach((error, i) => rows.push({
        step: 'solve', sample: i, error, aPriori: NaN, aPosteriori: res[i]! / (1 - L) + ref.error[i]!,
      }));
    }
    const within = (e: number, bound: number) => Number.isNaN(bound) || e <= bound * (1 + REL) + 1e-12;
    const violations = rows.filter((r) => !(within(r.error, r.aPriori) && within(r.error, r.aPosteriori)));
    const head = `${labelOf(problem)}, L = ${L}: `;
    const text = violations.length === 0
      ? `${head}${rows.length} iterates within Banach's a-priori and a-posteriori bounds`
      : `${head}${violations.length} of ${rows.length} iterates break Banach's bounds, so f is not an L-contraction here (or the solver is wrong):\n` +
        violations.slice(0, 8).map((r) => `  step ${r.step}, sample ${r.sample}: ‖z − z*‖ ${fmt(r.error)} > ` +
          `${within(r.error, r.aPriori) ? `a-posteriori ${fmt(r.aPosteriori)}` : `a-priori ${fmt(r.aPriori)}`}`).join('\n');
    return { ok: violations.length === 0, lipschitz: L, rows, violations, text };
  }));
}

/** {@link checkBanachBounds}, throwing an OracleError with the report on a violation. */
export function assertBanachBounds(problem: FixedPointProblem, opts: BanachOptions = {}): BanachReport {
  return fail('assertBanachBounds', checkBanachBounds(problem, opts));
}

// ---------------------------------------------------------------------------------------------- contraction

export interface ContractionReport {
  ok: boolean;
  lipschitz: number;
  /** The largest ‖f(a) − f(b)‖/‖a − b‖ seen, per sample, and the pair scale it was seen at. */
  worstRatio: number;
  worst: { sample: number; scale: number };
  pairs: number;
  text: string;
}

/**
 * Empirical Lipschitz check in z: ‖f(a) − f(b)‖₂ ≤ L‖a − b‖₂ per sample for `pairs` random pairs at scales 0.1 to 10
 * (and pairs next to the fixed point). A layer whose constant exceeds L for some inputs fails here first.
 */
export function checkContraction(problem: FixedPointProblem, opts: { pairs?: number; seed?: number } = {}): ContractionReport {
  const L = checkLipschitz(problem, 'checkContraction');
  const pairs = opts.pairs ?? 12;
  const rng = new Rng(opts.seed ?? 0);
  return tidy(() => noGrad(() => {
    const z0 = startOf(problem);
    const star = fixedPoint(problem.f, problem.inputs, { ...REFERENCE, maxIter: 200, z0 }).z;
    let worstRatio = 0, worst = { sample: 0, scale: 0 };
    for (let p = 0; p < pairs; p++) tidy(() => {
      const scale = 10 ** (2 * (p % 3 === 0 ? -1 : rng.uniform()) - 1);
      const a = p % 3 === 0 ? add(star, randn(z0.shape, rng, { dtype: z0.dtype, std: 1e-3 })) : randn(z0.shape, rng, { dtype: z0.dtype, std: scale });
      const b = add(a, randn(z0.shape, rng, { dtype: z0.dtype, std: scale }));
      const num = sampleNorms(sub(problem.f(a, ...problem.inputs), problem.f(b, ...problem.inputs)));
      sampleNorms(sub(a, b)).forEach((den, i) => {
        const ratio = num[i]! / den;
        if (ratio > worstRatio) { worstRatio = ratio; worst = { sample: i, scale }; }
      });
    });
    const ok = worstRatio <= L * (1 + REL);
    const text = ok
      ? `${labelOf(problem)}: ‖f(a) − f(b)‖/‖a − b‖ ≤ ${fmt(worstRatio)} ≤ L = ${L} over ${pairs} random pairs`
      : `${labelOf(problem)}: f is not an L-contraction: ‖f(a) − f(b)‖/‖a − b‖ = ${fmt(worstRatio)} > L = ${L} (sample ${worst.sample}, pair scale ${fmt(worst.scale)})`;
    return { ok, lipschitz: L, worstRatio, worst, pairs, text };
  }));
}

/** {@link checkContraction}, throwing an OracleError with the report. */
export function assertContraction(problem: FixedPointProblem, opts: { pairs?: number; seed?: number } = {}): ContractionReport {
  return fail('assertContraction', checkContraction(problem, opts));
}

// ---------------------------------------------------------------------------------------------- IFT gradient

export interface IftGradientOptions extends GradcheckOptions {
  /** Forward and IFT backward settings of the solve being differentiated (defaults: Anderson, tol 1e-13). */
  solve?: FixedPointOptions;
}

/**
 * The IFT gradient of a random linear loss ⟨c, fixedPoint(f, inputs)⟩ against central finite differences of the whole
 * solve, for every float64 input (gradcheck's tolerances; the solve is tight so that differences of solves are exact
 * to ~tol/eps). Throws an OracleError listing the mismatching entries.
 */
export function assertIftGradient(problem: FixedPointProblem, opts: IftGradientOptions = {}): GradcheckResult {
  checkLipschitz(problem, 'assertIftGradient');
  const { solve, ...check } = opts;
  return tidy(() => {
    const z0 = startOf(problem);
    const c = randn(z0.shape, new Rng((opts.seed ?? 0) + 1), { dtype: z0.dtype });
    const loss = (...xs: Tensor[]): Tensor => sum(mul(fixedPoint(problem.f, xs, { ...REFERENCE, gradient: IFT, z0, ...solve }).z, c));
    const r = gradcheck(loss, problem.inputs, { atol: 1e-6, rtol: 1e-4, ...check });
    return fail('assertIftGradient', { ...r, text: `${labelOf(problem)}: IFT ${formatGradcheck(r, { atol: 1e-6, rtol: 1e-4, ...check })}` });
  });
}

// ---------------------------------------------------------------------------------------------- JFB and phantom

/** Gradients of ⟨c, z⟩ with respect to an additive injection v (f(z) + v at v = 0, so ∂f/∂v = I), per sample. */
function injectionGradients(problem: FixedPointProblem, rules: readonly GradientRule[], seed: number): { rows: Float64Array[][]; adjointError: number[] } {
  const z0 = startOf(problem);
  const v = detach(zerosLike(z0)).requireGrad();
  const c = randn(z0.shape, new Rng(seed), { dtype: z0.dtype });
  const g: ImplicitMap = (z, inj, ...xs) => add(problem.f(z, ...xs), inj!);
  let adjointError: number[] = [];
  const rows = rules.map((gradient) => tidy(() => {
    const { z, stats } = fixedPoint(g, [v, ...problem.inputs], { ...REFERENCE, z0, gradient });
    const [gv] = gradients(sum(mul(z, c)), [v]);
    if (stats.backward) adjointError = stats.backward.bestResidual.map((r) => (r * Math.sqrt(stats.dim)) / (1 - problem.lipschitz));
    return sampleRows(gv!);
  }));
  return { rows, adjointError };
}

export interface JfbCosineReport {
  ok: boolean;
  lipschitz: number;
  /** (1 − L)/(1 + L) */
  bound: number;
  /** cos∠(JFB, IFT) per sample. */
  cosines: number[];
  text: string;
}

/**
 * JFB's gradient is a descent direction with a guaranteed angle: with respect to an input injected additively
 * (∂f/∂v = I), the IFT gradient is u = (I − Jᵀ)⁻¹c and JFB's is c = u − Jᵀu, so ⟨c, u⟩ ≥ (1 − L)‖u‖² and ‖c‖ ≤ (1 + L)‖u‖
 * give cos∠(c, u) ≥ (1 − L)/(1 + L). Checked per sample with a zero injection added to the problem's f.
 */
export function checkJfbCosine(problem: FixedPointProblem, opts: { seed?: number } = {}): JfbCosineReport {
  const L = checkLipschitz(problem, 'checkJfbCosine');
  return tidy(() => {
    const { rows: [jfb, ift] } = injectionGradients(problem, ['jfb', IFT], opts.seed ?? 0);
    const cosines = jfb!.map((a, i) => dot(a, ift![i]!) / (l2(a) * l2(ift![i]!) || 1));
    const bound = (1 - L) / (1 + L);
    const bad = cosines.map((c, i) => [c, i] as const).filter(([c]) => !(c >= bound - 1e-9));
    const text = bad.length === 0
      ? `${labelOf(problem)}: cos∠(JFB, IFT) ≥ ${fmt(Math.min(...cosines))} ≥ (1 − L)/(1 + L) = ${fmt(bound)} for all ${cosines.length} samples`
      : `${labelOf(problem)}: cos∠(JFB, IFT) below (1 − L)/(1 + L) = ${fmt(bound)} (L = ${L}): ` +
        bad.slice(0, 8).map(([c, i]) => `sample ${i}: ${fmt(c)}`).join(', ') + ' — f is not an L-contraction or a gradient rule is wrong';
    return { ok: bad.length === 0, lipschitz: L, bound, cosines, text };
  });
}

/** {@link checkJfbCosine}, throwing an OracleError with the report. */
export function assertJfbCosine(problem: FixedPointProblem, opts: { seed?: number } = {}): JfbCosineReport {
  return fail('assertJfbCosine', checkJfbCosine(problem, opts));
}

export interface PhantomOptions {
  /** Phantom steps k to check (default [1, 2, 4, 8, 16, 32]). */
  ks?: readonly number[];
  /** Phantom damping λ (default 1). */
  damping?: number;
  seed?: number;
}

export interface PhantomReport {
  ok: boolean;
  /** ‖A‖₂ ≤ 1 − λ + λL for A = (1 − λ)I + λJ. */
  rate: number;
  /** Per k: the largest relative error ‖g_k − g_IFT‖/‖g_IFT‖ over samples, and its bound rateᵏ. */
  rows: { k: number; relError: number; bound: number }[];
  text: string;
}

/**
 * Phantom gradients converge to the IFT gradient geometrically in k: with respect to an additive injection the
 * phantom gradient is λΣ_{i<k}(Aᵀ)ⁱc and IFT's is λΣ_i(Aᵀ)ⁱc, so ‖g_k − g_IFT‖ ≤ qᵏ‖g_IFT‖ with q = 1 − λ + λL (plus the
 * adjoint solve's own error bound). Checked per sample for each k.
 */
export function checkPhantomConvergence(problem: FixedPointProblem, opts: PhantomOptions = {}): PhantomReport {
  const L = checkLipschitz(problem, 'checkPhantomConvergence');
  const ks = opts.ks ?? [1, 2, 4, 8, 16, 32];
  const damping = opts.damping ?? 1;
  const q = 1 - damping + damping * L;
  return tidy(() => {
    const { rows: [ift, ...phantoms], adjointError } = injectionGradients(
      problem, [IFT, ...ks.map((k): GradientRule => ({ mode: 'phantom', k, damping }))], opts.seed ?? 0);
    let ok = true;
    const rows = ks.map((k, j) => {
      let relError = 0;
      phantoms[j]!.forEach((g, i) => {
        const norm = l2(ift![i]!), err = l2(g, ift![i]!);
        if (!(err <= q ** k * norm * (1 + REL) + (1 + q ** k) * (adjointError[i] ?? 0) + 1e-12)) ok = false;
        relError = Math.max(relError, err / (norm || 1));
      });
      return { k, relError, bound: q ** k };
    });
    const table = rows.map((r) => `  k ${String(r.k).padStart(3)}: ‖g_k − g_IFT‖/‖g_IFT‖ ${fmt(r.relError)} (bound ${fmt(r.bound)})`).join('\n');
    const text = `${labelOf(problem)}: phantom gradients (λ = ${damping}) ${ok ? 'converge to IFT within' : 'BREAK'} the bound qᵏ, q = 1 − λ + λL = ${fmt(q)}:\n${table}`;
    return { ok, rate: q, rows, text };
  });
}

/** {@link checkPhantomConvergence}, throwing an OracleError with the report. */
export function assertPhantomConvergence(problem: FixedPointProblem, opts: PhantomOptions = {}): PhantomReport {
  return fail('assertPhantomConvergence', checkPhantomConvergence(problem, opts));
}

// ---------------------------------------------------------------------------------------------- batching

export interface BatchIndependenceOptions {
  /** The solve compared (default: fixedPoint's defaults with tol 1e-10, maxIter 500). */
  solve?: FixedPointOptions;
  /** Largest ‖z_batch,i − z_alone,i‖₂ accepted (default 1e-10). */
  atol?: number;
  /** Also require the same status and number of evaluations per sample (default true). */
  sameIterations?: boolean;
}

export interface BatchIndependenceReport {
  ok: boolean;
  rows: { sample: number; distance: number; batch: string; alone: string }[];
  text: string;
}

/**
 * Solving a batch must equal solving each sample alone: the same output (within atol), the same status and number of
 * evaluations, whatever the other samples do. Inputs marked in problem.batched are sliced per sample.
 */
export function checkBatchIndependence(problem: FixedPointProblem, opts: BatchIndependenceOptions = {}): BatchIndependenceReport {
  const atol = opts.atol ?? 1e-10, same = opts.sameIterations ?? true;
  const solve = { tol: 1e-10, maxIter: 500, ...opts.solve };
  const batched = problem.batched ?? problem.inputs.map((_, i) => i === 0);
  return tidy(() => noGrad(() => {
    const z0 = startOf(problem);
    const whole = fixedPoint(problem.f, problem.inputs, { ...solve, z0 });
    const zs = sampleRows(whole.z);
    const rows = zs.map((zi, i) => tidy(() => {
      const one = (t: Tensor) => slice(t, [[i, i + 1]]);
      const alone = fixedPoint(problem.f, problem.inputs.map((t, j) => (batched[j] ? one(t) : t)), { ...solve, z0: one(z0) });
      const at = (s: typeof alone.stats, j: number) => `${s.status[j]} after ${s.nFevals[j]} evaluations`;
      return { sample: i, distance: l2(zi, sampleRows(alone.z)[0]!), batch: at(whole.stats, i), alone: at(alone.stats, 0) };
    }));
    const bad = rows.filter((r) => !(r.distance <= atol) || (same && r.batch !== r.alone));
    const text = bad.length === 0
      ? `${labelOf(problem)}: all ${rows.length} samples solve the same in the batch as alone`
      : `${labelOf(problem)}: ${bad.length} of ${rows.length} samples depend on the rest of the batch:\n` +
        bad.slice(0, 8).map((r) => `  sample ${r.sample}: ‖z_batch − z_alone‖ ${fmt(r.distance)} (atol ${atol}); batch ${r.batch}, alone ${r.alone}`).join('\n');
    return { ok: bad.length === 0, rows, text };
  }));
}

/** {@link checkBatchIndependence}, throwing an OracleError with the report. */
export function assertBatchIndependence(problem: FixedPointProblem, opts: BatchIndependenceOptions = {}): BatchIndependenceReport {
  return fail('assertBatchIndependence', checkBatchIndependence(problem, opts));
}

// ---------------------------------------------------------------------------------------------- memory

export interface FlatMemoryOptions {
  /** Iteration counts passed to the step (default [2, 40]). */
  iterations?: readonly number[];
  /** Largest ratio of peak bytes, most iterations over fewest (default 1.05). */
  tolerance?: number;
}

export interface FlatMemoryReport {
  ok: boolean;
  rows: { iterations: number; peakBytes: number }[];
  ratio: number;
  text: string;
}

/**
 * The peak live bytes of `step(iterations)` (run inside tidy) must not grow with the iteration count: a JFB training
 * step keeps no tape of its untaped iterations. Needs a backend that tracks peak bytes (the cpu backend).
 */
export function checkFlatMemory(step: (iterations: number) => void, opts: FlatMemoryOptions = {}): FlatMemoryReport {
  const backend = getBackend();
  if (!backend.resetPeak || backend.poolStats?.().peakLiveBytes === undefined) {
    throw new ViarError('checkFlatMemory', `the '${backend.name}' backend does not track peak bytes; run this oracle on the cpu backend`);
  }
  const iterations = [...(opts.iterations ?? [2, 40])].sort((a, b) => a - b);
  const tolerance = opts.tolerance ?? 1.05;
  const rows = iterations.map((n) => {
    backend.resetPeak!();
    const base = backend.memory().numBytes;
    tidy(() => step(n));
    return { iterations: n, peakBytes: backend.poolStats!().peakLiveBytes! - base };
  });
  const ratio = rows.at(-1)!.peakBytes / Math.max(rows[0]!.peakBytes, 1);
  const ok = ratio <= tolerance;
  const table = rows.map((r) => `${r.iterations} iterations: ${r.peakBytes} bytes`).join(', ');
  return { ok, rows, ratio, text: `peak live bytes ${ok ? 'flat' : 'GROW'} across iteration counts (${table}; ratio ${fmt(ratio)}, tolerance ${tolerance})` };
}

/** {@link checkFlatMemory}, throwing an OracleError with the report. */
export function assertFlatMemory(step: (iterations: number) => void, opts: FlatMemoryOptions = {}): FlatMemoryReport {
  return fail('assertFlatMemory', checkFlatMemory(step, opts));
}

export interface LeakReport {
  ok: boolean;
  calls: number;
  /** Counter changes from before the measured calls to after them. */
  delta: MemoryReport;
  text: string;
}

/**
 * Runs `fn` `warmup` times (caches may fill), then `calls` times, and compares {@link memory}'s counters (tensors, data
 * buffers, bytes, gradient nodes) before and after: any growth is a leak, reported per call.
 */
export function checkNoLeak(fn: () => void, opts: { calls?: number; warmup?: number } = {}): LeakReport {
  const calls = opts.calls ?? 5;
  for (let i = 0; i < (opts.warmup ?? 1); i++) fn();
  const before = memory();
  for (let i = 0; i < calls; i++) fn();
  const after = memory();
  const delta = Object.fromEntries(Object.keys(before).map((k) => [k, after[k as keyof MemoryReport] - before[k as keyof MemoryReport]])) as unknown as MemoryReport;
  const grown = Object.entries(delta).filter(([, v]) => v > 0);
  const text = grown.length === 0
    ? `no leak over ${calls} calls (${JSON.stringify(after)})`
    : `leak over ${calls} calls: ${grown.map(([k, v]) => `${k} +${v} (${fmt(v / calls)} per call)`).join(', ')}`;
  return { ok: grown.length === 0, calls, delta, text };
}

/** {@link checkNoLeak}, throwing an OracleError with the report. */
export function assertNoLeak(fn: () => void, opts: { calls?: number; warmup?: number } = {}): LeakReport {
  return fail('assertNoLeak', checkNoLeak(fn, opts));
}
