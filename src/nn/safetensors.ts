// Safetensors checkpoints, written from scratch: encoding/decoding the format (with a strict, pollution-free header
// parser and full validation of untrusted files), atomic saves to disk, and saveModule/loadModule for Module state.

import { Tensor } from '../tensor/tensor.js';
import { adoptArray } from '../tensor/creation.js';
import { allocArray, type DType, type TypedArray } from '../tensor/dtype.js';
import { ArgumentError, DTypeError, ViarError } from '../tensor/errors.js';
import { nodeBuiltin } from '../tensor/node-builtins.js';
import type { LoadOptions, LoadReport, Module } from './module.js';
import { loadPth } from './pth/load-pth.js';

/** Options for decoding an untrusted safetensors file. */
export interface DecodeOptions {
  /** Largest JSON header accepted, in bytes (default 100 MiB). */
  maxHeaderBytes?: number;
  /**
   * Refuse a file whose floating-point tensors hold NaN or ±Infinity, naming the tensor and the flat index (default
   * false here; loadModule and the model loaders turn it on). Checked on the decoded arrays, before any tensor exists.
   * A function checks only the tensors it returns true for.
   */
  checkFinite?: boolean | ((name: string) => boolean);
}

/** One tensor's entry in a safetensors header: its on-disk dtype (F32, BF16, I64, …) and shape. */
export interface HeaderTensorInfo {
  dtype: string;
  shape: readonly number[];
}

/** What readSafetensorsHeader returns: the validated header without any tensor data. */
export interface SafetensorsHeader {
  tensors: Map<string, HeaderTensorInfo>;
  metadata: Record<string, string>;
}

