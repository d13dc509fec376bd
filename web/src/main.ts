// The demo page: switches between the data sets whose checkpoints are served (MNIST, Fashion-MNIST), builds the
// controls (class, seed, CFG, one iteration slider per scale and presets), talks to the model worker, paints each
// scale's preview as it arrives, shows time, iterations, the classifier's reading and the residual plot, and lets the
// user draw a mask to inpaint or edit a region of the current image.

import { iterationSchedule, type IterationSchedule } from '../../src/index.js';
import { DEMO_DATA, DEMO_DATA_SETS, DEMO_MANIFEST_FILE, parseDemoData, parseDemoManifest, type DemoData, type DemoManifest } from './data-sets.js';
import type { DoneMessage, EditRequest, GenerateRequest, ReadyMessage, WorkerMessage, WorkerRequest } from './protocol.js';
import { drawResidualPlot } from './residual-plot.js';

const MAX_ITERATIONS = 16;
const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const ui = {
  data: byId<HTMLSelectElement>('data'),
  dataNote: byId<HTMLSpanElement>('data-note'),
  backend: byId<HTMLParagraphElement>('backend'),
  modelInfo: byId<HTMLParagraphElement>('model-info'),
  classSelect: byId<HTMLSelectElement>('class'),
  seed: byId<HTMLInputElement>('seed'),
  randomSeed: byId<HTMLButtonElement>('random-seed'),
  cfg: byId<HTMLInputElement>('cfg'),
  cfgValue: byId<HTMLOutputElement>('cfg-value'),
  schedule: byId<HTMLDivElement>('schedule'),
  presets: byId<HTMLDivElement>('presets'),
  earlyStop: byId<HTMLSelectElement>('early-stop'),
  generate: byId<HTMLButtonElement>('generate'),
  image: byId<HTMLCanvasElement>('image'),
  mask: byId<HTMLCanvasElement>('mask'),
  scales: byId<HTMLDivElement>('scales'),
  brush: byId<HTMLInputElement>('brush'),
  showMask: byId<HTMLInputElement>('show-mask'),
  before: byId<HTMLElement>('before'),
  source: byId<HTMLCanvasElement>('source'),
  editCfg: byId<HTMLInputElement>('edit-cfg'),
  editCfgValue: byId<HTMLOutputElement>('edit-cfg-value'),
  maskCenter: byId<HTMLButtonElement>('mask-center'),
  clearMask: byId<HTMLButtonElement>('clear-mask'),
  inpaint: byId<HTMLButtonElement>('inpaint'),
  editClass: byId<HTMLSelectElement>('edit-class'),
  edit: byId<HTMLButtonElement>('edit'),
  time: byId<HTMLTableCellElement>('time'),
  iterations: byId<HTMLTableCellElement>('iterations'),
  classifier: byId<HTMLTableCellElement>('classifier'),
  tokens: byId<HTMLTableCellElement>('tokens'),
  plot: document.getElementById('residual-plot') as unknown as SVGSVGElement,
  status: byId<HTMLParagraphElement>('status'),
  result: byId<HTMLOutputElement>('result'),
};

/** What the page holds between requests. */
const state = {
  info: null as ReadyMessage | null,
  /** Which data sets the server has checkpoints for (checkpoints/demo-data.json). */
  manifest: null as DemoManifest | null,
  /** The data set being loaded (null once its 'ready' or error has come). */
  loading: null as DemoData | null,
  side: 32,
  sliders: [] as HTMLInputElement[],
  thumbnails: [] as HTMLCanvasElement[],
  /** The image shown (grey plane in [0, 1]) and its class: the source of inpainting and editing. */
  current: null as Float32Array | null,
  currentLabel: 0,
  /** Region edits of the current image so far: edit k draws with seed + k, so each one re-rolls the region. */
  edits: 0,
  mask: new Float32Array(32 * 32),
  nextId: 1,
  pending: null as { id: number; kind: 'generate' | 'inpaint' | 'edit' } | null,
  liveResiduals: [] as number[][],
};

