/**
 * A fine-tuning run in a process of its own: `node dist/demo/worker.js <job.json> <result.json>`, as
 * the demo starts it (run.ts). It prints the run's progress on stdout and writes the row as JSON.
 */
import { readFileSync, writeFileSync } from 'node:fs';

import { runFineTune, type FineTuneJob } from './finetune.js';

async function main(argv: string[]): Promise<number> {
  const [jobPath, resultPath] = argv;
  if (!jobPath || !resultPath) {
    console.error('usage: node dist/demo/worker.js <job.json> <result.json>');
    return 2;
  }
  const job = JSON.parse(readFileSync(jobPath, 'utf8')) as FineTuneJob;
  const row = await runFineTune(job);
  writeFileSync(resultPath, JSON.stringify(row, null, 2) + '\n');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`finetune demo worker: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 1;
  },
);