/** What decodeSafetensors / loadSafetensors return. Metadata is a null-prototype object. */
export interface SafetensorsContents {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** Options for loadModule: the strictness of Module.loadStateDict plus the decoder's limits. */
export interface LoadModuleOptions extends LoadOptions, DecodeOptions {}

const DEFAULT_MAX_HEADER = 100 * 1024 * 1024;
const METADATA_KEY = '__metadata__';
const WRITE_CHUNK = 8 * 1024 * 1024;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The on-disk element types this decoder reads, with their size in bytes and the dtype they decode to. */
const ST_DTYPES = {
  F64: { size: 8, out: 'float64' },
  F32: { size: 4, out: 'float32' },
  F16: { size: 2, out: 'float32' },
  BF16: { size: 2, out: 'float32' },
  I64: { size: 8, out: 'int32' },
  U64: { size: 8, out: 'int32' },
  I32: { size: 4, out: 'int32' },
  U32: { size: 4, out: 'int32' },
  I16: { size: 2, out: 'int32' },
  U16: { size: 2, out: 'int32' },
  I8: { size: 1, out: 'int32' },
  U8: { size: 1, out: 'int32' },
  BOOL: { size: 1, out: 'int32' },
} as const satisfies Record<string, { size: number; out: DType }>;
type StDType = keyof typeof ST_DTYPES;

const DTYPE_TO_ST: Record<DType, StDType> = { float32: 'F32', float64: 'F64', int32: 'I32' };

// ---------------------------------------------------------------------------------------------------------------
// Encoding

interface PlannedTensor {
  name: string;
  tensor: Tensor;
  begin: number;
  end: number;
}

interface EncodePlan {
  header: Uint8Array; // padded JSON, without the 8-byte length prefix
  tensors: PlannedTensor[];
  dataBytes: number;
}

function planEncoding(tensors: ReadonlyMap<string, Tensor>, metadata: Record<string, string> | undefined, op: string): EncodePlan {
  if (!(tensors instanceof Map)) throw new ArgumentError(op, `tensors must be a Map from names to tensors, got ${describe(tensors)}`);
  const parts: string[] = [];
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
      throw new ArgumentError(op, `metadata must be an object of strings, got ${describe(metadata)}`);
    }
    const entries = Object.entries(metadata).map(([k, v]) => {
      if (typeof v !== 'string') throw new ArgumentError(op, `metadata value for key '${k}' must be a string, got ${describe(v)}`);
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${entries.join(',')}}`);
  }
  const planned: PlannedTensor[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (typeof name !== 'string') throw new ArgumentError(op, `tensor names must be strings, got ${describe(name)}`);
    if (name === METADATA_KEY) throw new ArgumentError(op, `'${METADATA_KEY}' is reserved for metadata and cannot name a tensor`);
    if (!(t instanceof Tensor)) throw new ArgumentError(op, `'${name}' is not a tensor (got ${describe(t)})`);
    t.assertAlive(op, name);
    const st = DTYPE_TO_ST[t.dtype];
    if (!st) throw new DTypeError(op, `tensor '${name}' has unsupported dtype ${String(t.dtype)}`);
    const bytes = t.size * ST_DTYPES[st].size;
    planned.push({ name, tensor: t, begin: offset, end: offset + bytes });
    parts.push(`${JSON.stringify(name)}:{"dtype":"${st}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + bytes}]}`);
    offset += bytes;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8; // the data section starts 8-byte aligned
  const header = new Uint8Array(padded).fill(0x20);
  header.set(json);
  return { header, tensors: planned, dataBytes: offset };
}

function prefixBytes(headerLength: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  return out;
}

/** The tensor's logical row-major values as little-endian bytes (no copy for contiguous tensors on little-endian hosts). */
function tensorBytes(t: Tensor): Uint8Array {
  const values: TypedArray = t.isContiguous && t.offset === 0 && t.backend.canReadSync
    ? t.backend.readSync(t.dataId).subarray(0, t.size) // the same fast path dataSync takes, without its copy
    : t.dataSync();
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.byteLength);
  const dv = new DataView(out.buffer);
  if (values instanceof Float32Array) values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  else if (values instanceof Float64Array) values.forEach((v, i) => dv.setFloat64(i * 8, v, true));
  else values.forEach((v, i) => dv.setInt32(i * 4, v, true));
  return out;
}

/**
 * Serializes tensors to the safetensors format: an 8-byte little-endian header length, a JSON header padded with
 * spaces to a multiple of 8, then each tensor's little-endian values, laid out contiguously in the Map's iteration
 * order. float32/float64/int32 are written as F32/F64/I32; views are written as their logical row-major values.
 * @param metadata optional string→string pairs stored under `__metadata__`.
 * @example const bytes = encodeSafetensors(new Map([['w', w]]), { step: '100' });
 */
export function encodeSafetensors(tensors: ReadonlyMap<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const plan = planEncoding(tensors, metadata, 'encodeSafetensors');
  const start = 8 + plan.header.length;
  const out = new Uint8Array(start + plan.dataBytes);
  out.set(prefixBytes(plan.header.length));
  out.set(plan.header, 8);
  for (const p of plan.tensors) out.set(tensorBytes(p.tensor), start + p.begin);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// A strict JSON parser: objects become Maps (so no key can touch a prototype), duplicate keys are errors.

type Json = null | boolean | number | string | Json[] | JsonObject;
type JsonObject = Map<string, Json>;

const MAX_JSON_DEPTH = 32;
const SIMPLE_ESCAPES = new Map([['"', '"'], ['\\', '\\'], ['/', '/'], ['b', '\b'], ['f', '\f'], ['n', '\n'], ['r', '\r'], ['t', '\t']]);

class JsonParser {
  private i = 0;

  constructor(private readonly s: string, private readonly fail: (msg: string) => never) {}

  parse(): Json {
    this.ws();
    const v = this.value(0, null);
    this.ws();
    if (this.i < this.s.length) this.error('unexpected characters after the top-level value');
    return v;
  }

  private error(msg: string): never {
    return this.fail(`header is not valid JSON: ${msg} at character ${this.i}`);
  }

  private ws(): void {
    const s = this.s;
    let c = s.charCodeAt(this.i);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = s.charCodeAt(++this.i);
  }

  private value(depth: number, owner: string | null): Json {
    if (depth > MAX_JSON_DEPTH) this.error(`nesting deeper than ${MAX_JSON_DEPTH}`);
    const c = this.s[this.i];
    if (c === '{') return this.object(depth, owner);
    if (c === '[') return this.array(depth, owner);
    if (c === '"') return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    return this.error(c === undefined ? 'unexpected end of input' : `unexpected character ${JSON.stringify(c)}`);
  }

  private object(depth: number, owner: string | null): JsonObject {
    const out: JsonObject = new Map();
    this.i++; // {
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.error('expected a string key');
      const key = this.string();
      if (out.has(key)) {
        this.fail(owner === null ? `duplicate key '${key}' in the header` : `duplicate key '${key}' in the header entry '${owner}'`);
      }
      this.ws();
      if (this.s[this.i] !== ':') this.error(`expected ':' after key '${key}'`);
      this.i++;
      this.ws();
      out.set(key, this.value(depth + 1, owner ?? key));
      this.ws();
      const c = this.s[this.i++];
      if (c === '}') return out;
      if (c !== ',') this.error("expected ',' or '}' in an object");
    }
  }

  private array(depth: number, owner: string | null): Json[] {
    const out: Json[] = [];
    this.i++; // [
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1, owner));
      this.ws();
      const c = this.s[this.i++];
      if (c === ']') return out;
      if (c !== ',') this.error("expected ',' or ']' in an array");
    }
  }

  private number(): number {
    const s = this.s;
    const start = this.i;
    if (s[this.i] === '-') this.i++;
    if (s[this.i] === '0') this.i++;
    else if (this.digits() === 0) this.error('malformed number');
    if (s[this.i] === '.') {
      this.i++;
      if (this.digits() === 0) this.error('malformed number');
    }
    if (s[this.i] === 'e' || s[this.i] === 'E') {
      this.i++;
      if (s[this.i] === '+' || s[this.i] === '-') this.i++;
      if (this.digits() === 0) this.error('malformed number');
    }
    return Number(s.slice(start, this.i));
  }

  /** Skips decimal digits; returns how many. */
  private digits(): number {
    const from = this.i;
    let c = this.s.charCodeAt(this.i);
    while (c >= 0x30 && c <= 0x39) c = this.s.charCodeAt(++this.i);
    return this.i - from;
  }

  private string(): string {
    const s = this.s;
    this.i++; // opening quote
    let out = '';
    let runStart = this.i;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (Number.isNaN(c)) return this.error('unterminated string');
      if (c === 0x22) {
        out += s.slice(runStart, this.i++);
        return out;
      }
      if (c < 0x20) return this.error('control character in a string');
      if (c !== 0x5c) {
        this.i++;
        continue;
      }
      out += s.slice(runStart, this.i);
      const e = s[this.i + 1];
      const simple = e === undefined ? undefined : SIMPLE_ESCAPES.get(e);
      if (simple !== undefined) {
        out += simple;
        this.i += 2;
      } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(s.slice(this.i + 2, this.i + 6))) {
        out += String.fromCharCode(parseInt(s.slice(this.i + 2, this.i + 6), 16));
        this.i += 6;
      } else {
        return this.error('invalid escape in a string');
      }
      runStart = this.i;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Header validation

