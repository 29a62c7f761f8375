/**
 * End to end, as a user runs it: `finetune train` on a text classification set against the same run written
 * with transformers' Trainer (+ peft for LoRA) in Python (bench/e2e_train_hf.py), on the same files, checkpoint,
 * settings and threads, in one invocation. Times each command from its start to its saved model, splits the
 * time into phases (start-up, tokenization, model load and setup, training steps, evaluation, saving and
 * exit) and compares the final accuracies. Target (issue 18): finetune's wall time ≤ 0.9× Python's at the same
 * final accuracy (±0.5 points).
 *
 *   node build/ts/bench/e2e-train.js [--train-rows 4000] [--epochs 3] [--methods lora,full] [--batch 32]
 *     [--eval-batch 64] [--max-length 64] [--lora-lr 5e-4] [--full-lr 1e-4] [--threads 1] [--runs 1]
 *     [--pretrain-steps 1000] [--sst2 ../shared/data/sst2] [--python python3]
 *
 * Data: the first --train-rows rows of SST-2's train.tsv (--sst2: the folder, default ../shared/data/sst2 beside the repository) to train on, all of dev.tsv (872 rows) to
 * evaluate each epoch, written as JSON lines into a temporary folder. Model: a bert-mini (L4 H256) with
 * bert-base-uncased's tokenizer, pretrained briefly by `finetune pretrain` (masked-language modelling,
 * --pretrain-steps) on 40,000 other SST-2 sentences (rows 20,001–60,000, unlabelled), saved as config.json +
 * model.safetensors + the tokenizer's files under ~/.cache/finetune/bench-e2e/ and reused by later runs (its
 * time is not part of the comparison). Random initialisation would not make the accuracy check meaningful.
 *
 * finetune's phases: start-up and tokenization come from bench/e2e-probe.ts, loaded with --require; setup ends
 * when the command prints its "N optimizer steps" line; steps and evaluation come from trainer_state.json
 * (train_runtime, eval_runtime); saving is the rest. Python's come from the script's own clocks. --runs N runs
 * N rounds, round k with seed 42 + k on both sides: times are medians over the rounds, accuracies means (one
 * seed's accuracy moves by a point or two with the initialisation and data order). Both sides
 * write no checkpoints during the run and no report (--report=false), and print no progress bar.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, homedir, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

import {
  addonBuilt,
  buildLine,
  checkChoices,
  engineOrder,
  fmt,
  gitState,
  machineInfo,
  machineLine,
  parseFlags,
  repoRoot,
  saveResults,
  table,
  threadEnv,
  torchPythonPath,
  withPythonPath,
  type EngineName,
} from './driver.js';

const USAGE =
  'usage: node build/ts/bench/e2e-train.js [--train-rows N] [--epochs N] [--methods lora,full] [--batch N] [--eval-batch N] [--max-length N] [--lora-lr X] [--full-lr X] [--threads N] [--runs N] [--pretrain-steps N] [--sst2 DIR] [--python EXE]';

const METHODS = ['lora', 'full'] as const;
type Method = (typeof METHODS)[number];
/** The SST-2 rows (1-based, after the header) the checkpoint is pretrained on: never the fine-tuning rows. */
const PRETRAIN_ROWS = { first: 20_001, last: 60_000 };
const TARGETS = { wallTime: 0.9, accuracyPoints: 0.5 };
/** Round k (0-based) trains both sides with seed FIRST_SEED + k. */
const FIRST_SEED = 42;

interface Options {
  trainRows: number;
  epochs: number;
  methods: string[];
  batch: number;
  evalBatch: number;
  maxLength: number;
  loraLr: string;
  fullLr: string;
  threads: number;
  runs: number;
  pretrainSteps: number;
  python: string;
  /** The folder with SST-2's train.tsv and dev.tsv (label, sentence). */
  sst2: string;
}

/** One command's time split into phases (seconds), and its final evaluation accuracy. */
interface Phases {
  startup: number;
  tokenize: number;
  setup: number;
  steps: number;
  evaluation: number;
  save: number;
  total: number;
  accuracy: number;
}