const worker = new Worker(new URL('./model-worker.ts', import.meta.url), { type: 'module' });
const send = (req: WorkerRequest, transfer: Transferable[] = []) => worker.postMessage(req, transfer);

function setStatus(text: string, pageState?: 'loading' | 'ready' | 'busy' | 'error'): void {
  ui.status.textContent = text;
  if (pageState) document.body.dataset.state = pageState;
}

function setBusy(busy: boolean): void {
  busy ||= state.loading !== null;
  ui.data.disabled = busy;
  const ready = state.info !== null;
  ui.generate.disabled = busy || !ready;
  const hasMask = state.mask.some((v) => v > 0);
  ui.inpaint.disabled = busy || !ready || !state.current || !hasMask;
  ui.edit.disabled = busy || !ready || !state.current || !hasMask;
}

/** Paints a grey plane in [0, 1] onto a canvas of its size, tinting red where `mask` is set. */
function paint(canvas: HTMLCanvasElement, plane: Float32Array, mask?: Float32Array): void {
  const ctx = canvas.getContext('2d')!;
  const pixels = ctx.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < plane.length; i++) {
    const v = Math.round(255 * Math.min(1, Math.max(0, plane[i]!)));
    pixels.data.set(mask && mask[i]! > 0 ? [Math.round(110 + 0.57 * v), Math.round(0.6 * v), Math.round(0.6 * v), 255] : [v, v, v, 255], 4 * i);
  }
  ctx.putImageData(pixels, 0, 0);
}

function paintMask(): void {
  const ctx = ui.mask.getContext('2d')!;
  const pixels = ctx.createImageData(ui.mask.width, ui.mask.height);
  if (ui.showMask.checked) state.mask.forEach((m, i) => { if (m > 0) pixels.data.set([255, 40, 40, 90], 4 * i); });
  ctx.putImageData(pixels, 0, 0);
  setBusy(state.pending !== null);
}

const scaleLabels = () => (state.info?.model.patchNums ?? []).map((p) => `${p}×${p}`);
const schedule = () => state.sliders.map((s) => Number(s.value));

function setSchedule(values: readonly number[]): void {
  values.forEach((v, i) => {
    const slider = state.sliders[i];
    if (!slider) return;
    slider.value = String(v);
    slider.nextElementSibling!.textContent = String(v);
  });
}

/** A class as the page names it: the digit for MNIST, the label's name for Fashion-MNIST. */
const className = (label: number) => state.info?.classNames[label] ?? String(label);

/**
 * Builds the class menus, one slider per scale and the presets once the worker has described the model (again, from
 * scratch, after a switch of data set: the image, the mask and the numbers of the previous models are cleared).
 */
function buildControls(info: ReadyMessage): void {
  for (const select of [ui.classSelect, ui.editClass]) {
    select.replaceChildren(...Array.from({ length: info.model.numClasses }, (_, c) => new Option(info.classNames[c] ?? String(c), String(c))));
  }
  ui.schedule.replaceChildren();
  ui.presets.replaceChildren();
  ui.scales.replaceChildren();
  state.current = null;
  state.edits = 0;
  ui.before.hidden = true;
  for (const canvas of [ui.image, ui.mask]) canvas.getContext('2d')!.clearRect(0, 0, canvas.width, canvas.height);
  for (const cell of [ui.time, ui.iterations, ui.classifier, ui.tokens]) cell.textContent = '—';
  drawResidualPlot(ui.plot, [], []);
  ui.classSelect.value = '3';
  ui.editClass.value = '8';
  const n = info.model.patchNums.length;
  state.sliders = info.model.patchNums.map((p, i) => {
    const label = document.createElement('label');
    const slider = Object.assign(document.createElement('input'), { type: 'range', min: '0', max: String(MAX_ITERATIONS), step: '1', id: `iters-${i}` });
    slider.setAttribute('aria-label', `implicit iterations at scale ${p}×${p}`);
    const out = document.createElement('output');
    slider.addEventListener('input', () => { out.textContent = slider.value; });
    label.append(`${p}×${p}`, slider, out);
    ui.schedule.append(label);
    return slider;
  });
  setSchedule(info.model.defaultSchedule);
  const presets: [string, string, IterationSchedule][] = [
    ['1', '1 each', 1], ['default', `checkpoint's (${info.model.defaultSchedule.join(',')})`, info.model.defaultSchedule],
    ['8', '8 each', 8], ['8-1', '8 → 1', { left: 8, right: 1 }], ['1-8', '1 → 8', { left: 1, right: 8 }], ['0', 'none', 0],
  ];
  for (const [key, text, s] of presets) {
    const button = Object.assign(document.createElement('button'), { type: 'button', textContent: text });
    button.dataset.preset = key;
    button.addEventListener('click', () => setSchedule(iterationSchedule(s, n)));
    ui.presets.append(button);
  }
  state.thumbnails = info.model.patchNums.map((p) => {
    const figure = document.createElement('figure');
    const canvas = Object.assign(document.createElement('canvas'), { width: info.side, height: info.side });
    figure.append(canvas, Object.assign(document.createElement('figcaption'), { textContent: `${p}×${p}` }));
    ui.scales.append(figure);
    return canvas;
  });
}

