// Runs float32 elementwise work (fused programs, primitive unary/binary/where/clamp ops, strided copies) on the
// WebAssembly interpreter of elementwise-module.ts over heap tensors, split between threads by output range. Returns
// false whenever the fast path does not apply, so the caller runs the TypeScript kernel (the reference).

import type { BinaryOp, TensorInfo, UnaryOp } from '../../backend.js';
import { sizeOf, stridesOf, type Shape } from '../../../shape.js';
import { conditionOnlyInputs, ProgramBuilder, type FusedProgram } from '../../../fusion/program.js';
import { collapseDims } from '../strided-loop.js';
import { HEADER_BYTES, INSTR_BYTES, MAX_REGISTERS, OPCODE, VECTOR_OPS, type VectorOp } from './elementwise-module.js';
import type { WasmGemmRuntime } from './wasm-gemm.js';
import { StagingArea } from './staging-area.js';
import { SCRATCH_ARG } from './thread-pool.js';

/** Below this much work (output elements × the program's cost) one thread runs it: waking workers costs more. */
const PARALLEL_MIN_WORK = 1 << 17;
/** Relative cost of the exp-based ops (a load or a cheap op counts 1). */
const OP_COST: Partial<Record<string, number>> = { exp: 6, sigmoid: 7, tanh: 9, geluTanh: 7, geluTanhGrad: 14 };

/** A program lowered to interpreter instructions; constants and operand addresses are patched in per call. */
interface Lowered {
  words: Int32Array;
  /** [word index, constant slot] pairs: the float32 bits of the constant go there. */
  constants: [number, number][];
  /** [instruction index, input] pairs: a load of that input. */
  loads: [number, number][];
  resultRegister: number;
  /** Work per element (see OP_COST). */
  cost: number;
}

const lowered = new Map<string, Lowered | null>();

/** Calls that ran on the interpreter (tests check that the fast path was taken). */
export const wasmElementwiseStats = { calls: 0 };
const f32Bits = new Int32Array(1);
const f32View = new Float32Array(f32Bits.buffer);

function bitsOf(value: number): number {
  f32View[0] = value;
  return f32Bits[0]!;
}

/** Lowers `p` (null when it uses an op the interpreter lacks), with registers reused once their value is dead. */
function lower(p: FusedProgram): Lowered | null {
  const cached = lowered.get(p.key);
  if (cached !== undefined) return cached;
  let result: Lowered | null = null;
  const ops: { op: number; operands: number[]; extra: number[]; constSlots?: [number, number][] }[] = [];
  const supported = p.instrs.every((i) => {
    switch (i.kind) {
      case 'input': ops.push({ op: OPCODE.load, operands: [], extra: [] }); return true;
      case 'const': ops.push({ op: OPCODE.const, operands: [], extra: [], constSlots: [[2, i.slot]] }); return true;
      case 'clamp': ops.push({ op: OPCODE.clamp, operands: [i.x], extra: [], constSlots: [[3, i.lo], [4, i.hi]] }); return true;
      case 'where': ops.push({ op: OPCODE.where, operands: [i.cond, i.a, i.b], extra: [] }); return true;
      case 'unary':
        if (!(i.op in VECTOR_OPS)) return false;
        ops.push({ op: OPCODE[i.op as VectorOp], operands: [i.x], extra: [] });
        return true;
      case 'binary': {
        if (i.op === 'pow') {
          // x^2 is x·x in the reference too; other powers stay in TypeScript
          const b = p.instrs[i.b]!;
          if (b.kind !== 'const' || p.constants[b.slot] !== 2) return false;
          ops.push({ op: OPCODE.square, operands: [i.a], extra: [] });
          return true;
        }
        if (!(i.op in VECTOR_OPS)) return false;
        ops.push({ op: OPCODE[i.op as VectorOp], operands: [i.a, i.b], extra: [] });
        return true;
      }
    }
  });
  if (supported) {
    // register allocation: a value's register is freed after its last use (never the result's)
    const lastUse = p.instrs.map(() => -1);
    ops.forEach((o, k) => o.operands.forEach((x) => { lastUse[x] = k; }));
    lastUse[p.output] = Infinity;
    const free: number[] = [];
    let next = 0;
    const reg: number[] = [];
    const words = new Int32Array((INSTR_BYTES / 4) * ops.length);
    const constants: [number, number][] = [];
    const loads: [number, number][] = [];
    let ok = true;
    ops.forEach((o, k) => {
      const w = (INSTR_BYTES / 4) * k;
      words[w] = o.op;
      o.operands.forEach((x, j) => { words[w + 2 + j] = reg[x]!; });
      for (const x of new Set(o.operands)) if (lastUse[x] === k) free.push(reg[x]!);
      reg[k] = free.pop() ?? next++;
      words[w + 1] = reg[k];
      for (const [at, slot] of o.constSlots ?? []) constants.push([w + at, slot]);
      const instr = p.instrs[k]!;
      if (instr.kind === 'input') loads.push([k, instr.index]);
      if (lastUse[k] === -1 && k !== p.output) free.push(reg[k]); // unused value
    });
    if (next > MAX_REGISTERS) ok = false;
    const cost = p.instrs.reduce((c, i) => c + (i.kind === 'const' ? 0 : i.kind === 'unary' ? OP_COST[i.op] ?? 1 : 1), 0);
    if (ok) result = { words, constants, loads, resultRegister: reg[p.output]!, cost };
  }
  if (lowered.size >= 1024) lowered.clear();
  lowered.set(p.key, result);
  return result;
}

