/**
 * Gradient checkpointing side by side with PyTorch: one BertForSequenceClassification training step
 * (forward + backward, random init) with and without checkpointing, in finetune
 * (model.gradientCheckpointingEnable()) and in transformers (model.gradient_checkpointing_enable()).
 * Each measurement is a fresh process (peak RSS is per process), rounds alternate the engines, and the
 * table shows the medians.
 *
 *   node build/ts/bench/checkpointing.js [--model bert-mini|bert-base-uncased] [--batch 8] [--seq 128]
 *     [--threads 1] [--runs 2] [--steps 5] [--python python3]
 *
 * The PyTorch side imports the torch of the libtorch the addon links and transformers from
 * .deps/pyref (tools/setup-pyref.sh), as bench/models_torch.py does.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { manualSeed, models, ones, randint, setNumThreads, tidy } from 'finetune';
import { fmt, parseFlags, repoRoot, table, threadEnv, torchPythonPath, withPythonPath } from './driver.js';

const USAGE =
  'usage: node build/ts/bench/checkpointing.js [--model bert-mini|bert-base-uncased] [--batch N] [--seq N] [--threads N] [--runs N] [--steps N] [--python EXE]';

type Preset = 'bert-mini' | 'bert-base-uncased';

interface Options {
  model: string;
  batch: number;
  seq: number;
  threads: number;
  runs: number;
  steps: number;
  python: string;
  /** Internal: run one measurement in this process ('on' or 'off') and print it as JSON. */
  measure: string;
}

interface Measurement {
  medianStepMs: number;
  peakRssMiB: number;
}

/** One finetune measurement in this process: a warm-up step, then `steps` timed ones. */
function measureFinetune(options: Options, checkpointing: boolean): Measurement {
  setNumThreads(options.threads);
  manualSeed(0);
  const preset = models.BERT_PRESETS[options.model as Preset];
  const model = new models.BertForSequenceClassification({ ...preset, numLabels: 2 });
  model.train();
  if (checkpointing) model.gradientCheckpointingEnable();
  const inputIds = randint(0, preset.vocabSize, [options.batch, options.seq]);
  const attentionMask = ones([options.batch, options.seq], { dtype: 'int64' });
  const labels = randint(0, 2, [options.batch]);
  const times: number[] = [];
  for (let i = 0; i <= options.steps; i++) {
    const start = performance.now();
    tidy(() => model.forward({ inputIds, attentionMask, labels }).loss!.backward());
    model.zeroGrad();
    if (i > 0) times.push(performance.now() - start);
  }
  return { medianStepMs: median(times), peakRssMiB: process.resourceUsage().maxRSS / 1024 };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function runProcess(command: string, args: string[], env: NodeJS.ProcessEnv): Measurement {
  const result = spawnSync(command, args, { env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Measurement;
}

function main(): void {
  const options = parseFlags<Options>(
    process.argv.slice(2),
    USAGE,
    {
      model: 'bert-mini',
      batch: 8,
      seq: 128,
      threads: 1,
      runs: 2,
      steps: 5,
      python: 'python3',
      measure: '',
    },
    {
      '--model': ['model', 'text'],
      '--batch': ['batch', 'count'],
      '--seq': ['seq', 'count'],
      '--measure': ['measure', 'text'],
    },
  );
  if (!(options.model in models.BERT_PRESETS))
    throw new Error(`--model: one of ${Object.keys(models.BERT_PRESETS).join(', ')}`);
  if (options.measure) {
    console.log(JSON.stringify(measureFinetune(options, options.measure === 'on')));
    return;
  }
  const root = repoRoot();
  const env = threadEnv(options.threads);
  const pythonEnv = withPythonPath(env, [torchPythonPath(root), join(root, '.deps', 'pyref')]);
  const shared = [
    '--threads',
    String(options.threads),
    '--steps',
    String(options.steps),
    '--batch',
    String(options.batch),
    '--seq',
    String(options.seq),
    '--model',
    options.model,
  ];
  const self = fileURLToPath(import.meta.url);
  const results = new Map<string, Measurement[]>();
  for (let round = 0; round < options.runs; round++) {
    for (const engine of round % 2 === 0 ? ['finetune', 'pytorch'] : ['pytorch', 'finetune']) {
      for (const mode of ['off', 'on']) {
        const measured =
          engine === 'finetune'
            ? runProcess(process.execPath, [self, ...shared, '--measure', mode], env)
            : runProcess(
                options.python,
                [join(root, 'bench', 'checkpointing_torch.py'), ...shared, '--checkpointing', mode],
                pythonEnv,
              );
        const key = `${engine} ${mode}`;
        results.set(key, [...(results.get(key) ?? []), measured]);
      }
    }
  }
  const summary = (key: string): Measurement => {
    const runs = results.get(key)!;
    return { medianStepMs: median(runs.map((r) => r.medianStepMs)), peakRssMiB: median(runs.map((r) => r.peakRssMiB)) };
  };
  const rows = [['engine', 'step ms off', 'step ms on', 'time ×', 'peak RSS MiB off', 'on', 'RSS ×']];
  for (const engine of ['finetune', 'pytorch']) {
    const off = summary(`${engine} off`);
    const on = summary(`${engine} on`);
    rows.push([
      engine,
      fmt(off.medianStepMs, 0),
      fmt(on.medianStepMs, 0),
      fmt(on.medianStepMs / off.medianStepMs, 2),
      fmt(off.peakRssMiB, 0),
      fmt(on.peakRssMiB, 0),
      fmt(on.peakRssMiB / off.peakRssMiB, 2),
    ]);
  }
  console.log(
    `${options.model} B${options.batch} T${options.seq}, ${options.threads} thread(s), median of ${options.runs} run(s) × ${options.steps} step(s)`,
  );
  console.log(table(rows));
}

main();