function sampler(): Pick<GenerateRequest, 'seed' | 'cfg' | 'schedule' | 'earlyStopTol'> {
  const seed = Math.max(0, Math.floor(Number(ui.seed.value) || 0));
  return { seed, cfg: Number(ui.cfg.value), schedule: schedule(), earlyStopTol: ui.earlyStop.value ? Number(ui.earlyStop.value) : null };
}

function startRequest(kind: 'generate' | 'inpaint' | 'edit'): number {
  const id = state.nextId++;
  state.pending = { id, kind };
  state.liveResiduals = [];
  for (const t of state.thumbnails) t.getContext('2d')!.clearRect(0, 0, t.width, t.height);
  setBusy(true);
  setStatus(`${kind === 'generate' ? 'generating' : kind === 'inpaint' ? 'inpainting' : 'editing'}…`, 'busy');
  return id;
}

function generate(): void {
  const label = Number(ui.classSelect.value);
  state.edits = 0;
  ui.before.hidden = true;
  const id = startRequest('generate');
  send({ type: 'generate', id, label, ...sampler() });
}

function editRegion(mode: 'inpaint' | 'edit'): void {
  if (!state.current) return;
  const label = mode === 'inpaint' ? state.currentLabel : Number(ui.editClass.value);
  const id = startRequest(mode);
  // the same seed as the source would redraw the tokens the source already has (the draws follow plain sampling's)
  const settings = { ...sampler(), cfg: Number(ui.editCfg.value) };
  settings.seed += ++state.edits;
  paint(ui.source, state.current, state.mask);
  ui.before.hidden = false;
  const req: EditRequest = { type: 'edit', id, mode, label, source: state.current.slice(), mask: state.mask.slice(), ...settings };
  send(req, [req.source.buffer as ArrayBuffer, req.mask.buffer as ArrayBuffer]);
}

function showResult(done: DoneMessage, kind: 'generate' | 'inpaint' | 'edit'): void {
  paint(ui.image, done.image);
  state.current = done.image;
  state.currentLabel = done.label;
  const total = done.iterations.reduce((a, b) => a + b, 0);
  ui.time.textContent = `${done.ms.toFixed(0)} ms (+ ${done.previewMs.toFixed(0)} ms decoding the per-scale previews)`;
  ui.iterations.textContent = `[${done.iterations.join(', ')}], ${total} in all`;
  const agrees = done.predicted === done.label;
  ui.classifier.textContent = `${className(done.predicted)} (${(100 * done.confidence).toFixed(1)} %) — ${agrees ? 'the requested class' : `requested ${className(done.label)}`}`;
  ui.tokens.textContent = done.tokensRegenerated ?? '— (plain generation)';
  drawResidualPlot(ui.plot, done.residuals, scaleLabels());
  Object.assign(ui.result.dataset, {
    id: String(done.id), kind, label: String(done.label), seed: String(done.seed), predicted: String(done.predicted), confidence: done.confidence.toFixed(4),
    ms: done.ms.toFixed(2), iterations: JSON.stringify(done.iterations), residuals: JSON.stringify(done.residuals),
    tokens: done.tokensRegenerated ?? '',
  });
  const verb = kind === 'generate' ? `generated class ${className(done.label)}` : kind === 'inpaint' ? 'inpainted the region' : `edited the region towards class ${className(done.label)}`;
  setStatus(`${verb} (seed ${done.seed}) in ${done.ms.toFixed(0)} ms`, 'ready');
}

