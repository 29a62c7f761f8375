/**
 * One rank of the two-process fp16 run (argv: rank, world size, port): the fp16 reference run
 * (fp16-reference.ts) with batch 4 a rank, the overflow injected on rank 1 only. Prints
 * { steps: [{ step, scale, weights }] } or { error } as one JSON line.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { fp16Trainer, type StepRecord } from './fp16-reference.js';

const [rank, worldSize, port] = process.argv.slice(2);
Object.assign(process.env, { MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, RANK: rank, WORLD_SIZE: worldSize });
try {
  const steps: StepRecord = new Map();
  const outputDir = mkdtempSync(join(tmpdir(), 'trainer-fp16-rank-'));
  await fp16Trainer(outputDir, steps, { batchSize: 4, boost: rank === '1' }).train();
  const record = [...steps].map(([step, { scale, weights }]) => ({
    step,
    scale,
    weights: Object.fromEntries([...weights].map(([name, values]) => [name, Array.from(values)])),
  }));
  process.stdout.write(JSON.stringify({ steps: record }) + '\n');
} catch (error) {
  process.stdout.write(JSON.stringify({ error: (error as Error).message }) + '\n');
  process.exitCode = 1;
}
