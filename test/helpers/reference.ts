// Naive reference ops on plain arrays: the oracle the op table compares against. Written for clarity, not speed.

export interface Nd {
  shape: number[];
  data: number[];
}

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]!; }
  return s;
}

/** Multi-index of flat position `flat` in `shape`. */
export function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) { idx[i] = flat % shape[i]!; flat = Math.floor(flat / shape[i]!); }
  return idx;
}

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let f = 0;
  for (let i = 0; i < shape.length; i++) f = f * shape[i]! + idx[i]!;
  return f;
}

export function build(shape: number[], fn: (idx: number[]) => number): Nd {
  const data = new Array<number>(size(shape));
  for (let f = 0; f < data.length; f++) data[f] = fn(unravel(f, shape));
  return { shape, data };
}

export function at(a: Nd, idx: readonly number[]): number {
  return a.data[ravel(idx, a.shape)]!;
}

export function broadcastShape(...shapes: number[][]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  // a dim other than 1 wins (0 included: broadcasting against an empty dim gives an empty dim)
  return Array.from({ length: rank }, (_, i) => shapes.map((s) => s[s.length - rank + i] ?? 1).find((d) => d !== 1) ?? 1);
}

/** Reads `a` at an index of a broadcast shape. */
export function atBroadcast(a: Nd, idx: readonly number[]): number {
  const lead = idx.length - a.shape.length;
  return at(a, a.shape.map((d, i) => (d === 1 ? 0 : idx[lead + i]!)));
}

export function map(a: Nd, fn: (x: number) => number): Nd {
  return { shape: [...a.shape], data: a.data.map(fn) };
}

export function zip(fn: (...xs: number[]) => number, ...args: Nd[]): Nd {
  const shape = broadcastShape(...args.map((a) => a.shape));
  return build(shape, (idx) => fn(...args.map((a) => atBroadcast(a, idx))));
}

export function reduce(a: Nd, axes: number[] | undefined, keepdims: boolean, init: number, fn: (acc: number, x: number) => number): Nd {
  const ax = (axes ?? a.shape.map((_, i) => i)).map((x) => (x < 0 ? x + a.shape.length : x));
  const kept = a.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const acc = build(kept, () => init);
  for (let f = 0; f < size(a.shape); f++) {
    const idx = unravel(f, a.shape);
    const k = ravel(idx.map((v, i) => (ax.includes(i) ? 0 : v)), kept);
    acc.data[k] = fn(acc.data[k]!, a.data[f]!);
  }
  return keepdims ? acc : { shape: a.shape.filter((_, i) => !ax.includes(i)), data: acc.data };
}

export function argReduce(a: Nd, axis: number, better: (x: number, best: number) => boolean): Nd {
  const ax = axis < 0 ? axis + a.shape.length : axis;
  const outShape = a.shape.filter((_, i) => i !== ax);
  return build(outShape, (idx) => {
    let best = -1, bestVal = NaN;
    for (let j = 0; j < a.shape[ax]!; j++) {
      const full = [...idx.slice(0, ax), j, ...idx.slice(ax)];
      const v = at(a, full);
      if (best < 0 || better(v, bestVal)) { best = j; bestVal = v; }
    }
    return best;
  });
}

export function matmul(a: Nd, b: Nd): Nd {
  const A = a.shape.length === 1 ? { shape: [1, a.shape[0]!], data: a.data } : a;
  const B = b.shape.length === 1 ? { shape: [b.shape[0]!, 1], data: b.data } : b;
  const m = A.shape[A.shape.length - 2]!, k = A.shape[A.shape.length - 1]!, n = B.shape[B.shape.length - 1]!;
  const batch = broadcastShape(A.shape.slice(0, -2), B.shape.slice(0, -2));
  const out = build([...batch, m, n], (idx) => {
    const bi = idx.slice(0, -2);
    const i = idx[idx.length - 2]!, j = idx[idx.length - 1]!;
    let s = 0;
    for (let p = 0; p < k; p++) s += atBroadcast(A, [...bi, i, p]) * atBroadcast(B, [...bi, p, j]);
    return s;
  });
  let shape = out.shape;
  if (b.shape.length === 1) shape = shape.slice(0, -1);
  if (a.shape.length === 1) shape = [...shape.slice(0, shape.length - (b.shape.length === 1 ? 1 : 2)), ...shape.slice(shape.length - (b.shape.length === 1 ? 0 : 1))];
  return { shape, data: out.data };
}

export function permute(a: Nd, dims: number[]): Nd {
  return build(dims.map((d) => a.shape[d]!), (idx) => {
    const src = new Array<number>(dims.length);
    dims.forEach((d, i) => { src[d] = idx[i]!; });
    return at(a, src);
  });
}

