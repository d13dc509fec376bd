// A seeded mutator over safetensors checkpoints: hostile recorded configs (every field, wrong types, huge and
// negative values, non-JSON), header surgery (shapes, dtypes, offsets, names, the length prefix), truncation,
// appended bytes, NaN/±Infinity weights and flipped data bytes. Case i of seed s is always the same file.

/** A small seeded generator (mulberry32), independent of the engine under test. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Entry = { dtype: string; shape: number[]; data_offsets: [number, number] };

interface Parsed {
  header: Record<string, Json>;
  data: Uint8Array;
}

function parse(bytes: Uint8Array): Parsed {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, Json>;
  return { header, data: bytes.subarray(8 + n) };
}

/** Serializes a header (raw JSON text allowed) and data section as a safetensors file. */
function build(headerText: string, data: Uint8Array, prefix?: bigint): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + data.length);
  new DataView(out.buffer).setBigUint64(0, prefix ?? BigInt(padded), true);
  out.fill(0x20, 8, 8 + padded);
  out.set(json, 8);
  out.set(data, 8 + padded);
  return out;
}

const INF = '__INFINITY__';
const serialize = (h: Record<string, Json>) => JSON.stringify(h).replaceAll(`"${INF}"`, '1e999');

/** Values a hostile file might record in place of a config field. */
function hostileValues(old: Json, rand: () => number): Json[] {
  const deep: Json = Array.from({ length: 40 }).reduce<Json>((acc) => ({ a: acc }), 1);
  const values: Json[] = [
    1e5, 1e9, 1e20, -1, 0, 0.5, 1.5, 2 ** 31, 2 ** 53 + 2, INF, `-${INF}`, 'abc', '', null, true, false, [], {}, [1e9], [1, 2, 1e6],
    new Array(20_000).fill(1), deep, [[1]], { left: 1e9, right: 1e9 },
  ];
  if (typeof old === 'number') values.push(old + 1, old - 1, old * 2, Math.floor(old / 2), old * 1000, -old);
  if (Array.isArray(old)) {
    values.push(old.slice(1), [...old, old[old.length - 1]!], old.map((x) => (typeof x === 'number' ? x * 2 : x)), [...old].reverse());
    const i = Math.floor(rand() * old.length);
    values.push(old.map((x, j) => (j === i ? 1e6 : x)));
  }
  return values;
}

/** Dotted paths of every field of a config object (nested objects included, e.g. implicit.schedule). */
function fieldPaths(obj: Json, prefix = ''): string[] {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return [];
  return Object.entries(obj).flatMap(([k, v]) => [`${prefix}${k}`, ...fieldPaths(v, `${prefix}${k}.`)]);
}

function setPath(obj: Record<string, Json>, path: string, value: Json | undefined): void {
  const parts = path.split('.');
  let at = obj as Record<string, Json>;
  for (const p of parts.slice(0, -1)) at = at[p] as Record<string, Json>;
  const last = parts[parts.length - 1]!;
  if (value === undefined) delete at[last];
  else at[last] = value;
}

function getPath(obj: Record<string, Json>, path: string): Json {
  return path.split('.').reduce<Json>((at, p) => (at as Record<string, Json>)[p]!, obj);
}

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

/** One mutated file and what was done to it. */
export interface Mutant {
  op: string;
  bytes: Uint8Array;
}

const CONFIG_TEXTS = ['not json', 'null', '[]', '"config"', '{', '1e999', '{"depth":8}', '', '{"depth":1e9}', '[1,2,3]', '{"__proto__":{"depth":1}}'];

