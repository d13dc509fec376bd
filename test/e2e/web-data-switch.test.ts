// The browser demo's data switch without a browser: the data-set table and manifest (web/src/data-sets.ts), the Vite
// plugin that serves and copies only the checkpoints that exist (web/vite.config.ts), the engine loading micro models
// as MNIST or Fashion-MNIST (web/src/demo-engine.ts), and the model worker's protocol (web/src/model-worker.ts) run in
// Node with a stand-in worker scope and fetch: init, a switch, a failed switch that keeps the models, requests after it.

import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as V from '../../src/index.js';
import {
  DEMO_CHECKPOINT_FILES, DEMO_DATA, DEMO_DATA_SETS, DEMO_MANIFEST_FILE, demoManifest, parseDemoData, parseDemoManifest,
} from '../../web/src/data-sets.js';
import { demoClassNames, disposeDemoModels, generateImage, loadDemoModels } from '../../web/src/demo-engine.js';
import type { DoneMessage, ErrorMessage, ReadyMessage, WorkerMessage, WorkerRequest } from '../../web/src/protocol.js';
import { DEMO_CHECKPOINTS, checkpointAssets, presentCheckpoints } from '../../web/vite.config.js';

const ALL_FILES = ['viar-mnist.safetensors', 'tokenizer-mnist.safetensors', 'classifier-mnist.safetensors',
  'viar-fashion.safetensors', 'tokenizer-fashion.safetensors', 'classifier-fashion.safetensors'];

let dir: string;

/** Random micro models saved as `data`'s three checkpoint files in `into`. */
function saveMicro(into: string, data: 'mnist' | 'fashion', seed: number): void {
  const vae = new V.VQVAE(V.TOKENIZER_MICRO, new V.Rng(seed));
  V.saveModule(join(into, `tokenizer-${data}.safetensors`), vae, { config: JSON.stringify(V.TOKENIZER_MICRO) });
  const model = V.createModel('viar', data === 'fashion' ? V.VIAR_MICRO_WIDE_ITERS : V.VIAR_MICRO, new V.Rng(seed + 1));
  V.saveTransformer(join(into, `viar-${data}.safetensors`), model, { data, step: String(seed) });
  const net = new V.LeNet(V.LENET_DEFAULTS, new V.Rng(seed + 2));
  V.saveModule(join(into, `classifier-${data}.safetensors`), net);
  for (const m of [vae, model, net]) m.dispose();
}

const bytesOf = (into: string, data: 'mnist' | 'fashion') => {
  const f = DEMO_DATA[data].files;
  return { viar: readFileSync(join(into, f.viar)), tokenizer: readFileSync(join(into, f.tokenizer)), classifier: readFileSync(join(into, f.classifier)) };
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'viar-web-data-'));
  saveMicro(dir, 'mnist', 1);
  saveMicro(dir, 'fashion', 11);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('data sets and the manifest', () => {
  test('MNIST first (the default), then Fashion-MNIST, each with its three files', () => {
    expect(DEMO_DATA_SETS).toEqual(['mnist', 'fashion']);
    expect(DEMO_DATA.fashion.title).toBe('Fashion-MNIST');
    expect([...DEMO_CHECKPOINT_FILES]).toEqual(ALL_FILES);
    expect(DEMO_CHECKPOINTS).toEqual(DEMO_CHECKPOINT_FILES);
    expect(parseDemoData(null)).toBe('mnist');
    expect(parseDemoData('fashion')).toBe('fashion');
    expect(parseDemoData('cifar')).toBe('mnist');
  });

  test('a data set is available when all its files exist; otherwise the reason names the missing ones', () => {
    expect(demoManifest(() => true)).toEqual({ mnist: { available: true, reason: null }, fashion: { available: true, reason: null } });
    const noGenerator = demoManifest((f) => f !== 'viar-fashion.safetensors');
    expect(noGenerator.mnist.available).toBe(true);
    expect(noGenerator.fashion).toEqual({ available: false, reason: 'no viar-fashion.safetensors in checkpoints/ (not trained yet)' });
    expect(demoManifest((f) => f.endsWith('-mnist.safetensors')).fashion.reason).toContain('viar-fashion.safetensors, tokenizer-fashion.safetensors, classifier-fashion.safetensors');
    // what the page reads back; a missing or foreign manifest lets the worker try (and name the file it cannot fetch)
    expect(parseDemoManifest(JSON.parse(JSON.stringify(noGenerator)))).toEqual(noGenerator);
    expect(parseDemoManifest(null)).toEqual(demoManifest(() => true));
    expect(parseDemoManifest({ fashion: { available: false } }).fashion).toEqual({ available: false, reason: 'its checkpoints are not served' });
  });
});

