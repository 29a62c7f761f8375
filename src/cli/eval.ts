/**
 * `finetune eval`: a trained model's metrics on labelled data — loss, accuracy and F1 (or Pearson
 * and Spearman for regression), as the Trainer's evaluate() computes them.
 *
 *   finetune eval --model runs/lora --eval-file data/sst2/dev.tsv
 *   finetune eval --model bert-base-uncased-sst2/ --adapter runs/lora --eval-file dev.tsv --json
 *
 * The data columns, maximum length and image size default to what `finetune train` recorded in the
 * model's run_config.json.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { fashionMnist, imageTransform, Subset, trainValidationSplit, type Dataset } from '../data/index.js';
import { MetricsJsonlCallback, Trainer, TrainingArguments, type Metrics } from '../train/index.js';
import { getNumThreads } from '../tensor/index.js';
import { EXIT_CODES_HELP, runCommand } from './core/command.js';
import { imagePreprocessing, loadTextFile, tableReading } from './core/data.js';
import { IMAGE_CHECK_FLAGS, readImageFolder } from './core/data-check.js';
import {
  EXIT,
  flagHelp,
  type FlagTable,
  optBoolean,
  type Options,
  optNumber,
  optString,
  UsageError,
} from './core/flags.js';
import { CONFIG_FLAG, TABLE_FLAGS } from './core/run-flags.js';
import { resolveCommandOptions, THREADS_FLAG } from './core/threads.js';
import { loadTokenizer } from './core/tokenizer.js';
import {
  evalSource,
  evalSourceNote,
  loadTrainedModel,
  TRAINED_MODEL_FLAG,
  type TrainedModel,
} from './core/trained-model.js';
import { loadCausalLmEvalData } from './core/causal-lm-data.js';
import { PretrainedCausalLM } from '../models/index.js';
import { PeftModel } from '../peft/index.js';
import { CAUSAL_LM_FLAGS } from './core/run-flags.js';

export const EVAL_FLAGS: FlagTable = {
  ...CONFIG_FLAG,
  ...TRAINED_MODEL_FLAG,
  adapter: {
    kind: 'string',
    arg: 'DIR',
    group: 'Model',
    help: 'an adapter folder (adapter_config.json + adapter_model.safetensors) to put on --model',
  },
  tokenizer: {
    kind: 'string',
    arg: 'DIR|FILE',
    group: 'Model',
    help: "tokenizer.json or its folder (default: the model's or adapter's folder)",
  },
  'eval-file': {
    kind: 'string',
    arg: 'FILE',
    group: 'Data',
    help: 'labelled data: .csv, .tsv or .jsonl (a causal LM: text as it trained on, .txt or a table; left out, the blocks the run held out with --validation-split)',
  },
  'text-file': { kind: 'string', arg: 'FILE', group: 'Data', help: 'a causal LM: the same as --eval-file' },
  ...Object.fromEntries(
    ['prompt-column', 'response-column', 'messages-column', 'block-size', 'packing'].map((flag) => [
      flag,
      { ...CAUSAL_LM_FLAGS[flag], help: `${CAUSAL_LM_FLAGS[flag].help} (default: as trained)` },
    ]),
  ),
  'text-column': {
    kind: 'string',
    arg: 'NAME',
    group: 'Data',
    help: 'the text column (default: as trained if the file has it, else detected)',
  },
  'text-pair-column': {
    kind: 'string',
    arg: 'NAME',
    group: 'Data',
    help: 'the second text of a pair (default: as trained)',
  },
  'label-column': {
    kind: 'string',
    arg: 'NAME',
    group: 'Data',
    help: 'the label column (default: as trained, else detected)',
  },
  'max-length': { kind: 'integer', group: 'Data', help: 'longest tokenised input (default: as trained)' },
  'image-folder': { kind: 'string', arg: 'DIR', group: 'Data', help: 'labelled images in DIR/<class>/…' },
  'fashion-mnist': { kind: 'boolean', group: 'Data', help: "Fashion-MNIST's test split" },
  'image-size': { kind: 'integer', group: 'Data', help: 'resize images to N×N (default: as trained)' },
  'max-eval-samples': { kind: 'integer', group: 'Data', help: 'evaluate the first N examples' },
  'skip-bad-rows': {
    kind: 'boolean',
    group: 'Data',
    help: 'leave out bad rows / image files (counted, and the first few named on stderr) instead of stopping',
  },
  ...IMAGE_CHECK_FLAGS,
  ...TABLE_FLAGS,
  'per-device-eval-batch-size': { kind: 'integer', group: 'Run', help: 'batch size (default 8)' },
  json: {
    kind: 'boolean',
    group: 'Run',
    help: 'print the metrics as one JSON object (with the libtorch threads it ran on)',
  },
  ...THREADS_FLAG,
};

const HELP = `Usage: finetune eval --model <dir|hub id> [--adapter DIR] (--eval-file FILE | --image-folder DIR | --fashion-mnist) [--json]

Evaluates a trained model: eval_loss, eval_accuracy and eval_f1 (binary; f1_macro for more classes), as the
Trainer's evaluate(); a causal LM (GPT-2, Llama, …): eval_loss and eval_perplexity over every predicted token,
its text read in blocks as it was trained (without a file, the blocks its run held out with --validation-split,
split again from its training file). --model may be finetune train's output folder (a model, or an adapter whose
base it names).

FLAGS

Examples:
  finetune eval --model runs/lora --eval-file data/sst2/dev.tsv
  finetune eval --model runs/lora --eval-file data/sst2/dev.tsv --json
  finetune eval --model runs/gpt2-lora --eval-file held-out.txt

EXIT`;

export function evalHelp(): string {
  return HELP.replace('FLAGS', flagHelp(EVAL_FLAGS)).replace('EXIT', EXIT_CODES_HELP);
}

const asString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Whether a trained model (or the base under its adapter) is a decoder evaluated by loss and perplexity. */
function isCausalLm(trained: TrainedModel): boolean {
  return (trained.model instanceof PeftModel ? trained.model.model : trained.model) instanceof PretrainedCausalLM;
}

