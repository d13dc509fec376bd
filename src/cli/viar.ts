#!/usr/bin/env node
// The `viar` command line: train-tokenizer (resumable, with reconstruction grids), reconstruct (input vs
// reconstruction, and the image decoded from scales 1..k), and the VAR / VIAR commands train, sample, encode-tokens.
// Usage: npm run viar -- <command> --help

import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import {
  Rng, tidy, noGrad, keep, concat, mul, sub, slice, saveSafetensors, saveTrainingState, loadTrainingState, VQVAE, TOKENIZER_CONFIGS,
  TokenizerTrainer, codebookStats, psnr, imageGrid, savePng, warmupCosine, type ImageDataset, type Tensor,
} from '../index.js';
import {
  CliError, ENCODE_HELP, SAMPLE_HELP, TRAIN_HELP, encodeTokensCommand, loadSplit, loadTokenizer, sampleCommand, trainCommand,
} from './transformer-commands.js';
import {
  LIMITS, checkInputFile, choice, flag, int, num, parseOptions, prepareOutputDir, prepareOutputFile, runCommandLine, seed, text, writeResultJson,
} from './options.js';

const HELP = `viar — commands:
${TRAIN_HELP}
${SAMPLE_HELP}
${ENCODE_HELP}
  inpaint / edit     zero-shot inpainting and class editing (see viar inpaint --help)
  eval               FID-proxy, class agreement, precision/recall, diversity of a generator (see viar eval --help)
  train-tokenizer --data mnist|fashion [--config small|tiny] [--steps N] [--batch 32] [--lr 0.002] [--seed 0]
                  [--out checkpoints/tokenizer-<data>.safetensors] [--grid-every 250] [--resume]
  eval-tokenizer  --data mnist|fashion [--checkpoint checkpoints/tokenizer-<data>.safetensors] [--count all]
  reconstruct     --data mnist|fashion [--checkpoint checkpoints/tokenizer-<data>.safetensors] [--count 8] [--out-dir out]`;

function dataset(name: string): { train: ImageDataset; test: ImageDataset } {
  if (name !== 'mnist' && name !== 'fashion') throw new CliError(`--data must be mnist or fashion, got ${name}`);
  return loadSplit(name);
}

/** Images [N, 1, 32, 32] in [0, 1] → [−1, 1], the tokenizer's range. */
const toSigned = (x: Tensor) => sub(mul(x, 2), 1);

function fixedImages(set: ImageDataset, count: number): Tensor {
  return tidy(() => keep(toSigned(set.subset(Array.from({ length: count }, (_, i) => Math.floor((i * set.count) / count))).toTensor().x)));
}

/** PSNR and codebook usage on `count` test images (evaluation mode). */
function evaluate(vae: VQVAE, set: ImageDataset, count: number): { psnr: number; perplexity: number; usedFraction: number } {
  const idx = Array.from({ length: Math.min(count, set.count) }, (_, i) => i);
  let se = 0, n = 0;
  const hits = new Array<number>(vae.config.vocabSize).fill(0);
  vae.eval();
  for (const { x, y } of set.subset(idx).batches(100)) {
    tidy(() => noGrad(() => {
      const img = toSigned(x);
      const indices = vae.imageToIndices(img);
      for (const t of indices) for (const v of t.dataSync()) hits[v]!++;
      const rec = vae.indicesToImage(indices);
      const p = psnr(rec, img);
      se += (4 / 10 ** (p / 10)) * img.shape[0]!;
      n += img.shape[0]!;
    }));
    x.dispose(); y.dispose();
  }
  return { psnr: 10 * Math.log10(4 / (se / n)), ...codebookStats(hits) };
}

const TOKENIZER_DATA = choice('mnist', 'fashion');

