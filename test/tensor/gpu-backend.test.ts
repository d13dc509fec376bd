// The gpu backend (gpu.js kernels, here in gpu.js's CPU mode, which needs no GPU) against the cpu backend on every
// op-table case: outputs and VJPs at float32 tolerance, and no device buffer left behind.

import { beforeAll, describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';
import { OPS, type OpCase } from '../ops/op-db.js';
import { checkParity } from '../helpers/backend-parity.js';

beforeAll(async () => {
  await V.initGpuBackend({ mode: 'cpu', activate: false, log: false });
});

// cases marked float64Only or notOnGpu in the op table say why the gpu backend is not held to them
const onGpu = (c: OpCase) => !c.float64Only && !c.notOnGpu;

describe.each(OPS.filter((e) => e.cases.some(onGpu)))('$name on the gpu backend', (entry) => {
  test.each(entry.cases.map((c, i) => ({ ...c, i, label: c.label ?? `case ${i}` })).filter(onGpu))('$label', async (c) => {
    const r = await checkParity('gpu', entry, c, 1000 + c.i);
    expect(r.message).toBe('ok');
  });
});
