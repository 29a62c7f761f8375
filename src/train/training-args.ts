/**
 * TrainingArguments: the Trainer's settings, named as Hugging Face's TrainingArguments where
 * they overlap (camelCase of the Python names, same defaults and the same consistency rules),
 * plus finetune's own: the fine-tuning strategy, discriminative / layer-wise learning rates, what
 * to do on a non-finite loss, early stopping and threads. Everything is checked on construction,
 * with errors that name the setting.
 *
 *   const args = new TrainingArguments({ outputDir: 'out', numTrainEpochs: 3, evalStrategy: 'epoch',
 *     saveStrategy: 'epoch', loadBestModelAtEnd: true, metricForBestModel: 'accuracy',
 *     strategy: new LoraConfig({ taskType: 'SEQ_CLS', r: 8, loraAlpha: 32, targetModules: ['query', 'value'] }) });
 */
import { MAX_THREADS } from '../tensor/index.js';
import {
  methodOfStrategy,
  PeftConfig,
  peftConfigFromJson,
  type GradualUnfreezingStrategy,
  strategyKinds,
  type MethodStrategy,
} from '../peft/index.js';
import { isUnfreezeSchedule } from '../peft/gradual-unfreezing.js';
import { SCHEDULE_NAMES, type ScheduleName } from '../optim/index.js';
import type { WeightDecayRule } from '../optim/index.js';
import { DEVICE_SETTING, type DeviceSetting } from './device.js';

/** When to evaluate, save or log: never, every N optimizer steps, or at each epoch's end. */
export type IntervalStrategy = 'no' | 'steps' | 'epoch';

/** The optimizers the Trainer builds (HF's names). */
export type OptimizerName = 'adamw_torch' | 'adamw_torch_fused' | 'adam' | 'sgd';
export const OPTIMIZER_NAMES: readonly OptimizerName[] = ['adamw_torch', 'adamw_torch_fused', 'adam', 'sgd'];

export type { GradualUnfreezingStrategy };

/**
 * Which parameters train: a freezing strategy (`{ kind: 'full' | 'head' | 'top-k' | 'bitfit' | 'ln' }`),
 * a PEFT config (the Trainer wraps the model with getPeftModel), or gradual unfreezing — what a
 * fine-tuning method builds (peft's MethodStrategy). The kinds accepted are those the registered
 * methods declare (peft's strategyKinds).
 */
export type TrainingStrategy = MethodStrategy;

/**
 * fastai's discriminative learning rates, the head at `learningRate`: 'slice' (fastai's `slice(lr)`:
 * every other group at lr/10), `{ factor }` (ULMFiT: lr / factor^(distance from the head), 2.6 in
 * the paper) or `{ lo }` (geometric from lo at the input side to lr at the head).
 */
export type DiscriminativeLrSetting = 'slice' | { factor: number } | { lo: number };

/** What to do when the loss (or the gradient norm) is NaN or infinite. */
export type NanPolicy = 'stop' | 'skip';

/** How a setting is written on a command line (the CLI's flag kinds; json: an object, optional-string: a path or nothing). */
export type SettingKind = 'string' | 'number' | 'integer' | 'boolean' | 'json' | 'optional-string';

/** The command-line flag of a setting (`finetune train` and the commands that share its flags). */
export interface SettingFlag {
  kind: SettingKind;
  /** The section of `--help` it is listed in. */
  group: 'Training' | 'Evaluation and saving' | 'Run' | 'Method';
  /** The flag's name when it is not the setting's in kebab-case. */
  name?: string;
  /** The value's name in the help. */
  arg?: string;
  choices?: readonly string[];
  /** Words a number flag also takes (`--learning-rate auto`), resolved by the CLI. */
  keywords?: readonly string[];
  /** The help on the command line, when the CLI's default differs from the library's (it decides by the data, say). */
  help?: string;
  /** The CLI reads the flag's text into the setting itself (a form other than the setting's value). */
  parsedByCli?: boolean;
}

/**
 * One setting of TrainingArguments: its help (other settings named in backticks), its default (a
 * value, or derived from the settings resolved before it), its check, and its command-line flag.
 * `Option` is what the constructor takes, `Value` what the field holds.
 */
