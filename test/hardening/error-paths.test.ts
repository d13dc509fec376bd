// Every error path of the loaders frees what it made (memory() before = after), configs are validated field by field
// before anything is built, non-finite weights are refused by name, stale temporaries are cleaned, and the CLI's
// output checks and result writer refuse what they must (without touching the previous file).

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as V from '../../src/index.js';
import { CliError, choice, int, ints, num, parseOptions, prepareOutputDir, prepareOutputFile, seed, writeResultJson } from '../../src/cli/options.js';

let dir: string;
let viarPath: string, tokPath: string;

/** Rewrites a safetensors file's header through `edit` (data section unchanged). */
function rewrite(from: string, to: string, edit: (header: Record<string, any>) => void): string {
  const bytes = readFileSync(from);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, any>;
  edit(header);
  const json = Buffer.from(JSON.stringify(header));
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
  json.copy(padded);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(padded.length));
  writeFileSync(to, Buffer.concat([prefix, padded, bytes.subarray(8 + n)]));
  return to;
}

/** Runs fn, which must throw matching `message`, and checks that no tensor or byte stays allocated. */
function expectCleanFailure(fn: () => unknown, message: RegExp): void {
  const before = V.memory();
  expect(fn).toThrow(message);
  const after = V.memory();
  expect({ tensors: after.numTensors, bytes: after.numBytes }).toEqual({ tensors: before.numTensors, bytes: before.numBytes });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'viar-error-paths-'));
  const model = V.createModel('viar', V.VIAR_MICRO, new V.Rng(1));
  viarPath = join(dir, 'viar.safetensors');
  V.saveTransformer(viarPath, model, { data: 'mnist' });
  model.dispose();
  const vae = new V.VQVAE(V.TOKENIZER_MICRO, new V.Rng(2));
  tokPath = join(dir, 'tok.safetensors');
  V.saveModule(tokPath, vae, { config: JSON.stringify(V.TOKENIZER_MICRO) });
  vae.dispose();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const withConfig = (name: string, change: (c: Record<string, any>) => void, from = viarPath) =>
  rewrite(from, join(dir, name), (h) => {
    const c = JSON.parse(h.__metadata__.config as string) as Record<string, any>;
    change(c);
    h.__metadata__.config = JSON.stringify(c);
  });

