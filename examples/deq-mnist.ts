// A deep-equilibrium classifier on MNIST, trained with JFB: z* = tanh(z*·W + x·U + b), logits = z*·V + c.
// W is rescaled to spectral norm ≤ 0.9 (via its Frobenius norm) so the layer is a contraction. Run: npm run example:deq

import {
  Rng, randn, zeros, matmul, tanh, add, mul, div, crossEntropy, mean, argmax, eq, maximum, norm, reshape, tidy, noGrad,
  fixedPoint, AdamW, loadMnist, standardSplit, type Tensor, type FixedPointStats, type ImageDataset,
} from '../src/index.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const epochs = Number(args.get('epochs') ?? 5), hidden = Number(args.get('hidden') ?? 100), batchSize = 64;
const solver = (args.get('solver') ?? 'anderson') as 'picard' | 'anderson' | 'broyden';

const rng = new Rng(0);
const { train, test } = standardSplit(loadMnist({ size: 28 }));
const params = {
  U: randn([784, hidden], rng, { std: 1 / Math.sqrt(784) }), b: zeros([hidden]),
  W: randn([hidden, hidden], rng, { std: 1 / Math.sqrt(hidden) }),
  V: randn([hidden, 10], rng, { std: 1 / Math.sqrt(hidden) }), c: zeros([10]),
};
const list = Object.values(params).map((p) => p.requireGrad());

const opt = new AdamW(list, { lr: 2e-3, weightDecay: 0 });

function forward(images: Tensor): { logits: Tensor; stats: FixedPointStats } {
  const inj = add(matmul(images, params.U), params.b);
  const W = div(mul(params.W, 0.9), maximum(norm(params.W), 1)); // ‖W‖₂ ≤ ‖W‖_F ≤ 0.9
  const { z, stats } = fixedPoint((zz, x, w) => tanh(add(matmul(zz, w), x)), [inj, W], { solver, tol: 1e-4, maxIter: 40 });
  return { logits: add(matmul(z, params.V), params.c), stats };
}

const flat = (x: Tensor) => reshape(x, [x.shape[0]!, 784]);

function accuracy(set: ImageDataset): number {
  let correct = 0;
  for (const { x, y } of set.batches(500)) {
    correct += tidy(() => noGrad(() => mean(eq(argmax(forward(flat(x)).logits, 1), y).cast('float32')).item() * y.shape[0]!));
    x.dispose(); y.dispose();
  }
  return correct / set.count;
}

console.log(`DEQ on MNIST: ${train.count} train / ${test.count} test digits, hidden ${hidden}, solver ${solver}, JFB gradient`);
const start = performance.now();
for (let epoch = 1; epoch <= epochs; epoch++) {
  let lossSum = 0, iterSum = 0, resSum = 0, batches = 0;
  for (const { x, y } of train.batches(batchSize, { shuffle: true, rng, dropLast: true })) {
    const { loss, stats } = tidy(() => {
      const out = forward(flat(x));
      const nll = crossEntropy(out.logits, y);
      nll.backward();
      return { loss: nll.item(), stats: out.stats };
    });
    opt.step();
    opt.zeroGrad();
    x.dispose(); y.dispose();
    lossSum += loss; batches++;
    iterSum += stats.nFevals.reduce((a, b) => a + b, 0) / stats.batch;
    resSum += stats.bestResidual.reduce((a, b) => a + b, 0) / stats.batch;
    if (process.stdout.isTTY && batches % 25 === 0) {
      process.stdout.write(`\r  epoch ${epoch} batch ${batches}: loss ${(lossSum / batches).toFixed(4)}, f-evals/sample ${(iterSum / batches).toFixed(1)}, residual ${(resSum / batches).toExponential(2)}   `);
    }
  }
  console.log(`\nepoch ${epoch}: loss ${(lossSum / batches).toFixed(4)}, mean f-evals per sample ${(iterSum / batches).toFixed(1)}, mean residual ${(resSum / batches).toExponential(2)}, test accuracy ${(accuracy(test) * 100).toFixed(2)}%  (${((performance.now() - start) / 1000).toFixed(0)} s)`);
}
