// A deep-equilibrium classifier on MNIST, trained with JFB: z* = tanh(z*·W + x·U + b), logits = z*·V + c.
// W is rescaled to spectral norm ≤ 0.9 (via its Frobenius norm) so the layer is a contraction. Run: npm run example:deq

import {
  Rng, randn, zeros, tensor, matmul, tanh, add, sub, mul, div, sqrt, square, mean, gather, logSoftmax, argmax, eq,
  maximum, norm, tidy, noGrad, fixedPoint, keep, type Tensor, type FixedPointStats,
} from '../src/index.js';
import { loadMnist } from './mnist-data.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const epochs = Number(args.get('epochs') ?? 5), hidden = Number(args.get('hidden') ?? 100), batchSize = 64;
const solver = (args.get('solver') ?? 'anderson') as 'picard' | 'anderson' | 'broyden';

const rng = new Rng(0);
const { train, test } = loadMnist(0);
const params = {
  U: randn([784, hidden], rng, { std: 1 / Math.sqrt(784) }), b: zeros([hidden]),
  W: randn([hidden, hidden], rng, { std: 1 / Math.sqrt(hidden) }),
  V: randn([hidden, 10], rng, { std: 1 / Math.sqrt(hidden) }), c: zeros([10]),
};
const list = Object.values(params).map((p) => p.requireGrad());

// Adam, written out (the nn issue brings the library optimizer)
const m = list.map((p) => keep(zeros(p.shape))), v = list.map((p) => keep(zeros(p.shape)));
let t = 0;
function adamStep(lr = 2e-3, b1 = 0.9, b2 = 0.999): void {
  t++;
  list.forEach((p, i) => tidy(() => {
    m[i]!.assign(add(mul(m[i]!, b1), mul(p.grad!, 1 - b1)));
    v[i]!.assign(add(mul(v[i]!, b2), mul(square(p.grad!), 1 - b2)));
    const step = div(mul(m[i]!, lr / (1 - b1 ** t)), add(sqrt(div(v[i]!, 1 - b2 ** t)), 1e-8));
    p.assign(sub(p, step));
    p.grad!.dispose(); p.grad = null;
  }));
}

function forward(images: Tensor): { logits: Tensor; stats: FixedPointStats } {
  const inj = add(matmul(images, params.U), params.b);
  const W = div(mul(params.W, 0.9), maximum(norm(params.W), 1)); // ‖W‖₂ ≤ ‖W‖_F ≤ 0.9
  const { z, stats } = fixedPoint((zz, x, w) => tanh(add(matmul(zz, w), x)), [inj, W], { solver, tol: 1e-4, maxIter: 40 });
  return { logits: add(matmul(z, params.V), params.c), stats };
}

function batchOf(set: typeof train, idx: number[]): { x: Tensor; y: Tensor } {
  const x = new Float32Array(idx.length * 784), y = new Int32Array(idx.length);
  idx.forEach((k, i) => { x.set(set.images.subarray(k * 784, (k + 1) * 784), i * 784); y[i] = set.labels[k]!; });
  return { x: tensor(x, { shape: [idx.length, 784] }), y: tensor(y, { shape: [idx.length, 1] }) };
}

function accuracy(set: typeof train): number {
  let correct = 0;
  for (let s = 0; s < set.count; s += 500) {
    const idx = Array.from({ length: Math.min(500, set.count - s) }, (_, i) => s + i);
    correct += tidy(() => noGrad(() => {
      const { x, y } = batchOf(set, idx);
      return mean(eq(argmax(forward(x).logits, 1, true), y).cast('float32')).item() * idx.length;
    }));
  }
  return correct / set.count;
}

console.log(`DEQ on MNIST: ${train.count} train / ${test.count} test digits, hidden ${hidden}, solver ${solver}, JFB gradient`);
const start = performance.now();
for (let epoch = 1; epoch <= epochs; epoch++) {
  const order = Array.from({ length: train.count }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) { const j = rng.int(0, i + 1); [order[i], order[j]] = [order[j]!, order[i]!]; }
  let lossSum = 0, iterSum = 0, resSum = 0, batches = 0;
  for (let s = 0; s + batchSize <= order.length; s += batchSize) {
    const { loss, stats } = tidy(() => {
      const { x, y } = batchOf(train, order.slice(s, s + batchSize));
      const out = forward(x);
      const nll = mul(mean(gather(logSoftmax(out.logits, -1), 1, y)), -1);
      nll.backward();
      return { loss: nll.item(), stats: out.stats };
    });
    adamStep();
    lossSum += loss; batches++;
    iterSum += stats.nFevals.reduce((a, b) => a + b, 0) / stats.batch;
    resSum += stats.bestResidual.reduce((a, b) => a + b, 0) / stats.batch;
    if (process.stdout.isTTY && batches % 25 === 0) {
      process.stdout.write(`\r  epoch ${epoch} batch ${batches}: loss ${(lossSum / batches).toFixed(4)}, f-evals/sample ${(iterSum / batches).toFixed(1)}, residual ${(resSum / batches).toExponential(2)}   `);
    }
  }
  console.log(`\nepoch ${epoch}: loss ${(lossSum / batches).toFixed(4)}, mean f-evals per sample ${(iterSum / batches).toFixed(1)}, mean residual ${(resSum / batches).toExponential(2)}, test accuracy ${(accuracy(test) * 100).toFixed(2)}%  (${((performance.now() - start) / 1000).toFixed(0)} s)`);
}
