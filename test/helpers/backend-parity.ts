// Runs an op-table case on the cpu backend and on another backend (the gpu backend) from the same seeded inputs and
// compares outputs and vector-Jacobian products at float32 tolerance; reads are asynchronous, so it also runs
// where results cannot be read synchronously (WebGPU). Used by the CI test and by bench/gpu-op-check.ts.

import * as V from '../../src/index.js';
import type { OpCase, OpEntry } from '../ops/op-db.js';
import { makeInput } from './inputs.js';

export const GPU_TOLERANCE = { atol: 2e-4, rtol: 2e-3 };

export interface ParityResult {
  ok: boolean;
  message: string;
  /** Live buffers on the other backend after the case minus before (0: nothing leaked). */
  leakedBuffers: number;
}

interface Outcome { shape: number[]; values: number[][] }

async function evaluate(backend: string, entry: OpEntry, c: OpCase, seed: number): Promise<Outcome> {
  V.setBackend(backend);
  const tensors: V.Tensor[] = [];
  const keep = (t: V.Tensor) => { tensors.push(V.keep(t)); return t; };
  try {
    V.tidy(() => {
      const rng = new V.Rng(seed);
      const inputs = c.inputs.map((s) => makeInput(s, 'float32', rng));
      const differentiable = entry.differentiable !== false;
      const wrt = inputs.map((_, i) => i).filter((i) => inputs[i]!.dtype === 'float32');
      if (differentiable && wrt.length > 0) {
        const { output, pullback } = V.vjp((...xs: V.Tensor[]) => entry.run(...inputs.map((x, i) => (wrt.includes(i) ? xs[wrt.indexOf(i)]! : x))), ...wrt.map((i) => inputs[i]!));
        keep(output);
        const cot = V.tensor(Array.from({ length: output.size }, (_, i) => Math.sin(1.3 * i + 0.7)), { dtype: output.dtype, shape: output.shape });
        for (const g of pullback(cot)) keep(g);
      } else {
        keep(entry.run(...inputs));
      }
    });
    const values: number[][] = [];
    for (const t of tensors) values.push(Array.from(await t.data()));
    return { shape: [...tensors[0]!.shape], values };
  } finally {
    for (const t of tensors) t.dispose();
    V.setBackend('cpu');
  }
}

function compare(got: number[], want: number[], what: string): string | null {
  if (got.length !== want.length) return `${what}: length ${got.length}, expected ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    const a = got[i]!, e = want[i]!;
    if ((Number.isNaN(a) && Number.isNaN(e)) || a === e) continue;
    if (!(Math.abs(a - e) <= GPU_TOLERANCE.atol + GPU_TOLERANCE.rtol * Math.abs(e))) return `${what}[${i}]: got ${a}, expected ${e}`;
  }
  return null;
}

/** One op-table case on `backend` against the cpu backend (outputs, then one VJP per float input). */
export async function checkParity(backend: string, entry: OpEntry, c: OpCase, seed: number): Promise<ParityResult> {
  const want = await evaluate('cpu', entry, c, seed);
  const other = V.getBackendByName(backend);
  // the engine's buffer count and, for the gpu backend, the device buffers its runner holds (a double free shows here)
  const deviceBuffers = () => (other as Partial<V.GpuBackend>).counters?.().liveBuffers ?? 0;
  const before = other.memory().numDataBuffers;
  const deviceBefore = deviceBuffers();
  let got: Outcome;
  try {
    got = await evaluate(backend, entry, c, seed);
  } catch (e) {
    return { ok: false, message: `threw: ${(e as Error).message}`, leakedBuffers: other.memory().numDataBuffers - before };
  }
  const leakedBuffers = other.memory().numDataBuffers - before;
  const deviceDelta = deviceBuffers() - deviceBefore;
  if (deviceDelta !== leakedBuffers) return { ok: false, message: `device buffers changed by ${deviceDelta}, engine buffers by ${leakedBuffers}`, leakedBuffers };
  if (got.shape.join() !== want.shape.join()) return { ok: false, message: `shape [${got.shape}] vs [${want.shape}]`, leakedBuffers };
  for (let k = 0; k < want.values.length; k++) {
    const problem = compare(got.values[k]!, want.values[k]!, k === 0 ? 'output' : `gradient ${k - 1}`);
    if (problem) return { ok: false, message: problem, leakedBuffers };
  }
  return { ok: leakedBuffers === 0, message: leakedBuffers === 0 ? 'ok' : `${leakedBuffers} buffers leaked`, leakedBuffers };
}
