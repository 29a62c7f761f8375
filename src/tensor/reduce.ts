/** Reductions over all elements or over dimensions. */
import { aten } from './aten.js';
import type { Tensor } from './tensor.js';

type Dims = number | number[] | null | undefined;

export interface VarianceOptions {
  /** Bessel's correction: 1 (default) divides by N − 1, 0 by N. */
  correction?: number;
  keepdim?: boolean;
}

/** Sum of all elements, or over `dim`. */
export function sum(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return dim === undefined || dim === null
    ? keepdim
      ? aten.sum_dim_IntList(x, null, true)
      : aten.sum(x)
    : aten.sum_dim_IntList(x, dim, keepdim);
}

/** Mean of all elements, or over `dim`. */
export function mean(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return dim === undefined || dim === null
    ? keepdim
      ? aten.mean_dim(x, null, true)
      : aten.mean(x)
    : aten.mean_dim(x, dim, keepdim);
}

/** Product of all elements, or over `dim`. */
export function prod(x: Tensor, dim?: number, keepdim = false): Tensor {
  return dim === undefined ? aten.prod(x) : aten.prod_dim_int(x, dim, keepdim);
}

/** Largest element, or { values, indices } of the largest along `dim`. */
export function max(x: Tensor): Tensor;
export function max(x: Tensor, dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
export function max(x: Tensor, dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
  if (dim === undefined) return aten.max(x);
  const [values, indices] = aten.max_dim(x, dim, keepdim);
  return { values, indices };
}

/** Smallest element, or { values, indices } of the smallest along `dim`. */
export function min(x: Tensor): Tensor;
export function min(x: Tensor, dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
export function min(x: Tensor, dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
  if (dim === undefined) return aten.min(x);
  const [values, indices] = aten.min_dim(x, dim, keepdim);
  return { values, indices };
}

/** Index of the largest element (of the flattened tensor when `dim` is omitted). */
export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  return aten.argmax(x, dim ?? null, keepdim);
}

/** Index of the smallest element. */
export function argmin(x: Tensor, dim?: number, keepdim = false): Tensor {
  return aten.argmin(x, dim ?? null, keepdim);
}

/** Standard deviation (unbiased by default, like PyTorch). */
export function std(x: Tensor, dim?: Dims, options: VarianceOptions = {}): Tensor {
  return aten.std_correction(x, dim ?? null, {
    correction: options.correction ?? 1,
    keepdim: options.keepdim ?? false,
  });
}

/** Variance (unbiased by default). Named `variance` because `var` is reserved; Tensor.var() exists. */
export function variance(x: Tensor, dim?: Dims, options: VarianceOptions = {}): Tensor {
  return aten.var_correction(x, dim ?? null, {
    correction: options.correction ?? 1,
    keepdim: options.keepdim ?? false,
  });
}

/** The p-norm of all elements or over `dim` (torch.linalg.vector_norm). */
export function norm(x: Tensor, p = 2, dim?: Dims, keepdim = false): Tensor {
  return aten.linalg_vector_norm(x, p, dim ?? null, keepdim);
}

/** log Σ exp(x) over `dim`, computed stably. */
export function logsumexp(x: Tensor, dim: number | number[], keepdim = false): Tensor {
  return aten.logsumexp(x, dim, keepdim);
}

/** Running sum along `dim`. */
export function cumsum(x: Tensor, dim: number): Tensor {
  return aten.cumsum(x, dim);
}

/** Whether all elements (or all along `dim`) are true. */
export function all(x: Tensor, dim?: number, keepdim = false): Tensor {
  return dim === undefined ? aten.all(x) : aten.all_dim(x, dim, keepdim);
}

/** Whether any element (or any along `dim`) is true. */
export function any(x: Tensor, dim?: number, keepdim = false): Tensor {
  return dim === undefined ? aten.any(x) : aten.any_dim(x, dim, keepdim);
}
