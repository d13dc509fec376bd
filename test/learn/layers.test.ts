// The layering the tour describes (docs/learn/README.md): src/tensor records the graph and never imports
// src/autograd, which consumes it — except fluent.ts, the method facade that also attaches t.backward().

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, test } from 'vitest';

const repoRoot = join(import.meta.dirname, '../..');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

test('src/tensor imports nothing from src/autograd (but fluent.ts)', () => {
  const offenders = tsFiles(join(repoRoot, 'src/tensor'))
    .filter((f) => /from '(\.\.\/)+autograd\//.test(readFileSync(f, 'utf8')))
    .map((f) => relative(repoRoot, f));
  expect(offenders).toEqual(['src/tensor/fluent.ts']);
});