worker.addEventListener('message', (event: MessageEvent<WorkerMessage>) => {
  const msg = event.data;
  if (msg.type === 'ready') {
    state.info = msg;
    state.loading = null;
    showData(msg.data);
    state.side = msg.side;
    state.mask = new Float32Array(msg.side * msg.side);
    buildControls(msg);
    ui.backend.textContent = `backend: ${msg.backend} (${msg.mode}) · ${msg.where}`;
    ui.backend.dataset.backend = msg.backend;
    ui.backend.dataset.mode = msg.mode;
    const steps = msg.model.trainedSteps !== null ? `, ${msg.model.trainedSteps} training steps` : '';
    ui.modelInfo.textContent = `${DEMO_DATA[msg.data].title} · ${msg.model.description}: ${msg.model.parameters.toLocaleString('en-US')} parameters${steps}; ` +
      `checkpoints loaded in ${(msg.loadMs / 1000).toFixed(1)} s, one untimed warm-up image in ${(msg.warmUpMs / 1000).toFixed(1)} s.`;
    setBusy(false);
    setStatus(`ready (${DEMO_DATA[msg.data].title}): pick a class and generate`, 'ready');
    return;
  }
  if (msg.type === 'error') {
    if (state.pending && (msg.id === null || msg.id === state.pending.id)) state.pending = null;
    if (msg.id === null && state.loading !== null) {
      // the switch failed: the worker keeps the models it had (if any)
      state.loading = null;
      showData(state.info?.data ?? null);
    }
    setBusy(false);
    setStatus(`error: ${msg.message}`, 'error');
    return;
  }
  if (!state.pending || msg.id !== state.pending.id) return;
  if (msg.type === 'progress') {
    paint(ui.image, msg.image);
    const thumb = state.thumbnails[msg.scale];
    if (thumb) paint(thumb, msg.image);
    state.liveResiduals[msg.scale] = msg.residuals;
    drawResidualPlot(ui.plot, state.liveResiduals, scaleLabels());
    setStatus(`scale ${msg.scale + 1} of ${msg.numScales} (${msg.iterations} iterations)…`);
    return;
  }
  const { kind } = state.pending;
  state.pending = null;
  showResult(msg, kind);
  setBusy(false);
});

// mask drawing: pointer on the overlay canvas paints a disc of `brush` pixels
let drawing = false;
function brushAt(event: PointerEvent): void {
  const rect = ui.mask.getBoundingClientRect();
  const side = state.side;
  const cx = ((event.clientX - rect.left) / rect.width) * side, cy = ((event.clientY - rect.top) / rect.height) * side;
  const r = Number(ui.brush.value) / 2 + 0.5;
  for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(side, Math.ceil(cy + r)); y++) {
    for (let x = Math.max(0, Math.floor(cx - r)); x < Math.min(side, Math.ceil(cx + r)); x++) {
      if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r) state.mask[y * side + x] = 1;
    }
  }
  paintMask();
}
ui.mask.addEventListener('pointerdown', (e) => { drawing = true; ui.mask.setPointerCapture(e.pointerId); brushAt(e); });
ui.mask.addEventListener('pointermove', (e) => { if (drawing) brushAt(e); });
ui.mask.addEventListener('pointerup', () => { drawing = false; });
ui.mask.addEventListener('pointercancel', () => { drawing = false; });
ui.clearMask.addEventListener('click', () => { state.mask.fill(0); paintMask(); });
ui.maskCenter.addEventListener('click', () => {
  const s = state.side, q = Math.round(s / 4);
  for (let y = q; y < s - q; y++) state.mask.fill(1, y * s + q, y * s + s - q);
  paintMask();
});

