// The tokenizer against the official VAR code on seeded weights (test/fixtures/parity/vqvae-tiny.safetensors,
// see docs/notes/parity.md): encoder features, indices per scale (exactly), f̂ per scale,
// decoder output and reconstruction, teacher-forcing input, train-mode VQ loss and straight-through decode.

import { beforeAll, describe, expect, test } from 'vitest';
import { join } from 'node:path';
import * as V from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { expectClose } from '../helpers/close.js';

const fixtures = join(import.meta.dirname, '../fixtures/parity');
const REL = { atol: 1e-5, rtol: 1e-4 };

let T: Map<string, Tensor>;
let vae: V.VQVAE;
let indices: Tensor[];

beforeAll(() => {
  T = V.loadSafetensors(join(fixtures, 'vqvae-tiny.safetensors')).tensors;
  vae = new V.VQVAE(V.VQVAE_TINY, new V.Rng(0));
  const weights = new Map([...T].filter(([k]) => k.startsWith('weights.')).map(([k, t]) => [k.slice('weights.'.length), t]));
  const report = vae.loadStateDict(weights, { strict: false });
  // the fixture skips this usage-statistic buffer (README: "a usage statistic that no output uses")
  expect(report).toEqual({ missing: ['quantize.ema_vocab_hit_SV'], unexpected: [] });
  vae.eval();
  indices = V.noGrad(() => vae.imageToIndices(T.get('input.img')!));
});

const get = (k: string) => {
  const t = T.get(k);
  if (!t) throw new Error(`fixture has no '${k}'`);
  return t;
};

describe('VQVAE parity with the official code (vqvae-tiny)', () => {
  test('state-dict keys and parameter count are the official ones', () => {
    const officialKeys = [...T.keys()].filter((k) => k.startsWith('weights.')).map((k) => k.slice(8)).sort();
    const ours = [...vae.stateDict().keys()].filter((k) => k !== 'quantize.ema_vocab_hit_SV').sort();
    expect(ours).toEqual(officialKeys);
    expect(vae.numParameters()).toBe(1_378_331);
    expect(vae.encoder.numParameters()).toBe(567_656);
    expect(vae.decoder.numParameters()).toBe(806_659);
  });

  test('encoder features f = quant_conv(encoder(img))', () => {
    V.tidy(() => expectClose(V.noGrad(() => vae.encode(get('input.img'))).dataSync(), get('out.f').dataSync(), REL, 'f'));
  });

  test('indices per scale match exactly', () => {
    for (let k = 0; k < 6; k++) expect(Array.from(indices[k]!.dataSync()), `scale ${k}`).toEqual(Array.from(get(`out.idx.s${k}`).dataSync()));
  });

  test('cumulative f̂ after every scale', () => {
    V.tidy(() => {
      const fHats = V.noGrad(() => vae.quantize.toFhats(get('out.f')));
      fHats.forEach((f, k) => expectClose(f.dataSync(), get(`out.fhat.s${k}`).dataSync(), REL, `fhat s${k}`));
      expectClose(V.noGrad(() => vae.quantize.indicesToFhat(indices)).dataSync(), get('out.fhat').dataSync(), REL, 'fhat from indices');
    });
  });

  test('decoder output and clamped reconstruction', () => {
    V.tidy(() => {
      const fHat = get('out.fhat');
      expectClose(V.noGrad(() => vae.decode(fHat)).dataSync(), get('out.dec').dataSync(), REL, 'dec');
      expectClose(V.noGrad(() => vae.indicesToImage(indices)).dataSync(), get('out.recon').dataSync(), REL, 'recon');
    });
  });

  test('teacher-forcing input (idxBl_to_var_input)', () => {
    V.tidy(() => {
      const x = V.noGrad(() => vae.quantize.indicesToVarInput(indices));
      expect(x.shape).toEqual([2, 129, 8]);
      expectClose(x.dataSync(), get('out.var_input').dataSync(), REL, 'var_input');
    });
  });

  test('train-mode forward: VQ loss and straight-through reconstruction', () => {
    V.tidy(() => {
      vae.train();
      const { reconstruction, vqLoss } = V.noGrad(() => vae.forward(get('input.img')));
      vae.eval();
      expect(vqLoss.item()).toBeCloseTo(get('out.vq_loss').item(), 5);
      expectClose(reconstruction.dataSync(), get('out.train.dec').dataSync(), REL, 'train dec');
    });
  });

  test('Phi index tables match the official ones (interp.safetensors)', () => {
    const interp = V.loadSafetensors(join(fixtures, 'interp.safetensors')).tensors;
    for (const sn of [3, 6, 10, 14]) {
      expect(V.phiIndexTable(sn, 4), `SN = ${sn}`).toEqual(Array.from(interp.get(`phi_table.sn${sn}`)!.dataSync()));
    }
  });
});
