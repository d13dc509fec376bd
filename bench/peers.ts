// Side-by-side peer benchmark: the same workloads on this engine and on TF.js (cpu and wasm backends) in one process,
// plus PyTorch figures read from bench/results/peers-torch.json (written by bench/peers-torch.py) when present.
// Run: npm run bench:peers -- [--only matmul,block] [--samples N] [--skip-slow] [--json path]   (method: docs/notes/benchmarks.md)

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  AdamW, LayerNorm, Linear, Module, MultiheadAttention, Rng, Tensor, add, attention, conv2d, describeCpuKernels, geluTanh,
  getNumThreads, gradients, loadTransformer, matmul, mean, noGrad, randn, setNumThreads, square, sub, sum, tensor, tidy,
  VQVAE, TOKENIZER_SMALL, VIAR_SMALL, createModel, TransformerTrainer, type VIAR,
} from '../src/index.js';
import { loadTokenizerCheckpoint } from '../src/cli/edit-commands.js';

// The slice of the TF.js API used here, typed locally: importing tfjs's own declarations would pull
// @webgpu/types into the project's global types (it redefines BufferSource and breaks src/ type checks).
interface TfTensor { readonly shape: number[]; dataSync(): Float32Array; dispose(): void; clone(): TfTensor }
interface TfVariable extends TfTensor { readonly name: string; assign(value: TfTensor): void }
type TfArg = TfTensor | number;
interface Tf {
  version: { tfjs: string };
  env(): { set(flag: string, value: boolean): void; getBool(flag: string): boolean };
  getBackend(): string;
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  tensor(values: Float32Array, shape: number[]): TfTensor;
  zeros(shape: number[]): TfTensor;
  variable(initial: TfTensor, trainable?: boolean, name?: string): TfVariable;
  tidy<T>(fn: () => T): T;
  dispose(tensors: TfTensor | TfTensor[]): void;
  add(a: TfArg, b: TfArg): TfTensor;
  sub(a: TfArg, b: TfArg): TfTensor;
  mul(a: TfArg, b: TfArg): TfTensor;
  div(a: TfArg, b: TfArg): TfTensor;
  pow(a: TfTensor, b: number): TfTensor;
  square(x: TfTensor): TfTensor;
  sqrt(x: TfTensor): TfTensor;
  rsqrt(x: TfTensor): TfTensor;
  tanh(x: TfTensor): TfTensor;
  sum(x: TfTensor): TfTensor;
  mean(x: TfTensor, axis?: number, keepDims?: boolean): TfTensor;
  softmax(x: TfTensor, axis?: number): TfTensor;
  matMul(a: TfTensor, b: TfTensor, transposeA?: boolean, transposeB?: boolean): TfTensor;
  transpose(x: TfTensor, perm: number[]): TfTensor;
  reshape(x: TfTensor, shape: number[]): TfTensor;
  split(x: TfTensor, n: number, axis: number): TfTensor[];
  conv2d(x: TfTensor, filter: TfTensor, strides: number, pad: 'same' | 'valid'): TfTensor;
  grads(f: (...xs: TfTensor[]) => TfTensor): (xs: TfTensor[]) => TfTensor[];
  variableGrads(f: () => TfTensor, varList: TfVariable[]): { value: TfTensor; grads: Record<string, TfTensor> };
}

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..');

// ---------------------------------------------------------------------------------------------------------------
// CLI

const WORKLOADS = ['matmul256', 'matmul512', 'matmul1024', 'attention', 'conv-fwd', 'conv-fwdbwd', 'block', 'viar-step', 'viar-sample'] as const;
type WorkloadName = (typeof WORKLOADS)[number];

const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    samples: { type: 'string' },
    'skip-slow': { type: 'boolean', default: false },
    threads: { type: 'string' },
    json: { type: 'string', default: join(here, 'results', 'peers.json') },
    torch: { type: 'string', default: join(here, 'results', 'peers-torch.json') },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

if (args.help) {
  console.log(`usage: npm run bench:peers -- [options]
  --only <names>   comma-separated workloads or prefixes (${WORKLOADS.join(', ')}; 'matmul' selects all three)
  --samples <n>    timed samples per measurement (default: 5 for matmul ≥ 512 and tfjs-cpu block, 11 for the block
                   step, 7 otherwise; the tfjs-cpu conv backward always takes 1 sample, ~16 s)
  --skip-slow      skip the tfjs-cpu conv backward and the tfjs-cpu block step
  --threads <n>    threads for our engine (setNumThreads; default: the engine's, VIAR_NUM_THREADS or all cores)
  --json <path>    results file (default bench/results/peers.json)
  --torch <path>   PyTorch results to show beside (default bench/results/peers-torch.json)`);
  process.exit(0);
}

const onlyList = args.only ? args.only.split(',').map((s) => s.trim()).filter(Boolean) : null;
// a token selects the workload of that name, or every workload it prefixes when it names none ('matmul', 'conv')
const selected = (name: WorkloadName) => !onlyList ||
  onlyList.some((o) => name === o || (name.startsWith(o) && !(WORKLOADS as readonly string[]).includes(o)));
