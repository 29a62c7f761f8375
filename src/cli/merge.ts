/**
 * `finetune merge`: folds an adapter into its base model's weights and writes a plain checkpoint
 * (config.json + model.safetensors) that loads without PEFT — PEFT's merge_and_unload() and
 * save_pretrained() — with the tokenizer files (and run_config.json, preprocessor_config.json) beside it.
 *
 *   finetune merge --adapter runs/lora --output-dir runs/lora-merged
 *   finetune merge --model bert-base-uncased/ --adapter runs/lora --output-dir merged/
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { pretrainedFileNames, savePretrained } from '../io/index.js';
import { copyFileAtomicSync, writeFileAtomicSync } from '../io/files.js';
import { PeftModel } from '../peft/index.js';
import { formatInteger } from '../report/format.js';
import { EXIT_CODES_HELP, runCommand } from './core/command.js';
import { EXIT, flagHelp, type FlagTable, optString, UsageError } from './core/flags.js';
import { countParameters } from './core/model-source.js';
import { CONFIG_FLAG } from './core/run-flags.js';
import { resolveCommandOptions, THREADS_FLAG } from './core/threads.js';
import { copyTokenizerFiles } from './core/tokenizer.js';
import { loadTrainedModel } from './core/trained-model.js';

export const MERGE_FLAGS: FlagTable = {
  ...CONFIG_FLAG,
  model: {
    kind: 'string',
    arg: 'DIR|HUB_ID',
    group: 'Inputs',
    help: "the base model (default: the one adapter_config.json names, e.g. finetune train's base_model/)",
  },
  adapter: {
    kind: 'string',
    arg: 'DIR',
    group: 'Inputs',
    help: 'the adapter folder (adapter_config.json + adapter_model.safetensors)',
  },
  'output-dir': { kind: 'string', arg: 'DIR', group: 'Output', help: 'where the merged model goes' },
  tokenizer: {
    kind: 'string',
    arg: 'DIR',
    group: 'Output',
    help: "the tokenizer files to copy (default: the adapter's folder, else the base model's)",
  },
  ...THREADS_FLAG,
};

const HELP = `Usage: finetune merge [--model <base model>] --adapter DIR --output-dir DIR

Merges a LoRA / DoRA / IA3 / bottleneck adapter into the base model's weights (PEFT's merge_and_unload) and saves
the result as a plain model (config.json + model.safetensors) with the tokenizer files, run_config.json and
preprocessor_config.json (when there are any). Prompt tuning cannot be merged (its virtual tokens are inputs).

FLAGS

Examples:
  finetune merge --adapter runs/lora --output-dir runs/lora-merged
  finetune merge --model path/to/bert --adapter runs/lora --output-dir runs/lora-merged

EXIT`;

export function mergeHelp(): string {
  return HELP.replace('FLAGS', flagHelp(MERGE_FLAGS)).replace('EXIT', EXIT_CODES_HELP);
}

export async function runMerge(argv: string[]): Promise<number> {
  return runCommand('merge', async () => {
    const { options, help: wantsHelp } = resolveCommandOptions(argv, MERGE_FLAGS);
    if (wantsHelp) {
      console.log(mergeHelp());
      return EXIT.ok;
    }
    const adapter = optString(options, 'adapter');
    const outputDir = optString(options, 'output-dir');
    if (!adapter)
      throw new UsageError(
        '--adapter is required (an adapter folder: adapter_config.json + adapter_model.safetensors)',
      );
    if (!outputDir) throw new UsageError('--output-dir is required');
    if (resolve(outputDir) === resolve(adapter))
      throw new UsageError(
        '--output-dir must differ from --adapter (the merged model would mix with the adapter files)',
      );
    const trained = await loadTrainedModel(optString(options, 'model'), adapter);
    const peft = trained.model;
    if (!(peft instanceof PeftModel)) throw new Error(`${adapter} did not load as an adapter`);
    if ([...peft.peftConfig.values()].some((config) => config.isPromptLearning)) {
      throw new UsageError(
        `cannot merge ${adapter}: prompt tuning learns virtual tokens that are fed with the input, not weights of the model; use the adapter as it is (finetune eval / predict --model ${adapter})`,
      );
    }
    const before = countParameters(peft);
    let merged;
    try {
      merged = peft.mergeAndUnload();
    } catch (error) {
      throw new Error(`cannot merge ${adapter}: ${(error as Error).message}`, { cause: error });
    }
    mkdirSync(outputDir, { recursive: true });
    await savePretrained(merged, outputDir);
    const written = pretrainedFileNames(merged);
    const tokenizerDir =
      optString(options, 'tokenizer') ?? trained.dirs.find((d) => existsSync(join(d, 'tokenizer.json'))) ?? null;
    written.push(...copyTokenizerFiles(tokenizerDir, outputDir));
    for (const name of ['preprocessor_config.json']) {
      const from = trained.dirs.map((d) => join(d, name)).find(existsSync);
      if (from) {
        copyFileAtomicSync(from, join(outputDir, name));
        written.push(name);
      }
    }
    if (Object.keys(trained.runConfig).length) {
      const runConfig = {
        ...trained.runConfig,
        merged_from: { base: trained.describe.replace(/ \+ adapter .*$/, ''), adapter },
        base_model: null,
      };
      writeFileAtomicSync(join(outputDir, 'run_config.json'), JSON.stringify(runConfig, null, 2) + '\n');
      written.push('run_config.json');
    }
    const after = countParameters(merged);
    console.log(
      `merged ${adapter} into ${trained.describe.replace(/ \+ adapter .*$/, '')}: ${formatInteger(before.total)} → ${formatInteger(after.total)} parameters (adapter folded into the weights)`,
    );
    console.log(`wrote ${outputDir}/: ${written.join(', ')}`);
    return EXIT.ok;
  });
}
