/**
 * The memory soak (issue 14): the Trainer fine-tunes a tiny BERT (AdamW, dropout, shuffled SST-2
 * rows, a log line every 10 steps, an evaluation and a checkpoint every 250) for many steps and
 * samples, after a garbage collection, the process's resident set size and the engine's live
 * tensor count and bytes (memory()). After the warm-up both must stay flat: the same live tensors
 * at every sample, RSS within a few MiB.
 *
 *   node build/ts/tools/memory-soak.js [--steps 2000] [--warmup 200] [--sample-every 100]
 *
 * Prints one line per sample and a JSON summary. test/soak.test.ts runs 300 steps.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { memory, train } from 'finetune';

import { slice, sst2, tinyBert } from '../test/helpers/trainer-setup.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

export interface MemorySample {
  step: number;
  rssMiB: number;
  liveTensors: number;
  liveBytes: number;
}

export interface MemorySoakOptions {
  /** Optimizer steps (default 2000). */
  steps?: number;
  /** Steps before the baseline sample (default 200). */
  warmup?: number;
  /** A sample every this many steps (default 100). */
  sampleEvery?: number;
  /** Called with each sample as it is taken. */
  onSample?: (sample: MemorySample) => void;
}

export interface MemorySoakReport {
  /** The baseline (at the end of the warm-up) and every later sample. */
  samples: MemorySample[];
  /** Largest RSS after the warm-up less the baseline's, in MiB. */
  rssGrowthMiB: number;
  /** Largest less smallest live tensor count after the warm-up. */
  liveTensorSpread: number;
  /** Largest less smallest live tensor bytes after the warm-up. */
  liveByteSpread: number;
  seconds: number;
}

function sample(step: number): MemorySample {
  collectGarbage();
  const live = memory();
  return { step, rssMiB: process.memoryUsage().rss / 2 ** 20, liveTensors: live.numTensors, liveBytes: live.numBytes };
}

function spread(values: number[]): number {
  return Math.max(...values) - Math.min(...values);
}

export async function memorySoak(options: MemorySoakOptions = {}): Promise<MemorySoakReport> {
  const steps = options.steps ?? 2000;
  const warmup = options.warmup ?? 200;
  const sampleEvery = options.sampleEvery ?? 100;
  if (warmup >= steps)
    throw new Error(`memorySoak: the warm-up (${warmup} steps) must be shorter than the run (${steps})`);
  const dataset = await sst2(24);
  const model = tinyBert(1, { maxPositionEmbeddings: 32 });
  const outputDir = mkdtempSync(join(tmpdir(), 'finetune-memory-soak-'));
  const samples: MemorySample[] = [];
  const started = performance.now();
  try {
    const trainer = new train.Trainer({
      model,
      args: new train.TrainingArguments({
        outputDir,
        maxSteps: steps,
        perDeviceTrainBatchSize: 8,
        learningRate: 1e-3,
        loggingSteps: 10,
        evalStrategy: 'steps',
        evalSteps: 250,
        saveSteps: 250,
        saveTotalLimit: 1,
        seed: 2,
        threads: 1,
        strategy: { kind: 'full' },
      }),
      trainDataset: slice(dataset, 0, 160),
      evalDataset: slice(dataset, 160, 200),
      callbacks: [
        {
          onStepEnd: (_args, state) => {
            const step = state.globalStep;
            if (step < warmup || (step - warmup) % sampleEvery !== 0) return;
            const taken = sample(step);
            samples.push(taken);
            options.onSample?.(taken);
          },
        },
      ],
      log: null,
    });
    await trainer.train();
  } finally {
    rmSync(outputDir, { recursive: true, force: true });
  }
  const baseline = samples[0];
  return {
    samples,
    rssGrowthMiB: Math.max(...samples.map((s) => s.rssMiB)) - baseline.rssMiB,
    liveTensorSpread: spread(samples.map((s) => s.liveTensors)),
    liveByteSpread: spread(samples.map((s) => s.liveBytes)),
    seconds: (performance.now() - started) / 1000,
  };
}

function flag(args: string[], name: string, fallback: number): number {
  const at = args.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`--${name}: '${args[at + 1]}' is not a positive whole number`);
  return value;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  console.log('step   RSS MiB   live tensors   live bytes');
  const report = await memorySoak({
    steps: flag(args, 'steps', 2000),
    warmup: flag(args, 'warmup', 200),
    sampleEvery: flag(args, 'sample-every', 100),
    onSample: (s) =>
      console.log(
        `${String(s.step).padStart(4)}   ${s.rssMiB.toFixed(1).padStart(7)}   ${String(s.liveTensors).padStart(12)}   ${String(s.liveBytes).padStart(10)}`,
      ),
  });
  const { samples, ...summary } = report;
  console.log(JSON.stringify({ ...summary, samples: samples.length }));
}
