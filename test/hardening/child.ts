// Child processes for the hardening tests: a TypeScript entry run under tsx with a heap limit and a wall-clock limit
// (SIGKILL), its output collected; and a pool that runs jobs two at a time (CI has 2 cores).

import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface ChildResult { code: number | null; signal: string | null; stdout: string; stderr: string; ms: number }

/** Runs `node --import tsx --max-old-space-size=<heapMiB> <entry> ...args` in the repository root. */
export function runChild(entry: string, args: string[], limits: { heapMiB: number; timeoutMs: number }): Promise<ChildResult> {
  const start = performance.now();
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `--max-old-space-size=${limits.heapMiB}`, entry, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), limits.timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr, ms: performance.now() - start });
    });
  });
}

/** Runs `work` on every job, two at a time. */
export async function twoAtATime<T>(jobs: readonly T[], work: (job: T) => Promise<void>): Promise<void> {
  const queue = [...jobs];
  const worker = async () => {
    for (let job = queue.shift(); job !== undefined; job = queue.shift()) await work(job);
  };
  await Promise.all([worker(), worker()]);
}
