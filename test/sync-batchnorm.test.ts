/**
 * SyncBatchNorm and the differentiable allGather under it, on 2 real Node processes: a CNN with
 * BatchNorm2d trained as 2 processes × batch 4 with SyncBatchNorm + DDP equals 1 process × batch 8 with
 * plain BatchNorm2d (losses, weights and running statistics), and does not with plain BatchNorm2d under
 * DDP; the float64 outputs and gradients match batch norm over the whole batch to 1e-10 (also with
 * 5 and 3 rows per rank); allGather's gradient is the analytic sum over ranks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

import { distributed, manualSeed, nn, randn, tidy } from '../src/index.js';
import {
  normCase,
  STEPS,
  trainCnn,
  type CnnResult,
  type GatherResult,
  type NormResult,
} from './helpers/syncbn-training.js';
import { onTwoRanks, skipWithoutGloo } from './helpers/two-ranks.js';

const worker = fileURLToPath(new URL('./helpers/syncbn-training.js', import.meta.url));

/** ‖a − b‖ / ‖b‖ over all the tensors of a state dict (same keys required). */
function relativeDistance(actual: Record<string, number[]>, expected: Record<string, number[]>, key: string): number {
  let diff = 0;
  let norm = 0;
  expected[key].forEach((v, i) => {
    diff += (actual[key][i] - v) ** 2;
    norm += v * v;
  });
  return Math.sqrt(diff) / (Math.sqrt(norm) + 1e-12);
}

function assertClose(actual: number[], expected: number[], tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((v, i) =>
    assert.ok(Math.abs(v - expected[i]) <= tolerance, `${what}[${i}]: ${v} vs ${expected[i]} (tolerance ${tolerance})`),
  );
}

test('convertSyncBatchnorm swaps every BatchNorm2d for a SyncBatchNorm holding the same tensors', () => {
  const shared = new nn.BatchNorm2d(2);
  const inner = new nn.Sequential(new nn.Conv2d(1, 2, 1), shared);
  const model = new nn.Sequential(inner, new nn.ReLU(), new nn.BatchNorm2d(2, 1e-3, null), shared);
  model.at(2).eval();
  const before = model.stateDict();
  const converted = distributed.SyncBatchNorm.convertSyncBatchnorm(model);
  assert.equal(converted, model);
  const norms = [inner.at(1), model.at(2), model.at(3)];
  norms.forEach((m) => assert.ok(m instanceof distributed.SyncBatchNorm, m.constructor.name));
  // A BatchNorm2d reached by two paths becomes one SyncBatchNorm, as its tensors are one.
  assert.equal(inner.at(1), model.at(3));
  const after = model.stateDict();
  assert.deepEqual([...after.keys()], [...before.keys()]);
  for (const [key, value] of before) assert.equal(after.get(key), value, key);
  const [, second] = norms as distributed.SyncBatchNorm[];
  assert.equal(second.eps, 1e-3);
  assert.equal(second.momentum, null);
  assert.equal(second.training, false);
  assert.ok(norms[0].training);
  // The root itself is replaced by a new module, which is returned.
  const root = new nn.BatchNorm2d(3);
  const sync = distributed.SyncBatchNorm.convertSyncBatchnorm(root);
  assert.ok(sync instanceof distributed.SyncBatchNorm && sync !== root);
  assert.equal(sync.running_var, root.running_var);
});

test('SyncBatchNorm without a process group is BatchNorm2d: outputs and running statistics', () => {
  tidy(() => {
    manualSeed(3);
    const input = randn([4, 3, 2, 5]).mul(2).add(0.5);
    const plain = new nn.BatchNorm2d(3, 1e-5, null);
    const sync = new distributed.SyncBatchNorm(3, 1e-5, null);
    for (let i = 0; i < 2; i++) assert.deepEqual(sync.forward(input).data(), plain.forward(input).data());
    assert.deepEqual(sync.running_mean!.data(), plain.running_mean!.data());
    assert.deepEqual(sync.running_var!.data(), plain.running_var!.data());
    assert.equal(sync.num_batches_tracked!.item(), 2);
    sync.eval();
    plain.eval();
    assert.deepEqual(sync.forward(input).data(), plain.forward(input).data());
    // N×C and N×C×D×H×W as torch's SyncBatchNorm; fewer than 2 dimensions is refused.
    assert.deepEqual(sync.forward(input.flatten(2).select(2, 0)).shape, [4, 3]);
    assert.throws(() => sync.forward(randn([3])), /SyncBatchNorm expects N×C×… input, got shape \[3\]/);
    assert.throws(() => sync.forward(randn([2, 4])), /SyncBatchNorm\(3\) got input with 4 channels/);
    assert.throws(
      () => distributed.nn.allGather(randn([2])),
      /distributed\.nn\.allGather: the default process group has not been initialized/,
    );
  });
});

test(
  'distributed.nn.allGather on 2 processes: every rank gets every tensor; backward sums over ranks',
  { skip: skipWithoutGloo },
  async () => {
    const ranks = await onTwoRanks<GatherResult>(worker, ['gather']);
    for (const [rank, result] of ranks.entries()) {
      assert.deepEqual(result.gathered, [
        [1, 2, 3],
        [2, 4, 6],
      ]);
      // 2(j + 1)·x_j·Σ_r (r + 1) with x_j = (j + 1)·[1, 2, 3]: rank 0 [6, 12, 18], rank 1 [24, 48, 72].
      const x = [1, 2, 3].map((v) => v * (rank + 1));
      assert.deepEqual(
        result.grad,
        x.map((v) => 2 * (rank + 1) * v * 3),
      );
    }
  },
);

