// DataLoader (seeded order, batching, prefetch, memory), defaultCollate, trainValidationSplit and
// the multi-task dataset.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { data, dispose, memory, tensor, tidyAsync, type Tensor } from 'finetune';

const { DataLoader, defaultCollate, trainValidationSplit, MultiTaskDataset, IdxImageDataset, transforms: T } = data;

/** A dataset of { x: [i, i], y: i } that records which indices were read. */
class Numbers implements data.Dataset<{ x: Tensor; y: number }> {
  reads: number[] = [];
  constructor(readonly length: number) {}
  get(i: number): { x: Tensor; y: number } {
    this.reads.push(i);
    return { x: tensor([i, i]), y: i };
  }
}

const ids = (batch: { y: Tensor }): number[] => Array.from(batch.y.data() as BigInt64Array, Number);

async function epochIds(loader: data.DataLoader<any, any>, epoch: number, startBatch = 0): Promise<number[][]> {
  const out: number[][] = [];
  for await (const batch of loader.epoch(epoch, { startBatch })) out.push(ids(batch));
  return out;
}

test('DataLoader: same seed and epoch → same order; another epoch or seed → another order', async () => {
  const ds = new Numbers(23);
  const a = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 7 });
  const b = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 7 });
  const e0 = await epochIds(a, 0);
  assert.deepEqual(await epochIds(b, 0), e0);
  assert.deepEqual(await epochIds(a, 0), e0, 'replaying an epoch gives its order again');
  const e1 = await epochIds(a, 1);
  assert.notDeepEqual(e1, e0);
  assert.notDeepEqual(await epochIds(new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 8 }), 0), e0);
  for (const order of [e0, e1])
    assert.deepEqual(
      order.flat().sort((x, y) => x - y),
      Array.from({ length: 23 }, (_, i) => i),
      'a permutation',
    );
  assert.deepEqual(Array.from(a.order(3)), Array.from(b.order(3)));
  // Resuming mid-epoch gives the rest of that epoch.
  assert.deepEqual(await epochIds(a, 1, 2), e1.slice(2));
  // Without shuffle: dataset order.
  assert.deepEqual(
    (await epochIds(new DataLoader(ds, { batchSize: 10 }), 5)).flat(),
    Array.from({ length: 23 }, (_, i) => i),
  );
  // Plain loops run epoch 0, 1, …
  const c = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 7 });
  const loops: number[][][] = [[], []];
  for (const loop of loops) for await (const batch of c) loop.push(ids(batch));
  assert.deepEqual(loops, [e0, e1]);
  assert.equal(c.nextEpoch, 2);
  const sync: number[][] = [];
  for (const batch of new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 7 }).epochSync(1)) sync.push(ids(batch));
  assert.deepEqual(sync, e1);
});

test('DataLoader: length, dropLast and batch shapes', async () => {
  const ds = new Numbers(10);
  const keep = new DataLoader(ds, { batchSize: 4 });
  const drop = new DataLoader(ds, { batchSize: 4, dropLast: true });
  assert.equal(keep.length, 3);
  assert.equal(drop.length, 2);
  assert.deepEqual(
    (await epochIds(keep, 0)).map((b) => b.length),
    [4, 4, 2],
  );
  assert.deepEqual(
    (await epochIds(drop, 0)).map((b) => b.length),
    [4, 4],
  );
  assert.equal(new DataLoader(new Numbers(8), { batchSize: 4, dropLast: true }).length, 2);
  assert.equal(new DataLoader(new Numbers(3), { batchSize: 4, dropLast: true }).length, 0);
  for await (const batch of keep.epoch(0)) {
    assert.deepEqual(batch.x.shape, [batch.y.shape[0], 2]);
    assert.equal(batch.x.dtype, 'float32');
    assert.equal(batch.y.dtype, 'int64');
    break;
  }
  assert.throws(() => new DataLoader(ds, { batchSize: 0 }), /batchSize must be a positive integer/);
});

