/**
 * Trainer callbacks, as Hugging Face's TrainerCallback (camelCase): each event gets (args, state,
 * control, context) and may set `control.shouldTrainingStop` (alias `shouldStop`), `shouldSave`,
 * `shouldEvaluate`, `shouldLog` or `shouldEpochStop`. Events may be async; the Trainer awaits them.
 *
 * Built-ins: DefaultFlowCallback (decides when to log, evaluate and save from the arguments),
 * MetricsJsonlCallback (`<outputDir>/metrics.jsonl`), EarlyStoppingCallback (HF's semantics) and
 * GradualUnfreezingCallback (peft's GradualUnfreezing; newly trainable groups join the optimizer).
 * DEFAULT_CALLBACKS lists the factories every Trainer starts with; append to it (or pass
 * `callbacks`, or call `trainer.addCallback`) to add progress bars and printers.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { appendLogSync, writeFileAtomicSync } from '../io/files.js';

import type { Module } from '../nn/index.js';
import { GradualUnfreezing, type UnfreezeSchedule } from '../peft/index.js';
import type { Optimizer } from '../optim/index.js';
import type { SchedulerLike } from './checkpoint.js';
import type { Metrics } from './metrics.js';
import type { CallbackState, LogEntry, TrainerControl, TrainerState } from './state.js';
import type { TrainingArguments } from './training-args.js';

/** What the Trainer passes to callbacks besides (args, state, control): HF's kwargs. */
export interface CallbackContext {
  /** The Trainer (for callbacks that need more than the fields below). */
  trainer: TrainerLike;
  model: Module;
  optimizer: Optimizer | null;
  scheduler: SchedulerLike | null;
  /** onEpochBegin / onEpochEnd: the 0-based epoch. */
  epochIndex?: number;
  /** onLog: the entry just appended to state.logHistory. */
  logs?: LogEntry;
  /** onEvaluate: the evaluation's metrics (eval_loss, eval_<metric>, …). */
  metrics?: Metrics;
  /** onSave: the checkpoint folder just written. */
  checkpoint?: string;
  /** onStepEnd: the step's loss (mean over its micro-batches; NaN when skipped) and gradient norm. */
  loss?: number;
  gradNorm?: number;
  /** Batches per epoch of the training data loader (onTrainBegin onwards). */
  batchesPerEpoch?: number;
}

/** What callbacks may use of the Trainer (kept structural so callbacks do not import the Trainer). */
export interface TrainerLike {
  readonly args: TrainingArguments;
  readonly model: Module;
  readonly state: TrainerState;
  /** The learning rate in use (the head's, with discriminative or layer-wise rates). */
  readonly learningRate: number;
  /** Adds the parameters of these layer groups to the optimizer (and scheduler), as gradual unfreezing needs. */
  addLayerGroupsToOptimizer(groupNames: string[]): void;
  /** Where the Trainer's messages go. */
  log(line: string): void;
}

type Event = (
  args: TrainingArguments,
  state: TrainerState,
  control: TrainerControl,
  context: CallbackContext,
) => void | Promise<void>;

/** HF's TrainerCallback events, camelCase; every one optional. */
export interface TrainerCallback {
  /** At the end of the Trainer's constructor (the strategy applied, no optimizer yet). */
  onInitEnd?: Event;
  onTrainBegin?: Event;
  onTrainEnd?: Event;
  onEpochBegin?: Event;
  onEpochEnd?: Event;
  /** Before each optimizer step's first micro-batch. */
  onStepBegin?: Event;
  /** After each optimizer step (state.globalStep already counts it). */
  onStepEnd?: Event;
  onEvaluate?: Event;
  onPredict?: Event;
  onSave?: Event;
  onLog?: Event;
  /** State saved in checkpoints (trainer_state.json stateful_callbacks, under the class name) and restored on resume. */
  stateDict?(): CallbackState;
  loadStateDict?(state: CallbackState): void;
}

export type CallbackEvent = Exclude<keyof TrainerCallback, 'stateDict' | 'loadStateDict'>;

