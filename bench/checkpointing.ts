/**
 * Gradient checkpointing side by side with PyTorch: one BertForSequenceClassification training step
 * (forward + backward, random init) with and without checkpointing, for full fine-tuning and for LoRA
 * (r 8, α 32 on query and value, PEFT's SEQ_CLS head copy), in finetune (model.gradientCheckpointingEnable())
 * and in transformers (model.gradient_checkpointing_enable(), then peft's get_peft_model for LoRA).
 * Each configuration is measured in a fresh process (peak RSS is the child's own getrusage maximum),
 * rounds alternate the engines, and the table shows the medians with the four ratios:
 * RSS with / without checkpointing (≤ 0.6×) and step time with / without (≤ 1.45×), each engine; and
 * finetune / transformers with checkpointing on: peak RSS (≤ 1.05×) and step time (≤ 1.0×).
 *
 *   node build/ts/bench/checkpointing.js [--model bert-mini|bert-base-uncased] [--batch 8] [--seq 128]
 *     [--methods full,lora] [--threads 1] [--runs 2] [--steps 5] [--python python3]
 *
 * The PyTorch side imports the torch of the libtorch the addon links and transformers / peft from
 * .deps/pyref (tools/setup-pyref.sh), as bench/models_torch.py does.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { getPeftModel, LoraConfig, manualSeed, models, ones, randint, setNumThreads, tidy } from 'finetune';
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
  'usage: node build/ts/bench/checkpointing.js [--model bert-mini|bert-base-uncased] [--batch N] [--seq N] [--methods full,lora] [--threads N] [--runs N] [--steps N] [--python EXE]';

type Preset = 'bert-mini' | 'bert-base-uncased';
const METHODS = ['full', 'lora'] as const;
type Method = (typeof METHODS)[number];
const MODES = ['off', 'on'] as const;
type Mode = (typeof MODES)[number];

/** The issue's targets: checkpointing's own cost and saving, and finetune's against transformers' with it on. */
const TARGETS = { rssOnOff: 0.6, timeOnOff: 1.45, rssVsTorch: 1.05, timeVsTorch: 1.0 };

interface Options {
  model: string;
  batch: number;
  seq: number;
  methods: string[];
  threads: number;
  runs: number;
  steps: number;
  python: string;
  /** Internal: run one measurement in this process ('full:on', 'lora:off', …) and print it as JSON. */
  measure: string;
}

interface Measurement {
  medianStepMs: number;
  peakRssMiB: number;
}