if (onlyList && !WORKLOADS.some(selected)) {
  console.error(`--only ${args.only}: no workload matches (known: ${WORKLOADS.join(', ')})`);
  process.exit(2);
}
const samplesOverride = args.samples === undefined ? null : Number(args.samples);
if (samplesOverride !== null && !(Number.isInteger(samplesOverride) && samplesOverride >= 1)) {
  console.error(`--samples must be a positive integer, got '${args.samples}'`);
  process.exit(2);
}
const skipSlow = args['skip-slow'] === true;
if (args.threads !== undefined) {
  const n = Number(args.threads);
  if (!(Number.isInteger(n) && n >= 1)) {
    console.error(`--threads must be a positive integer, got '${args.threads}'`);
    process.exit(2);
  }
  const got = setNumThreads(n);
  if (got !== n) console.warn(`--threads ${n}: the engine runs ${got} thread(s)`);
}

// ---------------------------------------------------------------------------------------------------------------
// Timing: median of samples after warm-up; a sample repeats the call until it lasts ≥ minMs (or is one call).

interface Timing {
  ms: number;
  samplesMs: number[];
  reps: number;
  /** Process CPU time ÷ wall time over the timed part (includes V8's GC and compiler threads). */
  cores: number;
}

interface TimeOptions {
  samples: number;
  /** 0: a sample is exactly one call and no calibration call is made. */
  minMs: number;
  warmup: number;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function measure(fn: () => void, opts: TimeOptions): Timing {
  let last = 0;
  for (let i = 0; i < opts.warmup; i++) {
    const t0 = performance.now();
    fn();
    last = performance.now() - t0;
    if (last > 1000) break; // one warm-up call is enough for calls that take seconds
  }
  let reps = 1;
  if (opts.minMs > 0) {
    let once = last;
    if (last <= 1000) { // calibration call
      const t0 = performance.now();
      fn();
      once = performance.now() - t0;
    }
    reps = Math.max(1, Math.ceil(opts.minMs / Math.max(once, 1e-3)));
  }
  const samplesMs: number[] = [];
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let s = 0; s < opts.samples; s++) {
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) fn();
    samplesMs.push((performance.now() - t0) / reps);
  }
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - wall0;
  return { ms: median(samplesMs), samplesMs, reps, cores: (cpu.user + cpu.system) / 1000 / wall };
}

// ---------------------------------------------------------------------------------------------------------------
// Peers: TF.js through the union package (its CommonJS build registers gradients; tfjs-core alone does not).

const require = createRequire(import.meta.url);
const tf = require('@tensorflow/tfjs') as Tf;
const tfWasm = require('@tensorflow/tfjs-backend-wasm') as { getThreadsCount(): number };
tf.env().set('PROD', true); // only silences tfjs's console warnings (the "install tfjs-node" banner)

type Impl = 'viar' | 'tfjs-cpu' | 'tfjs-wasm';
const TFJS_IMPLS = ['tfjs-cpu', 'tfjs-wasm'] as const;
type TfjsImpl = (typeof TFJS_IMPLS)[number];

async function useTfjs(impl: TfjsImpl): Promise<void> {
  const name = impl === 'tfjs-cpu' ? 'cpu' : 'wasm';
  if (tf.getBackend() !== name) {
    if (!(await tf.setBackend(name))) throw new Error(`tfjs backend '${name}' failed to initialize`);
    await tf.ready();
  }
}


// ---------------------------------------------------------------------------------------------------------------
// Workloads: each implementation gets a case with a timed `run` (which reads its result back) and `dispose`.

interface Case {
  run(): void;
  dispose(): void;
  /** One call's output for a cross-check against ours (outside the timed part), in our layout. */
  output?(): Float32Array;
  /** Extra facts to record (e.g. the block's losses). */
  info?(): Record<string, unknown>;
}

interface Workload {
  name: WorkloadName;
  label: string;
  flops: number;
  /** Default sample count and whether a sample is a single call, per implementation. */
  plan(impl: Impl): { samples: number; oneCall: boolean; warmup: number; slow?: boolean };
  viar(): Case;
  tfjs(impl: TfjsImpl): Case;
}

/** Random N(0, 1) float32 values from our seeded Rng. */
function randomData(shape: number[], rng: Rng): Float32Array {
  const t = randn(shape, rng);
  const d = t.dataSync() as Float32Array;
  t.dispose();
  return d;
}

/**
 * A workload's inputs, made once from its own seed: every implementation gets the same values, and they do not
 * depend on which other workloads --only selected.
 */
function inputs<T>(seed: number, make: (rng: Rng) => T): () => T {
  let value: T | undefined;
  return () => (value ??= make(new Rng(seed)));
}

function matmulWorkload(n: number): Workload {
  const data = inputs(n, (r) => [randomData([n, n], r), randomData([n, n], r)]);
  return {
    name: `matmul${n}` as WorkloadName,
    label: `matmul ${n}×${n}×${n}`,
    flops: 2 * n ** 3,
    plan: () => ({ samples: n >= 512 ? 5 : 7, oneCall: false, warmup: 2 }),
    viar() {
      const [a, b] = data().map((d) => tensor(d, { shape: [n, n] })) as [Tensor, Tensor];
      const call = () => noGrad(() => tidy(() => matmul(a, b).dataSync() as Float32Array));
      return { run: () => { call(); }, output: call, dispose: () => { a.dispose(); b.dispose(); } };
    },
    tfjs() {
      const [a, b] = data().map((d) => tf.tensor(d, [n, n])) as [TfTensor, TfTensor];
      const call = () => { const c = tf.matMul(a, b); const d = c.dataSync(); c.dispose(); return d; };
      return { run: () => { call(); }, output: call, dispose: () => { tf.dispose([a, b]); } };
    },
  };
}

