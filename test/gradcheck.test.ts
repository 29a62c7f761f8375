import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  cat,
  functional as F,
  isGradEnabled,
  manualSeed,
  memory,
  noGrad,
  rand,
  randn,
  randperm,
  stack,
  tensor,
  tidy,
  where,
  zeros,
  ones,
  type Shape,
  type Tensor,
} from 'finetune';

import { assertGradcheck, gradcheck } from './helpers/gradcheck.js';

const f64 = { dtype: 'float64' } as const;

/** Standard normal float64 leaf that requires grad. */
function normal(shape: Shape, scale = 1): Tensor {
  return randn(shape, f64).mul(scale).requiresGrad_();
}

/** Uniform in [low, high), float64 leaf that requires grad. */
function uniform(shape: Shape, low: number, high: number): Tensor {
  return rand(shape, f64)
    .mul(high - low)
    .add(low)
    .requiresGrad_();
}

/**
 * Shuffled values 0.1 apart, offset by 0.03 from multiples of 0.1: no ties for max/maxPool
 * and nothing within eps of a kink at ±0.5 for clamp.
 */
function distinct(shape: Shape): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return randperm(n)
    .double()
    .sub(Math.floor(n / 2))
    .mul(0.1)
    .add(0.03)
    .reshape(shape)
    .requiresGrad_();
}

function int64(data: number[] | number[][]): Tensor {
  return tensor(data, { dtype: 'int64' });
}

/** Seeded, scoped, and checked not to leave tensors behind. */
function scopedTest(name: string, body: () => void): void {
  test(name, () => {
    manualSeed(20240601);
    const live = memory().numTensors;
    tidy(body);
    assert.equal(memory().numTensors, live, 'tensors leaked from the test scope');
  });
}

function assertCloseTo(actual: Tensor | null, expected: number[], tolerance = 1e-10): void {
  assert.ok(actual !== null, 'expected a gradient, got null');
  const values = Array.from(actual.data() as Float64Array);
  assert.equal(values.length, expected.length, `length ${values.length} ≠ ${expected.length}`);
  values.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) <= tolerance, `element ${i}: ${v} ≠ ${expected[i]}`));
}

describe('gradcheck helper', () => {
  scopedTest('accepts a correct gradient and compares every input element', () => {
    const { checked, mismatches } = gradcheck((a, b) => a.mul(b), [normal([2, 3]), normal([2, 3])]);
    assert.equal(checked, 12);
    assert.deepEqual(mismatches, []);
  });

  scopedTest('rejects a wrong gradient: x·detach(x) has analytic x but true derivative 2x', () => {
    const x = uniform([5], 0.5, 1.5);
    const { checked, mismatches } = gradcheck((t) => t.mul(t.detach()), [x]);
    assert.equal(checked, 5);
    assert.equal(mismatches.length, 5);
    for (const m of mismatches) assert.ok(Math.abs(m.numeric - 2 * m.analytic) < 1e-5 * Math.abs(m.numeric) + 1e-6);
    assert.throws(() => assertGradcheck((t) => t.mul(t.detach()), [x]), /gradient mismatch in 5 of 5 elements/);
  });

  scopedTest('leaves its inputs untouched and without .grad', () => {
    const x = normal([3]);
    const before = Array.from(x.data() as Float64Array);
    assertGradcheck((t) => t.exp(), [x]);
    assert.equal(x.grad, null);
    assert.deepEqual(Array.from(x.data() as Float64Array), before);
  });
});

