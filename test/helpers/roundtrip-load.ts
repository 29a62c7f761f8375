/**
 * The fresh process of test/roundtrip.test.ts: for each trained output folder of the manifest, loads
 * it as `finetune eval` / `predict` do (loadTrainedModel, from another working directory), computes
 * the logits of the saved inputs, then for an adapter merges it as `finetune merge` does and loads
 * and runs the merged model too. Writes { [case]: { loaded, merged?, mergeError? } } as JSON.
 *
 *   node build/ts/test/helpers/roundtrip-load.js manifest.json results.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { noGrad, Tensor } from '../../src/tensor/index.js';
import type { Module } from '../../src/nn/index.js';
import { loadSafetensors } from '../../src/io/index.js';
import { defaultForward } from '../../src/train/index.js';
import { loadTrainedModel } from '../../src/cli/core/trained-model.js';
import { runMerge } from '../../src/cli/merge.js';

export interface RoundTripCase {
  name: string;
  /** The output folder of finetune train (a model, or an adapter). */
  dir: string;
  /** safetensors file with the inputs: inputIds + attentionMask, or image. */
  inputs: string;
  adapter: boolean;
}

export interface RoundTripResult {
  loaded: number[];
  merged?: number[];
  mergeError?: string;
}

/** The logits of `model` (eval mode) on the batch, flattened. */
export function logitsOf(model: Module, batch: Record<string, Tensor>): number[] {
  model.eval();
  return noGrad(() => {
    const output = defaultForward(model, batch, false);
    const logits = output instanceof Tensor ? output : output.logits;
    return Array.from(logits.to('float32').contiguous().data() as Float32Array);
  });
}

async function main(): Promise<void> {
  const [manifestPath, resultsPath] = process.argv.slice(2);
  const cases = JSON.parse(readFileSync(manifestPath, 'utf8')) as RoundTripCase[];
  const results: Record<string, RoundTripResult> = {};
  const quiet = { log: console.log, error: console.error };
  let stderr: string[] = [];
  console.log = () => {};
  console.error = (...parts: unknown[]) => void stderr.push(parts.join(' '));
  try {
    for (const c of cases) {
      const batch = Object.fromEntries((await loadSafetensors(c.inputs)).tensors) as Record<string, Tensor>;
      const trained = await loadTrainedModel(c.dir, undefined);
      const result: RoundTripResult = { loaded: logitsOf(trained.model, batch) };
      if (c.adapter) {
        const mergedDir = join(c.dir, '..', `${c.name}-merged`);
        try {
          stderr = [];
          const code = await runMerge(['--adapter', c.dir, '--output-dir', mergedDir]);
          if (code !== 0) throw new Error(`finetune merge exited ${code}: ${stderr.join('\n')}`);
          result.merged = logitsOf((await loadTrainedModel(mergedDir, undefined)).model, batch);
        } catch (error) {
          result.mergeError = (error as Error).message;
        }
      }
      results[c.name] = result;
    }
  } finally {
    Object.assign(console, quiet);
  }
  writeFileSync(resultsPath, JSON.stringify(results));
}

if (process.argv[1]?.endsWith('roundtrip-load.js')) await main();