const [AB, AH, AL, AD] = [8, 4, 130, 32];
const attentionData = inputs(1, (r) => [0, 1, 2].map(() => randomData([AB, AH, AL, AD], r)));

const attentionWorkload: Workload = {
  name: 'attention',
  label: `attention fwd ${AB}×${AH}×${AL}×${AD}`,
  flops: 2 * (2 * AB * AH * AL * AL * AD),
  plan: () => ({ samples: 7, oneCall: false, warmup: 2 }),
  viar() {
    const [q, k, v] = attentionData().map((d) => tensor(d, { shape: [AB, AH, AL, AD] })) as [Tensor, Tensor, Tensor];
    // the attention op (one fused kernel per head on the cpu backend); PyTorch 1.13 and TF.js spell it out
    const call = () => noGrad(() => tidy(() => attention(q, k, v, { scale: 1 / Math.sqrt(AD) }).dataSync() as Float32Array));
    return { run: () => { call(); }, output: call, dispose: () => { q.dispose(); k.dispose(); v.dispose(); } };
  },
  tfjs() {
    const [q, k, v] = attentionData().map((d) => tf.tensor(d, [AB, AH, AL, AD])) as [TfTensor, TfTensor, TfTensor];
    const call = () => {
      const out = tf.tidy(() => tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(AD)), -1), v));
      const d = out.dataSync();
      out.dispose();
      return d;
    };
    return { run: () => { call(); }, output: call, dispose: () => { tf.dispose([q, k, v]); } };
  },
};

// conv2d 3×3, stride 1, padding 1, no bias; ours NCHW with weight [O, C, 3, 3], tfjs NHWC with filter [3, 3, C, O]
const [CN, CC, CO, CH] = [16, 32, 64, 16];
const convFlops = 2 * CN * CO * CC * 9 * CH * CH;
const convData = inputs(2, (r) => ({ x: randomData([CN, CC, CH, CH], r), w: randomData([CO, CC, 3, 3], r) }));

function tfjsConvInputs(): { x: TfTensor; w: TfTensor } {
  const { x, w } = convData();
  return tf.tidy(() => ({
    x: tf.transpose(tf.tensor(x, [CN, CC, CH, CH]), [0, 2, 3, 1]).clone(),
    w: tf.transpose(tf.tensor(w, [CO, CC, 3, 3]), [2, 3, 1, 0]).clone(),
  }));
}

const convForwardWorkload: Workload = {
  name: 'conv-fwd',
  label: `conv2d 3×3 fwd ${CN}×${CC}×${CH}×${CH}→${CO}`,
  flops: convFlops,
  plan: () => ({ samples: 7, oneCall: false, warmup: 2 }),
  viar() {
    const { x: xd, w: wd } = convData();
    const x = tensor(xd, { shape: [CN, CC, CH, CH] }), w = tensor(wd, { shape: [CO, CC, 3, 3] });
    const call = () => noGrad(() => tidy(() => conv2d(x, w, null, { padding: 1 }).dataSync() as Float32Array));
    return { run: () => { call(); }, output: call, dispose: () => { x.dispose(); w.dispose(); } };
  },
  tfjs() {
    const { x, w } = tfjsConvInputs();
    const run = () => { const y = tf.conv2d(x, w, 1, 'same'); y.dataSync(); y.dispose(); };
    const output = () => tf.tidy(() => tf.transpose(tf.conv2d(x, w, 1, 'same'), [0, 3, 1, 2])).dataSync();
    return { run, output, dispose: () => { tf.dispose([x, w]); } };
  },
};