interface HeaderEntry {
  key: string;
  dtype: StDType;
  shape: number[];
  size: number;
  begin: number;
  end: number;
}

type Fail = (msg: string) => never;

function makeFail(op: string, where: string | undefined): Fail {
  return (msg: string) => {
    throw new ArgumentError(op, where === undefined ? msg : `${where}: ${msg}`);
  };
}

/** Validates the 8-byte prefix against the file size and the limit; returns the header length. */
function readHeaderLength(prefix: Uint8Array, fileBytes: number, maxHeaderBytes: number, fail: Fail): number {
  if (fileBytes < 8) fail(`file is ${fileBytes} bytes, shorter than the 8-byte header length prefix`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileBytes - 8)) fail(`header length ${n} exceeds the ${fileBytes - 8} bytes that follow the 8-byte prefix (file is ${fileBytes} bytes)`);
  if (n > BigInt(maxHeaderBytes)) fail(`header length ${n} exceeds maxHeaderBytes (${maxHeaderBytes})`);
  return Number(n);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Map) return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  return typeof v;
}

function isNonNegInt(v: Json | undefined): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses and validates the header against a data section of `dataBytes` bytes. */
function parseHeader(headerBytes: Uint8Array, dataBytes: number, fail: Fail): { entries: HeaderEntry[]; metadata: Record<string, string> } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    return fail('header is not valid UTF-8');
  }
  const root = new JsonParser(text, fail).parse();
  if (!(root instanceof Map)) return fail(`header is not a JSON object (got ${describe(root)})`);

  const metadata = Object.create(null) as Record<string, string>;
  const entries: HeaderEntry[] = [];
  for (const [key, value] of root) {
    if (key === METADATA_KEY) {
      if (!(value instanceof Map)) fail(`'${METADATA_KEY}' must be an object of strings, got ${describe(value)}`);
      for (const [k, v] of value as JsonObject) {
        if (typeof v !== 'string') fail(`'${METADATA_KEY}' value for key '${k}' must be a string, got ${describe(v)}`);
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    const t = `tensor '${key}'`;
    if (!(value instanceof Map)) fail(`header entry for ${t} is not an object (got ${describe(value)})`);
    const info = value as JsonObject;
    const dtype = info.get('dtype');
    if (typeof dtype !== 'string') fail(`${t} has no string 'dtype' (got ${describe(dtype ?? undefined)})`);
    if (!Object.hasOwn(ST_DTYPES, dtype as string)) {
      fail(`${t} has unsupported dtype '${dtype as string}' (supported: ${Object.keys(ST_DTYPES).join(', ')})`);
    }
    const shape = info.get('shape');
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
      fail(`${t} has an invalid 'shape' (expected an array of non-negative integers, got ${JSON.stringify(toPlain(shape))})`);
    }
    const offsets = info.get('data_offsets');
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt) || offsets[0]! > offsets[1]!) {
      fail(`${t} has invalid 'data_offsets' (expected [begin, end] with integers 0 ≤ begin ≤ end, got ${JSON.stringify(toPlain(offsets))})`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataBytes) fail(`${t} has data_offsets [${begin}, ${end}] outside the data section (${dataBytes} bytes)`);
    const dims = shape as number[];
    const itemsize = ST_DTYPES[dtype as StDType].size;
    const expected = dims.reduce((n, d) => n * BigInt(d), 1n) * BigInt(itemsize);
    if (expected !== BigInt(end - begin)) {
      fail(`${t} has ${end - begin} bytes of data but shape [${dims.join(', ')}] of ${dtype as string} needs ${expected}`);
    }
    entries.push({ key, dtype: dtype as StDType, shape: dims, size: (end - begin) / itemsize, begin, end });
  }

  // The data section must be covered exactly: no overlaps, no holes, nothing after the last tensor.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: HeaderEntry | undefined;
  for (const e of sorted) {
    if (e.begin < cursor) fail(`tensor '${e.key}' [${e.begin}, ${e.end}) overlaps tensor '${prev!.key}' [${prev!.begin}, ${prev!.end})`);
    if (e.begin > cursor) fail(`hole in the data section: bytes [${cursor}, ${e.begin}) before tensor '${e.key}' belong to no tensor`);
    cursor = e.end;
    prev = e;
  }
  if (cursor !== dataBytes) {
    fail(`hole in the data section: bytes [${cursor}, ${dataBytes}) ${prev ? `after tensor '${prev.key}' ` : ''}belong to no tensor`);
  }
  return { entries, metadata };
}

