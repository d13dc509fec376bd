// The command line's one argument parser: node:util parseArgs (strict) under a typed layer that turns every option
// into a range-checked value, output targets checked before any work, result files that a failed run cannot
// overwrite, and the top-level error handler (one line, exit code ≠ 0, no timer keeps a failed process alive).

import { parseArgs } from 'node:util';
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, realpathSync, renameSync, statSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ViarError } from '../index.js';

/** A command-line mistake (or a refused file): printed as its message alone, exit code 2. */
export class CliError extends Error {
  override name = 'CliError';
}

/** Seeds are 32-bit: the generator reduces larger values modulo 2³², so they would repeat smaller seeds. */
export const SEED_MAX = 2 ** 32 - 1;
/** Caps shared by the commands: sample counts, iteration counts and thread counts. */
export const LIMITS = {
  threads: 256, iterations: 1000, steps: 10_000_000, batch: 4096, perClass: 1000, images: 1_000_000, cfg: 100, topK: 1 << 22,
  minutes: 1_000_000, classes: 1_000_000, sampleImages: 10_000, gridImages: 256,
} as const;

/** One option's type and range. */
export type OptionSpec =
  | { type: 'flag' }
  | { type: 'string' }
  | { type: 'strings' }
  | { type: 'choice'; values: readonly string[] }
  | { type: 'int'; min: number; max: number; what?: string }
  | { type: 'number'; ok: (n: number) => boolean; what: string }
  | { type: 'ints'; min: number; max: number; maxLength: number };

type ValueOf<S> =
  S extends { type: 'flag' } ? boolean
  : S extends { type: 'int' | 'number' } ? number
  : S extends { type: 'ints' } ? number[]
  : S extends { type: 'strings' } ? string[]
  : S extends { type: 'choice'; values: readonly (infer V)[] } ? V
  : string;

/** The parsed options: each absent option is undefined. */
export type Parsed<T extends Record<string, OptionSpec>> = { [K in keyof T]?: ValueOf<T[K]> };

export const flag = { type: 'flag' } as const;
export const text = { type: 'string' } as const;
export const int = (min: number, max: number, what?: string) => ({ type: 'int', min, max, ...(what ? { what } : {}) }) as const;
export const num = (ok: (n: number) => boolean, what: string) => ({ type: 'number', ok, what }) as const;
export const ints = (min: number, max: number, maxLength = 1000) => ({ type: 'ints', min, max, maxLength }) as const;
export const choice = <const V extends readonly string[]>(...values: V) => ({ type: 'choice', values }) as const;
/** A seed: an integer in [0, max] (default SEED_MAX; lower when the command derives further seeds from it). */
export const seed = (max: number = SEED_MAX) => int(0, max, `an integer in [0, ${max}] (seeds are 32-bit${max < SEED_MAX ? ', and the command adds up to 999 to it' : ''})`);
export const threads = int(1, LIMITS.threads);

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length]![b.length]!;
}

const show = (s: string) => (s.length > 60 ? `${s.slice(0, 60)}…` : s);

/** One option's text → its typed value; `label` is the command ('viar sample', 'npm start'). */
function convert(label: string, name: string, spec: OptionSpec, raw: string): unknown {
  const bad = (what: string): never => {
    throw new CliError(`${label}: --${name} must be ${what}, got '${show(raw)}'`);
  };
  switch (spec.type) {
    case 'choice':
      if (!spec.values.includes(raw)) bad(spec.values.join(' or '));
      return raw;
    case 'int': {
      const ok = /^\s*[+-]?\d+\s*$/.test(raw);
      const n = Number(raw);
      if (spec.what && (!ok || n < spec.min || n > spec.max)) bad(spec.what);
      if (!ok && Number.isFinite(n) && raw.trim() !== '') bad(`an integer in [${spec.min}, ${spec.max}] written in digits`);
      if (!ok || n < spec.min) bad(`an integer ≥ ${spec.min}`);
      if (n > spec.max) bad(`an integer ≤ ${spec.max}`);
      return n;
    }
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n) || !spec.ok(n)) bad(spec.what);
      return n;
    }
    case 'ints': {
      const parts = raw.split(',').map((p) => p.trim());
      if (parts.length > spec.maxLength || parts.some((p) => !/^\d+$/.test(p) || Number(p) < spec.min || Number(p) > spec.max)) {
        bad(`comma-separated integers in [${spec.min}, ${spec.max}]${parts.length > spec.maxLength ? ` (at most ${spec.maxLength} of them)` : ''}`);
      }
      return parts.map(Number);
    }
    default:
      if (raw === '') throw new CliError(`${label}: --${name} must not be empty`);
      if (raw.includes('\0')) bad('text without NUL characters');
      return raw;
  }
}

