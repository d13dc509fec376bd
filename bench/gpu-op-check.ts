// Every op-table case on the gpu backend in a chosen gpu.js mode (default webgpu) against the cpu backend: outputs
// and VJPs at float32 tolerance, live device buffers before = after. The CI test runs the same check in 'cpu' mode;
// this script is for machines with a GPU: `npx tsx bench/gpu-op-check.ts --mode webgpu`.

import { parseArgs } from 'node:util';
import * as V from '../src/index.js';
import { OPS } from '../test/ops/op-db.js';
import { checkParity } from '../test/helpers/backend-parity.js';

const { values } = parseArgs({ options: { mode: { type: 'string', default: 'webgpu' }, help: { type: 'boolean' } } });
if (values.help) {
  console.log('npx tsx bench/gpu-op-check.ts [--mode webgpu|cpu|webasm]   every op-table case on the gpu backend vs the cpu backend');
  process.exit(0);
}
const init = await V.initGpuBackend({ mode: values.mode as V.GpuMode, activate: false });
const gpu = V.getBackendByName('gpu') as V.GpuBackend;
let passed = 0, failed = 0;
const t0 = performance.now();
for (const entry of OPS.filter((e) => e.cases.length > 0)) {
  for (const [i, c] of entry.cases.entries()) {
    if (c.float64Only || c.notOnGpu) continue; // the op table says why (float64, or IEEE special values)
    const r = await checkParity('gpu', entry, c, 1000 + i);
    if (r.ok) passed++;
    else { failed++; console.log(`FAIL ${entry.name} ${c.label ?? `case ${i}`}: ${r.message}`); }
  }
}
const counters = gpu.counters();
console.log(`gpu backend ${init.mode} (${init.description}): ${passed} passed, ${failed} failed in ${((performance.now() - t0) / 1000).toFixed(1)} s; ` +
  `${counters.dispatches} dispatches, ${counters.uploads} uploads, ${counters.readbacks} readbacks, ${counters.liveBuffers} live buffers at the end`);
process.exit(failed === 0 ? 0 : 1);
