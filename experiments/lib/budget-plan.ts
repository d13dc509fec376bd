// The plan of experiments/budget-curve.ts: which (data, kind, seed, steps) runs to train, in which order, where each
// lives, and the per-kind summary (mean and min–max over seeds) at every budget. Pure, so it is unit-tested.

import { join } from 'node:path';

/** A model of the comparison: VAR, VIAR with the shipped (reduced) iteration ranges, VIAR with the official ones. */
export type BudgetKind = 'var' | 'viar' | 'viar-official';

export const BUDGET_KINDS: readonly BudgetKind[] = ['var', 'viar', 'viar-official'];

/** The `viar train` model and config of a kind, for a base config name ('small' or 'micro'). */
export function trainSettings(kind: BudgetKind, baseConfig: string): { model: 'var' | 'viar'; config: string } {
  if (kind === 'var') return { model: 'var', config: baseConfig };
  if (kind === 'viar') return { model: 'viar', config: baseConfig };
  return { model: 'viar', config: `${baseConfig}-official` };
}

export interface BudgetRun {
  data: 'mnist' | 'fashion';
  kind: BudgetKind;
  seed: number;
  /** Training steps: the end of the run's own cosine schedule (every budget is a separate run). */
  steps: number;
}

/** The folder of a run under `root`: root/<data>/<kind>-seed<S>-steps<N>. */
export function runDir(root: string, run: BudgetRun): string {
  return join(root, run.data, `${run.kind}-seed${run.seed}-steps${run.steps}`);
}

/** A short name for logs: "viar-official mnist seed 1, 1000 steps". */
export function runLabel(run: BudgetRun): string {
  return `${run.kind} ${run.data} seed ${run.seed}, ${run.steps} steps`;
}

/**
 * Every run, cheapest budgets first so that a campaign cut short still has whole budget points: for each MNIST
 * budget (ascending) every seed and kind; the Fashion-MNIST runs (seed 0, `fashionSteps`) come before the largest
 * MNIST budget.
 */
export function budgetPlan(opts: { budgets: readonly number[]; seeds: readonly number[]; kinds: readonly BudgetKind[]; fashionKinds: readonly BudgetKind[]; fashionSteps: number }): BudgetRun[] {
  const budgets = [...new Set(opts.budgets)].sort((a, b) => a - b);
  const mnistAt = (steps: number): BudgetRun[] => opts.seeds.flatMap((seed) => opts.kinds.map((kind) => ({ data: 'mnist' as const, kind, seed, steps })));
  const fashion: BudgetRun[] = opts.fashionKinds.map((kind) => ({ data: 'fashion', kind, seed: 0, steps: opts.fashionSteps }));
  return [...budgets.slice(0, -1).flatMap(mnistAt), ...fashion, ...budgets.slice(-1).flatMap(mnistAt)];
}

/** What the campaign recorded of one run: training facts and, once evaluated, viar eval's figures. */
export interface BudgetRunResult extends BudgetRun {
  parameters: number | null;
  /** Steps trained so far (equal to `steps` when the run is complete). */
  trainedSteps: number;
  /** Wall seconds of training, summed over the campaign's calls (start-up, recording and saving included). */
  trainSeconds: number;
  /** Median milliseconds per training step over the run's logged windows. */
  msPerStep: number | null;
  valLoss: number | null;
  valAccuracy: number | null;
  eval: { fidProxy: number; floor: number; agreement: number; precision: number; recall: number; msPerImage: number; samples: number } | null;
}

export interface Spread { mean: number; min: number; max: number; n: number }

export function spreadOf(values: readonly number[]): Spread | null {
  if (!values.length) return null;
  return { mean: values.reduce((a, b) => a + b, 0) / values.length, min: Math.min(...values), max: Math.max(...values), n: values.length };
}

/** Per (data, kind, steps): the spread over seeds of the evaluated figures and of the training time. */
export interface BudgetPoint {
  data: string;
  kind: BudgetKind;
  steps: number;
  seeds: number[];
  trainMinutes: Spread | null;
  fidProxy: Spread | null;
  agreement: Spread | null;
  precision: Spread | null;
  recall: Spread | null;
  valLoss: Spread | null;
}

/** Groups evaluated runs by (data, kind, steps), in the order they first appear. */
export function summarizeBudgets(results: readonly BudgetRunResult[]): BudgetPoint[] {
  const groups = new Map<string, BudgetRunResult[]>();
  for (const r of results) {
    if (r.trainedSteps < r.steps) continue;
    const key = `${r.data}|${r.kind}|${r.steps}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((rs) => {
    const done = rs.filter((r) => r.eval);
    const of = (f: (r: BudgetRunResult) => number | null | undefined, from = done) => spreadOf(from.map(f).filter((v): v is number => typeof v === 'number' && Number.isFinite(v)));
    return {
      data: rs[0]!.data, kind: rs[0]!.kind, steps: rs[0]!.steps, seeds: done.map((r) => r.seed),
      trainMinutes: of((r) => r.trainSeconds / 60, rs), fidProxy: of((r) => r.eval?.fidProxy), agreement: of((r) => r.eval?.agreement),
      precision: of((r) => r.eval?.precision), recall: of((r) => r.eval?.recall), valLoss: of((r) => r.valLoss, rs),
    };
  });
}

/** The median of the "N ms/step"-style figures of a `viar train` log's step lines ("1.32 s/step" or "15.2 ms/step"). */
export function medianStepMs(logText: string): number | null {
  const values: number[] = [];
  for (const m of logText.matchAll(/^step \d+\/\d+: .*?(\d+(?:\.\d+)?) (ms|s)\/step/gm)) values.push(Number(m[1]) * (m[2] === 's' ? 1000 : 1));
  if (!values.length) return null;
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)]!;
}