/** Mutation `index` of `original` under `seed` (deterministic). */
export function mutate(original: Uint8Array, seed: number, index: number): Mutant {
  const rand = seeded(seed * 1_000_003 + index * 7919 + 17);
  const { header, data } = parse(original);
  const meta = (header.__metadata__ ?? {}) as Record<string, Json>;
  const keys = Object.keys(header).filter((k) => k !== '__metadata__');
  const entry = (k: string) => header[k] as unknown as Entry;
  const r = rand();
  const withHeader = (op: string, h: Record<string, Json> = header, d: Uint8Array = data): Mutant => ({ op, bytes: build(serialize(h), d) });

  if (r < 0.4 && typeof meta.config === 'string') {
    const config = JSON.parse(meta.config) as Record<string, Json>;
    const path = pick(rand, fieldPaths(config));
    const value = rand() < 0.1 ? undefined : pick(rand, hostileValues(getPath(config, path), rand));
    setPath(config, path, value);
    meta.config = serialize(config);
    return withHeader(`config.${path} = ${value === undefined ? '(deleted)' : JSON.stringify(value).slice(0, 40)}`);
  }
  if (r < 0.46) {
    const text = pick(rand, CONFIG_TEXTS);
    meta.config = text;
    return withHeader(`config text '${text}'`);
  }
  if (r < 0.5) {
    const kind = pick(rand, [undefined, 'vit', '', 'VAR', 'var', 'viar', 'viar-training-state-v1']);
    if (rand() < 0.5) meta.model = kind ?? null; else if (kind === undefined) delete meta.model; else meta.format = kind;
    return withHeader(`metadata model/format ${String(kind)}`);
  }
  if (r < 0.58) {
    const k = pick(rand, keys);
    const e = entry(k);
    const variants = [[...e.shape, 1], e.shape.slice(1), e.shape.map((d, i) => (i === 0 ? d * 2 : d)), [0], [e.shape.reduce((a, b) => a * b, 1)], e.shape.map(() => 2 ** 40)];
    e.shape = pick(rand, variants);
    return withHeader(`shape of '${k}' → [${e.shape.join(', ')}]`);
  }
  if (r < 0.62) {
    const k = pick(rand, keys);
    entry(k).dtype = pick(rand, ['F16', 'BF16', 'I64', 'I32', 'BOOL', 'U8', 'F64', 'X', '']);
    return withHeader(`dtype of '${k}' → ${entry(k).dtype}`);
  }
  if (r < 0.66) {
    const k = pick(rand, keys);
    const e = entry(k);
    const d = pick(rand, [1, -1, 4, -4, 2 ** 40]);
    e.data_offsets = pick(rand, [[e.data_offsets[0] + d, e.data_offsets[1] + d], [e.data_offsets[0], e.data_offsets[1] + d], [e.data_offsets[1], e.data_offsets[0]]]) as [number, number];
    return withHeader(`offsets of '${k}' → [${e.data_offsets.join(', ')}]`);
  }
  if (r < 0.7) {
    const k = pick(rand, keys);
    const how = rand();
    if (how < 0.4) {
      const other = pick(rand, keys);
      const a = header[k]!; header[k] = header[other]!; header[other] = a;
      return withHeader(`swapped '${k}' and '${other}'`);
    }
    if (how < 0.7) {
      header[`${k}.renamed`] = header[k]!;
      delete header[k];
      return withHeader(`renamed '${k}'`);
    }
    delete header[k];
    return withHeader(`dropped '${k}'`);
  }
  if (r < 0.74) {
    const text = serialize(header);
    const padded = BigInt(Math.ceil(text.length / 8) * 8);
    const prefix = pick(rand, [padded + 1n, padded - 1n, padded + 8n, 0n, 2n ** 63n, 2n ** 64n - 1n, BigInt(original.length)]);
    return { op: `header length prefix ${prefix}`, bytes: build(text, data, prefix) };
  }
  if (r < 0.79) {
    const at = Math.floor(rand() * original.length);
    return { op: `truncated at byte ${at}`, bytes: original.slice(0, at) };
  }
  if (r < 0.82) {
    const extra = new Uint8Array(1 + Math.floor(rand() * 64)).map(() => Math.floor(rand() * 256));
    const out = new Uint8Array(original.length + extra.length);
    out.set(original);
    out.set(extra, original.length);
    return { op: `${extra.length} bytes appended`, bytes: out };
  }
  if (r < 0.9) {
    const floats = keys.filter((k) => entry(k).dtype === 'F32' && entry(k).data_offsets[1] > entry(k).data_offsets[0]);
    const k = pick(rand, floats);
    const [b, e] = entry(k).data_offsets;
    const i = Math.floor(rand() * ((e - b) / 4));
    const value = pick(rand, [NaN, Infinity, -Infinity]);
    const copy = original.slice();
    const start = original.length - data.length;
    new DataView(copy.buffer).setFloat32(start + b + 4 * i, value, true);
    return { op: `'${k}'[${i}] = ${value}`, bytes: copy };
  }
  if (r < 0.97) {
    const copy = original.slice();
    const start = original.length - data.length;
    const flips = 1 + Math.floor(rand() * 8);
    for (let f = 0; f < flips; f++) copy[start + Math.floor(rand() * data.length)] ^= 1 << Math.floor(rand() * 8);
    return { op: `${flips} data bits flipped`, bytes: copy };
  }
  const text = serialize(header);
  const at = Math.floor(rand() * text.length);
  const garbled = text.slice(0, at) + pick(rand, ['"', '{', '}', '\\', '\u0000', ',', ':', 'ÿ']) + text.slice(at + 1);
  return { op: `header character ${at} garbled`, bytes: build(garbled, data) };
}
