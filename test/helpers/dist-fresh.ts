// Whether dist/ (the package build) is newer than every source file: npm ci's `prepare` builds it in CI, so tests
// that look at the built package reuse it instead of building again.

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newest(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((m, e) =>
    Math.max(m, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs), 0);
}

export function distIsFresh(root: string): boolean {
  try {
    return statSync(join(root, 'dist/public.d.ts')).mtimeMs >= newest(join(root, 'src'));
  } catch {
    return false;
  }
}
