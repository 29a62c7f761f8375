/**
 * The fresh process of test/peft-cases.test.ts: for each job, builds the case's base model from its
 * seed, loads the saved adapter with PeftModel.fromPretrained (inference mode), computes the
 * outputs, and saves the adapter again. Writes { [case]: LoadResult } as JSON.
 *
 *   node build/ts/test/helpers/peft-cases-child.js jobs.json results.json
 */
import { readFileSync, writeFileSync } from 'node:fs';

import { PeftModel, setNumThreads } from 'finetune';
import { buildModel, CASES, outputsOf, type LoadJob, type LoadResult } from './peft-cases.js';

// One thread, as the test process: the same kernels, so outputs compare bit for bit.
setNumThreads(1);
const [jobsFile, resultsFile] = process.argv.slice(2);
const jobs = JSON.parse(readFileSync(jobsFile, 'utf8')) as LoadJob[];
const results: Record<string, LoadResult> = {};
for (const job of jobs) {
  const { model: modelName } = CASES.find((c) => c.name === job.name)!;
  const base = buildModel(modelName);
  const baseOutputs = outputsOf(base, modelName);
  const warnings: string[] = [];
  const model = await PeftModel.fromPretrained(base, job.dir, { warn: (message) => warnings.push(message) });
  results[job.name] = {
    base: baseOutputs,
    loaded: outputsOf(model, modelName),
    trainable: model.getNbTrainableParameters()[0],
    warnings,
  };
  await model.savePretrained(job.resaveDir);
  model.dispose();
}
writeFileSync(resultsFile, JSON.stringify(results));
