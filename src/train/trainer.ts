/**
 * Trainer: Hugging Face's Trainer loop on finetune's models, optimizers and data.
 *
 *   const trainer = new Trainer({ model, args, trainDataset, evalDataset });
 *   const { globalStep, trainingLoss, metrics } = await trainer.train();
 *   const evalMetrics = await trainer.evaluate();
 *   const { predictions, labelIds, metrics: testMetrics } = await trainer.predict(testDataset);
 *
 * train() is a loop over steps that are methods of their own, each documented, which a subclass
 * overrides to change one part (as transformers' trainer.py: "subclass and override this method"):
 * getTrainDataloader / getEvalDataloader, createOptimizer / createScheduler, computeLoss,
 * trainingStep (forward + backward of a micro-batch), clipGradients, optimizerStep, trainingLogs,
 * closeEpoch, saveCheckpoint, saveModel (the weights of checkpoints and of the final save),
 * predictionStep / predictionLoop.
 *
 * A training step: forward in train mode, the loss (the model's, or label-smoothed cross entropy
 * with labelSmoothingFactor), backward of loss / (micro-batches in the step) — HF's gradient
 * accumulation —, the global gradient norm clipped to maxGradNorm (logged as grad_norm), optimizer
 * and scheduler step, gradients cleared. Each micro-batch runs inside tidy(), so a step leaves no
 * tensor behind. A NaN/Inf loss or gradient norm stops training with the step named
 * (nanPolicy 'stop') or skips that update and counts it ('skip').
 *
 * Multi-task training (`multiTask: { loss: MultiTaskLoss }`) is the MultiTaskTrainer subclass
 * (multi-task/trainer.ts), which `new Trainer({ multiTask })` builds.
 *
 * Checkpoints (checkpoint.ts) hold everything a run depends on — weights, optimizer state,
 * scheduler, libtorch's generator, the data loader's position, the trainer state and the callbacks'
 * states —, so `resumeFromCheckpoint` continues bit for bit: the final weights equal an
 * uninterrupted run's.
 *
 * Several processes (started by `finetune launch`, `finetune train --nproc-per-node`, torchrun or a
 * scheduler that sets WORLD_SIZE, RANK, MASTER_ADDR and MASTER_PORT): the Trainer joins the default
 * process group (gloo, env://) unless the script made one, wraps the model in DistributedDataParallel
 * when train() starts (the parameters that train are the ones averaged), and each rank trains on its
 * share of one process's order (distributed.ts): a step's global batch is perDeviceTrainBatchSize ×
 * world size × gradientAccumulationSteps, and 2 processes × batch 4 take the same examples, step by
 * step, as 1 process × batch 8. The logged loss is the mean over the ranks; evaluation splits the
 * dataset into one block per rank and gathers the predictions, so metrics are one process's. Rank 0
 * alone prints, logs to files and writes checkpoints and the model; the others wait at a barrier.
 * Every rank resumes from the same checkpoint (weights, optimizer, scheduler, generator, step). A
 * checkpoint resumes on any world size: the order is one process's whatever the world size, so the
 * resumed epoch skips the examples the saved run consumed (its batches × its per-device batch × its
 * world size, rounded down to whole steps of the new run); the step count and the schedule go on
 * from the saved step, so with the same global batch (2 × 4 resumed as 1 × 8) the run ends as an
 * uninterrupted one, and with another the remaining steps are of the new size.
 */
