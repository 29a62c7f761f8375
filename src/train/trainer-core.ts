/**
 * What a Trainer holds, and the steps around its loop: the arguments, the model with its strategy
 * applied, the data loaders, the optimizer and scheduler, the callbacks, the log, checkpoints
 * (saved and resumed). The loop and the steps of training, evaluation and prediction are the
 * Trainer's (trainer.ts), which extends this class; read them there.
 */
import { join } from 'node:path';

import { performance } from 'node:perf_hooks';

import { getRngState, setNumThreads, setRngState, type Device, type Tensor } from '../tensor/index.js';
import { setGradientCheckpointing, type Module } from '../nn/index.js';
import { setPaddingFree } from '../models/index.js';
import { PeftConfig, PeftModel, type MethodName } from '../peft/index.js';
import {
  defaultFineTuneLr,
  formatLr,
  getScheduler,
  lrFind,
  LR_FIND_DEFAULTS,
  type LrFindResult,
  type Optimizer,
} from '../optim/index.js';
import {
  DataLoader,
  datasetsViewed,
  MultiTaskDataset,
  randomAugmentationOf,
  type Dataset,
  type Sampler,
} from '../data/index.js';
import { DistributedDataParallel } from '../distributed/index.js';
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
  loadModelWeights,
  loadOptimizer,
  loadRngState,
  loadScheduler,
  readJson,
  rotateCheckpoints,
  saveModelWeights,
  saveOptimizer,
  saveRngState,
  saveScheduler,
  testPauseInSave,
  writeFolderAtomically,
  writeTextAtomic,
  CHECKPOINT_PREFIX,
  TRAINER_STATE_NAME,
  TRAINING_ARGS_NAME,
  type LoaderPosition,
  type SchedulerLike,
} from './checkpoint.js';
import { defaultComputeMetrics, type EvalPrediction, type Metrics } from './metrics.js';
import { hfConfigOf, innerModel, type ModelOutput, type MultiTaskModelOutput } from './model-io.js';
import { addLayerGroups, buildOptimizer, parameterGroups } from './optimizer-setup.js';
import { TrainerControl, TrainerState, type CallbackState, type LogEntry } from './state.js';
import { applyStrategy } from './strategy.js';
import { speedMetrics } from './prediction.js';
import { datasetTokenizer, sampleGenerations } from './samples.js';
import {
  batchesPerEpoch as batchesUnder,
  evaluationShard,
  joinWorld,
  ShardedTrainOrder,
  sumOverRanks,
  waitForAllRanks,
  type WorldPlace,
} from './distributed.js';
import { batchOnDevice, resolveDevice, type ResolvedDevice } from './device.js';
import type { MicroBatch, PredictionOutput, TrainerLrFindOptions, TrainerOptions } from './trainer-types.js';
import { TrainingArguments } from './training-args.js';
import { MixedPrecision, type AutocastDevice } from './precision.js';
import { chooseFeatureCache, FrozenFeatureCache } from './feature-cache.js';
import { stepSchedule } from './plan.js';

const TRAINER_STATE_KEY = 'Trainer';

/** The Trainer's state and the steps around its loop (see Trainer). */
export abstract class TrainerCore implements TrainerLike {
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
  /** The fine-tuning method the strategy resolved to (picks the default lr). */
  readonly method: MethodName;

  /** TrainerOptions.collate, computeMetrics, forward and computeLoss (null: the defaults). */
  protected readonly collate: ((examples: unknown[]) => unknown) | null;
  protected readonly computeMetrics: ((prediction: EvalPrediction) => Metrics) | null;
  protected readonly forwardBatch:
    ((model: Module, batch: unknown) => ModelOutput | MultiTaskModelOutput | Tensor) | null;
  protected readonly lossFunction:
    ((outputs: ModelOutput, labels: Tensor | undefined, batch: unknown) => Tensor) | null;