export interface Setting<Option, Value> {
  /** The option's type, for TrainingArgumentsOptions (a type only; never set). */
  readonly [OPTION_TYPE]?: Option;
  help: string;
  default: Value;
  /** A default computed from the other settings (given or defaulted); applied in table order. */
  derive?: (settings: Readonly<Record<string, unknown>>) => Value;
  /** What the field holds for a given option (a copy, say); default: the option itself. */
  from?: (option: Exclude<Option, undefined>) => Value;
  /** Whether `--help` shows '(default …)': by default for numbers, strings and true that are not derived. */
  showDefault?: boolean;
  /** Throws (through fail) when the value is not one the setting takes. */
  check?: (value: Value, name: string) => void;
  flag?: SettingFlag;
}

declare const OPTION_TYPE: unique symbol;

function setting<Option, Value = Exclude<Option, undefined>>(spec: Setting<Option, Value>): Setting<Option, Value> {
  return spec;
}

const INTERVAL_CHOICES: readonly IntervalStrategy[] = ['no', 'steps', 'epoch'];

/**
 * Every setting, declared once: the constructor's options, the fields, their defaults and checks,
 * training_args.json (in this order), the known-keys check and the CLI's flags and help derive from
 * it (transformers' TrainingArguments fields with metadata={"help": …}). Checks that relate two
 * settings are in TrainingArguments.validate.
 */