function toPlain(v: Json | undefined): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, toPlain(x)]));
  if (Array.isArray(v)) return v.map(toPlain);
  return v ?? null;
}

// ---------------------------------------------------------------------------------------------------------------
// Element conversion

/** IEEE binary16 bits → the float32 bits of the same value (exact; NaN payloads kept). */
export function halfBitsToFloat32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // ±Infinity, NaN
  if (exp === 0) {
    if (mant === 0) return sign >>> 0; // ±0
    let e = -14; // subnormal: normalize mant·2⁻²⁴ into 1.f · 2^e
    while ((mant & 0x400) === 0) {
      mant <<= 1;
      e--;
    }
    return (sign | ((e + 127) << 23) | ((mant & 0x3ff) << 13)) >>> 0;
  }
  return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
}

/** Converts one tensor's raw little-endian bytes into the typed array it decodes to. */
function convert(e: HeaderEntry, raw: Uint8Array, fail: Fail): TypedArray {
  const n = e.size;
  const out = allocArray(ST_DTYPES[e.dtype].out, n);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const outOfRange = (i: number, value: bigint | number): never =>
    fail(`tensor '${e.key}' (${e.dtype}) has value ${value} at flat index ${i}, outside the int32 range it decodes to`);
  switch (e.dtype) {
    case 'F32':
    case 'F64':
    case 'I32':
      if (LITTLE_ENDIAN) new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(raw);
      else if (e.dtype === 'F32') for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      else if (e.dtype === 'F64') for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      else for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
      break;
    case 'F16': {
      const bits = new Uint32Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) bits[i] = halfBitsToFloat32Bits(dv.getUint16(i * 2, true));
      break;
    }
    case 'BF16': {
      const bits = new Uint32Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) bits[i] = dv.getUint16(i * 2, true) << 16;
      break;
    }
    case 'I64':
      for (let i = 0; i < n; i++) {
        const lo = dv.getUint32(i * 8, true);
        const hi = dv.getInt32(i * 8 + 4, true);
        if (hi === 0 ? lo > 0x7fffffff : hi !== -1 || lo < 0x80000000) outOfRange(i, dv.getBigInt64(i * 8, true));
        out[i] = lo | 0;
      }
      break;
    case 'U64':
      for (let i = 0; i < n; i++) {
        const lo = dv.getUint32(i * 8, true);
        if (dv.getUint32(i * 8 + 4, true) !== 0 || lo > 0x7fffffff) outOfRange(i, dv.getBigUint64(i * 8, true));
        out[i] = lo;
      }
      break;
    case 'U32':
      for (let i = 0; i < n; i++) {
        const v = dv.getUint32(i * 4, true);
        if (v > 0x7fffffff) outOfRange(i, v);
        out[i] = v;
      }
      break;
    case 'I16': for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true); break;
    case 'U16': for (let i = 0; i < n; i++) out[i] = dv.getUint16(i * 2, true); break;
    case 'I8': for (let i = 0; i < n; i++) out[i] = dv.getInt8(i); break;
    case 'U8': for (let i = 0; i < n; i++) out[i] = raw[i]!; break;
    case 'BOOL': for (let i = 0; i < n; i++) out[i] = raw[i]! === 0 ? 0 : 1; break;
  }
  return out;
}

