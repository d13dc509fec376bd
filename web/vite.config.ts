// Vite config of the browser demo (`npm run web:dev`, `npm run web:build` → web/dist): the page and its model worker,
// the shipped MNIST checkpoints served over HTTP (copied into the build, not duplicated in git), and a guard that
// fails the build when anything on the browser path imports a Node built-in module.

import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const webRoot = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** The checkpoints the page fetches, from the repository's checkpoints/ folder (served at ./checkpoints/<name>). */
export const DEMO_CHECKPOINTS = ['viar-mnist.safetensors', 'tokenizer-mnist.safetensors', 'classifier-mnist.safetensors'] as const;

/** Serves DEMO_CHECKPOINTS in dev and emits them as build assets. */
function checkpointAssets(): Plugin {
  const file = (name: string) => new URL(`../checkpoints/${name}`, import.meta.url);
  return {
    name: 'viar-checkpoint-assets',
    configureServer(server) {
      server.middlewares.use('/checkpoints', (req, res, next) => {
        const name = decodeURIComponent((req.url ?? '').split('?')[0]!.replace(/^\//, ''));
        if (!(DEMO_CHECKPOINTS as readonly string[]).includes(name)) return next();
        res.setHeader('Content-Type', 'application/octet-stream');
        res.end(readFileSync(file(name)));
      });
    },
    generateBundle() {
      for (const name of DEMO_CHECKPOINTS) this.emitFile({ type: 'asset', fileName: `checkpoints/${name}`, source: readFileSync(file(name)) });
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