import { join, resolve } from 'node:path';
import { existsSync, mkdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import { manualSeed, noGrad, setNumThreads, tidy, type Tensor } from '../tensor/index.js';
import { labelSmoothedCrossEntropy } from '../nn/index.js';
import { classificationLoss, IGNORE_INDEX, PretrainedCausalLM } from '../models/index.js';
import { LRScheduler, ReduceLROnPlateau, clipGradNorm_, getTotalNorm } from '../optim/index.js';
import type { Dataset } from '../data/index.js';
import {
  latestCheckpoint,
  listCheckpoints,
  loadModelWeights,
  removeCheckpointFolder,
  removeStaleTemporaries,
  writeTextAtomic,
  CHECKPOINT_PREFIX,
  TRAINER_STATE_NAME,
} from './checkpoint.js';
import type { Metrics } from './metrics.js';
import {
  asOutput,
  defaultForward,
  FlosEstimate,
  innerModel,
  isIntegerDtype,
  labelsOf,
  problemTypeOf,
} from './model-io.js';
import { planLines, stepSchedule } from './plan.js';
import { labelValues, logitRows, round3, round4 } from './prediction.js';
import { TrainerState, type LogEntry } from './state.js';
import { TrainerCore } from './trainer-core.js';
import { FrozenFeatureCache } from './feature-cache.js';
import { allGatherObject, meanOverRanks, waitForAllRanks } from './distributed.js';
import type {
  LossAndOutputs,
  MicroBatch,
  PredictionOutput,
  PredictionStepOutput,
  TrainCallOptions,
  TrainerOptions,
  TrainOutput,
} from './trainer-types.js';

/** The class `new Trainer({ multiTask })` builds: MultiTaskTrainer, which multi-task/trainer.ts registers (the train layer's index loads it). */
let multiTaskTrainerClass: (new (options: TrainerOptions) => Trainer) | null = null;

/** Registers the subclass that runs multi-task training (see TrainerOptions.multiTask). */
export function registerMultiTaskTrainer(cls: new (options: TrainerOptions) => Trainer): void {
  multiTaskTrainerClass = cls;
}

/** The loss sums that make log entries and the train summary; saved in checkpoints so resumed runs log the same. */
interface Accumulators {
  loggingLossSum: number;
  loggingLossSteps: number;
  totalLossSum: number;
  totalLossSteps: number;
  skippedSteps: number;
}

function freshAccumulators(): Accumulators {
  return { loggingLossSum: 0, loggingLossSteps: 0, totalLossSum: 0, totalLossSteps: 0, skippedSteps: 0 };
}

/**
 * The Trainer: train(), evaluate(), predict() and the steps they are made of. Subclass and override
 * a step to change it (a custom loss: computeLoss; a custom update: trainingStep / optimizerStep;
 * extra log values: trainingLogs; your own evaluation: predictionStep / predictionLoop).
 */
export class Trainer extends TrainerCore {
  // Set in the constructor, not by initializers: a Trainer given multiTask returns a MultiTaskTrainer before super().
  private acc!: Accumulators;
  private lastLoggedStep!: number;
  private lastEvaluatedStep!: number;
  private lastGradNorm: number | undefined;

  constructor(options: TrainerOptions) {
    const isMultiTask =
      multiTaskTrainerClass !== null &&
      (new.target === multiTaskTrainerClass || new.target.prototype instanceof multiTaskTrainerClass);
    if (options?.multiTask != null && !isMultiTask) {
      if (!multiTaskTrainerClass || new.target !== Trainer) {
        throw new Error(
          `${new.target.name}: multiTask needs MultiTaskTrainer (import it from the train layer; a subclass extends MultiTaskTrainer)`,
        );
      }
      return new multiTaskTrainerClass(options);
    }
    super(options);
    this.acc = freshAccumulators();
    this.lastLoggedStep = -1;
    this.lastEvaluatedStep = -1;
    this.lastGradNorm = undefined;
  }

  // ---- the steps of training (subclass and override) ---------------------------------------------

  /**
   * HF's compute_loss: the model's outputs on a batch, the loss (TrainerOptions.computeLoss; with
   * labelSmoothingFactor, label-smoothed cross entropy; else the model's own loss; else cross
   * entropy / MSE / BCE by the labels and the config's problemType) and the batch's labels.
   */
  computeLoss(batch: unknown): LossAndOutputs {
    const labels = labelsOf(batch);
    const smoothing =
      this.args.labelSmoothingFactor > 0 && labels !== undefined && isIntegerDtype(labels) && !this.lossFunction;
    // Training forwards through DistributedDataParallel when there is one (torch's ddp(inputs)); evaluation through the model.
    const forwarding = this.ddp && this.model.training ? this.ddp : this.model;
    // bf16 / fp16: the forward (and the loss a model computes in it) under autocast, its outputs in float32 (precision.ts);
    // a batch of cached frozen features runs only the part above the frozen one (feature-cache.ts).
    const raw = this.precision.forward(
      () =>
        this.featureCache && FrozenFeatureCache.isBatch(batch)
          ? this.featureCache.forward(this.model, batch)
          : this.forwardBatch
            ? this.forwardBatch(forwarding, batch)
            : defaultForward(forwarding, batch, !smoothing && !this.lossFunction),
      () => this.autocastDevice(),
    );
    const outputs = asOutput(raw, this.model);
    let loss: Tensor | undefined;
    if (this.lossFunction) loss = this.lossFunction(outputs, labels, batch);
    else if (smoothing) {
      const classes = outputs.logits.shape[outputs.logits.ndim - 1];
      loss = labelSmoothedCrossEntropy(
        outputs.logits.reshape([-1, classes]),
        labels!.reshape([-1]),
        this.args.labelSmoothingFactor,
      );
    } else if (outputs.loss) loss = outputs.loss;
    else if (labels)
      loss = classificationLoss(
        outputs.logits,
        labels,
        outputs.logits.shape[outputs.logits.ndim - 1],
        problemTypeOf(this.model),
      );
    return { outputs, loss, labels };
  }

  /**
   * HF's training_step: forward + backward of one micro-batch, the loss divided by the step's
   * micro-batch count (gradient accumulation), inside tidy(). Returns the undivided loss; a loss
   * that is not finite is returned without a backward pass (with several processes it goes through
   * backward all the same, so that every rank takes part in the gradients' average: its NaN makes
   * every rank's gradient norm NaN, and every rank skips or stops at the same step).
   */
  trainingStep(batch: unknown, microBatch: MicroBatch): number {
    return tidy(() => {
      const { loss } = this.computeLoss(batch);
      if (!loss)
        throw new Error(
          `Trainer: ${this.model.constructor.name} returned no loss and the batch has no labels ('labels' or 'label'); give computeLoss or labelled data`,
        );
      const value = Number(loss.item());
      if (Number.isFinite(value) || this.world.worldSize > 1)
        this.precision.scaleLoss(microBatch.count === 1 ? loss : loss.div(microBatch.count)).backward();
      return value;
    });
  }

  /** The parameters whose gradients are clipped and measured as grad_norm: the optimizer's. */
  protected clippedParameters(): Tensor[] {
    return this.optimizer!.paramGroups.flatMap((g) => g.params);
  }

  /** Clips the global gradient norm to maxGradNorm (or only measures it when 0); returns the norm before clipping. fp16: of the gradients unscaled first. */
  clipGradients(): number {
    this.precision.unscale(this.optimizer!);
    const params = this.clippedParameters();
    return tidy(() => {
      if (this.args.maxGradNorm > 0) return Number(clipGradNorm_(params, this.args.maxGradNorm).item());
      const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
      return Number(getTotalNorm(grads).item());
    });
  }

  /**
   * The update after a step's micro-batches: the optimizer's step (unless `skipped`: a loss or gradient
   * norm that is not finite), the scheduler's step, gradients cleared. fp16: the GradScaler's step,
   * which skips an update whose gradients overflowed and halves the scale; the scheduler does not
   * step then (HF's Trainer: optimizer_step_was_skipped).
   */
  optimizerStep(skipped: boolean): void {
    const scale = this.precision.scaler?.getScale();
    const overflowed = !skipped && !this.precision.step(this.optimizer!);
    if (overflowed)
      this.log(
        `step ${this.state.globalStep + 1}: float16 gradients overflowed at loss scale ${scale}; update skipped, scale now ${this.precision.scaler!.getScale()} (fp16)`,
      );
    if (this.scheduler instanceof LRScheduler && !overflowed) this.scheduler.step();
    this.zeroGrad();
  }

  protected zeroGrad(): void {
    this.optimizer?.zeroGrad();
    this.model.zeroGrad();
  }

  /** What train() will do, in a few lines (printed at its start): trainable parameters, lr and where it comes from, optimizer, schedule, steps. */
  planLines(): string[] {
    const lines = planLines(
      this.model,
      this.args,
      this.learningRateReason,
      this.trainDataset ? this.trainDataset.length : null,
      this.world.worldSize,
    );
    lines.splice(1, 0, ...this.precision.planLines(this.autocastDevice()));
    if (this.featureCacheLine) lines.push(this.featureCacheLine);
    return [...lines, `device ${this.device}${this.deviceReason ? ` (${this.deviceReason})` : ''}`];
  }

  // ---- training ----------------------------------------------------------------------------------

  async train(options: TrainCallOptions = {}): Promise<TrainOutput> {
    try {
      return await this.#train(options);
    } finally {
      this.closeFeatureCache();
    }
  }

  async #train(options: TrainCallOptions): Promise<TrainOutput> {
    const { args } = this;
    if (args.threads !== null) setNumThreads(args.threads);
    const resumeDir = this.#resumeDir(options);
    manualSeed(args.seed);
    mkdirSync(args.outputDir, { recursive: true });
    if (this.isWorldProcessZero) await removeStaleTemporaries(args.outputDir);
    await this.prepareFeatureCache();

    const loader = this.getTrainDataloader();
    const batchesPerEpoch = loader.length;
    const { maxSteps, numEpochs } = stepSchedule(args, batchesPerEpoch);
    this.createOptimizer();
    this.createScheduler(maxSteps);
    this.prepareDataParallel();
    const { startEpoch, startBatch } = await this.#startState(resumeDir, batchesPerEpoch, maxSteps, numEpochs);
    if ((args.evalStrategy !== 'no' || args.loadBestModelAtEnd) && !this.evalDataset)
      throw new Error(`Trainer: evalStrategy '${args.evalStrategy}' needs an evalDataset`);

    for (const line of this.planLines()) this.log(line);
    if (resumeDir)
      this.log(
        `resuming from ${resumeDir}: step ${this.state.globalStep} of ${maxSteps}, epoch ${startEpoch}, batch ${startBatch} of ${batchesPerEpoch}`,
      );
    const flos = FlosEstimate.of(this.model);
    const startTime = performance.now();
    const startStep = this.state.globalStep;
    this.model.train();
    await this.callEvent('onTrainBegin');

    const done = this.state.globalStep >= maxSteps;
    if (done) this.log(`nothing to train: the checkpoint is at step ${this.state.globalStep} of ${maxSteps}`);
    for (let epoch = startEpoch; epoch < numEpochs && !done && !this.control.shouldTrainingStop; epoch++) {
      const first = epoch === startEpoch ? startBatch : 0;
      await this.callEvent('onEpochBegin', { epochIndex: epoch });
      const batches = loader.epoch(epoch, { startBatch: first });
      let position = first;
      try {
        while (position < batchesPerEpoch && this.state.globalStep < maxSteps) {
          const count = Math.min(args.gradientAccumulationSteps, batchesPerEpoch - position);
          await this.callEvent('onStepBegin');
          const { loss, gradNorm } = await this.#step(batches, count, { epoch, position, batchesPerEpoch, flos });
          position += count;
          this.state.globalStep++;
          this.state.epoch = epoch + position / batchesPerEpoch;
          this.loaderPosition = { ...this.loaderPosition, epoch, position };
          this.lastGradNorm = gradNorm;
          await this.callEvent('onStepEnd', { loss, gradNorm });
          await this.maybeLogSaveEvaluate();
          if (this.control.shouldEpochStop || this.control.shouldTrainingStop) break;
        }
      } finally {
        await batches.return(undefined);
      }
      this.closeEpoch();
      await this.callEvent('onEpochEnd', { epochIndex: epoch });
      await this.maybeLogSaveEvaluate();
    }
    return this.#finishTraining(startTime, startStep);
  }

  /** The checkpoint to resume from (TrainCallOptions / args.resumeFromCheckpoint: true is the latest in outputDir), or null. */
  #resumeDir(options: TrainCallOptions): string | null {
    const setting =
      options.resumeFromCheckpoint !== undefined ? options.resumeFromCheckpoint : this.args.resumeFromCheckpoint;
    if (typeof setting === 'string') return setting;
    if (setting !== true) return null;
    const latest = latestCheckpoint(this.args.outputDir);
    if (!latest)
      throw new Error(
        `resumeFromCheckpoint: no valid checkpoint (${CHECKPOINT_PREFIX}-<step> with ${TRAINER_STATE_NAME}) in ${this.args.outputDir}`,
      );
    return latest;
  }

  /** A fresh state (or the checkpoint's), the accumulators, the intervals in steps; where the data loader starts. */
  async #startState(
    resumeDir: string | null,
    batchesPerEpoch: number,
    maxSteps: number,
    numEpochs: number,
  ): Promise<{ startEpoch: number; startBatch: number }> {
    const { args } = this;
    this.resetAccumulators();
    let state = new TrainerState();
    let startEpoch = 0;
    let startBatch = 0;
    if (resumeDir) ({ state, startEpoch, startBatch } = await this.resume(resumeDir, batchesPerEpoch));
    const ratio = (value: number) => (value < 1 ? Math.ceil(maxSteps * value) : value);
    state.maxSteps = maxSteps;
    state.numTrainEpochs = numEpochs;
    state.loggingSteps = ratio(args.loggingSteps);
    state.evalSteps = ratio(args.evalSteps);
    state.saveSteps = ratio(args.saveSteps);
    state.trainBatchSize = args.perDeviceTrainBatchSize;
    state.isWorldProcessZero = this.isWorldProcessZero;
    this.state = state;
    this.lastLoggedStep = state.globalStep;
    this.lastEvaluatedStep = -1;
    this.lastSavedStep = resumeDir ? state.globalStep : -1;
    this.loaderPosition = {
      epoch: startEpoch,
      position: startBatch,
      seed: args.dataOrderSeed,
      batchesPerEpoch,
      worldSize: this.world.worldSize,
    };
    return { startEpoch, startBatch };
  }

  /** One optimizer step over the next `count` micro-batches: trainingStep on each, clipping, optimizerStep (skipped on a loss or norm that is not finite); the step's mean loss (NaN when skipped) and gradient norm. */
  async #step(
    batches: AsyncIterator<unknown>,
    count: number,
    where: { epoch: number; position: number; batchesPerEpoch: number; flos: FlosEstimate | null },
  ): Promise<{ loss: number; gradNorm: number }> {
    let lossSum = 0;
    let bad: number | null = null;
    for (let index = 0; index < count; index++) {
      const next = await batches.next();
      if (next.done)
        throw new Error(
          `internal error: the data loader ended at batch ${where.position + index} of ${where.batchesPerEpoch}`,
        );
      if (where.flos) this.currentFlos += where.flos.of(next.value);
      const microBatch = { index, count };
      // With several processes, DDP averages the gradients during the step's last backward; the ones before it run in noSync.
      const value = this.withBatchOnDevice(next.value, (batch) =>
        this.ddp && index < count - 1
          ? this.ddp.noSync(() => this.trainingStep(batch, microBatch))
          : this.trainingStep(batch, microBatch),
      );
      if (Number.isFinite(value) || this.ddp) lossSum += value;
      else {
        this.#stopOnNanPolicy('loss', value, where.epoch, where.position + index + 1, where.batchesPerEpoch);
        bad ??= value;
      }
    }
    if (this.ddp) {
      // The step's loss over every rank's examples (NaN on every rank when it is on one).
      lossSum = meanOverRanks(lossSum);
      if (!Number.isFinite(lossSum)) {
        this.#stopOnNanPolicy('loss', lossSum, where.epoch, where.position + count, where.batchesPerEpoch);
        bad = lossSum;
      }
    }
    let gradNorm = NaN;
    // fp16: gradients that overflowed are the loss scaler's to skip (optimizerStep), not nanPolicy's.
    const scaled = this.precision.scaler !== null;
    if (bad === null) {
      gradNorm = this.clipGradients();
      if (!Number.isFinite(gradNorm) && !scaled)
        this.#stopOnNanPolicy('gradient norm', gradNorm, where.epoch, where.position + count, where.batchesPerEpoch);
    }
    const skipped = bad !== null || (!Number.isFinite(gradNorm) && !scaled);
    if (skipped) {
      this.acc.skippedSteps++;
      this.log(
        `step ${this.state.globalStep + 1}: ${bad !== null ? `the loss is ${bad}` : `the gradient norm is ${gradNorm}`}; update skipped (nanPolicy 'skip', ${this.acc.skippedSteps} so far)`,
      );
    }
    this.optimizerStep(skipped);
    if (skipped) return { loss: NaN, gradNorm };
    const loss = lossSum / count;
    this.acc.loggingLossSum += loss;
    this.acc.loggingLossSteps++;
    this.acc.totalLossSum += loss;
    this.acc.totalLossSteps++;
    return { loss, gradNorm };
  }

  /** nanPolicy 'stop': a loss or gradient norm that is not finite ends training, naming the step and batch. */
  #stopOnNanPolicy(
    what: 'loss' | 'gradient norm',
    value: number,
    epoch: number,
    batch: number,
    batchesPerEpoch: number,
  ): void {
    if (this.args.nanPolicy !== 'stop') return;
    this.zeroGrad();
    throw new Error(
      `training stopped at step ${this.state.globalStep + 1} (epoch ${epoch}, batch ${batch} of ${batchesPerEpoch}): the ${what} is ${value} (nanPolicy 'stop'). ` +
        "Lower the learning rate, check the data for bad values, or set nanPolicy: 'skip' to skip such updates",
    );
  }

  /** The end of train(): the best model loaded (loadBestModelAtEnd), the train summary logged, trainer_state.json written. */
  async #finishTraining(startTime: number, startStep: number): Promise<TrainOutput> {
    const { args, state } = this;
    if (args.loadBestModelAtEnd && state.bestModelCheckpoint && existsSync(state.bestModelCheckpoint)) {
      this.log(`loading the best model from ${state.bestModelCheckpoint} (${args.metricKey} ${state.bestMetric})`);
      await loadModelWeights(this.model, state.bestModelCheckpoint);
    }
    const runtime = (performance.now() - startTime) / 1000;
    const steps = state.globalStep - startStep;
    const trainingLoss = this.acc.totalLossSteps ? this.acc.totalLossSum / this.acc.totalLossSteps : NaN;
    this.storeFlos();
    const metrics: Metrics = {
      train_runtime: round4(runtime),
      train_samples_per_second: round3(
        (steps * args.perDeviceTrainBatchSize * args.gradientAccumulationSteps * this.world.worldSize) /
          Math.max(runtime, 1e-9),
      ),
      train_steps_per_second: round3(steps / Math.max(runtime, 1e-9)),
      total_flos: state.totalFlos,
      train_loss: trainingLoss,
    };
    if (this.acc.skippedSteps) metrics.train_skipped_steps = this.acc.skippedSteps;
    await this.addLogEntry({ ...metrics });
    metrics.epoch = state.epoch;
    if (args.saveTotalLimit === 1 && state.bestModelCheckpoint && this.isWorldProcessZero) {
      // HF: with one checkpoint to keep and a best model, only the best one stays.
      const best = resolve(state.bestModelCheckpoint);
      for (const { path } of listCheckpoints(args.outputDir))
        if (resolve(path) !== best) await removeCheckpointFolder(path);
    }
    this.captureCallbackStates();
    if (this.isWorldProcessZero) await writeTextAtomic(join(args.outputDir, TRAINER_STATE_NAME), state.toJsonString());
    waitForAllRanks(this.world);
    await this.callEvent('onTrainEnd');
    return { globalStep: state.globalStep, trainingLoss, metrics };
  }

  /** Clears the loss sums (and what a subclass sums over a run) before train() starts or resumes. */
  protected resetAccumulators(): void {
    this.acc = freshAccumulators();
  }

  /** The Trainer's own state in trainer_state.json's stateful callbacks (its loss sums); subclasses add theirs. */
  protected override stateAttributes(): Record<string, unknown> {
    const acc = this.acc;
    return {
      ...super.stateAttributes(),
      logging_loss_sum: acc.loggingLossSum,
      logging_loss_steps: acc.loggingLossSteps,
      total_loss_sum: acc.totalLossSum,
      total_loss_steps: acc.totalLossSteps,
      skipped_steps: acc.skippedSteps,
    };
  }

  /** Restores stateAttributes() from a checkpoint (`dir`, for state a subclass keeps in files of its own). */
  protected override async loadCheckpointState(dir: string, attributes: Record<string, unknown>): Promise<void> {
    await super.loadCheckpointState(dir, attributes);
    const number = (key: string) => (attributes[key] as number | undefined) ?? 0;
    this.acc = {
      loggingLossSum: number('logging_loss_sum'),
      loggingLossSteps: number('logging_loss_steps'),
      totalLossSum: number('total_loss_sum'),
      totalLossSteps: number('total_loss_steps'),
      skippedSteps: number('skipped_steps'),
    };
  }

  // ---- logging, evaluation and saving between steps ----------------------------------------------

  /** A logging step's entry: loss (the mean since the last log), grad_norm, learning_rate (the first group's); resets the loss sums. */
  protected trainingLogs(): LogEntry {
    const logs: LogEntry = {};
    if (this.acc.loggingLossSteps > 0) logs.loss = this.acc.loggingLossSum / this.acc.loggingLossSteps;
    if (this.lastGradNorm !== undefined) logs.grad_norm = Number.isFinite(this.lastGradNorm) ? this.lastGradNorm : null;
    logs.learning_rate = this.optimizer?.paramGroups[0]?.lr ?? this.learningRate;
    this.acc.loggingLossSum = 0;
    this.acc.loggingLossSteps = 0;
    return logs;
  }

  /** HF's _maybe_log_save_evaluate: logs, evaluates (reduce_lr_on_plateau steps on the result) and saves as the control asks. */
  protected async maybeLogSaveEvaluate(): Promise<void> {
    const { control, state, args } = this;
    if (control.shouldLog && state.globalStep > this.lastLoggedStep) {
      this.lastLoggedStep = state.globalStep;
      await this.addLogEntry(this.trainingLogs());
    }
    control.shouldLog = false;
    if (control.shouldEvaluate && this.lastEvaluatedStep !== state.globalStep) {
      this.lastEvaluatedStep = state.globalStep;
      const metrics = await this.evaluate();
      this.#determineBest(metrics);
      if (this.scheduler instanceof ReduceLROnPlateau) {
        const key = args.metricKey ?? 'eval_loss';
        const value = metrics[key];
        if (value === undefined)
          throw new Error(
            `reduce_lr_on_plateau steps on ${key}, which the evaluation did not report (${Object.keys(metrics).join(', ')})`,
          );
        this.scheduler.step(value);
      }
    }
    control.shouldEvaluate = false;
    if (control.shouldSave && this.lastSavedStep !== state.globalStep) {
      const path = await this.saveCheckpoint();
      await this.callEvent('onSave', { checkpoint: path });
    }
    control.shouldSave = false;
  }

  /** HF's _determine_best_metric: updates bestMetric / bestGlobalStep when metricForBestModel improved. */
  #determineBest(metrics: Metrics): boolean {
    const key = this.args.metricKey;
    if (key === null) return false;
    const value = metrics[key];
    if (value === undefined) {
      throw new Error(
        `metricForBestModel '${this.args.metricForBestModel}' is not among the evaluation metrics (${Object.keys(metrics).join(', ')}); check computeMetrics or the name`,
      );
    }
    const best = this.state.bestMetric ?? (this.args.greaterIsBetter ? -Infinity : Infinity);
    const better = this.args.greaterIsBetter ? value > best : value < best;
    if (!better) return false;
    this.state.bestMetric = value;
    if (this.args.saveStrategy !== 'no') this.state.bestGlobalStep = this.state.globalStep;
    return true;
  }

  // ---- evaluation and prediction (subclass and override) -----------------------------------------

  /** HF's prediction_step: a batch's logit rows, loss and label values, without gradients (inside tidy). */
  predictionStep(batch: unknown): PredictionStepOutput {
    return tidy(() =>
      noGrad(() => {
        const { outputs, loss, labels } = this.computeLoss(batch);
        if (innerModel(this.model) instanceof PretrainedCausalLM) {
          // transformers' prediction_loss_only path: a causal LM's [batch, tokens, vocab] logits are never kept,
          // only its loss and the number of tokens it predicted (the loss's weight in the token mean).
          return {
            rows: [],
            loss: loss ? Number(loss.item()) : undefined,
            labels: undefined,
            tokens: predictedTokens(labels),
          };
        }
        return {
          rows: logitRows(outputs.logits),
          loss: loss ? Number(loss.item()) : undefined,
          labels: labels ? labelValues(labels) : undefined,
        };
      }),
    );
  }

  /** HF's evaluation_loop: predictionStep over the dataset in eval mode; <prefix>_loss (the mean over examples) and computeMetrics' <prefix>_<metric>. */
  async predictionLoop(dataset: Dataset<unknown>, prefix: string): Promise<PredictionOutput> {
    const loader = this.getEvalDataloader(dataset);
    const wasTraining = this.model.training;
    this.model.eval();
    const predictions: number[][] = [];
    const labelRows: (number | number[])[] = [];
    let haveLabels = true;
    let lossSum = 0;
    let lossCount = 0;
    try {
      for await (const batch of loader.epoch(0)) {
        const result = this.withBatchOnDevice(batch, (placed) => this.predictionStep(placed));
        predictions.push(...result.rows);
        if (result.loss !== undefined) {
          // A causal-LM batch with no token to predict has a NaN mean and no weight: it adds nothing.
          const weight = result.tokens ?? result.rows.length;
          if (weight > 0) {
            lossSum += result.loss * weight;
            lossCount += weight;
          }
        }
        if (result.labels) labelRows.push(...result.labels);
        else haveLabels = false;
      }
    } finally {
      this.model.train(wasTraining);
    }
    if (this.world.worldSize > 1) {
      // Every rank predicted its block of the dataset (getEvalDataloader): put the blocks together in order.
      const blocks = allGatherObject({ predictions, labelRows, haveLabels, lossSum, lossCount });
      predictions.splice(0, Infinity, ...blocks.flatMap((b) => b.predictions));
      labelRows.splice(0, Infinity, ...blocks.flatMap((b) => b.labelRows));
      haveLabels = blocks.every((b) => b.haveLabels);
      lossSum = blocks.reduce((sum, b) => sum + b.lossSum, 0);
      lossCount = blocks.reduce((sum, b) => sum + b.lossCount, 0);
    }
    const labelIds =
      haveLabels && labelRows.length === predictions.length ? (labelRows as number[] | number[][]) : null;
    const metrics: Metrics = {};
    if (lossCount > 0) metrics[`${prefix}_loss`] = lossSum / lossCount;
    // run_clm.py's perplexity: exp of the token-weighted mean loss; a causal LM has no logit rows for computeMetrics.
    if (lossCount > 0 && innerModel(this.model) instanceof PretrainedCausalLM)
      metrics[`${prefix}_perplexity`] = Math.exp(lossSum / lossCount);
    if (this.computeMetrics && labelIds) {
      for (const [key, value] of Object.entries(this.computeMetrics({ predictions, labelIds }))) {
        metrics[key.startsWith(`${prefix}_`) ? key : `${prefix}_${key}`] = value;
      }
    }
    return { predictions, labelIds, metrics };
  }
}

/** How many tokens a causal-LM batch's loss averages over: labels after the first position that are not IGNORE_INDEX. */
function predictedTokens(labels: Tensor | undefined): number | undefined {
  if (!labels) return undefined;
  const rows = labelValues(labels) as number[][];
  return rows.reduce((sum, row) => sum + row.slice(1).filter((id) => id !== IGNORE_INDEX).length, 0);
}