describe('loadTransformer: validated before building, nothing leaked on any failure', () => {
  test.each([
    ['depth 1e5', (c: Record<string, any>) => { c.depth = 1e5; }, /config\.depth must be an integer in \[1, 256\], got 100000/],
    ['numClasses 1e9', (c: Record<string, any>) => { c.numClasses = 1e9; }, /config\.numClasses must be an integer in \[1, 1000000\]/],
    ['a schedule of 1e9 iterations', (c: Record<string, any>) => { c.implicit.schedule = 1e9; }, /config\.implicit\.schedule must be an integer in \[0, 1000\]/],
    ['mlpRatio as a string', (c: Record<string, any>) => { c.mlpRatio = '4'; }, /config\.mlpRatio must be a number in \(0, 64\], got "4"/],
    ['numHeads not dividing the width', (c: Record<string, any>) => { c.numHeads = 3; }, /config\.numHeads must be a divisor of embedDim \(32\)/],
    ['patchNums decreasing', (c: Record<string, any>) => { c.patchNums = [2, 1]; }, /config\.patchNums must be non-decreasing/],
    ['an unknown solver', (c: Record<string, any>) => { c.implicit.solver = 'newton'; }, /config\.implicit\.solver must be one of picard, anderson, broyden/],
    ['a missing field', (c: Record<string, any>) => { delete c.vocabSize; }, /config\.vocabSize must be an integer .* got nothing \(the field is missing\)/],
    ['numClasses the header does not hold', (c: Record<string, any>) => { c.numClasses = 20; }, /does not fit this model: tensor 'class_emb\.weight' has shape \[11, 32\] but the config \(numClasses \+ 1, embedDim\) needs \[21, 32\]/],
    ['more post-blocks than the file holds', (c: Record<string, any>) => { c.nPost = 2; }, /holds 1 'post_blocks\.<i>' entries .* needs 2/],
    ['a wider FFN than the file holds', (c: Record<string, any>) => { c.mlpRatio = 8; }, /'pre_blocks\.0\.ffn\.fc1\.weight' has shape \[128, 32\] but .* needs \[256, 32\]/],
  ])('%s', (name, change, message) => {
    const path = withConfig(`${name.replace(/\W+/g, '-')}.safetensors`, change);
    expectCleanFailure(() => V.loadTransformer(path), message);
    expect(() => V.loadTransformer(path)).toThrow(path);
  });

  test.each([
    ['not JSON', 'depth: 8', /metadata 'config' is not valid JSON/],
    ['null', 'null', /metadata 'config' must be a JSON object, got null/],
    ['an array', '[1]', /must be a JSON object, got \[1\]/],
  ])('a config that is %s', (_, text, message) => {
    const path = rewrite(viarPath, join(dir, 'bad-text.safetensors'), (h) => { h.__metadata__.config = text; });
    expectCleanFailure(() => V.loadTransformer(path), message);
  });

  test('a weight that is NaN is named; checkFinite: false loads it anyway', () => {
    const bytes = readFileSync(viarPath);
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { data_offsets: number[] }>;
    const copy = Buffer.from(bytes);
    copy.writeFloatLE(NaN, 8 + n + header['head.bias']!.data_offsets[0]! + 4 * 3);
    const path = join(dir, 'nan.safetensors');
    writeFileSync(path, copy);
    expectCleanFailure(() => V.loadTransformer(path), /tensor 'head\.bias' holds a non-finite value \(NaN\) at flat index 3/);
    const { model } = V.loadTransformer(path, { checkFinite: false });
    expect(Number.isNaN(model.head.bias!.dataSync()[3])).toBe(true);
    model.dispose();
  });

  test('a state dict that fails after the model was built: the model is freed', () => {
    // an extra tensor passes the config and header checks, then strict loading refuses it
    const extra = V.tensor([1, 2, 3]);
    const { tensors, metadata } = V.loadSafetensors(viarPath);
    tensors.set('bogus', extra);
    const path = join(dir, 'extra.safetensors');
    V.saveSafetensors(path, tensors, metadata);
    for (const t of tensors.values()) t.dispose();
    expectCleanFailure(() => V.loadTransformer(path), /extra\.safetensors: .*unexpected keys: bogus/);
  });

  test('a constructor that throws halfway: what it allocated is freed', () => {
    class Half extends V.Module {
      w = V.zeros([64, 64]).requireGrad();
      constructor() {
        super();
        throw new V.ArgumentError('Half', 'refused after allocating');
      }
    }
    expectCleanFailure(() => V.loadCheckedModule(viarPath, () => new Half()), /refused after allocating/);
  });

  test('partial configs complete from defaults only when asked (fillDefaults)', () => {
    const path = withConfig('partial.safetensors', (c) => { delete c.normEps; });
    expect(() => V.loadTransformer(path)).toThrow(/config\.normEps must be a number in \(0, 1\], got nothing/);
    const { model } = V.loadTransformer(path, { fillDefaults: true });
    expect(model.config.normEps).toBe(1e-6);
    model.dispose();
  });
});

