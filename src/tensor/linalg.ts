/** Matrix products. */
import { aten } from './aten.js';
import type { Tensor } from './tensor.js';

/** Matrix product with NumPy broadcasting rules (1-d, 2-d and batched). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  return aten.matmul(a, b);
}
/** 2-d matrix product. */
export function mm(a: Tensor, b: Tensor): Tensor {
  return aten.mm(a, b);
}
/** Batched 3-d matrix product. */
export function bmm(a: Tensor, b: Tensor): Tensor {
  return aten.bmm(a, b);
}
/** Inner product of two 1-d tensors. */
export function dot(a: Tensor, b: Tensor): Tensor {
  return aten.dot(a, b);
}
/** Outer product of two 1-d tensors. */
export function outer(a: Tensor, b: Tensor): Tensor {
  return aten.outer(a, b);
}
/** Einstein summation, e.g. einsum('bij,bjk->bik', [a, b]). */
export function einsum(equation: string, operands: readonly Tensor[]): Tensor {
  return aten.einsum(equation, operands);
}