export function reshape(a: Nd, shape: number[]): Nd {
  return { shape, data: [...a.data] };
}

export function expand(a: Nd, shape: number[]): Nd {
  return build(shape, (idx) => atBroadcast(a, idx));
}

/** Python slicing per dim: [start, stop, step] already resolved to (start, count, step). */
export function sliceResolved(a: Nd, starts: number[], counts: number[], steps: number[]): Nd {
  return build(counts, (idx) => at(a, idx.map((v, i) => starts[i]! + v * steps[i]!)));
}

export function pad(a: Nd, widths: [number, number][], value: number): Nd {
  const shape = a.shape.map((d, i) => d + (widths[i]?.[0] ?? 0) + (widths[i]?.[1] ?? 0));
  return build(shape, (idx) => {
    const src = idx.map((v, i) => v - (widths[i]?.[0] ?? 0));
    return src.every((v, i) => v >= 0 && v < a.shape[i]!) ? at(a, src) : value;
  });
}

export function concat(parts: Nd[], axis: number): Nd {
  const shape = [...parts[0]!.shape];
  shape[axis] = parts.reduce((s, p) => s + p.shape[axis]!, 0);
  return build(shape, (idx) => {
    let j = idx[axis]!;
    for (const p of parts) {
      if (j < p.shape[axis]!) return at(p, idx.map((v, i) => (i === axis ? j : v)));
      j -= p.shape[axis]!;
    }
    throw new Error('unreachable');
  });
}

export function gather(a: Nd, axis: number, index: Nd): Nd {
  return build(index.shape, (idx) => at(a, idx.map((v, i) => (i === axis ? at(index, idx) : v))));
}

export function scatterAdd(a: Nd, axis: number, index: Nd, src: Nd): Nd {
  const out = { shape: [...a.shape], data: [...a.data] };
  for (let f = 0; f < size(index.shape); f++) {
    const idx = unravel(f, index.shape);
    const target = idx.map((v, i) => (i === axis ? index.data[f]! : v));
    out.data[ravel(target, a.shape)]! += at(src, idx);
  }
  return out;
}

export function indexSelect(a: Nd, axis: number, index: number[]): Nd {
  const shape = [...a.shape];
  shape[axis] = index.length;
  return build(shape, (idx) => at(a, idx.map((v, i) => (i === axis ? index[v]! : v))));
}

export function indexAdd(a: Nd, axis: number, index: number[], src: Nd): Nd {
  const out = { shape: [...a.shape], data: [...a.data] };
  for (let f = 0; f < size(src.shape); f++) {
    const idx = unravel(f, src.shape);
    const target = idx.map((v, i) => (i === axis ? index[v]! : v));
    out.data[ravel(target, a.shape)]! += src.data[f]!;
  }
  return out;
}

export function cumsum(a: Nd, axis: number, reverse: boolean): Nd {
  return build([...a.shape], (idx) => {
    let s = 0;
    const n = a.shape[axis]!;
    for (let j = 0; j < n; j++) {
      if (reverse ? j >= idx[axis]! : j <= idx[axis]!) s += at(a, idx.map((v, i) => (i === axis ? j : v)));
    }
    return s;
  });
}

export function erf(x: number): number {
  // Simpson integration of 2/√π e^{-t²} on [0, x]: slow but independent of the implementation under test.
  const n = 2000;
  const h = x / n;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * Math.exp(-(i * h) * (i * h));
  return (s * h) / 3 * (2 / Math.sqrt(Math.PI));
}

// ---- nn ops (naive per-output loops) ----

export interface ConvParams { stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number }

export function conv2d(x: Nd, w: Nd, b: Nd | null, p: ConvParams): Nd {
  const [n, , h, wd] = x.shape as [number, number, number, number];
  const [o, cg, kh, kw] = w.shape as [number, number, number, number];
  const oh = Math.floor((h + 2 * p.padding[0] - p.dilation[0] * (kh - 1) - 1) / p.stride[0]) + 1;
  const ow = Math.floor((wd + 2 * p.padding[1] - p.dilation[1] * (kw - 1) - 1) / p.stride[1]) + 1;
  const og = o / p.groups;
  return build([n, o, oh, ow], ([bi, oc, y, xx]) => {
    const g = Math.floor(oc! / og);
    let s = b ? b.data[oc!]! : 0;
    for (let ci = 0; ci < cg; ci++) {
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const iy = y! * p.stride[0] - p.padding[0] + i * p.dilation[0];
          const ix = xx! * p.stride[1] - p.padding[1] + j * p.dilation[1];
          if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
          s += at(x, [bi!, g * cg + ci, iy, ix]) * at(w, [oc!, ci, i, j]);
        }
      }
    }
    return s;
  });
}