/** Labelled evaluation data for a trained model: text files with its tokenizer and labels, or images with its preprocessing. */
export async function loadEvalData(
  trained: TrainedModel,
  options: Options,
  fileFlag = 'eval-file',
): Promise<{ dataset: Dataset<unknown>; describe: string }> {
  const run = trained.runConfig;
  const maxSamples = optNumber(options, 'max-eval-samples');
  const limit = (d: Dataset<unknown>) =>
    maxSamples !== undefined && maxSamples < d.length
      ? new Subset(
          d,
          Array.from({ length: maxSamples }, (_, i) => i),
        )
      : d;
  const skipBadRows = optBoolean(options, 'skip-bad-rows') ?? false;
  if (isCausalLm(trained)) return loadCausalLmEvalData(trained, options, fileFlag);
  if (trained.modelType === 'bert') {
    // Without a file, the examples the run held out with --validation-split: its training file, split again.
    const source = evalSource(optString(options, fileFlag), run, 'train_file', fileFlag);
    const { path: file, heldOut } = source;
    if (!file)
      throw new UsageError(`--${fileFlag} is required (a .csv, .tsv or .jsonl with a text and a label column)`);
    const tokenizer = await loadTokenizer(
      optString(options, 'tokenizer'),
      trained.dirs,
      trained.modelType,
      trained.hubId,
    );
    const maxLength =
      optNumber(options, 'max-length') ?? (typeof run.max_length === 'number' ? run.max_length : undefined);
    const split = await loadTextFile(file, fileFlag, {
      columns: {
        text: optString(options, 'text-column'),
        pair: optString(options, 'text-pair-column') ?? asString(run.text_pair_column),
        label: optString(options, 'label-column'),
      },
      preferText: asString(run.text_column),
      labels: trained.labels,
      tokenizer: tokenizer.tokenizer,
      maxLength,
      skipBadRows,
      reading: tableReading(options, run),
    });
    const evaluated = heldOut
      ? trainValidationSplit(split.dataset, {
          validationFraction: heldOut.fraction,
          seed: heldOut.seed,
          stratify: true,
        }).validation
      : split.dataset;
    const dataset = limit(evaluated);
    const skipped = split.dataset.skipped ? `, ${split.dataset.skipped} bad rows skipped` : '';
    const from = evalSourceNote(source, true);
    return {
      dataset,
      describe: `${dataset.length} examples ${from} (text: ${split.columns.text}, label: ${split.columns.label}${skipped})`,
    };
  }
  const imageSize =
    optNumber(options, 'image-size') ?? (typeof run.image_size === 'number' ? run.image_size : undefined);
  const pre = imagePreprocessing(trained.modelType, trained.config, trained.dirs, imageSize);
  const transform = imageTransform(pre);
  if (options['fashion-mnist'] === true) {
    const dataset = limit(fashionMnist({ split: 'test', transform }));
    return { dataset, describe: `${dataset.length} images from Fashion-MNIST test` };
  }
  // Without a folder, the images the run held out with --validation-split: its training folder, split again.
  const source = evalSource(
    optString(options, 'image-folder') ?? optString(options, fileFlag),
    run,
    'image_folder',
    'image-folder',
  );
  const { path: folder, heldOut } = source;
  if (!folder) throw new UsageError('give --image-folder DIR (images in DIR/<class>/…) or --fashion-mnist');
  if (!existsSync(folder)) throw new UsageError(`--image-folder: ${folder} does not exist`);
  const images = readImageFolder(folder, options, transform);
  const unknown = images.classNames.filter((c) => !trained.labels.includes(c));
  if (unknown.length)
    throw new Error(
      `${folder}: classes ${unknown.join(', ')} are not among the model's labels (${trained.labels.join(', ')})`,
    );
  // The folder's class ids → the model's.
  const remap = images.classNames.map((c) => trained.labels.indexOf(c));
  const mapped: Dataset<unknown> = {
    get length() {
      return images.length;
    },
    get: (i: number) => {
      const example = images.get(i);
      return { image: example.image, label: remap[example.label] };
    },
  };
  const evaluated = heldOut
    ? trainValidationSplit(mapped, {
        validationFraction: heldOut.fraction,
        seed: heldOut.seed,
        stratify: (i) => remap[images.targets[i]],
      }).validation
    : mapped;
  const dataset = limit(evaluated);
  return { dataset, describe: `${dataset.length} images ${evalSourceNote(source, true)}` };
}

