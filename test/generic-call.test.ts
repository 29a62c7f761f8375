// The generic operator call (callOp and the generated aten namespace): argument conversion by
// schema, results, aliasing, schemas, and bad calls that must become informative JS Errors.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  Tensor,
  aten,
  callOp,
  opSchema,
  listOps,
  tidy,
  memory,
  tensor,
  ones,
  zeros,
  arange,
  add,
  functional as F,
  type NestedArray,
} from 'finetune';

function values(result: unknown): NestedArray {
  assert.ok(result instanceof Tensor, `expected a Tensor, got ${String(result)}`);
  return result.toArray();
}

function assertClose(actual: NestedArray, expected: NestedArray, tolerance = 1e-6): void {
  if (Array.isArray(expected)) {
    assert.ok(
      Array.isArray(actual) && actual.length === expected.length,
      `${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`,
    );
    expected.forEach((e, i) => assertClose(actual[i], e, tolerance));
  } else {
    assert.ok(
      Math.abs((actual as number) - (expected as number)) <= tolerance,
      `${String(actual)} vs ${String(expected)}`,
    );
  }
}

/** Asserts that fn throws a genuine JS Error whose message matches every pattern. */
function throwsError(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}

const matrix = (): Tensor =>
  tensor([
    [1, 5, 3],
    [4, 2, 6],
  ]);

describe('tuple returns', () => {
  test('aten::max.dim returns [values, indices]', () =>
    tidy(() => {
      const result = callOp('aten::max', 'dim', [matrix(), 1], { keepdim: true });
      assert.ok(Array.isArray(result) && result.length === 2);
      const [maxValues, indices] = result as Tensor[];
      assert.deepEqual(maxValues.shape, [2, 1]);
      assert.deepEqual(values(maxValues), [[5], [6]]);
      assert.equal(indices.dtype, 'int64');
      assert.deepEqual(values(indices), [[1], [2]]);
    }));

  test('aten::sort returns sorted values and their indices', () =>
    tidy(() => {
      const [sortedDown, orderDown] = aten.sort(matrix(), 1, true);
      assert.deepEqual(values(sortedDown), [
        [5, 3, 1],
        [6, 4, 2],
      ]);
      assert.deepEqual(values(orderDown), [
        [1, 2, 0],
        [2, 0, 1],
      ]);
      const [sortedUp, orderUp] = callOp('aten::sort', '', [matrix()]) as Tensor[];
      assert.deepEqual(values(sortedUp), [
        [1, 3, 5],
        [2, 4, 6],
      ]);
      assert.deepEqual(values(orderUp), [
        [0, 2, 1],
        [1, 0, 2],
      ]);
    }));

  test('aten::native_layer_norm returns output, mean and rstd', () =>
    tidy(() => {
      const x = tensor([
        [1, 2, 3],
        [4, 6, 8],
      ]);
      const eps = 1e-5;
      const result = callOp('aten::native_layer_norm', '', [x, [3], null, null, eps]);
      assert.ok(Array.isArray(result) && result.length === 3);
      const [out, mean, rstd] = result as Tensor[];
      assert.ok(out.allclose(F.layerNorm(x, [3], null, null, eps)));
      assert.deepEqual(mean.shape, [2, 1]);
      assertClose(values(mean), [[2], [6]]);
      assertClose(values(rstd), [[1 / Math.sqrt(2 / 3 + eps)], [1 / Math.sqrt(8 / 3 + eps)]], 1e-5);
    }));
});

describe('list arguments', () => {
  test('aten::cat takes a Tensor[]', () =>
    tidy(() => {
      const joined = callOp('aten::cat', '', [
        [
          tensor([[1, 2]]),
          tensor([
            [3, 4],
            [5, 6],
          ]),
        ],
      ]);
      assert.deepEqual(values(joined), [
        [1, 2],
        [3, 4],
        [5, 6],
      ]);
      assert.deepEqual(values(aten.cat([tensor([[1], [2]]), tensor([[3], [4]])], 1)), [
        [1, 3],
        [2, 4],
      ]);
    }));

  test('aten::sum.dim_IntList takes an int list, or a single int broadcast to one', () =>
    tidy(() => {
      const x = matrix();
      assert.deepEqual(values(callOp('aten::sum', 'dim_IntList', [x, [1]])), [9, 12]);
      assert.deepEqual(values(callOp('aten::sum', 'dim_IntList', [x, 1])), [9, 12]);
      assert.deepEqual(values(aten.sum_dim_IntList(x, 0, true)), [[5, 7, 9]]);
    }));

  test('aten::sum.dim_IntList reduces over several dims (int[1] means broadcastable, not length 1)', () =>
    tidy(() => {
      const x = arange(24).reshape(2, 3, 4);
      assert.deepEqual(values(callOp('aten::sum', 'dim_IntList', [x, [0, 2]])), [60, 92, 124]);
      assert.equal(callOp('aten::sum', 'dim_IntList', [x, [0, 1, 2]]) instanceof Tensor, true);
    }));

  test('int[] arguments for shapes', () =>
    tidy(() => {
      assert.deepEqual(aten.reshape(arange(6), [3, 2]).shape, [3, 2]);
      assert.deepEqual((callOp('aten::zeros', '', [[2, 1, 3]]) as Tensor).shape, [2, 1, 3]);
    }));
});

