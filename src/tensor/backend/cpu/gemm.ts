// TEMPORARY naive gemm (to be replaced by the tiled kernel).
export type FloatArray = Float32Array | Float64Array;
export function gemm(m: number, n: number, k: number,
  a: FloatArray, aOff: number, aRowStride: number, aColStride: number,
  b: FloatArray, bOff: number, bRowStride: number, bColStride: number,
  c: FloatArray, cOff: number, ldc: number, accumulate: boolean): void {
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = accumulate ? c[cOff + i * ldc + j]! : 0;
    for (let p = 0; p < k; p++) s += a[aOff + i * aRowStride + p * aColStride]! * b[bOff + p * bRowStride + j * bColStride]!;
    c[cOff + i * ldc + j] = s;
  }
}
