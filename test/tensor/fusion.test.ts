// Fused elementwise chains against their unfused compositions: forward (bit for bit on the cpu backend), gradients,
// float64 gradchecks of first and second order, the gpu backend (gpu.js cpu mode, asynchronous reads), broadcast and
// strided operands, and random programs over random broadcastable shapes (fast-check).

import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { fusedKernelSource, fusedParamBytes } from '../../src/tensor/backend/gpu/fused-kernels.js';
import { KERNEL_SETTINGS, type GpuJsModule } from '../../src/tensor/backend/gpu/kernel-runner.js';
import { compileWgsl } from '../../src/tensor/backend/gpu/wgsl-kernels.js';
import { expectClose, F64 } from '../helpers/close.js';
import { GPU_TOLERANCE } from '../helpers/backend-parity.js';

type Fn = (...xs: Tensor[]) => Tensor;

/** gpu.js cpu mode with asynchronous reads (CI); FUSION_GPU_MODE=webgpu runs the same tests on a GPU. */
async function startGpu(): Promise<void> {
  const mode = (process.env.FUSION_GPU_MODE ?? 'cpu') as V.GpuMode;
  await V.initGpuBackend({ mode, activate: false, log: false, ...(mode === 'cpu' ? { asyncReads: true } : {}) });
}

interface Case {
  name: string;
  fused: Fn;
  /** The same math as a chain of primitive ops (the reference). */
  unfused: Fn;
  shapes: number[][];
  /** Inputs drawn from [0.5, 2) instead of N(0, 1) (e.g. under a square root). */
  positive?: number[];
  /** Inputs that are not differentiated (comparison operands: their gradient is 0 by definition). */
  constant?: number[];
}

const chain = V.fusedFunction('chain', (x, y) => V.select(x.gt(0), x.mul(y), y.clamp(-0.5, 0.5).exp()).sub(x.tanh().mul(y.sigmoid())));
const quotient = V.fusedFunction('quotient', (a, b) => a.div(b.square().add(1)).add(a.abs().add(1).pow(b.clamp(-2, 2))).maximum(b.sin()));

const CASES: Case[] = [
  {
    name: 'modulate', fused: (x, s, b) => V.modulate(x, s, b), unfused: (x, s, b) => V.add(V.mul(x, V.add(s, 1)), b),
    shapes: [[2, 3, 4], [2, 1, 4], [2, 1, 4]],
  },
  {
    name: 'gatedResidual', fused: (x, g, y) => V.gatedResidual(x, g, y), unfused: (x, g, y) => V.add(x, V.mul(y, g)),
    shapes: [[2, 3, 4], [2, 1, 4], [2, 3, 4]],
  },
  {
    name: 'maskedGatedResidual', fused: (x, g, y, m) => V.maskedGatedResidual(x, g, y, m),
    unfused: (x, g, y, m) => V.add(x, V.mul(V.mul(y, g), m)), shapes: [[2, 3, 4], [2, 1, 4], [2, 3, 4], [2, 1, 1]],
  },
  {
    name: 'cfgMix', fused: (a, b) => V.cfgMix(a, b, 1.7), unfused: (a, b) => V.sub(V.mul(a, 1 + 1.7), V.mul(b, 1.7)),
    shapes: [[3, 5], [3, 5]],
  },
  {
    name: 'scaleAndMask', fused: (s, m) => V.scaleAndMask(s, 0.35, m), unfused: (s, m) => V.add(V.mul(s, 0.35), m),
    shapes: [[2, 2, 3, 3], [3, 3]],
  },
  {
    name: 'l2Scale', fused: (x, ss, f) => V.l2Scale(x, ss, 1e-12, f),
    unfused: (x, ss, f) => V.mul(V.div(x, V.maximum(V.sqrt(ss), 1e-12)), f), shapes: [[2, 3, 4], [2, 3, 1], [1, 3, 1]], positive: [1],
  },
  {
    name: 'dropoutMask', fused: (x, u) => V.dropoutMask(x, u, 0.7), unfused: (x, u) => V.mul(x, V.mul(V.lt(u, 0.7), 1 / 0.7)),
    shapes: [[4, 5], [4, 5]], positive: [1], constant: [1],
  },
  {
    name: 'bias + geluTanh', fused: (x, b) => V.biasActivation(x, b, 'geluTanh'), unfused: (x, b) => V.geluTanh(V.add(x, b)),
    shapes: [[3, 6], [6]],
  },
  { name: 'gelu', fused: (x) => V.fusedActivation(x, 'gelu'), unfused: (x) => V.gelu(x), shapes: [[3, 4]] },
  {
    name: 'bias + silu', fused: (x, b) => V.biasActivation(x, b, 'silu'), unfused: (x, b) => V.silu(V.add(x, b)),
    shapes: [[3, 4], [1, 4]],
  },
  {
    name: 'where / clamp / exp / tanh / sigmoid', fused: (x, y) => chain(x, y),
    unfused: (x, y) => V.sub(V.where(V.gt(x, 0), V.mul(x, y), V.exp(V.clamp(y, -0.5, 0.5))), V.mul(V.tanh(x), V.sigmoid(y))),
    shapes: [[3, 4], [4]],
  },
  {
    name: 'div / pow / abs / maximum / sin', fused: (a, b) => quotient(a, b),
    unfused: (a, b) => V.maximum(V.add(V.div(a, V.add(V.square(b), 1)), V.pow(V.add(V.abs(a), 1), V.clamp(b, -2, 2))), V.sin(b)),
    shapes: [[2, 3], [2, 1]],
  },
];

