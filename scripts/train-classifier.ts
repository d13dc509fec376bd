// Trains the LeNet classifier on MNIST or Fashion-MNIST with our engine and saves a safetensors checkpoint.
// Resumable: the optimizer, epoch and RNG state are saved after every epoch beside the model.
// Usage: npm run train:classifier -- --data mnist|fashion [--epochs N] [--batch B] [--lr LR] [--seed S] [--out FILE] [--resume]

import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, appendFileSync } from 'node:fs';
import { dirname } from 'node:path';
import cliProgress from 'cli-progress';
import {
  Rng, LeNet, LENET_DEFAULTS, AdamW, warmupCosine, crossEntropy, tidy, noGrad, argmax, eq, sum, cast,
  loadMnist, loadFashionMnist, standardSplit, saveSafetensors, saveTrainingState, loadTrainingState, type ImageDataset,
} from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: 'mnist' },
    epochs: { type: 'string' },
    batch: { type: 'string', default: '64' },
    lr: { type: 'string', default: '0.002' },
    seed: { type: 'string', default: '0' },
    out: { type: 'string' },
    resume: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('npm run train:classifier -- --data mnist|fashion [--epochs N] [--batch 64] [--lr 0.002] [--seed 0] [--out checkpoints/classifier-<data>.safetensors] [--resume]');
  process.exit(0);
}
const data = args.data === 'fashion' ? 'fashion' : args.data === 'mnist' ? 'mnist' : (() => { throw new Error(`--data must be mnist or fashion, got ${args.data}`); })();
const epochs = Number(args.epochs ?? (data === 'mnist' ? 20 : 8));
const batchSize = Number(args.batch), baseLr = Number(args.lr), seed = Number(args.seed);
const out = args.out ?? `checkpoints/classifier-${data}.safetensors`;
const statePath = out.replace(/\.safetensors$/, '.train-state.safetensors');
const logPath = out.replace(/\.safetensors$/, '.log');
mkdirSync(dirname(out), { recursive: true });
const log = (line: string) => { console.log(line); appendFileSync(logPath, `${line}\n`); };

const full = data === 'mnist' ? loadMnist() : loadFashionMnist();
const { train, test } = standardSplit(full);
const rng = new Rng(seed);
const model = new LeNet(LENET_DEFAULTS, rng);
const opt = new AdamW(model.parameters(), { lr: baseLr, weightDecay: 1e-4 });
const stepsPerEpoch = Math.floor(train.count / batchSize);
const schedule = warmupCosine(baseLr, Math.min(stepsPerEpoch, Math.floor((epochs * stepsPerEpoch) / 10)), epochs * stepsPerEpoch, baseLr * 0.01);
let startEpoch = 1;

if (args.resume && existsSync(statePath)) {
  const meta = loadTrainingState(statePath, { model, optimizer: opt, rng });
  startEpoch = Number(meta.epoch) + 1;
  log(`resumed from ${statePath} after epoch ${startEpoch - 1}`);
}

function accuracy(set: ImageDataset): number {
  let correct = 0;
  for (const { x, y } of set.batches(500)) {
    correct += tidy(() => noGrad(() => sum(cast(eq(argmax(model.eval().forward(x), 1), y), 'float32')).item()));
    x.dispose(); y.dispose();
  }
  model.train();
  return correct / set.count;
}

log(`command: npm run train:classifier -- ${process.argv.slice(2).join(' ')}`);
log(`training LeNet (${model.numParameters()} parameters) on ${data}: ${train.count} train / ${test.count} test, ${epochs} epochs, batch ${batchSize}, AdamW lr ${baseLr} warmup+cosine, seed ${seed}`);
const bar = new cliProgress.SingleBar({
  format: 'epoch {epoch}/{epochs} |{bar}| {percentage}% | loss {loss} | train acc {acc}% | ETA {eta_formatted}',
  hideCursor: true, noTTYOutput: true, notTTYSchedule: 30_000, // also report every 30 s when piped to a file
}, cliProgress.Presets.shades_classic);

for (let epoch = startEpoch; epoch <= epochs; epoch++) {
  const start = performance.now();
  let lossSum = 0, correct = 0, seen = 0, step = (epoch - 1) * stepsPerEpoch;
  bar.start(stepsPerEpoch, 0, { epoch, epochs, loss: '-', acc: '-' });
  const augment = data === 'mnist' ? { translate: 2 } : { translate: 2, flip: true };
  for (const { x, y } of train.batches(batchSize, { shuffle: true, rng, dropLast: true, augment })) {
    opt.lr = schedule(step++);
    const [loss, right] = tidy(() => {
      const logits = model.forward(x);
      const l = crossEntropy(logits, y);
      l.backward();
      return [l.item(), noGrad(() => sum(cast(eq(argmax(logits, 1), y), 'float32')).item())];
    });
    opt.step();
    opt.zeroGrad();
    x.dispose(); y.dispose();
    lossSum += loss * batchSize; correct += right; seen += batchSize;
    bar.increment(1, { loss: (lossSum / seen).toFixed(4), acc: ((100 * correct) / seen).toFixed(2) });
  }
  bar.stop();
  const testAcc = accuracy(test);
  log(`epoch ${epoch}: loss ${(lossSum / seen).toFixed(4)}, train accuracy ${((100 * correct) / seen).toFixed(2)}%, test accuracy ${(100 * testAcc).toFixed(2)}%, ${((performance.now() - start) / 1000).toFixed(1)} s`);
  const meta = { data, epoch: String(epoch), epochs: String(epochs), testAccuracy: testAcc.toFixed(4), config: JSON.stringify(LENET_DEFAULTS), seed: String(seed) };
  saveSafetensors(out, model.stateDict(), meta);
  saveTrainingState(statePath, { model, optimizer: opt, rng, metadata: meta });
}
log(`saved ${out}`);
