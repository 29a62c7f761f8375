/**
 * Tensor: a handle to a libtorch tensor, with PyTorch's method names (camelCase where
 * PyTorch uses snake_case). Methods delegate to the typed op functions in this folder;
 * in-place methods end in `_` and return `this`.
 */
import { inspect } from 'node:util';

import { native, HANDLE } from './native.js';
import { track, untrack, type HandleCell } from './scope.js';
import { isFloatingDType, type DType, type MemoryFormat, type NestedArray, type Scalar, type Shape } from './types.js';
import * as creation from './creation.js';
import * as math from './math.js';
import * as reduce from './reduce.js';
import * as shapeOps from './shape.js';
import * as indexing from './indexing.js';
import * as comparison from './comparison.js';
import * as linalg from './linalg.js';
import * as F from './functional.js';
import { aten } from './aten.js';
import { typedArrayFor, type AnyTypedArray } from './typed-arrays.js';

export type { AnyTypedArray };

export type TypedArrayFor<D extends DType> = D extends 'float64'
  ? Float64Array
  : D extends 'int64'
    ? BigInt64Array
    : D extends 'int32'
      ? Int32Array
      : D extends 'int16'
        ? Int16Array
        : D extends 'int8'
          ? Int8Array
          : D extends 'uint8' | 'bool'
            ? Uint8Array
            : Float32Array;

export interface BackwardOptions {
  /** Keep the graph so backward can run through it again (PyTorch's retain_graph). */
  retainGraph?: boolean;
  /** Record the backward pass itself, for higher-order gradients. */
  createGraph?: boolean;
}

export class Tensor {
  /** The native handle; -1 once disposed. Read by the addon under a key only finetune holds. */
  [HANDLE]: number;
  /** Exempt from disposal by scopes (see keep()). */
  kept = false;
  /** @internal The handle as the garbage-collection safety net sees it. */
  readonly cell: HandleCell;

  private constructor(handle: number) {
    this[HANDLE] = handle;
    this.cell = { handle, guarded: false };
    track(this);
  }

  /** @internal Wraps a fresh native handle. */
  static fromHandle(handle: number): Tensor {
    return new Tensor(handle);
  }

  /** @internal The live native handle; throws once the tensor is disposed. */
  get handle(): number {
    const handle = this[HANDLE];
    if (handle < 0) throw new Error('tensor has been disposed');
    return handle;
  }

  get isDisposed(): boolean {
    return this[HANDLE] < 0;
  }

  /** Frees the native tensor now. Views and other handles of the same data stay valid. */
  dispose(): void {
    const handle = this[HANDLE];
    if (handle < 0) return;
    this[HANDLE] = -1;
    this.cell.handle = -1;
    untrack(this.cell);
    native.dispose(handle);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- metadata -------------------------------------------------------------------

  get shape(): number[] {
    return native.shape(this.handle);
  }

  get dtype(): DType {
    return native.dtype(this.handle) as DType;
  }

  get device(): string {
    return native.device(this.handle);
  }

  /** Whether the elements are floating-point (float16, bfloat16, float32, float64), as PyTorch's is_floating_point(). */
  isFloatingPoint(): boolean {
    return isFloatingDType(this.dtype);
  }

  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }

  dim(): number {
    return this.shape.length;
  }

  /** Size of one dimension (negative counts from the end), or the whole shape. */
  size(): number[];
  size(dim: number): number;
  size(dim?: number): number | number[] {
    const shape = this.shape;
    if (dim === undefined) return shape;
    const index = dim < 0 ? shape.length + dim : dim;
    if (index < 0 || index >= shape.length)
      throw new RangeError(`dim ${dim} out of range for a ${shape.length}-d tensor`);
    return shape[index];
  }

  numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  isContiguous(): boolean {
    return aten.is_contiguous(this);
  }

  // ---- data in and out ------------------------------------------------------------

  /**
   * The elements as a typed array, row-major. A contiguous CPU tensor's memory is shared,
   * not copied (like PyTorch's .numpy()): writes through the array change the tensor.
   * float16/bfloat16 come back as a Float32Array copy, int64 as a BigInt64Array.
   * An operator that reallocates the tensor's memory (an out= call that resizes it, resize_,
   * set_) detaches the array: its length becomes 0 rather than it reading freed memory.
   * dispose() does not: the array keeps the memory it shares alive.
   */
  data(): AnyTypedArray {
    const [buffer, dtype] = native.toBuffer(this.handle);
    return new (typedArrayFor(dtype))(buffer);
  }

