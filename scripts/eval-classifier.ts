// Measures the shipped classifiers' test accuracy (overall and per class) on the standard splits and writes
// docs/classifier-results.json. Usage: npm run eval:classifier [-- --data mnist|fashion]

import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import {
  Rng, LeNet, LENET_DEFAULTS, loadModule, loadMnist, loadFashionMnist, standardSplit, tidy, noGrad, argmax,
} from '../src/index.js';

const { values: args } = parseArgs({ options: { data: { type: 'string' } } });
const sets = args.data ? [args.data] : ['mnist', 'fashion'];
const results: Record<string, unknown> = {};
for (const data of sets) {
  const path = `checkpoints/classifier-${data}.safetensors`;
  if (!existsSync(path)) {
    console.log(`${data}: no checkpoint at ${path} (train it with npm run train:classifier -- --data ${data})`);
    continue;
  }
  const model = new LeNet(LENET_DEFAULTS, new Rng(0));
  const { metadata } = loadModule(path, model);
  model.eval();
  const { test } = standardSplit(data === 'mnist' ? loadMnist() : loadFashionMnist());
  const perClass = Array.from({ length: 10 }, () => ({ right: 0, total: 0 }));
  for (const { x, y } of test.batches(500)) {
    const pred = tidy(() => noGrad(() => argmax(model.forward(x), 1).dataSync()));
    const truth = y.dataSync();
    truth.forEach((c, i) => { perClass[c]!.total++; if (pred[i] === c) perClass[c]!.right++; });
    x.dispose(); y.dispose();
  }
  const right = perClass.reduce((s, c) => s + c.right, 0);
  const accuracy = right / test.count;
  const names = test.classNames ?? perClass.map((_, i) => String(i));
  console.log(`${data}: test accuracy ${(100 * accuracy).toFixed(2)}% (${right}/${test.count}), trained ${metadata.epoch} epochs`);
  console.log(`  per class: ${perClass.map((c, i) => `${names[i]} ${((100 * c.right) / c.total).toFixed(1)}%`).join(', ')}`);
  results[data] = {
    checkpoint: path, testImages: test.count, accuracy: Number(accuracy.toFixed(4)),
    perClass: Object.fromEntries(perClass.map((c, i) => [names[i], Number((c.right / c.total).toFixed(4))])),
    epochs: Number(metadata.epoch), parameters: model.numParameters(),
  };
  model.dispose();
}
mkdirSync('docs', { recursive: true });
writeFileSync('docs/classifier-results.json', JSON.stringify({ date: new Date().toISOString(), results }, null, 2) + '\n');
console.log('wrote docs/classifier-results.json');
