// The part of the zip format that PyTorch checkpoints use, read from scratch: the (ZIP64) end-of-central-directory
// record, the central directory and local headers of stored (uncompressed) members, over positioned reads so that
// multi-gigabyte checkpoints are never held in memory whole.

import { ArgumentError } from '../../tensor/errors.js';

/** Random access to the bytes of a file or buffer. */
export interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes at `position` (the caller has checked the range). */
  read(position: number, length: number): Uint8Array;
}

export function bytesSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: (position, length) => bytes.subarray(position, position + length) };
}

/** Where a stored member's data lies in the archive. */
export interface ZipMember {
  offset: number;
  size: number;
}

const EOCD = 0x06054b50, EOCD64 = 0x06064b50, EOCD64_LOCATOR = 0x07064b50, CENTRAL = 0x02014b50, LOCAL = 0x04034b50;

/** True when the bytes start with a zip local-file header ("PK\x03\x04"). */
export function isZip(head: Uint8Array): boolean {
  return head.length >= 4 && new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true) === LOCAL;
}

/**
 * Lists the members of a zip archive by name. Every offset and size is checked against the archive; compressed
 * members are refused (PyTorch stores every member uncompressed). `fail` throws with the source's name.
 */
export function readZipDirectory(src: ByteSource, fail: (msg: string) => never): Map<string, ZipMember> {
  const view = (position: number, length: number): DataView => {
    if (position < 0 || length < 0 || position + length > src.size) fail(`truncated zip: ${length} bytes wanted at offset ${position} of ${src.size}`);
    const b = src.read(position, length);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  };
  const u64 = (dv: DataView, at: number): number => {
    const v = dv.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('zip offset too large');
    return Number(v);
  };
  // the end-of-central-directory record is in the last 22 + 65535 bytes (its comment is at most 65535 long)
  const tailLength = Math.min(src.size, 22 + 65535);
  const tail = view(src.size - tailLength, tailLength);
  let eocd = -1;
  for (let i = tailLength - 22; i >= 0; i--) {
    if (tail.getUint32(i, true) === EOCD) { eocd = i; break; }
  }
  if (eocd < 0) fail('not a complete zip archive (no end-of-central-directory record; the file may be truncated)');
  const eocdAt = src.size - tailLength + eocd;
  let count = tail.getUint16(eocd + 10, true);
  let cdSize = tail.getUint32(eocd + 12, true);
  let cdOffset = tail.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = view(eocdAt - 20, 20);
    if (loc.getUint32(0, true) !== EOCD64_LOCATOR) fail('ZIP64 archive without its end-of-central-directory locator');
    const rec = view(u64(loc, 8), 56);
    if (rec.getUint32(0, true) !== EOCD64) fail('bad ZIP64 end-of-central-directory record');
    count = u64(rec, 32);
    cdSize = u64(rec, 40);
    cdOffset = u64(rec, 48);
  }
  const cd = view(cdOffset, cdSize);
  const members = new Map<string, ZipMember>();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > cdSize || cd.getUint32(p, true) !== CENTRAL) fail(`bad central directory entry ${n}`);
    const method = cd.getUint16(p + 10, true);
    let compressed = cd.getUint32(p + 20, true);
    let size = cd.getUint32(p + 24, true);
    const nameLength = cd.getUint16(p + 28, true), extraLength = cd.getUint16(p + 30, true), commentLength = cd.getUint16(p + 32, true);
    let local = cd.getUint32(p + 42, true);
    if (p + 46 + nameLength + extraLength > cdSize) fail(`bad central directory entry ${n}`);
    let name: string;
    try {
      name = decoder.decode(new Uint8Array(cd.buffer, cd.byteOffset + p + 46, nameLength));
    } catch {
      return fail(`member ${n} has a name that is not UTF-8`);
    }
    // ZIP64 extra field: the 64-bit values of the fields saturated at 0xffffffff, in this order
    for (let e = p + 46 + nameLength; e + 4 <= p + 46 + nameLength + extraLength;) {
      const id = cd.getUint16(e, true), len = cd.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        const next = () => {
          if (q + 8 > e + 4 + len) fail(`bad ZIP64 extra field of '${name}'`);
          const v = u64(cd, q);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressed === 0xffffffff) compressed = next();
        if (local === 0xffffffff) local = next();
      }
      e += 4 + len;
    }
    if (method !== 0 || compressed !== size) fail(`member '${name}' is compressed (method ${method}); PyTorch checkpoints store members uncompressed`);
    const header = view(local, 30);
    if (header.getUint32(0, true) !== LOCAL) fail(`member '${name}' has no local header at offset ${local}`);
    const offset = local + 30 + header.getUint16(26, true) + header.getUint16(28, true);
    if (offset + size > src.size) fail(`member '${name}' (${size} bytes at ${offset}) runs past the end of the file (${src.size} bytes): truncated`);
    members.set(name, { offset, size });
    p += 46 + nameLength + extraLength + commentLength;
  }
  return members;
}

/** Throws ArgumentError(op, '<source>: msg'). */
export function failWith(op: string, source: string): (msg: string) => never {
  return (msg) => {
    throw new ArgumentError(op, `${source}: ${msg}`);
  };
}
