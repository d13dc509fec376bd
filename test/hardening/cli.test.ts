// Hostile command lines and hostile checkpoints through the real CLI processes (viar and npm start's main job), two at
// a time under a time limit: every case exits ≠ 0 with one stderr line naming the option or file (no stack trace),
// or succeeds and writes where it was told; no committed file changes, and a failed process never lingers.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mutate } from './mutator.js';
import { repoRoot as root, runChild, twoAtATime, type ChildResult } from './child.js';

const CASE_TIMEOUT_MS = 60_000;
let tmp: string;

interface Case {
  /** 'main' runs src/cli/main-job.ts, anything else is a viar command. */
  command: string;
  args: string[];
  /** The error must contain this (the option or file it blames); absent for cases that must succeed. */
  names?: string;
  /** A file the successful case must have written. */
  writes?: string;
}

function run(c: Case): Promise<ChildResult> {
  const entry = c.command === 'main' ? 'src/cli/main-job.ts' : 'src/cli/viar.ts';
  return runChild(entry, c.command === 'main' ? c.args : [c.command, ...c.args], { heapMiB: 1024, timeoutMs: CASE_TIMEOUT_MS });
}

/** SHA-256 of every committed result and checkpoint a command writes by default (docs/*.json, checkpoints/*). */
function committedHashes(): Map<string, string> {
  const files = spawnSync('git', ['ls-files', 'docs/*.json', 'checkpoints/*'], { cwd: root, encoding: 'utf8' }).stdout.split('\n').filter((f) => f && !f.includes('/matched'));
  return new Map(files.filter((f) => existsSync(join(root, f))).map((f) => [f, createHash('sha256').update(readFileSync(join(root, f))).digest('hex')]));
}

const VIAR = 'checkpoints/viar-mnist.safetensors';
const TOK = 'checkpoints/tokenizer-mnist.safetensors';

