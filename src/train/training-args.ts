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
import { methodOfStrategy, PeftConfig, peftConfigFromJson, type GradualUnfreezingStrategy, type MethodStrategy } from '../peft/index.js';
import { SCHEDULE_NAMES, type ScheduleName } from '../optim/index.js';
import type { WeightDecayRule } from '../optim/index.js';

/** When to evaluate, save or log: never, every N optimizer steps, or at each epoch's end. */
export type IntervalStrategy = 'no' | 'steps' | 'epoch';

/** The optimizers the Trainer builds (HF's names). */
export type OptimizerName = 'adamw_torch' | 'adamw_torch_fused' | 'adam' | 'sgd';
export const OPTIMIZER_NAMES: readonly OptimizerName[] = ['adamw_torch', 'adamw_torch_fused', 'adam', 'sgd'];

export type { GradualUnfreezingStrategy };

/**
 * Which parameters train: a freezing strategy (`{ kind: 'full' | 'head' | 'top-k' | 'bitfit' | 'ln' }`),
 * a PEFT config (the Trainer wraps the model with getPeftModel), or gradual unfreezing — what a
 * fine-tuning method builds (peft's MethodStrategy).
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

export interface TrainingArgumentsOptions {
  /** Where checkpoints, metrics.jsonl and the final trainer_state.json go (default 'trainer_output', as HF). */
  outputDir?: string;
  /** Epochs (default 3); may be fractional. Ignored when maxSteps > 0. */
  numTrainEpochs?: number;
  /** Total optimizer steps; > 0 overrides numTrainEpochs (default -1). */
  maxSteps?: number;
  perDeviceTrainBatchSize?: number;
  perDeviceEvalBatchSize?: number;
  /** The peak learning rate; default: optim.defaultFineTuneLr for the strategy and the model (printed with the plan). */
  learningRate?: number;
  /** AdamW's decoupled decay / Adam's and SGD's L2 (default 0); biases and LayerNorm weights never decay (weightDecayRule). */
  weightDecay?: number;
  adamBeta1?: number;
  adamBeta2?: number;
  adamEpsilon?: number;
  /** SGD's momentum (default 0; finetune's, HF passes it through optim_args). */
  sgdMomentum?: number;
  optim?: OptimizerName;
  lrSchedulerType?: ScheduleName;
  /** Extra options of the schedule (camelCase: numCycles, minLr, lrEnd, power, …; for reduce_lr_on_plateau: factor, patience, …). */
  lrSchedulerKwargs?: Record<string, unknown>;
  /** Linear warmup steps (default 0). */
  warmupSteps?: number;
  /** Warmup as a fraction of the total steps, ceil(maxSteps × ratio) (default 0). Give steps or ratio, not both. */
  warmupRatio?: number;
  gradientAccumulationSteps?: number;
  /** Clip the global gradient norm to this (default 1.0); 0 turns clipping off (the norm is still logged). */
  maxGradNorm?: number;
  evalStrategy?: IntervalStrategy;
  /** Every N optimizer steps (default: loggingSteps); a value in (0, 1) is a fraction of the total steps. */
  evalSteps?: number | null;
  saveStrategy?: IntervalStrategy;
  saveSteps?: number;
  /** Keep only the newest K checkpoints (and the best one, with loadBestModelAtEnd); default all. */
  saveTotalLimit?: number | null;
  loggingStrategy?: IntervalStrategy;
  loggingSteps?: number;
  loggingFirstStep?: boolean;
  /** Seeds libtorch's generator (dropout, initialisation) at the start of train() (default 42). */
  seed?: number;
  /** Seeds the data order (default: seed). */
  dataSeed?: number | null;
  loadBestModelAtEnd?: boolean;
  /** 'loss' (the default with loadBestModelAtEnd or early stopping), 'accuracy', … (with or without 'eval_'). */
  metricForBestModel?: string | null;
  /** Default: true unless metricForBestModel ends in 'loss'. */
  greaterIsBetter?: boolean | null;
  /** Cross entropy against labels smoothed by ε (0: the model's own loss). */
  labelSmoothingFactor?: number;
  /** Resume from the newest valid checkpoint in outputDir (true) or from a checkpoint folder. */
  resumeFromCheckpoint?: boolean | string | null;
  dataloaderDropLast?: boolean;
  /** Batches the DataLoader prepares ahead (default 2; 0: on demand). */
  dataloaderPrefetch?: number;
  /** Turns progress bars off (HF's disable_tqdm; read by the progress callbacks). */
  disableTqdm?: boolean;
  // ---- finetune's own ----
  /** Which parameters train (default: the model as given). */
  strategy?: TrainingStrategy | null;
  /** Keep BatchNorm weights trainable in frozen groups (fastai's train_bn, default true). */
  trainBatchNorm?: boolean;
  discriminativeLr?: DiscriminativeLrSetting | null;
  /** timm's layer-wise lr decay factor (the head at learningRate, each group below × decay). */
  layerwiseLrDecay?: number | null;
  /** Which parameters are exempt from weight decay: 'hf' (HF Trainer's rule, default) or 'timm'. */
  weightDecayRule?: WeightDecayRule;
  /** On a NaN/Inf loss or gradient norm: 'stop' (throw, naming the step; default) or 'skip' the update and count it. */
  nanPolicy?: NanPolicy;
  /** Stop after this many evaluations without improvement of metricForBestModel (HF's EarlyStoppingCallback). */
  earlyStoppingPatience?: number | null;
  /** How much better a metric must be to count as an improvement (default 0). */
  earlyStoppingThreshold?: number;
  /** libtorch intra-op threads (default: as set, all cores). */
  threads?: number | null;
}