const convBackwardWorkload: Workload = {
  name: 'conv-fwdbwd',
  label: 'conv2d 3×3 fwd+bwd (dX, dW of sum)',
  flops: 3 * convFlops,
  // tfjs-cpu's Conv2DBackpropFilter takes ~16 s per call: one sample, no warm-up
  plan: (impl) => impl === 'tfjs-cpu' ? { samples: 1, oneCall: true, warmup: 0, slow: true } : { samples: 7, oneCall: false, warmup: 2 },
  viar() {
    const { x: xd, w: wd } = convData();
    const x = tensor(xd, { shape: [CN, CC, CH, CH] }).requireGrad(), w = tensor(wd, { shape: [CO, CC, 3, 3] }).requireGrad();
    const run = () => tidy(() => {
      const [dx, dw] = gradients(sum(conv2d(x, w, null, { padding: 1 })), [x, w]) as [Tensor, Tensor];
      dx.dataSync();
      dw.dataSync();
    });
    return { run, dispose: () => { x.dispose(); w.dispose(); } };
  },
  tfjs() {
    const { x, w } = tfjsConvInputs();
    const g = tf.grads((a: TfTensor, b: TfTensor) => tf.sum(tf.conv2d(a, b, 1, 'same')));
    const run = () => { const [dx, dw] = g([x, w]) as [TfTensor, TfTensor]; dx.dataSync(); dw.dataSync(); tf.dispose([dx, dw]); };
    return { run, dispose: () => { tf.dispose([x, w]); } };
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Transformer block training step: pre-LayerNorm, d_model 128, 4 heads, MLP 512 GELU (tanh), causal mask,
// batch 8 × 130 tokens, MSE against a random target, forward + backward + AdamW (lr 1e-3, weight decay 0.01).
// Every implementation starts from the same weights, so the step-1 losses must agree.

const [BB, BL, BD, BH, BF] = [8, 130, 128, 4, 512];
const [LR, WD, BETA1, BETA2, EPS] = [1e-3, 0.01, 0.9, 0.999, 1e-8];
const blockFlops = 3 * (2 * BB * BL * (BD * 3 * BD + BD * BD + 2 * BD * BF) + 2 * (2 * BB * BH * BL * BL * (BD / BH)));

class Block extends Module {
  ln1: LayerNorm;
  attn: MultiheadAttention;
  ln2: LayerNorm;
  fc1: Linear;
  fc2: Linear;

  constructor(blockRng: Rng) {
    super();
    this.ln1 = new LayerNorm(BD);
    this.attn = new MultiheadAttention(BD, BH, { rng: blockRng });
    this.ln2 = new LayerNorm(BD);
    this.fc1 = new Linear(BD, BF, { rng: blockRng });
    this.fc2 = new Linear(BF, BD, { rng: blockRng });
  }

  forward(x: Tensor, mask: Tensor): Tensor {
    const h = add(x, this.attn.forward(this.ln1.forward(x), { mask }));
    return add(h, this.fc2.forward(geluTanh(this.fc1.forward(this.ln2.forward(h)))));
  }
}

const BLOCK_SEED = 7;
const causalMaskData = (() => {
  const m = new Float32Array(BL * BL);
  for (let i = 0; i < BL; i++) for (let j = i + 1; j < BL; j++) m[i * BL + j] = -Infinity;
  return m;
})();
const blockData = inputs(3, (r) => ({ x: randomData([BB, BL, BD], r), y: randomData([BB, BL, BD], r) }));

/** Records the loss of every step, so the info shows step 1 (parity) and whether it decreases. */
function lossLog() {
  const losses: number[] = [];
  return {
    push: (l: number) => { losses.push(l); },
    info: () => ({ steps: losses.length, firstLoss: losses[0], lastLoss: losses[losses.length - 1] }),
  };
}

const blockWorkload: Workload = {
  name: 'block',
  label: 'transformer block train step',
  flops: blockFlops,
  plan: (impl) => impl === 'tfjs-cpu' ? { samples: 5, oneCall: true, warmup: 1, slow: true } : { samples: 11, oneCall: true, warmup: 3 },
  viar() {
    const { x: xd, y: yd } = blockData();
    const x = tensor(xd, { shape: [BB, BL, BD] }), y = tensor(yd, { shape: [BB, BL, BD] });
    const mask = tensor(causalMaskData, { shape: [BL, BL] });
    const block = new Block(new Rng(BLOCK_SEED));
    const opt = new AdamW(block.parameters(), { lr: LR, weightDecay: WD, betas: [BETA1, BETA2], eps: EPS });
    const log = lossLog();
    const run = () => {
      log.push(tidy(() => {
        const loss = mean(square(sub(block.forward(x, mask), y)));
        loss.backward();
        return loss.item();
      }));
      opt.step();
      opt.zeroGrad();
    };
    return { run, info: log.info, dispose: () => { opt.dispose(); block.dispose(); x.dispose(); y.dispose(); mask.dispose(); } };
  },
  tfjs(impl) {
    // the same weights as ours: build our block with the same seed and copy its parameters (layout [out, in])
    const init = new Block(new Rng(BLOCK_SEED));
    const vars = new Map<string, TfVariable>();
    const slots = new Map<string, { m: TfVariable; v: TfVariable }>();
    tf.tidy(() => { // variables survive tidy; their initial values do not
      for (const [name, p] of init.namedParameters()) {
        vars.set(name, tf.variable(tf.tensor(p.dataSync() as Float32Array, [...p.shape]), true, `${impl}.${name}`));
        slots.set(name, { m: tf.variable(tf.zeros([...p.shape]), false), v: tf.variable(tf.zeros([...p.shape]), false) });
      }
    });
    init.dispose();
    const P = (name: string) => vars.get(name)!;
    const { x: xd, y: yd } = blockData();
    const x = tf.tensor(xd, [BB * BL, BD]), y = tf.tensor(yd, [BB * BL, BD]);
    const mask = tf.tensor(causalMaskData, [BL, BL]);
    const linear = (h: TfTensor, prefix: string) => tf.add(tf.matMul(h, P(`${prefix}.weight`), false, true), P(`${prefix}.bias`));
    const layerNorm = (h: TfTensor, prefix: string) => {
      const mu = tf.mean(h, -1, true);
      const xc = tf.sub(h, mu);
      const inv = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), 1e-5));
      return tf.add(tf.mul(tf.mul(xc, inv), P(`${prefix}.weight`)), P(`${prefix}.bias`));
    };
    const gelu = (h: TfTensor) => {
      const inner = tf.mul(tf.add(h, tf.mul(tf.pow(h, 3), 0.044715)), Math.sqrt(2 / Math.PI));
      return tf.mul(tf.mul(h, 0.5), tf.add(tf.tanh(inner), 1));
    };
    const heads = (t: TfTensor) => tf.transpose(tf.reshape(t, [BB, BL, BH, BD / BH]), [0, 2, 1, 3]);
    const forward = () => {
      const [q, k, v] = tf.split(linear(layerNorm(x, 'ln1'), 'attn.qkv'), 3, -1).map(heads) as [TfTensor, TfTensor, TfTensor];
      const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(BD / BH)), mask);
      const att = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores, -1), v), [0, 2, 1, 3]), [BB * BL, BD]);
      const h = tf.add(x, linear(att, 'attn.proj'));
      return tf.add(h, linear(gelu(linear(layerNorm(h, 'ln2'), 'fc1')), 'fc2'));
    };
    const log = lossLog();
    let step = 0;
    const run = () => {
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(forward(), y))), [...vars.values()]);
      step++;
      const bc1 = 1 - BETA1 ** step, bc2 = 1 - BETA2 ** step;
      tf.tidy(() => {
        for (const [name, p] of vars) {
          const g = grads[p.name]!, { m, v } = slots.get(name)!;
          m.assign(tf.add(tf.mul(m, BETA1), tf.mul(g, 1 - BETA1)));
          v.assign(tf.add(tf.mul(v, BETA2), tf.mul(tf.square(g), 1 - BETA2)));
          const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), EPS);
          p.assign(tf.sub(tf.mul(p, 1 - LR * WD), tf.mul(tf.div(m, denom), LR / bc1)));
        }
      });
      log.push(value.dataSync()[0]!);
      tf.dispose([value, ...Object.values(grads)]);
    };
    const dispose = () => {
      tf.dispose([x, y, mask, ...vars.values(), ...[...slots.values()].flatMap(({ m, v }) => [m, v])]);
    };
    return { run, info: log.info, dispose };
  },
};

