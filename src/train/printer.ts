/**
 * A per-epoch results table on the console, like fastai's:
 *
 *   epoch  train_loss  valid_loss  accuracy  f1        time
 *   1      0.412345    0.298765    0.912000  0.905000  00:12
 *   2      0.251234    0.270001    0.924000  0.918000  00:12
 *
 * A row is printed once its epoch is complete: with evalStrategy 'epoch', when the evaluation that
 * follows the epoch's last step arrives (Hugging Face's loop runs it, and an epoch-end training log,
 * after onEpochEnd); with no evaluation and step logging, at onEpochEnd; otherwise at the next
 * onEpochBegin, the end-of-run log or onTrainEnd. train_loss is the mean of the epoch's training logs (each weighted by the steps it
 * covers), valid_loss and the metrics come from the epoch's last evaluation, time is the epoch's
 * wall time including that evaluation. Epochs are numbered from 1, as the `epoch` of the log.
 * Columns are fixed by the first row (the metrics the first evaluation had).
 */
import { formatDuration, formatFixed } from '../format/numbers.js';
import {
  currentEpoch,
  hookLogs,
  logKind,
  numberOf,
  writeLine,
  type OutputStream,
  type ProgressArgs,
  type ProgressLogEntry,
  type ProgressState,
} from './progress.js';

export interface PrinterCallbackOptions {
  /** Default process.stdout. */
  stream?: OutputStream;
  /** The metric columns, by name with or without eval_ (default: those of the first evaluation). */
  metrics?: string[];
  /** Decimals of the numbers (fastai: 6). */
  decimals?: number;
  /** The clock, in ms (tests). Default Date.now. */
  now?: () => number;
}

interface PendingRow {
  epoch: number;
  startStep: number;
  endStep: number;
  start: number;
  end: number;
}

const NOT_METRICS = new Set(['eval_loss', 'eval_runtime', 'eval_samples_per_second', 'eval_steps_per_second']);
const MISSING = '—';

/** The 1-based epoch from the Trainer's context ({epochIndex}, 0-based), when given. */
function epochIndexOf(context: unknown): number | undefined {
  const index =
    context !== null && typeof context === 'object' ? (context as { epochIndex?: unknown }).epochIndex : undefined;
  return typeof index === 'number' && Number.isInteger(index) ? index + 1 : undefined;
}

/** The printed table's columns and their widths. */
interface Column {
  header: string;
  key: string;
  width: number;
}

export class PrinterCallback {
  private readonly stream: OutputStream;
  private readonly decimals: number;
  private readonly now: () => number;
  private readonly metricNames: string[] | undefined;
  private columns: Column[] | undefined;
  private epochStart = 0;
  private epochStartStep = 0;
  private epochNumber = 1;
  private pending: PendingRow | undefined;
  private lastState: ProgressState = { globalStep: 0 };
  /** The rows printed, as cells (for tests and for callers that want the table). */
  readonly rows: string[][] = [];

  constructor(options: PrinterCallbackOptions = {}) {
    this.stream = options.stream ?? process.stdout;
    this.decimals = options.decimals ?? 6;
    this.now = options.now ?? Date.now;
    this.metricNames = options.metrics?.map((m) => (m.startsWith('eval_') ? m : `eval_${m}`));
  }

  private quiet(args: ProgressArgs, state: ProgressState): boolean {
    return state.isWorldProcessZero === false;
  }

  private format(v: number | undefined): string {
    return v === undefined ? MISSING : formatFixed(v, this.decimals);
  }

  private setColumns(history: readonly ProgressLogEntry[], epochs: number | undefined): Column[] {
    let metrics = this.metricNames;
    if (!metrics) {
      const names = new Set<string>();
      for (const e of history) {
        if (logKind(e) !== 'eval') continue;
        for (const [k, v] of Object.entries(e))
          if (k.startsWith('eval_') && !NOT_METRICS.has(k) && typeof v === 'number') names.add(k);
      }
      metrics = [...names];
    }
    const numberWidth = this.decimals + 3; // 0.123456 and one more digit before the point
    const columns: Column[] = [
      { header: 'epoch', key: 'epoch', width: Math.max(5, String(Math.ceil(epochs ?? 1)).length) },
      { header: 'train_loss', key: 'loss', width: Math.max(10, numberWidth) },
      { header: 'valid_loss', key: 'eval_loss', width: Math.max(10, numberWidth) },
      ...metrics.map((k) => ({ header: k.slice('eval_'.length), key: k, width: Math.max(k.length - 5, numberWidth) })),
      { header: 'time', key: 'time', width: 5 },
    ];
    return columns;
  }