  readonly #log: ((line: string) => void) | null;
  /** Where the training data loader is (saved in checkpoints). */
  protected loaderPosition: LoaderPosition = { epoch: 0, position: 0, seed: 0, batchesPerEpoch: 0 };
  /** The global step of the last checkpoint written (-1: none this run). */
  protected lastSavedStep = -1;
  /** This process's FLOs since the last storeFlos (added to state.totalFlos at each checkpoint and at the end). */
  protected currentFlos = 0;
  /** This process's rank and the number of processes training together (rank 0 of 1 without a launcher). */
  readonly world: WorldPlace;
  /** The device the model and every batch are on (args.device resolved for this process; see device.ts). */
  readonly device: Device;
  /** Why it is that device, unless it was asked for as it is (printed with the plan). */
  readonly deviceReason: string | null;
  /** The model wrapped in DistributedDataParallel while train() runs with several processes (null otherwise). */
  protected ddp: DistributedDataParallel<Module & { forward(...args: never[]): unknown }> | null = null;
  /** bf16 / fp16 (args): autocast around the forward, fp16's loss scaler (precision.ts). */
  readonly precision: MixedPrecision;
  /** The frozen prefix's outputs the training data is read from while train() runs (cacheFrozenFeatures), else null. */
  protected featureCache: FrozenFeatureCache | null = null;
  /** The same for evalDataset, when train() evaluates it (read by getEvalDataloader). */
  protected evalFeatureCache: FrozenFeatureCache | null = null;
  /** The plan's line on cached frozen features (null: cacheFrozenFeatures is off). */
  protected featureCacheLine: string | null = null;