const PHASE_ROWS: [keyof Phases, string][] = [
  ['startup', 'start-up (process, imports)'],
  ['tokenize', 'tokenization (train + eval)'],
  ['setup', 'reading, model load, setup'],
  ['steps', 'training steps'],
  ['evaluation', 'evaluation (each epoch)'],
  ['save', 'saving the model, exit'],
  ['total', 'wall time, command to saved model'],
];

interface Finished {
  status: number | null;
  seconds: number;
  stderr: string;
  /** Seconds from the start to each stdout line's arrival. */
  lines: { at: number; text: string }[];
  /** Date.now() at the spawn. */
  spawnedAt: number;
}

/** Runs a command to its end, noting when each line of its output arrives. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const spawnedAt = Date.now();
    const start = performance.now();
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: Finished['lines'] = [];
    let stderr = '';
    createInterface({ input: child.stdout }).on('line', (text) =>
      lines.push({ at: (performance.now() - start) / 1000, text }),
    );
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) =>
      resolve({ status, seconds: (performance.now() - start) / 1000, stderr, lines, spawnedAt }),
    );
  });
}

function check(finished: Finished, what: string): void {
  if (finished.status !== 0)
    throw new Error(
      `${what} exited with ${finished.status}:\n${finished.lines.map((l) => l.text).join('\n')}\n${finished.stderr}`,
    );
}

/** The rows of an SST-2 file (a header, then label<TAB>sentence). */
function readSst2(dir: string, file: string): { sentence: string; label: number }[] {
  return readFileSync(join(dir, file), 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => line.includes('\t'))
    .map((line) => {
      const [label, sentence] = line.split('\t');
      return { sentence, label: Number(label) };
    });
}

/** The training and evaluation rows as JSON lines ({sentence, label}) in a new temporary folder. */
function writeData(options: Options): { dir: string; train: string; eval: string } {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-e2e-'));
  const write = (name: string, rows: { sentence: string; label: number }[]): string => {
    const file = join(dir, name);
    writeFileSync(file, rows.map((row) => JSON.stringify(row)).join('\n') + '\n');
    return file;
  };
  return {
    dir,
    train: write('train.jsonl', readSst2(options.sst2, 'train.tsv').slice(0, options.trainRows)),
    eval: write('dev.jsonl', readSst2(options.sst2, 'dev.tsv')),
  };
}

/** The briefly pretrained bert-mini, from the cache or made now. */
async function pretrainedCheckpoint(root: string, options: Options, env: NodeJS.ProcessEnv): Promise<string> {
  const settings = { model: 'bert-mini', rows: PRETRAIN_ROWS, steps: options.pretrainSteps, maxLength: 64, seed: 42 };
  const hash = createHash('sha256').update(JSON.stringify(settings)).digest('hex').slice(0, 12);
  const dir = join(homedir(), '.cache', 'finetune', 'bench-e2e', `bert-mini-mlm-${options.pretrainSteps}-${hash}`);
  if (existsSync(join(dir, 'model.safetensors'))) return dir;
  const corpus = join(mkdtempSync(join(tmpdir(), 'finetune-e2e-corpus-')), 'sst2-sentences.txt');
  const sentences = readSst2(options.sst2, 'train.tsv')
    .slice(PRETRAIN_ROWS.first - 1, PRETRAIN_ROWS.last)
    .map((row) => row.sentence);
  writeFileSync(corpus, sentences.join('\n') + '\n');
  console.log(`pretraining the bert-mini checkpoint (${options.pretrainSteps} MLM steps, once; cached in ${dir}) …`);
  mkdirSync(dir, { recursive: true });
  const pretrain = await run(
    process.execPath,
    [
      join(root, 'dist', 'cli', 'main.js'),
      'pretrain',
      '--model',
      'bert-mini',
      '--text-file',
      corpus,
      '--output-dir',
      dir,
      '--max-steps',
      String(options.pretrainSteps),
      '--max-length',
      String(settings.maxLength),
      '--seed',
      String(settings.seed),
      // Not part of the comparison: as fast as the machine allows.
      '--threads',
      String(availableParallelism()),
    ],
    { ...env, OMP_NUM_THREADS: String(availableParallelism()), MKL_NUM_THREADS: String(availableParallelism()) },
  );
  check(pretrain, 'finetune pretrain');
  console.log(pretrain.lines.find((l) => l.text.startsWith('done:'))?.text ?? '');
  return dir;
}

