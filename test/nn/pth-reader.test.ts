// The PyTorch checkpoint reader: files written by Debian's PyTorch (test/fixtures/pth, from
// generate-pth-fixtures.py: dtypes, shared-storage views, non-contiguous tensors, zip and legacy formats), loadModule
// and `viar convert` on them, and hostile inputs built here (globals, REDUCE, object opcodes, huge sizes, truncation).

import { describe, expect, test } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as V from '../../src/index.js';
import { convertCheckpoint } from '../../src/cli/convert-command.js';

const dir = join(import.meta.dirname, '../fixtures/pth');
interface Expected { shape: number[]; dtype: string; values: number[] }
const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { files: Record<string, Record<string, Expected>> };

const SKIPPED: Record<string, string[]> = { dtypes: ['nested.count', 'step', 'name'], views: [], module: [] };

describe('files written by PyTorch', () => {
  for (const [file, tensors] of Object.entries(expected.files)) {
    test(`${file}: names in file order, shapes and every value exactly`, () => {
      const out = V.loadPth(join(dir, file));
      try {
        expect(out.format).toBe(file.includes('-zip') ? 'zip' : 'legacy');
        expect([...out.tensors.keys()]).toEqual(Object.keys(tensors).sort((a, b) => order(file, a) - order(file, b)));
        expect(out.skipped).toEqual(SKIPPED[file.split('-')[0]!]);
        for (const [name, e] of Object.entries(tensors)) {
          const t = out.tensors.get(name)!;
          expect(t.shape, name).toEqual(e.shape);
          expect(t.dtype, name).toBe(e.dtype === 'float64' ? 'float64' : e.dtype.startsWith('float') || e.dtype === 'bfloat16' ? 'float32' : 'int32');
          expect(Array.from(t.dataSync()), name).toEqual(e.values.map((v) => (Object.is(v, -0) ? -0 : v)));
        }
        const counts: Record<string, number> = {};
        for (const e of Object.values(tensors)) counts[e.dtype] = (counts[e.dtype] ?? 0) + 1;
        expect(out.storedDtypes).toEqual(counts);
      } finally {
        for (const t of out.tensors.values()) t.dispose();
      }
    });
  }

  test('decodePth on the bytes gives what loadPth gives', () => {
    for (const file of ['views-zip.pth', 'views-legacy.pth']) {
      const a = V.decodePth(new Uint8Array(readFileSync(join(dir, file))));
      const b = V.loadPth(join(dir, file));
      expect([...a.tensors.keys()]).toEqual([...b.tensors.keys()]);
      for (const [k, t] of a.tensors) expect(Array.from(t.dataSync())).toEqual(Array.from(b.tensors.get(k)!.dataSync()));
    }
  });

  test('loadModule reads a .pth state dict (a real module\'s state_dict(), with its _metadata)', () => {
    const seq = new V.Sequential(new V.Linear(3, 2, { rng: new V.Rng(0) }), new V.LayerNorm(2));
    const report = V.loadModule(join(dir, 'module-zip.pth'), seq, { strict: false });
    expect(report.missing).toEqual([]);
    expect(report.unexpected).toEqual(['2.weight', '2.bias', '2.running_mean', '2.running_var', '2.num_batches_tracked']);
    expect(Array.from(seq.stateDict().get('0.weight')!.dataSync())).toEqual(expected.files['module-zip.pth']!['0.weight']!.values);
  });

  test('a pickled nn.Module (not a state dict) is refused, naming the class', () => {
    expect(() => V.loadPth(join(dir, 'whole-module.pth'))).toThrow(/refuses global 'torch\.nn\.modules\.container\.Sequential'.*nothing is executed/);
  });

  test('viar convert writes the same tensors as safetensors', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'viar-pth-')), 'dtypes.safetensors');
    const summary = convertCheckpoint(join(dir, 'dtypes-legacy.pth'), out);
    expect(summary).toMatchObject({ tensors: 13, skipped: ['nested.count', 'step', 'name'] });
    const back = V.loadSafetensors(out);
    expect(back.metadata.converted_from).toBe('dtypes-legacy.pth');
    for (const [name, e] of Object.entries(expected.files['dtypes-legacy.pth']!)) expect(Array.from(back.tensors.get(name)!.dataSync()), name).toEqual(e.values);
  });
});

