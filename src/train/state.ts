/**
 * TrainerState and TrainerControl, as Hugging Face's: the state is what trainer_state.json holds
 * (HF's snake_case fields, so tools that read HF's file read this one), the control is how
 * callbacks steer the loop (log, evaluate, save, stop).
 */

/** A log_history entry: a training log, an evaluation, or the final train summary. */
export type LogEntry = Record<string, number | string | null>;

/** What a stateful callback saves in trainer_state.json's stateful_callbacks (HF's layout). */
export interface CallbackState {
  args: Record<string, unknown>;
  attributes: Record<string, unknown>;
}

export class TrainerState {
  /** Fractional epoch: epochs done + the share of the current epoch's batches consumed. */
  epoch = 0;
  /** Optimizer steps (updates) done. */
  globalStep = 0;
  maxSteps = 0;
  numTrainEpochs = 0;
  loggingSteps = 500;
  evalSteps = 500;
  saveSteps = 500;
  trainBatchSize = 8;
  /** The best value of metricForBestModel so far, its checkpoint folder and step. */
  bestMetric: number | null = null;
  bestModelCheckpoint: string | null = null;
  bestGlobalStep: number | null = null;
  /** Every log entry: {loss, grad_norm, learning_rate, epoch, step}, {eval_loss, eval_<metric>, …, epoch, step}, and the train summary. */
  logHistory: LogEntry[] = [];
  totalFlos = 0;
  numInputTokensSeen = 0;
  /** finetune: updates skipped because the loss or gradient norm was not finite (nanPolicy 'skip'). */
  skippedSteps = 0;
  statefulCallbacks: Record<string, CallbackState | CallbackState[]> = {};
  /** Whether this process is rank 0 of its data-parallel group (only it prints and writes files); not saved. */
  isWorldProcessZero = true;

  /** trainer_state.json's content, HF's field names (sorted, as HF writes them). */
  toJson(): Record<string, unknown> {
    const json: Record<string, unknown> = {
      best_global_step: this.bestGlobalStep,
      best_metric: this.bestMetric,
      best_model_checkpoint: this.bestModelCheckpoint,
      epoch: this.epoch,
      eval_steps: this.evalSteps,
      global_step: this.globalStep,
      is_hyper_param_search: false,
      is_local_process_zero: true,
      is_world_process_zero: true,
      log_history: this.logHistory,
      logging_steps: this.loggingSteps,
      max_steps: this.maxSteps,
      num_input_tokens_seen: this.numInputTokensSeen,
      num_train_epochs: this.numTrainEpochs,
      save_steps: this.saveSteps,
      stateful_callbacks: this.statefulCallbacks,
      total_flos: this.totalFlos,
      train_batch_size: this.trainBatchSize,
      trial_name: null,
      trial_params: null,
    };
    return json;
  }

  /** trainer_state.json's text: sorted keys, two-space indent, as HF's save_to_json. */
  toJsonString(): string {
    return JSON.stringify(this.toJson(), null, 2) + '\n';
  }

  static fromJson(json: Record<string, unknown>, where = 'trainer_state.json'): TrainerState {
    const state = new TrainerState();
    const number = (key: string, fallback?: number): number => {
      const value = json[key];
      if (typeof value === 'number') return value;
      if (fallback !== undefined && (value === undefined || value === null)) return fallback;
      throw new Error(`${where}: ${key} must be a number, got ${JSON.stringify(value)}`);
    };
    state.epoch = number('epoch', 0);
    state.globalStep = number('global_step');
    state.maxSteps = number('max_steps', 0);
    state.numTrainEpochs = number('num_train_epochs', 0);
    state.loggingSteps = number('logging_steps', 500);
    state.evalSteps = number('eval_steps', 500);
    state.saveSteps = number('save_steps', 500);
    state.trainBatchSize = number('train_batch_size', 8);
    state.bestMetric = typeof json.best_metric === 'number' ? json.best_metric : null;
    state.bestModelCheckpoint = typeof json.best_model_checkpoint === 'string' ? json.best_model_checkpoint : null;
    state.bestGlobalStep = typeof json.best_global_step === 'number' ? json.best_global_step : null;
    if (json.log_history !== undefined && !Array.isArray(json.log_history))
      throw new Error(`${where}: log_history must be an array`);
    state.logHistory = ((json.log_history as LogEntry[] | undefined) ?? []).map((entry) => ({ ...entry }));
    state.totalFlos = number('total_flos', 0);
    state.numInputTokensSeen = number('num_input_tokens_seen', 0);
    state.statefulCallbacks = (json.stateful_callbacks as TrainerState['statefulCallbacks'] | undefined) ?? {};
    return state;
  }
}

/** How callbacks steer the training loop (HF's TrainerControl, camelCase). */
export class TrainerControl {
  shouldTrainingStop = false;
  shouldEpochStop = false;
  shouldSave = false;
  shouldEvaluate = false;
  shouldLog = false;

  /** shouldTrainingStop under a shorter name. */
  get shouldStop(): boolean {
    return this.shouldTrainingStop;
  }

  set shouldStop(value: boolean) {
    this.shouldTrainingStop = value;
  }

  /** Before a new training run. */
  newTraining(): void {
    this.shouldTrainingStop = false;
  }

  /** Before each epoch. */
  newEpoch(): void {
    this.shouldEpochStop = false;
  }

  /** Before each optimizer step. */
  newStep(): void {
    this.shouldSave = false;
    this.shouldEvaluate = false;
    this.shouldLog = false;
  }

  /** HF's stateful form: {args: {should_…}, attributes: {}}. */
  stateDict(): CallbackState {
    return {
      args: {
        should_epoch_stop: this.shouldEpochStop,
        should_evaluate: this.shouldEvaluate,
        should_log: this.shouldLog,
        should_save: this.shouldSave,
        should_training_stop: this.shouldTrainingStop,
      },
      attributes: {},
    };
  }
}
