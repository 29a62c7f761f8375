/** Element types, named as TF.js and NumPy name them; PyTorch aliases ('float', 'long', …) are accepted too. */
export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool'
  | 'complex64'
  | 'complex128';

/** The floating-point element types (PyTorch's is_floating_point). */
export function isFloatingDType(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16';
}

/**
 * 'cpu', 'cuda' or 'cuda:N' (CUDA only when libtorch was built with it); 'meta' (shapes only) and
 * 'lazy' (libtorch's lazy tensors on the CPU, after initLazyDevice(): the device tests' stand-in for a GPU).
 */
export type Device = 'cpu' | 'cuda' | `cuda:${number}` | 'meta' | 'lazy' | `lazy:${number}`;

/** Whether a string names a device (else it is a dtype, for `to()`). */
export function isDevice(value: string): value is Device {
  return value === 'cpu' || value === 'meta' || value.startsWith('cuda') || value.startsWith('lazy');
}

export type MemoryFormat = 'contiguous_format' | 'preserve_format' | 'channels_last' | 'channels_last_3d';

export type Layout = 'strided' | 'sparse_coo';

/** A number or boolean standing for a 0-dimensional value, like PyTorch's Scalar. */
export type Scalar = number | boolean;

/** A shape, or one dimension where the operator accepts a single size. */
export type Shape = readonly number[];

/** Nested JavaScript arrays of numbers or booleans. */
export type NestedArray = number | boolean | NestedArray[];

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}
