// A small WebAssembly module builder: enough of the binary format (types, an imported memory, functions,
// exports) and of the instruction set (i32 arithmetic, f32 and SIMD128 loads/stores/arithmetic, structured
// control flow) to emit our kernels from TypeScript. Format: https://webassembly.github.io/spec/core/binary/

export type ValType = 'i32' | 'f32' | 'f64' | 'v128';
const VALTYPE_CODE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Unsigned LEB128. */
function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

/** Signed LEB128 (32-bit range). */
function sleb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    const done = (value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function utf8(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

function section(id: number, payload: number[]): number[] {
  return [id, ...uleb(payload.length), ...payload];
}

function vector(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/**
 * The body of one function. Locals are named; instructions are appended with chainable methods whose names
 * follow the text format (`i32_add` is `i32.add`). Memory offsets are in bytes.
 */
export class FunctionBuilder {
  readonly code: number[] = [];
  private readonly localIndex = new Map<string, number>();
  private readonly extraLocals: ValType[] = [];

  constructor(readonly name: string, readonly params: [string, ValType][], readonly results: ValType[] = []) {
    params.forEach(([n], i) => this.localIndex.set(n, i));
  }

  /** Declares a local (beyond the parameters); returns its name for convenience. */
  local(name: string, type: ValType): string {
    if (this.localIndex.has(name)) throw new Error(`wasm builder: local '${name}' declared twice in ${this.name}`);
    this.localIndex.set(name, this.params.length + this.extraLocals.length);
    this.extraLocals.push(type);
    return name;
  }

  private idx(name: string): number {
    const i = this.localIndex.get(name);
    if (i === undefined) throw new Error(`wasm builder: unknown local '${name}' in ${this.name}`);
    return i;
  }

  private op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }

  private simd(opcode: number, ...imm: number[]): this {
    return this.op(0xfd, ...uleb(opcode), ...imm);
  }

  get(name: string): this { return this.op(0x20, ...uleb(this.idx(name))); }
  set(name: string): this { return this.op(0x21, ...uleb(this.idx(name))); }
  tee(name: string): this { return this.op(0x22, ...uleb(this.idx(name))); }

  i32(value: number): this { return this.op(0x41, ...sleb(value | 0)); }
  i32_add(): this { return this.op(0x6a); }
  i32_sub(): this { return this.op(0x6b); }
  i32_mul(): this { return this.op(0x6c); }
  i32_shl(): this { return this.op(0x74); }
  i32_shr_s(): this { return this.op(0x75); }
  i32_div_u(): this { return this.op(0x6e); }
  i32_rem_u(): this { return this.op(0x70); }
  i32_or(): this { return this.op(0x72); }
  i32_load(offset = 0): this { return this.op(0x28, 2, ...uleb(offset)); }
  i32_store(offset = 0): this { return this.op(0x36, 2, ...uleb(offset)); }
  i32_and(): this { return this.op(0x71); }
  i32_lt_u(): this { return this.op(0x49); }
  i32_eqz(): this { return this.op(0x45); }
  i32_eq(): this { return this.op(0x46); }
  i32_ne(): this { return this.op(0x47); }
  i32_lt_s(): this { return this.op(0x48); }
  i32_gt_s(): this { return this.op(0x4a); }
  i32_le_s(): this { return this.op(0x4c); }
  i32_ge_s(): this { return this.op(0x4e); }
  select(): this { return this.op(0x1b); }

  f32(value: number): this {
    const bytes = new Uint8Array(new Float32Array([value]).buffer);
    return this.op(0x43, ...bytes);
  }
  f32_load(offset = 0): this { return this.op(0x2a, 2, ...uleb(offset)); }
  f32_store(offset = 0): this { return this.op(0x38, 2, ...uleb(offset)); }
  f32_add(): this { return this.op(0x92); }
  f32_reinterpret_i32(): this { return this.op(0xbe); }
  f32_mul(): this { return this.op(0x94); }
  f32_ne(): this { return this.op(0x5c); }
  f32_max(): this { return this.op(0x97); }
  f32_min(): this { return this.op(0x96); }
  f32_sub(): this { return this.op(0x93); }
  f32_div(): this { return this.op(0x95); }
  f64_load(offset = 0): this { return this.op(0x2b, 3, ...uleb(offset)); }
  f32_demote_f64(): this { return this.op(0xb6); }

  f64(value: number): this {
    const bytes = new Uint8Array(new Float64Array([value]).buffer);
    return this.op(0x44, ...bytes);
  }
  f64_add(): this { return this.op(0xa0); }
  f64_sub(): this { return this.op(0xa1); }
  f64_mul(): this { return this.op(0xa2); }
  f64_div(): this { return this.op(0xa3); }
  f64_sqrt(): this { return this.op(0x9f); }
  f64_promote_f32(): this { return this.op(0xbb); }
  f64_convert_i32_s(): this { return this.op(0xb7); }

  v128_load(offset = 0): this { return this.simd(0x00, 4, ...uleb(offset)); }
  v128_load32_splat(offset = 0): this { return this.simd(0x09, 2, ...uleb(offset)); }
  v128_load64_splat(offset = 0): this { return this.simd(0x0a, 3, ...uleb(offset)); }
  v128_store(offset = 0): this { return this.simd(0x0b, 4, ...uleb(offset)); }
  /** Stores 64-bit lane `lane` of the vector (bit-exact): [address, vector] on the stack. */
  v128_store64_lane(lane: number, offset = 0): this { return this.simd(0x5b, 3, ...uleb(offset), lane); }
  v128_zero(): this { return this.simd(0x0c, ...new Array<number>(16).fill(0)); }
  f32x4_splat(): this { return this.simd(0x13); }
  f32x4_add(): this { return this.simd(0xe4); }
  f32x4_mul(): this { return this.simd(0xe6); }
  f32x4_sub(): this { return this.simd(0xe5); }
  f32x4_div(): this { return this.simd(0xe7); }
  f32x4_min(): this { return this.simd(0xe8); }
  f32x4_max(): this { return this.simd(0xe9); }
  /** Pseudo-minimum b < a ? b : a (one instruction on x86, unlike f32x4.min's NaN handling). */
  f32x4_pmin(): this { return this.simd(0xea); }
  /** Pseudo-maximum a < b ? b : a. */
  f32x4_pmax(): this { return this.simd(0xeb); }
  f32x4_abs(): this { return this.simd(0xe0); }
  f32x4_neg(): this { return this.simd(0xe1); }
  f32x4_sqrt(): this { return this.simd(0xe3); }
  f32x4_floor(): this { return this.simd(0x68); }
  f32x4_nearest(): this { return this.simd(0x6a); }
  f32x4_eq(): this { return this.simd(0x41); }
  f32x4_ne(): this { return this.simd(0x42); }
  f32x4_lt(): this { return this.simd(0x43); }
  f32x4_gt(): this { return this.simd(0x44); }
  f32x4_le(): this { return this.simd(0x45); }
  f32x4_ge(): this { return this.simd(0x46); }
  f32x4_extract_lane(lane: number): this { return this.simd(0x1f, lane); }
  f32x4_replace_lane(lane: number): this { return this.simd(0x20, lane); }
  v128_not(): this { return this.simd(0x4d); }
  v128_and(): this { return this.simd(0x4e); }
  v128_or(): this { return this.simd(0x50); }
  /** bitselect(a, b, mask): bits of a where mask is 1, of b elsewhere (operands pushed in that order). */
  v128_bitselect(): this { return this.simd(0x52); }
  i32x4_splat(): this { return this.simd(0x11); }
  i32x4_add(): this { return this.simd(0xae); }
  i32x4_sub(): this { return this.simd(0xb1); }
  i32x4_shl(): this { return this.simd(0xab); }
  i32x4_shr_s(): this { return this.simd(0xac); }
  i32x4_trunc_sat_f32x4_s(): this { return this.simd(0xf8); }
  f32x4_convert_i32x4_s(): this { return this.simd(0xfa); }
  f64x2_splat(): this { return this.simd(0x14); }
  f64x2_add(): this { return this.simd(0xf0); }
  f64x2_sub(): this { return this.simd(0xf1); }
  f64x2_mul(): this { return this.simd(0xf2); }
  f64x2_extract_lane(lane: number): this { return this.simd(0x21, lane); }
  f64x2_promote_low_f32x4(): this { return this.simd(0x5f); }
  f32x4_demote_f64x2_zero(): this { return this.simd(0x5e); }
  /** Lanes picked from two vectors by 16 byte indices (0–15: first, 16–31: second). */
  i8x16_shuffle(lanes: number[]): this { return this.simd(0x0d, ...lanes); }
  /** Relaxed SIMD fused (or unfused, the engine's choice) multiply-add: a·b + c. */
  f32x4_relaxed_madd(): this { return this.simd(0x105); }

  call(index: number): this { return this.op(0x10, ...uleb(index)); }
  return_(): this { return this.op(0x0f); }
  br(depth: number): this { return this.op(0x0c, ...uleb(depth)); }
  br_if(depth: number): this { return this.op(0x0d, ...uleb(depth)); }
  br_table(depths: number[], otherwise: number): this { return this.op(0x0e, ...uleb(depths.length), ...depths.flatMap(uleb), ...uleb(otherwise)); }
  drop(): this { return this.op(0x1a); }
  end(): this { return this.op(0x0b); }

  /** `block ... end`; inside, `br(0)` leaves the block. */
  block(body: () => void): this {
    this.op(0x02, 0x40);
    body();
    return this.end();
  }

  /** `loop ... end`; inside, `br(0)` jumps back to its start. */
  loop(body: () => void): this {
    this.op(0x03, 0x40);
    body();
    return this.end();
  }

  /**
   * A jump table on the i32 that `selector` pushes: runs cases[selector] (the last case for out-of-range values),
   * then continues after the switch. Case bodies may use their own blocks but must not branch out of the switch.
   */
  switch_(selector: () => void, cases: (() => void)[]): this {
    const n = cases.length;
    const open = (i: number): void => {
      this.op(0x02, 0x40);
      if (i === 0) {
        selector();
        this.br_table(cases.map((_, k) => k), n - 1);
      } else {
        open(i - 1);
      }
      this.end();
      cases[i]!();
      if (i < n - 1) this.br(n - 1 - i);
    };
    this.op(0x02, 0x40); // the exit block
    open(n - 1);
    return this.end();
  }

  /** `if ... else ... end` on the i32 on the stack. */
  if_(then: () => void, otherwise?: () => void): this {
    this.op(0x04, 0x40);
    then();
    if (otherwise) {
      this.op(0x05);
      otherwise();
    }
    return this.end();
  }

  /**
   * `for (counter = from; counter < to; counter += step) body` with from/to/step given as locals or constants.
   * Emits a guarded `block { loop { ...; br_if loop } }`; the body must not branch out of it.
   */
  for_(counter: string, from: string | number, to: string | number, step: number, body: () => void): this {
    const push = (v: string | number) => (typeof v === 'number' ? this.i32(v) : this.get(v));
    push(from).set(counter);
    this.block(() => {
      this.get(counter); push(to); this.i32_ge_s().br_if(0);
      this.op(0x03, 0x40); // loop
      body();
      this.get(counter).i32(step).i32_add().tee(counter);
      push(to);
      this.i32_lt_s().br_if(0);
      this.end();
    });
    return this;
  }

  /** `dst = a + b` etc. on i32 locals or constants: small helper for address arithmetic. */
  assign(dst: string, a: string | number, op: '+' | '-' | '*', b: string | number): this {
    const push = (v: string | number) => (typeof v === 'number' ? this.i32(v) : this.get(v));
    push(a); push(b);
    if (op === '+') this.i32_add(); else if (op === '-') this.i32_sub(); else this.i32_mul();
    return this.set(dst);
  }

  encodeBody(): number[] {
    const groups: number[][] = this.extraLocals.map((t) => [1, VALTYPE_CODE[t]]);
    const body = [...vector(groups), ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }

  typeSignature(): number[] {
    return [0x60, ...vector(this.params.map(([, t]) => [VALTYPE_CODE[t]])), ...vector(this.results.map((t) => [VALTYPE_CODE[t]]))];
  }
}

/** A module importing one memory (`env.memory`, optionally shared) and exporting its functions by name. */
export class ModuleBuilder {
  private readonly functions: FunctionBuilder[] = [];

  constructor(private readonly memory: { initialPages: number; maximumPages: number; shared: boolean }) {}

  /** Adds a function; its index (for `call`) is the returned builder's position. */
  func(name: string, params: [string, ValType][], results: ValType[] = []): FunctionBuilder {
    const f = new FunctionBuilder(name, params, results);
    this.functions.push(f);
    return f;
  }

  indexOf(f: FunctionBuilder): number {
    return this.functions.indexOf(f);
  }

  toBytes(): Uint8Array<ArrayBuffer> {
    const { initialPages, maximumPages, shared } = this.memory;
    const types = vector(this.functions.map((f) => f.typeSignature()));
    const memoryImport = [...utf8('env'), ...utf8('memory'), 0x02, shared ? 0x03 : 0x01, ...uleb(initialPages), ...uleb(maximumPages)];
    const bytes = [
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      ...section(1, types),
      ...section(2, vector([memoryImport])),
      ...section(3, vector(this.functions.map((_, i) => uleb(i)))),
      ...section(7, vector(this.functions.map((f, i) => [...utf8(f.name), 0x00, ...uleb(i)]))),
      ...section(10, vector(this.functions.map((f) => f.encodeBody()))),
    ];
    return new Uint8Array(bytes);
  }
}