/** Makes a default callback for a Trainer's arguments (null: none for these arguments). */
export type CallbackFactory = (args: TrainingArguments) => TrainerCallback | null;

/** Calls the callbacks' events in order; keeps HF's control resets (newStep, newEpoch, …). */
export class CallbackHandler {
  readonly callbacks: TrainerCallback[] = [];

  constructor(callbacks: TrainerCallback[] = []) {
    for (const callback of callbacks) this.add(callback);
  }

  add(callback: TrainerCallback): void {
    if (typeof callback !== 'object' || callback === null)
      throw new TypeError(`a callback must be an object with on… methods, got ${String(callback)}`);
    const kind = callback.constructor;
    if (kind !== Object && this.callbacks.some((c) => c.constructor === kind)) {
      process.emitWarning(
        `You are adding a ${kind.name} to the callbacks of this Trainer, but there is already one. The current list of callbacks is: ${this.names().join(', ')}`,
      );
    }
    this.callbacks.push(callback);
  }

  /** Removes and returns the first callback that is `which` or an instance of it. */
  pop(which: TrainerCallback | (abstract new (...args: never[]) => TrainerCallback)): TrainerCallback | undefined {
    const index = this.callbacks.findIndex((c) => c === which || (typeof which === 'function' && c instanceof which));
    return index < 0 ? undefined : this.callbacks.splice(index, 1)[0];
  }

  names(): string[] {
    return this.callbacks.map((c) => (c.constructor === Object ? 'callback' : c.constructor.name));
  }

  async call(
    event: CallbackEvent,
    args: TrainingArguments,
    state: TrainerState,
    control: TrainerControl,
    context: CallbackContext,
  ): Promise<void> {
    switch (event) {
      case 'onTrainBegin':
        control.newTraining();
        break;
      case 'onEpochBegin':
        control.newEpoch();
        break;
      case 'onStepBegin':
        control.newStep();
        break;
      case 'onLog':
        control.shouldLog = false;
        break;
      case 'onEvaluate':
        control.shouldEvaluate = false;
        break;
      case 'onSave':
        control.shouldSave = false;
        break;
      default:
        break;
    }
    for (const callback of this.callbacks) {
      const fn = callback[event];
      if (fn) await fn.call(callback, args, state, control, context);
    }
  }

  /** The stateful callbacks' states, keyed by class name (a list when a class appears twice), as HF stores them. */
  stateDicts(): Record<string, CallbackState | CallbackState[]> {
    const out: Record<string, CallbackState | CallbackState[]> = {};
    for (const callback of this.callbacks) {
      if (!callback.stateDict) continue;
      const name = callback.constructor.name;
      const state = callback.stateDict();
      const existing = out[name];
      if (existing === undefined) out[name] = state;
      else out[name] = Array.isArray(existing) ? [...existing, state] : [existing, state];
    }
    return out;
  }

  /** Restores stateDicts() output into the callbacks of the same classes, in order. */
  loadStateDicts(states: Record<string, CallbackState | CallbackState[]>): void {
    const used = new Map<string, number>();
    for (const callback of this.callbacks) {
      if (!callback.loadStateDict) continue;
      const name = callback.constructor.name;
      const saved = states[name];
      if (saved === undefined) continue;
      const k = used.get(name) ?? 0;
      used.set(name, k + 1);
      const state = Array.isArray(saved) ? saved[k] : k === 0 ? saved : undefined;
      if (state) callback.loadStateDict(state);
    }
  }
}

/**
 * HF's DefaultFlowCallback: sets shouldLog / shouldEvaluate / shouldSave at the steps and epochs
 * the arguments say, and shouldTrainingStop at maxSteps (saving then with saveStrategy 'steps').
 */
export class DefaultFlowCallback implements TrainerCallback {
  onStepEnd(args: TrainingArguments, state: TrainerState, control: TrainerControl): void {
    const step = state.globalStep;
    if (step === 1 && args.loggingFirstStep) control.shouldLog = true;
    if (args.loggingStrategy === 'steps' && step % state.loggingSteps === 0) control.shouldLog = true;
    if (args.evalStrategy === 'steps' && step % state.evalSteps === 0) control.shouldEvaluate = true;
    if (args.saveStrategy === 'steps' && state.saveSteps > 0 && step % state.saveSteps === 0) control.shouldSave = true;
    if (step >= state.maxSteps) {
      control.shouldTrainingStop = true;
      if (args.saveStrategy === 'steps') control.shouldSave = true;
    }
  }