function input(shape: number[], positive: boolean, rng: V.Rng, dtype: V.DType): Tensor {
  const t = V.randn(shape, rng, { dtype: 'float64' });
  return V.cast(positive ? V.add(V.mul(V.sigmoid(t), 1.5), 0.5) : t, dtype);
}

function inputs(c: Case, seed: number, dtype: V.DType = 'float64'): Tensor[] {
  const rng = new V.Rng(seed);
  return c.shapes.map((s, k) => input(s, c.positive?.includes(k) ?? false, rng, dtype));
}

/** The same values as strided views: the last two axes stored transposed. */
function strided(x: Tensor): Tensor {
  if (x.rank < 2) return V.flip(V.flip(x, 0), 0);
  return V.transpose(V.contiguous(V.transpose(x, -1, -2)), -1, -2);
}

const wrtOf = (c: Case) => c.shapes.map((_, k) => k).filter((k) => !c.constant?.includes(k));

/** Output and VJPs (cotangent sin(1.3i + 0.7)) of f at xs for the inputs in `wrt`. */
function outputAndVjps(f: Fn, xs: Tensor[], wrt: number[]): Tensor[] {
  const { output, pullback } = V.vjp((...ws: Tensor[]) => f(...xs.map((x, k) => (wrt.includes(k) ? ws[wrt.indexOf(k)]! : x))), ...wrt.map((k) => xs[k]!));
  const cot = V.tensor(Array.from({ length: output.size }, (_, i) => Math.sin(1.3 * i + 0.7)), { dtype: output.dtype, shape: output.shape });
  return [output, ...pullback(cot)];
}