/** The settings both sides share: [finetune train's flag, the Python script's flag, value]. */
function sharedSettings(options: Options, method: Method, seed: number): [string, string, string][] {
  return [
    ['--num-train-epochs', '--epochs', String(options.epochs)],
    ['--per-device-train-batch-size', '--batch', String(options.batch)],
    ['--per-device-eval-batch-size', '--eval-batch', String(options.evalBatch)],
    ['--max-length', '--max-length', String(options.maxLength)],
    ['--learning-rate', '--lr', method === 'lora' ? options.loraLr : options.fullLr],
    ['--threads', '--threads', String(options.threads)],
    ['--seed', '--seed', String(seed)],
    ['--logging-steps', '--logging-steps', '50'],
  ];
}

interface LogEntry {
  train_runtime?: number;
  eval_runtime?: number;
  eval_accuracy?: number;
}

async function runFinetune(
  root: string,
  options: Options,
  method: Method,
  seed: number,
  files: Files,
  env: NodeJS.ProcessEnv,
): Promise<Phases> {
  const output = join(files.dir, `finetune-${method}`);
  rmSync(output, { recursive: true, force: true });
  const probeFile = join(files.dir, `probe-${method}.json`);
  const finished = await run(
    process.execPath,
    [
      join(root, 'dist', 'cli', 'main.js'),
      'train',
      '--model',
      files.checkpoint,
      '--train-file',
      files.train,
      '--eval-file',
      files.eval,
      '--method',
      method,
      ...sharedSettings(options, method, seed).flatMap(([flag, , value]) => [flag, value]),
      '--lr-scheduler-type',
      'linear',
      '--weight-decay',
      '0',
      '--max-grad-norm',
      '1',
      '--eval-strategy',
      'epoch',
      '--save-strategy',
      'no',
      '--disable-tqdm',
      '--report=false',
      '--output-dir',
      output,
      '--require',
      join(root, 'build', 'ts', 'bench', 'e2e-probe.js'),
    ],
    { ...env, FINETUNE_E2E_PROBE: probeFile },
  );
  check(finished, `finetune train --method ${method}`);
  const probe = JSON.parse(readFileSync(probeFile, 'utf8')) as { startupMs: number; tokenizeMs: number };
  const history = (JSON.parse(readFileSync(join(output, 'trainer_state.json'), 'utf8')) as { log_history: LogEntry[] })
    .log_history;
  const evaluations = history.filter((e) => e.eval_runtime !== undefined);
  const trainSeconds = history.find((e) => e.train_runtime !== undefined)!.train_runtime!;
  const setupEnd = finished.lines.find((l) => /^\d[\d,]* optimizer steps/.test(l.text))?.at;
  if (setupEnd === undefined) throw new Error('finetune train printed no "N optimizer steps" line');
  const startup = probe.startupMs / 1000;
  const tokenize = probe.tokenizeMs / 1000;
  const evaluation = evaluations.reduce((sum, e) => sum + e.eval_runtime!, 0);
  return {
    startup,
    tokenize,
    setup: setupEnd - startup - tokenize,
    steps: trainSeconds - evaluation,
    evaluation,
    save: finished.seconds - setupEnd - trainSeconds,
    total: finished.seconds,
    accuracy: evaluations.at(-1)!.eval_accuracy!,
  };
}

interface PythonReport {
  t0: number;
  importS: number;
  tokenizeS: number;
  modelS: number;
  trainS: number;
  evalS: number;
  saveS: number;
  endS: number;
  accuracy: number;
}

