/**
 * Trainer: Hugging Face's Trainer loop on finetune's models, optimizers and data.
 *
 *   const trainer = new Trainer({ model, args, trainDataset, evalDataset });
 *   const { globalStep, trainingLoss, metrics } = await trainer.train();
 *   const evalMetrics = await trainer.evaluate();
 *   const { predictions, labelIds, metrics: testMetrics } = await trainer.predict(testDataset);
 *
 * A training step: forward in train mode, the loss (the model's, or label-smoothed cross entropy
 * with labelSmoothingFactor), backward of loss / (micro-batches in the step) — HF's gradient
 * accumulation —, the global gradient norm clipped to maxGradNorm (logged as grad_norm), optimizer
 * and scheduler step, gradients cleared. Each micro-batch runs inside tidy(), so a step leaves no
 * tensor behind. A NaN/Inf loss or gradient norm stops training with the step named
 * (nanPolicy 'stop') or skips that update and counts it ('skip').
 *
 * Multi-task training (`multiTask: { loss: MultiTaskLoss }`): the model returns logits per task,
 * the task losses go through the MultiTaskLoss (forward, or its own backward for GradNorm; PCGrad
 * on request), its learnable weights train in their own parameter group, and every log carries
 * loss_<task> and weight_<task> (see TrainerOptions.multiTask).
 *
 * Checkpoints (checkpoint.ts) hold everything a run depends on — weights, optimizer state,
 * scheduler, libtorch's generator, the data loader's position, the trainer state and the callbacks'
 * states —, so `resumeFromCheckpoint` continues bit for bit: the final weights equal an
 * uninterrupted run's.
 */