/** Position of a tensor in the file (the generator's insertion order, nested dicts in place). */
function order(file: string, name: string): number {
  const lists: Record<string, string[]> = {
    dtypes: ['f32', 'f16', 'bf16', 'f64', 'i64', 'i32', 'i16', 'i8', 'u8', 'bool', 'scalar', 'empty', 'nested.inner'],
    views: ['base', 'row', 'col', 'transposed', 'stepped', 'expanded', 'half_t', 'long_col', 'param'],
    module: ['0.weight', '0.bias', '1.weight', '1.bias', '2.weight', '2.bias', '2.running_mean', '2.running_var', '2.num_batches_tracked'],
  };
  return lists[file.split('-')[0]!]!.indexOf(name);
}

// ---------------------------------------------------------------------------------------------------------------
// Hostile inputs, built byte by byte

const enc = new TextEncoder();
const op = {
  proto: [0x80, 2], mark: [0x28], stop: [0x2e], emptyDict: [0x7d], emptyTuple: [0x29], reduce: [0x52], tuple: [0x74], binpersid: [0x51],
  setitem: [0x73], newobj: [0x81], build: [0x62], none: [0x4e],
  global: (m: string, n: string) => [0x63, ...enc.encode(`${m}\n${n}\n`)],
  str: (s: string) => { const b = enc.encode(s); return [0x58, ...u32(b.length), ...b]; },
  int: (v: number) => [0x4a, ...u32(v)],
};
function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
const pickle = (...parts: number[][]) => Uint8Array.from(parts.flat());

/** A stored (uncompressed) zip with the given members; `method` marks every member as compressed when not 0. */
function zip(members: Record<string, Uint8Array>, method = 0): Uint8Array {
  const chunks: number[] = [], central: number[] = [];
  const u16 = (v: number) => [v & 0xff, (v >>> 8) & 0xff];
  let count = 0;
  for (const [name, data] of Object.entries(members)) {
    const n = enc.encode(name), offset = chunks.length;
    chunks.push(...u32(0x04034b50), ...u16(20), ...u16(0), ...u16(method), ...u16(0), ...u16(0), ...u32(0), ...u32(data.length), ...u32(data.length), ...u16(n.length), ...u16(0), ...n, ...data);
    central.push(...u32(0x02014b50), ...u16(20), ...u16(20), ...u16(0), ...u16(method), ...u16(0), ...u16(0), ...u32(0), ...u32(data.length), ...u32(data.length),
      ...u16(n.length), ...u16(0), ...u16(0), ...u16(0), ...u16(0), ...u32(0), ...u32(offset), ...n);
    count++;
  }
  const cdOffset = chunks.length;
  return Uint8Array.from([...chunks, ...central, ...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(count), ...u16(count), ...u32(central.length), ...u32(cdOffset), ...u16(0)]);
}

/** {name: _rebuild_tensor_v2(storage('0', FloatStorage, numel), offset, size, stride)} as a zip checkpoint. */
function tensorCheckpoint(numel: number, size: number[], stride: number[], dataBytes: number | null, offset = 0, name = 'w'): Uint8Array {
  const tuple = (xs: number[]) => [...op.mark, ...xs.flatMap(op.int), ...op.tuple];
  const pkl = pickle(op.proto, op.emptyDict, op.str(name), op.global('torch._utils', '_rebuild_tensor_v2'),
    op.mark, op.mark, op.str('storage'), op.global('torch', 'FloatStorage'), op.str('0'), op.str('cpu'), op.int(numel), op.tuple, op.binpersid,
    op.int(offset), tuple(size), tuple(stride), op.tuple, op.reduce, op.setitem, op.stop);
  return zip(dataBytes === null ? { 'ckpt/data.pkl': pkl } : { 'ckpt/data.pkl': pkl, 'ckpt/data/0': new Uint8Array(dataBytes) });
}