export const TRAINING_SETTINGS = {
  outputDir: setting<string>({
    help: 'where checkpoints, logs, the model and the report go',
    default: 'trainer_output',
    check: (v, name) => {
      if (typeof v !== 'string' || v === '') fail(`${name} must be a non-empty path, got ${show(v)}`);
    },
    flag: { kind: 'string', arg: 'DIR', group: 'Training' },
  }),
  numTrainEpochs: setting<number>({
    help: 'epochs; may be fractional; ignored when `maxSteps` > 0',
    default: 3,
    flag: { kind: 'number', group: 'Training' },
  }),
  maxSteps: setting<number>({
    help: 'optimizer steps; > 0 overrides `numTrainEpochs` (-1: train `numTrainEpochs`)',
    default: -1,
    showDefault: false,
    check: (v, name) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || (v < 1 && v !== -1))
        fail(`${name} must be a positive integer, or -1 to train numTrainEpochs, got ${show(v)}`);
    },
    flag: { kind: 'integer', group: 'Training' },
  }),
  perDeviceTrainBatchSize: setting<number>({
    help: 'batch size',
    default: 8,
    check: positiveInteger,
    flag: { kind: 'integer', group: 'Training' },
  }),
  perDeviceEvalBatchSize: setting<number>({
    help: 'evaluation batch size',
    default: 8,
    check: positiveInteger,
    flag: { kind: 'integer', group: 'Training' },
  }),
  learningRate: setting<number, number | undefined>({
    help: "the peak learning rate (default: optim.defaultFineTuneLr's for the strategy and the model, printed with the plan)",
    default: undefined,
    check: (v, name) => {
      if (v !== undefined && !(typeof v === 'number' && v > 0 && Number.isFinite(v)))
        fail(`${name} must be a number > 0, got ${show(v)} (leave it out for the strategy's default)`);
    },
    flag: {
      kind: 'number',
      keywords: ['auto'],
      arg: 'LR|auto',
      group: 'Training',
      help: "peak learning rate (default: the method's rule, optim.defaultFineTuneLr; the plan prints why); auto: lr-find's valley on the training data first (the method's rule when the curve is flat)",
    },
  }),
  weightDecay: setting<number>({
    help: 'AdamW weight decay (L2 for Adam and SGD); never on biases and LayerNorm weights (`weightDecayRule`)',
    default: 0,
    check: nonNegative,
    flag: { kind: 'number', group: 'Training' },
  }),
  adamBeta1: setting<number>({
    help: "Adam's β1",
    default: 0.9,
    check: unitInterval,
    flag: { kind: 'number', group: 'Training' },
  }),
  adamBeta2: setting<number>({
    help: "Adam's β2",
    default: 0.999,
    check: unitInterval,
    flag: { kind: 'number', group: 'Training' },
  }),
  adamEpsilon: setting<number>({
    help: "Adam's ε",
    default: 1e-8,
    check: nonNegative,
    flag: { kind: 'number', group: 'Training' },
  }),
  sgdMomentum: setting<number>({
    help: "SGD's momentum",
    default: 0,
    check: nonNegative,
    flag: { kind: 'number', group: 'Training' },
  }),
  optim: setting<OptimizerName>({
    help: 'the optimizer',
    default: 'adamw_torch',
    check: (v, name) => oneOf(name, v, OPTIMIZER_NAMES),
    flag: { kind: 'string', group: 'Training', choices: OPTIMIZER_NAMES },
  }),
  lrSchedulerType: setting<ScheduleName>({
    help: 'the learning-rate schedule: linear, cosine, constant, constant_with_warmup, polynomial, … (finetune schedule lists and plots them)',
    default: 'linear',
    check: (v, name) => oneOf(name, v, SCHEDULE_NAMES),
    flag: { kind: 'string', arg: 'NAME', group: 'Training' },
  }),
  lrSchedulerKwargs: setting<Record<string, unknown>>({
    help: 'extra options of the schedule, camelCase (numCycles, minLr, lrEnd, power, …; for reduce_lr_on_plateau: factor, patience, …), e.g. {"numCycles": 0.5}',
    default: {},
    from: (given) => ({ ...given }),
    check: (v, name) => {
      if (typeof v !== 'object' || Array.isArray(v)) fail(`${name} must be an object of the schedule's options`);
    },
    flag: { kind: 'json', group: 'Training' },
  }),
  warmupSteps: setting<number>({
    help: 'linear warmup over N optimizer steps',
    default: 0,
    check: nonNegativeInteger,
    flag: { kind: 'integer', group: 'Training' },
  }),
  warmupRatio: setting<number>({
    help: 'linear warmup over this fraction of the steps, ceil(steps × ratio); give `warmupSteps` or `warmupRatio`, not both',
    default: 0,
    check: (v, name) => {
      if (!(typeof v === 'number' && v >= 0 && v <= 1)) fail(`${name} must be in [0, 1], got ${show(v)}`);
    },
    flag: { kind: 'number', group: 'Training' },
  }),
  gradientAccumulationSteps: setting<number>({
    help: 'micro-batches per optimizer step',
    default: 1,
    check: positiveInteger,
    flag: { kind: 'integer', group: 'Training' },
  }),
  maxGradNorm: setting<number>({
    help: 'clip the global gradient norm to this; 0 turns clipping off (the norm is still logged)',
    default: 1.0,
    check: nonNegative,
    flag: { kind: 'number', group: 'Training' },
  }),
  evalStrategy: setting<IntervalStrategy>({
    help: "when to evaluate: never, every `evalSteps` or at each epoch's end",
    default: 'no',
    check: (v, name) => oneOf(name, v, INTERVAL_CHOICES),
    flag: {
      kind: 'string',
      group: 'Evaluation and saving',
      choices: INTERVAL_CHOICES,
      help: 'when to evaluate (default: epoch when there is evaluation data, else no)',
    },
  }),
  evalSteps: setting<number | null, number>({
    help: 'evaluate every N steps (or a fraction in (0, 1) of the run) with `evalStrategy` steps (default: `loggingSteps`)',
    default: 500,
    derive: (settings) => settings.loggingSteps as number,
    check: stepsSetting,
    flag: { kind: 'number', group: 'Evaluation and saving' },
  }),
  saveStrategy: setting<IntervalStrategy>({
    help: 'when to write checkpoint-N/',
    default: 'steps',
    check: (v, name) => oneOf(name, v, INTERVAL_CHOICES),
    flag: {
      kind: 'string',
      group: 'Evaluation and saving',
      choices: INTERVAL_CHOICES,
      help: 'when to write checkpoint-N/ (default steps; with --load-best-model-at-end: as --eval-strategy)',
    },
  }),
  saveSteps: setting<number>({
    help: 'checkpoint every N steps (or a fraction of the run); the last step is always saved',
    default: 500,
    check: stepsSetting,
    flag: { kind: 'number', group: 'Evaluation and saving' },
  }),
  saveTotalLimit: setting<number | null>({
    help: 'keep only the newest N checkpoints (and the best one, with `loadBestModelAtEnd`); default all',
    default: null,
    check: optionalPositiveInteger,
    flag: { kind: 'integer', group: 'Evaluation and saving' },
  }),
  loggingStrategy: setting<IntervalStrategy>({
    help: 'when to log the loss',
    default: 'steps',
    check: (v, name) => oneOf(name, v, INTERVAL_CHOICES),
    flag: { kind: 'string', group: 'Evaluation and saving', choices: INTERVAL_CHOICES },
  }),
  loggingSteps: setting<number>({
    help: 'log every N steps (or a fraction of the run)',
    default: 500,
    check: stepsSetting,
    flag: {
      kind: 'number',
      group: 'Evaluation and saving',
      help: 'log every N steps (default 500, or 2% of the run when that is fewer steps)',
    },
  }),
  loggingFirstStep: setting<boolean>({
    help: 'log the first step too',
    default: false,
    flag: { kind: 'boolean', group: 'Evaluation and saving' },
  }),
  device: setting<DeviceSetting>({
    help: 'where to train: cpu, cuda (the first GPU; with several processes, the GPU of each LOCAL_RANK), cuda:N, or auto (cuda when this libtorch has CUDA and sees a GPU, else cpu)',
    default: 'auto',
    check: (v, name) => {
      if (typeof v !== 'string' || !DEVICE_SETTING.test(v))
        fail(`${name} must be auto, cpu, cuda or cuda:N (N a GPU's index), got ${show(v)}`);
    },
    flag: { kind: 'string', arg: 'auto|cpu|cuda|cuda:N', group: 'Run' },
  }),
  seed: setting<number>({
    help: 'seeds initialisation, dropout and the data order (at the start of train())',
    default: 42,
    check: nonNegativeInteger,
    flag: { kind: 'integer', group: 'Run' },
  }),
  dataSeed: setting<number | null>({
    help: 'seeds the data order only (default: `seed`)',
    default: null,
    check: (v, name) => {
      if (v !== null) nonNegativeInteger(v, name);
    },
    flag: { kind: 'integer', group: 'Run' },
  }),
  loadBestModelAtEnd: setting<boolean>({
    help: 'end with the best checkpoint by `metricForBestModel`',
    default: false,
    flag: { kind: 'boolean', group: 'Evaluation and saving' },
  }),
  metricForBestModel: setting<string | null>({
    help: "loss (the default with `loadBestModelAtEnd` or early stopping), accuracy, f1, … (with or without 'eval_')",
    default: null,
    // HF: metric_for_best_model defaults to 'loss' with load_best_model_at_end (and here with early stopping).
    derive: (settings) => (settings.loadBestModelAtEnd || settings.earlyStoppingPatience !== null ? 'loss' : null),
    check: (v, name) => {
      if (v !== null && (typeof v !== 'string' || v === ''))
        fail(`${name} must be a metric name such as 'loss' or 'accuracy', got ${show(v)}`);
    },
    flag: { kind: 'string', arg: 'NAME', group: 'Evaluation and saving' },
  }),
  greaterIsBetter: setting<boolean | null>({
    help: 'whether a greater `metricForBestModel` is better (default: false for losses, true otherwise)',
    default: null,
    derive: (settings) =>
      settings.metricForBestModel !== null ? !(settings.metricForBestModel as string).endsWith('loss') : null,
    flag: { kind: 'boolean', group: 'Evaluation and saving' },
  }),
  gradientCheckpointing: setting<boolean>({
    help: "recompute each layer's activations in backward instead of keeping them from forward: less memory for more time (HF's gradient_checkpointing; BERT, ViT and ResNet layers)",
    default: false,
    flag: { kind: 'boolean', group: 'Training' },
  }),
  paddingFree: setting<boolean>({
    help: "run the layers' per-token work on the real tokens only, skipping the padding of each batch (attention still sees the padded batch): the same outputs for fewer operations, with dropout's random masks drawn over fewer elements; false computes the padding as transformers does (BERT)",
    default: true,
    flag: { kind: 'boolean', group: 'Training' },
  }),
  samplePrompts: setting<string[]>({
    help: 'causal LMs: prompts continued greedily at each evaluation, logged as `sample: "…"` lines and kept in the log history (sample_1, sample_2, …)',
    default: [],
    check: (v, name) => {
      if (!Array.isArray(v) || v.some((p) => typeof p !== 'string' || p === ''))
        fail(`${name} must be a list of non-empty strings, got ${show(v)}`);
    },
  }),
  sampleMaxNewTokens: setting<number>({
    help: 'the tokens each of `samplePrompts` is continued by',
    default: 20,
    check: (v, name) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
        fail(`${name} must be a positive integer, got ${show(v)}`);
    },
  }),
  bf16: setting<boolean>({
    help: "mixed precision: forward and loss under bfloat16 autocast, weights and optimizer state in float32 (HF's bf16); fast where the hardware has bfloat16 units (GPUs since Ampere, CPUs with AMX or AVX512-BF16)",
    default: false,
    flag: { kind: 'boolean', group: 'Training' },
  }),
  fp16: setting<boolean>({
    help: "mixed precision: forward and loss under float16 autocast with a dynamic loss scale (GradScaler: an update with inf/NaN gradients is skipped and the scale halved), weights and optimizer state in float32 (HF's fp16)",
    default: false,
    flag: { kind: 'boolean', group: 'Training' },
  }),
  cacheFrozenFeatures: setting<boolean | 'auto'>({
    help: "train the layer groups above the frozen ones on the frozen part's outputs, computed once per example (head, top-k; the frozen part runs in eval mode: dropout off there, unlike transformers' head-only run); 'auto': only where that applies and pays off (the plan says why not otherwise)",
    default: false,
    check: (v, name) => {
      if (v !== true && v !== false && v !== 'auto') fail(`${name} must be true, false or 'auto', got ${show(v)}`);
    },
    flag: { kind: 'optional-string', group: 'Training', arg: '[auto]', choices: ['auto'] },
  }),
  labelSmoothingFactor: setting<number>({
    help: "label smoothing ε: cross entropy against labels smoothed by ε (0: the model's own loss)",
    default: 0,
    check: (v, name) => {
      if (!(typeof v === 'number' && v >= 0 && v < 1)) fail(`${name} must be in [0, 1), got ${show(v)}`);
    },
    flag: { kind: 'number', group: 'Training' },
  }),
  resumeFromCheckpoint: setting<boolean | string | null>({
    help: 'continue from the newest valid checkpoint-N/ in `outputDir` (true), or from a checkpoint folder',
    default: null,
    check: (v, name) => {
      if (v !== null && typeof v !== 'boolean' && (typeof v !== 'string' || v === ''))
        fail(`${name} must be true (the newest checkpoint in outputDir) or a checkpoint folder, got ${show(v)}`);
    },
    flag: {
      kind: 'optional-string',
      group: 'Evaluation and saving',
      help: 'continue from the newest checkpoint-N/ in --output-dir, or from PATH',
    },
  }),
  dataloaderDropLast: setting<boolean>({
    help: 'drop the last incomplete batch',
    default: false,
    flag: { kind: 'boolean', group: 'Run' },
  }),
  dataloaderPrefetch: setting<number>({
    help: 'batches the DataLoader prepares ahead (0: on demand)',
    default: 2,
    check: nonNegativeInteger,
  }),
  ddpFindUnusedParameters: setting<boolean>({
    help: "with several processes: find the parameters a forward leaves without a gradient (a skipped branch) and average the others without them (HF's ddp_find_unused_parameters; costs a graph walk a step)",
    default: false,
    flag: { kind: 'boolean', group: 'Run' },
  }),
  ddpBucketCapMb: setting<number | null>({
    help: "with several processes: the most megabytes of gradients one allreduce carries (HF's ddp_bucket_cap_mb; default DDP's 25)",
    default: null,
    check: (v, name) => {
      if (v !== null && !(typeof v === 'number' && v > 0)) fail(`${name} must be a number > 0, got ${show(v)}`);
    },
    flag: { kind: 'number', group: 'Run' },
  }),
  ddpBroadcastBuffers: setting<boolean>({
    help: "with several processes: rank 0's buffers (BatchNorm's running statistics) broadcast before each forward (HF's ddp_broadcast_buffers)",
    default: true,
    flag: { kind: 'boolean', group: 'Run' },
  }),
  disableTqdm: setting<boolean>({
    help: "no progress bar (HF's disable_tqdm)",
    default: false,
    flag: { kind: 'boolean', group: 'Run' },
  }),
  // ---- finetune's own ----
  strategy: setting<TrainingStrategy | null>({
    help: 'which parameters train (default: the model as given)',
    default: null,
  }),
  trainBatchNorm: setting<boolean>({
    help: "freezing methods keep BatchNorm trainable in frozen groups, as fastai's train_bn",
    default: true,
    flag: { kind: 'boolean', name: 'train-bn', group: 'Method' },
  }),
  discriminativeLr: setting<DiscriminativeLrSetting | null>({
    help: "lower lrs for lower layer groups: 'slice' (lr/10), { factor } per group (2.6, ULMFiT) or { lo } (geometric from lo to lr)",
    default: null,
    check: (v, name) => {
      if (v === null) return;
      const d = v as unknown;
      const valid =
        d === 'slice' ||
        (typeof d === 'object' &&
          d !== null &&
          Object.keys(d).length === 1 &&
          (('factor' in d && (d as { factor: number }).factor > 0) || ('lo' in d && (d as { lo: number }).lo > 0)));
      if (!valid)
        fail(`${name} must be 'slice', { factor } (e.g. 2.6) or { lo } with a positive number, got ${show(d)}`);
    },
    flag: {
      kind: 'string',
      arg: 'slice|FACTOR|lo:LR',
      group: 'Training',
      parsedByCli: true,
      help: "lower lrs for lower layer groups: 'slice' (lr/10), a factor per group (2.6, ULMFiT) or lo:1e-6 (geometric)",
    },
  }),
  layerwiseLrDecay: setting<number | null>({
    help: "timm's layer-wise lr decay factor in (0, 1]: the head at `learningRate`, each group below × the factor",
    default: null,
    check: (v, name) => {
      if (v !== null && !(typeof v === 'number' && v > 0 && v <= 1)) fail(`${name} must be in (0, 1], got ${show(v)}`);
    },
    flag: { kind: 'number', group: 'Training' },
  }),
  weightDecayRule: setting<WeightDecayRule>({
    help: "which parameters are exempt from weight decay: hf (HF Trainer's rule) or timm",
    default: 'hf',
    check: (v, name) => oneOf(name, v, ['hf', 'timm']),
    flag: { kind: 'string', group: 'Training', choices: ['hf', 'timm'] },
  }),
  nanPolicy: setting<NanPolicy>({
    help: 'on a NaN/Inf loss or gradient norm: stop (throw, naming the step) or skip the update and count it',
    default: 'stop',
    check: (v, name) => oneOf(name, v, ['stop', 'skip']),
    flag: {
      kind: 'string',
      group: 'Run',
      choices: ['stop', 'skip'],
      help: 'on a NaN/Inf loss: stop (exit 3; default) or skip the update',
    },
  }),
  earlyStoppingPatience: setting<number | null>({
    help: "stop after N evaluations without improvement of `metricForBestModel` (HF's EarlyStoppingCallback)",
    default: null,
    check: optionalPositiveInteger,
    flag: { kind: 'integer', group: 'Evaluation and saving' },
  }),
  earlyStoppingThreshold: setting<number>({
    help: 'how much better counts as an improvement',
    default: 0,
    check: nonNegative,
    flag: { kind: 'number', group: 'Evaluation and saving' },
  }),
  threads: setting<number | null>({
    help: 'libtorch intra-op threads (default: all cores; on a shared or busy machine, 1)',
    default: null,
    check: (v, name) => {
      if (v === null) return;
      positiveInteger(v, name);
      if (v > MAX_THREADS) fail(`${name} must be at most ${MAX_THREADS}, got ${show(v)}`);
    },
    flag: { kind: 'integer', group: 'Run' },
  }),
};

