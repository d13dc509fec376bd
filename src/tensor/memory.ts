// Memory ownership: tidy scopes dispose what they created, keep() opts out, and memory() reports live counts.

import type { Tensor } from './tensor.js';
import { getBackend } from './backend/registry.js';
import { liveGradNodes } from './graph/node.js';

const scopes: Set<Tensor>[] = [];
let liveTensors = 0;

/** Called by the Tensor constructor: the innermost tidy scope (if any) takes ownership. */
export function trackTensor(t: Tensor): void {
  liveTensors++;
  scopes[scopes.length - 1]?.add(t);
}

export function untrackTensor(t: Tensor): void {
  liveTensors--;
  scopes[scopes.length - 1]?.delete(t);
}

/** Removes t from every open scope so tidy will not dispose it. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

function collectTensors(value: unknown, into: Set<Tensor>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 8) return;
  if ((value as { isTensor?: boolean }).isTensor === true) {
    into.add(value as Tensor);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collectTensors(v, into, depth + 1);
  else if (value instanceof Map) for (const v of value.values()) collectTensors(v, into, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collectTensors(v, into, depth + 1);
}

/**
 * Runs fn and disposes every tensor created inside it, except the tensors it returns (found in arrays,
 * Maps and plain objects) and those passed to keep(). Returned tensors move to the enclosing scope.
 * @example const loss = tidy(() => mse(model.forward(x), y));
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw err;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new Error('tidy: fn returned a Promise; tidy is synchronous (await outside it, or dispose by hand)');
  }
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (survivors.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/** Disposes a tensor or every tensor in an array/object. */
export function dispose(value: unknown): void {
  const found = new Set<Tensor>();
  collectTensors(value, found);
  for (const t of found) t.dispose();
}

export interface MemoryReport {
  /** Live user-visible Tensor objects (views included; aliases a graph saved for backward are not counted). */
  numTensors: number;
  /** Live backend buffers and their bytes. */
  numDataBuffers: number;
  numBytes: number;
  /** Recorded graph nodes still alive. */
  numGradNodes: number;
}

export function memory(): MemoryReport {
  const be = getBackend().memory();
  return { numTensors: liveTensors, numDataBuffers: be.numDataBuffers, numBytes: be.numBytes, numGradNodes: liveGradNodes() };
}

/**
 * Fetches the values of every given tensor from an asynchronous backend (WebGPU) to the host at once, so that
 * synchronous reads of them (dataSync, item, saving a checkpoint) work afterwards; a no-op on the CPU backend.
 * @example await prefetch(model.parameters()); saveSafetensors(path, model.stateDict());
 */
export async function prefetch(tensors: Iterable<Tensor>): Promise<void> {
  await Promise.all([...tensors].map((t) => t.prefetch()));
}