/** One finetune measurement in this process: a warm-up step, then `steps` timed ones. */
function measureFinetune(options: Options, method: Method, checkpointing: boolean): Measurement {
  setNumThreads(options.threads);
  manualSeed(0);
  const preset = models.BERT_PRESETS[options.model as Preset];
  const bert = new models.BertForSequenceClassification({ ...preset, numLabels: 2 });
  bert.train();
  // As a user with transformers + PEFT: checkpointing on the base model, then the adapter around it.
  if (checkpointing) bert.gradientCheckpointingEnable();
  const model =
    method === 'lora'
      ? getPeftModel(
          bert,
          new LoraConfig({ taskType: 'SEQ_CLS', r: 8, loraAlpha: 32, targetModules: ['query', 'value'] }),
        )
      : bert;
  const inputIds = randint(0, preset.vocabSize, [options.batch, options.seq]);
  const attentionMask = ones([options.batch, options.seq], { dtype: 'int64' });
  const labels = randint(0, 2, [options.batch]);
  const times: number[] = [];
  for (let i = 0; i <= options.steps; i++) {
    const start = performance.now();
    tidy(() => (model.forward({ inputIds, attentionMask, labels }) as models.BertHeadOutput).loss!.backward());
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

const verdict = (ratio: number, target: number): string => `${fmt(ratio, 2)}× ${ratio <= target ? 'pass' : 'MISS'}`;

function main(): void {
  const options = parseFlags<Options>(
    process.argv.slice(2),
    USAGE,
    {
      model: 'bert-mini',
      batch: 8,
      seq: 128,
      methods: [...METHODS],
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
      '--methods': ['methods', 'list'],
      '--measure': ['measure', 'text'],
    },
  );
  checkChoices('--model', [options.model], Object.keys(models.BERT_PRESETS));
  checkChoices('--methods', options.methods, METHODS);
  if (options.measure) {
    const [method, mode] = options.measure.split(':') as [Method, Mode];
    console.log(JSON.stringify(measureFinetune(options, method, mode === 'on')));
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
  const methods = options.methods as Method[];
  const machine = machineInfo();
  console.log(machineLine(machine));
  console.log(buildLine(gitState(root), addonBuilt(root)));
  console.log(`load average at the start: ${loadavg()[0].toFixed(2)} (an idle machine reads about 0)`);
  const results = new Map<string, Measurement[]>();
  const key = (engine: EngineName, method: Method, mode: Mode): string => `${engine} ${method} ${mode}`;
  for (let round = 0; round < options.runs; round++) {
    for (const engine of engineOrder(round)) {
      for (const method of methods) {
        for (const mode of MODES) {
          const measured =
            engine === 'finetune'
              ? runProcess(process.execPath, [self, ...shared, '--measure', `${method}:${mode}`], env)
              : runProcess(
                  options.python,
                  [
                    join(root, 'bench', 'checkpointing_torch.py'),
                    ...shared,
                    '--method',
                    method,
                    '--checkpointing',
                    mode,
                  ],
                  pythonEnv,
                );
          const k = key(engine, method, mode);
          results.set(k, [...(results.get(k) ?? []), measured]);
          console.error(
            `round ${round + 1}: ${k}: ${fmt(measured.medianStepMs, 0)} ms/step, ${fmt(measured.peakRssMiB, 0)} MiB`,
          );
        }
      }
    }
  }
  const summary = (k: string): Measurement => {
    const runs = results.get(k)!;
    return { medianStepMs: median(runs.map((r) => r.medianStepMs)), peakRssMiB: median(runs.map((r) => r.peakRssMiB)) };
  };
  const measures = [
    ['engine, method', 'step ms off', 'step ms on', 'time on/off', 'peak RSS MiB off', 'on', 'RSS on/off'],
  ];
  for (const method of methods) {
    for (const engine of ['finetune', 'pytorch'] as const) {
      const off = summary(key(engine, method, 'off'));
      const on = summary(key(engine, method, 'on'));
      measures.push([
        `${engine}, ${method}`,
        fmt(off.medianStepMs, 0),
        fmt(on.medianStepMs, 0),
        verdict(on.medianStepMs / off.medianStepMs, TARGETS.timeOnOff),
        fmt(off.peakRssMiB, 0),
        fmt(on.peakRssMiB, 0),
        verdict(on.peakRssMiB / off.peakRssMiB, TARGETS.rssOnOff),
      ]);
    }
  }
  const versus = [['method, checkpointing', 'step time finetune/PyTorch', 'peak RSS finetune/PyTorch']];
  for (const method of methods) {
    for (const mode of MODES) {
      const ft = summary(key('finetune', method, mode));
      const pt = summary(key('pytorch', method, mode));
      const targeted = mode === 'on';
      const ratio = (a: number, b: number, target: number): string =>
        targeted ? verdict(a / b, target) : `${fmt(a / b, 2)}×`;
      versus.push([
        `${method}, ${mode}`,
        ratio(ft.medianStepMs, pt.medianStepMs, TARGETS.timeVsTorch),
        ratio(ft.peakRssMiB, pt.peakRssMiB, TARGETS.rssVsTorch),
      ]);
    }
  }
  console.log(
    `${options.model} B${options.batch} T${options.seq}, forward + backward, ${options.threads} thread(s), median of ${options.runs} run(s) × ${options.steps} step(s), each a fresh process`,
  );
  console.log(`targets: time on/off ≤ ${TARGETS.timeOnOff}×, RSS on/off ≤ ${TARGETS.rssOnOff}× (each engine)`);
  console.log(table(measures));
  console.log(
    `targets with checkpointing on: step time ≤ ${TARGETS.timeVsTorch}× and peak RSS ≤ ${TARGETS.rssVsTorch}× transformers' (off: for reference)`,
  );
  console.log(table(versus));
  saveResults(root, 'checkpointing', {
    date: new Date().toISOString(),
    options: { ...options, measure: undefined },
    machine,
    measurements: Object.fromEntries(results),
  });
}

main();
