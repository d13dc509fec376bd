// The WebAssembly SIMD elementwise interpreter and row kernels of the CPU backend against the TypeScript reference
// kernels (setCpuKernels('reference')): every op on values with NaN, ±0 and ±∞, chunk and vector boundaries,
// strided and broadcast operands, fused programs, softmax / row normalization / sums, and 1 vs 2 threads bitwise.

import { afterAll, describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import type { BinaryOp, DataId, TensorInfo, UnaryOp } from '../../src/tensor/backend/backend.js';
import { CpuBackend } from '../../src/tensor/backend/cpu/cpu-backend.js';
import { VECTOR_OPS } from '../../src/tensor/backend/cpu/wasm/elementwise-module.js';
import { wasmElementwiseStats } from '../../src/tensor/backend/cpu/wasm/wasm-elementwise.js';
import { trace, type FusedProgram } from '../../src/tensor/fusion/program.js';
import { stridesOf, type Shape } from '../../src/tensor/shape.js';
import { expectClose } from '../helpers/close.js';

afterAll(() => {
  V.setCpuKernels('fast');
  V.setNumThreads(2);
});

const backend = new CpuBackend();

/** Runs fn with the fast kernels, then with the reference ones, returning both outputs (copied). */
function both(fn: () => DataId, interpreted = false): [Float32Array, Float32Array] {
  const calls = wasmElementwiseStats.calls;
  const run = (k: V.CpuKernels) => {
    if (k === 'reference' && interpreted) expect(wasmElementwiseStats.calls, 'the interpreter ran').toBe(calls + 1);
    V.setCpuKernels(k);
    try {
      return Float32Array.from(backend.readSync(fn()) as Float32Array);
    } finally {
      V.setCpuKernels('fast');
    }
  };
  return [run('fast'), run('reference')];
}

/** A float32 tensor of `shape` (in the heap, or a plain array), optionally viewed through `strides`/`offset`. */
function info(values: Float32Array, shape: Shape, opts: { strides?: number[]; offset?: number; heap?: boolean } = {}): TensorInfo {
  let data = values;
  if (opts.heap !== false) {
    const id = backend.fill(values.length, 0, 'float32');
    data = backend.readSync(id) as Float32Array;
    data.set(values);
    return { dataId: id, shape, strides: opts.strides ?? stridesOf(shape), offset: opts.offset ?? 0, dtype: 'float32' };
  }
  // written while the reference kernels are on, the array stays outside the heap (the fast kernels stage it)
  V.setCpuKernels('reference');
  const dataId = backend.write(data);
  V.setCpuKernels('fast');
  return { dataId, shape, strides: opts.strides ?? stridesOf(shape), offset: opts.offset ?? 0, dtype: 'float32' };
}

const SPECIAL = [NaN, 0, -0, Infinity, -Infinity, 1, -1, 2, 0.5, 1e-30, -1e-30, 3e38, -3e38, 88.7, -88.7, 100, -100, 1e-7];

function values(n: number, seed: number, scale = 3): Float32Array {
  const rng = new V.Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = i < SPECIAL.length && seed % 2 === 0 ? SPECIAL[i]! : (rng.uniform() * 2 - 1) * scale;
  return out;
}

function expectBitwise(a: Float32Array, b: Float32Array, what: string): void {
  expect(a.length, what).toBe(b.length);
  const ai = new Int32Array(a.buffer, a.byteOffset, a.length), bi = new Int32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) {
    if (ai[i] !== bi[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) expect.fail(`${what}[${i}]: got ${a[i]}, expected ${b[i]}`);
  }
}

/** Ops computed differently (a float32 polynomial exp): close to the reference, not bitwise. */
const TOL = { atol: 1e-6, rtol: 2e-6 };
const TOL_WIDE = { atol: 1e-6, rtol: 2e-5 }; // exp of a float32-rounded polynomial argument (GELU)

function compare(fast: Float32Array, ref: Float32Array, exact: boolean, what: string, wide = false): void {
  if (exact) expectBitwise(fast, ref, what);
  else expectClose(fast, ref, wide ? TOL_WIDE : TOL, what);
}

const UNARY = Object.entries(VECTOR_OPS).filter(([, o]) => o.arity === 1).map(([n]) => n as UnaryOp);
const BINARY = Object.entries(VECTOR_OPS).filter(([, o]) => o.arity === 2).map(([n]) => n as BinaryOp);

describe('elementwise interpreter vs the reference kernels', () => {
  // lengths straddling a vector (4) and a chunk (256)
  const lengths = [1, 3, 4, 5, 255, 256, 257, 1031];

  test.each(UNARY)('unary %s', (op) => {
    for (const n of lengths) {
      for (const seed of [2, 3]) {
        const x = info(values(n, seed, op === 'exp' ? 90 : 6), [n], { heap: seed === 2 });
        const [fast, ref] = both(() => backend.unary(op, x), true);
        compare(fast, ref, VECTOR_OPS[op as keyof typeof VECTOR_OPS].exact, `${op} n=${n}`, op.startsWith('gelu'));
      }
    }
  });

  test.each(BINARY)('binary %s, broadcast and strided', (op) => {
    const a = info(values(5 * 3 * 7, 2), [5, 3, 7]);
    const b = info(values(3 * 7, 4), [3, 7]);
    const shapes: [TensorInfo, TensorInfo, Shape][] = [
      [a, a, [5, 3, 7]],
      [a, { ...b, shape: [5, 3, 7], strides: [0, 7, 1] }, [5, 3, 7]], // b broadcast over the leading dim
      [{ ...a, shape: [5, 7, 3], strides: [21, 1, 7] }, { ...b, shape: [5, 7, 3], strides: [0, 1, 7] }, [5, 7, 3]], // transposed views
      [{ ...a, shape: [5, 3, 7], strides: [21, 7, 0], offset: 1 }, a, [5, 3, 7]], // a broadcast along the row, offset
    ];
    for (const [x, y, shape] of shapes) {
      const [fast, ref] = both(() => backend.binary(op, x, y, shape, 'float32'), true);
      compare(fast, ref, true, `${op} ${JSON.stringify(x.strides)}·${JSON.stringify(y.strides)}`);
    }
  });

  test('binary on long rows, rank-4 broadcast and pow(x, 2)', () => {
    const a = info(values(2 * 3 * 4 * 300, 5), [2, 3, 4, 300]);
    const b = info(values(3 * 300, 7), [3, 1, 300], { heap: false });
    const bView = { ...b, shape: [2, 3, 4, 300], strides: [0, 300, 0, 1] };
    for (const op of ['add', 'mul', 'div', 'pow'] as const) {
      const [fast, ref] = both(() => backend.binary(op, a, op === 'pow' ? info(new Float32Array([2]), [1]) : bView, [2, 3, 4, 300], 'float32'));
      if (op === 'pow') continue; // a [1] operand with full strides: checked below
      compare(fast, ref, true, op);
    }
    const two = info(new Float32Array([2]), [1]);
    const [fast, ref] = both(() => backend.binary('pow', a, { ...two, shape: [2, 3, 4, 300], strides: [0, 0, 0, 0] }, [2, 3, 4, 300], 'float32'));
    compare(fast, ref, true, 'pow');
  });

  test('where, clamp and strided copies', () => {
    const n = 517;
    const c = info(values(n, 2).map((v, i) => (i % 3 === 0 ? 0 : v)), [n]);
    const a = info(values(n, 3), [n]), b = info(values(n, 5), [n], { heap: false });
    compare(...both(() => backend.where(c, a, b, [n]), true), true, 'where');
    for (const [lo, hi] of [[-0.5, 0.5], [0.1, Infinity], [-Infinity, -0.3]]) {
      compare(...both(() => backend.clamp(a, lo!, hi!)), true, `clamp ${lo} ${hi}`);
    }
    // int32 condition and an int32 → float32 cast
    const ints = Int32Array.from({ length: n }, (_, i) => (i % 4 === 0 ? 0 : i % 4 === 1 ? -(2 ** 31) : i * 7919 - 1e6));
    const ci: TensorInfo = { dataId: backend.write(ints), shape: [n], strides: [1], offset: 0, dtype: 'int32' };
    compare(...both(() => backend.where(ci, a, b, [n]), true), true, 'where (int32 condition)');
    compare(...both(() => backend.copy(ci, 'float32'), true), true, 'int32 → float32');
    const m = info(values(6 * 7 * 9, 3), [6, 7, 9]);
    const permuted = { ...m, shape: [9, 6, 7], strides: [1, 63, 9] };
    compare(...both(() => backend.copy(permuted, 'float32'), true), true, 'copy');
    // place: x written into a strided view of a filled output (a slice's backward)
    compare(...both(() => backend.place(m, [6, 7, 20], 3, [140, 20, 2], 0), true), true, 'place');
    compare(...both(() => backend.place(permuted, [9, 6, 8], 1, [48, 8, 1], -1.5), true), true, 'place (filled, permuted source)');
  });

  test('fused programs: modulation, GELU, masks, many registers', () => {
    const programs: [string, FusedProgram, number, boolean][] = [
      ['modulate', trace(3, (x, s, t) => x.mul(s.add(1)).add(t)), 3, true],
      ['geluTanh grad', trace(2, (x, g) => g.mul(x.geluTanhGrad())), 2, false],
      ['mask', trace(2, (x, u) => x.mul(u.lt(0.3).mul(1 / 0.7))), 2, true],
      ['adam-like', trace(3, (p, m, v) => p.sub(m.div(v.abs().sqrt().add(1e-8)).mul(1e-3)).sub(p.mul(1e-5))), 3, true],
      ['chain', trace(2, (x, y) => {
        let v = x;
        for (let k = 0; k < 12; k++) v = v.mul(y).add(k).maximum(x.neg()).clamp(-5, 5);
        return v.sigmoid().mul(v.tanh());
      }), 2, false],
    ];
    const shape = [4, 130, 33];
    for (const [name, p, count, exact] of programs) {
      const inputs = [info(values(4 * 130 * 33, 3), shape), info(values(130 * 33, 5), [130, 33], { heap: false }), info(values(4 * 33, 7), [4, 1, 33])]
        .slice(0, count);
      const broadcast = [stridesOf(shape), [0, 33, 1], [33, 0, 1]];
      const views = inputs.map((x, k) => ({ ...x, shape, strides: broadcast[k]! }));
      compare(...both(() => backend.fusedElementwise(p, views, shape, 'float32'), true), exact, name);
    }
  });
});

describe('row kernels vs the reference kernels', () => {
  test.each([[1, 1], [3, 5], [7, 130], [33, 128], [5, 1027]])('softmax, normalization and sums of %i×%i', (rows, n) => {
    const x = info(values(rows * n, 3, 10), [rows, n]);
    const gy = info(values(rows * n, 5), [rows, n], { heap: false });
    const [sFast, sRef] = both(() => backend.softmaxRows(x, rows, n));
    compare(sFast, sRef, false, 'softmax');
    const y = info(sRef, [rows, n]);
    compare(...both(() => backend.softmaxRowsBackward(y, gy, rows, n)), false, 'softmax backward');
    const [xhatFast, xhatRef] = both(() => backend.normalizeRows(x, rows, n, 1e-5)[0]);
    compare(xhatFast, xhatRef, false, 'xhat');
    const [rstdFast, rstdRef] = both(() => backend.normalizeRows(x, rows, n, 1e-5)[1]);
    compare(rstdFast, rstdRef, false, 'rstd');
    const rstd = info(rstdRef, [rows]);
    const xhat = info(xhatRef, [rows, n]);
    compare(...both(() => backend.normalizeRowsBackward(xhat, rstd, gy, rows, n)), false, 'normalize backward');
    compare(...both(() => backend.reduce('sum', x, rows, n)), false, 'row sums');
    // column sums of [rows, n] (the sum over rows of a transposed view): the reference's order, bitwise
    const cols = { ...x, shape: [n, rows], strides: [1, n] };
    if (rows > 1 && n > 1) compare(...both(() => backend.reduce('sum', cols, n, rows)), true, 'column sums');
    // the sum over the middle dim of [2, rows, n] (kept dims [2, n]): batches of column sums
    const x3 = info(values(2 * rows * n, 7), [2, rows, n]);
    const middle = { ...x3, shape: [2, n, rows], strides: [rows * n, 1, n] };
    if (rows > 1) compare(...both(() => backend.reduce('sum', middle, 2 * n, rows)), true, 'batched column sums');
  });

  test('a row whose moments overflow takes the rescaled path', () => {
    const x = info(Float32Array.from([3e38, -3e38, 1e38, 0, 2, 1, 0, -1]), [2, 4]);
    const [fast, ref] = both(() => backend.normalizeRows(x, 2, 4, 1e-5)[0]);
    compare(fast, ref, false, 'xhat');
  });
});

describe('thread count', () => {
  test('1 and 2 threads give bitwise identical results', () => {
    const shape = [64, 1029];
    const x = info(values(64 * 1029, 3), shape), y = info(values(1029, 5), [1029]);
    const yb = { ...y, shape, strides: [0, 1] };
    const p = trace(2, (a, b) => a.mul(b).geluTanh().add(a.exp()));
    const runs = [1, 2].map((t) => {
      V.setNumThreads(t);
      return [
        backend.fusedElementwise(p, [x, yb], shape, 'float32'),
        backend.softmaxRows(x, 64, 1029),
        backend.normalizeRows(x, 64, 1029, 1e-5)[0],
        backend.reduce('sum', { ...x, shape: [1029, 64], strides: [1, 1029] }, 1029, 64),
        backend.reduce('sum', x, 64, 1029),
      ].map((id) => Float32Array.from(backend.readSync(id) as Float32Array));
    });
    V.setNumThreads(2);
    runs[0]!.forEach((r, k) => expectBitwise(runs[1]![k]!, r, `output ${k}`));
  });
});
