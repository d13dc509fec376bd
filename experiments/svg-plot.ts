// A minimal SVG chart kit for the experiment scripts: line/scatter charts (named series of (x, y) points, optional
// log axes, shaded spread bands, point labels), grouped bar charts with error bars, and panels side by side.
// Enough for figures in docs; not a plotting library.

export interface Series {
  name: string;
  points: [number, number][];
  dashed?: boolean;
  /** Draw the markers only (a scatter series). */
  noLine?: boolean;
  /** A shaded band (x, low, high) drawn under the line, e.g. the spread over samples. */
  band?: [number, number, number][];
  /** A text label next to each point (same order as points; empty strings are skipped). */
  labels?: string[];
  /** Fixed colour (default: from the palette by position). */
  color?: string;
}

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  /** log₁₀ y axis (ticks at 1, 2, 5 × 10ᵏ). */
  logY?: boolean;
  width?: number;
  height?: number;
  /** x ticks: 'data' (default: every distinct x of the points), 'auto' (about 6 round values) or the values given. */
  xTicks?: 'data' | 'auto' | number[];
  /** Lower end of a linear y axis (default 0; 'auto' = from the data). */
  yMin?: number | 'auto';
  /** Horizontal reference lines, e.g. a floor. */
  hLines?: { y: number; label: string }[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** Escapes text for SVG. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 × 10ᵏ). */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count - 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Tick values 1, 2, 5 × 10ᵏ (10ᵏ alone over more than 3 decades) within [lo, hi] (positive), for a log axis; the ends when fewer than 2 fall inside. */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  const mantissas = Math.log10(hi / lo) > 3 ? [1] : [1, 2, 5]; // only powers of ten over many decades
  for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
    for (const m of mantissas) {
      const t = m * 10 ** k;
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) out.push(Number(t.toPrecision(6)));
    }
  }
  return out.length >= 2 ? out : [lo, hi].map((t) => Number(t.toPrecision(3)));
}

const fmtTick = (t: number) => (Math.abs(t) >= 1e4 || (Math.abs(t) < 1e-3 && t !== 0) ? t.toExponential(0) : String(+t.toPrecision(3)));