describe('gradients match finite differences (float64)', () => {
  scopedTest('add with broadcasting and alpha', () => {
    assertGradcheck((a, b) => a.add(b, 0.7), [normal([2, 3, 4]), normal([3, 1])]);
  });

  scopedTest('sub with broadcasting', () => {
    assertGradcheck((a, b) => a.sub(b), [normal([3, 1]), normal([2, 1, 4])]);
  });

  scopedTest('mul with broadcasting', () => {
    assertGradcheck((a, b) => a.mul(b), [normal([2, 3, 1]), normal([4])]);
  });

  scopedTest('div with broadcasting', () => {
    assertGradcheck((a, b) => a.div(b), [normal([2, 3]), uniform([3], 0.5, 2)]);
  });

  scopedTest('pow with scalar exponents', () => {
    assertGradcheck((x) => x.pow(3), [normal([2, 3])]);
    assertGradcheck((x) => x.pow(2.5), [uniform([2, 3], 0.5, 2)]);
  });

  scopedTest('pow with a tensor exponent (w.r.t. base and exponent)', () => {
    assertGradcheck((base, exponent) => base.pow(exponent), [uniform([2, 3], 0.5, 2), normal([3])]);
  });

  scopedTest('exp', () => {
    assertGradcheck((x) => x.exp(), [normal([2, 4])]);
  });

  scopedTest('log', () => {
    assertGradcheck((x) => x.log(), [uniform([2, 4], 0.2, 3)]);
  });

  scopedTest('sqrt', () => {
    assertGradcheck((x) => x.sqrt(), [uniform([2, 4], 0.2, 3)]);
  });

  scopedTest('tanh', () => {
    assertGradcheck((x) => x.tanh(), [normal([2, 4])]);
  });

  scopedTest('sigmoid', () => {
    assertGradcheck((x) => x.sigmoid(), [normal([2, 4], 2)]);
  });

  scopedTest('matmul, batched and broadcast', () => {
    assertGradcheck((a, b) => a.matmul(b), [normal([2, 3, 4]), normal([2, 4, 2])]);
    assertGradcheck((a, b) => a.matmul(b), [normal([2, 1, 3, 4]), normal([3, 4, 2])]);
  });

  scopedTest('linear with bias', () => {
    assertGradcheck((x, w, b) => F.linear(x, w, b), [normal([2, 3, 4]), normal([5, 4]), normal([5])]);
  });

  scopedTest('conv2d with stride, padding and groups', () => {
    assertGradcheck(
      (x, w, b) => F.conv2d(x, w, b, { stride: 2, padding: 1, groups: 2 }),
      [normal([2, 4, 5, 5]), normal([6, 2, 3, 3]), normal([6])],
    );
  });

  scopedTest('conv2d with asymmetric stride and dilation, no bias', () => {
    assertGradcheck(
      (x, w) => F.conv2d(x, w, null, { stride: [1, 2], padding: [2, 0], dilation: 2 }),
      [normal([1, 2, 5, 6]), normal([3, 2, 2, 3])],
    );
  });

  scopedTest('layerNorm with weight and bias', () => {
    assertGradcheck((x, w, b) => F.layerNorm(x, [3, 4], w, b), [normal([2, 3, 4]), normal([3, 4]), normal([3, 4])]);
  });

  scopedTest('batchNorm in training mode (batch statistics)', () => {
    const runningMean = zeros([3], f64);
    const runningVar = ones([3], f64);
    assertGradcheck(
      (x, w, b) => F.batchNorm(x, runningMean, runningVar, { weight: w, bias: b, training: true }),
      [normal([4, 3, 2, 2]), normal([3]), normal([3])],
    );
    // the running statistics moved, so training mode really was on
    assert.ok(!runningMean.allclose(zeros([3], f64)));
  });

  scopedTest('softmax', () => {
    assertGradcheck((x) => x.softmax(1), [normal([2, 5, 3])]);
  });

  scopedTest('logSoftmax', () => {
    assertGradcheck((x) => x.logSoftmax(-1), [normal([3, 5])]);
  });

  scopedTest('crossEntropy w.r.t. logits, with label smoothing', () => {
    const target = int64([0, 3, 4, 1]);
    assertGradcheck((logits) => F.crossEntropy(logits, target, { labelSmoothing: 0.1 }), [normal([4, 5], 2), target]);
    assertGradcheck(
      (logits) => F.crossEntropy(logits, target, { labelSmoothing: 0.2, reduction: 'none' }),
      [normal([4, 5]), target],
    );
  });

  scopedTest('crossEntropy with class weights, ignoreIndex and probability targets', () => {
    const target = int64([2, -100, 0]);
    const weight = tensor([0.5, 1, 2], f64);
    assertGradcheck(
      (logits) => F.crossEntropy(logits, target, { weight, ignoreIndex: -100 }),
      [normal([3, 3]), target],
    );
    const probabilities = rand([3, 4], f64).softmax(1);
    assertGradcheck(
      (logits) => F.crossEntropy(logits, probabilities, { labelSmoothing: 0.1 }),
      [normal([3, 4]), probabilities],
    );
  });

  scopedTest('mseLoss w.r.t. input and target', () => {
    assertGradcheck((input, target) => F.mseLoss(input, target), [normal([3, 4]), normal([3, 4])]);
    assertGradcheck((input, target) => F.mseLoss(input, target, 'sum'), [normal([5]), normal([5])]);
  });

  scopedTest("gelu (approximate 'none')", () => {
    assertGradcheck((x) => F.gelu(x), [normal([3, 4], 2)]);
  });

  scopedTest("gelu (approximate 'tanh')", () => {
    assertGradcheck((x) => F.gelu(x, 'tanh'), [normal([3, 4], 2)]);
  });

  scopedTest('embedding w.r.t. weight (repeated ids accumulate, unused rows get zero)', () => {
    const ids = int64([
      [0, 2, 2],
      [3, 0, 1],
    ]);
    assertGradcheck((weight) => F.embedding(ids, weight), [normal([5, 3]), ids]);
  });

  scopedTest('scaledDotProductAttention w.r.t. q, k and v', () => {
    assertGradcheck(
      (q, k, v) => F.scaledDotProductAttention(q, k, v),
      [normal([1, 2, 3, 4]), normal([1, 2, 5, 4]), normal([1, 2, 5, 4])],
    );
  });

  scopedTest('scaledDotProductAttention, causal with an explicit scale', () => {
    assertGradcheck(
      (q, k, v) => F.scaledDotProductAttention(q, k, v, { isCausal: true, scale: 0.3 }),
      [normal([2, 1, 4, 3]), normal([2, 1, 4, 3]), normal([2, 1, 4, 3])],
    );
  });

  scopedTest('maxPool2d (disjoint and overlapping windows)', () => {
    assertGradcheck((x) => F.maxPool2d(x, 2), [distinct([1, 2, 4, 4])]);
    assertGradcheck((x) => F.maxPool2d(x, 3, 1, 1), [distinct([1, 2, 4, 4])]);
  });

  scopedTest('adaptiveAvgPool2d with uneven windows', () => {
    assertGradcheck((x) => F.adaptiveAvgPool2d(x, [2, 3]), [normal([1, 2, 5, 5])]);
  });

  scopedTest('sum and mean over a dim and overall', () => {
    assertGradcheck((x) => x.sum(1, true), [normal([2, 3, 4])]);
    assertGradcheck((x) => x.mean(-1), [normal([2, 3, 4])]);
    assertGradcheck((x) => x.sum(), [normal([2, 3])]);
    assertGradcheck((x) => x.mean(), [normal([2, 3])]);
  });

  scopedTest('sum, mean, logsumexp and norm over several dims at once', () => {
    assertGradcheck((x) => x.sum([0, 2], true), [normal([2, 3, 4])]);
    assertGradcheck((x) => x.mean([-1, 0]), [normal([2, 3, 4])]);
    assertGradcheck((x) => x.logsumexp([0, 2], true), [normal([3, 4, 2])]);
    assertGradcheck((x) => x.norm(2, [1, 2]), [normal([2, 3, 4])]);
  });

  scopedTest('max over a dim (values)', () => {
    assertGradcheck((x) => x.max(1).values, [distinct([3, 4, 2])]);
    assertGradcheck((x) => x.max(-1, true).values, [distinct([3, 4])]);
  });

  scopedTest('logsumexp', () => {
    assertGradcheck((x) => x.logsumexp(1), [normal([3, 4, 2])]);
    assertGradcheck((x) => x.logsumexp(-1, true), [normal([3, 4, 2])]);
  });

  scopedTest('norm (p = 2 over a dim, p = 3 overall)', () => {
    assertGradcheck((x) => x.norm(2, 1), [normal([3, 4])]);
    assertGradcheck((x) => x.norm(3), [normal([2, 3])]);
  });

  scopedTest('cat, stack, permute and reshape composed', () => {
    assertGradcheck(
      (a, b) => {
        const joined = cat([a, b], 1); // 2×5×3
        const stacked = stack([joined, joined.mul(b.sum())], 0); // 2×2×5×3
        return stacked.permute(3, 0, 2, 1).reshape(6, 10);
      },
      [normal([2, 2, 3]), normal([2, 3, 3])],
    );
  });

  scopedTest('indexSelect and gather composed', () => {
    const rows = int64([2, 0, 2]);
    const columns = int64([
      [1, 0],
      [3, 3],
      [0, 2],
    ]);
    assertGradcheck((x) => x.indexSelect(0, rows).gather(1, columns).mul(x.sum()), [normal([3, 4]), rows, columns]);
  });

  scopedTest('clamp, away from the kinks', () => {
    assertGradcheck((x) => x.clamp(-0.5, 0.5), [distinct([4, 5])]);
    assertGradcheck((x) => x.clamp(null, 0.2), [distinct([4, 5])]);
  });

  scopedTest('where w.r.t. both branches', () => {
    const condition = tensor([
      [true, false, true],
      [false, false, true],
    ]);
    assertGradcheck((a, b) => where(condition, a, b.exp()), [normal([2, 3]), normal([3])]);
  });

  scopedTest('in-place ops on a non-leaf', () => {
    assertGradcheck(
      (x) => {
        const y = x.mul(2);
        y.add_(x.square());
        y.mul_(x);
        return y;
      },
      [normal([2, 3])],
    );
  });
});