const KNOWN_OPTIONS = new Set<string>([
  'outputDir', 'numTrainEpochs', 'maxSteps', 'perDeviceTrainBatchSize', 'perDeviceEvalBatchSize', 'learningRate', 'weightDecay',
  'adamBeta1', 'adamBeta2', 'adamEpsilon', 'sgdMomentum', 'optim', 'lrSchedulerType', 'lrSchedulerKwargs', 'warmupSteps', 'warmupRatio',
  'gradientAccumulationSteps', 'maxGradNorm', 'evalStrategy', 'evalSteps', 'saveStrategy', 'saveSteps', 'saveTotalLimit',
  'loggingStrategy', 'loggingSteps', 'loggingFirstStep', 'seed', 'dataSeed', 'loadBestModelAtEnd', 'metricForBestModel',
  'greaterIsBetter', 'labelSmoothingFactor', 'resumeFromCheckpoint', 'dataloaderDropLast', 'dataloaderPrefetch', 'disableTqdm', 'strategy',
  'trainBatchNorm', 'discriminativeLr', 'layerwiseLrDecay', 'weightDecayRule', 'nanPolicy', 'earlyStoppingPatience',
  'earlyStoppingThreshold', 'threads',
]);

const INTERVALS: readonly IntervalStrategy[] = ['no', 'steps', 'epoch'];
const FREEZING_KINDS = ['full', 'head', 'top-k', 'bitfit', 'ln'];

function fail(message: string): never {
  throw new Error(`TrainingArguments: ${message}`);
}

function show(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value) ?? String(value);
}

function positiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) fail(`${name} must be a positive integer, got ${show(value)}`);
}

function nonNegative(name: string, value: number): void {
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) fail(`${name} must be a finite number ≥ 0, got ${show(value)}`);
}

function oneOf<T extends string>(name: string, value: T, allowed: readonly T[]): void {
  if (!allowed.includes(value)) fail(`${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${show(value)}`);
}

