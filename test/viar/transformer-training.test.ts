// VAR / VIAR training on tiny configs: the loss drops, resume is bit-identical, the token cache, checkpoints with
// their config in the metadata (and clear errors for the wrong model or config), decay groups, the shipped configs'
// parameter ratio, class-per-row sampling, and the CLI's argument errors.

import { describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as V from '../../src/index.js';
import { parseSampleArgs, parseTrainArgs } from '../../src/cli/transformer-commands.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'viar-transformer-'));

/** Tokens that depend on the label and the position (learnable), with some noise; L from the micro configs. */
function syntheticTokens(count: number, seed: number): V.TokenDataset {
  const rng = new V.Rng(seed);
  const patchNums = V.VAR_MICRO.patchNums;
  const seqLen = patchNums.reduce((s, p) => s + p * p, 0);
  const v = V.VAR_MICRO.vocabSize;
  const tokens = new Int32Array(count * seqLen);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 10;
    for (let t = 0; t < seqLen; t++) tokens[i * seqLen + t] = rng.uniform() < 0.8 ? (labels[i]! * 3 + (t % 5)) % v : rng.int(0, v);
  }
  return { tokens, labels, count, patchNums, seqLen };
}

function micro(kind: V.TransformerKind, seed = 0): V.NextScaleModel {
  return V.createModel(kind, kind === 'var' ? V.VAR_MICRO : V.VIAR_MICRO, new V.Rng(seed));
}

const quantizer = () => new V.VQVAE(V.TOKENIZER_MICRO, new V.Rng(3)).quantize;

function paramBytes(model: V.Module): Float32Array[] {
  return model.parameters().map((p) => Float32Array.from(p.dataSync()));
}

