// The main job (`npm start`, src/cli/main-job.ts) on random micro models (TOKENIZER_MICRO / VIAR_MICRO and a random
// LeNet saved to a temp dir): every output file, the summary's numbers, the report's links, options and errors; the
// same with --data fashion (micro models saved as the *-fashion files): Fashion class names, missing-file errors.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PNG } from 'pngjs';
import * as V from '../../src/index.js';
import { COMPARED_SCHEDULES, classNamesOf, mainJob, parseMainArgs, runMainJob, type MainJobSummary } from '../../src/cli/main-job.js';
import { CliError } from '../../src/cli/transformer-commands.js';

const root = resolve(import.meta.dirname, '../..');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'viar-main-job-'));
  const vae = new V.VQVAE(V.TOKENIZER_MICRO, new V.Rng(1));
  V.saveModule(join(dir, 'tokenizer-mnist.safetensors'), vae, { config: JSON.stringify(V.TOKENIZER_MICRO) });
  const model = V.createModel('viar', V.VIAR_MICRO, new V.Rng(2));
  V.saveTransformer(join(dir, 'viar-mnist.safetensors'), model, { data: 'mnist', step: '0' });
  const net = new V.LeNet(V.LENET_DEFAULTS, new V.Rng(3));
  V.saveModule(join(dir, 'classifier-mnist.safetensors'), net);
  for (const m of [vae, model, net]) m.dispose();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pngSize = (file: string) => {
  const png = PNG.sync.read(readFileSync(file));
  return [png.width, png.height];
};

describe('main job on micro models', () => {
  let summary: MainJobSummary;
  let out: string;

  test('writes every file; the summary holds the numbers the issue asks for', () => {
    out = join(dir, 'out');
    const before = V.memory().numTensors;
    const start = performance.now();
    summary = runMainJob(parseMainArgs(['--checkpoints', dir, '--out', out, '--per-class', '2', '--quiet', '--threads', '1']));
    const seconds = (performance.now() - start) / 1000;
    for (const f of ['samples.png', 'schedules.png', 'inpaint.png', 'edit.png', 'summary.json', 'index.html']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(summary)));
    expect(seconds).toBeLessThan(20);

    // samples: 10 classes × 2, 32×32 at scale 2 with 2-pixel borders
    expect(summary.samples).toMatchObject({ classes: 10, perClass: 2, images: 20, iterationsPerScale: [2, 2, 2, 2], schedule: "2/2 (the checkpoint's)" });
    expect(pngSize(join(out, 'samples.png'))).toEqual([2 * 66 + 2, 10 * 66 + 2]);
    expect(summary.samples.msPerImage).toBeGreaterThan(0);
    expect(summary.samples.agreement).toBeGreaterThanOrEqual(0);
    expect(summary.samples.perClassAgreement).toHaveLength(10);

    // schedules: one row per compared schedule (the checkpoint's 2/2 is among them), the same 10 columns
    expect(summary.schedules.rows.map((r) => r.label)).toEqual(COMPARED_SCHEDULES.map((s) => `${s.left}/${s.right}`));
    expect(summary.schedules.rows.map((r) => r.perScale)).toEqual([[1, 1, 1, 1], [2, 2, 2, 2], [4, 4, 4, 4], [8, 8, 8, 8], [8, 7, 6, 5]]);
    for (const r of summary.schedules.rows) expect(r.iterations).toEqual(r.perScale);
    expect(pngSize(join(out, 'schedules.png'))).toEqual([10 * 66 + 2, 5 * 66 + 2]);
    expect(summary.schedules).toMatchObject({ rowHeight: 66, width: 10 * 66 + 2, columns: 10 });

    // inpainting: 5 rows of source | masked | 3 seeds; editing: 2 rows of source | masked | 10 classes (scale 3)
    expect(pngSize(join(out, 'inpaint.png'))).toEqual([5 * 98 + 2, 5 * 98 + 2]);
    expect(pngSize(join(out, 'edit.png'))).toEqual([12 * 98 + 2, 2 * 98 + 2]);
    expect(summary.inpaint.testIndices).toHaveLength(5);
    expect(summary.edit.toClasses).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(summary.data).toBe('mnist');
    expect(summary.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

    // memory: the OS peak, the engine's counters, nothing leaked
    expect(summary.memory.peakRssMiB).toBeGreaterThan(10);
    expect(summary.memory.sampledPeakRssMiB).toBeGreaterThan(10);
    expect(summary.memory.enginePeakMiB).toBeGreaterThan(0);
    expect(summary.memory.engineLiveTensorsAtEnd).toBe(before);
    expect(V.memory().numTensors).toBe(before);
    expect(summary.seconds.total).toBeGreaterThan(0);
  }, 60_000);

  test('index.html shows the pictures by relative links, with the numbers and explanations', () => {
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    for (const f of ['samples.png', 'inpaint.png', 'edit.png']) expect(html).toContain(`<img src="${f}"`);
    expect(html).toContain('url("schedules.png")');
    expect(html).toContain('href="summary.json"');
    expect([...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).every((link) => !link!.startsWith('/') && !link!.includes(':'))).toBe(true);
    expect(html).toContain(`${summary.samples.msPerImage} ms`);
    expect(html).toContain('[8, 7, 6, 5]');
    expect(html).toContain(`${summary.memory.peakRssMiB} MiB`);
    expect(html).toMatch(/The iteration knob/);
    // MNIST's classes are their digits: no legend, the report says "class 0 to 9" as before
    expect(html).toContain('<h1>VIAR on MNIST: the main job</h1>');
    expect(html).toContain('class 0 to 9');
    expect(html).toContain('conditioned on class 0, 1, …, 9');
    expect(html).not.toContain('Classes: ');
  });

  test('--schedule sets the samples\' schedule and adds a row when it is not compared already', () => {
    const s = runMainJob(parseMainArgs(['--checkpoints', dir, '--out', join(dir, 'out3'), '--per-class', '1', '--quiet', '--schedule', '3,1', '--seed', '5']));
    expect(s.samples.iterationsPerScale).toEqual([3, 2, 2, 2]); // floor(linspace(3, 1, 10))[:4]
    expect(s.schedules.rows.at(-1)).toMatchObject({ label: '3/1 (--schedule)', perScale: [3, 2, 2, 2] });
    expect(s.schedules.rows).toHaveLength(COMPARED_SCHEDULES.length + 1);
    expect(s.sampler.seed).toBe(5);
  }, 60_000);
});

