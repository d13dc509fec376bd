// A restricted unpickler for PyTorch state dicts, written from scratch: it interprets the pickle opcodes that plain
// data needs and accepts only an allowlist of globals (OrderedDict, torch's tensor rebuild functions, storage types),
// which it never calls: each becomes a data record. Any other global, object construction or extension is refused.

import { ArgumentError } from '../../tensor/errors.js';

/** A dict or OrderedDict, keys in insertion order (strings, numbers or other hashable primitives). */
export class PickleDict {
  readonly entries = new Map<PickleKey, PickleValue>();
}

export type PickleKey = string | number | bigint | boolean | null;

/** An allowlisted global (module.name), kept as a name; nothing is imported or called. */
export class PickleGlobal {
  constructor(readonly module: string, readonly name: string) {}

  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A storage named by a persistent id: `('storage', <type>, key, location, numel[, view metadata])`. */
export interface StorageRef {
  kind: 'storage';
  /** The storage class name, e.g. 'FloatStorage'. */
  type: string;
  key: string;
  numel: number;
  /** Legacy format only: a view into the root storage (offset and size in elements). */
  view: { key: string; offset: number; size: number } | null;
}

/** torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...) as data. */
export interface TensorRef {
  kind: 'tensor';
  storage: StorageRef;
  offset: number;
  size: number[];
  stride: number[];
}

export type PickleValue =
  | null | boolean | number | bigint | string | Uint8Array
  | PickleValue[] | PickleDict | PickleGlobal | StorageRef | TensorRef;

/** Globals a state dict may name; anything else is refused before it is used. */
const STORAGE_TYPES = new Set([
  'FloatStorage', 'DoubleStorage', 'HalfStorage', 'BFloat16Storage', 'LongStorage', 'IntStorage', 'ShortStorage', 'CharStorage',
  'ByteStorage', 'BoolStorage',
]);
const CALLABLES = new Set([
  'collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor', 'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state', 'torch._tensor._rebuild_from_type_v2',
]);
const TYPES = new Set(['torch.Tensor', 'torch.nn.parameter.Parameter']);

function isAllowedGlobal(module: string, name: string): boolean {
  const q = `${module}.${name}`;
  return (module === 'torch' && STORAGE_TYPES.has(name)) || CALLABLES.has(q) || TYPES.has(q);
}

export interface UnpickleOptions {
  /** Resolves a persistent id (BINPERSID / PERSID) to a storage; absent: persistent ids are refused. */
  persistentLoad?: (pid: PickleValue) => PickleValue;
  /** Name used in errors (the file, or the file and its member). */
  source: string;
  /** Operation name used in errors. */
  op: string;
  /** Most memo entries and stack depth accepted (default 10 million). */
  maxItems?: number;
}

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

/**
 * Interprets one pickle from `bytes` at `start` and returns its value and the position after STOP. Only data opcodes
 * (protocols 0-5 without object construction) and the allowlisted globals are understood; everything else throws
 * ArgumentError naming the opcode or global and its byte offset.
 */
export function unpickle(bytes: Uint8Array, start: number, opts: UnpickleOptions): { value: PickleValue; end: number } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const maxItems = opts.maxItems ?? 10_000_000;
  const stack: StackItem[] = [];
  const memo = new Map<number, PickleValue>();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let pos = start;
  let opAt = start;