describe('optional arguments', () => {
  test('aten::clamp with only max (null or undefined min)', () =>
    tidy(() => {
      const x = matrix();
      const expected = [
        [1, 3, 3],
        [3, 2, 3],
      ];
      assert.deepEqual(values(callOp('aten::clamp', '', [x, null, 3])), expected);
      assert.deepEqual(values(callOp('aten::clamp', '', [x, undefined, 3])), expected);
      assert.deepEqual(values(callOp('aten::clamp', '', [x], { max: 3 })), expected);
      assert.deepEqual(values(aten.clamp(x, null, 3)), expected);
    }));

  test('undefined positional arguments take the schema default', () =>
    tidy(() => {
      const [sorted] = callOp('aten::sort', '', [matrix(), undefined, true]) as Tensor[];
      assert.deepEqual(values(sorted), [
        [5, 3, 1],
        [6, 4, 2],
      ]);
      const kept = callOp('aten::max', 'dim', [matrix(), 0, undefined]) as Tensor[];
      assert.deepEqual(kept[0].shape, [3]);
    }));

  test('null optional Tensor (linear without bias) and an omitted optional', () =>
    tidy(() => {
      const x = tensor([[1, 2]]);
      const weight = tensor([
        [1, 1],
        [2, -1],
      ]);
      assert.deepEqual(values(callOp('aten::linear', '', [x, weight, null])), [[3, 0]]);
      assert.deepEqual(values(aten.linear(x, weight)), [[3, 0]]);
      assert.deepEqual(values(aten.linear(x, weight, tensor([10, 20]))), [[13, 20]]);
    }));

  test('an optional keyword-only argument without default is None when omitted', () =>
    tidy(() => {
      assert.deepEqual(values(callOp('aten::div', 'Tensor_mode', [tensor([-7, 7]), tensor([2, 2])])), [-3.5, 3.5]);
    }));
});

describe('keyword arguments', () => {
  test('snake_case and camelCase names', () =>
    tidy(() => {
      const a = tensor([-7, 7]);
      const b = tensor([2, 2]);
      assert.deepEqual(values(callOp('aten::div', 'Tensor_mode', [a, b], { rounding_mode: 'floor' })), [-4, 3]);
      assert.deepEqual(values(callOp('aten::div', 'Tensor_mode', [a, b], { roundingMode: 'trunc' })), [-3, 3]);
      assert.deepEqual(values(aten.div_Tensor_mode(a, b, { rounding_mode: 'floor' })), [-4, 3]);
    }));

  test('keyword-only dtype', () =>
    tidy(() => {
      const summed = callOp('aten::sum', 'dim_IntList', [matrix(), [1]], { dtype: 'float64' }) as Tensor;
      assert.equal(summed.dtype, 'float64');
      assert.deepEqual(values(summed), [9, 12]);
      const range = callOp('aten::arange', '', [4], { dtype: 'int32' }) as Tensor;
      assert.equal(range.dtype, 'int32');
      assert.deepEqual(values(range), [0, 1, 2, 3]);
    }));

  test('keyword-only alpha, and positional arguments passed by name', () =>
    tidy(() => {
      const a = tensor([1, 2]);
      const b = tensor([10, 20]);
      assert.deepEqual(values(callOp('aten::add', 'Tensor', [a, b], { alpha: 2 })), [21, 42]);
      assert.deepEqual(values(callOp('aten::add', 'Tensor', [], { self: a, other: b })), [11, 22]);
      assert.deepEqual(values(callOp('aten::add', 'Tensor', [a], { other: b, alpha: undefined })), [11, 22]);
      const [columnMax] = callOp('aten::max', 'dim', [matrix()], { dim: 0, keepdim: true }) as Tensor[];
      assert.deepEqual(values(columnMax), [[4, 5, 6]]);
    }));
});

