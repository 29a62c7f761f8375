/**
 * Training progress on the console, as Hugging Face's ProgressCallback: on a terminal one line
 * rewritten in place (epoch, progress bar, step/total, %, smoothed loss, learning rate, samples/s,
 * elapsed<ETA); when the output is not a terminal (CI logs, a file) a plain line every logging
 * step. Evaluations print on their own line in both modes.
 *
 * It reads only the hook arguments (the training arguments and the TrainerState, HF's field names
 * in camelCase), so it works with any loop that calls the hooks:
 *
 *   const trainer = new Trainer({ …, callbacks: [new ProgressCallback(), new PrinterCallback()] });
 *
 * TTY:     epoch 2/3 ████████▌       52% 156/300 · loss 0.4123 · lr 1.9e-5 · 85.3 samples/s · 00:12<00:11
 * not TTY: [epoch 2/3] step 156/300 (52%) loss 0.4123 lr 1.9e-5 85.3 samples/s elapsed 00:12 eta 00:11
 */
import { formatDuration, formatNumber } from '../format/numbers.js';

/** The training arguments the display reads (TrainingArguments' fields; all optional). */
export interface ProgressArgs {
  loggingSteps?: number;
  loggingStrategy?: string;
  numTrainEpochs?: number;
  maxSteps?: number;
  perDeviceTrainBatchSize?: number;
  gradientAccumulationSteps?: number;
  evalStrategy?: string;
  /** HF's switch for the progress bar: true prints nothing. */
  disableTqdm?: boolean;
}

/** A log_history entry: {loss, grad_norm, learning_rate, epoch, step}, {eval_loss, eval_…, epoch, step} or the final summary. */
export type ProgressLogEntry = Readonly<Record<string, unknown>>;

/** The TrainerState fields the display reads (HF's trainer_state in camelCase). */
export interface ProgressState {
  globalStep: number;
  maxSteps?: number;
  /** Fractional epoch: epochs done + the share of the current one. */
  epoch?: number | null;
  numTrainEpochs?: number;
  /** Examples per micro-batch (HF: per device × devices). */
  trainBatchSize?: number;
  logHistory?: readonly ProgressLogEntry[];
  bestMetric?: number | null;
  /** Only process 0 prints (when given). */
  isWorldProcessZero?: boolean;
}

/** Where lines go: process.stdout or anything with write (and, for a terminal, isTTY and columns). */
export interface OutputStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** A progress line being redrawn on a stream; printers write above it. */
interface LiveLine {
  clear(): void;
  redraw(): void;
}

const liveLines = new WeakMap<object, LiveLine>();

/**
 * Writes a full line to `stream`; when a progress bar is live on that stream, the bar is cleared
 * first and drawn again below the line, so tables and messages never mix with it.
 */
export function writeLine(stream: OutputStream, line: string): void {
  const live = liveLines.get(stream);
  if (live) live.clear();
  stream.write(`${line}\n`);
  if (live) live.redraw();
}

const isPrimitive = (v: unknown): boolean => v === null || (typeof v !== 'object' && typeof v !== 'function');

/**
 * Pulls the logs out of a hook's 4th argument: the Trainer's context ({logs} on onLog, {metrics} on
 * onEvaluate, as HF's kwargs) or the entry itself (an object of numbers and strings).
 */
export function hookLogs(arg: unknown, key: 'logs' | 'metrics'): ProgressLogEntry | undefined {
  if (arg === null || typeof arg !== 'object' || Array.isArray(arg)) return undefined;
  const record = arg as Record<string, unknown>;
  const inner = record[key];
  if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) return inner as ProgressLogEntry;
  return Object.values(record).every(isPrimitive) && Object.keys(record).length > 0
    ? (record as ProgressLogEntry)
    : undefined;
}

export function numberOf(entry: ProgressLogEntry | undefined, key: string): number | undefined {
  const v = entry?.[key];
  return typeof v === 'number' ? v : undefined;
}

/** What a log entry is: a training log, an evaluation or the end-of-run summary. */
export function logKind(entry: ProgressLogEntry): 'train' | 'eval' | 'summary' | 'other' {
  if ('train_runtime' in entry || 'train_loss' in entry) return 'summary';
  if (Object.keys(entry).some((k) => k.startsWith('eval_'))) return 'eval';
  if ('loss' in entry || 'learning_rate' in entry) return 'train';
  return 'other';
}

