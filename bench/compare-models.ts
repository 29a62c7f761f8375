/**
 * The models suite: training-step throughput and peak memory of whole models, finetune
 * (bench/models.ts) against PyTorch (bench/models_torch.py: transformers / torchvision), on the
 * same libtorch and the same thread count.
 *
 *   npm run bench -- --suite models [--models bert-base,vit-b16,resnet50,alexnet,bert-base-lora,demo-vit,demo-cnn] [--threads N] [--runs N]
 *                                   [--quick] [--strict] [--pin-malloc] [--python EXE]
 *   node build/ts/bench/compare.js --suite models [...]     (the same, without npm's setup step)
 *
 * For every model and run, a fresh process per engine: both build the model and its batch and run
 * their warm-up steps, then the driver interleaves blocks of training steps between them,
 * alternating which goes first (as the engine suite does), and finally reads each process's peak
 * resident set (VmHWM) — the peak of that model alone, since each process only ever holds one.
 * A run's figure is the median of its steps; the table shows the median over runs (2 by
 * default: whether a process's allocator keeps reusing its heap varies from process to process,
 * see MALLOC_PINNED). About 9 minutes on 2 cores. The JSON with every step goes to bench/results/.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import {
  ENGINES,
  LoadMeter,
  addonBuilt,
  backgroundLoadWarnings,
  buildLine,
  checkChoices,
  engineMismatchWarnings,
  engineOrder,
  fmt,
  gitState,
  machineInfo,
  machineLine,
  parseFlags,
  repoRoot,
  saveResults,
  startEnginePair,
  table,
  threadEnv,
  type EngineName,
} from './driver.js';
import {
  MODELS,
  MODELS_QUICK,
  MODEL_STEP,
  median,
  setupRequest,
  type MemoryReply,
  type ModelName,
  type ModelSetupReply,
  type SetupRequest,
  type StepsReply,
} from './shared.js';

const THROUGHPUT_TARGET = 0.95; // finetune samples/s ≥ 0.95 × PyTorch's
const RSS_TARGET = 1.1; // finetune peak RSS ≤ 1.1 × PyTorch's
const MiB = 1024; // kB per MiB

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
const perEngine = <T>(f: (name: EngineName) => T): Record<EngineName, T> => ({
  finetune: f('finetune'),
  pytorch: f('pytorch'),
});

interface Options {
  models: ModelName[];
  threads: number;
  runs: number;
  quick: boolean;
  strict: boolean;
  python: string;
  /** Fixed glibc malloc thresholds for both engines (see MALLOC_PINNED). */
  pinMalloc: boolean;
}

/**
 * --pin-malloc: glibc's malloc adapts its mmap and trim thresholds as a process frees large
 * blocks, and whether a process then reuses its heap or returns memory to the kernel and faults it
 * back in every step (±15% on ResNet-50 here) differs from one process to the next, on both sides.
 * These settings fix the thresholds (the largest mmap threshold glibc accepts, no trimming), for a
 * comparison without that luck; the default run measures the processes as users get them.
 */
const MALLOC_PINNED = {
  MALLOC_MMAP_THRESHOLD_: String(32 * 1024 * 1024),
  MALLOC_TRIM_THRESHOLD_: String(4 * 1024 * 1024 * 1024),
};

const USAGE =
  'usage: compare.js --suite models [--models ' +
  Object.keys(MODELS).join(',') +
  ' (default: all)] [--threads N (default: all cores)]\n' +
  '                  [--runs N (default 2)] [--quick] [--strict] [--pin-malloc] [--python EXE]';

function parseArgs(argv: string[]): Options {
  const defaults: Options = {
    models: Object.keys(MODELS) as ModelName[],
    threads: availableParallelism(),
    runs: 2,
    quick: false,
    strict: false,
    python: process.env.PYTHON ?? 'python3',
    pinMalloc: false,
  };
  const options = parseFlags(argv, USAGE, defaults, { '--models': ['models', 'list'] });
  checkChoices('model', options.models, Object.keys(MODELS));
  return options;
}

/** The reference stack of tools/setup-pyref.sh (transformers, torchvision), which the PyTorch side imports. */
export function pyrefPath(root: string): string {
  const dir = join(root, '.deps', 'pyref');
  if (!existsSync(join(dir, '.complete')) && !/transformers|pyref/.test(process.env.PYTHONPATH ?? '')) {
    throw new Error(
      'the models suite needs the Python reference stack: run `bash tools/setup-pyref.sh` once (it installs into .deps/pyref)',
    );
  }
  return dir;
}