async function runPython(
  root: string,
  options: Options,
  method: Method,
  seed: number,
  files: Files,
  env: NodeJS.ProcessEnv,
): Promise<Phases> {
  const output = join(files.dir, `transformers-${method}`);
  rmSync(output, { recursive: true, force: true });
  const finished = await run(
    options.python,
    [
      join(root, 'bench', 'e2e_train_hf.py'),
      '--model-dir',
      files.checkpoint,
      '--train-file',
      files.train,
      '--eval-file',
      files.eval,
      '--method',
      method,
      '--output-dir',
      output,
      ...sharedSettings(options, method, seed).flatMap(([, flag, value]) => [flag, value]),
    ],
    env,
  );
  check(finished, `python3 bench/e2e_train_hf.py --method ${method}`);
  const report = JSON.parse(finished.lines.at(-1)!.text) as PythonReport;
  const interpreter = (report.t0 * 1000 - finished.spawnedAt) / 1000;
  return {
    startup: interpreter + report.importS,
    tokenize: report.tokenizeS,
    setup: report.modelS,
    steps: report.trainS - report.evalS,
    evaluation: report.evalS,
    save: finished.seconds - (interpreter + report.endS) + report.saveS,
    total: finished.seconds,
    accuracy: report.accuracy,
  };
}