import { join, resolve } from 'node:path';
import { existsSync, mkdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import { Tensor, functional as F, getRngState, manualSeed, noGrad, setNumThreads, setRngState, tidy } from '../tensor/index.js';
import { Embedding, labelSmoothedCrossEntropy, type Module } from '../nn/index.js';
import { AlexNet, ResNet, ViTPatchEmbeddings, classificationLoss, parameterGroupsOf, type HfConfig, type ProblemType } from '../models/index.js';
import { familyOfModel } from '../models/registry.js';
import { applyFreezingStrategy, getPeftModel, methodOfStrategy, PeftConfig, PeftModel } from '../peft/index.js';
import { loadedConfigOf } from '../io/index.js';
import {
  Adam,
  AdamW,
  SGD,
  LRScheduler,
  ReduceLROnPlateau,
  clipGradNorm_,
  defaultFineTuneLr,
  discriminativeLr,
  formatLr,
  getScheduler,
  getTotalNorm,
  layerwiseLrDecay,
  lrFind,
  LR_FIND_DEFAULTS,
  MultiTaskLoss,
  pcgradBackward,
  lrRange,
  noWeightDecayNames,
  weightDecayGroups,
  type DiscriminativeLr,
  type LrFindOptions,
  type LrFindResult,
  type Optimizer,
  type ParamGroup,
  type ParamGroupSpec,
  type PCGradOptions,
  type TaskLosses,
} from '../optim/index.js';
import { DataLoader, MultiTaskDataset, type Dataset, type TaskKind } from '../data/index.js';
import {
  CallbackHandler,
  DEFAULT_CALLBACKS,
  EarlyStoppingCallback,
  GradualUnfreezingCallback,
  type CallbackContext,
  type CallbackEvent,
  type TrainerCallback,
  type TrainerLike,
} from './callbacks.js';
import {
  checkCheckpointFiles,
  latestCheckpoint,
  listCheckpoints,
  loadModelWeights,
  loadOptimizer,
  loadRngState,
  loadMultiTaskState,
  loadScheduler,
  readJson,
  removeStaleTemporaries,
  removeCheckpointFolder,
  rotateCheckpoints,
  saveModelWeights,
  saveMultiTaskState,
  saveOptimizer,
  saveRngState,
  saveScheduler,
  testPauseInSave,
  writeFolderAtomically,
  writeTextAtomic,
  CHECKPOINT_PREFIX,
  TRAINER_STATE_NAME,
  TRAINING_ARGS_NAME,
  type SchedulerLike,
} from './checkpoint.js';
import { accuracyScore, defaultComputeMetrics, f1Score, type EvalPrediction, type Metrics } from './metrics.js';
import { TrainerControl, TrainerState, type CallbackState, type LogEntry } from './state.js';
import { describeStrategy, TrainingArguments, type DiscriminativeLrSetting, type TrainingArgumentsOptions } from './training-args.js';

/** What a model's forward returns, as the Trainer uses it. */
export interface ModelOutput {
  logits: Tensor;
  loss?: Tensor;
}

/**
 * What a multi-head model returns for multi-task training: logits per task name (a plain record of
 * tensors keyed by the task names is read as the logits too).
 */
export interface MultiTaskModelOutput {
  logits: Record<string, Tensor>;
  loss?: Tensor;
}

/** TrainerOptions.multiTask: multi-task training with a MultiTaskLoss. */
export interface MultiTaskTrainingOptions {
  /** The weighting (optim.MultiTaskLoss); its tasks name the model's heads and the batch's labels. The caller keeps ownership (dispose it). */
  loss: MultiTaskLoss;
  /**
   * The task losses (scalars keyed by the loss's task names) of a batch. Default: for each task,
   * `outputs.logits[task]` against `batch.labels[task]` (MultiTaskDataset's batches) — cross entropy
   * for classification (label-smoothed with labelSmoothingFactor), binary cross entropy with logits
   * for binary tasks (cross entropy with two logits), MSE for regression; the kinds come from
   * `taskKinds`, else the training dataset's `tasks` (MultiTaskDataset), else the labels' dtype as
   * transformers' heads.
   */
  computeTaskLosses?: (outputs: MultiTaskModelOutput, batch: unknown) => TaskLosses;
  /** Each task's kind, for the default losses and metrics (default: the training dataset's, when it is a MultiTaskDataset). */
  taskKinds?: Record<string, TaskKind>;
  /** The lr of the loss's learnable weights (uncertainty's s_i, GradNorm's w_i), a parameter group of their own without weight decay. Default: the Trainer's learning rate. */
  lr?: number;
  /**
   * PCGrad (optim.pcgradBackward) on these shared parameters: each step backpropagates the weighted
   * task losses w_i·L_i (weights of a fixed, scheduled or dwa weighting, held constant) separately and
   * projects away conflicting gradients. The random order is seeded by the seed and the step, so runs
   * and resumed runs repeat.
   */
  pcgrad?: { sharedParameters: Tensor[]; reduction?: PCGradOptions['reduction'] };
}

export interface TrainerOptions {
  model: Module;
  /** TrainingArguments, or the options to build them. */
  args?: TrainingArguments | TrainingArgumentsOptions;
  trainDataset?: Dataset<unknown> | null;
  evalDataset?: Dataset<unknown> | null;
  /**
   * Turns a list of examples into a batch (HF's data_collator). Default: the dataset's `collator()`
   * when it has one (TextClassificationDataset: dynamic padding), else the DataLoader's defaultCollate.
   */
  collate?: ((examples: unknown[]) => unknown) | null;
  /**
   * Metrics from the evaluation's logits and labels (default: defaultComputeMetrics — accuracy and F1, or Pearson and Spearman; null: loss only).
   * Multi-task training calls it once per task (`task` set) and prefixes the keys with the task name.
   */
  computeMetrics?: ((prediction: EvalPrediction) => Metrics) | null;
  /** Added after DEFAULT_CALLBACKS (and the early-stopping / gradual-unfreezing callbacks the arguments ask for). */
  callbacks?: TrainerCallback[];
  /** Your own optimizer and/or scheduler (HF's optimizers=(optimizer, scheduler)); null parts are built from the arguments. */
  optimizers?: [Optimizer | null, SchedulerLike | null];
  /**
   * How a batch reaches the model (default: BERT/ViT/PEFT models get the batch object — `image` as
   * `pixelValues`, `label` as `labels` —; ResNet/AlexNet the image tensor).
   */
  forward?: (model: Module, batch: unknown) => ModelOutput | MultiTaskModelOutput | Tensor;
  /** The loss from the outputs and labels (default: the model's loss, else cross entropy / MSE / BCE by the labels, as transformers' heads). */
  computeLoss?: (outputs: ModelOutput, labels: Tensor | undefined, batch: unknown) => Tensor;
  /** Where the plan and notices go (default console.log; null: nowhere). */
  log?: ((line: string) => void) | null;
  /**
   * Multi-task training: the model returns `{ logits: { <task>: Tensor } }` (by default it gets a
   * MultiTaskDataset batch's `input` tensor), the task losses are weighted by `loss` (its forward, or
   * its own backward for GradNorm), its learnable weights join the optimizer as the parameter group
   * `multi_task` (lr `lr`, no weight decay, not counted in grad_norm nor clipped), `loss.step()` runs
   * after each optimizer step (a skipped update too, so that α(t) follows the global step) and
   * `loss.onEpochEnd(the epoch's mean per-step task losses)` at each epoch's end. Logs
   * add loss_<task>, weight_<task> (the weights in effect from that step on, as learning_rate) and,
   * for a scheduled α, alpha; evaluations give eval_<task>_loss and eval_<task>_<metric>, eval_loss
   * being the weighted total. The loss's state is saved in checkpoints (multi_task.json).
   */
  multiTask?: MultiTaskTrainingOptions | null;
}

/** Trainer.lrFind's sweep: optim.lrFind's options less what the Trainer supplies (optimizer, model, trainStep). */
export type TrainerLrFindOptions = Omit<LrFindOptions, 'optimizer' | 'model' | 'trainStep' | 'snapshot' | 'restore'>;

/** What train() returns (HF's TrainOutput). */
export interface TrainOutput {
  globalStep: number;
  /** Mean loss over every optimizer step of the run (resumed runs included). */
  trainingLoss: number;
  /** train_runtime, train_samples_per_second, train_steps_per_second, train_loss, epoch (+ train_skipped_steps). */
  metrics: Metrics;
}

/** What predict() returns (HF's PredictionOutput). */
export interface PredictionOutput {
  /** Logits, a row per example (multi-task: empty; see `tasks`). */
  predictions: number[][];
  labelIds: number[] | number[][] | null;
  /** Multi-task training: each task's logit rows and labels. */
  tasks?: Record<string, { predictions: number[][]; labelIds: number[] | number[][] | null }>;
  /** test_loss, test_<metric>, test_runtime, … */
  metrics: Metrics;
}

export interface TrainCallOptions {
  /** Overrides args.resumeFromCheckpoint. */
  resumeFromCheckpoint?: boolean | string | null;
}

/** The accumulators that make log entries and the train summary; saved in checkpoints so resumed runs log the same. */
interface Accumulators {
  loggingLossSum: number;
  loggingLossSteps: number;
  totalLossSum: number;
  totalLossSteps: number;
  skippedSteps: number;
}

const TRAINER_STATE_KEY = 'Trainer';

/** Per-task loss sums (one value per step: the mean over its micro-batches) since the last log and in the current epoch. */
interface TaskAccumulators {
  loggingSums: number[];
  loggingSteps: number;
  epochSums: number[];
  epochSteps: number;
}

/** The multi-task setting, checked. */
interface ResolvedMultiTask {
  loss: MultiTaskLoss;
  tasks: readonly string[];
  computeTaskLosses: ((outputs: MultiTaskModelOutput, batch: unknown) => TaskLosses) | null;
  taskKinds: Record<string, TaskKind> | null;
  lr: number | undefined;
  /** 'forward': loss.forward(losses).backward(); 'backward': loss.backward(losses) (GradNorm); 'pcgrad'. */
  mode: 'forward' | 'backward' | 'pcgrad';
  pcgrad: MultiTaskTrainingOptions['pcgrad'] | null;
}

/** The parameter group of the multi-task loss's learnable weights. */
export const MULTI_TASK_GROUP = 'multi_task';

function freshTaskAccumulators(n: number): TaskAccumulators {
  return { loggingSums: new Array<number>(n).fill(0), loggingSteps: 0, epochSums: new Array<number>(n).fill(0), epochSteps: 0 };
}

/** Uniform [0, 1) numbers from a 32-bit seed (mulberry32): PCGrad's reproducible order. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The task kinds a dataset (or the dataset a Subset views) declares, when it is a MultiTaskDataset. */
function taskKindsOf(dataset: unknown): Record<string, TaskKind> | null {
  for (let d: unknown = dataset, depth = 0; typeof d === 'object' && d !== null && depth < 8; d = (d as { dataset?: unknown }).dataset, depth++) {
    if (d instanceof MultiTaskDataset) return Object.fromEntries(d.tasks.map((t) => [t.name, t.kind]));
  }
  return null;
}

/** A model's output as per-task logits. */
function asMultiTaskOutput(value: unknown, model: Module, tasks: readonly string[]): MultiTaskModelOutput {
  const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !(v instanceof Tensor) && !Array.isArray(v);
  if (isRecord(value)) {
    const logits = value.logits;
    if (isRecord(logits) && tasks.every((t) => logits[t] instanceof Tensor)) return value as unknown as MultiTaskModelOutput;
    if (tasks.every((t) => value[t] instanceof Tensor)) return { logits: value as Record<string, Tensor> };
  }
  const got = value instanceof Tensor ? `a tensor of shape [${value.shape}]` : isRecord(value) ? `{ ${Object.keys(value).join(', ')} }` : typeof value;
  throw new Error(`multi-task training: ${model.constructor.name}.forward must return { logits: { ${tasks.map((t) => `${t}: Tensor`).join(', ')} } } (logits per task), got ${got}`);
}

/** The batch's labels of a task: `batch.labels[task]` (MultiTaskDataset), else `batch[task]`. */
function taskLabelsOf(batch: unknown, task: string): Tensor | undefined {
  if (typeof batch !== 'object' || batch === null || batch instanceof Tensor) return undefined;
  const b = batch as Record<string, unknown>;
  const labels = b.labels;
  if (typeof labels === 'object' && labels !== null && !(labels instanceof Tensor)) {
    const t = (labels as Record<string, unknown>)[task];
    if (t instanceof Tensor) return t;
  }
  return b[task] instanceof Tensor ? (b[task] as Tensor) : undefined;
}

/** The default loss of one task (see MultiTaskTrainingOptions.computeTaskLosses). */
function defaultTaskLoss(logits: Tensor, labels: Tensor, kind: TaskKind | undefined, labelSmoothing: number): Tensor {
  const classes = logits.ndim === 0 ? 1 : logits.shape[logits.ndim - 1];
  const crossEntropy = (target: Tensor) => {
    const flatLogits = logits.reshape([-1, classes]);
    const flatLabels = target.reshape([-1]).to('int64');
    return labelSmoothing > 0 ? labelSmoothedCrossEntropy(flatLogits, flatLabels, labelSmoothing) : F.crossEntropy(flatLogits, flatLabels);
  };
  switch (kind) {
    case 'classification':
      return crossEntropy(labels);
    case 'binary':
      if (classes === 2 && logits.numel() === 2 * labels.numel()) return crossEntropy(labels);
      return F.binaryCrossEntropyWithLogits(logits.reshape(labels.shape), labels.to(logits.dtype));
    case 'regression':
      return F.mseLoss(logits.reshape(labels.shape), labels.to(logits.dtype));
    default:
      if (isIntegerDtype(labels) && classes > 1) return crossEntropy(labels);
      return classificationLoss(logits, labels, classes);
  }
}

/** The default metrics of one task: binary tasks with one logit get accuracy and F1 of logit > 0; others defaultComputeMetrics. */
function defaultTaskMetrics(prediction: EvalPrediction, kind: TaskKind | undefined): Metrics {
  const { predictions, labelIds } = prediction;
  if (kind === 'binary' && predictions[0]?.length === 1 && labelIds && labelIds.length === predictions.length && labelIds.every((l) => l === 0 || l === 1)) {
    const labels = labelIds as number[];
    const predicted = predictions.map((row) => (row[0] > 0 ? 1 : 0));
    return { accuracy: accuracyScore(labels, predicted), f1: f1Score(labels, predicted, { average: 'binary', posLabel: 1 }) };
  }
  return defaultComputeMetrics(prediction);
}

function isIntegerDtype(t: Tensor): boolean {
  return /int/.test(t.dtype);
}

/** The batch's labels tensor: `labels`, else `label`. */
function labelsOf(batch: unknown): Tensor | undefined {
  if (typeof batch !== 'object' || batch === null || batch instanceof Tensor) return undefined;
  const b = batch as Record<string, unknown>;
  const labels = b.labels ?? b.label;
  return labels instanceof Tensor ? labels : undefined;
}

function callForward(model: Module, ...inputs: unknown[]): unknown {
  const forward = (model as unknown as { forward?: (...a: unknown[]) => unknown }).forward;
  if (typeof forward !== 'function') throw new Error(`${model.constructor.name} has no forward()`);
  return forward.apply(model, inputs);
}

/** The model inside a PeftModel (or the model). */
function innerModel(model: Module): Module {
  return model instanceof PeftModel ? model.model : model;
}

/**
 * total_flos as transformers estimates it (PreTrainedModel.floating_point_ops, after Kaplan et al. 2020,
 * section 2.1): 6 × tokens × non-embedding parameters per forward + backward pass — a multiply-add per
 * parameter and token forward, two backward. The parameters are all of the model's (frozen and adapter
 * ones included, as num_parameters(exclude_embeddings=True)) less the weights of its Embedding layers;
 * the tokens are a batch's input ids, padding included (input_ids.numel()). For a ViT they are its
 * patches and [CLS] per image: transformers counts pixel_values' elements there, which are not tokens.
 * A CNN gets no estimate (null; 0 in trainer_state.json, as transformers records for a model it cannot
 * estimate): its weights are reused at every position, so 6 × parameters × tokens describes nothing.
 */
class FlosEstimate {
  readonly #flosPerToken: number;
  /** Tokens per image (ViT), null for models whose inputs are token ids. */
  readonly #tokensPerImage: number | null;

  private constructor(flosPerToken: number, tokensPerImage: number | null) {
    this.#flosPerToken = flosPerToken;
    this.#tokensPerImage = tokensPerImage;
  }

  static of(model: Module): FlosEstimate | null {
    const inner = innerModel(model);
    if (inner instanceof ResNet || inner instanceof AlexNet) return null;
    const embeddingWeights = new Set(model.modules().flatMap((m) => (m instanceof Embedding ? [m.weight] : [])));
    const params = model.parameters().reduce((n, p) => n + (embeddingWeights.has(p) ? 0 : p.numel()), 0);
    const patches = model.modules().find((m): m is ViTPatchEmbeddings => m instanceof ViTPatchEmbeddings);
    return new FlosEstimate(6 * params, patches ? patches.numPatches + 1 : null);
  }

  /** The FLOs of a forward + backward pass over `batch` (0 when it holds neither input ids nor images). */
  of(batch: unknown): number {
    if (typeof batch !== 'object' || batch === null || batch instanceof Tensor) return 0;
    const b = batch as Record<string, unknown>;
    if (this.#tokensPerImage === null) return b.inputIds instanceof Tensor ? this.#flosPerToken * b.inputIds.numel() : 0;
    const images = b.pixelValues ?? b.image;
    return images instanceof Tensor ? this.#flosPerToken * this.#tokensPerImage * images.shape[0] : 0;
  }
}

/** Runs the model on a batch the way finetune's model families take their inputs (see TrainerOptions.forward). */
export function defaultForward(model: Module, batch: unknown, includeLabels: boolean): ModelOutput | Tensor {
  if (batch instanceof Tensor) return callForward(model, batch) as Tensor;
  if (typeof batch !== 'object' || batch === null) throw new Error(`the Trainer expects batches that are objects of tensors, got ${typeof batch}`);
  const b = batch as Record<string, unknown>;
  const inner = innerModel(model);
  if (inner instanceof ResNet || inner instanceof AlexNet) {
    const x = b.pixelValues ?? b.image ?? b.input;
    if (!(x instanceof Tensor)) throw new Error(`${inner.constructor.name} takes an image tensor: the batch needs 'image' or 'pixelValues' (it has ${Object.keys(b).join(', ')})`);
    return callForward(model, x) as Tensor;
  }
  const inputs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(b)) {
    if (key === 'label' || key === 'labels' || key === 'image') continue;
    inputs[key] = value;
  }
  if (b.image instanceof Tensor && !('pixelValues' in b)) inputs.pixelValues = b.image;
  const labels = labelsOf(batch);
  if (includeLabels && labels) inputs.labels = labels;
  return callForward(model, inputs) as ModelOutput | Tensor;
}

function asOutput(value: ModelOutput | MultiTaskModelOutput | Tensor, model: Module): ModelOutput {
  if (value instanceof Tensor) return { logits: value };
  if (typeof value === 'object' && value !== null && (value as ModelOutput).logits instanceof Tensor) return value as ModelOutput;
  if (typeof value === 'object' && value !== null && typeof value.logits === 'object' && value.logits !== null) {
    throw new Error(`${model.constructor.name}.forward returned logits per task (${Object.keys(value.logits).join(', ')}): give the Trainer multiTask: { loss: new optim.MultiTaskLoss([...tasks], strategy) }`);
  }
  throw new Error(`${model.constructor.name}.forward returned neither logits nor { logits, loss? }`);
}

/**
 * The model's config.json form (snake_case, model_type), when it is a registered family, over the
 * keys of the config.json it was loaded from that its typed config does not keep (the pretraining lr).
 */
function hfConfigOf(model: Module): HfConfig | null {
  const inner = innerModel(model);
  try {
    const { family, architecture } = familyOfModel(inner);
    const config = (inner as unknown as { config?: unknown }).config;
    return { ...loadedConfigOf(inner), ...(config === undefined ? { model_type: family.modelType } : family.configToHf(config, architecture)) };
  } catch {
    return null;
  }
}

function problemTypeOf(model: Module): ProblemType | null {
  const config = (innerModel(model) as unknown as { config?: { problemType?: ProblemType | null } }).config;
  return config?.problemType ?? null;
}

function groupThousands(n: number): string {
  return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** The head's lr and a discriminative setting → optim's DiscriminativeLr. */
function discriminativeSpec(setting: DiscriminativeLrSetting, lr: number): DiscriminativeLr {
  if (setting === 'slice') return [lr];
  if ('factor' in setting) return { hi: lr, factor: setting.factor };
  return [setting.lo, lr];
}

export class Trainer implements TrainerLike {
  readonly args: TrainingArguments;
  /** The model being trained (a PeftModel when the strategy is a PEFT config). */
  readonly model: Module;
  readonly trainDataset: Dataset<unknown> | null;
  readonly evalDataset: Dataset<unknown> | null;
  readonly callbackHandler: CallbackHandler;
  state = new TrainerState();
  readonly control = new TrainerControl();
  optimizer: Optimizer | null;
  scheduler: SchedulerLike | null;
  /** The learning rate in use: args.learningRate, or the strategy's default. */
  readonly learningRate: number;
  /** Where the learning rate comes from (printed with the plan). */
  readonly learningRateReason: string;

  readonly #collate: ((examples: unknown[]) => unknown) | null;
  readonly #computeMetrics: ((prediction: EvalPrediction) => Metrics) | null;
  readonly #forward: ((model: Module, batch: unknown) => ModelOutput | MultiTaskModelOutput | Tensor) | null;
  readonly #computeLoss: ((outputs: ModelOutput, labels: Tensor | undefined, batch: unknown) => Tensor) | null;
  readonly #log: ((line: string) => void) | null;
  /** The registered fine-tuning method's name (peft's registerMethod), for the default lr. */
  readonly #method: string;
  readonly #multiTask: ResolvedMultiTask | null;
  /** The multi-task loss's learnable weights, once they are in the optimizer (left out of clipping and grad_norm). */
  #multiTaskParams = new Set<Tensor>();
  #taskAcc: TaskAccumulators = freshTaskAccumulators(0);
  #acc: Accumulators = { loggingLossSum: 0, loggingLossSteps: 0, totalLossSum: 0, totalLossSteps: 0, skippedSteps: 0 };
  #lastLoggedStep = -1;
  #lastEvaluatedStep = -1;
  #lastSavedStep = -1;
  #lastGradNorm: number | undefined;
  #loaderPosition = { epoch: 0, position: 0, seed: 0, batchesPerEpoch: 0 };

  constructor(options: TrainerOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('Trainer expects { model, args, trainDataset, … }');
    const { model } = options;
    if (!model || typeof (model as Module).namedParameters !== 'function') throw new TypeError('Trainer: model must be a finetune nn.Module');
    this.args = options.args instanceof TrainingArguments ? options.args : new TrainingArguments(options.args ?? {});
    this.trainDataset = options.trainDataset ?? null;
    this.evalDataset = options.evalDataset ?? null;
    this.#collate = options.collate ?? null;
    this.#computeMetrics = options.computeMetrics === undefined ? defaultComputeMetrics : options.computeMetrics;
    this.#forward = options.forward ?? null;
    this.#computeLoss = options.computeLoss ?? null;
    this.#log = options.log === undefined ? (line) => console.log(line) : options.log;
    this.optimizer = options.optimizers?.[0] ?? null;
    this.scheduler = options.optimizers?.[1] ?? null;
    this.#multiTask = resolveMultiTask(options);
    this.#taskAcc = freshTaskAccumulators(this.#multiTask?.tasks.length ?? 0);

    const { model: prepared, method } = this.#applyStrategy(model);
    this.model = prepared;
    this.#method = method;

    const callbacks: TrainerCallback[] = [];
    for (const factory of DEFAULT_CALLBACKS) {
      const callback = factory(this.args);
      if (callback) callbacks.push(callback);
    }
    const strategy = this.args.strategy;
    if (strategy && !(strategy instanceof PeftConfig) && strategy.kind === 'gradual-unfreezing') {
      callbacks.push(new GradualUnfreezingCallback({ schedule: strategy.schedule }));
    }
    if (this.args.earlyStoppingPatience !== null) {
      callbacks.push(new EarlyStoppingCallback({ patience: this.args.earlyStoppingPatience, threshold: this.args.earlyStoppingThreshold }));
    }
    this.callbackHandler = new CallbackHandler([...callbacks, ...(options.callbacks ?? [])]);

    if (this.args.learningRate !== undefined) {
      this.learningRate = this.args.learningRate;
      this.learningRateReason = `lr ${formatLr(this.learningRate)} (learningRate)`;
    } else {
      const chosen = defaultFineTuneLr({ method: this.#method, config: hfConfigOf(this.model) });
      this.learningRate = chosen.lr;
      this.learningRateReason = chosen.reason;
    }
    for (const callback of this.callbackHandler.callbacks) {
      const result = callback.onInitEnd?.call(callback, this.args, this.state, this.control, this.#context());
      if (result instanceof Promise) throw new Error('onInitEnd must be synchronous (it runs in the Trainer constructor)');
    }
  }

  // ---- strategy, optimizer, scheduler ------------------------------------------------------------

  #applyStrategy(model: Module): { model: Module; method: string } {
    const strategy = this.args.strategy;
    if (strategy instanceof PeftConfig) {
      if (model instanceof PeftModel) throw new Error('Trainer: the model is already a PeftModel; leave strategy out (or pass the base model)');
      const wrapped = getPeftModel(model, strategy);
      return { model: wrapped, method: methodOfStrategy(strategy).name };
    }
    if (model instanceof PeftModel) {
      if (strategy) throw new Error(`Trainer: strategy '${describeStrategy(strategy)}' does not apply to a PeftModel (its adapter decides what trains)`);
      return { model, method: methodOfStrategy([...model.peftConfig.values()][0]).name };
    }
    if (!strategy) {
      const all = model.parameters();
      return { model, method: all.every((p) => p.requiresGrad) ? 'full' : 'head' };
    }
    const method = methodOfStrategy(strategy).name;
    if (strategy.kind !== 'gradual-unfreezing') applyFreezingStrategy(model, strategy, { trainBatchNorm: this.args.trainBatchNorm });
    return { model, method };
  }

  /** The optimizer's parameter groups from the arguments: weight-decay groups, discriminative or layer-wise lrs. */
  #paramGroups(): ParamGroupSpec[] {
    const { args, model } = this;
    const lr = this.learningRate;
    const options = { weightDecay: args.weightDecay, rule: args.weightDecayRule };
    let groups: ParamGroupSpec[];
    if (args.discriminativeLr) groups = discriminativeLr(model, discriminativeSpec(args.discriminativeLr, lr), options);
    else if (args.layerwiseLrDecay !== null) groups = layerwiseLrDecay(model, { lr, decay: args.layerwiseLrDecay, ...options });
    else groups = weightDecayGroups(model, options);
    if (groups.length === 0) throw new Error(`Trainer: no parameter of ${model.constructor.name} requires grad (strategy: ${describeStrategy(args.strategy)}), so there is nothing to train`);
    return groups;
  }

  /** Each layer group's lr (input side first), as #paramGroups gives them. */
  #layerLrs(count: number): number[] {
    const { args } = this;
    if (args.discriminativeLr) return lrRange(discriminativeSpec(args.discriminativeLr, this.learningRate), count);
    if (args.layerwiseLrDecay !== null) return Array.from({ length: count }, (_, i) => this.learningRate * args.layerwiseLrDecay! ** (count - 1 - i));
    return new Array<number>(count).fill(this.learningRate);
  }

  /** HF's create_optimizer: the optimizer named by args.optim over #paramGroups(). */
  createOptimizer(): Optimizer {
    if (this.optimizer) return this.optimizer;
    const { args } = this;
    const groups = this.#paramGroups();
    const lr = this.learningRate;
    switch (args.optim) {
      case 'adamw_torch':
      case 'adamw_torch_fused':
        this.optimizer = new AdamW(groups, { lr, betas: [args.adamBeta1, args.adamBeta2], eps: args.adamEpsilon, weightDecay: args.weightDecay });
        break;
      case 'adam':
        this.optimizer = new Adam(groups, { lr, betas: [args.adamBeta1, args.adamBeta2], eps: args.adamEpsilon, weightDecay: args.weightDecay });
        break;
      case 'sgd':
        this.optimizer = new SGD(groups, { lr, momentum: args.sgdMomentum, weightDecay: args.weightDecay });
        break;
    }
    return this.optimizer!;
  }

  /**
   * Puts the multi-task loss's learnable weights (uncertainty's s_i, GradNorm's w_i) into the
   * optimizer as the parameter group `multi_task`: lr multiTask.lr (default the Trainer's), no
   * weight decay. An existing LRScheduler scales it too. Nothing when the optimizer holds them already.
   */
  #addMultiTaskParams(): void {
    const mt = this.#multiTask;
    const optimizer = this.optimizer;
    if (!mt || !optimizer) return;
    const params = mt.loss.parameters();
    const held = new Set(optimizer.paramGroups.flatMap((g) => g.params));
    const fresh = params.filter((p) => !held.has(p));
    if (fresh.length) {
      const name = mt.loss.strategy.kind === 'uncertainty' ? 'log_variances' : 'task_weights';
      const group = optimizer.addParamGroup({ name: MULTI_TASK_GROUP, params: fresh, paramNames: fresh.map((_, i) => `${MULTI_TASK_GROUP}.${name}${i ? `.${i}` : ''}`), lr: mt.lr ?? this.learningRate, weightDecay: 0 });
      if (this.scheduler instanceof LRScheduler) {
        const s = this.scheduler as unknown as { baseLrs: number[]; lambdas: ((step: number) => number)[]; apply(): void };
        s.baseLrs.push(group.initialLr);
        s.lambdas.push(s.lambdas[0]);
        s.apply();
      }
    }
    this.#multiTaskParams = new Set(params);
  }

  /** HF's create_scheduler: lrSchedulerType over `numTrainingSteps` with the warmup and lrSchedulerKwargs. */
  createScheduler(numTrainingSteps: number): SchedulerLike {
    if (this.scheduler) return this.scheduler;
    const { args } = this;
    const optimizer = this.createOptimizer();
    const warmup = args.warmupRatio > 0 ? { warmupRatio: args.warmupRatio } : { numWarmupSteps: args.warmupSteps };
    try {
      this.scheduler = getScheduler(args.lrSchedulerType, optimizer, { numTrainingSteps, ...warmup, ...args.lrSchedulerKwargs });
    } catch (error) {
      throw new Error(`Trainer: lrSchedulerType '${args.lrSchedulerType}': ${(error as Error).message}`, { cause: error });
    }
    return this.scheduler;
  }

  /**
   * fastai's Learner.lr_find: the learning-rate range test (optim.lrFind: lrs from startLr to endLr
   * over numIt steps, valley / minimum / steep suggestions, or `refused` with why on a curve that
   * does not fall clearly) on this Trainer's model, optimizer (createOptimizer: its parameter groups,
   * weight decay, betas) and training data (shuffled batches of
   * perDeviceTrainBatchSize from the data seed), one batch a step, with train()'s loss and gradient
   * clipping. The weights, the optimizer's state and hyperparameters and the random generator are
   * restored afterwards, so train() runs as it would have; the Trainer keeps its learningRate — give
   * a new Trainer the suggestion (fastai's habit: lr_find, then fit_one_cycle at the valley).
   * startLr / endLr given as one number are the head's: groups at other lrs (discriminative or
   * layer-wise) sweep in proportion, so the suggestion is a learningRate for this Trainer's setup.
   */
  async lrFind(options: TrainerLrFindOptions = {}): Promise<LrFindResult> {
    if (this.#multiTask) throw new Error('Trainer.lrFind: multi-task training is not supported (run optim.lrFind with your own trainStep)');
    if (this.args.threads !== null) setNumThreads(this.args.threads);
    const loader = this.#trainLoader();
    const optimizer = this.createOptimizer();
    const ratios = optimizer.paramGroups.map((g) => g.lr / this.learningRate);
    const perGroup = (value: number | number[] | undefined, fallback: number) => (Array.isArray(value) ? value : ratios.map((r) => r * (value ?? fallback)));
    const generator = getRngState();
    const wasTraining = this.model.training;
    let epoch = 0;
    let batches = loader.epoch(epoch);
    this.model.train();
    try {
      return await lrFind({
        ...options,
        startLr: perGroup(options.startLr, LR_FIND_DEFAULTS.startLr),
        endLr: perGroup(options.endLr, LR_FIND_DEFAULTS.endLr),
        optimizer,
        model: this.model,
        trainStep: async () => {
          let next = await batches.next();
          if (next.done) {
            batches = loader.epoch(++epoch);
            next = await batches.next();
          }
          const loss = this.#microStep(next.value, 1);
          if (Number.isFinite(loss)) this.#clipGradients();
          return loss;
        },
      });
    } finally {
      await batches.return();
      setRngState(generator);
      generator.dispose();
      if (!wasTraining) this.model.eval();
    }
  }

  /**
   * Gives the optimizer the trainable parameters of these layer groups that it does not hold yet, one
   * parameter group per layer group and weight-decay class (`<group>:decay`, `<group>:no_decay`), at the
   * group's lr; the scheduler scales them from the current step on. Gradual unfreezing calls it.
   */
  addLayerGroupsToOptimizer(groupNames: string[]): void {
    const optimizer = this.optimizer;
    if (!optimizer) return; // not built yet: it will take every trainable parameter
    const layerGroups = parameterGroupsOf(innerModel(this.model));
    const held = new Set(optimizer.paramGroups.flatMap((g) => g.params));
    const exemptNames = new Set(noWeightDecayNames(this.model, { rule: this.args.weightDecayRule }));
    const lrs = this.#layerLrs(layerGroups.length);
    const added: ParamGroup[] = [];
    for (const name of groupNames) {
      const index = layerGroups.findIndex((g) => g.name === name);
      if (index < 0) throw new Error(`addLayerGroupsToOptimizer: no layer group '${name}' (groups: ${layerGroups.map((g) => g.name).join(', ')})`);
      const fresh = layerGroups[index].parameters.filter(([, p]) => p.requiresGrad && !held.has(p));
      for (const [suffix, weightDecay, keep] of [
        ['decay', this.args.weightDecay, (n: string) => !exemptNames.has(n)],
        ['no_decay', 0, (n: string) => exemptNames.has(n)],
      ] as const) {
        const part = fresh.filter(([n]) => keep(n));
        if (part.length === 0) continue;
        added.push(optimizer.addParamGroup({ name: `${name}:${suffix}`, params: part.map(([, p]) => p), paramNames: part.map(([n]) => n), lr: lrs[index], weightDecay }));
        for (const [, p] of part) held.add(p);
      }
    }
    if (added.length && this.scheduler instanceof LRScheduler) {
      // The schedule covers the new groups too: same multiplier, their own base lr.
      const s = this.scheduler as unknown as { baseLrs: number[]; lambdas: ((step: number) => number)[]; apply(): void };
      for (const group of added) {
        s.baseLrs.push(group.initialLr);
        s.lambdas.push(s.lambdas[0]);
      }
      s.apply();
    }
  }

  // ---- callbacks ---------------------------------------------------------------------------------

  addCallback(callback: TrainerCallback): void {
    this.callbackHandler.add(callback);
  }

  /** Removes (and returns) a callback, given itself or its class. */
  popCallback(which: TrainerCallback | (abstract new (...args: never[]) => TrainerCallback)): TrainerCallback | undefined {
    return this.callbackHandler.pop(which);
  }

  removeCallback(which: TrainerCallback | (abstract new (...args: never[]) => TrainerCallback)): void {
    this.callbackHandler.pop(which);
  }

  #context(extra: Partial<CallbackContext> = {}): CallbackContext {
    return { trainer: this, model: this.model, optimizer: this.optimizer, scheduler: this.scheduler, batchesPerEpoch: this.#loaderPosition.batchesPerEpoch || undefined, ...extra };
  }

  async #call(event: CallbackEvent, extra: Partial<CallbackContext> = {}): Promise<void> {
    await this.callbackHandler.call(event, this.args, this.state, this.control, this.#context(extra));
  }

  log(line: string): void {
    this.#log?.(line);
  }

  // ---- data --------------------------------------------------------------------------------------

  #collateFor(dataset: Dataset<unknown>): ((examples: unknown[]) => unknown) | undefined {
    if (this.#collate) return this.#collate;
    // The dataset's own collator, or that of the dataset a Subset (trainValidationSplit) views.
    for (let d: unknown = dataset, depth = 0; typeof d === 'object' && d !== null && depth < 8; d = (d as { dataset?: unknown }).dataset, depth++) {
      const own = (d as { collator?: () => (examples: unknown[]) => unknown }).collator;
      if (typeof own === 'function') return own.call(d);
      if (d instanceof MultiTaskDataset) return d.collate as (examples: unknown[]) => unknown;
    }
    return undefined;
  }

  #trainLoader(): DataLoader<unknown, unknown> {
    const dataset = this.trainDataset;
    if (!dataset) throw new Error('Trainer.train: no trainDataset');
    const loader = new DataLoader<unknown, unknown>(dataset, {
      batchSize: this.args.perDeviceTrainBatchSize,
      shuffle: true,
      seed: this.args.dataOrderSeed,
      dropLast: this.args.dataloaderDropLast,
      collate: this.#collateFor(dataset),
      prefetch: this.args.dataloaderPrefetch,
    });
    if (loader.length === 0) {
      throw new Error(`Trainer.train: the training data gives no batch (${dataset.length} examples, batch size ${this.args.perDeviceTrainBatchSize}${this.args.dataloaderDropLast ? ', dataloaderDropLast' : ''})`);
    }
    return loader;
  }

  /** Steps per epoch and in total, as train() will run them. */
  #schedule(batchesPerEpoch: number): { updatesPerEpoch: number; maxSteps: number; numEpochs: number } {
    const { args } = this;
    const updatesPerEpoch = Math.ceil(batchesPerEpoch / args.gradientAccumulationSteps);
    const maxSteps = args.maxSteps > 0 ? args.maxSteps : Math.ceil(args.numTrainEpochs * updatesPerEpoch);
    const numEpochs = Math.ceil(maxSteps / updatesPerEpoch);
    return { updatesPerEpoch, maxSteps, numEpochs };
  }

  // ---- forward and loss --------------------------------------------------------------------------

  /** The outputs, the loss (when it can be computed) and the labels of a batch. */
  #lossAndOutputs(batch: unknown): { output: ModelOutput; loss: Tensor | undefined; labels: Tensor | undefined } {
    const labels = labelsOf(batch);
    const smoothing = this.args.labelSmoothingFactor > 0 && labels !== undefined && isIntegerDtype(labels) && !this.#computeLoss;
    const raw = this.#forward ? this.#forward(this.model, batch) : defaultForward(this.model, batch, !smoothing && !this.#computeLoss);
    const output = asOutput(raw, this.model);
    let loss: Tensor | undefined;
    if (this.#computeLoss) loss = this.#computeLoss(output, labels, batch);
    else if (smoothing) {
      const classes = output.logits.shape[output.logits.ndim - 1];
      loss = labelSmoothedCrossEntropy(output.logits.reshape([-1, classes]), labels!.reshape([-1]), this.args.labelSmoothingFactor);
    } else if (output.loss) loss = output.loss;
    else if (labels) loss = classificationLoss(output.logits, labels, output.logits.shape[output.logits.ndim - 1], problemTypeOf(this.model));
    return { output, loss, labels };
  }

  /** Forward + backward of one micro-batch, scaled by 1/scale; returns the unscaled loss (not backpropagated when not finite). */
  #microStep(batch: unknown, scale: number): number {
    return tidy(() => {
      const { loss } = this.#lossAndOutputs(batch);
      if (!loss) throw new Error(`Trainer: ${this.model.constructor.name} returned no loss and the batch has no labels ('labels' or 'label'); give computeLoss or labelled data`);
      const value = Number(loss.item());
      if (Number.isFinite(value)) (scale === 1 ? loss : loss.div(scale)).backward();
      return value;
    });
  }

  /** The per-task logits of a batch (multi-task): multiTask's forward, else the batch's `input` tensor, else the default forward. */
  #multiTaskOutputs(batch: unknown): MultiTaskModelOutput {
    const mt = this.#multiTask!;
    let raw: unknown;
    if (this.#forward) raw = this.#forward(this.model, batch);
    else if (typeof batch === 'object' && batch !== null && !(batch instanceof Tensor) && (batch as { input?: unknown }).input instanceof Tensor) raw = callForward(this.model, (batch as { input: Tensor }).input);
    else raw = defaultForward(this.model, batch, false);
    return asMultiTaskOutput(raw, this.model, mt.tasks);
  }

  /** The task losses of a batch (multi-task), checked: a scalar for every task. */
  #taskLosses(output: MultiTaskModelOutput, batch: unknown): TaskLosses {
    const mt = this.#multiTask!;
    if (mt.computeTaskLosses) {
      const losses = mt.computeTaskLosses(output, batch);
      if (typeof losses !== 'object' || losses === null) throw new Error('multiTask.computeTaskLosses must return { <task>: scalar Tensor }');
      for (const t of mt.tasks) if (!(losses[t] instanceof Tensor)) throw new Error(`multiTask.computeTaskLosses returned no loss for task '${t}' (it gave ${Object.keys(losses).join(', ') || 'none'})`);
      return losses;
    }
    const losses: TaskLosses = {};
    for (const t of mt.tasks) {
      const labels = taskLabelsOf(batch, t);
      if (!labels) throw new Error(`multi-task training: the batch has no labels for task '${t}' (batch.labels.${t}); give multiTask.computeTaskLosses or MultiTaskDataset batches`);
      losses[t] = defaultTaskLoss(output.logits[t], labels, mt.taskKinds?.[t], this.args.labelSmoothingFactor);
    }
    return losses;
  }

  /**
   * Forward + backward of one micro-batch with the multi-task loss: the weighted total scaled by
   * 1/scale (forward and PCGrad modes; GradNorm's own backward gets the plain losses and the step's
   * gradients are averaged afterwards). Returns the total and each task's loss (nothing is
   * backpropagated when one is not finite).
   */
  #multiTaskMicroStep(batch: unknown, scale: number, seed: number): { value: number; tasks: number[] } {
    const mt = this.#multiTask!;
    return tidy(() => {
      const output = this.#multiTaskOutputs(batch);
      const losses = this.#taskLosses(output, batch);
      const tasks = mt.tasks.map((t) => Number(losses[t].item()));
      if (!tasks.every(Number.isFinite)) return { value: tasks.find((v) => !Number.isFinite(v))!, tasks };
      switch (mt.mode) {
        case 'backward':
          return { value: Number(mt.loss.backward(losses).item()), tasks };
        case 'pcgrad': {
          const weights = mt.loss.weights();
          const weighted = mt.tasks.map((t) => losses[t].reshape([]).mul(weights[t] / scale));
          pcgradBackward(weighted, mt.pcgrad!.sharedParameters, { random: seededRandom(seed), reduction: mt.pcgrad!.reduction });
          return { value: mt.tasks.reduce((acc, t, i) => acc + weights[t] * tasks[i], 0), tasks };
        }
        default: {
          const total = mt.loss.forward(losses);
          const value = Number(total.item());
          if (Number.isFinite(value)) (scale === 1 ? total : total.div(scale)).backward();
          return { value, tasks };
        }
      }
    });
  }

  /** Divides the optimizer's gradients by `count` (GradNorm's own backward over a step of several micro-batches). */
  #averageGradients(count: number): void {
    const params = this.optimizer!.paramGroups.flatMap((g) => g.params);
    noGrad(() =>
      tidy(() => {
        for (const p of params) p.grad?.div_(count);
      }),
    );
  }

  /** Closes a multi-task epoch: loss.onEpochEnd(the epoch's average task losses), accumulators reset. */
  #closeMultiTaskEpoch(): void {
    const mt = this.#multiTask;
    if (!mt) return;
    const acc = this.#taskAcc;
    if (acc.epochSteps > 0) mt.loss.onEpochEnd(Object.fromEntries(mt.tasks.map((t, i) => [t, acc.epochSums[i] / acc.epochSteps])));
    acc.epochSums.fill(0);
    acc.epochSteps = 0;
  }

  /** The model's parameters in the optimizer (the multi-task loss's weights left out: they are not clipped nor counted in grad_norm). */
  #trainableParams(): Tensor[] {
    const params = this.optimizer!.paramGroups.flatMap((g) => g.params);
    return this.#multiTaskParams.size ? params.filter((p) => !this.#multiTaskParams.has(p)) : params;
  }

  /** Clips (or measures) the global gradient norm; returns it as a number. */
  #clipGradients(): number {
    const params = this.#trainableParams();
    return tidy(() => {
      if (this.args.maxGradNorm > 0) return Number(clipGradNorm_(params, this.args.maxGradNorm).item());
      const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
      return Number(getTotalNorm(grads).item());
    });
  }

  #zeroGrad(): void {
    this.optimizer?.zeroGrad();
    this.model.zeroGrad();
  }

  // ---- the plan ----------------------------------------------------------------------------------

  /** What train() will do, in a few lines (printed at its start): trainable parameters, lr and where it comes from, optimizer, schedule, steps. */
  planLines(): string[] {
    const { args, model } = this;
    const lines: string[] = [];
    const inner = innerModel(model);
    const counts =
      model instanceof PeftModel
        ? model.trainableParametersLine()
        : (() => {
            const all = model.parameters();
            const total = all.reduce((n, p) => n + p.numel(), 0);
            const trainable = all.filter((p) => p.requiresGrad).reduce((n, p) => n + p.numel(), 0);
            return `trainable params: ${groupThousands(trainable)} || all params: ${groupThousands(total)} || trainable%: ${total ? ((100 * trainable) / total).toFixed(4) : '0.0000'}`;
          })();
    lines.push(`${inner.constructor.name}, strategy ${describeStrategy(args.strategy ?? (model instanceof PeftModel ? [...model.peftConfig.values()][0] : null))}: ${counts}`);
    let lrLine = this.learningRateReason;
    if (args.discriminativeLr) {
      const d = args.discriminativeLr;
      lrLine += ` for the head; lower layer groups ${d === 'slice' ? 'at lr/10 (fastai slice)' : 'factor' in d ? `÷ ${d.factor} per group (ULMFiT)` : `geometric from ${formatLr(d.lo)}`}`;
    } else if (args.layerwiseLrDecay !== null) lrLine += ` for the head; × ${args.layerwiseLrDecay} per layer group below (layer-wise decay)`;
    lines.push(lrLine);
    const optimizerLine =
      args.optim === 'sgd'
        ? `optimizer sgd (momentum ${args.sgdMomentum}, weight decay ${args.weightDecay})`
        : `optimizer ${args.optim} (betas ${args.adamBeta1}/${args.adamBeta2}, eps ${args.adamEpsilon}, weight decay ${args.weightDecay}, ${args.weightDecayRule} no-decay rule)`;
    if (this.trainDataset) {
      const batchesPerEpoch = args.dataloaderDropLast
        ? Math.floor(this.trainDataset.length / args.perDeviceTrainBatchSize)
        : Math.ceil(this.trainDataset.length / args.perDeviceTrainBatchSize);
      const { updatesPerEpoch, maxSteps, numEpochs } = this.#schedule(Math.max(batchesPerEpoch, 1));
      const warmup = args.warmupRatio > 0 ? Math.ceil(maxSteps * args.warmupRatio) : args.warmupSteps;
      lines.push(`${optimizerLine}; schedule ${args.lrSchedulerType}${warmup ? `, warmup ${warmup} of ${maxSteps} steps` : ''}`);
      lines.push(
        `${maxSteps} optimizer steps: ${numEpochs} epoch(s) × ${updatesPerEpoch} steps (batch ${args.perDeviceTrainBatchSize} × accumulation ${args.gradientAccumulationSteps}; ${this.trainDataset.length} training examples)`,
      );
    } else lines.push(optimizerLine);
    const mt = this.#multiTask;
    if (mt) {
      const learnable = mt.loss.parameters().reduce((n, p) => n + p.numel(), 0);
      const how = mt.mode === 'backward' ? ', its own backward' : mt.mode === 'pcgrad' ? ', PCGrad on the shared parameters' : '';
      lines.push(
        `multi-task: ${mt.tasks.length} tasks (${mt.tasks.join(', ')}), ${mt.loss.strategy.kind} weighting${how}` +
          (learnable ? `; ${learnable} learnable weights in parameter group '${MULTI_TASK_GROUP}' at lr ${formatLr(mt.lr ?? this.learningRate)}, no weight decay` : ''),
      );
    }
    return lines;
  }

  // ---- training ----------------------------------------------------------------------------------

  async train(options: TrainCallOptions = {}): Promise<TrainOutput> {
    const { args } = this;
    if (args.threads !== null) setNumThreads(args.threads);
    const resumeSetting = options.resumeFromCheckpoint !== undefined ? options.resumeFromCheckpoint : args.resumeFromCheckpoint;
    let resumeDir: string | null = null;
    if (resumeSetting === true) {
      resumeDir = latestCheckpoint(args.outputDir);
      if (!resumeDir) throw new Error(`resumeFromCheckpoint: no valid checkpoint (${CHECKPOINT_PREFIX}-<step> with ${TRAINER_STATE_NAME}) in ${args.outputDir}`);
    } else if (typeof resumeSetting === 'string') resumeDir = resumeSetting;

    manualSeed(args.seed);
    mkdirSync(args.outputDir, { recursive: true });
    await removeStaleTemporaries(args.outputDir);

    const loader = this.#trainLoader();
    const batchesPerEpoch = loader.length;
    const { maxSteps, numEpochs } = this.#schedule(batchesPerEpoch);
    const ratio = (value: number) => (value < 1 ? Math.ceil(maxSteps * value) : value);

    this.createOptimizer();
    this.#addMultiTaskParams();
    this.createScheduler(maxSteps);

    let state = new TrainerState();
    let startEpoch = 0;
    let startBatch = 0;
    this.#acc = { loggingLossSum: 0, loggingLossSteps: 0, totalLossSum: 0, totalLossSteps: 0, skippedSteps: 0 };
    this.#taskAcc = freshTaskAccumulators(this.#multiTask?.tasks.length ?? 0);
    if (resumeDir) {
      ({ state, startEpoch, startBatch } = await this.#resume(resumeDir, batchesPerEpoch));
    }
    state.maxSteps = maxSteps;
    state.numTrainEpochs = numEpochs;
    state.loggingSteps = ratio(args.loggingSteps);
    state.evalSteps = ratio(args.evalSteps);
    state.saveSteps = ratio(args.saveSteps);
    state.trainBatchSize = args.perDeviceTrainBatchSize;
    this.state = state;
    this.#lastLoggedStep = state.globalStep;
    this.#lastEvaluatedStep = -1;
    this.#lastSavedStep = resumeDir ? state.globalStep : -1;
    this.#loaderPosition = { epoch: startEpoch, position: startBatch, seed: args.dataOrderSeed, batchesPerEpoch };
    if ((args.evalStrategy !== 'no' || args.loadBestModelAtEnd) && !this.evalDataset) {
      throw new Error(`Trainer: evalStrategy '${args.evalStrategy}' needs an evalDataset`);
    }

    for (const line of this.planLines()) this.log(line);
    if (resumeDir) this.log(`resuming from ${resumeDir}: step ${state.globalStep} of ${maxSteps}, epoch ${startEpoch}, batch ${startBatch} of ${batchesPerEpoch}`);

    const flos = FlosEstimate.of(this.model);
    const startTime = performance.now();
    const startStep = state.globalStep;
    this.model.train();
    await this.#call('onTrainBegin');

    const ga = args.gradientAccumulationSteps;
    const done = state.globalStep >= maxSteps;
    if (done) this.log(`nothing to train: the checkpoint is at step ${state.globalStep} of ${maxSteps}`);
    for (let epoch = startEpoch; epoch < numEpochs && !done && !this.control.shouldTrainingStop; epoch++) {
      const first = epoch === startEpoch ? startBatch : 0;
      await this.#call('onEpochBegin', { epochIndex: epoch });
      const batches = loader.epoch(epoch, { startBatch: first });
      let position = first;
      try {
        while (position < batchesPerEpoch && state.globalStep < maxSteps) {
          const cycle = Math.min(ga, batchesPerEpoch - position);
          await this.#call('onStepBegin');
          let lossSum = 0;
          let bad: number | null = null;
          const mt = this.#multiTask;
          const taskSums = mt ? new Array<number>(mt.tasks.length).fill(0) : null;
          for (let k = 0; k < cycle; k++) {
            const next = await batches.next();
            if (next.done) throw new Error(`internal error: the data loader ended at batch ${position} of ${batchesPerEpoch}`);
            if (flos) state.totalFlos += flos.of(next.value);
            let value: number;
            if (mt) {
              const result = this.#multiTaskMicroStep(next.value, cycle, (Math.imul(args.seed, 0x9e3779b1) ^ Math.imul(state.globalStep + 1, 0x85ebca6b) ^ k) >>> 0);
              value = result.value;
              if (Number.isFinite(value)) result.tasks.forEach((v, i) => (taskSums![i] += v));
            } else value = this.#microStep(next.value, cycle);
            if (!Number.isFinite(value)) {
              if (args.nanPolicy === 'stop') {
                this.#zeroGrad();
                throw new Error(
                  `training stopped at step ${state.globalStep + 1} (epoch ${epoch}, batch ${position + 1} of ${batchesPerEpoch}): the loss is ${value} (nanPolicy 'stop'). ` +
                    "Lower the learning rate, check the data for bad values, or set nanPolicy: 'skip' to skip such updates",
                );
              }
              bad ??= value;
            } else lossSum += value;
            position++;
          }
          let gradNorm = NaN;
          if (bad === null) {
            if (mt?.mode === 'backward' && cycle > 1) this.#averageGradients(cycle);
            gradNorm = this.#clipGradients();
            if (!Number.isFinite(gradNorm)) {
              if (args.nanPolicy === 'stop') {
                this.#zeroGrad();
                throw new Error(
                  `training stopped at step ${state.globalStep + 1} (epoch ${epoch}, batch ${position} of ${batchesPerEpoch}): the gradient norm is ${gradNorm} (nanPolicy 'stop'). ` +
                    "Lower the learning rate, check the data for bad values, or set nanPolicy: 'skip' to skip such updates",
                );
              }
            }
          }
          const skipped = bad !== null || !Number.isFinite(gradNorm);
          if (skipped) {
            this.#acc.skippedSteps++;
            this.log(`step ${state.globalStep + 1}: ${bad !== null ? `the loss is ${bad}` : `the gradient norm is ${gradNorm}`}; update skipped (nanPolicy 'skip', ${this.#acc.skippedSteps} so far)`);
          } else {
            this.optimizer!.step();
          }
          if (this.scheduler instanceof LRScheduler) this.scheduler.step();
          // The weighting advances with every step the scheduler takes (α(t) follows globalStep; GradNorm renormalises).
          mt?.loss.step();
          this.#zeroGrad();
          const stepLoss = skipped ? NaN : lossSum / cycle;
          if (!skipped) {
            this.#acc.loggingLossSum += stepLoss;
            this.#acc.loggingLossSteps++;
            this.#acc.totalLossSum += stepLoss;
            this.#acc.totalLossSteps++;
            if (taskSums) {
              const acc = this.#taskAcc;
              taskSums.forEach((sum, i) => {
                acc.loggingSums[i] += sum / cycle;
                acc.epochSums[i] += sum / cycle;
              });
              acc.loggingSteps++;
              acc.epochSteps++;
            }
          }
          state.globalStep++;
          state.epoch = epoch + position / batchesPerEpoch;
          this.#loaderPosition = { ...this.#loaderPosition, epoch, position };
          this.#lastGradNorm = gradNorm;
          await this.#call('onStepEnd', { loss: stepLoss, gradNorm });
          await this.#maybeLogSaveEvaluate();
          if (this.control.shouldEpochStop || this.control.shouldTrainingStop) break;
        }
      } finally {
        await batches.return(undefined);
      }
      this.#closeMultiTaskEpoch();
      await this.#call('onEpochEnd', { epochIndex: epoch });
      await this.#maybeLogSaveEvaluate();
    }

    // ---- the end ----
    if (args.loadBestModelAtEnd && state.bestModelCheckpoint && existsSync(state.bestModelCheckpoint)) {
      this.log(`loading the best model from ${state.bestModelCheckpoint} (${args.metricKey} ${state.bestMetric})`);
      await loadModelWeights(this.model, state.bestModelCheckpoint);
    }
    const runtime = (performance.now() - startTime) / 1000;
    const steps = state.globalStep - startStep;
    const trainingLoss = this.#acc.totalLossSteps ? this.#acc.totalLossSum / this.#acc.totalLossSteps : NaN;
    const metrics: Metrics = {
      train_runtime: round4(runtime),
      train_samples_per_second: round3((steps * args.perDeviceTrainBatchSize * ga) / Math.max(runtime, 1e-9)),
      train_steps_per_second: round3(steps / Math.max(runtime, 1e-9)),
      total_flos: state.totalFlos,
      train_loss: trainingLoss,
    };
    if (this.#acc.skippedSteps) metrics.train_skipped_steps = this.#acc.skippedSteps;
    await this.#logEntry({ ...metrics });
    metrics.epoch = state.epoch;
    if (args.saveTotalLimit === 1 && state.bestModelCheckpoint) {
      // HF: with one checkpoint to keep and a best model, only the best one stays.
      const best = resolve(state.bestModelCheckpoint);
      for (const { path } of listCheckpoints(args.outputDir)) if (resolve(path) !== best) await removeCheckpointFolder(path);
    }
    this.#captureCallbackStates();
    await writeTextAtomic(join(args.outputDir, TRAINER_STATE_NAME), state.toJsonString());
    await this.#call('onTrainEnd');
    return { globalStep: state.globalStep, trainingLoss, metrics };
  }

  async #resume(dir: string, batchesPerEpoch: number): Promise<{ state: TrainerState; startEpoch: number; startBatch: number }> {
    checkCheckpointFiles(dir, this.model instanceof PeftModel, true);
    const saved = TrainerState.fromJson(await readJson(join(dir, TRAINER_STATE_NAME)), join(dir, TRAINER_STATE_NAME));
    await loadModelWeights(this.model, dir);
    // Callbacks first: gradual unfreezing rebuilds the optimizer's groups before its state is loaded.
    this.callbackHandler.loadStateDicts(saved.statefulCallbacks);
    await loadOptimizer(this.optimizer!, dir);
    await loadScheduler(this.scheduler!, dir);
    const trainerState = saved.statefulCallbacks[TRAINER_STATE_KEY] as CallbackState | undefined;
    const attributes = (trainerState && !Array.isArray(trainerState) ? trainerState.attributes : {}) as Partial<Record<string, number>>;
    this.#acc = {
      loggingLossSum: attributes.logging_loss_sum ?? 0,
      loggingLossSteps: attributes.logging_loss_steps ?? 0,
      totalLossSum: attributes.total_loss_sum ?? 0,
      totalLossSteps: attributes.total_loss_steps ?? 0,
      skippedSteps: attributes.skipped_steps ?? 0,
    };
    const position = await loadRngState(dir);
    const mt = this.#multiTask;
    if (mt) {
      await loadMultiTaskState(mt.loss, dir);
      const a = attributes as Record<string, unknown>;
      const sums = (key: string): number[] => {
        const value = a[key] as Record<string, number> | undefined;
        return mt.tasks.map((t) => value?.[t] ?? 0);
      };
      this.#taskAcc = {
        loggingSums: sums('multi_task_logging_loss_sums'),
        loggingSteps: (a.multi_task_logging_steps as number | undefined) ?? 0,
        epochSums: sums('multi_task_epoch_loss_sums'),
        epochSteps: (a.multi_task_epoch_steps as number | undefined) ?? 0,
      };
    }
    if (position.batchesPerEpoch !== batchesPerEpoch) {
      throw new Error(
        `resumeFromCheckpoint: ${dir} was written with ${position.batchesPerEpoch} batches per epoch, this run has ${batchesPerEpoch}: the training data, batch size or dataloaderDropLast differ from the run being resumed`,
      );
    }
    if (position.seed !== this.args.dataOrderSeed) {
      throw new Error(`resumeFromCheckpoint: ${dir} was written with data seed ${position.seed}, this run has ${this.args.dataOrderSeed} (seed / dataSeed must match the run being resumed)`);
    }
    let startEpoch = position.epoch;
    let startBatch = position.position;
    if (startBatch >= batchesPerEpoch) {
      startEpoch++;
      startBatch = 0;
      // Saved at an epoch's last step, before the epoch closed: close it now, as the uninterrupted run did.
      this.#closeMultiTaskEpoch();
    }
    return { state: saved, startEpoch, startBatch };
  }

  #captureCallbackStates(): void {
    this.state.statefulCallbacks = {
      ...this.callbackHandler.stateDicts(),
      TrainerControl: this.control.stateDict(),
      [TRAINER_STATE_KEY]: {
        args: {},
        attributes: {
          logging_loss_sum: this.#acc.loggingLossSum,
          logging_loss_steps: this.#acc.loggingLossSteps,
          total_loss_sum: this.#acc.totalLossSum,
          total_loss_steps: this.#acc.totalLossSteps,
          skipped_steps: this.#acc.skippedSteps,
          ...this.#taskAccumulatorAttributes(),
        },
      },
    };
  }

  /** The multi-task loss sums, by task name (for the Trainer's stateful attributes). */
  #taskAccumulatorAttributes(): Record<string, unknown> {
    const mt = this.#multiTask;
    if (!mt) return {};
    const acc = this.#taskAcc;
    const named = (values: number[]) => Object.fromEntries(mt.tasks.map((t, i) => [t, values[i]]));
    return {
      multi_task_logging_loss_sums: named(acc.loggingSums),
      multi_task_logging_steps: acc.loggingSteps,
      multi_task_epoch_loss_sums: named(acc.epochSums),
      multi_task_epoch_steps: acc.epochSteps,
    };
  }

  /** The lr of the first parameter group (what HF logs as learning_rate). */
  #currentLr(): number {
    return this.optimizer?.paramGroups[0]?.lr ?? this.learningRate;
  }

  /** Adds epoch and step, appends to the log history and calls onLog (HF's Trainer.log). */
  async #logEntry(logs: LogEntry): Promise<LogEntry> {
    const entry: LogEntry = { ...logs, epoch: this.state.epoch, step: this.state.globalStep };
    this.state.logHistory.push(entry);
    await this.#call('onLog', { logs: entry });
    return entry;
  }

  async #maybeLogSaveEvaluate(): Promise<void> {
    const { control, state, args } = this;
    if (control.shouldLog && state.globalStep > this.#lastLoggedStep) {
      const logs: LogEntry = {};
      if (this.#acc.loggingLossSteps > 0) logs.loss = this.#acc.loggingLossSum / this.#acc.loggingLossSteps;
      if (this.#lastGradNorm !== undefined) logs.grad_norm = Number.isFinite(this.#lastGradNorm) ? this.#lastGradNorm : null;
      logs.learning_rate = this.#currentLr();
      if (this.#multiTask) Object.assign(logs, this.#multiTaskLogs());
      this.#acc.loggingLossSum = 0;
      this.#acc.loggingLossSteps = 0;
      this.#lastLoggedStep = state.globalStep;
      await this.#logEntry(logs);
    }
    control.shouldLog = false;
    if (control.shouldEvaluate && this.#lastEvaluatedStep !== state.globalStep) {
      this.#lastEvaluatedStep = state.globalStep;
      const metrics = await this.evaluate();
      this.#determineBest(metrics);
      if (this.scheduler instanceof ReduceLROnPlateau) {
        const key = args.metricKey ?? 'eval_loss';
        const value = metrics[key];
        if (value === undefined) throw new Error(`reduce_lr_on_plateau steps on ${key}, which the evaluation did not report (${Object.keys(metrics).join(', ')})`);
        this.scheduler.step(value);
      }
    }
    control.shouldEvaluate = false;
    if (control.shouldSave && this.#lastSavedStep !== state.globalStep) {
      const path = await this.saveCheckpoint();
      await this.#call('onSave', { checkpoint: path });
    }
    control.shouldSave = false;
  }

  /** loss_<task> (the mean since the last log, as loss), weight_<task> (the weights in effect now) and alpha (scheduled); resets the task sums. */
  #multiTaskLogs(): LogEntry {
    const mt = this.#multiTask!;
    const acc = this.#taskAcc;
    const logs: LogEntry = {};
    if (acc.loggingSteps > 0) mt.tasks.forEach((t, i) => (logs[`loss_${t}`] = acc.loggingSums[i] / acc.loggingSteps));
    const weights = mt.loss.weights();
    for (const t of mt.tasks) logs[`weight_${t}`] = weights[t];
    if (mt.loss.strategy.kind === 'scheduled') logs.alpha = mt.loss.alpha();
    acc.loggingSums.fill(0);
    acc.loggingSteps = 0;
    return logs;
  }

  /** HF's _determine_best_metric: updates bestMetric / bestGlobalStep when metricForBestModel improved. */
  #determineBest(metrics: Metrics): boolean {
    const key = this.args.metricKey;
    if (key === null) return false;
    const value = metrics[key];
    if (value === undefined) {
      throw new Error(`metricForBestModel '${this.args.metricForBestModel}' is not among the evaluation metrics (${Object.keys(metrics).join(', ')}); check computeMetrics or the name`);
    }
    const best = this.state.bestMetric ?? (this.args.greaterIsBetter ? -Infinity : Infinity);
    const better = this.args.greaterIsBetter ? value > best : value < best;
    if (!better) return false;
    this.state.bestMetric = value;
    if (this.args.saveStrategy !== 'no') this.state.bestGlobalStep = this.state.globalStep;
    return true;
  }

  /** Writes `<outputDir>/checkpoint-<globalStep>/` atomically, then deletes checkpoints beyond saveTotalLimit. Returns its path. */
  async saveCheckpoint(): Promise<string> {
    const { args, state } = this;
    if (!this.optimizer || !this.scheduler) throw new Error('saveCheckpoint: no optimizer yet (call train())');
    const step = state.globalStep;
    const name = `${CHECKPOINT_PREFIX}-${step}`;
    const finalPath = join(args.outputDir, name);
    if (state.bestGlobalStep === step) state.bestModelCheckpoint = finalPath;
    this.#captureCallbackStates();
    const optimizer = this.optimizer;
    const scheduler = this.scheduler;
    await writeFolderAtomically(args.outputDir, name, async (dir) => {
      await saveModelWeights(this.model, dir);
      await saveOptimizer(optimizer, dir);
      await testPauseInSave(step, dir);
      await saveScheduler(scheduler, args.lrSchedulerType, dir);
      await saveRngState(dir, this.#loaderPosition);
      if (this.#multiTask) await saveMultiTaskState(this.#multiTask.loss, dir);
      await writeTextAtomic(join(dir, TRAINING_ARGS_NAME), JSON.stringify(args.toJson({ learning_rate: this.learningRate }), null, 2) + '\n');
      await writeTextAtomic(join(dir, TRAINER_STATE_NAME), state.toJsonString());
    });
    this.#lastSavedStep = step;
    await rotateCheckpoints(args.outputDir, args.saveTotalLimit, state.bestModelCheckpoint);
    return finalPath;
  }

  // ---- evaluation and prediction -----------------------------------------------------------------

  async #predictionLoop(dataset: Dataset<unknown>, prefix: string): Promise<PredictionOutput> {
    if (this.#multiTask) return this.#multiTaskPredictionLoop(dataset, prefix);
    const loader = new DataLoader<unknown, unknown>(dataset, {
      batchSize: this.args.perDeviceEvalBatchSize,
      shuffle: false,
      collate: this.#collateFor(dataset) ?? (this.trainDataset ? this.#collateFor(this.trainDataset) : undefined),
      prefetch: this.args.dataloaderPrefetch,
    });
    const wasTraining = this.model.training;
    this.model.eval();
    const predictions: number[][] = [];
    const labelRows: (number | number[])[] = [];
    let haveLabels = true;
    let lossSum = 0;
    let lossCount = 0;
    try {
      for await (const batch of loader.epoch(0)) {
        const result = tidy(() =>
          noGrad(() => {
            const { output, loss, labels } = this.#lossAndOutputs(batch);
            const logits = output.logits.detach().to('float32').contiguous();
            const rows = logits.ndim === 1 ? [...(logits.data() as Float32Array)].map((v) => [v]) : toRows(logits.reshape([logits.shape[0], -1]));
            return { rows, loss: loss ? Number(loss.item()) : undefined, labels: labels ? labelValues(labels) : undefined };
          }),
        );
        predictions.push(...result.rows);
        if (result.loss !== undefined) {
          lossSum += result.loss * result.rows.length;
          lossCount += result.rows.length;
        }
        if (result.labels) labelRows.push(...result.labels);
        else haveLabels = false;
      }
    } finally {
      this.model.train(wasTraining);
    }
    const labelIds = haveLabels && labelRows.length === predictions.length ? (labelRows as number[] | number[][]) : null;
    const metrics: Metrics = {};
    if (lossCount > 0) metrics[`${prefix}_loss`] = lossSum / lossCount;
    if (this.#computeMetrics && labelIds) {
      for (const [key, value] of Object.entries(this.#computeMetrics({ predictions, labelIds }))) {
        metrics[key.startsWith(`${prefix}_`) ? key : `${prefix}_${key}`] = value;
      }
    }
    return { predictions, labelIds, metrics };
  }

  /**
   * The multi-task evaluation: each task's logits and labels, <prefix>_<task>_loss (the mean task
   * loss), <prefix>_loss (the weighted total at the current weights, with uncertainty's s_i/2 terms;
   * the loss's state is not touched) and <prefix>_<task>_<metric> (computeMetrics per task, which also
   * gets `task`; default: defaultComputeMetrics, accuracy and F1 of logit > 0 for binary tasks with one logit).
   */
  async #multiTaskPredictionLoop(dataset: Dataset<unknown>, prefix: string): Promise<PredictionOutput> {
    const mt = this.#multiTask!;
    const loader = new DataLoader<unknown, unknown>(dataset, {
      batchSize: this.args.perDeviceEvalBatchSize,
      shuffle: false,
      collate: this.#collateFor(dataset) ?? (this.trainDataset ? this.#collateFor(this.trainDataset) : undefined),
      prefetch: this.args.dataloaderPrefetch,
    });
    const kinds = mt.taskKinds ?? taskKindsOf(dataset);
    const wasTraining = this.model.training;
    this.model.eval();
    const rows: Record<string, number[][]> = Object.fromEntries(mt.tasks.map((t) => [t, []]));
    const labelRows: Record<string, (number | number[])[]> = Object.fromEntries(mt.tasks.map((t) => [t, []]));
    const haveLabels: Record<string, boolean> = Object.fromEntries(mt.tasks.map((t) => [t, true]));
    const lossSums = mt.tasks.map(() => 0);
    let lossCount = 0;
    try {
      for await (const batch of loader.epoch(0)) {
        const result = tidy(() =>
          noGrad(() => {
            const output = this.#multiTaskOutputs(batch);
            let losses: number[] | undefined;
            if (mt.computeTaskLosses || mt.tasks.every((t) => taskLabelsOf(batch, t))) {
              const taskLosses = this.#taskLosses(output, batch);
              losses = mt.tasks.map((t) => Number(taskLosses[t].item()));
            }
            const perTask = mt.tasks.map((t) => {
              const logits = output.logits[t].detach().to('float32').contiguous();
              const n = logits.ndim === 0 ? 1 : logits.shape[0];
              const r = logits.ndim <= 1 ? [...(logits.data() as Float32Array)].map((v) => [v]) : toRows(logits.reshape([n, -1]));
              const labels = taskLabelsOf(batch, t);
              return { rows: r, labels: labels ? labelValues(labels) : undefined };
            });
            return { losses, perTask };
          }),
        );
        const n = result.perTask[0].rows.length;
        mt.tasks.forEach((t, i) => {
          const { rows: r, labels } = result.perTask[i];
          rows[t].push(...r);
          if (labels) labelRows[t].push(...labels);
          else haveLabels[t] = false;
        });
        if (result.losses) {
          result.losses.forEach((v, i) => (lossSums[i] += v * n));
          lossCount += n;
        }
      }
    } finally {
      this.model.train(wasTraining);
    }
    const metrics: Metrics = {};
    if (lossCount > 0) {
      const means = lossSums.map((v) => v / lossCount);
      const state = mt.loss.state;
      let total = mt.tasks.reduce((acc, t, i) => acc + state.weights[t] * means[i], 0);
      if (state.logVariances) total += mt.tasks.reduce((acc, t) => acc + state.logVariances![t] / 2, 0);
      metrics[`${prefix}_loss`] = total;
      mt.tasks.forEach((t, i) => (metrics[`${prefix}_${t}_loss`] = means[i]));
    }
    const tasks: NonNullable<PredictionOutput['tasks']> = {};
    for (const t of mt.tasks) {
      const labelIds = haveLabels[t] && labelRows[t].length === rows[t].length ? (labelRows[t] as number[] | number[][]) : null;
      tasks[t] = { predictions: rows[t], labelIds };
      if (!labelIds || this.#computeMetrics === null) continue;
      const prediction: EvalPrediction = { predictions: rows[t], labelIds, task: t };
      const computed = this.#computeMetrics === defaultComputeMetrics ? defaultTaskMetrics(prediction, kinds?.[t]) : this.#computeMetrics(prediction);
      for (const [key, value] of Object.entries(computed)) metrics[`${prefix}_${t}_${key}`] = value;
    }
    return { predictions: [], labelIds: null, metrics, tasks };
  }

  /** Evaluates on evalDataset (or the given one): eval_loss, eval_<metric>, eval_runtime, …; logged and passed to onEvaluate. */
  async evaluate(dataset?: Dataset<unknown> | null, metricKeyPrefix = 'eval'): Promise<Metrics> {
    const data = dataset ?? this.evalDataset;
    if (!data) throw new Error('Trainer.evaluate: no evalDataset (give one to the Trainer or to evaluate())');
    const start = performance.now();
    const { metrics } = await this.#predictionLoop(data, metricKeyPrefix);
    const runtime = (performance.now() - start) / 1000;
    const batches = Math.ceil(data.length / this.args.perDeviceEvalBatchSize);
    Object.assign(metrics, speedMetrics(metricKeyPrefix, runtime, data.length, batches));
    const entry = await this.#logEntry({ ...metrics });
    metrics.epoch = entry.epoch as number;
    await this.#call('onEvaluate', { metrics });
    return metrics;
  }

  /** Logits, labels and metrics (test_ prefix) on a dataset (HF's predict). */
  async predict(dataset: Dataset<unknown>, metricKeyPrefix = 'test'): Promise<PredictionOutput> {
    if (!dataset) throw new Error('Trainer.predict: give a dataset');
    const start = performance.now();
    const output = await this.#predictionLoop(dataset, metricKeyPrefix);
    const runtime = (performance.now() - start) / 1000;
    Object.assign(output.metrics, speedMetrics(metricKeyPrefix, runtime, dataset.length, Math.ceil(dataset.length / this.args.perDeviceEvalBatchSize)));
    await this.#call('onPredict', { metrics: output.metrics });
    return output;
  }
}

/** Checks TrainerOptions.multiTask. */
function resolveMultiTask(options: TrainerOptions): ResolvedMultiTask | null {
  const mt = options.multiTask;
  if (mt === undefined || mt === null) return null;
  if (typeof mt !== 'object' || !(mt.loss instanceof MultiTaskLoss)) throw new TypeError('Trainer: multiTask.loss must be an optim.MultiTaskLoss');
  if (options.computeLoss) throw new Error('Trainer: give either computeLoss or multiTask (whose computeTaskLosses gives the task losses), not both');
  if (mt.computeTaskLosses !== undefined && typeof mt.computeTaskLosses !== 'function') throw new TypeError('Trainer: multiTask.computeTaskLosses must be a function');
  if (mt.lr !== undefined && !(typeof mt.lr === 'number' && mt.lr > 0 && Number.isFinite(mt.lr))) throw new Error(`Trainer: multiTask.lr must be a number > 0, got ${String(mt.lr)}`);
  const { loss } = mt;
  const kind = loss.strategy.kind;
  let mode: ResolvedMultiTask['mode'] = kind === 'gradnorm' ? 'backward' : 'forward';
  if (mt.pcgrad) {
    if (kind === 'uncertainty' || kind === 'gradnorm') {
      throw new Error(`Trainer: multiTask.pcgrad combines with a fixed, scheduled or dwa weighting, not '${kind}' (whose weights learn from the backward pass)`);
    }
    if (!Array.isArray(mt.pcgrad.sharedParameters) || mt.pcgrad.sharedParameters.length === 0 || !mt.pcgrad.sharedParameters.every((p) => p instanceof Tensor)) {
      throw new Error('Trainer: multiTask.pcgrad.sharedParameters must be a non-empty array of the shared parameters (tensors)');
    }
    mode = 'pcgrad';
  }
  let taskKinds = mt.taskKinds ?? taskKindsOf(options.trainDataset);
  if (mt.taskKinds) {
    const unknown = Object.keys(mt.taskKinds).filter((t) => !loss.tasks.includes(t));
    if (unknown.length) throw new Error(`Trainer: multiTask.taskKinds names unknown task(s) ${unknown.join(', ')} (the loss's tasks: ${loss.tasks.join(', ')})`);
  } else if (taskKinds && !mt.computeTaskLosses) {
    const missing = loss.tasks.filter((t) => !Object.hasOwn(taskKinds!, t));
    if (missing.length) throw new Error(`Trainer: the training dataset has no task(s) ${missing.join(', ')} (it has ${Object.keys(taskKinds).join(', ')}); the MultiTaskLoss's tasks must be the dataset's`);
  }
  taskKinds ??= null;
  return { loss, tasks: loss.tasks, computeTaskLosses: mt.computeTaskLosses ?? null, taskKinds, lr: mt.lr, mode, pcgrad: mt.pcgrad ?? null };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function round4(x: number): number {
  return Math.round(x * 10000) / 10000;
}

function speedMetrics(prefix: string, runtime: number, samples: number, steps: number): Metrics {
  return {
    [`${prefix}_runtime`]: round4(runtime),
    [`${prefix}_samples_per_second`]: round3(samples / Math.max(runtime, 1e-9)),
    [`${prefix}_steps_per_second`]: round3(steps / Math.max(runtime, 1e-9)),
  };
}

function toRows(matrix: Tensor): number[][] {
  const [n, c] = matrix.shape;
  const data = matrix.data() as Float32Array;
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) rows.push(Array.from(data.subarray(i * c, (i + 1) * c)));
  return rows;
}

/** A labels tensor as numbers (one per example) or rows (multi-label). */
function labelValues(labels: Tensor): (number | number[])[] {
  const t = labels.detach().contiguous();
  const flat = Array.from(t.data() as ArrayLike<number | bigint>, Number);
  if (t.ndim <= 1) return flat;
  const width = flat.length / t.shape[0];
  return Array.from({ length: t.shape[0] }, (_, i) => flat.slice(i * width, (i + 1) * width));
}
