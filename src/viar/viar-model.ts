// VIAR (mobiushy/VIAR models/var.py, docs/notes/var-spec.md): VAR with its middle blocks replaced by one implicit block iterated
// to a fixed point, z ← Block(P(concat(z, x)), cond), between pre- and post-blocks. Training runs the iteration
// through fixedPoint; sampling runs it explicitly per scale with the official iteration-keyed KV cache.

import type { Tensor } from '../tensor/tensor.js';
import { ArgumentError } from '../tensor/errors.js';
import type { Rng } from '../tensor/random.js';
import { concat, detach, div, max, slice, sqrt, square, sub, sum } from '../tensor/ops/index.js';
import { tidy } from '../tensor/memory.js';
import { isGradEnabled } from '../tensor/graph/grad-mode.js';
import { fixedPoint, type FixedPointStats } from '../autograd/fixed-point/fixed-point.js';
import type { GradientRule, SolverName } from '../autograd/fixed-point/options.js';
import { Act, Linear, Sequential } from '../nn/layers.js';
import { KVCache } from '../nn/attention.js';
import { AdaLNSelfAttn, type BlockForwardOptions } from './var-blocks.js';
import { NextScaleTransformer, VAR_TINY, dropPathRates, varConfig, type SampleOptions, type SampleResult, type VarConfig } from './var-model.js';
import { iterationSchedule, type IterationSchedule } from './sampling.js';
import type { VQVAE } from './vqvae.js';

/**
 * How the implicit block is iterated in a teacher-forced forward. The official scheme ('truncated'): k iterations
 * without a tape, then m with it from the detached state (gradients reach the block and P through the m steps and
 * the pre-blocks through the injection only; m = 1 is pure JFB). Any fixedPoint gradient rule may be used instead;
 * it then differentiates all k + m iterations its own way (with 'unroll' also through z₀ = x).
 */
export type ImplicitGradient = 'truncated' | GradientRule;

export interface ImplicitOptions {
  /** Range [min, max] (inclusive) of iterations run without a tape in training (official [0, 10]). */
  noGradIters: readonly [number, number];
  /** Range [min, max] (inclusive) of iterations run with the tape (official [1, 12]). */
  withGradIters: readonly [number, number];
  /** Default 'truncated' (official). */
  gradient: ImplicitGradient;
  /** Forward solver (default 'picard': the official plain iteration; 'unroll' and 'truncated' need it). */
  solver: SolverName;
  /** Stop a sample's solve early when its rms residual ‖f(z) − z‖/√d ≤ tol (default 0: always run k + m iterations). */
  tol: number;
  /** Per-scale iterations at inference (official iter_left = iter_right = 10). */
  schedule: IterationSchedule;
}

export interface ViarConfig extends VarConfig {
  /** Blocks before the implicit block (the official pre_depth, 5). */
  nPre: number;
  /** Blocks after it (the official post_depth, 5). */
  nPost: number;
  implicit: ImplicitOptions;
}

export const OFFICIAL_IMPLICIT: ImplicitOptions = {
  noGradIters: [0, 10], withGradIters: [1, 12], gradient: 'truncated', solver: 'picard', tol: 0, schedule: { left: 10, right: 10 },
};

/** The official VIAR: VAR-d30 width (C 1920, 30 heads), 5 pre, 1 implicit and 5 post blocks; 770,884,426 parameters. */
export function viarConfig(overrides: Partial<ViarConfig> = {}): ViarConfig {
  return { ...varConfig(30), nPre: 5, nPost: 5, implicit: OFFICIAL_IMPLICIT, ...overrides };
}

/** The configuration of test/fixtures/parity/viar-tiny (docs/notes/parity.md): VAR_TINY's sizes with 1 pre, 1 implicit and 1 post block. */
export const VIAR_TINY: ViarConfig = { ...VAR_TINY, nPre: 1, nPost: 1, implicit: OFFICIAL_IMPLICIT };

export interface ViarForwardOptions {
  /**
   * Implicit iterations: n (k = 0 untaped, m = n taped) or an explicit split; default: k and m drawn from
   * config.implicit's ranges. 0 passes the pre-blocks' output straight to the post-blocks.
   */
  iterations?: number | { noGrad: number; withGrad: number };
  /** Overrides config.implicit.gradient for this call. */
  gradient?: ImplicitGradient;
  /** Generator for label dropout, drop-path and the iteration draws (default: the model's). */
  rng?: Rng;
  /** Label dropout given instead of drawn: int32 [B], 1 where the class becomes the null class (e.g. for captureGradients). */
  labelDropMask?: Tensor;
}

