/**
 * The Trainer's data under several processes (src/train/distributed.ts), in one process: the ranks'
 * shares of the training order put together are, batch for batch, one process's batches of
 * per-device × world size; the evaluation blocks cover the dataset in order; the plan line names the
 * world size and the global batch. (test/cli-train-ddp.test.ts trains with real processes.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { fileURLToPath } from 'node:url';

import { data, nn } from '../src/index.js';
import { onTwoRanks, skipWithoutGloo } from './helpers/two-ranks.js';
import { batchesPerEpoch, evaluationShard, ShardedTrainOrder } from '../src/train/distributed.js';
import { planLines } from '../src/train/plan.js';
import { TrainingArguments } from '../src/train/index.js';

const dataset = { length: 21, get: (i: number) => ({ x: i }) } as unknown as data.Dataset<unknown>;

test('the ranks of a step read, together, the examples of one process’s batch of per-device × world size', () => {
  for (const epoch of [0, 3]) {
    const one = new data.DataLoader(dataset, { shuffle: true, seed: 7, prefetch: 0 }).order(epoch);
    const shares = [0, 1, 2].map((rank) => {
      const sampler = new ShardedTrainOrder(dataset, 7, { rank, worldSize: 3 });
      sampler.setEpoch(epoch);
      return [...sampler];
    });
    shares.forEach((share) => assert.equal(share.length, 7));
    for (let batch = 0; batch < 4; batch++) {
      const together = shares.flatMap((share) => share.slice(batch * 2, batch * 2 + 2)).sort((a, b) => a - b);
      const expected = [...one.slice(batch * 6, batch * 6 + 6)].sort((a, b) => a - b);
      assert.deepEqual(together, batch < 3 ? expected : [...one.slice(18, 21)].sort((a, b) => a - b));
    }
  }
  // 21 examples over 3 ranks: 7 each, batches of 2 → 4 a rank (3 with dropLast); one process: 21 → 11.
  assert.equal(batchesPerEpoch(21, 2, false, 3), 4);
  assert.equal(batchesPerEpoch(21, 2, true, 3), 3);
  assert.equal(batchesPerEpoch(21, 2, false, 1), 11);
});

test('the evaluation blocks of 2 and 3 ranks cover an odd-sized dataset once, in order', () => {
  for (const worldSize of [2, 3]) {
    const blocks = Array.from({ length: worldSize }, (_, rank) => [...evaluationShard(33, { rank, worldSize })]);
    assert.deepEqual(
      blocks.flat(),
      Array.from({ length: 33 }, (_, i) => i),
    );
    blocks.forEach((block, rank) => assert.equal(evaluationShard(33, { rank, worldSize }).length, block.length));
  }
});

test('the plan line states the world size and the global batch', () => {
  const args = new TrainingArguments({ perDeviceTrainBatchSize: 4, gradientAccumulationSteps: 2, numTrainEpochs: 1 });
  const model = new nn.Linear(2, 2);
  const lines = planLines(model, args, 'lr 1e-3', 100, 2);
  assert.equal(
    lines.at(-1),
    '7 optimizer steps: 1 epoch(s) × 7 steps (batch 4 per process × 2 processes × accumulation 2 = global batch 16; 100 training examples)',
  );
  assert.match(planLines(model, args, 'lr 1e-3', 100).at(-1)!, /13 optimizer steps: .*\(batch 4 × accumulation 2; 100/);
});

const branchesWorker = fileURLToPath(new URL('./helpers/trainer-branches.js', import.meta.url));

test(
  'ddpFindUnusedParameters: a head without a gradient in every other step stops the run naming the flag, and trains with it',
  { skip: skipWithoutGloo },
  async () => {
    await assert.rejects(
      onTwoRanks(branchesWorker, ['strict']),
      /Expected to have finished reduction in the prior iteration[\s\S]*--ddp-find-unused-parameters/,
    );
    const [rank0, rank1] = await onTwoRanks<{ losses: number[]; weights: Record<string, number[]> }>(branchesWorker, [
      'find',
    ]);
    assert.ok(rank0.losses.length > 0 && rank0.losses.every(Number.isFinite), `losses ${rank0.losses}`);
    // Both ranks step on the same averaged gradients, heads included.
    assert.deepEqual(rank1.weights, rank0.weights);
  },
);
