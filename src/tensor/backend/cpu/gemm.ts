// Dense matrix multiply for the CPU backend: `gemm`, a cache-blocked, packed, register-tiled kernel
// in plain TypeScript, and `naiveGemm`, the textbook triple loop it is tested against.
// Both take arbitrary strides, so transposed or strided views need no copy.

export type FloatArray = Float32Array | Float64Array;

/*
 * Blocking scheme (GotoBLAS-style), with the sizes used here:
 *
 *   for jc over n in steps of NC:
 *     for pc over k in steps of KC:
 *       pack B[pc:pc+KC, jc:jc+NC] into NR-wide slivers        (KC×NC doubles, 1 MiB, read from L2/L3)
 *       for ic over m in steps of MC:
 *         pack A[ic:ic+MC, pc:pc+KC] into MR-tall slivers      (MC×KC doubles, 192 KiB, stays in L2)
 *         for jr over the panel in steps of NR:                one B sliver (KC×NR, 4 KiB) stays in L1
 *           for ir over the block in steps of MR:              A sliver (MR×KC, 8 KiB) streams from L2
 *             C[ir:ir+MR, jr:jr+NR] (+)= A sliver · B sliver   (micro-kernel, MR×NR sums in registers)
 *
 * Packing copies each block into contiguous scratch memory in exactly the order the micro-kernel
 * reads it, so it also absorbs any strides or transposes of the inputs. Slivers are padded with
 * zeros to whole MR×NR tiles (and to an even k), so the micro-kernel never has a ragged loop;
 * edge tiles only write back the part of C that exists.
 *
 * The scratch is one plain `number[]` of doubles, shared by Float32 and Float64 calls:
 * - V8 stores a `number[]` holding only doubles unboxed (PACKED_DOUBLE_ELEMENTS); its indexed reads
 *   compile to fewer instructions than Float64Array reads, which measured ~20% faster here.
 * - One scratch type keeps the micro-kernel monomorphic whatever the input type.
 * - Widening float32 to float64 is exact, and the sums are kept in doubles either way (a Float32 C
 *   is rounded once per KC-deep block of k).
 *
 * Tuning (2-core AMD EPYC, Node 20; bench/gemm.ts measures it). Larger tiles such as 4×4, 4×8, 8×4,
 * 6×4 and 6×8 load fewer values per multiply-add, but V8 computes all of a step's products before
 * its sums and spills to the stack (x64 has 16 float registers), so they measured slower than this
 * 4×2 tile with the k loop unrolled twice. Packing pays for itself even at 8×8×8, so there is no
 * small-size cut-off; only with fewer than MR rows (a vector times a matrix, say) does a plain loop
 * win, and `fewRowsGemm` takes those.
 */
const MR = 4; // micro-tile rows (A sliver height)
const NR = 2; // micro-tile columns (B sliver width)
const KC = 256; // depth of a packed block (even)
const MC = 96; // rows of A per packed block (multiple of MR)
const NC = 512; // columns of B per packed panel (multiple of NR)

/** Packing scratch: packed A block at [0, aSize), packed B panel after it. Grown on demand. */
let work: number[] = [0.5]; // starts with a non-integer so V8 picks the unboxed-double layout
/** Holds a finished edge tile before its valid part is copied to C. */
const edgeTile = new Float64Array(MR * NR);
/** One row of sums for the few-rows path. */
let rowSums = new Float64Array(64);

function growWork(size: number): number[] {
  while (work.length < size) work.push(0);
  return work;
}

/**
 * C (+)= op(A) · op(B), row-major C with row stride ldc and column stride 1.
 * A's element (i, p) (i < m, p < k) is a[aOff + i*aRowStride + p*aColStride];
 * B's element (p, j) (p < k, j < n) is b[bOff + p*bRowStride + j*bColStride];
 * C's element (i, j) is c[cOff + i*ldc + j]. When accumulate is false, C is overwritten.
 * Any strides (including transposed layouts, i.e. aRowStride=1) must work. A, B, C must be the same array type.
 */
