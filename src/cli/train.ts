/**
 * `finetune train`: fine-tunes a model on a labelled file (text) or an image folder / Fashion-MNIST,
 * with a fine-tuning method (full, head, top-k, BitFit, LN, gradual unfreezing, LoRA, DoRA, IA3,
 * prompt tuning, Houlsby / Pfeiffer adapters), through the Trainer; flags are TrainingArguments'
 * in kebab-case. Prints the plan, a progress bar and the per-epoch table; writes the model (or the
 * adapter), the tokenizer, run_config.json and report.html + PNGs into --output-dir.
 *
 * This file also holds what the other training commands share (eval, predict, merge, compare,
 * lr-find): the flag tables, loading the model, the tokenizer and the data, and the strategies.
 *
 * Exit codes: 0 done, 1 runtime error (a bad data file: the message names file:line), 2 usage
 * error, 3 training stopped on a NaN/Inf loss or gradient norm.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';

import { version } from '../index.js';
import { manualSeed } from '../tensor/index.js';
import { Conv2d, Linear, type Module } from '../nn/index.js';
import { findPreset, layerGroupsOf, hasLayerGroups, modelFamilies, type HfConfig } from '../models/index.js';
import { familyOfModel } from '../models/registry.js';
import { assertNotPickle, createModel, describeJsonValue, loadPretrained, newlyInitializedModules, readSafetensorsHeader, savePretrained, isLocalCheckpoint, ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME } from '../io/index.js';
import { copyFileAtomicSync, makeOutputFolder, writeFileAtomicSync } from '../io/files.js';
import { packageRoot } from '../tensor/native.js';
import { HubError, resolveModelFile } from '../hub/index.js';
import {
  DEFAULT_VIRTUAL_TOKENS,
  getMethod,
  isMethodName,
  methodNames,
  PeftModel,
  ModulesToSaveWrapper,
  SEQ_CLS_HEAD_NAMES,
  type MethodName,
  type MethodPlan,
  type ModelFacts,
  type TaskType,
} from '../peft/index.js';
import {
  DataFormatError,
  DELIMITERS,
  LabelCheckError,
  TEXT_ENCODINGS,
  textEncoding,
  findLabelColumn,
  findTextColumn,
  findTextPairColumn,
  fashionMnist,
  readTable,
  Subset,
  TextClassificationDataset,
  Tokenizer,
  trainValidationSplit,
  IMAGENET_GRAY_MEAN,
  IMAGENET_GRAY_STD,
  IMAGENET_MEAN,
  IMAGENET_STD,
  imageTransform,
  preprocessorJson,
  type Dataset,
  type DatasetCapabilities,
  type ImagePreprocessing,
  type ReadTableOptions,
  type Table,
} from '../data/index.js';
import {
  autoLearningRate,
  describeLrCurve,
  diagnoseTraining,
  listCheckpoints,
  loadModelWeights,
  PrinterCallback,
  ProgressCallback,
  saveModelWeights,
  Trainer,
  TrainingArguments,
  type AutoLearningRate,
} from '../train/index.js';
import { formatLr } from '../optim/index.js';
import { writeReport } from '../report/index.js';
import { formatBytes, formatNumber, formatSeconds } from '../report/format.js';
import {
  EXIT,
  flagHelp,
  flagNamesInMessage,
  suggestion,
  trainingArgumentsFrom,
  UsageError,
  type FlagTable,
  type Options,
} from './config.js';
import { IMAGE_CHECK_FLAGS, readImageFolder, reportSkipped, skippedRowsOf } from './data-check.js';
import { expandHome, HUB_ID, isLocalPath, requireModelPath, requirePath } from './paths.js';
import { resolveCommandOptions, THREADS_FLAG } from './threads.js';

// ---- flags ---------------------------------------------------------------------------------------

export const TASKS = ['text-classification', 'image-classification'] as const;
export type Task = (typeof TASKS)[number];

export const CONFIG_FLAG: FlagTable = {
  config: { kind: 'string', arg: 'FILE.yaml', group: 'Model', help: 'read options from a YAML file (same keys as the flags, kebab or snake case); flags override it' },
};

export const MODEL_FLAGS: FlagTable = {
  model: { kind: 'string', arg: 'PRESET|DIR|HUB_ID', group: 'Model', help: 'a preset (random init: bert-tiny, bert-base-uncased, vit-tiny, resnet18, …), a folder with config.json (+ model.safetensors), or a Hub id' },
  tokenizer: { kind: 'string', arg: 'DIR|FILE', group: 'Model', help: "tokenizer.json or its folder (default: the model folder's, the Hub repo's, else data/bert-base-uncased for BERT)" },
  'num-labels': { kind: 'integer', group: 'Model', help: 'classes of the head (default: the labels in the training data)' },
};

/** How a text table is read: every command that reads one takes these. */
export const TABLE_FLAGS: FlagTable = {
  encoding: { kind: 'string', arg: 'NAME', group: 'Data', help: `the text files' encoding: ${TEXT_ENCODINGS.join(', ')} (default utf-8; a byte-order mark decides)` },
  delimiter: { kind: 'string', arg: 'CHAR', group: 'Data', help: "the field delimiter of .csv / .tsv files: ',', ';', '|' or tab (default: found from the header line)" },
};

export const DATA_FLAGS: FlagTable = {
  task: { kind: 'string', group: 'Data', choices: TASKS, help: 'text-classification or image-classification (default: from the model and the data flags)' },
  'train-file': { kind: 'string', arg: 'FILE', group: 'Data', help: 'training data: .csv, .tsv or .jsonl with a text and a label column' },
  'eval-file': { kind: 'string', arg: 'FILE', group: 'Data', help: 'evaluation data, same format (or --validation-split)' },
  'validation-split': { kind: 'number', arg: 'FRACTION', group: 'Data', help: 'hold out this fraction of the training data (stratified, seeded) for evaluation' },
  'text-column': { kind: 'string', arg: 'NAME', group: 'Data', help: 'the text column (default: text, sentence, content, review, … or the only non-label column)' },
  'eval-text-column': { kind: 'string', arg: 'NAME', group: 'Data', help: "the eval file's text column when it differs (default: detected as for --text-column)" },
  'text-pair-column': { kind: 'string', arg: 'NAME', group: 'Data', help: 'the second text of a pair (NLI, paraphrase)' },
  'label-column': { kind: 'string', arg: 'NAME', group: 'Data', help: 'the label column (default: label, labels, target, class, category)' },
  labels: { kind: 'list', arg: 'A,B,…', group: 'Data', help: 'label names in id order (default: the sorted values; a 0/1 column reads as ids when names are given; rows with other labels are bad rows)' },
  'allow-rare-labels': { kind: 'boolean', group: 'Data', help: 'keep labels with very few rows as classes (default: an error naming their rows, as they are most often typos or strays)' },
  'max-length': { kind: 'integer', group: 'Data', help: "longest tokenised input, special tokens included (default: the tokenizer's model_max_length, else 512)" },
  'image-folder': { kind: 'string', arg: 'DIR', group: 'Data', help: 'images in DIR/<class>/… (or DIR/train/<class>/… and DIR/val/<class>/…)' },
  'eval-folder': { kind: 'string', arg: 'DIR', group: 'Data', help: 'evaluation images in DIR/<class>/…' },
  'fashion-mnist': { kind: 'boolean', group: 'Data', help: "Fashion-MNIST (train split; the test split for evaluation) from Debian's dataset-fashion-mnist or $FASHION_MNIST_DIR" },
  'image-size': { kind: 'integer', group: 'Data', help: "images are resized to N×N (default: the model's image size, else 224)" },
  'max-train-samples': { kind: 'integer', group: 'Data', help: 'use the first N training examples' },
  'max-eval-samples': { kind: 'integer', group: 'Data', help: 'use the first N evaluation examples' },
  'skip-bad-rows': { kind: 'boolean', group: 'Data', help: 'leave out bad rows / image files (counted, and the first few named on stderr) instead of stopping' },
  ...IMAGE_CHECK_FLAGS,
  ...TABLE_FLAGS,
};

export const METHOD_FLAGS: FlagTable = {
  method: { kind: 'string', group: 'Method', arg: 'NAME', help: `what trains: ${methodNames().join(', ')} (default full)` },
  k: { kind: 'integer', group: 'Method', help: 'top-k: layer groups trained below the head (default: about a quarter of them)' },
  'unfreeze-every-steps': { kind: 'integer', group: 'Method', help: 'gradual: unfreeze one more layer group every N optimizer steps (default: every epoch)' },
  'lora-r': { kind: 'integer', group: 'Method', help: 'LoRA / DoRA rank (default 8)' },
  'lora-alpha': { kind: 'number', group: 'Method', help: 'LoRA / DoRA alpha (default 32)' },
  'lora-dropout': { kind: 'number', group: 'Method', help: 'dropout on the LoRA path (default 0.1)' },
  'target-modules': { kind: 'list', arg: 'A,B', group: 'Method', help: 'modules LoRA / DoRA / IA3 wrap (default: query,value for transformers, every Conv2d for CNNs)' },
  'reduction-factor': { kind: 'number', group: 'Method', help: 'houlsby / pfeiffer: bottleneck reduction (default 16)' },
  'num-virtual-tokens': { kind: 'integer', group: 'Method', help: 'prompt-tuning: virtual tokens (default 20)' },
  'train-bn': { kind: 'boolean', group: 'Method', trainingArg: 'trainBatchNorm', help: "freezing methods keep BatchNorm trainable in frozen groups (default true, fastai's train_bn)" },
};

