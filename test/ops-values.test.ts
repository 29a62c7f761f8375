// Op results checked against values real PyTorch computed: test/fixtures/ops.json, written by
// tools/gen_op_fixtures.py with the same libtorch the addon links.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  Tensor,
  tidy,
  memory,
  fromTypedArray,
  tensor,
  add,
  sub,
  mul,
  div,
  pow,
  exp,
  log,
  log1p,
  sqrt,
  rsqrt,
  tanh,
  sigmoid,
  relu,
  abs,
  neg,
  square,
  reciprocal,
  sin,
  cos,
  floor,
  ceil,
  round,
  sign,
  clamp,
  maximum,
  minimum,
  where,
  lerp,
  sum,
  mean,
  max,
  min,
  argmax,
  argmin,
  std,
  variance,
  norm,
  logsumexp,
  cumsum,
  prod,
  all,
  any,
  reshape,
  view,
  flatten,
  permute,
  transpose,
  t,
  contiguous,
  cat,
  stack,
  split,
  chunk,
  flip,
  squeeze,
  unsqueeze,
  expand,
  repeat,
  narrow,
  select,
  slice,
  indexSelect,
  gather,
  scatter,
  maskedFill,
  index,
  indexPut_,
  oneHot,
  eq,
  ne,
  lt,
  le,
  gt,
  ge,
  isclose,
  allclose,
  equal,
  isnan,
  isfinite,
  matmul,
  mm,
  bmm,
  dot,
  outer,
  einsum,
  arange,
  linspace,
  eye,
  full,
  zeros,
  ones,
  zerosLike,
  onesLike,
  fullLike,
  functional as F,
  type DType,
  type NestedArray,
} from 'finetune';

type JsonNumber = number | boolean | 'nan' | 'inf' | '-inf';
interface EncodedTensor {
  shape: number[];
  dtype: DType;
  values: JsonNumber[];
}
type Expected =
  | ({ kind: 'tensor' } & EncodedTensor)
  | { kind: 'list'; items: Expected[] }
  | { kind: 'dict'; items: Record<string, Expected> }
  | { kind: 'scalar'; value: JsonNumber }
  | { kind: 'nested'; dtype: DType; value: unknown };
interface Case {
  id: string;
  op: string;
  inputs: Record<string, EncodedTensor>;
  args: Record<string, unknown>;
  expected: Expected;
}

const fixture = JSON.parse(readFileSync(new URL('../../../test/fixtures/ops.json', import.meta.url), 'utf8')) as {
  torch: string;
  cases: Case[];
};

const RTOL = 1e-5;
const ATOL = 1e-6;
const FLOAT32_LIKE = new Set<DType>(['float32', 'float16', 'bfloat16']);
const TYPED_ARRAY_OF: Partial<Record<DType, string>> = {
  float32: 'Float32Array',
  float16: 'Float32Array',
  bfloat16: 'Float32Array',
  float64: 'Float64Array',
  int64: 'BigInt64Array',
  int32: 'Int32Array',
  int16: 'Int16Array',
  int8: 'Int8Array',
  uint8: 'Uint8Array',
  bool: 'Uint8Array',
};

function decode(value: unknown): unknown {
  if (value === 'nan') return NaN;
  if (value === 'inf') return Infinity;
  if (value === '-inf') return -Infinity;
  return value;
}

function buildTensor(encoded: EncodedTensor): Tensor {
  const values = encoded.values.map(decode) as (number | boolean)[];
  switch (encoded.dtype) {
    case 'float32':
      return fromTypedArray(Float32Array.from(values as number[]), encoded.shape);
    case 'float64':
      return fromTypedArray(Float64Array.from(values as number[]), encoded.shape);
    case 'int64':
      return fromTypedArray(BigInt64Array.from(values as number[], BigInt), encoded.shape);
    case 'bool':
      return tensor(values).reshape(encoded.shape);
    default:
      return tensor(values, { dtype: encoded.dtype }).reshape(encoded.shape);
  }
}

function close(actual: number, expected: number, dtype: DType): boolean {
  if (Number.isNaN(expected)) return Number.isNaN(actual);
  const isFloat = FLOAT32_LIKE.has(dtype) || dtype === 'float64';
  if (!Number.isFinite(expected) || !isFloat) return actual === expected;
  return Math.abs(actual - expected) <= ATOL + RTOL * Math.abs(expected);
}

function expectedNumber(raw: unknown, dtype: DType): number {
  const value = decode(raw);
  if (typeof value === 'boolean') return value ? 1 : 0;
  // Fixture floats are the shortest decimals of float32 values; fround gives back the exact float32.
  return FLOAT32_LIKE.has(dtype) ? Math.fround(value as number) : (value as number);
}

