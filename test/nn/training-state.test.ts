// Resumable training: stopping after any step, saving, and resuming in a fresh process state reproduces the
// uninterrupted run exactly (model, optimizer moments, step count and RNG).

import { expect, test } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import * as V from '../../src/index.js';

function makeRun(seed: number) {
  const rng = new V.Rng(seed);
  const model = new V.MLP([4, 16, 3], { rng, activation: 'gelu' });
  const drop = new V.Dropout(0.2, rng);
  const opt = new V.AdamW(model.parameters(), { lr: 0.01 });
  const x = V.randn([32, 4], new V.Rng(99));
  const y = V.randint(0, 3, [32], new V.Rng(98));
  const step = () => {
    V.tidy(() => {
      V.crossEntropy(drop.forward(model.forward(V.mul(x, V.rand([32, 1], rng)))), y).backward();
    });
    opt.step();
    opt.zeroGrad();
  };
  return { rng, model, opt, step };
}

test('save after 5 steps + resume for 5 = 10 uninterrupted steps, bit for bit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'viar-state-'));
  try {
    const straight = makeRun(1);
    for (let i = 0; i < 10; i++) straight.step();

    const first = makeRun(1);
    for (let i = 0; i < 5; i++) first.step();
    V.saveTrainingState(join(dir, 'state.safetensors'), { model: first.model, optimizer: first.opt, rng: first.rng, metadata: { step: '5' } });

    const resumed = makeRun(7); // different seed: everything must come from the file
    const meta = V.loadTrainingState(join(dir, 'state.safetensors'), { model: resumed.model, optimizer: resumed.opt, rng: resumed.rng });
    expect(meta).toEqual({ step: '5' });
    expect(resumed.opt.stepCount).toBe(5);
    for (let i = 0; i < 5; i++) resumed.step();
    for (const [name, p] of straight.model.namedParameters()) {
      const q = resumed.model.stateDict().get(name)!;
      expect(Array.from(q.dataSync()), name).toEqual(Array.from(p.dataSync()));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loading a file that is not a training state is a clear error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'viar-state-'));
  try {
    const model = new V.MLP([2, 2], { rng: new V.Rng(0) });
    V.saveModule(join(dir, 'plain.safetensors'), model);
    expect(() => V.loadTrainingState(join(dir, 'plain.safetensors'), { model })).toThrow(/^loadTrainingState: .*plain\.safetensors is not a training-state file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