interface Files {
  dir: string;
  train: string;
  eval: string;
  checkpoint: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The median of each phase's time over the runs, and the mean accuracy (the runs differ in their seed). */
function summarize(runs: Phases[]): Phases {
  const summary = Object.fromEntries(
    (Object.keys(runs[0]) as (keyof Phases)[]).map((k) => [k, median(runs.map((r) => r[k]))]),
  ) as unknown as Phases;
  summary.accuracy = runs.reduce((sum, r) => sum + r.accuracy, 0) / runs.length;
  return summary;
}

/** The accuracies of the runs, in percent: 'a / b / c'. */
function accuracies(runs: Phases[]): string {
  return runs.map((r) => fmt(r.accuracy * 100, 1)).join(' / ');
}

async function main(): Promise<void> {
  const options = parseFlags<Options>(
    process.argv.slice(2),
    USAGE,
    {
      trainRows: 4000,
      epochs: 3,
      methods: [...METHODS],
      batch: 32,
      evalBatch: 64,
      maxLength: 64,
      loraLr: '5e-4',
      fullLr: '1e-4',
      threads: 1,
      runs: 1,
      pretrainSteps: 1000,
      python: 'python3',
      sst2: join(repoRoot(), '..', 'shared', 'data', 'sst2'),
    },
    {
      '--train-rows': ['trainRows', 'count'],
      '--epochs': ['epochs', 'count'],
      '--methods': ['methods', 'list'],
      '--batch': ['batch', 'count'],
      '--eval-batch': ['evalBatch', 'count'],
      '--max-length': ['maxLength', 'count'],
      '--lora-lr': ['loraLr', 'text'],
      '--full-lr': ['fullLr', 'text'],
      '--pretrain-steps': ['pretrainSteps', 'count'],
      '--sst2': ['sst2', 'text'],
    },
  );
  checkChoices('--methods', options.methods, METHODS);
  for (const flag of ['loraLr', 'fullLr'] as const)
    if (!(Number(options[flag]) > 0))
      throw new Error(`--${flag === 'loraLr' ? 'lora' : 'full'}-lr expects a positive number`);
  if (options.trainRows >= PRETRAIN_ROWS.first)
    throw new Error(`--train-rows must stay below ${PRETRAIN_ROWS.first}: later rows pretrain the checkpoint`);
  const root = repoRoot();
  const env = threadEnv(options.threads);
  const pythonEnv = withPythonPath(env, [torchPythonPath(root), join(root, '.deps', 'pyref')]);
  const machine = machineInfo();
  console.log(machineLine(machine));
  console.log(buildLine(gitState(root), addonBuilt(root)));
  const checkpoint = await pretrainedCheckpoint(root, options, env);
  const data = writeData(options);
  const files: Files = { ...data, checkpoint };
  console.log(`load average at the start: ${loadavg()[0].toFixed(2)} (an idle machine reads about 0)`);
  const methods = options.methods as Method[];
  const results = new Map<string, Phases[]>();
  for (let round = 0; round < options.runs; round++) {
    // each round a new seed, the same on both sides: the accuracies average over initialisations and data orders
    const seed = FIRST_SEED + round;
    for (const method of methods) {
      for (const engine of engineOrder(round + methods.indexOf(method))) {
        const phases =
          engine === 'finetune'
            ? await runFinetune(root, options, method, seed, files, env)
            : await runPython(root, options, method, seed, files, pythonEnv);
        const key = `${engine} ${method}`;
        results.set(key, [...(results.get(key) ?? []), phases]);
        console.error(
          `round ${round + 1}: ${key}: ${fmt(phases.total, 1)} s, accuracy ${fmt(phases.accuracy * 100, 1)} %`,
        );
      }
    }
  }
  const summary = (engine: EngineName, method: Method): Phases => summarize(results.get(`${engine} ${method}`)!);
  const header = ['seconds', ...methods.flatMap((m) => [`finetune ${m}`, `transformers ${m}`, 'ratio'])];
  const rows = PHASE_ROWS.map(([key, label]) => [
    label,
    ...methods.flatMap((m) => {
      const ft = summary('finetune', m)[key];
      const pt = summary('pytorch', m)[key];
      return [fmt(ft, 2), fmt(pt, 2), `${fmt(ft / pt, 2)}×`];
    }),
  ]);
  rows.push([
    `final accuracy (dev, 872 rows)${options.runs > 1 ? `, mean of ${options.runs} seeds` : ''}`,
    ...methods.flatMap((m) => {
      const ft = summary('finetune', m).accuracy * 100;
      const pt = summary('pytorch', m).accuracy * 100;
      return [`${fmt(ft, 1)} %`, `${fmt(pt, 1)} %`, `${ft >= pt ? '+' : ''}${fmt(ft - pt, 1)} pt`];
    }),
  ]);
  console.log(
    `SST-2, ${options.trainRows} training rows, dev each epoch; bert-mini pretrained ${options.pretrainSteps} MLM steps; ` +
      `${options.epochs} epochs, batch ${options.batch}, max length ${options.maxLength}, lr ${options.loraLr} (LoRA) / ${options.fullLr} (full); ` +
      `${options.threads} thread(s); times: median of ${options.runs} run(s), seeds ${FIRST_SEED}–${FIRST_SEED + options.runs - 1}`,
  );
  console.log(table([header, ...rows]));
  for (const m of methods)
    for (const engine of ['finetune', 'pytorch'] as const)
      console.log(
        `${m}, ${engine === 'pytorch' ? 'transformers' : engine}: accuracies ${accuracies(results.get(`${engine} ${m}`)!)} %`,
      );
  for (const m of methods) {
    const ft = summary('finetune', m);
    const pt = summary('pytorch', m);
    const ratio = ft.total / pt.total;
    const points = Math.abs(ft.accuracy - pt.accuracy) * 100;
    console.log(
      `${m}: wall time ${fmt(ratio, 2)}× transformers' (target ≤ ${TARGETS.wallTime}×: ${ratio <= TARGETS.wallTime ? 'pass' : 'MISS'}), ` +
        `accuracy ${fmt(points, 1)} points apart (target ≤ ${TARGETS.accuracyPoints}: ${points <= TARGETS.accuracyPoints ? 'pass' : 'MISS'})`,
    );
  }
  saveResults(root, 'e2e-train', {
    date: new Date().toISOString(),
    options,
    machine,
    checkpoint,
    runs: Object.fromEntries(results),
  });
  rmSync(data.dir, { recursive: true, force: true });
}

await main();