/** Throws unless every value of a floating-point array is finite (integer arrays always are). */
/** Whether a checkFinite option (a flag, or a predicate on tensor names) asks for `name` to be checked. */
export function wantsFiniteCheck(option: boolean | ((name: string) => boolean) | undefined, name: string): boolean {
  return typeof option === 'function' ? option(name) : option === true;
}

function checkFiniteArray(e: HeaderEntry, values: TypedArray, fail: Fail): void {
  if (!(values instanceof Float32Array || values instanceof Float64Array)) return;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0) fail(`tensor '${e.key}' holds a non-finite value (${v}) at flat index ${i}; pass checkFinite: false to load it anyway`);
  }
}

/** Wraps validated, converted arrays as tensors (each array is handed over without a copy). */
function makeTensors(entries: HeaderEntry[], arrays: TypedArray[]): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  entries.forEach((e, i) => out.set(e.key, adoptArray(arrays[i]!, e.shape)));
  return out;
}

function maxHeader(opts: DecodeOptions | undefined, op: string): number {
  const m = opts?.maxHeaderBytes ?? DEFAULT_MAX_HEADER;
  if (!Number.isSafeInteger(m) || m < 0) throw new ArgumentError(op, `maxHeaderBytes must be a non-negative integer, got ${m}`);
  return m;
}

