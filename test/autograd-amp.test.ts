// torch.autograd.grad (gradients returned, differentiable with createGraph) and autocast
// (mixed precision regions) through the native addon.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  autocast,
  autocastState,
  getRngState,
  grad,
  functional as F,
  memory,
  randn,
  setRngState,
  tensor,
  tidy,
} from 'finetune';

test('grad(): returns d(outputs)/d(inputs) without touching .grad', () => {
  tidy(() => {
    const x = tensor([1, 2, 3]).requiresGrad_();
    const y = x.mul(x).sum();
    const [dx] = grad(y, x);
    assert.deepEqual(dx!.toArray(), [2, 4, 6]);
    assert.equal(x.grad, null);
  });
});

test('grad(): createGraph makes the gradient differentiable (second derivative)', () => {
  tidy(() => {
    const x = tensor([1, 2, 3]).requiresGrad_();
    const y = x.pow(3).sum();
    const [dx] = grad(y, x, { createGraph: true });
    assert.deepEqual(dx!.toArray(), [3, 12, 27]);
    const [d2x] = grad(dx!.sum(), x);
    assert.deepEqual(d2x!.toArray(), [6, 12, 18]);
  });
});

test('grad(): several inputs, gradOutputs, allowUnused, and errors', () => {
  tidy(() => {
    const a = tensor([1, 2]).requiresGrad_();
    const b = tensor([3, 4]).requiresGrad_();
    const unused = tensor([5]).requiresGrad_();
    const y = a.mul(b);
    const [da, db, du] = grad(y, [a, b, unused], { gradOutputs: [tensor([1, 10])], allowUnused: true });
    assert.deepEqual(da!.toArray(), [3, 40]);
    assert.deepEqual(db!.toArray(), [1, 20]);
    assert.equal(du, null);
    assert.throws(() => grad(a.mul(2).sum(), [unused]), /not have been used in the graph|allow_unused/);
  });
});

test('autocast: linear runs in bfloat16 inside, float32 outside; losses stay float32; state restored', () => {
  const before = memory().numTensors;
  tidy(() => {
    const x = randn([4, 8]);
    const w = randn([3, 8]);
    assert.equal(autocastState().enabled, false);
    const inside = autocast(() => {
      assert.equal(autocastState().enabled, true);
      const y = F.linear(x, w);
      return {
        y,
        loss: F.mseLoss(y, y.detach().mul(0.5)),
        nested: autocast(() => F.linear(x, w).dtype, { enabled: false }),
      };
    });
    assert.equal(inside.y.dtype, 'bfloat16');
    assert.equal(inside.loss.dtype, 'float32', "mse_loss is on libtorch's CPU float32 list");
    assert.equal(inside.nested, 'float32');
    assert.equal(F.linear(x, w).dtype, 'float32');
    assert.equal(autocastState().enabled, false);
    const diff = inside.y.float().sub(F.linear(x, w)).abs().max().item() as number;
    assert.ok(diff < 0.1, `bfloat16 result within rounding (${diff})`);
    assert.throws(
      () =>
        autocast(() => {
          throw new Error('boom');
        }),
      /boom/,
    );
    assert.equal(autocastState().enabled, false);
    assert.equal(
      autocast(() => F.linear(x, w).dtype, { dtype: 'float16' }),
      'float16',
    );
  });
  assert.equal(memory().numTensors, before);
});

test('getRngState / setRngState: random numbers repeat after restoring the state', () => {
  tidy(() => {
    const state = getRngState();
    assert.equal(state.dtype, 'uint8');
    const first = randn([5]).toArray();
    setRngState(state);
    assert.deepEqual(randn([5]).toArray(), first);
    assert.throws(() => setRngState(tensor([1, 2])), /1-d uint8 tensor/);
  });
});