describe.each(CASES)('$name', (c) => {
  test('cpu float64: forward bit for bit, gradients equal the unfused chain\'s, one backend call forward', () => {
    V.tidy(() => {
      const xs = inputs(c, 1);
      const fused = outputAndVjps(c.fused, xs, wrtOf(c)), unfused = outputAndVjps(c.unfused, xs, wrtOf(c));
      expect(fused[0]!.shape).toEqual(unfused[0]!.shape);
      expect(Array.from(fused[0]!.dataSync())).toEqual(Array.from(unfused[0]!.dataSync()));
      for (let k = 1; k < fused.length; k++) {
        expect(fused[k]!.shape).toEqual(unfused[k]!.shape);
        expectClose(fused[k]!.dataSync(), unfused[k]!.dataSync(), { atol: 1e-13, rtol: 1e-12 }, `${c.name} gradient ${k - 1}`);
      }
    });
  });

  test('cpu float32 and strided/broadcast views: forward bit for bit', () => {
    V.tidy(() => {
      for (const xs of [inputs(c, 2, 'float32'), inputs(c, 3).map(strided)]) {
        expect(Array.from(c.fused(...xs).dataSync())).toEqual(Array.from(c.unfused(...xs).dataSync()));
      }
    });
  });

  test('float64 gradcheck, first and second order', () => {
    V.tidy(() => {
      const xs = inputs(c, 4);
      const wrt = wrtOf(c);
      const first = V.gradcheck(c.fused, xs, { wrt });
      expect(first.ok, JSON.stringify(first.mismatches.slice(0, 3))).toBe(true);
      // x ↦ ∇ Σ r ⊙ f(x) with createGraph, differentiated again
      const r = V.randn(c.fused(...xs).shape, new V.Rng(5), { dtype: 'float64' });
      const gradSum: Fn = (...ys) => V.enableGrad(() => {
        const leaves = ys.map((y, k) => (wrt.includes(k) && !y.requiresGrad ? V.detach(y).requireGrad() : y));
        const gs = V.gradients(V.sum(V.mul(c.fused(...leaves), r)), wrt.map((k) => leaves[k]!), undefined, { createGraph: true });
        return gs.reduce((acc, g) => V.add(acc, V.sum(V.mul(g, g))), V.scalar(0, 'float64'));
      });
      const second = V.gradcheck(gradSum, xs, { wrt });
      expect(second.ok, JSON.stringify(second.mismatches.slice(0, 3))).toBe(true);
    });
  });

  test('strided operands: gradients equal the unfused chain\'s', () => {
    V.tidy(() => {
      const xs = inputs(c, 6).map(strided);
      const fused = outputAndVjps(c.fused, xs, wrtOf(c)), unfused = outputAndVjps(c.unfused, xs, wrtOf(c));
      fused.forEach((t, k) => expectClose(t.dataSync(), unfused[k]!.dataSync(), F64, `${c.name} ${k === 0 ? 'output' : `gradient ${k - 1}`}`));
    });
  });

  test('fusion switched off runs the same chain op by op', () => {
    V.tidy(() => {
      const xs = inputs(c, 7);
      const on = outputAndVjps(c.fused, xs, wrtOf(c));
      V.setFusionEnabled(false);
      try {
        const off = outputAndVjps(c.fused, xs, wrtOf(c)), unfused = outputAndVjps(c.unfused, xs, wrtOf(c));
        off.forEach((t, k) => expect(Array.from(t.dataSync())).toEqual(Array.from(unfused[k]!.dataSync())));
        expect(Array.from(on[0]!.dataSync())).toEqual(Array.from(off[0]!.dataSync()));
      } finally {
        V.setFusionEnabled(true);
      }
    });
  });
});

