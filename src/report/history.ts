/**
 * A training run's record as the Trainer leaves it in its output folder, read back: the log
 * history (trainer_state.json's `log_history` and/or metrics.jsonl, Hugging Face's entry shapes),
 * the training arguments and configs, and a summary of it (final and best metrics, runtime,
 * trainable parameters, peak memory).
 *
 * Entry shapes (as in transformers' trainer_state.json):
 *   train log   {loss, grad_norm, learning_rate, epoch, step}
 *   evaluation  {eval_loss, eval_accuracy, …, eval_runtime, eval_samples_per_second, eval_steps_per_second, epoch, step}
 *   end of run  {train_runtime, train_samples_per_second, train_steps_per_second, total_flos, train_loss, epoch, step}
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One log_history entry. Values are numbers except where a trainer adds something else. */
export type LogEntry = Record<string, unknown>;

/** trainer_state.json as transformers writes it (snake_case); only log_history matters here. */
export interface TrainerStateJson {
  log_history?: LogEntry[];
  global_step?: number;
  max_steps?: number;
  num_train_epochs?: number;
  epoch?: number | null;
  train_batch_size?: number;
  logging_steps?: number;
  eval_steps?: number;
  save_steps?: number;
  total_flos?: number;
  best_metric?: number | null;
  best_model_checkpoint?: string | null;
  best_global_step?: number | null;
  [key: string]: unknown;
}

export interface RunHistory {
  outputDir: string;
  /** Every entry, in step order; a resumed run's replayed steps replace the ones they repeat. */
  logHistory: LogEntry[];
  trainerState?: TrainerStateJson;
  /** training_args.json: the TrainingArguments as saved (any key style). */
  trainingArgs?: Record<string, unknown>;
  /** run_config.json: whatever the caller or CLI saved to describe the run. */
  runConfig?: Record<string, unknown>;
  /** adapter_config.json (PEFT). */
  adapterConfig?: Record<string, unknown>;
  /** config.json (the model's). */
  modelConfig?: Record<string, unknown>;
  /** The files read, relative to outputDir. */
  sources: string[];
}

export type EntryKind = 'train' | 'eval' | 'summary' | 'other';

/** Eval entries' keys that are not metrics (HF adds them to every evaluation). */
export const EVAL_BOOKKEEPING = new Set([
  'eval_runtime',
  'eval_samples_per_second',
  'eval_steps_per_second',
  'epoch',
  'step',
]);

export function num(entry: LogEntry | undefined, key: string): number | undefined {
  const v = entry?.[key];
  return typeof v === 'number' ? v : undefined;
}

/** What a log entry records: a training log, an evaluation, the end-of-run summary or something else. */
export function entryKind(entry: LogEntry): EntryKind {
  if ('train_runtime' in entry || 'train_loss' in entry) return 'summary';
  if (Object.keys(entry).some((k) => k.startsWith('eval_'))) return 'eval';
  if ('loss' in entry || 'learning_rate' in entry || 'grad_norm' in entry) return 'train';
  return 'other';
}

/** The metric names (with their eval_ prefix) that evaluations logged, in first-seen order; eval_loss first. */
export function evalMetricNames(logHistory: readonly LogEntry[]): string[] {
  const names = new Set<string>();
  for (const e of logHistory) {
    if (entryKind(e) !== 'eval') continue;
    for (const [k, v] of Object.entries(e))
      if (k.startsWith('eval_') && !EVAL_BOOKKEEPING.has(k) && typeof v === 'number') names.add(k);
  }
  const list = [...names];
  return list.includes('eval_loss') ? ['eval_loss', ...list.filter((n) => n !== 'eval_loss')] : list;
}

/** Whether smaller is better for a metric, by its name (loss, error, perplexity, WER/CER, MSE/MAE/RMSE, runtime). */
export function lowerIsBetter(name: string): boolean {
  return /loss|error|err$|perplexity|ppl|wer|cer|mse|mae|rmse|runtime|_time/i.test(name);
}

const SENTINEL = '\u0000finetune-nonfinite:';

/**
 * JSON.parse that also accepts the NaN, Infinity and -Infinity Python's json module writes
 * (a diverged loss is logged as NaN in trainer_state.json).
 */