export type TrainingSettingName = keyof typeof TRAINING_SETTINGS;
type OptionOf<S> = S extends { readonly [OPTION_TYPE]?: infer Option } ? Option : never;
type ValueOf<S> = S extends { default: infer Value } ? Value : never;

/** TrainingArguments' options: every setting, each optional (TRAINING_SETTINGS says what each does and its default). */
export type TrainingArgumentsOptions = { [K in TrainingSettingName]?: OptionOf<(typeof TRAINING_SETTINGS)[K]> };
/** The fields of a TrainingArguments: every setting resolved. */
export type TrainingArgumentsFields = { readonly [K in TrainingSettingName]: ValueOf<(typeof TRAINING_SETTINGS)[K]> };

const SETTING_NAMES = Object.keys(TRAINING_SETTINGS) as TrainingSettingName[];

function fail(message: string): never {
  throw new Error(`TrainingArguments: ${message}`);
}

function show(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : (JSON.stringify(value) ?? String(value));
}

function positiveInteger(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 1) fail(`${name} must be a positive integer, got ${show(value)}`);
}

function optionalPositiveInteger(value: number | null, name: string): void {
  if (value !== null) positiveInteger(value, name);
}

function nonNegativeInteger(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0) fail(`${name} must be an integer ≥ 0, got ${show(value)}`);
}