  constructor(options: TrainerOptions) {
    if (typeof options !== 'object' || options === null)
      throw new TypeError('Trainer expects { model, args, trainDataset, … }');
    const { model } = options;
    if (!model || typeof (model as Module).namedParameters !== 'function')
      throw new TypeError('Trainer: model must be a finetune nn.Module');
    this.args = options.args instanceof TrainingArguments ? options.args : new TrainingArguments(options.args ?? {});
    this.trainDataset = options.trainDataset ?? null;
    this.evalDataset = options.evalDataset ?? null;
    this.collate = options.collate ?? null;
    this.computeMetrics = options.computeMetrics === undefined ? defaultComputeMetrics : options.computeMetrics;
    this.forwardBatch = options.forward ?? null;
    this.lossFunction = options.computeLoss ?? null;
    this.#log = options.log === undefined ? (line) => console.log(line) : options.log;
    this.optimizer = options.optimizers?.[0] ?? null;
    this.scheduler = options.optimizers?.[1] ?? null;

    const { model: prepared, method } = applyStrategy(model, this.args);
    this.model = prepared;
    if (this.args.gradientCheckpointing && setGradientCheckpointing(this.model, true) === 0)
      throw new Error(
        `Trainer: gradientCheckpointing: ${innerModel(this.model).constructor.name} has no layer that can recompute its activations (BERT, ViT and ResNet layers can)`,
      );
    setPaddingFree(this.model, this.args.paddingFree);
    this.method = method;
    if (options.multiTask != null && (this.args.bf16 || this.args.fp16))
      throw new Error(
        `Trainer: ${this.args.bf16 ? 'bf16' : 'fp16'} with multi-task training is not supported yet (train it in float32)`,
      );
    this.precision = new MixedPrecision(this.args);
    this.world = joinWorld();
    ({ device: this.device, reason: this.deviceReason } = this.resolveDevice());
    this.#moveModel();
    this.state.isWorldProcessZero = this.isWorldProcessZero;
    const strategy = this.args.strategy;
    if (this.world.worldSize > 1 && options.multiTask != null)
      throw new Error(
        'Trainer: multi-task training with several processes is not supported yet (train it in one process)',
      );
    if (
      this.world.worldSize > 1 &&
      strategy &&
      !(strategy instanceof PeftConfig) &&
      strategy.kind === 'gradual-unfreezing'
    )
      throw new Error(
        'Trainer: gradual unfreezing with several processes is not supported (DistributedDataParallel syncs the parameters that train when it is built)',
      );
    this.callbackHandler = new CallbackHandler([...this.#argumentCallbacks(), ...(options.callbacks ?? [])]);
    if (this.args.learningRate !== undefined) {
      this.learningRate = this.args.learningRate;
      this.learningRateReason = `lr ${formatLr(this.learningRate)} (learningRate)`;
    } else {
      const chosen = defaultFineTuneLr({ method, config: hfConfigOf(this.model) });
      this.learningRate = chosen.lr;
      this.learningRateReason = chosen.reason;
    }
    for (const callback of this.callbackHandler.callbacks) {
      const result = callback.onInitEnd?.call(callback, this.args, this.state, this.control, this.#context());
      if (result instanceof Promise)
        throw new Error('onInitEnd must be synchronous (it runs in the Trainer constructor)');
    }
  }

  /** args.device resolved for this process (the GPU of its LOCAL_RANK with several processes); a subclass may place the run elsewhere. */
  protected resolveDevice(): ResolvedDevice {
    return resolveDevice(this.args.device, 'TrainingArguments.device', this.world.worldSize);
  }

  /** Moves the model (its strategy applied) to the device, unless every parameter and buffer is there already (a model the caller placed, with an optimizer of its own over its parameters). */
  #moveModel(): void {
    const tensors = [...this.model.parameters(), ...this.model.namedBuffers().map(([, b]) => b)];
    if (tensors.every((t) => t.device === this.device)) return;
    if (this.optimizer)
      throw new Error(
        `Trainer: the model is on ${tensors[0]?.device ?? 'cpu'} and the run on ${this.device}, but the optimizer given in optimizers holds the model's parameters where they are: move the model (model.to('${this.device}')) before building the optimizer`,
      );
    this.model.to(this.device);
  }

  /** DEFAULT_CALLBACKS and the gradual-unfreezing / early-stopping callbacks the arguments ask for. */
  #argumentCallbacks(): TrainerCallback[] {
    const callbacks = DEFAULT_CALLBACKS.map((factory) => factory(this.args)).filter((c): c is TrainerCallback =>
      Boolean(c),
    );
    const strategy = this.args.strategy;
    if (strategy && !(strategy instanceof PeftConfig) && strategy.kind === 'gradual-unfreezing')
      callbacks.push(new GradualUnfreezingCallback({ schedule: strategy.schedule }));
    if (this.args.earlyStoppingPatience !== null) {
      callbacks.push(
        new EarlyStoppingCallback({
          patience: this.args.earlyStoppingPatience,
          threshold: this.args.earlyStoppingThreshold,
        }),
      );
    }
    return callbacks;
  }

  // ---- optimizer and scheduler (subclass and override to build your own) ------------------------

  /** HF's create_optimizer: the optimizer named by args.optim over the arguments' parameter groups (kept once built). */
  createOptimizer(): Optimizer {
    this.optimizer ??= buildOptimizer(
      parameterGroups(this.model, this.args, this.learningRate),
      this.args,
      this.learningRate,
    );
    return this.optimizer;
  }

  /** HF's create_scheduler: lrSchedulerType over `numTrainingSteps` with the warmup and lrSchedulerKwargs (kept once built). */
  createScheduler(numTrainingSteps: number): SchedulerLike {
    if (this.scheduler) return this.scheduler;
    const { args } = this;
    const optimizer = this.createOptimizer();
    const warmup = args.warmupRatio > 0 ? { warmupRatio: args.warmupRatio } : { numWarmupSteps: args.warmupSteps };
    try {
      this.scheduler = getScheduler(args.lrSchedulerType, optimizer, {
        numTrainingSteps,
        ...warmup,
        ...args.lrSchedulerKwargs,
      });
    } catch (error) {
      throw new Error(`Trainer: lrSchedulerType '${args.lrSchedulerType}': ${(error as Error).message}`, {
        cause: error,
      });
    }
    return this.scheduler;
  }

  /**
   * Gives the optimizer the trainable parameters of these layer groups that it does not hold yet, one
   * parameter group per layer group and weight-decay class (`<group>:decay`, `<group>:no_decay`), at the
   * group's lr; the scheduler scales them from the current step on. Gradual unfreezing calls it.
   */
  addLayerGroupsToOptimizer(groupNames: string[]): void {
    if (!this.optimizer) return; // not built yet: it will take every trainable parameter
    addLayerGroups(this.optimizer, this.scheduler, this.model, this.args, this.learningRate, groupNames);
  }

  // ---- callbacks and the log --------------------------------------------------------------------

  addCallback(callback: TrainerCallback): void {
    this.callbackHandler.add(callback);
  }

  /** Removes (and returns) a callback, given itself or its class. */
  popCallback(
    which: TrainerCallback | (abstract new (...args: never[]) => TrainerCallback),
  ): TrainerCallback | undefined {
    return this.callbackHandler.pop(which);
  }

  removeCallback(which: TrainerCallback | (abstract new (...args: never[]) => TrainerCallback)): void {
    this.callbackHandler.pop(which);
  }

  #context(extra: Partial<CallbackContext> = {}): CallbackContext {
    return {
      trainer: this,
      model: this.model,
      optimizer: this.optimizer,
      scheduler: this.scheduler,
      batchesPerEpoch: this.loaderPosition.batchesPerEpoch || undefined,
      ...extra,
    };
  }

