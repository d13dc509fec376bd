// The demo's model worker: fetches the shipped checkpoints over HTTP, loads them with the engine (backend chosen in
// backend-choice.ts) and answers the page's requests one at a time, posting each scale's preview as it is ready.

import { chooseBackend } from './backend-choice.js';
import { editImage, generateImage, loadDemoModels, warmUp, type DemoModels } from './demo-engine.js';
import type { InitRequest, WorkerMessage, WorkerRequest } from './protocol.js';

/** The worker global scope, as far as this file uses it (the DOM lib types `self` as a Window). */
interface WorkerScope {
  postMessage(message: WorkerMessage, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<WorkerRequest>) => void): void;
}
const scope = self as unknown as WorkerScope;

/** The checkpoint files, fetched from the folder the page names. */
export const CHECKPOINT_FILES = { viar: 'viar-mnist.safetensors', tokenizer: 'tokenizer-mnist.safetensors', classifier: 'classifier-mnist.safetensors' } as const;

function post(message: WorkerMessage): void {
  scope.postMessage(message, 'image' in message ? [message.image.buffer as ArrayBuffer] : []);
}

async function fetchBytes(base: string, name: string): Promise<Uint8Array> {
  const url = new URL(name, base);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot fetch ${url.href}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function start(init: InitRequest): Promise<DemoModels> {
  const choice = await chooseBackend({ kernels: init.kernels, backend: init.backend });
  const t0 = performance.now();
  const [viar, tokenizer, classifier] = await Promise.all([
    fetchBytes(init.checkpointsUrl, CHECKPOINT_FILES.viar),
    fetchBytes(init.checkpointsUrl, CHECKPOINT_FILES.tokenizer),
    fetchBytes(init.checkpointsUrl, CHECKPOINT_FILES.classifier),
  ]);
  const models = loadDemoModels({ viar, tokenizer, classifier });
  const loadMs = performance.now() - t0;
  post({ type: 'ready', ...choice, model: models.info, side: models.side, loadMs, warmUpMs: await warmUp(models) });
  return models;
}

let ready: Promise<DemoModels> | null = null;
let queue: Promise<void> = Promise.resolve();

scope.addEventListener('message', (event) => {
  const req = event.data;
  if (req.type === 'init') {
    ready ??= start(req);
    ready.catch((err: unknown) => post({ type: 'error', id: null, message: `loading failed: ${(err as Error).message}` }));
    return;
  }
  if (!ready) {
    post({ type: 'error', id: req.id, message: 'the worker was not initialised' });
    return;
  }
  // requests run one after another (each waits for the previous one's reads)
  queue = queue.then(() => ready!.then(async (models) => {
    try {
      const progress: Parameters<typeof generateImage>[2] = (p) => post({ type: 'progress', id: req.id, ...p });
      const done = req.type === 'generate' ? await generateImage(models, req, progress) : await editImage(models, req, progress);
      post({ type: 'done', id: req.id, ...done });
    } catch (err) {
      post({ type: 'error', id: req.id, message: (err as Error).message });
    }
  }, () => post({ type: 'error', id: req.id, message: 'the models did not load' })));
});
