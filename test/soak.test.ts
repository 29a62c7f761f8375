/**
 * The soaks of issue 14, short forms (the long ones: tools/checkpoint-soak.ts, tools/memory-soak.ts).
 * Checkpoint soak: a tiny BERT saving a checkpoint at every step is SIGKILLed 20 times at seeded
 * random moments and resumed each time; every checkpoint left loads, none goes missing, no
 * temporary is left once the run ends, and the final weights equal an uninterrupted run's byte
 * for byte (the soak throws naming the folder otherwise).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { checkpointSoak } from '../tools/checkpoint-soak.js';

test('checkpoint soak: 20 SIGKILLs while training with a checkpoint each step — nothing corrupt, nothing lost, no temporaries, resumes byte-identical', { timeout: 600_000 }, async () => {
  const report = await checkpointSoak({ kills: 20, seed: 1, steps: 40, maxDelayMs: 600 });
  assert.equal(report.kills, 20);
  assert.ok(report.runs >= 1);
  assert.equal(report.identicalFinalWeights, report.runs, 'every run, killed and resumed, ends with the uninterrupted run\'s weights');
  assert.ok(report.killsDuringCheckpointWrite > 0, `some kills landed while a checkpoint was written (${JSON.stringify(report)})`);
  assert.ok(report.checkpointsChecked >= report.kills, 'checkpoints were there to check after the kills');
});
