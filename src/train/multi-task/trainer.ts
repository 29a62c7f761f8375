/**
 * MultiTaskTrainer: the Trainer with a MultiTaskLoss (TrainerOptions.multiTask; `new Trainer({ multiTask })`
 * builds one). The model returns logits per task; each micro-batch's task losses are weighted by the
 * loss (its forward, or its own backward for GradNorm, or PCGrad's projected per-task backward); its
 * learnable weights train in their own parameter group, left out of clipping and grad_norm;
 * `loss.step()` follows every optimizer step and `loss.onEpochEnd` every epoch; logs carry
 * loss_<task> and weight_<task>; evaluations report each task's loss and metrics; checkpoints keep
 * the loss's state (multi_task.json) and the per-task loss sums. Every difference from the
 * single-task Trainer is an override of one of its steps, here.
 */
import { Tensor, noGrad, tidy } from '../../tensor/index.js';
import { formatLr, pcgradBackward, type LrFindResult, type Optimizer, type TaskLosses } from '../../optim/index.js';
import { mixSeeds, mulberry32, type Dataset } from '../../data/index.js';
import { loadMultiTaskState, saveMultiTaskState } from '../checkpoint.js';
import { defaultComputeMetrics, type EvalPrediction, type Metrics } from '../metrics.js';
import { callForward, defaultForward, type MultiTaskModelOutput } from '../model-io.js';
import { scheduleAddedGroups } from '../optimizer-setup.js';
import { labelValues, logitRows } from '../prediction.js';
import type { LogEntry } from '../state.js';
import type { ResolvedDevice } from '../device.js';
import { registerMultiTaskTrainer, Trainer } from '../trainer.js';
import type { MicroBatch, PredictionOutput, TrainerLrFindOptions, TrainerOptions } from '../trainer-types.js';
import {
  asMultiTaskOutput,
  defaultTaskLoss,
  defaultTaskMetrics,
  resolveMultiTask,
  taskKindsOf,
  taskLabelsOf,
  type ResolvedMultiTask,
} from './task-losses.js';

/** The parameter group of the multi-task loss's learnable weights. */
export const MULTI_TASK_GROUP = 'multi_task';

/** Per-task loss sums (one value per step: the mean over its micro-batches) since the last log and in the current epoch. */
interface TaskAccumulators {
  loggingSums: number[];
  loggingSteps: number;
  epochSums: number[];
  epochSteps: number;
}

export class MultiTaskTrainer extends Trainer {
  readonly #mt: ResolvedMultiTask;
  /** The multi-task loss's learnable weights, once they are in the optimizer (left out of clipping and grad_norm). */
  #lossParams = new Set<Tensor>();
  #taskAcc: TaskAccumulators;
  /** The current step's task loss sums over its micro-batches, and how many micro-batches it has. */
  #stepSums: number[];
  #stepMicroBatches = 1;

  constructor(options: TrainerOptions) {
    // Checked before the Trainer applies the strategy, so that a bad setting leaves the model as it was.
    const mt = resolveMultiTask(options);
    super(options);
    this.#mt = mt;
    this.#taskAcc = this.#freshTaskAccumulators();
    this.#stepSums = mt.tasks.map(() => 0);
  }

  /** The cpu: MultiTaskLoss keeps its learnable weights on the CPU, so multi-task training runs there (device auto or cpu). */
  protected override resolveDevice(): ResolvedDevice {
    if (this.args.device !== 'auto' && this.args.device !== 'cpu')
      throw new Error(
        `Trainer: multi-task training runs on the cpu only, but TrainingArguments.device is ${this.args.device}: set it to cpu or auto`,
      );
    return { device: 'cpu', reason: this.args.device === 'auto' ? 'multi-task training runs on the cpu' : null };
  }

  /** The MultiTaskLoss being trained. */
  get multiTaskLoss(): ResolvedMultiTask['loss'] {
    return this.#mt.loss;
  }