/** TrainingArguments, kebab-case. */
export const TRAINING_FLAGS: FlagTable = {
  'output-dir': { kind: 'string', arg: 'DIR', group: 'Training', trainingArg: 'outputDir', help: 'where checkpoints, logs, the model and the report go (default trainer_output)' },
  'num-train-epochs': { kind: 'number', group: 'Training', trainingArg: 'numTrainEpochs', help: 'epochs (default 3)' },
  'max-steps': { kind: 'integer', group: 'Training', trainingArg: 'maxSteps', help: 'optimizer steps; overrides --num-train-epochs' },
  'per-device-train-batch-size': { kind: 'integer', group: 'Training', trainingArg: 'perDeviceTrainBatchSize', help: 'batch size (default 8)' },
  'per-device-eval-batch-size': { kind: 'integer', group: 'Training', trainingArg: 'perDeviceEvalBatchSize', help: 'evaluation batch size (default 8)' },
  'learning-rate': {
    kind: 'number',
    keywords: ['auto'],
    arg: 'LR|auto',
    group: 'Training',
    trainingArg: 'learningRate',
    help: "peak learning rate (default: the method's rule, optim.defaultFineTuneLr; the plan prints why); auto: lr-find's valley on the training data first (the method's rule when the curve is flat)",
  },
  'lr-scheduler-type': { kind: 'string', group: 'Training', trainingArg: 'lrSchedulerType', arg: 'NAME', help: 'linear (default), cosine, constant, constant_with_warmup, polynomial, … (finetune schedule lists them)' },
  'lr-scheduler-kwargs': { kind: 'json', group: 'Training', trainingArg: 'lrSchedulerKwargs', help: 'extra schedule options as JSON, e.g. {"numCycles": 0.5}' },
  'warmup-ratio': { kind: 'number', group: 'Training', trainingArg: 'warmupRatio', help: 'linear warmup over this fraction of the steps' },
  'warmup-steps': { kind: 'integer', group: 'Training', trainingArg: 'warmupSteps', help: 'linear warmup over N steps' },
  'weight-decay': { kind: 'number', group: 'Training', trainingArg: 'weightDecay', help: 'AdamW weight decay (default 0; never on biases and LayerNorm)' },
  'weight-decay-rule': { kind: 'string', group: 'Training', trainingArg: 'weightDecayRule', choices: ['hf', 'timm'], help: 'which parameters are exempt from decay' },
  optim: { kind: 'string', group: 'Training', trainingArg: 'optim', choices: ['adamw_torch', 'adamw_torch_fused', 'adam', 'sgd'], help: 'optimizer (default adamw_torch)' },
  'adam-beta1': { kind: 'number', group: 'Training', trainingArg: 'adamBeta1', help: 'default 0.9' },
  'adam-beta2': { kind: 'number', group: 'Training', trainingArg: 'adamBeta2', help: 'default 0.999' },
  'adam-epsilon': { kind: 'number', group: 'Training', trainingArg: 'adamEpsilon', help: 'default 1e-8' },
  'sgd-momentum': { kind: 'number', group: 'Training', trainingArg: 'sgdMomentum', help: 'SGD momentum (default 0)' },
  'gradient-accumulation-steps': { kind: 'integer', group: 'Training', trainingArg: 'gradientAccumulationSteps', help: 'micro-batches per optimizer step (default 1)' },
  'max-grad-norm': { kind: 'number', group: 'Training', trainingArg: 'maxGradNorm', help: 'clip the gradient norm (default 1.0; 0: off)' },
  'label-smoothing-factor': { kind: 'number', group: 'Training', trainingArg: 'labelSmoothingFactor', help: 'label smoothing ε (default 0)' },
  'discriminative-lr': { kind: 'string', group: 'Training', arg: 'slice|FACTOR|lo:LR', help: "lower lrs for lower layer groups: 'slice' (lr/10), a factor per group (2.6, ULMFiT) or lo:1e-6 (geometric)" },
  'layerwise-lr-decay': { kind: 'number', group: 'Training', trainingArg: 'layerwiseLrDecay', help: "timm's layer-wise lr decay factor (0, 1]" },
  'eval-strategy': { kind: 'string', group: 'Evaluation and saving', trainingArg: 'evalStrategy', choices: ['no', 'steps', 'epoch'], help: "when to evaluate (default: epoch when there is evaluation data, else no)" },
  'eval-steps': { kind: 'number', group: 'Evaluation and saving', trainingArg: 'evalSteps', help: 'evaluate every N steps (or a fraction of the run) with --eval-strategy steps' },
  'save-strategy': { kind: 'string', group: 'Evaluation and saving', trainingArg: 'saveStrategy', choices: ['no', 'steps', 'epoch'], help: 'when to write checkpoint-N/ (default steps; with --load-best-model-at-end: as --eval-strategy)' },
  'save-steps': { kind: 'number', group: 'Evaluation and saving', trainingArg: 'saveSteps', help: 'checkpoint every N steps (default 500; the last step is always saved)' },
  'save-total-limit': { kind: 'integer', group: 'Evaluation and saving', trainingArg: 'saveTotalLimit', help: 'keep the newest N checkpoints (and the best)' },
  'logging-strategy': { kind: 'string', group: 'Evaluation and saving', trainingArg: 'loggingStrategy', choices: ['no', 'steps', 'epoch'], help: 'when to log the loss (default steps)' },
  'logging-steps': { kind: 'number', group: 'Evaluation and saving', trainingArg: 'loggingSteps', help: 'log every N steps (default 500, or 2% of the run when that is fewer steps)' },
  'logging-first-step': { kind: 'boolean', group: 'Evaluation and saving', trainingArg: 'loggingFirstStep', help: 'log the first step too' },
  'load-best-model-at-end': { kind: 'boolean', group: 'Evaluation and saving', trainingArg: 'loadBestModelAtEnd', help: 'end with the best checkpoint by --metric-for-best-model' },
  'metric-for-best-model': { kind: 'string', group: 'Evaluation and saving', trainingArg: 'metricForBestModel', arg: 'NAME', help: 'loss (default), accuracy, f1, …' },
  'greater-is-better': { kind: 'boolean', group: 'Evaluation and saving', trainingArg: 'greaterIsBetter', help: 'default: false for losses, true otherwise' },
  'early-stopping-patience': { kind: 'integer', group: 'Evaluation and saving', trainingArg: 'earlyStoppingPatience', help: 'stop after N evaluations without improvement' },
  'early-stopping-threshold': { kind: 'number', group: 'Evaluation and saving', trainingArg: 'earlyStoppingThreshold', help: 'how much better counts as an improvement (default 0)' },
  'resume-from-checkpoint': { kind: 'optional-string', group: 'Evaluation and saving', trainingArg: 'resumeFromCheckpoint', help: 'continue from the newest checkpoint-N/ in --output-dir, or from PATH' },
  seed: { kind: 'integer', group: 'Run', trainingArg: 'seed', help: 'seeds initialisation, dropout and the data order (default 42)' },
  'data-seed': { kind: 'integer', group: 'Run', trainingArg: 'dataSeed', help: 'seeds the data order only (default: --seed)' },
  'nan-policy': { kind: 'string', group: 'Run', trainingArg: 'nanPolicy', choices: ['stop', 'skip'], help: 'on a NaN/Inf loss: stop (exit 3; default) or skip the update' },
  'dataloader-drop-last': { kind: 'boolean', group: 'Run', trainingArg: 'dataloaderDropLast', help: 'drop the last incomplete batch' },
  ...THREADS_FLAG,
  'disable-tqdm': { kind: 'boolean', group: 'Run', trainingArg: 'disableTqdm', help: 'no progress bar' },
  report: { kind: 'boolean', group: 'Run', help: 'write report.html and PNGs at the end (default true; --report=false skips)' },
};

export const TRAIN_FLAGS: FlagTable = { ...CONFIG_FLAG, ...MODEL_FLAGS, ...DATA_FLAGS, ...METHOD_FLAGS, ...TRAINING_FLAGS };

export const EXIT_CODES_HELP = `Exit codes:
  0  done
  1  runtime error (a bad data file — a bad row, a missing column, a corrupt image: the message names the file; a model or checkpoint that cannot be read)
  2  usage error (unknown or bad flag, bad --config file, a missing file or folder, labels that look like mistakes, one class)
  3  training stopped: the loss or the gradient norm became NaN/Inf (--nan-policy stop)`;

const TRAIN_HELP = `Usage: finetune train --model <preset|dir|hub id> (--train-file FILE [--eval-file FILE | --validation-split 0.1] | --image-folder DIR | --fashion-mnist)
                      [--method lora] [--output-dir DIR] [TrainingArguments as flags in kebab-case] [--config run.yaml]

Fine-tunes the model with the method and writes, into --output-dir: the model (config.json + model.safetensors)
or the adapter (adapter_config.json + adapter_model.safetensors, and base_model/ when the base was randomly
initialised), the tokenizer files, run_config.json, trainer_state.json, metrics.jsonl, checkpoint-N/ folders,
report.html, loss.png, metrics.png and lr.png.

FLAGS

Examples:
  finetune train --model bert-tiny --train-file data/sst2/train-200.tsv --eval-file data/sst2/dev.tsv \\
                 --method lora --max-length 64 --num-train-epochs 3 --output-dir runs/lora
  finetune train --config run.yaml --learning-rate 1e-4          # flags override the file
  finetune train --model resnet18 --fashion-mnist --max-train-samples 2000 --image-size 32 --method head

EXIT`;

export function trainHelp(): string {
  return TRAIN_HELP.replace('FLAGS', flagHelp(TRAIN_FLAGS)).replace('EXIT', EXIT_CODES_HELP);
}

// ---- errors → exit codes -------------------------------------------------------------------------

/** Whether an error is the Trainer's stop on a non-finite loss or gradient norm (nanPolicy 'stop'). */
export function isNanStop(error: unknown): boolean {
  return error instanceof Error && /^training stopped at step \d+ .*nanPolicy 'stop'/s.test(error.message);
}

/** Runs a command body, turning errors into the documented exit codes and messages. */
export async function runCommand(name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`finetune ${name}: ${error.message}\n(finetune ${name} --help lists the flags)`);
      return EXIT.usage;
    }
    if (isNanStop(error)) {
      const message = (error as Error).message.replace("(nanPolicy 'stop')", '(--nan-policy stop)').replace("set nanPolicy: 'skip'", 'pass --nan-policy skip');
      console.error(`finetune ${name}: ${message}`);
      return EXIT.nan;
    }
    const message = dataFlagsInMessage(error instanceof Error ? error.message : String(error));
    if (error instanceof Error && message.startsWith('TrainingArguments: ')) {
      console.error(`finetune ${name}: ${message}`);
      return EXIT.usage;
    }
    console.error(`finetune ${name}: ${message}`);
    if (process.env.FINETUNE_DEBUG && error instanceof Error) console.error(error.stack);
    return EXIT.runtime;
  }
}

// ---- small helpers -------------------------------------------------------------------------------

function str(options: Options, name: string): string | undefined {
  const v = options[name];
  return typeof v === 'string' ? v : undefined;
}

function num(options: Options, name: string): number | undefined {
  const v = options[name];
  return typeof v === 'number' ? v : undefined;
}

function list(options: Options, name: string): string[] | undefined {
  const v = options[name];
  return Array.isArray(v) ? v : undefined;
}

function bool(options: Options, name: string): boolean | undefined {
  const v = options[name];
  return typeof v === 'boolean' ? v : undefined;
}

export { str as optString, num as optNumber, list as optList, bool as optBoolean };

