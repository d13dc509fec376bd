// Child process of the hostile-checkpoint test: loads mutations [from, from + count) of one shipped checkpoint with
// the library loader and prints one JSON line per case (outcome, error class and message, time, live tensors and
// bytes after the case, RSS), after a {"start": i} line, so a hang or crash names its case.
// Usage: node --import tsx test/hardening/load-runner.ts <checkpoint> <transformer|tokenizer|classifier> <seed> <from> <count> <dir>

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LeNet, LENET_DEFAULTS, Rng, loadModule, loadTransformer, loadVqvae, memory, readSafetensorsHeader, ViarError, type Module } from '../../src/index.js';
import { mutate } from './mutator.js';

const [checkpoint, loader, seedText, fromText, countText, dir] = process.argv.slice(2) as [string, string, string, string, string, string];
const original = new Uint8Array(readFileSync(checkpoint));
const from = Number(fromText), count = Number(countText), seed = Number(seedText);

/** Loads a file with the library loader under test; returns the module (to check and free). */
function load(path: string): Module {
  if (loader === 'transformer') return loadTransformer(path).model;
  if (loader === 'tokenizer') return loadVqvae(path).vae;
  const net = new LeNet(LENET_DEFAULTS, new Rng(0));
  try {
    loadModule(path, net);
  } catch (err) {
    net.dispose();
    throw err;
  }
  return net;
}

/** Elements the file holds, to compare with what the loaded module holds (a correct load holds all of them). */
function headerElements(path: string): number {
  let n = 0;
  for (const t of readSafetensorsHeader(path).tensors.values()) n += t.shape.reduce((a, b) => a * b, 1);
  return n;
}

for (let i = from; i < from + count; i++) {
  const { op, bytes } = mutate(original, seed, i);
  const path = join(dir, `case-${seed}-${i}.safetensors`);
  writeFileSync(path, bytes);
  process.stdout.write(`${JSON.stringify({ start: i })}\n`);
  const before = memory();
  const t0 = performance.now();
  let outcome: 'ok' | 'error' = 'ok', errorName = '', message = '', correct: boolean | null = null;
  try {
    const module = load(path);
    let elements = 0;
    for (const t of module.stateDict().values()) elements += t.size;
    correct = elements === headerElements(path);
    module.dispose();
  } catch (err) {
    outcome = 'error';
    errorName = err instanceof ViarError ? `ViarError:${(err as Error).name}` : (err as Error)?.name ?? typeof err;
    message = String((err as Error)?.message ?? err);
  }
  const after = memory();
  process.stdout.write(`${JSON.stringify({
    i, op, outcome, errorName, message, correct, path, ms: Math.round(performance.now() - t0),
    leakedTensors: after.numTensors - before.numTensors, leakedBytes: after.numBytes - before.numBytes, rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  })}\n`);
}
