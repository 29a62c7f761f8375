/** Creating tensors: from JavaScript data, filled, random and ranges; and dtype/device conversion. */
import { native } from './native.js';
import { aten } from './aten.js';
import { Tensor } from './tensor.js';
import { dtypeOfTypedArray, elementBytes, typedArrayFor } from './typed-arrays.js';
import {
  isDevice,
  type DType,
  type Device,
  type MemoryFormat,
  type NestedArray,
  type Scalar,
  type Shape,
  type TensorOptions,
} from './types.js';

function finish(tensor: Tensor, options: TensorOptions | undefined): Tensor {
  return options?.requiresGrad ? tensor.requiresGrad_(true) : tensor;
}

function factoryOptions(options: TensorOptions | undefined): { dtype?: DType; device?: Device } {
  return { dtype: options?.dtype, device: options?.device };
}

/** libtorch's limit on a tensor's dimensions; deeper nesting would also overflow the stack here. */
const MAX_DIMS = 64;

function inferShape(data: NestedArray, path = 'data', depth = 0): number[] {
  if (!Array.isArray(data)) return [];
  if (depth === MAX_DIMS)
    throw new Error(
      `tensor(): the array nests deeper than ${MAX_DIMS} levels at ${path} (a tensor has at most ${MAX_DIMS} dimensions)`,
    );
  if (data.length === 0) return [0];
  const inner = inferShape(data[0], `${path}[0]`, depth + 1);
  for (let i = 1; i < data.length; i++) {
    const other = inferShape(data[i], `${path}[${i}]`, depth + 1);
    if (other.length !== inner.length || other.some((d, k) => d !== inner[k])) {
      throw new Error(
        `tensor(): ragged nested array: ${path}[${i}] has shape [${other}] but ${path}[0] has [${inner}]`,
      );
    }
  }
  return [data.length, ...inner];
}

/**
 * A tensor from nested arrays or a number, like torch.tensor. JavaScript numbers become
 * float32 (JavaScript cannot tell 1 from 1.0) and booleans bool, unless `dtype` says otherwise.
 */
export function tensor(data: NestedArray, options?: TensorOptions): Tensor {
  const shape = inferShape(data);
  const flat: unknown[] = [];
  const collect = (value: NestedArray): void => {
    if (Array.isArray(value)) for (const element of value) collect(element);
    else flat.push(value);
  };
  collect(data);
  const dtype = options?.dtype ?? (flat.length > 0 && typeof flat[0] === 'boolean' ? 'bool' : 'float32');
  const bigint = dtype === 'int64';
  if (dtype === 'float16' || dtype === 'bfloat16') {
    const wide = tensor(data, { dtype: 'float32' });
    const narrow = wide.to(dtype);
    wide.dispose();
    return finish(narrow, options);
  }
  if (dtype === 'complex64' || dtype === 'complex128')
    throw new Error(`tensor(): cannot build ${dtype} from JavaScript numbers`);
  const array = new (typedArrayFor(dtype))(flat.length);
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i];
    if (typeof v !== 'number' && typeof v !== 'boolean')
      throw new TypeError(`tensor(): element ${i} is ${typeof v}, not a number`);
    const n = typeof v === 'boolean' ? (v ? 1 : 0) : v;
    if (bigint) (array as BigInt64Array)[i] = BigInt(Math.trunc(n));
    else (array as Float32Array)[i] = n;
  }
  let result = Tensor.fromHandle(native.fromBuffer(array, dtype, shape));
  if (options?.device && options.device !== 'cpu') {
    const moved = result.to(options.device);
    result.dispose();
    result = moved;
  }
  return finish(result, options);
}

/** A tensor copying a typed array, reshaped to `shape` (default: 1-d). */
export function fromTypedArray(data: ArrayBufferView, shape?: Shape, options?: TensorOptions): Tensor {
  const dtype = options?.dtype ?? dtypeOfTypedArray(data);
  const result = Tensor.fromHandle(native.fromBuffer(data, dtype, shape ?? [data.byteLength / elementBytes(dtype)]));
  return finish(result, options);
}

/** Zeros of the given shape (float32 by default). */
export function zeros(shape: Shape, options?: TensorOptions): Tensor {
  return finish(aten.zeros(shape, factoryOptions(options)), options);
}

/** Ones of the given shape. */
export function ones(shape: Shape, options?: TensorOptions): Tensor {
  return finish(aten.ones(shape, factoryOptions(options)), options);
}