// ---------------------------------------------------------------------------------------------------------------
// One training step of the shipped VIAR (VIAR_SMALL on TOKENIZER_SMALL's 130 tokens, batch 16 as `viar train`
// uses): ours only (no peer runs this model). Random tokens and a random tokenizer codebook: the cost does not
// depend on the values. The implicit iteration counts k, m are drawn from the model's seeded RNG, as in training.

function viarShippedStep(): { skip: string } | { case: Case; flops: number; label: string } {
  const rng = new Rng(3);
  const vae = new VQVAE(TOKENIZER_SMALL, rng);
  const model = createModel('viar', VIAR_SMALL, rng);
  const L = VIAR_SMALL.patchNums.reduce((s, p) => s + p * p, 0), count = 64;
  const data = {
    tokens: Int32Array.from({ length: count * L }, () => rng.int(0, VIAR_SMALL.vocabSize)),
    labels: Int32Array.from({ length: count }, (_, i) => i % 10), count, patchNums: VIAR_SMALL.patchNums, seqLen: L,
  };
  const trainer = new TransformerTrainer(model, vae.quantize, data, { totalSteps: 1000, batchSize: 16, lr: 1e-4 });
  // FLOPs: 2·(block matmul parameters)·tokens per block evaluation, ×3 for forward + backward (an approximation:
  // untaped implicit iterations only run forward, attention scores are not counted).
  const blockParams = 12 * VIAR_SMALL.embedDim ** 2;
  const flops = 3 * 2 * blockParams * L * 16 * (VIAR_SMALL.nPre + VIAR_SMALL.nPost + 1);
  return {
    label: `VIAR train step (VIAR_SMALL, ${model.numParameters().toLocaleString('en')} params, batch 16)`,
    flops,
    case: { run: () => { trainer.trainStep(); }, dispose: () => { model.dispose(); vae.dispose(); } },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// PyTorch results (bench/peers-torch.py), shown beside the tfjs ones

interface TorchResult { name: string; impl: string; threads: number; ms: number; gflops: number; cores: number; samples: number }
interface TorchFile { date: string; torch: string; blas?: string; results: TorchResult[] }

function readTorch(path: string): TorchFile | null {
  if (!existsSync(path)) return null;
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as TorchFile;
    return Array.isArray(parsed.results) ? parsed : null;
  } catch (e) {
    console.warn(`could not read ${path}: ${(e as Error).message}`);
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Run

interface Row {
  workload: WorkloadName;
  label: string;
  impl: string;
  status: 'ok' | 'unsupported' | 'skipped' | 'error';
  ms?: number;
  gflops?: number;
  cores?: number;
  samples?: number;
  reps?: number;
  samplesMs?: number[];
  /** ours / this peer (ms); < 1 means ours is faster. */
  oursOverPeer?: number;
  /** max |peer − ours| / max |ours| of one output (outside the timed part). */
  maxRelDiff?: number;
  note?: string;
  info?: Record<string, unknown>;
}

const rows: Row[] = [];
const notes: string[] = [];
const torch = readTorch(args.torch);
const engineKernels = describeCpuKernels();
/** tfjs-wasm's thread count; known only once its backend has initialized. */
const wasmThreads = () => { try { return tfWasm.getThreadsCount(); } catch { return null; } };
const sig = (x: number | undefined) => x === undefined ? undefined : Number(x.toPrecision(4));
const fmtMs = (ms: number) => ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
const fmtRatio = (r: number) => r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toFixed(2);
const faster = (r: number, peer: string) =>
  Math.abs(r - 1) < 0.05 ? 'about equal' : r < 1 ? `viar ${fmtRatio(1 / r)}× faster` : `${peer} ${fmtRatio(r)}× faster`;

function maxRelDiff(ours: Float32Array, peer: Float32Array): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < ours.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i]! - peer[i]!));
    scale = Math.max(scale, Math.abs(ours[i]!));
  }
  return ours.length === peer.length ? diff / (scale || 1) : Number.NaN;
}