  #freshTaskAccumulators(): TaskAccumulators {
    const n = this.#mt.tasks.length;
    return {
      loggingSums: new Array<number>(n).fill(0),
      loggingSteps: 0,
      epochSums: new Array<number>(n).fill(0),
      epochSteps: 0,
    };
  }

  /**
   * The Trainer's optimizer, plus the multi-task loss's learnable weights (uncertainty's s_i,
   * GradNorm's w_i) as the parameter group `multi_task`: lr multiTask.lr (default the Trainer's), no
   * weight decay; an existing LRScheduler scales it too. Nothing added when the optimizer holds them.
   */
  override createOptimizer(): Optimizer {
    const optimizer = super.createOptimizer();
    const { loss, lr } = this.#mt;
    const params = loss.parameters();
    const held = new Set(optimizer.paramGroups.flatMap((g) => g.params));
    const fresh = params.filter((p) => !held.has(p));
    if (fresh.length) {
      const name = loss.strategy.kind === 'uncertainty' ? 'log_variances' : 'task_weights';
      const paramNames = fresh.map((_, i) => `${MULTI_TASK_GROUP}.${name}${i ? `.${i}` : ''}`);
      const group = optimizer.addParamGroup({
        name: MULTI_TASK_GROUP,
        params: fresh,
        paramNames,
        lr: lr ?? this.learningRate,
        weightDecay: 0,
      });
      scheduleAddedGroups(this.scheduler, [group]);
    }
    this.#lossParams = new Set(params);
    return optimizer;
  }

  override async lrFind(_options?: TrainerLrFindOptions): Promise<LrFindResult> {
    throw new Error('Trainer.lrFind: multi-task training is not supported (run optim.lrFind with your own trainStep)');
  }

  /** The per-task logits of a batch: TrainerOptions.forward, else the batch's `input` tensor, else defaultForward. */
  protected multiTaskOutputs(batch: unknown): MultiTaskModelOutput {
    let raw: unknown;
    if (this.forwardBatch) raw = this.forwardBatch(this.model, batch);
    else if (
      typeof batch === 'object' &&
      batch !== null &&
      !(batch instanceof Tensor) &&
      (batch as { input?: unknown }).input instanceof Tensor
    ) {
      raw = callForward(this.model, (batch as { input: Tensor }).input);
    } else raw = defaultForward(this.model, batch, false);
    return asMultiTaskOutput(raw, this.model, this.#mt.tasks);
  }

  /** The task losses of a batch, checked (a scalar for every task): multiTask.computeTaskLosses, else each task's default loss. */
  computeTaskLosses(output: MultiTaskModelOutput, batch: unknown): TaskLosses {
    const mt = this.#mt;
    if (mt.computeTaskLosses) {
      const losses = mt.computeTaskLosses(output, batch);
      if (typeof losses !== 'object' || losses === null)
        throw new Error('multiTask.computeTaskLosses must return { <task>: scalar Tensor }');
      for (const t of mt.tasks) {
        if (!(losses[t] instanceof Tensor))
          throw new Error(
            `multiTask.computeTaskLosses returned no loss for task '${t}' (it gave ${Object.keys(losses).join(', ') || 'none'})`,
          );
      }
      return losses;
    }
    const losses: TaskLosses = {};
    for (const t of mt.tasks) {
      const labels = taskLabelsOf(batch, t);
      if (!labels)
        throw new Error(
          `multi-task training: the batch has no labels for task '${t}' (batch.labels.${t}); give multiTask.computeTaskLosses or MultiTaskDataset batches`,
        );
      losses[t] = defaultTaskLoss(output.logits[t], labels, mt.taskKinds?.[t], this.args.labelSmoothingFactor);
    }
    return losses;
  }

  /**
   * Forward + backward of one micro-batch with the multi-task loss: the weighted total divided by the
   * micro-batch count (forward and PCGrad modes); GradNorm's own backward gets the plain losses and
   * the step's gradients are averaged after its last micro-batch. Returns the weighted total (nothing
   * is backpropagated when a task loss is not finite) and sums each task's loss for the logs.
   */
  override trainingStep(batch: unknown, microBatch: MicroBatch): number {
    const mt = this.#mt;
    if (microBatch.index === 0) this.#stepSums.fill(0);
    this.#stepMicroBatches = microBatch.count;
    const { value, tasks } = tidy(() => {
      const output = this.multiTaskOutputs(batch);
      const losses = this.computeTaskLosses(output, batch);
      const tasks = mt.tasks.map((t) => Number(losses[t].item()));
      if (!tasks.every(Number.isFinite)) return { value: tasks.find((v) => !Number.isFinite(v))!, tasks };
      switch (mt.mode) {
        case 'backward':
          return { value: Number(mt.loss.backward(losses).item()), tasks };
        case 'pcgrad': {
          const weights = mt.loss.weights();
          const weighted = mt.tasks.map((t) => losses[t].reshape([]).mul(weights[t] / microBatch.count));
          // The projection order is random: seeded by the seed, the step and the micro-batch, so runs and resumed runs repeat.
          const random = mulberry32(mixSeeds(this.args.seed, this.state.globalStep + 1, microBatch.index));
          pcgradBackward(weighted, mt.pcgrad!.sharedParameters, { random, reduction: mt.pcgrad!.reduction });
          return { value: mt.tasks.reduce((acc, t, i) => acc + weights[t] * tasks[i], 0), tasks };
        }
        default: {
          const total = mt.loss.forward(losses);
          const value = Number(total.item());
          if (Number.isFinite(value)) (microBatch.count === 1 ? total : total.div(microBatch.count)).backward();
          return { value, tasks };
        }
      }
    });
    if (Number.isFinite(value)) tasks.forEach((v, i) => (this.#stepSums[i] += v));
    if (mt.mode === 'backward' && microBatch.count > 1 && microBatch.index === microBatch.count - 1)
      this.#averageGradients(microBatch.count);
    return value;
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

  /** The model's parameters in the optimizer: the multi-task loss's weights are not clipped nor counted in grad_norm. */
  protected override clippedParameters(): Tensor[] {
    return super.clippedParameters().filter((p) => !this.#lossParams.has(p));
  }

  /** The Trainer's update, then loss.step() (a skipped update too: α(t) follows the global step; GradNorm renormalises) and the step's task losses summed. */
  override optimizerStep(skipped: boolean): void {
    super.optimizerStep(skipped);
    this.#mt.loss.step();
    if (skipped) return;
    const acc = this.#taskAcc;
    this.#stepSums.forEach((sum, i) => {
      acc.loggingSums[i] += sum / this.#stepMicroBatches;
      acc.epochSums[i] += sum / this.#stepMicroBatches;
    });
    acc.loggingSteps++;
    acc.epochSteps++;
  }

  /** loss.onEpochEnd(the epoch's mean per-step task losses); the epoch sums reset. */
  protected override closeEpoch(): void {
    super.closeEpoch();
    const { loss, tasks } = this.#mt;
    const acc = this.#taskAcc;
    if (acc.epochSteps > 0)
      loss.onEpochEnd(Object.fromEntries(tasks.map((t, i) => [t, acc.epochSums[i] / acc.epochSteps])));
    acc.epochSums.fill(0);
    acc.epochSteps = 0;
  }

  /** The Trainer's entry, plus loss_<task> (the mean since the last log), weight_<task> (the weights in effect now) and alpha (scheduled); the task sums reset. */
  protected override trainingLogs(): LogEntry {
    const logs = super.trainingLogs();
    const { loss, tasks } = this.#mt;
    const acc = this.#taskAcc;
    if (acc.loggingSteps > 0) tasks.forEach((t, i) => (logs[`loss_${t}`] = acc.loggingSums[i] / acc.loggingSteps));
    const weights = loss.weights();
    for (const t of tasks) logs[`weight_${t}`] = weights[t];
    if (loss.strategy.kind === 'scheduled') logs.alpha = loss.alpha();
    acc.loggingSums.fill(0);
    acc.loggingSteps = 0;
    return logs;
  }

  override planLines(): string[] {
    const { loss, tasks, mode, lr } = this.#mt;
    const learnable = loss.parameters().reduce((n, p) => n + p.numel(), 0);
    const how =
      mode === 'backward' ? ', its own backward' : mode === 'pcgrad' ? ', PCGrad on the shared parameters' : '';
    const weights = learnable
      ? `; ${learnable} learnable weights in parameter group '${MULTI_TASK_GROUP}' at lr ${formatLr(lr ?? this.learningRate)}, no weight decay`
      : '';
    return [
      ...super.planLines(),
      `multi-task: ${tasks.length} tasks (${tasks.join(', ')}), ${loss.strategy.kind} weighting${how}${weights}`,
    ];
  }

  // ---- checkpoints: the loss's state (multi_task.json) and the task sums -------------------------

  protected override resetAccumulators(): void {
    super.resetAccumulators();
    this.#taskAcc = this.#freshTaskAccumulators();
  }

  protected override stateAttributes(): Record<string, unknown> {
    const acc = this.#taskAcc;
    const named = (values: number[]) => Object.fromEntries(this.#mt.tasks.map((t, i) => [t, values[i]]));
    return {
      ...super.stateAttributes(),
      multi_task_logging_loss_sums: named(acc.loggingSums),
      multi_task_logging_steps: acc.loggingSteps,
      multi_task_epoch_loss_sums: named(acc.epochSums),
      multi_task_epoch_steps: acc.epochSteps,
    };
  }

  protected override async loadCheckpointState(dir: string, attributes: Record<string, unknown>): Promise<void> {
    await super.loadCheckpointState(dir, attributes);
    await loadMultiTaskState(this.#mt.loss, dir);
    const sums = (key: string): number[] => {
      const value = attributes[key] as Record<string, number> | undefined;
      return this.#mt.tasks.map((t) => value?.[t] ?? 0);
    };
    this.#taskAcc = {
      loggingSums: sums('multi_task_logging_loss_sums'),
      loggingSteps: (attributes.multi_task_logging_steps as number | undefined) ?? 0,
      epochSums: sums('multi_task_epoch_loss_sums'),
      epochSteps: (attributes.multi_task_epoch_steps as number | undefined) ?? 0,
    };
  }

  protected override async saveCheckpointFiles(dir: string): Promise<void> {
    await super.saveCheckpointFiles(dir);
    await saveMultiTaskState(this.#mt.loss, dir);
  }

  // ---- evaluation --------------------------------------------------------------------------------

  /**
   * The multi-task evaluation: each task's logits and labels, <prefix>_<task>_loss (the mean task
   * loss), <prefix>_loss (the weighted total at the current weights, with uncertainty's s_i/2 terms;
   * the loss's state is not touched) and <prefix>_<task>_<metric> (computeMetrics per task, which also
   * gets `task`; default: defaultComputeMetrics, accuracy and F1 of logit > 0 for binary tasks with one logit).
   */
  override async predictionLoop(dataset: Dataset<unknown>, prefix: string): Promise<PredictionOutput> {
    const mt = this.#mt;
    const loader = this.getEvalDataloader(dataset);
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
            const output = this.multiTaskOutputs(batch);
            let losses: number[] | undefined;
            if (mt.computeTaskLosses || mt.tasks.every((t) => taskLabelsOf(batch, t))) {
              const taskLosses = this.computeTaskLosses(output, batch);
              losses = mt.tasks.map((t) => Number(taskLosses[t].item()));
            }
            const perTask = mt.tasks.map((t) => {
              const labels = taskLabelsOf(batch, t);
              return { rows: logitRows(output.logits[t]), labels: labels ? labelValues(labels) : undefined };
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
      const labelIds =
        haveLabels[t] && labelRows[t].length === rows[t].length ? (labelRows[t] as number[] | number[][]) : null;
      tasks[t] = { predictions: rows[t], labelIds };
      if (!labelIds || this.computeMetrics === null) continue;
      const prediction: EvalPrediction = { predictions: rows[t], labelIds, task: t };
      const computed =
        this.computeMetrics === defaultComputeMetrics
          ? defaultTaskMetrics(prediction, kinds?.[t])
          : this.computeMetrics(prediction);
      for (const [key, value] of Object.entries(computed)) metrics[`${prefix}_${t}_${key}`] = value;
    }
    return { predictions: [], labelIds: null, metrics, tasks };
  }
}

registerMultiTaskTrainer(MultiTaskTrainer);
