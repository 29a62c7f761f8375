/**
 * `finetune compare`: runs several fine-tuning methods on the same model, data, budget (epochs or
 * --max-steps) and seed, each as its own `finetune train` child process, and prints the trade-off
 * table — strategy, lr, trainable parameters and %, accuracy, train time, peak memory (the child's
 * peak resident set size, VmHWM) — and writes comparison.html / .png / .md and results.json.
 *
 * The learning rate of each row is chosen as the demo chooses it: the method trains at each rate of
 * a small sweep (--learning-rates, else its default lr × DEFAULT_SWEEP_FACTORS) and keeps the run
 * with the best accuracy on validation data held out from the training data (--validation-split,
 * stratified and seeded: the same rows for every run) — never on the evaluation data, which then
 * scores the chosen run (the table's accuracy). One --learning-rate trains every method at that rate.
 * A causal LM is ranked by perplexity (lower is better; the sweep keeps the lowest validation loss).
 * While a child trains, its progress shows as one line redrawn in place (a terminal) or a line at
 * each quarter of the run (a log).
 *
 *   finetune compare --model bert-tiny --train-file data/sst2/train-200.tsv --eval-file data/sst2/dev.tsv \
 *                    --methods full,head,lora --max-steps 50 --output-dir runs/compare
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { createOutputStream, makeOutputFolder, writeFileAtomic } from '../io/files.js';
import { defaultFineTuneLr, formatLr } from '../optim/index.js';
import type { OutputStream } from '../train/index.js';
import {
  comparisonReport,
  comparisonRunFromDir,
  formatNumber,
  readRunHistory,
  summarizeRun,
  type ComparisonRun,
} from '../report/index.js';
import { EXIT_CODES_HELP, runCommand } from './core/command.js';
import { splitFolders, taskOf } from './core/data.js';
import {
  EXIT,
  flagHelp,
  type FlagTable,
  optBoolean,
  type Options,
  optList,
  optNumber,
  optString,
  toArgv,
  UsageError,
} from './core/flags.js';
import { parseMethod } from './core/method.js';
import { importRequired } from './core/require.js';
import { methodNames, type MethodName } from '../peft/index.js';
import { type ModelSource, resolveModelSource } from './core/model-source.js';
import { TRAIN_FLAGS } from './core/run-flags.js';
import { resolveCommandOptions } from './core/threads.js';
import { loadTrainedModel } from './core/trained-model.js';
import { evaluateTrained, loadEvalData } from './eval.js';

const { method: _method, ...TRAIN_WITHOUT_METHOD } = TRAIN_FLAGS;
void _method;

/**
 * The default sweep, as multiples of each method's default lr (optim.defaultFineTuneLr). The rules
 * come from long runs on large data (BERT's 3 epochs over its corpora); a comparison runs a short
 * budget, where higher rates win: the demo's picks are 3–100× the rule, and on a real sentiment set
 * full fine-tuning of a small BERT stayed at chance at its 2e-5 and reached 0.73 at 3e-4. So the
 * sweep starts at the rule and goes up half a decade at a time; --learning-rates sets other rates.
 */
const DEFAULT_SWEEP_FACTORS = [1, 3, 10];

/** The share of the training data held out to choose the lr, when --validation-split does not say. */
const DEFAULT_VALIDATION_SPLIT = 0.1;

export const COMPARE_FLAGS: FlagTable = {
  ...TRAIN_WITHOUT_METHOD,
  methods: {
    kind: 'list',
    arg: 'A,B,…',
    group: 'Method',
    help: `methods to compare (default full,head,lora; any of ${methodNames().join(', ')})`,
  },
  'learning-rates': {
    kind: 'list',
    arg: 'LR,LR,…',
    group: 'Training',
    help: `train each method at each rate and keep the best on validation data (default: the method's default lr × ${DEFAULT_SWEEP_FACTORS.join(', ')}; a single --learning-rate: that rate for every method, no sweep)`,
  },
  'output-dir': {
    kind: 'string',
    arg: 'DIR',
    group: 'Training',
    help: 'each run goes into DIR/<method>/ (a sweep: DIR/<method>/lr-<lr>/; log: beside it, .log); the comparison into DIR (default compare_output)',
  },
  verbose: {
    kind: 'boolean',
    group: 'Run',
    help: "show each run's whole output as it goes (default: its progress; all of it goes into its .log)",
  },
  json: { kind: 'boolean', group: 'Run', help: 'print the results as JSON (progress goes to stderr)' },
};