/**
 * Which keys/values of the earlier scales iteration t of the implicit block attends to while sampling.
 * - 'iteration' (the official cache): those the earlier scales produced at their own iteration t; a scale that ran
 *   fewer than t + 1 iterations contributes nothing to iteration t.
 * - 'last-iterate': those of iteration min(t, Tₛ − 1) of every earlier scale s that ran Tₛ ≥ 1 iterations, so a scale
 *   that stopped early lends its last iterate to every later iteration. Identical to 'iteration' whenever no scale
 *   runs more iterations than an earlier one (uniform or non-increasing schedules); it lets each scale stop on its
 *   own residual without starving the later scales' attention.
 */
export type ImplicitCachePolicy = 'iteration' | 'last-iterate';

export interface ViarSampleOptions extends SampleOptions {
  /** Implicit iterations per scale: a count, one count per scale, or {left, right} (official floor-linspace); default config.implicit.schedule. */
  iterSchedule?: IterationSchedule;
  /** Stop a scale's iterations once max over rows of ‖z_{t+1} − z_t‖/‖z_t‖ < earlyStopTol (default: off). */
  earlyStopTol?: number;
  /**
   * After an early stop at t iterations, run at most t at later scales, so every iteration-keyed cache entry a scale
   * reads is complete (default: true with implicitCache 'iteration', false with 'last-iterate', which needs no cap).
   */
  capAfterEarlyStop?: boolean;
  /** Which earlier-scale keys/values each implicit iteration attends to (default 'iteration', the official cache). */
  implicitCache?: ImplicitCachePolicy;
}

export interface ViarSampleResult extends SampleResult {
  /** Implicit iterations run at each scale. */
  iterations: number[];
  /** Per scale, max over rows of the relative step ‖z_{t+1} − z_t‖/‖z_t‖ after each iteration. */
  residuals: number[][];
}

/** What the last teacher-forced forward did in its implicit layer. */
export interface ImplicitReport {
  noGradIters: number;
  withGradIters: number;
  /** fixedPoint's statistics (residual of the returned iterate per sample, status, memory); null with 0 iterations. */
  stats: FixedPointStats | null;
}

function checkRange(r: readonly [number, number], name: string, min: number): void {
  if (!Array.isArray(r) || r.length !== 2 || !r.every((v) => Number.isInteger(v) && v >= min) || r[0] > r[1]) {
    throw new ArgumentError('VIAR', `config.implicit.${name} must be [min, max] integers with ${min} ≤ min ≤ max, got ${JSON.stringify(r)}`);
  }
}

/**
 * VIAR: pre_blocks → implicit layer → post_blocks between VAR's embeddings and head. The implicit layer iterates
 * z ← implicit_block(implicit_block_projection(concat(z, x)), cond) from z₀ = x, where x is the pre-blocks' output
 * (input injection) and implicit_block_projection = Linear(2C → 2C), GELU-tanh, Linear(2C → C). State-dict keys as
 * the official viar.pth: pre_blocks.{i}.*, implicit_block.*, implicit_block_projection.{0,2}.*, post_blocks.{i}.*.
 */
export class VIAR extends NextScaleTransformer {
  pre_blocks: AdaLNSelfAttn[];
  implicit_block: AdaLNSelfAttn;
  implicit_block_projection: Sequential;
  post_blocks: AdaLNSelfAttn[];
  /** Set by every teacher-forced forward. */
  lastImplicit: ImplicitReport | null = null;