function nonNegative(value: number, name: string): void {
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value))
    fail(`${name} must be a finite number ≥ 0, got ${show(value)}`);
}

function unitInterval(value: number, name: string): void {
  if (!(typeof value === 'number' && value >= 0 && value < 1)) fail(`${name} must be in [0, 1), got ${show(value)}`);
}

function oneOf<T extends string>(name: string, value: T, allowed: readonly T[]): void {
  if (!allowed.includes(value))
    fail(`${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${show(value)}`);
}

/** A steps setting: a positive integer, or a fraction in (0, 1) of the total steps (HF's rule). */
function stepsSetting(value: number, name: string): void {
  if (typeof value !== 'number' || !(value > 0) || (value > 1 && !Number.isInteger(value))) {
    fail(`${name} must be a positive integer, or a fraction in (0, 1) of the total steps, got ${show(value)}`);
  }
}

/** Describes a strategy in a line, for the plan and training_args.json. */
export function describeStrategy(strategy: TrainingStrategy | null): string {
  if (!strategy) return 'as given';
  const method = methodOfStrategy(strategy);
  return method.describeStrategy?.(strategy) ?? method.name;
}

// The fields are the settings' (TrainingArgumentsFields), declared by TRAINING_SETTINGS and all assigned by the constructor.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-declaration-merging
export interface TrainingArguments extends TrainingArgumentsFields {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class TrainingArguments {
  /** Every setting: the option given, else its default (TRAINING_SETTINGS); checked, errors naming the setting. */
  constructor(options: TrainingArgumentsOptions = {}) {
    if (typeof options !== 'object' || options === null) fail(`expected an options object, got ${show(options)}`);
    const given = options as Record<string, unknown>;
    const unknown = Object.keys(given).filter(
      (key) => !Object.hasOwn(TRAINING_SETTINGS, key) && given[key] !== undefined,
    );
    if (unknown.length) fail(`unknown option(s) ${unknown.join(', ')} (known: ${SETTING_NAMES.join(', ')})`);
    // Given values and plain defaults first, then the derived defaults (in table order: each may read those before it).
    const fields: Record<string, unknown> = {};
    for (const name of SETTING_NAMES) {
      const spec = TRAINING_SETTINGS[name] as Setting<unknown, unknown>;
      // A setting without a default (learningRate) keeps a null given, which its check refuses.
      const value = spec.default === undefined ? given[name] : (given[name] ?? undefined);
      if (value !== undefined && value !== null) fields[name] = spec.from ? spec.from(value) : value;
      else if (value === null && spec.default === undefined) fields[name] = null;
      else fields[name] = spec.default;
    }
    for (const name of SETTING_NAMES) {
      const spec = TRAINING_SETTINGS[name] as Setting<unknown, unknown>;
      if (spec.derive && (given[name] === undefined || given[name] === null)) fields[name] = spec.derive(fields);
    }
    Object.assign(this, fields);
    this.validate();
  }

