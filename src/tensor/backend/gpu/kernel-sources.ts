// The gpu backend's kernels as gpu.js kernel functions (JavaScript source that gpu.js compiles to WGSL, GLSL or runs
// on the CPU). Every kernel has a 1-D output of any length (one thread per output element); shapes, strides and
// op codes arrive as Float scalars (Integer where a kernel lists them), arrays are float32 buffers. No autograd here.

/** Views are handled up to this rank (lower ranks are padded with leading size-1 dims). */
export const MAX_RANK = 6;

/** Largest element count whose flat indices float32 index arithmetic represents exactly (2^24). */
export const MAX_ELEMENTS = 1 << 24;

export interface KernelSource {
  /** Array (device buffer) arguments, in order, before the scalars. */
  arrays: string[];
  /** Scalar arguments, in order: Float unless named in `integers`. */
  scalars: string[];
  /**
   * Scalars (a subset of `scalars`) declared Integer: they reach the shader as i32, so index arithmetic on them and on
   * loop counters stays integer in WGSL (the host passes whole numbers; below 2^31).
   */
  integers?: string[];
  body: string;
  /** Outputs per thread: 4 when the body returns an Array(4) of consecutive outputs (the output length is a multiple of 4). */
  lanes?: 4;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const names = (prefix: string) => range(MAX_RANK).map((k) => `${prefix}${k}`);

/**
 * Exact q = ⌊num/den⌋ and r = num − q·den for non-negative integers below 2^24 held in floats: WGSL's float division
 * may be off by 2.5 ulp, so the quotient is corrected twice.
 */
export function divmod(num: string, den: string, q: string, r: string): string {
  return `let ${q} = Math.floor(${num} / ${den});
  let ${r} = ${num} - ${q} * ${den};
  if (${r} < 0) { ${q} = ${q} - 1; ${r} = ${r} + ${den}; }
  if (${r} < 0) { ${q} = ${q} - 1; ${r} = ${r} + ${den}; }
  if (${r} >= ${den}) { ${q} = ${q} + 1; ${r} = ${r} - ${den}; }
  if (${r} >= ${den}) { ${q} = ${q} + 1; ${r} = ${r} - ${den}; }
`;
}

/** The thread's flat index as a float, decomposed into coordinates c0..c5 of dims d0..d5 (d5 innermost). */
export function coordinates(index = 'flat'): string {
  let s = `let rem6 = ${index};\n`;
  for (let k = MAX_RANK - 1; k >= 0; k--) {
    s += divmod(`rem${k + 1}`, `d${k}`, `rem${k}`, `c${k}`);
  }
  return s;
}

/** offset + Σ ck·stride_k for a view named `v` (scalars vo, vs0..vs5). */
export function viewIndex(v: string): string {
  return `${v}o + ${range(MAX_RANK).map((k) => `c${k} * ${v}s${k}`).join(' + ')}`;
}

/**
 * `q` = ⌊num/den⌋ as an i32 local, for integer expressions (Integer scalars, loop counters, this.thread.x) with
 * 0 ≤ num < 2^24 and den > 0: the float quotient, corrected until exact (WGSL's float division may be off by 2.5 ulp).
 * gpu.js declares a local i32 only when it starts from an integer literal and is incremented with `++` (the
 * correction's); one initialised from an expression would be an f32.
 */
export function intDivide(num: string, den: string, q: string): string {
  return `let ${q} = 0;
  ${q} = Math.floor((${num}) / (${den}));
  while ((${num}) - ${q} * (${den}) < 0) { ${q}--; }
  while ((${num}) - ${q} * (${den}) >= (${den})) { ${q}++; }
`;
}

/**
 * matmul4's step at inner index `k` (an integer expression): one value of a times four consecutive values of b's row
 * k, from the integer base offsets `pa`, `pb` (expressions, hoisted out of the loop by the shader compiler).
 */
function rowTimesFour(n: string, k: string, pa: string, pb: string): string {
  return `let av${n} = a[${pa} + (${k}) * aCol];
      acc0 += av${n} * b[${pb} + (${k}) * bRow];
      acc1 += av${n} * b[${pb} + (${k}) * bRow + 1];
      acc2 += av${n} * b[${pb} + (${k}) * bRow + 2];
      acc3 += av${n} * b[${pb} + (${k}) * bRow + 3];`;
}

/**
 * The loop of the four-output matmul kernels: accumulators acc0..acc3 over the summed batch entries r and the inner
 * index k (unrolled by four, then the remainder), `step(suffix, k)` adding k's products; returns the four sums.
 */
function fourOutputs(step: (suffix: string, k: string) => string): string {
  return `let acc0 = 0.0;
  let acc1 = 0.0;
  let acc2 = 0.0;
  let acc3 = 0.0;
  for (let r = 0; r < nRed; r++) {
    for (let t = 0; t < (kk >> 2); t++) {
      ${range(4).map((o) => step(`${o}`, `t * 4 + ${o}`)).join('\n      ')}
    }
    for (let kr = 0; kr < (kk & 3); kr++) {
      ${step('', 'kk - (kk & 3) + kr')}
    }
  }
  return [acc0, acc1, acc2, acc3];`;
}

/** The matmul kernels' scalars (all integers: sizes, offsets and strides in elements). */
const MATMUL_SCALARS = ['m', 'n', 'kk', 'nRed', 'ao', 'aBatch', 'aRed', 'aRow', 'aCol', 'bo', 'bBatch', 'bRed', 'bRow', 'bCol'];

// matmul4's thread → (batch bi, row i, column quad jq), with integer expressions only (n >> 2 is n / 4)
const NQ = '(n >> 2)';
const MQ = `(m * ${NQ})`;
const IJ = `(this.thread.x - bi * ${MQ})`;
const JQ = `(${IJ} - i * ${NQ})`;
const MATMUL4_PA = '(ao + bi * aBatch + r * aRed + i * aRow)';
const MATMUL4_PB = `(bo + bi * bBatch + r * bRed + ${JQ} * 4)`;

// matmulRows4's thread → (batch bi, row quad iq, column j)
const MQN = '((m >> 2) * n)';
const ROWS4_J = `(this.thread.x - bi * ${MQN} - iq * n)`;
const ROWS4_PA = '(ao + bi * aBatch + r * aRed + iq * 4 * aRow)';
const ROWS4_PB = `(bo + bi * bBatch + r * bRed + ${ROWS4_J} * bCol)`;

/** matmulRows4's step at inner index `k`: one value of b's column j times the values of a's four rows at k. */
function columnTimesFour(n: string, k: string): string {
  return `let bv${n} = b[${ROWS4_PB} + (${k}) * bRow];
      acc0 += a[${ROWS4_PA} + (${k}) * aCol] * bv${n};
      acc1 += a[${ROWS4_PA} + aRow + (${k}) * aCol] * bv${n};
      acc2 += a[${ROWS4_PA} + 2 * aRow + (${k}) * aCol] * bv${n};
      acc3 += a[${ROWS4_PA} + 3 * aRow + (${k}) * aCol] * bv${n};`;
}

export const flatIndex = 'let flat = this.thread.x + 0.5 - 0.5;\n';
const viewScalars = (v: string) => [`${v}o`, ...names(`${v}s`)];

/** Op codes shared by the host side and the kernels (unary ops and clamp). */
export const UNARY_CODES = {
  neg: 0, abs: 1, exp: 2, log: 3, sqrt: 4, rsqrt: 5, sin: 6, cos: 7, tanh: 8, sigmoid: 9, relu: 10, sign: 11, floor: 12,
  erf: 13, softplus: 14, step: 15, square: 16, reciprocal: 17, geluTanh: 18, geluTanhGrad: 19, clamp: 20, identity: 21,
  trunc: 22,
} as const;

export const BINARY_CODES = {
  add: 0, sub: 1, mul: 2, div: 3, pow: 4, maximum: 5, minimum: 6, eq: 7, ne: 8, lt: 9, le: 10, gt: 11, ge: 12,
} as const;

export const REDUCE_CODES = { sum: 0, max: 1, min: 2 } as const;

// tanh written out: some shader compilers' tanh returns NaN for large |x|.
const TANH = (x: string) => `(1 - 2 / (Math.exp(2 * ${x}) + 1))`;

const unaryExpression = `
  let y = 0.0;
  if (op < 0.5) { y = -v; }
  else if (op < 1.5) { y = Math.abs(v); }
  else if (op < 2.5) { y = Math.exp(v); }
  else if (op < 3.5) { y = Math.log(v); }
  else if (op < 4.5) { y = Math.sqrt(v); }
  else if (op < 5.5) { y = 1 / Math.sqrt(v); }
  else if (op < 6.5) { y = Math.sin(v); }
  else if (op < 7.5) { y = Math.cos(v); }
  else if (op < 8.5) { if (v > 15) { y = 1; } else if (v < -15) { y = -1; } else { y = ${TANH('v')}; } }
  else if (op < 9.5) { y = 1 / (1 + Math.exp(-v)); }
  else if (op < 10.5) { y = Math.max(v, 0); }
  else if (op < 11.5) { if (v > 0) { y = 1; } else if (v < 0) { y = -1; } else { y = v; } }
  else if (op < 12.5) { y = Math.floor(v); }
  else if (op < 13.5) {
    let ax = Math.abs(v);
    let t = 1 / (1 + 0.3275911 * ax);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let e = 1 - poly * Math.exp(-ax * ax);
    if (v < 0) { y = -e; } else { y = e; }
  }
  else if (op < 14.5) { if (v > 20) { y = v; } else { y = Math.log(1 + Math.exp(v)); } }
  else if (op < 15.5) { if (v > 0) { y = 1; } else { y = 0; } }
  else if (op < 16.5) { y = v * v; }
  else if (op < 17.5) { y = 1 / v; }
  else if (op < 18.5) {
    let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
    let th = 0.0;
    if (u > 15) { th = 1; } else if (u < -15) { th = -1; } else { th = ${TANH('u')}; }
    y = 0.5 * v * (1 + th);
  }
  else if (op < 19.5) {
    let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
    let th = 0.0;
    if (u > 15) { th = 1; } else if (u < -15) { th = -1; } else { th = ${TANH('u')}; }
    y = 0.5 * (1 + th) + 0.5 * v * (1 - th * th) * 0.7978845608028654 * (1 + 3 * 0.044715 * v * v);
  }
  else if (op < 20.5) { y = Math.min(Math.max(v, lo), hi); }
  else if (op < 21.5) { y = v; }
  else { if (v < 0) { y = Math.ceil(v); } else { y = Math.floor(v); } }
`;

const binaryExpression = `
  let y = 0.0;
  if (op < 0.5) { y = va + vb; }
  else if (op < 1.5) { y = va - vb; }
  else if (op < 2.5) { y = va * vb; }
  else if (op < 3.5) { y = va / vb; }
  else if (op < 4.5) {
    if (vb == 0) { y = 1; }
    else if (va < 0 && Math.floor(vb) == vb) {
      let m = Math.pow(-va, vb);
      let half = vb * 0.5;
      if (Math.floor(half) == half) { y = m; } else { y = -m; }
    } else { y = Math.pow(va, vb); }
  }
  else if (op < 5.5) { y = Math.max(va, vb); }
  else if (op < 6.5) { y = Math.min(va, vb); }
  else if (op < 7.5) { if (va == vb) { y = 1; } }
  else if (op < 8.5) { if (va != vb) { y = 1; } }
  else if (op < 9.5) { if (va < vb) { y = 1; } }
  else if (op < 10.5) { if (va <= vb) { y = 1; } }
  else if (op < 11.5) { if (va > vb) { y = 1; } }
  else { if (va >= vb) { y = 1; } }
`;

/** Integer outputs (int32 tensors are stored as exact floats) are truncated toward zero. */
const truncate = `if (toInt > 0.5) { if (y < 0) { y = Math.ceil(y); } else { y = Math.floor(y); } }\n`;

export const KERNELS = {
  /** y = op(x) on a strided view (clamp uses lo/hi); copy = identity. */
  unary: {
    arrays: ['x'], scalars: ['op', 'lo', 'hi', 'toInt', ...viewScalars('x'), ...names('d')],
    body: `${flatIndex}${coordinates()}let v = x[${viewIndex('x')}];\n${unaryExpression}${truncate}return y;`,
  },
  binary: {
    arrays: ['a', 'b'], scalars: ['op', 'toInt', ...viewScalars('a'), ...viewScalars('b'), ...names('d')],
    body: `${flatIndex}${coordinates()}let va = a[${viewIndex('a')}];\nlet vb = b[${viewIndex('b')}];\n${binaryExpression}${truncate}return y;`,
  },
  where: {
    arrays: ['w', 'a', 'b'], scalars: [...viewScalars('w'), ...viewScalars('a'), ...viewScalars('b'), ...names('d')],
    body: `${flatIndex}${coordinates()}if (w[${viewIndex('w')}] != 0) { return a[${viewIndex('a')}]; }\nreturn b[${viewIndex('b')}];`,
  },
  fill: {
    arrays: [], scalars: ['value'],
    body: 'return value;',
  },
  /** Rows of a contiguous [rows, n]: sum / max / min, starting from `init` (0, −∞ or +∞). */
  reduce: {
    arrays: ['x'], scalars: ['op', 'n', 'init'],
    body: `let base = this.thread.x * n;
  let acc = init;
  for (let k = 0; k < n; k++) {
    let v = x[base + k];
    if (op < 0.5) { acc += v; } else if (op < 1.5) { acc = Math.max(acc, v); } else { acc = Math.min(acc, v); }
  }
  return acc;`,
  },
  /**
   * Reduction over the rows of x viewed as [count, cols] (row stride rowStride, unit column stride, from xo): thread
   * part·cols + c reduces column c over rows part·chunk … part·chunk + chunk − 1, so neighbouring threads read
   * neighbouring values (a bias gradient's column sums without transposing x first). Output [parts, cols].
   */
  reduceColumns: {
    arrays: ['x'], scalars: ['op', 'cols', 'xo', 'rowStride', 'count', 'chunk', 'init'],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  ${divmod('flat', 'cols', 'part', 'c')}
  let start = part * chunk;
  let len = Math.min(chunk, count - start);
  let acc = init;
  for (let k = 0; k < len; k++) {
    let v = x[xo + (start + k) * rowStride + c];
    if (op < 0.5) { acc += v; } else if (op < 1.5) { acc = Math.max(acc, v); } else { acc = Math.min(acc, v); }
  }
  return acc;`,
  },
  /**
   * First stage of a split row reduction: part c of row r reduces x[r, c], x[r, c + parts], x[r, c + 2·parts], …
   * (interleaved, so neighbouring threads read neighbouring values); the second stage reduces each row's parts.
   */
  reducePartial: {
    arrays: ['x'], scalars: ['op', 'n', 'parts', 'init'],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  ${divmod('flat', 'parts', 'row', 'part')}
  let base = row * n + part;
  let count = Math.floor((n - part + parts - 1) / parts);
  let acc = init;
  for (let k = 0; k < count; k++) {
    let v = x[base + k * parts];
    if (op < 0.5) { acc += v; } else if (op < 1.5) { acc = Math.max(acc, v); } else { acc = Math.min(acc, v); }
  }
  return acc;`,
  },
  /**
   * Interleaved partial row statistics (as reducePartial): Σ x (op 0) or Σ (x − mean[row])² (op 1) over part c's
   * values of row r; rowFinish turns each row's parts into the mean or 1/√(var + eps).
   */
  rowPartial: {
    arrays: ['x', 'mean'], scalars: ['op', 'n', 'parts'],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  ${divmod('flat', 'parts', 'row', 'part')}
  let base = row * n + part;
  let count = Math.floor((n - part + parts - 1) / parts);
  let mu = 0.0;
  if (op > 0.5) { mu = mean[row]; }
  let acc = 0.0;
  for (let k = 0; k < count; k++) {
    let d = x[base + k * parts] - mu;
    if (op < 0.5) { acc += d; } else { acc += d * d; }
  }
  return acc;`,
  },
  /** Per row, from its `parts` partial sums: their sum · scale (op 0), or 1/√(sum/n + eps) (op 1). */
  rowFinish: {
    arrays: ['p'], scalars: ['op', 'parts', 'n', 'scale', 'eps'],
    body: `let base = this.thread.x * parts;
  let acc = 0.0;
  for (let k = 0; k < parts; k++) { acc += p[base + k]; }
  if (op < 0.5) { return acc * scale; }
  return 1 / Math.sqrt(acc / n + eps);`,
  },
  /** Index of the first max (op 0) or min (op 1) of each row. */
  argReduce: {
    arrays: ['x'], scalars: ['op', 'n'],
    body: `let base = this.thread.x * n;
  let best = x[base];
  let at = 0;
  for (let k = 1; k < n; k++) {
    let v = x[base + k];
    if (op < 0.5) { if (v > best) { best = v; at = k; } } else { if (v < best) { best = v; at = k; } }
  }
  return at;`,
  },
  /**
   * out[b, i, j] = Σ_r Σ_k a[b, r, i, k]·b[b, r, k, j] on strided operands; r runs over `nRed` summed batch entries
   * (batch-summed gradients), b over the kept batch. Integer scalars: the index arithmetic is i32 in WGSL.
   */
  matmul: {
    arrays: ['a', 'b'],
    scalars: MATMUL_SCALARS,
    integers: MATMUL_SCALARS,
    body: `${intDivide('this.thread.x', 'm * n', 'bi')}
  ${intDivide('this.thread.x - bi * (m * n)', 'n', 'i')}
  let acc = 0.0;
  for (let r = 0; r < nRed; r++) {
    for (let k = 0; k < kk; k++) {
      acc += a[ao + bi * aBatch + r * aRed + i * aRow + k * aCol] * b[bo + bi * bBatch + r * bRed + (this.thread.x - bi * (m * n) - i * n) * bCol + k * bRow];
    }
  }
  return acc;`,
  },
  /**
   * matmul with four consecutive outputs of a row per thread (n a multiple of 4, b's rows contiguous: bCol = 1): each
   * a value read serves four products, and a warp reads b in whole cache lines. Integer scalars and loop counters: the
   * inner loop is i32 index arithmetic, loads and FMAs (k unrolled by four, then the remainder).
   */
  matmul4: {
    arrays: ['a', 'b'],
    scalars: MATMUL_SCALARS,
    integers: MATMUL_SCALARS,
    lanes: 4,
    body: `${intDivide('this.thread.x', MQ, 'bi')}
  ${intDivide(IJ, NQ, 'i')}
  ${fourOutputs((n, k) => rowTimesFour(n, k, MATMUL4_PA, MATMUL4_PB))}`,
  },
  /**
   * matmul with four rows of one column per thread (m a multiple of 4, b's rows contiguous): neighbouring threads read
   * neighbouring values of b's row k (one cache line per warp and k) and all read the same four values of a, so a warp
   * loads 5 lines per 128 products where matmul4 loads 17. The four results are written side by side: the output is
   * [batch, m/4, n, 4], which the backend transposes to [batch, m, n].
   */
  matmulRows4: {
    arrays: ['a', 'b'],
    scalars: MATMUL_SCALARS,
    integers: MATMUL_SCALARS,
    lanes: 4,
    body: `${intDivide('this.thread.x', MQN, 'bi')}
  ${intDivide(`this.thread.x - bi * ${MQN}`, 'n', 'iq')}
  ${fourOutputs(columnTimesFour)}`,
  },
  /**
   * A buffer filled with `fillValue` holding x (contiguous, dims e0..e5 in the order of the view's strides, largest
   * first) at offset + Σ ik·sk: each output element decomposes (e − offset) greedily by the sorted strides. Negative
   * strides arrive flipped (positive, the offset moved to the other end, x read backwards from xo with xs < 0).
   */
  place: {
    arrays: ['x'], scalars: ['fillValue', 'o', 'xo', ...names('s'), ...names('e'), ...names('xs')],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  let rest = flat - o;
  if (rest < 0) { return fillValue; }
  let src = xo;
  ${range(MAX_RANK).map((k) => `if (s${k} > 0) {
    ${divmod('rest', `s${k}`, `q${k}`, `r${k}`)}
    if (q${k} >= e${k}) { return fillValue; }
    rest = r${k};
    src = src + q${k} * xs${k};
  }`).join('\n  ')}
  if (rest != 0) { return fillValue; }
  return x[src];`,
  },
  /** Rows of a [outer, aInner] and b [outer, bInner] side by side. */
  concat2: {
    arrays: ['a', 'b'], scalars: ['aInner', 'bInner'],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  let w = aInner + bInner;
  ${divmod('flat', 'w', 'row', 'col')}
  if (col < aInner) { return a[row * aInner + col]; }
  return b[row * bInner + col - aInner];`,
  },
  /** Inclusive running sum along the middle axis of a contiguous [outer, len, inner]. */
  cumsum: {
    arrays: ['x'], scalars: ['len', 'inner', 'reverse'],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  ${divmod('flat', 'inner', 'oj', 'ii')}
  ${divmod('oj', 'len', 'oo', 'j')}
  let base = oo * len * inner + ii;
  let acc = 0.0;
  if (reverse > 0.5) {
    for (let t = 0; t < len; t++) { if (t >= j) { acc += x[base + t * inner]; } }
  } else {
    for (let t = 0; t <= j; t++) { acc += x[base + t * inner]; }
  }
  return acc;`,
  },
  /** out[c] = x[c with c_axis ← index[c]]: coordinates by the index's dims d0..d5, x strides without the axis in w0..w5. */
  gather: {
    arrays: ['x', 'index'], scalars: [...names('d'), ...names('w'), 'axisStride'],
    body: `${flatIndex}${coordinates()}let at = index[flat];
  return x[${range(MAX_RANK).map((k) => `c${k} * w${k}`).join(' + ')} + at * axisStride];`,
  },
  /**
   * out[c] = x[c] + Σ_m [index[p(c, m)] = c_axis] src[q(c, m)], m along the index's axis: coordinates by x's dims
   * d0..d5; positions of the index (strides is0..5, axis stride isA) and src (ss0..5, ssA) with their axis entries
   * zeroed; e0..e5 the index's dims (beyond them nothing lands); sel0..sel5 one-hot on the axis.
   */
  scatterAdd: {
    arrays: ['x', 'index', 'src'],
    scalars: [...names('d'), ...names('is'), 'isA', ...names('ss'), 'ssA', ...names('e'), ...names('sel'), 'mLen'],
    body: `${flatIndex}${coordinates()}let acc = x[flat];
  let inside = 1;
  ${range(MAX_RANK).map((k) => `if (sel${k} < 0.5 && c${k} >= e${k}) { inside = 0; }`).join('\n  ')}
  if (inside > 0) {
    let ca = ${range(MAX_RANK).map((k) => `c${k} * sel${k}`).join(' + ')};
    let pi = ${range(MAX_RANK).map((k) => `c${k} * is${k}`).join(' + ')};
    let ps = ${range(MAX_RANK).map((k) => `c${k} * ss${k}`).join(' + ')};
    for (let m = 0; m < mLen; m++) {
      if (index[pi + m * isA] == ca) { acc += src[ps + m * ssA]; }
    }
  }
  return acc;`,
  },
  /** out [outer, nIndex, inner] = x [outer, axisLen, inner] taken at index [nIndex]. */
  indexSelect: {
    arrays: ['x', 'index'], scalars: ['axisLen', 'inner', 'nIndex'],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  ${divmod('flat', 'inner', 'oj', 'ii')}
  ${divmod('oj', 'nIndex', 'oo', 'j')}
  return x[(oo * axisLen + index[j]) * inner + ii];`,
  },
  /** out [outer, axisLen, inner] = x + Σ_m [index[m] = j] src[outer, m, inner]. */
  indexAdd: {
    arrays: ['x', 'index', 'src'], scalars: ['axisLen', 'inner', 'nIndex'],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  ${divmod('flat', 'inner', 'oj', 'ii')}
  ${divmod('oj', 'axisLen', 'oo', 'j')}
  let acc = x[flat];
  for (let m = 0; m < nIndex; m++) {
    if (index[m] == j) { acc += src[(oo * nIndex + m) * inner + ii]; }
  }
  return acc;`,
  },
  /** Rank of each entry in its row (0 = first in order; ties by position): largest first when `largest`. */
  topkRank: {
    arrays: ['x'], scalars: ['n', 'largest'],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  ${divmod('flat', 'n', 'row', 'j')}
  let base = row * n;
  let v = x[flat];
  let rank = 0;
  for (let t = 0; t < n; t++) {
    let u = x[base + t];
    if (largest > 0.5) {
      if (u > v || (u == v && t < j)) { rank += 1; }
    } else {
      if (u < v || (u == v && t < j)) { rank += 1; }
    }
  }
  return rank;`,
  },
  /** out[row, r] = the position whose rank is r. */
  topkPick: {
    arrays: ['ranks'], scalars: ['n', 'k'],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  ${divmod('flat', 'k', 'row', 'r')}
  let at = 0;
  for (let t = 0; t < n; t++) { if (ranks[row * n + t] == r) { at = t; } }
  return at;`,
  },
  /** Columns [N, C·kh·kw, Ho·Wo] of sliding windows of x [N, C, H, W]. */
  im2col: {
    arrays: ['x'],
    scalars: ['c', 'h', 'w', 'kh', 'kw', 'sh', 'sw', 'ph', 'pw', 'dh', 'dw', 'oh', 'ow', 'padValue'],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  let cols = oh * ow;
  let rowsPer = c * kh * kw;
  ${divmod('flat', 'cols', 'nr', 'col')}
  ${divmod('nr', 'rowsPer', 'img', 'row')}
  ${divmod('row', 'kw', 'cki', 'kj')}
  ${divmod('cki', 'kh', 'ch', 'ki')}
  ${divmod('col', 'ow', 'oy', 'ox')}
  let y = oy * sh - ph + ki * dh;
  let xx = ox * sw - pw + kj * dw;
  if (y < 0 || y >= h || xx < 0 || xx >= w) { return padValue; }
  return x[((img * c + ch) * h + y) * w + xx];`,
  },
  /** The adjoint of im2col: each pixel sums the columns that read it. */
  col2im: {
    arrays: ['cols'],
    scalars: ['c', 'h', 'w', 'kh', 'kw', 'sh', 'sw', 'ph', 'pw', 'dh', 'dw', 'oh', 'ow'],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  ${divmod('flat', 'w', 'r1', 'px')}
  ${divmod('r1', 'h', 'r2', 'py')}
  ${divmod('r2', 'c', 'img', 'ch')}
  let acc = 0.0;
  for (let ki = 0; ki < kh; ki++) {
    let ty = py + ph - ki * dh;
    if (ty >= 0) {
      ${divmod('ty', 'sh', 'oy', 'ry')}
      if (ry == 0 && oy < oh) {
        for (let kj = 0; kj < kw; kj++) {
          let tx = px + pw - kj * dw;
          if (tx >= 0) {
            ${divmod('tx', 'sw', 'ox', 'rx')}
            if (rx == 0 && ox < ow) {
              acc += cols[((img * c + ch) * kh * kw + ki * kw + kj) * oh * ow + oy * ow + ox];
            }
          }
        }
      }
    }
  }
  return acc;`,
  },
  /** Σ_k a[row, k]·b[row, k] · scale per row of contiguous [rows, n] (b = a's partner: softmax and norm VJPs, means). */
  rowDot: {
    arrays: ['a', 'b'], scalars: ['n', 'scale'],
    body: `let base = this.thread.x * n;
  let acc = 0.0;
  for (let k = 0; k < n; k++) { acc += a[base + k] * b[base + k]; }
  return acc * scale;`,
  },
  /** Σ_k exp(x[row, k] − mx[row]) per row. */
  rowSumExp: {
    arrays: ['x', 'mx'], scalars: ['n'],
    body: `let base = this.thread.x * n;
  let m = mx[this.thread.x];
  let acc = 0.0;
  for (let k = 0; k < n; k++) { acc += Math.exp(x[base + k] - m); }
  return acc;`,
  },
  /** exp(x − mx[row]) / s[row]. */
  softmax: {
    arrays: ['x', 'mx', 's'], scalars: ['n'],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  ${divmod('flat', 'n', 'row', 'col')}
  return Math.exp(x[flat] - mx[row]) / s[row];`,
  },
  /** y·(gy − dot[row]): the softmax VJP. */
  softmaxBackward: {
    arrays: ['y', 'gy', 'dot'], scalars: ['n'],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  ${divmod('flat', 'n', 'row', 'col')}
  return y[flat] * (gy[flat] - dot[row]);`,
  },
  /** Per row: sum of a[row, k] · scale (a mean with scale 1/n). */
  rowSum: {
    arrays: ['a'], scalars: ['n', 'scale'],
    body: `let base = this.thread.x * n;
  let acc = 0.0;
  for (let k = 0; k < n; k++) { acc += a[base + k]; }
  return acc * scale;`,
  },
  /** 1/√(var + eps) per row, var = mean((x − mean)²). */
  rowRstd: {
    arrays: ['x', 'mean'], scalars: ['n', 'eps'],
    body: `let base = this.thread.x * n;
  let mu = mean[this.thread.x];
  let acc = 0.0;
  for (let k = 0; k < n; k++) { let d = x[base + k] - mu; acc += d * d; }
  return 1 / Math.sqrt(acc / n + eps);`,
  },
  /** (x − mean[row])·rstd[row]. */
  normalize: {
    arrays: ['x', 'mean', 'rstd'], scalars: ['n'],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  ${divmod('flat', 'n', 'row', 'col')}
  return (x[flat] - mean[row]) * rstd[row];`,
  },
  /** rstd·(gy − m1 − xhat·m2) with m1 = mean(gy), m2 = mean(gy·xhat) per row. */
  normalizeBackward: {
    arrays: ['xhat', 'rstd', 'gy', 'm1', 'm2'], scalars: ['n'],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  ${divmod('flat', 'n', 'row', 'col')}
  return rstd[row] * (gy[flat] - m1[row] - xhat[flat] * m2[row]);`,
  },
  /** One draw per (row, sample) with replacement: the first index whose running weight exceeds u·total. */
  multinomial: {
    arrays: ['p', 'u'], scalars: ['n', 'numSamples'],
    body: `let flat = this.thread.x + 0.5 - 0.5;
  ${divmod('flat', 'numSamples', 'row', 's')}
  let base = row * n;
  let total = 0.0;
  for (let t = 0; t < n; t++) { total += p[base + t]; }
  let target = u[flat] * total;
  let acc = 0.0;
  let pick = -1;
  let done = 0;
  for (let k = 0; k < n; k++) {
    let wk = p[base + k];
    if (done < 0.5 && wk > 0) {
      acc += wk;
      pick = k;
      if (target < acc) { done = 1; }
    }
  }
  return pick;`,
  },
} satisfies Record<string, KernelSource>;

export type KernelName = keyof typeof KERNELS;

/** The kernel as the source text of a named JavaScript function, which gpu.js parses (runtime kernels pass their source). */
export function kernelFunctionSource(name: string, k: KernelSource = KERNELS[name as KernelName]): string {
  return `function ${name}Kernel(${[...k.arrays, ...k.scalars].join(', ')}) {\n  ${k.body}\n}`;
}