interface EngineStart {
  engine: string;
  runtime: string;
  torchVersion: string;
  threads: number;
  rssKb: number;
  hwmKb: number;
}

interface ModelRun {
  model: ModelName;
  info: Record<EngineName, EngineStart>;
  setup: Record<EngineName, ModelSetupReply>;
  /** ms of every measured step, per engine. */
  stepMs: Record<EngineName, number[]>;
  /** Over the measured steps: minor page faults and kernel CPU seconds (fresh pages cost both). */
  minorFaults: Record<EngineName, number>;
  systemSeconds: Record<EngineName, number>;
  /** At the end of the process's life: VmHWM is this model's peak. */
  memory: Record<EngineName, MemoryReply>;
  backgroundCores: number | null;
  seconds: number;
}

function schedule(model: ModelName, quick: boolean): { warmupSteps: number; rounds: number; stepsPerBlock: number } {
  const spec = MODELS[model];
  return quick
    ? MODELS_QUICK
    : { warmupSteps: spec.warmupSteps, rounds: spec.rounds, stepsPerBlock: spec.stepsPerBlock };
}

async function runModel(
  options: Options,
  root: string,
  model: ModelName,
  runIndex: number,
  modelIndex: number,
): Promise<ModelRun> {
  const env = { ...threadEnv(options.threads), ...(options.pinMalloc ? MALLOC_PINNED : {}) };
  const load = new LoadMeter();
  const wallStart = performance.now();
  const engines = startEnginePair(root, options, { finetune: 'models.js', pytorch: 'models_torch.py' }, env, [
    pyrefPath(root),
  ]);
  const progress = (what: string) =>
    process.stderr.write(`\r[bench] run ${runIndex + 1}/${options.runs}, ${model}: ${what}`.padEnd(72));
  try {
    const { warmupSteps, rounds, stepsPerBlock } = schedule(model, options.quick);
    const request: SetupRequest = setupRequest(model, warmupSteps);

    const info = {} as Record<EngineName, EngineStart>;
    for (const name of ENGINES) info[name] = await engines[name].request<EngineStart>('info');
    const setup = {} as Record<EngineName, ModelSetupReply>;
    for (const name of engineOrder(runIndex + modelIndex)) {
      progress(`${name} setup and ${warmupSteps} warm-up step(s)`);
      setup[name] = await engines[name].request<ModelSetupReply>(`setup ${JSON.stringify(request)}`);
    }
    const stepMs: ModelRun['stepMs'] = { finetune: [], pytorch: [] };
    const minorFaults = { finetune: 0, pytorch: 0 };
    const systemSeconds = { finetune: 0, pytorch: 0 };
    for (let round = 0; round < rounds; round++) {
      progress(`round ${round + 1}/${rounds}`);
      for (const name of engineOrder(round + runIndex + modelIndex)) {
        const reply = await engines[name].request<StepsReply>(`steps ${stepsPerBlock}`);
        stepMs[name].push(...reply.stepMs);
        minorFaults[name] += reply.minorFaults;
        systemSeconds[name] += reply.systemSeconds;
      }
    }
    const memory = {} as Record<EngineName, MemoryReply>;
    for (const name of ENGINES) memory[name] = await engines[name].request<MemoryReply>('memory');
    const backgroundCores = load.stop(ENGINES.map((name) => engines[name].cpuSeconds()));
    return {
      model,
      info,
      setup,
      stepMs,
      minorFaults,
      systemSeconds,
      memory,
      backgroundCores,
      seconds: (performance.now() - wallStart) / 1000,
    };
  } finally {
    for (const name of ENGINES) await engines[name].close();
  }
}

