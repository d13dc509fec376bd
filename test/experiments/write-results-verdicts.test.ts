// The verdicts of docs/results.md decided from seed ranges (experiments/lib/format.ts): where one range lies against
// another, and "A matches or beats B" as holds / holds partly / does not hold / inconclusive.

import { describe, expect, test } from 'vitest';
import { matchedCostVerdict, matchVerdict, poolPairs, rangeOrder, type SeedRange } from '../../experiments/lib/format.js';

const r = (min: number, max: number, n = 3, mean = (min + max) / 2): SeedRange => ({ mean, min, max, n });

describe('rangeOrder', () => {
  test('better, worse or overlapping, lower is better by default', () => {
    expect(rangeOrder(r(60, 70), r(71, 80))).toBe('better');
    expect(rangeOrder(r(90, 94), r(69, 82))).toBe('worse');
    expect(rangeOrder(r(70, 85), r(69, 82))).toBe('overlap');
    expect(rangeOrder(r(82, 90), r(69, 82))).toBe('overlap'); // touching ends overlap
  });

  test('higher is better when asked (e.g. agreement)', () => {
    expect(rangeOrder(r(0.9, 0.95), r(0.5, 0.6), false)).toBe('better');
    expect(rangeOrder(r(0.1, 0.2), r(0.5, 0.6), false)).toBe('worse');
  });
});

describe('matchVerdict', () => {
  test('a range entirely above (worse than) the reference: does not hold', () => {
    // the budget curve at 1,000 steps: VIAR-official over 2 seeds against VAR over 3
    expect(matchVerdict(r(90.9, 93.6, 2, 92.3), r(69.0, 81.9, 3, 73.9))).toEqual({ decision: 'does not hold', reason: 'worse on every seed' });
  });

  test('too few seeds or models that do not draw their class yet: inconclusive', () => {
    expect(matchVerdict(r(90, 94, 1), r(69, 82)).decision).toBe('inconclusive');
    expect(matchVerdict(null, r(69, 82)).decision).toBe('inconclusive');
    expect(matchVerdict(r(90, 94, 2), r(69, 82), { minSeeds: 3 })).toEqual({ decision: 'inconclusive', reason: 'fewer than 3 seeds' });
    // the 250-step models: ranges apart, but neither model draws its class
    expect(matchVerdict(r(211, 415), r(428, 437), { learned: false })).toEqual({ decision: 'inconclusive', reason: 'neither model draws its class yet' });
  });

  test('below the reference: holds; overlapping: holds when no worse on average, else holds partly', () => {
    expect(matchVerdict(r(50, 60), r(69, 82)).decision).toBe('holds');
    expect(matchVerdict(r(65, 80, 3, 72), r(69, 82, 3, 74))).toEqual({ decision: 'holds', reason: 'matches within the seed spread' });
    expect(matchVerdict(r(70, 85, 3, 80), r(69, 82, 3, 74))).toEqual({ decision: 'holds partly', reason: 'worse on average, within the seed spread' });
  });
});

describe('matchedCostVerdict', () => {
  test('behind the reference that cost no more: does not hold, or holds partly within the seed spread', () => {
    expect(matchedCostVerdict('does not hold', null)).toBe('does not hold');
    expect(matchedCostVerdict('does not hold', 'holds')).toBe('does not hold');
    // the 2,000-step VIAR-shipped runs against VAR at 1,000 steps (38 s vs 59 s of GPU): worse on average, ranges overlap
    expect(matchedCostVerdict('holds partly', 'does not hold')).toBe('holds partly');
  });

  test('as good as the reference that cost at least as much: holds; otherwise inconclusive', () => {
    expect(matchedCostVerdict('holds', 'holds')).toBe('holds');
    expect(matchedCostVerdict(null, 'holds')).toBe('holds');
    expect(matchedCostVerdict('holds', 'does not hold')).toBe('inconclusive'); // between the two points
    expect(matchedCostVerdict('inconclusive', null)).toBe('inconclusive');
    expect(matchedCostVerdict(null, 'holds partly')).toBe('inconclusive');
    expect(matchedCostVerdict(null, null)).toBe('inconclusive');
  });
});

describe('poolPairs', () => {
  test('the mean of the pairs, its standard error if independent and if fully correlated', () => {
    const pooled = poolPairs([{ mean: 0.003, se: 0.003 }, { mean: 0.009, se: 0.004 }]);
    expect(pooled.k).toBe(2);
    expect(pooled.mean).toBeCloseTo(0.006, 12);
    expect(pooled.se).toBeCloseTo(0.0025, 12); // √(0.003² + 0.004²) / 2
    expect(pooled.seCorrelated).toBeCloseTo(0.0035, 12); // (0.003 + 0.004) / 2
  });

  test('one pair is itself', () => {
    expect(poolPairs([{ mean: -0.2, se: 0.1 }])).toEqual({ mean: -0.2, se: 0.1, seCorrelated: 0.1, k: 1 });
  });
});