describe('the Vite plugin serves and copies only the checkpoints that exist', () => {
  /** The plugin's build output for `from`: emitted file name → content. */
  function build(from: string): Map<string, string | Uint8Array> {
    const emitted = new Map<string, string | Uint8Array>();
    const plugin = checkpointAssets(from);
    const hook = plugin.generateBundle as unknown as (this: { emitFile(f: { fileName: string; source: string | Uint8Array }): string }) => void;
    hook.call({ emitFile: (f) => { emitted.set(f.fileName, f.source); return f.fileName; } });
    return emitted;
  }

  /** The dev server's answer for /checkpoints/<name>: the body, or null when it passes the request on. */
  function serve(from: string, name: string): { body: Buffer | string | null; type: string | null } {
    let handler: ((req: { url: string }, res: unknown, next: () => void) => void) | null = null;
    const server = { middlewares: { use: (path: string, h: typeof handler) => { expect(path).toBe('/checkpoints'); handler = h; } } };
    (checkpointAssets(from).configureServer as unknown as (s: typeof server) => void)(server);
    let body: Buffer | string | null = null, type: string | null = null;
    handler!({ url: `/${name}` }, { setHeader: (_k: string, v: string) => { type = v; }, end: (b: Buffer | string) => { body = b; } }, () => {});
    return { body, type };
  }

  test('without viar-fashion the build still succeeds: the five files that exist, and a manifest calling Fashion unavailable', () => {
    const partial = mkdtempSync(join(tmpdir(), 'viar-web-partial-'));
    try {
      for (const f of ALL_FILES.filter((f) => f !== 'viar-fashion.safetensors')) copyFileSync(join(dir, f), join(partial, f));
      expect(presentCheckpoints(partial)).toEqual(ALL_FILES.filter((f) => f !== 'viar-fashion.safetensors'));
      const out = build(partial);
      expect([...out.keys()].sort()).toEqual([...ALL_FILES.filter((f) => f !== 'viar-fashion.safetensors').map((f) => `checkpoints/${f}`), `checkpoints/${DEMO_MANIFEST_FILE}`].sort());
      const manifest = JSON.parse(out.get(`checkpoints/${DEMO_MANIFEST_FILE}`) as string) as unknown;
      expect(parseDemoManifest(manifest)).toEqual({ mnist: { available: true, reason: null }, fashion: { available: false, reason: 'no viar-fashion.safetensors in checkpoints/ (not trained yet)' } });
      expect(Buffer.from(out.get('checkpoints/tokenizer-fashion.safetensors') as Uint8Array)).toEqual(readFileSync(join(dir, 'tokenizer-fashion.safetensors')));

      // the dev server: the manifest, an existing file, nothing for the missing one or for other names
      expect(serve(partial, DEMO_MANIFEST_FILE).type).toBe('application/json');
      expect(JSON.parse(serve(partial, DEMO_MANIFEST_FILE).body as string)).toEqual(manifest);
      expect(serve(partial, 'classifier-fashion.safetensors').body).toEqual(readFileSync(join(dir, 'classifier-fashion.safetensors')));
      expect(serve(partial, 'viar-fashion.safetensors').body).toBeNull();
      expect(serve(partial, '../package.json').body).toBeNull();
      // a checkpoint written while the server runs (training finished) is served, and the manifest follows
      copyFileSync(join(dir, 'viar-fashion.safetensors'), join(partial, 'viar-fashion.safetensors'));
      expect(serve(partial, 'viar-fashion.safetensors').body).not.toBeNull();
      expect(JSON.parse(serve(partial, DEMO_MANIFEST_FILE).body as string).fashion).toEqual({ available: true, reason: null });
    } finally {
      rmSync(partial, { recursive: true, force: true });
    }
  });

  test('with every file, all six are copied and both data sets are available', () => {
    const out = build(dir);
    expect(out.size).toBe(7);
    expect(parseDemoManifest(JSON.parse(out.get(`checkpoints/${DEMO_MANIFEST_FILE}`) as string))).toEqual(demoManifest(() => true));
  });
});

