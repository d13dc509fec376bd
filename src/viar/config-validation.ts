// Validation of the model configs a checkpoint records, before anything is built: types, ranges with caps on what a
// file may ask for, and consistency with the tensor shapes in the file's header, so a hostile or corrupt config costs
// a one-line error naming the file and the field instead of unbounded work; and the loader that builds without leaks.

import type { Tensor } from '../tensor/tensor.js';
import { ArgumentError, ViarError } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import type { Module } from '../nn/module.js';
import { loadSafetensors, type HeaderTensorInfo } from '../nn/safetensors.js';
import { varConfig, type VarConfig } from './var-model.js';
import { OFFICIAL_IMPLICIT, viarConfig, type ViarConfig } from './viar-model.js';
import type { VqvaeConfig } from './vqvae.js';
import type { TransformerKind } from './transformer-configs.js';

/**
 * The largest values a recorded config may hold. They admit the official models (VAR-d30: depth 30, C 1920, 1000
 * classes, V 4096, 256 px scales; the VQVAE: ch 160, chMult [1, 1, 2, 2, 4], 2 res blocks) with room to spare, and
 * bound the work that no tensor in the file pays for (sequence length, heads, iterations).
 */
export const CONFIG_LIMITS = {
  depth: 256,
  embedDim: 16_384,
  numHeads: 1024,
  mlpRatio: 64,
  numClasses: 1_000_000,
  numScales: 64,
  patchSide: 256,
  /** Tokens of the whole sequence, Σ pₖ² (the attention mask is L × L). */
  seqLen: 16_384,
  vaeChannels: 4096,
  vocabSize: 1 << 22,
  /** Implicit iterations per scale (sampling schedule) and per training step (k, m ranges); official 10 and 12. */
  iterations: 1000,
  /** Pre- and post-blocks of a VIAR. */
  blocks: 256,
  ch: 4096,
  chMultLevels: 8,
  chMult: 64,
  numResBlocks: 32,
  inChannels: 64,
  shareQuantResi: 256,
  kernel: 15,
} as const;

type Raw = Record<string, unknown>;

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (the field is missing)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${v.slice(0, 8).map((x) => (typeof x === 'object' && x !== null ? '…' : JSON.stringify(x))).join(', ')}${v.length > 8 ? ', …' : ''}]`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}

/** Reads typed fields of one config object; every failure names the operation, the file and the field. */
class Fields {
  constructor(readonly raw: Raw, private readonly op: string, private readonly file: string, private readonly prefix: string) {}

  fail(name: string, what: string, got: unknown = this.raw[name]): never {
    throw new ArgumentError(this.op, `${this.file}: ${this.prefix}${name} must be ${what}, got ${describe(got)}`);
  }

  int(name: string, min: number, max: number): number {
    const v = this.raw[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(name, `an integer in [${min}, ${max}]`);
    return v as number;
  }

  num(name: string, ok: (n: number) => boolean, what: string): number {
    const v = this.raw[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) this.fail(name, what);
    return v as number;
  }

  bool(name: string): boolean {
    const v = this.raw[name];
    if (typeof v !== 'boolean') this.fail(name, 'true or false');
    return v as boolean;
  }

  choice<T extends string>(name: string, values: readonly T[]): T {
    const v = this.raw[name];
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) this.fail(name, `one of ${values.join(', ')}`);
    return v as T;
  }

  ints(name: string, minLength: number, maxLength: number, min: number, max: number): number[] {
    const v = this.raw[name];
    if (!Array.isArray(v) || v.length < minLength || v.length > maxLength || !v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max)) {
      this.fail(name, `${minLength === maxLength ? minLength : `${minLength} to ${maxLength}`} integers in [${min}, ${max}]`);
    }
    return v as number[];
  }

  object(name: string): Fields {
    const v = this.raw[name];
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(name, 'an object');
    return new Fields(v as Raw, this.op, this.file, `${this.prefix}${name}.`);
  }
}

/** Parses a recorded config string: a JSON object, else an error naming the file and the metadata key. */
export function parseConfigJson(text: string | undefined, file: string, op: string, key = 'config'): Raw {
  if (text === undefined) throw new ArgumentError(op, `${file} does not record its config (metadata '${key}')`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ArgumentError(op, `${file}: metadata '${key}' is not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ArgumentError(op, `${file}: metadata '${key}' must be a JSON object, got ${describe(parsed)}`);
  }
  return parsed as Raw;
}