/**
 * Parses a safetensors file held in memory. Every size, offset and dtype is validated against the buffer before
 * anything is allocated; the data section must be covered exactly (no overlaps, no holes). F32/F16/BF16 decode to
 * float32 (exactly), F64 to float64, integer types and BOOL to int32 (I64/U64/U32 values outside int32 throw).
 * Tensor names are Map keys, so names like `__proto__` are ordinary names; metadata is a null-prototype object.
 * @throws ArgumentError('decodeSafetensors', …) naming the problem and the tensor key.
 */
export function decodeSafetensors(bytes: Uint8Array, opts?: DecodeOptions): SafetensorsContents {
  const op = 'decodeSafetensors';
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError(op, `bytes must be a Uint8Array, got ${describe(bytes)}`);
  const fail = makeFail(op, undefined);
  const n = readHeaderLength(bytes, bytes.length, maxHeader(opts, op), fail);
  const start = 8 + n;
  const { entries, metadata } = parseHeader(bytes.subarray(8, start), bytes.length - start, fail);
  const arrays = entries.map((e) => {
    const values = convert(e, bytes.subarray(start + e.begin, start + e.end), fail);
    if (wantsFiniteCheck(opts?.checkFinite, e.key)) checkFiniteArray(e, values, fail);
    return values;
  });
  return { tensors: makeTensors(entries, arrays), metadata };
}

// ---------------------------------------------------------------------------------------------------------------
// Files (Node only: node:fs is loaded on first use, so the encoder and decoder above also run in browsers)

type NodeFs = typeof import('node:fs');

function readExact(fs: NodeFs, fd: number, into: Uint8Array, position: number, fail: Fail): void {
  let done = 0;
  while (done < into.length) {
    const n = fs.readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) fail(`unexpected end of file at byte ${position + done} (was the file truncated while reading?)`);
    done += n;
  }
}

function writeAll(fs: NodeFs, fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length;) {
    done += fs.writeSync(fd, bytes, done, Math.min(WRITE_CHUNK, bytes.length - done));
  }
}

/**
 * Opens a file for reading without blocking (a FIFO would otherwise wait for a writer) and refuses anything but a
 * regular file: directories, FIFOs, sockets and devices get a one-line error naming the path.
 */
function openRegularFile(fs: NodeFs, path: string, fail: Fail): number {
  if (typeof path !== 'string' || path === '') fail('the path is empty');
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied' : 'cannot open it';
    return fail(`${why} (${e.code ?? e.message})`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a regular file';
      fail(`is ${kind}, not a safetensors file`);
    }
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  return fd;
}

interface OpenedFile {
  fs: NodeFs;
  fd: number;
  fail: Fail;
  entries: HeaderEntry[];
  metadata: Record<string, string>;
  /** Byte offset of the data section. */
  start: number;
}