export function gemm(m: number, n: number, k: number,
  a: FloatArray, aOff: number, aRowStride: number, aColStride: number,
  b: FloatArray, bOff: number, bRowStride: number, bColStride: number,
  c: FloatArray, cOff: number, ldc: number, accumulate: boolean): void {
  checkArgs(m, n, k, a, aOff, aRowStride, aColStride, b, bOff, bRowStride, bColStride, c, cOff, ldc);
  if (m === 0 || n === 0) return;
  if (k === 0) {
    if (!accumulate) for (let i = 0; i < m; i++) c.fill(0, cOff + i * ldc, cOff + i * ldc + n);
    return;
  }
  if (m < MR) {
    fewRowsGemm(m, n, k, a, aOff, aRowStride, aColStride, b, bOff, bRowStride, bColStride, c, cOff, ldc, accumulate);
    return;
  }

  // Scratch layout for this call: [packed A block | packed B panel], sized for the largest blocks.
  const kcMax = roundUp(Math.min(KC, k), 2);
  const aSize = Math.min(MC, roundUp(m, MR)) * kcMax;
  const w = growWork(aSize + Math.min(NC, roundUp(n, NR)) * kcMax);

  for (let jc = 0; jc < n; jc += NC) {
    const nc = Math.min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = Math.min(KC, k - pc);
      const kcp = roundUp(kc, 2); // the micro-kernel consumes k two steps at a time
      const add = accumulate || pc > 0; // later k blocks add onto the first one's result
      packB(kc, kcp, nc, b, bOff + pc * bRowStride + jc * bColStride, bRowStride, bColStride, w, aSize);
      for (let ic = 0; ic < m; ic += MC) {
        const mc = Math.min(MC, m - ic);
        packA(mc, kc, kcp, a, aOff + ic * aRowStride + pc * aColStride, aRowStride, aColStride, w);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = Math.min(NR, nc - jr);
          const bi = aSize + jr * kcp;
          for (let ir = 0; ir < mc; ir += MR) {
            microKernel(kcp, w, ir * kcp, bi, c, cOff + (ic + ir) * ldc + jc + jr, ldc,
              Math.min(MR, mc - ir), nr, add);
          }
        }
      }
    }
  }
}

/**
 * The MR×NR micro-kernel: sums over kc (even) k-steps of a packed A sliver (MR values per step,
 * starting at w[ai]) times a packed B sliver (NR values per step, starting at w[bi]), then writes
 * or adds the mr×nr valid part of the tile to C at c[ci], row stride ldc.
 */
function microKernel(kc: number, w: number[], ai: number, bi: number,
  c: FloatArray, ci: number, ldc: number, mr: number, nr: number, add: boolean): void {
  let c00 = 0, c01 = 0, c10 = 0, c11 = 0, c20 = 0, c21 = 0, c30 = 0, c31 = 0;
  for (let q = 0; q < kc; q += 2) {
    // k step q
    let a0 = w[ai], a1 = w[ai + 1], a2 = w[ai + 2], a3 = w[ai + 3];
    let b0 = w[bi], b1 = w[bi + 1];
    c00 += a0 * b0; c01 += a0 * b1;
    c10 += a1 * b0; c11 += a1 * b1;
    c20 += a2 * b0; c21 += a2 * b1;
    c30 += a3 * b0; c31 += a3 * b1;
    // k step q + 1
    a0 = w[ai + 4]; a1 = w[ai + 5]; a2 = w[ai + 6]; a3 = w[ai + 7];
    b0 = w[bi + 2]; b1 = w[bi + 3];
    c00 += a0 * b0; c01 += a0 * b1;
    c10 += a1 * b0; c11 += a1 * b1;
    c20 += a2 * b0; c21 += a2 * b1;
    c30 += a3 * b0; c31 += a3 * b1;
    ai += 2 * MR;
    bi += 2 * NR;
  }
  if (mr === MR && nr === NR) {
    const c1 = ci + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
    if (add) {
      c[ci] += c00; c[ci + 1] += c01;
      c[c1] += c10; c[c1 + 1] += c11;
      c[c2] += c20; c[c2 + 1] += c21;
      c[c3] += c30; c[c3 + 1] += c31;
    } else {
      c[ci] = c00; c[ci + 1] = c01;
      c[c1] = c10; c[c1 + 1] = c11;
      c[c2] = c20; c[c2 + 1] = c21;
      c[c3] = c30; c[c3 + 1] = c31;
    }
    return;
  }
  // Edge tile: only the top-left mr×nr part lies inside C.
  const t = edgeTile;
  t[0] = c00; t[1] = c01; t[2] = c10; t[3] = c11; t[4] = c20; t[5] = c21; t[6] = c30; t[7] = c31;
  for (let i = 0; i < mr; i++, ci += ldc) {
    for (let j = 0; j < nr; j++) c[ci + j] = add ? c[ci + j] + t[i * NR + j] : t[i * NR + j];
  }
}