const HELP = `Usage: finetune compare --model <model> (--train-file FILE (--eval-file FILE | --validation-split 0.1) | --image-folder DIR | --fashion-mnist)
                        --methods full,head,lora [--max-steps N | --num-train-epochs N] [--learning-rates A,B,C] [--output-dir DIR] [train's flags]

Trains the model once per method and learning rate, with the same data, budget and seed, each in a child
'finetune train' process (so each run's peak memory is its own), then prints the table: strategy | lr |
trainable params | % | accuracy | train time | peak memory, and writes comparison.html, comparison.png,
comparison.md and results.json into --output-dir. Any 'finetune train' flag applies to every run.

Learning rate: each method trains at each rate of a sweep — --learning-rates, else its default lr × ${DEFAULT_SWEEP_FACTORS.join(', ')} —
and keeps the rate with the best accuracy on a validation split of the training data (--validation-split,
default ${DEFAULT_VALIDATION_SPLIT}; the runs train on the rest); the evaluation data (--eval-file, --eval-folder, DIR/val,
Fashion-MNIST's test split) then scores the chosen run and never takes part in the choice. --learning-rate X
trains every method at X, without a sweep.

A causal LM (GPT-2, Llama, …; --text-file and the other causal-lm flags of train) is ranked by perplexity instead,
lower being better: the sweep keeps the rate with the lowest validation loss, and the table's column is the
evaluation perplexity. Its default methods are full, lora and ia3 (it has no head to train alone).

FLAGS

Examples:
  finetune compare --model bert-tiny --train-file data/sst2/train-200.tsv --eval-file data/sst2/dev.tsv \\
                   --methods full,head,lora --max-length 64 --max-steps 50 --output-dir runs/compare
  finetune compare --model bert-tiny --train-file train.csv --eval-file test.csv --learning-rates 1e-4,3e-4,1e-3

EXIT`;

export function compareHelp(): string {
  return HELP.replace('FLAGS', flagHelp(COMPARE_FLAGS)).replace('EXIT', EXIT_CODES_HELP);
}

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

// ---- progress --------------------------------------------------------------------------------------

/** A training child's plain progress line (ProgressCallback off a terminal): "[epoch 1/3] step 12/40 (30%) loss …". */
const PROGRESS_LINE = /^(?:\[[^\]]*\] )?step (\d+)\/(\d+) /;

/**
 * What compare prints about the run in progress: its start and end lines and, from the child's
 * progress lines, on a terminal one status line redrawn in place, elsewhere (a log file, CI) a line
 * at each quarter of the run — a few lines per run, however long.
 */
class RunDisplay {
  readonly #stream: OutputStream;
  readonly #tty: boolean;
  #tag = '';
  #quarter = 0;
  #live = false;

  constructor(stream: OutputStream) {
    this.#stream = stream;
    this.#tty = stream.isTTY === true;
  }

  /** A new run: its tag ("[2/9] lora · lr 6e-4") prefixes its lines. */
  begin(tag: string, text: string): void {
    this.#tag = tag;
    this.#quarter = 0;
    this.line(`${tag}: ${text}`);
  }

  line(text: string): void {
    this.#clear();
    this.#stream.write(`${text}\n`);
  }