  constructor(override readonly config: ViarConfig, opts: { rng: Rng }) {
    if (!opts?.rng) throw new ArgumentError('VIAR', 'needs an explicit rng (e.g. { rng: new Rng(0) })');
    super(config, opts.rng, 'VIAR');
    const { nPre, nPost, depth, embedDim: c, implicit } = config;
    if (!Number.isInteger(nPre) || nPre < 0 || !Number.isInteger(nPost) || nPost < 0) {
      throw new ArgumentError('VIAR', `config.nPre and nPost must be non-negative integers, got ${nPre} and ${nPost}`);
    }
    if (nPre > depth || nPost > depth) throw new ArgumentError('VIAR', `config.nPre (${nPre}) and nPost (${nPost}) cannot exceed depth (${depth})`);
    checkRange(implicit.noGradIters, 'noGradIters', 0);
    checkRange(implicit.withGradIters, 'withGradIters', 0);
    iterationSchedule(implicit.schedule, config.patchNums.length, 'VIAR');
    // drop-path as the official code: dpr[0..pre) for pre, dpr[depth/2] for the implicit block, dpr[depth−post..depth) for post
    const dpr = dropPathRates(config.dropPathRate, depth);
    const block = (p: number) => new AdaLNSelfAttn(this.blockConfig(p), opts.rng, this.trainingRng);
    this.pre_blocks = dpr.slice(0, nPre).map(block);
    this.implicit_block = block(dpr[Math.floor(depth / 2)]!);
    this.implicit_block_projection = new Sequential(
      new Linear(2 * c, 2 * c, { rng: opts.rng }), new Act('geluTanh'), new Linear(2 * c, c, { rng: opts.rng }),
    );
    this.post_blocks = dpr.slice(depth - nPost).map(block);
    this.initWeights(opts.rng);
  }

  protected allBlocks(): AdaLNSelfAttn[] {
    return [...this.pre_blocks, this.implicit_block, ...this.post_blocks];
  }

  override describe(): string {
    return `${super.describe()}, ${this.config.nPre} pre + 1 implicit + ${this.config.nPost} post blocks`;
  }

  /** One application of the implicit map: implicit_block(P(concat(z, x)), cond). z, x: [B, l, C] → [B, l, C]. */
  implicitStep(z: Tensor, injection: Tensor, opts: BlockForwardOptions & { cond?: Tensor | null }): Tensor {
    return this.implicit_block.forward(this.implicit_block_projection.forward(concat([z, injection], -1)), opts.cond ?? null, opts);
  }

  /** VAR's choices (label dropout), then the implicit split forward would draw (see NextScaleTransformer). */
  override drawForwardChoices(batch: number, rng?: Rng): { labelDropMask: Tensor; iterations: { noGrad: number; withGrad: number } } {
    const choices = super.drawForwardChoices(batch, rng);
    const { k, m } = this.drawIterations({ ...(rng ? { rng } : {}) });
    return { ...choices, iterations: { noGrad: k, withGrad: m } };
  }

  private drawIterations(opts: ViarForwardOptions): { k: number; m: number } {
    const it = opts.iterations;
    const check = (n: number, what: string) => {
      if (!Number.isInteger(n) || n < 0) throw new ArgumentError('VIAR.forward', `${what} must be a non-negative integer, got ${n}`);
    };
    if (typeof it === 'number') { check(it, 'iterations'); return { k: 0, m: it }; }
    if (it) { check(it.noGrad, 'iterations.noGrad'); check(it.withGrad, 'iterations.withGrad'); return { k: it.noGrad, m: it.withGrad }; }
    const rng = opts.rng ?? this.trainingRng;
    const { noGradIters: [k0, k1], withGradIters: [m0, m1] } = this.config.implicit;
    const k = rng.int(k0, k1 + 1);
    return { k, m: rng.int(m0, m1 + 1) };
  }

