/** The JavaScript typed array that holds each dtype's elements, and element sizes. */
import type { DType } from './types.js';

export type AnyTypedArray =
  Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

type TypedArrayConstructor = new (bufferOrLength: ArrayBuffer | number) => AnyTypedArray;

const CONSTRUCTORS: Partial<Record<string, TypedArrayConstructor>> = {
  float32: Float32Array,
  float64: Float64Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

/** The typed array type for a dtype; float16/bfloat16 and complex types have none. */
export function typedArrayFor(dtype: string): TypedArrayConstructor {
  const constructor = Object.hasOwn(CONSTRUCTORS, dtype) ? CONSTRUCTORS[dtype] : undefined;
  if (!constructor) throw new Error(`tensors of dtype ${dtype} have no JavaScript typed array`);
  return constructor;
}

/** The dtype a typed array holds (Uint8Array → uint8). */
export function dtypeOfTypedArray(array: ArrayBufferView): DType {
  for (const [dtype, constructor] of Object.entries(CONSTRUCTORS)) {
    if (dtype !== 'bool' && array instanceof constructor!) return dtype as DType;
  }
  throw new Error(`pass { dtype } for a ${array.constructor.name}`);
}

const ELEMENT_BYTES: Record<DType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
  complex64: 8,
  complex128: 16,
};

/** Bytes per element of a dtype. */
export function elementBytes(dtype: DType): number {
  return ELEMENT_BYTES[dtype];
}
