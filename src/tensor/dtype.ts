// Element types: the dtype names, their typed-array storage, and the rules for mixing them.

/** float32 is the default; float64 exists for gradient checks; int32 holds indices and labels. */
export type DType = 'float32' | 'float64' | 'int32';

export type TypedArray = Float32Array | Float64Array | Int32Array;
export type FloatArray = Float32Array | Float64Array;

export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32'];

export function isFloatDType(dtype: DType): dtype is 'float32' | 'float64' {
  return dtype === 'float32' || dtype === 'float64';
}

export function bytesPerElement(dtype: DType): number {
  return dtype === 'float64' ? 8 : 4;
}

export function allocArray(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(size);
    case 'float64': return new Float64Array(size);
    case 'int32': return new Int32Array(size);
  }
}

/**
 * A fresh array holding the first `size` values of `values`. Views of a SharedArrayBuffer (the CPU backend's
 * WebAssembly heap) are copied as bytes: TypedArray.slice on shared memory takes a per-element path about 2× slower.
 */
export function copyOfArray(values: TypedArray, size = values.length): TypedArray {
  if (Object.prototype.toString.call(values.buffer) !== '[object SharedArrayBuffer]') return values.slice(0, size);
  const out = allocArray(dtypeOfArray(values), size);
  new Uint8Array(out.buffer).set(new Uint8Array(values.buffer, values.byteOffset, size * values.BYTES_PER_ELEMENT));
  return out;
}

export function dtypeOfArray(values: TypedArray): DType {
  if (values instanceof Float32Array) return 'float32';
  if (values instanceof Float64Array) return 'float64';
  return 'int32';
}
