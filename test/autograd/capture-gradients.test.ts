// captureGradients: a VIAR training step's forward and backward recorded per implicit-iteration split and replayed
// trains exactly like eager steps (AdamW replacing the parameters between runs), on the gpu backend in gpu.js cpu mode
// with asynchronous reads and on the cpu backend; replays run no ops; misuse is refused with one line.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as V from '../../src/index.js';

let gpu: V.GpuBackend;
beforeAll(async () => {
  await V.initGpuBackend({ mode: 'cpu', asyncReads: true, activate: false, log: false });
  gpu = V.getBackendByName('gpu') as V.GpuBackend;
});
afterAll(() => { V.setBackend('cpu'); });

/** Trains VIAR_MICRO for the given (k, m) splits and label-drop masks; captured or eager; the parameters after. */
async function train(captured: boolean, splits: [number, number][]): Promise<{ params: number[][]; replayed: number; dispatched: number }> {
  const rng = new V.Rng(7);
  const model = V.createModel('viar', V.VIAR_MICRO, rng) as V.VIAR;
  model.train();
  const opt = new V.AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0.05 });
  const c = model.config, b = 3;
  const x = V.keep(V.randn([b, model.seqLen - model.firstLen, c.vaeChannels], rng));
  const targets = V.keep(V.randint(0, c.vocabSize, [b * model.seqLen], rng, { dtype: 'int32' }));
  const labels = V.keep(V.tensor(Int32Array.from([1, 4, 7]), { shape: [b] }));
  const lossOf = (k: number, m: number) => (xs: V.Tensor, t: V.Tensor, lab: V.Tensor, drop: V.Tensor) =>
    V.crossEntropy(V.reshape(model.forward(lab, xs, { iterations: { noGrad: k, withGrad: m }, labelDropMask: drop }), [-1, c.vocabSize]), t);
  const plans = new Map<string, V.CapturedGradients>();
  const before = { ...gpu.counters() };
  for (const [s, [k, m]] of splits.entries()) {
    const drop = V.tensor(Int32Array.from([s % 2, 0, (s + 1) % 2]), { shape: [b] });
    if (captured) {
      const key = `${k},${m}`;
      if (!plans.has(key)) plans.set(key, V.captureGradients(lossOf(k, m), model.parameters(), [x, targets, labels, drop]));
      const { loss, grads } = plans.get(key)!.run(x, targets, labels, drop);
      model.parameters().forEach((p, i) => { p.grad = grads[i]!; });
      loss.dispose();
    } else {
      V.tidy(() => lossOf(k, m)(x, targets, labels, drop).backward());
    }
    opt.step();
    opt.zeroGrad();
    drop.dispose();
  }
  const after = gpu.counters();
  const params = await Promise.all(model.parameters().map(async (p) => Array.from(await p.data())));
  for (const p of plans.values()) p.dispose();
  for (const t of [x, targets, labels]) t.dispose();
  opt.dispose();
  model.dispose();
  return { params, replayed: after.replayedDispatches - before.replayedDispatches, dispatched: after.dispatches - before.dispatches };
}

describe.each(['gpu', 'cpu'] as const)('captureGradients on the %s backend', (backend) => {
  test('steps from replayed gradients give the parameters of eager steps (k, m splits reused and new, label dropout as an input)', async () => {
    V.setBackend(backend);
    try {
      const splits: [number, number][] = [[1, 1], [0, 2], [1, 1], [2, 1], [0, 2], [1, 1]];
      const eager = await train(false, splits);
      const captured = await train(true, splits);
      expect(captured.params.length).toBe(eager.params.length);
      captured.params.forEach((p, i) => p.forEach((v, j) => expect(v).toBeCloseTo(eager.params[i]![j]!, 5)));
      if (backend === 'gpu') {
        expect(captured.replayed).toBeGreaterThan(3 * 300); // three splits recorded, six runs replayed
        expect(captured.dispatched).toBeLessThan(eager.dispatched);
        expect(gpu.poolStats().pinned).toBe(0);
      }
    } finally {
      V.setBackend('cpu');
    }
  }, 120_000);
});

test('captureGradients refuses parameters that are not leaves requiring grad, and a loss that is not a scalar', () => {
  const w = V.randn([3], new V.Rng(1));
  expect(() => V.captureGradients((x) => V.sum(V.mul(x, w)), [w], [V.ones([3])])).toThrow(/^captureGradients: params\[0\] \(shape \[3\]\) is not a leaf that requires grad/);
  w.requireGrad();
  expect(() => V.captureGradients((x) => V.mul(x, w), [w], [V.ones([3])]).run(V.ones([3]))).toThrow(/^captureGradients: loss must return a scalar \(or \{ loss, aux \}\), got shape \[3\]/);
});
