/**
 * Multi-task training's pieces that are not steps: the options checked, the model's per-task
 * logits, each task's labels, default loss and default metrics.
 */
import { Tensor, functional as F } from '../../tensor/index.js';
import { labelSmoothedCrossEntropy, type Module } from '../../nn/index.js';
import { classificationLoss } from '../../models/index.js';
import { MultiTaskLoss, type TaskLosses } from '../../optim/index.js';
import { datasetsViewed, MultiTaskDataset, type TaskKind } from '../../data/index.js';
import { accuracyScore, defaultComputeMetrics, f1Score, type EvalPrediction, type Metrics } from '../metrics.js';
import { isIntegerDtype, type MultiTaskModelOutput } from '../model-io.js';
import type { MultiTaskTrainingOptions, TrainerOptions } from '../trainer-types.js';

/** The multi-task setting, checked. */
export interface ResolvedMultiTask {
  loss: MultiTaskLoss;
  tasks: readonly string[];
  computeTaskLosses: ((outputs: MultiTaskModelOutput, batch: unknown) => TaskLosses) | null;
  taskKinds: Record<string, TaskKind> | null;
  lr: number | undefined;
  /** 'forward': loss.forward(losses).backward(); 'backward': loss.backward(losses) (GradNorm); 'pcgrad'. */
  mode: 'forward' | 'backward' | 'pcgrad';
  pcgrad: MultiTaskTrainingOptions['pcgrad'] | null;
}

/** The task kinds a dataset (or the dataset a Subset views) declares, when it is a MultiTaskDataset. */
export function taskKindsOf(dataset: unknown): Record<string, TaskKind> | null {
  for (const d of datasetsViewed(dataset)) {
    if (d instanceof MultiTaskDataset) return Object.fromEntries(d.tasks.map((t) => [t.name, t.kind]));
  }
  return null;
}

/** Checks TrainerOptions.multiTask. */
export function resolveMultiTask(options: TrainerOptions): ResolvedMultiTask {
  const mt = options.multiTask;
  if (typeof mt !== 'object' || mt === null || !(mt.loss instanceof MultiTaskLoss))
    throw new TypeError('Trainer: multiTask.loss must be an optim.MultiTaskLoss');
  if (options.computeLoss)
    throw new Error(
      'Trainer: give either computeLoss or multiTask (whose computeTaskLosses gives the task losses), not both',
    );
  if (mt.computeTaskLosses !== undefined && typeof mt.computeTaskLosses !== 'function')
    throw new TypeError('Trainer: multiTask.computeTaskLosses must be a function');
  if (mt.lr !== undefined && !(typeof mt.lr === 'number' && mt.lr > 0 && Number.isFinite(mt.lr)))
    throw new Error(`Trainer: multiTask.lr must be a number > 0, got ${String(mt.lr)}`);
  const { loss } = mt;
  const kind = loss.strategy.kind;
  let mode: ResolvedMultiTask['mode'] = kind === 'gradnorm' ? 'backward' : 'forward';
  if (mt.pcgrad) {
    if (kind === 'uncertainty' || kind === 'gradnorm') {
      throw new Error(
        `Trainer: multiTask.pcgrad combines with a fixed, scheduled or dwa weighting, not '${kind}' (whose weights learn from the backward pass)`,
      );
    }
    if (
      !Array.isArray(mt.pcgrad.sharedParameters) ||
      mt.pcgrad.sharedParameters.length === 0 ||
      !mt.pcgrad.sharedParameters.every((p) => p instanceof Tensor)
    ) {
      throw new Error(
        'Trainer: multiTask.pcgrad.sharedParameters must be a non-empty array of the shared parameters (tensors)',
      );
    }
    mode = 'pcgrad';
  }
  let taskKinds = mt.taskKinds ?? taskKindsOf(options.trainDataset);
  if (mt.taskKinds) {
    const unknown = Object.keys(mt.taskKinds).filter((t) => !loss.tasks.includes(t));
    if (unknown.length)
      throw new Error(
        `Trainer: multiTask.taskKinds names unknown task(s) ${unknown.join(', ')} (the loss's tasks: ${loss.tasks.join(', ')})`,
      );
  } else if (taskKinds && !mt.computeTaskLosses) {
    const missing = loss.tasks.filter((t) => !Object.hasOwn(taskKinds!, t));
    if (missing.length) {
      throw new Error(
        `Trainer: the training dataset has no task(s) ${missing.join(', ')} (it has ${Object.keys(taskKinds).join(', ')}); the MultiTaskLoss's tasks must be the dataset's`,
      );
    }
  }
  taskKinds ??= null;
  return {
    loss,
    tasks: loss.tasks,
    computeTaskLosses: mt.computeTaskLosses ?? null,
    taskKinds,
    lr: mt.lr,
    mode,
    pcgrad: mt.pcgrad ?? null,
  };
}

/** A model's output as per-task logits. */
export function asMultiTaskOutput(value: unknown, model: Module, tasks: readonly string[]): MultiTaskModelOutput {
  const isRecord = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !(v instanceof Tensor) && !Array.isArray(v);
  if (isRecord(value)) {
    const logits = value.logits;
    if (isRecord(logits) && tasks.every((t) => logits[t] instanceof Tensor))
      return value as unknown as MultiTaskModelOutput;
    if (tasks.every((t) => value[t] instanceof Tensor)) return { logits: value as Record<string, Tensor> };
  }
  const got =
    value instanceof Tensor
      ? `a tensor of shape [${value.shape}]`
      : isRecord(value)
        ? `{ ${Object.keys(value).join(', ')} }`
        : typeof value;
  throw new Error(
    `multi-task training: ${model.constructor.name}.forward must return { logits: { ${tasks.map((t) => `${t}: Tensor`).join(', ')} } } (logits per task), got ${got}`,
  );
}

/** The batch's labels of a task: `batch.labels[task]` (MultiTaskDataset), else `batch[task]`. */
export function taskLabelsOf(batch: unknown, task: string): Tensor | undefined {
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
export function defaultTaskLoss(
  logits: Tensor,
  labels: Tensor,
  kind: TaskKind | undefined,
  labelSmoothing: number,
): Tensor {
  const classes = logits.ndim === 0 ? 1 : logits.shape[logits.ndim - 1];
  const crossEntropy = (target: Tensor) => {
    const flatLogits = logits.reshape([-1, classes]);
    const flatLabels = target.reshape([-1]).to('int64');
    return labelSmoothing > 0
      ? labelSmoothedCrossEntropy(flatLogits, flatLabels, labelSmoothing)
      : F.crossEntropy(flatLogits, flatLabels);
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
export function defaultTaskMetrics(prediction: EvalPrediction, kind: TaskKind | undefined): Metrics {
  const { predictions, labelIds } = prediction;
  if (
    kind === 'binary' &&
    predictions[0]?.length === 1 &&
    labelIds &&
    labelIds.length === predictions.length &&
    labelIds.every((l) => l === 0 || l === 1)
  ) {
    const labels = labelIds as number[];
    const predicted = predictions.map((row) => (row[0] > 0 ? 1 : 0));
    return {
      accuracy: accuracyScore(labels, predicted),
      f1: f1Score(labels, predicted, { average: 'binary', posLabel: 1 }),
    };
  }
  return defaultComputeMetrics(prediction);
}