  /** The elements as nested JavaScript arrays (int64 as numbers, bool as booleans). */
  toArray(): NestedArray {
    const shape = this.shape;
    const flat = this.data();
    const isBool = this.dtype === 'bool';
    const element = (i: number): number | boolean => {
      const v = flat[i];
      return isBool ? v !== 0 : typeof v === 'bigint' ? Number(v) : v;
    };
    if (shape.length === 0) return element(0);
    let offset = 0;
    const build = (depth: number): NestedArray[] => {
      const out: NestedArray[] = new Array(shape[depth]);
      for (let i = 0; i < shape[depth]; i++) out[i] = depth === shape.length - 1 ? element(offset++) : build(depth + 1);
      return out;
    };
    return build(0);
  }

  /** The value of a one-element tensor: a number, or a boolean for bool tensors (`item<boolean>()`). */
  item<T extends number | boolean = number>(): T {
    return native.item(this.handle) as T;
  }

  /** Converts dtype and/or device; returns a new handle to the same tensor when nothing changes. */
  to(target: creation.ToTarget): Tensor {
    return creation.to(this, target);
  }

  /** A copy in page-locked CPU memory, from which `to({ device: 'cuda', nonBlocking: true })` copies asynchronously (torch's pin_memory; needs a CUDA build). */
  pinMemory(): Tensor {
    return aten.pin_memory(this);
  }

  /** Whether the tensor is in page-locked CPU memory (pinMemory()). */
  isPinned(): boolean {
    return aten.is_pinned(this);
  }

  float(): Tensor {
    return this.to('float32');
  }
  double(): Tensor {
    return this.to('float64');
  }
  half(): Tensor {
    return this.to('float16');
  }
  bfloat16(): Tensor {
    return this.to('bfloat16');
  }
  long(): Tensor {
    return this.to('int64');
  }
  int(): Tensor {
    return this.to('int32');
  }
  bool(): Tensor {
    return this.to('bool');
  }
  cpu(): Tensor {
    return this.to('cpu');
  }

  // ---- autograd -------------------------------------------------------------------

  get requiresGrad(): boolean {
    return native.requiresGrad(this.handle);
  }

  set requiresGrad(value: boolean) {
    native.setRequiresGrad(this.handle, value);
  }

  /** Sets requiresGrad in place and returns this, like PyTorch's requires_grad_(). */
  requiresGrad_(value = true): this {
    native.setRequiresGrad(this.handle, value);
    return this;
  }

  get isLeaf(): boolean {
    return native.isLeaf(this.handle);
  }

  /** The accumulated gradient, or null. Each read is a new handle (dispose it or read it inside a scope). */
  get grad(): Tensor | null {
    const handle = native.grad(this.handle);
    return handle === null ? null : Tensor.fromHandle(handle);
  }

  set grad(value: Tensor | null) {
    native.setGrad(this.handle, value === null ? null : value.handle);
  }

  /** Keeps .grad for a non-leaf tensor after backward. */
  retainGrad(): this {
    native.retainGrad(this.handle);
    return this;
  }

  /** Computes gradients of this tensor w.r.t. graph leaves; `gradient` is required unless this is a scalar. */
  backward(gradient?: Tensor | null, options: BackwardOptions = {}): void {
    native.backward(this.handle, gradient ? gradient.handle : null, options.retainGraph, options.createGraph ?? false);
  }

  /** A tensor sharing this one's data, cut off from the autograd graph. */
  detach(): Tensor {
    return aten.detach(this);
  }
  detach_(): this {
    aten.detach_(this);
    return this;
  }

  // ---- elementwise math -----------------------------------------------------------

  add(other: Tensor | Scalar, alpha?: Scalar): Tensor {
    return math.add(this, other, alpha);
  }
  sub(other: Tensor | Scalar, alpha?: Scalar): Tensor {
    return math.sub(this, other, alpha);
  }
  mul(other: Tensor | Scalar): Tensor {
    return math.mul(this, other);
  }
  div(other: Tensor | Scalar, roundingMode?: 'trunc' | 'floor'): Tensor {
    return math.div(this, other, roundingMode);
  }
  pow(exponent: Tensor | Scalar): Tensor {
    return math.pow(this, exponent);
  }
  neg(): Tensor {
    return math.neg(this);
  }
  abs(): Tensor {
    return math.abs(this);
  }
  exp(): Tensor {
    return math.exp(this);
  }
  log(): Tensor {
    return math.log(this);
  }
  log1p(): Tensor {
    return math.log1p(this);
  }
  sqrt(): Tensor {
    return math.sqrt(this);
  }
  rsqrt(): Tensor {
    return math.rsqrt(this);
  }
  square(): Tensor {
    return math.square(this);
  }
  reciprocal(): Tensor {
    return math.reciprocal(this);
  }
  sin(): Tensor {
    return math.sin(this);
  }
  cos(): Tensor {
    return math.cos(this);
  }
  tanh(): Tensor {
    return math.tanh(this);
  }
  sigmoid(): Tensor {
    return math.sigmoid(this);
  }
  relu(): Tensor {
    return math.relu(this);
  }
  sign(): Tensor {
    return math.sign(this);
  }
  floor(): Tensor {
    return math.floor(this);
  }
  ceil(): Tensor {
    return math.ceil(this);
  }
  round(): Tensor {
    return math.round(this);
  }
  clamp(min?: Scalar | null, max?: Scalar | null): Tensor {
    return math.clamp(this, min, max);
  }
  maximum(other: Tensor): Tensor {
    return math.maximum(this, other);
  }
  minimum(other: Tensor): Tensor {
    return math.minimum(this, other);
  }
  lerp(end: Tensor, weight: Tensor | Scalar): Tensor {
    return math.lerp(this, end, weight);
  }

