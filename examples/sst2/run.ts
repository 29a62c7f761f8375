/**
 * SST-2 with a BERT pretrained here (`finetune pretrain`, MLM on SST-2's training sentences):
 * full fine-tuning vs LoRA vs head-only vs Houlsby adapters vs BitFit under one budget (steps,
 * batch, max length, training rows) and the same seeds, plus full and LoRA from random
 * initialisation (what pretraining buys). Each run: dev accuracy on all 872 dev sentences,
 * trainable %, training time and peak tensor memory. Results go to a JSON file (rewritten after
 * every run, so a cut-short sweep keeps what finished) and a Markdown table on stdout.
 *
 *   npx tsc -p tsconfig.dev.json
 *   node build/ts/examples/sst2/run.js --model-dir runs/sst2/bert-mini-mlm \
 *     --train-file ../shared/data/sst2/train.tsv --train-rows 4000 --steps 150 --seeds 0,1,2
 *
 * Two sweeps run side by side (e.g. one process per core, with different --methods) are joined by
 *   node build/ts/examples/sst2/run.js --merge a.json,b.json --out examples/sst2/results/results.json
 * which writes their runs as one results file and prints the table.
 *
 * Flags: --model-dir (config.json + model.safetensors + tokenizer files), --train-file, --dev-file
 * (data/sst2/dev.tsv), --train-rows (a seeded sample of the training file, the same for every run),
 * --steps, --batch-size (32), --max-length (64), --seeds (0,1,2), --methods (all of METHODS),
 * --out (examples/sst2/results/results.json), --threads (1 is much faster on a shared machine:
 * libtorch's intra-op threads spin when the cores are oversubscribed).
 *
 * Peak memory is libtorch's live tensor bytes right after each training forward (weights, gradients,
 * optimizer state and the step's activations), minus what was live before the model was loaded;
 * run node with --expose-gc so that the previous run's tensors are collected first.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import {
  data,
  fromPretrained,
  LoraConfig,
  manualSeed,
  memory,
  models,
  peft,
  train,
  Trainer,
  TrainingArguments,
  type nn,
  type Tensor,
} from 'finetune';

type Method = 'full' | 'lora' | 'head' | 'adapters' | 'bitfit' | 'full-random' | 'lora-random';
const METHODS: Method[] = ['full', 'lora', 'head', 'adapters', 'bitfit', 'full-random', 'lora-random'];

/**
 * One learning rate per method (not tuned on dev). A first sweep with full 1e-4, LoRA 5e-4, head 1e-3,
 * adapters 5e-4, BitFit 1e-3 left the training loss at 0.68–0.69 after 200 steps (underfitting, see
 * results/sweep-mlm600-first-lrs.log), so every rate was raised for this short budget: the high end
 * of each method's usual range for small BERTs.
 */
const LR: Record<string, number> = { full: 3e-4, lora: 1e-3, head: 2e-3, adapters: 1e-3, bitfit: 2e-3 };

function flagsOf(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    if (!argv[i].startsWith('--')) throw new Error(`unexpected argument ${argv[i]}`);
    out[argv[i].slice(2)] = argv[i + 1];
    i++;
  }
  return out;
}