  private validate(): void {
    const fields = this as unknown as Record<string, unknown>;
    for (const name of SETTING_NAMES)
      (TRAINING_SETTINGS[name] as Setting<unknown, unknown>).check?.(fields[name], name);
    // Checks that relate settings.
    if (
      this.maxSteps === -1 &&
      !(typeof this.numTrainEpochs === 'number' && this.numTrainEpochs > 0 && Number.isFinite(this.numTrainEpochs))
    ) {
      fail(`numTrainEpochs must be a number > 0 (or give maxSteps), got ${show(this.numTrainEpochs)}`);
    }
    if (this.warmupSteps > 0 && this.warmupRatio > 0)
      fail(`give warmupSteps (${this.warmupSteps}) or warmupRatio (${this.warmupRatio}), not both`);
    if (this.loadBestModelAtEnd) {
      if (this.evalStrategy === 'no')
        fail("loadBestModelAtEnd needs evaluations: set evalStrategy to 'steps' or 'epoch' (and give an evalDataset)");
      if (this.evalStrategy !== this.saveStrategy) {
        fail(
          `loadBestModelAtEnd requires the save and eval strategy to match, but found evalStrategy '${this.evalStrategy}' and saveStrategy '${this.saveStrategy}'`,
        );
      }
      if (
        this.evalStrategy === 'steps' &&
        this.evalSteps >= 1 &&
        this.saveSteps >= 1 &&
        this.saveSteps % this.evalSteps !== 0
      ) {
        fail(
          `loadBestModelAtEnd requires saveSteps to be a round multiple of evalSteps, but found saveSteps ${this.saveSteps} and evalSteps ${this.evalSteps}`,
        );
      }
    }
    // HF: "At most one of fp16 and bf16 can be True, but not both".
    if (this.bf16 && this.fp16) fail('bf16 and fp16 are both set: give one of them');
    this.validateStrategy();
    if (this.discriminativeLr !== null && this.layerwiseLrDecay !== null)
      fail('give discriminativeLr or layerwiseLrDecay, not both');
    if (this.earlyStoppingPatience !== null && this.evalStrategy === 'no') {
      fail("earlyStoppingPatience needs evaluations: set evalStrategy to 'steps' or 'epoch' (and give an evalDataset)");
    }
  }

