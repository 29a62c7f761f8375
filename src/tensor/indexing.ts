/** Selecting, gathering and scattering elements. */
import { aten } from './aten.js';
import { Tensor } from './tensor.js';
import type { Scalar } from './types.js';

/** x[…, index, …] along `dim`, removing that dimension (a view). */
export function select(x: Tensor, dim: number, index: number): Tensor {
  return aten.select_int(x, dim, index);
}

/** x[…, start:end:step, …] along `dim` (a view); null bounds mean the ends. */
export function slice(x: Tensor, dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
  return aten.slice_Tensor(x, dim, start ?? null, end ?? null, step);
}

/** Rows (along `dim`) picked by a 1-d int64 index tensor. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  return aten.index_select(x, dim, index);
}

/** out[i][j] = x[index[i][j]][j] for dim 0, and so on (torch.gather). */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  return aten.gather(x, dim, index);
}

/** A copy of x with `src` written at `index` along `dim` (torch.scatter). */
export function scatter(x: Tensor, dim: number, index: Tensor, src: Tensor | Scalar): Tensor {
  return src instanceof Tensor ? aten.scatter_src(x, dim, index, src) : aten.scatter_value(x, dim, index, src);
}

/** A copy of x with `value` where `mask` is true. */
export function maskedFill(x: Tensor, mask: Tensor, value: Scalar): Tensor {
  return aten.masked_fill_Scalar(x, mask, value);
}

/** Writes `value` where `mask` is true, in place. */
export function maskedFill_(x: Tensor, mask: Tensor, value: Scalar): Tensor {
  return aten.masked_fill__Scalar(x, mask, value);
}

/** Advanced indexing, x[i0, i1, …] with index tensors; null stands for ':'. */
export function index(x: Tensor, indices: readonly (Tensor | null)[]): Tensor {
  return aten.index_Tensor(x, indices);
}

/** x[i0, i1, …] = values (or += with accumulate), in place. */
export function indexPut_(x: Tensor, indices: readonly (Tensor | null)[], values: Tensor, accumulate = false): Tensor {
  return aten.index_put_(x, indices, values, accumulate);
}

/** One-hot int64 encoding of class indices; numClasses -1 infers it. */
export function oneHot(indices: Tensor, numClasses = -1): Tensor {
  return aten.one_hot(indices, numClasses);
}
