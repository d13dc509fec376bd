// Tests for the blocked CPU matmul kernel: `gemm` against the `naiveGemm` oracle over many shapes,
// layouts (transposes, offsets, padded and negative strides), accumulate modes and both float types.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gemm, naiveGemm, type FloatArray } from '../../src/tensor/backend/cpu/gemm.js';

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;
const TYPES: readonly Ctor[] = [Float32Array, Float64Array];

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A matrix of `rows`×`cols` stored inside a larger array, as gemm sees it. */
interface Operand {
  data: FloatArray;
  off: number;
  rs: number;
  cs: number;
}

/**
 * Places a rows×cols matrix in a fresh array: stored transposed (column-major) when `trans`,
 * with `pad` unused elements after each stored line and `off` elements before it. Every element,
 * used or not, gets a value from `fill`.
 */
function makeOperand(T: Ctor, rows: number, cols: number, trans: boolean, off: number, pad: number,
  fill: () => number): Operand {
  const lines = trans ? cols : rows, lineLen = (trans ? rows : cols) + pad;
  const data = new T(off + lines * lineLen + pad);
  for (let i = 0; i < data.length; i++) data[i] = fill();
  return trans ? { data, off, rs: 1, cs: lineLen } : { data, off, rs: lineLen, cs: 1 };
}

interface Case {
  T: Ctor;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  accumulate: boolean;
  aOff?: number;
  bOff?: number;
  cOff?: number;
  pad?: number; // extra elements per stored line of A and B
  ldcPad?: number; // ldc = n + ldcPad
  seed: number;
  /** Values for A and B; random in [-1, 1) by default. */
  values?: (rand: () => number) => number;
}

/**
 * Runs gemm and naiveGemm on identical inputs and checks every element of the C array: inside
 * the m×n window within rtol·(Σ|a·b| + |c0|) of the oracle, outside it untouched.
 */
function check(cs: Case): void {
  const { T, m, n, k, accumulate } = cs;
  const rand = mulberry32(cs.seed);
  const values = cs.values ?? ((r: () => number) => r() * 2 - 1);
  const pad = cs.pad ?? 0;
  const A = makeOperand(T, m, k, cs.transA, cs.aOff ?? 0, pad, () => values(rand));
  const B = makeOperand(T, k, n, cs.transB, cs.bOff ?? 0, pad, () => values(rand));
  const ldc = n + (cs.ldcPad ?? 0), cOff = cs.cOff ?? 0;
  const c0 = new T(cOff + Math.max(0, m - 1) * ldc + n + 3);
  // When overwriting, C starts as NaN: any read of the old value would show up in the result.
  for (let i = 0; i < c0.length; i++) c0[i] = accumulate ? values(rand) : NaN;
  const got = c0.slice(), want = c0.slice();
  gemm(m, n, k, A.data, A.off, A.rs, A.cs, B.data, B.off, B.rs, B.cs, got, cOff, ldc, accumulate);
  naiveGemm(m, n, k, A.data, A.off, A.rs, A.cs, B.data, B.off, B.rs, B.cs, want, cOff, ldc, accumulate);

  const rtol = T === Float32Array ? 1e-5 * Math.sqrt(Math.max(k, 1)) : 1e-12;
  const inside = (idx: number): boolean => {
    const r = idx - cOff;
    return r >= 0 && Math.floor(r / ldc) < m && r % ldc < n;
  };
  for (let idx = 0; idx < c0.length; idx++) {
    if (!inside(idx)) {
      if (!Object.is(got[idx], c0[idx])) throw new Error(`${label(cs)}: C[${idx}] outside the window was written`);
      continue;
    }
    const i = Math.floor((idx - cOff) / ldc), j = (idx - cOff) % ldc;
    let scale = accumulate ? Math.abs(c0[idx]!) : 0;
    for (let p = 0; p < k; p++) {
      scale += Math.abs(A.data[A.off + i * A.rs + p * A.cs]! * B.data[B.off + p * B.rs + j * B.cs]!);
    }
    const g = got[idx]!, w = want[idx]!;
    const ok = Number.isNaN(w) ? Number.isNaN(g) : Math.abs(g - w) <= rtol * scale || g === w;
    if (!ok) throw new Error(`${label(cs)}: C(${i}, ${j}) = ${g}, oracle ${w}, allowed error ${rtol * scale}`);
  }
}

