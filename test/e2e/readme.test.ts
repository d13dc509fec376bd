// Runs the README's example (its first ```ts block) against the source tree, so the documentation stays true.

import { expect, test } from 'vitest';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';

test('the README example runs and the loss goes down', () => {
  const root = resolve(import.meta.dirname, '../..');
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = /```ts\n([\s\S]*?)```/.exec(readme)![1]!;
  const code = `// @ts-nocheck\n${block.replace("from 'viar'", `from ${JSON.stringify(join(root, 'src/index.ts'))}`)}`;
  const dir = mkdtempSync(join(tmpdir(), 'viar-readme-'));
  try {
    const file = join(dir, 'example.ts');
    writeFileSync(file, code);
    const out = execFileSync(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), file], { encoding: 'utf8' });
    const mses = [...out.matchAll(/mse ([\d.]+)/g)].map((m) => Number(m[1]));
    expect(mses.length).toBe(5);
    expect(mses[4]!).toBeLessThan(mses[0]! / 5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