  private line(cells: string[]): string {
    const columns = this.columns as Column[];
    return cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(columns[i].width)))
      .join('  ')
      .trimEnd();
  }

  private flush(): void {
    const row = this.pending;
    if (!row) return;
    this.pending = undefined;
    const history = this.lastState.logHistory ?? [];
    if (!this.columns) {
      this.columns = this.setColumns(history, this.lastState.numTrainEpochs);
      writeLine(this.stream, this.line(this.columns.map((c) => c.header)));
    }
    // the epoch's training logs, each weighted by the steps since the previous one
    let weighted = 0;
    let weights = 0;
    let previous = row.startStep;
    let evaluation: ProgressLogEntry | undefined;
    for (const e of history) {
      const step = numberOf(e, 'step');
      if (step === undefined || step <= row.startStep || step > row.endStep) continue;
      const kind = logKind(e);
      const loss = numberOf(e, 'loss');
      if (kind === 'train' && loss !== undefined) {
        const w = Math.max(1, step - previous);
        weighted += w * loss;
        weights += w;
        previous = step;
      } else if (kind === 'eval') {
        evaluation = e;
      }
    }
    const cells = (this.columns as Column[]).map((c) => {
      if (c.key === 'epoch') return String(row.epoch);
      if (c.key === 'time') return formatDuration((row.end - row.start) / 1000);
      if (c.key === 'loss') return weights > 0 ? this.format(weighted / weights) : MISSING;
      return this.format(numberOf(evaluation, c.key));
    });
    this.rows.push(cells);
    writeLine(this.stream, this.line(cells));
  }

  onTrainBegin(args: ProgressArgs, state: ProgressState, _control?: unknown): void {
    this.lastState = state;
    this.pending = undefined;
    this.epochStart = this.now();
    this.epochStartStep = state.globalStep;
  }

  onEpochBegin(args: ProgressArgs, state: ProgressState, _control?: unknown, context?: unknown): void {
    this.lastState = state;
    if (this.quiet(args, state)) return;
    this.flush();
    this.epochStart = this.now();
    this.epochStartStep = state.globalStep;
    this.epochNumber = epochIndexOf(context) ?? Math.floor((state.epoch ?? 0) + 1e-6) + 1;
  }

  onEpochEnd(args: ProgressArgs, state: ProgressState, _control?: unknown, context?: unknown): void {
    this.lastState = state;
    if (this.quiet(args, state)) return;
    this.flush();
    const epoch =
      epochIndexOf(context) ??
      (state.epoch !== undefined && state.epoch !== null ? currentEpoch(state.epoch) : this.epochNumber);
    this.pending = {
      epoch,
      startStep: this.epochStartStep,
      endStep: state.globalStep,
      start: this.epochStart,
      end: this.now(),
    };
    // nothing more will come for this epoch: no evaluation, and training logs by steps
    if (args.evalStrategy === 'no' && (args.loggingStrategy ?? 'steps') !== 'epoch') this.flush();
  }

  /** The evaluation that follows the epoch's end belongs to it, and so does its time; per-epoch evaluation completes the row. */
  private evaluated(args: ProgressArgs, step: number): void {
    if (!this.pending || step !== this.pending.endStep) return;
    this.pending.end = this.now();
    if (args.evalStrategy === 'epoch') this.flush();
  }

  onLog(args: ProgressArgs, state: ProgressState, _control?: unknown, logs?: unknown): void {
    this.lastState = state;
    if (this.quiet(args, state)) return;
    const entry = hookLogs(logs, 'logs') ?? state.logHistory?.[state.logHistory.length - 1];
    if (!entry) return;
    const kind = logKind(entry);
    if (kind === 'eval') this.evaluated(args, numberOf(entry, 'step') ?? state.globalStep);
    else if (kind === 'summary') this.flush(); // the end-of-run log: before onTrainEnd's messages
  }

  onEvaluate(args: ProgressArgs, state: ProgressState, _control?: unknown): void {
    this.lastState = state;
    if (this.quiet(args, state)) return;
    this.evaluated(args, state.globalStep);
  }

  onTrainEnd(args: ProgressArgs, state: ProgressState, _control?: unknown): void {
    this.lastState = state;
    if (this.quiet(args, state)) return;
    this.flush();
  }
}
