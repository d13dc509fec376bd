// Hostile checkpoints through the library loaders: a few hundred seeded mutations of the shipped checkpoints, loaded
// in child processes (batched, with time and memory limits). Every case must be a correct load or a one-line engine
// error naming the file, with no tensor leaked, no hang and bounded memory growth.

import { describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runChild, twoAtATime } from './child.js';

const runner = join(repoRoot, 'test/hardening/load-runner.ts');

/** Which shipped file, through which loader, how many mutations and with which seed. */
const PLAN = [
  { file: 'checkpoints/viar-mnist.safetensors', loader: 'transformer', seed: 21, count: 150 },
  { file: 'checkpoints/var-mnist.safetensors', loader: 'transformer', seed: 22, count: 60 },
  { file: 'checkpoints/tokenizer-mnist.safetensors', loader: 'tokenizer', seed: 23, count: 150 },
  { file: 'checkpoints/classifier-mnist.safetensors', loader: 'classifier', seed: 24, count: 60 },
] as const;
const BATCH = 75;
const CHILD_TIMEOUT_MS = 240_000;
const CHILD_HEAP_MIB = 768;
/** RSS may grow this much over a batch after its first cases (the data of one case is a few MiB). */
const RSS_GROWTH_MIB = 256;

interface CaseResult {
  i: number; op: string; outcome: 'ok' | 'error'; errorName: string; message: string; correct: boolean | null; path: string;
  ms: number; leakedTensors: number; leakedBytes: number; rssMiB: number;
}

describe('hostile checkpoints (seeded mutations of the shipped files)', () => {
  test(`${PLAN.reduce((n, p) => n + p.count, 0)} mutations load correctly or fail with one line naming the file, without leaks`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'viar-hardening-'));
    try {
      const jobs = PLAN.flatMap((p) => Array.from({ length: Math.ceil(p.count / BATCH) }, (_, b) => ({ ...p, from: b * BATCH, n: Math.min(BATCH, p.count - b * BATCH) })));
      const results: CaseResult[] = [];
      const problems: string[] = [];
      await twoAtATime(jobs, async (job) => {
        const r = await runChild(runner, [job.file, job.loader, String(job.seed), String(job.from), String(job.n), dir], { heapMiB: CHILD_HEAP_MIB, timeoutMs: CHILD_TIMEOUT_MS });
        const parsed = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as CaseResult & { start?: number });
        const cases = parsed.filter((x) => x.start === undefined);
        const lastStart = parsed.filter((x) => x.start !== undefined).at(-1)?.start;
        if (r.code !== 0 || cases.length !== job.n) {
          problems.push(`${job.file} seed ${job.seed} cases ${job.from}..${job.from + job.n - 1}: child ended with code ${r.code} signal ${r.signal} after ${cases.length} cases (last started: ${lastStart}); stderr: ${r.stderr.slice(0, 300)}`);
        }
        const warm = cases[Math.min(4, cases.length - 1)]?.rssMiB ?? 0;
        const peak = Math.max(0, ...cases.map((c) => c.rssMiB));
        if (peak - warm > RSS_GROWTH_MIB) problems.push(`${job.file} cases ${job.from}..: RSS grew from ${warm} to ${peak} MiB`);
        for (const c of cases) {
          const where = `${job.file} seed ${job.seed} case ${c.i} (${c.op})`;
          if (c.leakedTensors !== 0 || c.leakedBytes !== 0) problems.push(`${where}: leaked ${c.leakedTensors} tensors, ${c.leakedBytes} bytes`);
          if (c.outcome === 'ok' && c.correct !== true) problems.push(`${where}: loaded, but the module does not hold the file's tensors`);
          if (c.outcome === 'error') {
            if (!c.errorName.startsWith('ViarError')) problems.push(`${where}: ${c.errorName} instead of an engine error: ${c.message}`);
            if (c.message.includes('\n')) problems.push(`${where}: message of several lines`);
            if (!c.message.includes(c.path)) problems.push(`${where}: message does not name the file: ${c.message}`);
          }
        }
        results.push(...cases);
      });
      const counts: Record<string, number> = {};
      for (const c of results) {
        const key = c.outcome === 'ok' ? 'loaded' : c.errorName.replace('ViarError:', '');
        counts[key] = (counts[key] ?? 0) + 1;
      }
      console.log(`hostile checkpoints: ${results.length} cases: ${JSON.stringify(counts)}; slowest ${Math.max(...results.map((c) => c.ms))} ms`);
      expect(problems).toEqual([]);
      expect(results.length).toBe(PLAN.reduce((n, p) => n + p.count, 0));
      // the mutator reaches both sides: refused files and files that still load
      expect(counts.loaded).toBeGreaterThan(0);
      expect(results.length - counts.loaded!).toBeGreaterThan(results.length / 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
