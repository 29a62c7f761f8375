import { test } from 'node:test';
import assert from 'node:assert/strict';

import { TaskDataset } from '../src/demo/data.js';

// The demo's draw of labelled images (no Fashion-MNIST needed: a synthetic split).
test("labelBudget: seeded, disjoint training and validation draws of every class, in the split's order", () => {
  // 3 classes × 20 images, 2 × 2 pixels; class c at rows c, c + 3, c + 6, …
  const n = 60;
  const split = { pixels: new Uint8Array(n * 4), labels: Int32Array.from({ length: n }, (_, i) => i % 3), size: 2 };
  const task = new TaskDataset(split, [2, 0]);
  const a = task.labelBudget(5, 4, 7);
  const b = task.labelBudget(5, 4, 7);
  assert.deepEqual([...a.train.rows], [...b.train.rows]);
  assert.deepEqual([...a.validation.rows], [...b.validation.rows]);
  assert.notDeepEqual([...task.labelBudget(5, 4, 8).train.rows], [...a.train.rows]);
  for (const [set, perClass] of [
    [a.train, 5],
    [a.validation, 4],
  ] as const) {
    assert.deepEqual(
      [...set.rows],
      [...set.rows].sort((x, y) => x - y),
    );
    assert.deepEqual(
      [0, 1].map((label) => set.targets.filter((t) => t === label).length),
      [perClass, perClass],
    );
    for (let i = 0; i < set.length; i++) assert.equal(split.labels[set.rows[i]], [2, 0][set.targets[i]]);
  }
  assert.equal(a.train.rows.filter((r) => a.validation.rows.includes(r)).length, 0);
  // the training draw does not depend on how many validation images are drawn
  assert.deepEqual([...task.labelBudget(5, 0, 7).train.rows], [...a.train.rows]);
  assert.throws(
    () => task.labelBudget(15, 6, 7),
    /only 20 examples of 'Pullover', fewer than 15 labels \+ 6 validation images per class/,
  );
});
