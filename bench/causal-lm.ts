/**
 * Decoder LMs side by side with PyTorch (issue 19): for GPT-2 (random init, preset `gpt2` 124M or the
 * 6-layer `distilgpt2` cut for quick runs),
 *   (a) a LoRA training step (r 8, α 32 on c_attn, AdamW over the adapter, forward + backward + step) at
 *       batch × seq tokens: finetune vs transformers + peft, median step time after a warm-up step, the
 *       step's CPU time over all threads (less sensitive to a shared machine's load than wall time) and the
 *       process's peak RSS; targets: time ratio ≤ 1.05×, RSS ratio ≤ 1.1×;
 *   (b) greedy generation with the KV cache, batch 1, a `--prompt`-token prompt and `--new-tokens` new
 *       tokens: tokens/s of finetune's generate() vs transformers' generate(); target ≥ 0.95×.
 * Each measurement is a fresh process (peak RSS is the child's own getrusage maximum) and rounds
 * alternate the engines; the table shows medians over `--runs`.
 *
 *   node build/ts/bench/causal-lm.js [--model gpt2|distilgpt2] [--batch 4] [--seq 256] [--prompt 32]
 *     [--new-tokens 64] [--threads 2] [--runs 3] [--steps 5] [--python python3]
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { getPeftModel, LoraConfig, manualSeed, models, noGrad, optim, randint, setNumThreads, tidy } from 'finetune';
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
  'usage: node build/ts/bench/causal-lm.js [--model gpt2|distilgpt2] [--batch N] [--seq N] [--prompt N] [--new-tokens N] [--threads N] [--runs N] [--steps N] [--python EXE]';

const MODELS = ['gpt2', 'distilgpt2'] as const;
const TASKS = ['train', 'generate'] as const;
type Task = (typeof TASKS)[number];

/** finetune / PyTorch: step time and RSS at most these; generation speed at least this. */
const TARGETS = { timeVsTorch: 1.05, rssVsTorch: 1.1, tokensPerSecondVsTorch: 0.95 };

interface Options {
  model: string;
  batch: number;
  seq: number;
  prompt: number;
  newTokens: number;
  threads: number;
  runs: number;
  steps: number;
  python: string;
  /** Internal: run one measurement ('train' or 'generate') in this process and print it as JSON. */
  measure: string;
}

/**
 * `value` is ms per training step, or new tokens per second for generation; `cpuMs` (training) the
 * step's CPU time over all threads, which depends less on what else the machine runs than wall time.
 */
interface Measurement {
  value: number;
  peakRssMiB: number;
  cpuMs?: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

function measureTrain(options: Options): Measurement {
  const config = models.GPT2_PRESETS[options.model as (typeof MODELS)[number]];
  const model = getPeftModel(
    new models.GPT2LMHeadModel(config),
    new LoraConfig({ taskType: 'CAUSAL_LM', r: 8, loraAlpha: 32, targetModules: ['c_attn'] }),
  );
  model.train();
  const optimizer = new optim.AdamW(
    model.parameters().filter((p) => p.requiresGrad),
    { lr: 1e-4 },
  );
  const inputIds = randint(0, config.vocabSize, [options.batch, options.seq]);
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let i = 0; i <= options.steps; i++) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    tidy(() => {
      const output = model.forward({ inputIds, labels: inputIds }) as models.CausalLMOutput;
      output.loss!.backward();
    });
    optimizer.step();
    optimizer.zeroGrad();
    if (i > 0) {
      times.push(performance.now() - start);
      const cpu = process.cpuUsage(cpuStart);
      cpuTimes.push((cpu.user + cpu.system) / 1000);
    }
  }
  return { value: median(times), peakRssMiB: peakRssMiB(), cpuMs: median(cpuTimes) };
}

function measureGenerate(options: Options): Measurement {
  const config = models.GPT2_PRESETS[options.model as (typeof MODELS)[number]];
  const model = new models.GPT2LMHeadModel(config);
  model.eval();
  const inputIds = randint(0, config.vocabSize, [1, options.prompt]);
  // No end token: every run makes exactly newTokens tokens.
  const run = (): void =>
    noGrad(() => tidy(() => void model.generate(inputIds, { maxNewTokens: options.newTokens, eosTokenId: [] })));
  run();
  const speeds: number[] = [];
  for (let i = 0; i < options.steps; i++) {
    const start = performance.now();
    run();
    speeds.push(options.newTokens / ((performance.now() - start) / 1000));
  }
  return { value: median(speeds), peakRssMiB: peakRssMiB() };
}