function trainTokenizer(argv: string[]): void {
  const c = 'viar train-tokenizer';
  const a = parseOptions(c, argv, {
    data: TOKENIZER_DATA, config: choice(...Object.keys(TOKENIZER_CONFIGS)), steps: int(1, LIMITS.steps), batch: int(1, LIMITS.batch),
    lr: num((n) => n > 0 && n < 1, 'a learning rate in (0, 1)'), seed: seed(), out: text, 'grid-every': int(1, LIMITS.steps), resume: flag, help: flag,
  });
  if (a.help) return console.log(HELP);
  const configName = a.config ?? 'small';
  const config = TOKENIZER_CONFIGS[configName]!;
  if (config.inChannels !== 1) throw new CliError(`${c}: --config '${configName}' is for ${config.inChannels}-channel images; the data sets are grayscale`);
  const data = a.data ?? 'mnist', steps = a.steps ?? 1000, batch = a.batch ?? 32, lr = a.lr ?? 0.002, gridEvery = a['grid-every'] ?? 250;
  const out = a.out ?? `checkpoints/tokenizer-${data}.safetensors`;
  if (!out.endsWith('.safetensors')) throw new CliError(`${c}: --out must name a .safetensors file, got '${out}'`);
  const statePath = out.replace(/\.safetensors$/, '.train-state.safetensors');
  const logPath = out.replace(/\.safetensors$/, '.log');
  const gridDir = join('out', `tokenizer-${data}`);
  const resultFile = `docs/tokenizer-${data}.json`;
  for (const f of [out, statePath, logPath]) prepareOutputFile(c, '--out', f);
  prepareOutputDir(c, 'the reconstruction-grid folder', gridDir);
  prepareOutputFile(c, 'the result file', resultFile);
  const log = (line: string) => { console.log(line); appendFileSync(logPath, `${line}\n`); };

  const { train, test } = dataset(data);
  const rng = new Rng(a.seed ?? 0);
  const vae = new VQVAE(config, rng);
  const trainer = new TokenizerTrainer(vae, { rng, lr, deadCodeSteps: 50 });
  const schedule = warmupCosine(lr, Math.min(100, Math.floor(steps / 10)), steps, lr * 0.05);
  let step = 0;
  if (a.resume && existsSync(statePath)) {
    step = Number(loadTrainingState(statePath, { model: vae, optimizer: trainer.optimizer, rng }).step);
    if (!Number.isInteger(step) || step < 0) throw new CliError(`${c}: ${statePath} records no valid step`);
    trainer.stepCount = step;
    log(`resumed from ${statePath} at step ${step}`);
  } else {
    log(`command: npm run viar -- train-tokenizer ${argv.join(' ')}`);
  }
  log(`tokenizer '${configName}' (${vae.numParameters()} parameters) on ${data}: ${train.count} train images, ${steps} steps of ${batch}, AdamW lr ${lr}`);
  if (batch > train.count) throw new CliError(`${c}: --batch ${batch} is larger than the ${train.count} training images`);
  const probe = fixedImages(test, 8);
  const meta = () => ({ data, config: JSON.stringify(config), configName, step: String(step) });
  const bar = new cliProgress.SingleBar({
    format: 'step {value}/{total} |{bar}| loss {loss} | psnr {psnr} dB | codes {codes} | ETA {eta_formatted}',
    noTTYOutput: true, notTTYSchedule: 30_000, // also report every 30 s when piped to a file
  }, cliProgress.Presets.shades_classic);
  bar.start(steps, step, { loss: '-', psnr: '-', codes: '-' });
  try {
    while (step < steps) {
      for (const { x, y } of train.batches(batch, { shuffle: true, rng, dropLast: true, augment: { translate: 1 } })) {
        if (step >= steps) { x.dispose(); y.dispose(); break; }
        trainer.optimizer.lr = schedule(step);
        const img = tidy(() => keep(toSigned(x)));
        const r = trainer.step(img);
        img.dispose(); x.dispose(); y.dispose();
        step++;
        bar.update(step, { loss: r.loss.toFixed(4), psnr: (10 * Math.log10(4 / r.pixelLoss)).toFixed(1), codes: `${(r.stats.usedFraction * 100).toFixed(0)}%` });
        if (step % gridEvery === 0 || step === steps) {
          const grid = tidy(() => noGrad(() => concat([probe, vae.eval().indicesToImage(vae.imageToIndices(probe))], 0)));
          savePng(join(gridDir, `step-${String(step).padStart(6, '0')}.png`), imageGrid(grid, { cols: 8, scale: 2 }));
          grid.dispose();
          saveSafetensors(out, vae.stateDict(), meta());
          saveTrainingState(statePath, { model: vae, optimizer: trainer.optimizer, rng, metadata: meta() });
          log(`step ${step}: loss ${r.loss.toFixed(4)}, pixel mse ${r.pixelLoss.toFixed(5)}, vq ${r.vqLoss.toFixed(5)}, batch code usage ${(r.stats.usedFraction * 100).toFixed(1)}%, restarted ${r.restartedCodes}`);
        }
      }
    }
  } finally {
    bar.stop();
    probe.dispose();
  }
  const images = Math.min(1000, test.count);
  const result = evaluate(vae, test, images);
  log(`test (first ${images} images): PSNR ${result.psnr.toFixed(2)} dB, perplexity ${result.perplexity.toFixed(1)}, codes used ${(100 * result.usedFraction).toFixed(1)}%`);
  writeResultJson(c, resultFile, { date: new Date().toISOString(), data, config: configName, steps, batch, parameters: vae.numParameters(), test: { images, ...result } }, { 'test images': images });
}