export async function runEval(argv: string[]): Promise<number> {
  return runCommand('eval', async () => {
    const { options, help: wantsHelp } = resolveCommandOptions(argv, EVAL_FLAGS);
    if (wantsHelp) {
      console.log(evalHelp());
      return EXIT.ok;
    }
    const json = optBoolean(options, 'json') ?? false;
    const trained = await loadTrainedModel(optString(options, 'model'), optString(options, 'adapter'));
    const { dataset, describe } = await loadEvalData(trained, options);
    if (!json)
      console.log(
        `model: ${trained.describe} (${isCausalLm(trained) ? 'causal LM: loss and perplexity' : `${trained.labels.length} labels: ${trained.labels.join(', ')}`})\ndata: ${describe}`,
      );
    const metrics = await evaluateTrained(trained, dataset, optNumber(options, 'per-device-eval-batch-size'));
    if (json)
      console.log(
        JSON.stringify({ model: trained.describe, examples: dataset.length, ...metrics, threads: getNumThreads() }),
      );
    else {
      const width = Math.max(...Object.keys(metrics).map((k) => k.length));
      for (const [key, value] of Object.entries(metrics))
        console.log(`${key.padEnd(width)}  ${Number.isInteger(value) ? value : value.toFixed(4)}`);
    }
    return EXIT.ok;
  });
}

/** The Trainer's evaluate() of a trained model on labelled data (eval_loss, eval_accuracy, …), writing nothing. */
export async function evaluateTrained(
  trained: TrainedModel,
  dataset: Dataset<unknown>,
  batchSize = 8,
): Promise<Metrics> {
  const scratch = mkdtempSync(join(tmpdir(), 'finetune-eval-'));
  try {
    const trainer = new Trainer({
      model: trained.model,
      args: new TrainingArguments({ outputDir: scratch, perDeviceEvalBatchSize: batchSize, disableTqdm: true }),
      evalDataset: dataset,
      log: null,
    });
    trainer.removeCallback(MetricsJsonlCallback);
    const metrics = await trainer.evaluate();
    delete metrics.epoch;
    return metrics;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
