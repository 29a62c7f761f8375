import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { functional as F, keep, manualSeed, memory, noGrad, randint, randn, tidy, type Tensor } from 'finetune';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function rssMiB(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

test('10,000 training steps inside tidy leave live tensors and RSS flat', () => {
  manualSeed(1);
  const params = tidy(() => ({
    w1: keep(randn([64, 32]).mul(0.1).requiresGrad_()),
    b1: keep(randn([64]).mul(0).requiresGrad_()),
    w2: keep(randn([10, 64]).mul(0.1).requiresGrad_()),
    b2: keep(randn([10]).mul(0).requiresGrad_()),
  }));
  const x = keep(randn([32, 32]));
  const labels = keep(randint(0, 10, [32]));
  const list: Tensor[] = Object.values(params);

  const step = (): number =>
    tidy(() => {
      const logits = F.linear(F.relu(F.linear(x, params.w1, params.b1)), params.w2, params.b2);
      const loss = F.crossEntropy(logits, labels);
      loss.backward();
      noGrad(() => {
        for (const p of list) {
          p.sub_(p.grad!, 0.05);
          p.grad = null;
        }
      });
      return loss.item();
    });

  try {
    const firstLoss = step();
    for (let i = 0; i < 999; i++) step();
    collectGarbage();
    const tensorsAfterWarmup = memory().numTensors;
    const bytesAfterWarmup = memory().numBytes;
    const rssAfterWarmup = rssMiB();
    let lastLoss = 0;
    for (let i = 0; i < 9000; i++) lastLoss = step();
    collectGarbage();

    assert.equal(memory().numTensors, tensorsAfterWarmup, 'live tensor count grew');
    assert.equal(memory().numBytes, bytesAfterWarmup, 'live tensor bytes grew');
    const growth = rssMiB() - rssAfterWarmup;
    assert.ok(growth < 16, `RSS grew by ${growth.toFixed(1)} MiB over 9,000 steps`);
    assert.ok(lastLoss < firstLoss, `the steps trained: loss ${firstLoss} → ${lastLoss}`);
  } finally {
    for (const t of [...list, x, labels]) t.dispose();
  }
});

test('tensors that escape every scope are freed when garbage-collected', async () => {
  const before = memory().numTensors;
  (() => {
    for (let i = 0; i < 200; i++) randn([1000]);
  })();
  assert.equal(memory().numTensors, before + 200);
  for (let round = 0; round < 10 && memory().numTensors > before; round++) {
    collectGarbage();
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(memory().numTensors, before, 'the FinalizationRegistry safety net released collected tensors');
});

test('memory() counts distinct storages once: views add tensors, not bytes', () => {
  const before = memory();
  const base = randn([256]);
  const view = base.view([16, 16]);
  const after = memory();
  assert.equal(after.numTensors, before.numTensors + 2);
  assert.equal(after.numBytes, before.numBytes + 256 * 4);
  view.dispose();
  base.dispose();
  assert.deepEqual(memory(), before);
});