const L = CONFIG_LIMITS;

/**
 * A partial recorded config completed with varConfig(depth) (and, for VIAR, viarConfig / OFFICIAL_IMPLICIT) defaults:
 * only `depth` must be recorded (an integer within CONFIG_LIMITS). Validate the result as usual.
 */
export function withConfigDefaults(kind: TransformerKind, raw: Raw, file: string, op: string): Raw {
  const depth = new Fields(raw, op, file, 'config.').int('depth', 1, L.depth);
  const base = varConfig(depth) as unknown as Raw;
  if (kind === 'var') return { ...base, ...raw };
  const implicit = raw.implicit !== null && typeof raw.implicit === 'object' && !Array.isArray(raw.implicit) ? raw.implicit as Raw : {};
  return { ...(viarConfig() as unknown as Raw), ...base, ...raw, implicit: { ...OFFICIAL_IMPLICIT, ...implicit } };
}

/**
 * Checks every field of a VAR config (and, for kind 'viar', the VIAR fields) for type and range. Unknown fields are
 * kept as they are. Returns the same object, typed.
 * @throws ArgumentError(op, '<file>: config.<field> must be …, got …').
 */
export function validateTransformerConfig(kind: TransformerKind, raw: Raw, file: string, op: string): VarConfig | ViarConfig {
  const f = new Fields(raw, op, file, 'config.');
  const depth = f.int('depth', 1, L.depth);
  const c = f.int('embedDim', 1, L.embedDim);
  const heads = f.int('numHeads', 1, Math.min(L.numHeads, c));
  if (c % heads !== 0) f.fail('numHeads', `a divisor of embedDim (${c})`);
  const ratio = f.num('mlpRatio', (n) => n > 0 && n <= L.mlpRatio, `a number in (0, ${L.mlpRatio}]`);
  if (Math.round(c * ratio) < 1) f.fail('mlpRatio', `large enough that round(embedDim · mlpRatio) ≥ 1 (embedDim ${c})`);
  f.int('numClasses', 1, L.numClasses);
  const patchNums = f.ints('patchNums', 1, L.numScales, 1, L.patchSide);
  if (patchNums.some((p, i) => i > 0 && p < patchNums[i - 1]!)) f.fail('patchNums', 'non-decreasing');
  const seqLen = patchNums.reduce((s, p) => s + p * p, 0);
  if (seqLen > L.seqLen) f.fail('patchNums', `scales of at most ${L.seqLen} tokens in all (Σ p² is ${seqLen})`);
  f.int('vaeChannels', 1, L.vaeChannels);
  f.int('vocabSize', 1, L.vocabSize);
  f.num('condDropRate', (n) => n >= 0 && n < 1, 'a number in [0, 1)');
  f.num('dropPathRate', (n) => n >= 0 && n < 1, 'a number in [0, 1)');
  f.num('normEps', (n) => n > 0 && n <= 1, 'a number in (0, 1]');
  f.bool('attnL2Norm');
  if (raw.sharedAln !== undefined) f.bool('sharedAln');
  const init = f.object('init');
  for (const k of ['adaln', 'adalnGamma', 'head', 'std']) init.num(k, (n) => Math.abs(n) <= 1e3, 'a finite number of magnitude at most 1000');
  if (kind === 'var') return raw as unknown as VarConfig;

  f.int('nPre', 0, Math.min(L.blocks, depth));
  f.int('nPost', 0, Math.min(L.blocks, depth));
  const imp = f.object('implicit');
  for (const [name, min] of [['noGradIters', 0], ['withGradIters', 0]] as const) {
    const r = imp.ints(name, 2, 2, min, L.iterations);
    if (r[0]! > r[1]!) imp.fail(name, '[min, max] with min ≤ max');
  }
  imp.choice('solver', ['picard', 'anderson', 'broyden'] as const);
  imp.num('tol', (n) => n >= 0, 'a non-negative number');
  validateGradient(imp);
  validateSchedule(imp, patchNums.length);
  return raw as unknown as ViarConfig;
}