describe('int[2] broadcast', () => {
  test('conv2d stride and padding given as one number', () =>
    tidy(() => {
      const input = ones([1, 1, 5, 5]);
      const weight = ones([1, 1, 3, 3]);
      const strided = callOp('aten::conv2d', '', [input, weight, null, 2]) as Tensor;
      assert.deepEqual(strided.shape, [1, 1, 2, 2]);
      assert.deepEqual(values(strided), [
        [
          [
            [9, 9],
            [9, 9],
          ],
        ],
      ]);
      assert.ok(strided.equal(callOp('aten::conv2d', '', [input, weight, null, [2, 2]]) as Tensor));
      assert.ok(strided.equal(callOp('aten::conv2d', '', [input, weight, null, [2]]) as Tensor));
      const padded = aten.conv2d(input, weight, null, 2, 1);
      assert.deepEqual(values(padded), [
        [
          [
            [4, 6, 4],
            [6, 9, 6],
            [4, 6, 4],
          ],
        ],
      ]);
      const rectangular = callOp('aten::conv2d', '', [input, weight], { stride: [2, 1] }) as Tensor;
      assert.deepEqual(rectangular.shape, [1, 1, 2, 3]);
    }));
});

describe('Tensor?[] arguments', () => {
  test('aten::index.Tensor with null for a full slice', () =>
    tidy(() => {
      const x = arange(6).reshape(2, 3);
      const columns = tensor([2, 0], { dtype: 'int64' });
      assert.deepEqual(values(callOp('aten::index', 'Tensor', [x, [null, columns]])), [
        [2, 0],
        [5, 3],
      ]);
      assert.deepEqual(values(aten.index_Tensor(x, [undefined as unknown as null, columns])), [
        [2, 0],
        [5, 3],
      ]);
      assert.deepEqual(values(aten.index_Tensor(x, [tensor([1, 0], { dtype: 'int64' }), columns])), [5, 0]);
    }));

  test('aten::index_put_ with null accumulates into columns', () =>
    tidy(() => {
      const x = zeros([2, 3]);
      const result = aten.index_put_(x, [null, tensor([0, 2, 0], { dtype: 'int64' })], tensor([1, 2, 3]), true);
      assert.equal(result, x);
      assert.deepEqual(values(x), [
        [4, 0, 2],
        [4, 0, 2],
      ]);
    }));
});

describe('in-place and out= results', () => {
  test('in-place ops return the same JS object and change it', () =>
    tidy(() => {
      const x = tensor([1, 2]);
      const y = tensor([10, 20]);
      assert.equal(callOp('aten::add_', 'Tensor', [x, y]), x);
      assert.deepEqual(values(x), [11, 22]);
      assert.equal(aten.add__Tensor(x, y, { alpha: 2 }), x);
      assert.deepEqual(values(x), [31, 62]);
      assert.equal(callOp('aten::mul_', 'Scalar', [], { self: x, other: 2 }), x);
      assert.deepEqual(values(x), [62, 124]);
      assert.equal(x.add_(1), x);
      assert.deepEqual(values(x), [63, 125]);
    }));

  test('out-of-place ops return a new object and leave the input alone', () =>
    tidy(() => {
      const x = tensor([1, 2]);
      const sum = callOp('aten::add', 'Tensor', [x, x]);
      assert.notEqual(sum, x);
      assert.ok(sum instanceof Tensor);
      assert.deepEqual(values(sum), [2, 4]);
      assert.deepEqual(values(x), [1, 2]);
      assert.notEqual(x.add(0), x);
    }));

  test('out= forms return the out tensors themselves', () =>
    tidy(() => {
      const out = zeros([2]);
      assert.equal(callOp('aten::add', 'out', [tensor([1, 2]), tensor([3, 4])], { out }), out);
      assert.deepEqual(values(out), [4, 6]);
      const maxOut = zeros([0]);
      const indexOut = zeros([0], { dtype: 'int64' });
      const pair = callOp('aten::max', 'dim_max', [matrix(), 1], { max: maxOut, max_values: indexOut }) as Tensor[];
      assert.equal(pair[0], maxOut);
      assert.equal(pair[1], indexOut);
      assert.deepEqual(values(maxOut), [5, 6]);
      assert.deepEqual(values(indexOut), [1, 2]);
    }));
});

