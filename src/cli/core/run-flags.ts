/** The flag tables the training commands share: the model, the data, the text tables, TrainingArguments and --config. */
import { TEXT_ENCODINGS } from '../../data/index.js';
import type { FlagTable } from './flags.js';
import { IMAGE_CHECK_FLAGS } from './data-check.js';
import { THREADS_FLAG } from './threads.js';
import { METHOD_FLAGS } from './method.js';

export const TASKS = ['text-classification', 'image-classification'] as const;
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

export const DATA_FLAGS: FlagTable = {
  task: {
    kind: 'string',
    group: 'Data',
    choices: TASKS,
    help: 'text-classification or image-classification (default: from the model and the data flags)',
  },
  'train-file': {
    kind: 'string',
    arg: 'FILE',
    group: 'Data',
    help: 'training data: .csv, .tsv or .jsonl with a text and a label column',
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

/** TrainingArguments, kebab-case. */
export const TRAINING_FLAGS: FlagTable = {
  'output-dir': {
    kind: 'string',
    arg: 'DIR',
    group: 'Training',
    trainingArg: 'outputDir',
    help: 'where checkpoints, logs, the model and the report go (default trainer_output)',
  },
  'num-train-epochs': { kind: 'number', group: 'Training', trainingArg: 'numTrainEpochs', help: 'epochs (default 3)' },
  'max-steps': {
    kind: 'integer',
    group: 'Training',
    trainingArg: 'maxSteps',
    help: 'optimizer steps; overrides --num-train-epochs',
  },
  'per-device-train-batch-size': {
    kind: 'integer',
    group: 'Training',
    trainingArg: 'perDeviceTrainBatchSize',
    help: 'batch size (default 8)',
  },
  'per-device-eval-batch-size': {
    kind: 'integer',
    group: 'Training',
    trainingArg: 'perDeviceEvalBatchSize',
    help: 'evaluation batch size (default 8)',
  },
  'learning-rate': {
    kind: 'number',
    keywords: ['auto'],
    arg: 'LR|auto',
    group: 'Training',
    trainingArg: 'learningRate',
    help: "peak learning rate (default: the method's rule, optim.defaultFineTuneLr; the plan prints why); auto: lr-find's valley on the training data first (the method's rule when the curve is flat)",
  },
  'lr-scheduler-type': {
    kind: 'string',
    group: 'Training',
    trainingArg: 'lrSchedulerType',
    arg: 'NAME',
    help: 'linear (default), cosine, constant, constant_with_warmup, polynomial, … (finetune schedule lists them)',
  },
  'lr-scheduler-kwargs': {
    kind: 'json',
    group: 'Training',
    trainingArg: 'lrSchedulerKwargs',
    help: 'extra schedule options as JSON, e.g. {"numCycles": 0.5}',
  },
  'warmup-ratio': {
    kind: 'number',
    group: 'Training',
    trainingArg: 'warmupRatio',
    help: 'linear warmup over this fraction of the steps',
  },
  'warmup-steps': {
    kind: 'integer',
    group: 'Training',
    trainingArg: 'warmupSteps',
    help: 'linear warmup over N steps',
  },
  'weight-decay': {
    kind: 'number',
    group: 'Training',
    trainingArg: 'weightDecay',
    help: 'AdamW weight decay (default 0; never on biases and LayerNorm)',
  },
  'weight-decay-rule': {
    kind: 'string',
    group: 'Training',
    trainingArg: 'weightDecayRule',
    choices: ['hf', 'timm'],
    help: 'which parameters are exempt from decay',
  },
  optim: {
    kind: 'string',
    group: 'Training',
    trainingArg: 'optim',
    choices: ['adamw_torch', 'adamw_torch_fused', 'adam', 'sgd'],
    help: 'optimizer (default adamw_torch)',
  },
  'adam-beta1': { kind: 'number', group: 'Training', trainingArg: 'adamBeta1', help: 'default 0.9' },
  'adam-beta2': { kind: 'number', group: 'Training', trainingArg: 'adamBeta2', help: 'default 0.999' },
  'adam-epsilon': { kind: 'number', group: 'Training', trainingArg: 'adamEpsilon', help: 'default 1e-8' },
  'sgd-momentum': { kind: 'number', group: 'Training', trainingArg: 'sgdMomentum', help: 'SGD momentum (default 0)' },
  'gradient-accumulation-steps': {
    kind: 'integer',
    group: 'Training',
    trainingArg: 'gradientAccumulationSteps',
    help: 'micro-batches per optimizer step (default 1)',
  },
  'max-grad-norm': {
    kind: 'number',
    group: 'Training',
    trainingArg: 'maxGradNorm',
    help: 'clip the gradient norm (default 1.0; 0: off)',
  },
  'label-smoothing-factor': {
    kind: 'number',
    group: 'Training',
    trainingArg: 'labelSmoothingFactor',
    help: 'label smoothing ε (default 0)',
  },
  'discriminative-lr': {
    kind: 'string',
    group: 'Training',
    arg: 'slice|FACTOR|lo:LR',
    help: "lower lrs for lower layer groups: 'slice' (lr/10), a factor per group (2.6, ULMFiT) or lo:1e-6 (geometric)",
  },
  'layerwise-lr-decay': {
    kind: 'number',
    group: 'Training',
    trainingArg: 'layerwiseLrDecay',
    help: "timm's layer-wise lr decay factor (0, 1]",
  },
  'eval-strategy': {
    kind: 'string',
    group: 'Evaluation and saving',
    trainingArg: 'evalStrategy',
    choices: ['no', 'steps', 'epoch'],
    help: 'when to evaluate (default: epoch when there is evaluation data, else no)',
  },
  'eval-steps': {
    kind: 'number',
    group: 'Evaluation and saving',
    trainingArg: 'evalSteps',
    help: 'evaluate every N steps (or a fraction of the run) with --eval-strategy steps',
  },
  'save-strategy': {
    kind: 'string',
    group: 'Evaluation and saving',
    trainingArg: 'saveStrategy',
    choices: ['no', 'steps', 'epoch'],
    help: 'when to write checkpoint-N/ (default steps; with --load-best-model-at-end: as --eval-strategy)',
  },
  'save-steps': {
    kind: 'number',
    group: 'Evaluation and saving',
    trainingArg: 'saveSteps',
    help: 'checkpoint every N steps (default 500; the last step is always saved)',
  },
  'save-total-limit': {
    kind: 'integer',
    group: 'Evaluation and saving',
    trainingArg: 'saveTotalLimit',
    help: 'keep the newest N checkpoints (and the best)',
  },
  'logging-strategy': {
    kind: 'string',
    group: 'Evaluation and saving',
    trainingArg: 'loggingStrategy',
    choices: ['no', 'steps', 'epoch'],
    help: 'when to log the loss (default steps)',
  },
  'logging-steps': {
    kind: 'number',
    group: 'Evaluation and saving',
    trainingArg: 'loggingSteps',
    help: 'log every N steps (default 500, or 2% of the run when that is fewer steps)',
  },
  'logging-first-step': {
    kind: 'boolean',
    group: 'Evaluation and saving',
    trainingArg: 'loggingFirstStep',
    help: 'log the first step too',
  },
  'load-best-model-at-end': {
    kind: 'boolean',
    group: 'Evaluation and saving',
    trainingArg: 'loadBestModelAtEnd',
    help: 'end with the best checkpoint by --metric-for-best-model',
  },
  'metric-for-best-model': {
    kind: 'string',
    group: 'Evaluation and saving',
    trainingArg: 'metricForBestModel',
    arg: 'NAME',
    help: 'loss (default), accuracy, f1, …',
  },
  'greater-is-better': {
    kind: 'boolean',
    group: 'Evaluation and saving',
    trainingArg: 'greaterIsBetter',
    help: 'default: false for losses, true otherwise',
  },
  'early-stopping-patience': {
    kind: 'integer',
    group: 'Evaluation and saving',
    trainingArg: 'earlyStoppingPatience',
    help: 'stop after N evaluations without improvement',
  },
  'early-stopping-threshold': {
    kind: 'number',
    group: 'Evaluation and saving',
    trainingArg: 'earlyStoppingThreshold',
    help: 'how much better counts as an improvement (default 0)',
  },
  'resume-from-checkpoint': {
    kind: 'optional-string',
    group: 'Evaluation and saving',
    trainingArg: 'resumeFromCheckpoint',
    help: 'continue from the newest checkpoint-N/ in --output-dir, or from PATH',
  },
  seed: {
    kind: 'integer',
    group: 'Run',
    trainingArg: 'seed',
    help: 'seeds initialisation, dropout and the data order (default 42)',
  },
  'data-seed': {
    kind: 'integer',
    group: 'Run',
    trainingArg: 'dataSeed',
    help: 'seeds the data order only (default: --seed)',
  },
  'nan-policy': {
    kind: 'string',
    group: 'Run',
    trainingArg: 'nanPolicy',
    choices: ['stop', 'skip'],
    help: 'on a NaN/Inf loss: stop (exit 3; default) or skip the update',
  },
  'dataloader-drop-last': {
    kind: 'boolean',
    group: 'Run',
    trainingArg: 'dataloaderDropLast',
    help: 'drop the last incomplete batch',
  },
  ...THREADS_FLAG,
  'disable-tqdm': { kind: 'boolean', group: 'Run', trainingArg: 'disableTqdm', help: 'no progress bar' },
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