export async function runModelsSuite(argv: string[]): Promise<void> {
  const options = parseArgs(argv);
  const root = repoRoot();
  const started = performance.now();
  const runs: ModelRun[][] = [];
  for (let r = 0; r < options.runs; r++) {
    const run: ModelRun[] = [];
    for (const [i, model] of options.models.entries()) run.push(await runModel(options, root, model, r, i));
    runs.push(run);
  }
  process.stderr.write('\n');
  const totalSeconds = (performance.now() - started) / 1000;

  const first = runs[0][0];
  const { finetune: ft, pytorch: pt } = first.info;
  const warnings = engineMismatchWarnings(first.info, options.threads);

  const summary = options.models.map((model, i) => {
    const perRun = runs.map((run) => run[i]);
    const batch = MODELS[model].batch;
    const { finetune: fs, pytorch: ps } = perRun[0].setup;
    // The same model on both sides: parameter counts and input shapes must agree.
    if (fs.params !== ps.params || fs.paramTensors !== ps.paramTensors) {
      warnings.push(
        `${model}: parameters differ (finetune ${fs.params} in ${fs.paramTensors} tensors, PyTorch ${ps.params} in ${ps.paramTensors}): not the same model?`,
      );
    }
    if (fs.inputShape.join() !== ps.inputShape.join())
      warnings.push(`${model}: input shapes differ ([${fs.inputShape}] vs [${ps.inputShape}])`);
    for (const r of perRun) {
      for (const name of ENGINES) {
        if (!Number.isFinite(r.setup[name].firstLoss))
          warnings.push(`${model}: ${name}'s first loss is ${r.setup[name].firstLoss}`);
      }
    }
    const msOf = (name: EngineName) => median(perRun.map((r) => median(r.stepMs[name])));
    const ftMs = msOf('finetune');
    const ptMs = msOf('pytorch');
    const ftRate = (batch * 1000) / ftMs;
    const ptRate = (batch * 1000) / ptMs;
    const ratio = ftRate / ptRate;
    // The median of the ratios of same-round blocks (adjacent in time), a check on the ratio of medians.
    const pairedRatio = median(perRun.flatMap((r) => r.stepMs.pytorch.map((pt, k) => pt / r.stepMs.finetune[k])));
    // The same ratio from the fastest step of each side: steadier on a noisy machine.
    const bestRatio =
      Math.min(...perRun.flatMap((r) => r.stepMs.pytorch)) / Math.min(...perRun.flatMap((r) => r.stepMs.finetune));
    // Peak RSS: the largest over runs (each run a fresh process).
    const peak = (name: EngineName) => Math.max(...perRun.map((r) => r.memory[name].hwmKb));
    const base = (name: EngineName) => median(perRun.map((r) => r.info[name].rssKb));
    const ftPeak = peak('finetune');
    const ptPeak = peak('pytorch');
    const rssRatio = ftPeak / ptPeak;
    const growthRatio = (ftPeak - base('finetune')) / (ptPeak - base('pytorch'));
    return {
      model,
      label: MODELS[model].label,
      params: fs.params,
      finetune: {
        msPerStep: ftMs,
        samplesPerSecond: ftRate,
        baseRssKb: base('finetune'),
        peakRssKb: ftPeak,
        firstLoss: perRun.map((r) => r.setup.finetune.firstLoss),
      },
      pytorch: {
        msPerStep: ptMs,
        samplesPerSecond: ptRate,
        baseRssKb: base('pytorch'),
        peakRssKb: ptPeak,
        firstLoss: perRun.map((r) => r.setup.pytorch.firstLoss),
      },
      throughputRatio: ratio,
      pairedRatio,
      bestStepRatio: bestRatio,
      throughputPass: ratio >= THROUGHPUT_TARGET,
      rssRatio,
      growthRatio,
      rssPass: rssRatio <= RSS_TARGET,
      steps: perRun[0].stepMs.finetune.length,
      // Per step, over all runs: how much fresh memory each side faulted in.
      faultsPerStep: perEngine(
        (name) => sum(perRun.map((r) => r.minorFaults[name])) / sum(perRun.map((r) => r.stepMs[name].length)),
      ),
      systemSecondsPerStep: perEngine(
        (name) => sum(perRun.map((r) => r.systemSeconds[name])) / sum(perRun.map((r) => r.stepMs[name].length)),
      ),
    };
  });
  const busiest = Math.max(0, ...runs.flat().map((r) => r.backgroundCores ?? 0));
  warnings.push(...backgroundLoadWarnings(busiest, "a model's run"));
  const allPass = summary.every((s) => s.throughputPass && s.rssPass);

  const throughputRows: string[][] = [
    [
      'model',
      'finetune samples/s',
      'PyTorch samples/s',
      'finetune/PyTorch',
      'target',
      'result',
      'paired ratio',
      'best-step ratio',
      'ms/step ft / pt',
    ],
  ];
  for (const s of summary) {
    throughputRows.push([
      s.label,
      fmt(s.finetune.samplesPerSecond, 2),
      fmt(s.pytorch.samplesPerSecond, 2),
      `${fmt(s.throughputRatio, 3)}×`,
      `≥ ${THROUGHPUT_TARGET}×`,
      s.throughputPass ? 'pass' : 'FAIL',
      `${fmt(s.pairedRatio, 3)}×`,
      `${fmt(s.bestStepRatio, 3)}×`,
      `${fmt(s.finetune.msPerStep, 0)} / ${fmt(s.pytorch.msPerStep, 0)}`,
    ]);
  }
  const mib = (kb: number) => fmt(kb / MiB, 0);
  const memoryRows: string[][] = [
    [
      'model',
      'finetune peak RSS MiB',
      'PyTorch peak RSS MiB',
      'finetune/PyTorch',
      'target',
      'result',
      'at start ft / pt MiB',
      'growth ratio',
    ],
  ];
  for (const s of summary) {
    memoryRows.push([
      s.label,
      mib(s.finetune.peakRssKb),
      mib(s.pytorch.peakRssKb),
      `${fmt(s.rssRatio, 3)}×`,
      `≤ ${RSS_TARGET}×`,
      s.rssPass ? 'pass' : 'FAIL',
      `${mib(s.finetune.baseRssKb)} / ${mib(s.pytorch.baseRssKb)}`,
      `${fmt(s.growthRatio, 3)}×`,
    ]);
  }

  const git = gitState(root);
  const built = addonBuilt(root);
  const machine = machineInfo();
  const command = ['node build/ts/bench/compare.js --suite models', ...argv].join(' ');
  console.log(
    `models benchmark: finetune (${ft.runtime}) vs PyTorch (${pt.runtime}), libtorch ${ft.torchVersion}, ${options.threads} threads, float32`,
  );
  console.log(machineLine(machine));
  console.log(buildLine(git, built));
  console.log(`step: ${MODEL_STEP}; samples/s = batch / median step time`);
  for (const model of options.models) {
    const { warmupSteps, rounds, stepsPerBlock } = schedule(model, options.quick);
    console.log(
      `  ${model}: finetune ${MODELS[model].finetune}; PyTorch ${MODELS[model].pytorch}; ${warmupSteps} warm-up + ${rounds}×${stepsPerBlock} interleaved steps per engine`,
    );
  }
  console.log(
    `method: ${options.runs} run(s); per model and run a fresh process per engine (peak RSS = its VmHWM at the end); table = median over runs (peak: max)`,
  );
  if (options.pinMalloc)
    console.log(
      `malloc: both engines with ${Object.entries(MALLOC_PINNED)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')} (--pin-malloc)`,
    );
  console.log('');
  console.log(table(throughputRows));
  console.log('');
  console.log(table(memoryRows));
  console.log('');
  const diagnostics = summary
    .map(
      (s) =>
        `${s.model} ${fmt(s.faultsPerStep.finetune / 1000, 1)}k/${fmt(s.faultsPerStep.pytorch / 1000, 1)}k faults, ${fmt(s.systemSecondsPerStep.finetune, 2)}/${fmt(s.systemSecondsPerStep.pytorch, 2)} s`,
    )
    .join('; ');
  console.log(`per step, finetune/PyTorch: minor page faults, kernel CPU time: ${diagnostics}`);
  const loads = runs
    .map((run) =>
      run.map((r) => `${r.model} ${r.backgroundCores === null ? '?' : r.backgroundCores.toFixed(2)}`).join(', '),
    )
    .join('; ');
  console.log(`background load (cores busy outside the benchmark), per model run: ${loads}`);
  const losses = summary
    .map(
      (s) =>
        `${s.model} ${s.finetune.firstLoss.map((l) => l.toFixed(3)).join('/')} vs ${s.pytorch.firstLoss.map((l) => l.toFixed(3)).join('/')}`,
    )
    .join(', ');
  console.log(
    `first-step losses, finetune vs PyTorch (equal when both sides drew the same initial weights from the seed): ${losses}`,
  );
  for (const warning of warnings) console.log(`warning: ${warning}`);
  console.log(
    'paired ratio: median of the samples/s ratios of steps run back to back; best-step ratio: from the fastest step of each side; at start: VmRSS after start-up (PyTorch: import torch); growth ratio: (peak − at start) ratios',
  );
  console.log(`targets: ${allPass ? 'all met' : 'NOT all met'}; total ${fmt(totalSeconds, 0)} s`);

  const date = new Date().toISOString();
  const record = {
    date,
    command,
    machine,
    git,
    addonBuilt: built,
    options,
    step: MODEL_STEP,
    targets: { throughputRatioMin: THROUGHPUT_TARGET, peakRssRatioMax: RSS_TARGET },
    summary: { models: summary, allPass, warnings, totalSeconds },
    runs,
  };
  saveResults(root, 'models', record);
  if (options.strict && !allPass) process.exitCode = 1;
}