/** The epoch being trained, 1-based, from the fractional epoch (1.0 is the end of the first). */
export function currentEpoch(epoch: number | null | undefined): number {
  return Math.max(1, Math.ceil((epoch ?? 0) - 1e-6));
}

const EVAL_SKIP = new Set(['epoch', 'step', 'eval_runtime', 'eval_samples_per_second', 'eval_steps_per_second']);

/** An evaluation as one line: "eval @ step 200 (epoch 2): eval_loss 0.3345 · eval_accuracy 0.88". */
export function formatEvalLine(entry: ProgressLogEntry): string {
  const step = numberOf(entry, 'step');
  const epoch = numberOf(entry, 'epoch');
  const values = Object.entries(entry)
    .filter(([k, v]) => !EVAL_SKIP.has(k) && typeof v === 'number')
    .map(([k, v]) => `${k} ${formatNumber(v as number)}`);
  const runtime = numberOf(entry, 'eval_runtime');
  const where = [
    step !== undefined ? `step ${step}` : '',
    epoch !== undefined ? `(epoch ${formatNumber(epoch, 3)})` : '',
  ]
    .filter(Boolean)
    .join(' ');
  return `eval${where ? ` @ ${where}` : ''}: ${values.join(' · ')}${runtime !== undefined ? ` [${formatDuration(runtime)}]` : ''}`;
}

export interface ProgressCallbackOptions {
  /** Default process.stdout. */
  stream?: OutputStream;
  /** Draw the rewritten bar (true) or print plain lines (false). Default: stream.isTTY. */
  tty?: boolean;
  /** The terminal's width. Default stream.columns, else 100. */
  columns?: number;
  /** At most one redraw per this many ms on a terminal (the last one always draws). Default 100. */
  minIntervalMs?: number;
  /**
   * Without a terminal: a line every this many steps. Default args.loggingSteps (a fraction of
   * the total when < 1), or a twentieth of the run when logging is per epoch or off.
   */
  logEvery?: number;
  /** The loss shown is an exponential moving average with this decay per step (fastai's 0.98), debiased. 0: the last logged loss. */
  smoothing?: number;
  /** The clock, in ms (tests). Default Date.now. */
  now?: () => number;
  /**
   * Keep the finished bar and print the `done:` summary (true, the default; tqdm's leave). false: the
   * terminal's bar is erased when training ends and a log gets no progress lines — for many short
   * runs whose caller prints a result line of its own. Evaluation lines are printed either way.
   */
  leave?: boolean;
}

const BLOCKS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** A bar of `width` cells filled to `fraction`, with eighth-blocks for the partial cell (as tqdm). */
export function progressBar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, fraction));
  const eighths = Math.round(f * width * 8);
  const full = Math.floor(eighths / 8);
  const partial = BLOCKS[eighths % 8];
  return ('█'.repeat(full) + partial).padEnd(width, ' ');
}

/** HF's ProgressCallback: a progress bar on a terminal, periodic lines otherwise. */
export class ProgressCallback {
  private readonly stream: OutputStream;
  private readonly tty: boolean;
  private readonly minInterval: number;
  private readonly beta: number;
  private readonly now: () => number;
  private readonly leave: boolean;
  private readonly options: ProgressCallbackOptions;
  private args: ProgressArgs = {};
  private state: ProgressState = { globalStep: 0 };
  private startTime = 0;
  private startStep = 0;
  private lastDraw = -Infinity;
  private lastLine = '';
  private drawn = false;
  private active = false;
  private every = 1;
  private pendingStep: number | null = null;
  private lastPrintedStep = -1;
  private ema = 0;
  private emaWeight = 0;
  private rawLoss: number | undefined;
  private lastLossStep: number | undefined;
  private lr: number | undefined;
  private seenLogs = 0;
  private live: LiveLine | undefined;
  /** Whether onStepEnd's context brings each step's loss (then the logs' interval means are not smoothed again). */
  private stepLosses = false;
  /** The epoch just begun (state.epoch still says the previous one ended) until its first step. */
  private begunEpoch: number | undefined;