  /** Runs a callback event on every callback (in order). */
  protected async callEvent(event: CallbackEvent, extra: Partial<CallbackContext> = {}): Promise<void> {
    await this.callbackHandler.call(event, this.args, this.state, this.control, this.#context(extra));
  }

  /** Whether this process is rank 0 (or the only one): it alone prints, logs to files and saves (HF's is_world_process_zero). */
  get isWorldProcessZero(): boolean {
    return this.world.rank === 0;
  }

  /** Where the plan and notices go (TrainerOptions.log); rank 0's only. */
  log(line: string): void {
    if (this.isWorldProcessZero) this.#log?.(line);
  }

  /**
   * With several processes, wraps the model in DistributedDataParallel (once; after the strategy
   * chose the parameters that train, which alone are synchronised): rank 0's weights are broadcast.
   */
  protected prepareDataParallel(): void {
    if (this.world.worldSize === 1 || this.ddp) return;
    this.ddp = new DistributedDataParallel(this.model as Module & { forward(...args: never[]): unknown }, {
      findUnusedParameters: this.args.ddpFindUnusedParameters,
      bucketCapMb: this.args.ddpBucketCapMb ?? undefined,
      broadcastBuffers: this.args.ddpBroadcastBuffers,
    });
  }

  /** Where autocast casts (bf16 / fp16): the type of the device the model and batches are on. */
  protected autocastDevice(): AutocastDevice {
    return this.device.startsWith('cuda') ? 'cuda' : 'cpu';
  }

  /** Adds epoch and step, appends to the log history and calls onLog (HF's Trainer.log). */
  protected async addLogEntry(logs: LogEntry): Promise<LogEntry> {
    const entry: LogEntry = { ...logs, epoch: this.state.epoch, step: this.state.globalStep };
    this.state.logHistory.push(entry);
    await this.callEvent('onLog', { logs: entry });
    return entry;
  }

  // ---- data (subclass and override for your own loaders) -----------------------------------------

  /** The collate function for a dataset: TrainerOptions.collate, else the dataset's own collator (or that of the dataset a Subset views). */
  protected collateFor(dataset: Dataset<unknown>): ((examples: unknown[]) => unknown) | undefined {
    if (this.collate) return this.collate;
    for (const d of datasetsViewed(dataset)) {
      const own = (d as { collator?: () => (examples: unknown[]) => unknown }).collator;
      if (typeof own === 'function') return own.call(d);
      if (d instanceof MultiTaskDataset) return d.collate as (examples: unknown[]) => unknown;
    }
    return undefined;
  }

  /**
   * HF's get_train_dataloader: shuffled batches of perDeviceTrainBatchSize in the data seed's order;
   * with several processes, this rank's share of that order (distributed.ts: the ranks' batches of a
   * step are the examples one process would take in a batch of perDeviceTrainBatchSize × world size).
   */
  getTrainDataloader(): DataLoader<unknown, unknown> {
    return this.#trainLoader(this.world.worldSize > 1);
  }

  #trainLoader(sharded: boolean): DataLoader<unknown, unknown> {
    const cache = this.featureCache;
    const dataset = cache ?? this.trainDataset;
    if (!dataset) throw new Error('Trainer.train: no trainDataset');
    const loader = new DataLoader<unknown, unknown>(dataset as Dataset<unknown>, {
      batchSize: this.args.perDeviceTrainBatchSize,
      ...(sharded
        ? { sampler: new ShardedTrainOrder(dataset, this.args.dataOrderSeed, this.world) }
        : { shuffle: true }),
      seed: this.args.dataOrderSeed,
      dropLast: this.args.dataloaderDropLast,
      collate: cache ? (indices) => cache.collate(indices as number[]) : this.collateFor(dataset as Dataset<unknown>),
      prefetch: this.args.dataloaderPrefetch,
    });
    if (loader.length === 0) {
      throw new Error(
        `Trainer.train: the training data gives no batch (${dataset.length} examples, batch size ${this.args.perDeviceTrainBatchSize}${this.args.dataloaderDropLast ? ', dataloaderDropLast' : ''})`,
      );
    }
    return loader;
  }

