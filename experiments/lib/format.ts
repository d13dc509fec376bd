// Number and table formatting for docs/results.md (experiments/write-results.ts): every figure in the document goes
// through these, so a number always reads the same way.

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
