// A minimal SVG line chart for the experiment scripts: named series of (x, y) points, optional log₂ x axis,
// axis labels and a legend. Enough for a figure in docs; not a plotting library.

export interface Series { name: string; points: [number, number][]; dashed?: boolean }
export interface PlotOptions { title: string; xLabel: string; yLabel: string; logX?: boolean; width?: number; height?: number }

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

/** Renders the series as an SVG document (string). */
export function lineChart(series: Series[], o: PlotOptions): string {
  const W = o.width ?? 640, H = o.height ?? 400, m = { l: 70, r: 160, t: 40, b: 50 };
  const fx = (x: number) => (o.logX ? Math.log2(x) : x);
  const xs = series.flatMap((s) => s.points.map(([x]) => fx(x))), ys = series.flatMap((s) => s.points.map(([, y]) => y));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [0, Math.max(...ys) * 1.05 || 1];
  const px = (x: number) => m.l + ((fx(x) - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${o.title}</text>`];
  // axes, ticks, grid
  out.push(`<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`, `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`);
  const xTicks = [...new Set(series.flatMap((s) => s.points.map(([x]) => x)))].sort((a, b) => a - b);
  for (const x of xTicks) out.push(`<text x="${px(x)}" y="${H - m.b + 16}" text-anchor="middle">${x}</text>`);
  for (let i = 0; i <= 5; i++) {
    const y = y0 + ((y1 - y0) * i) / 5;
    out.push(`<line x1="${m.l}" y1="${py(y)}" x2="${W - m.r}" y2="${py(y)}" stroke="#ddd"/>`, `<text x="${m.l - 6}" y="${py(y) + 4}" text-anchor="end">${+y.toPrecision(3)}</text>`);
  }
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 12}" text-anchor="middle">${o.xLabel}</text>`,
    `<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${o.yLabel}</text>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]!;
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${s.points.map(([x, y]) => `${px(x)},${py(y)}`).join(' ')}"/>`);
    for (const [x, y] of s.points) out.push(`<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${c}"/>`);
    out.push(`<line x1="${W - m.r + 12}" y1="${m.t + 10 + 18 * i}" x2="${W - m.r + 36}" y2="${m.t + 10 + 18 * i}" stroke="${c}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${W - m.r + 42}" y="${m.t + 14 + 18 * i}">${s.name}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