function runProcess(command: string, args: string[], env: NodeJS.ProcessEnv): Measurement {
  const result = spawnSync(command, args, { env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Measurement;
}

const verdict = (ratio: number, pass: boolean): string => `${fmt(ratio, 2)}× ${pass ? 'pass' : 'MISS'}`;

function main(): void {
  const options = parseFlags<Options>(
    process.argv.slice(2),
    USAGE,
    {
      model: 'gpt2',
      batch: 4,
      seq: 256,
      prompt: 32,
      newTokens: 64,
      threads: 2,
      runs: 3,
      steps: 5,
      python: 'python3',
      measure: '',
    },
    {
      '--model': ['model', 'text'],
      '--batch': ['batch', 'count'],
      '--seq': ['seq', 'count'],
      '--prompt': ['prompt', 'count'],
      '--new-tokens': ['newTokens', 'count'],
      '--measure': ['measure', 'text'],
    },
  );
  checkChoices('--model', [options.model], MODELS);
  if (options.measure) {
    checkChoices('--measure', [options.measure], TASKS);
    setNumThreads(options.threads);
    manualSeed(0);
    const measured = options.measure === 'train' ? measureTrain(options) : measureGenerate(options);
    console.log(JSON.stringify(measured));
    return;
  }
  const root = repoRoot();
  const env = threadEnv(options.threads);
  const pythonEnv = withPythonPath(env, [torchPythonPath(root), join(root, '.deps', 'pyref')]);
  const shared = ['--threads', String(options.threads), '--steps', String(options.steps), '--model', options.model];
  const taskFlags = (task: Task): string[] =>
    task === 'train'
      ? ['--batch', String(options.batch), '--seq', String(options.seq)]
      : ['--prompt', String(options.prompt), '--new-tokens', String(options.newTokens)];
  const self = fileURLToPath(import.meta.url);
  const machine = machineInfo();
  console.log(machineLine(machine));
  console.log(buildLine(gitState(root), addonBuilt(root)));
  const loadStart = loadavg()[0];
  const results = new Map<string, Measurement[]>();
  const key = (engine: EngineName, task: Task): string => `${engine} ${task}`;
  for (let round = 0; round < options.runs; round++) {
    for (const engine of engineOrder(round)) {
      for (const task of TASKS) {
        const args = [...shared, ...taskFlags(task)];
        const measured =
          engine === 'finetune'
            ? runProcess(process.execPath, [self, ...args, '--measure', task], env)
            : runProcess(
                options.python,
                [join(root, 'bench', 'causal_lm_torch.py'), ...args, '--task', task],
                pythonEnv,
              );
        const k = key(engine, task);
        results.set(k, [...(results.get(k) ?? []), measured]);
        const cpu = measured.cpuMs === undefined ? '' : `, CPU ${fmt(measured.cpuMs, 0)} ms`;
        console.error(`round ${round + 1}: ${k}: ${fmt(measured.value, 1)}, ${fmt(measured.peakRssMiB, 0)} MiB${cpu}`);
      }
    }
  }
  const summary = (k: string): Measurement => {
    const runs = results.get(k)!;
    return {
      value: median(runs.map((r) => r.value)),
      peakRssMiB: median(runs.map((r) => r.peakRssMiB)),
      cpuMs: median(runs.map((r) => r.cpuMs ?? NaN)),
    };
  };
  const [ftTrain, ptTrain] = [summary(key('finetune', 'train')), summary(key('pytorch', 'train'))];
  const [ftGen, ptGen] = [summary(key('finetune', 'generate')), summary(key('pytorch', 'generate'))];
  const timeRatio = ftTrain.value / ptTrain.value;
  const rssRatio = ftTrain.peakRssMiB / ptTrain.peakRssMiB;
  const speedRatio = ftGen.value / ptGen.value;
  console.log(
    `${options.model}, ${options.threads} thread(s), median of ${options.runs} run(s) × ${options.steps} step(s), each a fresh process; ` +
      `load average ${loadStart.toFixed(2)} at the start, ${loadavg()[0].toFixed(2)} at the end`,
  );
  console.log(
    table([
      ['measure', 'finetune', 'PyTorch', 'finetune/PyTorch', 'target'],
      [
        `LoRA step ms (B${options.batch} T${options.seq})`,
        fmt(ftTrain.value, 0),
        fmt(ptTrain.value, 0),
        verdict(timeRatio, timeRatio <= TARGETS.timeVsTorch),
        `≤ ${TARGETS.timeVsTorch}×`,
      ],
      [
        'LoRA step CPU ms (all threads)',
        fmt(ftTrain.cpuMs!, 0),
        fmt(ptTrain.cpuMs!, 0),
        `${fmt(ftTrain.cpuMs! / ptTrain.cpuMs!, 2)}×`,
        '',
      ],
      [
        'LoRA peak RSS MiB',
        fmt(ftTrain.peakRssMiB, 0),
        fmt(ptTrain.peakRssMiB, 0),
        verdict(rssRatio, rssRatio <= TARGETS.rssVsTorch),
        `≤ ${TARGETS.rssVsTorch}×`,
      ],
      [
        `greedy tokens/s (prompt ${options.prompt}, ${options.newTokens} new)`,
        fmt(ftGen.value, 1),
        fmt(ptGen.value, 1),
        verdict(speedRatio, speedRatio >= TARGETS.tokensPerSecondVsTorch),
        `≥ ${TARGETS.tokensPerSecondVsTorch}×`,
      ],
    ]),
  );
  saveResults(root, 'causal-lm', {
    date: new Date().toISOString(),
    options: { ...options, measure: undefined },
    machine,
    load: { start: loadStart, end: loadavg()[0] },
    measurements: Object.fromEntries(results),
  });
}

main();