/** Where a kernel writes: out[offset + Σ index·strides] (default: contiguous from 0). */
export interface OutputView { strides: readonly number[]; offset: number }

/**
 * out = p(inputs) broadcast to `shape` (out a float32 heap array, written contiguously or through `view`); false
 * (nothing written) unless every operand is float32 (int32 for conditions and copies), the program lowers and the
 * broadcast collapses to rank ≤ 4 with non-negative strides.
 */
export function runFusedWasm(
  rt: WasmGemmRuntime, p: FusedProgram, inputs: readonly TensorInfo[], arrays: readonly ArrayLike<number>[], shape: Shape, out: Float32Array,
  view?: OutputView,
): boolean {
  const total = sizeOf(shape);
  if (total === 0) return true;
  const outAddr = rt.addressOf(out);
  // int32 operands: where conditions and copy sources only (converted to float32 on load)
  if (outAddr < 0 || !arrays.every((a, k) => a instanceof Float32Array || (a instanceof Int32Array && intInputs(p).has(k)))) return false;
  const code = lower(p);
  if (!code) return false;
  const outStrides = view?.strides ?? stridesOf(shape);
  if (outStrides.some((s) => s < 0)) return false;
  const plan = collapseDims(shape, [...inputs.map((x) => x.strides), outStrides]);
  const rank = plan.shape.length;
  // rank ≤ 4, and every output element written once (a view that writes one element twice stays in TypeScript)
  if (rank > 4 || (plan.strides[arrays.length]!.includes(0) && total > 1)) return false;
  const pad = 4 - rank;
  const dims = [...new Array<number>(pad).fill(1), ...plan.shape];
  const descBytes = HEADER_BYTES + code.words.length * 4;
  const area = new StagingArea(rt);
  const desc = area.take(descBytes);
  if (desc === null) return false;
  // operands outside the heap are copied in (the span their strides reach; negative strides stay in TypeScript)
  const addrs: number[] = [];
  for (let k = 0; k < arrays.length; k++) {
    const strides = plan.strides[k]!;
    if (strides.some((s) => s < 0)) return false;
    const span = 1 + plan.shape.reduce((acc, d, i) => acc + (d - 1) * strides[i]!, 0);
    const at = area.place(arrays[k] as Float32Array | Int32Array, inputs[k]!.offset, span);
    if (at === null) return false;
    addrs.push(at);
  }
  const heap = new Int32Array(rt.heapWords.buffer, desc, descBytes / 4);
  heap[0] = code.words.length / (INSTR_BYTES / 4);
  heap[1] = code.resultRegister;
  heap[2] = outAddr + 4 * (view?.offset ?? 0);
  heap.set(dims, 3);
  const planOut = plan.strides[arrays.length]!;
  for (let d = 0; d < 4; d++) heap[8 + d] = d < pad ? 0 : planOut[d - pad]!;
  heap.set(code.words, HEADER_BYTES / 4);
  for (const [at, slot] of code.constants) heap[HEADER_BYTES / 4 + at] = bitsOf(p.constants[slot]!);
  for (const [k, input] of code.loads) {
    const w = HEADER_BYTES / 4 + (INSTR_BYTES / 4) * k;
    heap[w + 2] = addrs[input]!;
    const strides = plan.strides[input]!;
    for (let d = 0; d < 4; d++) heap[w + 3 + d] = d < pad ? 0 : strides[d - pad]!;
    heap[w + 7] = arrays[input] instanceof Int32Array ? 1 : 0;
  }
  // tasks: output ranges (registers in the running thread's scratch)
  const parts = total * code.cost >= PARALLEL_MIN_WORK && rt.numThreads > 1 ? rt.numThreads * rt.tasksPerThread : 1;
  const tasks: number[][] = [];
  for (let t = 0; t < parts; t++) {
    tasks.push([desc, Math.floor((total * t) / parts), Math.floor((total * (t + 1)) / parts), SCRATCH_ARG]);
  }
  rt.runKernel('ew', tasks);
  wasmElementwiseStats.calls++;
  return true;
}

const intInputCache = new WeakMap<FusedProgram, Set<number>>();

/**
 * Inputs that may hold int32 data: where conditions only (condition-only inputs may have any dtype) and the source
 * of a bare copy (a cast to float32).
 */
function intInputs(p: FusedProgram): Set<number> {
  let set = intInputCache.get(p);
  if (!set) {
    set = p.instrs.length === 1 ? new Set([0]) : conditionOnlyInputs(p);
    intInputCache.set(p, set);
  }
  return set;
}

const primitives = new Map<string, FusedProgram>();

function primitive(key: string, numInputs: number, build: (b: ProgramBuilder) => ReturnType<ProgramBuilder['input']>): FusedProgram {
  let p = primitives.get(key);
  if (!p) {
    const b = new ProgramBuilder(numInputs);
    primitives.set(key, (p = b.finish(build(b))));
  }
  return p;
}

/** The one-op programs of the primitive kernels (so they run on the interpreter too). */
export const primitivePrograms = {
  unary: (op: UnaryOp) => primitive(`u:${op}`, 1, (b) => b.unary(op, b.input(0))),
  binary: (op: BinaryOp) => primitive(`b:${op}`, 2, (b) => b.binary(op, b.input(0), b.input(1))),
  where: () => primitive('where', 3, (b) => b.where(b.input(0), b.input(1), b.input(2))),
  copy: () => primitive('copy', 1, (b) => b.input(0)),
  /** Built per call (its constants are the bounds); equal keys share one lowering. */
  clamp: (lo: number, hi: number) => { const b = new ProgramBuilder(1); return b.finish(b.clamp(b.input(0), lo, hi)); },
};
