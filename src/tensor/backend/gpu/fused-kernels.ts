// gpu.js lowering of fused elementwise programs (src/tensor/fusion): one generated kernel source per program key, in
// the style of kernel-sources.ts (1-D output, strided views of up to MAX_RANK dims with exact index arithmetic,
// constants as Float scalars), defined on the runner at first use. Each instruction is its primitive kernel's math.

import type { BinaryOp, TensorInfo, UnaryOp } from '../backend.js';
import type { Shape } from '../../shape.js';
import type { FusedInstr, FusedProgram } from '../../fusion/program.js';
import { collapseDims } from '../cpu/strided-loop.js';
import { coordinates, flatIndex, MAX_RANK, viewIndex, type KernelSource } from './kernel-sources.js';
import type { DeviceArray, KernelRunner } from './kernel-runner.js';

// tanh written out, saturated beyond ±15 (some shader compilers' tanh returns NaN for large |x|)
const tanhOf = (y: string, v: string) =>
  `if (${v} > 15) { ${y} = 1; } else if (${v} < -15) { ${y} = -1; } else { ${y} = 1 - 2 / (Math.exp(2 * ${v}) + 1); }`;

/** Statements setting `y` (declared 0.0) from operand `v`; `t` prefixes temporaries unique to the instruction. */
const UNARY: Record<UnaryOp, (y: string, v: string, t: string) => string> = {
  neg: (y, v) => `${y} = -${v};`,
  abs: (y, v) => `${y} = Math.abs(${v});`,
  exp: (y, v) => `${y} = Math.exp(${v});`,
  log: (y, v) => `${y} = Math.log(${v});`,
  sqrt: (y, v) => `${y} = Math.sqrt(${v});`,
  rsqrt: (y, v) => `${y} = 1 / Math.sqrt(${v});`,
  sin: (y, v) => `${y} = Math.sin(${v});`,
  cos: (y, v) => `${y} = Math.cos(${v});`,
  tanh: tanhOf,
  sigmoid: (y, v) => `${y} = 1 / (1 + Math.exp(-${v}));`,
  relu: (y, v) => `${y} = Math.max(${v}, 0);`,
  sign: (y, v) => `if (${v} > 0) { ${y} = 1; } else if (${v} < 0) { ${y} = -1; } else { ${y} = ${v}; }`,
  floor: (y, v) => `${y} = Math.floor(${v});`,
  erf: (y, v, t) => `let ${t}a = Math.abs(${v});
  let ${t}t = 1 / (1 + 0.3275911 * ${t}a);
  let ${t}p = ${t}t * (0.254829592 + ${t}t * (-0.284496736 + ${t}t * (1.421413741 + ${t}t * (-1.453152027 + ${t}t * 1.061405429))));
  let ${t}e = 1 - ${t}p * Math.exp(-${t}a * ${t}a);
  if (${v} < 0) { ${y} = -${t}e; } else { ${y} = ${t}e; }`,
  softplus: (y, v) => `if (${v} > 20) { ${y} = ${v}; } else { ${y} = Math.log(1 + Math.exp(${v})); }`,
  step: (y, v) => `if (${v} > 0) { ${y} = 1; }`,
  square: (y, v) => `${y} = ${v} * ${v};`,
  reciprocal: (y, v) => `${y} = 1 / ${v};`,
  geluTanh: (y, v, t) => `let ${t}u = 0.7978845608028654 * (${v} + 0.044715 * ${v} * ${v} * ${v});
  let ${t}h = 0.0;
  ${tanhOf(`${t}h`, `${t}u`)}
  ${y} = 0.5 * ${v} * (1 + ${t}h);`,
  geluTanhGrad: (y, v, t) => `let ${t}u = 0.7978845608028654 * (${v} + 0.044715 * ${v} * ${v} * ${v});
  let ${t}h = 0.0;
  ${tanhOf(`${t}h`, `${t}u`)}
  ${y} = 0.5 * (1 + ${t}h) + 0.5 * ${v} * (1 - ${t}h * ${t}h) * 0.7978845608028654 * (1 + 3 * 0.044715 * ${v} * ${v});`,
};

const compare = (rel: string) => (y: string, a: string, b: string) => `if (${a} ${rel} ${b}) { ${y} = 1; }`;

/** Statements setting `y` (declared 0.0) from operands `a` and `b`. */
const BINARY: Record<BinaryOp, (y: string, a: string, b: string, t: string) => string> = {
  add: (y, a, b) => `${y} = ${a} + ${b};`,
  sub: (y, a, b) => `${y} = ${a} - ${b};`,
  mul: (y, a, b) => `${y} = ${a} * ${b};`,
  div: (y, a, b) => `${y} = ${a} / ${b};`,
  // integer exponents of negative bases keep their sign (pow of a negative float is NaN in shaders)
  pow: (y, a, b, t) => `if (${b} == 0) { ${y} = 1; }
  else if (${a} < 0 && Math.floor(${b}) == ${b}) {
    let ${t}m = Math.pow(-${a}, ${b});
    let ${t}h = ${b} * 0.5;
    if (Math.floor(${t}h) == ${t}h) { ${y} = ${t}m; } else { ${y} = -${t}m; }
  } else { ${y} = Math.pow(${a}, ${b}); }`,
  maximum: (y, a, b) => `${y} = Math.max(${a}, ${b});`,
  minimum: (y, a, b) => `${y} = Math.min(${a}, ${b});`,
  eq: compare('=='), ne: compare('!='), lt: compare('<'), le: compare('<='), gt: compare('>'), ge: compare('>='),
};