  const fail = (msg: string): never => {
    throw new ArgumentError(opts.op, `${opts.source}: ${msg} (pickle byte ${opAt})`);
  };
  const need = (n: number): number => {
    if (!Number.isSafeInteger(n) || n < 0 || pos + n > bytes.length) fail(`truncated pickle: ${n} bytes wanted at offset ${pos}, the data has ${bytes.length - pos} left`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => bytes[need(1)]!;
  const u16 = () => dv.getUint16(need(2), true);
  const u32 = () => dv.getUint32(need(4), true);
  const i32 = () => dv.getInt32(need(4), true);
  const u64 = (): number => {
    const at = need(8);
    const v = dv.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} is too large`);
    return Number(v);
  };
  const raw = (n: number) => {
    const at = need(n);
    return bytes.subarray(at, at + n);
  };
  const text = (n: number) => {
    const b = raw(n);
    try {
      return decoder.decode(b);
    } catch {
      return fail('string is not valid UTF-8');
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('truncated pickle: unterminated text line');
    const s = new TextDecoder('latin1').decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const push = (v: StackItem) => {
    if (stack.length >= maxItems) fail(`more than ${maxItems} stack items`);
    stack.push(v);
  };
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined) fail('stack underflow');
    if (v === MARK) fail('unexpected mark');
    return v as PickleValue;
  };
  const top = (): PickleValue => {
    const v = stack.at(-1);
    if (v === undefined || v === MARK) fail('stack underflow');
    return v as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail('no mark on the stack');
    const items = stack.splice(i + 1) as PickleValue[];
    stack.pop();
    return items;
  };
  const memoPut = (i: number) => {
    if (!Number.isSafeInteger(i) || i < 0) fail('bad memo index');
    if (memo.size >= maxItems && !memo.has(i)) fail(`more than ${maxItems} memo entries`);
    memo.set(i, top());
  };
  const memoGet = (i: number): PickleValue => {
    if (!memo.has(i)) fail(`memo entry ${i} is not defined`);
    return memo.get(i)!;
  };
  const int = (v: bigint): number | bigint => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
  const longBytes = (n: number): number | bigint => {
    if (n > 64) fail(`integer of ${n} bytes is too large for a state dict`);
    const b = raw(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return int(v);
  };
  const global = (module: string, name: string): PickleGlobal => {
    if (!isAllowedGlobal(module, name)) {
      fail(`refuses global '${module}.${name}': only state dicts (OrderedDict, tensors, storages, plain values) are read, nothing is executed`);
    }
    return new PickleGlobal(module, name);
  };
  const asDict = (v: PickleValue, what: string): PickleDict => {
    if (!(v instanceof PickleDict)) fail(`${what} applies to a dict, got ${describe(v)}`);
    return v as PickleDict;
  };
  const key = (k: PickleValue): PickleKey => {
    if (k === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof k)) return k as PickleKey;
    return fail(`dict key ${describe(k)} is not a plain value`);
  };
  const setItems = (d: PickleDict, items: PickleValue[]) => {
    if (items.length % 2 !== 0) fail('odd number of items for a dict');
    for (let i = 0; i < items.length; i += 2) d.entries.set(key(items[i]!), items[i + 1]!);
  };
  const appendTo = (list: PickleValue, items: PickleValue[]) => {
    if (!Array.isArray(list)) fail(`APPEND applies to a list, got ${describe(list)}`);
    for (const x of items) (list as PickleValue[]).push(x);
  };
  const persistent = (pid: PickleValue) => {
    if (!opts.persistentLoad) fail('persistent id outside a PyTorch checkpoint');
    push(opts.persistentLoad!(pid));
  };

  for (;;) {
    opAt = pos;
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const p = u8();
        if (p > 5) fail(`pickle protocol ${p} is not supported (0-5)`);
        break;
      }
      case 0x95: u64(); break; // FRAME: the frame length is only a hint
      case 0x2e: { // STOP
        const value = pop();
        return { value, end: pos };
      }
      case 0x28: push(MARK); break; // MARK
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: push(i32()); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: push(longBytes(u8())); break; // LONG1
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) fail('negative LONG4 length');
        push(longBytes(n));
        break;
      }
      case 0x49: { // INT (text): also I01/I00 booleans
        const s = line();
        if (s === '01' || s === '00') push(s === '01');
        else if (/^[+-]?\d+$/.test(s)) push(int(BigInt(s)));
        else fail(`bad INT '${s.slice(0, 40)}'`);
        break;
      }
      case 0x4c: { // LONG (text)
        const s = line().replace(/L$/, '');
        if (!/^[+-]?\d{1,200}$/.test(s)) fail(`bad LONG '${s.slice(0, 40)}'`);
        push(int(BigInt(s)));
        break;
      }
      case 0x47: push(dv.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)
      case 0x46: { // FLOAT (text)
        const v = Number(line());
        if (Number.isNaN(v)) fail('bad FLOAT');
        push(v);
        break;
      }
      case 0x58: push(text(u32())); break; // BINUNICODE
      case 0x8c: push(text(u8())); break; // SHORT_BINUNICODE
      case 0x8d: push(text(u64())); break; // BINUNICODE8
      case 0x54: push(text(i32())); break; // BINSTRING (python 2 str)
      case 0x55: push(text(u8())); break; // SHORT_BINSTRING
      case 0x42: push(raw(u32()).slice()); break; // BINBYTES
      case 0x43: push(raw(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: push(raw(u64()).slice()); break; // BINBYTES8
      case 0x7d: push(new PickleDict()); break; // EMPTY_DICT
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x29: push([]); break; // EMPTY_TUPLE
      case 0x74: push(popMark()); break; // TUPLE
      case 0x85: push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); push([a, b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); push([a, b, c]); break; } // TUPLE3
      case 0x6c: push(popMark()); break; // LIST
      case 0x64: { const d = new PickleDict(); setItems(d, popMark()); push(d); break; } // DICT
      case 0x61: { const x = pop(); appendTo(top(), [x]); break; } // APPEND
      case 0x65: { const items = popMark(); appendTo(top(), items); break; } // APPENDS
      case 0x73: { const v = pop(); const k = pop(); asDict(top(), 'SETITEM').entries.set(key(k), v); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(asDict(top(), 'SETITEMS'), items); break; } // SETITEMS
      case 0x71: memoPut(u8()); break; // BINPUT
      case 0x72: memoPut(u32()); break; // LONG_BINPUT
      case 0x94: memoPut(memo.size); break; // MEMOIZE
      case 0x70: memoPut(Number(line())); break; // PUT
      case 0x68: push(memoGet(u8())); break; // BINGET
      case 0x6a: push(memoGet(u32())); break; // LONG_BINGET
      case 0x67: push(memoGet(Number(line()))); break; // GET
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x63: { const module = line(); const name = line(); push(global(module, name)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        push(global(module as string, name as string));
        break;
      }
      case 0x51: persistent(pop()); break; // BINPERSID
      case 0x50: persistent(line()); break; // PERSID
      case 0x52: { // REDUCE
        const args = pop(), fn = pop();
        if (!(fn instanceof PickleGlobal)) fail(`REDUCE of ${describe(fn)}: only allowlisted functions are understood`);
        if (!Array.isArray(args)) fail('REDUCE needs an argument tuple');
        push(rebuild(fn as PickleGlobal, args as PickleValue[], fail));
        break;
      }
      case 0x62: { // BUILD: OrderedDict instance state (state_dict's _metadata) is dropped; nothing else has state
        const state = pop();
        const target = top();
        const plain = state instanceof PickleDict || (Array.isArray(state) && state.length === 2 && (state[0] === null || state[0] instanceof PickleDict));
        if (!(target instanceof PickleDict) && !isTensorRef(target)) fail(`BUILD on ${describe(target)} is not understood`);
        if (!plain && !(isTensorRef(target) && state === null)) fail('BUILD with a state other than a dict is not understood');
        break;
      }
      default:
        fail(`refuses opcode 0x${op.toString(16).padStart(2, '0')} (${OPCODE_NAMES[op] ?? 'unknown'}): only state dicts are read`);
    }
  }
}

const OPCODE_NAMES: Record<number, string> = {
  0x81: 'NEWOBJ', 0x92: 'NEWOBJ_EX', 0x69: 'INST', 0x6f: 'OBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x53: 'STRING', 0x56: 'UNICODE',
};

function isTensorRef(v: PickleValue): v is TensorRef {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && (v as { kind?: string }).kind === 'tensor';
}

function isStorageRef(v: PickleValue): v is StorageRef {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && (v as { kind?: string }).kind === 'storage';
}

/** A short description of a value for error messages. */
export function describe(v: PickleValue): string {
  if (v === null) return 'None';
  if (v instanceof PickleGlobal) return `global '${v.qualifiedName}'`;
  if (v instanceof PickleDict) return 'a dict';
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (Array.isArray(v)) return `a tuple/list of ${v.length}`;
  if (isTensorRef(v)) return 'a tensor';
  if (isStorageRef(v)) return `a ${v.type}`;
  return typeof v === 'string' ? `the string '${v.slice(0, 40)}'` : `the ${typeof v} ${String(v)}`;
}

function intList(v: PickleValue, what: string, fail: (m: string) => never): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) fail(`${what} must be a tuple of non-negative integers`);
  return v as number[];
}

/** What REDUCE of an allowlisted callable builds: a dict or a tensor record (nothing is called). */
function rebuild(fn: PickleGlobal, args: PickleValue[], fail: (m: string) => never): PickleValue {
  switch (fn.qualifiedName) {
    case 'collections.OrderedDict': {
      const d = new PickleDict();
      if (args.length === 0) return d;
      const items = args[0];
      if (args.length !== 1 || !Array.isArray(items)) fail('OrderedDict(...) takes one list of pairs');
      for (const pair of items as PickleValue[]) {
        if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string') fail('OrderedDict items must be (string, value) pairs');
        d.entries.set((pair as PickleValue[])[0] as string, (pair as PickleValue[])[1]!);
      }
      return d;
    }
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2': {
      const [storage, offset, size, stride] = args;
      if (!isStorageRef(storage!)) fail(`${fn.name} needs a storage, got ${describe(storage ?? null)}`);
      if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) fail(`${fn.name}: bad storage offset`);
      const sizes = intList(size ?? null, `${fn.name} size`, fail);
      const strides = intList(stride ?? null, `${fn.name} stride`, fail);
      if (sizes.length !== strides.length) fail(`${fn.name}: size has ${sizes.length} dims but stride ${strides.length}`);
      return { kind: 'tensor', storage: storage as StorageRef, offset: offset as number, size: sizes, stride: strides };
    }
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state': {
      if (!isTensorRef(args[0] ?? null)) fail(`${fn.name} needs a tensor`);
      return args[0]!;
    }
    case 'torch._tensor._rebuild_from_type_v2': {
      // (func, type, args, state): a Tensor or Parameter rebuilt by func(*args); anything else is refused
      const [inner, type, innerArgs] = args;
      if (!(inner instanceof PickleGlobal) || !(type instanceof PickleGlobal) || !TYPES.has(type.qualifiedName) || !Array.isArray(innerArgs)) {
        fail('_rebuild_from_type_v2 is only understood for plain tensors and parameters');
      }
      return rebuild(inner as PickleGlobal, innerArgs as PickleValue[], fail);
    }
    default:
      return fail(`REDUCE of '${fn.qualifiedName}' is not understood (it names a type, not a rebuild function)`);
  }
}
