// `viar eval` (src/cli/eval-command.ts) on random micro models saved to a temp dir: the JSON it writes (FID-proxy
// with its floor, agreement, precision/recall, diversity), fixed seeds, VIAR options, and argument errors.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as V from '../../src/index.js';
import { parseEvalArgs, runEval } from '../../src/cli/eval-command.js';
import { CliError } from '../../src/cli/transformer-commands.js';

let dir: string;
const file = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'viar-eval-'));
  const vae = new V.VQVAE(V.TOKENIZER_MICRO, new V.Rng(1));
  V.saveModule(file('tokenizer.safetensors'), vae, { config: JSON.stringify(V.TOKENIZER_MICRO) });
  const viar = V.createModel('viar', V.VIAR_MICRO, new V.Rng(2));
  V.saveTransformer(file('viar-micro.safetensors'), viar, { data: 'mnist' });
  const varModel = V.createModel('var', V.VAR_MICRO, new V.Rng(4));
  V.saveTransformer(file('var-micro.safetensors'), varModel, { data: 'mnist' });
  const net = new V.LeNet(V.LENET_DEFAULTS, new V.Rng(3));
  V.saveModule(file('classifier.safetensors'), net);
  for (const m of [vae, viar, varModel, net]) m.dispose();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = () => ['--tokenizer', file('tokenizer.safetensors'), '--classifier', file('classifier.safetensors'), '--per-class', '2', '--real', '20', '--quiet', '--threads', '1'];

describe('viar eval on micro models', () => {
  test('writes one JSON per checkpoint with every figure; the same seeds give the same numbers', () => {
    const args = parseEvalArgs([...base(), '--checkpoint', file('viar-micro.safetensors'), '--checkpoint', file('var-micro.safetensors'), '--out-dir', file('docs'), '--iters', '3']);
    const { results, files } = runEval(args);
    expect(files).toEqual([file('docs/eval-viar-micro.json'), file('docs/eval-var-micro.json')]);
    const [viar, varResult] = results;
    expect(JSON.parse(readFileSync(files[0]!, 'utf8'))).toEqual(JSON.parse(JSON.stringify(viar)));
    expect(viar).toMatchObject({ model: 'viar', samples: { perClass: 2, total: 20, meanIterationsPerScale: [3, 3, 3, 3] }, real: { images: 20 }, k: 3 });
    expect(viar!.sampler).toMatchObject({ schedule: 3, perScale: [3, 3, 3, 3], tol: null, implicitCache: 'iteration' });
    expect(varResult).toMatchObject({ model: 'var', sampler: { schedule: null, perScale: null, implicitCache: null }, samples: { meanIterationsPerScale: null } });
    for (const r of results) {
      expect(Number.isFinite(r!.fidProxy)).toBe(true);
      expect(r!.fidProxy).toBeCloseTo(r!.fidProxyTerms.meanTerm + r!.fidProxyTerms.traceTerm, 3);
      expect(r!.reference.fidProxyTrainVsTest).toBeGreaterThanOrEqual(0);
      for (const x of [r!.agreement, r!.precision, r!.recall]) expect(x >= 0 && x <= 1).toBe(true);
      expect(r!.perClassAgreement).toHaveLength(10);
      expect(r!.diversity.generated).toBeGreaterThanOrEqual(0);
      expect(r!.note).toMatch(/differs from ImageNet FID/);
    }
    // fixed seeds: a second run reproduces the figures
    const again = runEval(parseEvalArgs([...base(), '--checkpoint', file('viar-micro.safetensors'), '--out', file('again.json'), '--iters', '3'])).results[0]!;
    expect([again.fidProxy, again.agreement, again.precision, again.recall, again.diversity]).toEqual([viar!.fidProxy, viar!.agreement, viar!.precision, viar!.recall, viar!.diversity]);
  }, 60_000);

  test('argument errors are named', () => {
    expect(() => parseEvalArgs(['--iters', '2', '--schedule', '3,1'])).toThrow(/at most one of/);
    expect(() => parseEvalArgs(['--schedule', '3'])).toThrow(/LEFT,RIGHT/);
    expect(() => parseEvalArgs(['--per-class', '1'])).toThrow(/--per-class must be an integer ≥ 2/);
    expect(() => parseEvalArgs(['--checkpoint', 'a', '--checkpoint', 'b', '--out', 'x.json'])).toThrow(/--out FILE takes one/);
    expect(() => parseEvalArgs(['--nope'])).toThrow(CliError);
    expect(parseEvalArgs(['--schedule-list', '1,2,3,4']).schedule).toEqual([1, 2, 3, 4]);
    expect(parseEvalArgs(['--implicit-cache', 'last-iterate']).implicitCache).toBe('last-iterate');
    expect(parseEvalArgs([]).implicitCache).toBeUndefined();
    expect(() => parseEvalArgs(['--implicit-cache', 'latest'])).toThrow(/--implicit-cache/);
    expect(() => runEval(parseEvalArgs([...base(), '--checkpoint', file('missing.safetensors')]))).toThrow(/no checkpoint at/);
    expect(() => runEval(parseEvalArgs([...base(), '--checkpoint', file('viar-micro.safetensors'), '--schedule-list', '1,2']))).toThrow(/2 entries.*4 scales/);
  }, 60_000);
});