/**
 * Packs the mc×kc block of A at a[off] (strides rs, cs) into w[0..): MR-row slivers one after
 * another, each stored k-step by k-step (MR values per step). Rows past mc and k-steps past kc
 * (up to kcp) are zero.
 */
function packA(mc: number, kc: number, kcp: number, a: FloatArray, off: number, rs: number, cs: number,
  w: number[]): void {
  let d = 0;
  for (let i0 = 0; i0 < mc; i0 += MR) {
    const mr = Math.min(MR, mc - i0);
    let s = off + i0 * rs;
    if (mr === MR) {
      const r1 = rs, r2 = 2 * rs, r3 = 3 * rs;
      for (let q = 0; q < kc; q++, s += cs, d += MR) {
        w[d] = a[s]; w[d + 1] = a[s + r1]; w[d + 2] = a[s + r2]; w[d + 3] = a[s + r3];
      }
    } else {
      for (let q = 0; q < kc; q++, s += cs) {
        let i = 0;
        for (; i < mr; i++) w[d++] = a[s + i * rs];
        for (; i < MR; i++) w[d++] = 0;
      }
    }
    for (let q = kc; q < kcp; q++) for (let i = 0; i < MR; i++) w[d++] = 0;
  }
}

/**
 * Packs the kc×nc panel of B at b[off] (strides rs, cs) into w[d0..): NR-column slivers one
 * after another, each stored k-step by k-step (NR values per step). Columns past nc and k-steps
 * past kc (up to kcp) are zero.
 */
function packB(kc: number, kcp: number, nc: number, b: FloatArray, off: number, rs: number, cs: number,
  w: number[], d0: number): void {
  let d = d0;
  for (let j0 = 0; j0 < nc; j0 += NR) {
    const nr = Math.min(NR, nc - j0);
    let s = off + j0 * cs;
    if (nr === NR) {
      for (let q = 0; q < kc; q++, s += rs, d += NR) {
        w[d] = b[s]; w[d + 1] = b[s + cs];
      }
    } else {
      for (let q = 0; q < kc; q++, s += rs) {
        let j = 0;
        for (; j < nr; j++) w[d++] = b[s + j * cs];
        for (; j < NR; j++) w[d++] = 0;
      }
    }
    for (let q = kc; q < kcp; q++) for (let j = 0; j < NR; j++) w[d++] = 0;
  }
}

/**
 * The path for fewer than MR rows (e.g. a vector times a matrix), where packing B would cost about
 * as much as the multiply itself and most of each MR-row tile would be padding: the i-p-j loop, one
 * row of C at a time, streaming four rows of B per pass. The row's sums are kept in doubles, so
 * Float32 results are rounded once.
 */