describe('hostile checkpoints are refused with a clear error, nothing is run', () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['GLOBAL os.system then REDUCE', zip({ 'a/data.pkl': pickle(op.proto, op.global('os', 'system'), op.mark, op.str('echo pwned'), op.tuple, op.reduce, op.stop) }),
      /refuses global 'os\.system'/],
    ['GLOBAL builtins.eval (legacy stream)', pickle(op.proto, op.global('builtins', 'eval'), op.stop), /refuses global 'builtins\.eval'/],
    ['STACK_GLOBAL of subprocess.Popen', zip({ 'a/data.pkl': pickle([0x80, 4], [0x8c, 10], [...enc.encode('subprocess')], [0x8c, 5], [...enc.encode('Popen')], [0x93], op.stop) }),
      /refuses global 'subprocess\.Popen'/],
    ['REDUCE of an allowlisted type (a storage class is not a rebuild function)', zip({ 'a/data.pkl': pickle(op.proto, op.global('torch', 'FloatStorage'), op.emptyTuple, op.reduce, op.stop) }),
      /REDUCE of 'torch\.FloatStorage' is not understood/],
    ['REDUCE of a non-global (a string on the stack)', zip({ 'a/data.pkl': pickle(op.proto, op.str('os.system'), op.emptyTuple, op.reduce, op.stop) }),
      /REDUCE of the string 'os\.system': only allowlisted functions/],
    ['NEWOBJ', zip({ 'a/data.pkl': pickle(op.proto, op.global('collections', 'OrderedDict'), op.emptyTuple, op.newobj, op.stop) }), /refuses opcode 0x81 \(NEWOBJ\)/],
    ['INST', zip({ 'a/data.pkl': pickle(op.proto, op.mark, [0x69, ...enc.encode('os\nsystem\n')], op.stop) }), /refuses opcode 0x69 \(INST\)/],
    ['a persistent id that is not a storage', zip({ 'a/data.pkl': pickle(op.proto, op.str('evil'), op.binpersid, op.stop) }), /unknown persistent id the string 'evil'/],
    ['a top-level list instead of a dict', zip({ 'a/data.pkl': pickle(op.proto, [0x5d], op.stop) }), /holds a tuple\/list of 0, not a state dict/],
    ['BINUNICODE claiming 4 GiB', zip({ 'a/data.pkl': pickle(op.proto, [0x58, 0xff, 0xff, 0xff, 0xff], op.stop) }), /truncated pickle: 4294967295 bytes wanted/],
    ['a tensor of 2^40 elements', tensorCheckpoint(16, [1 << 20, 1 << 20], [1 << 20, 1], 64), /\(1099511627776 elements\), more than the 2147483647 allowed/],
    ['a tensor reaching past its storage (stride)', tensorCheckpoint(16, [4, 4], [8, 1], 64), /reaches element 27 of a storage of 16/],
    ['a tensor reaching past its storage (offset)', tensorCheckpoint(16, [4], [1], 64, 13), /reaches element 16 of a storage of 16/],
    ['a storage claiming more elements than its data holds', tensorCheckpoint(1_000_000_000, [4], [1], 16), /holds 16 bytes, less than its 1000000000 float32 elements/],
    ['a storage member that is missing', tensorCheckpoint(4, [4], [1], null), /storage '0' has no member ckpt\/data\/0/],
    ['a compressed member', zip({ 'a/data.pkl': pickle(op.proto, op.emptyDict, op.stop) }, 8), /compressed \(method 8\)/],
    ['a zip without data.pkl', zip({ 'a/other': new Uint8Array(3) }), /without data\.pkl/],
    ['an unterminated pickle', zip({ 'a/data.pkl': pickle(op.proto, op.emptyDict) }), /truncated pickle/],
    ['BUILD on a storage class', zip({ 'a/data.pkl': pickle(op.proto, op.global('torch', 'FloatStorage'), op.emptyDict, op.build, op.stop) }), /BUILD on global 'torch\.FloatStorage'/],
    ['not a checkpoint at all', enc.encode('hello world'), /not a PyTorch checkpoint/],
  ];
  test.each(cases)('%s', (_, bytes, message) => {
    expect(() => V.decodePth(bytes, {}, 'hostile.pth')).toThrow(message);
    expect(() => V.decodePth(bytes, {}, 'hostile.pth')).toThrow(V.ArgumentError);
  });

  test('the hand-built valid checkpoint loads (the hostile cases differ from it in one thing each)', () => {
    const out = V.decodePth(tensorCheckpoint(16, [2, 4], [8, 2], 64, 1));
    expect(out.tensors.get('w')!.shape).toEqual([2, 4]);
  });

  test('truncated real checkpoints: every cut of the zip and legacy files fails cleanly', () => {
    for (const file of ['dtypes-zip.pth', 'dtypes-legacy.pth']) {
      const bytes = new Uint8Array(readFileSync(join(dir, file)));
      for (const cut of [0, 1, 10, 100, bytes.length >> 1, bytes.length - 30, bytes.length - 1]) {
        expect(() => V.decodePth(bytes.subarray(0, cut), {}, `${file}[:${cut}]`), `${file} cut at ${cut}`).toThrow(V.ArgumentError);
      }
    }
  });

  test('a file on disk that is a directory, and NaN weights under checkFinite', () => {
    expect(() => V.loadPth(dir)).toThrow(/is not a regular file|EISDIR/);
    const path = join(mkdtempSync(join(tmpdir(), 'viar-pth-')), 'nan.pth');
    const bytes = tensorCheckpoint(4, [4], [1], 16);
    const data = new DataView(bytes.buffer);
    // the storage member is the second local entry: find its 16 data bytes after the name 'ckpt/data/0'
    const at = Buffer.from(bytes).indexOf('ckpt/data/0') + 'ckpt/data/0'.length;
    data.setFloat32(at + 4, NaN, true);
    writeFileSync(path, bytes);
    expect(V.loadPth(path).tensors.get('w')!.dataSync()[1]).toBeNaN();
    expect(() => V.loadPth(path, { checkFinite: true })).toThrow(/tensor 'w' has the non-finite value NaN at flat index 1/);
  });

  test('loadModule checks only what the module holds: an official -Infinity mask buffer it recomputes loads, a NaN weight does not', () => {
    const dir2 = mkdtempSync(join(tmpdir(), 'viar-pth-'));
    const write = (name: string, value: number) => {
      const bytes = tensorCheckpoint(2, [2], [1], 8, 0, name);
      new DataView(bytes.buffer).setFloat32(Buffer.from(bytes).indexOf('ckpt/data/0') + 'ckpt/data/0'.length, value, true);
      writeFileSync(join(dir2, `${name}.pth`), bytes);
      return join(dir2, `${name}.pth`);
    };
    const lin = new V.Linear(2, 1, { rng: new V.Rng(0), bias: false });
    expect(V.loadModule(write('attn_bias_for_masking', -Infinity), lin, { strict: false }).unexpected).toEqual(['attn_bias_for_masking']);
    expect(() => V.loadModule(write('weight', NaN), new V.Sequential(), { strict: false })).not.toThrow();
    // refused while decoding, before the (here mismatching) shapes are compared
    expect(() => V.loadModule(join(dir2, 'weight.pth'), lin)).toThrow(/tensor 'weight' has the non-finite value NaN/);
  });
});