  // ---- in place -------------------------------------------------------------------

  add_(other: Tensor | Scalar, alpha?: Scalar): this {
    math.add_(this, other, alpha);
    return this;
  }
  sub_(other: Tensor | Scalar, alpha?: Scalar): this {
    math.sub_(this, other, alpha);
    return this;
  }
  mul_(other: Tensor | Scalar): this {
    math.mul_(this, other);
    return this;
  }
  div_(other: Tensor | Scalar): this {
    math.div_(this, other);
    return this;
  }
  clamp_(min?: Scalar | null, max?: Scalar | null): this {
    math.clamp_(this, min, max);
    return this;
  }
  zero_(): this {
    aten.zero_(this);
    return this;
  }
  fill_(value: Scalar): this {
    aten.fill__Scalar(this, value);
    return this;
  }
  copy_(source: Tensor): this {
    aten.copy_(this, source);
    return this;
  }
  uniform_(from = 0, to = 1): this {
    aten.uniform_(this, from, to);
    return this;
  }
  normal_(mean = 0, std = 1): this {
    aten.normal_(this, mean, std);
    return this;
  }

  // ---- reductions -----------------------------------------------------------------

  sum(dim?: number | number[] | null, keepdim = false): Tensor {
    return reduce.sum(this, dim, keepdim);
  }
  mean(dim?: number | number[] | null, keepdim = false): Tensor {
    return reduce.mean(this, dim, keepdim);
  }
  prod(dim?: number, keepdim = false): Tensor {
    return reduce.prod(this, dim, keepdim);
  }
  max(): Tensor;
  max(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  max(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    return dim === undefined ? reduce.max(this) : reduce.max(this, dim, keepdim);
  }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  min(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    return dim === undefined ? reduce.min(this) : reduce.min(this, dim, keepdim);
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return reduce.argmax(this, dim, keepdim);
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return reduce.argmin(this, dim, keepdim);
  }
  std(dim?: number | number[] | null, options?: reduce.VarianceOptions): Tensor {
    return reduce.std(this, dim, options);
  }
  var(dim?: number | number[] | null, options?: reduce.VarianceOptions): Tensor {
    return reduce.variance(this, dim, options);
  }
  norm(p: number = 2, dim?: number | number[] | null, keepdim = false): Tensor {
    return reduce.norm(this, p, dim, keepdim);
  }
  logsumexp(dim: number | number[], keepdim = false): Tensor {
    return reduce.logsumexp(this, dim, keepdim);
  }
  cumsum(dim: number): Tensor {
    return reduce.cumsum(this, dim);
  }
  all(dim?: number, keepdim = false): Tensor {
    return reduce.all(this, dim, keepdim);
  }
  any(dim?: number, keepdim = false): Tensor {
    return reduce.any(this, dim, keepdim);
  }

  // ---- shape ----------------------------------------------------------------------

  reshape(...shape: number[] | [Shape]): Tensor {
    return shapeOps.reshape(this, flatShape(shape));
  }
  view(...shape: number[] | [Shape]): Tensor {
    return shapeOps.view(this, flatShape(shape));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return shapeOps.flatten(this, startDim, endDim);
  }
  squeeze(dim?: number): Tensor {
    return shapeOps.squeeze(this, dim);
  }
  unsqueeze(dim: number): Tensor {
    return shapeOps.unsqueeze(this, dim);
  }
  permute(...dims: number[] | [Shape]): Tensor {
    return shapeOps.permute(this, flatShape(dims));
  }
  transpose(dim0: number, dim1: number): Tensor {
    return shapeOps.transpose(this, dim0, dim1);
  }
  /** Transpose of a ≤2-d tensor. */
  t(): Tensor {
    return shapeOps.t(this);
  }
  /** Transpose of a ≤2-d tensor, as a property like PyTorch's .T. */
  get T(): Tensor {
    return shapeOps.t(this);
  }
  contiguous(memoryFormat?: MemoryFormat): Tensor {
    return shapeOps.contiguous(this, memoryFormat);
  }
  expand(...shape: number[] | [Shape]): Tensor {
    return shapeOps.expand(this, flatShape(shape));
  }
  expandAs(other: Tensor): Tensor {
    return shapeOps.expand(this, other.shape);
  }
  repeat(...repeats: number[] | [Shape]): Tensor {
    return shapeOps.repeat(this, flatShape(repeats));
  }
  split(splitSize: number | number[], dim = 0): Tensor[] {
    return shapeOps.split(this, splitSize, dim);
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return shapeOps.chunk(this, chunks, dim);
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return shapeOps.narrow(this, dim, start, length);
  }
  flip(dims: number | number[]): Tensor {
    return shapeOps.flip(this, dims);
  }
  clone(): Tensor {
    return shapeOps.clone(this);
  }

  // ---- indexing -------------------------------------------------------------------

  select(dim: number, index: number): Tensor {
    return indexing.select(this, dim, index);
  }
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    return indexing.slice(this, dim, start, end, step);
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return indexing.indexSelect(this, dim, index);
  }
  gather(dim: number, index: Tensor): Tensor {
    return indexing.gather(this, dim, index);
  }
  scatter(dim: number, index: Tensor, src: Tensor | Scalar): Tensor {
    return indexing.scatter(this, dim, index, src);
  }
  maskedFill(mask: Tensor, value: Scalar): Tensor {
    return indexing.maskedFill(this, mask, value);
  }
  maskedFill_(mask: Tensor, value: Scalar): this {
    indexing.maskedFill_(this, mask, value);
    return this;
  }
  /** Advanced indexing with one tensor (or null for ':') per leading dimension, like x[idx0, idx1]. */
  index(indices: readonly (Tensor | null)[]): Tensor {
    return indexing.index(this, indices);
  }
  indexPut_(indices: readonly (Tensor | null)[], values: Tensor, accumulate = false): this {
    indexing.indexPut_(this, indices, values, accumulate);
    return this;
  }

