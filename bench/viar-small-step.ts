// A VIAR_SMALL training step on synthetic teacher-forcing data (JFB, k and m drawn as in training, cross-entropy,
// AdamW), on the current backend: the workload the gpu benchmarks time, profile and count.

import * as V from '../src/index.js';

/** The model, its optimizer and a batch of `batch` sequences; `step()` trains once and returns the detached loss (the caller disposes it). */
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
  const dispose = () => { x.dispose(); targets.dispose(); model.dispose?.(); };
  return { model, step, dispose };
}