/**
 * Parses argv against the specs (unknown options, missing values and positionals are CliErrors naming the option,
 * with the closest known option as a hint) and converts every given option to its typed value.
 * @example const a = parseOptions('viar sample', argv, { n: int(1, 1000), out: text, help: flag });
 */
export function parseOptions<T extends Record<string, OptionSpec>>(label: string, argv: string[], specs: T): Parsed<T> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) options[name] = spec.type === 'flag' ? { type: 'boolean' } : spec.type === 'strings' ? { type: 'string', multiple: true } : { type: 'string' };
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const quoted = /'([^']+)'/.exec(e.message ?? '')?.[1] ?? '';
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const name = quoted.replace(/^-+/, '').split('=')[0]!;
      const best = Object.keys(specs).map((o) => [o, editDistance(name, o)] as const).sort((x, y) => x[1] - y[1])[0];
      const hint = best && best[1] <= Math.max(2, Math.floor(name.length / 3)) ? ` (did you mean --${best[0]}?)` : '';
      throw new CliError(`${label}: unknown option ${show(quoted)}${hint}; see ${label} --help`);
    }
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const opt = /'(--?[\w-]+)/.exec(e.message ?? '')?.[1];
      throw new CliError(`${label}: ${opt ? `option ${opt} needs a value` : (e.message ?? '').split('\n')[0]}`);
    }
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      throw new CliError(`${label}: unexpected argument ${show(quoted)}; options take the form --name value`);
    }
    throw new CliError(`${label}: ${(e.message ?? String(err)).split('\n')[0]}`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const v = values[name];
    if (v === undefined) continue;
    if (spec.type === 'flag') out[name] = v === true;
    else if (spec.type === 'strings') out[name] = (v as string[]).map((s) => convert(label, name, spec, s));
    else out[name] = convert(label, name, spec, v as string);
  }
  return out as Parsed<T>;
}

// ---------------------------------------------------------------------------------------------------------------
// Output targets and result files

/** Linux magic numbers of procfs and sysfs: writes there never create files (and recursive mkdir spins on procfs). */
const VIRTUAL_FS = new Set([0x9fa0, 0x62656572]);

function nearestExisting(path: string): string {
  let p = resolve(path);
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  return p;
}

function refuseVirtual(label: string, what: string, path: string): void {
  const at = nearestExisting(path);
  let real = at;
  try {
    real = realpathSync(at);
  } catch {
    // keep the unresolved path
  }
  let virtual = /^\/(proc|sys)(\/|$)/.test(real);
  try {
    virtual ||= VIRTUAL_FS.has(Number(statfsSync(real).type));
  } catch {
    // statfs is not available everywhere
  }
  if (virtual) throw new CliError(`${label}: ${what} ${path} is on a virtual file system (${real.split('/').slice(0, 2).join('/')}); choose a folder on disk`);
}

/** Creates `dir` (and its parents) and proves it writable by creating and removing a probe file in it. */
function ensureWritableDir(label: string, what: string, dir: string, shown: string): void {
  const at = nearestExisting(dir);
  if (!statSync(at).isDirectory()) throw new CliError(`${label}: ${what} ${shown} cannot be created: ${at} is not a folder`);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new CliError(`${label}: ${what} ${shown}: cannot create ${dir} (${(err as { code?: string }).code ?? (err as Error).message})`);
  }
  const probe = join(dir, `.viar-write-probe-${process.pid}`);
  try {
    closeSync(openSync(probe, 'wx'));
    unlinkSync(probe);
  } catch (err) {
    throw new CliError(`${label}: ${what} ${shown}: cannot write in ${dir} (${(err as { code?: string }).code ?? (err as Error).message})`);
  }
}

/**
 * Checks an output file before any work: not empty, not a folder, a device or a FIFO, not on procfs/sysfs, its folder
 * creatable and writable (created here), the file itself writable when it exists. Returns the path.
 */