describe(`on the gpu backend (gpu.js ${process.env.FUSION_GPU_MODE ?? 'cpu mode, asynchronous reads'})`, () => {
  let gpu: V.GpuBackend;
  beforeAll(async () => {
    await startGpu();
    gpu = V.getBackendByName('gpu') as V.GpuBackend;
  });
  afterAll(() => V.setBackend('cpu'));

  /** Output and VJPs on `backend` from the same float32 values; dispatches of the forward alone. */
  async function run(backend: string, c: Case, f: Fn, view: boolean): Promise<{ values: number[][]; forwardDispatches: number; leaked: number }> {
    const host = V.tidy(() => inputs(c, 8, 'float32').map((x) => Array.from(x.dataSync())));
    V.setBackend(backend);
    const be = V.getBackend();
    const live = be.memory().numDataBuffers;
    try {
      const kept: Tensor[] = [];
      let forwardDispatches = 0;
      V.tidy(() => {
        const xs = c.shapes.map((s, k) => (view ? strided : (t: Tensor) => t)(V.tensor(host[k]!, { shape: s })));
        const before = gpu.counters().dispatches;
        V.noGrad(() => f(...xs));
        forwardDispatches = gpu.counters().dispatches - before;
        for (const t of outputAndVjps(f, xs, wrtOf(c))) kept.push(V.keep(t));
      });
      const values: number[][] = [];
      for (const t of kept) values.push(Array.from(await t.data()));
      kept.forEach((t) => t.dispose());
      return { values, forwardDispatches, leaked: be.memory().numDataBuffers - live };
    } finally {
      V.setBackend('cpu');
    }
  }

  test.each(CASES)('$name: forward in one dispatch, outputs and VJPs equal the cpu backend\'s unfused chain, no leak', async (c) => {
    for (const view of [false, true]) {
      const want = await run('cpu', c, c.unfused, view);
      const got = await run('gpu', c, c.fused, view);
      expect(got.forwardDispatches).toBe(1);
      expect(got.leaked).toBe(0);
      got.values.forEach((v, k) => expectClose(v, want.values[k]!, GPU_TOLERANCE, `${c.name} ${k === 0 ? 'output' : `gradient ${k - 1}`}${view ? ' (views)' : ''}`));
    }
  });

  test('act(x + b) backward: x and b share one gradient pass (then b\'s reduction)', () => {
    V.setBackend('gpu');
    try {
      V.tidy(() => {
        const x = V.randn([3, 6], new V.Rng(1)).requireGrad(), b = V.randn([6], new V.Rng(2)).requireGrad();
        const out = V.biasActivation(x, b, 'geluTanh');
        const cot = V.onesLike(out);
        let before = gpu.counters().dispatches;
        V.sumToShape(cot, [6]);
        const reduction = gpu.counters().dispatches - before;
        before = gpu.counters().dispatches;
        V.gradients(out, [x, b], [cot]);
        expect(gpu.counters().dispatches - before).toBe(1 + reduction);
      });
    } finally {
      V.setBackend('cpu');
    }
  });

  test('int32 programs truncate every step as the int kernels do', async () => {
    const f = V.fusedFunction('intChain', (a, b) => a.div(b).add(a.mul(b)).sub(1));
    const a = [7, -7, 9, 100, -3, 5], b = [2, 2, -4, 7, 2, 3];
    const on = async (backend: string, fn: Fn) => {
      V.setBackend(backend);
      try {
        const t = V.tidy(() => V.keep(fn(V.tensor(a, { dtype: 'int32' }), V.tensor(b, { dtype: 'int32' }))));
        const values = Array.from(await t.data());
        t.dispose();
        return values;
      } finally {
        V.setBackend('cpu');
      }
    };
    const want = await on('cpu', (x, y) => V.sub(V.add(V.div(x, y), V.mul(x, y)), 1));
    expect(await on('cpu', f)).toEqual(want);
    expect(await on('gpu', f)).toEqual(want);
  });
});

describe('generated gpu.js kernels compile to WGSL (no device needed)', () => {
  const gpuJs = createRequire(import.meta.url)('gpu.js') as GpuJsModule;
  test.each(CASES)('$name: forward and gradient programs, parameters within the runner\'s 512-byte slot', (c) => {
    // the programs this case runs, as the cpu backend receives them
    const cpu = V.getBackendByName('cpu');
    const programs = new Map<string, V.FusedProgram>();
    const original = cpu.fusedElementwise.bind(cpu);
    cpu.fusedElementwise = (p, ...rest) => { programs.set(p.key, p); return original(p, ...rest); };
    try {
      V.tidy(() => outputAndVjps(c.fused, inputs(c, 9), wrtOf(c)));
    } finally {
      cpu.fusedElementwise = original;
    }
    expect(programs.size).toBeGreaterThan(1);
    [...programs.values()].forEach((p, i) => {
      const source = fusedKernelSource(p, false);
      const k = compileWgsl(gpuJs, `fusedTest${i}`, source, KERNEL_SETTINGS);
      expect(k.code).toMatch(/@compute/);
      expect(k.scalars).toHaveLength(source.scalars.length);
      expect(k.paramBytes).toBeLessThanOrEqual(512);
      expect(k.paramBytes).toBe(fusedParamBytes(p));
    });
  });

  test('the parameter size the runner checks before dispatching is gpu.js\'s, for 1 to 9 inputs and 0 to 7 constants', () => {
    for (const n of [1, 2, 3, 5, 8, 9]) {
      for (const m of [0, 3, 7]) {
        // x0 + x1 + … then m multiplications by constants
        const p = V.trace(n, (...xs) => {
          let acc = xs.slice(1).reduce((a, x) => a.add(x), xs[0]!);
          for (let j = 0; j < m; j++) acc = acc.mul(j + 2);
          return acc;
        });
        expect(p.constants).toHaveLength(m);
        expect(compileWgsl(gpuJs, `fusedSize${n}_${m}`, fusedKernelSource(p, false), KERNEL_SETTINGS).paramBytes).toBe(fusedParamBytes(p));
      }
    }
  });
});