  // ---- comparison -----------------------------------------------------------------

  eq(other: Tensor | Scalar): Tensor {
    return comparison.eq(this, other);
  }
  ne(other: Tensor | Scalar): Tensor {
    return comparison.ne(this, other);
  }
  lt(other: Tensor | Scalar): Tensor {
    return comparison.lt(this, other);
  }
  le(other: Tensor | Scalar): Tensor {
    return comparison.le(this, other);
  }
  gt(other: Tensor | Scalar): Tensor {
    return comparison.gt(this, other);
  }
  ge(other: Tensor | Scalar): Tensor {
    return comparison.ge(this, other);
  }
  isclose(other: Tensor, rtol?: number, atol?: number): Tensor {
    return comparison.isclose(this, other, rtol, atol);
  }
  allclose(other: Tensor, rtol?: number, atol?: number): boolean {
    return comparison.allclose(this, other, rtol, atol);
  }
  equal(other: Tensor): boolean {
    return comparison.equal(this, other);
  }
  logicalNot(): Tensor {
    return comparison.logicalNot(this);
  }
  logicalAnd(other: Tensor): Tensor {
    return comparison.logicalAnd(this, other);
  }
  logicalOr(other: Tensor): Tensor {
    return comparison.logicalOr(this, other);
  }

  // ---- linear algebra and nn ------------------------------------------------------

  matmul(other: Tensor): Tensor {
    return linalg.matmul(this, other);
  }
  mm(other: Tensor): Tensor {
    return linalg.mm(this, other);
  }
  bmm(other: Tensor): Tensor {
    return linalg.bmm(this, other);
  }
  softmax(dim: number): Tensor {
    return F.softmax(this, dim);
  }
  logSoftmax(dim: number): Tensor {
    return F.logSoftmax(this, dim);
  }

  // ---- printing -------------------------------------------------------------------

  toString(): string {
    if (this.isDisposed) return 'tensor(<disposed>)';
    const dtype = this.dtype;
    const body = this.numel() <= 1000 ? JSON.stringify(this.toArray()) : `<${this.shape.join('×')} elements>`;
    const extras = [`shape=[${this.shape.join(', ')}]`, `dtype=${dtype}`];
    if (this.device !== 'cpu') extras.push(`device=${this.device}`);
    if (this.requiresGrad) extras.push('requiresGrad=true');
    return `tensor(${body}, ${extras.join(', ')})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

function flatShape(shape: number[] | [Shape]): Shape {
  return shape.length === 1 && Array.isArray(shape[0]) ? shape[0] : (shape as number[]);
}
