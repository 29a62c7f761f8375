/** Elementwise arithmetic and activation math. A number stands for a 0-d tensor, as in PyTorch. */
import { aten } from './aten.js';
import { Tensor } from './tensor.js';
import type { Scalar } from './types.js';

function scalarFirst(a: Tensor | Scalar, b: Tensor | Scalar, op: string): [Tensor, Tensor | Scalar, boolean] {
  if (a instanceof Tensor) return [a, b, false];
  if (b instanceof Tensor) return [b, a, true];
  throw new TypeError(`${op}(): at least one argument must be a Tensor`);
}

// Omitting the options object keeps the common call free of keyword-argument handling.
function alphaOption(alpha: Scalar | undefined): { alpha: Scalar } | undefined {
  return alpha === undefined ? undefined : { alpha };
}

/** a + alpha·b. */
export function add(a: Tensor | Scalar, b: Tensor | Scalar, alpha?: Scalar): Tensor {
  if (a instanceof Tensor && b instanceof Tensor) return aten.add_Tensor(a, b, alphaOption(alpha));
  const [x, y, swapped] = scalarFirst(a, b, 'add') as [Tensor, Scalar, boolean];
  if (!swapped || alpha === undefined) return aten.add_Scalar(x, y, alpha);
  // alpha scales the second operand, here the tensor; one fused add rounds once, as PyTorch does
  const first = aten.full_like(x, y);
  const sum = aten.add_Tensor(first, x, { alpha });
  first.dispose();
  return sum;
}

/** a − alpha·b. */
export function sub(a: Tensor | Scalar, b: Tensor | Scalar, alpha?: Scalar): Tensor {
  if (a instanceof Tensor)
    return b instanceof Tensor ? aten.sub_Tensor(a, b, alphaOption(alpha)) : aten.sub_Scalar(a, b, alpha);
  if (b instanceof Tensor) return aten.rsub_Scalar(b, a, alpha);
  throw new TypeError('sub(): at least one argument must be a Tensor');
}

/** a · b. */
export function mul(a: Tensor | Scalar, b: Tensor | Scalar): Tensor {
  if (a instanceof Tensor && b instanceof Tensor) return aten.mul_Tensor(a, b);
  const [x, y] = scalarFirst(a, b, 'mul') as [Tensor, Scalar, boolean];
  return aten.mul_Scalar(x, y);
}

/** a / b; `roundingMode` 'trunc' or 'floor' gives integer division. */
export function div(a: Tensor | Scalar, b: Tensor | Scalar, roundingMode?: 'trunc' | 'floor'): Tensor {
  if (a instanceof Tensor) {
    if (b instanceof Tensor)
      return roundingMode ? aten.div_Tensor_mode(a, b, { rounding_mode: roundingMode }) : aten.div_Tensor(a, b);
    return roundingMode ? aten.div_Scalar_mode(a, b, { rounding_mode: roundingMode }) : aten.div_Scalar(a, b);
  }
  if (!(b instanceof Tensor)) throw new TypeError('div(): at least one argument must be a Tensor');
  const numerator = aten.full_like(b, a);
  const quotient = aten.div_Tensor_mode(numerator, b, { rounding_mode: roundingMode ?? null });
  numerator.dispose();
  return quotient;
}

/** base ** exponent. */
export function pow(base: Tensor | Scalar, exponent: Tensor | Scalar): Tensor {
  if (base instanceof Tensor)
    return exponent instanceof Tensor ? aten.pow_Tensor_Tensor(base, exponent) : aten.pow_Tensor_Scalar(base, exponent);
  if (exponent instanceof Tensor) return aten.pow_Scalar(base, exponent);
  throw new TypeError('pow(): at least one argument must be a Tensor');
}

