/** Sample generations at evaluation (TrainingArguments.samplePrompts): what a causal LM writes now. */
import { fromTypedArray, noGrad, tidy } from '../tensor/index.js';
import type { Module } from '../nn/index.js';
import { PretrainedCausalLM } from '../models/index.js';
import { labelValues } from './prediction.js';
import type { Tokenizer } from '../data/index.js';

/** The tokenizer a causal-LM dataset was built with (data.CausalLmDataset.tokenizer), if it has one. */
export function datasetTokenizer(dataset: unknown): Tokenizer | undefined {
  const tokenizer = (dataset as { tokenizer?: Tokenizer } | null)?.tokenizer;
  return tokenizer && typeof tokenizer.encode === 'function' ? tokenizer : undefined;
}

/** Each prompt continued greedily by maxNewTokens tokens (the new text only), in eval mode; greedy even where the model's generation_config.json samples, so that every evaluation's samples are comparable and a run repeats. */
export async function sampleGenerations(
  model: Module,
  tokenizer: Tokenizer,
  prompts: readonly string[],
  maxNewTokens: number,
): Promise<string[]> {
  if (!(model instanceof PretrainedCausalLM))
    throw new Error(`samplePrompts: ${model.constructor.name} is not a causal LM (no generate())`);
  const wasTraining = model.training;
  model.eval();
  try {
    const samples: string[] = [];
    for (const prompt of prompts) {
      const ids = (await tokenizer.encode(prompt)).inputIds;
      const newIds = tidy(() =>
        noGrad(() => {
          const input = fromTypedArray(BigInt64Array.from(ids, BigInt), [1, ids.length], { dtype: 'int64' });
          const output = model.generate(input, { maxNewTokens, doSample: false });
          return labelValues(output.narrow(1, ids.length, output.shape[1] - ids.length))[0] as number[];
        }),
      );
      samples.push(await tokenizer.decode(newIds, { skipSpecialTokens: true }));
    }
    return samples;
  } finally {
    model.train(wasTraining);
  }
}