ui.cfg.addEventListener('input', () => { ui.cfgValue.textContent = ui.cfg.value; });
ui.editCfg.addEventListener('input', () => { ui.editCfgValue.textContent = ui.editCfg.value; });
ui.showMask.addEventListener('change', paintMask);
ui.randomSeed.addEventListener('click', () => { ui.seed.value = String(Math.floor(Math.random() * 100_000)); });
ui.generate.addEventListener('click', generate);
ui.inpaint.addEventListener('click', () => editRegion('inpaint'));
ui.edit.addEventListener('click', () => editRegion('edit'));

/** Selects `data` in the switch (null: none loaded) and keeps it in the page's URL (?data=fashion; MNIST has none). */
function showData(data: DemoData | null): void {
  ui.data.value = data ?? '';
  const url = new URL(location.href);
  if (data === null || data === DEMO_DATA_SETS[0]) url.searchParams.delete('data'); else url.searchParams.set('data', data);
  history.replaceState(null, '', url);
}

/** Fills the data switch from the manifest: a data set without its checkpoints is listed as unavailable, with why. */
function buildDataSwitch(manifest: DemoManifest): void {
  ui.data.replaceChildren(...DEMO_DATA_SETS.map((d) => {
    const { available, reason } = manifest[d];
    const option = new Option(available ? DEMO_DATA[d].title : `${DEMO_DATA[d].title} (unavailable)`, d);
    option.disabled = !available;
    if (reason) option.title = reason;
    return option;
  }));
  const missing = DEMO_DATA_SETS.filter((d) => !manifest[d].available);
  ui.dataNote.textContent = missing.map((d) => `${DEMO_DATA[d].title} is unavailable: ${manifest[d].reason}`).join('; ');
}

/** Asks the worker for another data set's models (after any request in flight). */
function switchData(data: DemoData): void {
  if (state.loading !== null || data === state.info?.data) return;
  state.loading = data;
  setBusy(true);
  setStatus(`loading the ${DEMO_DATA[data].title} checkpoints…`, 'loading');
  send({ type: 'load', data });
}

ui.data.addEventListener('change', () => switchData(ui.data.value as DemoData));

/** checkpoints/demo-data.json, written by the build (and served by the dev server); without it, every data set is tried. */
async function fetchManifest(checkpointsUrl: string): Promise<DemoManifest> {
  try {
    const res = await fetch(new URL(DEMO_MANIFEST_FILE, checkpointsUrl));
    return parseDemoManifest(res.ok ? await res.json() : null);
  } catch {
    return parseDemoManifest(null);
  }
}

async function start(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const kernels = params.get('kernels') === 'reference' ? 'reference' : 'fast';
  const requestedBackend = params.get('backend');
  const backend = requestedBackend === 'gpu' || requestedBackend === 'cpu' ? requestedBackend : 'auto';
  const checkpointsUrl = new URL('checkpoints/', document.baseURI).href;
  setStatus('loading the checkpoints…', 'loading');
  state.manifest = await fetchManifest(checkpointsUrl);
  buildDataSwitch(state.manifest);
  // ?data=fashion asks for Fashion-MNIST; when its checkpoints are missing the page starts on MNIST and says why
  const requested = parseDemoData(params.get('data'));
  const data = state.manifest[requested].available ? requested : DEMO_DATA_SETS[0]!;
  state.loading = data;
  showData(data);
  setBusy(true);
  setStatus(`loading the ${DEMO_DATA[data].title} checkpoints…`, 'loading');
  send({ type: 'init', checkpointsUrl, data, kernels, backend });
}

void start();
