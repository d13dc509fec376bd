// The gpu backend (gpu.js kernels, here in gpu.js's CPU mode, which needs no GPU) against the cpu backend on every
// op-table case: outputs and VJPs at float32 tolerance, and no device buffer left behind.

import { beforeAll, describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import { OPS } from '../ops/op-db.js';
import { checkParity } from '../helpers/backend-parity.js';

beforeAll(async () => {
  await V.initGpuBackend({ mode: 'cpu', activate: false, log: false });
});

describe.each(OPS.filter((e) => e.cases.length > 0))('$name on the gpu backend', (entry) => {
  test.each(entry.cases.map((c, i) => ({ ...c, i, label: c.label ?? `case ${i}` })))('$label', async (c) => {
    const r = await checkParity('gpu', entry, c, 1000 + c.i);
    expect(r.message).toBe('ok');
  });
});