  /**
   * cacheFrozenFeatures: decides whether the training data is read from cached outputs of the frozen
   * layer groups (feature-cache.ts), builds the cache when it is, and sets the plan's line.
   */
  protected async prepareFeatureCache(): Promise<void> {
    const dataset = this.trainDataset;
    if (!dataset) return;
    const { args } = this;
    const batches = batchesUnder(
      dataset.length,
      args.perDeviceTrainBatchSize,
      args.dataloaderDropLast,
      this.world.worldSize,
    );
    const { maxSteps, updatesPerEpoch } = stepSchedule(args, Math.max(batches, 1));
    const choice = chooseFeatureCache({
      model: this.model,
      args,
      trainDataset: dataset,
      worldSize: this.world.worldSize,
      device: this.device,
      customForward: this.forwardBatch !== null || this.lossFunction !== null,
      epochs: maxSteps / updatesPerEpoch,
    });
    if (choice === null || 'off' in choice) {
      this.featureCacheLine = choice && `frozen features: not cached (${choice.off})`;
      return;
    }
    const build = (data: Dataset<unknown>) =>
      FrozenFeatureCache.build(this.model, choice, data, {
        batchSize: args.perDeviceEvalBatchSize,
        collate: this.collateFor(data) ?? this.collateFor(dataset),
        outputDir: args.outputDir,
      });
    this.featureCache = await build(dataset);
    // The evaluations during training run the model in eval mode: the frozen part's cached outputs serve them as well.
    const evalData = this.evalDataset;
    if (evalData && args.evalStrategy !== 'no' && !randomAugmentationOf(evalData))
      this.evalFeatureCache = await build(evalData);
    this.featureCacheLine = this.featureCache.describe(this.evalFeatureCache);
  }

  /** The plan's line on cached frozen features of the last train() (null: cacheFrozenFeatures is off or train() has not run). */
  get frozenFeaturesLine(): string | null {
    return this.featureCacheLine;
  }

  /** Frees the cached features (and removes their file) when train() ends. */
  protected closeFeatureCache(): void {
    this.featureCache?.close();
    this.evalFeatureCache?.close();
    this.featureCache = null;
    this.evalFeatureCache = null;
  }

  /** HF's get_eval_dataloader: the dataset in order, perDeviceEvalBatchSize a batch; with several processes, this rank's block of it (predictionLoop gathers the blocks). */
  getEvalDataloader(dataset: Dataset<unknown>): DataLoader<unknown, unknown> {
    const shard: { sampler?: Sampler } =
      this.world.worldSize > 1 ? { sampler: evaluationShard(dataset.length, this.world) } : {};
    const cache = dataset === this.evalDataset ? this.evalFeatureCache : null;
    if (cache)
      return new DataLoader<unknown, unknown>(cache, {
        batchSize: this.args.perDeviceEvalBatchSize,
        collate: (indices) => cache.collate(indices as number[]),
        prefetch: this.args.dataloaderPrefetch,
      });
    return new DataLoader<unknown, unknown>(dataset, {
      batchSize: this.args.perDeviceEvalBatchSize,
      ...shard,
      collate: this.collateFor(dataset) ?? (this.trainDataset ? this.collateFor(this.trainDataset) : undefined),
      prefetch: this.args.dataloaderPrefetch,
    });
  }

  /**
   * HF's _prepare_inputs: `step` on the batch with its tensors on the device (copies made for the
   * step and disposed after it; on the CPU, the batch itself).
   */
  protected withBatchOnDevice<T>(batch: unknown, step: (batch: unknown) => T): T {
    if (this.device === 'cpu') return step(batch);
    const placed = batchOnDevice(batch, this.device);
    try {
      return step(placed.batch);
    } finally {
      for (const copy of placed.copies) copy.dispose();
    }
  }

  // ---- checkpoints -------------------------------------------------------------------------------

