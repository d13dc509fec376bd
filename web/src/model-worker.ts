// The demo's model worker: fetches a data set's shipped checkpoints over HTTP, loads them with the engine (backend
// chosen once, in backend-choice.ts), switches to another data set's when the page asks, and answers the page's
// requests one at a time, posting each scale's preview as it is ready.

import { chooseBackend, type BackendChoice } from './backend-choice.js';
import { DEMO_DATA, type DemoData } from './data-sets.js';
import { disposeDemoModels, editImage, generateImage, loadDemoModels, warmUp, type DemoModels } from './demo-engine.js';
import type { InitRequest, WorkerMessage, WorkerRequest } from './protocol.js';

/** The worker global scope, as far as this file uses it (the DOM lib types `self` as a Window). */
interface WorkerScope {
  postMessage(message: WorkerMessage, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<WorkerRequest>) => void): void;
}
const scope = self as unknown as WorkerScope;

function post(message: WorkerMessage): void {
  scope.postMessage(message, 'image' in message ? [message.image.buffer as ArrayBuffer] : []);
}

async function fetchBytes(base: string, name: string): Promise<Uint8Array> {
  const url = new URL(name, base);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot fetch ${url.href}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The first message's settings, and the backend it chose (once, for every data set). */
let init: InitRequest | null = null;
let backend: Promise<BackendChoice> | null = null;
/** The models in use: replaced only once another data set's have loaded. */
let ready: Promise<DemoModels> | null = null;
let queue: Promise<void> = Promise.resolve();

/** Fetches and loads `data`'s checkpoints, warms them up and tells the page. */
async function load(data: DemoData): Promise<DemoModels> {
  const choice = await backend!;
  const t0 = performance.now();
  const files = DEMO_DATA[data].files;
  const [viar, tokenizer, classifier] = await Promise.all([
    fetchBytes(init!.checkpointsUrl, files.viar), fetchBytes(init!.checkpointsUrl, files.tokenizer), fetchBytes(init!.checkpointsUrl, files.classifier),
  ]);
  const models = loadDemoModels({ viar, tokenizer, classifier }, data);
  const loadMs = performance.now() - t0;
  try {
    const warmUpMs = await warmUp(models);
    post({ type: 'ready', ...choice, model: models.info, data, classNames: models.classNames, side: models.side, loadMs, warmUpMs });
    return models;
  } catch (err) {
    disposeDemoModels(models);
    throw err;
  }
}

/** Queues a switch to `data` after the requests sent so far; the models in use stay when it fails. */
function switchTo(data: DemoData): void {
  queue = queue.then(async () => {
    const previous = ready ? await ready.catch(() => null) : null;
    if (previous?.data === data) {
      ready = Promise.resolve(previous);
      return;
    }
    try {
      const next = await load(data);
      if (previous) disposeDemoModels(previous);
      ready = Promise.resolve(next);
    } catch (err) {
      const kept = previous ? `; ${DEMO_DATA[previous.data].title} stays loaded` : '';
      post({ type: 'error', id: null, message: `loading ${DEMO_DATA[data].title} failed: ${(err as Error).message}${kept}` });
      ready = previous ? Promise.resolve(previous) : Promise.reject(err as Error);
      ready.catch(() => {}); // a failed first load is reported above, and again to each request
    }
  });
}

scope.addEventListener('message', (event) => {
  const req = event.data;
  if (req.type === 'init') {
    if (init) return;
    init = req;
    backend = chooseBackend({ kernels: req.kernels, backend: req.backend });
    switchTo(req.data);
    return;
  }
  if (req.type === 'load') {
    if (!init) post({ type: 'error', id: null, message: 'the worker was not initialised' });
    else switchTo(req.data);
    return;
  }
  if (!init) {
    post({ type: 'error', id: req.id, message: 'the worker was not initialised' });
    return;
  }
  // requests run one after another (each waits for the previous one's reads), on the models loaded when their turn comes
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