/** One engine's measurement of one workload: its row (without the ratio to ours) and its output for the diff. */
interface Measured { row: Row; output?: Float32Array }

async function measureCase(w: Workload, impl: Impl): Promise<Measured> {
  const plan = w.plan(impl);
  const base: Row = { workload: w.name, label: w.label, impl, status: 'ok' };
  if (skipSlow && plan.slow) return { row: { ...base, status: 'skipped', note: '--skip-slow' } };
  process.stdout.write(`  ${w.label} · ${impl} …`);
  let c: Case | null = null;
  try {
    if (impl !== 'viar') await useTfjs(impl);
    c = impl === 'viar' ? w.viar() : w.tfjs(impl);
    const samples = plan.oneCall && plan.samples === 1 ? 1 : samplesOverride ?? plan.samples;
    const t = measure(c.run, { samples, minMs: plan.oneCall ? 0 : 150, warmup: plan.warmup });
    const row: Row = {
      ...base, ms: t.ms, gflops: w.flops / t.ms / 1e6, cores: t.cores, samples, reps: t.reps,
      samplesMs: t.samplesMs.map((s) => Number(s.toPrecision(4))),
    };
    if (c.info) row.info = c.info();
    process.stdout.write(` ${fmtMs(t.ms)} ms\n`);
    return { row, output: c.output?.() };
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    const unsupported = /not registered for backend/.test(msg);
    process.stdout.write(` ${unsupported ? 'unsupported' : 'ERROR'}: ${msg.split('\n')[0]}\n`);
    return { row: { ...base, status: unsupported ? 'unsupported' : 'error', note: msg.split('\n')[0]! } };
  } finally {
    c?.dispose();
  }
}

/** The rows of one workload: ours, each TF.js backend (ratio and output difference to ours), then PyTorch's. */
function workloadRows(w: Workload, measured: Map<string, Measured>): Row[] {
  const ours = measured.get(`${w.name}|viar`)!;
  const oursMs = ours.row.status === 'ok' ? ours.row.ms : undefined;
  const out: Row[] = [ours.row];
  for (const impl of TFJS_IMPLS) {
    const { row, output } = measured.get(`${w.name}|${impl}`)!;
    if (row.status === 'ok' && oursMs !== undefined) row.oursOverPeer = oursMs / row.ms!;
    if (row.status === 'ok' && output && ours.output) row.maxRelDiff = maxRelDiff(ours.output, output);
    out.push(row);
  }
  for (const tr of torch?.results.filter((r) => r.name === w.name) ?? []) {
    out.push({
      workload: w.name, label: w.label, impl: tr.impl, status: 'ok', ms: tr.ms, gflops: tr.gflops, cores: tr.cores,
      samples: tr.samples, note: 'from peers-torch.json', ...(oursMs !== undefined ? { oursOverPeer: oursMs / tr.ms } : {}),
    });
  }
  return out;
}

const all: Workload[] = [matmulWorkload(256), matmulWorkload(512), matmulWorkload(1024), attentionWorkload,
  convForwardWorkload, convBackwardWorkload, blockWorkload];

const loadAtStart = loadavg();
console.log(`load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} (other processes share these cores: ratios are only meaningful within one run)`);
console.log(`viar peer benchmark — ${cpus()[0]?.model ?? 'cpu'} (${cpus().length} cores), node ${process.version}, ` +
  `engine: ${engineKernels}, tfjs ${tf.version.tfjs}`);
console.log(torch ? `PyTorch figures from ${relative(process.cwd(), args.torch)}, measured ${torch.date} (torch ${torch.torch}${torch.blas ? `, ${torch.blas}` : ''})`
  : `no PyTorch figures (${relative(process.cwd(), args.torch)} missing; run /usr/bin/python3 bench/peers-torch.py)`);
console.log('');

// Engine by engine: ours on every workload (the VIAR step and sampling included) before TF.js is loaded, then each
// TF.js backend, so one engine's garbage and worker threads never weigh on another's timings (PyTorch runs in its own
// process). Interleaved per workload, ours measured 3.51 ms for the conv forward + backward alone and 4.08 ms after
// the TF.js workloads before it.
const chosen = all.filter((w) => selected(w.name));
const measured = new Map<string, Measured>();
for (const w of chosen) measured.set(`${w.name}|viar`, await measureCase(w, 'viar'));
const oursOnlyRows: Row[] = [];

if (selected('viar-step')) {
  const slot = viarShippedStep();
  const label = 'VIAR train step (shipped config)';
  if ('skip' in slot) {
    oursOnlyRows.push({ workload: 'viar-step', label, impl: 'viar', status: 'skipped', note: slot.skip });
    notes.push(`VIAR step: ${slot.skip}`);
  } else {
    const t = measure(slot.case.run, { samples: samplesOverride ?? 5, minMs: 0, warmup: 2 });
    slot.case.dispose();
    oursOnlyRows.push({ workload: 'viar-step', label: slot.label, impl: 'viar', status: 'ok', ms: t.ms, gflops: slot.flops / t.ms / 1e6, cores: t.cores, samples: t.samplesMs.length, reps: 1 });
    // the PyTorch twin of the same step (bench/peers-torch.py, the VIAR class of bench/gpu-torch.py)
    for (const tr of torch?.results.filter((r) => r.name === 'viar-step') ?? []) {
      oursOnlyRows.push({
        workload: 'viar-step', label: slot.label, impl: tr.impl, status: 'ok', ms: tr.ms, gflops: tr.gflops, cores: tr.cores,
        samples: tr.samples, note: 'from peers-torch.json', oursOverPeer: t.ms / tr.ms,
      });
    }
  }
}