/** −x. */
export function neg(x: Tensor): Tensor {
  return aten.neg(x);
}
/** |x|. */
export function abs(x: Tensor): Tensor {
  return aten.abs(x);
}
/** eˣ. */
export function exp(x: Tensor): Tensor {
  return aten.exp(x);
}
/** Natural logarithm. */
export function log(x: Tensor): Tensor {
  return aten.log(x);
}
/** log(1 + x), accurate for small x. */
export function log1p(x: Tensor): Tensor {
  return aten.log1p(x);
}
/** √x. */
export function sqrt(x: Tensor): Tensor {
  return aten.sqrt(x);
}
/** 1/√x. */
export function rsqrt(x: Tensor): Tensor {
  return aten.rsqrt(x);
}
/** x². */
export function square(x: Tensor): Tensor {
  return aten.square(x);
}
/** 1/x. */
export function reciprocal(x: Tensor): Tensor {
  return aten.reciprocal(x);
}
/** sin x. */
export function sin(x: Tensor): Tensor {
  return aten.sin(x);
}
/** cos x. */
export function cos(x: Tensor): Tensor {
  return aten.cos(x);
}
/** tanh x. */
export function tanh(x: Tensor): Tensor {
  return aten.tanh(x);
}
/** 1 / (1 + e⁻ˣ). */
export function sigmoid(x: Tensor): Tensor {
  return aten.sigmoid(x);
}
/** max(x, 0). */
export function relu(x: Tensor): Tensor {
  return aten.relu(x);
}
/** −1, 0 or 1 by sign. */
export function sign(x: Tensor): Tensor {
  return aten.sign(x);
}
/** Rounds down. */
export function floor(x: Tensor): Tensor {
  return aten.floor(x);
}
/** Rounds up. */
export function ceil(x: Tensor): Tensor {
  return aten.ceil(x);
}
/** Rounds half to even, like PyTorch. */
export function round(x: Tensor): Tensor {
  return aten.round(x);
}

/** Limits x to [min, max]; either bound may be omitted. */
export function clamp(x: Tensor, min?: Scalar | null, max?: Scalar | null): Tensor {
  return aten.clamp(x, min ?? null, max ?? null);
}

/** Elementwise max(a, b). */
export function maximum(a: Tensor, b: Tensor): Tensor {
  return aten.maximum(a, b);
}
/** Elementwise min(a, b). */
export function minimum(a: Tensor, b: Tensor): Tensor {
  return aten.minimum(a, b);
}

/** condition ? a : b, elementwise with broadcasting. */
export function where(condition: Tensor, a: Tensor | Scalar, b: Tensor | Scalar): Tensor {
  if (a instanceof Tensor)
    return b instanceof Tensor ? aten.where_self(condition, a, b) : aten.where_ScalarOther(condition, a, b);
  return b instanceof Tensor ? aten.where_ScalarSelf(condition, a, b) : aten.where_Scalar(condition, a, b);
}

/** start + weight · (end − start). */
export function lerp(start: Tensor, end: Tensor, weight: Tensor | Scalar): Tensor {
  return weight instanceof Tensor ? aten.lerp_Tensor(start, end, weight) : aten.lerp_Scalar(start, end, weight);
}

/** x += alpha·other, in place. */
export function add_(x: Tensor, other: Tensor | Scalar, alpha?: Scalar): Tensor {
  return other instanceof Tensor ? aten.add__Tensor(x, other, alphaOption(alpha)) : aten.add__Scalar(x, other, alpha);
}

/** x −= alpha·other, in place. */
export function sub_(x: Tensor, other: Tensor | Scalar, alpha?: Scalar): Tensor {
  return other instanceof Tensor ? aten.sub__Tensor(x, other, alphaOption(alpha)) : aten.sub__Scalar(x, other, alpha);
}

/** x *= other, in place. */
export function mul_(x: Tensor, other: Tensor | Scalar): Tensor {
  return other instanceof Tensor ? aten.mul__Tensor(x, other) : aten.mul__Scalar(x, other);
}

/** x /= other, in place. */
export function div_(x: Tensor, other: Tensor | Scalar): Tensor {
  return other instanceof Tensor ? aten.div__Tensor(x, other) : aten.div__Scalar(x, other);
}

/** Clamps x in place. */
export function clamp_(x: Tensor, min?: Scalar | null, max?: Scalar | null): Tensor {
  return aten.clamp_(x, min ?? null, max ?? null);
}
