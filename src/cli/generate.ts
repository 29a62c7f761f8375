/**
 * `finetune generate`: continues a prompt with a decoder language model (GPT-2, Llama, Qwen2,
 * Mistral), optionally with a LoRA / IA3 adapter on it, and prints the tokens as they come.
 *
 *   finetune generate --model runs/gpt2-base --adapter runs/lora --prompt "Once upon a time"
 *   echo "What is a prime number?" | finetune generate --model my-chat-model/ --prompt - --chat
 */
import { readFileSync } from 'node:fs';

import { tensor } from '../tensor/index.js';
import { applyChatTemplate, TokenStreamDecoder } from '../data/index.js';
import {
  generationConfigJson,
  generationSteps,
  PretrainedCausalLM,
  withGenerationDefaults,
  type GenerateOptions,
  type GenerationConfig,
} from '../models/index.js';
import { generationConfigFileOf } from '../io/index.js';
import { PeftModel } from '../peft/index.js';
import { EXIT_CODES_HELP, runCommand } from './core/command.js';
import {
  EXIT,
  flagHelp,
  type FlagTable,
  optBoolean,
  optNumber,
  type Options,
  optString,
  UsageError,
} from './core/flags.js';
import { CONFIG_FLAG } from './core/run-flags.js';
import { resolveCommandOptions, THREADS_FLAG } from './core/threads.js';
import { loadTokenizer } from './core/tokenizer.js';
import { loadTrainedModel } from './core/trained-model.js';

export const GENERATE_FLAGS: FlagTable = {
  ...CONFIG_FLAG,
  model: {
    kind: 'string',
    arg: 'PRESET|DIR|HUB_ID',
    group: 'Model',
    help: 'the decoder: a folder with config.json + model.safetensors + tokenizer.json (e.g. finetune train --task causal-lm output), a Hub id, or a preset (random weights)',
  },
  adapter: {
    kind: 'string',
    arg: 'DIR',
    group: 'Model',
    help: 'an adapter folder to put on --model (adapter_config.json + adapter_model.safetensors, from finetune or PEFT)',
  },
  tokenizer: {
    kind: 'string',
    arg: 'DIR|FILE',
    group: 'Model',
    help: "tokenizer.json or its folder (default: the adapter's, else the model's)",
  },
  prompt: { kind: 'string', arg: '"…"|-', group: 'Inputs', help: 'the text to continue; - reads it from stdin' },
  chat: {
    kind: 'boolean',
    group: 'Inputs',
    help: "wrap the prompt as a user turn in the tokenizer's chat template (tokenizer_config.json's chat_template) and open the assistant's turn",
  },
  'max-new-tokens': {
    kind: 'integer',
    group: 'Generation',
    help: "tokens to add at most (default: the model's generation_config.json's max_new_tokens, else 50)",
  },
  'do-sample': {
    kind: 'boolean',
    group: 'Generation',
    help: "sample from the distribution instead of taking the most likely token (default: the model's generation_config.json's do_sample, else greedy; --do-sample=false for greedy)",
  },
  temperature: { kind: 'number', group: 'Generation', help: 'with --do-sample: logits divided by it (default 1)' },
  'top-k': {
    kind: 'integer',
    group: 'Generation',
    help: 'with --do-sample: keep the k most likely tokens (default 50; 0 keeps all)',
  },
  'top-p': {
    kind: 'number',
    group: 'Generation',
    help: 'with --do-sample: keep the most likely tokens whose probability reaches p (default 1)',
  },
  'repetition-penalty': {
    kind: 'number',
    group: 'Generation',
    help: 'penalise tokens already in the text (> 1 discourages repeats; default 1)',
  },
  seed: { kind: 'integer', group: 'Generation', help: 'seed the sampler, for the same text on each run' },
  ...THREADS_FLAG,
};

