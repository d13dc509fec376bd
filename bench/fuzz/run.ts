// Differential fuzzer against PyTorch: generates N random programs (composed ops over views, float64, with
// gradients and second derivatives, a share ending in an invalid call), evaluates them on our engine, replays
// them in PyTorch (bench/fuzz/torch-runner.py, Debian's python3-torch: bench/fuzz/install-torch.sh) and prints
// how many agree, with the disagreements classified.
// Run: npx tsx bench/fuzz/run.ts --programs 2000 [--seed 1] [--invalid 0.05] [--python /usr/bin/python3]
//      [--keep programs.jsonl] [--report report.json] [--max-unexplained N]

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generate, keepNonFinite } from './generate.js';

const { values: opts } = parseArgs({
  options: {
    programs: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    invalid: { type: 'string', default: '0.05' },
    python: { type: 'string', default: '/usr/bin/python3' },
    keep: { type: 'string' },
    report: { type: 'string' },
    'max-unexplained': { type: 'string' },
  },
});

const n = Number(opts.programs), seed = Number(opts.seed), invalidShare = Number(opts.invalid);
if (!Number.isInteger(n) || n < 1) throw new Error(`--programs must be a positive integer, got ${opts.programs}`);

const here = dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'viar-fuzz-'));
const file = opts.keep ?? join(work, 'programs.jsonl');
const t0 = Date.now();
const lines: string[] = [];
for (let id = 0; id < n; id++) lines.push(JSON.stringify(generate(seed, id, invalidShare), keepNonFinite));
writeFileSync(file, `${lines.join('\n')}\n`);
console.log(`generated and evaluated ${n} programs on our engine in ${((Date.now() - t0) / 1000).toFixed(1)} s (seed ${seed})`);

const args = [join(here, 'torch-runner.py'), file];
if (opts.report) args.push('--report', opts.report);
if (opts['max-unexplained'] !== undefined) args.push('--max-unexplained', opts['max-unexplained']);
const r = spawnSync(opts.python, args, { stdio: 'inherit', env: { ...process.env, OMP_NUM_THREADS: '1' } });
if (!opts.keep) rmSync(work, { recursive: true, force: true });
if (r.error) {
  console.error(`could not run ${opts.python}: ${r.error.message} (install PyTorch with bench/fuzz/install-torch.sh)`);
  process.exit(2);
}
process.exit(r.status ?? 1);