  constructor(options: ProgressCallbackOptions = {}) {
    this.options = options;
    this.stream = options.stream ?? process.stdout;
    this.tty = options.tty ?? this.stream.isTTY === true;
    this.minInterval = options.minIntervalMs ?? 100;
    this.beta = options.smoothing ?? 0.98;
    this.now = options.now ?? Date.now;
    this.leave = options.leave ?? true;
  }

  private quiet(args: ProgressArgs, state: ProgressState): boolean {
    return args.disableTqdm === true || state.isWorldProcessZero === false;
  }

  private get columns(): number {
    return this.options.columns ?? this.stream.columns ?? 100;
  }

  private total(): number | undefined {
    const t = this.state.maxSteps ?? this.args.maxSteps;
    return t !== undefined && t > 0 ? t : undefined;
  }

  /** The smoothed loss, or the last logged one when smoothing is off. */
  get loss(): number | undefined {
    if (this.emaWeight === 0) return this.rawLoss;
    return this.beta > 0 ? this.ema / this.emaWeight : this.rawLoss;
  }

  private samplesPerStep(): number | undefined {
    const batch = this.state.trainBatchSize ?? this.args.perDeviceTrainBatchSize;
    return batch !== undefined ? batch * (this.args.gradientAccumulationSteps ?? 1) : undefined;
  }

  private epochText(): string | undefined {
    const epochs = this.state.numTrainEpochs ?? this.args.numTrainEpochs;
    if (this.begunEpoch === undefined && (this.state.epoch === undefined || this.state.epoch === null))
      return epochs ? `epoch 1/${formatNumber(epochs)}` : undefined;
    const e = this.begunEpoch ?? currentEpoch(this.state.epoch);
    return epochs && epochs > 0 ? `epoch ${e}/${formatNumber(Math.max(e, Math.ceil(epochs - 1e-9)))}` : `epoch ${e}`;
  }

  /** The figures of the current moment. */
  private figures(): { step: number; total?: number; fraction?: number; elapsed: number; eta?: number; rate?: string } {
    const step = this.state.globalStep;
    const total = this.total();
    const elapsed = (this.now() - this.startTime) / 1000;
    const done = step - this.startStep;
    const stepsPerSecond = done > 0 && elapsed > 0 ? done / elapsed : undefined;
    const eta = total !== undefined && stepsPerSecond ? Math.max(0, total - step) / stepsPerSecond : undefined;
    const perStep = this.samplesPerStep();
    let rate: string | undefined;
    if (stepsPerSecond !== undefined) {
      rate =
        perStep !== undefined
          ? `${formatNumber(stepsPerSecond * perStep, 3)} samples/s`
          : stepsPerSecond >= 1
            ? `${formatNumber(stepsPerSecond, 3)} it/s`
            : `${formatNumber(1 / stepsPerSecond, 3)} s/it`;
    }
    return { step, total, fraction: total ? step / total : undefined, elapsed, eta, rate };
  }

  /** The terminal line, fitted to the width. */
  renderBar(): string {
    const f = this.figures();
    const loss = this.loss;
    const head = this.epochText();
    const pct = f.fraction !== undefined ? `${String(Math.floor(f.fraction * 100)).padStart(3)}%` : '';
    const count = f.total !== undefined ? `${f.step}/${f.total}` : `${f.step} steps`;
    const time = `${formatDuration(f.elapsed)}<${f.eta !== undefined ? formatDuration(f.eta) : '?'}`;
    const fields = [
      loss !== undefined ? `loss ${formatNumber(loss)}` : undefined,
      this.lr !== undefined ? `lr ${formatNumber(this.lr, 2)}` : undefined,
      f.rate,
      time,
    ];
    const width = this.columns - 1;
    // drop the least useful fields until the line leaves room for a bar of 10
    const droppable = [2, 1, 0]; // rate, lr, loss
    for (;;) {
      const rest = [head, pct, count].filter(Boolean).join(' ') + ' · ' + fields.filter(Boolean).join(' · ');
      const barWidth = Math.min(30, width - rest.length - 2);
      if (barWidth >= 10 || droppable.length === 0) {
        const bar = f.fraction !== undefined && barWidth >= 5 ? progressBar(f.fraction, barWidth) : '';
        const line =
          [head, bar, bar ? pct : pct.trimStart(), count].filter(Boolean).join(' ') +
          ' · ' +
          fields.filter(Boolean).join(' · ');
        return line.length > width ? line.slice(0, Math.max(0, width)) : line;
      }
      fields[droppable.shift() as number] = undefined;
    }
  }

