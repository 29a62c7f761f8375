/** The flag tables the training commands share: the model, the data, the text tables, TrainingArguments and --config. */
import { TEXT_ENCODINGS } from '../../data/index.js';
import { type FlagTable } from './flags.js';
import { settingFlags } from './setting-flags.js';
import { IMAGE_CHECK_FLAGS } from './data-check.js';
import { METHOD_FLAGS } from './method.js';

export const TASKS = ['text-classification', 'image-classification', 'causal-lm'] as const;
export type Task = (typeof TASKS)[number];

export const CONFIG_FLAG: FlagTable = {
  config: {
    kind: 'string',
    arg: 'FILE.yaml',
    group: 'Model',
    help: 'read options from a YAML file (same keys as the flags, kebab or snake case); flags override it',
  },
};

export const MODEL_FLAGS: FlagTable = {
  model: {
    kind: 'string',
    arg: 'PRESET|DIR|HUB_ID',
    group: 'Model',
    help: 'a preset (random init: bert-tiny, bert-base-uncased, vit-tiny, resnet18, …), a folder with config.json (+ model.safetensors), or a Hub id',
  },
  tokenizer: {
    kind: 'string',
    arg: 'DIR|FILE',
    group: 'Model',
    help: "tokenizer.json or its folder (default: the model folder's, the Hub repo's, else data/bert-base-uncased for BERT)",
  },
  'num-labels': {
    kind: 'integer',
    group: 'Model',
    help: 'classes of the head (default: the labels in the training data)',
  },
};

/** How a text table is read: every command that reads one takes these. */
export const TABLE_FLAGS: FlagTable = {
  encoding: {
    kind: 'string',
    arg: 'NAME',
    group: 'Data',
    help: `the text files' encoding: ${TEXT_ENCODINGS.join(', ')} (default utf-8; a byte-order mark decides)`,
  },
  delimiter: {
    kind: 'string',
    arg: 'CHAR',
    group: 'Data',
    help: "the field delimiter of .csv / .tsv files: ',', ';', '|' or tab (default: found from the header line)",
  },
};

/** The data flags of --task causal-lm (next-token training of a decoder). */
export const CAUSAL_LM_FLAGS: FlagTable = {
  'text-file': {
    kind: 'string',
    arg: 'FILE',
    group: 'Data',
    help: 'causal-lm: the training text, a .txt (one text per line, packed) or a .jsonl / .csv / .tsv with a text column (--text-column, default text)',
  },
  'prompt-column': {
    kind: 'string',
    arg: 'NAME',
    group: 'Data',
    help: "causal-lm: prompt/response pairs (with --response-column): the loss on the response only, in the tokenizer's chat template when it has one",
  },
  'response-column': {
    kind: 'string',
    arg: 'NAME',
    group: 'Data',
    help: 'causal-lm: the response column of prompt/response pairs (with --prompt-column)',
  },
  'messages-column': {
    kind: 'string',
    arg: 'NAME',
    group: 'Data',
    help: "causal-lm: a JSONL column of conversations ([{role, content}, …]) in the tokenizer's chat template, the loss on the assistant turns",
  },
  'block-size': {
    kind: 'integer',
    group: 'Data',
    help: "causal-lm: tokens per example (default: the model's positions, at most 1024)",
  },
  packing: {
    kind: 'boolean',
    group: 'Data',
    help: 'causal-lm: concatenate the texts and cut them into full blocks, the remainder dropped (default true for plain text, false for pairs and conversations; --packing false turns it off)',
  },
  'sample-prompt': {
    kind: 'strings',
    arg: 'TEXT',
    group: 'Data',
    trainingArg: 'samplePrompts',
    help: 'causal-lm: a prompt continued greedily at each evaluation, shown and kept in the report (repeatable)',
  },
  'sample-max-new-tokens': {
    kind: 'integer',
    group: 'Data',
    trainingArg: 'sampleMaxNewTokens',
    help: 'causal-lm: tokens each --sample-prompt is continued by (default 20)',
  },
};