function evalTokenizer(argv: string[]): void {
  const c = 'viar eval-tokenizer';
  const a = parseOptions(c, argv, { data: TOKENIZER_DATA, checkpoint: text, count: text, help: flag });
  if (a.help) return console.log(HELP);
  const data = a.data ?? 'mnist';
  const countOption = (max: number) => parseOptions(c, ['--count', a.count!], { count: int(1, max, `'all' or an integer in [1, ${max}]`) }).count!;
  if (a.count !== undefined && a.count !== 'all') countOption(LIMITS.images); // a malformed count fails before any loading
  const path = checkInputFile(c, 'checkpoint', a.checkpoint ?? `checkpoints/tokenizer-${data}.safetensors`);
  const file = prepareOutputFile(c, 'the result file', `docs/tokenizer-${data}.json`);
  const vae = loadTokenizer(path, data);
  try {
    const { test } = dataset(data);
    const count = a.count === undefined || a.count === 'all' ? test.count : countOption(test.count);
    const start = performance.now();
    const result = evaluate(vae, test, count);
    console.log(`${data}: PSNR ${result.psnr.toFixed(2)} dB, perplexity ${result.perplexity.toFixed(1)}, codes used ${(100 * result.usedFraction).toFixed(1)}% on ${count} test images (${((performance.now() - start) / 1000).toFixed(0)} s)`);
    let previous: Record<string, unknown> = {};
    if (existsSync(file)) {
      try {
        const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) previous = parsed as Record<string, unknown>;
      } catch {
        throw new CliError(`${c}: ${file} is not valid JSON; move it away to write a new one`);
      }
    }
    writeResultJson(c, file, { ...previous, evaluated: new Date().toISOString(), checkpoint: path, parameters: vae.numParameters(), test: { images: count, ...result } }, { 'test images': count });
    console.log(`wrote ${file}`);
  } finally {
    vae.dispose();
  }
}

function reconstruct(argv: string[]): void {
  const c = 'viar reconstruct';
  const a = parseOptions(c, argv, { data: TOKENIZER_DATA, checkpoint: text, count: int(1, LIMITS.gridImages), 'out-dir': text, help: flag });
  if (a.help) return console.log(HELP);
  const data = a.data ?? 'mnist';
  const path = checkInputFile(c, 'checkpoint', a.checkpoint ?? `checkpoints/tokenizer-${data}.safetensors`);
  const outDir = prepareOutputDir(c, '--out-dir', a['out-dir'] ?? 'out');
  const vae = loadTokenizer(path, data);
  const { test } = dataset(data);
  const images = fixedImages(test, Math.min(a.count ?? 8, test.count));
  try {
    tidy(() => noGrad(() => {
      const indices = vae.imageToIndices(images);
      const recon = vae.indicesToImage(indices);
      const pairs = savePair(outDir, `reconstruct-${data}.png`, concat([images, recon], 0), images.shape[0]!);
      // per-scale grid: one row per image, column k shows the image decoded from scales 1..k, then the input
      const sn = indices.length;
      const rows: Tensor[] = [];
      for (let i = 0; i < images.shape[0]!; i++) {
        const one = indices.map((t) => slice(t, [[i, i + 1]]));
        for (let k = 1; k <= sn; k++) rows.push(vae.indicesToImage(one, k));
        rows.push(slice(images, [[i, i + 1]]));
      }
      const scales = savePair(outDir, `scales-${data}.png`, concat(rows, 0), sn + 1);
      console.log(`PSNR ${psnr(recon, images).toFixed(2)} dB on ${images.shape[0]} test images\nwrote ${pairs}\nwrote ${scales}`);
    }));
  } finally {
    images.dispose();
    vae.dispose();
  }
}

function savePair(dir: string, name: string, images: Tensor, cols: number): string {
  const path = join(dir, name);
  savePng(path, imageGrid(images, { cols, scale: 3 }));
  return path;
}

/** Runs one command; every error is one line on stderr with exit code 2 (known) or 1 (see runCommandLine). */
async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'train-tokenizer': trainTokenizer(rest); break;
    case 'eval-tokenizer': evalTokenizer(rest); break;
    case 'reconstruct': reconstruct(rest); break;
    case 'train': await trainCommand(rest); break;
    case 'sample': sampleCommand(rest); break;
    case 'encode-tokens': encodeTokensCommand(rest); break;
    // written by the editing work (src/cli/edit-commands.ts); imported on demand
    case 'inpaint': await (await import('./edit-commands.js')).inpaintCommand(rest); break;
    case 'edit': await (await import('./edit-commands.js')).editCommand(rest); break;
    case 'eval': await (await import('./eval-command.js')).evalCommand(rest); break;
    case 'convert': (await import('./convert-command.js')).convertCommand(rest); break;
    default: console.log(HELP); if (command && command !== '--help' && command !== 'help') process.exitCode = 1;
  }
}

await runCommandLine(() => main(process.argv.slice(2)));