  /** The plain line printed when the output is not a terminal. */
  renderLine(): string {
    const f = this.figures();
    const loss = this.loss;
    const head = this.epochText();
    const parts = [
      head ? `[${head}]` : undefined,
      f.total !== undefined ? `step ${f.step}/${f.total} (${Math.floor((f.fraction ?? 0) * 100)}%)` : `step ${f.step}`,
      loss !== undefined ? `loss ${formatNumber(loss)}` : undefined,
      this.lr !== undefined ? `lr ${formatNumber(this.lr, 2)}` : undefined,
      f.rate,
      `elapsed ${formatDuration(f.elapsed)}`,
      f.eta !== undefined ? `eta ${formatDuration(f.eta)}` : undefined,
    ];
    return parts.filter(Boolean).join(' ');
  }

  private draw(force = false): void {
    if (!this.tty || !this.active) return;
    const t = this.now();
    if (!force && t - this.lastDraw < this.minInterval) return;
    this.lastDraw = t;
    const line = this.renderBar();
    if (this.drawn && line === this.lastLine) return;
    this.lastLine = line;
    this.stream.write(`\r${line}\x1b[K`);
    this.drawn = true;
  }

  private clearLine(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }

  private printLine(): void {
    this.pendingStep = null;
    this.lastPrintedStep = this.state.globalStep;
    this.stream.write(`${this.renderLine()}\n`);
  }

  private flushPending(): void {
    if (!this.tty && this.pendingStep !== null) this.printLine();
  }

  private track(args: ProgressArgs, state: ProgressState): void {
    this.args = args;
    this.state = state;
  }

  /** Takes in training logs that reached state.logHistory without an onLog call (a loop that only fills the history). */
  private catchUpHistory(): void {
    const history = this.state.logHistory;
    if (!history) return;
    for (; this.seenLogs < history.length; this.seenLogs++) {
      const e = history[this.seenLogs];
      if (logKind(e) === 'train') this.takeTrainLog(e);
    }
  }

  private takeTrainLog(e: ProgressLogEntry): void {
    const loss = numberOf(e, 'loss');
    const step = numberOf(e, 'step') ?? this.state.globalStep;
    const lr = numberOf(e, 'learning_rate');
    if (lr !== undefined) this.lr = lr;
    if (this.stepLosses) return;
    if (this.lastLossStep !== undefined && step <= this.lastLossStep) return; // seen (through onLog and the history both)
    this.takeLoss(step, loss);
  }

  /** Folds a loss covering the steps since the last one into the moving average. */
  private takeLoss(step: number, loss: number | undefined): void {
    if (loss !== undefined && Number.isFinite(loss)) {
      const n = Math.max(1, this.lastLossStep !== undefined ? step - this.lastLossStep : 1);
      const decay = this.beta ** n;
      this.ema = decay * this.ema + (1 - decay) * loss;
      this.emaWeight = decay * this.emaWeight + (1 - decay);
      this.lastLossStep = step;
    }
    if (loss !== undefined) this.rawLoss = loss;
  }

  onTrainBegin(args: ProgressArgs, state: ProgressState, _control?: unknown): void {
    this.track(args, state);
    if (this.quiet(args, state)) return;
    this.startTime = this.now();
    this.startStep = state.globalStep;
    this.seenLogs = 0;
    this.catchUpHistory(); // a resumed run's loss and lr so far
    const total = this.total();
    const steps = args.loggingSteps;
    if (this.options.logEvery !== undefined) this.every = Math.max(1, Math.round(this.options.logEvery));
    else if ((args.loggingStrategy ?? 'steps') === 'steps' && steps !== undefined && steps > 0)
      this.every = steps < 1 && total ? Math.max(1, Math.ceil(steps * total)) : Math.max(1, Math.round(steps));
    else this.every = Math.max(1, Math.round((total ?? 20) / 20));
    this.active = true;
    if (this.tty) {
      this.live = { clear: () => this.clearLine(), redraw: () => this.draw(true) };
      liveLines.set(this.stream, this.live);
      this.draw(true);
    }
  }