const HELP = `Usage: finetune generate --model <preset|dir|hub id> [--adapter DIR] --prompt "…" [--max-new-tokens N] [--do-sample …]

Continues the prompt with a decoder language model (GPT-2, Llama, Qwen2, Mistral) and prints the new text as it
is generated, then a line on stderr with the speed. The defaults are the model's generation_config.json's, as in
transformers (an Instruct checkpoint's often sample), else greedy (the most likely token each step) and 50 tokens;
flags override them. --do-sample draws tokens (with --temperature, --top-k, --top-p) and --seed makes the draw
repeatable. Generation stops at an end-of-text token (generation_config.json's, else config.json's) or after
--max-new-tokens tokens.

FLAGS

Examples:
  finetune generate --model runs/gpt2-lm --prompt "Once upon a time"
  finetune generate --model runs/gpt2-lm --adapter runs/lora --prompt "Once upon a time" --max-new-tokens 100
  finetune generate --model runs/chat --prompt "What is a prime number?" --chat --do-sample --top-p 0.9 --seed 1
  cat prompt.txt | finetune generate --model runs/gpt2-lm --prompt -

EXIT`;

export function generateHelp(): string {
  return HELP.replace('FLAGS', flagHelp(GENERATE_FLAGS)).replace('EXIT', EXIT_CODES_HELP);
}

/** --prompt's text: the flag's value, or stdin for `-` (less the newline a shell's echo ends it with). */
function promptText(flag: string | undefined): string {
  if (flag === undefined) throw new UsageError('--prompt is required (the text to continue; - reads it from stdin)');
  if (flag !== '-') return flag;
  return readFileSync(0, 'utf8').replace(/\r?\n$/, '');
}

/** The generation flags given, as generate()'s options, each checked here so that the error names its flag; a flag not given is undefined. */
function generationFlags(options: Options): GenerateOptions {
  const number = (flag: string) => optNumber(options, flag);
  const maxNewTokens = number('max-new-tokens');
  if (maxNewTokens !== undefined && !(maxNewTokens >= 1))
    throw new UsageError(`--max-new-tokens must be at least 1, got ${maxNewTokens}`);
  const positive = (flag: string) => {
    const value = number(flag);
    if (value !== undefined && !(value > 0)) throw new UsageError(`--${flag} must be positive, got ${value}`);
    return value;
  };
  const temperature = positive('temperature');
  const repetitionPenalty = positive('repetition-penalty');
  const topK = number('top-k');
  if (topK !== undefined && topK < 0) throw new UsageError(`--top-k must be 0 or more, got ${topK}`);
  const topP = number('top-p');
  if (topP !== undefined && !(topP > 0 && topP <= 1)) throw new UsageError(`--top-p must be in (0, 1], got ${topP}`);
  const doSample = optBoolean(options, 'do-sample');
  return { maxNewTokens, doSample, temperature, topK, topP, repetitionPenalty, seed: number('seed') };
}

/**
 * The flags over the model's generation defaults (its generation_config.json, as transformers' generate),
 * over this command's: 50 new tokens, greedy. Sampling flags without sampling are an error.
 */
function generationSettings(flags: GenerateOptions, defaults: GenerationConfig): GenerateOptions {
  const settings = withGenerationDefaults({ maxNewTokens: 50, doSample: false, ...defaults }, flags);
  const sampling = { temperature: flags.temperature, 'top-k': flags.topK, 'top-p': flags.topP };
  const unused = Object.entries(sampling).filter(([, value]) => value !== undefined && !settings.doSample);
  if (unused.length)
    throw new UsageError(
      `${unused.map(([flag]) => `--${flag}`).join(', ')} shape${unused.length === 1 ? 's' : ''} sampling: add --do-sample (without it each step takes the most likely token)`,
    );
  return settings;
}

/** The settings a checkpoint's generation_config.json gave that change what generate does, for the note; '' when none. */
function fileDefaultsNote(defaults: GenerationConfig, configEos: unknown): string {
  const json = generationConfigJson({ ...defaults, other: undefined, bosTokenId: undefined, padTokenId: undefined });
  if (JSON.stringify(json.eos_token_id) === JSON.stringify(configEos ?? undefined)) delete json.eos_token_id;
  return Object.entries(json)
    .map(([key, value]) => `${key} ${JSON.stringify(value)}`)
    .join(', ');
}

