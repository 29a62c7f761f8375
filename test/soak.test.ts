/**
 * The soaks of issue 14, short forms (the long ones: tools/checkpoint-soak.ts, tools/memory-soak.ts).
 * Checkpoint soak: a tiny BERT saving a checkpoint at every step is SIGKILLed 20 times at seeded
 * random moments and resumed each time; every checkpoint left loads, none goes missing, no
 * temporary is left once the run ends, and the final weights equal an uninterrupted run's byte
 * for byte (the soak throws naming the folder otherwise). Memory soak: 300 Trainer steps (with an
 * evaluation and a checkpoint at 250) keep the live tensor count constant and RSS flat after a
 * 100-step warm-up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { checkpointSoak } from '../tools/checkpoint-soak.js';
import { memorySoak } from '../tools/memory-soak.js';

test(
  'checkpoint soak: 20 SIGKILLs while training with a checkpoint each step — nothing corrupt, nothing lost, no temporaries, resumes byte-identical',
  { timeout: 600_000 },
  async () => {
    const report = await checkpointSoak({ kills: 20, seed: 1, steps: 40, maxDelayMs: 600 });
    assert.equal(report.kills, 20);
    assert.ok(report.runs >= 1);
    assert.equal(
      report.identicalFinalWeights,
      report.runs,
      "every run, killed and resumed, ends with the uninterrupted run's weights",
    );
    assert.ok(
      report.killsDuringCheckpointWrite > 0,
      `some kills landed while a checkpoint was written (${JSON.stringify(report)})`,
    );
    assert.ok(report.checkpointsChecked >= report.kills, 'checkpoints were there to check after the kills');
  },
);

test(
  'memory soak: 300 Trainer steps — live tensors constant and RSS flat after the warm-up',
  { timeout: 300_000 },
  async () => {
    const report = await memorySoak({ steps: 300, warmup: 100, sampleEvery: 50 });
    assert.deepEqual(
      report.samples.map((s) => s.step),
      [100, 150, 200, 250, 300],
    );
    assert.equal(report.liveTensorSpread, 0, `live tensors: ${report.samples.map((s) => s.liveTensors).join(', ')}`);
    // The batch alive at a step's end is padded to its longest row, so its bytes vary by a few KiB; a leak would grow them step by step.
    assert.ok(
      report.liveByteSpread < 64 * 1024,
      `live tensor bytes: ${report.samples.map((s) => s.liveBytes).join(', ')}`,
    );
    assert.ok(
      report.rssGrowthMiB < 16,
      `RSS grew by ${report.rssGrowthMiB.toFixed(1)} MiB over 200 steps: ${report.samples.map((s) => s.rssMiB.toFixed(1)).join(', ')}`,
    );
  },
);
