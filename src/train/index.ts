/** The train layer: TrainingArguments, the Trainer, its callbacks, checkpoints and metrics. */
export {
  TrainingArguments,
  describeStrategy,
  OPTIMIZER_NAMES,
  type TrainingArgumentsOptions,
  type IntervalStrategy,
  type OptimizerName,
  type TrainingStrategy,
  type GradualUnfreezingStrategy,
  type DiscriminativeLrSetting,
  type NanPolicy,
} from './training-args.js';
export { Trainer } from './trainer.js';
export { TrainerCore } from './trainer-core.js';
export { defaultForward, type ModelOutput, type MultiTaskModelOutput } from './model-io.js';
export type {
  MultiTaskTrainingOptions,
  TrainerOptions,
  TrainOutput,
  TrainerLrFindOptions,
  PredictionOutput,
  TrainCallOptions,
  MicroBatch,
  LossAndOutputs,
  PredictionStepOutput,
} from './trainer-types.js';
// Loaded with the layer: it registers the subclass that `new Trainer({ multiTask })` builds.
export { MultiTaskTrainer, MULTI_TASK_GROUP } from './multi-task/trainer.js';
export { TrainerState, TrainerControl, type LogEntry, type CallbackState } from './state.js';
export {
  CallbackHandler,
  DefaultFlowCallback,
  MetricsJsonlCallback,
  EarlyStoppingCallback,
  GradualUnfreezingCallback,
  DEFAULT_CALLBACKS,
  type TrainerCallback,
  type CallbackContext,
  type CallbackEvent,
  type CallbackFactory,
  type TrainerLike,
  type EarlyStoppingOptions,
  type GradualUnfreezingCallbackOptions,
} from './callbacks.js';
export {
  CHECKPOINT_PREFIX,
  TRAINER_STATE_NAME,
  TRAINING_ARGS_NAME,
  OPTIMIZER_NAME,
  OPTIMIZER_WEIGHTS_NAME,
  SCHEDULER_NAME,
  RNG_STATE_NAME,
  NON_ADAPTER_STATE_NAME,
  MULTI_TASK_STATE_NAME,
  listCheckpoints,
  latestCheckpoint,
  loadModelWeights,
  saveModelWeights,
  type CheckpointInfo,
  type LoaderPosition,
  type SchedulerLike,
} from './checkpoint.js';
export {
  accuracyScore,
  f1Score,
  matthewsCorrcoef,
  pearsonCorrelation,
  spearmanCorrelation,
  rankData,
  argmax,
  defaultComputeMetrics,
  type EvalPrediction,
  type Metrics,
  type F1Options,
} from './metrics.js';
export {
  ProgressCallback,
  writeLine,
  formatEvalLine,
  progressBar,
  type ProgressCallbackOptions,
  type ProgressArgs,
  type ProgressState,
  type ProgressLogEntry,
  type OutputStream,
} from './progress.js';
export { PrinterCallback, type PrinterCallbackOptions } from './printer.js';
export { diagnoseTraining, type DiagnoseOptions, type TrainingWarning, type TrainingWarningKind } from './diagnose.js';
export { autoLearningRate, describeLrCurve, type AutoLearningRate } from './auto-lr.js';
export { isWorldProcessZero } from './distributed.js';
export { resolveDevice, batchOnDevice, type DeviceSetting, type ResolvedDevice } from './device.js';
