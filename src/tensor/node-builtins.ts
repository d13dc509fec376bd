// Node's built-in modules and CommonJS packages, loaded on first use instead of imported: the engine then loads no
// Node module when it is imported, so it bundles unchanged for browsers, where only the file-system helpers fail.

import { ViarError } from './errors.js';

/** The built-in modules the engine uses, by name. */
interface NodeBuiltins {
  'node:fs': typeof import('node:fs');
  'node:path': typeof import('node:path');
  'node:crypto': typeof import('node:crypto');
  'node:module': typeof import('node:module');
}

type BuiltinLoader = (name: string) => unknown;

/** process.getBuiltinModule (Node ≥ 20.16) when this runtime has it, else null (browsers, web workers). */
function builtinLoader(): BuiltinLoader | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: BuiltinLoader } }).process;
  return typeof proc?.getBuiltinModule === 'function' ? proc.getBuiltinModule.bind(proc) : null;
}

/** True when Node's built-in modules are reachable (Node.js ≥ 20.16; false in a browser). */
export function hasNodeBuiltins(): boolean {
  return builtinLoader() !== null;
}

/**
 * A Node built-in module, for `op` (named in the error): throws a ViarError outside Node (e.g. in a browser, where
 * checkpoints are fetched as bytes and read with decodeSafetensors instead).
 */
export function nodeBuiltin<K extends keyof NodeBuiltins>(name: K, op: string): NodeBuiltins[K] {
  const mod = builtinLoader()?.(name) as NodeBuiltins[K] | undefined;
  if (!mod) throw new ViarError(op, `needs Node.js ≥ 20.16 (${name}); in a browser, fetch a checkpoint's bytes and use decodeSafetensors`);
  return mod;
}

/**
 * require() of a CommonJS package (e.g. pngjs, gpu.js) from the engine's location, for `op` (Node only, as nodeBuiltin);
 * a package that is not installed is a ViarError naming it and the install command.
 */
export function nodeRequire(pkg: string, op: string): unknown {
  const require = nodeBuiltin('node:module', op).createRequire(import.meta.url);
  try {
    return require(pkg);
  } catch (e) {
    const err = e as { code?: string; message?: string };
    // only the package itself missing (an optional peer dependency), not a module it fails to load
    if (err.code === 'MODULE_NOT_FOUND' && err.message?.includes(`'${pkg}'`)) {
      throw new ViarError(op, `needs the '${pkg}' package, an optional dependency of viar: npm install ${pkg}`);
    }
    throw e;
  }
}