/** A steps setting: a positive integer, or a fraction in (0, 1) of the total steps (HF's rule). */
function stepsSetting(name: string, value: number): void {
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

export class TrainingArguments {
  readonly outputDir: string;
  readonly numTrainEpochs: number;
  readonly maxSteps: number;
  readonly perDeviceTrainBatchSize: number;
  readonly perDeviceEvalBatchSize: number;
  /** Undefined: the Trainer picks defaultFineTuneLr's (Trainer.learningRate holds the one in use). */
  readonly learningRate: number | undefined;
  readonly weightDecay: number;
  readonly adamBeta1: number;
  readonly adamBeta2: number;
  readonly adamEpsilon: number;
  readonly sgdMomentum: number;
  readonly optim: OptimizerName;
  readonly lrSchedulerType: ScheduleName;
  readonly lrSchedulerKwargs: Record<string, unknown>;
  readonly warmupSteps: number;
  readonly warmupRatio: number;
  readonly gradientAccumulationSteps: number;
  readonly maxGradNorm: number;
  readonly evalStrategy: IntervalStrategy;
  readonly evalSteps: number;
  readonly saveStrategy: IntervalStrategy;
  readonly saveSteps: number;
  readonly saveTotalLimit: number | null;
  readonly loggingStrategy: IntervalStrategy;
  readonly loggingSteps: number;
  readonly loggingFirstStep: boolean;
  readonly seed: number;
  readonly dataSeed: number | null;
  readonly loadBestModelAtEnd: boolean;
  readonly metricForBestModel: string | null;
  readonly greaterIsBetter: boolean | null;
  readonly labelSmoothingFactor: number;
  readonly resumeFromCheckpoint: boolean | string | null;
  readonly dataloaderDropLast: boolean;
  readonly dataloaderPrefetch: number;
  readonly disableTqdm: boolean;
  readonly strategy: TrainingStrategy | null;
  readonly trainBatchNorm: boolean;
  readonly discriminativeLr: DiscriminativeLrSetting | null;
  readonly layerwiseLrDecay: number | null;
  readonly weightDecayRule: WeightDecayRule;
  readonly nanPolicy: NanPolicy;
  readonly earlyStoppingPatience: number | null;
  readonly earlyStoppingThreshold: number;
  readonly threads: number | null;

  constructor(options: TrainingArgumentsOptions = {}) {
    if (typeof options !== 'object' || options === null) fail(`expected an options object, got ${show(options)}`);
    const unknown = Object.keys(options).filter((key) => !KNOWN_OPTIONS.has(key) && (options as Record<string, unknown>)[key] !== undefined);
    if (unknown.length) fail(`unknown option(s) ${unknown.join(', ')} (known: ${[...KNOWN_OPTIONS].join(', ')})`);

    this.outputDir = options.outputDir ?? 'trainer_output';
    this.numTrainEpochs = options.numTrainEpochs ?? 3;
    this.maxSteps = options.maxSteps ?? -1;
    this.perDeviceTrainBatchSize = options.perDeviceTrainBatchSize ?? 8;
    this.perDeviceEvalBatchSize = options.perDeviceEvalBatchSize ?? 8;
    this.learningRate = options.learningRate;
    this.weightDecay = options.weightDecay ?? 0;
    this.adamBeta1 = options.adamBeta1 ?? 0.9;
    this.adamBeta2 = options.adamBeta2 ?? 0.999;
    this.adamEpsilon = options.adamEpsilon ?? 1e-8;
    this.sgdMomentum = options.sgdMomentum ?? 0;
    this.optim = options.optim ?? 'adamw_torch';
    this.lrSchedulerType = options.lrSchedulerType ?? 'linear';
    this.lrSchedulerKwargs = { ...(options.lrSchedulerKwargs ?? {}) };
    this.warmupSteps = options.warmupSteps ?? 0;
    this.warmupRatio = options.warmupRatio ?? 0;
    this.gradientAccumulationSteps = options.gradientAccumulationSteps ?? 1;
    this.maxGradNorm = options.maxGradNorm ?? 1.0;
    this.loggingStrategy = options.loggingStrategy ?? 'steps';
    this.loggingSteps = options.loggingSteps ?? 500;
    this.loggingFirstStep = options.loggingFirstStep ?? false;
    this.evalStrategy = options.evalStrategy ?? 'no';
    this.evalSteps = options.evalSteps ?? this.loggingSteps;
    this.saveStrategy = options.saveStrategy ?? 'steps';
    this.saveSteps = options.saveSteps ?? 500;
    this.saveTotalLimit = options.saveTotalLimit ?? null;
    this.seed = options.seed ?? 42;
    this.dataSeed = options.dataSeed ?? null;
    this.loadBestModelAtEnd = options.loadBestModelAtEnd ?? false;
    this.earlyStoppingPatience = options.earlyStoppingPatience ?? null;
    this.earlyStoppingThreshold = options.earlyStoppingThreshold ?? 0;
    // HF: metric_for_best_model defaults to 'loss' with load_best_model_at_end (and here with early stopping).
    this.metricForBestModel = options.metricForBestModel ?? (this.loadBestModelAtEnd || this.earlyStoppingPatience !== null ? 'loss' : null);
    this.greaterIsBetter = options.greaterIsBetter ?? (this.metricForBestModel !== null ? !this.metricForBestModel.endsWith('loss') : null);
    this.labelSmoothingFactor = options.labelSmoothingFactor ?? 0;
    this.resumeFromCheckpoint = options.resumeFromCheckpoint ?? null;
    this.dataloaderDropLast = options.dataloaderDropLast ?? false;
    this.dataloaderPrefetch = options.dataloaderPrefetch ?? 2;
    this.disableTqdm = options.disableTqdm ?? false;
    this.strategy = options.strategy ?? null;
    this.trainBatchNorm = options.trainBatchNorm ?? true;
    this.discriminativeLr = options.discriminativeLr ?? null;
    this.layerwiseLrDecay = options.layerwiseLrDecay ?? null;
    this.weightDecayRule = options.weightDecayRule ?? 'hf';
    this.nanPolicy = options.nanPolicy ?? 'stop';
    this.threads = options.threads ?? null;
    this.validate();
  }

  private validate(): void {
    if (typeof this.outputDir !== 'string' || this.outputDir === '') fail(`outputDir must be a non-empty path, got ${show(this.outputDir)}`);
    if (typeof this.maxSteps !== 'number' || !Number.isInteger(this.maxSteps) || (this.maxSteps < 1 && this.maxSteps !== -1)) {
      fail(`maxSteps must be a positive integer, or -1 to train numTrainEpochs, got ${show(this.maxSteps)}`);
    }
    if (this.maxSteps === -1 && !(typeof this.numTrainEpochs === 'number' && this.numTrainEpochs > 0 && Number.isFinite(this.numTrainEpochs))) {
      fail(`numTrainEpochs must be a number > 0 (or give maxSteps), got ${show(this.numTrainEpochs)}`);
    }
    positiveInteger('perDeviceTrainBatchSize', this.perDeviceTrainBatchSize);
    positiveInteger('perDeviceEvalBatchSize', this.perDeviceEvalBatchSize);
    if (this.learningRate !== undefined && !(typeof this.learningRate === 'number' && this.learningRate > 0 && Number.isFinite(this.learningRate))) {
      fail(`learningRate must be a number > 0, got ${show(this.learningRate)} (leave it out for the strategy's default)`);
    }
    nonNegative('weightDecay', this.weightDecay);
    for (const [name, value] of [['adamBeta1', this.adamBeta1], ['adamBeta2', this.adamBeta2]] as const) {
      if (!(typeof value === 'number' && value >= 0 && value < 1)) fail(`${name} must be in [0, 1), got ${show(value)}`);
    }
    nonNegative('adamEpsilon', this.adamEpsilon);
    nonNegative('sgdMomentum', this.sgdMomentum);
    oneOf('optim', this.optim, OPTIMIZER_NAMES);
    oneOf('lrSchedulerType', this.lrSchedulerType, SCHEDULE_NAMES);
    if (typeof this.lrSchedulerKwargs !== 'object' || Array.isArray(this.lrSchedulerKwargs)) fail('lrSchedulerKwargs must be an object of the schedule\'s options');
    if (!Number.isInteger(this.warmupSteps) || this.warmupSteps < 0) fail(`warmupSteps must be an integer ≥ 0, got ${show(this.warmupSteps)}`);
    if (!(typeof this.warmupRatio === 'number' && this.warmupRatio >= 0 && this.warmupRatio <= 1)) fail(`warmupRatio must be in [0, 1], got ${show(this.warmupRatio)}`);
    if (this.warmupSteps > 0 && this.warmupRatio > 0) fail(`give warmupSteps (${this.warmupSteps}) or warmupRatio (${this.warmupRatio}), not both`);
    positiveInteger('gradientAccumulationSteps', this.gradientAccumulationSteps);
    nonNegative('maxGradNorm', this.maxGradNorm);
    oneOf('evalStrategy', this.evalStrategy, INTERVALS);
    oneOf('saveStrategy', this.saveStrategy, INTERVALS);
    oneOf('loggingStrategy', this.loggingStrategy, INTERVALS);
    stepsSetting('loggingSteps', this.loggingSteps);
    stepsSetting('evalSteps', this.evalSteps);
    stepsSetting('saveSteps', this.saveSteps);
    if (this.saveTotalLimit !== null) positiveInteger('saveTotalLimit', this.saveTotalLimit);
    if (!Number.isInteger(this.seed) || this.seed < 0) fail(`seed must be an integer ≥ 0, got ${show(this.seed)}`);
    if (this.dataSeed !== null && (!Number.isInteger(this.dataSeed) || this.dataSeed < 0)) fail(`dataSeed must be an integer ≥ 0, got ${show(this.dataSeed)}`);
    if (this.metricForBestModel !== null && (typeof this.metricForBestModel !== 'string' || this.metricForBestModel === '')) {
      fail(`metricForBestModel must be a metric name such as 'loss' or 'accuracy', got ${show(this.metricForBestModel)}`);
    }
    if (this.loadBestModelAtEnd) {
      if (this.evalStrategy === 'no') fail("loadBestModelAtEnd needs evaluations: set evalStrategy to 'steps' or 'epoch' (and give an evalDataset)");
      if (this.evalStrategy !== this.saveStrategy) {
        fail(`loadBestModelAtEnd requires the save and eval strategy to match, but found evalStrategy '${this.evalStrategy}' and saveStrategy '${this.saveStrategy}'`);
      }
      if (this.evalStrategy === 'steps' && this.evalSteps >= 1 && this.saveSteps >= 1 && this.saveSteps % this.evalSteps !== 0) {
        fail(`loadBestModelAtEnd requires saveSteps to be a round multiple of evalSteps, but found saveSteps ${this.saveSteps} and evalSteps ${this.evalSteps}`);
      }
    }
    if (!(typeof this.labelSmoothingFactor === 'number' && this.labelSmoothingFactor >= 0 && this.labelSmoothingFactor < 1)) {
      fail(`labelSmoothingFactor must be in [0, 1), got ${show(this.labelSmoothingFactor)}`);
    }
    if (this.resumeFromCheckpoint !== null && typeof this.resumeFromCheckpoint !== 'boolean' && (typeof this.resumeFromCheckpoint !== 'string' || this.resumeFromCheckpoint === '')) {
      fail(`resumeFromCheckpoint must be true (the newest checkpoint in outputDir) or a checkpoint folder, got ${show(this.resumeFromCheckpoint)}`);
    }
    if (!Number.isInteger(this.dataloaderPrefetch) || this.dataloaderPrefetch < 0) fail(`dataloaderPrefetch must be an integer ≥ 0, got ${show(this.dataloaderPrefetch)}`);
    this.validateStrategy();
    if (this.discriminativeLr !== null) {
      const d = this.discriminativeLr as unknown;
      const valid =
        d === 'slice' ||
        (typeof d === 'object' && d !== null && Object.keys(d).length === 1 &&
          (('factor' in d && (d as { factor: number }).factor > 0) || ('lo' in d && (d as { lo: number }).lo > 0)));
      if (!valid) fail(`discriminativeLr must be 'slice', { factor } (e.g. 2.6) or { lo } with a positive number, got ${show(d)}`);
    }
    if (this.layerwiseLrDecay !== null && !(typeof this.layerwiseLrDecay === 'number' && this.layerwiseLrDecay > 0 && this.layerwiseLrDecay <= 1)) {
      fail(`layerwiseLrDecay must be in (0, 1], got ${show(this.layerwiseLrDecay)}`);
    }
    if (this.discriminativeLr !== null && this.layerwiseLrDecay !== null) fail('give discriminativeLr or layerwiseLrDecay, not both');
    oneOf('weightDecayRule', this.weightDecayRule, ['hf', 'timm']);
    oneOf('nanPolicy', this.nanPolicy, ['stop', 'skip']);
    if (this.earlyStoppingPatience !== null) {
      positiveInteger('earlyStoppingPatience', this.earlyStoppingPatience);
      if (this.evalStrategy === 'no') fail("earlyStoppingPatience needs evaluations: set evalStrategy to 'steps' or 'epoch' (and give an evalDataset)");
    }
    nonNegative('earlyStoppingThreshold', this.earlyStoppingThreshold);
    if (this.threads !== null) {
      positiveInteger('threads', this.threads);
      if (this.threads > MAX_THREADS) fail(`threads must be at most ${MAX_THREADS}, got ${show(this.threads)}`);
    }
  }

  private validateStrategy(): void {
    const s = this.strategy as unknown;
    if (s === null || s instanceof PeftConfig) return;
    if (typeof s !== 'object' || !('kind' in (s as object))) {
      fail(`strategy must be a freezing strategy ({ kind: 'full' | 'head' | 'top-k' | 'bitfit' | 'ln' }), a PEFT config (new LoraConfig(…)) or { kind: 'gradual-unfreezing' }, got ${show(s)}`);
    }
    const kind = (s as { kind: unknown }).kind;
    if (kind === 'gradual-unfreezing') {
      const schedule = (s as GradualUnfreezingStrategy).schedule;
      if (schedule !== undefined) {
        const valid = 'everySteps' in schedule ? Number.isInteger(schedule.everySteps) && schedule.everySteps > 0 : (schedule as { every?: unknown }).every === 'epoch';
        if (!valid) fail(`gradual unfreezing's schedule must be { every: 'epoch' } or { everySteps: N } with N a positive integer, got ${show(schedule)}`);
      }
      return;
    }
    if (!FREEZING_KINDS.includes(kind as string)) {
      fail(`unknown strategy kind ${show(kind)} (known: ${[...FREEZING_KINDS, 'gradual-unfreezing'].join(', ')}, or a PEFT config)`);
    }
    if (kind === 'top-k' && !(Number.isInteger((s as { k?: unknown }).k) && ((s as { k: number }).k >= 0))) {
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
      if (!KNOWN_OPTIONS.has(name)) continue;
      options[name] = name === 'strategy' ? strategyFromJson(value) : value ?? undefined;
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
  if (typeof value === 'object' && value !== null && 'peft_type' in value) return peftConfigFromJson(value as Record<string, unknown>, 'training_args.json strategy');
  return value as TrainingStrategy;
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