export const DATA_FLAGS: FlagTable = {
  task: {
    kind: 'string',
    group: 'Data',
    choices: TASKS,
    help: 'text-classification, image-classification or causal-lm (default: causal-lm for a *ForCausalLM / GPT2LMHeadModel, else from the model and the data flags)',
  },
  'train-file': {
    kind: 'string',
    arg: 'FILE',
    group: 'Data',
    help: 'training data: .csv, .tsv or .jsonl with a text and a label column (causal-lm: the same as --text-file)',
  },
  'eval-file': {
    kind: 'string',
    arg: 'FILE',
    group: 'Data',
    help: 'evaluation data, same format (or --validation-split)',
  },
  'validation-split': {
    kind: 'number',
    arg: 'FRACTION',
    group: 'Data',
    help: 'hold out this fraction of the training data (stratified, seeded) for evaluation',
  },
  'text-column': {
    kind: 'string',
    arg: 'NAME',
    group: 'Data',
    help: 'the text column (default: text, sentence, content, review, … or the only non-label column)',
  },
  'eval-text-column': {
    kind: 'string',
    arg: 'NAME',
    group: 'Data',
    help: "the eval file's text column when it differs (default: detected as for --text-column)",
  },
  'text-pair-column': {
    kind: 'string',
    arg: 'NAME',
    group: 'Data',
    help: 'the second text of a pair (NLI, paraphrase)',
  },
  'label-column': {
    kind: 'string',
    arg: 'NAME',
    group: 'Data',
    help: 'the label column (default: label, labels, target, class, category)',
  },
  labels: {
    kind: 'list',
    arg: 'A,B,…',
    group: 'Data',
    help: 'label names in id order (default: the sorted values; a 0/1 column reads as ids when names are given; rows with other labels are bad rows)',
  },
  'allow-rare-labels': {
    kind: 'boolean',
    group: 'Data',
    help: 'keep labels with very few rows as classes (default: an error naming their rows, as they are most often typos or strays)',
  },
  'max-length': {
    kind: 'integer',
    group: 'Data',
    help: "longest tokenised input, special tokens included (default: the tokenizer's model_max_length, else 512)",
  },
  'image-folder': {
    kind: 'string',
    arg: 'DIR',
    group: 'Data',
    help: 'images in DIR/<class>/… (or DIR/train/<class>/… and DIR/val/<class>/…)',
  },
  'eval-folder': { kind: 'string', arg: 'DIR', group: 'Data', help: 'evaluation images in DIR/<class>/…' },
  'fashion-mnist': {
    kind: 'boolean',
    group: 'Data',
    help: "Fashion-MNIST (train split; the test split for evaluation) from Debian's dataset-fashion-mnist or $FASHION_MNIST_DIR",
  },
  'image-size': {
    kind: 'integer',
    group: 'Data',
    help: "images are resized to N×N (default: the model's image size, else 224)",
  },
  ...CAUSAL_LM_FLAGS,
  'max-train-samples': { kind: 'integer', group: 'Data', help: 'use the first N training examples' },
  'max-eval-samples': { kind: 'integer', group: 'Data', help: 'use the first N evaluation examples' },
  'skip-bad-rows': {
    kind: 'boolean',
    group: 'Data',
    help: 'leave out bad rows / image files (counted, and the first few named on stderr) instead of stopping',
  },
  ...IMAGE_CHECK_FLAGS,
  ...TABLE_FLAGS,
};

/** TrainingArguments as flags (their kinds, help and defaults from TRAINING_SETTINGS), and --report. */
export const TRAINING_FLAGS: FlagTable = {
  ...settingFlags(),
  report: {
    kind: 'boolean',
    group: 'Run',
    help: 'write report.html and PNGs at the end (default true; --report=false skips)',
  },
};

export const TRAIN_FLAGS: FlagTable = {
  ...CONFIG_FLAG,
  ...MODEL_FLAGS,
  ...DATA_FLAGS,
  ...METHOD_FLAGS,
  ...TRAINING_FLAGS,
};