test('DataLoader: prefetch keeps batch order, prepares ahead, and frees what it made', async () => {
  const baseline = memory().numTensors;
  for (const prefetch of [0, 1, 3]) {
    const ds = new Numbers(17);
    const loader = new DataLoader(ds, { batchSize: 3, shuffle: true, seed: 1, prefetch });
    const expected = loader.batches(0);
    let k = 0;
    for await (const batch of loader.epoch(0)) {
      assert.deepEqual(ids(batch), expected[k], `prefetch ${prefetch}, batch ${k}`);
      // While the consumer awaits (an async step), the loader prepares the next batches.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      const prepared = Math.min(17, 3 * (k + 1 + prefetch));
      assert.equal(
        ds.reads.length,
        prepared,
        `prefetch ${prefetch}: ${ds.reads.length} examples read after batch ${k}`,
      );
      k++;
    }
    assert.equal(k, 6);
  }
  assert.equal(memory().numTensors, baseline, 'every batch and example tensor is freed');

  // Breaking out early disposes the prefetched batches too.
  const loader = new DataLoader(new Numbers(40), { batchSize: 4, prefetch: 3 });
  for await (const batch of loader.epoch(0)) {
    assert.equal(batch.x.shape[0], 4);
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(memory().numTensors, baseline);

  // disposeBatches: false hands batches to the consumer.
  const owned: Tensor[] = [];
  for await (const batch of new DataLoader(new Numbers(6), { batchSize: 3, disposeBatches: false }).epoch(0))
    owned.push(batch.x);
  assert.ok(owned.every((t) => !t.isDisposed));
  dispose(owned);
});

test('DataLoader: batches survive the scope of the step that was running while they were prepared', async () => {
  const loader = new DataLoader(new Numbers(12), { batchSize: 2, prefetch: 2 });
  const iterator = loader.epoch(0)[Symbol.asyncIterator]();
  const seen: number[][] = [];
  for (;;) {
    // Each step in its own async scope, as a trainer might run it; the next batches are prepared inside it.
    const done = await tidyAsync(async () => {
      const next = await iterator.next();
      if (next.done) return true;
      seen.push(ids(next.value));
      await new Promise((resolve) => setImmediate(resolve));
      return false;
    });
    if (done) break;
  }
  assert.deepEqual(seen, [
    [0, 1],
    [2, 3],
    [4, 5],
    [6, 7],
    [8, 9],
    [10, 11],
  ]);
});

test('DataLoader: getAsync reads start before the batch is needed, and out-of-order completions stay in order', async () => {
  const started: number[] = [];
  const ds = {
    length: 12,
    get(i: number) {
      return { y: i };
    },
    getAsync(i: number) {
      started.push(i);
      // Later indices finish first.
      return new Promise<{ y: number }>((resolve) => setTimeout(() => resolve({ y: i }), 12 - i));
    },
  };
  const loader = new DataLoader(ds, { batchSize: 3, prefetch: 2 });
  const got: number[][] = [];
  for await (const batch of loader.epoch(0)) {
    if (got.length === 0)
      assert.deepEqual(
        started,
        [0, 1, 2, 3, 4, 5, 6, 7, 8],
        'batches 1 and 2 were already being read when batch 0 was handed out',
      );
    got.push(ids(batch));
  }
  assert.deepEqual(got, [
    [0, 1, 2],
    [3, 4, 5],
    [6, 7, 8],
    [9, 10, 11],
  ]);

  const failing = {
    ...ds,
    getAsync: (i: number) => (i === 4 ? Promise.reject(new Error('disk on fire')) : ds.getAsync(i)),
  };
  await assert.rejects(async () => {
    for await (const _ of new DataLoader(failing, { batchSize: 3 }).epoch(0)) void _;
  }, /disk on fire/);
});

test('defaultCollate: tensors, numbers, booleans, strings, nested objects, arrays and typed arrays', () => {
  const batch = defaultCollate([
    { a: tensor([1, 2]), n: 1, f: 0.5, b: true, s: 'x', nested: { t: [1, 2] }, ta: Int32Array.from([1, 2, 3]) },
    { a: tensor([3, 4]), n: 2, f: 1, b: false, s: 'y', nested: { t: [3, 4] }, ta: Int32Array.from([4, 5, 6]) },
  ]);
  assert.deepEqual(batch.a.toArray(), [
    [1, 2],
    [3, 4],
  ]);
  assert.equal(batch.n.dtype, 'int64');
  assert.equal(batch.f.dtype, 'float32');
  assert.deepEqual(batch.b.toArray(), [true, false]);
  assert.deepEqual(batch.s, ['x', 'y']);
  assert.deepEqual(
    batch.nested.t.map((t: Tensor) => t.toArray()),
    [
      [1n, 3n],
      [2n, 4n],
    ].map((r) => r.map(Number)),
  );
  assert.deepEqual(batch.ta.shape, [2, 3]);
  assert.equal(batch.ta.dtype, 'int32');
  assert.throws(
    () => defaultCollate([{ a: tensor([1, 2]) }, { a: tensor([1, 2, 3]) }]),
    /collate: a has shape \[3\] in example 1 but \[2\] in example 0/,
  );
  assert.throws(() => defaultCollate([{ a: 1 }, { b: 2 }]), /example 1 has no 'a'/);
  assert.throws(() => defaultCollate([{ a: 1 }, { a: 'x' }]), /a is number in example 0 but string in example 1/);
});

test('trainValidationSplit: sizes, determinism, disjoint cover, stratification', () => {
  const labels = Int32Array.from({ length: 100 }, (_, i) => (i < 70 ? 0 : i < 90 ? 1 : 2));
  const ds = { length: 100, targets: labels, get: (i: number) => ({ label: labels[i] }) };
  const { train, validation } = trainValidationSplit(ds, { validationFraction: 0.2, seed: 1 });
  assert.equal(validation.length, 20);
  assert.equal(train.length, 80);
  const all = [...train.indices, ...validation.indices].sort((a, b) => a - b);
  assert.deepEqual(
    all,
    Array.from({ length: 100 }, (_, i) => i),
  );
  assert.deepEqual(
    Array.from(trainValidationSplit(ds, { validationFraction: 0.2, seed: 1 }).validation.indices),
    Array.from(validation.indices),
  );
  assert.notDeepEqual(
    Array.from(trainValidationSplit(ds, { validationFraction: 0.2, seed: 2 }).validation.indices),
    Array.from(validation.indices),
  );

  const stratified = trainValidationSplit(ds, { validationFraction: 0.2, seed: 1, stratify: true });
  const count = (indices: Int32Array, c: number): number => Array.from(indices).filter((i) => labels[i] === c).length;
  assert.deepEqual(
    [0, 1, 2].map((c) => count(stratified.validation.indices, c)),
    [14, 4, 2],
  );
  assert.deepEqual(
    [0, 1, 2].map((c) => count(stratified.train.indices, c)),
    [56, 16, 8],
  );
  assert.deepEqual(
    Array.from(stratified.validation.targets!),
    Array.from(stratified.validation.indices, (i) => labels[i]),
  );
  // Labels given directly, or read from the examples, give the same split.
  const viaArray = trainValidationSplit(
    { length: 100, get: ds.get },
    { validationFraction: 0.2, seed: 1, stratify: labels },
  );
  const viaExamples = trainValidationSplit(
    { length: 100, get: ds.get },
    { validationFraction: 0.2, seed: 1, stratify: true },
  );
  assert.deepEqual(Array.from(viaArray.validation.indices), Array.from(stratified.validation.indices));
  assert.deepEqual(Array.from(viaExamples.validation.indices), Array.from(stratified.validation.indices));
  // Odd sizes: quotas by largest remainder add up exactly.
  const oddData = { length: 11, targets: Int32Array.from([0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2]), get: (i: number) => i };
  const odd = trainValidationSplit(oddData, { validationFraction: 0.3, seed: 0, stratify: true });
  assert.equal(odd.validation.length, 4);
  assert.equal(odd.train.get(0), odd.train.indices[0]);

  assert.throws(() => trainValidationSplit(ds, { validationFraction: 0 }), /validationFraction must be in \(0, 1\)/);
  assert.throws(
    () => trainValidationSplit({ length: 1, get: () => 0 }, { validationFraction: 0.5 }),
    /both need at least one/,
  );
});

test('multi-task: Fashion-MNIST-like {class, isTop} targets, collated per task name, through a split and a loader', async () => {
  const n = 20;
  const images: data.IdxArray = {
    dtype: 'uint8',
    shape: [n, 4, 4],
    data: Uint8Array.from({ length: n * 16 }, (_, i) => i % 256),
  };
  const labels: data.IdxArray = { dtype: 'uint8', shape: [n], data: Uint8Array.from({ length: n }, (_, i) => i % 10) };
  const fashion = new IdxImageDataset(images, labels, {
    classNames: data.FASHION_MNIST_CLASSES,
    transform: T.compose([T.toTensor(), T.randomHorizontalFlip(0.5, { seed: 3 })]),
  });
  const tops = new Set([0, 2, 4, 6]); // T-shirt/top, Pullover, Coat, Shirt
  const multi = new MultiTaskDataset(fashion, {
    tasks: {
      class: { target: (e) => e.label, classNames: data.FASHION_MNIST_CLASSES },
      isTop: { target: (e) => (tops.has(e.label) ? 1 : 0), kind: 'binary' },
    },
  });
  assert.deepEqual(
    multi.tasks.map((t) => [t.name, t.kind, t.numClasses]),
    [
      ['class', 'classification', 10],
      ['isTop', 'binary', undefined],
    ],
  );
  const example = multi.get(2);
  assert.deepEqual(example.labels, { class: 2, isTop: 1 });
  assert.deepEqual(example.input.shape, [1, 4, 4]);
  example.input.dispose();

  const baseline = memory().numTensors;
  const { train, validation } = trainValidationSplit(multi, { validationFraction: 0.25, seed: 0, stratify: true });
  assert.equal(validation.length, 5);
  const loader = new DataLoader(train, { batchSize: 4, shuffle: true, seed: 5, collate: multi.collate });
  assert.equal(loader.length, 4); // 15 examples: 4 + 4 + 4 + 3
  const epochs: number[][][] = [];
  for (let epoch = 0; epoch < 2; epoch++) {
    const batches: number[][] = [];
    for await (const batch of loader.epoch(epoch)) {
      assert.deepEqual(batch.input.shape, [batch.labels.class.shape[0], 1, 4, 4]);
      assert.deepEqual(Object.keys(batch.labels), ['class', 'isTop']);
      assert.equal(batch.labels.class.dtype, 'int64');
      assert.equal(batch.labels.isTop.dtype, 'float32');
      const classes = Array.from(batch.labels.class.data() as BigInt64Array, Number);
      assert.deepEqual(
        Array.from(batch.labels.isTop.data() as Float32Array),
        classes.map((c) => (tops.has(c) ? 1 : 0)),
      );
      batches.push(Array.from(batch.input.data() as Float32Array).map((v) => Math.round(v * 255)));
    }
    epochs.push(batches);
  }
  // Augmentation is seeded by (epoch, index): replaying epoch 0 gives the same pixels.
  const replay: number[][] = [];
  for await (const batch of loader.epoch(0))
    replay.push(Array.from(batch.input.data() as Float32Array).map((v) => Math.round(v * 255)));
  assert.deepEqual(replay, epochs[0]);
  assert.notDeepEqual(epochs[1], epochs[0]);
  assert.equal(memory().numTensors, baseline);

  assert.throws(
    () => new MultiTaskDataset(fashion, { tasks: { c: { target: () => 12, numClasses: 10 } } }).get(0),
    /task 'c' gave class 12 for example 0 \(numClasses 10\)/,
  );
  assert.equal(memory().numTensors, baseline, 'a failed example frees its tensors');
});
