// The budget-curve campaign's plan and summary (experiments/lib/budget-plan.ts): run order, folders, train settings,
// per-kind spreads over seeds, and the step-time figure read from `viar train` logs.

import { describe, expect, test } from 'vitest';
import { budgetPlan, medianStepMs, runDir, summarizeBudgets, trainSettings, type BudgetRunResult } from '../../experiments/lib/budget-plan.js';
import { TRANSFORMER_CONFIGS, VIAR_SMALL } from '../../src/index.js';

describe('budget plan', () => {
  test('cheapest budgets first, Fashion-MNIST before the largest budget, every seed and kind at each', () => {
    const plan = budgetPlan({ budgets: [1000, 250, 3000], seeds: [0, 1], kinds: ['var', 'viar'], fashionKinds: ['viar'], fashionSteps: 2000 });
    expect(plan.map((r) => `${r.data}:${r.kind}:${r.seed}:${r.steps}`)).toEqual([
      'mnist:var:0:250', 'mnist:viar:0:250', 'mnist:var:1:250', 'mnist:viar:1:250',
      'mnist:var:0:1000', 'mnist:viar:0:1000', 'mnist:var:1:1000', 'mnist:viar:1:1000',
      'fashion:viar:0:2000',
      'mnist:var:0:3000', 'mnist:viar:0:3000', 'mnist:var:1:3000', 'mnist:viar:1:3000',
    ]);
    expect(runDir('root', plan[0]!)).toMatch(/^root[/\\]mnist[/\\]var-seed0-steps250$/);
  });

  test('each kind trains with its own config; the official-ranges VIAR differs from the shipped one only in its iterations', () => {
    expect(trainSettings('var', 'small')).toEqual({ model: 'var', config: 'small' });
    expect(trainSettings('viar-official', 'micro')).toEqual({ model: 'viar', config: 'micro-official' });
    for (const base of ['small', 'micro']) expect(TRANSFORMER_CONFIGS[trainSettings('viar-official', base).config]).toBeDefined();
    const official = TRANSFORMER_CONFIGS['small-official']!.viar;
    expect(official.implicit.noGradIters).toEqual([0, 10]);
    expect(official.implicit.withGradIters).toEqual([1, 12]);
    expect(official.implicit.schedule).toEqual({ left: 10, right: 10 });
    expect({ ...official, implicit: null }).toEqual({ ...VIAR_SMALL, implicit: null });
  });
});

describe('budget summary', () => {
  const run = (kind: 'var' | 'viar', seed: number, steps: number, trained: number, fid: number | null): BudgetRunResult => ({
    data: 'mnist', kind, seed, steps, parameters: 1, trainedSteps: trained, trainSeconds: 60 * (seed + 1), msPerStep: 10, valLoss: 2 + seed,
    valAccuracy: 0.5, eval: fid === null ? null : { fidProxy: fid, floor: 8, agreement: 0.9, precision: 0.8, recall: 0.2, msPerImage: 5, samples: 100 },
  });

  test('spreads over the evaluated seeds; unfinished runs are left out, unevaluated ones count for time and loss only', () => {
    const points = summarizeBudgets([run('var', 0, 10, 10, 100), run('var', 1, 10, 10, 80), run('var', 2, 10, 10, null), run('viar', 0, 10, 5, 50)]);
    expect(points).toHaveLength(1);
    const p = points[0]!;
    expect(p.seeds).toEqual([0, 1]);
    expect(p.fidProxy).toEqual({ mean: 90, min: 80, max: 100, n: 2 });
    expect(p.trainMinutes).toEqual({ mean: 2, min: 1, max: 3, n: 3 });
    expect(p.valLoss!.n).toBe(3);
  });

  test('the median step time of a log, in ms, from "s/step" and "ms/step" lines alike', () => {
    const log = [
      'step 100/1000: loss 3.2, acc 42%, lr 2.98e-3, grad 1.67, 38487 tok/s, 54.0 ms/step (6 s)',
      'step 200/1000: loss 2.4, acc 46%, lr 2.84e-3, grad 0.39, 59769 tok/s, 34.8 ms/step (10 s)',
      'step 300/1000: loss 2.2, acc 47%, lr 2.57e-3, grad 0.46, 1000 tok/s, 1.25 s/step (14 s)',
      'step 300: val loss 2.0, val acc 50% (256 test images)',
    ].join('\n');
    expect(medianStepMs(log)).toBe(54);
    expect(medianStepMs('no steps here')).toBeNull();
  });
});