  /**
   * Writes the model into `outputDir` (default args.outputDir), as transformers' save_model: a
   * PeftModel's adapter files (adapter_config.json, adapter_model.safetensors, and
   * non_adapter_state.safetensors when needed), a registered model's savePretrained files
   * (config.json, model.safetensors), else model.safetensors. Checkpoints' weights and `finetune
   * train`'s final save go through it, so a subclass that overrides it changes both. With several
   * processes only rank 0 writes (HF's should_save).
   */
  async saveModel(outputDir: string = this.args.outputDir): Promise<void> {
    if (this.isWorldProcessZero) await saveModelWeights(this.model, outputDir);
  }

  /** Writes a checkpoint's files into `dir` (the folder being written): weights (saveModel), optimizer, scheduler, generator and loader position, arguments, state. */
  protected async saveCheckpointFiles(dir: string): Promise<void> {
    const { args, state } = this;
    await this.saveModel(dir);
    await saveOptimizer(this.optimizer!, dir);
    await this.precision.save(dir);
    await testPauseInSave(state.globalStep, dir);
    await saveScheduler(this.scheduler!, args.lrSchedulerType, dir);
    await saveRngState(dir, this.loaderPosition, this.device);
    await writeTextAtomic(
      join(dir, TRAINING_ARGS_NAME),
      JSON.stringify(args.toJson({ learning_rate: this.learningRate }), null, 2) + '\n',
    );
    await writeTextAtomic(join(dir, TRAINER_STATE_NAME), state.toJsonString());
  }

  /**
   * Adds the FLOs counted since the last call to state.totalFlos (transformers' store_flos): with
   * several processes, the sum of every rank's, so that total_flos is the whole run's. Every rank calls it.
   */
  storeFlos(): void {
    this.state.totalFlos += this.world.worldSize > 1 ? sumOverRanks(this.currentFlos) : this.currentFlos;
    this.currentFlos = 0;
  }

  /** Writes `<outputDir>/checkpoint-<globalStep>/` atomically, then deletes checkpoints beyond saveTotalLimit. Returns its path. */
  async saveCheckpoint(): Promise<string> {
    const { args, state } = this;
    if (!this.optimizer || !this.scheduler) throw new Error('saveCheckpoint: no optimizer yet (call train())');
    const name = `${CHECKPOINT_PREFIX}-${state.globalStep}`;
    const finalPath = join(args.outputDir, name);
    if (state.bestGlobalStep === state.globalStep) state.bestModelCheckpoint = finalPath;
    this.storeFlos();
    this.captureCallbackStates();
    if (this.isWorldProcessZero) {
      await writeFolderAtomically(args.outputDir, name, (dir) => this.saveCheckpointFiles(dir));
      await rotateCheckpoints(args.outputDir, args.saveTotalLimit, state.bestModelCheckpoint);
    }
    waitForAllRanks(this.world);
    this.lastSavedStep = state.globalStep;
    return finalPath;
  }

  /** Puts the callbacks' states, the control's and the Trainer's (stateAttributes) into state.statefulCallbacks, as trainer_state.json saves them. */
  protected captureCallbackStates(): void {
    this.state.statefulCallbacks = {
      ...this.callbackHandler.stateDicts(),
      TrainerControl: this.control.stateDict(),
      [TRAINER_STATE_KEY]: { args: {}, attributes: this.stateAttributes() },
    };
  }

