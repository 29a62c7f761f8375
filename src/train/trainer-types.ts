/** The Trainer's options and results (HF's Trainer arguments, TrainOutput, PredictionOutput). */
import type { Tensor } from '../tensor/index.js';
import type { Module } from '../nn/index.js';
import type { LrFindOptions, MultiTaskLoss, Optimizer, PCGradOptions, TaskLosses } from '../optim/index.js';
import type { Dataset, TaskKind } from '../data/index.js';
import type { TrainerCallback } from './callbacks.js';
import type { SchedulerLike } from './checkpoint.js';
import type { EvalPrediction, Metrics } from './metrics.js';
import type { ModelOutput, MultiTaskModelOutput } from './model-io.js';
import type { TrainingArguments, TrainingArgumentsOptions } from './training-args.js';

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
   * How a batch reaches the model (default: defaultForward, as the model's class declares —
   * models.BatchInput: BERT/ViT get the batch object, `image` as `pixelValues` and `label` as
   * `labels`; ResNet/AlexNet and a module of your own fed one input tensor get that tensor).
   * With several processes, training passes the DistributedDataParallel wrapper (its `module` is the
   * model), as transformers' compute_loss gets the wrapped model.
   */
  forward?: (model: Module, batch: unknown) => ModelOutput | MultiTaskModelOutput | Tensor;
  /** The loss from the outputs and labels (default: the model's loss, else cross entropy / MSE / BCE by the labels, as transformers' heads). */
  computeLoss?: (outputs: ModelOutput, labels: Tensor | undefined, batch: unknown) => Tensor;
  /** Where the plan and notices go (default console.log; null: nowhere). */
  log?: ((line: string) => void) | null;
  /**
   * Multi-task training (the Trainer is then a MultiTaskTrainer): the model returns
   * `{ logits: { <task>: Tensor } }` (by default it gets a MultiTaskDataset batch's `input` tensor),
   * the task losses are weighted by `loss` (its forward, or its own backward for GradNorm), its
   * learnable weights join the optimizer as the parameter group `multi_task` (lr `lr`, no weight
   * decay, not counted in grad_norm nor clipped), `loss.step()` runs after each optimizer step (a
   * skipped update too, so that α(t) follows the global step) and `loss.onEpochEnd(the epoch's mean
   * per-step task losses)` at each epoch's end. Logs add loss_<task>, weight_<task> (the weights in
   * effect from that step on, as learning_rate) and, for a scheduled α, alpha; evaluations give
   * eval_<task>_loss and eval_<task>_<metric>, eval_loss being the weighted total. The loss's state
   * is saved in checkpoints (multi_task.json).
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

/** A micro-batch's place in its optimizer step (gradient accumulation): the `index`-th of `count`. */
export interface MicroBatch {
  index: number;
  count: number;
}

/** What Trainer.computeLoss gives: the model's outputs, the loss (when one can be computed) and the batch's labels. */
export interface LossAndOutputs {
  outputs: ModelOutput;
  loss: Tensor | undefined;
  labels: Tensor | undefined;
}

/** What Trainer.predictionStep gives for a batch: its logit rows, mean loss and label values. */
export interface PredictionStepOutput {
  rows: number[][];
  loss: number | undefined;
  labels: (number | number[])[] | undefined;
  /** The loss's weight in the dataset mean when it is not the batch's row count: a causal LM's predicted tokens. */
  tokens?: number;
}