  onEpochEnd(args: TrainingArguments, _state: TrainerState, control: TrainerControl): void {
    if (args.loggingStrategy === 'epoch') control.shouldLog = true;
    if (args.evalStrategy === 'epoch') control.shouldEvaluate = true;
    if (args.saveStrategy === 'epoch') control.shouldSave = true;
  }
}

/** Appends every log entry (training logs, evaluations, the train summary) to `<outputDir>/metrics.jsonl`, one JSON object a line. */
export class MetricsJsonlCallback implements TrainerCallback {
  /** Default `<outputDir>/metrics.jsonl`. */
  constructor(readonly path?: string) {}

  #file(args: TrainingArguments): string {
    return this.path ?? join(args.outputDir, 'metrics.jsonl');
  }

  /** Starts the file afresh from the state's history: empty for a new run, the checkpoint's entries when resuming. */
  onTrainBegin(args: TrainingArguments, state: TrainerState): void {
    if (!state.isWorldProcessZero) return;
    const file = this.#file(args);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileAtomicSync(file, historyLines(state));
  }

  /** Appends (a line's cost stays constant over a long run); a symlink planted at the file is replaced by the whole history, never written through. */
  onLog(args: TrainingArguments, state: TrainerState, _control: TrainerControl, context: CallbackContext): void {
    if (!context.logs || !state.isWorldProcessZero) return;
    const file = this.#file(args);
    mkdirSync(join(file, '..'), { recursive: true });
    appendLogSync(file, JSON.stringify(context.logs) + '\n', () => historyLines(state));
  }
}

function historyLines(state: TrainerState): string {
  return state.logHistory.map((entry) => JSON.stringify(entry) + '\n').join('');
}

export interface EarlyStoppingOptions {
  /** Evaluations without improvement before stopping (default 1). */
  patience?: number;
  /** How much better than the best a metric must be to count (default 0). */
  threshold?: number;
}

/**
 * HF's EarlyStoppingCallback: after each evaluation, compares metricForBestModel with the best value
 * so far (state.bestMetric, before this evaluation updates it); an improvement by more than
 * `threshold` resets the count, anything else adds one; at `patience` training stops.
 */
export class EarlyStoppingCallback implements TrainerCallback {
  readonly patience: number;
  readonly threshold: number;
  /** Evaluations since the last improvement. */
  patienceCounter = 0;

  constructor(options: EarlyStoppingOptions = {}) {
    this.patience = options.patience ?? 1;
    this.threshold = options.threshold ?? 0;
    if (!Number.isInteger(this.patience) || this.patience < 1)
      throw new RangeError(`EarlyStoppingCallback: patience must be a positive integer, got ${this.patience}`);
    if (!(this.threshold >= 0))
      throw new RangeError(`EarlyStoppingCallback: threshold must be ≥ 0, got ${this.threshold}`);
  }

  onTrainBegin(
    args: TrainingArguments,
    _state: TrainerState,
    _control: TrainerControl,
    context: CallbackContext,
  ): void {
    if (args.metricKey === null)
      throw new Error(
        'EarlyStoppingCallback requires metricForBestModel (or loadBestModelAtEnd, which defaults it to loss)',
      );
    if (args.evalStrategy === 'no') throw new Error("EarlyStoppingCallback requires evalStrategy 'steps' or 'epoch'");
    if (!args.loadBestModelAtEnd) {
      context.trainer.log(
        'early stopping without loadBestModelAtEnd: once training stops, the best model will not be loaded automatically',
      );
    }
  }