  protected async resume(
    dir: string,
    batchesPerEpoch: number,
  ): Promise<{ state: TrainerState; startEpoch: number; startBatch: number }> {
    checkCheckpointFiles(dir, this.model instanceof PeftModel, true);
    const saved = TrainerState.fromJson(await readJson(join(dir, TRAINER_STATE_NAME)), join(dir, TRAINER_STATE_NAME));
    await loadModelWeights(this.model, dir);
    // Callbacks first: gradual unfreezing rebuilds the optimizer's groups before its state is loaded.
    this.callbackHandler.loadStateDicts(saved.statefulCallbacks);
    await loadOptimizer(this.optimizer!, dir);
    const scalerNotice = await this.precision.load(dir);
    if (scalerNotice) this.log(scalerNotice);
    await loadScheduler(this.scheduler!, dir);
    const position = await loadRngState(dir, this.device);
    const trainerState = saved.statefulCallbacks[TRAINER_STATE_KEY] as CallbackState | undefined;
    await this.loadCheckpointState(
      dir,
      (trainerState && !Array.isArray(trainerState) ? trainerState.attributes : {}) as Record<string, unknown>,
    );
    // A run on another world size may have another per-device batch (keeping the global batch, say): the
    // checkpoint's training_args.json says which.
    const savedWorldSize = position.worldSize ?? 1;
    const resized = savedWorldSize !== this.world.worldSize;
    const savedBatch = resized
      ? Number((await readJson(join(dir, TRAINING_ARGS_NAME))).per_device_train_batch_size)
      : this.args.perDeviceTrainBatchSize;
    const expected = resized
      ? batchesUnder(this.trainDataset!.length, savedBatch, this.args.dataloaderDropLast, savedWorldSize)
      : batchesPerEpoch;
    if (position.batchesPerEpoch !== expected) {
      throw new Error(
        `resumeFromCheckpoint: ${dir} was written with ${position.batchesPerEpoch} batches per epoch, this run has ${expected}: the training data, batch size or dataloaderDropLast differ from the run being resumed`,
      );
    }
    if (position.seed !== this.args.dataOrderSeed) {
      throw new Error(
        `resumeFromCheckpoint: ${dir} was written with data seed ${position.seed}, this run has ${this.args.dataOrderSeed} (seed / dataSeed must match the run being resumed)`,
      );
    }
    if (position.position < position.batchesPerEpoch) {
      // Every world size reads one process's order (distributed.ts), so a run resumed on another world
      // size skips the examples of the epoch the saved run consumed (rounded down to whole batches of this run).
      const consumed = position.position * savedBatch * savedWorldSize;
      const startBatch = Math.floor(consumed / (this.args.perDeviceTrainBatchSize * this.world.worldSize));
      if (resized)
        this.log(
          `${dir} was written by ${savedWorldSize} process(es) × batch ${savedBatch}, this run has ${this.world.worldSize} × ${this.args.perDeviceTrainBatchSize}: ` +
            `the epoch goes on after its first ${consumed} examples (batch ${startBatch} of each rank); the step count and the schedule go on from step ${saved.globalStep}`,
        );
      return { state: saved, startEpoch: position.epoch, startBatch };
    }
    // Saved at an epoch's last step, before the epoch closed: close it now, as the uninterrupted run did.
    this.closeEpoch();
    return { state: saved, startEpoch: position.epoch + 1, startBatch: 0 };
  }

  /** Called when an epoch's steps are done, before onEpochEnd (and when a resumed run starts past the epoch its checkpoint ended). Nothing here; subclasses close per-epoch state. */
  protected closeEpoch(): void {}

  /** The Trainer's own state in trainer_state.json's stateful callbacks ("Trainer": its loss sums); subclasses add theirs. */
  protected stateAttributes(): Record<string, unknown> {
    return {};
  }

  /** Restores stateAttributes() from a checkpoint (`dir`, for state a subclass keeps in files of its own). */
  protected async loadCheckpointState(_dir: string, _attributes: Record<string, unknown>): Promise<void> {}

  // ---- the steps the Trainer defines (trainer.ts) ------------------------------------------------

  /** Forward + backward of one micro-batch; the loss (Trainer.trainingStep). */
  abstract trainingStep(batch: unknown, microBatch: MicroBatch): number;

  /** Clips the global gradient norm; returns it (Trainer.clipGradients). */
  abstract clipGradients(): number;

  /** Logits, labels and metrics over a dataset (Trainer.predictionLoop). */
  abstract predictionLoop(dataset: Dataset<unknown>, prefix: string): Promise<PredictionOutput>;

  // ---- evaluation, prediction and the lr range test around those steps ----------------------------

  /** Evaluates on evalDataset (or the given one): eval_loss, eval_<metric>, eval_runtime, …; logged and passed to onEvaluate. */
  async evaluate(dataset?: Dataset<unknown> | null, metricKeyPrefix = 'eval'): Promise<Metrics> {
    const data = dataset ?? this.evalDataset;
    if (!data) throw new Error('Trainer.evaluate: no evalDataset (give one to the Trainer or to evaluate())');
    const start = performance.now();
    const { metrics } = await this.predictionLoop(data, metricKeyPrefix);
    const runtime = (performance.now() - start) / 1000;
    Object.assign(
      metrics,
      speedMetrics(metricKeyPrefix, runtime, data.length, Math.ceil(data.length / this.args.perDeviceEvalBatchSize)),
    );
    const samples = await this.#evaluationSamples(data);
    const entry = await this.addLogEntry({ ...metrics, ...samples });
    metrics.epoch = entry.epoch as number;
    await this.callEvent('onEvaluate', { metrics });
    return metrics;
  }

