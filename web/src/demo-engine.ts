// The demo's model work, written against the engine's public API only (no DOM, no fetch, no Node): builds the shipped
// VIAR of a data set (MNIST or Fashion-MNIST), its tokenizer and the LeNet classifier from checkpoint bytes, then
// generates, inpaints and edits one image at a time with per-scale previews, and reads each result with the classifier.

import {
  decodeSafetensors, createModel, iterationSchedule, inpaint, editClass, noGrad, tidy, tensor, softmax, add, mul, sub, reshape,
  dispose, keep, VIAR, VQVAE, LeNet, LENET_DEFAULTS, Rng, DIGIT_CLASS_NAMES, FASHION_CLASS_NAMES,
  type LeNetConfig, type ScaleProgress, type Tensor, type ViarConfig, type VqvaeConfig,
} from '../../src/index.js';
import { DEMO_DATA, type DemoData } from './data-sets.js';
import type { DoneMessage, EditRequest, GenerateRequest, ProgressMessage, ReadyMessage } from './protocol.js';

/** top-k / top-p of the page's sampler (those of `viar sample` and the main job). */
export const DEMO_SAMPLER = { topK: 60, topP: 0.96 } as const;

/** The raw checkpoint files the demo needs. */
export interface DemoCheckpoints {
  viar: Uint8Array;
  tokenizer: Uint8Array;
  classifier: Uint8Array;
}

/** The loaded models. */
export interface DemoModels {
  /** The data set they were loaded for. */
  data: DemoData;
  model: VIAR;
  vae: VQVAE;
  classifier: LeNet;
  /** The name of each class, indexed by label. */
  classNames: string[];
  /** Image side in pixels (32 for the shipped MNIST and Fashion-MNIST models). */
  side: number;
  info: ReadyMessage['model'];
}