describe('programs', () => {
  test('the key is the structure: constants differ without a new key, common subexpressions are shared', () => {
    const p1 = V.trace(2, (a, b) => a.mul(b).add(a.mul(b)).mul(1.5));
    const p2 = V.trace(2, (a, b) => a.mul(b).add(a.mul(b)).mul(-3));
    expect(p1.key).toBe(p2.key);
    expect(p1.constants).toEqual([1.5]);
    expect(p2.constants).toEqual([-3]);
    expect(V.trace(2, (a, b) => a.mul(b)).key).not.toBe(V.trace(2, (a, b) => b.mul(a)).key);
    // a·b appears twice in the source, once in the program: mul, add, mul
    expect(p1.instrs.filter((i) => i.kind === 'binary')).toHaveLength(3);
    // constants fold (in double precision, as JavaScript arithmetic before an op would)
    expect(V.trace(1, (x) => x.mul(x.builder.constant(2).add(0.5))).constants).toEqual([2.5]);
  });

  test('a gradient that does not depend on an input is zero; one that only forwards g runs no kernel', () => {
    V.tidy(() => {
      const f = V.fusedFunction('shiftOnly', (x, s) => x.add(s.gt(0)));
      const x = V.randn([3], new V.Rng(1), { dtype: 'float64' }).requireGrad();
      const s = V.randn([3], new V.Rng(2), { dtype: 'float64' }).requireGrad();
      const [gx, gs] = V.gradients(V.sum(f(x, s)), [x, s]);
      expect(Array.from(gx!.dataSync())).toEqual([1, 1, 1]);
      expect(Array.from(gs!.dataSync())).toEqual([0, 0, 0]);
    });
  });

  test('only inputs a gradient program reads are saved: the residual stream x of x + y·γ is not', () => {
    V.tidy(() => {
      const rng = new V.Rng(3);
      const [x, g, y] = [[2, 3], [3], [2, 3]].map((s) => V.randn(s, rng, { dtype: 'float64' }).requireGrad());
      const out = V.gatedResidual(x!, g!, y!);
      const before = V.memory().numTensors, buffers = V.getBackend().memory().numDataBuffers;
      x!.dispose();
      expect(V.memory().numTensors).toBe(before - 1);
      expect(V.getBackend().memory().numDataBuffers).toBe(buffers - 1);
      const [gg, gy] = V.gradients(V.sum(out), [g!, y!]);
      expect(Array.from(gg!.dataSync())).toEqual(Array.from(V.sum(y!, 0).dataSync()));
      expect(Array.from(gy!.dataSync())).toEqual(Array.from(V.expand(g!, [2, 3]).dataSync()));
    });
  });

  test('wrong arity and mixed dtypes are one-line errors naming the op', () => {
    V.tidy(() => {
      const x = V.ones([2]), y = V.ones([2], { dtype: 'float64' });
      expect(() => (V.modulate as unknown as Fn)(x, x)).toThrow(/modulate: takes 3 arguments, got 2/);
      expect(() => V.gatedResidual(x, x, y)).toThrow(/gatedResidual.*dtype mismatch/);
    });
  });
});

// ---------- random programs ----------

type Step = { op: string; a: number; b: number };
const UNARY_STEPS = ['neg', 'abs', 'exp', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'square', 'geluTanh', 'softplus', 'erf', 'safeLog', 'safeSqrt', 'clamp'];
const BINARY_STEPS = ['add', 'sub', 'mul', 'maximum', 'minimum', 'safeDiv', 'safePow', 'where', 'constMul'];

/** Applies a step to two earlier values, on traced values or on tensors alike (the ops share method names). */
function applyStep<T extends V.FusedValue | Tensor>(s: Step, a: T, b: T, where: (c: T, x: T, y: T) => T): T {
  const u = a as V.FusedValue & Tensor, w = b as V.FusedValue & Tensor;
  switch (s.op) {
    case 'safeLog': return u.square().add(1).log() as T;
    case 'safeSqrt': return u.square().add(0.5).sqrt() as T;
    case 'clamp': return u.clamp(-0.7, 0.9) as T;
    case 'safeDiv': return u.div(w.square().add(1)) as T;
    case 'safePow': return u.abs().add(1).pow(w.clamp(-2, 2)) as T;
    case 'where': return where(u.gt(w) as T, u.mul(w) as T, w.tanh() as T);
    case 'constMul': return u.mul(1.25).add(-0.5) as T;
    case 'erf': return (a instanceof V.Tensor ? V.erf(a) : (a as V.FusedValue).erf()) as T;
    default: return (UNARY_STEPS.includes(s.op) ? (u as unknown as Record<string, () => T>)[s.op]!() : (u as unknown as Record<string, (x: T) => T>)[s.op]!(w as T)) as T;
  }
}