  /** A line of the child's output: its progress lines show (in place or by quarters), its warnings always. */
  childLine(line: string, fromStderr: boolean): void {
    if (fromStderr) {
      if (line.startsWith('warning:')) this.line(`${this.#tag}: ${line}`);
      return;
    }
    const progress = PROGRESS_LINE.exec(line);
    if (!progress) return;
    if (this.#tty) {
      const text = `${this.#tag}: ${line}`;
      const width = this.#stream.columns ?? 100;
      this.#stream.write(`\r\x1b[K${text.length >= width ? `${text.slice(0, width - 2)}…` : text}`);
      this.#live = true;
      return;
    }
    const quarter = Math.floor((4 * Number(progress[1])) / Number(progress[2]));
    if (quarter > this.#quarter && quarter < 4) {
      this.#quarter = quarter;
      this.line(`${this.#tag}: ${line}`);
    }
  }

  #clear(): void {
    if (!this.#live) return;
    this.#stream.write('\r\x1b[K');
    this.#live = false;
  }
}

// ---- a child run ---------------------------------------------------------------------------------

interface ChildResult {
  code: number;
  seconds: number;
  /** The child's error message, all its lines. */
  error: string;
}

/** Splits a stream's chunks into lines for `onLine` (the last, unfinished line waits for the next chunk or the end). */
function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  let pending = '';
  return {
    push(chunk) {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) onLine(line.replace(/\r$/, ''));
    },
    end() {
      if (pending) onLine(pending);
      pending = '';
    },
  };
}