const GRADIENTS = ['truncated', 'jfb', 'phantom', 'ift', 'unroll'] as const;

function validateGradient(imp: Fields): void {
  const g = imp.raw.gradient;
  if (typeof g === 'string') {
    imp.choice('gradient', GRADIENTS);
    return;
  }
  const o = imp.object('gradient');
  o.choice('mode', ['jfb', 'phantom', 'ift', 'unroll'] as const);
  for (const [k, v] of Object.entries(o.raw)) {
    if (k === 'mode') continue;
    if (k === 'k' || k === 'maxIter') o.int(k, 0, L.iterations);
    else if (k === 'tol' || k === 'damping') o.num(k, (n) => n >= 0 && n <= 1e6, 'a number in [0, 1e6]');
    else if (k === 'solver') o.choice(k, ['picard', 'anderson', 'broyden'] as const);
    else if (k === 'norm') o.choice(k, ['rms', 'max'] as const);
    else if (k === 'init') o.choice(k, ['zero', 'grad'] as const);
    else o.fail(k, 'absent (not a recorded gradient option)', v);
  }
}

function validateSchedule(imp: Fields, numScales: number): void {
  const s = imp.raw.schedule;
  const max = L.iterations;
  if (typeof s === 'number') {
    imp.int('schedule', 0, max);
  } else if (Array.isArray(s)) {
    imp.ints('schedule', numScales, numScales, 0, max);
  } else {
    const o = imp.object('schedule');
    o.int('left', 0, max);
    o.int('right', 0, max);
  }
}

/**
 * Checks every field of a VQVAE config for type and range (channels divisible by normGroups, scales non-decreasing).
 * Unknown fields are kept. Returns the same object, typed.
 */
export function validateVqvaeConfig(raw: Raw, file: string, op: string): VqvaeConfig {
  const f = new Fields(raw, op, file, 'config.');
  const ch = f.int('ch', 1, L.ch);
  const mult = f.ints('chMult', 1, L.chMultLevels, 1, L.chMult);
  f.int('numResBlocks', 1, L.numResBlocks);
  f.int('inChannels', 1, L.inChannels);
  f.int('zChannels', 1, L.vaeChannels);
  f.bool('usingSa');
  f.bool('usingMidSa');
  const groups = raw.normGroups === undefined ? 32 : f.int('normGroups', 1, ch);
  const widths = [ch, ...mult.map((m) => ch * m)];
  if (widths.some((w) => w % groups !== 0)) f.fail('normGroups', `a divisor of every width (${[...new Set(widths)].join(', ')})`, groups);
  f.int('vocabSize', 1, L.vocabSize);
  const patchNums = f.ints('patchNums', 1, L.numScales, 1, L.patchSide);
  if (patchNums.some((p, i) => i > 0 && p < patchNums[i - 1]!)) f.fail('patchNums', 'non-decreasing');
  f.num('beta', (n) => n >= 0 && n <= 1e3, 'a number in [0, 1000]');
  f.num('quantResi', (n) => Math.abs(n) <= 1, 'a number in [−1, 1]');
  f.int('shareQuantResi', 0, L.shareQuantResi);
  const k = f.int('quantConvKernel', 1, L.kernel);
  if (k % 2 === 0) f.fail('quantConvKernel', 'odd');
  return raw as unknown as VqvaeConfig;
}

// ---------------------------------------------------------------------------------------------------------------
// Consistency with the tensors in the file's header

type Header = ReadonlyMap<string, HeaderTensorInfo>;

class HeaderCheck {
  constructor(private readonly header: Header, private readonly op: string, private readonly file: string) {}

  fail(msg: string): never {
    throw new ArgumentError(this.op, `${this.file} does not fit this model: ${msg}`);
  }