function label(cs: Case): string {
  return `${cs.T.name} m=${cs.m} n=${cs.n} k=${cs.k} transA=${cs.transA} transB=${cs.transB} ` +
    `accumulate=${cs.accumulate} seed=${cs.seed}`;
}

const SHAPES: readonly (readonly [number, number, number])[] = [
  [1, 1, 1], [1, 7, 13], [7, 13, 33], [13, 7, 1], [2, 2, 2], [4, 2, 9], [5, 3, 600],
  [33, 65, 13], [65, 33, 130], [130, 65, 33], [64, 64, 64], [1, 300, 200], [300, 1, 200],
  [300, 70, 513], [97, 515, 257], [37, 41, 23], [200, 4, 256], [3, 65, 130], [2, 9, 7],
];

describe('gemm vs naiveGemm', () => {
  for (const T of TYPES) {
    for (const [m, n, k] of SHAPES) {
      it(`${T.name} ${m}×${k} · ${k}×${n}, all transposes, offsets, ldc > n, accumulate on/off`, () => {
        let seed = m * 1_000_003 + n * 1009 + k;
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            for (const accumulate of [false, true]) {
              seed++;
              check({ T, m, n, k, transA, transB, accumulate, seed,
                aOff: seed % 5, bOff: (seed >> 3) % 4, cOff: seed % 3, pad: seed % 3, ldcPad: (seed >> 1) % 4 });
            }
          }
        }
      });
    }
  }

  it('random shapes around the block and tile sizes', () => {
    const rand = mulberry32(12345);
    const pick = (xs: readonly number[]): number => xs[Math.floor(rand() * xs.length)]!;
    const dims = [1, 2, 3, 4, 5, 7, 8, 9, 31, 33, 63, 95, 96, 97, 127, 129, 255, 256, 257];
    for (let t = 0; t < 40; t++) {
      const m = pick(dims), n = pick(dims), k = pick(dims);
      check({ T: rand() < 0.5 ? Float32Array : Float64Array, m, n, k,
        transA: rand() < 0.5, transB: rand() < 0.5, accumulate: rand() < 0.5,
        aOff: Math.floor(rand() * 4), bOff: Math.floor(rand() * 4), cOff: Math.floor(rand() * 4),
        pad: Math.floor(rand() * 3), ldcPad: Math.floor(rand() * 3), seed: t + 1 });
    }
  });

  it('is exact on small integers (no reassociation error possible)', () => {
    const ints = (r: () => number): number => Math.floor(r() * 9) - 4;
    for (const T of TYPES) {
      for (const [m, n, k] of [[3, 5, 7], [70, 67, 300], [129, 33, 513]] as const) {
        const rand = mulberry32(m + n + k);
        const a = new T(m * k).map(() => ints(rand)), b = new T(k * n).map(() => ints(rand));
        const got = new T(m * n), want = new T(m * n);
        gemm(m, n, k, a, 0, k, 1, b, 0, n, 1, got, 0, n, false);
        naiveGemm(m, n, k, a, 0, k, 1, b, 0, n, 1, want, 0, n, false);
        expect(got).toEqual(want);
      }
    }
  });

  it('handles negative and zero (broadcast) strides', () => {
    for (const T of TYPES) {
      for (const [m, n, k] of [[6, 5, 4], [70, 90, 80]] as const) {
        const rand = mulberry32(m * n * k);
        // A read bottom-up and right-to-left from a row-major m×k array.
        const a = new T(m * k).map(() => rand() * 2 - 1);
        // B is a single row of length n repeated k times (row stride 0).
        const b = new T(n).map(() => rand() * 2 - 1);
        const got = new T(m * n), want = new T(m * n);
        const args = [m, n, k, a, m * k - 1, -k, -1, b, 0, 0, 1] as const;
        gemm(...args, got, 0, n, false);
        naiveGemm(...args, want, 0, n, false);
        for (let i = 0; i < m * n; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-5 * k);
      }
    }
  });

  it('propagates NaN and Infinity like the oracle', () => {
    for (const T of TYPES) {
      const m = 40, n = 30, k = 50;
      const rand = mulberry32(7);
      const a = new T(m * k).map(() => rand() * 2 - 1), b = new T(k * n).map(() => rand() * 2 - 1);
      a[3 * k + 5] = Infinity; // row 3 of C: ±Infinity, or NaN where B(5, j) is 0
      b[5 * n + 2] = 0;
      b[10 * n + 7] = NaN; // column 7 of C: NaN
      const got = new T(m * n), want = new T(m * n);
      gemm(m, n, k, a, 0, k, 1, b, 0, n, 1, got, 0, n, false);
      naiveGemm(m, n, k, a, 0, k, 1, b, 0, n, 1, want, 0, n, false);
      for (let i = 0; i < m * n; i++) {
        if (Number.isFinite(want[i]!)) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-4);
        else expect(got[i]).toBe(want[i]);
      }
    }
  });

  it('k = 0 zeroes C (or leaves it when accumulating); m = 0 or n = 0 does nothing', () => {
    const c = new Float32Array([1, 2, 3, 4, 5, 6, 7]);
    const empty = new Float32Array(0);
    gemm(2, 3, 0, empty, 0, 0, 1, empty, 0, 3, 1, c, 0, 4, true);
    expect([...c]).toEqual([1, 2, 3, 4, 5, 6, 7]);
    gemm(2, 3, 0, empty, 0, 0, 1, empty, 0, 3, 1, c, 0, 4, false);
    expect([...c]).toEqual([0, 0, 0, 4, 0, 0, 0]);
    const d = new Float64Array([9, 9]);
    gemm(0, 2, 5, empty, 0, 5, 1, new Float64Array(10), 0, 2, 1, d, 0, 2, false);
    gemm(2, 0, 5, new Float64Array(10), 0, 5, 1, empty, 0, 0, 1, d, 0, 0, false);
    expect([...d]).toEqual([9, 9]);
  });

  it('rejects out-of-range views and bad sizes', () => {
    const a = new Float64Array(12), b = new Float64Array(12), c = new Float64Array(9);
    expect(() => gemm(3, 3, 4, a, 1, 4, 1, b, 0, 3, 1, c, 0, 3, false)).toThrow(RangeError);
    expect(() => gemm(3, 3, 4, a, 0, 4, 1, b, 0, 3, 1, c, 1, 3, false)).toThrow(RangeError);
    expect(() => gemm(3, 3, 4, a, 0, -4, 1, b, 0, 3, 1, c, 0, 3, false)).toThrow(RangeError);
    expect(() => gemm(3, 3.5, 4, a, 0, 4, 1, b, 0, 3, 1, c, 0, 3, false)).toThrow(RangeError);
    expect(() => naiveGemm(3, 3, 5, a, 0, 4, 1, b, 0, 3, 1, c, 0, 3, false)).toThrow(RangeError);
    expect(() => gemm(3, 3, 4, a, 0, 4, 1, b, 0, 3, 1, c, 0, 3, false)).not.toThrow();
  });

  it('property: random small shapes and layouts agree with the oracle', () => {
    fc.assert(
      fc.property(
        fc.record({
          m: fc.integer({ min: 1, max: 40 }),
          n: fc.integer({ min: 1, max: 40 }),
          k: fc.integer({ min: 1, max: 40 }),
          f64: fc.boolean(),
          transA: fc.boolean(),
          transB: fc.boolean(),
          accumulate: fc.boolean(),
          aOff: fc.nat(3),
          bOff: fc.nat(3),
          cOff: fc.nat(3),
          pad: fc.nat(2),
          ldcPad: fc.nat(2),
          seed: fc.nat(),
        }),
        ({ f64, ...rest }) => {
          check({ T: f64 ? Float64Array : Float32Array, ...rest });
        },
      ),
      { seed: 20240611, numRuns: 300 },
    );
  });
});
