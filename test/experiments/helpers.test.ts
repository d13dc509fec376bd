// The experiment scripts' pure helpers: schedule specs, token-iteration cost, spread statistics, training-log
// parsing, the results writer's number formatting, and the SVG chart kit's ticks and documents.

import { describe, expect, test } from 'vitest';
import {
  parseScheduleList, parseScheduleSpec, quantileSorted, scheduleLabel, scheduleShape, sig, spread, tokenIterations,
} from '../../experiments/lib/common.js';
import { fmt, fmtInt, fmtPct, fmtRatio, fmtSci, fmtSpread, mdTable } from '../../experiments/lib/format.js';
import { parseTrainingLog, seedFromPath } from '../../experiments/lib/training-log.js';
import { barChart, esc, lineChart, logTicks, niceTicks, panels } from '../../experiments/svg-plot.js';
import { iterationSchedule } from '../../src/index.js';

describe('schedule specs', () => {
  test('N, L/R and lists parse to what iterationSchedule takes, and print back', () => {
    expect(parseScheduleSpec('4')).toBe(4);
    expect(parseScheduleSpec(' 10/1 ')).toEqual({ left: 10, right: 1 });
    expect(parseScheduleSpec('10,8,6,4,2,1')).toEqual([10, 8, 6, 4, 2, 1]);
    expect(iterationSchedule(parseScheduleSpec('10/1'), 6)).toEqual([10, 9, 8, 7, 6, 5]);
    for (const s of ['0', '16', '10/10', '3/1', '1,2,3,4,5,6']) expect(scheduleLabel(parseScheduleSpec(s))).toBe(s);
    expect(parseScheduleList('0; 4;;10/1;1,2,4,6,8,10')).toEqual([0, 4, { left: 10, right: 1 }, [1, 2, 4, 6, 8, 10]]);
  });

  test('anything else is refused with the accepted forms named', () => {
    for (const bad of ['', '-1', '4.5', '10/', '1,,2', 'a', '1/2/3']) expect(() => parseScheduleSpec(bad)).toThrow(/bad schedule .*N, L\/R/);
  });

  test('shape and token-iteration cost of per-scale schedules', () => {
    expect(scheduleShape([4, 4, 4])).toBe('uniform');
    expect(scheduleShape([10, 9, 9, 1])).toBe('decreasing');
    expect(scheduleShape([1, 2, 2, 6])).toBe('increasing');
    expect(scheduleShape([1, 3, 2])).toBe('mixed');
    const patchNums = [1, 2, 3, 4, 6, 8]; // Σ p² = 130
    expect(tokenIterations([4, 4, 4, 4, 4, 4], patchNums)).toBe(520);
    expect(tokenIterations([10, 9, 8, 7, 6, 5], patchNums)).toBe(10 + 36 + 72 + 112 + 216 + 320);
    expect(() => tokenIterations([1, 2], patchNums)).toThrow(/2 entries, the model 6 scales/);
  });
});

describe('spread statistics', () => {
  test('mean, sample std, min/max and numpy-style quantiles', () => {
    const s = spread([3, 1, 4, 1, 5]);
    expect(s).toMatchObject({ n: 5, mean: 2.8, min: 1, max: 5, median: 3 });
    expect(s.std).toBeCloseTo(Math.sqrt((0.04 + 3.24 + 1.44 + 3.24 + 4.84) / 4), 12);
    expect(s.p10).toBeCloseTo(1, 12); // sorted [1, 1, 3, 4, 5]: position 0.4 → 1
    expect(s.p90).toBeCloseTo(4.6, 12); // position 3.6 → 4 + 0.6
    expect(quantileSorted([0, 10], 0.25)).toBe(2.5);
  });

  test('one value has std 0; none gives NaN', () => {
    expect(spread([7])).toMatchObject({ n: 1, mean: 7, std: 0, min: 7, max: 7, median: 7 });
    const e = spread([]);
    expect(e.n).toBe(0);
    expect([e.mean, e.std, e.min, e.median].every(Number.isNaN)).toBe(true);
  });

  test('sig keeps significant digits and passes 0 and non-finite values', () => {
    expect(sig(123.456789)).toBe(123.5);
    expect(sig(0.000123456, 2)).toBe(0.00012);
    expect(sig(0)).toBe(0);
    expect(sig(Infinity)).toBe(Infinity);
  });
});

