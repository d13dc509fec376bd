// Safetensors checkpoints: bit-exact round trips, hand-built F16/BF16/I64 files, one test per malformed input,
// prototype-pollution safety, a fast-check round trip, Module save/load, and a save killed mid-write.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArgumentError, Rng, ShapeError, arange, memory, randn, tensor, type Tensor, type TypedArray } from '../../src/index.js';
import { Module } from '../../src/nn/module.js';
import {
  decodeSafetensors, encodeSafetensors, loadModule, loadSafetensors, saveModule, saveSafetensors,
} from '../../src/nn/safetensors.js';

const SEED = 20240611;
const here = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = resolve(here, '../..');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'viar-safetensors-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// ----------------------------------------------------------------------------------------------------------------
// helpers

function bytesOf(a: TypedArray): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function f32FromBits(bits: number[]): Float32Array {
  return new Float32Array(new Uint32Array(bits).buffer);
}

function f64FromBits(bits: bigint[]): Float64Array {
  return new Float64Array(new BigUint64Array(bits).buffer);
}

/** A safetensors file from a header (object or raw JSON text) and data bytes, with an optional forged length. */
function build(header: string | object, data: ArrayLike<number> = [], headerLength?: bigint): Uint8Array {
  const h = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function le16(values: number[]): Uint8Array {
  return new Uint8Array(new Uint16Array(values).buffer);
}

function le64(values: bigint[]): Uint8Array {
  return new Uint8Array(new BigInt64Array(values).buffer);
}

function f32(shape: number[], begin: number, end: number) {
  return { dtype: 'F32', shape, data_offsets: [begin, end] };
}

/** Decodes `bytes`, expecting an ArgumentError from decodeSafetensors; checks nothing leaked and returns the message. */
function decodeError(bytes: Uint8Array, opts?: { maxHeaderBytes?: number }): string {
  const before = memory().numTensors;
  let caught: unknown;
  try {
    decodeSafetensors(bytes, opts);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ArgumentError);
  expect(memory().numTensors).toBe(before);
  const message = (caught as Error).message;
  expect(message.startsWith('decodeSafetensors: ')).toBe(true);
  return message;
}

function expectSameTensors(got: Map<string, Tensor>, want: ReadonlyMap<string, Tensor>): void {
  expect([...got.keys()]).toEqual([...want.keys()]);
  for (const [k, w] of want) {
    const g = got.get(k)!;
    expect(g.dtype, k).toBe(w.dtype);
    expect(g.shape, k).toEqual(w.shape);
    expect(bytesOf(g.dataSync()).equals(bytesOf(w.dataSync())), k).toBe(true);
  }
}

function disposeAll(m: Map<string, Tensor>): void {
  for (const t of m.values()) t.dispose();
}

// ----------------------------------------------------------------------------------------------------------------

describe('round trips', () => {
  const special32 = f32FromBits([
    0x00000000, 0x80000000, 0x7f800000, 0xff800000, // +0, −0, ±Infinity
    0x7fc00000, 0xffc00001, 0x7f800001, 0x7fbfffff, // quiet/signalling NaNs with payloads
    0x00000001, 0x807fffff, 0x7f7fffff, 0x3eaaaaab, // subnormals, max, 1/3
  ]);
  const special64 = f64FromBits([
    0n, 0x8000000000000000n, 0x7ff0000000000000n, 0xfff0000000000000n,
    0x7ff8000000000000n, 0xfff8000000000001n, 0x7ff0000000000001n, 0x0000000000000001n,
    0x3fd5555555555555n, 0x7fefffffffffffffn,
  ]);
  const int32 = new Int32Array([0, -1, 1, 2147483647, -2147483648, 123456789]);

  function sample(): Map<string, Tensor> {
    const base = tensor(new Float32Array(Array.from({ length: 12 }, (_, i) => i * 1.5 - 4)), { shape: [3, 4] });
    const m = new Map<string, Tensor>([
      ['f32', tensor(special32, { shape: [3, 4] })],
      ['f64', tensor(special64, { shape: [2, 5] })],
      ['i32', tensor(int32, { shape: [6] })],
      ['empty', tensor(new Float32Array(0), { shape: [0] })],
      ['empty2d', tensor(new Float64Array(0), { shape: [2, 0, 3] })],
      ['scalar', tensor(new Float64Array([-0]), { shape: [] })],
      ['scalar.i32', tensor(new Int32Array([-7]), { shape: [] })],
      ['view.transpose', base.transpose()],
      ['view.slice', arange(20, undefined, 1, { dtype: 'int32' }).reshape([4, 5]).slice([[1, 4, 2], [0, 5, 2]])],
      ['view.expand', tensor(new Float32Array([1, 2, 3]), { shape: [3, 1] }).expand([3, 4])],
    ]);
    return m;
  }

  test('views really are non-contiguous views', () => {
    const m = sample();
    for (const k of ['view.transpose', 'view.slice', 'view.expand']) expect(m.get(k)!.isContiguous, k).toBe(false);
    expect(m.get('view.slice')!.toArray()).toEqual([[5, 7, 9], [15, 17, 19]]);
  });

  test('encode → decode is bit-exact, with metadata', () => {
    const m = sample();
    const { tensors, metadata } = decodeSafetensors(encodeSafetensors(m, { step: '42', note: 'héllo ✓' }));
    expectSameTensors(tensors, m);
    expect({ ...metadata }).toEqual({ step: '42', note: 'héllo ✓' });
    expect(Object.getPrototypeOf(metadata)).toBeNull();
    disposeAll(tensors);
  });

  test('saveSafetensors → loadSafetensors is bit-exact', () => {
    const m = sample();
    const path = join(dir, 'roundtrip.safetensors');
    saveSafetensors(path, m, { format: 'pt' });
    const { tensors, metadata } = loadSafetensors(path);
    expectSameTensors(tensors, m);
    expect({ ...metadata }).toEqual({ format: 'pt' });
    // the file is exactly what encodeSafetensors produces, and no temporary file is left behind
    expect(readFileSync(path).equals(Buffer.from(encodeSafetensors(m, { format: 'pt' })))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    disposeAll(tensors);
  });

  test('the layout: u64 header length, space-padded JSON, contiguous data in key order', () => {
    const m = new Map<string, Tensor>([
      ['b', tensor(new Int32Array([1, 2, 3]))],
      ['a', tensor(new Float64Array([0.5]), { shape: [1, 1] })],
    ]);
    const bytes = encodeSafetensors(m, { k: 'v' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const json = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(json.trimEnd()).toBe(
      '{"__metadata__":{"k":"v"},"b":{"dtype":"I32","shape":[3],"data_offsets":[0,12]},"a":{"dtype":"F64","shape":[1,1],"data_offsets":[12,20]}}',
    );
    expect(/^ *$/.test(json.slice(json.trimEnd().length))).toBe(true);
    expect(bytes.length).toBe(8 + n + 20);
    const dv = new DataView(bytes.buffer, 8 + n);
    expect([dv.getInt32(0, true), dv.getInt32(4, true), dv.getInt32(8, true), dv.getFloat64(12, true)]).toEqual([1, 2, 3, 0.5]);
    // no metadata argument: no __metadata__ entry
    expect(new TextDecoder().decode(encodeSafetensors(new Map())).trimEnd().slice(8)).toBe('{}');
  });

  test('decoding disposes nothing it should keep and leaks nothing', () => {
    const m = sample();
    const bytes = encodeSafetensors(m);
    const before = memory().numTensors;
    const { tensors } = decodeSafetensors(bytes);
    expect(memory().numTensors).toBe(before + m.size);
    disposeAll(tensors);
    expect(memory().numTensors).toBe(before);
  });

  test('fast-check: any tensors (all bit patterns, any shapes, any names) survive encode → decode', () => {
    const dtypeArb = fc.constantFrom('float32' as const, 'float64' as const, 'int32' as const);
    const entryArb = fc.record({
      dtype: dtypeArb,
      shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    });
    const nameArb = fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => s !== '__metadata__');
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(nameArb, entryArb), { selector: ([n]) => n, maxLength: 6 }),
        fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
        (entries, meta) => {
          const m = new Map<string, Tensor>();
          for (const [name, { dtype, shape, seed }] of entries) {
            const size = shape.reduce((a, b) => a * b, 1);
            const words = new Uint32Array(size * (dtype === 'float64' ? 2 : 1));
            let s = seed;
            for (let i = 0; i < words.length; i++) words[i] = s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + i) >>> 0;
            const values = dtype === 'float32' ? new Float32Array(words.buffer) : dtype === 'float64' ? new Float64Array(words.buffer) : new Int32Array(words.buffer);
            m.set(name, tensor(values, { shape }));
          }
          const metadata = Object.assign(Object.create(null) as Record<string, string>, meta);
          const { tensors, metadata: got } = decodeSafetensors(encodeSafetensors(m, metadata));
          try {
            expectSameTensors(tensors, m);
            expect({ ...got }).toEqual({ ...metadata });
          } finally {
            disposeAll(tensors);
            disposeAll(m);
          }
        }),
      { seed: SEED, numRuns: 150 },
    );
  });

  test('fast-check: corrupting any bytes of a file gives a clean ArgumentError or a valid decode, never anything else', () => {
    const m = new Map<string, Tensor>([
      ['w', tensor(new Float32Array([1, 2, 3, 4]), { shape: [2, 2] })],
      ['idx', tensor(new Int32Array([7, 8]))],
    ]);
    const good = encodeSafetensors(m, { a: 'b' });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat({ max: good.length }), (edits, cut) => {
          const bytes = good.slice(0, Math.max(cut, good.length - 3 + (cut % 4)));
          for (const [i, v] of edits) if (i < bytes.length) bytes[i] = v;
          try {
            disposeAll(decodeSafetensors(bytes).tensors);
          } catch (err) {
            expect(err).toBeInstanceOf(ArgumentError);
          }
        }),
      { seed: SEED, numRuns: 400 },
    );
  });
});

