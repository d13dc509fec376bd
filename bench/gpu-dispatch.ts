// Launch cost on the gpu backend: µs per elementwise op through the engine (op bookkeeping + recording), per raw
// runner dispatch, and per replayed dispatch of a captured plan, at 4k and 262k floats; submissions counted.
// `npx tsx bench/gpu-dispatch.ts [--mode webgpu] [--ops 4000]`; prints JSON (bench/gpu.ts merges it into its results).

import { parseArgs } from 'node:util';
import * as V from '../src/index.js';

const { values: args } = parseArgs({ options: { mode: { type: 'string', default: 'webgpu' }, ops: { type: 'string', default: '4000' }, out: { type: 'string' } } });
const ops = Number(args.ops);
await V.initGpuBackend({ mode: args.mode as V.GpuMode, log: false });
const gpu = V.getBackendByName('gpu') as V.GpuBackend;

/** Wall time of `f` (after one warm-up call), the queue drained by reading one value. */
async function timed(f: () => V.Tensor): Promise<number> {
  const warm = f();
  await warm.data();
  warm.dispose();
  const t0 = performance.now();
  const out = f();
  await out.data();
  const ms = performance.now() - t0;
  out.dispose();
  return ms;
}

const rows: Record<string, unknown>[] = [];
for (const n of [4096, 262144]) {
  const x = V.keep(V.randn([n], new V.Rng(0)));
  const before = gpu.counters();
  // a chain of `ops` adds, each freeing its predecessor: what an eager model does
  const engineMs = await timed(() => V.tidy(() => { let y = x; for (let i = 0; i < ops; i++) y = V.add(y, 1e-6); return y; }));
  const mid = gpu.counters();
  const plan = V.captureGraph((t: V.Tensor) => { let y = t; for (let i = 0; i < ops; i++) y = V.add(y, 1e-6); return y; }, [x]);
  const replayMs = await timed(() => plan.run(x));
  const after = gpu.counters();
  plan.dispose();
  rows.push({
    floats: n, ops,
    engineMicrosecondsPerOp: (1000 * engineMs) / ops,
    replayMicrosecondsPerOp: (1000 * replayMs) / ops,
    submissionsPerChainEager: (mid.submissions - before.submissions) / 2,
    submissionsPerReplay: (after.submissions - mid.submissions) / 3,
  });
  x.dispose();
}
const result = { mode: args.mode, device: gpu.describe(), node: process.version, rows };
console.log(JSON.stringify(result, null, 2));
if (args.out) (await import('node:fs')).writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
process.exit(0);
