// Quality versus training budget, VAR against VIAR over seeds, on one GPU: every run of experiments/lib/budget-plan.ts
// trained by `viar train`, one run after another (each in a fresh process: a long-lived one ran out of device memory
// after a few runs), resumable across calls; each finished run evaluated by `viar eval` on the spare CPU cores.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as V from '../src/index.js';
import { RESULTS_DIR, runInfo, writeJson } from './lib/common.js';
import { parseTrainingLog } from './lib/training-log.js';
import {
  BUDGET_KINDS, budgetPlan, medianStepMs, runDir, runLabel, summarizeBudgets, trainSettings, type BudgetKind, type BudgetRun, type BudgetRunResult,
} from './lib/budget-plan.js';

const HELP = `npx tsx experiments/budget-curve.ts [options]
  Trains VAR, VIAR (shipped iteration ranges) and VIAR with the official ranges (k 0..10, m 1..12) over seeds at
  several step budgets (each budget its own run with its own cosine), plus Fashion-MNIST generators, with viar train
  in this process, cheapest budgets first; evaluates each finished run with viar eval (FID-proxy, agreement,
  precision/recall) in child processes. State lives in ROOT/campaign.json (or, on a fresh machine, the runs of --out):
  call again to continue where it stopped.
  --budgets 250,1000,3000   steps per run (batch --batch)      --seeds 0,1,2     --kinds ${BUDGET_KINDS.join(',')}
  --fashion-kinds var,viar  --fashion-steps N (default: the largest budget; --fashion-kinds '' for none)
  --config small (micro for a smoke test)   --batch 16   --backend gpu|cpu (default gpu)   --no-capture (eager steps)
  --minutes M               stop cleanly before M minutes (training saves; unfinished evaluations rerun next call)
  --root DIR (default checkpoints/budget, git-ignored)   --out FILE (default ${RESULTS_DIR}/budget-curve.json)
  --eval-per-class N (default 100)   --eval-jobs J (default 6)   --eval-threads T (default 2)   --eval-data mnist[,fashion]
  --cli PATH (default src/cli/viar.ts; a bundle's viar.mjs on a machine without tsx)   --threads T (tokenizing)`;

const { values: a } = parseArgs({
  options: {
    budgets: { type: 'string' }, seeds: { type: 'string' }, kinds: { type: 'string' }, 'fashion-kinds': { type: 'string' }, 'fashion-steps': { type: 'string' },
    config: { type: 'string' }, batch: { type: 'string' }, backend: { type: 'string' }, 'no-capture': { type: 'boolean' }, minutes: { type: 'string' },
    root: { type: 'string' }, out: { type: 'string' }, 'eval-per-class': { type: 'string' }, 'eval-jobs': { type: 'string' }, 'eval-threads': { type: 'string' },
    'eval-data': { type: 'string' }, cli: { type: 'string' }, threads: { type: 'string' }, help: { type: 'boolean' },
  },
});
if (a.help) { console.log(HELP); process.exit(0); }

function ints(name: string, value: string | undefined, fallback: number[]): number[] {
  if (value === undefined) return fallback;
  if (value === '') return [];
  const list = value.split(',').map(Number);
  if (!list.every((n) => Number.isInteger(n) && n >= 0)) throw new Error(`budget-curve: --${name} must be a comma-separated list of non-negative integers, got '${value}'`);
  return list;
}
function kinds(name: string, value: string | undefined, fallback: readonly BudgetKind[]): BudgetKind[] {
  if (value === undefined) return [...fallback];
  const list = value.split(',').filter(Boolean);
  for (const k of list) if (!BUDGET_KINDS.includes(k as BudgetKind)) throw new Error(`budget-curve: --${name} takes ${BUDGET_KINDS.join(', ')}, got '${k}'`);
  return list as BudgetKind[];
}
const one = (name: string, value: string | undefined, fallback: number) => ints(name, value, [fallback])[0] ?? fallback;

