/**
 * Mixed precision side by side with PyTorch: one BertForSequenceClassification training step (random
 * init; forward and loss under autocast for bf16 / fp16, backward, gradient clipping, AdamW; fp16
 * through the GradScaler) in fp32, bf16 and fp16, in finetune (amp.autocast, amp.GradScaler — what
 * the Trainer's --bf16 / --fp16 run) and in PyTorch (torch.autocast, torch.amp.GradScaler — what
 * transformers' Trainer runs through accelerate). Each measurement is a fresh process, rounds
 * alternate the engines, and the table shows the medians and each precision's time against fp32.
 *
 *   node build/ts/bench/precision.js [--model bert-mini|bert-tiny|bert-base-uncased] [--batch 8] [--seq 128]
 *     [--threads 1] [--runs 2] [--steps 5] [--python python3]
 *
 * bfloat16 pays where the hardware multiplies it natively (CPUs with AVX512-BF16 or AMX, GPUs since
 * Ampere); elsewhere libtorch converts around float32 kernels. The machine's CPU flags are printed.
 * The PyTorch side imports the torch of the libtorch the addon links and transformers from
 * .deps/pyref (tools/setup-pyref.sh), as bench/checkpointing_torch.py does.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { amp, manualSeed, models, ones, optim, randint, setNumThreads, tidy } from 'finetune';
import { cpuModel, fmt, parseFlags, repoRoot, table, threadEnv, torchPythonPath, withPythonPath } from './driver.js';

const USAGE =
  'usage: node build/ts/bench/precision.js [--model bert-mini|bert-tiny|bert-base-uncased] [--batch N] [--seq N] [--threads N] [--runs N] [--steps N] [--python EXE]';

type Preset = keyof typeof models.BERT_PRESETS;
const PRECISIONS = ['fp32', 'bf16', 'fp16'] as const;
type Precision = (typeof PRECISIONS)[number];

interface Options {
  model: string;
  batch: number;
  seq: number;
  threads: number;
  runs: number;
  steps: number;
  python: string;
  /** Internal: run one measurement in this process (a precision) and print it as JSON. */
  measure: string;
}

interface Measurement {
  medianStepMs: number;
  peakRssMiB: number;
  lastLoss: number;
}

/** One finetune measurement in this process: a warm-up step, then `steps` timed ones. */
function measureFinetune(options: Options, precision: Precision): Measurement {
  setNumThreads(options.threads);
  manualSeed(0);
  const preset = models.BERT_PRESETS[options.model as Preset];
  const model = new models.BertForSequenceClassification({ ...preset, numLabels: 2 });
  model.train();
  const params = model.parameters();
  const optimizer = new optim.AdamW(params, { lr: 1e-5 });
  const scaler = new amp.GradScaler({ enabled: precision === 'fp16' });
  const autocast = { enabled: precision !== 'fp32', dtype: precision === 'fp16' ? 'float16' : 'bfloat16' } as const;
  const inputIds = randint(0, preset.vocabSize, [options.batch, options.seq]);
  const attentionMask = ones([options.batch, options.seq], { dtype: 'int64' });
  const labels = randint(0, 2, [options.batch]);
  const times: number[] = [];
  let lastLoss = NaN;
  for (let i = 0; i <= options.steps; i++) {
    const start = performance.now();
    lastLoss = tidy(() => {
      const loss = amp.autocast(() => model.forward({ inputIds, attentionMask, labels }).loss!, autocast);
      scaler.scale(loss).backward();
      scaler.unscale_(optimizer);
      optim.clipGradNorm_(params, 1.0);
      scaler.step(optimizer);
      scaler.update();
      return Number(loss.item());
    });
    optimizer.zeroGrad();
    if (i > 0) times.push(performance.now() - start);
  }
  return { medianStepMs: median(times), peakRssMiB: process.resourceUsage().maxRSS / 1024, lastLoss };
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

/** The CPU's bfloat16 / float16 instruction-set flags (Linux), which decide what bf16 costs here. */
function lowPrecisionFlags(): string {
  try {
    const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1].trim().split(/\s+/) ?? [];
    const found = flags.filter((f) => /^(avx512_bf16|avx512_fp16|amx_bf16|amx_fp16|amx_tile|avx512f|f16c)$/.test(f));
    return found.length ? found.join(' ') : 'none of avx512f, avx512_bf16, amx';
  } catch {
    return 'unknown (no /proc/cpuinfo)';
  }
}

function main(): void {
  const options = parseFlags<Options>(
    process.argv.slice(2),
    USAGE,
    { model: 'bert-mini', batch: 8, seq: 128, threads: 1, runs: 2, steps: 5, python: 'python3', measure: '' },
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
    console.log(JSON.stringify(measureFinetune(options, options.measure as Precision)));
    return;
  }
  const root = repoRoot();
  const env = threadEnv(options.threads);
  const pythonEnv = withPythonPath(env, [torchPythonPath(root), join(root, '.deps', 'pyref')]);
  const shared = [
    ...['--threads', String(options.threads), '--steps', String(options.steps)],
    ...['--batch', String(options.batch), '--seq', String(options.seq), '--model', options.model],
  ];
  const self = fileURLToPath(import.meta.url);
  const results = new Map<string, Measurement[]>();
  for (let round = 0; round < options.runs; round++) {
    for (const engine of round % 2 === 0 ? ['finetune', 'pytorch'] : ['pytorch', 'finetune']) {
      for (const precision of PRECISIONS) {
        const measured =
          engine === 'finetune'
            ? runProcess(process.execPath, [self, ...shared, '--measure', precision], env)
            : runProcess(
                options.python,
                [join(root, 'bench', 'precision_torch.py'), ...shared, '--precision', precision],
                pythonEnv,
              );
        const key = `${engine} ${precision}`;
        results.set(key, [...(results.get(key) ?? []), measured]);
      }
    }
  }
  const summary = (key: string) => {
    const runs = results.get(key)!;
    return {
      ms: median(runs.map((r) => r.medianStepMs)),
      rss: median(runs.map((r) => r.peakRssMiB)),
      loss: runs.at(-1)!.lastLoss,
    };
  };
  const rows = [['engine', 'precision', 'step ms', '× fp32', 'peak RSS MiB', 'loss after the steps']];
  for (const engine of ['finetune', 'pytorch']) {
    const fp32 = summary(`${engine} fp32`);
    for (const precision of PRECISIONS) {
      const s = summary(`${engine} ${precision}`);
      rows.push([engine, precision, fmt(s.ms, 0), fmt(s.ms / fp32.ms, 2), fmt(s.rss, 0), fmt(s.loss, 4)]);
    }
  }
  console.log(
    `${options.model} B${options.batch} T${options.seq} training step (forward, backward, clip, AdamW), ${options.threads} thread(s), median of ${options.runs} run(s) × ${options.steps} step(s)`,
  );
  console.log(`CPU: ${cpuModel()}; low-precision flags: ${lowPrecisionFlags()}`);
  console.log(table(rows));
}

main();
