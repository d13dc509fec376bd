// Number and table formatting for docs/results.md (experiments/write-results.ts): every figure in the document goes
// through these, so a number always reads the same way; and the verdict a comparison of two seed ranges supports.

/** Fixed decimals; '–' for null, undefined or NaN. */
export function fmt(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  const s = x.toFixed(digits);
  return s.startsWith('-') && Number(s) !== 0 ? `−${s.slice(1)}` : s.replace(/^-/, '');
}

/** An integer with thousands separators: 1074950 → '1,074,950'. */
export function fmtInt(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  const s = Math.round(Math.abs(x)).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return x < 0 ? `−${s}` : s;
}

/** A fraction as a percentage: 0.986 → '98.6 %'. */
export function fmtPct(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || Number.isNaN(x) ? '–' : `${fmt(100 * x, digits)} %`;
}

/** A ratio: 22.93 → '22.9×' (digits decimals). */
export function fmtRatio(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined || Number.isNaN(x) ? '–' : `${fmt(x, digits)}×`;
}

/** Scientific with a mantissa of `digits` decimals: 0.0447 → '4.5e−2'. */
export function fmtSci(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (x === 0) return '0';
  const [m, e] = x.toExponential(digits).split('e');
  return `${m!.replace('-', '−')}e${e!.replace('+', '').replace('-', '−')}`;
}

/** Mean with its min–max range: '12.3 (10.1–14.2)'. */
export function fmtSpread(s: { mean: number; min: number; max: number } | null | undefined, digits = 1, f: (x: number, d: number) => string = fmt): string {
  if (!s) return '–';
  return `${f(s.mean, digits)} (${f(s.min, digits)}–${f(s.max, digits)})`;
}

/** A Markdown table; cells are used as given (escape '|' yourself). */
export function mdTable(headers: string[], rows: string[][], align?: ('l' | 'r' | 'c')[]): string {
  const sep = headers.map((_, i) => ({ l: '---', r: '---:', c: ':---:' })[align?.[i] ?? 'l']);
  return [headers, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** A figure's spread over seeds: mean, min, max and the number of seeds. */
export interface SeedRange { mean: number; min: number; max: number; n: number }

/**
 * Where a's seed range lies against b's: 'better' (every seed of a beats every seed of b), 'worse' (every seed of a
 * is behind every seed of b) or 'overlap'. Lower is better unless `lowerIsBetter` is false.
 */
export function rangeOrder(a: SeedRange, b: SeedRange, lowerIsBetter = true): 'better' | 'worse' | 'overlap' {
  const [lo, hi] = lowerIsBetter ? [a.max < b.min, a.min > b.max] : [a.min > b.max, a.max < b.min];
  return lo ? 'better' : hi ? 'worse' : 'overlap';
}

export type MatchDecision = 'holds' | 'holds partly' | 'does not hold' | 'inconclusive';

/**
 * The verdict on "a matches or beats b" from the seed ranges of a lower-is-better figure (e.g. FID-proxy):
 * inconclusive with fewer than `minSeeds` seeds on either side (default 2) or when `learned` is false (neither model
 * does the task yet); otherwise does not hold when a's range lies entirely above b's, holds when it lies entirely
 * below (beats) or overlaps with a mean no worse (matches within the seed spread), and holds partly when it overlaps
 * with a worse mean. `reason` says which.
 */
export function matchVerdict(a: SeedRange | null, b: SeedRange | null, opts: { minSeeds?: number; learned?: boolean } = {}): { decision: MatchDecision; reason: string } {
  const minSeeds = opts.minSeeds ?? 2;
  if (!a || !b || a.n < minSeeds || b.n < minSeeds) return { decision: 'inconclusive', reason: `fewer than ${minSeeds} seeds` };
  if (opts.learned === false) return { decision: 'inconclusive', reason: 'neither model draws its class yet' };
  const order = rangeOrder(a, b);
  if (order === 'worse') return { decision: 'does not hold', reason: 'worse on every seed' };
  if (order === 'better') return { decision: 'holds', reason: 'better on every seed' };
  return a.mean <= b.mean ? { decision: 'holds', reason: 'matches within the seed spread' } : { decision: 'holds partly', reason: 'worse on average, within the seed spread' };
}

/**
 * "a matches or beats b at a matched cost" (e.g. GPU time) from matchVerdict against b's two points that bracket a's
 * cost: `cheaper` (no more cost than a) and `dearer` (at least as much). Behind the cheaper point, the matched-steps
 * rule decides (does not hold, or holds partly when worse on average within the seed spread); as good as the dearer
 * point, holds; anything else (a point missing, or a between the two) is inconclusive.
 */
export function matchedCostVerdict(cheaper: MatchDecision | null, dearer: MatchDecision | null): MatchDecision {
  if (cheaper === 'does not hold' || cheaper === 'holds partly') return cheaper;
  return dearer === 'holds' ? 'holds' : 'inconclusive';
}

/** A paired difference's mean and standard error. */
export interface MeanSe { mean: number; se: number }

/**
 * The mean of k paired differences measured on independently trained model pairs (the same images and seeds each
 * time): its standard error if the pairs' errors were independent, √(Σ seᵢ²)/k, and the conservative one if they
 * were fully correlated (they share the images), Σ seᵢ/k. The truth lies between.
 */
export function poolPairs(diffs: MeanSe[]): { mean: number; se: number; seCorrelated: number; k: number } {
  const k = diffs.length;
  const mean = diffs.reduce((s, d) => s + d.mean, 0) / k;
  return { mean, se: Math.sqrt(diffs.reduce((s, d) => s + d.se * d.se, 0)) / k, seCorrelated: diffs.reduce((s, d) => s + d.se, 0) / k, k };
}