const budgets = ints('budgets', a.budgets, [250, 1000, 3000]);
if (!budgets.length || budgets.some((b) => b < 1)) throw new Error('budget-curve: --budgets needs at least one positive step count');
const plan = budgetPlan({
  budgets, seeds: ints('seeds', a.seeds, [0, 1, 2]), kinds: kinds('kinds', a.kinds, BUDGET_KINDS),
  fashionKinds: kinds('fashion-kinds', a['fashion-kinds'], ['var', 'viar']), fashionSteps: one('fashion-steps', a['fashion-steps'], Math.max(...budgets)),
});
const baseConfig = a.config ?? 'small';
const backend = a.backend ?? 'gpu';
if (backend !== 'gpu' && backend !== 'cpu') throw new Error(`budget-curve: --backend must be gpu or cpu, got '${backend}'`);
const batch = one('batch', a.batch, 16);
const root = a.root ?? 'checkpoints/budget';
const out = a.out ?? `${RESULTS_DIR}/budget-curve.json`;
const evalPerClass = one('eval-per-class', a['eval-per-class'], 100);
const evalJobs = Math.max(1, one('eval-jobs', a['eval-jobs'], 6));
const evalThreads = one('eval-threads', a['eval-threads'], 2);
const evalData = new Set((a['eval-data'] ?? 'mnist').split(',').filter(Boolean));
const cli = a.cli ?? 'src/cli/viar.ts';
const threads = one('threads', a.threads, 4);
const started = performance.now();
const deadline = a.minutes !== undefined ? started + Number(a.minutes) * 60_000 : Infinity;
if (!(deadline > started)) throw new Error(`budget-curve: --minutes must be a positive number, got '${a.minutes}'`);
const minutesLeft = () => (deadline - performance.now()) / 60_000;

// ---- state: one record per run, kept in ROOT/campaign.json (written atomically after every change)
const statePath = join(root, 'campaign.json');
mkdirSync(root, { recursive: true });
const key = (r: BudgetRun) => `${r.data}|${r.kind}|${r.seed}|${r.steps}`;
// a fresh machine starts from the committed results: evaluated runs are kept, the rest trained again
const saved: BudgetRunResult[] = existsSync(statePath) ? JSON.parse(readFileSync(statePath, 'utf8')).runs
  : existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')).runs : [];
const results = new Map(saved.map((r) => [key(r), r]));
const weightsOf = (run: BudgetRun) => join(runDir(root, run), `${trainSettings(run.kind, baseConfig).model}-${run.data}.safetensors`);
for (const run of plan) {
  const r = results.get(key(run));
  // a run trained on a machine that is gone (its weights with it) and not evaluated there is trained again
  if (!r || (!r.eval && r.trainedSteps > 0 && !existsSync(weightsOf(run)))) {
    results.set(key(run), { ...run, parameters: null, trainedSteps: 0, trainSeconds: 0, msPerStep: null, valLoss: null, valAccuracy: null, eval: null });
  }
}
function saveState(): void {
  const tmp = `${statePath}.tmp`;
  writeFileSync(tmp, JSON.stringify({ runs: [...results.values()] }, null, 2) + '\n');
  renameSync(tmp, statePath);
}
saveState();
let device = `cpu backend (${V.describeCpuKernels()})`;

/** Runs `viar <args>` in a child process; resolves with its exit code and output (printed as it comes when `echo`). */
function viar(args: string[], echo: boolean, onStart?: (child: ChildProcess) => void): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let watchdog: NodeJS.Timeout | undefined;
    const take = (d: Buffer) => {
      output += d;
      if (echo) process.stdout.write(d);
      // `viar train` has said its last line: a child that does not leave soon after is stopped
      if (!watchdog && /^(done: |stopped at step )/m.test(output)) watchdog = setTimeout(() => child.kill(), 20_000);
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    onStart?.(child);
    child.on('exit', (code) => { clearTimeout(watchdog); resolve({ code: code ?? (/^done: /m.test(output) ? 0 : null), output }); });
  });
}