describe('training', () => {
  for (const kind of ['var', 'viar'] as const) {
    test(`${kind}: a few AdamW steps lower the loss; steps report accuracy, tokens and (VIAR) solver stats`, () => {
      const data = syntheticTokens(64, 1);
      const model = micro(kind);
      const trainer = new V.TransformerTrainer(model, quantizer(), data, { totalSteps: 40, lr: 1e-2, warmupSteps: 2, batchSize: 16 });
      const before = trainer.evaluate(data);
      let live = 0;
      for (let s = 0; s < 12; s++) {
        if (s === 2) live = V.memory().numTensors;
        const r = trainer.trainStep();
        expect(r.step).toBe(s + 1);
        expect(r.tokens).toBe(16 * data.seqLen);
        expect(Number.isFinite(r.loss) && r.accuracy >= 0 && r.accuracy <= 1).toBe(true);
        if (kind === 'viar') {
          expect(r.implicit!.noGradIters).toBeGreaterThanOrEqual(0);
          expect(r.implicit!.noGradIters).toBeLessThanOrEqual(2);
          expect([1, 2]).toContain(r.implicit!.withGradIters);
          expect(r.implicit!.residual).toBeGreaterThan(0);
        } else {
          expect(r.implicit).toBeNull();
        }
      }
      expect(V.memory().numTensors).toBe(live); // steps free what they create
      const after = trainer.evaluate(data);
      expect(after.loss).toBeLessThan(before.loss - 0.3);
      expect(after.accuracy).toBeGreaterThan(before.accuracy);
      model.dispose();
    });
  }

  test('resume is bit-identical: 3 steps + save + load + 3 steps = 6 steps (VIAR: label dropout, k/m draws, epoch change)', () => {
    const dir = tmp();
    try {
      const data = syntheticTokens(40, 2); // 2 batches of 16 per epoch: the 6 steps cross epochs
      const opts = { totalSteps: 10, lr: 3e-3, warmupSteps: 2, batchSize: 16, seed: 5 };
      const q = quantizer();
      const straight = new V.TransformerTrainer(micro('viar', 7), q, data, opts);
      const lossesA = Array.from({ length: 6 }, () => straight.trainStep());
      const first = new V.TransformerTrainer(micro('viar', 7), q, data, opts);
      const lossesB = Array.from({ length: 3 }, () => first.trainStep());
      first.saveState(join(dir, 'state.safetensors'));
      first.trainStep(); // moves on past the saved point: the reload must not see this
      const resumed = new V.TransformerTrainer(micro('viar', 99), q, data, opts); // a different init, overwritten by the state
      resumed.loadState(join(dir, 'state.safetensors'));
      expect(resumed.step).toBe(3);
      lossesB.push(...Array.from({ length: 3 }, () => resumed.trainStep()));
      expect(lossesB.map((r) => [r.loss, r.implicit!.noGradIters, r.implicit!.withGradIters])).toEqual(lossesA.map((r) => [r.loss, r.implicit!.noGradIters, r.implicit!.withGradIters]));
      const a = paramBytes(straight.model), b = paramBytes(resumed.model);
      a.forEach((p, i) => expect(Buffer.from(b[i]!.buffer).equals(Buffer.from(p.buffer))).toBe(true));
      const sa = straight.optimizer.stateDict(), sb = resumed.optimizer.stateDict();
      expect(sb.meta).toEqual(sa.meta);
      for (const [k, t] of sa.tensors) expect(Array.from(sb.tensors.get(k)!.dataSync())).toEqual(Array.from(t.dataSync()));
      for (const t of [straight, first, resumed]) t.model.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the end of the cosine may move during the warmup only', () => {
    const trainer = new V.TransformerTrainer(micro('var'), quantizer(), syntheticTokens(32, 5), { totalSteps: 1000, batchSize: 16, lr: 1e-3, warmupSteps: 3 });
    const warm = [0, 1, 2].map((s) => trainer.schedule(s));
    trainer.trainStep();
    trainer.setTotalSteps(20);
    expect([0, 1, 2].map((s) => trainer.schedule(s))).toEqual(warm);
    expect(trainer.schedule(20)).toBeCloseTo(1e-4, 12); // cosine ends at 10% of the peak
    for (let s = 0; s < 3; s++) trainer.trainStep();
    expect(() => trainer.setTotalSteps(30)).toThrow(/the warmup \(3 steps\) is over at step 4/);
    trainer.model.dispose();
  });

  test('a state of another model kind or config is refused with a clear error', () => {
    const dir = tmp();
    try {
      const data = syntheticTokens(32, 3);
      const path = join(dir, 'state.safetensors');
      const varTrainer = new V.TransformerTrainer(micro('var'), quantizer(), data, { totalSteps: 5, batchSize: 16 });
      varTrainer.saveState(path);
      const viarTrainer = new V.TransformerTrainer(micro('viar'), quantizer(), data, { totalSteps: 5, batchSize: 16 });
      expect(() => viarTrainer.loadState(path)).toThrow(/training state of a VAR model, not VIAR/);
      const wider = new V.VAR({ ...V.VAR_MICRO, embedDim: 64 }, { rng: new V.Rng(0) });
      expect(() => new V.TransformerTrainer(wider, quantizer(), data, { totalSteps: 5, batchSize: 16 }).loadState(path)).toThrow(/another config \(saved vs current: embedDim 32 vs 64\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('weight decay skips biases, 1-D tensors and position/level/temperature parameters', () => {
    const model = micro('var');
    const named = model.namedParameters();
    const noDecay = named.filter(([n, p]) => V.isNoDecayParameter(n, p)).map(([n]) => n);
    expect(noDecay).toContain('pos_1LC');
    expect(noDecay).toContain('lvl_embed.weight');
    expect(noDecay).toContain('blocks.0.attn.scale_mul_1H11');
    expect(noDecay).toContain('head.bias');
    expect(noDecay).not.toContain('head.weight');
    expect(noDecay).not.toContain('class_emb.weight');
    const trainer = new V.TransformerTrainer(model, quantizer(), syntheticTokens(32, 4), { totalSteps: 5, batchSize: 16, lr: 0.1, warmupSteps: 0 });
    const before = new Map(named.map(([n, p]) => [n, Float32Array.from(p.dataSync())]));
    for (const p of model.parameters()) p.grad = V.zeros(p.shape); // zero gradients: only decay moves parameters
    trainer.optimizer.step();
    for (const [n, p] of named) {
      const old = before.get(n)!, now = p.dataSync();
      if (noDecay.includes(n)) expect(Array.from(now)).toEqual(Array.from(old));
      else old.forEach((x, i) => expect(Math.abs(now[i]! - x * (1 - 0.1 * 0.05))).toBeLessThanOrEqual(1e-7 * Math.abs(x)));
    }
    model.dispose();
  });
});

describe('configs', () => {
  test('the shipped VIAR has at most 45% of the VAR baseline\'s parameters; both fit TOKENIZER_SMALL', () => {
    const var_ = new V.VAR(V.VAR_SMALL, { rng: new V.Rng(0) });
    const viar = new V.VIAR(V.VIAR_SMALL, { rng: new V.Rng(0) });
    const ratio = viar.numParameters() / var_.numParameters();
    expect(var_.numParameters()).toBeGreaterThan(2_000_000);
    expect(ratio).toBeLessThanOrEqual(0.45);
    expect(ratio).toBeGreaterThan(0.35);
    expect(var_.seqLen).toBe(130);
    V.checkTokenizerFit(V.VAR_SMALL, V.TOKENIZER_SMALL);
    V.checkTokenizerFit(V.VIAR_SMALL, V.TOKENIZER_SMALL);
    expect(V.VIAR_SMALL.implicit.noGradIters).toEqual([0, 4]);
    expect(V.VIAR_SMALL.implicit.withGradIters).toEqual([1, 2]);
    expect(() => V.checkTokenizerFit(V.VAR_SMALL, V.TOKENIZER_MICRO)).toThrow(/does not fit the tokenizer \(patchNums \[1, 2, 4, 8\], Cvae 4, V 16\)/);
    var_.dispose(); viar.dispose();
  });
});

describe('token cache and checkpoints', () => {
  test('encodes once, then reads the cache; the key follows the tokenizer file', () => {
    const dir = tmp();
    try {
      const rng = new V.Rng(1);
      const n = 12;
      const images = new V.ImageDataset({ images: Float32Array.from({ length: n * 32 * 32 }, () => rng.uniform()), labels: Int32Array.from({ length: n }, (_, i) => i % 10), channels: 1, height: 32, width: 32 });
      const vae = new V.VQVAE(V.TOKENIZER_MICRO, new V.Rng(2));
      const tokenizerPath = join(dir, 'tok.safetensors');
      V.saveModule(tokenizerPath, vae);
      const opts = { tokenizerPath, data: 'synthetic', split: 'train' };
      const first = V.loadOrEncodeTokens(vae, images, opts);
      expect(first.cached).toBe(false);
      expect(first.dataset.seqLen).toBe(85);
      const again = V.loadOrEncodeTokens(vae, images, opts);
      expect(again.cached).toBe(true);
      expect(again.path).toBe(first.path);
      expect(Array.from(again.dataset.tokens)).toEqual(Array.from(first.dataset.tokens));
      // row 3 = the tokenizer's own encoding of image 3, scales concatenated
      const direct = V.tidy(() => V.noGrad(() => vae.eval().imageToIndices(V.toSignedImages(images.subset([3]).toTensor().x)).flatMap((t) => Array.from(t.dataSync()))));
      expect(Array.from(first.dataset.tokens.subarray(3 * 85, 4 * 85))).toEqual(direct);
      V.saveModule(tokenizerPath, new V.VQVAE(V.TOKENIZER_MICRO, new V.Rng(3))); // another tokenizer, same path
      const other = V.loadOrEncodeTokens(vae, images, opts);
      expect(other.cached).toBe(false);
      expect(other.path).not.toBe(first.path);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('checkpoints record kind and config: load rebuilds the model; a wrong kind or config is a clear error', () => {
    const dir = tmp();
    try {
      const model = micro('viar', 4).eval();
      const path = join(dir, 'viar.safetensors');
      V.saveTransformer(path, model, { data: 'mnist' });
      const { model: loaded, info } = V.loadTransformer(path);
      expect(loaded).toBeInstanceOf(V.VIAR);
      expect(info.metadata.data).toBe('mnist');
      const x = V.randn([2, 84, 4], new V.Rng(5));
      const logits = (m: V.NextScaleModel) => Array.from(V.tidy(() => V.noGrad(() => (m as V.VIAR).forward([1, 2], x, { iterations: 2 }).dataSync())));
      expect(logits(loaded)).toEqual(logits(model));
      expect(() => V.loadTransformer(path, { model: 'var' })).toThrow(/holds a VIAR model, but VAR was asked for/);
      expect(() => V.loadTransformer(path, { config: { ...V.VIAR_MICRO, nPost: 2 } })).toThrow(/another config \(saved vs current: nPost 1 vs 2\)/);
      V.saveModule(join(dir, 'bare.safetensors'), model);
      expect(() => V.loadTransformer(join(dir, 'bare.safetensors'))).toThrow(/does not record its model kind/);
      expect(() => V.loadTransformer(join(dir, 'bare.safetensors'), { model: 'var', config: V.VAR_MICRO })).toThrow(/does not fit this model/);
      model.dispose(); loaded.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('sampleByClass: one row per class, VIAR reports its iterations per scale', () => {
    const vae = new V.VQVAE(V.TOKENIZER_MICRO, new V.Rng(6));
    const model = micro('viar', 6);
    const live = V.memory().numTensors;
    const r = V.sampleByClass(model, vae, { classes: [2, 5], perClass: 3, topK: 4, seed: 1, iterSchedule: { left: 3, right: 1 } });
    expect(r.images.shape).toEqual([6, 1, 32, 32]);
    expect(r.labels).toEqual([2, 2, 2, 5, 5, 5]);
    expect(r.iterations).toEqual([[3, 2, 2, 2]]);
    r.images.dispose();
    expect(model.training).toBe(true); // the model's mode is restored
    const warm = V.memory().numTensors;
    V.sampleByClass(model, vae, { classes: [1], perClass: 2, maxBatch: 1 }).images.dispose();
    expect(V.memory().numTensors).toBe(warm);
    expect(warm - live).toBeLessThan(10); // cached constants only
    model.dispose();
  });
});

describe('command line', () => {
  test('train arguments: defaults, and errors that name the option', () => {
    const a = parseTrainArgs(['--model', 'viar', '--data', 'fashion', '--steps', '500', '--minutes', '8.5', '--resume', '--threads', '4']);
    expect(a).toMatchObject({ model: 'viar', data: 'fashion', steps: 500, minutes: 8.5, resume: true, threads: 4, out: 'checkpoints', config: 'small' });
    expect(a.batch).toBeUndefined(); // taken from the saved run on --resume, else the default
    expect(a.backend).toBe('cpu');
    expect(parseTrainArgs(['--model', 'var', '--data', 'mnist', '--backend', 'gpu']).backend).toBe('gpu');
    expect([parseTrainArgs(['--model', 'viar', '--data', 'mnist', '--capture']).capture, parseTrainArgs(['--model', 'viar', '--data', 'mnist']).capture]).toEqual([true, false]);
    expect(() => parseTrainArgs(['--model', 'var', '--data', 'mnist', '--backend', 'tpu'])).toThrow(/--backend must be cpu or gpu, got 'tpu'/);
    expect(() => parseTrainArgs(['--data', 'mnist'])).toThrow(/^viar train: --model var\|viar is required$/);
    expect(() => parseTrainArgs(['--model', 'vit', '--data', 'mnist'])).toThrow(/--model must be var or viar, got 'vit'/);
    expect(() => parseTrainArgs(['--model', 'var', '--data', 'cifar'])).toThrow(/--data must be mnist or fashion, got 'cifar'/);
    expect(() => parseTrainArgs(['--model', 'var', '--data', 'mnist', '--steps', 'many'])).toThrow(/--steps must be an integer ≥ 1, got 'many'/);
    expect(() => parseTrainArgs(['--model', 'var', '--data', 'mnist', '--stpes', '5'])).toThrow(/unknown option --stpes \(did you mean --steps\?\)/);
    expect(() => parseTrainArgs(['--model', 'var', '--data', 'mnist', '--lr', '3'])).toThrow(/--lr must be a learning rate in \(0, 1\), got '3'/);
    expect(() => parseTrainArgs(['--model', 'var', '--data', 'mnist', '--minutes', '0'])).toThrow(/--minutes must be a positive number of minutes/);
    expect(() => parseTrainArgs(['--model', 'var', '--data', 'mnist', '--steps', '50', '--warmup', '50'])).toThrow(/--warmup \(50\) must be below --steps \(50\)/);
    expect(() => parseTrainArgs(['--model', 'var', '--data', 'mnist', '--config', 'huge'])).toThrow(/--config must be one of small, small-official, micro, micro-official, got 'huge'/);
    expect(() => parseTrainArgs(['--model', 'var', '--data', 'mnist', '--steps'])).toThrow(/option --steps needs a value/);
    expect(() => parseTrainArgs(['--model', 'var', 'mnist'])).toThrow(/unexpected argument mnist/);
    expect(() => parseTrainArgs(['--model', 'var', '--data', 'mnist', '--steps', '50', '--fit-minutes', '20'])).toThrow(/give --steps or --fit-minutes, not both/);
    expect(parseTrainArgs(['--model', 'var', '--data', 'mnist', '--fit-minutes', '22.5']).fitMinutes).toBe(22.5);
    expect(parseTrainArgs(['--help']).help).toBe(true);
  });

  test('sample arguments: schedules, classes, and errors', () => {
    expect(parseSampleArgs(['--checkpoint', 'c.safetensors', '--schedule', '6,2', '--class', '1,3']))
      .toMatchObject({ checkpoint: 'c.safetensors', schedule: { left: 6, right: 2 }, classes: [1, 3], perClass: 8 });
    expect(parseSampleArgs(['--checkpoint', 'c', '--schedule-list', '4,4,3,3,2,1']).schedule).toEqual([4, 4, 3, 3, 2, 1]);
    expect(parseSampleArgs(['--model', 'viar', '--data', 'mnist', '--iters', '3', '--class', 'all']))
      .toMatchObject({ schedule: 3, classes: null });
    expect(() => parseSampleArgs([])).toThrow(/--checkpoint PATH is required/);
    expect(() => parseSampleArgs(['--checkpoint', 'c', '--iters', '3', '--schedule', '4,2'])).toThrow(/at most one of --iters, --schedule and --schedule-list \(got --iters, --schedule\)/);
    expect(() => parseSampleArgs(['--checkpoint', 'c', '--schedule', '4'])).toThrow(/--schedule must be LEFT,RIGHT/);
    expect(() => parseSampleArgs(['--checkpoint', 'c', '--class', 'seven'])).toThrow(/--class must be comma-separated integers/);
    expect(() => parseSampleArgs(['--checkpoint', 'c', '--model', 'var', '--iters', '2'])).toThrow(/for VIAR checkpoints only/);
    expect(parseSampleArgs(['--checkpoint', 'c', '--implicit-cache', 'last-iterate']).implicitCache).toBe('last-iterate');
    expect(() => parseSampleArgs(['--checkpoint', 'c', '--implicit-cache', 'latest'])).toThrow(/--implicit-cache/);
    expect(() => parseSampleArgs(['--checkpoint', 'c', '--model', 'var', '--implicit-cache', 'iteration'])).toThrow(/--implicit-cache are for VIAR checkpoints only/);
    expect(() => parseSampleArgs(['--checkpoint', 'c', '--top-p', '1.5'])).toThrow(/--top-p must be in \[0, 1\], got '1.5'/);
  });

  test('the CLI prints argument errors without a stack trace and exits with code 2', () => {
    const r = spawnSync(process.execPath, [join('node_modules', 'tsx', 'dist', 'cli.mjs'), join('src', 'cli', 'viar.ts'), 'train', '--model', 'var', '--data', 'mnist', '--batch', '0'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe("viar train: --batch must be an integer ≥ 1, got '0'");
  });
});
