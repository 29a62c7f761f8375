import { test } from 'node:test';
import assert from 'node:assert/strict';

import { dispose, keep, memory, ones, tensor, tidy, tidyAsync, zeros, type Tensor } from 'finetune';

test('tidy disposes intermediates and keeps what it returns', () => {
  const before = memory().numTensors;
  const result = tidy(() => {
    const a = ones([4]);
    const b = a.add(1);
    b.mul(3);
    return { total: b.sum(), parts: [b.neg()] };
  });
  assert.equal(memory().numTensors, before + 2);
  assert.equal(result.total.item(), 8);
  assert.deepEqual(result.parts[0].toArray(), [-2, -2, -2, -2]);
  dispose(result);
  assert.equal(memory().numTensors, before);
});

test('nested tidy hands returned tensors to the enclosing scope', () => {
  const before = memory().numTensors;
  let inner: Tensor | undefined;
  tidy(() => {
    inner = tidy(() => ones([2]).mul(2));
    assert.equal(inner.isDisposed, false);
  });
  assert.equal(inner!.isDisposed, true, 'the outer scope disposed what the inner one returned');
  assert.equal(memory().numTensors, before);
});

test('keep() exempts a tensor from every scope', () => {
  const before = memory().numTensors;
  let kept: Tensor | undefined;
  const returned = tidy(() => {
    kept = keep(ones([3]).mul(5));
    return undefined;
  });
  assert.equal(returned, undefined);
  assert.equal(memory().numTensors, before + 1);
  // Disposed here rather than left to the garbage collector, whose timing would shift later tests' counts.
  kept!.dispose();
  const survivor = tidy(() => keep(zeros([1])));
  survivor.dispose();
});

test('a throwing tidy still frees its tensors and rethrows', () => {
  const before = memory().numTensors;
  assert.throws(
    () =>
      tidy(() => {
        ones([10]).add(1);
        ones([2, 3]).matmul(ones([2, 3]));
      }),
    /shapes cannot be multiplied/,
  );
  assert.equal(memory().numTensors, before);
});

test('tidy refuses async functions and points to tidyAsync', () => {
  assert.throws(() => tidy(async () => ones([1])), /tidyAsync/);
});

test('tidyAsync tracks tensors created after await, and concurrent scopes stay apart', async () => {
  const before = memory().numTensors;
  const tick = () => new Promise((resolve) => setTimeout(resolve, 5));
  const run = (value: number) =>
    tidyAsync(async () => {
      const a = ones([8]).mul(value);
      await tick();
      const b = a.add(1);
      await tick();
      return b.sum();
    });
  const [x, y] = await Promise.all([run(1), run(2)]);
  assert.equal(x.item(), 16);
  assert.equal(y.item(), 24);
  assert.equal(memory().numTensors, before + 2);
  x.dispose();
  y.dispose();
  await assert.rejects(
    tidyAsync(async () => {
      ones([3]);
      await tick();
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(memory().numTensors, before);
});

test('dispose is idempotent and a disposed tensor refuses use with a clear error', () => {
  const t = tensor([1, 2, 3]);
  t.dispose();
  t.dispose();
  assert.equal(t.isDisposed, true);
  assert.throws(() => t.add(1), /disposed/);
  assert.throws(() => t.shape, /disposed/);
  assert.equal(String(t), 'tensor(<disposed>)');
});

test('`using` disposes at the end of the block', () => {
  const before = memory().numTensors;
  let kept: Tensor;
  {
    using t = ones([5]);
    kept = t;
    assert.equal(memory().numTensors, before + 1);
  }
  assert.equal(kept.isDisposed, true);
  assert.equal(memory().numTensors, before);
});