function fewRowsGemm(m: number, n: number, k: number,
  a: FloatArray, aOff: number, ars: number, acs: number,
  b: FloatArray, bOff: number, brs: number, bcs: number,
  c: FloatArray, cOff: number, ldc: number, accumulate: boolean): void {
  if (rowSums.length < n) rowSums = new Float64Array(n);
  const row = rowSums;
  for (let i = 0; i < m; i++) {
    row.fill(0, 0, n);
    const ai = aOff + i * ars;
    let p = 0;
    for (; p + 4 <= k; p += 4) {
      const a0 = a[ai + p * acs], a1 = a[ai + (p + 1) * acs], a2 = a[ai + (p + 2) * acs], a3 = a[ai + (p + 3) * acs];
      const b0 = bOff + p * brs, b1 = b0 + brs, b2 = b1 + brs, b3 = b2 + brs;
      for (let j = 0, o = 0; j < n; j++, o += bcs) {
        row[j] += a0 * b[b0 + o] + a1 * b[b1 + o] + a2 * b[b2 + o] + a3 * b[b3 + o];
      }
    }
    for (; p < k; p++) {
      const a0 = a[ai + p * acs], b0 = bOff + p * brs;
      for (let j = 0, o = 0; j < n; j++, o += bcs) row[j] += a0 * b[b0 + o];
    }
    const ci = cOff + i * ldc;
    if (accumulate) for (let j = 0; j < n; j++) c[ci + j] += row[j];
    else for (let j = 0; j < n; j++) c[ci + j] = row[j];
  }
}

/** The textbook triple loop with the same contract: the readable reference and the test oracle. */
export function naiveGemm(m: number, n: number, k: number,
  a: FloatArray, aOff: number, aRowStride: number, aColStride: number,
  b: FloatArray, bOff: number, bRowStride: number, bColStride: number,
  c: FloatArray, cOff: number, ldc: number, accumulate: boolean): void {
  checkArgs(m, n, k, a, aOff, aRowStride, aColStride, b, bOff, bRowStride, bColStride, c, cOff, ldc);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) {
        sum += a[aOff + i * aRowStride + p * aColStride] * b[bOff + p * bRowStride + j * bColStride];
      }
      const ci = cOff + i * ldc + j;
      c[ci] = accumulate ? c[ci] + sum : sum;
    }
  }
}

function roundUp(x: number, multiple: number): number {
  return Math.ceil(x / multiple) * multiple;
}

/**
 * Throws a RangeError unless the sizes are non-negative integers and every element the call
 * touches lies inside its array. (An out-of-range read would yield `undefined`, poisoning the
 * results and the packing scratch.)
 */
function checkArgs(m: number, n: number, k: number,
  a: FloatArray, aOff: number, ars: number, acs: number,
  b: FloatArray, bOff: number, brs: number, bcs: number,
  c: FloatArray, cOff: number, ldc: number): void {
  if (!isCount(m) || !isCount(n) || !isCount(k)) {
    throw new RangeError(`gemm: sizes must be non-negative integers, got m=${m}, n=${n}, k=${k}`);
  }
  if (m > 0 && k > 0) checkSpan('A', a, aOff, m, k, ars, acs);
  if (k > 0 && n > 0) checkSpan('B', b, bOff, k, n, brs, bcs);
  if (m > 0 && n > 0) checkSpan('C', c, cOff, m, n, ldc, 1);
}

function isCount(x: number): boolean {
  return Number.isInteger(x) && x >= 0;
}

function checkSpan(name: string, x: FloatArray, off: number, rows: number, cols: number, rs: number, cs: number): void {
  if (!Number.isInteger(off) || !Number.isInteger(rs) || !Number.isInteger(cs)) {
    throw new RangeError(`gemm: ${name} offset and strides must be integers`);
  }
  const lo = off + Math.min(0, (rows - 1) * rs) + Math.min(0, (cols - 1) * cs);
  const hi = off + Math.max(0, (rows - 1) * rs) + Math.max(0, (cols - 1) * cs);
  if (lo < 0 || hi >= x.length) {
    throw new RangeError(`gemm: ${name} (${rows}×${cols}, offset ${off}, strides ${rs}, ${cs}) reaches index ` +
      `${lo < 0 ? lo : hi}, outside its array of length ${x.length}`);
  }
}
