// Numeric comparison with tolerances chosen by dtype, and a readable failure message.

import { expect } from 'vitest';

export interface Tolerance {
  atol: number;
  rtol: number;
}

export const F32: Tolerance = { atol: 1e-5, rtol: 1e-4 };
export const F64: Tolerance = { atol: 1e-10, rtol: 1e-9 };

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance = F32, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    const ok = Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e);
    if (!ok) expect.fail(`${what}[${i}]: got ${a}, expected ${e} (atol ${tol.atol}, rtol ${tol.rtol})`);
  }
}

/** Bitwise equality (NaN equals NaN, -0 differs from 0), failing with the first differing index instead of a diff of the whole array. */
export function expectSame(actual: ArrayLike<number>, expected: ArrayLike<number>, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) expect.fail(`${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (bitwise)`);
  }
}
