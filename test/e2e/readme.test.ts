// The README's code stays true: its first ```ts block runs (the loss goes down), and every ```ts block that imports
// from 'viar' — in the README and docs/testing.md — type-checks under strict tsc against the package's entry points.

import { expect, test } from 'vitest';
import { readFileSync, writeFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { distIsFresh } from '../helpers/dist-fresh.js';

const root = resolve(import.meta.dirname, '../..');

/** The ```ts blocks of a markdown file, with the line each starts on. */
function tsBlocks(file: string): { code: string; line: number }[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(/```ts[^\n]*\n([\s\S]*?)```/g)].map((m) => ({ code: m[1]!, line: text.slice(0, m.index).split('\n').length + 1 }));
}

/** The package's subpaths, resolved to the source files their dist entry points are built from. */
const ENTRY_POINTS: Record<string, string> = {
  viar: 'src/public.ts', 'viar/tensor': 'src/tensor/index.ts', 'viar/autograd': 'src/autograd/index.ts', 'viar/nn': 'src/nn/index.ts',
  'viar/models': 'src/viar/index.ts', 'viar/viar': 'src/viar/index.ts', 'viar/testing': 'src/testing/index.ts',
};

test('the README example runs and the loss goes down', () => {
  const block = tsBlocks('README.md')[0]!.code;
  const code = block.replace("from 'viar'", `from ${JSON.stringify(join(root, ENTRY_POINTS.viar!))}`);
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

test('every README and docs/testing.md block that imports viar type-checks under strict tsc', () => {
  const blocks = ['README.md', 'docs/testing.md'].flatMap((file) => tsBlocks(file).map((b) => ({ ...b, file })))
    .filter((b) => /from 'viar(\/[a-z]+)?'/.test(b.code));
  expect(blocks.length).toBeGreaterThanOrEqual(6);
  // inside the repository, so that fast-check and vitest resolve from its node_modules
  mkdirSync(join(root, 'node_modules/.cache'), { recursive: true });
  const dir = mkdtempSync(join(root, 'node_modules/.cache/viar-readme-'));
  try {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    const fresh = distIsFresh(root);
    const names = blocks.map((b, i) => {
      const name = `${b.file.replace(/\W/g, '-')}-line-${b.line}-${i}.ts`;
      writeFileSync(join(dir, name), `${b.code}\nexport {};\n`);
      return name;
    });
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', lib: ['ES2022', 'DOM'],
        skipLibCheck: true, types: ['node'], typeRoots: [join(root, 'node_modules/@types')],
        // the built declarations when dist/ is fresh (CI: npm ci built it), else the sources (slower: all of src is checked)
        paths: Object.fromEntries(Object.entries(ENTRY_POINTS).map(([k, v]) => [k, [join(root, fresh ? v.replace(/^src\/(.*)\.ts$/, 'dist/$1.d.ts') : v)]])),
      },
      files: names,
    }));
    let report = '';
    try {
      execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
    } catch (e) {
      report = (e as { stdout: string }).stdout;
    }
    expect(report).toBe('');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
