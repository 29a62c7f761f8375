/**
 * fp16 on two processes (test/helpers/fp16-rank.ts): the fixture's run (test/helpers/fp16-fixture.ts)
 * as 2 ranks × batch 4 with the overflow injected on rank 1 only. The GradScaler's inf check reads the
 * gradients after DistributedDataParallel averaged them — the same on every rank —, so both ranks skip
 * the update and halve the scale together, as torch's GradScaler under DDP, and follow PyTorch's
 * single-process run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

import { assertWeightsClose, reference } from './helpers/fp16-fixture.js';
import { onTwoRanks, skipWithoutGloo } from './helpers/two-ranks.js';

const fp16RankWorker = fileURLToPath(new URL('./helpers/fp16-rank.js', import.meta.url));

test(
  'fp16 on two processes: an overflow on one rank skips the update on both (the inf check reads the averaged gradients) and follows PyTorch',
  { skip: skipWithoutGloo },
  async () => {
    type Rank = { steps: { step: number; scale: number; weights: Record<string, number[]> }[] };
    const [rank0, rank1] = await onTwoRanks<Rank>(fp16RankWorker, []);
    assert.deepEqual(rank1.steps, rank0.steps, 'both ranks hold the same scale and weights after every step');
    for (const expected of reference.steps) {
      const step = rank0.steps.find((s) => s.step === expected.step)!;
      assert.equal(step.scale, expected.scale, `step ${expected.step}: the loss scale`);
      // 2 × batch 4 averages the same 8 examples as 1 × batch 8, in another order of sums (which Adam's normalisation amplifies).
      assertWeightsClose(
        new Map(Object.entries(step.weights).map(([name, values]) => [name, Float32Array.from(values)])),
        expected.weights,
        `step ${expected.step} (2 ranks)`,
        1e-3,
      );
    }
  },
);