  private validateStrategy(): void {
    const s = this.strategy as unknown;
    if (s === null || s instanceof PeftConfig) return;
    if (typeof s !== 'object' || !('kind' in (s as object))) {
      fail(
        `strategy must be a freezing strategy or gradual unfreezing ({ kind: ${strategyKinds()
          .map(show)
          .join(' | ')} }) or a PEFT config (new LoraConfig(…)), got ${show(s)}`,
      );
    }
    const kind = (s as { kind: unknown }).kind;
    if (kind === 'gradual-unfreezing') {
      const schedule = (s as GradualUnfreezingStrategy).schedule;
      if (schedule !== undefined) {
        if (!isUnfreezeSchedule(schedule))
          fail(
            `gradual unfreezing's schedule must be { every: 'epoch' } or { everySteps: N } with N a positive integer, got ${show(schedule)}`,
          );
      }
      return;
    }
    if (!strategyKinds().includes(kind as string)) {
      fail(`unknown strategy kind ${show(kind)} (known: ${strategyKinds().join(', ')}, or a PEFT config)`);
    }
    if (kind === 'top-k' && !(Number.isInteger((s as { k?: unknown }).k) && (s as { k: number }).k >= 0)) {
      fail(`strategy top-k needs k, a non-negative integer, got ${show((s as { k?: unknown }).k)}`);
    }
  }