const programArb = fc.record({
  numInputs: fc.integer({ min: 1, max: 3 }),
  base: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
  masks: fc.array(fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), { minLength: 3, maxLength: 3 }),
  steps: fc.array(fc.record({
    op: fc.constantFrom(...UNARY_STEPS, ...BINARY_STEPS), a: fc.nat(), b: fc.nat(),
  }), { minLength: 1, maxLength: 6 }),
  seed: fc.nat(),
});

type ProgramSpec = { numInputs: number; base: number[]; masks: boolean[][]; steps: Step[]; seed: number };

/** Input k's shape: the base shape with the dims its mask marks set to 1 (so all inputs broadcast together). */
const shapeOf = (p: ProgramSpec, k: number) => p.base.map((d, i) => (p.masks[k]![i] ? 1 : d));

/** The unfused evaluation, broadcast to all inputs' shape (a fused program's output has it even where unread). */
function evaluateTensors(p: ProgramSpec, xs: Tensor[]): Tensor {
  const out = evaluate(p, xs, (c, a, b) => V.where(c, a, b));
  return V.expand(out, V.broadcastShapes(xs.map((x) => x.shape), 'test'));
}

function evaluate<T extends V.FusedValue | Tensor>(p: ProgramSpec, xs: T[], where: (c: T, x: T, y: T) => T): T {
  const values = [...xs];
  for (const s of p.steps) values.push(applyStep(s, values[s.a % values.length]!, values[s.b % values.length]!, where));
  return values[values.length - 1]!;
}

function randomInputs(p: ProgramSpec, dtype: V.DType = 'float64'): Tensor[] {
  const rng = new V.Rng(p.seed);
  return Array.from({ length: p.numInputs }, (_, k) => V.cast(V.randn(shapeOf(p, k), rng, { dtype: 'float64' }), dtype));
}

describe('random programs over broadcastable shapes', () => {
  test('cpu float64: forward bit for bit, gradients equal the unfused evaluation\'s', () => {
    fc.assert(fc.property(programArb, (p) => V.tidy(() => {
      const xs = randomInputs(p);
      const traced = V.trace(p.numInputs, (...vs) => evaluate(p, vs, (c, a, b) => V.select(c, a, b)));
      const fused: Fn = (...ys) => V.applyProgram(traced, ys, 'random');
      const unfused: Fn = (...ys) => evaluateTensors(p, ys);
      const wrt = xs.map((_, k) => k);
      const got = outputAndVjps(fused, xs, wrt), want = outputAndVjps(unfused, xs, wrt);
      expect(Array.from(got[0]!.dataSync())).toEqual(Array.from(want[0]!.dataSync()));
      for (let k = 1; k < got.length; k++) expectClose(got[k]!.dataSync(), want[k]!.dataSync(), { atol: 1e-10, rtol: 1e-9 }, `gradient ${k - 1}`);
    })), { numRuns: 60, seed: 17 });
  });

  test('gpu backend: forward equals the cpu backend\'s unfused evaluation', async () => {
    await startGpu();
    await fc.assert(fc.asyncProperty(programArb, async (p) => {
      const want = V.tidy(() => Array.from(evaluateTensors(p, randomInputs(p, 'float32')).dataSync()));
      const host = V.tidy(() => randomInputs(p, 'float32').map((x) => ({ values: Array.from(x.dataSync()), shape: x.shape })));
      V.setBackend('gpu');
      try {
        const traced = V.trace(p.numInputs, (...vs) => evaluate(p, vs, (c, a, b) => V.select(c, a, b)));
        const out = V.tidy(() => V.keep(V.applyProgram(traced, host.map((h) => V.tensor(h.values, { shape: h.shape })), 'random')));
        const got = Array.from(await out.data());
        out.dispose();
        expectClose(got, want, GPU_TOLERANCE, 'output');
      } finally {
        V.setBackend('cpu');
      }
    }), { numRuns: 15, seed: 23 });
  });
});