/** 109483778 → '109,483,778'. */
export function grouped(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function readJsonFile(path: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${path}: expected a JSON object, got ${describeJsonValue(value)}`);
  }
  return value as Record<string, unknown>;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function positiveInteger(options: Options, name: string): number | undefined {
  const v = num(options, name);
  if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new UsageError(`--${name} must be a positive integer, got ${v}`);
  return v;
}

// ---- models --------------------------------------------------------------------------------------

/** Where a model comes from. */
export interface ModelSource {
  /** What was given (--model). */
  arg: string;
  kind: 'preset' | 'config' | 'checkpoint' | 'hub';
  modelType: string;
  /** config.json's contents (a preset's as config.json). */
  config: HfConfig;
  /** The local folder (config / checkpoint). */
  dir?: string;
  /** The config.json read (absent for a preset). */
  configFile?: string;
}

/** The architecture finetune trains for a family: sequence or image classification, or the CNN itself. */
function classificationArchitecture(modelType: string): string | undefined {
  if (modelType === 'bert') return 'BertForSequenceClassification';
  if (modelType === 'vit') return 'ViTForImageClassification';
  return undefined;
}

function presetNames(): string[] {
  return modelFamilies().flatMap((f) => Object.keys(f.presets));
}

/** Reads what --model names (a preset, a folder, a config.json, a Hub id) without building anything. */
export async function resolveModelSource(arg: string): Promise<ModelSource> {
  const preset = findPreset(arg);
  if (preset) {
    const architecture = classificationArchitecture(preset.family.modelType) ?? Object.keys(preset.family.architectures)[0];
    return { arg, kind: 'preset', modelType: preset.family.modelType, config: preset.family.configToHf(preset.config, architecture) };
  }
  if (isLocalPath(arg)) {
    const path = requireModelPath(arg, 'model');
    if (!isDir(path)) {
      assertNotPickle(path);
      if (extname(path).toLowerCase() === '.safetensors') {
        throw new UsageError(`--model ${arg} is a weights file: give the folder that holds it and its config.json`);
      }
    }
    const dir = isDir(path) ? path : dirname(path);
    const file = isDir(path) ? join(path, 'config.json') : path;
    if (!existsSync(file)) {
      if (existsSync(join(dir, ADAPTER_CONFIG_NAME))) {
        throw new UsageError(`--model ${arg} holds an adapter (adapter_config.json), not a model: give the base model with --model and the adapter with --adapter (eval, predict, merge)`);
      }
      throw new UsageError(`--model ${arg}: no config.json there (a model folder needs config.json, and model.safetensors for pretrained weights)`);
    }
    const config = readJsonFile(file);
    if (typeof config.model_type !== 'string') throw new Error(`${file}: no "model_type"`);
    if (!modelFamilies().some((f) => f.modelType === config.model_type)) {
      throw new Error(`${file}: model_type '${String(config.model_type)}' is not one finetune builds (known: ${modelFamilies().map((f) => f.modelType).join(', ')})`);
    }
    return { arg: path, kind: isLocalCheckpoint(dir) ? 'checkpoint' : 'config', modelType: config.model_type, config, dir, configFile: file };
  }
  if (HUB_ID.test(arg)) {
    const file = await fromHub(arg, 'config.json', 'model');
    const config = readJsonFile(file);
    if (typeof config.model_type !== 'string') throw new Error(`${arg}: config.json has no "model_type"`);
    return { arg, kind: 'hub', modelType: config.model_type, config, dir: dirname(file), configFile: file };
  }
  throw new UsageError(`--model: unknown model '${arg}': not a preset, a folder or a Hub id${suggestion(arg, presetNames(), '')} (presets: ${presetNames().join(', ')})`);
}

/** A file of a Hub repo named by a flag; when the Hub cannot give it, the error says the name was taken for a Hub id and why. */
async function fromHub(repoId: string, filename: string, flag: string): Promise<string> {
  try {
    return await resolveModelFile(repoId, filename);
  } catch (error) {
    if (!(error instanceof HubError)) throw error;
    const namespace = repoId.split('/')[0];
    // The library's offline switch is its `offline` option; the CLI's is the environment variable alone.
    const message = error.message.replace('(the `offline` option or HF_HUB_OFFLINE)', '(HF_HUB_OFFLINE)');
    throw new Error(`--${flag} ${repoId}: not a local folder (there is no ${namespace}/ here), so it was taken for a Hub id: ${message}`, { cause: error });
  }
}

export interface BuiltModel {
  model: Module;
  /** True when the weights are a fresh random initialisation (a preset, a config without weights). */
  randomInit: boolean;
  /** One line on where the weights came from. */
  note: string;
  /** Modules a pretrained checkpoint did not provide, left at their random initialisation (newlyInitializedModules). */
  newlyInitialized: string[];
}

/** Sets the head's class names in a BERT / ViT config (id2label / label2id, saved in config.json). */
export function setLabelNames(model: Module, names: readonly string[]): void {
  const config = (model as unknown as { config?: Record<string, unknown> }).config;
  if (!config || Object.isFrozen(config) || !('numLabels' in config) || config.numLabels !== names.length) return;
  const id2label = Object.fromEntries(names.map((name, i) => [i, name]));
  config.id2label = id2label;
  config.label2id = Object.fromEntries(names.map((name, i) => [name, i]));
}

/** Builds the classification model of `source` with `numLabels` outputs (random init for presets and bare configs). */
export async function buildModel(source: ModelSource, numLabels: number, labelNames?: readonly string[], imageSize?: number): Promise<BuiltModel> {
  const architecture = classificationArchitecture(source.modelType);
  let built: BuiltModel;
  // ViT's position embeddings fix its image size: a random one is built for the size asked for, a pretrained one must be fed its own.
  const vitSize = source.modelType === 'vit' ? source.config.image_size : undefined;
  const sizeDiffers = imageSize !== undefined && vitSize !== undefined && (Array.isArray(vitSize) ? vitSize.some((v) => v !== imageSize) : vitSize !== imageSize);
  if (source.kind === 'preset' || source.kind === 'config') {
    const json: HfConfig = { ...source.config };
    if (sizeDiffers) json.image_size = imageSize;
    delete json.id2label;
    delete json.label2id;
    const model = createModel(json, { architecture, numLabels, configSource: source.configFile ?? `--model ${source.arg}` });
    built = {
      model,
      randomInit: true,
      note: source.kind === 'preset' ? `random init (a preset has no pretrained weights)` : `random init (${source.dir} has config.json but no model.safetensors)`,
      newlyInitialized: [],
    };
  } else {
    if (sizeDiffers) throw new UsageError(`--image-size ${imageSize}: ${source.arg} is a ViT pretrained at ${String(vitSize)}×${String(vitSize)} pixels; leave --image-size out`);
    const warnings: string[] = [];
    const { model, info } = await loadPretrained(source.arg, { architecture, numLabels, ignoreMismatchedSizes: true, warn: (m) => warnings.push(m) });
    const fresh = [...info.missingKeys, ...info.mismatchedKeys.map((m) => m.key)];
    built = {
      model,
      randomInit: false,
      note: `pretrained weights from ${source.arg}${fresh.length ? `; newly initialised: ${fresh.length > 4 ? `${fresh.slice(0, 4).join(', ')}, …` : fresh.join(', ')}` : ''}`,
      newlyInitialized: newlyInitializedModules(model, info),
    };
  }
  if (labelNames) setLabelNames(built.model, labelNames);
  return built;
}

/** The number of parameters (and trainable ones) of a model, as PEFT counts a PeftModel. */
export function countParameters(model: Module): { trainable: number; total: number; percent: number } {
  if (model instanceof PeftModel) {
    const [trainable, total] = model.getNbTrainableParameters();
    return { trainable, total, percent: total ? (100 * trainable) / total : 0 };
  }
  let trainable = 0;
  let total = 0;
  for (const p of model.parameters()) {
    total += p.numel();
    if (p.requiresGrad) trainable += p.numel();
  }
  return { trainable, total, percent: total ? (100 * trainable) / total : 0 };
}

// ---- tokenizers ----------------------------------------------------------------------------------

export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt'];

export interface LoadedTokenizer {
  tokenizer: Tokenizer;
  /** Where it came from (a path or Hub id). */
  source: string;
  /** Why this one, when it was not asked for. */
  note?: string;
  /** The folder with its files (to copy into the output). */
  dir: string | null;
}

/** The shipped BERT tokenizer (bert-base-uncased's uncased WordPiece). */
export function defaultBertTokenizerDir(): string {
  return join(packageRoot(), 'data', 'bert-base-uncased');
}

/** A path relative to the working folder when it is inside it, else as it is. */
function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** --tokenizer, else the model folder's tokenizer.json, else the Hub repo's, else data/bert-base-uncased for BERT. */
export async function loadTokenizer(flag: string | undefined, candidates: readonly (string | undefined)[], modelType: string, hubId?: string): Promise<LoadedTokenizer> {
  if (flag !== undefined) {
    if (isLocalPath(flag)) {
      const path = requireModelPath(flag, 'tokenizer');
      const file = isDir(path) ? join(path, 'tokenizer.json') : path;
      if (!existsSync(file)) throw new UsageError(`--tokenizer ${flag}: no tokenizer.json there`);
      return { tokenizer: Tokenizer.fromFile(file), source: file, dir: dirname(file) };
    }
    if (HUB_ID.test(flag)) {
      const file = await fromHub(flag, 'tokenizer.json', 'tokenizer');
      return { tokenizer: await Tokenizer.fromPretrained(flag), source: flag, dir: dirname(file) };
    }
    throw new UsageError(`--tokenizer ${flag} does not exist`);
  }
  for (const dir of candidates) {
    if (dir && existsSync(join(dir, 'tokenizer.json'))) return { tokenizer: Tokenizer.fromFile(join(dir, 'tokenizer.json')), source: join(dir, 'tokenizer.json'), dir };
  }
  if (hubId) {
    const file = await resolveModelFile(hubId, 'tokenizer.json', { optional: true });
    if (file) return { tokenizer: await Tokenizer.fromPretrained(hubId), source: hubId, dir: dirname(file) };
  }
  if (modelType === 'bert') {
    const dir = defaultBertTokenizerDir();
    return { tokenizer: Tokenizer.fromFile(join(dir, 'tokenizer.json')), source: displayPath(join(dir, 'tokenizer.json')), note: "BERT's uncased WordPiece; --tokenizer to change", dir };
  }
  throw new UsageError(`no tokenizer: the model has no tokenizer.json; give --tokenizer <dir|tokenizer.json>`);
}

/** Copies the tokenizer's files (those present) into `outputDir`. */
export function copyTokenizerFiles(dir: string | null, outputDir: string): string[] {
  if (!dir) return [];
  const copied: string[] = [];
  for (const name of TOKENIZER_FILES) {
    const from = join(dir, name);
    const to = join(outputDir, name);
    if (existsSync(from) && resolve(from) !== resolve(to)) {
      copyFileAtomicSync(from, to);
      copied.push(name);
    } else if (existsSync(from)) copied.push(name);
  }
  return copied;
}

// ---- text data -----------------------------------------------------------------------------------

export interface TextColumns {
  text: string;
  pair?: string;
  label: string;
}

/** The text, pair and label columns of a table: given ones must be there, the others are detected. */
export function detectColumns(table: Table, given: { text?: string; pair?: string; label?: string }, flags: { text: string } = { text: 'text-column' }): TextColumns {
  const columns = table.columns;
  const need = (name: string, flag: string) => {
    if (table.format !== 'jsonl' && !columns.includes(name)) throw new DataFormatError(table.file, 1, `no column '${name}' (--${flag}; columns: ${columns.join(', ')})`);
    return name;
  };
  // A header read as one column that holds another delimiter: the delimiter is the likelier mistake.
  const otherDelimiter = columns.length === 1 ? DELIMITERS.find((d) => d !== table.delimiter && columns[0].includes(d)) : undefined;
  const delimiterHint = otherDelimiter === undefined ? '' : `; the header is one column: if the delimiter is ${delimiterArg(otherDelimiter)}, give --delimiter ${delimiterArg(otherDelimiter)}`;
  const label = given.label !== undefined ? need(given.label, 'label-column') : findLabelColumn(columns, table.rows);
  // A file without a label column the CLI can find is a data error (exit 1), as its other missing columns are.
  if (label === undefined) throw new DataFormatError(table.file, 1, `which column is the label? give --label-column (columns: ${columns.join(', ')})${delimiterHint}`);
  const text = given.text !== undefined ? need(given.text, flags.text) : findTextColumn(columns, [label, given.pair]);
  if (text === undefined) throw new DataFormatError(table.file, 1, `which column is the text? give --${flags.text} (columns: ${columns.join(', ')})`);
  let pair = given.pair !== undefined ? need(given.pair, 'text-pair-column') : undefined;
  if (pair === undefined && given.text === undefined) pair = findTextPairColumn(columns, text);
  return { text, pair, label };
}

/** Library options named in the data layer's messages, and the flags that set them. */
const DATA_OPTION_FLAGS: [RegExp, (...groups: string[]) => string][] = [
  [/onBad(?:Row|File): 'skip'/g, () => '--skip-bad-rows'],
  [/allowRareLabels: true/g, () => '--allow-rare-labels'],
  [/labels: (\["[^\]\n]*"\])/g, (match, names) => `--labels ${labelList(names) ?? match}`],
  [/encoding: '([\w-]+)'/g, (_, name) => `--encoding ${name}`],
  [/delimiter: '(\\t|.)'/g, (_, d) => `--delimiter ${delimiterArg(d === '\\t' ? '\t' : d)}`],
  [/\btextColumn\b/g, () => '--text-column'],
  [/\bmaxImagePixels\b/g, () => '--max-image-pixels'],
  [/\bmaxLength (\d+)/g, (_, n) => `--max-length ${n}`],
  [/\bvalidationFraction (\S+) of/g, (_, f) => `--validation-split ${f} of`],
];

/** A JSON array of label names as --labels takes them (a,b,c), or undefined when it is not one. */
function labelList(json: string): string | undefined {
  try {
    const names: unknown = JSON.parse(json);
    return Array.isArray(names) && names.every((n) => typeof n === 'string') ? names.join(',') : undefined;
  } catch {
    return undefined;
  }
}

/** A data-layer message for CLI users: the library options it suggests become the flags that set them. */
export function dataFlagsInMessage(message: string): string {
  return DATA_OPTION_FLAGS.reduce((out, [pattern, flag]) => out.replace(pattern, (...match: string[]) => flag(...match)), message);
}

/** --encoding and --delimiter as readTable options (a usage error when they name no encoding or no one-character delimiter). */
/**
 * --encoding and --delimiter; `trained` (a run_config.json) supplies what the training run was given,
 * so that eval and predict read the user's other files of the same kind without the flags again.
 */
export function tableReading(options: Options, trained: Record<string, unknown> = {}): Pick<ReadTableOptions, 'encoding' | 'delimiter'> {
  const recorded = (key: string) => (typeof trained[key] === 'string' ? (trained[key] as string) : undefined);
  const encoding = str(options, 'encoding') ?? recorded('encoding');
  if (encoding !== undefined) {
    try {
      textEncoding(encoding);
    } catch (error) {
      throw new UsageError(`--encoding: ${(error as Error).message}`);
    }
  }
  const given = str(options, 'delimiter') ?? recorded('delimiter');
  const delimiter = given === undefined ? undefined : ['tab', '\\t', '\t'].includes(given) ? '\t' : given;
  if (delimiter !== undefined && (delimiter.length !== 1 || '"\r\n'.includes(delimiter))) {
    throw new UsageError(`--delimiter must be one character other than a quote or a line break (or 'tab'), got '${given}'`);
  }
  return { encoding, delimiter };
}

/** A delimiter as --delimiter takes it: 'tab', or the character quoted. */
function delimiterArg(delimiter: string): string {
  return delimiter === '\t' ? 'tab' : `'${delimiter}'`;
}

/** How the plan names a delimiter that is not the format's usual one. */
function delimiterNote(table: Table): string {
  const usual = table.format === 'tsv' ? '\t' : ',';
  return table.delimiter === undefined || table.delimiter === usual ? '' : `; delimiter ${delimiterArg(table.delimiter)}`;
}

export interface TextSplit {
  dataset: TextClassificationDataset;
  columns: TextColumns;
  file: string;
  /** '; delimiter X' when it is not the format's usual one (for the plan), else ''. */
  delimiterNote: string;
}

/** Reads and tokenises a labelled text file. */
export async function loadTextFile(
  file: string,
  flag: string,
  options: {
    columns: { text?: string; pair?: string; label?: string };
    /** The text column to use when this file has it and columns.text is not given (the training file's). */
    preferText?: string;
    textFlag?: string;
    labels?: readonly string[];
    tokenizer: Tokenizer;
    maxLength?: number;
    skipBadRows?: boolean;
    allowRareLabels?: boolean;
    /** --encoding and --delimiter (tableReading). */
    reading?: Pick<ReadTableOptions, 'encoding' | 'delimiter'>;
  },
): Promise<TextSplit> {
  requirePath(file, flag, 'file');
  let table: Table;
  try {
    table = await readTable(file, { ...options.reading, onBadRow: options.skipBadRows ? 'skip' : 'error' });
  } catch (error) {
    if (error instanceof DataFormatError) throw error;
    const message = (error as Error).message;
    if (/cannot tell the table format/.test(message)) throw new UsageError(`--${flag} ${file}: use a .csv, .tsv or .jsonl file`);
    throw error;
  }
  const given = { ...options.columns };
  if (given.text === undefined && options.preferText !== undefined && table.columns.includes(options.preferText)) given.text = options.preferText;
  const columns = detectColumns(table, given, { text: options.textFlag ?? 'text-column' });
  let dataset: TextClassificationDataset;
  try {
    dataset = await TextClassificationDataset.fromTable(table, {
      textColumn: columns.text,
      textPairColumn: columns.pair,
      labelColumn: columns.label,
      labels: options.labels,
      tokenizer: options.tokenizer,
      maxLength: options.maxLength,
      onBadRow: options.skipBadRows ? 'skip' : 'error',
      allowRareLabels: options.allowRareLabels,
    });
  } catch (error) {
    // Labels that look like mistakes need the user's decision (a flag), as a usage error does.
    if (error instanceof LabelCheckError) throw new UsageError(dataFlagsInMessage(error.message));
    throw error;
  }
  if (dataset.length === 0) throw new Error(`${file}: no examples${dataset.skipped ? ` (${dataset.skipped} bad rows left out)` : ''}`);
  reportSkipped(file, 'row', skippedRowsOf(file, dataset.skippedRows));
  return { dataset, columns, file, delimiterNote: delimiterNote(table) };
}

/**
 * The longest tokenised input: --max-length, else the tokenizer's model_max_length — never more
 * than the model has positions for, less the virtual tokens prompt tuning puts in front (a longer
 * input would fail in the middle of training).
 */
function textMaxLength(options: Options, source: ModelSource, tokenizer: Tokenizer): number | undefined {
  const given = positiveInteger(options, 'max-length');
  const positions = source.config.max_position_embeddings;
  if (typeof positions !== 'number') return given;
  const virtualTokens = parseMethod(str(options, 'method')) === 'prompt-tuning' ? num(options, 'num-virtual-tokens') ?? DEFAULT_VIRTUAL_TOKENS : 0;
  const room = positions - virtualTokens;
  const why = `${source.arg} has ${positions} positions (max_position_embeddings)${virtualTokens ? `, ${virtualTokens} of them for prompt tuning's virtual tokens` : ''}`;
  if (room < 2) throw new UsageError(`--num-virtual-tokens ${virtualTokens}: ${why}, which leaves no room for the text`);
  if (given !== undefined && given > room) throw new UsageError(`--max-length ${given} is too long: ${why}; give --max-length ${room} or less`);
  return given ?? Math.min(tokenizer.modelMaxLength ?? room, room);
}

/** Checks that every token id fits the model's vocabulary (a tokenizer for another model would fail deep inside). */
function checkVocabulary(datasets: readonly Dataset<unknown>[], vocabSize: number | undefined, tokenizerSource: string): void {
  if (!vocabSize) return;
  for (const dataset of datasets) {
    for (let i = 0; i < dataset.length; i++) {
      const ids = (dataset.get(i) as { inputIds?: number[] }).inputIds;
      if (!ids) return;
      for (const id of ids) {
        if (id >= vocabSize) {
          throw new UsageError(`the tokenizer (${tokenizerSource}) gives token id ${id}, but the model's vocabulary has ${vocabSize} entries: give the model's own tokenizer with --tokenizer`);
        }
      }
    }
  }
}

// ---- image data ----------------------------------------------------------------------------------

/**
 * The image size, channels and normalisation: --image-size, preprocessor_config.json in the model
 * folder, the model's config, ImageNet's statistics (through the luma weights for a one-channel model).
 */
export function imagePreprocessing(modelType: string, config: HfConfig, dirs: readonly (string | undefined)[], sizeFlag?: number): ImagePreprocessing {
  let pre: Record<string, unknown> | undefined;
  for (const dir of dirs) {
    if (dir && existsSync(join(dir, 'preprocessor_config.json'))) {
      pre = readJsonFile(join(dir, 'preprocessor_config.json'));
      break;
    }
  }
  const preSize = pre?.size as { height?: number; shortest_edge?: number } | number | undefined;
  const fromPre = typeof preSize === 'number' ? preSize : (preSize?.height ?? preSize?.shortest_edge);
  const configSize = typeof config.image_size === 'number' ? config.image_size : Array.isArray(config.image_size) ? Number(config.image_size[0]) : undefined;
  const size = sizeFlag ?? fromPre ?? configSize ?? 224;
  const vit = modelType === 'vit';
  const declared = vit ? config.num_channels : config.in_channels;
  const channels = typeof declared === 'number' ? declared : 3;
  if (channels !== 1 && channels !== 3) throw new UsageError(`the model takes ${channels}-channel images; finetune's image pipeline makes RGB (3) or grayscale (1)`);
  const gray = channels === 1;
  const mean = Array.isArray(pre?.image_mean) ? (pre.image_mean as number[]) : vit ? Array<number>(channels).fill(0.5) : gray ? [IMAGENET_GRAY_MEAN] : [...IMAGENET_MEAN];
  const std = Array.isArray(pre?.image_std) ? (pre.image_std as number[]) : vit ? Array<number>(channels).fill(0.5) : gray ? [IMAGENET_GRAY_STD] : [...IMAGENET_STD];
  return { size, channels, mean, std };
}

/** The subfolders of an image folder that hold the training and evaluation images, when it is split. */
export function splitFolders(root: string): { train: string; eval?: string } {
  const train = join(root, 'train');
  if (isDir(train)) {
    const evalDir = ['val', 'validation', 'valid', 'test', 'eval'].map((n) => join(root, n)).find(isDir);
    return { train, eval: evalDir };
  }
  return { train: root };
}

// ---- the data of a run ---------------------------------------------------------------------------

export interface RunData {
  task: Task;
  train: Dataset<unknown>;
  eval: Dataset<unknown> | null;
  labelNames: string[];
  /** Lines for the plan. */
  describe: string[];
  /** What run_config.json records about the data. */
  record: Record<string, unknown>;
  tokenizer?: LoadedTokenizer;
  maxLength?: number;
  image?: ImagePreprocessing;
}

/** The task from --task, the data flags and the model family. */
export function taskOf(options: Options, modelType: string): Task {
  const task = str(options, 'task') as Task | undefined;
  const imageData = options['image-folder'] !== undefined || options['fashion-mnist'] === true;
  const textData = options['train-file'] !== undefined;
  if (imageData && textData) throw new UsageError('give text data (--train-file) or images (--image-folder, --fashion-mnist), not both');
  if (task) return task;
  if (imageData) return 'image-classification';
  if (textData) return 'text-classification';
  return modelType === 'bert' ? 'text-classification' : 'image-classification';
}

function limit<T>(dataset: Dataset<T>, n: number | undefined): Dataset<T> {
  if (n === undefined || n >= dataset.length) return dataset;
  return new Subset(dataset, Array.from({ length: n }, (_, i) => i));
}

function labelSummary(dataset: Dataset<unknown>, names: readonly string[]): string {
  const targets = (dataset as { targets?: ArrayLike<number> }).targets;
  let counts: number[] | undefined;
  if (targets) {
    counts = new Array<number>(names.length).fill(0);
    for (let i = 0; i < targets.length; i++) counts[targets[i]]++;
  } else if (dataset instanceof TextClassificationDataset) counts = dataset.labelCounts();
  else if (dataset instanceof Subset) {
    counts = new Array<number>(names.length).fill(0);
    for (let i = 0; i < dataset.length; i++) {
      const label = (dataset.get(i) as { label?: unknown }).label;
      if (typeof label === 'number') counts[label]++;
    }
  }
  if (names.length > 12) return `${names.length} labels`;
  return `labels ${names.map((n, i) => (counts ? `${n}: ${counts[i]}` : n)).join(', ')}`;
}

/** ', N bad files skipped' for the plan (--skip-bad-rows), or ''. */
function badFilesSkipped(n: number): string {
  return n ? `, ${n} bad file${n === 1 ? '' : 's'} skipped` : '';
}

/** Loads the training (and evaluation) data of `train` / `lr-find` / `compare`. */
export async function loadRunData(options: Options, source: ModelSource, config: { requireEval?: boolean } = {}): Promise<RunData> {
  const task = taskOf(options, source.modelType);
  const validationSplit = num(options, 'validation-split');
  if (validationSplit !== undefined && !(validationSplit > 0 && validationSplit < 1)) throw new UsageError(`--validation-split must be in (0, 1), got ${validationSplit}`);
  const maxTrain = positiveInteger(options, 'max-train-samples');
  const maxEval = positiveInteger(options, 'max-eval-samples');
  const seed = num(options, 'seed') ?? 42;
  const skipBadRows = bool(options, 'skip-bad-rows') ?? false;
  const describe: string[] = [];
  const record: Record<string, unknown> = { task };

  if (task === 'text-classification') {
    if (source.modelType !== 'bert') throw new UsageError(`--task text-classification needs a text model (BERT); ${source.arg} is a ${source.modelType}`);
    const trainFile = str(options, 'train-file');
    if (!trainFile) throw new UsageError('--train-file is required (a .csv, .tsv or .jsonl with a text and a label column)');
    for (const flag of ['eval-folder', 'image-size']) {
      if (options[flag] !== undefined) throw new UsageError(`--${flag} is for images; text data takes --train-file, --eval-file or --validation-split`);
    }
    if (options['eval-file'] !== undefined && validationSplit !== undefined) throw new UsageError('give --eval-file or --validation-split, not both');
    const tokenizer = await loadTokenizer(str(options, 'tokenizer'), [source.dir], source.modelType, source.kind === 'hub' ? source.arg : undefined);
    const maxLength = textMaxLength(options, source, tokenizer.tokenizer);
    const given = { text: str(options, 'text-column'), pair: str(options, 'text-pair-column'), label: str(options, 'label-column') };
    const reading = tableReading(options);
    if (reading.encoding !== undefined) record.encoding = reading.encoding;
    if (reading.delimiter !== undefined) record.delimiter = reading.delimiter;
    const train = await loadTextFile(trainFile, 'train-file', {
      columns: given,
      labels: list(options, 'labels'),
      tokenizer: tokenizer.tokenizer,
      maxLength,
      skipBadRows,
      allowRareLabels: bool(options, 'allow-rare-labels'),
      reading,
    });
    const labelNames = [...train.dataset.labelNames];
    const counts = train.dataset.labelCounts();
    const present = labelNames.filter((_, id) => counts[id] > 0);
    if (present.length < 2) {
      throw new UsageError(
        `${trainFile}: every row has the label '${present[0]}' (column '${train.columns.label}'): a classifier needs two classes or more` +
          (labelNames.length > 1 ? ` (--labels names ${labelNames.length}: ${labelNames.join(', ')})` : ''),
      );
    }
    let trainSet: Dataset<unknown> = train.dataset;
    let evalSet: Dataset<unknown> | null = null;
    const evalFile = str(options, 'eval-file');
    let evalText = '';
    if (evalFile) {
      const evalSplit = await loadTextFile(evalFile, 'eval-file', {
        columns: { text: str(options, 'eval-text-column'), pair: given.pair, label: given.label },
        preferText: given.text,
        textFlag: 'eval-text-column',
        labels: labelNames,
        tokenizer: tokenizer.tokenizer,
        maxLength,
        skipBadRows,
        reading,
      });
      evalSet = evalSplit.dataset;
      evalText = `eval EVAL_COUNT from ${evalFile} (text: ${evalSplit.columns.text}${evalSplit.columns.pair ? ` + ${evalSplit.columns.pair}` : ''}${evalSplit.delimiterNote})`;
      record.eval_file = evalFile;
      record.eval_text_column = evalSplit.columns.text;
      if (evalSplit.dataset.skipped) evalText += `, ${evalSplit.dataset.skipped} bad rows skipped`;
    } else if (validationSplit !== undefined) {
      const split = trainValidationSplit(train.dataset, { validationFraction: validationSplit, seed, stratify: true });
      trainSet = split.train;
      evalSet = split.validation;
      evalText = `eval EVAL_COUNT held out (--validation-split ${validationSplit}, stratified, seed ${seed})`;
      record.validation_split = validationSplit;
    } else if (config.requireEval) throw new UsageError('give --eval-file or --validation-split: the comparison needs an evaluation');
    trainSet = limit(trainSet, maxTrain);
    if (evalSet) evalSet = limit(evalSet, maxEval);
    evalText = evalText.replace('EVAL_COUNT', grouped(evalSet?.length ?? 0));
    const vocab = typeof source.config.vocab_size === 'number' ? source.config.vocab_size : undefined;
    checkVocabulary(evalSet ? [trainSet, evalSet] : [trainSet], vocab, tokenizer.source);
    describe.push(
      `data: train ${grouped(trainSet.length)} from ${trainFile} (text: ${train.columns.text}${train.columns.pair ? ` + ${train.columns.pair}` : ''}, label: ${train.columns.label}; ${labelSummary(trainSet, labelNames)}${train.delimiterNote})` +
        (train.dataset.skipped ? `, ${train.dataset.skipped} bad rows skipped` : ''),
    );
    if (evalText) describe.push(`      ${evalText}`);
    describe.push(`tokenizer: ${tokenizer.source}${tokenizer.note ? ` (${tokenizer.note})` : ''}; max length ${train.dataset.maxLength ?? 'none'}`);
    Object.assign(record, {
      train_file: trainFile,
      text_column: train.columns.text,
      text_pair_column: train.columns.pair ?? null,
      label_column: train.columns.label,
      labels: labelNames,
      max_length: train.dataset.maxLength ?? null,
      tokenizer: tokenizer.source,
    });
    return { task, train: trainSet, eval: evalSet, labelNames, describe, record, tokenizer, maxLength: train.dataset.maxLength };
  }

  // images
  for (const flag of ['eval-file', 'text-column', 'eval-text-column', 'text-pair-column', 'label-column', 'max-length']) {
    if (options[flag] !== undefined) throw new UsageError(`--${flag} is for text data; images take --image-folder, --eval-folder, --fashion-mnist and --image-size`);
  }
  if (source.modelType === 'bert') throw new UsageError(`--task image-classification needs an image model (ViT, ResNet, AlexNet); ${source.arg} is a BERT`);
  const pre = imagePreprocessing(source.modelType, source.config, [source.dir], positiveInteger(options, 'image-size'));
  const transform = imageTransform(pre);
  let trainSet: Dataset<unknown>;
  let evalSet: Dataset<unknown> | null = null;
  let labelNames: string[];
  let from: string;
  let skippedFiles = 0;
  let evalText = '';
  if (options['fashion-mnist'] === true) {
    const train = fashionMnist({ split: 'train', transform });
    trainSet = train;
    labelNames = [...train.classNames];
    from = 'Fashion-MNIST train';
    if (validationSplit === undefined) {
      evalSet = fashionMnist({ split: 'test', transform });
      evalText = `eval ${grouped(Math.min(evalSet.length, maxEval ?? Infinity))} from Fashion-MNIST test`;
    }
    record.dataset = 'fashion-mnist';
  } else {
    const folder = str(options, 'image-folder');
    if (!folder) throw new UsageError('give --image-folder DIR or --fashion-mnist (or --train-file for text)');
    requirePath(folder, 'image-folder', 'folder');
    const { train: trainDir, eval: evalDir } = splitFolders(folder);
    const train = readImageFolder(trainDir, options, transform);
    if (train.numClasses < 2) {
      throw new UsageError(`--image-folder ${trainDir}: one class sub-folder ('${train.classNames[0]}'): a classifier needs two classes or more, each in its own sub-folder (${join(trainDir, '<class>', '<image>')})`);
    }
    trainSet = train;
    labelNames = [...train.classNames];
    from = trainDir;
    skippedFiles = train.skippedCount;
    const evalFolder = str(options, 'eval-folder') ?? (validationSplit === undefined ? evalDir : undefined);
    if (evalFolder) {
      requirePath(evalFolder, 'eval-folder', 'folder');
      const ev = readImageFolder(evalFolder, options, transform);
      if (ev.classNames.join('\n') !== labelNames.join('\n')) {
        throw new Error(`${evalFolder}: its classes (${ev.classNames.join(', ')}) differ from the training folder's (${labelNames.join(', ')})`);
      }
      evalSet = ev;
      evalText = `eval ${grouped(Math.min(ev.length, maxEval ?? Infinity))} from ${evalFolder}${badFilesSkipped(ev.skippedCount)}`;
      record.eval_folder = evalFolder;
    }
    record.image_folder = trainDir;
  }
  if (validationSplit !== undefined) {
    const split = trainValidationSplit(trainSet, { validationFraction: validationSplit, seed, stratify: true });
    trainSet = split.train;
    evalSet = split.validation;
    evalText = `eval ${grouped(Math.min(split.validation.length, maxEval ?? Infinity))} held out (--validation-split ${validationSplit}, stratified, seed ${seed})`;
    record.validation_split = validationSplit;
  } else if (!evalSet && config.requireEval) throw new UsageError('give --eval-folder or --validation-split: the comparison needs an evaluation');
  trainSet = limit(trainSet, maxTrain);
  if (evalSet) evalSet = limit(evalSet, maxEval);
  describe.push(
    `data: train ${grouped(trainSet.length)} images from ${from} (${labelNames.length} classes${labelNames.length <= 12 ? `: ${labelNames.join(', ')}` : ''})` +
      badFilesSkipped(skippedFiles),
  );
  if (evalText) describe.push(`      ${evalText}`);
  describe.push(`images: ${pre.channels === 1 ? 'grayscale, ' : ''}resized to ${pre.size}×${pre.size}, normalised with mean [${pre.mean.map((v) => +v.toFixed(3)).join(', ')}] and std [${pre.std.map((v) => +v.toFixed(3)).join(', ')}]`);
  Object.assign(record, { labels: labelNames, image_size: pre.size, image_mean: pre.mean, image_std: pre.std });
  return { task, train: trainSet, eval: evalSet, labelNames, describe, record, image: pre };
}

// ---- strategies ----------------------------------------------------------------------------------

/** The registered method --method names (an alias resolved to its method). */
export function parseMethod(value: string | undefined): MethodName {
  const name = (value ?? 'full').toLowerCase();
  if (!isMethodName(name)) throw new UsageError(`--method: unknown method '${value}' (known: ${methodNames().join(', ')})`);
  return getMethod(name).name;
}

function factsOf(model: Module): ModelFacts {
  const named = model.namedModules();
  const pathOf = new Map(named.map(([path, m]) => [m, path] as const));
  const leaf = (path: string) => path.slice(path.lastIndexOf('.') + 1);
  let modelType = 'unknown';
  try {
    modelType = familyOfModel(model).family.modelType;
  } catch {
    /* not a registered family */
  }
  const withGroups = hasLayerGroups(model);
  const groups = withGroups ? layerGroupsOf(model) : [];
  return {
    modelType,
    architecture: model.constructor.name,
    groups: groups.length,
    headPaths: withGroups ? groups.at(-1)!.modules.filter((m) => m.parameters().length > 0).map((m) => pathOf.get(m)!) : [],
    convNames: named.filter(([, m]) => m instanceof Conv2d).map(([path]) => path),
    hasQueryValue: ['query', 'value'].every((name) => named.some(([path, m]) => leaf(path) === name && m instanceof Linear)),
    hasWordEmbeddings: named.some(([path]) => leaf(path) === 'word_embeddings'),
    hasClassifier: named.some(([path, m]) => path === 'classifier' && m instanceof Linear),
  };
}

interface AdapterHead {
  taskType?: TaskType;
  modulesToSave?: string[];
  /** ' + a trainable copy of the head …', for the plan line. */
  describe: string;
}

/**
 * What an adapter trains whole besides its own weights (PEFT's modules_to_save): the head (SEQ_CLS's
 * classifier for BERT, else the head modules of the layer groups), and every module the checkpoint
 * left at random values (`newlyInitialized`: a pooler an MLM checkpoint lacks, say). Left frozen and
 * unsaved, such a module would be drawn anew at each load, and the adapter would compute something
 * other than what was trained.
 */
function adapterHead(facts: ModelFacts, newlyInitialized: readonly string[]): AdapterHead {
  const taskType: TaskType | undefined = facts.modelType === 'bert' ? 'SEQ_CLS' : undefined;
  const headNames = taskType ? SEQ_CLS_HEAD_NAMES : facts.hasClassifier ? ['classifier'] : facts.headPaths;
  // PEFT wraps a module whose path ends with a listed name, with everything below it.
  const covered = (path: string) => headNames.some((name) => path === name || path.endsWith(`.${name}`) || path.startsWith(`${name}.`));
  const fresh = newlyInitialized.filter((path) => !covered(path));
  const modulesToSave = [...(taskType ? [] : headNames), ...fresh];
  const wholes = [...(headNames.length ? ['the head'] : []), ...(fresh.length ? [`${fresh.join(', ')} (not in the checkpoint)`] : [])];
  const copies = wholes.length ? ` + a trainable copy of ${wholes.join(' and of ')}` : '';
  return { ...(taskType ? { taskType } : {}), ...(modulesToSave.length ? { modulesToSave } : {}), describe: copies };
}

/** The TrainingArguments strategy for --method and its options: the registered method's build (peft's registerMethod). */
export function buildStrategy(method: MethodName, model: Module, options: Options, baseModelNameOrPath: string | null, newlyInitialized: readonly string[] = []): MethodPlan {
  const facts = factsOf(model);
  const { describe: headNote, ...headConfig } = adapterHead(facts, newlyInitialized);
  const built = getMethod(method).build({
    model,
    facts,
    number: (flag) => num(options, flag),
    list: (flag) => list(options, flag),
    boolean: (flag) => bool(options, flag),
    peftCommon: { ...headConfig, baseModelNameOrPath },
    headNote,
    refuse: (message) => {
      throw new UsageError(message);
    },
  });
  return { method, ...built };
}

/** --discriminative-lr: 'slice', a factor (2.6) or lo:1e-6. */
function discriminativeLrOption(value: string | undefined): unknown {
  if (value === undefined) return undefined;
  if (value === 'slice') return 'slice';
  const lo = /^lo[:=](.+)$/.exec(value);
  if (lo) {
    const n = Number(lo[1]);
    if (!(n > 0)) throw new UsageError(`--discriminative-lr lo:LR needs a positive lr, got '${lo[1]}'`);
    return { lo: n };
  }
  const factor = Number(value);
  if (!(factor > 0)) throw new UsageError(`--discriminative-lr must be 'slice', a factor such as 2.6, or lo:1e-6; got '${value}'`);
  return { factor };
}

/** Optimizer steps a run will take (as the Trainer counts them). */
function estimateSteps(trainLength: number, args: Record<string, unknown>): number {
  const batch = (args.perDeviceTrainBatchSize as number | undefined) ?? 8;
  const ga = (args.gradientAccumulationSteps as number | undefined) ?? 1;
  const batches = args.dataloaderDropLast ? Math.floor(trainLength / batch) : Math.ceil(trainLength / batch);
  const perEpoch = Math.max(1, Math.ceil(batches / ga));
  const maxSteps = args.maxSteps as number | undefined;
  return maxSteps !== undefined && maxSteps > 0 ? maxSteps : Math.ceil(((args.numTrainEpochs as number | undefined) ?? 3) * perEpoch);
}

/** TrainingArguments from the options, with the CLI's defaults (evaluation per epoch when there is evaluation data, logging fit to short runs). */
export function buildTrainingArguments(options: Options, data: { trainLength: number; hasEval: boolean }, table: FlagTable = TRAIN_FLAGS): TrainingArguments {
  const args = trainingArgumentsFrom(options, table);
  // --learning-rate auto is resolved by train() once the model is built (autoLearningRate).
  if (args.learningRate === 'auto') delete args.learningRate;
  const dlr = discriminativeLrOption(str(options, 'discriminative-lr'));
  if (dlr !== undefined) args.discriminativeLr = dlr;
  if (args.evalStrategy === undefined && data.hasEval) args.evalStrategy = 'epoch';
  if (args.evalStrategy !== undefined && args.evalStrategy !== 'no' && !data.hasEval) {
    throw new UsageError(`--eval-strategy ${String(args.evalStrategy)} needs evaluation data: give --eval-file, --eval-folder or --validation-split`);
  }
  if (args.loadBestModelAtEnd === true && args.saveStrategy === undefined) {
    args.saveStrategy = args.evalStrategy ?? 'no';
    if (args.saveSteps === undefined && args.evalSteps !== undefined) args.saveSteps = args.evalSteps;
  }
  if (args.loggingSteps === undefined) {
    const steps = estimateSteps(data.trainLength, args);
    if (steps * 0.02 < 500) args.loggingSteps = Math.max(1, Math.ceil(steps * 0.02));
    if (args.evalStrategy === 'steps' && args.evalSteps === undefined) args.evalSteps = Math.max(1, Math.ceil(steps / 10));
  }
  if (typeof args.resumeFromCheckpoint === 'string') requirePath(args.resumeFromCheckpoint, 'resume-from-checkpoint', 'folder');
  if (args.resumeFromCheckpoint === false) delete args.resumeFromCheckpoint;
  try {
    return new TrainingArguments(args as ConstructorParameters<typeof TrainingArguments>[0]);
  } catch (error) {
    throw new UsageError(flagNamesInMessage((error as Error).message, table));
  }
}

// ---- peak memory ---------------------------------------------------------------------------------

/** The process's peak resident set size in bytes (VmHWM on Linux, else getrusage's maxrss). */
export function peakRssBytes(): number {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    if (match) return Number(match[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return process.resourceUsage().maxRSS * 1024;
}

// ---- the command ---------------------------------------------------------------------------------

export async function runTrain(argv: string[]): Promise<number> {
  return runCommand('train', async () => {
    const { options, help } = resolveCommandOptions(argv, TRAIN_FLAGS);
    if (help) {
      console.log(trainHelp());
      return EXIT.ok;
    }
    await train(options);
    return EXIT.ok;
  });
}

/**
 * `finetune train` with parsed options (resolveOptions(argv, TRAIN_FLAGS)): trains, saves, reports,
 * and returns the Trainer, whose model is the one saved (tests compare it with what loads back).
 */
export async function train(options: Options): Promise<Trainer> {
  const modelArg = str(options, 'model');
  if (!modelArg) throw new UsageError('--model is required (a preset such as bert-tiny, a model folder or a Hub id)');
  const method = parseMethod(str(options, 'method'));
  const seed = num(options, 'seed') ?? 42;
  const source = await resolveModelSource(modelArg);
  const data = await loadRunData(options, source);
  const numLabelsFlag = positiveInteger(options, 'num-labels');
  if (numLabelsFlag !== undefined && numLabelsFlag < data.labelNames.length) {
    throw new UsageError(`--num-labels ${numLabelsFlag} is fewer than the ${data.labelNames.length} labels in the training data (${data.labelNames.join(', ')})`);
  }
  const numLabels = numLabelsFlag ?? data.labelNames.length;
  const labelNames = numLabels === data.labelNames.length ? data.labelNames : [...data.labelNames, ...Array.from({ length: numLabels - data.labelNames.length }, (_, i) => `LABEL_${data.labelNames.length + i}`)];
  const args = buildTrainingArguments(options, { trainLength: data.train.length, hasEval: data.eval !== null });
  const outputDir = args.outputDir;

  const isPeftMethod = getMethod(method).peft !== undefined;
  // Resuming an adapter run on a random base: the base saved beside the adapter, not a new draw.
  const savedBase = join(outputDir, 'base_model');
  let modelSource = source;
  if (args.resumeFromCheckpoint && isPeftMethod && (source.kind === 'preset' || source.kind === 'config') && isLocalCheckpoint(savedBase)) {
    modelSource = await resolveModelSource(savedBase);
  }
  if (options['learning-rate'] === 'auto' && args.resumeFromCheckpoint) throw new UsageError('--learning-rate auto does not apply to --resume-from-checkpoint: a resumed run goes on with its checkpoint\'s optimizer and schedule');
  const autoLr = options['learning-rate'] === 'auto' ? await autoLearningRateFor(modelSource, { numLabels, labelNames, data, method, options, args, seed }) : null;
  // The same initial weights for the same seed, as transformers' set_seed before from_pretrained.
  manualSeed(seed);
  const built = await buildModel(modelSource, numLabels, labelNames, data.image?.size);
  const { family, architecture } = familyOfModel(built.model);
  console.log(`model: ${modelArg} → ${architecture}, ${numLabels} labels; ${built.note}`);
  for (const line of data.describe) console.log(line);

  if (!args.resumeFromCheckpoint) {
    const old = listCheckpoints(outputDir);
    if (old.length) console.error(`note: ${outputDir} already holds ${old.map((c) => basename(c.path)).join(', ')} from an earlier run; this run writes beside them (--resume-from-checkpoint continues one instead)`);
  }
  mkdirSync(outputDir, { recursive: true });
  // An adapter needs its base model: a random one is saved beside it (before the adapter is injected).
  // An absolute folder, so that the adapter finds its base from any working directory.
  let baseModelPath: string | null = modelSource.kind === 'preset' || modelSource.kind === 'hub' ? modelSource.arg : resolve(modelSource.dir ?? modelSource.arg);
  if (isPeftMethod && built.randomInit) {
    baseModelPath = await makeOutputFolder(outputDir, resolve(outputDir, 'base_model'));
    await savePretrained(built.model, baseModelPath);
  }
  const plan = buildStrategy(method, built.model, options, baseModelPath, built.newlyInitialized);
  console.log(`method: ${method} — ${plan.describe}`);
  if (autoLr) printAutoLearningRate(autoLr);

  const printer = new PrinterCallback();
  const trainer = new Trainer({
    model: built.model,
    args: new TrainingArguments({ ...argsOptions(args), ...(autoLr?.source === 'lr-find' ? { learningRate: autoLr.lr } : {}), strategy: plan.strategy }),
    trainDataset: data.train,
    evalDataset: data.eval,
    callbacks: [new ProgressCallback(), printer],
  });
  const counts = countParameters(trainer.model);
  warnFrozenRandomModules(trainer.model, built.newlyInitialized, method);
  const runConfig: Record<string, unknown> = {
    command: 'finetune train',
    finetune_version: version,
    model: modelArg,
    model_type: family.modelType,
    architecture,
    random_init: built.randomInit,
    base_model: isPeftMethod ? baseModelPath : null,
    strategy: method,
    strategy_detail: plan.describe,
    num_labels: numLabels,
    newly_initialized: built.newlyInitialized,
    ...data.record,
    labels: labelNames,
    train_examples: data.train.length,
    eval_examples: data.eval?.length ?? 0,
    learning_rate: trainer.learningRate,
    learning_rate_reason: autoLr?.source === 'lr-find' ? autoLr.reason : trainer.learningRateReason,
    ...(autoLr ? { learning_rate_auto: autoLearningRateRecord(autoLr) } : {}),
    seed,
    trainable_params: counts.trainable,
    total_params: counts.total,
    trainable_percent: counts.percent,
  };
  writeFileAtomicSync(join(outputDir, 'run_config.json'), JSON.stringify(runConfig, null, 2) + '\n');

  const started = performance.now();
  let stoppedOnNan: Error | null = null;
  try {
    await trainer.train();
  } catch (error) {
    if (!isNanStop(error)) throw error;
    stoppedOnNan = error as Error;
  }
  let bestLoaded: string | null = null;
  if (!stoppedOnNan && data.eval) {
    const last = trainer.state.logHistory.filter((e) => Object.keys(e).some((k) => k.startsWith('eval_'))).at(-1);
    // The final evaluation is of the model being saved: after loading the best checkpoint, evaluate it again.
    bestLoaded = args.loadBestModelAtEnd && trainer.state.bestModelCheckpoint && existsSync(trainer.state.bestModelCheckpoint) ? trainer.state.bestModelCheckpoint : null;
    if (bestLoaded || !last || last.step !== trainer.state.globalStep) await trainer.evaluate();
    writeFileAtomicSync(join(outputDir, 'trainer_state.json'), trainer.state.toJsonString());
  }
  const outcome = stoppedOnNan ? null : outcomeWarnings(trainer, data.eval, labelNames, { ranAuto: autoLr !== null, method, newlyInitialized: built.newlyInitialized });
  if (outcome) runConfig.training_warnings = [...outcome.warnings, ...outcome.advice];
  runConfig.train_seconds = Math.round((performance.now() - started) / 10) / 100;
  runConfig.peak_rss_bytes = peakRssBytes();
  if (stoppedOnNan) runConfig.stopped = stoppedOnNan.message;
  writeFileAtomicSync(join(outputDir, 'run_config.json'), JSON.stringify(runConfig, null, 2) + '\n');

  const written: string[] = [];
  if (!stoppedOnNan) {
    await saveModelWeights(trainer.model, outputDir);
    written.push(...(trainer.model instanceof PeftModel ? ['adapter_config.json', 'adapter_model.safetensors'] : ['config.json', 'model.safetensors']));
    if (isPeftMethod && (built.randomInit || modelSource !== source)) written.push('base_model/');
    if (data.tokenizer) written.push(...copyTokenizerFiles(data.tokenizer.dir, outputDir));
    if (data.image) {
      writeFileAtomicSync(join(outputDir, 'preprocessor_config.json'), JSON.stringify(preprocessorJson(data.image), null, 2) + '\n');
      written.push('preprocessor_config.json');
    }
  }
  written.push('run_config.json', 'trainer_state.json', 'metrics.jsonl');
  if (bool(options, 'report') !== false) {
    try {
      const result = await writeReport(outputDir, { title: `finetune train: ${modelArg}, ${method}` });
      written.push('report.html', ...Object.values(result.png).map((p) => basename(p)));
      for (const warning of result.warnings) console.error(`note: ${warning}`);
    } catch (error) {
      console.error(`note: no report: ${(error as Error).message}`);
    }
  }
  const final = trainer.state.logHistory.filter((e) => Object.keys(e).some((k) => k.startsWith('eval_'))).at(-1);
  if (final) {
    const shown = Object.entries(final)
      .filter(([k, v]) => k.startsWith('eval_') && typeof v === 'number' && !/runtime|per_second/.test(k))
      .map(([k, v]) => `${k} ${(v as number).toFixed(4)}`);
    console.log(`final evaluation (${bestLoaded ? `the best model, ${basename(bestLoaded)}` : `step ${String(final.step)}`}): ${shown.join(' · ')}`);
  }
  for (const line of outcome?.warnings ?? []) console.error(`warning: ${line}`);
  for (const line of outcome?.advice ?? []) console.error(`  ${line}`);
  console.log(`wrote ${outputDir}/: ${written.join(', ')}`);
  console.log(finalLine(trainer, runConfig));
  if (stoppedOnNan) throw stoppedOnNan;
  return trainer;
}

/** The last line of `finetune train`: how long, how fast (transformers' train_samples_per_second) and how much memory the run took. */
function finalLine(trainer: Trainer, runConfig: Record<string, unknown>): string {
  const summary = trainer.state.logHistory.filter((e) => typeof e.train_samples_per_second === 'number').at(-1);
  const speed = summary ? `${formatNumber(summary.train_samples_per_second as number, 3)} samples/s, ` : '';
  return `done in ${formatSeconds(runConfig.train_seconds as number)}: ${speed}peak memory ${formatBytes(runConfig.peak_rss_bytes as number)} (the process's peak resident set size)`;
}

/**
 * A module the checkpoint did not provide that the method keeps frozen (a resized embedding under
 * --method head, say) stays at random values: saved with the model, so loading reproduces it, but
 * it learns nothing, which the user should know. (Adapters train such modules whole; gradual
 * unfreezing reaches them later.)
 */
function warnFrozenRandomModules(model: Module, newlyInitialized: readonly string[], method: MethodName): void {
  if (model instanceof PeftModel || method === 'gradual') return;
  const modules = new Map(model.namedModules());
  const frozen = newlyInitialized.filter((path) => modules.get(path)?.ownParameters().some(([, p]) => !p.requiresGrad));
  if (frozen.length) {
    console.error(`warning: ${frozen.join(', ')} ${frozen.length > 1 ? 'are' : 'is'} not in the checkpoint (random values) and --method ${method} keeps ${frozen.length > 1 ? 'them' : 'it'} frozen: ` +
      `saved with the model, but ${frozen.length > 1 ? 'they' : 'it'} will not learn; --method full (or an adapter, which trains ${frozen.length > 1 ? 'them' : 'it'} whole) does`);
  }
}

/**
 * --learning-rate auto: the range test (Trainer.lrFind, fastai's lr_find) on a copy of the model built
 * as the run's will be (same seed, method and arguments), freed afterwards; the run itself then starts
 * from the same weights and generator state as one given the lr by hand. The valley, or the
 * method's default lr when the curve is flat or noisy.
 */
async function autoLearningRateFor(
  source: ModelSource,
  run: { numLabels: number; labelNames: string[]; data: RunData; method: MethodName; options: Options; args: TrainingArguments; seed: number },
): Promise<AutoLearningRate> {
  manualSeed(run.seed);
  const copy = await buildModel(source, run.numLabels, run.labelNames, run.data.image?.size);
  const plan = buildStrategy(run.method, copy.model, run.options, null, copy.newlyInitialized);
  const probe = new Trainer({ model: copy.model, args: new TrainingArguments({ ...argsOptions(run.args), strategy: plan.strategy }), trainDataset: run.data.train, log: null });
  try {
    return await autoLearningRate(probe);
  } finally {
    probe.model.dispose();
  }
}

function printAutoLearningRate(auto: AutoLearningRate): void {
  if (auto.source === 'lr-find') console.log(`learning rate auto: ${formatLr(auto.lr)} (lr-find valley; ${describeLrCurve(auto.result)})`);
  else console.error(`warning: learning rate auto: lr-find suggests nothing — ${auto.refused}; training at the method's default instead, ${formatLr(auto.lr)}`);
}

/** What run_config.json records of --learning-rate auto. */
function autoLearningRateRecord(auto: AutoLearningRate): Record<string, unknown> {
  const { result } = auto;
  return { source: auto.source, lr: auto.lr, ...(auto.refused ? { refused: auto.refused } : {}), suggestions: result.suggestions, curve: result.curve ?? null, steps: result.lrs.length, diverged: result.diverged };
}

/**
 * The end-of-run checks (diagnoseTraining: accuracy at the majority-class rate of the evaluation
 * data, a training loss that did not move) and what to try, as flags (once for both kinds of "learned little").
 */
function outcomeWarnings(
  trainer: Trainer,
  evalData: Dataset<unknown> | null,
  labelNames: readonly string[],
  run: { ranAuto: boolean; method: MethodName; newlyInitialized: readonly string[] },
): { warnings: string[]; advice: string[] } {
  const found = diagnoseTraining(trainer.state.logHistory, { evalLabels: (evalData as DatasetCapabilities | null)?.targets, labelNames });
  const lr = trainer.learningRate;
  const advice = new Set<string>();
  for (const { kind } of found) {
    if (kind === 'rising-loss') advice.add(`the loss rose at lr ${formatLr(lr)}: try a lower --learning-rate (${formatLr(lr / 10)})${run.ranAuto ? '' : ', or finetune lr-find'}`);
    else {
      advice.add(`the run learned little at lr ${formatLr(lr)}: try ${run.ranAuto ? '' : 'finetune lr-find (or --learning-rate auto), '}a higher --learning-rate (${formatLr(lr * 10)}), or more steps (--num-train-epochs, --max-steps)`);
      if (run.method === 'head') {
        // An MLM checkpoint has no pooler: nothing in its pretraining shaped the [CLS] features a head reads.
        const noPooler = run.newlyInitialized.some((path) => /(^|\.)pooler(\.|$)/.test(path));
        advice.add(`a head on frozen features learns only what they already separate${noPooler ? ' — and this checkpoint had no pooler: masked-language pretraining never trains the [CLS] features the head reads' : ''}; a method that trains the network (--method lora, full) can do more`);
      }
    }
  }
  return { warnings: found.map((w) => w.message), advice: [...advice] };
}

/** A TrainingArguments' options back (to add the strategy): toJson in camelCase. */
function argsOptions(args: TrainingArguments): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(args)) if (value !== undefined && value !== null && key !== 'strategy') out[key] = value;
  return out;
}

// ---- loading a trained model (eval, predict, merge) ---------------------------------------------

export interface TrainedModel {
  model: Module;
  modelType: string;
  /** Class names by id. */
  labels: string[];
  /** run_config.json of the model or adapter folder (what `finetune train` recorded), if any. */
  runConfig: Record<string, unknown>;
  /** Folders to look in for the tokenizer and preprocessor files (adapter folder first). */
  dirs: string[];
  config: HfConfig;
  describe: string;
  hubId?: string;
}

/** The base model folder an adapter names (adapter_config.json's base_model_name_or_path), resolved. */
export function adapterBase(adapterDir: string): string {
  const json = readJsonFile(join(adapterDir, ADAPTER_CONFIG_NAME));
  const named = typeof json.base_model_name_or_path === 'string' ? json.base_model_name_or_path : null;
  const beside = join(adapterDir, 'base_model');
  if (named && (existsSync(named) || findPreset(named) || /^[\w.-]+\/[\w.-]+$/.test(named))) {
    if (!existsSync(named) && isDir(beside)) return beside;
    return named;
  }
  if (named && !isAbsolute(named) && existsSync(join(adapterDir, '..', named))) return join(adapterDir, '..', named);
  if (isDir(beside)) return beside;
  throw new UsageError(`${join(adapterDir, ADAPTER_CONFIG_NAME)} names no base model that can be found${named ? ` ('${named}')` : ''}: give the base model with --model`);
}

/**
 * The number of classes of the head an adapter was trained with: what finetune train recorded in
 * run_config.json, else the shape of the head's copy in adapter_model.safetensors (an adapter saved
 * by PEFT in Python), else undefined (the base's head size applies).
 */
async function adapterHeadSize(adapterDir: string, adapterRun: Record<string, unknown>): Promise<number | undefined> {
  const recorded = adapterRun.num_labels;
  if (typeof recorded === 'number') return recorded;
  const weights = join(adapterDir, ADAPTER_WEIGHTS_NAME);
  if (!existsSync(weights)) return undefined;
  const { tensors } = await readSafetensorsHeader(weights);
  // PEFT saves a modules_to_save copy under the module's own key: base_model.model.<head>.weight.
  const head = [...tensors].find(([key, info]) => HEAD_WEIGHT.test(key) && info.shape.length === 2);
  return head ? head[1].shape[0] : undefined;
}

/** The weight of a classification head in an adapter file: BERT's / ViT's classifier, AlexNet's classifier.6, ResNet's fc. */
const HEAD_WEIGHT = /^base_model\.(model\.)?(classifier(\.6)?|fc|score)\.weight$/;

/** Whether the PeftModel trained the module at `path` whole (a modules_to_save copy), so its values came from the adapter. */
function savedWithAdapter(model: PeftModel, path: string): boolean {
  return model.namedModules().some(([wrapperPath, module]) => module instanceof ModulesToSaveWrapper && (path === stripPeftPrefix(wrapperPath) || path.startsWith(`${stripPeftPrefix(wrapperPath)}.`)));
}

function stripPeftPrefix(path: string): string {
  return path.replace(/^base_model\.(model\.)?/, '');
}

function runConfigOf(dir: string | undefined): Record<string, unknown> {
  if (!dir || !existsSync(join(dir, 'run_config.json'))) return {};
  return readJsonFile(join(dir, 'run_config.json'));
}

/**
 * Loads a trained model for eval / predict / merge: a model folder (config.json + weights), or a
 * base model plus an adapter folder; `--model <adapter folder>` alone takes the base the adapter names.
 */
export async function loadTrainedModel(modelArg: string | undefined, adapterArg: string | undefined): Promise<TrainedModel> {
  let adapterDir = adapterArg;
  let baseArg = modelArg && expandHome(modelArg);
  if (adapterDir !== undefined) adapterDir = requirePath(adapterDir, 'adapter', 'folder');
  if (adapterDir !== undefined && !existsSync(join(adapterDir, ADAPTER_CONFIG_NAME))) throw new UsageError(`--adapter ${adapterDir}: no adapter_config.json there`);
  if (baseArg && adapterDir === undefined && isDir(baseArg) && existsSync(join(baseArg, ADAPTER_CONFIG_NAME)) && !existsSync(join(baseArg, 'config.json'))) {
    adapterDir = baseArg;
    baseArg = undefined;
  }
  if (!baseArg) {
    if (!adapterDir) throw new UsageError('--model is required (the output folder of finetune train, a model folder or a Hub id)');
    baseArg = adapterBase(adapterDir);
  }
  const source = await resolveModelSource(baseArg);
  const baseRun = runConfigOf(source.dir);
  const adapterRun = runConfigOf(adapterDir);
  const runConfig = { ...baseRun, ...adapterRun };
  const baseLabels = typeof source.config.num_labels === 'number'
    ? source.config.num_labels
    : source.config.id2label && typeof source.config.id2label === 'object'
      ? Object.keys(source.config.id2label as object).length
      : typeof source.config.num_classes === 'number'
        ? source.config.num_classes
        : undefined;
  // An adapter's head may have another size than the base's (2 classes trained on a 5-class checkpoint):
  // the base is built with the adapter's, as the trained model was.
  const numLabels = (adapterDir ? await adapterHeadSize(adapterDir, adapterRun) : undefined) ?? baseLabels ?? (Array.isArray(runConfig.labels) ? runConfig.labels.length : undefined);
  const architecture = classificationArchitecture(source.modelType);
  let model: Module;
  let describe: string;
  let newlyInitialized: string[] = [];
  const loadNotes: string[] = [];
  if (source.kind === 'checkpoint' || source.kind === 'hub') {
    const loaded = await loadPretrained(source.arg, { architecture, numLabels, ignoreMismatchedSizes: numLabels !== baseLabels, warn: (m) => loadNotes.push(m.split('\n')[0]) });
    model = loaded.model;
    newlyInitialized = newlyInitializedModules(loaded.model, loaded.info);
    describe = `${source.arg}`;
  } else {
    if (!adapterDir) console.error(`note: ${source.arg} has no trained weights: the model is randomly initialised`);
    model = createModel(source.config, { architecture, numLabels, configSource: source.configFile ?? `--model ${source.arg}` });
    describe = `${source.arg} (random init)`;
  }
  if (adapterDir) {
    const peft = await PeftModel.fromPretrained(model, adapterDir, { warn: (m: string) => console.error(`note: ${m}`) } as never);
    if (existsSync(join(adapterDir, 'non_adapter_state.safetensors'))) await loadModelWeights(peft, adapterDir);
    model = peft;
    describe += ` + adapter ${adapterDir}`;
    // What the adapter trained whole replaces the base's random values; anything else stays random.
    const random = newlyInitialized.filter((path) => !savedWithAdapter(peft, path));
    if (random.length) {
      console.error(`warning: ${random.join(', ')}: not in the base checkpoint ${source.arg} nor in the adapter ${adapterDir}, so ${random.length > 1 ? 'they are' : 'it is'} random and each load gives other outputs; ` +
        `train the adapter with ${random.length > 1 ? 'these modules' : 'this module'} in modules_to_save (finetune train does so), or give the base it was trained on with --model`);
    }
  } else {
    for (const note of loadNotes) console.error(`note: ${note}`);
  }
  model.eval();
  const config = (model instanceof PeftModel ? model.model : model) as unknown as { config?: { id2label?: Record<string, string>; numLabels?: number; numClasses?: number } };
  const n = config.config?.numLabels ?? config.config?.numClasses ?? numLabels ?? 0;
  const generic = Array.from({ length: n }, (_, i) => `LABEL_${i}`);
  const own = generic.map((name, i) => config.config?.id2label?.[i] ?? name);
  const recorded = (run: Record<string, unknown>) => (Array.isArray(run.labels) && run.labels.length === n ? run.labels.map(String) : undefined);
  // The class names: what train recorded for the adapter, else the model's own (config.json, then its run_config.json) —
  // not when the head was rebuilt for an adapter of another size: the base's names are for its own classes.
  const headRebuilt = numLabels !== baseLabels;
  const named = (names: string[]) => names.some((name, i) => name !== generic[i]);
  let labels = recorded(adapterRun) ?? (headRebuilt ? undefined : named(own) ? own : recorded(baseRun)) ?? generic;
  // So that a merged model's config.json names the classes the adapter was trained on.
  if (labels.some((name, i) => name !== own[i])) setLabelNames(model instanceof PeftModel ? model.model : model, labels);
  if (labels.length === 0) labels = Array.from({ length: n }, (_, i) => String(i));
  return {
    model,
    modelType: source.modelType,
    labels,
    runConfig,
    dirs: [adapterDir, source.dir].filter((d): d is string => d !== undefined),
    config: source.config,
    describe,
    hubId: source.kind === 'hub' ? source.arg : undefined,
  };
}
