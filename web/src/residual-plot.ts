// A small SVG line plot of the fixed-point residual per scale: x = implicit iteration, y = relative step on a log
// scale, one coloured line (and legend entry) per scale. Built from numbers only, with DOM calls (no markup strings).

const SVG_NS = 'http://www.w3.org/2000/svg';
/** One colour per scale (up to 10 scales; the shipped models have 6). */
export const SCALE_COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

function el(name: string, attrs: Record<string, string | number>, parent: Element, text?: string): SVGElement {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  parent.appendChild(node);
  return node;
}

/**
 * Redraws `svg` with residuals[s][t] (scale s, after iteration t + 1), labelling scale s with labels[s].
 * Non-positive or non-finite values are left out; scales without iterations appear in the legend as "no iterations".
 */
export function drawResidualPlot(svg: SVGSVGElement, residuals: readonly (readonly number[])[], labels: readonly string[]): void {
  svg.replaceChildren();
  const width = Number(svg.getAttribute('width')), height = Number(svg.getAttribute('height'));
  const left = 42, right = 78, top = 10, bottom = 26;
  const values = residuals.flat().filter((v) => v > 0 && Number.isFinite(v));
  const maxIter = Math.max(1, ...residuals.map((r) => r.length));
  if (values.length === 0) {
    // iterations whose residuals are all NaN ran on the gpu backend, which does not read residuals back
    const unmeasured = residuals.some((r) => r.length > 0 && r.every((v) => Number.isNaN(v)));
    el('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle' }, svg,
      unmeasured ? 'residuals not measured on the GPU (they would be readbacks)' : 'no implicit iterations yet');
    return;
  }
  const lo = Math.floor(Math.log10(Math.min(...values))), hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values))));
  const x = (t: number) => left + (maxIter === 1 ? (width - left - right) / 2 : ((t - 1) / (maxIter - 1)) * (width - left - right));
  const y = (v: number) => top + ((hi - Math.log10(v)) / (hi - lo)) * (height - top - bottom);
  // axes, decade grid lines and iteration ticks
  for (let d = lo; d <= hi; d++) {
    el('line', { x1: left, x2: width - right, y1: y(10 ** d), y2: y(10 ** d), stroke: '#e4e4e4' }, svg);
    el('text', { x: left - 4, y: y(10 ** d) + 3, 'text-anchor': 'end' }, svg, `1e${d}`);
  }
  const step = Math.max(1, Math.ceil(maxIter / 8));
  for (let t = 1; t <= maxIter; t += step) el('text', { x: x(t), y: height - bottom + 12, 'text-anchor': 'middle' }, svg, String(t));
  el('text', { x: (left + width - right) / 2, y: height - 3, 'text-anchor': 'middle' }, svg, 'implicit iteration');
  residuals.forEach((trace, s) => {
    const colour = SCALE_COLOURS[s % SCALE_COLOURS.length]!;
    const points = trace.map((v, t) => [t + 1, v] as const).filter(([, v]) => v > 0 && Number.isFinite(v));
    if (points.length > 1) el('polyline', { points: points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' '), fill: 'none', stroke: colour, 'stroke-width': 1.5 }, svg);
    for (const [t, v] of points) el('circle', { cx: x(t).toFixed(1), cy: y(v).toFixed(1), r: 2.2, fill: colour }, svg);
    const ly = top + 6 + s * 14;
    el('rect', { x: width - right + 8, y: ly - 6, width: 10, height: 3, fill: colour }, svg);
    el('text', { x: width - right + 22, y: ly }, svg, trace.length ? labels[s] ?? `scale ${s}` : `${labels[s] ?? s}: none`);
  });
}