describe('autograd semantics', () => {
  scopedTest('gradients accumulate across two backward calls', () => {
    const x = tensor([1, -2, 3], { ...f64, requiresGrad: true });
    x.mul(x).sum().backward();
    assertCloseTo(x.grad, [2, -4, 6]);
    x.mul(x).sum().backward();
    assertCloseTo(x.grad, [4, -8, 12]);
  });

  scopedTest('a second backward through the same graph needs retainGraph', () => {
    const x = tensor([0.5, 1], { ...f64, requiresGrad: true });
    const y = x.exp().sum();
    y.backward(null, { retainGraph: true });
    y.backward();
    assertCloseTo(x.grad, [2 * Math.exp(0.5), 2 * Math.exp(1)]);
    assert.throws(
      () => y.backward(),
      (error: unknown) => error instanceof Error && /backward through the graph a second time/.test(error.message),
    );
    // the process survived and the engine still works
    assert.equal(tensor([1, 2], f64).add(1).sum().item(), 5);
  });

  scopedTest('noGrad blocks graph recording', () => {
    const x = normal([3]);
    const y = noGrad(() => {
      assert.equal(isGradEnabled(), false);
      return x.mul(2).exp();
    });
    assert.equal(isGradEnabled(), true);
    assert.equal(y.requiresGrad, false);
    assert.equal(y.isLeaf, true);
    assert.equal(x.mul(2).requiresGrad, true);
  });

  scopedTest('detach cuts the graph but shares data', () => {
    const x = tensor([1, 2, 3], { ...f64, requiresGrad: true });
    const detached = x.detach();
    assert.equal(detached.requiresGrad, false);
    (detached.data() as Float64Array)[0] = 10;
    assert.equal((x.data() as Float64Array)[0], 10);
    x.mul(detached).sum().backward();
    assertCloseTo(x.grad, [10, 2, 3]); // not 2x: the detached factor is a constant
  });

  scopedTest('setting grad to null resets accumulation', () => {
    const x = tensor([1, 2], { ...f64, requiresGrad: true });
    x.mul(3).sum().backward();
    assertCloseTo(x.grad, [3, 3]);
    x.grad = null;
    assert.equal(x.grad, null);
    x.mul(x).sum().backward();
    assertCloseTo(x.grad, [2, 4]);
  });

  scopedTest('createGraph enables a second derivative: d²/dx² x³ = 6x', () => {
    const x = tensor([-1.5, 0.5, 2], { ...f64, requiresGrad: true });
    x.pow(3).sum().backward(null, { createGraph: true });
    const firstDerivative = x.grad!;
    assert.equal(firstDerivative.requiresGrad, true);
    assertCloseTo(firstDerivative, [6.75, 0.75, 12]);
    x.grad = null;
    firstDerivative.sum().backward();
    assertCloseTo(x.grad, [-9, 3, 12]);
  });

  scopedTest('without createGraph the gradient is not differentiable', () => {
    const x = tensor([2], { ...f64, requiresGrad: true });
    x.pow(3).sum().backward();
    assert.equal(x.grad!.requiresGrad, false);
  });

  scopedTest('a non-scalar backward without a gradient throws a clear error', () => {
    const x = normal([2, 2]);
    const y = x.mul(2);
    assert.throws(
      () => y.backward(),
      (error: unknown) => error instanceof Error && /implicitly created only for scalar outputs/.test(error.message),
    );
    // with an explicit gradient the same tensor backpropagates
    y.backward(ones([2, 2], f64));
    assertCloseTo(x.grad, [2, 2, 2, 2]);
  });

  scopedTest('in-place ops on a non-leaf keep correct gradients', () => {
    const x = tensor([1, -2, 0.5], { ...f64, requiresGrad: true });
    const y = x.mul(x); // x²
    y.mul_(3).add_(x); // 3x² + x
    assert.equal(y.isLeaf, false);
    y.sum().backward();
    assertCloseTo(x.grad, [7, -11, 4]); // 6x + 1
  });

  scopedTest('modifying a tensor saved for backward is caught, not silently wrong', () => {
    const x = normal([3]);
    const y = x.exp(); // exp saves its result
    y.add_(1);
    assert.throws(
      () => y.sum().backward(),
      (error: unknown) => error instanceof Error && /modified by an inplace operation/.test(error.message),
    );
  });

  scopedTest('an in-place op on a leaf that requires grad throws', () => {
    const x = normal([3]);
    assert.throws(
      () => x.add_(1),
      (error: unknown) => error instanceof Error && /leaf Variable that requires grad/.test(error.message),
    );
  });
});