  onEvaluate(args: TrainingArguments, state: TrainerState, control: TrainerControl, context: CallbackContext): void {
    const key = args.metricKey!;
    const value = context.metrics?.[key];
    if (value === undefined) {
      context.trainer.log(
        `early stopping required metricForBestModel, but did not find ${key} in the evaluation metrics (${Object.keys(context.metrics ?? {}).join(', ')}), so early stopping is disabled`,
      );
      return;
    }
    const better = args.greaterIsBetter
      ? value > (state.bestMetric ?? -Infinity)
      : value < (state.bestMetric ?? Infinity);
    if (state.bestMetric === null || (better && Math.abs(value - state.bestMetric) > this.threshold))
      this.patienceCounter = 0;
    else this.patienceCounter += 1;
    if (this.patienceCounter >= this.patience) control.shouldTrainingStop = true;
  }

  stateDict(): CallbackState {
    return {
      args: { early_stopping_patience: this.patience, early_stopping_threshold: this.threshold },
      attributes: { early_stopping_patience_counter: this.patienceCounter },
    };
  }

  loadStateDict(state: CallbackState): void {
    this.patienceCounter = Number(state.attributes.early_stopping_patience_counter ?? 0);
  }
}

export interface GradualUnfreezingCallbackOptions {
  /** Default { every: 'epoch' }. */
  schedule?: UnfreezeSchedule;
}

/**
 * Gradual unfreezing in the Trainer: wraps peft's GradualUnfreezing (created when the Trainer is,
 * which freezes everything but the head), advances it at each epoch or step, and gives each newly
 * trainable layer group to the optimizer as its own parameter group(s) (addParamGroup, with the
 * group's lr and weight decay), which the schedule then scales like the others. The stage is saved
 * in checkpoints, so a resumed run rebuilds the same parameter groups before loading the optimizer.
 */
export class GradualUnfreezingCallback implements TrainerCallback {
  readonly schedule: UnfreezeSchedule;
  #unfreezing: GradualUnfreezing | null = null;

  constructor(options: GradualUnfreezingCallbackOptions = {}) {
    this.schedule = options.schedule ?? { every: 'epoch' };
  }

  /** The underlying GradualUnfreezing (after the Trainer is constructed). */
  get unfreezing(): GradualUnfreezing {
    if (!this.#unfreezing) throw new Error('GradualUnfreezingCallback: not attached to a Trainer yet');
    return this.#unfreezing;
  }

  onInitEnd(args: TrainingArguments, _state: TrainerState, _control: TrainerControl, context: CallbackContext): void {
    const trainer = context.trainer;
    try {
      this.#unfreezing = new GradualUnfreezing(context.model, this.schedule, {
        trainBatchNorm: args.trainBatchNorm,
        onUnfreeze: (names) => trainer.addLayerGroupsToOptimizer(names),
      });
    } catch (error) {
      throw new Error(
        `gradual unfreezing needs a model whose family declares layer groups (BERT, ViT, ResNet, AlexNet; not a PeftModel): ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  onEpochBegin(
    _args: TrainingArguments,
    _state: TrainerState,
    _control: TrainerControl,
    context: CallbackContext,
  ): void {
    if (context.epochIndex !== undefined) this.unfreezing.onEpochStart(context.epochIndex);
  }

  onStepBegin(_args: TrainingArguments, state: TrainerState): void {
    this.unfreezing.onStepStart(state.globalStep);
  }

  stateDict(): CallbackState {
    return { args: { schedule: this.schedule }, attributes: { stage: this.unfreezing.stage } };
  }

  /** Returns to the saved stage; the groups it unfreezes join the optimizer (before its state is loaded). */
  loadStateDict(state: CallbackState): void {
    const stage = Number(state.attributes.stage ?? 0);
    if (!Number.isInteger(stage) || stage < 0)
      throw new Error(`GradualUnfreezingCallback: bad saved stage ${String(state.attributes.stage)}`);
    if ('everySteps' in this.schedule) this.unfreezing.onStepStart(stage * this.schedule.everySteps);
    else this.unfreezing.onEpochStart(stage);
  }
}

/** The callbacks every Trainer starts with (factories, so each Trainer gets its own); extend with push(). */
export const DEFAULT_CALLBACKS: CallbackFactory[] = [() => new DefaultFlowCallback(), () => new MetricsJsonlCallback()];