/** Renders the series as an SVG document (string). */
export function lineChart(series: Series[], o: PlotOptions): string {
  const W = o.width ?? 640, H = o.height ?? 400, m = { l: 70, r: 160, t: 40, b: 50 };
  const fx = (x: number) => (o.logX ? Math.log2(x) : x);
  const fy = (y: number) => (o.logY ? Math.log10(y) : y);
  const allX = series.flatMap((s) => s.points.map(([x]) => x));
  const allY = [...series.flatMap((s) => [...s.points.map(([, y]) => y), ...(s.band ?? []).flatMap(([, lo, hi]) => [lo, hi])]), ...(o.hLines ?? []).map((h) => h.y)]
    .filter((y) => Number.isFinite(y) && (!o.logY || y > 0));
  const xs = allX.map(fx);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  if (o.xTicks === 'auto' || Array.isArray(o.xTicks)) [x0, x1] = [x0 - (x1 - x0) * 0.03, x1 + (x1 - x0) * 0.06]; // room for point labels
  let y0: number, y1: number;
  if (o.logY) {
    [y0, y1] = [Math.log10(Math.min(...allY)), Math.log10(Math.max(...allY))];
    const pad = (y1 - y0) * 0.04 || 0.5;
    [y0, y1] = [y0 - pad, y1 + pad];
  } else {
    const top = Math.max(...allY), bottom = Math.min(...allY);
    y0 = o.yMin === 'auto' ? bottom - (top - bottom) * 0.05 : o.yMin ?? 0;
    y1 = o.yMin === 'auto' ? top + (top - bottom) * 0.05 : top * 1.05;
    if (!(y1 > y0)) y1 = y0 + 1;
  }
  const px = (x: number) => m.l + ((fx(x) - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((fy(y) - y0) / (y1 - y0)) * (H - m.t - m.b);
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(o.title)}</text>`];
  // axes, ticks, grid
  out.push(`<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`, `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`);
  let xTicks: number[];
  if (Array.isArray(o.xTicks)) xTicks = o.xTicks;
  else if (o.xTicks === 'auto') xTicks = o.logX ? niceTicks(x0, x1).filter(Number.isInteger).map((e) => 2 ** e) : niceTicks(x0, x1);
  else xTicks = [...new Set(allX)].sort((a, b) => a - b);
  for (const x of xTicks) out.push(`<text x="${px(x)}" y="${H - m.b + 16}" text-anchor="middle">${fmtTick(x)}</text>`);
  const yTicks = o.logY ? logTicks(10 ** y0, 10 ** y1) : niceTicks(y0, y1).filter((y) => y >= y0 && y <= y1);
  for (const y of yTicks) {
    out.push(`<line x1="${m.l}" y1="${py(y)}" x2="${W - m.r}" y2="${py(y)}" stroke="#ddd"/>`, `<text x="${m.l - 6}" y="${py(y) + 4}" text-anchor="end">${fmtTick(y)}</text>`);
  }
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 12}" text-anchor="middle">${esc(o.xLabel)}</text>`,
    `<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  for (const h of o.hLines ?? []) {
    out.push(`<line x1="${m.l}" y1="${py(h.y)}" x2="${W - m.r}" y2="${py(h.y)}" stroke="#555" stroke-dasharray="2 3"/>`,
      `<text x="${W - m.r - 4}" y="${py(h.y) - 4}" text-anchor="end" fill="#555">${esc(h.label)}</text>`);
  }
  series.forEach((s, i) => {
    const c = s.color ?? COLORS[i % COLORS.length]!;
    if (s.band?.length) {
      const upper = s.band.map(([x, , hi]) => `${px(x)},${py(hi)}`), lower = [...s.band].reverse().map(([x, lo]) => `${px(x)},${py(lo)}`);
      out.push(`<polygon fill="${c}" fill-opacity="0.15" stroke="none" points="${[...upper, ...lower].join(' ')}"/>`);
    }
    if (!s.noLine) out.push(`<polyline fill="none" stroke="${c}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${s.points.map(([x, y]) => `${px(x)},${py(y)}`).join(' ')}"/>`);
    s.points.forEach(([x, y], k) => {
      out.push(`<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${c}"/>`);
      const label = s.labels?.[k];
      if (label) out.push(`<text x="${px(x) + 5}" y="${py(y) - 5}" font-size="10" fill="${c}">${esc(label)}</text>`);
    });
    out.push(s.noLine ? `<circle cx="${W - m.r + 24}" cy="${m.t + 10 + 18 * i}" r="4" fill="${c}"/>`
      : `<line x1="${W - m.r + 12}" y1="${m.t + 10 + 18 * i}" x2="${W - m.r + 36}" y2="${m.t + 10 + 18 * i}" stroke="${c}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    `<text x="${W - m.r + 42}" y="${m.t + 14 + 18 * i}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export interface BarSeries {
  name: string;
  /** One value per category (NaN = no bar). */
  values: number[];
  /** Optional error bars: low and high per category. */
  low?: number[];
  high?: number[];
}

export interface BarOptions {
  title: string;
  yLabel: string;
  categories: string[];
  width?: number;
  height?: number;
  /** Horizontal reference lines. */
  hLines?: { y: number; label: string }[];
}

