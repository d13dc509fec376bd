// Ours vs PyTorch on a shared machine: alternates bench/peers-torch.py and bench/peers.ts (and bench/simd-ceiling.ts)
// for several rounds and reports the median of each round's ratio, so that a neighbour's load, which moves both
// engines' figures by up to several × between minutes, cancels within a round.
// Run: npx tsx bench/peers-rounds.ts [--rounds 3] [--only block,viar-step,attention,matmul1024] [--json path]

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    only: { type: 'string', default: 'matmul1024,attention,block,viar-step' },
    json: { type: 'string', default: join(here, 'results', 'peers-rounds.json') },
  },
});
const rounds = Number(args.rounds);
const only = args.only!;
const work = mkdtempSync(join(tmpdir(), 'peers-rounds-'));

interface PeerRow { workload: string; impl: string; status: string; ms?: number; gflops?: number; oursOverPeer?: number }
interface Round { load: number[]; rows: PeerRow[]; ceiling: { peakUsed: number; rows: { kernel: string; gflops: number; fractionOfCeiling: number; bestFractionOfCeiling: number }[] } }

const run = (cmd: string, argv: string[]) => execFileSync(cmd, argv, { cwd: join(here, '..'), stdio: ['ignore', 'ignore', 'inherit'] });
const result: Round[] = [];
for (let r = 0; r < rounds; r++) {
  const load = loadavg();
  console.error(`round ${r + 1}/${rounds} (load ${load.map((l) => l.toFixed(2)).join(' ')})`);
  const torchJson = join(work, `torch-${r}.json`), oursJson = join(work, `ours-${r}.json`), ceilJson = join(work, `ceiling-${r}.json`);
  run('/usr/bin/python3', [join(here, 'peers-torch.py'), '--only', only, '--json', torchJson]);
  run('npx', ['tsx', join(here, 'peers.ts'), '--skip-slow', '--only', only, '--torch', torchJson, '--json', oursJson]);
  run('npx', ['tsx', join(here, 'simd-ceiling.ts'), '--json', ceilJson]);
  result.push({
    load,
    rows: (JSON.parse(readFileSync(oursJson, 'utf8')) as { results: PeerRow[] }).results,
    ceiling: JSON.parse(readFileSync(ceilJson, 'utf8')) as Round['ceiling'],
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const workloads = [...new Set(result.flatMap((r) => r.rows.map((x) => x.workload)))];
const summary: Record<string, Record<string, { perRound: number[]; median: number }>> = {};
console.log(`\nours / peer per round (median of the rounds), ${cpus()[0]?.model ?? 'cpu'}, ${cpus().length} cores:`);
for (const w of workloads) {
  summary[w] = {};
  const ours = result.map((r) => r.rows.find((x) => x.workload === w && x.impl === 'viar')?.ms ?? NaN);
  console.log(`  ${w}: ours ${ours.map((v) => v.toPrecision(3)).join(' / ')} ms`);
  for (const impl of ['torch-T1', 'torch-T2']) {
    const perRound = result.map((r) => r.rows.find((x) => x.workload === w && x.impl === impl)?.oursOverPeer ?? NaN);
    if (perRound.every(Number.isNaN)) continue;
    summary[w]![impl] = { perRound, median: median(perRound) };
    console.log(`    ours/${impl}: ${perRound.map((v) => v.toFixed(2)).join(' / ')} → median ${median(perRound).toFixed(2)}`);
  }
}
const matmulOfCeiling = result.map((r) => r.ceiling.rows.find((x) => x.kernel === 'matmul 1024')?.bestFractionOfCeiling ?? NaN);
console.log(`  matmul 1024 / wasm SIMD ceiling (best samples, same process): ${matmulOfCeiling.map((v) => (100 * v).toFixed(0) + ' %').join(' / ')}` +
  ` → median ${(100 * median(matmulOfCeiling)).toFixed(0)} %`);
writeFileSync(args.json!, JSON.stringify({
  date: new Date().toISOString(), cpu: cpus()[0]?.model, cpuCount: cpus().length, only, rounds: result, summary,
  matmul1024OfCeiling: { perRound: matmulOfCeiling, median: median(matmulOfCeiling) },
  method: 'each round: bench/peers-torch.py (1 and 2 threads), then bench/peers.ts --skip-slow (2 threads), then bench/simd-ceiling.ts; ratios within a round, medians over rounds',
}, null, 2) + '\n');
console.log(`wrote ${args.json}`);