/** Decodes a checkpoint and loads it into the module `build` makes from the file's metadata; the tensors are freed. */
function loadInto<M extends { loadStateDict(t: Map<string, Tensor>): unknown }>(bytes: Uint8Array, what: string, build: (metadata: Record<string, string>) => M): M {
  const { tensors, metadata } = decodeSafetensors(bytes);
  try {
    const module = build(metadata);
    module.loadStateDict(tensors);
    return module;
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** The names of classes 0..numClasses−1 of a data set (a class beyond its list is named by its index). */
export function demoClassNames(data: DemoData, numClasses: number): string[] {
  const names = data === 'fashion' ? FASHION_CLASS_NAMES : DIGIT_CLASS_NAMES;
  return Array.from({ length: numClasses }, (_, c) => names[c] ?? String(c));
}

/**
 * Builds the models of data set `data` from checkpoint bytes (configs from each file's metadata, as loadTransformer
 * and the CLI do). On failure whatever was built is freed.
 * @throws Error naming the checkpoint file when a file is not what the demo expects.
 */
export function loadDemoModels(files: DemoCheckpoints, data: DemoData = 'mnist'): DemoModels {
  const names = DEMO_DATA[data].files;
  const built: { dispose(): void }[] = [];
  const track = <M extends { dispose(): void }>(m: M): M => { built.push(m); return m; };
  try {
    let steps: number | null = null;
    const model = loadInto(files.viar, names.viar, (meta) => {
      if (meta.model !== 'viar' || !meta.config) throw new Error(`not a VIAR checkpoint (model '${meta.model ?? '?'}')`);
      steps = meta.step !== undefined ? Number(meta.step) : null;
      const m = track(createModel('viar', JSON.parse(meta.config) as ViarConfig, new Rng(0)));
      if (!(m instanceof VIAR)) throw new Error('createModel did not build a VIAR');
      return m;
    }).eval() as VIAR;
    const vae = loadInto(files.tokenizer, names.tokenizer, (meta) => {
      if (!meta.config) throw new Error("does not record its tokenizer config (metadata 'config')");
      return track(new VQVAE(JSON.parse(meta.config) as VqvaeConfig, new Rng(0)));
    }).eval() as VQVAE;
    const classifier = loadInto(files.classifier, names.classifier, (meta) =>
      track(new LeNet(meta.config ? (JSON.parse(meta.config) as LeNetConfig) : LENET_DEFAULTS, new Rng(0)))).eval() as LeNet;
    const c = model.config;
    // the tokenizer halves the resolution between its channel stages: the last scale's side × 2^(stages − 1) pixels
    const side = c.patchNums[c.patchNums.length - 1]! * 2 ** (vae.config.chMult.length - 1);
    return {
      data, model, vae, classifier, side, classNames: demoClassNames(data, c.numClasses),
      info: {
        description: model.describe(), parameters: model.numParameters(), patchNums: [...c.patchNums], numClasses: c.numClasses,
        defaultSchedule: iterationSchedule(c.implicit.schedule, model.numScales), trainedSteps: steps,
      },
    };
  } catch (err) {
    for (const m of built) m.dispose();
    throw err;
  }
}

/** Frees the models' tensors (before another data set's are loaded in their place). */
export function disposeDemoModels(models: DemoModels): void {
  models.model.dispose();
  models.vae.dispose();
  models.classifier.dispose();
}

/** One untimed generation with the checkpoint's schedule (the first call JIT-compiles and fills the buffer pool). */
export async function warmUp(models: DemoModels): Promise<number> {
  const t0 = performance.now();
  const r = models.model.sample(models.vae, { labels: [0], seed: 0, ...DEMO_SAMPLER });
  try {
    await r.image.data(); // on the GPU: wait for the work, not just its dispatch
  } finally {
    dispose(r);
  }
  return performance.now() - t0;
}

/** [1, 1, H, W] in [0, 1] → a plain grey plane (read asynchronously: on the GPU this is the one readback). */
async function toPlane(image: Tensor): Promise<Float32Array> {
  return Float32Array.from(await image.data());
}

/** The classifier's class and its softmax probability for a grey plane in [0, 1]. */
export async function classifyImage(models: DemoModels, image: Float32Array): Promise<{ predicted: number; confidence: number }> {
  const probs = tidy(() => noGrad(() => keep(softmax(models.classifier.forward(tensor(image, { shape: [1, 1, models.side, models.side] })), -1))));
  try {
    const p = Array.from(await probs.data());
    const predicted = p.indexOf(Math.max(...p));
    return { predicted, confidence: p[predicted]! };
  } finally {
    probs.dispose();
  }
}

type ProgressSink = (progress: Omit<ProgressMessage, 'type' | 'id'>) => void;

/**
 * onScale for the samplers: decodes f̂ after each scale into a preview and accounts the time it took. Where reads
 * are synchronous (CPU) each preview is posted at once; on the GPU the previews stay on the device and are read
 * and posted after the sampler returns (flush), so the sampling itself makes no readback.
 */
function previewer(models: DemoModels, sink: ProgressSink, clock: { ms: number }) {
  const pending: { p: ScaleProgress; image: Tensor }[] = [];
  const onScale = (p: ScaleProgress) => {
    const t0 = performance.now();
    const image = keep(mul(add(models.vae.fhatToImage(p.fHat), 1), 0.5));
    if (image.backend.canReadSync) {
      const plane = Float32Array.from(image.dataSync());
      image.dispose();
      clock.ms += performance.now() - t0;
      sink({ scale: p.scale, numScales: p.numScales, image: plane, iterations: p.iterations ?? 0, residuals: p.residuals ?? [] });
    } else {
      pending.push({ p: { ...p, residuals: p.residuals ? [...p.residuals] : [] }, image });
      clock.ms += performance.now() - t0;
    }
  };
  const flush = async () => {
    for (const { p, image } of pending) {
      const plane = await toPlane(image);
      image.dispose();
      sink({ scale: p.scale, numScales: p.numScales, image: plane, iterations: p.iterations ?? 0, residuals: p.residuals ?? [] });
    }
    pending.length = 0;
  };
  return { onScale, flush };
}

function samplerOptions(req: GenerateRequest | EditRequest) {
  return {
    seed: req.seed, cfg: req.cfg, ...DEMO_SAMPLER, iterSchedule: req.schedule,
    ...(req.earlyStopTol !== null ? { earlyStopTol: req.earlyStopTol } : {}),
  };
}

/** Draws one image of class req.label, reporting each scale to `sink`. */
export async function generateImage(models: DemoModels, req: GenerateRequest, sink: ProgressSink): Promise<Omit<DoneMessage, 'type' | 'id'>> {
  const clock = { ms: 0 };
  const preview = previewer(models, sink, clock);
  const t0 = performance.now();
  const r = models.model.sample(models.vae, { labels: [req.label], ...samplerOptions(req), onScale: preview.onScale });
  try {
    const image = await toPlane(r.image); // the time includes this read: on the GPU it waits for the work to finish
    const ms = performance.now() - t0 - clock.ms;
    await preview.flush();
    return { image, label: req.label, seed: req.seed, ms, previewMs: clock.ms, iterations: r.iterations, residuals: r.residuals, ...(await classifyImage(models, image)), tokensRegenerated: null };
  } finally {
    dispose(r);
  }
}

/** Regenerates the masked region of req.source (inpainting with its class, or editing towards req.label). */
export async function editImage(models: DemoModels, req: EditRequest, sink: ProgressSink): Promise<Omit<DoneMessage, 'type' | 'id'>> {
  const side = models.side;
  if (req.source.length !== side * side || req.mask.length !== side * side) throw new Error(`source and mask must be ${side}×${side}`);
  const clock = { ms: 0 };
  const source = tidy(() => sub(mul(reshape(tensor(req.source), [1, 1, side, side]), 2), 1));
  const mask = tensor(req.mask, { shape: [side, side] });
  try {
    await mask.prefetch(); // the editor reads the mask on the host (a no-op on the CPU)
    const preview = previewer(models, sink, clock);
    const opts = { ...samplerOptions(req), threshold: 0.5, keepCoarse: 3, onScale: preview.onScale };
    const t0 = performance.now();
    const r = req.mode === 'inpaint'
      ? inpaint(models.model, models.vae, source, mask, { ...opts, labels: [req.label] })
      : editClass(models.model, models.vae, source, mask, [req.label], opts);
    try {
      const image = await toPlane(r.image);
      const ms = performance.now() - t0 - clock.ms;
      await preview.flush();
      return {
        image, label: req.label, seed: req.seed, ms, previewMs: clock.ms, iterations: r.iterations ?? [], residuals: r.residuals ?? [],
        ...(await classifyImage(models, image)), tokensRegenerated: r.masks.map((m) => `${m.side}×${m.side}: ${m.count}/${m.side * m.side}`).join(', '),
      };
    } finally {
      dispose(r);
    }
  } finally {
    source.dispose();
    mask.dispose();
  }
}
