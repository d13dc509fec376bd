// A VIAR_SMALL training step on synthetic teacher-forcing data (JFB, k and m drawn as in training, cross-entropy,
// AdamW), on the current backend: the workload the gpu benchmarks time, profile and count.

import * as V from '../src/index.js';

/**
 * The model, its optimizer and a batch of `batch` sequences; `step()` trains once and returns the detached loss (the
 * caller disposes it); `capturedStep()` does the same with a replayed forward and backward (captureGradients).
 */
export function viarSmallTrainingStep(batch: number, rng = new V.Rng(0)) {
  const model = V.createModel('viar', V.VIAR_SMALL, rng);
  model.train();
  const opt = new V.AdamW(model.parameters(), { lr: 1e-4, betas: [0.9, 0.95], weightDecay: 0.05 });
  const c = model.config;
  const x = V.keep(V.randn([batch, model.seqLen - model.firstLen, c.vaeChannels], rng));
  const targets = V.keep(V.randint(0, c.vocabSize, [batch * model.seqLen], rng, { dtype: 'int32' }));
  const labels = Array.from({ length: batch }, (_, i) => i % c.numClasses);
  const step = (): V.Tensor => {
    const loss = V.tidy(() => {
      const l = V.crossEntropy(V.reshape(model.forward(labels, x), [-1, c.vocabSize]), targets);
      l.backward();
      return V.keep(V.detach(l));
    });
    opt.step();
    opt.zeroGrad();
    return loss;
  };
  // the same step with its forward and backward replayed (captureGradients): k, m and label dropout drawn here, one
  // recording per (k, m) split
  const draws = new V.Rng(1);
  const labelTensor = V.keep(V.tensor(Int32Array.from(labels), { shape: [batch] }));
  const plans = new Map<string, V.CapturedGradients>();
  const capturedStep = (): V.Tensor => {
    const { noGradIters: [k0, k1], withGradIters: [m0, m1] } = V.VIAR_SMALL.implicit;
    const k = draws.int(k0, k1 + 1), m = draws.int(m0, m1 + 1);
    const drop = V.tensor(Int32Array.from({ length: batch }, () => (draws.uniform() < c.condDropRate ? 1 : 0)), { shape: [batch] });
    let plan = plans.get(`${k},${m}`);
    if (!plan) {
      const loss = (xs: V.Tensor, t: V.Tensor, lab: V.Tensor, d: V.Tensor) =>
        V.crossEntropy(V.reshape(model.forward(lab, xs, { iterations: { noGrad: k, withGrad: m }, labelDropMask: d }), [-1, c.vocabSize]), t);
      plans.set(`${k},${m}`, plan = V.captureGradients(loss, model.parameters(), [x, targets, labelTensor, drop]));
    }
    const { loss, grads } = plan.run(x, targets, labelTensor, drop);
    drop.dispose();
    model.parameters().forEach((p, i) => { p.grad = grads[i]!; });
    opt.step();
    opt.zeroGrad();
    return loss;
  };
  const dispose = () => { for (const p of plans.values()) p.dispose(); labelTensor.dispose(); x.dispose(); targets.dispose(); opt.dispose(); model.dispose?.(); };
  return { model, step, capturedStep, recordings: () => plans.size, dispose };
}