/** A grouped bar chart: one group per category (labels break into lines at ', '), one bar per series, optional low–high error bars. */
export function barChart(series: BarSeries[], o: BarOptions): string {
  const W = o.width ?? 640, H = o.height ?? 400, m = { l: 70, r: 160, t: 40, b: 60 };
  const all = [...series.flatMap((s) => [...s.values, ...(s.high ?? [])]), ...(o.hLines ?? []).map((h) => h.y)].filter(Number.isFinite);
  const yMax = (Math.max(0, ...all) || 1) * 1.08;
  const py = (y: number) => H - m.b - (y / yMax) * (H - m.t - m.b);
  const groupW = (W - m.l - m.r) / Math.max(1, o.categories.length), barW = (groupW * 0.8) / Math.max(1, series.length);
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(o.title)}</text>`];
  for (const y of niceTicks(0, yMax)) {
    if (y > yMax) continue;
    out.push(`<line x1="${m.l}" y1="${py(y)}" x2="${W - m.r}" y2="${py(y)}" stroke="#ddd"/>`, `<text x="${m.l - 6}" y="${py(y) + 4}" text-anchor="end">${fmtTick(y)}</text>`);
  }
  out.push(`<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`, `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`,
    `<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  // category labels: one line per ', '-separated part
  o.categories.forEach((cat, g) => cat.split(', ').forEach((part, k) =>
    out.push(`<text x="${m.l + groupW * (g + 0.5)}" y="${H - m.b + 16 + 14 * k}" text-anchor="middle">${esc(part)}</text>`)));
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]!;
    s.values.forEach((v, g) => {
      if (!Number.isFinite(v)) return;
      const x = m.l + groupW * g + groupW * 0.1 + barW * i;
      out.push(`<rect x="${x}" y="${py(Math.max(v, 0))}" width="${barW * 0.92}" height="${Math.abs(py(0) - py(v))}" fill="${c}"/>`);
      const lo = s.low?.[g], hi = s.high?.[g];
      if (lo !== undefined && hi !== undefined && Number.isFinite(lo) && Number.isFinite(hi)) {
        const cx = x + barW * 0.46;
        out.push(`<line x1="${cx}" y1="${py(lo)}" x2="${cx}" y2="${py(hi)}" stroke="black"/>`,
          `<line x1="${cx - 4}" y1="${py(lo)}" x2="${cx + 4}" y2="${py(lo)}" stroke="black"/>`, `<line x1="${cx - 4}" y1="${py(hi)}" x2="${cx + 4}" y2="${py(hi)}" stroke="black"/>`);
      }
    });
    out.push(`<rect x="${W - m.r + 12}" y="${m.t + 4 + 18 * i}" width="24" height="12" fill="${c}"/>`, `<text x="${W - m.r + 42}" y="${m.t + 14 + 18 * i}">${esc(s.name)}</text>`);
  });
  for (const h of o.hLines ?? []) {
    out.push(`<line x1="${m.l}" y1="${py(h.y)}" x2="${W - m.r}" y2="${py(h.y)}" stroke="#555" stroke-dasharray="2 3"/>`,
      `<text x="${W - m.r - 4}" y="${py(h.y) - 4}" text-anchor="end" fill="#555">${esc(h.label)}</text>`);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Places complete SVG documents (from lineChart / barChart) side by side, `cols` per row, as one document. */
export function panels(svgs: string[], cols = svgs.length): string {
  const sizes = svgs.map((s) => {
    const w = /width="([\d.]+)"/.exec(s), h = /height="([\d.]+)"/.exec(s);
    return [Number(w?.[1] ?? 640), Number(h?.[1] ?? 400)] as const;
  });
  const rows = Math.ceil(svgs.length / cols);
  const colW = Array.from({ length: cols }, (_, c) => Math.max(0, ...sizes.filter((_, i) => i % cols === c).map(([w]) => w)));
  const rowH = Array.from({ length: rows }, (_, r) => Math.max(0, ...sizes.filter((_, i) => Math.floor(i / cols) === r).map(([, h]) => h)));
  const W = colW.reduce((a, b) => a + b, 0), H = rowH.reduce((a, b) => a + b, 0);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">`];
  svgs.forEach((s, i) => {
    const c = i % cols, r = Math.floor(i / cols);
    const x = colW.slice(0, c).reduce((a, b) => a + b, 0), y = rowH.slice(0, r).reduce((a, b) => a + b, 0);
    out.push(s.trim().replace(/^<svg /, `<svg x="${x}" y="${y}" `));
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
