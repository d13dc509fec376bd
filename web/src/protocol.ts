// Messages between the demo page (main thread) and its model worker: the data set to load, requests for generation and
// region editing, per-scale progress, results and errors. Images travel as 32×32 grey planes in [0, 1] (Float32Array,
// row-major).

import type { DemoData } from './data-sets.js';

/** Sampler settings shared by every request. */
export interface SamplerSettings {
  seed: number;
  cfg: number;
  /** Implicit iterations per scale, one count per scale. */
  schedule: number[];
  /** Stop a scale's iterations once the relative step falls below this (null: run the whole schedule). */
  earlyStopTol: number | null;
}

/** Draw a new image of class `label`. */
export interface GenerateRequest extends SamplerSettings {
  type: 'generate';
  id: number;
  label: number;
}

/** Regenerate the masked region of `source`: inpainting (its own class) or editing towards another class. */
export interface EditRequest extends SamplerSettings {
  type: 'edit';
  id: number;
  /** 'inpaint' keeps the source's class; 'edit' conditions the region on `label`. */
  mode: 'inpaint' | 'edit';
  label: number;
  source: Float32Array;
  /** 1 = regenerate, same size as `source`. */
  mask: Float32Array;
}

/** The page's first message: where the checkpoints are, which data set's models to load and which backend to use. */
export interface InitRequest {
  type: 'init';
  /** Absolute URL of the folder holding the .safetensors files (ends with '/'). */
  checkpointsUrl: string;
  /** The data set whose checkpoints are loaded first. */
  data: DemoData;
  kernels: 'fast' | 'reference';
  /** 'auto' (default): the GPU when a hardware WebGPU adapter answers, else the CPU; 'gpu' / 'cpu' force one. */
  backend: 'auto' | 'gpu' | 'cpu';
}

/**
 * Switch to another data set's checkpoints (after the requests already sent): the worker answers with a new 'ready',
 * or with an error (id null) and keeps the models it had.
 */
export interface LoadRequest {
  type: 'load';
  data: DemoData;
}

export type WorkerRequest = InitRequest | LoadRequest | GenerateRequest | EditRequest;

/** What the worker reports once its models are loaded. */
export interface ReadyMessage {
  type: 'ready';
  /** e.g. 'cpu'. */
  backend: string;
  /** e.g. 'wasm-simd128+fma, 1 thread'. */
  mode: string;
  /** Where the model runs, e.g. 'Web Worker, not cross-origin isolated'. */
  where: string;
  model: { description: string; parameters: number; patchNums: number[]; numClasses: number; defaultSchedule: number[]; trainedSteps: number | null };
  /** The data set the models were trained on. */
  data: DemoData;
  /** The name of each class, indexed by label ('0' … '9', or 'T-shirt/top' … 'Ankle boot'). */
  classNames: string[];
  side: number;
  /** Fetching and loading the checkpoints. */
  loadMs: number;
  /** The untimed first generation (compiles the kernels, fills the buffer pool) that makes later times steady. */
  warmUpMs: number;
}

/** One scale done: the image decoded from the scales so far. */
export interface ProgressMessage {
  type: 'progress';
  id: number;
  scale: number;
  numScales: number;
  image: Float32Array;
  iterations: number;
  residuals: number[];
}

/** A finished request. */
export interface DoneMessage {
  type: 'done';
  id: number;
  image: Float32Array;
  label: number;
  seed: number;
  /** Sampler wall time (the per-scale previews excluded). */
  ms: number;
  /** Time spent decoding the per-scale previews. */
  previewMs: number;
  iterations: number[];
  residuals: number[][];
  /** The shipped LeNet's reading of the image. */
  predicted: number;
  confidence: number;
  /** Edits only: regenerated tokens per scale, e.g. '8×8: 16/64'. */
  tokensRegenerated: string | null;
}

export interface ErrorMessage {
  type: 'error';
  id: number | null;
  message: string;
}

export type WorkerMessage = ReadyMessage | ProgressMessage | DoneMessage | ErrorMessage;