function hostileCommandLines(): Case[] {
  const t = (name: string) => join(tmp, name);
  const fifo = t('fifo.safetensors'), folder = t('folder'), png = t('ok.png');
  const sample = (args: string[], names?: string): Case => ({ command: 'sample', args: ['--checkpoint', VIAR, ...args], ...(names ? { names } : {}) });
  const cases: Case[] = [
    // viar sample: counts, seeds, sampler options, output targets, checkpoints
    ...['0', '99999999999999999999'].map((n) => sample(['--n', n, '--out', png], '--n')),
    ...['4294967296', '1e20'].map((s) => sample(['--seed', s, '--out', png], '--seed')),
    ...['1e308'].map((v) => sample(['--cfg', v, '--out', png], '--cfg')),
    sample(['--top-p', '2', '--out', png], '--top-p'),
    sample(['--iters', '1e20', '--out', png], '--iters'),
    sample(['--schedule', '1000000,1000000', '--out', png], '--schedule'),
    sample(['--schedule-list', '1,2', '--out', png], 'scales'), sample(['--class', '99', '--out', png], '--class'),
    sample(['--class', '0', '--n', '1000', '--tol', '-1', '--out', png], '--tol'),
    sample(['--threads', '100000', '--out', png], '--threads'),
    sample(['--out', '/dev/full'], '/dev/full'), sample(['--out', ''], '--out'), sample(['--out', folder], folder),
    sample(['--out', '/proc/self/x.png'], '/proc/self/x.png'), sample(['--out', 'README.md/x.png'], 'README.md'),
    sample(['--bogus', '1'], '--bogus'), sample(['stray'], 'stray'), sample(['--tokenizer', folder, '--out', png], folder),
    sample(['--tokenizer', fifo, '--out', png], fifo),
    { command: 'sample', args: ['--checkpoint', folder], names: folder }, { command: 'sample', args: ['--checkpoint', fifo], names: fifo },
    { command: 'sample', args: ['--checkpoint', t('missing.safetensors')], names: 'missing.safetensors' },
    { command: 'sample', args: ['--checkpoint', 'README.md'], names: 'README.md' },
    { command: 'sample', args: ['--checkpoint', TOK, '--out', png], names: TOK },
    // train-tokenizer / eval-tokenizer / reconstruct (docs/tokenizer-mnist.json must survive)
    { command: 'train-tokenizer', args: ['--config', 'foo'], names: '--config' }, { command: 'train-tokenizer', args: ['--steps', 'abc'], names: '--steps' },
    { command: 'train-tokenizer', args: ['--steps', '1', '--batch', '0'], names: '--batch' }, { command: 'train-tokenizer', args: ['--lr', '5'], names: '--lr' },
    { command: 'train-tokenizer', args: ['--out', '/dev/full'], names: '/dev/full' },
    { command: 'train-tokenizer', args: ['--out', ''], names: '--out' }, { command: 'train-tokenizer', args: ['--grid-every', '0'], names: '--grid-every' },
    { command: 'train-tokenizer', args: ['--out', t('tok.bin')], names: '--out' },
    ...['abc', '0', '1e9'].map((n): Case => ({ command: 'eval-tokenizer', args: ['--count', n], names: '--count' })),
    { command: 'eval-tokenizer', args: ['--data', 'cifar'], names: '--data' }, { command: 'eval-tokenizer', args: ['--checkpoint', fifo], names: fifo },
    { command: 'reconstruct', args: ['--count', '1e9'], names: '--count' },
    { command: 'reconstruct', args: ['--out-dir', '/proc/x'], names: '/proc/x' }, { command: 'reconstruct', args: ['--out-dir', 'README.md'], names: 'README.md' },
    { command: 'reconstruct', args: ['--checkpoint', folder], names: folder },
    // train / encode-tokens
    { command: 'train', args: ['--model', 'var', '--data', 'mnist', '--steps', '1e20'], names: '--steps' },
    { command: 'train', args: ['--model', 'var', '--data', 'mnist', '--batch', '0'], names: '--batch' },
    { command: 'train', args: ['--model', 'var', '--data', 'mnist', '--seed', '4294967296'], names: '--seed' },
    { command: 'train', args: ['--model', 'var', '--data', 'mnist', '--out', '/dev/full', '--steps', '1'], names: '/dev/full' },
    { command: 'encode-tokens', args: ['--data', 'mnist', '--tokenizer', fifo], names: fifo },
    // inpaint / edit
    { command: 'inpaint', args: ['--checkpoint', VIAR, '--count', '0'], names: '--count' },
    { command: 'inpaint', args: ['--checkpoint', VIAR, '--index', '-1'], names: '--index' },
    { command: 'inpaint', args: ['--checkpoint', VIAR, '--index', '99999999', '--out', png], names: '--index' },
    { command: 'inpaint', args: ['--checkpoint', VIAR, '--threshold', '2', '--out', png], names: '--threshold' },
    { command: 'inpaint', args: ['--checkpoint', VIAR, '--mask', 'bogus', '--count', '1', '--out', png], names: 'bogus' },
    { command: 'inpaint', args: ['--checkpoint', VIAR, '--out', '/dev/full'], names: '/dev/full' },
    { command: 'edit', args: ['--checkpoint', VIAR, '--to-class', '99', '--out', png], names: '--to-class' },
    { command: 'edit', args: ['--checkpoint', VIAR, '--to-class', '1', '--seed', '4294967296'], names: '--seed' },
    { command: 'inpaint', args: ['--checkpoint', fifo], names: fifo },
    // eval
    { command: 'eval', args: ['--per-class', '1'], names: '--per-class' }, { command: 'eval', args: ['--per-class', '99999'], names: '--per-class' },
    { command: 'eval', args: ['--seed', '4294967'], names: '--seed' }, { command: 'eval', args: ['--out-dir', '/proc/x'], names: '/proc/x' },
    { command: 'eval', args: ['--checkpoint', folder], names: folder },
    // npm start (the main job)
    { command: 'main', args: ['--per-class', '0'], names: '--per-class' }, { command: 'main', args: ['--seed', '-1'], names: '--seed' },
    { command: 'main', args: ['--out', '/proc/x', '--quiet'], names: '/proc/x' }, { command: 'main', args: ['--out', '/dev/full', '--quiet'], names: '/dev/full' },
    { command: 'main', args: ['--schedule', '1,2,3', '--quiet', '--out', t('main')], names: 'scales' },
    { command: 'main', args: ['--model', fifo], names: fifo },
    // must succeed, writing only where told
    { command: 'sample', args: ['--checkpoint', VIAR, '--n', '1', '--class', '3', '--iters', '1', '--seed', '4294967295', '--out', png], writes: png },
    { command: 'reconstruct', args: ['--count', '1', '--out-dir', t('recon')], writes: t('recon/reconstruct-mnist.png') },
  ];
  return cases;
}