describe('the header parser (own JSON parser: Maps, duplicate detection)', () => {
  test('fast-check: it accepts exactly the JSON that JSON.parse accepts', () => {
    const mutated = fc.json({ maxDepth: 4 }).chain((j) => fc.tuple(fc.constant(j), fc.nat({ max: j.length }), fc.string({ maxLength: 2 }))
      .map(([s, i, ins]) => s.slice(0, i) + ins + s.slice(i + 1)));
    const textArb = fc.oneof(fc.json({ maxDepth: 4 }), mutated, fc.string({ maxLength: 12 }));
    fc.assert(
      fc.property(textArb, (raw) => {
        const text = new TextDecoder().decode(new TextEncoder().encode(raw)); // what the file really holds
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        let message = '';
        try {
          disposeAll(decodeSafetensors(build(text)).tensors);
        } catch (err) {
          expect(err).toBeInstanceOf(ArgumentError);
          message = (err as Error).message;
        }
        if (valid) expect(message).not.toMatch(/not valid JSON(?!: nesting)/);
        else expect(message).toMatch(/header is not valid JSON|duplicate key/);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  test('fast-check: any metadata strings (escapes, control characters, lone surrogates) parse back exactly', () => {
    const str = fc.string({ unit: 'binary', maxLength: 10 });
    fc.assert(
      fc.property(fc.dictionary(str, str, { maxKeys: 4 }), (meta) => {
        const { metadata } = decodeSafetensors(build(JSON.stringify({ __metadata__: meta })));
        expect({ ...metadata }).toEqual({ ...meta });
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe('decoding other dtypes from hand-built files', () => {
  test('F16 decodes to float32 exactly, for all 65536 bit patterns', () => {
    const all = Array.from({ length: 65536 }, (_, i) => i);
    const { tensors } = decodeSafetensors(build({ h: { dtype: 'F16', shape: [256, 256], data_offsets: [0, 131072] } }, le16(all)));
    const t = tensors.get('h')!;
    expect(t.dtype).toBe('float32');
    const got = t.dataSync() as Float32Array;
    const bits = new Uint32Array(got.buffer);
    for (const h of all) {
      const sign = h & 0x8000 ? -1 : 1;
      const exp = (h >> 10) & 0x1f;
      const mant = h & 0x3ff;
      if (exp === 0x1f && mant !== 0) {
        // NaN: same sign, payload shifted into the top of the float32 mantissa
        expect(bits[h]).toBe((((h & 0x8000) << 16) | 0x7f800000 | (mant << 13)) >>> 0);
        continue;
      }
      const want = exp === 0x1f ? sign * Infinity : exp === 0 ? sign * mant * 2 ** -24 : sign * (1 + mant / 1024) * 2 ** (exp - 15);
      if (!Object.is(got[h], want)) expect(`${h.toString(16)}: ${got[h]}`).toBe(`${h.toString(16)}: ${want}`);
    }
    // a few by name
    const named = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x8000, 0x7c00, 0xfc00, 0x3555];
    expect(named.map((h) => got[h])).toEqual([1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, -0, Infinity, -Infinity, 0.333251953125]);
    disposeAll(tensors);
  });

  test('BF16 decodes to float32 exactly (the top half of its bits)', () => {
    const halves = [0x3f80, 0xc049, 0x7f80, 0xff80, 0x0001, 0x8000, 0x7fc0, 0x4049, 0x7f7f, 0xffc1];
    const { tensors } = decodeSafetensors(build({ b: { dtype: 'BF16', shape: [2, 5], data_offsets: [0, 20] } }, le16(halves)));
    const t = tensors.get('b')!;
    expect(t.dtype).toBe('float32');
    expect(t.shape).toEqual([2, 5]);
    expect([...new Uint32Array((t.dataSync() as Float32Array).buffer)]).toEqual(halves.map((h) => (h << 16) >>> 0));
    expect((t.dataSync() as Float32Array).slice(0, 6)).toEqual(new Float32Array([1, -3.140625, Infinity, -Infinity, 2 ** -133, -0]));
    disposeAll(tensors);
  });

  test('I64 decodes to int32, and values outside int32 are an error naming the tensor', () => {
    const values = [0n, -1n, 42n, 2147483647n, -2147483648n, -123456789n];
    const { tensors } = decodeSafetensors(build({ idx: { dtype: 'I64', shape: [3, 2], data_offsets: [0, 48] } }, le64(values)));
    expect(tensors.get('idx')!.dtype).toBe('int32');
    expect([...tensors.get('idx')!.dataSync()]).toEqual(values.map(Number));
    disposeAll(tensors);
    for (const bad of [2147483648n, -2147483649n, 1n << 40n, -(1n << 62n)]) {
      const bytes = build({ ok: { dtype: 'F32', shape: [], data_offsets: [0, 4] }, idx: { dtype: 'I64', shape: [2], data_offsets: [4, 20] } },
        [...new Uint8Array(4), ...le64([5n, bad])]);
      expect(decodeError(bytes)).toBe(`decodeSafetensors: tensor 'idx' (I64) has value ${bad} at flat index 1, outside the int32 range it decodes to`);
    }
  });

  test('F64 stays float64; small integer types and BOOL decode to int32', () => {
    const data = [
      ...new Uint8Array(new Float64Array([Math.PI]).buffer),
      ...new Uint8Array(new Int16Array([-300, 300]).buffer),
      ...new Uint8Array(new Uint16Array([65535]).buffer),
      ...new Uint8Array(new Int8Array([-128, 127]).buffer),
      255, 0, 1, 0, 1,
      ...new Uint8Array(new Uint32Array([2147483647]).buffer),
    ];
    const { tensors } = decodeSafetensors(build({
      d: { dtype: 'F64', shape: [], data_offsets: [0, 8] },
      i16: { dtype: 'I16', shape: [2], data_offsets: [8, 12] },
      u16: { dtype: 'U16', shape: [1], data_offsets: [12, 14] },
      i8: { dtype: 'I8', shape: [2], data_offsets: [14, 16] },
      u8: { dtype: 'U8', shape: [2], data_offsets: [16, 18] },
      bool: { dtype: 'BOOL', shape: [3], data_offsets: [18, 21] },
      u32: { dtype: 'U32', shape: [1], data_offsets: [21, 25] },
    }, data));
    expect(tensors.get('d')!.dtype).toBe('float64');
    expect(tensors.get('d')!.item()).toBe(Math.PI);
    const ints = Object.fromEntries(['i16', 'u16', 'i8', 'u8', 'bool', 'u32'].map((k) => [k, [tensors.get(k)!.dtype, ...tensors.get(k)!.dataSync()]]));
    expect(ints).toEqual({
      i16: ['int32', -300, 300], u16: ['int32', 65535], i8: ['int32', -128, 127], u8: ['int32', 255, 0], bool: ['int32', 1, 0, 1], u32: ['int32', 2147483647],
    });
    disposeAll(tensors);
  });

  // the copy committed under test/fixtures (made by the official VAR code: docs/notes/parity.md)
  const parity = resolve(repoRoot, 'test/fixtures/parity/interp.safetensors');
  test('reads a real checkpoint written by the Python safetensors library (parity/interp)', () => {
    const { tensors, metadata } = loadSafetensors(parity);
    expect(tensors.size).toBeGreaterThan(0);
    const phi = [...tensors].filter(([k]) => k.startsWith('phi_table.'));
    expect(phi.length).toBeGreaterThan(0);
    for (const [, t] of phi) expect(t.dtype).toBe('int32');
    expect(typeof metadata.source).toBe('string');
    disposeAll(tensors);
  });
});

describe('malformed files are rejected with a clear error', () => {
  const ok = { w: f32([2], 0, 8) };
  const data8 = new Uint8Array(8);

  test('file shorter than 8 bytes', () => {
    expect(decodeError(new Uint8Array(5))).toBe('decodeSafetensors: file is 5 bytes, shorter than the 8-byte header length prefix');
    expect(decodeError(new Uint8Array(0))).toMatch(/file is 0 bytes/);
  });

  test('header length larger than the file (nothing is allocated from it)', () => {
    expect(decodeError(build(ok, data8, 1000n))).toMatch(/header length 1000 exceeds the \d+ bytes that follow the 8-byte prefix/);
    expect(decodeError(build(ok, data8, 0xffffffffffffffffn))).toMatch(/header length 18446744073709551615 exceeds/);
  });

  test('header length larger than maxHeaderBytes', () => {
    const bytes = build(ok, data8);
    expect(decodeError(bytes, { maxHeaderBytes: 16 })).toMatch(/header length \d+ exceeds maxHeaderBytes \(16\)/);
    disposeAll(decodeSafetensors(bytes, { maxHeaderBytes: 1024 }).tensors);
  });

  test('invalid UTF-8', () => {
    const bytes = build('{"w":{}}');
    bytes[10] = 0xff;
    expect(decodeError(bytes)).toBe('decodeSafetensors: header is not valid UTF-8');
  });

  test('invalid JSON', () => {
    expect(decodeError(build('{"w": '))).toMatch(/header is not valid JSON: unexpected end of input at character 6/);
    expect(decodeError(build('{"w": 1,}'))).toMatch(/header is not valid JSON: expected a string key/);
    expect(decodeError(build('{} x'))).toMatch(/header is not valid JSON: unexpected characters after the top-level value/);
    expect(decodeError(build("{'w': 1}"))).toMatch(/header is not valid JSON/);
    expect(decodeError(build(''))).toMatch(/header is not valid JSON/);
    expect(decodeError(build('['.repeat(100) + ']'.repeat(100)))).toMatch(/nesting deeper than 32/);
  });

  test('header not a JSON object', () => {
    expect(decodeError(build('[1, 2]'))).toBe('decodeSafetensors: header is not a JSON object (got an array)');
    expect(decodeError(build('"w"'))).toBe('decodeSafetensors: header is not a JSON object (got the string "w")');
    expect(decodeError(build('null'))).toMatch(/not a JSON object \(got null\)/);
  });

  test('entry not an object', () => {
    expect(decodeError(build({ w: 5 }))).toBe("decodeSafetensors: header entry for tensor 'w' is not an object (got number 5)");
    expect(decodeError(build({ w: [1] }))).toMatch(/header entry for tensor 'w' is not an object \(got an array\)/);
  });

  test('unknown or missing dtype', () => {
    expect(decodeError(build({ w: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, data8)))
      .toMatch(/^decodeSafetensors: tensor 'w' has unsupported dtype 'Q4' \(supported: F64, F32, F16, BF16, I64/);
    expect(decodeError(build({ w: { dtype: 'F8_E4M3', shape: [8], data_offsets: [0, 8] } }, data8))).toMatch(/tensor 'w' has unsupported dtype 'F8_E4M3'/);
    expect(decodeError(build({ w: { dtype: 'toString', shape: [8], data_offsets: [0, 8] } }, data8))).toMatch(/unsupported dtype 'toString'/);
    expect(decodeError(build({ w: { shape: [2], data_offsets: [0, 8] } }, data8))).toMatch(/tensor 'w' has no string 'dtype'/);
  });

  test('shape not an array of non-negative integers', () => {
    for (const shape of [[-1], [1.5], '2', [1, '2'], null, [2 ** 60]]) {
      expect(decodeError(build({ w: { dtype: 'F32', shape, data_offsets: [0, 8] } }, data8)))
        .toBe(`decodeSafetensors: tensor 'w' has an invalid 'shape' (expected an array of non-negative integers, got ${JSON.stringify(shape)})`);
    }
  });

  test('data_offsets not two integers with begin ≤ end', () => {
    for (const offs of [[8, 0], [0], [0, 8, 8], [0, 7.5], ['0', 8], [-8, 0], null]) {
      expect(decodeError(build({ w: { dtype: 'F32', shape: [2], data_offsets: offs } }, data8)))
        .toMatch(/^decodeSafetensors: tensor 'w' has invalid 'data_offsets' \(expected \[begin, end\] with integers 0 ≤ begin ≤ end, got /);
    }
    expect(decodeError(build({ w: { dtype: 'F32', shape: [2] } }, data8))).toMatch(/tensor 'w' has invalid 'data_offsets'.*got null/);
  });

  test('offsets outside the data section', () => {
    expect(decodeError(build({ w: f32([4], 0, 16) }, data8)))
      .toBe("decodeSafetensors: tensor 'w' has data_offsets [0, 16] outside the data section (8 bytes)");
    expect(decodeError(build({ w: f32([0], 9, 9) }, data8))).toMatch(/tensor 'w' has data_offsets \[9, 9\] outside/);
  });

  test('byte length ≠ product(shape) · itemsize', () => {
    expect(decodeError(build({ w: f32([3], 0, 8) }, data8))).toBe("decodeSafetensors: tensor 'w' has 8 bytes of data but shape [3] of F32 needs 12");
    expect(decodeError(build({ w: { dtype: 'F64', shape: [2], data_offsets: [0, 8] } }, data8))).toMatch(/shape \[2\] of F64 needs 16/);
    expect(decodeError(build({ w: f32([2 ** 40, 2 ** 40], 0, 8) }, data8))).toMatch(/needs 4835703278458516698824704/);
  });

  test('overlapping tensors', () => {
    expect(decodeError(build({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, new Uint8Array(12))))
      .toBe("decodeSafetensors: tensor 'b' [4, 12) overlaps tensor 'a' [0, 8)");
    expect(decodeError(build({ a: f32([2], 0, 8), b: f32([2], 0, 8) }, data8))).toMatch(/tensor 'b' \[0, 8\) overlaps tensor 'a' \[0, 8\)/);
  });

  test('holes in the data section', () => {
    expect(decodeError(build({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, new Uint8Array(12))))
      .toBe("decodeSafetensors: hole in the data section: bytes [4, 8) before tensor 'b' belong to no tensor");
    expect(decodeError(build({ a: f32([1], 0, 4) }, data8)))
      .toBe("decodeSafetensors: hole in the data section: bytes [4, 8) after tensor 'a' belong to no tensor");
    expect(decodeError(build({}, data8))).toBe('decodeSafetensors: hole in the data section: bytes [0, 8) belong to no tensor');
  });

  test('duplicated keys in the JSON', () => {
    expect(decodeError(build(`{"w": ${JSON.stringify(ok.w)}, "w": ${JSON.stringify(ok.w)}}`, data8)))
      .toBe("decodeSafetensors: duplicate key 'w' in the header");
    expect(decodeError(build('{"w": {"dtype": "F32", "dtype": "F64", "shape": [2], "data_offsets": [0, 8]}}', data8)))
      .toBe("decodeSafetensors: duplicate key 'dtype' in the header entry 'w'");
    expect(decodeError(build('{"__metadata__": {"a": "1", "a": "2"}}'))).toMatch(/duplicate key 'a' in the header entry '__metadata__'/);
  });

  test('malformed __metadata__', () => {
    expect(decodeError(build({ __metadata__: { n: 1 } }))).toBe("decodeSafetensors: '__metadata__' value for key 'n' must be a string, got number 1");
    expect(decodeError(build({ __metadata__: ['a'] }))).toMatch(/'__metadata__' must be an object of strings, got an array/);
  });

  test('loadSafetensors names the op and the file; truncation is caught', () => {
    const path = join(dir, 'bad.safetensors');
    writeFileSync(path, build({ w: f32([3], 0, 8) }, data8));
    expect(() => loadSafetensors(path)).toThrow(ArgumentError);
    expect(() => loadSafetensors(path)).toThrow(`loadSafetensors: ${path}: tensor 'w' has 8 bytes of data but shape [3] of F32 needs 12`);
    writeFileSync(path, new Uint8Array(3));
    expect(() => loadSafetensors(path)).toThrow(`loadSafetensors: ${path}: file is 3 bytes, shorter than the 8-byte header length prefix`);
    writeFileSync(path, build(ok, data8).subarray(0, 20));
    expect(() => loadSafetensors(path)).toThrow(/loadSafetensors: .*header length \d+ exceeds the 12 bytes/);
    expect(() => loadSafetensors(join(dir, 'nope.safetensors'))).toThrow(/ENOENT/);
  });

  test('the encoder rejects what it cannot write', () => {
    const t = tensor([1, 2]);
    expect(() => encodeSafetensors(new Map([['__metadata__', t]]))).toThrow("encodeSafetensors: '__metadata__' is reserved for metadata and cannot name a tensor");
    expect(() => encodeSafetensors(new Map([['w', t]]), { n: 1 as unknown as string })).toThrow("encodeSafetensors: metadata value for key 'n' must be a string, got number 1");
    expect(() => encodeSafetensors({ w: t } as unknown as Map<string, Tensor>)).toThrow(/tensors must be a Map/);
    const gone = tensor([1]);
    gone.dispose();
    expect(() => encodeSafetensors(new Map([['w', gone]]))).toThrow(/encodeSafetensors: argument 'w' .* was disposed/);
  });
});

describe('prototype pollution', () => {
  const names = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'];

  test('__proto__, constructor, prototype… load as ordinary tensor names (Map keys) and pollute nothing', () => {
    const header: string[] = names.map((n, i) => `"${n}": ${JSON.stringify(f32([1], i * 4, i * 4 + 4))}`);
    const meta = '"__metadata__": {"__proto__": "x", "constructor": "y", "polluted": "no"}';
    const data = new Uint8Array(new Float32Array(names.map((_, i) => i + 1)).buffer);
    const { tensors, metadata } = decodeSafetensors(build(`{${meta}, ${header.join(', ')}}`, data));
    expect([...tensors.keys()]).toEqual(names);
    expect(names.map((n) => tensors.get(n)!.item())).toEqual([1, 2, 3, 4, 5]);
    expect(Object.getPrototypeOf(metadata)).toBeNull();
    expect(Object.keys(metadata)).toEqual(['__proto__', 'constructor', 'polluted']);
    expect(metadata['__proto__']).toBe('x');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'x')).toBe(false);
    disposeAll(tensors);
  });

  test('they also round-trip through encode and save', () => {
    const m = new Map(names.map((n, i) => [n, tensor([i, -i])] as const));
    const metadata = Object.create(null) as Record<string, string>;
    Object.defineProperty(metadata, '__proto__', { value: 'meta', enumerable: true });
    const path = join(dir, 'proto.safetensors');
    saveSafetensors(path, m, metadata);
    const got = loadSafetensors(path);
    expectSameTensors(got.tensors, m);
    expect(got.metadata['__proto__']).toBe('meta');
    disposeAll(got.tensors);
  });
});

describe('modules', () => {
  class Child extends Module {
    w: Tensor;
    constructor(rng: Rng, n = 4) {
      super();
      this.w = randn([n], rng).requireGrad();
    }
  }
  class Tiny extends Module {
    a: Tensor;
    b: Tensor;
    child: Child;
    constructor(seed: number, aShape: number[] = [2, 3]) {
      super();
      const rng = new Rng(seed);
      this.a = randn(aShape, rng).requireGrad();
      this.b = randn([3], rng, { dtype: 'float64' }).requireGrad();
      this.child = new Child(rng);
    }
  }

  function stateBytes(m: Module): Record<string, Buffer> {
    return Object.fromEntries([...m.stateDict()].map(([k, t]) => [k, bytesOf(t.dataSync())]));
  }

  test('saveModule → loadModule restores every parameter bit for bit and disposes what it decoded', () => {
    const src = new Tiny(1);
    const dst = new Tiny(2);
    expect([...src.stateDict().keys()]).toEqual(['a', 'b', 'child.w']);
    expect(stateBytes(dst)).not.toEqual(stateBytes(src));
    const path = join(dir, 'tiny.safetensors');
    saveModule(path, src, { epoch: '3' });
    const before = memory();
    const report = loadModule(path, dst);
    expect(memory().numTensors).toBe(before.numTensors);
    expect(memory().numDataBuffers).toBe(before.numDataBuffers);
    expect(report.missing).toEqual([]);
    expect(report.unexpected).toEqual([]);
    expect({ ...report.metadata }).toEqual({ epoch: '3' });
    expect(stateBytes(dst)).toEqual(stateBytes(src));
    expect(dst.b.dtype).toBe('float64');
    expect(dst.a.requiresGrad && dst.a.isLeaf).toBe(true);
  });

  test('strict mode: missing, unexpected and mis-shaped keys are errors (and nothing leaks)', () => {
    const src = new Tiny(1);
    const full = src.stateDict();
    const path = join(dir, 'tiny-bad.safetensors');
    const dst = new Tiny(2);
    const original = stateBytes(dst);
    const extra = tensor([1, 2]);
    const transposed = new Tiny(3, [3, 2]);
    const before = memory().numTensors;

    saveSafetensors(path, new Map([...full].filter(([k]) => k !== 'child.w')));
    expect(() => loadModule(path, dst)).toThrow('loadStateDict: missing keys: child.w');

    saveSafetensors(path, new Map([...full, ['extra.bias', extra]]));
    expect(() => loadModule(path, dst, { strict: true })).toThrow('loadStateDict: unexpected keys: extra.bias');

    saveModule(path, transposed);
    expect(() => loadModule(path, dst)).toThrow(ShapeError);
    expect(() => loadModule(path, dst)).toThrow("loadStateDict: 'a' has shape [3, 2] in the checkpoint but [2, 3] in the model");
    expect(() => loadModule(path, dst, { strict: false })).toThrow(/'a' has shape \[3, 2\]/);

    expect(memory().numTensors).toBe(before); // every decoded tensor was disposed, also on failure
    expect(stateBytes(dst)).toEqual(original); // failed loads changed nothing
  });

  test('non-strict mode reports missing and unexpected keys and loads the rest', () => {
    const src = new Tiny(1);
    const dst = new Tiny(2);
    const path = join(dir, 'tiny-partial.safetensors');
    saveSafetensors(path, new Map([['a', src.a], ['child.w', src.child.w], ['head.weight', tensor([[1]])]]));
    const bBefore = bytesOf(dst.b.dataSync());
    const report = loadModule(path, dst, { strict: false });
    expect(report.missing).toEqual(['b']);
    expect(report.unexpected).toEqual(['head.weight']);
    expect(bytesOf(dst.a.dataSync()).equals(bytesOf(src.a.dataSync()))).toBe(true);
    expect(bytesOf(dst.child.w.dataSync()).equals(bytesOf(src.child.w.dataSync()))).toBe(true);
    expect(bytesOf(dst.b.dataSync()).equals(bBefore)).toBe(true);
  });
});

describe('atomic saves', () => {
  test('a failing save leaves the previous file untouched and no temporary file behind', () => {
    const path = join(dir, 'atomic.safetensors');
    saveSafetensors(path, new Map([['w', tensor([1, 2, 3])]]));
    const original = readFileSync(path);
    const gone = tensor([4]);
    gone.dispose();
    expect(() => saveSafetensors(path, new Map([['w', tensor([9])], ['v', gone]]))).toThrow(/saveSafetensors: argument 'v'/);
    expect(readFileSync(path).equals(original)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.startsWith('.atomic'))).toEqual([]);
    expect(() => saveSafetensors(join(dir, 'no-such-dir', 'x.safetensors'), new Map())).toThrow(/ENOENT/);
  });

  test('a save killed (SIGKILL) while writing a 200 MiB checkpoint leaves the previous checkpoint intact', async () => {
    const target = join(dir, 'crash.safetensors');
    const small = new Map([['w', tensor(new Float32Array([1, -0, NaN, Infinity]))], ['step', tensor(new Int32Array([7]))]]);
    saveSafetensors(target, small, { version: 'old' });
    const original = readFileSync(target);

    const mib = 200;
    const child = spawn(process.execPath, [join(repoRoot, 'node_modules/tsx/dist/cli.mjs'), join(here, 'fixtures/save-large-checkpoint.ts'), target, String(mib)], {
      cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    let exited = false;
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => {
      exited = true;
      res({ code, signal });
    }));

    // Poll (every event-loop turn) until the temporary file exists and has bytes in it, then kill at once.
    const prefix = `.${basename(target)}.`;
    let tmpName: string | undefined;
    const deadline = Date.now() + 15_000;
    while (!exited && Date.now() < deadline) {
      const name = readdirSync(dir).find((f) => f.startsWith(prefix) && f.endsWith('.tmp'));
      if (name && (statSync(join(dir, name), { throwIfNoEntry: false })?.size ?? 0) > 0) {
        child.kill('SIGKILL');
        tmpName = name;
        break;
      }
      await new Promise((r) => setImmediate(r));
    }
    const { signal } = await exit;
    expect(output).toBe('');
    expect(tmpName, 'the child never started writing its temporary file').toBeDefined();
    expect(signal).toBe('SIGKILL');

    // The kill landed mid-write: the orphaned temporary file is a partial checkpoint...
    const partial = statSync(join(dir, tmpName!)).size;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(mib * 1024 * 1024);
    // ...and the target still holds the old checkpoint, byte for byte.
    expect(readFileSync(target).equals(original)).toBe(true);
    const { tensors, metadata } = loadSafetensors(target);
    expectSameTensors(tensors, small);
    expect({ ...metadata }).toEqual({ version: 'old' });
    disposeAll(tensors);
    // The orphan does not get in the way of the next save (which removes it once its writer, tsx's child, is gone).
    saveSafetensors(target, new Map([['w', tensor([5])]]), { version: 'new' });
    const next = loadSafetensors(target);
    expect({ ...next.metadata }).toEqual({ version: 'new' });
    disposeAll(next.tensors);
    rmSync(join(dir, tmpName!), { force: true });
  }, 30_000);
});