function strategyOf(method: Method): train.TrainingStrategy {
  switch (method.replace('-random', '')) {
    case 'full':
      return { kind: 'full' };
    case 'head':
      return { kind: 'head' };
    case 'bitfit':
      return { kind: 'bitfit' };
    case 'lora':
      // The seed's configuration.
      return new LoraConfig({ taskType: 'SEQ_CLS', r: 8, loraAlpha: 32, targetModules: ['query', 'value'] });
    case 'adapters':
      return new peft.BottleneckConfig({ taskType: 'SEQ_CLS', variant: 'houlsby' });
    default:
      throw new Error(`unknown method ${method}`);
  }
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
/** Sample standard deviation (n − 1). */
function std(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

interface RunResult {
  method: Method;
  init: 'pretrained' | 'random';
  seed: number;
  learningRate: number;
  devAccuracy: number;
  devF1: number;
  devLoss: number;
  trainLoss: number;
  trainable: number;
  total: number;
  trainablePercent: number;
  trainSeconds: number;
  peakTensorMB: number;
}

/** Joins results files of one setup (sweeps run side by side) into one. */
function merge(files: string[], outFile: string): void {
  const parts = files.map((file) => ({
    file,
    ...(JSON.parse(readFileSync(file, 'utf8')) as {
      setup: Record<string, unknown>;
      pretrain: unknown;
      runs: RunResult[];
    }),
  }));
  const { seeds: _seeds, ...setup } = parts[0].setup;
  for (const part of parts.slice(1)) {
    const { seeds: _s, ...other } = part.setup;
    if (JSON.stringify(other) !== JSON.stringify(setup))
      throw new Error(`${part.file}: another setup than ${parts[0].file}'s; only sweeps of one setup can be merged`);
  }
  const runs = parts.flatMap((p) => p.runs);
  const seeds = [...new Set(runs.map((r) => r.seed))].sort((a, b) => a - b);
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    JSON.stringify(
      { setup: { ...setup, seeds }, pretrain: parts[0].pretrain, merged: files, summary: summarize(runs), runs },
      null,
      2,
    ) + '\n',
  );
  console.log(table(summarize(runs)));
}

async function main(): Promise<void> {
  const f = flagsOf(process.argv.slice(2));
  if (f.merge) {
    merge(f.merge.split(','), f.out ?? 'examples/sst2/results/results.json');
    return;
  }
  const modelDir = f['model-dir'] ?? 'runs/sst2/bert-mini-mlm';
  const trainFile = f['train-file'] ?? '../shared/data/sst2/train.tsv';
  const devFile = f['dev-file'] ?? 'data/sst2/dev.tsv';
  const trainRows = Number(f['train-rows'] ?? 4000);
  const steps = Number(f.steps ?? 150);
  const batchSize = Number(f['batch-size'] ?? 32);
  const maxLength = Number(f['max-length'] ?? 64);
  const seeds = (f.seeds ?? '0,1,2').split(',').map(Number);
  const methods = (f.methods ? f.methods.split(',') : METHODS) as Method[];
  for (const m of methods)
    if (!METHODS.includes(m)) throw new Error(`unknown method ${m} (known: ${METHODS.join(', ')})`);
  const outFile = f.out ?? 'examples/sst2/results/results.json';
  const threads = f.threads ? Number(f.threads) : null;

  const tokenizer = data.Tokenizer.fromFile(join(modelDir, 'tokenizer.json'));
  const full = await data.TextClassificationDataset.fromFile(trainFile, {
    textColumn: 'sentence',
    labelColumn: 'label',
    labels: ['0', '1'],
    tokenizer,
    maxLength,
  });
  const rng = data.mulberry32(1234);
  const order = [...Array(full.length).keys()];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const trainSet = new data.Subset(full, order.slice(0, Math.min(trainRows, full.length)));
  const dev = await data.TextClassificationDataset.fromFile(devFile, {
    textColumn: 'content',
    labelColumn: 'label',
    labels: ['0', '1'],
    tokenizer,
    maxLength,
  });
  const pretrainConfig = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  let pretrainReport: unknown = null;
  try {
    pretrainReport = JSON.parse(readFileSync(join(modelDir, 'pretrain_report.json'), 'utf8'));
  } catch {
    /* a checkpoint from elsewhere */
  }
  console.log(
    `SST-2: ${trainSet.length} training rows (seeded sample of ${full.length}), ${dev.length} dev rows; ${steps} steps × batch ${batchSize}, max length ${maxLength}; seeds ${seeds.join(',')}`,
  );

  const runs: RunResult[] = [];
  const setup = {
    modelDir,
    trainFile,
    trainRows: trainSet.length,
    devFile,
    devRows: dev.length,
    steps,
    batchSize,
    maxLength,
    seeds,
    learningRates: LR,
    loraConfig: { r: 8, loraAlpha: 32, targetModules: ['query', 'value'], taskType: 'SEQ_CLS' },
    adapters: { variant: 'houlsby', reductionFactor: 16 },
  };
  const save = (): void => {
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(
      outFile,
      JSON.stringify({ setup, pretrain: pretrainReport, summary: summarize(runs), runs }, null, 2) + '\n',
    );
  };

  // Seeds outside, methods inside: a sweep cut short still has every method at the seeds it finished.
  for (const seed of seeds) {
    for (const method of methods) {
      const random = method.endsWith('-random');
      (globalThis as { gc?: () => void }).gc?.();
      const baseline = memory().numBytes;
      manualSeed(seed);
      let model: nn.Module;
      if (random) {
        const config = models.bertConfigFromHf(pretrainConfig as never);
        model = new models.BertForSequenceClassification({ ...config, numLabels: 2 });
      } else {
        model = await fromPretrained(modelDir, { architecture: 'BertForSequenceClassification', numLabels: 2 });
      }
      const lr = LR[method.replace('-random', '')];
      let peak = 0;
      const outDir = join('runs/sst2/finetune', `${method}-seed${seed}`);
      const trainer = new Trainer({
        model,
        args: new TrainingArguments({
          outputDir: outDir,
          maxSteps: steps,
          perDeviceTrainBatchSize: batchSize,
          perDeviceEvalBatchSize: 128,
          learningRate: lr,
          warmupRatio: 0.1,
          weightDecay: 0.01,
          lrSchedulerType: 'linear',
          loggingSteps: Math.max(1, Math.floor(steps / 5)),
          saveStrategy: 'no',
          seed,
          strategy: strategyOf(method),
          ...(threads ? { threads } : {}),
        }),
        trainDataset: trainSet,
        forward: (m, batch) => {
          const out = train.defaultForward(m, batch, true);
          peak = Math.max(peak, memory().numBytes);
          return out;
        },
        log: null,
      });
      const params = [...trainer.model.parameters()] as Tensor[];
      const trainable = params.filter((p) => p.requiresGrad).reduce((n, p) => n + p.numel(), 0);
      const total = params.reduce((n, p) => n + p.numel(), 0);
      const t0 = performance.now();
      const out = await trainer.train();
      const trainSeconds = (performance.now() - t0) / 1000;
      const metrics = await trainer.evaluate(dev);
      const run: RunResult = {
        method,
        init: random ? 'random' : 'pretrained',
        seed,
        learningRate: lr,
        devAccuracy: Number(metrics.eval_accuracy),
        devF1: Number(metrics.eval_f1),
        devLoss: Number(metrics.eval_loss),
        trainLoss: out.trainingLoss,
        trainable,
        total,
        trainablePercent: (100 * trainable) / total,
        trainSeconds,
        peakTensorMB: (peak - baseline) / 2 ** 20,
      };
      runs.push(run);
      console.log(
        `${method.padEnd(12)} seed ${seed}: dev accuracy ${run.devAccuracy.toFixed(4)}  train loss ${run.trainLoss.toFixed(4)}  trainable ${run.trainablePercent.toFixed(2)} %  ${trainSeconds.toFixed(1)} s  peak ${run.peakTensorMB.toFixed(1)} MB`,
      );
      trainer.model.dispose();
      save();
    }
  }
  console.log('\n' + table(summarize(runs)));
}

interface Summary {
  method: Method;
  init: string;
  seeds: number;
  accuracyMean: number;
  accuracyStd: number;
  trainablePercent: number;
  trainable: number;
  secondsMean: number;
  peakTensorMB: number;
}

function summarize(runs: RunResult[]): Summary[] {
  const out: Summary[] = [];
  for (const method of METHODS) {
    const rs = runs.filter((r) => r.method === method);
    if (!rs.length) continue;
    const acc = rs.map((r) => r.devAccuracy);
    out.push({
      method,
      init: rs[0].init,
      seeds: rs.length,
      accuracyMean: mean(acc),
      accuracyStd: std(acc),
      trainablePercent: rs[0].trainablePercent,
      trainable: rs[0].trainable,
      secondsMean: mean(rs.map((r) => r.trainSeconds)),
      peakTensorMB: median(rs.map((r) => r.peakTensorMB)),
    });
  }
  return out;
}

function table(summary: Summary[]): string {
  const lines = [
    '| method | init | dev accuracy (mean ± std) | seeds | trainable params | trainable % | train time (s, mean) | peak tensor memory (MB, median) |',
    '|:--|:--|--:|--:|--:|--:|--:|--:|',
  ];
  for (const s of summary) {
    lines.push(
      `| ${s.method.replace('-random', '')} | ${s.init} | ${(100 * s.accuracyMean).toFixed(2)} ± ${(100 * s.accuracyStd).toFixed(2)} | ${s.seeds} | ${s.trainable.toLocaleString('en-US')} | ${s.trainablePercent.toFixed(2)} | ${s.secondsMean.toFixed(1)} | ${s.peakTensorMB.toFixed(1)} |`,
    );
  }
  const full = summary.find((s) => s.method === 'full');
  const lora = summary.find((s) => s.method === 'lora');
  if (full && lora)
    lines.push(
      '',
      `LoRA / full dev accuracy: ${(lora.accuracyMean / full.accuracyMean).toFixed(4)} (${((100 * lora.accuracyMean) / full.accuracyMean).toFixed(1)} %)`,
    );
  return lines.join('\n');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
