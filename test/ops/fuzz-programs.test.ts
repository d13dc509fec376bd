// The differential fuzzer's programs on our engine alone (no PyTorch): valid programs never throw, invalid calls
// always end in a named error, and a program is the same for the same seed. bench/fuzz/run.ts adds the comparison.

import { describe, expect, test } from 'vitest';
import { generate, keepNonFinite } from '../../bench/fuzz/generate.js';

describe('fuzz programs (our side)', () => {
  const programs = Array.from({ length: 120 }, (_, id) => generate(3, id, 0.15));

  test('valid programs run forward, gradient and second derivative without an error', () => {
    const failed = programs.filter((p) => p.kind === 'valid' && p.ours.error);
    expect(failed.map((p) => `${p.id}: ${p.steps.map((s) => s.op).join(' → ')}: ${p.ours.error!.message}`)).toEqual([]);
    expect(programs.filter((p) => p.kind === 'valid' && p.ours.grads2).length).toBeGreaterThan(80);
  });

  test('invalid calls end in a named error (a ViarError naming the op), never a TypeError or a result', () => {
    const invalid = programs.filter((p) => p.kind === 'invalid');
    expect(invalid.length).toBeGreaterThan(5);
    for (const p of invalid) {
      expect(p.ours.error?.message, `program ${p.id} (${p.invalid!.name})`).not.toBe('accepted');
      expect(p.ours.error?.named, `program ${p.id}: ${p.ours.error?.message}`).toBe(true);
    }
  });

  test('a program is determined by its seed and id', () => {
    expect(JSON.stringify(generate(3, 7, 0.15), keepNonFinite)).toBe(JSON.stringify(programs[7], keepNonFinite));
  });
});