  /** The tensor must exist with exactly this shape; `because` names the config fields the shape follows from. */
  shape(key: string, expected: readonly number[], because: string): void {
    const t = this.header.get(key);
    if (!t) this.fail(`holds no tensor '${key}', which the config (${because}) needs with shape [${expected.join(', ')}]`);
    if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
      this.fail(`tensor '${key}' has shape [${t.shape.join(', ')}] but the config (${because}) needs [${expected.join(', ')}]`);
    }
  }

  /** The indices i of keys `<prefix>.<i>.…` must be exactly 0..count−1. */
  count(prefix: string, count: number, because: string): void {
    const seen = new Set<number>();
    const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.(\\d+)\\.`);
    for (const key of this.header.keys()) {
      const m = re.exec(key);
      if (m) seen.add(Number(m[1]));
    }
    const ok = seen.size === count && [...seen].every((i) => i < count);
    if (!ok) this.fail(`holds ${seen.size} '${prefix}.<i>' entries${seen.size ? ` (indices ${[...seen].sort((a, b) => a - b).slice(0, 6).join(', ')}${seen.size > 6 ? ', …' : ''})` : ''} but the config (${because}) needs ${count}`);
  }

  has(prefix: string): boolean {
    for (const key of this.header.keys()) if (key.startsWith(prefix)) return true;
    return false;
  }

  keys(re: RegExp): string[] {
    return [...this.header.keys()].filter((k) => re.test(k));
  }
}

/**
 * Checks a (validated) VAR / VIAR config against the tensors a checkpoint holds: embeddings, positions, head, the
 * number of blocks, FFN widths and attention heads. With these equal, the model the config builds is the size of
 * the weights the file really contains.
 */
export function checkTransformerHeader(kind: TransformerKind, config: VarConfig | ViarConfig, header: Header, file: string, op: string): void {
  const h = new HeaderCheck(header, op, file);
  const c = config.embedDim, p = config.patchNums;
  const seqLen = p.reduce((s, x) => s + x * x, 0);
  h.shape('class_emb.weight', [config.numClasses + 1, c], 'numClasses + 1, embedDim');
  h.shape('pos_start', [1, p[0]! * p[0]!, c], 'patchNums[0]², embedDim');
  h.shape('pos_1LC', [1, seqLen, c], 'Σ patchNums², embedDim');
  h.shape('lvl_embed.weight', [p.length, c], 'number of scales, embedDim');
  h.shape('word_embed.weight', [c, config.vaeChannels], 'embedDim, vaeChannels');
  h.shape('head.weight', [config.vocabSize, c], 'vocabSize, embedDim');
  let blocks: number;
  if (kind === 'viar') {
    const v = config as ViarConfig;
    h.count('pre_blocks', v.nPre, `nPre ${v.nPre}`);
    h.count('post_blocks', v.nPost, `nPost ${v.nPost}`);
    if (!h.has('implicit_block.')) h.fail("holds no 'implicit_block.*' tensors, which a VIAR needs");
    blocks = v.nPre + v.nPost + 1;
  } else {
    h.count('blocks', config.depth, `depth ${config.depth}`);
    blocks = config.depth;
  }
  const hidden = Math.round(c * config.mlpRatio);
  const fc1 = h.keys(/(^|\.)ffn\.fc1\.weight$/);
  if (fc1.length !== blocks) h.fail(`holds ${fc1.length} 'ffn.fc1.weight' tensors but the config has ${blocks} blocks`);
  for (const key of fc1) h.shape(key, [hidden, c], 'round(embedDim · mlpRatio), embedDim');
  const temps = h.keys(/(^|\.)attn\.scale_mul_1H11$/);
  if (temps.length !== (config.attnL2Norm ? blocks : 0)) {
    h.fail(`holds ${temps.length} 'attn.scale_mul_1H11' tensors but the config (attnL2Norm ${config.attnL2Norm}, ${blocks} blocks) needs ${config.attnL2Norm ? blocks : 0}`);
  }
  for (const key of temps) h.shape(key, [1, config.numHeads, 1, 1], 'numHeads');
}

/** Checks a (validated) VQVAE config against a tokenizer checkpoint's tensors: widths, levels, blocks, codebook, Phis. */
export function checkVqvaeHeader(config: VqvaeConfig, header: Header, file: string, op: string): void {
  const h = new HeaderCheck(header, op, file);
  const { ch, chMult, numResBlocks, zChannels: z } = config;
  const last = chMult.length - 1;
  h.shape('encoder.conv_in.weight', [ch, config.inChannels, 3, 3], 'ch, inChannels');
  h.count('encoder.down', chMult.length, `${chMult.length} levels (chMult)`);
  h.count('decoder.up', chMult.length, `${chMult.length} levels (chMult)`);
  const inMult = [1, ...chMult];
  chMult.forEach((m, level) => {
    h.count(`encoder.down.${level}.block`, numResBlocks, `numResBlocks ${numResBlocks}`);
    h.count(`decoder.up.${level}.block`, numResBlocks + 1, `numResBlocks ${numResBlocks} + 1`);
    h.shape(`encoder.down.${level}.block.0.conv1.weight`, [ch * m, ch * inMult[level]!, 3, 3], 'ch · chMult');
  });
  h.shape('encoder.conv_out.weight', [z, ch * chMult[last]!, 3, 3], 'zChannels, ch · chMult[last]');
  h.shape('decoder.conv_in.weight', [ch * chMult[last]!, z, 3, 3], 'ch · chMult[last], zChannels');
  h.shape('decoder.conv_out.weight', [config.inChannels, ch * chMult[0]!, 3, 3], 'inChannels, ch · chMult[0]');
  if (h.has(`encoder.down.${last}.attn.`) !== config.usingSa) h.fail(`its attention blocks at the lowest resolution do not match usingSa ${config.usingSa}`);
  if (h.has('encoder.mid.attn_1.') !== config.usingMidSa) h.fail(`its middle attention block does not match usingMidSa ${config.usingMidSa}`);
  const sn = config.patchNums.length;
  h.shape('quantize.embedding.weight', [config.vocabSize, z], 'vocabSize, zChannels');
  h.shape('quantize.ema_vocab_hit_SV', [sn, config.vocabSize], 'number of scales, vocabSize');
  h.count('quantize.quant_resi.qresi_ls', config.shareQuantResi === 0 ? sn : config.shareQuantResi, `shareQuantResi ${config.shareQuantResi}`);
  const k = config.quantConvKernel;
  h.shape('quant_conv.weight', [z, z, k, k], 'zChannels, quantConvKernel');
  h.shape('post_quant_conv.weight', [z, z, k, k], 'zChannels, quantConvKernel');
}

// ---------------------------------------------------------------------------------------------------------------
// Building and loading without leaks

/** Every tensor reachable from an object's fields (arrays, Maps, nested objects), e.g. a module's weights and caches. */
function reachableTensors(root: unknown): Tensor[] {
  const out: Tensor[] = [];
  const seen = new Set<unknown>();
  const visit = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if ((v as { isTensor?: boolean }).isTensor === true) {
      out.push(v as Tensor);
      return;
    }
    if (v instanceof Map) for (const x of v.values()) visit(x);
    else if (Array.isArray(v)) for (const x of v) visit(x);
    else for (const x of Object.values(v)) visit(x);
  };
  visit(root);
  return out;
}

/**
 * Builds the module (from a config already checked against the file), then reads the checkpoint's tensors, refusing
 * non-finite values in the tensors the module holds unless `checkFinite` is false (a file may carry buffers the module
 * recomputes, such as the official attn_bias_for_masking with −Infinity), and loads them (strict names and shapes).
 * Whatever fails, nothing stays allocated: a module half built when its constructor threw is freed with the rest, and
 * the decoded tensors always are. A state dict that does not fit is an ArgumentError(opts.op) naming the file.
 */
export function loadCheckedModule<T extends Module>(path: string, build: () => T, opts: { checkFinite?: boolean; op?: string } = {}): { module: T; metadata: Record<string, string> } {
  // a constructor that throws leaves its tensors in this tidy scope, which frees them
  const module = tidy(() => {
    const m = build();
    return { m, owned: reachableTensors(m) };
  }).m;
  let contents: ReturnType<typeof loadSafetensors> | undefined;
  try {
    const held = new Set(module.stateDict().keys());
    contents = loadSafetensors(path, { checkFinite: (opts.checkFinite ?? true) && ((name: string) => held.has(name)) });
    module.loadStateDict(contents.tensors);
    return { module, metadata: contents.metadata };
  } catch (err) {
    module.dispose();
    if (!(err instanceof ViarError) || err.op === 'loadSafetensors') throw err;
    throw new ArgumentError(opts.op ?? 'loadCheckedModule', `${path}: ${err.message}`);
  } finally {
    for (const t of contents?.tensors.values() ?? []) t.dispose();
  }
}
