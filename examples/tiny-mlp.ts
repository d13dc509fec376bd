// A tiny MLP trained from scratch on two interleaved spirals: the engine's "hello world" (`npm run example:mlp`).

import { Rng, randn, zeros, tensor, matmul, tanh, add, sub, mul, logSoftmax, gather, mean, argmax, eq, tidy, noGrad } from '../src/index.js';
import type { Tensor } from '../src/index.js';

const rng = new Rng(0);
// data: two spirals, 200 points each, labels 0/1
const n = 200, points: number[][] = [], labels: number[][] = [];
for (let c = 0; c < 2; c++) {
  for (let i = 0; i < n; i++) {
    const r = (i / n) * 3, t = r * 2.5 + c * Math.PI + rng.normal() * 0.15;
    points.push([r * Math.cos(t), r * Math.sin(t)]);
    labels.push([c]);
  }
}
const x = tensor(points), y = tensor(labels.flat(), { dtype: 'int32', shape: [2 * n, 1] });

// parameters of a 2 → 32 → 32 → 2 network
const params: Tensor[] = [
  randn([2, 32], rng, { std: 0.7 }), zeros([32]), randn([32, 32], rng, { std: 0.18 }), zeros([32]), randn([32, 2], rng, { std: 0.18 }), zeros([2]),
].map((p) => p.requireGrad());
const [w1, b1, w2, b2, w3, b3] = params as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
const forward = (input: Tensor) => add(matmul(tanh(add(matmul(tanh(add(matmul(input, w1), b1)), w2), b2)), w3), b3);

const start = performance.now();
for (let step = 0; step <= 600; step++) {
  const loss = tidy(() => {
    const nll = mean(gather(logSoftmax(forward(x), -1), 1, y)).mul(-1); // cross-entropy
    nll.backward();
    for (const p of params) { p.assign(sub(p, mul(p.grad!, 0.5))); p.grad!.dispose(); p.grad = null; } // SGD
    return nll.item();
  });
  if (step % 100 === 0) {
    const acc = tidy(() => noGrad(() => mean(eq(argmax(forward(x), 1, true), y).cast('float32')).item()));
    console.log(`step ${String(step).padStart(3)}  loss ${loss.toFixed(4)}  accuracy ${(acc * 100).toFixed(1)}%`);
  }
}
console.log(`trained in ${((performance.now() - start) / 1000).toFixed(1)} s`);