if (selected('viar-sample')) {
  // the shipped MNIST VIAR and tokenizer sampling 16 images (classes cycling, schedule 4, CFG 1.5, top-k 60,
  // top-p 0.96), the decoded image read back: bench/gpu-torch.py's measure_sampling on the CPU is the twin
  const { model } = loadTransformer('checkpoints/viar-mnist.safetensors', { model: 'viar' });
  const vae = loadTokenizerCheckpoint('checkpoints/tokenizer-mnist.safetensors');
  model.eval();
  const labels = Array.from({ length: 16 }, (_, i) => i % 10);
  let seed = 0;
  const run = () => tidy(() => {
    (model as VIAR).sample(vae, { labels, seed: seed++, iterSchedule: 4, cfg: 1.5, topK: 60, topP: 0.96 }).image.dataSync();
  });
  const t = measure(run, { samples: samplesOverride ?? 5, minMs: 0, warmup: 1 });
  model.dispose();
  vae.dispose();
  const label = 'VIAR sampling (shipped MNIST model, 16 images, schedule 4)';
  oursOnlyRows.push({ workload: 'viar-sample', label, impl: 'viar', status: 'ok', ms: t.ms, cores: t.cores, samples: t.samplesMs.length, reps: 1 });
  for (const tr of torch?.results.filter((r) => r.name === 'viar-sample') ?? []) {
    oursOnlyRows.push({ workload: 'viar-sample', label, impl: tr.impl, status: 'ok', ms: tr.ms, cores: tr.cores, samples: tr.samples, note: 'from peers-torch.json', oursOverPeer: t.ms / tr.ms });
  }
}

for (const impl of TFJS_IMPLS) for (const w of chosen) measured.set(`${w.name}|${impl}`, await measureCase(w, impl));
for (const w of chosen) rows.push(...workloadRows(w, measured));
rows.push(...oursOnlyRows);

// block parity: every implementation started from the same weights, so step-1 losses must agree
const blockRows = rows.filter((r) => r.workload === 'block' && r.info && !r.impl.startsWith('torch'));
if (blockRows.length) {
  const fmt = (v: unknown) => typeof v === 'number' ? v.toFixed(5) : '?';
  notes.push('block step-1 loss (same initial weights): ' + blockRows.map((r) => `${r.impl} ${fmt(r.info!.firstLoss)}`).join(', ') +
    '; last: ' + blockRows.map((r) => `${r.impl} ${fmt(r.info!.lastLoss)} after ${String(r.info!.steps)} steps`).join(', '));
}

// ---------------------------------------------------------------------------------------------------------------
// Table

const header = ['workload', 'impl', 'ms', 'GFLOP/s', 'cores', 'samples', 'ours/peer', 'faster', 'max rel diff'];
const table: string[][] = [];
const noteRows = new Set<string[]>(); // skipped/unsupported rows: their note may overflow the last column
let lastWorkload = '';
for (const r of rows) {
  const first = r.workload !== lastWorkload;
  lastWorkload = r.workload;
  if (r.status !== 'ok') {
    const cells = [first ? r.label : '', r.impl, r.status, '', '', '', '', '', r.note ?? ''];
    table.push(cells);
    noteRows.add(cells);
    continue;
  }
  table.push([
    first ? r.label : '', r.impl, fmtMs(r.ms!), r.gflops === undefined ? '–' : r.gflops.toFixed(2), r.cores!.toFixed(2),
    r.reps && r.reps > 1 ? `${r.samples}×${r.reps}` : String(r.samples),
    r.oursOverPeer !== undefined ? fmtRatio(r.oursOverPeer) : '', r.oursOverPeer !== undefined ? faster(r.oursOverPeer, r.impl) : '',
    r.maxRelDiff !== undefined ? r.maxRelDiff.toExponential(1) : '',
  ]);
}
const widths = header.map((h, i) =>
  Math.max(h.length, ...table.filter((row) => i < header.length - 1 || !noteRows.has(row)).map((row) => row[i]!.length)));
const numeric = new Set([2, 3, 4, 5, 6]);
const line = (cells: string[]) => cells.map((c, i) => numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)).join('  ').trimEnd();
console.log('\n' + line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const row of table) console.log(line(row));
console.log('\nms: median per call; a sample repeats the call for ≥ 150 ms (samples×reps), except the block step and the ' +
  'tfjs-cpu conv backward (1 call each). tfjs times include dataSync + dispose, ours include the read-back. ' +
  'GFLOP/s: 2n³ (matmul), the two matmuls (attention), 3× the forward matmul FLOPs (block), 3× forward (conv fwd+bwd).');
for (const n of notes) console.log(`note: ${n}`);

// ---------------------------------------------------------------------------------------------------------------
// Acceptance summary