export function prepareOutputFile(label: string, option: string, file: string): string {
  if (file === '') throw new CliError(`${label}: ${option} must not be empty`);
  refuseVirtual(label, option, file);
  if (existsSync(file)) {
    const st = statSync(file);
    if (st.isDirectory()) throw new CliError(`${label}: ${option} ${file} is a folder; name a file`);
    if (!st.isFile()) throw new CliError(`${label}: ${option} ${file} is not a regular file (a device, FIFO or socket)`);
    try {
      accessSync(file, constants.W_OK);
    } catch {
      throw new CliError(`${label}: ${option} ${file} is not writable`);
    }
  }
  ensureWritableDir(label, option, dirname(resolve(file)), file);
  return file;
}

/** Checks (and creates) an output folder before any work: not empty, not a file, not on procfs/sysfs, writable. */
export function prepareOutputDir(label: string, option: string, dir: string): string {
  if (dir === '') throw new CliError(`${label}: ${option} must not be empty`);
  refuseVirtual(label, option, dir);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new CliError(`${label}: ${option} ${dir} is not a folder`);
  ensureWritableDir(label, option, resolve(dir), dir);
  return dir;
}

/** Checks that an input file exists and is a regular file (a folder or FIFO is refused without opening it). */
export function checkInputFile(label: string, what: string, file: string, hint = ''): string {
  if (file === '') throw new CliError(`${label}: ${what} must not be empty`);
  if (!existsSync(file)) throw new CliError(`${label}: no ${what} at ${file}${hint}`);
  const st = statSync(file);
  if (!st.isFile()) throw new CliError(`${label}: ${what} ${file} is ${st.isDirectory() ? 'a folder' : 'not a regular file'}; name a .safetensors file`);
  return file;
}

/** The first non-finite number in a JSON-like value, as 'path = value', or null. */
function firstNonFinite(v: unknown, path: string): string | null {
  if (typeof v === 'number') return Number.isFinite(v) ? null : `${path} = ${v}`;
  if (v === null || typeof v !== 'object') return null;
  for (const [k, x] of Object.entries(v)) {
    const bad = firstNonFinite(x, path ? `${path}.${k}` : k);
    if (bad) return bad;
  }
  return null;
}

/**
 * Writes a result file (JSON) only when the run's numbers are sound: every number finite and every count in `counts`
 * positive, else a CliError and the previous file stays as it was. The write is atomic (temporary file + rename), so
 * a crash cannot leave a committed result half written.
 */
export function writeResultJson(label: string, file: string, value: unknown, counts: Record<string, number> = {}): void {
  const bad = firstNonFinite(value, '');
  const empty = Object.entries(counts).find(([, n]) => !(Number.isInteger(n) && n > 0));
  if (bad || empty) {
    throw new CliError(`${label}: not writing ${file}: the run produced ${bad ? `a non-finite result (${bad})` : `no data (${empty![0]} = ${empty![1]})`}`);
  }
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, file);
}

// ---------------------------------------------------------------------------------------------------------------
// The top-level handler

/** Errors the user can act on, printed as their message: CliError, the engine's own errors, parseArgs errors. */
function isKnown(err: unknown): boolean {
  return err instanceof CliError || err instanceof ViarError || String((err as { code?: unknown })?.code ?? '').startsWith('ERR_PARSE_ARGS');
}

/** One line for any error: the message of a known one; for a system error the call, path and code. */
export function describeError(err: unknown): string {
  const e = err as { message?: string; code?: string; syscall?: string; path?: string; name?: string };
  if (isKnown(err)) return (e.message ?? String(err)).replace(/\s*\n\s*/g, ' ');
  if (e && typeof e.code === 'string' && e.syscall) {
    return `error: ${e.syscall}${e.path ? ` ${e.path}` : ''} failed (${e.code}${e.message ? `: ${e.message.replace(/^[A-Z]+: /, '').split(',')[0]}` : ''})`;
  }
  const first = (e?.message ?? String(err)).split('\n')[0];
  return `error: ${e?.name ?? 'Error'}: ${first} (set VIAR_DEBUG=1 for the stack trace)`;
}

/**
 * Runs a command's body: any error is printed as one line on stderr (the stack only with VIAR_DEBUG=1), the exit code
 * is 2 for known errors and 1 otherwise, and the process exits soon after even if a progress bar's timer is still set.
 */
export async function runCommandLine(body: () => unknown): Promise<void> {
  try {
    await body();
  } catch (err) {
    console.error(describeError(err));
    if (process.env.VIAR_DEBUG) console.error((err as Error)?.stack ?? err);
    process.exitCode = isKnown(err) ? 2 : 1;
  }
  // the command is over: a started WebGPU device (Dawn) would keep the process alive, so leave once output is flushed
  setTimeout(() => process.exit(), 200).unref();
}