  /**
   * The implicit layer over the whole teacher-forced sequence (block-causal mask): z₀ = x, then k + m iterations
   * through fixedPoint. 'truncated' solves k iterations untaped (maxIter k; where the residual can be read, one more
   * untaped call measures the state handed on: measureReturned) and differentiates m iterations from the detached
   * state (phantom steps with λ = 1; JFB when m = 1). fixedPoint's output is f at its returned iterate, so a rule
   * that differentiates the last application (m = 0, or another gradient rule) solves one iteration fewer.
   * x [B, L, C] and the blocks' cond ([B, C], or with sharedAln [B, 1, 6, C]) → z [B, L, C].
   */
  private solveImplicit(x: Tensor, cond: Tensor, mask: Tensor, opts: ViarForwardOptions): Tensor {
    const { k, m } = this.drawIterations(opts);
    if (k + m === 0) {
      this.lastImplicit = { noGradIters: 0, withGradIters: 0, stats: null };
      return x;
    }
    const { solver, tol } = this.config.implicit;
    const rule = opts.gradient ?? this.config.implicit.gradient;
    const modulation = this.implicit_block.modulation(cond);
    const f = (z: Tensor, injection: Tensor, mods: Tensor) => this.implicitStep(z, injection, { mask, modulation: mods });
    // the measuring call only feeds the stats (the residual training logs), so it is spent where they can be read
    // without waiting, and skipped by an inference pass without untaped iterations (its state is the input)
    const measure = x.backend.canReadSync && (k > 0 || isGradEnabled());
    const solve = { solver, tol, stagnationWindow: 0, divergenceFactor: Infinity, returnIterate: 'last' as const };
    let out: Tensor;
    let stats: FixedPointStats;
    if (rule === 'truncated') {
      // m = 0 (never drawn by the official ranges): the official code then passes on a detached z
      const gradient: GradientRule = m <= 1 ? 'jfb' : { mode: 'phantom', k: m, damping: 1 };
      const untaped = { maxIter: m === 0 ? k - 1 : k, measureReturned: measure };
      ({ z: out, stats } = fixedPoint(f, [x, modulation], { ...solve, ...untaped, z0: detach(x), gradient }));
      if (m === 0) out = detach(out);
    } else {
      ({ z: out, stats } = fixedPoint(f, [x, modulation], { ...solve, z0: x, maxIter: k + m - 1, measureReturned: measure, gradient: rule }));
    }
    this.lastImplicit = { noGradIters: k, withGradIters: m, stats };
    return out;
  }

  /**
   * Teacher-forced logits: labels [B], x [B, L − p₀², Cvae] → [B, L, V]. The implicit iteration count comes from
   * opts.iterations or is drawn from config.implicit (the official training behaviour, in any mode); the split and
   * fixedPoint's statistics are in `lastImplicit` afterwards.
   */
  forward(labels: Tensor | readonly number[], xBLCwoFirst: Tensor, opts: ViarForwardOptions = {}): Tensor {
    const { tokens, cond } = this.embedTeacherForced(labels, xBLCwoFirst, 'VIAR.forward', opts.rng, opts.labelDropMask);
    const mask = this.blockCausalMask(tokens.dtype === 'float64' ? 'float64' : 'float32');
    const blockCond = this.blockCond(cond);
    let h = tokens;
    for (const block of this.pre_blocks) h = block.forward(h, blockCond, { mask });
    h = this.solveImplicit(h, blockCond, mask, opts);
    for (const block of this.post_blocks) h = block.forward(h, blockCond, { mask });
    return this.logitsOf(h, cond);
  }

