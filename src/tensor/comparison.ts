/** Elementwise comparisons (bool results) and whole-tensor equality checks. */
import { aten } from './aten.js';
import { Tensor } from './tensor.js';
import type { Scalar } from './types.js';

/** a == b. */
export function eq(a: Tensor, b: Tensor | Scalar): Tensor {
  return b instanceof Tensor ? aten.eq_Tensor(a, b) : aten.eq_Scalar(a, b);
}
/** a != b. */
export function ne(a: Tensor, b: Tensor | Scalar): Tensor {
  return b instanceof Tensor ? aten.ne_Tensor(a, b) : aten.ne_Scalar(a, b);
}
/** a < b. */
export function lt(a: Tensor, b: Tensor | Scalar): Tensor {
  return b instanceof Tensor ? aten.lt_Tensor(a, b) : aten.lt_Scalar(a, b);
}
/** a <= b. */
export function le(a: Tensor, b: Tensor | Scalar): Tensor {
  return b instanceof Tensor ? aten.le_Tensor(a, b) : aten.le_Scalar(a, b);
}
/** a > b. */
export function gt(a: Tensor, b: Tensor | Scalar): Tensor {
  return b instanceof Tensor ? aten.gt_Tensor(a, b) : aten.gt_Scalar(a, b);
}
/** a >= b. */
export function ge(a: Tensor, b: Tensor | Scalar): Tensor {
  return b instanceof Tensor ? aten.ge_Tensor(a, b) : aten.ge_Scalar(a, b);
}
/** |a − b| ≤ atol + rtol·|b|, elementwise. */
export function isclose(a: Tensor, b: Tensor, rtol = 1e-5, atol = 1e-8): Tensor {
  return aten.isclose(a, b, rtol, atol);
}
/** Whether every element is close (see isclose). */
export function allclose(a: Tensor, b: Tensor, rtol = 1e-5, atol = 1e-8): boolean {
  return aten.allclose(a, b, rtol, atol);
}
/** Whether shapes and every element are equal. */
export function equal(a: Tensor, b: Tensor): boolean {
  return aten.equal(a, b);
}
/** Whether each element is NaN. */
export function isnan(x: Tensor): Tensor {
  return aten.isnan(x);
}
/** Whether each element is finite. */
export function isfinite(x: Tensor): Tensor {
  return aten.isfinite(x);
}
/** Elementwise NOT of a bool (or nonzero) tensor. */
export function logicalNot(x: Tensor): Tensor {
  return aten.logical_not(x);
}
/** Elementwise AND. */
export function logicalAnd(a: Tensor, b: Tensor): Tensor {
  return aten.logical_and(a, b);
}
/** Elementwise OR. */
export function logicalOr(a: Tensor, b: Tensor): Tensor {
  return aten.logical_or(a, b);
}