describe('options and errors', () => {
  test('parsing', () => {
    expect(parseMainArgs([])).toMatchObject({ data: 'mnist', out: 'out', seed: 0, perClass: 8, checkpoints: 'checkpoints', quiet: false, help: false });
    expect(parseMainArgs(['--schedule', '4']).schedule).toBe(4);
    expect(parseMainArgs(['--schedule', '8,1']).schedule).toEqual({ left: 8, right: 1 });
    expect(parseMainArgs(['--schedule', '1,2,3,4,5,6']).schedule).toEqual([1, 2, 3, 4, 5, 6]);
    expect(() => parseMainArgs(['--schedule', 'x'])).toThrow(CliError);
    expect(() => parseMainArgs(['--data', 'cifar'])).toThrow(/--data must be mnist or fashion/);
    expect(() => parseMainArgs(['--per-class', '0'])).toThrow(/--per-class must be an integer ≥ 1/);
    expect(() => parseMainArgs(['--bogus'])).toThrow(CliError);
  });

  test('a schedule that does not fit the model, and a missing checkpoint, are named', () => {
    expect(() => runMainJob(parseMainArgs(['--checkpoints', dir, '--out', join(dir, 'bad'), '--quiet', '--schedule', '1,2,3']))).toThrow(/3 entries.*4 scales/);
    expect(() => mainJob(['--checkpoints', join(dir, 'nowhere'), '--quiet'])).toThrow(/no VIAR checkpoint at/);
  });

  test('npm start -- --help, and the exit code of a mistake (entry point, child process)', () => {
    const tsx = join(root, 'node_modules/tsx/dist/cli.mjs');
    const help = execFileSync(process.execPath, [tsx, 'src/cli/main-job.ts', '--help'], { cwd: root, encoding: 'utf8' });
    for (const word of ['--data mnist|fashion', '--schedule', '--seed', '--out DIR', '--threads']) expect(help).toContain(word);
    let status = 0, stderr = '';
    try {
      // dir holds the *-mnist files only: the Fashion generator is missing
      execFileSync(process.execPath, [tsx, 'src/cli/main-job.ts', '--data', 'fashion', '--checkpoints', dir], { cwd: root, encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      ({ status, stderr } = err as { status: number; stderr: string });
    }
    expect(status).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(`no VIAR checkpoint at ${join(dir, 'viar-fashion.safetensors')}`);
  }, 30_000);

  test('package.json: npm start runs the main job; the tiny MLP stays reachable', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe('tsx src/cli/main-job.ts');
    expect(pkg.scripts['example:mlp']).toBe('tsx examples/tiny-mlp.ts');
  });
});

describe('main job with --data fashion (micro models saved as the *-fashion files)', () => {
  let fdir: string;

  beforeAll(() => {
    fdir = mkdtempSync(join(tmpdir(), 'viar-main-job-fashion-'));
    const vae = new V.VQVAE(V.TOKENIZER_MICRO, new V.Rng(4));
    V.saveModule(join(fdir, 'tokenizer-fashion.safetensors'), vae, { config: JSON.stringify(V.TOKENIZER_MICRO) });
    // the stand-in for 'small-official': its own sampling schedule (3 per scale), which schedules.png does not compare
    const model = V.createModel('viar', V.VIAR_MICRO_WIDE_ITERS, new V.Rng(5));
    V.saveTransformer(join(fdir, 'viar-fashion.safetensors'), model, { data: 'fashion', configName: 'micro-official', step: '0' });
    const net = new V.LeNet(V.LENET_DEFAULTS, new V.Rng(6));
    V.saveModule(join(fdir, 'classifier-fashion.safetensors'), net);
    for (const m of [vae, model, net]) m.dispose();
  });

  afterAll(() => rmSync(fdir, { recursive: true, force: true }));

  test('writes every file; the summary and the report name the Fashion-MNIST classes; the checkpoint\'s schedule gets its row', () => {
    const out = join(fdir, 'out');
    const before = V.memory().numTensors;
    const s = runMainJob(parseMainArgs(['--data', 'fashion', '--checkpoints', fdir, '--out', out, '--per-class', '1', '--quiet', '--threads', '1']));
    for (const f of ['samples.png', 'schedules.png', 'inpaint.png', 'edit.png', 'summary.json', 'index.html']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(s.data).toBe('fashion');
    expect(s.classNames).toEqual([...V.FASHION_CLASS_NAMES]);
    expect(s.model.path).toBe(join(fdir, 'viar-fashion.safetensors'));
    expect(s.tokenizer).toBe(join(fdir, 'tokenizer-fashion.safetensors'));
    expect(s.classifier).toBe(join(fdir, 'classifier-fashion.safetensors'));
    expect(s.samples).toMatchObject({ classes: 10, perClass: 1, images: 10, iterationsPerScale: [3, 3, 3, 3], schedule: "3/3 (the checkpoint's)" });
    expect(s.samples.perClassAgreement).toHaveLength(10);
    expect(pngSize(join(out, 'samples.png'))).toEqual([66 + 2, 10 * 66 + 2]);
    // 3 per scale is not among the compared schedules: one more row, labelled as the checkpoint's (not --schedule)
    expect(s.schedules.rows.map((r) => r.label)).toEqual([...COMPARED_SCHEDULES.map((c) => `${c.left}/${c.right}`), "3/3 (the checkpoint's)"]);
    expect(s.schedules.rows.at(-1)!.iterations).toEqual([3, 3, 3, 3]);
    expect(s.edit.toClasses).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(s)));
    expect(s.memory.engineLiveTensorsAtEnd).toBe(before);

    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).toContain('<h1>VIAR on Fashion-MNIST: the main job</h1>');
    expect(html).toContain(`Classes: ${V.FASHION_CLASS_NAMES.map((n, c) => `${c} ${n}`).join(', ')}.`);
    expect(html).toContain('One row per class (T-shirt/top at the top)');
    expect(html).toContain('class T-shirt/top to Ankle boot');
    expect(html).toContain(`classes ${s.inpaint.labels.map((c) => V.FASHION_CLASS_NAMES[c]).join(', ')})`);
    expect(html).toContain(`classes ${s.edit.sourceLabels.map((c) => V.FASHION_CLASS_NAMES[c]).join(', ')})`);
    expect(html).toContain(`conditioned on class ${V.FASHION_CLASS_NAMES.join(', ')} (cfg`);
    expect(html).toMatch(/Classifier agreement per class: T-shirt\/top: \d+ %, Trouser: \d+ %/);
    for (const f of ['samples.png', 'inpaint.png', 'edit.png']) expect(html).toContain(`<img src="${f}"`);
  }, 120_000);

  test('classNamesOf: the data set\'s names, a class beyond them by its index', () => {
    expect(classNamesOf('fashion', 10)).toEqual([...V.FASHION_CLASS_NAMES]);
    expect(classNamesOf('mnist', 3)).toEqual(['0', '1', '2']);
    expect(classNamesOf('fashion', 11)[10]).toBe('10');
  });

  test('a missing Fashion checkpoint is a one-line error naming the file (and how to train it)', () => {
    const empty = mkdtempSync(join(tmpdir(), 'viar-main-job-none-'));
    try {
      const run = (checkpoints: string) => () => runMainJob(parseMainArgs(['--data', 'fashion', '--checkpoints', checkpoints, '--out', join(empty, 'out'), '--quiet']));
      const message = (f: () => unknown) => {
        try {
          f();
        } catch (err) {
          expect(err).toBeInstanceOf(CliError);
          return (err as Error).message;
        }
        throw new Error('no error');
      };
      const noModel = message(run(empty));
      expect(noModel).toBe(`npm start: no VIAR checkpoint at ${join(empty, 'viar-fashion.safetensors')} ` +
        '(train it with: npm run viar -- train --model viar --config small-official --data fashion; or point --checkpoints / --model elsewhere)');
      // the generator without its tokenizer
      copyFileSync(join(fdir, 'viar-fashion.safetensors'), join(empty, 'viar-fashion.safetensors'));
      const noTokenizer = message(run(empty));
      expect(noTokenizer).toContain(`npm start: no tokenizer at ${join(empty, 'tokenizer-fashion.safetensors')}`);
      expect(noTokenizer).toContain('train-tokenizer --data fashion');
      for (const m of [noModel, noTokenizer]) expect(m).not.toContain('\n');
      // --model names the file it was given
      expect(message(() => runMainJob(parseMainArgs(['--data', 'fashion', '--model', join(empty, 'missing.safetensors'), '--quiet']))))
        .toBe(`npm start: no VIAR checkpoint at ${join(empty, 'missing.safetensors')}`);
      expect(existsSync(join(empty, 'out'))).toBe(false);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