  /** samplePrompts continued by a causal LM (sample_1, …), logged as `sample: "…"` lines; none without prompts or a dataset tokenizer. */
  async #evaluationSamples(dataset: Dataset<unknown>): Promise<Record<string, string>> {
    const { samplePrompts, sampleMaxNewTokens } = this.args;
    if (samplePrompts.length === 0) return {};
    const tokenizer = datasetTokenizer(dataset) ?? datasetTokenizer(this.trainDataset);
    if (!tokenizer) throw new Error('Trainer: samplePrompts needs a dataset with a tokenizer (data.CausalLmDataset)');
    const texts = await sampleGenerations(innerModel(this.model), tokenizer, samplePrompts, sampleMaxNewTokens);
    for (const [i, text] of texts.entries()) this.log(`sample: ${JSON.stringify(samplePrompts[i] + text)}`);
    return Object.fromEntries(texts.map((text, i) => [`sample_${i + 1}`, samplePrompts[i] + text]));
  }

  /** Logits, labels and metrics (test_ prefix) on a dataset (HF's predict). */
  async predict(dataset: Dataset<unknown>, metricKeyPrefix = 'test'): Promise<PredictionOutput> {
    if (!dataset) throw new Error('Trainer.predict: give a dataset');
    const start = performance.now();
    const output = await this.predictionLoop(dataset, metricKeyPrefix);
    const runtime = (performance.now() - start) / 1000;
    Object.assign(
      output.metrics,
      speedMetrics(
        metricKeyPrefix,
        runtime,
        dataset.length,
        Math.ceil(dataset.length / this.args.perDeviceEvalBatchSize),
      ),
    );
    await this.callEvent('onPredict', { metrics: output.metrics });
    return output;
  }

  /**
   * fastai's Learner.lr_find: the learning-rate range test (optim.lrFind: lrs from startLr to endLr
   * over numIt steps, valley / minimum / steep suggestions, or `refused` with why on a curve that
   * does not fall clearly) on this Trainer's model, optimizer (createOptimizer: its parameter groups,
   * weight decay, betas) and training data (shuffled batches of perDeviceTrainBatchSize from the data
   * seed), one batch a step, with train()'s trainingStep and gradient clipping. The weights, the
   * optimizer's state and hyperparameters and the random generator are restored afterwards, so
   * train() runs as it would have; the Trainer keeps its learningRate — give a new Trainer the
   * suggestion (fastai's habit: lr_find, then fit_one_cycle at the valley). startLr / endLr given as
   * one number are the head's: groups at other lrs (discriminative or layer-wise) sweep in
   * proportion, so the suggestion is a learningRate for this Trainer's setup. fp16: the loss is scaled
   * as in train(), an iteration whose gradients overflow leaves the weights as they are, and the
   * scaler's state is restored after.
   */
  async lrFind(options: TrainerLrFindOptions = {}): Promise<LrFindResult> {
    if (this.args.threads !== null) setNumThreads(this.args.threads);
    // With several processes every rank runs the range test on all the data, in one process's order: the same on each.
    const loader = this.world.worldSize > 1 ? this.#trainLoader(false) : this.getTrainDataloader();
    const optimizer = this.createOptimizer();
    const ratios = optimizer.paramGroups.map((g) => g.lr / this.learningRate);
    const perGroup = (value: number | number[] | undefined, fallback: number) =>
      Array.isArray(value) ? value : ratios.map((r) => r * (value ?? fallback));
    const generator = getRngState();
    const scalerState = this.precision.scaler?.stateDict();
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
          const loss = this.withBatchOnDevice(next.value, (batch) => this.trainingStep(batch, { index: 0, count: 1 }));
          if (Number.isFinite(loss)) {
            this.clipGradients();
            // fp16: lrFind steps the optimizer itself; an overflowed iteration leaves the weights as they are.
            this.precision.settle(optimizer);
          }
          return loss;
        },
      });
    } finally {
      await batches.return();
      setRngState(generator);
      generator.dispose();
      if (scalerState) this.precision.scaler!.loadStateDict(scalerState);
      if (!wasTraining) this.model.eval();
    }
  }
}