describe('loadVqvae, loadModule, loadTrainingState, Module.loadStateDict', () => {
  test.each([
    ['numResBlocks 1e6', (c: Record<string, any>) => { c.numResBlocks = 1e6; }, /config\.numResBlocks must be an integer in \[1, 32\]/],
    ['normGroups not dividing a width', (c: Record<string, any>) => { c.normGroups = 3; }, /config\.normGroups must be a divisor of every width/],
    ['chMult with an extra level', (c: Record<string, any>) => { c.chMult = [1, 2, 2, 2]; }, /holds 3 'encoder\.down\.<i>' entries .* needs 4/],
    ['a vocabulary the codebook does not hold', (c: Record<string, any>) => { c.vocabSize = 32; }, /'quantize\.embedding\.weight' has shape \[16, 4\] but .* needs \[32, 4\]/],
    ['an even quant conv kernel', (c: Record<string, any>) => { c.quantConvKernel = 2; }, /config\.quantConvKernel must be odd/],
  ])('loadVqvae refuses %s before building', (name, change, message) => {
    const path = withConfig(`tok-${name.replace(/\W+/g, '-')}.safetensors`, change, tokPath);
    expectCleanFailure(() => V.loadVqvae(path), message);
  });

  test('loadModule: a non-finite weight is named and nothing stays allocated', () => {
    const net = new V.LeNet(V.LENET_DEFAULTS, new V.Rng(0));
    const state = new Map(net.stateDict());
    state.set('fc2.bias', V.tensor(new Float32Array(10).fill(Infinity)));
    const path = join(dir, 'inf.safetensors');
    V.saveSafetensors(path, state);
    state.get('fc2.bias')!.dispose();
    expectCleanFailure(() => V.loadModule(path, net), /tensor 'fc2\.bias' holds a non-finite value \(Infinity\) at flat index 0/);
    net.dispose();
  });

  test('Module.loadStateDict frees the cast copies of tensors stored in another dtype', () => {
    const net = new V.LeNet(V.LENET_DEFAULTS, new V.Rng(0));
    const doubles = new Map([...net.stateDict()].map(([k, t]) => [k, V.cast(t, 'float64')]));
    const before = V.memory();
    net.loadStateDict(doubles);
    expect(V.memory().numTensors).toBe(before.numTensors);
    for (const t of doubles.values()) t.dispose();
    net.dispose();
  });

  test('loadTrainingState: malformed optimizer / rng metadata is a one-line error, the decoded tensors freed', () => {
    const net = new V.LeNet(V.LENET_DEFAULTS, new V.Rng(0));
    const rng = new V.Rng(1);
    const path = join(dir, 'state.safetensors');
    V.saveTrainingState(path, { model: net, rng });
    const bad = rewrite(path, join(dir, 'state-bad.safetensors'), (h) => { h.__metadata__.rng = '[1, 2'; });
    expectCleanFailure(() => V.loadTrainingState(bad, { model: net, rng }), /metadata 'rng' is not valid JSON/);
    const alias = rewrite(path, join(dir, 'state-alias.safetensors'), (h) => { h.__metadata__.rng = '[4294967296, 0, 0, 0]'; });
    expectCleanFailure(() => V.loadTrainingState(alias, { model: net, rng }), /metadata 'rng' must be 4 unsigned 32-bit integers/);
    net.dispose();
  });
});

describe('files that are not regular files, stale temporaries', () => {
  test('a folder and a FIFO are refused at once (no blocking open)', () => {
    const fifo = join(dir, 'pipe.safetensors');
    spawnSync('mkfifo', [fifo]);
    expect(() => V.readSafetensorsHeader(dir)).toThrow(/is a directory, not a safetensors file/);
    expect(() => V.loadSafetensors(fifo)).toThrow(/is a FIFO, not a safetensors file/);
    expect(() => V.loadTransformer(fifo)).toThrow(/is a FIFO/);
  });

  test('the next save removes the temporaries of dead writers of the same target, and only those', () => {
    const target = join(dir, 'ckpt.safetensors');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const names = {
      dead: `.ckpt.safetensors.${dead}.0123456789ab.tmp`, own: `.ckpt.safetensors.${process.pid}.00000000000a.tmp`,
      live: `.ckpt.safetensors.1.0123456789ab.tmp`, other: `.other.safetensors.${dead}.0123456789ab.tmp`, unrelated: 'ckpt.safetensors.notes.tmp',
    };
    for (const n of Object.values(names)) writeFileSync(join(dir, n), 'partial');
    V.saveSafetensors(target, new Map([['w', V.tensor([1])]]));
    const left = new Set(readdirSync(dir));
    expect([names.dead, names.own].filter((n) => left.has(n))).toEqual([]);
    expect([names.live, names.other, names.unrelated].every((n) => left.has(n))).toBe(true);
  });
});