export async function runGenerate(argv: string[]): Promise<number> {
  return runCommand('generate', async () => {
    const { options, help: wantsHelp } = resolveCommandOptions(argv, GENERATE_FLAGS);
    if (wantsHelp) {
      console.log(generateHelp());
      return EXIT.ok;
    }
    const modelArg = optString(options, 'model');
    const adapterArg = optString(options, 'adapter');
    if (!modelArg && !adapterArg) throw new UsageError('--model is required (a decoder: preset, folder or Hub id)');
    const flags = generationFlags(options);
    const prompt = promptText(optString(options, 'prompt'));
    const chat = optBoolean(options, 'chat') ?? false;

    const trained = await loadTrainedModel(modelArg, adapterArg);
    const inner = trained.model instanceof PeftModel ? trained.model.model : trained.model;
    if (!(inner instanceof PretrainedCausalLM))
      throw new UsageError(
        `--model ${modelArg ?? adapterArg}: ${inner.constructor.name} is not a decoder language model; generate needs a *ForCausalLM (GPT-2, Llama, Qwen2, Mistral)`,
      );
    const { tokenizer } = await loadTokenizer(
      optString(options, 'tokenizer'),
      trained.dirs,
      trained.modelType,
      trained.hubId,
    );
    let text = prompt;
    if (chat) {
      if (tokenizer.chatTemplate === undefined)
        throw new UsageError(
          `--chat: ${tokenizer.source} has no chat template (no chat_template in tokenizer_config.json); leave out --chat to continue the prompt as plain text`,
        );
      text = applyChatTemplate(tokenizer, [{ role: 'user', content: prompt }], { addGenerationPrompt: true });
    }
    // The chat template writes its own special tokens; a plain prompt gets the tokenizer's (Llama's <s>), as transformers' tokenizer(prompt).
    const ids = (await tokenizer.encode(text, { addSpecialTokens: !chat })).inputIds;
    if (ids.length === 0) throw new UsageError('--prompt is empty: give at least one token of text to continue');
    const outside = ids.find((id) => id >= inner.config.vocabSize);
    if (outside !== undefined)
      throw new UsageError(
        `${optString(options, 'tokenizer') ? '--tokenizer' : '--model'}: the tokenizer (${tokenizer.source}, ${tokenizer.vocabSize} tokens) gave token id ${outside}, outside the model's vocabulary (vocab_size ${inner.config.vocabSize}): the tokenizer does not belong to this model`,
      );

    const settings = generationSettings(flags, inner.generationConfig);
    const file = generationConfigFileOf(inner);
    const note = file ? fileDefaultsNote(inner.generationConfig, inner.config.eosTokenId) : '';
    if (note) console.error(`generation defaults from ${file}: ${note} (flags override them)`);
    const input = tensor([ids], { dtype: 'int64' });
    const stream = new TokenStreamDecoder(tokenizer, { skipSpecialTokens: true });
    const started = performance.now();
    let count = 0;
    const steps = generationSteps(trained.model as PeftModel | PretrainedCausalLM<never>, input, settings);
    let step = steps.next();
    try {
      while (!step.done) {
        count++;
        process.stdout.write(await stream.push(step.value[0]));
        step = steps.next();
      }
      step.value.dispose();
    } finally {
      // Left early (a failed write): return() runs the generator's clean-up, which frees its cache and tensors.
      if (!step.done) steps.return(input);
      input.dispose();
    }
    process.stdout.write((await stream.flush()) + '\n');
    const seconds = (performance.now() - started) / 1000;
    console.error(
      `${count} new token${count === 1 ? '' : 's'} in ${seconds.toFixed(2)} s (${(count / seconds).toFixed(1)} tokens/s, prompt of ${ids.length} tokens included)`,
    );
    return EXIT.ok;
  });
}
