/**
 * `finetune compare`: runs several fine-tuning methods on the same model, data, budget (epochs or
 * --max-steps) and seed, each as its own `finetune train` child process, and prints the trade-off
 * table — strategy, trainable parameters and %, accuracy, train time, peak memory (the child's peak
 * resident set size, VmHWM) — and writes comparison.html / .png / .md.
 *
 *   finetune compare --model bert-tiny --train-file data/sst2/train-200.tsv --eval-file data/sst2/dev.tsv \
 *                    --methods full,head,lora --max-steps 50 --output-dir runs/compare
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { comparisonReport, comparisonRunFromDir, type ComparisonRun } from '../report/index.js';
import { EXIT, flagHelp, toArgv, UsageError, type FlagTable, type Options } from './config.js';
import { resolveCommandOptions } from './threads.js';
import { EXIT_CODES_HELP, METHODS, optBoolean, optList, optNumber, optString, parseMethod, runCommand, TRAIN_FLAGS } from './train.js';

const { method: _method, ...TRAIN_WITHOUT_METHOD } = TRAIN_FLAGS;
void _method;

export const COMPARE_FLAGS: FlagTable = {
  ...TRAIN_WITHOUT_METHOD,
  methods: { kind: 'list', arg: 'A,B,…', group: 'Method', help: `methods to compare (default full,head,lora; any of ${METHODS.join(', ')})` },
  'output-dir': { kind: 'string', arg: 'DIR', group: 'Training', help: 'each run goes into DIR/<method>/ (log: DIR/<method>.log); the comparison into DIR (default compare_output)' },
  verbose: { kind: 'boolean', group: 'Run', help: "show each run's output as it goes (default: only into DIR/<method>.log)" },
  json: { kind: 'boolean', group: 'Run', help: 'print the rows as JSON' },
};

const HELP = `Usage: finetune compare --model <model> (--train-file FILE (--eval-file FILE | --validation-split 0.1) | --image-folder DIR | --fashion-mnist)
                        --methods full,head,lora [--max-steps N | --num-train-epochs N] [--output-dir DIR] [train's flags]

Trains the model once per method, with the same data, budget and seed, each in a child 'finetune train' process
(so each run's peak memory is its own), then prints the table: strategy | trainable params | % | accuracy |
train time | peak memory, and writes comparison.html, comparison.png and comparison.md into --output-dir.
Any 'finetune train' flag applies to every run.

FLAGS

Examples:
  finetune compare --model bert-tiny --train-file data/sst2/train-200.tsv --eval-file data/sst2/dev.tsv \\
                   --methods full,head,lora --max-length 64 --max-steps 50 --output-dir runs/compare

EXIT`;

function help(): string {
  return HELP.replace('FLAGS', flagHelp(COMPARE_FLAGS)).replace('EXIT', EXIT_CODES_HELP);
}

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

interface ChildResult {
  code: number;
  seconds: number;
  lastError: string;
}

function runChild(args: string[], logFile: string, verbose: boolean): Promise<ChildResult> {
  return new Promise((resolveRun, reject) => {
    const started = performance.now();
    const log = createWriteStream(logFile);
    const child = spawn(process.execPath, [MAIN, 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      log.write(chunk);
      if (verbose) process.stdout.write(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      log.write(chunk);
      stderr += chunk.toString();
      if (verbose) process.stderr.write(chunk);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      log.end(() => {
        const lines = stderr.trim().split('\n').filter((l) => l && !l.startsWith('note:') && !l.startsWith('('));
        resolveRun({ code: code ?? (signal ? 128 : 1), seconds: (performance.now() - started) / 1000, lastError: lines.at(-1) ?? (signal ? `killed by ${signal}` : '') });
      });
    });
  });
}

/** The end-of-run warnings `finetune train` recorded in a run's run_config.json (a run that learned nothing, and what to try). */
function trainingWarnings(dir: string): string[] {
  const recorded = (JSON.parse(readFileSync(join(dir, 'run_config.json'), 'utf8')) as { training_warnings?: unknown }).training_warnings;
  return Array.isArray(recorded) ? recorded.map(String) : [];
}