const find = (workload: WorkloadName, impl: string) => rows.find((r) => r.workload === workload && r.impl === impl && r.status === 'ok');
const verdict = (ok: boolean) => ok ? 'PASS' : 'FAIL';
const summary: Record<string, unknown> = {};
console.log('\nacceptance (CPU-speed issue):');
{
  const r = find('block', 'tfjs-wasm');
  summary.blockOursOverTfjsWasm = r?.oursOverPeer ?? null;
  console.log(r?.oursOverPeer !== undefined
    ? `  block step ours/tfjs-wasm = ${r.oursOverPeer.toFixed(2)} (target ≤ 0.5): ${verdict(r.oursOverPeer <= 0.5)}`
    : '  block step ours/tfjs-wasm: not measured');
}
{
  const r = find('matmul1024', 'viar');
  summary.matmul1024Gflops = r?.gflops ?? null;
  console.log(r ? `  matmul 1024 ours = ${r.gflops!.toFixed(1)} GFLOP/s (target ≥ 40): ${verdict(r.gflops! >= 40)}` : '  matmul 1024: not measured');
}
{
  // issue #17: ours ≤ 2× PyTorch at the same thread count (block step, VIAR step, attention forward)
  const torchImpl = `torch-T${getNumThreads()}`;
  for (const [workload, name] of [['block', 'block step'], ['viar-step', 'VIAR step'], ['attention', 'attention fwd']] as const) {
    const r = find(workload, torchImpl);
    summary[`${workload}OursOverTorch`] = r?.oursOverPeer ?? null;
    console.log(r?.oursOverPeer !== undefined
      ? `  ${name} ours/${torchImpl} = ${r.oursOverPeer.toFixed(2)} (target ≤ 2): ${verdict(r.oursOverPeer <= 2)}`
      : `  ${name} ours/${torchImpl}: not measured`);
  }
  const sampling = find('viar-sample', torchImpl);
  summary.viarSampleOursOverTorch = sampling?.oursOverPeer ?? null;
  if (sampling?.oursOverPeer !== undefined) console.log(`  VIAR sampling ours/${torchImpl} = ${sampling.oursOverPeer.toFixed(2)} (reported; no target)`);
  const ceilingPath = join(here, 'results', 'simd-ceiling.json');
  const matmul = find('matmul1024', 'viar');
  if (matmul && existsSync(ceilingPath)) {
    // the kernel's own figure is simd-ceiling.ts's (same process as the ceiling, no read-back); this table's
    // includes the dataSync copy of the 4 MB result
    const c = JSON.parse(readFileSync(ceilingPath, 'utf8')) as { peakUsed: number; date: string; rows: { kernel: string; fractionOfCeiling: number }[] };
    const kernel = c.rows.find((r) => r.kernel === 'matmul 1024')?.fractionOfCeiling ?? null;
    summary.matmul1024OfSimdCeiling = { kernel, thisTable: matmul.gflops! / c.peakUsed };
    console.log(`  matmul 1024 = ${kernel === null ? '?' : (100 * kernel).toFixed(0)} % of the wasm SIMD ceiling ${c.peakUsed.toFixed(1)} GFLOP/s ` +
      `(bench/simd-ceiling.ts, ${c.date}; ${(100 * matmul.gflops! / c.peakUsed).toFixed(0)} % with this table's read-back; target ≥ 85 %): ` +
      `${kernel === null ? 'not measured' : verdict(kernel >= 0.85)}`);
  }
}
{
  const torchRows = rows.filter((r) => r.workload === 'conv-fwdbwd' && r.impl.startsWith('torch') && r.oursOverPeer !== undefined);
  summary.convFwdBwdOursOverTorch = Object.fromEntries(torchRows.map((r) => [r.impl, r.oursOverPeer]));
  if (!torchRows.length) console.log(`  conv fwd+bwd ours/torch: ${torch ? 'not measured' : 'no torch JSON (run bench/peers-torch.py)'}`);
  for (const r of torchRows) {
    console.log(`  conv fwd+bwd ours/${r.impl} = ${r.oursOverPeer!.toFixed(2)} (target ≤ 2.5, issue #17): ${verdict(r.oursOverPeer! <= 2.5)}` +
      `${r.impl === `torch-T${getNumThreads()}` ? '  ← same thread count as ours' : ''}`);
  }
  if (torch) console.log(`  (torch figures measured ${torch.date})`);
}

const outPath = args.json;
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, JSON.stringify({
  date: new Date().toISOString(),
  node: process.version,
  v8: process.versions.v8,
  cpu: cpus()[0]?.model ?? null,
  cpuCount: cpus().length,
  loadAverage: { start: loadAtStart, end: loadavg() },
  engineThreads: getNumThreads(),
  engineKernels: describeCpuKernels(),
  tfjs: { version: tf.version.tfjs, wasmThreads: wasmThreads(), wasmSimd: (() => { try { return tf.env().getBool('WASM_HAS_SIMD_SUPPORT'); } catch { return null; } })() },
  options: { only: onlyList, samples: samplesOverride, skipSlow },
  torchJson: torch ? { path: relative(repoRoot, args.torch), date: torch.date, torch: torch.torch, blas: torch.blas ?? null } : null,
  flopConventions: { matmul: '2n^3', attention: 'two matmuls (69.2 MFLOP)', block: '3 x forward matmul FLOPs (1.434 GFLOP)', conv: 'forward 151.0 MFLOP; fwd+bwd 3x' },
  results: rows.map((r) => ({ ...r, ms: sig(r.ms), gflops: sig(r.gflops), cores: sig(r.cores), oursOverPeer: sig(r.oursOverPeer), maxRelDiff: sig(r.maxRelDiff) })),
  summary,
  notes,
}, null, 2) + '\n');
console.log(`\nwrote ${relative(process.cwd(), outPath)}`);