export function pool2d(x: Nd, k: [number, number], stride: [number, number], padding: [number, number], kind: 'max' | 'avg', countIncludePad = true): Nd {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const oh = Math.floor((h + 2 * padding[0] - k[0]) / stride[0]) + 1;
  const ow = Math.floor((w + 2 * padding[1] - k[1]) / stride[1]) + 1;
  return build([n, c, oh, ow], ([bi, ci, y, xx]) => {
    let best = -Infinity, s = 0, count = 0;
    for (let i = 0; i < k[0]; i++) {
      for (let j = 0; j < k[1]; j++) {
        const iy = y! * stride[0] - padding[0] + i, ix = xx! * stride[1] - padding[1] + j;
        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
        const v = at(x, [bi!, ci!, iy, ix]);
        best = Math.max(best, v);
        s += v;
        count++;
      }
    }
    return kind === 'max' ? best : s / (countIncludePad ? k[0] * k[1] : count);
  });
}

/** Independent per-pixel resampling (taps computed directly, not through matrices). */
export function resize(x: Nd, size: [number, number], mode: 'nearest' | 'bilinear' | 'bicubic' | 'area'): Nd {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const A = -0.75;
  const cubic = (d: number) => {
    const ad = Math.abs(d);
    if (ad <= 1) return ((A + 2) * ad - (A + 3)) * ad * ad + 1;
    if (ad < 2) return ((A * ad - 5 * A) * ad + 8 * A) * ad - 4 * A;
    return 0;
  };
  const taps = (o: number, inSize: number, outSize: number): [number, number][] => {
    const scale = inSize / outSize;
    switch (mode) {
      case 'nearest': return [[Math.min(Math.floor(o * scale), inSize - 1), 1]];
      case 'area': {
        const s = Math.floor((o * inSize) / outSize), e = Math.ceil(((o + 1) * inSize) / outSize);
        return Array.from({ length: e - s }, (_, k) => [s + k, 1 / (e - s)] as [number, number]);
      }
      case 'bilinear': {
        const src = Math.max((o + 0.5) * scale - 0.5, 0);
        const i0 = Math.floor(src), l = src - i0;
        return [[i0, 1 - l], [Math.min(i0 + 1, inSize - 1), l]];
      }
      case 'bicubic': {
        const src = (o + 0.5) * scale - 0.5;
        const i0 = Math.floor(src);
        return [-1, 0, 1, 2].map((d) => [Math.min(Math.max(i0 + d, 0), inSize - 1), cubic(src - (i0 + d))] as [number, number]);
      }
    }
  };
  return build([n, c, size[0], size[1]], ([bi, ci, y, xx]) => {
    let s = 0;
    for (const [iy, wy] of taps(y!, h, size[0])) for (const [ix, wx] of taps(xx!, w, size[1])) s += wy * wx * at(x, [bi!, ci!, iy, ix]);
    return s;
  });
}

export function layerNorm(x: Nd, k: number, weight: Nd | null, bias: Nd | null, eps: number): Nd {
  const inner = x.shape.slice(-k).reduce((a, b) => a * b, 1);
  const out = { shape: [...x.shape], data: [...x.data] };
  for (let r = 0; r < x.data.length / inner; r++) {
    const row = x.data.slice(r * inner, (r + 1) * inner);
    const mu = row.reduce((a, b) => a + b, 0) / inner;
    const v = row.reduce((a, b) => a + (b - mu) ** 2, 0) / inner;
    row.forEach((val, i) => {
      out.data[r * inner + i] = ((val - mu) / Math.sqrt(v + eps)) * (weight ? weight.data[i]! : 1) + (bias ? bias.data[i]! : 0);
    });
  }
  return out;
}

export function crossEntropy(logits: Nd, target: Nd, eps: number, ignore: number, reduction: 'mean' | 'sum'): Nd {
  const [n, c] = logits.shape as [number, number];
  let total = 0, count = 0;
  for (let i = 0; i < n; i++) {
    const t = target.data[i]!;
    if (t === ignore) continue;
    const row = logits.data.slice(i * c, (i + 1) * c);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, b) => a + Math.exp(b - m), 0));
    const logp = row.map((v) => v - lse);
    total += -(1 - eps) * logp[t]! - (eps * logp.reduce((a, b) => a + b, 0)) / c;
    count++;
  }
  return { shape: [], data: [reduction === 'mean' ? total / count : total] };
}