  /** metricForBestModel as the key in evaluation metrics ('eval_loss', 'eval_accuracy'), or null. */
  get metricKey(): string | null {
    const m = this.metricForBestModel;
    return m === null ? null : m.startsWith('eval_') ? m : `eval_${m}`;
  }

  /** The seed of the data order (dataSeed, else seed). */
  get dataOrderSeed(): number {
    return this.dataSeed ?? this.seed;
  }

  /**
   * training_args.json: every setting under Hugging Face's snake_case name (finetune's own too);
   * the strategy as `{ kind, … }` or the PEFT config's adapter_config.json fields.
   */
  toJson(extra: Record<string, unknown> = {}): Record<string, unknown> {
    const json: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(this)) {
      if (key === 'strategy') json.strategy = strategyToJson(this.strategy);
      else json[snakeCase(key)] = value === undefined ? null : value;
    }
    return { ...json, ...extra };
  }

  /** Reads toJson()'s output back (snake_case or camelCase keys; keys toJson adds beyond the options are ignored). */
  static fromJson(json: Record<string, unknown>): TrainingArguments {
    const options: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(json)) {
      const name = camelCase(key);
      if (!Object.hasOwn(TRAINING_SETTINGS, name)) continue;
      options[name] = name === 'strategy' ? strategyFromJson(value) : (value ?? undefined);
    }
    return new TrainingArguments(options as TrainingArgumentsOptions);
  }
}

function strategyToJson(strategy: TrainingStrategy | null): unknown {
  if (strategy === null) return null;
  if (strategy instanceof PeftConfig) return strategy.toJson();
  return { ...strategy };
}

function strategyFromJson(value: unknown): TrainingStrategy | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'object' && value !== null && 'peft_type' in value)
    return peftConfigFromJson(value as Record<string, unknown>, 'training_args.json strategy');
  return value as TrainingStrategy;
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
