/**
 * A Trainer run on one rank of a group the test starts (argv: find|strict, rank, world size, port): the
 * Trainer joins it from torchrun's variables and trains `Branches` for 6 steps, its right head on every
 * other forward only, so each head gets no gradient in half the steps. Prints { losses, weights } or
 * { error } as one JSON line.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { functional as F, Trainer, manualSeed, tensor, type Tensor } from '../../src/index.js';
import type { Module } from '../../src/nn/module.js';
import type { ModelOutput } from '../../src/train/index.js';
import { Branches } from './ddp-training.js';

const [mode, rank, worldSize, port] = process.argv.slice(2);
Object.assign(process.env, { MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, RANK: rank, WORLD_SIZE: worldSize });
try {
  manualSeed(Number(rank));
  let forwards = 0;
  const trainer = new Trainer({
    model: new Branches(),
    args: {
      outputDir: mkdtempSync(join(tmpdir(), 'trainer-branches-')),
      maxSteps: 6,
      loggingSteps: 1,
      perDeviceTrainBatchSize: 2,
      learningRate: 0.05,
      saveStrategy: 'no',
      ddpFindUnusedParameters: mode === 'find',
      disableTqdm: true,
    },
    // A fresh tensor per get(), as a dataset gives them: the data loader disposes the examples it collates.
    trainDataset: {
      length: 16,
      get: (i: number) => ({ input: tensor([0, 1, 2, 3, 4, 5].map((c) => Math.sin(i * 7 + c * 3))) }),
    },
    forward: (model: Module, batch: unknown) =>
      (model as unknown as Branches).forward((batch as { input: Tensor }).input, forwards++ % 2 === 1),
    computeLoss: (outputs: ModelOutput, _labels, batch) =>
      F.mseLoss(outputs.logits, (batch as { input: Tensor }).input.narrow(1, 0, 3)),
    log: null,
  });
  await trainer.train();
  const losses = trainer.state.logHistory.flatMap((entry) => (typeof entry.loss === 'number' ? [entry.loss] : []));
  const weights = Object.fromEntries(
    [...trainer.model.stateDict()].map(([key, value]) => [key, Array.from(value.data() as Float32Array)]),
  );
  process.stdout.write(JSON.stringify({ losses, weights }) + '\n');
} catch (error) {
  process.stdout.write(JSON.stringify({ error: (error as Error).message }) + '\n');
  process.exitCode = 1;
}
