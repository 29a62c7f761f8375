/**
 * One bench row for a GPU machine (scripts/gpu-check.sh runs it): a BertForSequenceClassification
 * training step (forward + backward + AdamW, random init, fp32) on a device, finetune vs transformers
 * on the same torch, each in a fresh process, rounds alternating the engines; the row shows the medians.
 *
 *   node build/ts/bench/gpu-step.js [--device cuda:0|cpu] [--model bert-base-uncased|bert-mini] [--batch 8]
 *     [--seq 128] [--steps 20] [--runs 2] [--python python3]
 *
 * The PyTorch side (bench/gpu_step_torch.py) imports the torch of the libtorch the addon links and
 * transformers (on the GPU machine both are installed; here .deps/pyref, tools/setup-pyref.sh).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { manualSeed, models, ones, optim, randint, tidy, type Device } from 'finetune';
import { fmt, parseFlags, repoRoot, table, torchPythonPath, withPythonPath } from './driver.js';

const USAGE =
  'usage: node build/ts/bench/gpu-step.js [--device cuda:0|cpu] [--model bert-base-uncased|bert-mini] [--batch N] [--seq N] [--steps N] [--runs N] [--python EXE]';

interface Options {
  device: string;
  model: string;
  batch: number;
  seq: number;
  steps: number;
  runs: number;
  python: string;
  /** Internal: run one finetune measurement in this process and print it as JSON. */
  measure: boolean;
}

/** Median milliseconds of a training step, after one warm-up step. */
interface Measurement {
  medianStepMs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function measureFinetune(options: Options): Measurement {
  const device = options.device as Device;
  manualSeed(0);
  const preset = models.BERT_PRESETS[options.model as keyof typeof models.BERT_PRESETS];
  const model = new models.BertForSequenceClassification({ ...preset, numLabels: 2 }).to(device);
  model.train();
  const optimizer = new optim.AdamW(model.parameters(), { lr: 1e-5 });
  const inputIds = randint(0, preset.vocabSize, [options.batch, options.seq]).to(device);
  const attentionMask = ones([options.batch, options.seq], { dtype: 'int64' }).to(device);
  const labels = randint(0, 2, [options.batch]).to(device);
  const times: number[] = [];
  for (let i = 0; i <= options.steps; i++) {
    const start = performance.now();
    tidy(() => model.forward({ inputIds, attentionMask, labels }).loss!.backward());
    optimizer.step();
    optimizer.zeroGrad();
    // Reading a value waits for the device's queue (torch.cuda.synchronize() on the PyTorch side).
    tidy(() => model.classifier.weight.sum().item());
    if (i > 0) times.push(performance.now() - start);
  }
  return { medianStepMs: median(times) };
}

function runProcess(command: string, args: string[], env: NodeJS.ProcessEnv): Measurement {
  const result = spawnSync(command, args, { env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Measurement;
}

function main(): void {
  const options = parseFlags<Options>(
    process.argv.slice(2),
    USAGE,
    {
      device: 'cuda:0',
      model: 'bert-base-uncased',
      batch: 8,
      seq: 128,
      steps: 20,
      runs: 2,
      python: 'python3',
      measure: false,
    },
    {
      '--device': ['device', 'text'],
      '--model': ['model', 'text'],
      '--batch': ['batch', 'count'],
      '--seq': ['seq', 'count'],
      '--measure': ['measure', 'on'],
    },
  );
  if (!(options.model in models.BERT_PRESETS))
    throw new Error(`--model: one of ${Object.keys(models.BERT_PRESETS).join(', ')}`);
  if (options.measure) {
    console.log(JSON.stringify(measureFinetune(options)));
    return;
  }
  const root = repoRoot();
  const shared = ['--device', options.device, '--model', options.model, '--batch', String(options.batch)];
  shared.push('--seq', String(options.seq), '--steps', String(options.steps));
  const pythonEnv = withPythonPath(process.env, [torchPythonPath(root), join(root, '.deps', 'pyref')]);
  const self = fileURLToPath(import.meta.url);
  const runs: Record<'finetune' | 'pytorch', number[]> = { finetune: [], pytorch: [] };
  for (let round = 0; round < options.runs; round++) {
    for (const engine of round % 2 === 0 ? (['finetune', 'pytorch'] as const) : (['pytorch', 'finetune'] as const)) {
      const measured =
        engine === 'finetune'
          ? runProcess(process.execPath, [self, ...shared, '--measure'], process.env)
          : runProcess(options.python, [join(root, 'bench', 'gpu_step_torch.py'), ...shared], pythonEnv);
      runs[engine].push(measured.medianStepMs);
    }
  }
  const [ours, theirs] = [median(runs.finetune), median(runs.pytorch)];
  const row = `${options.model} B${options.batch} T${options.seq} train step (AdamW, fp32) on ${options.device}`;
  const result = { row, finetuneMs: ours, pytorchMs: theirs, ratio: ours / theirs, runs };
  console.log(
    table([
      ['step', 'finetune ms', 'PyTorch ms', 'finetune / PyTorch'],
      [row, fmt(ours, 1), fmt(theirs, 1), fmt(ours / theirs, 2)],
    ]),
  );
  console.log(JSON.stringify(result));
}

main();