/** A tensor of the given shape filled with `value`. */
export function full(shape: Shape, value: Scalar, options?: TensorOptions): Tensor {
  return finish(
    aten.full(shape, value, {
      dtype: options?.dtype ?? (typeof value === 'boolean' ? 'bool' : 'float32'),
      device: options?.device,
    }),
    options,
  );
}

/** An uninitialised tensor of the given shape. */
export function empty(shape: Shape, options?: TensorOptions): Tensor {
  return finish(aten.empty_memory_format(shape, factoryOptions(options)), options);
}

/** Zeros with `like`'s shape, dtype and device (overridable). */
export function zerosLike(like: Tensor, options?: TensorOptions): Tensor {
  return finish(aten.zeros_like(like, factoryOptions(options)), options);
}

/** Ones with `like`'s shape, dtype and device. */
export function onesLike(like: Tensor, options?: TensorOptions): Tensor {
  return finish(aten.ones_like(like, factoryOptions(options)), options);
}

/** `value` with `like`'s shape, dtype and device. */
export function fullLike(like: Tensor, value: Scalar, options?: TensorOptions): Tensor {
  return finish(aten.full_like(like, value, factoryOptions(options)), options);
}

/** Uniform samples in [0, 1). Seed with manualSeed() for reproducible draws. */
export function rand(shape: Shape, options?: TensorOptions): Tensor {
  return finish(aten.rand(shape, factoryOptions(options)), options);
}

/** Standard normal samples. */
export function randn(shape: Shape, options?: TensorOptions): Tensor {
  return finish(aten.randn(shape, factoryOptions(options)), options);
}

/** Integers uniform in [low, high), int64 by default. */
export function randint(low: number, high: number, shape: Shape, options?: TensorOptions): Tensor {
  return aten.randint_low(low, high, shape, { dtype: options?.dtype ?? 'int64', device: options?.device });
}

/** Uniform samples in [0, 1) shaped like `like`. */
export function randLike(like: Tensor, options?: TensorOptions): Tensor {
  return finish(aten.rand_like(like, factoryOptions(options)), options);
}

/** Standard normal samples shaped like `like`. */
export function randnLike(like: Tensor, options?: TensorOptions): Tensor {
  return finish(aten.randn_like(like, factoryOptions(options)), options);
}

/** A random permutation of 0 … n-1 (int64). */
export function randperm(n: number, options?: TensorOptions): Tensor {
  return aten.randperm(n, { dtype: options?.dtype ?? 'int64', device: options?.device });
}

/**
 * Values from `start` to `end` (exclusive) by `step`; `arange(n)` is 0 … n-1. The dtype is
 * int64 when every bound is a whole number (as in PyTorch), float32 otherwise.
 */
export function arange(start: number, end?: number, step = 1, options?: TensorOptions): Tensor {
  const [from, to] = end === undefined ? [0, start] : [start, end];
  const whole = [from, to, step].every(Number.isInteger);
  return finish(
    aten.arange_start_step(from, to, step, {
      dtype: options?.dtype ?? (whole ? 'int64' : 'float32'),
      device: options?.device,
    }),
    options,
  );
}

/** `steps` evenly spaced values from `start` to `end` inclusive. */
export function linspace(start: number, end: number, steps: number, options?: TensorOptions): Tensor {
  return finish(aten.linspace(start, end, steps, factoryOptions(options)), options);
}

/** The n×n identity matrix (or n×m). */
export function eye(n: number, m?: number, options?: TensorOptions): Tensor {
  const made = m === undefined ? aten.eye(n, factoryOptions(options)) : aten.eye_m(n, m, factoryOptions(options));
  return finish(made, options);
}

/** What `to()` converts to: a dtype, a device, or both with the copy's options. */
export type ToTarget =
  | DType
  | Device
  | { dtype?: DType; device?: Device; copy?: boolean; memoryFormat?: MemoryFormat; nonBlocking?: boolean };

/**
 * Converts dtype and/or device (see Tensor.to). `nonBlocking`: a copy from pinned CPU memory to a GPU
 * (or back) returns at once and overlaps with the work queued before it, as torch's non_blocking.
 */
export function to(x: Tensor, target: ToTarget): Tensor {
  if (typeof target === 'string')
    return aten.to_dtype_layout(x, isDevice(target) ? { device: target } : { dtype: target });
  return aten.to_dtype_layout(x, {
    dtype: target.dtype,
    device: target.device,
    copy: target.copy ?? false,
    memory_format: target.memoryFormat,
    non_blocking: target.nonBlocking ?? false,
  });
}