describe('training logs', () => {
  const log = [
    'command: npm run viar -- train --model viar --data mnist --seed 1 --fit-minutes 30 --out checkpoints/matched/seed-1',
    'fit: 1.77 s per step → 980 steps for 30 min of training',
    'step 25/980: loss 4.3193, acc 39.10%, lr 2.88e-3, grad 3.73, 1351 tok/s, 1.54 s/step (39 s)',
    'step 250: val loss 2.3951, val acc 46.34% (256 test images), samples out/viar-mnist/step-000250.png (223 ms per image)',
    'stopped at step 400/980 (time budget of 12 min); saved a and b; continue with --resume (700 s this run)',
    'command: npm run viar -- train --model viar --data mnist --seed 1 --fit-minutes 30 --out checkpoints/matched/seed-1 --resume',
    'resumed from checkpoints/matched/seed-1/viar-mnist.train-state.safetensors at step 400',
    'step 975/980: loss 1.7719, acc 53.29%, lr 3.00e-4, grad 0.70, 1710 tok/s, 1.22 s/step (3695 s)',
    'step 980: val loss 1.7136, val acc 54.47% (256 test images), samples out/viar-mnist/step-000980.png (135 ms per image)',
    'done: 980 steps; wrote x and y (1100 s this run)',
  ].join('\n');

  test('runs, summed wall time, steps, fitted step time and the last validation figures', () => {
    expect(parseTrainingLog(log)).toEqual({ runs: 2, seconds: 1800, steps: 980, fitSecondsPerStep: 1.77, valLoss: 1.7136, valAccuracy: 0.5447, trainLoss: 1.7719 });
  });

  test('an empty or unfinished log gives nulls', () => {
    expect(parseTrainingLog('')).toEqual({ runs: 0, seconds: null, steps: null, fitSecondsPerStep: null, valLoss: null, valAccuracy: null, trainLoss: null });
    expect(parseTrainingLog(log.split('\n').slice(0, 3).join('\n'))).toMatchObject({ runs: 1, seconds: null, steps: null, trainLoss: 4.3193 });
  });

  test('seed folders', () => {
    expect(seedFromPath('checkpoints/matched/seed-2/viar-mnist.safetensors')).toBe(2);
    expect(seedFromPath('/tmp/x/seed_10/var.safetensors')).toBe(10);
    expect(seedFromPath('checkpoints/viar-mnist.safetensors')).toBeNull();
    expect(seedFromPath('checkpoints/seedling/v.safetensors')).toBeNull();
  });
});

describe('results formatting', () => {
  test('numbers, integers, percentages, ratios, scientific, spreads', () => {
    expect(fmt(86.3496)).toBe('86.3');
    expect(fmt(-0.04, 1)).toBe('0.0'); // no "−0.0"
    expect(fmt(-2.25, 1)).toBe('−2.3'); // toFixed rounds half away from zero here (binary 2.25 is exact)
    expect(fmt(null)).toBe('–');
    expect(fmt(NaN)).toBe('–');
    expect(fmtInt(1074950)).toBe('1,074,950');
    expect(fmtInt(-1234)).toBe('−1,234');
    expect(fmtPct(0.986)).toBe('98.6 %');
    expect(fmtRatio(22.93245972785554, 1)).toBe('22.9×');
    expect(fmtRatio(1, 3)).toBe('1.000×');
    expect(fmtSci(0.0447)).toBe('4.5e−2');
    expect(fmtSci(7.61e-7, 2)).toBe('7.61e−7');
    expect(fmtSci(3.21)).toBe('3.2e0');
    expect(fmtSpread({ mean: 12.34, min: 10.05, max: 14.2 })).toBe('12.3 (10.1–14.2)');
    expect(fmtSpread(null)).toBe('–');
  });

  test('markdown tables with alignment', () => {
    expect(mdTable(['a', 'b'], [['1', '2']], ['l', 'r'])).toBe('| a | b |\n| --- | ---: |\n| 1 | 2 |');
  });
});

describe('SVG charts', () => {
  test('tick helpers', () => {
    expect(niceTicks(0, 10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0.3, 1.1, 5)).toEqual([0.4, 0.6, 0.8, 1]);
    expect(logTicks(0.9, 60)).toEqual([1, 2, 5, 10, 20, 50]);
    expect(logTicks(1e-7, 10)).toEqual([1e-7, 1e-6, 1e-5, 1e-4, 0.001, 0.01, 0.1, 1, 10]); // many decades: powers of ten
    expect(esc('a<b & c>d')).toBe('a&lt;b &amp; c&gt;d');
  });

  test('line, bar and panel documents hold what they should', () => {
    const line = lineChart([
      { name: 'a & b', points: [[1, 1], [2, 4], [4, 2]], band: [[1, 0.5, 1.5], [2, 3, 5], [4, 1, 3]], labels: ['x', '', 'z'] },
      { name: 'scatter', noLine: true, points: [[3, 3]] },
    ], { title: 'T', xLabel: 'x', yLabel: 'y', logY: true, xTicks: 'auto', hLines: [{ y: 2, label: 'floor' }] });
    expect(line.match(/<circle /g)!.length).toBe(4 + 1); // 4 points + the scatter legend marker
    expect(line.match(/<polyline /g)!.length).toBe(1);
    expect(line.match(/<polygon /g)!.length).toBe(1);
    expect(line).toContain('a &amp; b');
    expect(line).toContain('>floor<');
    expect(line).not.toContain('NaN');
    const bars = barChart([{ name: 's', values: [1, NaN, 3], low: [NaN, NaN, 2], high: [NaN, NaN, 4] }], { title: 'B', yLabel: 'v', categories: ['one', 'two', 'mean, range'] });
    expect(bars.match(/<rect /g)!.length).toBe(1 + 2 + 1); // background + 2 bars + legend swatch
    expect(bars).toContain('>range<'); // the category label broke at ', '
    expect(bars).not.toContain('NaN');
    const both = panels([line, bars], 2);
    expect(both.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="1280" height="400">')).toBe(true);
    expect(both).toContain('<svg x="640" y="0" xmlns');
  });
});
