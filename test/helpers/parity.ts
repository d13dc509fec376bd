// Helpers shared by the parity tests against the official fixtures: the weights under their official keys,
// a checked lookup, and the max difference against a reference with the reference's magnitude.

import { expect } from 'vitest';
import type { Tensor } from '../../src/index.js';

/** The fixture's tensors named weights.<official key>, with the prefix removed. */
export function officialWeights(tensors: Map<string, Tensor>): Map<string, Tensor> {
  return new Map([...tensors].filter(([k]) => k.startsWith('weights.')).map(([k, t]) => [k.slice('weights.'.length), t]));
}

/** A lookup into a fixture's tensors that fails with the missing name. */
export function fixtureGetter(tensors: () => Map<string, Tensor>): (key: string) => Tensor {
  return (key) => {
    const t = tensors().get(key);
    if (!t) throw new Error(`fixture has no '${key}'`);
    return t;
  };
}

/** max |a − b| and max |b| (the reference's magnitude). */
export function maxDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): { abs: number; scale: number } {
  expect(actual.length).toBe(expected.length);
  let abs = 0, scale = 0;
  for (let i = 0; i < expected.length; i++) {
    abs = Math.max(abs, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return { abs, scale };
}
