/**
 * Cached frozen features: head-only training of a BERT (bert-mini, random init) on SST-2 sentences,
 * the Trainer as a user runs it, with cacheFrozenFeatures and without (transformers' head-only run,
 * the frozen body recomputed every step). Each run is a fresh process; the time is the wall time of
 * trainer.train() (the cache's pass over the data included). Dev accuracy (evaluated after training,
 * not timed) shows both runs learn alike.
 *
 *   node build/ts/bench/frozen-cache.js [--rows 8000] [--epochs 3] [--batch 32] [--max-length 64]
 *     [--model bert-mini] [--threads 2] [--runs 1] [--data ../shared/data/sst2/train.tsv]
 *
 * Target (issue 18): the cached run's wall time ≤ 0.4× the uncached one's.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { data, manualSeed, models, train } from 'finetune';
import { fmt, parseFlags, repoRoot, table, threadEnv } from './driver.js';

const USAGE =
  'usage: node build/ts/bench/frozen-cache.js [--rows N] [--epochs N] [--batch N] [--max-length N] [--model bert-mini|bert-tiny|bert-base-uncased] [--threads N] [--runs N] [--data TSV]';

interface Options {
  rows: number;
  epochs: number;
  batch: number;
  maxLength: number;
  model: string;
  threads: number;
  runs: number;
  data: string;
  /** Internal: one measurement in this process ('cached' or 'uncached'), printed as JSON. */
  measure: string;
}

interface Measurement {
  trainSeconds: number;
  trainLoss: number;
  devAccuracy: number;
  planLine: string;
}

async function dataset(path: string, textColumn: string, maxLength: number, tokenizer: data.Tokenizer, rows?: number) {
  const all = await data.TextClassificationDataset.fromFile(path, {
    textColumn,
    labelColumn: 'label',
    tokenizer,
    maxLength,
  });
  const count = Math.min(rows ?? all.length, all.length);
  return new data.Subset(
    all,
    Array.from({ length: count }, (_, i) => i),
  );
}

async function measure(options: Options, cached: boolean): Promise<Measurement> {
  const root = repoRoot();
  const tokenizer = data.Tokenizer.fromFile(join(root, 'data', 'bert-base-uncased', 'tokenizer.json'));
  const trainSet = await dataset(resolve(root, options.data), 'sentence', options.maxLength, tokenizer, options.rows);
  const devSet = await dataset(join(root, 'data', 'sst2', 'dev.tsv'), 'content', options.maxLength, tokenizer);
  manualSeed(0);
  const preset = models.BERT_PRESETS[options.model as keyof typeof models.BERT_PRESETS];
  const model = new models.BertForSequenceClassification({ ...preset, numLabels: 2 });
  const outputDir = mkdtempSync(join(tmpdir(), 'finetune-bench-frozen-cache-'));
  const lines: string[] = [];
  try {
    const trainer = new train.Trainer({
      model,
      args: {
        outputDir,
        numTrainEpochs: options.epochs,
        perDeviceTrainBatchSize: options.batch,
        perDeviceEvalBatchSize: 64,
        saveStrategy: 'no',
        loggingStrategy: 'no',
        disableTqdm: true,
        threads: options.threads,
        seed: 0,
        strategy: { kind: 'head' },
        cacheFrozenFeatures: cached,
      },
      trainDataset: trainSet,
      log: (line) => lines.push(line),
    });
    const start = performance.now();
    const { trainingLoss } = await trainer.train();
    const trainSeconds = (performance.now() - start) / 1000;
    const metrics = await trainer.evaluate(devSet);
    return {
      trainSeconds,
      trainLoss: trainingLoss,
      devAccuracy: metrics.eval_accuracy,
      planLine: lines.find((line) => line.startsWith('frozen features:')) ?? 'frozen features: off',
    };
  } finally {
    rmSync(outputDir, { recursive: true, force: true });
  }
}

function runMeasurement(self: string, argv: string[], mode: string, threads: number): Measurement {
  const result = spawnSync(process.execPath, [self, ...argv, '--measure', mode], {
    env: threadEnv(threads),
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`the ${mode} run failed:\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Measurement;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = parseFlags<Options>(
    argv,
    USAGE,
    {
      rows: 8000,
      epochs: 3,
      batch: 32,
      maxLength: 64,
      model: 'bert-mini',
      threads: 2,
      runs: 1,
      data: '../shared/data/sst2/train.tsv',
      measure: '',
    },
    {
      '--rows': ['rows', 'count'],
      '--epochs': ['epochs', 'count'],
      '--batch': ['batch', 'count'],
      '--max-length': ['maxLength', 'count'],
      '--model': ['model', 'text'],
      '--data': ['data', 'text'],
      '--measure': ['measure', 'text'],
    },
  );
  if (!Object.hasOwn(models.BERT_PRESETS, options.model))
    throw new Error(`--model: one of ${Object.keys(models.BERT_PRESETS).join(', ')}`);
  if (options.measure) {
    console.log(JSON.stringify(await measure(options, options.measure === 'cached')));
    return;
  }
  const self = fileURLToPath(import.meta.url);
  const childArgv = argv.filter((_, i) => argv[i] !== '--runs' && argv[i - 1] !== '--runs');
  const runs: Record<string, Measurement[]> = { uncached: [], cached: [] };
  for (let round = 0; round < options.runs; round++) {
    // Alternate which goes first, so that a machine's slow phase does not favour one.
    for (const mode of round % 2 === 0 ? ['uncached', 'cached'] : ['cached', 'uncached'])
      runs[mode].push(runMeasurement(self, childArgv, mode, options.threads));
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const time = (mode: string) => median(runs[mode].map((m) => m.trainSeconds));
  console.log(
    `head-only ${options.model} (random init) on ${options.rows} SST-2 sentences × ${options.epochs} epochs, batch ${options.batch}, max length ${options.maxLength}, ${options.threads} thread(s), median of ${options.runs} run(s)`,
  );
  console.log(
    table([
      ['run', 'train() wall s', 'train loss', 'dev accuracy'],
      ...['uncached', 'cached'].map((mode) => {
        const last = runs[mode].at(-1)!;
        return [mode, fmt(time(mode), 1), fmt(last.trainLoss, 4), fmt(last.devAccuracy, 4)];
      }),
    ]),
  );
  console.log(runs.cached.at(-1)!.planLine);
  const ratio = time('cached') / time('uncached');
  console.log(`cached / uncached wall time: ${ratio.toFixed(3)}× (target ≤ 0.4×: ${ratio <= 0.4 ? 'met' : 'missed'})`);
}

await main();