function checkTensor(actual: unknown, expected: EncodedTensor, where: string): void {
  assert.ok(actual instanceof Tensor, `${where}: expected a Tensor, got ${String(actual)}`);
  assert.deepEqual(actual.shape, expected.shape, `${where}: shape`);
  assert.equal(actual.dtype, expected.dtype, `${where}: dtype`);
  const data = actual.data();
  assert.equal(data.constructor.name, TYPED_ARRAY_OF[expected.dtype], `${where}: data() array type`);
  assert.equal(data.length, expected.values.length, `${where}: element count`);
  for (let i = 0; i < data.length; i++) {
    const got = Number(data[i]);
    const want = expectedNumber(expected.values[i], expected.dtype);
    if (!close(got, want, expected.dtype)) {
      assert.fail(`${where}: element ${i} is ${got}, torch gives ${want} (dtype ${expected.dtype})`);
    }
  }
}

function checkNested(actual: unknown, expected: unknown, dtype: DType, where: string): void {
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${where}: expected an array, got ${String(actual)}`);
    assert.equal(actual.length, expected.length, `${where}: length`);
    expected.forEach((e, i) => checkNested(actual[i], e, dtype, `${where}[${i}]`));
  } else if (typeof expected === 'boolean') {
    assert.equal(actual, expected, where);
  } else {
    assert.equal(typeof actual, 'number', `${where}: expected a number, got ${String(actual)}`);
    const want = expectedNumber(expected, dtype);
    assert.ok(close(actual as number, want, dtype), `${where}: ${String(actual)} vs torch ${want}`);
  }
}

function check(actual: unknown, expected: Expected, where: string): void {
  switch (expected.kind) {
    case 'tensor':
      return checkTensor(actual, expected, where);
    case 'list':
      assert.ok(Array.isArray(actual), `${where}: expected an array of ${expected.items.length}`);
      assert.equal(actual.length, expected.items.length, `${where}: number of results`);
      return expected.items.forEach((item, i) => check(actual[i], item, `${where}[${i}]`));
    case 'dict':
      assert.ok(typeof actual === 'object' && actual !== null, `${where}: expected an object`);
      assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected.items).sort(), `${where}: keys`);
      for (const [key, item] of Object.entries(expected.items))
        check((actual as Record<string, unknown>)[key], item, `${where}.${key}`);
      return;
    case 'scalar': {
      const want = decode(expected.value);
      if (typeof want === 'boolean') return assert.equal(actual, want, where);
      assert.equal(typeof actual, 'number', `${where}: expected a number, got ${String(actual)}`);
      return assert.ok(
        close(actual as number, want as number, 'float64'),
        `${where}: ${String(actual)} vs torch ${String(want)}`,
      );
    }
    case 'nested':
      return checkNested(actual, expected.value, expected.dtype, where);
  }
}

// Case parameters: fixture tensors built as Tensors, plus the plain JSON args (typed loosely on purpose:
// each runner knows what its case's parameters are).
type Params = Record<string, any>;
type Runner = (p: Params) => unknown;

const opts = (p: Params) => (p.dtype ? { dtype: p.dtype as DType } : undefined);
const indices = (p: Params) =>
  (p.pattern as (string | null)[]).map((key) => (key === null ? null : (p[key] as Tensor)));

const runners: Record<string, Runner> = {
  add: (p) => add(p.a, p.b, p.alpha),
  sub: (p) => sub(p.a, p.b, p.alpha),
  mul: (p) => mul(p.a, p.b),
  div: (p) => div(p.a, p.b, p.roundingMode),
  pow: (p) => pow(p.a, p.b),
  exp: (p) => exp(p.x),
  log: (p) => log(p.x),
  log1p: (p) => log1p(p.x),
  sqrt: (p) => sqrt(p.x),
  rsqrt: (p) => rsqrt(p.x),
  tanh: (p) => tanh(p.x),
  sigmoid: (p) => sigmoid(p.x),
  relu: (p) => relu(p.x),
  abs: (p) => abs(p.x),
  neg: (p) => neg(p.x),
  square: (p) => square(p.x),
  reciprocal: (p) => reciprocal(p.x),
  sin: (p) => sin(p.x),
  cos: (p) => cos(p.x),
  floor: (p) => floor(p.x),
  ceil: (p) => ceil(p.x),
  round: (p) => round(p.x),
  sign: (p) => sign(p.x),
  clamp: (p) => clamp(p.x, p.min, p.max),
  maximum: (p) => maximum(p.a, p.b),
  minimum: (p) => minimum(p.a, p.b),
  where: (p) => where(p.cond, p.a, p.b),
  lerp: (p) => lerp(p.a, p.b, p.w),

  sum: (p) => sum(p.x, p.dim, p.keepdim ?? false),
  mean: (p) => mean(p.x, p.dim, p.keepdim ?? false),
  max: (p) => (p.dim === undefined ? max(p.x) : max(p.x, p.dim, p.keepdim)),
  min: (p) => (p.dim === undefined ? min(p.x) : min(p.x, p.dim, p.keepdim)),
  argmax: (p) => argmax(p.x, p.dim ?? undefined, p.keepdim),
  argmin: (p) => argmin(p.x, p.dim ?? undefined, p.keepdim),
  std: (p) => std(p.x, p.dim, { correction: p.correction, keepdim: p.keepdim }),
  var: (p) => variance(p.x, p.dim, { correction: p.correction, keepdim: p.keepdim }),
  norm: (p) => norm(p.x, decode(p.p) as number, p.dim, p.keepdim),
  logsumexp: (p) => logsumexp(p.x, p.dim, p.keepdim),
  cumsum: (p) => cumsum(p.x, p.dim),
  prod: (p) => prod(p.x, p.dim ?? undefined, p.keepdim ?? false),
  all: (p) => all(p.x, p.dim ?? undefined, p.keepdim ?? false),
  any: (p) => any(p.x, p.dim ?? undefined, p.keepdim ?? false),

  reshape: (p) => reshape(p.transposeFirst ? transpose(p.x, 0, 1) : p.x, p.shape),
  view: (p) => view(p.x, p.shape),
  flatten: (p) => flatten(p.x, p.startDim, p.endDim),
  permute: (p) => permute(p.x, p.dims),
  transpose: (p) => transpose(p.x, p.dim0, p.dim1),
  t: (p) => t(p.x),
  contiguous: (p) => {
    const permuted = permute(p.x, p.dims);
    assert.equal(permuted.isContiguous(), false);
    const result = contiguous(permuted);
    assert.equal(result.isContiguous(), true);
    return result;
  },
  cat: (p) => cat([p.a, p.b, p.c].filter(Boolean), p.dim),
  stack: (p) => stack([p.a, p.b], p.dim),
  split: (p) => split(p.x, p.splitSize, p.dim),
  chunk: (p) => chunk(p.x, p.chunks, p.dim),
  flip: (p) => flip(p.x, p.dims),
  squeeze: (p) => squeeze(p.x, p.dim ?? undefined),
  unsqueeze: (p) => unsqueeze(p.x, p.dim),
  expand: (p) => expand(p.x, p.shape),
  repeat: (p) => repeat(p.x, p.repeats),
  narrow: (p) => narrow(p.x, p.dim, p.start, p.length),

  select: (p) => select(p.x, p.dim, p.index),
  slice: (p) => slice(p.x, p.dim, p.start, p.end, p.step),
  indexSelect: (p) => indexSelect(p.x, p.dim, p.index),
  gather: (p) => gather(p.x, p.dim, p.index),
  scatter: (p) => scatter(p.x, p.dim, p.index, p.src ?? p.value),
  maskedFill: (p) => maskedFill(p.x, p.mask, decode(p.value) as number),
  maskedFill_: (p) => {
    assert.equal(p.x.maskedFill_(p.mask, p.value), p.x, 'maskedFill_ returns its receiver');
    return p.x;
  },
  index: (p) => index(p.x, indices(p)),
  indexPut_: (p) => {
    const result = indexPut_(p.x, indices(p), p.values, p.accumulate);
    assert.equal(result, p.x, 'indexPut_ returns its input object');
    return p.x;
  },
  oneHot: (p) => oneHot(p.x, p.numClasses),

  eq: (p) => eq(p.a, p.b),
  ne: (p) => ne(p.a, p.b),
  lt: (p) => lt(p.a, p.b),
  le: (p) => le(p.a, p.b),
  gt: (p) => gt(p.a, p.b),
  ge: (p) => ge(p.a, p.b),
  isclose: (p) => isclose(p.a, p.b, p.rtol, p.atol),
  allclose: (p) => allclose(p.a, p.b, p.rtol, p.atol),
  equal: (p) => equal(p.a, p.b),
  isnan: (p) => isnan(p.x),
  isfinite: (p) => isfinite(p.x),

  matmul: (p) => matmul(p.a, p.b),
  mm: (p) => mm(p.a, p.b),
  bmm: (p) => bmm(p.a, p.b),
  dot: (p) => dot(p.a, p.b),
  outer: (p) => outer(p.a, p.b),
  einsum: (p) => einsum(p.equation, [p.a, p.b].filter(Boolean)),

  linear: (p) => F.linear(p.x, p.w, p.b),
  conv2d: (p) =>
    F.conv2d(p.x, p.w, p.b, { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups }),
  layerNorm: (p) => F.layerNorm(p.x, p.normalizedShape, p.w, p.b, p.eps),
  batchNorm: (p) => {
    const out = F.batchNorm(p.x, p.mean, p.var, {
      weight: p.w,
      bias: p.b,
      training: p.training,
      momentum: p.momentum,
      eps: p.eps,
    });
    return [out, p.mean, p.var];
  },
  groupNorm: (p) => F.groupNorm(p.x, p.numGroups, p.w, p.b),
  embedding: (p) => F.embedding(p.ids, p.w, p.paddingIdx ?? undefined),
  gelu: (p) => F.gelu(p.x, p.approximate),
  silu: (p) => F.silu(p.x),
  dropout: (p) => F.dropout(p.x, p.p, p.training),
  softmax: (p) => F.softmax(p.x, p.dim),
  logSoftmax: (p) => F.logSoftmax(p.x, p.dim),
  crossEntropy: (p) =>
    F.crossEntropy(p.x, p.t, {
      weight: p.w,
      reduction: p.reduction,
      ignoreIndex: p.ignoreIndex,
      labelSmoothing: p.labelSmoothing,
    }),
  nllLoss: (p) => F.nllLoss(p.x, p.t, { weight: p.w, reduction: p.reduction, ignoreIndex: p.ignoreIndex }),
  mseLoss: (p) => F.mseLoss(p.x, p.y, p.reduction),
  l1Loss: (p) => F.l1Loss(p.x, p.y, p.reduction),
  binaryCrossEntropyWithLogits: (p) =>
    F.binaryCrossEntropyWithLogits(p.x, p.y, { posWeight: p.posWeight, reduction: p.reduction }),
  scaledDotProductAttention: (p) =>
    F.scaledDotProductAttention(p.q, p.k, p.v, { attnMask: p.mask, isCausal: p.isCausal, scale: p.scale }),
  maxPool2d: (p) => F.maxPool2d(p.x, p.kernelSize, p.stride, p.padding, 1, p.ceilMode),
  avgPool2d: (p) => F.avgPool2d(p.x, p.kernelSize),
  adaptiveAvgPool2d: (p) => F.adaptiveAvgPool2d(p.x, p.outputSize),
  pad: (p) => F.pad(p.x, p.padding, p.mode, p.value),

  arange: (p) => arange(p.start, p.end, p.step, opts(p)),
  linspace: (p) => linspace(p.start, p.end, p.steps, opts(p)),
  eye: (p) => eye(p.n, p.m, opts(p)),
  full: (p) => full(p.shape, p.value, opts(p)),
  zeros: (p) => zeros(p.shape, opts(p)),
  ones: (p) => ones(p.shape, opts(p)),
  zerosLike: (p) => zerosLike(p.x),
  onesLike: (p) => onesLike(p.x),
  fullLike: (p) => fullLike(p.x, p.value),
  tensorNested: (p) => tensor(p.data as NestedArray, opts(p)),

  to: (p) => (p.x as Tensor).to(p.dtype),
  toRoundTrip: (p) => (p.dtype === 'float16' ? (p.x as Tensor).half() : (p.x as Tensor).bfloat16()).float(),
  halfMath: (p) =>
    (p.a as Tensor)
      .half()
      .mul((p.b as Tensor).half())
      .add(1)
      .float(),
  item: (p) => (p.x as Tensor).sum().item(),
  itemAll: (p) => (p.x as Tensor).all().item(),
  toArray: (p) => (p.x as Tensor).reshape(p.shape).toArray(),
  toArrayTransposed: (p) => (p.x as Tensor).t().toArray(),
  dataTransposed: (p) => {
    const transposed = (p.x as Tensor).t();
    assert.equal(transposed.isContiguous(), false);
    return transposed;
  },
};

test('fixture comes from the libtorch the addon links and covers at least 40 ops', () => {
  assert.match(fixture.torch, /^2\.13\./);
  const ops = new Set(fixture.cases.map((c) => c.op));
  assert.ok(ops.size >= 40, `only ${ops.size} distinct ops`);
  const missing = [...ops].filter((op) => !(op in runners));
  assert.deepEqual(missing, [], 'every fixture op has a runner');
});

const liveBefore = memory().numTensors;

for (const c of fixture.cases) {
  test(`${c.op}: ${c.id}`, () => {
    tidy(() => {
      const params: Params = { ...c.args };
      for (const [name, encoded] of Object.entries(c.inputs)) {
        params[name] = buildTensor(encoded);
        checkTensor(params[name], encoded, `input ${name}`);
      }
      const run = runners[c.op];
      assert.ok(run, `no runner for op ${c.op}`);
      check(run(params), c.expected, c.id);
    });
  });
}

test('every case tensor was freed by tidy()', () => {
  assert.equal(memory().numTensors, liveBefore);
});
