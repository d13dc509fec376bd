// Vite config of the browser demo (`npm run web:dev`, `npm run web:build` → web/dist): the page and its model worker,
// the shipped MNIST and Fashion-MNIST checkpoints that exist served over HTTP (copied into the build, not duplicated
// in git) with a manifest of which data sets are available, and a guard that fails the build when anything on the
// browser path imports a Node built-in module.

import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { DEMO_CHECKPOINT_FILES, DEMO_MANIFEST_FILE, demoManifest } from './src/data-sets.js';

const webRoot = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** The checkpoints the page may fetch, from the repository's checkpoints/ folder (served at ./checkpoints/<name>). */
export const DEMO_CHECKPOINTS: readonly string[] = DEMO_CHECKPOINT_FILES;

/** The files of DEMO_CHECKPOINTS that exist in `dir` (a data set not trained yet has none, or some). */
export function presentCheckpoints(dir: string): string[] {
  return DEMO_CHECKPOINTS.filter((name) => existsSync(join(dir, name)));
}

/**
 * Serves the DEMO_CHECKPOINTS that exist in `dir` in dev and emits them as build assets, with checkpoints/demo-data.json
 * (which data sets are available, and why not). Files are looked up at each request, so a checkpoint written while the
 * dev server runs is served; a missing one never fails the build.
 */
export function checkpointAssets(dir: string = join(repoRoot, 'checkpoints')): Plugin {
  const manifest = () => JSON.stringify(demoManifest((name) => existsSync(join(dir, name))), null, 2) + '\n';
  return {
    name: 'viar-checkpoint-assets',
    configureServer(server) {
      server.middlewares.use('/checkpoints', (req, res, next) => {
        const name = decodeURIComponent((req.url ?? '').split('?')[0]!.replace(/^\//, ''));
        if (name === DEMO_MANIFEST_FILE) {
          res.setHeader('Content-Type', 'application/json');
          res.end(manifest());
          return;
        }
        if (!DEMO_CHECKPOINTS.includes(name) || !existsSync(join(dir, name))) return next();
        res.setHeader('Content-Type', 'application/octet-stream');
        res.end(readFileSync(join(dir, name)));
      });
    },
    generateBundle() {
      for (const name of presentCheckpoints(dir)) this.emitFile({ type: 'asset', fileName: `checkpoints/${name}`, source: readFileSync(join(dir, name)) });
      this.emitFile({ type: 'asset', fileName: `checkpoints/${DEMO_MANIFEST_FILE}`, source: manifest() });
    },
  };
}

const nodeBuiltins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Fails resolution of any Node built-in (node:fs, worker_threads, …) imported by the page's code or the engine. */
function forbidNodeBuiltins(): Plugin {
  return {
    name: 'viar-forbid-node-builtins',
    enforce: 'pre',
    resolveId(source, importer) {
      if (nodeBuiltins.has(source)) this.error(`'${source}' imported by ${importer ?? '?'}: Node built-ins must not reach the browser bundle`);
      return null;
    },
  };
}

export default defineConfig({
  root: webRoot,
  base: './',
  plugins: [forbidNodeBuiltins(), checkpointAssets()],
  worker: { format: 'es', plugins: () => [forbidNodeBuiltins()] },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', reportCompressedSize: false },
  server: { fs: { allow: [repoRoot] } },
});