describe('opSchema', () => {
  test('aten::add.Tensor', () => {
    const info = opSchema('aten::add', 'Tensor');
    assert.equal(info.name, 'aten::add');
    assert.equal(info.overload, 'Tensor');
    assert.equal(info.schema, 'aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor');
    assert.deepEqual(
      info.args.map((a) => a.name),
      ['self', 'other', 'alpha'],
    );
    assert.deepEqual(
      info.args.map((a) => a.kwargOnly),
      [false, false, true],
    );
    assert.deepEqual(
      info.args.map((a) => a.hasDefault),
      [false, false, true],
    );
    assert.equal(info.args[0].type, 'Tensor');
    assert.ok(info.args.every((a) => a.supported && !a.writes && !a.optional));
    assert.deepEqual(info.returns, [{ type: 'Tensor', aliasedArg: -1, supported: true }]);
    assert.deepEqual(opSchema('add', 'Tensor'), info, 'the aten:: prefix is optional');
  });

  test('in-place, optional, fixed-length and tuple schemas', () => {
    const inPlace = opSchema('aten::add_', 'Tensor');
    assert.equal(inPlace.args[0].writes, true);
    assert.equal(inPlace.returns[0].aliasedArg, 0);
    const conv = opSchema('aten::conv2d');
    const stride = conv.args.find((a) => a.name === 'stride');
    assert.equal(stride?.length, 2);
    assert.equal(stride?.hasDefault, true);
    assert.equal(conv.args.find((a) => a.name === 'bias')?.optional, true);
    const maxDim = opSchema('aten::max', 'dim');
    assert.equal(maxDim.returns.length, 2);
    assert.ok(maxDim.returns.every((r) => r.type === 'Tensor' && r.aliasedArg === -1));
    const index = opSchema('aten::index', 'Tensor');
    assert.match(index.args[1].type, /Optional\[Tensor\]|Tensor\?/);
    const sumDims = opSchema('aten::sum', 'dim_IntList');
    const dtype = sumDims.args.find((a) => a.name === 'dtype');
    assert.equal(dtype?.kwargOnly, true);
    assert.equal(dtype?.optional, true);
  });

  test('listOps lists registered operators', () => {
    const ops = listOps();
    assert.ok(ops.length > 1000);
    assert.ok(ops.some(([name, overload]) => name === 'aten::add' && overload === 'Tensor'));
    assert.ok(ops.some(([name, overload]) => name === 'aten::relu' && overload === ''));
  });
});

