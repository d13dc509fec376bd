// Ctrl-C during `viar train` stops after the current step and saves, run as `npm run viar` runs it (node --import tsx:
// no relaying parent that would SIGKILL a process busy in a step), also when the interrupt arrives twice within a second.

import { describe, expect, test } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

describe('viar train, interrupted', () => {
  test('two SIGINTs within a second stop after the step and save a resumable state', async () => {
    const out = mkdtempSync(join(tmpdir(), 'viar-interrupt-'));
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/viar.ts', 'train', '--model', 'var', '--config', 'small', '--data', 'mnist', '--steps', '400',
        '--train-images', '256', '--val-images', '0', '--sample-every', '0', '--log-every', '2', '--threads', '1', '--out', out], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d) => { output += d; });
      child.stderr.on('data', (d) => { output += d; });
      const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
      // once training runs, interrupt twice in quick succession (as a terminal's process group and a relaying parent would)
      await new Promise<void>((ready, fail) => {
        const timer = setTimeout(() => fail(new Error(`no training step logged:\n${output}`)), 120_000);
        const poll = setInterval(() => {
          if (/^step 2\/400:/m.test(output)) { clearInterval(poll); clearTimeout(timer); ready(); }
        }, 50);
      });
      child.kill('SIGINT');
      // a second, separate delivery (two signals sent back to back would merge into one)
      await new Promise((wait) => setTimeout(wait, 150));
      child.kill('SIGINT');
      expect(await exited, output.slice(-600)).toBe(0);
      const log = readFileSync(join(out, 'var-mnist.log'), 'utf8');
      expect(log).toMatch(/^stopped at step \d+\/400 \(interrupted\); saved .*continue with --resume/m);
      expect(existsSync(join(out, 'var-mnist.train-state.safetensors'))).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 180_000);
});