/** Mutated copies of the shipped VIAR and tokenizer through `viar sample` and `viar reconstruct`. */
function hostileCheckpoints(): Case[] {
  const cases: Case[] = [];
  const dir = join(tmp, 'mutants');
  mkdirSync(dir, { recursive: true });
  const viar = new Uint8Array(readFileSync(join(root, VIAR))), tok = new Uint8Array(readFileSync(join(root, TOK)));
  for (let i = 0; i < 8; i++) {
    const file = join(dir, `viar-${i}.safetensors`), out = join(dir, `viar-${i}.png`);
    writeFileSync(file, mutate(viar, 31, i).bytes);
    cases.push({ command: 'sample', args: ['--checkpoint', file, '--tokenizer', TOK, '--n', '1', '--class', '0', '--iters', '1', '--out', out], names: file, writes: out });
  }
  for (let i = 0; i < 8; i++) {
    const file = join(dir, `tok-${i}.safetensors`), out = join(dir, `tok-${i}`);
    writeFileSync(file, mutate(tok, 32, i).bytes);
    cases.push({ command: 'reconstruct', args: ['--checkpoint', file, '--count', '1', '--out-dir', out], names: file, writes: join(out, 'reconstruct-mnist.png') });
  }
  return cases;
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'viar-cli-hardening-'));
  mkdirSync(join(tmp, 'folder'));
  spawnSync('mkfifo', [join(tmp, 'fifo.safetensors')]);
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('hostile command lines and checkpoints through the CLI processes', () => {
  test('every case: one line naming the option or file and exit code ≠ 0, or success; nothing committed changes', async () => {
    const before = committedHashes();
    const lines = hostileCommandLines(), mutants = hostileCheckpoints();
    const cases = [...lines, ...mutants];
    const problems: string[] = [];
    const tally = { errors: 0, succeeded: 0 };
    await twoAtATime(cases, async (c) => {
      const r = await run(c);
      const what = `${c.command} ${c.args.join(' ')}`.slice(0, 200);
      if (process.env.HARDENING_VERBOSE) console.log(`${what} → code ${r.code} in ${Math.round(r.ms)} ms: ${r.stderr.trim().split('\n')[0]}`);
      const errLines = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('warning: '));
      if (r.signal) { problems.push(`${what}: killed (${r.signal}) after ${Math.round(r.ms)} ms — a hang`); return; }
      if (r.code === 0) {
        tally.succeeded++;
        if (c.writes === undefined) problems.push(`${what}: exited 0; expected an error naming ${c.names}`);
        else if (!existsSync(c.writes)) problems.push(`${what}: exited 0 without writing ${c.writes}`);
        return;
      }
      tally.errors++;
      if (errLines.length !== 1) problems.push(`${what}: ${errLines.length} stderr lines (code ${r.code}): ${r.stderr.slice(0, 300)}`);
      else if (/^\s+at /m.test(r.stderr)) problems.push(`${what}: stack trace: ${r.stderr.slice(0, 300)}`);
      else if (c.names !== undefined && !errLines[0]!.includes(c.names)) problems.push(`${what}: the message does not name ${c.names}: ${errLines[0]}`);
      else if (c.names === undefined) problems.push(`${what}: failed: ${errLines[0]}`);
    });
    console.log(`hostile CLI: ${cases.length} cases (${lines.length} command lines, ${mutants.length} mutated checkpoints): ${tally.errors} one-line errors, ${tally.succeeded} succeeded`);
    for (const p of problems) console.error(p);
    expect(problems).toEqual([]);
    expect(committedHashes()).toEqual(before);
  }, 900_000);

  test('a progress bar timer does not keep a failed command alive; unexpected errors are one line too', () => {
    const script = join(root, 'test/hardening/fixtures/bar-then-throw.ts');
    const start = performance.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: root, encoding: 'utf8', timeout: 20_000 });
    expect(r.signal).toBeNull();
    expect(performance.now() - start).toBeLessThan(15_000);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('error: TypeError: boom (set VIAR_DEBUG=1 for the stack trace)');
  }, 30_000);
});
