// Which backend new tensors live on: a registry of named backend factories and the current choice.

import type { Backend } from './backend.js';
import { CpuBackend } from './cpu/cpu-backend.js';
import { ArgumentError } from '../errors.js';

const factories = new Map<string, () => Backend>([['cpu', () => new CpuBackend()]]);
const instances = new Map<string, Backend>();
let current: Backend | null = null;

/** Makes a backend available under `name` (e.g. the gpu.js backend registers itself as 'gpu'). */
export function registerBackend(name: string, factory: () => Backend): void {
  factories.set(name, factory);
  instances.delete(name); // a re-registered backend replaces the cached instance
}

/** Whether a backend is registered under `name` (the gpu backend once initGpuBackend has started it). */
export function isBackendRegistered(name: string): boolean {
  return factories.has(name);
}

/** Switches the backend for tensors created from now on. */
export function setBackend(name: string): Backend {
  current = getBackendByName(name);
  return current;
}

export function getBackendByName(name: string): Backend {
  let be = instances.get(name);
  if (!be) {
    const factory = factories.get(name);
    if (!factory) {
      const hint = name === 'gpu' ? ": start it with await initGpuBackend({ mode: 'auto' | 'webgpu' | 'cpu' }) (WebGPU needs an asynchronous start)" : '';
      throw new ArgumentError('setBackend', `unknown backend '${name}' (registered: ${[...factories.keys()].join(', ')})${hint}`);
    }
    be = factory();
    instances.set(name, be);
  }
  return be;
}

/** The backend new tensors are created on (the CPU backend unless setBackend chose another). */
export function getBackend(): Backend {
  return current ?? (current = getBackendByName('cpu'));
}

/** Runs `fn` with `name` as the current backend (tensors it creates live there), then restores the previous one. */
export function withBackend<T>(name: string, fn: () => T): T {
  const previous = current;
  setBackend(name);
  try {
    return fn();
  } finally {
    current = previous;
  }
}