function runChild(args: string[], logFile: string, verbose: boolean, display: RunDisplay): Promise<ChildResult> {
  return new Promise((resolveRun, reject) => {
    const started = performance.now();
    const log = createOutputStream(logFile);
    const child = spawn(process.execPath, [MAIN, 'train', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    let stderr = '';
    const out = lineSplitter((line) => display.childLine(line, false));
    const err = lineSplitter((line) => display.childLine(line, true));
    child.stdout.on('data', (chunk: Buffer) => {
      log.write(chunk);
      if (verbose) process.stdout.write(chunk);
      else out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      log.write(chunk);
      stderr += chunk.toString();
      if (verbose) process.stderr.write(chunk);
      else err.push(chunk);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      out.end();
      err.end();
      log.end(() => {
        const lines = stderr
          .trim()
          .split('\n')
          .filter((l) => l && !l.startsWith('note:') && !l.startsWith('warning:') && !l.startsWith('('));
        // The child's error from its first line ('finetune train: …') to its last: a data error lists rows on the lines below.
        let start = lines.length - 1;
        while (start > 0 && !lines[start].startsWith('finetune ')) start--;
        const error = lines.slice(Math.max(start, 0)).join('\n');
        resolveRun({
          code: code ?? (signal ? 128 : 1),
          seconds: (performance.now() - started) / 1000,
          error: error || (signal ? `killed by ${signal}` : ''),
        });
      });
    });
  });
}

// ---- the plan ------------------------------------------------------------------------------------

/** How the learning rates are set: one run per method (the shared options' lr, or the rule's), or a sweep. */
type LrPlan =
  { kind: 'single'; given?: number } | { kind: 'sweep'; rates: (method: MethodName) => number[]; describe: string };

function positiveRates(values: string[]): number[] {
  const rates = values.map((v) => {
    const rate = Number(v);
    if (!(Number.isFinite(rate) && rate > 0))
      throw new UsageError(`--learning-rates: '${v}' is not a positive number (e.g. --learning-rates 1e-4,3e-4,1e-3)`);
    return rate;
  });
  return [...new Set(rates)].sort((a, b) => a - b);
}

async function lrPlan(options: Options, source: ModelSource): Promise<LrPlan> {
  const listed = optList(options, 'learning-rates');
  const single = options['learning-rate'];
  if (listed && single !== undefined)
    throw new UsageError('give --learning-rate (one rate for every method) or --learning-rates (a sweep), not both');
  if (single !== undefined) return { kind: 'single', given: typeof single === 'number' ? single : undefined };
  if (listed) {
    const rates = positiveRates(listed);
    if (rates.length === 1) return { kind: 'single', given: rates[0] };
    return { kind: 'sweep', rates: () => rates, describe: rates.map(formatLr).join(', ') };
  }
  const { config } = source;
  return {
    kind: 'sweep',
    rates: (method) => {
      const rule = defaultFineTuneLr({ method, config }).lr;
      return DEFAULT_SWEEP_FACTORS.map((f) => Number((rule * f).toPrecision(6)));
    },
    describe: `its default lr × ${DEFAULT_SWEEP_FACTORS.join(', ')}`,
  };
}

/** The evaluation data apart from the training data (what scores the chosen run of a sweep), as `finetune eval`'s options; null when there is none. */
function heldOutEvaluation(options: Options): { options: Options; describe: string } | null {
  const shared: Options = {};
  for (const key of [
    'tokenizer',
    'text-pair-column',
    'label-column',
    'max-length',
    'image-size',
    'max-eval-samples',
    'skip-bad-rows',
    'verify-images',
    'max-image-pixels',
  ]) {
    if (options[key] !== undefined) shared[key] = options[key];
  }
  const evalFile = optString(options, 'eval-file');
  if (evalFile) {
    const textColumn = optString(options, 'eval-text-column') ?? optString(options, 'text-column');
    return {
      options: { ...shared, 'eval-file': evalFile, ...(textColumn ? { 'text-column': textColumn } : {}) },
      describe: evalFile,
    };
  }
  const imageFolder = optString(options, 'image-folder');
  const evalFolder =
    optString(options, 'eval-folder') ??
    (imageFolder && existsSync(imageFolder) ? splitFolders(imageFolder).eval : undefined);
  if (evalFolder) return { options: { ...shared, 'image-folder': evalFolder }, describe: evalFolder };
  if (options['fashion-mnist'] === true)
    return { options: { ...shared, 'fashion-mnist': true }, describe: "Fashion-MNIST's test split" };
  return null;
}

// ---- the command ---------------------------------------------------------------------------------

/** One run of a sweep: its lr and its validation accuracy and loss (null: the run failed or stopped). */
interface SweepRun {
  lr: number;
  validationAccuracy: number | null;
  validationLoss: number | null;
  trainTimeSeconds?: number;
  outcome: 'done' | 'nan' | 'failed';
  dir: string;
  log: string;
}

/**
 * Whether a sweep's run validated better than the best so far: higher accuracy, then lower loss (a
 * small validation split gives few distinct accuracies, so ties are common); the smaller rate, run
 * first, keeps what remains tied.
 */
function validatesBetter(run: SweepRun, best: SweepRun | undefined, causalLm: boolean): boolean {
  // A causal LM has no accuracy: the lower validation loss (perplexity) wins.
  if (causalLm)
    return run.validationLoss !== null && (best?.validationLoss == null || run.validationLoss < best.validationLoss);
  if (run.validationAccuracy === null) return false;
  if (best?.validationAccuracy == null) return true;
  if (run.validationAccuracy !== best.validationAccuracy) return run.validationAccuracy > best.validationAccuracy;
  return run.validationLoss !== null && best.validationLoss !== null && run.validationLoss < best.validationLoss;
}

/** Each rate's validation accuracy and loss: "2e-5 0.55 (0.6886), 6e-5 0.6 (0.6712), 2e-4 nan". */
function sweepScores(sweep: SweepRun[]): string {
  const score = (r: SweepRun): string =>
    r.validationAccuracy === null
      ? r.outcome
      : `${formatNumber(r.validationAccuracy)}${r.validationLoss !== null ? ` (${r.validationLoss.toFixed(4)})` : ''}`;
  return sweep.map((r) => `${formatLr(r.lr)} ${score(r)}`).join(', ');
}

/** A row of results.json: the table's row, and for a sweep each rate's validation accuracy. */
interface CompareRow extends ComparisonRun {
  sweep?: SweepRun[];
  /** The chosen run's folder. */
  dir?: string;
  failed?: string;
}

/** The end-of-run warnings `finetune train` recorded in a run's run_config.json (a run that learned nothing, and what to try). */
function trainingWarnings(dir: string): string[] {
  const recorded = (JSON.parse(readFileSync(join(dir, 'run_config.json'), 'utf8')) as { training_warnings?: unknown })
    .training_warnings;
  return Array.isArray(recorded) ? recorded.map(String) : [];
}

export async function runCompare(argv: string[]): Promise<number> {
  return runCommand('compare', async () => {
    const { options, help: wantsHelp } = resolveCommandOptions(argv, COMPARE_FLAGS);
    if (wantsHelp) {
      console.log(compareHelp());
      return EXIT.ok;
    }
    const model = optString(options, 'model');
    if (!model) throw new UsageError('--model is required');
    // The children get the modules' absolute paths (importRequired sets them), so they register the same methods.
    await importRequired(options);
    // Read before any child starts: a mistyped --model is one usage error, not one failed run per method.
    const source = await resolveModelSource(model);
    // A causal LM is ranked by perplexity (lower is better); it has no head to train alone.
    const causalLm = taskOf(options, source.modelType, source.config) === 'causal-lm';
    const metricName = causalLm ? 'perplexity' : 'accuracy';
    const methods = (
      optList(options, 'methods') ?? (causalLm ? ['full', 'lora', 'ia3'] : ['full', 'head', 'lora'])
    ).map((m) => parseMethod(m));
    if (new Set(methods).size !== methods.length) throw new UsageError('--methods lists a method twice');
    if (causalLm && methods.includes('head'))
      throw new UsageError('--methods head: a causal LM has no classification head to train alone (try ia3 or lora)');
    const text = options['train-file'] !== undefined || options['text-file'] !== undefined;
    if (text && options['eval-file'] === undefined && options['validation-split'] === undefined) {
      throw new UsageError('give --eval-file or --validation-split: the comparison needs an evaluation');
    }
    if (options['resume-from-checkpoint'] !== undefined)
      throw new UsageError('--resume-from-checkpoint does not apply to compare (each method starts afresh)');
    const plan = await lrPlan(options, source);
    const outputDir = optString(options, 'output-dir') ?? 'compare_output';
    const verbose = optBoolean(options, 'verbose') ?? false;
    const json = optBoolean(options, 'json') ?? false;
    const seed = optNumber(options, 'seed') ?? 42;
    const shared: Options = { ...options, seed };
    for (const key of ['methods', 'learning-rates', 'output-dir', 'verbose', 'json']) delete shared[key];
    if (plan.kind === 'single' && plan.given !== undefined) shared['learning-rate'] = plan.given;
    // Head-only and top-k runs train on their frozen layers' outputs, computed once (each child's plan line says whether).
    shared['cache-frozen-features'] ??= 'auto';
    mkdirSync(outputDir, { recursive: true });
    const display = new RunDisplay(json ? process.stderr : process.stdout);

    // A sweep's runs hold out a validation split of the training data and evaluate on it; the evaluation data scores the chosen run.
    const evaluation = plan.kind === 'sweep' ? heldOutEvaluation(options) : null;
    const validationSplit = optNumber(options, 'validation-split') ?? DEFAULT_VALIDATION_SPLIT;
    const sweepShared: Options = { ...shared, 'validation-split': validationSplit };
    for (const key of ['eval-file', 'eval-text-column', 'eval-folder']) delete sweepShared[key];
    // Nothing resumes a sweep's runs: no checkpoint-N/ folders (each run still saves its model).
    if (options['save-strategy'] === undefined && options['load-best-model-at-end'] === undefined)
      sweepShared['save-strategy'] = 'no';

    const budget =
      optNumber(options, 'max-steps') !== undefined
        ? `${optNumber(options, 'max-steps')} steps`
        : `${optNumber(options, 'num-train-epochs') ?? 3} epochs`;
    const runCount = plan.kind === 'sweep' ? methods.reduce((n, m) => n + plan.rates(m).length, 0) : methods.length;
    display.line(
      `comparing ${methods.join(', ')} on ${model}: ${budget} each, seed ${seed}, one child process per run (${runCount} run${runCount === 1 ? '' : 's'})`,
    );
    if (plan.kind === 'sweep') {
      display.line(
        `learning rate: each method trains at ${plan.describe} and keeps the best on a validation split of the training data (${validationSplit}); ` +
          (evaluation
            ? `${evaluation.describe} scores the chosen run`
            : `no other evaluation data: the ${metricName} is the validation split's`),
      );
    }

    const rows: CompareRow[] = [];
    const failures: string[] = [];
    let runIndex = 0;
    /** Runs one child; returns its exit code, or null after a usage error (which stops the comparison). */
    const train = async (
      method: MethodName,
      args: Options,
      dir: string,
      logFile: string,
      lr: number | undefined,
    ): Promise<ChildResult | null> => {
      const tag = `[${++runIndex}/${runCount}] ${method}${lr !== undefined && plan.kind === 'sweep' ? ` · lr ${formatLr(lr)}` : ''}`;
      display.begin(tag, `training (log: ${logFile})`);
      // The child's folder is made here: a symlink planted at it (or at its method's folder) is replaced, not followed.
      await makeOutputFolder(outputDir, dir);
      const result = await runChild(
        [...toArgv(args, COMPARE_FLAGS), `--method=${method}`, `--output-dir=${dir}`],
        logFile,
        verbose,
        display,
      );
      if (result.code === EXIT.usage) {
        console.error(
          `finetune compare: ${method}: ${result.error.replace(/^finetune train: /, '')} (log: ${logFile})`,
        );
        return null;
      }
      if (result.code !== 0 || !existsSync(join(dir, 'run_config.json'))) {
        display.line(
          `${tag}: failed (exit ${result.code}${result.code === EXIT.nan ? ', NaN loss' : ''}): ${result.error.replace(/^finetune train: /, '')}`,
        );
      }
      return result;
    };

    for (const method of methods) {
      if (plan.kind === 'single') {
        const dir = join(outputDir, method);
        const result = await train(method, shared, dir, join(outputDir, `${method}.log`), plan.given);
        if (!result) return EXIT.usage;
        if (result.code !== 0 || !existsSync(join(dir, 'run_config.json'))) {
          failures.push(method);
          rows.push({ strategy: method, failed: result.error });
          continue;
        }
        const row = await comparisonRunFromDir(dir, { strategy: method, metricName });
        rows.push({ ...row, dir });
        display.line(
          `[${runIndex}/${runCount}] ${method}: done in ${result.seconds.toFixed(1)} s${row.accuracy !== undefined ? `, ${metricName} ${row.accuracy.toFixed(4)}` : ''}`,
        );
        for (const line of trainingWarnings(dir)) console.error(`warning: ${method}: ${line}`);
        continue;
      }

      const sweep: SweepRun[] = [];
      const chosen: { run?: SweepRun; row?: ComparisonRun } = {};
      for (const lr of plan.rates(method)) {
        const dir = join(outputDir, method, `lr-${formatLr(lr)}`);
        const logFile = `${dir}.log`;
        const result = await train(method, { ...sweepShared, 'learning-rate': lr }, dir, logFile, lr);
        if (!result) return EXIT.usage;
        const ok = result.code === 0 && existsSync(join(dir, 'run_config.json'));
        const row = ok ? await comparisonRunFromDir(dir, { strategy: method, metricName }) : undefined;
        const validation = ok ? summarizeRun(await readRunHistory(dir)).finalEval : {};
        const run: SweepRun = {
          lr,
          validationAccuracy: row?.accuracy ?? null,
          validationLoss: validation.eval_loss ?? null,
          trainTimeSeconds: row?.trainTimeSeconds,
          outcome: ok ? 'done' : result.code === EXIT.nan ? 'nan' : 'failed',
          dir,
          log: logFile,
        };
        sweep.push(run);
        if (ok) {
          const loss = run.validationLoss !== null ? `, loss ${run.validationLoss.toFixed(4)}` : '';
          display.line(
            `[${runIndex}/${runCount}] ${method} · lr ${formatLr(lr)}: done in ${result.seconds.toFixed(1)} s, validation ${metricName} ${row?.accuracy?.toFixed(4) ?? 'n/a'}${loss}`,
          );
        }
        if (row && validatesBetter(run, chosen.run, causalLm)) {
          chosen.run = run;
          chosen.row = row;
        }
      }
      const scores = sweepScores(sweep);
      if (!chosen.run || !chosen.row) {
        failures.push(method);
        rows.push({
          strategy: method,
          sweep,
          failed: `no run at any lr finished with a validation ${metricName} (${scores})`,
        });
        display.line(`${method}: no lr gave a validation ${metricName} (${scores})`);
        continue;
      }
      const row: CompareRow = { ...chosen.row, lr: chosen.run.lr, sweep, dir: chosen.run.dir };
      display.line(`${method}: lr ${formatLr(chosen.run.lr)} chosen on validation (${scores})`);
      for (const line of trainingWarnings(chosen.run.dir)) console.error(`warning: ${method}: ${line}`);
      if (evaluation) {
        const trained = await loadTrainedModel(chosen.run.dir, undefined);
        const { dataset } = await loadEvalData(trained, evaluation.options);
        const metrics = await evaluateTrained(trained, dataset, optNumber(options, 'per-device-eval-batch-size'));
        trained.model.dispose();
        row.accuracy = causalLm ? metrics.eval_perplexity : metrics.eval_accuracy;
        display.line(
          `${method}: ${metricName} ${row.accuracy?.toFixed(4) ?? 'n/a'} on ${evaluation.describe} (${dataset.length} examples)`,
        );
      }
      rows.push(row);
    }

    const scoredOn =
      heldOutEvaluation(options)?.describe ??
      (options['validation-split'] !== undefined || plan.kind === 'sweep'
        ? `a validation split of the training data (${validationSplit})`
        : 'no evaluation data');
    const notes = [
      plan.kind === 'sweep'
        ? `lr: each method trained at ${plan.describe} on the training data less a validation split (${validationSplit}, ${causalLm ? 'blocks' : 'stratified'}, seed ${seed}) and kept the rate with the best validation ${causalLm ? 'loss (perplexity)' : 'accuracy (then loss)'}.`
        : `lr: ${plan.given !== undefined ? formatLr(plan.given) : String(options['learning-rate'])} for every method (--learning-rate).`,
      plan.kind === 'sweep' && !evaluation
        ? `${metricName}: on the validation split that also chose the lr (optimistic; give --eval-file or --eval-folder for a score apart from the choice).`
        : `${metricName}: on ${scoredOn}${plan.kind === 'sweep' ? ', which took no part in choosing the lr' : ''}${causalLm ? ' (lower is better)' : ''}.`,
      ...rows
        .filter((r) => r.sweep)
        .map(
          (r) =>
            `${r.strategy}: validation ${causalLm ? 'perplexity (loss)' : 'accuracy (loss)'} by lr ${sweepScores(r.sweep!)}${r.lr !== undefined ? ` → ${formatLr(r.lr)}` : ''}.`,
        ),
      "peak memory: the peak resident set size (VmHWM) of each run's own process; train time: the Trainer's train_runtime.",
    ];
    const report = await comparisonReport(rows, {
      outputDir,
      title: `Fine-tuning strategies compared: ${model}, ${budget}, seed ${seed}`,
      metricName,
      notes,
    });
    const resultsFile = join(outputDir, 'results.json');
    const results = {
      model,
      budget,
      seed,
      learningRates: plan.kind === 'sweep' ? plan.describe : (plan.given ?? 'as --learning-rate'),
      validationSplit: plan.kind === 'sweep' ? validationSplit : null,
      evaluation: evaluation?.describe ?? null,
      rows,
      notes,
      files: { ...report.files, results: resultsFile },
    };
    await writeFileAtomic(resultsFile, JSON.stringify(results, null, 2) + '\n');
    if (json) console.log(JSON.stringify(results, null, 2));
    else {
      console.log('');
      console.log(report.text);
      console.log('');
      for (const note of notes) console.log(note);
      console.log(`wrote ${Object.values(results.files).join(', ')}`);
    }
    if (failures.length) {
      console.error(
        `finetune compare: ${failures.length} of ${methods.length} methods failed (${failures.join(', ')}); see their logs`,
      );
      return EXIT.runtime;
    }
    return EXIT.ok;
  });
}
