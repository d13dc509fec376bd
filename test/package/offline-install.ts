// Installs a packed tarball into a temporary project without the network: the project's package-lock.json is built
// from the repository's own lockfile (same versions and integrity hashes), so `npm ci --offline` takes every
// dependency from the npm cache that installing this repository filled.

import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

interface LockEntry { version?: string; integrity?: string; resolved?: string; dependencies?: Record<string, string>; [k: string]: unknown }

/** The lock entries (by path) of `names` and everything they depend on, resolved the way Node walks node_modules. */
function closure(lock: Record<string, LockEntry>, names: readonly string[]): Map<string, LockEntry> {
  const out = new Map<string, LockEntry>();
  const visit = (name: string, from: string): void => {
    // from 'node_modules/a/node_modules/b', look in …/b/node_modules, then …/a/node_modules, then node_modules
    let base = from;
    for (;;) {
      const path = `${base ? `${base}/` : ''}node_modules/${name}`;
      const entry = lock[path];
      if (entry) {
        if (!out.has(path)) {
          out.set(path, entry);
          for (const dep of Object.keys(entry.dependencies ?? {})) visit(dep, path);
        }
        return;
      }
      if (!base) throw new Error(`offline install: ${name} (needed by ${from || 'the project'}) is not in the repository's package-lock.json`);
      const cut = base.lastIndexOf('/node_modules/');
      base = cut < 0 ? '' : base.slice(0, cut);
    }
  };
  for (const name of names) visit(name, '');
  return out;
}

/**
 * Writes package.json (with `type`) and package-lock.json into `dir` for the tarball plus `extra` packages (which must
 * be in the repository's lockfile), then runs `npm ci --offline`. Returns the command's output.
 */
export function installOffline(opts: { root: string; dir: string; tarball: string; type: 'module' | 'commonjs'; extra: readonly string[] }): string {
  const { root, dir, tarball, type, extra } = opts;
  const repoLock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string; dependencies?: Record<string, string> };
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const spec = `file:${tarball}`;
  const versions = Object.fromEntries(extra.map((n) => [n, repoLock.packages[`node_modules/${n}`]!.version!]));
  const deps = closure(repoLock.packages, [...Object.keys(pkg.dependencies ?? {}), ...extra]);
  const strip = (e: LockEntry): LockEntry => {
    const { dev: _dev, optional: _optional, devOptional: _devOptional, peer: _peer, ...rest } = e as LockEntry & Record<string, unknown>;
    return rest;
  };
  const packages: Record<string, LockEntry> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { [pkg.name]: spec, ...versions } },
    [`node_modules/${pkg.name}`]: { version: pkg.version, resolved: spec, integrity, dependencies: pkg.dependencies ?? {} },
  };
  for (const [path, entry] of deps) packages[path] = strip(entry);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type, dependencies: packages['']!.dependencies }, null, 2));
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2));
  return execFileSync('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