export async function runCompare(argv: string[]): Promise<number> {
  return runCommand('compare', async () => {
    const { options, help: wantsHelp } = resolveCommandOptions(argv, COMPARE_FLAGS);
    if (wantsHelp) {
      console.log(help());
      return EXIT.ok;
    }
    if (!optString(options, 'model')) throw new UsageError('--model is required');
    const methods = (optList(options, 'methods') ?? ['full', 'head', 'lora']).map((m) => parseMethod(m));
    if (new Set(methods).size !== methods.length) throw new UsageError('--methods lists a method twice');
    const text = options['train-file'] !== undefined;
    if (text && options['eval-file'] === undefined && options['validation-split'] === undefined) {
      throw new UsageError('give --eval-file or --validation-split: the comparison needs an evaluation');
    }
    if (options['resume-from-checkpoint'] !== undefined) throw new UsageError('--resume-from-checkpoint does not apply to compare (each method starts afresh)');
    const outputDir = optString(options, 'output-dir') ?? 'compare_output';
    const verbose = optBoolean(options, 'verbose') ?? false;
    const json = optBoolean(options, 'json') ?? false;
    const seed = optNumber(options, 'seed') ?? 42;
    const shared: Options = { ...options, seed };
    for (const key of ['methods', 'output-dir', 'verbose', 'json']) delete shared[key];
    mkdirSync(outputDir, { recursive: true });

    const budget = optNumber(options, 'max-steps') !== undefined ? `${optNumber(options, 'max-steps')} steps` : `${optNumber(options, 'num-train-epochs') ?? 3} epochs`;
    if (!json) console.log(`comparing ${methods.join(', ')} on ${optString(options, 'model')}: ${budget} each, seed ${seed}, one child process per run`);
    const rows: ComparisonRun[] = [];
    const failures: string[] = [];
    for (const [i, method] of methods.entries()) {
      const dir = join(outputDir, method);
      const logFile = join(outputDir, `${method}.log`);
      const args = [...toArgv(shared), `--method=${method}`, `--output-dir=${dir}`];
      const result = await runChild(args, logFile, verbose);
      if (result.code === EXIT.usage) {
        console.error(`finetune compare: ${method}: ${result.lastError.replace(/^finetune train: /, '')} (log: ${logFile})`);
        return EXIT.usage;
      }
      if (result.code !== 0 || !existsSync(join(dir, 'run_config.json'))) {
        failures.push(method);
        rows.push({ strategy: method });
        if (!json) console.log(`[${i + 1}/${methods.length}] ${method}: failed (exit ${result.code}${result.code === EXIT.nan ? ', NaN loss' : ''}): ${result.lastError.replace(/^finetune train: /, '')} (log: ${logFile})`);
        continue;
      }
      const row = await comparisonRunFromDir(dir, { strategy: method });
      rows.push(row);
      if (!json) {
        const acc = row.accuracy !== undefined ? `, accuracy ${row.accuracy.toFixed(4)}` : '';
        console.log(`[${i + 1}/${methods.length}] ${method}: done in ${result.seconds.toFixed(1)} s${acc} (log: ${logFile})`);
      }
      for (const line of trainingWarnings(dir)) console.error(`warning: ${method}: ${line}`);
    }
    const model = optString(options, 'model');
    const report = await comparisonReport(rows, { outputDir, title: `Fine-tuning strategies compared: ${model}, ${budget}, seed ${seed}` });
    if (json) console.log(JSON.stringify({ model, budget, seed, rows, files: report.files }, null, 2));
    else {
      console.log('');
      console.log(report.text);
      console.log('');
      console.log('peak memory: the peak resident set size (VmHWM) of each run\'s own process; train time: the Trainer\'s train_runtime.');
      console.log(`wrote ${Object.values(report.files).join(', ')}`);
    }
    if (failures.length) {
      console.error(`finetune compare: ${failures.length} of ${methods.length} runs failed (${failures.join(', ')}); see their logs`);
      return EXIT.runtime;
    }
    return EXIT.ok;
  });
}