describe('demo engine: the models of a data set', () => {
  test('Fashion-MNIST checkpoints load with the Fashion class names; a generated image is read by its classifier', async () => {
    const before = V.memory().numTensors;
    const models = loadDemoModels(bytesOf(dir, 'fashion'), 'fashion');
    try {
      expect(models.data).toBe('fashion');
      expect(models.classNames).toEqual([...V.FASHION_CLASS_NAMES]);
      expect(models.side).toBe(32);
      expect(models.info).toMatchObject({ numClasses: 10, patchNums: [1, 2, 4, 8], defaultSchedule: [3, 3, 3, 3], trainedSteps: 11 });
      const progress: number[] = [];
      const done = await generateImage(models, { type: 'generate', id: 1, label: 9, seed: 1, cfg: 1.5, schedule: [1, 1, 1, 1], earlyStopTol: null }, (p) => progress.push(p.scale));
      expect(progress).toEqual([0, 1, 2, 3]);
      expect(done.label).toBe(9);
      expect(done.image).toHaveLength(32 * 32);
      expect(done.predicted).toBeGreaterThanOrEqual(0);
      expect(done.predicted).toBeLessThan(10);
    } finally {
      disposeDemoModels(models);
    }
    expect(V.memory().numTensors).toBe(before);
    // MNIST stays the default, with its digits
    const mnist = loadDemoModels(bytesOf(dir, 'mnist'));
    expect(mnist.data).toBe('mnist');
    expect(mnist.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    disposeDemoModels(mnist);
    expect(demoClassNames('fashion', 11)[10]).toBe('10');
  });

  test('a file that is not what the demo expects is named by the data set\'s file name, and nothing leaks', () => {
    const before = V.memory().numTensors;
    const fashion = bytesOf(dir, 'fashion');
    expect(() => loadDemoModels({ ...fashion, viar: fashion.tokenizer }, 'fashion')).toThrow(/^viar-fashion\.safetensors: not a VIAR checkpoint/);
    expect(() => loadDemoModels({ ...fashion, tokenizer: fashion.classifier }, 'fashion')).toThrow(/^tokenizer-fashion\.safetensors: /);
    expect(() => loadDemoModels({ ...fashion, classifier: fashion.tokenizer }, 'fashion')).toThrow(/^classifier-fashion\.safetensors: /);
    expect(V.memory().numTensors).toBe(before);
  });
});

describe('model worker protocol (in Node, with a stand-in worker scope and fetch)', () => {
  const BASE = 'http://demo.test/checkpoints/';
  let served: string;
  let listener: ((event: { data: WorkerRequest }) => void) | null = null;
  const messages: WorkerMessage[] = [];
  const waiters: { test: (m: WorkerMessage) => boolean; resolve: (m: WorkerMessage) => void }[] = [];

  /** The first message (from `from` on) that passes `test`. */
  function next<M extends WorkerMessage>(test: (m: WorkerMessage) => boolean, from: number): Promise<M> {
    const seen = messages.slice(from).find(test);
    if (seen) return Promise.resolve(seen as M);
    return new Promise((resolve) => waiters.push({ test, resolve: resolve as (m: WorkerMessage) => void }));
  }

  function send(req: WorkerRequest): number {
    const mark = messages.length;
    listener!({ data: req });
    return mark;
  }

  beforeAll(async () => {
    served = mkdtempSync(join(tmpdir(), 'viar-web-served-'));
    for (const f of ALL_FILES.filter((f) => f !== 'viar-fashion.safetensors')) copyFileSync(join(dir, f), join(served, f));
    vi.stubGlobal('self', {
      postMessage(m: WorkerMessage) {
        messages.push(m);
        for (const w of waiters.splice(0)) if (w.test(m)) w.resolve(m); else waiters.push(w);
      },
      addEventListener(_type: 'message', l: typeof listener) { listener = l; },
    });
    vi.stubGlobal('fetch', async (url: URL) => {
      const name = url.href.slice(BASE.length);
      try {
        return new Response(readFileSync(join(served, name)));
      } catch {
        return new Response(null, { status: 404 });
      }
    });
    await import('../../web/src/model-worker.js');
    expect(listener).not.toBeNull();
  });

  afterEach(() => expect(waiters).toEqual([]));
  afterAll(() => {
    vi.unstubAllGlobals();
    rmSync(served, { recursive: true, force: true });
  });

  const isReady = (m: WorkerMessage) => m.type === 'ready';
  const isError = (m: WorkerMessage) => m.type === 'error';

  test('init loads the requested data set: MNIST, with its digits', async () => {
    const from = send({ type: 'init', checkpointsUrl: BASE, data: 'mnist', kernels: 'fast', backend: 'cpu' });
    const ready = await next<ReadyMessage>(isReady, from);
    expect(ready).toMatchObject({ data: 'mnist', backend: 'cpu', side: 32, model: { numClasses: 10, defaultSchedule: [2, 2, 2, 2] } });
    expect(ready.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  test('switching to Fashion-MNIST without viar-fashion fails with the file\'s name and keeps MNIST, which still answers', async () => {
    let from = send({ type: 'load', data: 'fashion' });
    const error = await next<ErrorMessage>((m) => isError(m) || isReady(m), from);
    expect(error.type).toBe('error');
    expect(error.id).toBeNull();
    expect(error.message).toBe(`loading Fashion-MNIST failed: cannot fetch ${BASE}viar-fashion.safetensors: HTTP 404; MNIST stays loaded`);
    from = send({ type: 'generate', id: 7, label: 3, seed: 1, cfg: 1.5, schedule: [1, 1, 1, 1], earlyStopTol: null });
    const done = await next<DoneMessage>((m) => m.type !== 'progress', from);
    expect(done).toMatchObject({ type: 'done', id: 7, label: 3, iterations: [1, 1, 1, 1] });
  });

  test('once viar-fashion exists, the switch loads Fashion-MNIST (its names, its schedule); requests queued behind it use it', async () => {
    copyFileSync(join(dir, 'viar-fashion.safetensors'), join(served, 'viar-fashion.safetensors'));
    const from = send({ type: 'load', data: 'fashion' });
    send({ type: 'generate', id: 8, label: 9, seed: 2, cfg: 1.5, schedule: [3, 3, 3, 3], earlyStopTol: null });
    const ready = await next<ReadyMessage>(isReady, from);
    expect(ready.data).toBe('fashion');
    expect(ready.classNames).toEqual([...V.FASHION_CLASS_NAMES]);
    expect(ready.model.defaultSchedule).toEqual([3, 3, 3, 3]);
    const done = await next<DoneMessage>((m) => m.type === 'done' || isError(m), from);
    expect(done).toMatchObject({ type: 'done', id: 8, label: 9, iterations: [3, 3, 3, 3] });
    expect(messages.indexOf(ready)).toBeLessThan(messages.indexOf(done));
    // back to MNIST: ready again with the digits
    const back = send({ type: 'load', data: 'mnist' });
    expect((await next<ReadyMessage>(isReady, back)).data).toBe('mnist');
  });
});
