// Class agreement of the shipped VAR / VIAR generators: samples N images per class with fixed seeds, asks the
// shipped classifier which class each one shows, and writes docs/generator-results.json plus a sample grid per
// model. Usage: npm run eval:generator [-- --data mnist --per-class 100 --models var,viar --threads 2]

import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import {
  Rng, LeNet, LENET_DEFAULTS, loadModule, tidy, noGrad, argmax, add, mul, setNumThreads, describeCpuKernels,
  loadTransformer, sampleByClass, imageGrid, savePng, VIAR, type Tensor,
} from '../src/index.js';
import { loadTokenizer } from '../src/cli/transformer-commands.js';

const { values: a } = parseArgs({
  options: {
    data: { type: 'string', default: 'mnist' },
    'per-class': { type: 'string', default: '100' },
    models: { type: 'string', default: 'var,viar' },
    cfg: { type: 'string', default: '1.5' },
    'top-k': { type: 'string', default: '60' },
    'top-p': { type: 'string', default: '0.96' },
    seed: { type: 'string', default: '0' },
    threads: { type: 'string' },
    out: { type: 'string', default: 'docs/generator-results.json' },
  },
});
if (a.threads) setNumThreads(Number(a.threads));
const data = a.data!;
const perClass = Number(a['per-class']);
const chunk = 10; // images per class per sampler call, so the progress bar moves
const classifierPath = `checkpoints/classifier-${data}.safetensors`;
const classifier = new LeNet(LENET_DEFAULTS, new Rng(0));
loadModule(classifierPath, classifier);
classifier.eval();
const vae = loadTokenizer(`checkpoints/tokenizer-${data}.safetensors`, data);

const previous = existsSync(a.out!) ? (JSON.parse(readFileSync(a.out!, 'utf8')) as { results?: Record<string, unknown> }) : {};
const results: Record<string, unknown> = { ...(previous.results ?? {}) };
console.log(`kernels: ${describeCpuKernels()}`);
for (const kind of a.models!.split(',')) {
  const path = `checkpoints/${kind}-${data}.safetensors`;
  if (!existsSync(path)) {
    console.log(`${kind}: no checkpoint at ${path} (train it with npm run viar -- train --model ${kind} --data ${data})`);
    continue;
  }
  const { model, info } = loadTransformer(path);
  const perClassRight = new Array<number>(10).fill(0);
  let ms = 0;
  const iterations: number[][] = [];
  let grid: Tensor | null = null;
  const bar = new cliProgress.SingleBar({ format: `${kind} sampling |{bar}| {value}/{total} images | ETA {eta_formatted}`, noTTYOutput: true, notTTYSchedule: 20_000 }, cliProgress.Presets.shades_classic);
  bar.start(10 * perClass, 0);
  for (let done = 0; done < perClass; done += chunk) {
    const n = Math.min(chunk, perClass - done);
    // each chunk has its own seed, so the whole evaluation is reproducible chunk by chunk
    const r = sampleByClass(model, vae, {
      perClass: n, cfg: Number(a.cfg), topK: Number(a['top-k']), topP: Number(a['top-p']), seed: Number(a.seed) * 1000 + done,
    });
    ms += r.ms;
    if (r.iterations) iterations.push(...r.iterations);
    const predicted = tidy(() => noGrad(() => argmax(classifier.forward(mul(add(r.images, 1), 0.5)), 1).dataSync()));
    r.labels.forEach((c, i) => { if (predicted[i] === c) perClassRight[c]!++; });
    if (!grid) grid = r.images; else r.images.dispose();
    bar.increment(10 * n);
  }
  bar.stop();
  const right = perClassRight.reduce((s, x) => s + x, 0);
  const agreement = right / (10 * perClass);
  const meanIters = iterations.length ? iterations[0]!.map((_, s) => iterations.reduce((t, it) => t + it[s]!, 0) / iterations.length) : null;
  console.log(`${kind}: classifier agrees with the requested class on ${(100 * agreement).toFixed(1)}% of ${10 * perClass} samples ` +
    `(${(ms / (10 * perClass)).toFixed(0)} ms/image${meanIters ? `, implicit iterations per scale ${meanIters.map((x) => x.toFixed(1)).join('/')}` : ''})`);
  console.log(`  per class: ${perClassRight.map((r, c) => `${c} ${((100 * r) / perClass).toFixed(0)}%`).join(', ')}`);
  mkdirSync('docs/images', { recursive: true });
  const image = `docs/images/samples-${kind}-${data}.png`;
  savePng(image, imageGrid(grid!, { cols: Math.min(chunk, perClass), scale: 2 })); // the first chunk: 10 per class, values in [−1, 1]
  grid!.dispose();
  results[`${kind}-${data}`] = {
    checkpoint: path, model: kind, parameters: model.numParameters(), trainedSteps: info.metadata.step !== undefined ? Number(info.metadata.step) : null,
    samples: 10 * perClass, agreement: Number(agreement.toFixed(4)),
    perClass: perClassRight.map((r) => Number((r / perClass).toFixed(3))),
    msPerImage: Number((ms / (10 * perClass)).toFixed(1)), threads: describeCpuKernels(),
    sampler: { cfg: Number(a.cfg), topK: Number(a['top-k']), topP: Number(a['top-p']), seed: Number(a.seed) },
    ...(model instanceof VIAR ? { meanIterationsPerScale: meanIters?.map((x) => Number(x.toFixed(2))) } : {}),
    grid: image,
  };
  model.dispose();
}
mkdirSync('docs', { recursive: true });
writeFileSync(a.out!, JSON.stringify({ date: new Date().toISOString(), classifier: classifierPath, command: `npm run eval:generator -- ${process.argv.slice(2).join(' ')}`.trim(), results }, null, 2) + '\n');
console.log(`wrote ${a.out}`);
