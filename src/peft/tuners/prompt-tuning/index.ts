/** Prompt tuning as a fine-tuning method (PEFT's tuners/prompt_tuning/__init__.py: register_peft_method). */
import { registerMethod } from '../../methods.js';
import { PromptTuningConfig } from './config.js';

export { PromptTuningConfig, type PromptTuningConfigOptions, type PromptTuningInit } from './config.js';
export { PromptEmbedding } from './model.js';

/** Prompt tuning's virtual tokens when --num-virtual-tokens is not given. */
export const DEFAULT_VIRTUAL_TOKENS = 20;

registerMethod({
  name: 'prompt-tuning',
  aliases: ['prompt'],
  label: 'prompt tuning',
  summary: 'learned virtual tokens put before every sequence (--num-virtual-tokens; text models)',
  // No tuner: PeftModel learns the prompt itself (prompt learning).
  peft: {
    peftType: 'PROMPT_TUNING',
    config: PromptTuningConfig,
    example: () => new PromptTuningConfig({ numVirtualTokens: 1 }),
  },
  // The PEFT docs' prompt-tuning guide trains at 3e-2 (Lester et al. 2021 used 0.3 with Adafactor).
  defaultLr: () => ({ lr: 3e-2, why: 'prompt tuning default (PEFT docs; Lester et al. 2021)' }),
  describeStrategy: (strategy) => `prompt tuning (${(strategy as PromptTuningConfig).numVirtualTokens} virtual tokens)`,
  build: ({ facts, peftCommon, headNote, number, refuse }) => {
    if (!facts.hasWordEmbeddings)
      refuse(`--method prompt-tuning is for text models; ${facts.architecture} has no token embeddings`);
    const numVirtualTokens = number('num-virtual-tokens') ?? DEFAULT_VIRTUAL_TOKENS;
    return {
      strategy: new PromptTuningConfig({ ...peftCommon, numVirtualTokens }),
      describe: `prompt tuning: ${numVirtualTokens} virtual tokens${headNote}`,
    };
  },
});
