// Shared pieces of the experiment scripts: run facts for every JSON (command, date, threads, machine), schedule
// specs ("4", "10/1", "10,8,6,4,2,1"), spread statistics, the token-iteration cost of a schedule, progress bars.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname } from 'node:path';
import cliProgress from 'cli-progress';
import { describeCpuKernels, getNumThreads, type IterationSchedule } from '../../src/index.js';

/** Where the experiments write their JSON and SVG files. */
export const RESULTS_DIR = 'experiments/results';

/** What every result file records about how and where it was made. */
export interface RunInfo {
  command: string;
  date: string;
  threads: number;
  kernels: string;
  machine: { cpu: string; cores: number; memoryGiB: number; os: string; node: string };
}

/** The facts of this run: `script` is the file (experiments/x.ts), `argv` its arguments. */
export function runInfo(script: string, argv: readonly string[]): RunInfo {
  return {
    command: `npx tsx ${script}${argv.length ? ' ' + argv.join(' ') : ''}`, date: new Date().toISOString(),
    threads: getNumThreads(), kernels: describeCpuKernels(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), os: `${platform()} ${release()}`, node: process.version },
  };
}

/** Writes `value` as pretty JSON (folders made as needed). */
export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(value, null, 2) + '\n');
}

/** Writes a text file (folders made as needed). */
export function writeText(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/**
 * Parses one schedule spec: "N" (N iterations at every scale), "L/R" (the official floor-linspace from L to R, as
 * VIAR's {left, right}) or "a,b,…" (one count per scale). Throws on anything else.
 * @example parseScheduleSpec('10/1') // { left: 10, right: 1 }
 */
export function parseScheduleSpec(spec: string): IterationSchedule {
  const s = spec.trim();
  if (/^\d+$/.test(s)) return Number(s);
  const lr = /^(\d+)\/(\d+)$/.exec(s);
  if (lr) return { left: Number(lr[1]), right: Number(lr[2]) };
  if (/^\d+(,\d+)+$/.test(s)) return s.split(',').map(Number);
  throw new Error(`bad schedule '${spec}': expected N, L/R (official floor-linspace) or a,b,c,… (one count per scale)`);
}

/** Parses a ';'-separated list of schedule specs (empty entries skipped). */
export function parseScheduleList(list: string): IterationSchedule[] {
  return list.split(';').map((s) => s.trim()).filter((s) => s.length > 0).map(parseScheduleSpec);
}

/** The spec string of a schedule (inverse of parseScheduleSpec). */
export function scheduleLabel(schedule: IterationSchedule): string {
  if (typeof schedule === 'number') return String(schedule);
  if (Array.isArray(schedule)) return schedule.join(',');
  const { left, right } = schedule as { left: number; right: number };
  return `${left}/${right}`;
}

/** How a per-scale schedule varies over the scales. */
export function scheduleShape(perScale: readonly number[]): 'uniform' | 'decreasing' | 'increasing' | 'mixed' {
  const up = perScale.slice(1).every((n, i) => n >= perScale[i]!), down = perScale.slice(1).every((n, i) => n <= perScale[i]!);
  return up && down ? 'uniform' : down ? 'decreasing' : up ? 'increasing' : 'mixed';
}

/**
 * Implicit-block work of one image: Σₛ nₛ·pₛ² (iterations times the tokens of the scale): the cost the schedule
 * controls (VAR's blocks and VIAR's pre/post blocks cost Σₛ pₛ² each, whatever the schedule).
 */
export function tokenIterations(perScale: readonly number[], patchNums: readonly number[]): number {
  if (perScale.length !== patchNums.length) throw new Error(`schedule has ${perScale.length} entries, the model ${patchNums.length} scales`);
  return perScale.reduce((s, n, i) => s + n * patchNums[i]! ** 2, 0);
}

/** Mean, spread and quantiles of a sample of numbers. */
export interface Spread {
  n: number;
  mean: number;
  /** Sample standard deviation (÷ (n − 1); 0 for n = 1). */
  std: number;
  min: number;
  max: number;
  median: number;
  p10: number;
  p90: number;
}

/** Linear-interpolation quantile (numpy's default) of sorted values, q in [0, 1]. */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** {@link Spread} of `values`; NaN fields for an empty list. */
export function spread(values: readonly number[]): Spread {
  const n = values.length;
  const sorted = [...values].sort((a, b) => a - b);
  const mean = n ? values.reduce((s, v) => s + v, 0) / n : NaN;
  const std = n > 1 ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : n === 1 ? 0 : NaN;
  return {
    n, mean, std, min: n ? sorted[0]! : NaN, max: n ? sorted[n - 1]! : NaN,
    median: quantileSorted(sorted, 0.5), p10: quantileSorted(sorted, 0.1), p90: quantileSorted(sorted, 0.9),
  };
}

/** Rounds to `digits` significant digits (keeps JSON readable; NaN/∞ pass through). */
export function sig(x: number, digits = 4): number {
  return Number.isFinite(x) && x !== 0 ? Number(x.toPrecision(digits)) : x;
}

/** A progress bar that also prints (every 20 s) when stdout is not a terminal. */
export function progressBar(label: string, unit: string): cliProgress.SingleBar {
  return new cliProgress.SingleBar({
    format: `${label} |{bar}| {value}/{total} ${unit} | {what} | ETA {eta_formatted}`, noTTYOutput: true, notTTYSchedule: 20_000,
  }, cliProgress.Presets.shades_classic);
}

/** Parses a positive integer option, with a one-line error naming it. */
export function intArg(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value.trim()) || Number(value) < min) throw new Error(`--${name} must be an integer ≥ ${min}, got '${value}'`);
  return Number(value);
}