describe('CLI options: typed and range-checked, one message naming the option', () => {
  const specs = {
    n: int(1, 1000), seed: seed(), 'eval-seed': seed(4294966), cfg: num((x) => x >= 0 && x <= 100, 'a number in [0, 100]'),
    schedule: ints(0, 1000, 2), data: choice('mnist', 'fashion'),
  };
  test.each([
    [['--n', '0'], /^t: --n must be an integer ≥ 1, got '0'$/],
    [['--n', ''], /--n must be an integer ≥ 1, got ''/],
    [['--n', '1e9'], /--n must be an integer in \[1, 1000\] written in digits, got '1e9'/],
    [['--n', '2.5'], /--n must be an integer in \[1, 1000\] written in digits/],
    [['--n', '99999999999999999999'], /--n must be an integer ≤ 1000/],
    [['--n=-1'], /--n must be an integer ≥ 1, got '-1'/],
    [['--seed', '4294967296'], /--seed must be an integer in \[0, 4294967295\] \(seeds are 32-bit\)/],
    [['--seed=-1'], /--seed must be an integer in \[0, 4294967295\]/],
    [['--seed', '1.5'], /--seed must be/],
    [['--eval-seed', '4294967'], /--eval-seed must be an integer in \[0, 4294966\] .*adds up to 999/],
    [['--cfg', 'NaN'], /--cfg must be a number in \[0, 100\], got 'NaN'/],
    [['--cfg', 'Infinity'], /--cfg must be/],
    [['--schedule', '1,2,3'], /--schedule must be comma-separated integers in \[0, 1000\] \(at most 2 of them\)/],
    [['--schedule', '1,,2'], /--schedule must be comma-separated/],
    [['--data', 'cifar'], /--data must be mnist or fashion, got 'cifar'/],
    [['--n'], /option --n needs a value/],
    [['--nn', '3'], /unknown option --nn \(did you mean --n\?\)/],
    [['stray'], /unexpected argument stray/],
  ])('%j', (argv, message) => {
    expect(() => parseOptions('t', argv as string[], specs)).toThrow(message);
    expect(() => parseOptions('t', argv as string[], specs)).toThrow(CliError);
  });

  test('valid values come back typed', () => {
    expect(parseOptions('t', ['--n', '7', '--seed', '4294967295', '--cfg', '1.5', '--schedule', '8,1', '--data', 'fashion'], specs))
      .toEqual({ n: 7, seed: 4294967295, cfg: 1.5, schedule: [8, 1], data: 'fashion' });
  });
});

describe('CLI output checks and the result writer', () => {
  test('output targets are checked before any work', () => {
    const file = join(dir, 'out', 'x.png');
    expect(prepareOutputFile('t', '--out', file)).toBe(file);
    expect(existsSync(join(dir, 'out'))).toBe(true);
    expect(() => prepareOutputFile('t', '--out', '')).toThrow(/^t: --out must not be empty$/);
    expect(() => prepareOutputFile('t', '--out', dir)).toThrow(/is a folder; name a file/);
    expect(() => prepareOutputFile('t', '--out', '/dev/full')).toThrow(/\/dev\/full is not a regular file/);
    expect(() => prepareOutputFile('t', '--out', '/proc/self/x.png')).toThrow(/is on a virtual file system \(\/proc\)/);
    expect(() => prepareOutputDir('t', '--out-dir', '/sys/kernel/x')).toThrow(/virtual file system/);
    writeFileSync(join(dir, 'plain'), '');
    expect(() => prepareOutputFile('t', '--out', join(dir, 'plain', 'x.png'))).toThrow(/cannot be created: .*plain is not a folder/);
    expect(() => prepareOutputDir('t', '--out-dir', join(dir, 'plain'))).toThrow(CliError);
  });

  test('a result with NaN or no data never replaces the previous file', () => {
    const file = join(dir, 'docs', 'result.json');
    mkdirSync(join(dir, 'docs'));
    writeResultJson('t', file, { psnr: 20.5, images: 10 }, { images: 10 });
    const committed = readFileSync(file, 'utf8');
    expect(() => writeResultJson('t', file, { psnr: NaN, images: 0 }, { images: 0 })).toThrow(/not writing .*result\.json: the run produced a non-finite result \(psnr = NaN\)/);
    expect(() => writeResultJson('t', file, { psnr: 1, test: { images: 0 } }, { 'test images': 0 })).toThrow(/no data \(test images = 0\)/);
    expect(readFileSync(file, 'utf8')).toBe(committed);
    expect(readdirSync(join(dir, 'docs'))).toEqual(['result.json']);
  });
});