// ---- evaluations: child processes of `viar eval`, at most evalJobs at once
const running = new Set<ChildProcess>();
const queue: BudgetRun[] = [];
const waiters: (() => void)[] = [];
function startEvaluations(): void {
  while (running.size < evalJobs && queue.length) {
    const run = queue.shift()!;
    const dir = runDir(root, run);
    const file = join(dir, 'eval.json');
    const args = ['eval', '--data', run.data, '--checkpoint', weightsOf(run), '--out', file, '--per-class', String(evalPerClass), '--threads', String(evalThreads), '--quiet'];
    let child: ChildProcess;
    console.log(`eval started: ${runLabel(run)}`);
    void viar(args, false, (c) => { child = c; running.add(c); }).then(({ code, output }) => {
      running.delete(child);
      writeFileSync(join(dir, 'eval.log'), output);
      const r = results.get(key(run))!;
      if (code === 0 && existsSync(file)) {
        const e = JSON.parse(readFileSync(file, 'utf8'));
        r.eval = {
          fidProxy: e.fidProxy, floor: e.reference.fidProxyTrainVsTest, agreement: e.agreement, precision: e.precision, recall: e.recall,
          msPerImage: e.samples.msPerImage, samples: e.samples.total,
        };
        saveState();
        console.log(`eval done: ${runLabel(run)}: FID-proxy ${e.fidProxy.toFixed(1)} (floor ${r.eval.floor.toFixed(1)}), agreement ${(100 * e.agreement).toFixed(1)} %`);
      } else {
        console.log(`eval failed (${code}): ${runLabel(run)}: ${output.trim().split('\n').slice(-3).join(' | ')}`);
      }
      startEvaluations();
      if (!running.size && !queue.length) waiters.splice(0).forEach((w) => w());
    });
  }
}
function evaluate(run: BudgetRun): void {
  if (!evalData.has(run.data) || results.get(key(run))!.eval) return;
  queue.push(run);
  startEvaluations();
}
const evaluationsDone = () => new Promise<void>((resolve) => { if (!running.size && !queue.length) resolve(); else waiters.push(resolve); });

// ---- training, in plan order
for (const run of plan) {
  const r = results.get(key(run))!;
  if (r.trainedSteps >= run.steps) { evaluate(run); continue; }
  const left = minutesLeft();
  if (left < 0.5) { console.log(`time budget reached before ${runLabel(run)}`); break; }
  const { model, config } = trainSettings(run.kind, baseConfig);
  const dir = runDir(root, run);
  console.log(`train: ${runLabel(run)} (${model} '${config}', ${left.toFixed(1)} min left)`);
  const t0 = performance.now();
  const { code, output } = await viar(['train',
    '--model', model, '--config', config, '--data', run.data, '--steps', String(run.steps), '--seed', String(run.seed), '--batch', String(batch),
    '--out', dir, '--resume', '--backend', backend, ...(a['no-capture'] ? [] : ['--capture']), '--sample-every', String(run.steps),
    '--log-every', String(Math.max(1, Math.min(100, Math.floor(run.steps / 10)))), '--threads', String(threads),
    ...(Number.isFinite(left) ? ['--minutes', left.toFixed(2)] : []),
  ], true);
  r.trainSeconds += (performance.now() - t0) / 1000;
  device = /^backend: (.*)$/m.exec(output)?.[1] ?? device;
  if (code !== 0 || !existsSync(weightsOf(run))) { console.log(`train failed (${code}): ${runLabel(run)}`); saveState(); continue; }
  const meta = V.readSafetensorsMetadata(weightsOf(run));
  r.trainedSteps = Number(meta.step);
  r.parameters = V.loadTransformer(weightsOf(run)).model.numParameters();
  const logText = readFileSync(join(dir, `${model}-${run.data}.log`), 'utf8');
  const log = parseTrainingLog(logText);
  r.valLoss = log.valLoss;
  r.valAccuracy = log.valAccuracy;
  r.msPerStep = medianStepMs(logText);
  saveState();
  if (r.trainedSteps >= run.steps) evaluate(run);
}

// ---- wait for the evaluations within the budget; those cut off run again on the next call
if (running.size || queue.length) {
  console.log(`waiting for ${running.size + queue.length} evaluation(s)`);
  const timeout = Number.isFinite(deadline) ? new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, deadline - performance.now()))) : new Promise<void>(() => {});
  await Promise.race([evaluationsDone(), timeout]);
  queue.length = 0;
  for (const child of running) child.kill();
}

// runs of this plan, and those of earlier plans that got anywhere (a never-trained run of an old plan is dropped)
const planned = new Set(plan.map(key));
const all = [...results.values()].filter((r) => planned.has(key(r)) || r.trainedSteps > 0);
writeJson(out, {
  ...runInfo('experiments/budget-curve.ts', process.argv.slice(2)), device, batch, baseConfig, evalPerClass,
  complete: plan.every((run) => { const r = results.get(key(run))!; return r.trainedSteps >= r.steps && (!evalData.has(r.data) || r.eval); }),
  runs: all, summary: summarizeBudgets(all),
});
console.log(`wrote ${out}: ${all.filter((r) => r.trainedSteps >= r.steps).length}/${all.length} runs trained, ${all.filter((r) => r.eval).length} evaluated (${((performance.now() - started) / 60_000).toFixed(1)} min)`);
process.exit(0);
