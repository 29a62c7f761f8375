/** Reshaping, joining and splitting. Views share data with their input, as in PyTorch. */
import { aten } from './aten.js';
import type { Tensor } from './tensor.js';
import type { MemoryFormat, Shape } from './types.js';

/** A tensor with the same data and a new shape (a view when possible); one dimension may be -1. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  return aten.reshape(x, shape);
}
/** A view with a new shape; fails when the memory layout does not allow one. */
export function view(x: Tensor, shape: Shape): Tensor {
  return aten.view(x, shape);
}
/** Flattens dimensions startDim … endDim into one. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  return aten.flatten_using_ints(x, startDim, endDim);
}
/** Removes size-1 dimensions (all, or only `dim`). */
export function squeeze(x: Tensor, dim?: number): Tensor {
  return dim === undefined ? aten.squeeze(x) : aten.squeeze_dim(x, dim);
}
/** Inserts a size-1 dimension at `dim`. */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  return aten.unsqueeze(x, dim);
}
/** Reorders dimensions. */
export function permute(x: Tensor, dims: Shape): Tensor {
  return aten.permute(x, dims);
}
/** Swaps two dimensions. */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  return aten.transpose_int(x, dim0, dim1);
}
/** Transpose of a ≤2-d tensor. */
export function t(x: Tensor): Tensor {
  return aten.t(x);
}
/** The tensor in contiguous memory (itself when already contiguous). */
export function contiguous(x: Tensor, memoryFormat?: MemoryFormat): Tensor {
  return aten.contiguous(x, memoryFormat ? { memory_format: memoryFormat } : undefined);
}
/** Broadcasts size-1 dimensions to `shape` without copying (-1 keeps a dimension). */
export function expand(x: Tensor, shape: Shape): Tensor {
  return aten.expand(x, shape);
}
/** Tiles the tensor `repeats` times along each dimension. */
export function repeat(x: Tensor, repeats: Shape): Tensor {
  return aten.repeat(x, repeats);
}
/** Joins tensors along an existing dimension. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  return aten.cat(tensors, dim);
}
/** Joins tensors along a new dimension. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  return aten.stack(tensors, dim);
}
/** Splits into pieces of `splitSize` (or of the listed sizes) along `dim`. */
export function split(x: Tensor, splitSize: number | number[], dim = 0): Tensor[] {
  return Array.isArray(splitSize) ? aten.split_with_sizes(x, splitSize, dim) : aten.split_Tensor(x, splitSize, dim);
}
/** Splits into `chunks` nearly equal pieces along `dim`. */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  return aten.chunk(x, chunks, dim);
}
/** The view x[…, start:start+length, …] along `dim`. */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  return aten.narrow(x, dim, start, length);
}
/** Reverses the order along the given dimensions. */
export function flip(x: Tensor, dims: number | number[]): Tensor {
  return aten.flip(x, dims);
}
/** A copy with its own memory, still connected to the autograd graph. */
export function clone(x: Tensor): Tensor {
  return aten.clone(x);
}