function statements(i: FusedInstr, k: number): string {
  const y = `v${k}`, v = (n: number) => `v${n}`, t = `t${k}`;
  switch (i.kind) {
    case 'input': return `let ${y} = x${i.index}[${viewIndex(`x${i.index}`)}];`;
    case 'const': return `let ${y} = k${i.slot};`;
    case 'unary': return `let ${y} = 0.0;\n  ${UNARY[i.op](y, v(i.x), t)}`;
    case 'binary': return `let ${y} = 0.0;\n  ${BINARY[i.op](y, v(i.a), v(i.b), t)}`;
    case 'where': return `let ${y} = ${v(i.b)};\n  if (${v(i.cond)} != 0) { ${y} = ${v(i.a)}; }`;
    case 'clamp': return `let ${y} = Math.min(Math.max(${v(i.x)}, k${i.lo}), k${i.hi});`;
  }
}

/** int32 tensors are exact floats on the device: computed values are truncated toward zero, as the int kernels do. */
const truncate = (y: string) => `if (${y} < 0) { ${y} = Math.ceil(${y}); } else { ${y} = Math.floor(${y}); }`;

const range = (n: number) => Array.from({ length: n }, (_, k) => k);

/** The gpu.js kernel of a program: arrays x0.., then per input its view (xKo, xKs0..5), dims d0..d5, constants k0... */
export function fusedKernelSource(p: FusedProgram, toInt: boolean): KernelSource {
  const body = p.instrs.map((i, k) => {
    const s = statements(i, k);
    return toInt && i.kind !== 'input' && i.kind !== 'const' ? `${s}\n  ${truncate(`v${k}`)}` : s;
  });
  return {
    arrays: range(p.numInputs).map((k) => `x${k}`),
    scalars: [
      ...range(p.numInputs).flatMap((k) => [`x${k}o`, ...range(MAX_RANK).map((d) => `x${k}s${d}`)]),
      ...range(MAX_RANK).map((d) => `d${d}`),
      ...p.constants.map((_, s) => `k${s}`),
    ],
    body: `${flatIndex}${coordinates()}${body.join('\n  ')}\n  return v${p.output};`,
  };
}

/** Generated kernels by program key: their names are global, each runner gets the definition on first use. */
const kernels = new Map<string, { name: string; source: KernelSource }>();

/** Parameter bytes a WebGPU runner gives one dispatch (webgpu-runner.ts's slots). */
const MAX_PARAM_BYTES = 512;

/** The size of a program kernel's uniform block in gpu.js's layout: 16 bytes of output dims, 16 per array, 4 per scalar, in 16s. */
export function fusedParamBytes(p: FusedProgram): number {
  return Math.ceil((16 + 16 * p.numInputs + 4 * ((MAX_RANK + 1) * p.numInputs + MAX_RANK + p.constants.length)) / 16) * 16;
}

/**
 * Runs `p` as one kernel on `runner`, or returns null where that is not possible (a runner without runtime kernels,
 * views of more than MAX_RANK dims after merging, or more parameters than a dispatch holds): the caller then falls
 * back to the primitive kernels.
 */
export function runFusedKernel(
  runner: KernelRunner, p: FusedProgram, inputs: readonly TensorInfo[], arrays: readonly DeviceArray[], outShape: Shape,
  length: number, toInt: boolean,
): DeviceArray | null {
  if (!runner.define) return null;
  const { shape, strides } = collapseDims(outShape, inputs.map((x) => x.strides));
  if (shape.length > MAX_RANK) return null;
  if (fusedParamBytes(p) > MAX_PARAM_BYTES) return null;
  const sourceKey = `${p.key}${toInt ? '|int' : ''}`;
  let kernel = kernels.get(sourceKey);
  if (!kernel) {
    kernel = { name: `fused${kernels.size}`, source: fusedKernelSource(p, toInt) };
    kernels.set(sourceKey, kernel);
  }
  runner.define(kernel.name, kernel.source);
  // per input its offset and strides, then the dims, each padded to MAX_RANK with leading (stride 0, dim 1) entries
  const pad = MAX_RANK - shape.length;
  const scalars: number[] = [];
  inputs.forEach((x, k) => {
    scalars.push(x.offset);
    for (let d = 0; d < pad; d++) scalars.push(0);
    scalars.push(...strides[k]!);
  });
  for (let d = 0; d < pad; d++) scalars.push(1);
  scalars.push(...shape, ...p.constants);
  return runner.run(kernel.name, length, arrays, scalars);
}