// Ranks with unequal rows (an uneven last batch) weigh their statistics by their counts.
for (const split of [4, 5]) {
  test(
    `SyncBatchNorm on 2 processes × ${split} and ${8 - split} rows = batch norm of the 8 rows in float64 (outputs, gradients, running statistics)`,
    { skip: skipWithoutGloo },
    async () => {
      const ranks = await onTwoRanks<NormResult>(worker, [`norm:${split}`]);
      const whole = normCase(new nn.BatchNorm2d(3), [0, 8]);
      const perRow = whole.output.length / 8;
      const rowsOf = (values: number[], rank: number) =>
        rank === 0 ? values.slice(0, split * perRow) : values.slice(split * perRow);
      ranks.forEach((r, rank) => {
        assertClose(r.output, rowsOf(whole.output, rank), 1e-10, `rank ${rank} output`);
        // The cross-rank terms: rank 0's input gradient depends on rank 1's rows through the batch statistics.
        assertClose(r.inputGrad, rowsOf(whole.inputGrad, rank), 1e-10, `rank ${rank} input grad`);
        assertClose(r.runningMean, whole.runningMean, 1e-10, `rank ${rank} running_mean`);
        assertClose(r.runningVar, whole.runningVar, 1e-10, `rank ${rank} running_var`);
      });
      // Each rank's weight gradient is its rows' share (DDP sums, then averages, them).
      const summed = (pick: (r: NormResult) => number[]) => pick(ranks[0]).map((v, i) => v + pick(ranks[1])[i]);
      assertClose(
        summed((r) => r.weightGrad),
        whole.weightGrad,
        1e-10,
        'weight grad',
      );
      assertClose(
        summed((r) => r.biasGrad),
        whole.biasGrad,
        1e-10,
        'bias grad',
      );
      // Not a vacuous match: the running statistics moved from 0 and 1.
      assert.ok(
        whole.runningMean.every((v) => Math.abs(v) > 0.01) && whole.runningVar.some((v) => Math.abs(v - 1) > 0.1),
      );
    },
  );
}

test(
  'a CNN with SyncBatchNorm + DDP on 2 processes × batch 4 trains as 1 process × batch 8 with BatchNorm2d',
  { skip: skipWithoutGloo },
  async () => {
    const ranks = await onTwoRanks<CnnResult>(worker, ['sync']);
    const reference = trainCnn('plain', 0, 1);
    assert.equal(reference.losses.length, STEPS);
    assert.ok(reference.losses[STEPS - 1] < reference.losses[0] - 0.1, `the CNN learned: ${reference.losses}`);
    // Each rank's loss is the mean over its 4 rows; their average is the mean over the 8.
    reference.losses.forEach((loss, step) => {
      const average = (ranks[0].losses[step] + ranks[1].losses[step]) / 2;
      assert.ok(Math.abs(average - loss) <= 1e-5 * Math.abs(loss), `step ${step}: ${average} vs ${loss}`);
    });
    for (const [rank, result] of ranks.entries()) {
      assert.deepEqual(Object.keys(result.weights), Object.keys(reference.weights));
      assert.ok(Object.keys(result.weights).includes('1.running_var'));
      for (const key of Object.keys(reference.weights)) {
        const distance = relativeDistance(result.weights, reference.weights, key);
        assert.ok(distance <= 1e-5, `rank ${rank}: ${key} differs by ${distance} (relative)`);
      }
      assert.equal(result.batchesTracked, STEPS);
    }
  },
);

test(
  'plain BatchNorm2d under DDP does not: each rank normalises its own rows and keeps its own running statistics',
  { skip: skipWithoutGloo },
  async () => {
    const ranks = await onTwoRanks<CnnResult>(worker, ['plain']);
    const reference = trainCnn('plain', 0, 1);
    // From step 0 (equal weights, thanks to the broadcast) the losses differ: 4 rows' statistics, not 8's.
    const average = (ranks[0].losses[0] + ranks[1].losses[0]) / 2;
    assert.ok(Math.abs(average - reference.losses[0]) > 1e-4, `${average} vs ${reference.losses[0]}`);
    // DDP keeps the parameters equal on both ranks...
    for (const key of ['0.weight', '1.weight', '5.weight']) {
      assert.ok(relativeDistance(ranks[1].weights, ranks[0].weights, key) <= 1e-6, key);
      assert.ok(relativeDistance(ranks[0].weights, reference.weights, key) > 1e-4, key);
    }
    // ...but not the running statistics: broadcastBuffers copies rank 0's into rank 1 before every
    // forward, and that forward then moves rank 1's towards its own rows' statistics.
    for (const key of ['1.running_mean', '1.running_var']) {
      assert.ok(relativeDistance(ranks[1].weights, ranks[0].weights, key) > 1e-4, key);
      assert.ok(relativeDistance(ranks[0].weights, reference.weights, key) > 1e-4, key);
    }
  },
);