/** Opens `path` (a regular file only), validates its prefix and header, runs `read`, and closes the file. */
function withValidatedFile<T>(op: string, path: string, opts: DecodeOptions | undefined, read: (file: OpenedFile) => T): T {
  const limit = maxHeader(opts, op);
  const fail = makeFail(op, path);
  const fs = nodeBuiltin('node:fs', op);
  const fd = openRegularFile(fs, path, fail);
  try {
    return read({ fs, fd, fail, ...readHeaderOf(fs, fd, limit, fail) });
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads and validates the prefix and header of an open file. */
function readHeaderOf(fs: NodeFs, fd: number, limit: number, fail: Fail): { entries: HeaderEntry[]; metadata: Record<string, string>; start: number } {
  const fileBytes = fs.fstatSync(fd).size;
  const prefix = new Uint8Array(8);
  if (fileBytes >= 8) readExact(fs, fd, prefix, 0, fail);
  const n = readHeaderLength(prefix, fileBytes, limit, fail);
  const header = new Uint8Array(n);
  readExact(fs, fd, header, 8, fail);
  const start = 8 + n;
  return { ...parseHeader(header, fileBytes - start, fail), start };
}

/**
 * Reads and validates a safetensors file's header alone (no tensor data is read): each tensor's dtype and shape and
 * the metadata, so that a loader can check what a file asks for before it builds or allocates anything.
 * @throws ArgumentError('readSafetensorsHeader', '<path>: …') for a malformed file or one that is not a regular file.
 */
export function readSafetensorsHeader(path: string, opts?: DecodeOptions): SafetensorsHeader {
  return withValidatedFile('readSafetensorsHeader', path, opts, ({ entries, metadata }) => (
    { tensors: new Map(entries.map((e) => [e.key, { dtype: e.dtype, shape: e.shape }])), metadata }
  ));
}

/**
 * The `__metadata__` of a safetensors file, read from its header only (no tensor data).
 * @throws ArgumentError for a file that is not safetensors (or not a regular file).
 */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  return readSafetensorsHeader(path).metadata;
}

/**
 * Reads a safetensors file: the header is read and validated first (against the real file size), then each tensor
 * is read straight into its own array. Same validation and dtype rules as decodeSafetensors; only regular files are
 * opened (a directory or FIFO is refused without blocking).
 * @throws ArgumentError('loadSafetensors', '<path>: …') for a malformed, missing or unreadable file.
 */
export function loadSafetensors(path: string, opts?: DecodeOptions): SafetensorsContents {
  return withValidatedFile('loadSafetensors', path, opts, ({ fs, fd, fail, entries, metadata, start }) => {
    const arrays = entries.map((e) => {
      const native = LITTLE_ENDIAN && (e.dtype === 'F32' || e.dtype === 'F64' || e.dtype === 'I32');
      let values: TypedArray;
      if (native) {
        values = allocArray(ST_DTYPES[e.dtype].out, e.size);
        readExact(fs, fd, new Uint8Array(values.buffer, values.byteOffset, values.byteLength), start + e.begin, fail);
      } else {
        const raw = new Uint8Array(e.end - e.begin);
        readExact(fs, fd, raw, start + e.begin, fail);
        values = convert(e, raw, fail);
      }
      if (wantsFiniteCheck(opts?.checkFinite, e.key)) checkFiniteArray(e, values, fail);
      return values;
    });
    return { tensors: makeTensors(entries, arrays), metadata };
  });
}

function fsyncDirectory(fs: NodeFs, dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Directories cannot be opened or fsynced on some platforms (Windows); the rename itself is still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Whether a process with this id is running (EPERM: it exists but belongs to someone else). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/**
 * Removes the temporary files earlier saves of the same target left behind when they were killed: names
 * `.<name>.<pid>.<12 hex>.tmp` whose writer is this process (saves are synchronous, so none of its own is in flight)
 * or a process that no longer runs. Temporaries of other live writers are left alone. Returns the names removed.
 */
export function removeStaleTemporaries(path: string): string[] {
  const fs = nodeBuiltin('node:fs', 'removeStaleTemporaries');
  const { basename, dirname, join } = nodeBuiltin('node:path', 'removeStaleTemporaries');
  const dir = dirname(path), prefix = `.${basename(path)}.`;
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)\.[0-9a-f]{12}\.tmp$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && processAlive(pid)) continue;
    try {
      fs.unlinkSync(join(dir, name));
      removed.push(name);
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed;
}

/**
 * Writes tensors to `path` atomically: everything is validated first, then streamed to a uniquely named temporary
 * file in the same directory, fsynced, renamed over `path`, and the directory is fsynced. A crash at any point
 * leaves either the previous file or the complete new one; the stray `.<name>.<pid>.<random>.tmp` of a killed save
 * is removed by the next save of the same target (removeStaleTemporaries).
 * @example saveSafetensors('ckpt.safetensors', model.stateDict(), { step: '1000' });
 */
export function saveSafetensors(path: string, tensors: ReadonlyMap<string, Tensor>, metadata?: Record<string, string>): void {
  const plan = planEncoding(tensors, metadata, 'saveSafetensors');
  const fs = nodeBuiltin('node:fs', 'saveSafetensors');
  const { basename, dirname, join } = nodeBuiltin('node:path', 'saveSafetensors');
  const { randomBytes } = nodeBuiltin('node:crypto', 'saveSafetensors');
  const dir = dirname(path);
  removeStaleTemporaries(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, 'wx');
  let closed = false;
  try {
    writeAll(fs, fd, prefixBytes(plan.header.length));
    writeAll(fs, fd, plan.header);
    for (const p of plan.tensors) writeAll(fs, fd, tensorBytes(p.tensor));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    closed = true;
    fs.renameSync(tmp, path);
  } catch (err) {
    if (!closed) fs.closeSync(fd);
    try {
      fs.unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw err;
  }
  fsyncDirectory(fs, dir);
}

/**
 * Saves a module's state dict (parameters and buffers under their dotted names) with saveSafetensors.
 * @example saveModule('model.safetensors', model, { epoch: '3' });
 */
export function saveModule(path: string, module: Module, metadata?: Record<string, string>): void {
  saveSafetensors(path, module.stateDict(), metadata);
}

/**
 * Loads a checkpoint (safetensors, or a PyTorch state dict read by loadPth when the path ends in .pth / .pt) into
 * a module with Module.loadStateDict (values cast to each parameter's dtype; shapes must match; missing/unexpected keys throw when strict, the default, and are reported otherwise). The decoded tensors
 * are disposed before returning, also when loading fails. Non-finite weights are refused unless `checkFinite: false`.
 * @returns the missing and unexpected keys, and the file's metadata.
 */
export function loadModule(path: string, module: Module, opts: LoadModuleOptions = {}): LoadReport & { metadata: Record<string, string> } {
  // only what the module holds is checked: a buffer it recomputes may hold ±Infinity (the official attn_bias_for_masking)
  const wanted = new Set(module.stateDict().keys());
  const checkFinite = (opts.checkFinite ?? true) ? (name: string) => wanted.has(name) : false;
  // PyTorch checkpoints (.pth / .pt) go through the restricted unpickler; they carry no metadata
  const { tensors, metadata } = /\.pth?$/i.test(path) ? { tensors: loadPth(path, { checkFinite }).tensors, metadata: {} } : loadSafetensors(path, { ...opts, checkFinite });
  try {
    const report = module.loadStateDict(tensors, opts.strict === undefined ? {} : { strict: opts.strict });
    return { ...report, metadata };
  } catch (err) {
    // the same error class, its message prefixed with the file it came from
    if (!(err instanceof ViarError)) throw err;
    const Ctor = err.constructor as new (op: string, message: string) => ViarError;
    throw new Ctor('loadModule', `${path}: ${err.message}`);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