export function parseJsonWithNonFinite(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    if (!/NaN|Infinity/.test(text)) throw error;
  }
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      continue;
    }
    const token = /^(-Infinity|Infinity|NaN)/.exec(text.slice(i, i + 9));
    if (token) {
      out += JSON.stringify(SENTINEL + token[1]);
      i += token[1].length - 1;
      continue;
    }
    out += c;
  }
  return JSON.parse(out, (_key, value: unknown) =>
    typeof value === 'string' && value.startsWith(SENTINEL) ? Number(value.slice(SENTINEL.length)) : value,
  );
}

/**
 * Parses metrics.jsonl: one JSON object a line, blank lines skipped. An unreadable last line (a run
 * killed while writing it) is dropped; an unreadable line elsewhere throws `file:line: …`.
 */
export function parseMetricsJsonl(text: string, file = 'metrics.jsonl'): LogEntry[] {
  const lines = text.split('\n');
  const entries: LogEntry[] = [];
  let last = lines.length - 1;
  while (last >= 0 && lines[last].trim() === '') last--;
  for (let i = 0; i <= last; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = parseJsonWithNonFinite(line);
    } catch (error) {
      if (i === last) break;
      throw new Error(`${file}:${i + 1}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      if (i === last) break;
      throw new Error(
        `${file}:${i + 1}: expected a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`,
      );
    }
    entries.push(value as LogEntry);
  }
  return entries;
}

/**
 * An append-only log of a resumed run repeats the steps after its checkpoint: when a training log's
 * step goes back, every earlier entry from that step on is dropped (as transformers truncates
 * log_history to the checkpoint's).
 */
export function dropReplayedSteps(entries: readonly LogEntry[]): LogEntry[] {
  const out: LogEntry[] = [];
  let lastTrainStep = -Infinity;
  for (const e of entries) {
    const step = num(e, 'step');
    if (step !== undefined && entryKind(e) === 'train') {
      if (step < lastTrainStep) {
        for (let i = out.length - 1; i >= 0; i--) {
          const s = num(out[i], 'step');
          if (s !== undefined && s >= step) out.splice(i, 1);
        }
      }
      lastTrainStep = step;
    }
    out.push(e);
  }
  return out;
}

function canonical(entry: LogEntry): string {
  return JSON.stringify(
    Object.keys(entry)
      .sort()
      .map((k) => [k, entry[k]]),
  );
}

/** Entries from both sources, each once, in step order (entries without a step keep their place). */
export function mergeLogHistories(a: readonly LogEntry[], b: readonly LogEntry[]): LogEntry[] {
  const seen = new Set(a.map(canonical));
  const merged = [...a, ...b.filter((e) => !seen.has(canonical(e)))];
  const indexed = merged.map((e, i) => ({ e, i, step: num(e, 'step') }));
  let lastStep = -Infinity;
  for (const x of indexed) {
    if (x.step === undefined) x.step = lastStep;
    else lastStep = x.step;
  }
  indexed.sort((p, q) => (p.step as number) - (q.step as number) || p.i - q.i);
  return indexed.map((x) => x.e);
}

async function readJsonIfExists(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return parseJsonWithNonFinite(text);
  } catch (error) {
    throw new Error(`${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** The checkpoint-N folders of a run, newest first. */
async function checkpointDirs(outputDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(outputDir);
  } catch {
    return [];
  }
  return names
    .map((n) => /^checkpoint-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(b[1]) - Number(a[1]))
    .map((m) => m[0]);
}

/** The first of `candidates` (paths relative to outputDir) that holds a JSON object. */
async function firstJsonObject(
  outputDir: string,
  candidates: string[],
): Promise<{ file: string; value: Record<string, unknown> } | undefined> {
  for (const file of candidates) {
    const value = asObject(await readJsonIfExists(join(outputDir, file)));
    if (value) return { file, value };
  }
  return undefined;
}

/**
 * Reads a run's output folder: trainer_state.json and metrics.jsonl, merged; training_args.json,
 * run_config.json, adapter_config.json and config.json when present. Each JSON file missing at the
 * top (a run still going, or a Trainer that keeps them in checkpoints) is taken from the newest checkpoint-N/. Throws when there is no log at all, unless `allowEmpty`.
 */
export async function readRunHistory(outputDir: string, options: { allowEmpty?: boolean } = {}): Promise<RunHistory> {
  const sources: string[] = [];
  // the final files at the top; while the run goes on (or when the Trainer keeps them there), the newest checkpoint's
  const checkpoints = await checkpointDirs(outputDir);
  const find = (name: string) => firstJsonObject(outputDir, [name, ...checkpoints.map((c) => `${c}/${name}`)]);
  const stateFile = await find('trainer_state.json');
  const trainerState = stateFile?.value as TrainerStateJson | undefined;
  if (stateFile) sources.push(stateFile.file);
  let jsonl: LogEntry[] | undefined;
  try {
    const file = join(outputDir, 'metrics.jsonl');
    jsonl = dropReplayedSteps(parseMetricsJsonl(await readFile(file, 'utf8'), file));
    sources.push('metrics.jsonl');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (!trainerState && !jsonl && !options.allowEmpty) {
    throw new Error(
      `${outputDir}: no trainer_state.json, checkpoint-*/trainer_state.json or metrics.jsonl (is this a training output folder?)`,
    );
  }
  const fromState = Array.isArray(trainerState?.log_history)
    ? (trainerState.log_history.filter((e) => asObject(e)) as LogEntry[])
    : [];
  const logHistory = jsonl ? mergeLogHistories(jsonl, fromState) : fromState;
  const history: RunHistory = { outputDir, logHistory, trainerState, sources };
  const extras: Array<[keyof RunHistory, string]> = [
    ['trainingArgs', 'training_args.json'],
    ['runConfig', 'run_config.json'],
    ['adapterConfig', 'adapter_config.json'],
    ['modelConfig', 'config.json'],
  ];
  for (const [key, name] of extras) {
    const found = await find(name);
    if (found) {
      (history as unknown as Record<string, unknown>)[key] = found.value;
      sources.push(found.file);
    }
  }
  return history;
}

/** The best value a metric reached, and when. */
export interface BestValue {
  value: number;
  step?: number;
  epoch?: number;
  /** 'min' when lower is better (losses, errors), else 'max'. */
  mode: 'min' | 'max';
}

export interface RunSummary {
  /** The last step and (fractional) epoch logged. */
  globalStep?: number;
  epoch?: number;
  maxSteps?: number;
  numTrainEpochs?: number;
  /** The last training log's loss. */
  finalTrainLoss?: number;
  /** The run's mean training loss (the end-of-run entry's train_loss). */
  trainLoss?: number;
  /** The last evaluation's metrics (eval_ keys). */
  finalEval: Record<string, number>;
  /** Each eval metric's best value. */
  best: Record<string, BestValue>;
  trainRuntime?: number;
  trainSamplesPerSecond?: number;
  trainStepsPerSecond?: number;
  totalFlos?: number;
  trainableParams?: number;
  totalParams?: number;
  /** 100 × trainable / total. */
  trainablePercent?: number;
  /** The largest peak-memory figure logged, in bytes. */
  peakMemoryBytes?: number;
  /** trainer_state's best_metric / best_model_checkpoint and the metric it tracks. */
  bestMetric?: number;
  bestModelCheckpoint?: string;
  metricForBestModel?: string;
  /** Every end-of-run value (train_runtime, train_loss, memory deltas, …). */
  final: Record<string, number>;
  counts: { train: number; eval: number };
}

const TRAINABLE_KEYS = /^(num_)?trainable_?param(eter)?s$|^trainableParam(eter)?s$/;
const TOTAL_KEYS = /^(num_|total_|all_)?param(eter)?s$|^(total|all)Param(eter)?s$|^num_params$/;
const PEAK_MEMORY_KEYS = /peak.*(mem|rss)|(mem|rss).*peak/i;

/** Bytes per unit of a memory figure, from its key's suffix (peak_memory_mb, peak_rss_gib, …); bytes when none. */
function memoryUnit(key: string): number {
  const m = /[_-]?(kb|kib|mb|mib|gb|gib)$/i.exec(key);
  if (!m) return 1;
  const unit = m[1].toLowerCase();
  return { kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 }[unit] as number;
}

function lookup(records: Array<Record<string, unknown> | undefined>, pattern: RegExp): number | undefined {
  for (const r of records) {
    if (!r) continue;
    for (const [k, v] of Object.entries(r))
      if (pattern.test(k) && typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return undefined;
}

/** Final and best metrics, runtime and sizes of a run, from its log history (and state/args/config when given). */
export function summarizeRun(
  history: Pick<RunHistory, 'logHistory'> & Partial<RunHistory>,
  config?: Record<string, unknown>,
): RunSummary {
  const log = history.logHistory;
  const summary: RunSummary = { finalEval: {}, best: {}, final: {}, counts: { train: 0, eval: 0 } };
  for (const e of log) {
    const step = num(e, 'step');
    const epoch = num(e, 'epoch');
    if (step !== undefined) summary.globalStep = Math.max(summary.globalStep ?? 0, step);
    if (epoch !== undefined) summary.epoch = Math.max(summary.epoch ?? 0, epoch);
    const kind = entryKind(e);
    if (kind === 'train') {
      summary.counts.train++;
      const loss = num(e, 'loss');
      if (loss !== undefined) summary.finalTrainLoss = loss;
    } else if (kind === 'eval') {
      summary.counts.eval++;
      for (const [k, v] of Object.entries(e)) {
        if (!k.startsWith('eval_') || EVAL_BOOKKEEPING.has(k) || typeof v !== 'number') continue;
        summary.finalEval[k] = v;
        if (!Number.isFinite(v)) continue;
        const mode = lowerIsBetter(k) ? 'min' : 'max';
        const best = summary.best[k];
        if (!best || (mode === 'min' ? v < best.value : v > best.value))
          summary.best[k] = { value: v, step, epoch, mode };
      }
    } else if (kind === 'summary') {
      for (const [k, v] of Object.entries(e))
        if (typeof v === 'number' && k !== 'step' && k !== 'epoch') summary.final[k] = v;
    }
  }
  const f = summary.final;
  summary.trainLoss = f.train_loss;
  summary.trainRuntime = f.train_runtime;
  summary.trainSamplesPerSecond = f.train_samples_per_second;
  summary.trainStepsPerSecond = f.train_steps_per_second;
  summary.totalFlos =
    f.total_flos ??
    (typeof history.trainerState?.total_flos === 'number' ? history.trainerState.total_flos : undefined);

  const state = history.trainerState;
  if (state) {
    if (typeof state.max_steps === 'number') summary.maxSteps = state.max_steps;
    if (typeof state.num_train_epochs === 'number') summary.numTrainEpochs = state.num_train_epochs;
    if (typeof state.global_step === 'number')
      summary.globalStep = Math.max(summary.globalStep ?? 0, state.global_step);
    if (typeof state.best_metric === 'number') summary.bestMetric = state.best_metric;
    if (typeof state.best_model_checkpoint === 'string') summary.bestModelCheckpoint = state.best_model_checkpoint;
  }
  const args = history.trainingArgs;
  const metricForBest = args?.metric_for_best_model ?? args?.metricForBestModel;
  if (typeof metricForBest === 'string') summary.metricForBestModel = metricForBest;
  if (summary.numTrainEpochs === undefined) {
    const n = args?.num_train_epochs ?? args?.numTrainEpochs;
    if (typeof n === 'number') summary.numTrainEpochs = n;
  }

  // sizes and memory: newest log entries first, then the state, the run config and the caller's config
  const records = [...[...log].reverse(), state, history.runConfig, config];
  summary.trainableParams = lookup(records, TRAINABLE_KEYS);
  summary.totalParams = lookup(records, TOTAL_KEYS);
  const percent = lookup(records, /^trainable(%|_percent(age)?|Percent)$/);
  if (percent !== undefined) summary.trainablePercent = percent;
  else if (summary.trainableParams !== undefined && summary.totalParams)
    summary.trainablePercent = (100 * summary.trainableParams) / summary.totalParams;
  let peak: number | undefined;
  for (const r of records) {
    if (!r) continue;
    for (const [k, v] of Object.entries(r)) {
      if (PEAK_MEMORY_KEYS.test(k) && typeof v === 'number' && Number.isFinite(v))
        peak = Math.max(peak ?? -Infinity, v * memoryUnit(k));
    }
  }
  if (peak !== undefined) summary.peakMemoryBytes = peak;
  return summary;
}