  /**
   * Seeded, batched sampling (the official autoregressive_infer_cfg of VIAR). At scale s: the pre-blocks (normal KV
   * caches), then n_s iterations z ← f(z; x) from z = x where iteration t attends to the iterate-t keys/values of
   * the earlier scales that ran iteration t plus its own (then appended under t), then the post-blocks and head.
   *
   * The loop is explicit rather than a fixedPoint call: every iteration writes its own cache entry keyed by t, and
   * fixedPoint's solver may call f at points it discards (the residual evaluation of its returned iterate), which
   * would append keys/values no official iteration produced. Sampling needs no gradient, so nothing is lost.
   */
  sample(vqvae: VQVAE, opts: ViarSampleOptions = {}): ViarSampleResult {
    const schedule = iterationSchedule(opts.iterSchedule ?? this.config.implicit.schedule, this.numScales, 'VIAR.sample');
    const tol = opts.earlyStopTol;
    if (tol !== undefined && !(tol >= 0)) throw new ArgumentError('VIAR.sample', `earlyStopTol must be a non-negative number, got ${tol}`);
    const policy = opts.implicitCache ?? 'iteration';
    if (policy !== 'iteration' && policy !== 'last-iterate') throw new ArgumentError('VIAR.sample', `implicitCache must be 'iteration' or 'last-iterate', got '${String(policy)}'`);
    const capAfterStop = opts.capAfterEarlyStop ?? policy === 'iteration';
    const iterations: number[] = [];
    const residuals: number[][] = [];
    const onScale = opts.onScale;
    const withTrace: ViarSampleOptions = onScale
      ? { ...opts, onScale: (p) => onScale({ ...p, iterations: iterations[p.scale]!, residuals: [...residuals[p.scale]!] }) }
      : opts;
    if (opts.capture && tol !== undefined) throw new ArgumentError('VIAR.sample', 'capture cannot be combined with earlyStopTol (stopping reads the residual); leave capture off');
    const result = this.runSampler(vqvae, withTrace, (cond, capturing) => {
      const blockCond = this.blockCond(cond);
      const preMods = this.pre_blocks.map((b) => b.modulation(blockCond));
      const postMods = this.post_blocks.map((b) => b.modulation(blockCond));
      const implicitMods = this.implicit_block.modulation(blockCond);
      const preCaches = this.pre_blocks.map(() => new KVCache());
      const postCaches = this.post_blocks.map(() => new KVCache());
      const implicitCaches = new ImplicitCaches(policy);
      let cap = Infinity;
      return {
        step: (tokens: Tensor, si: number) => {
          const injection = this.throughBlocks(this.pre_blocks, tokens, preMods, preCaches);
          let z = injection;
          const planned = Math.min(schedule[si]!, cap);
          const trace: number[] = [];
          for (let t = 0; t < planned; t++) {
            // each iteration in its own scope: only z (and the KV caches, which keep theirs) outlive it
            const cache = implicitCaches.at(t);
            const next = tidy(() => this.implicitStep(z, injection, { modulation: implicitMods, cache }));
            // the residual is a read of the device: skipped (NaN) where reads are asynchronous (WebGPU)
            trace.push(!capturing && (z.backend.canReadSync || tol !== undefined) ? relativeStep(z, next) : NaN);
            if (z !== injection) z.dispose();
            z = next;
            if (tol !== undefined && trace.at(-1)! < tol) {
              if (capAfterStop) cap = t + 1;
              break;
            }
          }
          iterations.push(trace.length);
          residuals.push(trace);
          implicitCaches.endScale(trace.length, tokens.shape[1]!);
          return this.throughBlocks(this.post_blocks, z, postMods, postCaches);
        },
        dispose: () => {
          [...preCaches, ...postCaches].forEach((cache) => cache.dispose());
          implicitCaches.dispose();
        },
      };
    }, 'VIAR.sample', `schedule ${schedule.join(',')}`);
    // a replayed recording ran the schedule without running this closure: no residual was read
    if (opts.capture) return { ...result, iterations: schedule, residuals: schedule.map((n) => new Array<number>(n).fill(NaN)) };
    return { ...result, iterations, residuals };
  }
}

/**
 * The implicit block's KV caches while sampling, one per iteration index t (see ImplicitCachePolicy). With
 * 'last-iterate', a scale that ran T iterations appends its iteration-(T − 1) keys/values to every cache t ≥ T that
 * exists, and to `lastIterates`, from which a cache first needed at a later scale starts.
 */
class ImplicitCaches {
  private readonly byIteration = new Map<number, KVCache>();
  /** Every finished scale's last-iterate keys/values, in scale order (with 'last-iterate'). */
  private readonly lastIterates = new KVCache();

  constructor(private readonly policy: ImplicitCachePolicy) {}

  /** The cache iteration t reads and appends to. */
  at(t: number): KVCache {
    let cache = this.byIteration.get(t);
    if (!cache) {
      cache = new KVCache();
      // no earlier scale ran iteration t, so each one lends its last iterate
      if (this.policy === 'last-iterate' && this.lastIterates.k) cache.append(this.lastIterates.k, this.lastIterates.v!);
      this.byIteration.set(t, cache);
    }
    return cache;
  }

  /** A scale of `length` tokens ran `ran` iterations: with 'last-iterate', its last iterate fills the iterations it skipped. */
  endScale(ran: number, length: number): void {
    if (this.policy !== 'last-iterate' || ran === 0) return;
    const last = this.byIteration.get(ran - 1)!;
    tidy(() => {
      // this scale's keys/values are the last `length` positions of [B, H, L, d]
      const k = slice(last.k!, [null, null, [-length]]), v = slice(last.v!, [null, null, [-length]]);
      for (const [t, cache] of this.byIteration) if (t >= ran) cache.append(k, v);
      this.lastIterates.append(k, v);
    });
  }

  dispose(): void {
    for (const cache of this.byIteration.values()) cache.dispose();
    this.lastIterates.dispose();
  }
}

/** max over rows of ‖b − a‖/‖a‖ for a, b [R, l, C] (a plain number). */
function relativeStep(a: Tensor, b: Tensor): number {
  return tidy(() => {
    const ratio = div(sqrt(sum(square(sub(b, a)), [1, 2])), sqrt(sum(square(a), [1, 2])));
    return max(ratio).item();
  });
}