  onEpochBegin(args: ProgressArgs, state: ProgressState, _control?: unknown, context?: unknown): void {
    this.track(args, state);
    if (!this.active) return;
    this.flushPending();
    const index =
      context !== null && typeof context === 'object' ? (context as { epochIndex?: unknown }).epochIndex : undefined;
    this.begunEpoch = typeof index === 'number' ? index + 1 : Math.floor((state.epoch ?? 0) + 1e-6) + 1;
    this.draw(true);
  }

  onStepEnd(args: ProgressArgs, state: ProgressState, _control?: unknown, context?: unknown): void {
    this.track(args, state);
    if (!this.active) return;
    this.begunEpoch = undefined;
    this.catchUpHistory();
    // the Trainer's context: this step's loss (the learning rate comes from the logs, the scheduler's as logged)
    const ctx = context !== null && typeof context === 'object' ? (context as { loss?: unknown }) : undefined;
    if (typeof ctx?.loss === 'number') {
      this.stepLosses = true;
      if (this.lastLossStep === undefined || state.globalStep > this.lastLossStep)
        this.takeLoss(state.globalStep, ctx.loss);
    }
    if (this.tty) {
      this.draw(state.globalStep === this.total());
      return;
    }
    if (!this.leave) return;
    this.flushPending();
    const step = state.globalStep;
    if (step > this.lastPrintedStep && (step % this.every === 0 || step === this.total())) this.pendingStep = step;
  }

  onLog(args: ProgressArgs, state: ProgressState, _control?: unknown, logs?: unknown): void {
    this.track(args, state);
    if (!this.active) return;
    const entry = hookLogs(logs, 'logs') ?? state.logHistory?.[state.logHistory.length - 1];
    if (state.logHistory) this.seenLogs = Math.max(this.seenLogs, state.logHistory.length);
    if (!entry) return;
    const kind = logKind(entry);
    if (kind === 'train') {
      this.takeTrainLog(entry);
      if (this.tty) this.draw(true);
      else if (this.leave) {
        const step = numberOf(entry, 'step') ?? state.globalStep;
        if (this.pendingStep !== null || (step > this.lastPrintedStep && step % this.every === 0)) this.printLine();
      }
    } else if (kind === 'eval') {
      this.flushPending();
      if (this.tty) writeLine(this.stream, formatEvalLine(entry));
      else this.stream.write(`${formatEvalLine(entry)}\n`);
    }
  }

  onEvaluate(args: ProgressArgs, state: ProgressState, _control?: unknown): void {
    this.track(args, state);
    if (!this.active) return;
    this.flushPending();
    this.draw(true);
  }

  onEpochEnd(args: ProgressArgs, state: ProgressState, _control?: unknown): void {
    this.track(args, state);
    if (!this.active) return;
    this.begunEpoch = undefined;
    this.draw(true);
  }

  onTrainEnd(args: ProgressArgs, state: ProgressState, _control?: unknown): void {
    this.track(args, state);
    if (!this.active) return;
    this.catchUpHistory();
    this.flushPending();
    if (this.tty) {
      if (this.leave) {
        this.draw(true);
        if (this.drawn) this.stream.write('\n');
      } else this.clearLine();
      this.drawn = false;
      if (liveLines.get(this.stream) === this.live) liveLines.delete(this.stream);
      this.live = undefined;
    }
    const summary = [...(state.logHistory ?? [])].reverse().find((e) => logKind(e) === 'summary');
    if (summary && this.leave) {
      const runtime = numberOf(summary, 'train_runtime');
      const parts = [
        runtime !== undefined ? `train_runtime ${formatDuration(runtime)}` : undefined,
        numberOf(summary, 'train_samples_per_second') !== undefined
          ? `${formatNumber(numberOf(summary, 'train_samples_per_second') as number, 3)} samples/s`
          : undefined,
        numberOf(summary, 'train_loss') !== undefined
          ? `train_loss ${formatNumber(numberOf(summary, 'train_loss') as number)}`
          : undefined,
      ].filter(Boolean);
      if (parts.length) this.stream.write(`done: ${parts.join(' · ')}\n`);
    }
    this.active = false;
  }
}