describe('bad calls throw informative Errors', () => {
  const liveBefore = memory().numTensors;

  test('too many positional arguments (keyword-only alpha given positionally)', () =>
    tidy(() => {
      const x = ones([2]);
      throwsError(
        () => callOp('aten::add', 'Tensor', [x, x, 1]),
        /aten::add\.Tensor takes at most 2 positional arguments \(self, other\) but 3 were given/,
      );
    }));

  test('missing required argument', () =>
    tidy(() => {
      throwsError(
        () => callOp('aten::add', 'Tensor', [ones([2])]),
        /aten::add\.Tensor: missing required argument 'other' \(Tensor\)/,
      );
      throwsError(() => callOp('aten::mm', '', []), /missing required argument 'self'/);
    }));

  test('null for a required argument', () =>
    tidy(() => {
      throwsError(
        () => callOp('aten::add', 'Tensor', [ones([2]), null]),
        /argument 'other' \(Tensor\) must not be null/,
      );
    }));

  test('wrong types', () =>
    tidy(() => {
      const x = ones([2, 3]);
      throwsError(
        () => callOp('aten::neg', '', ['abc']),
        /aten::neg: argument 'self' \(Tensor\) expects a Tensor, got string/,
      );
      throwsError(() => callOp('aten::neg', '', [{}]), /expects a Tensor, got object/);
      throwsError(
        () => callOp('aten::select', 'int', [x, 0.5, 0]),
        /aten::select\.int: argument 'dim' \(int\) expects an integer, got 0\.5/,
      );
      throwsError(
        () => callOp('aten::sum', 'dim_IntList', [x, [1]], { keepdim: 'yes' }),
        /argument 'keepdim' \(bool\) expects a boolean, got string/,
      );
      throwsError(() => callOp('aten::cat', '', [[x, 'a']]), /argument 'tensors' .* expects a Tensor, got string/);
      throwsError(() => callOp('aten::cat', '', [x]), /argument 'tensors' .* expects an array/);
      throwsError(
        () => callOp('aten::add', 'Tensor', 'nope' as unknown as unknown[]),
        /aten::add\.Tensor.*positional arguments/,
      );
    }));

  test('wrong fixed list length', () =>
    tidy(() => {
      throwsError(
        () => callOp('aten::conv2d', '', [ones([1, 1, 5, 5]), ones([1, 1, 3, 3]), null, [1, 2, 3]]),
        /aten::conv2d: argument 'stride' .* expects 2 values, got 3/,
      );
    }));

  test('shape mismatch reported by libtorch', () =>
    tidy(() => {
      const x = ones([2, 3]);
      throwsError(
        () => callOp('aten::mm', '', [x, x]),
        /aten::mm: mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)/,
      );
      throwsError(() => x.mm(x), /shapes cannot be multiplied/);
      throwsError(() => add(x, ones([4])), /size of tensor a \(3\) must match the size of tensor b \(4\)/);
    }));

  test('unknown operator', () => {
    throwsError(() => callOp('aten::no_such_op', ''), /unknown operator aten::no_such_op/);
    throwsError(() => opSchema('aten::no_such_op'), /unknown operator aten::no_such_op/);
  });

  test('unknown overload lists the overloads', () =>
    tidy(() => {
      throwsError(
        () => callOp('aten::add', 'Nope', [ones([2]), ones([2])]),
        /unknown operator aten::add\.Nope/,
        /overloads: .*\bTensor\b/,
        /\bScalar\b/,
      );
    }));

  test('unknown keyword argument lists the argument names', () =>
    tidy(() => {
      const x = ones([2]);
      throwsError(
        () => callOp('aten::add', 'Tensor', [x, x], { beta: 2 }),
        /aten::add\.Tensor: unknown keyword argument 'beta' \(arguments: self, other, alpha\)/,
      );
      throwsError(() => callOp('aten::add', 'Tensor', [x], { other: x, self: x }), /argument 'self' given twice/);
    }));

  test('disposed tensor used as input', () =>
    tidy(() => {
      const x = ones([2]);
      x.dispose();
      assert.equal(x.isDisposed, true);
      throwsError(() => x.add(1), /tensor has been disposed/);
      throwsError(() => callOp('aten::neg', '', [x]), /aten::neg: argument 'self': tensor has been disposed/);
      throwsError(() => aten.cat([ones([2]), x]), /aten::cat: argument 'tensors': tensor has been disposed/);
      throwsError(() => x.shape, /tensor has been disposed/);
    }));

  test('bad dtype name', () =>
    tidy(() => {
      const expected = /unknown dtype 'float33' \(expected float32, .*bool/;
      throwsError(() => zeros([2], { dtype: 'float33' as never }), expected);
      throwsError(() => ones([2]).to('float33' as never), expected);
      throwsError(() => callOp('aten::sum', 'dim_IntList', [ones([2]), [0]], { dtype: 'float33' }), expected);
    }));

  test('in-place op on a leaf that requires grad', () =>
    tidy(() => {
      const leaf = ones([2], { requiresGrad: true });
      const pattern = /a leaf Variable that requires grad is being used in an in-place operation/;
      throwsError(() => leaf.add_(1), pattern);
      throwsError(() => callOp('aten::mul_', 'Tensor', [leaf, ones([2])]), /aten::mul_\.Tensor:/, pattern);
      assert.deepEqual(values(leaf.detach()), [1, 1], 'the failed in-place op left the leaf unchanged');
    }));

  test('libtorch argument checks', () =>
    tidy(() => {
      throwsError(
        () => callOp('aten::clamp', '', [ones([2])]),
        /aten::clamp: .*At least one of 'min' or 'max' must not be None/,
      );
      throwsError(() => F.crossEntropy(ones([2, 3]), tensor([0, 1])), /expected target dtype to be Long/);
    }));

  test('after the bad calls the process is alive, ops work and no handles leaked', () => {
    assert.equal(memory().numTensors, liveBefore);
    const total = tidy(() =>
      add(
        ones([2, 2]),
        tensor([
          [1, 2],
          [3, 4],
        ]),
      )
        .sum()
        .item(),
    );
    assert.equal(total, 14);
    assert.equal(memory().numTensors, liveBefore);
  });
});
