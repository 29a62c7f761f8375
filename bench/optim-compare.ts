/**
 * The optim suite: optimizer step time over bert-base's parameters (201 tensors, 109M values),
 * finetune (bench/optim.ts) against torch.optim (bench/optim_torch.py), on the same libtorch and the
 * same thread count. Target (issue 5): a step within 1.2× of PyTorch's.
 *
 *   npm run bench -- --suite optim [--rows 0,1,…] [--threads N] [--runs N] [--quick] [--strict] [--pin-malloc] [--python EXE]
 *   node build/ts/bench/compare.js --suite optim [...]     (the same, without npm's setup step)
 *
 * Per run, one process per engine: finetune builds the model and reports its parameter shapes,
 * PyTorch allocates the same shapes; both set a random gradient on every parameter once. Then, per
 * row (bench/optim-shared.ts OPTIM_ROWS: AdamW and SGD with momentum; finetune's default fused path
 * against PyTorch's default and its fused=True, and finetune's bit-exact `fused: false` path), each
 * side builds a fresh optimizer, runs its warm-up steps (the first creates the state), and the
 * driver interleaves single timed steps between the two, alternating which goes first. A row's
 * figure is the median step; the table shows the median over runs. About 1–2 minutes on 2 cores.
 * The JSON with every step goes to bench/results/.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

import {
  ENGINES,
  LoadMeter,
  addonBuilt,
  backgroundLoadWarnings,
  buildLine,
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
import { median } from './shared.js';
import { HYPERPARAMETERS, OPTIM_ROWS, OPTIM_SCHEDULE, type OptimConfig, type OptimSetupReply } from './optim-shared.js';

interface Options {
  rows: number[];
  threads: number;
  runs: number;
  quick: boolean;
  strict: boolean;
  python: string;
  /** The same fixed glibc malloc thresholds for both engines (as the models suite's --pin-malloc). */
  pinMalloc: boolean;
}

/**
 * --pin-malloc: finetune's addon fixes glibc's mmap threshold at 32 MiB (and trimming at 1 GiB) when the
 * environment does not; a PyTorch process keeps glibc's adaptive thresholds, so the two place the same
 * tensors differently (heap vs separate mappings). These settings give both engines the same policy.
 */
const MALLOC_PINNED = {
  MALLOC_MMAP_THRESHOLD_: String(32 * 1024 * 1024),
  MALLOC_TRIM_THRESHOLD_: String(1024 * 1024 * 1024),
};

const USAGE =
  'usage: compare.js --suite optim [--rows 0,1,… (default: all; ' +
  OPTIM_ROWS.map((r, i) => `${i} ${r.label}`).join(', ') +
  ')]\n' +
  '                  [--threads N (default: all cores)] [--runs N (default 3)] [--quick] [--strict] [--pin-malloc] [--python EXE]';

function parseArgs(argv: string[]): Options {
  const defaults: Options = {
    rows: OPTIM_ROWS.map((_, i) => i),
    threads: availableParallelism(),
    runs: 3,
    quick: false,
    strict: false,
    python: process.env.PYTHON ?? 'python3',
    pinMalloc: false,
  };
  const options = parseFlags(argv, USAGE, defaults, { '--rows': ['rows', 'numbers'] });
  for (const row of options.rows)
    if (!Number.isInteger(row) || OPTIM_ROWS[row] === undefined) throw new Error(`unknown row ${row}\n${USAGE}`);
  return options;
}

interface EngineInfo {
  engine: string;
  runtime: string;
  torchVersion: string;
  threads: number;
}

interface RowRun {
  row: number;
  warmupMs: Record<EngineName, number[]>;
  stepMs: Record<EngineName, number[]>;
  minorFaults: Record<EngineName, number>;
  cpuSeconds: Record<EngineName, number>;
}

interface Run {
  info: Record<EngineName, EngineInfo>;
  setup: Record<EngineName, OptimSetupReply>;
  rows: RowRun[];
  backgroundCores: number | null;
  seconds: number;
}

async function run(options: Options, root: string, runIndex: number): Promise<Run> {
  const env = { ...threadEnv(options.threads), ...(options.pinMalloc ? MALLOC_PINNED : {}) };
  const load = new LoadMeter();
  const wallStart = performance.now();
  const engines = startEnginePair(root, options, { finetune: 'optim.js', pytorch: 'optim_torch.py' }, env);
  const progress = (what: string) =>
    process.stderr.write(`\r[bench] run ${runIndex + 1}/${options.runs}: ${what}`.padEnd(96));
  try {
    const info = {} as Record<EngineName, EngineInfo>;
    for (const name of ENGINES) info[name] = await engines[name].request<EngineInfo>('info');
    progress('setup (finetune builds bert-base)');
    const setup = {} as Record<EngineName, OptimSetupReply>;
    setup.finetune = await engines.finetune.request<OptimSetupReply>(`setup ${JSON.stringify({ seed: 0 })}`);
    setup.pytorch = await engines.pytorch.request<OptimSetupReply>(
      `setup ${JSON.stringify({ seed: 0, shapes: setup.finetune.shapes })}`,
    );
    const schedule = options.quick ? OPTIM_SCHEDULE.quick : OPTIM_SCHEDULE.full;
    const rows: RowRun[] = [];
    for (const [k, row] of options.rows.entries()) {
      const spec = OPTIM_ROWS[row];
      const warmupMs = { finetune: [] as number[], pytorch: [] as number[] };
      for (const name of engineOrder(runIndex + k)) {
        progress(`${spec.label}: ${name} warm-up`);
        const config: OptimConfig = { kind: spec.kind, fused: spec[name].fused, warmupSteps: schedule.warmupSteps };
        warmupMs[name] = (
          await engines[name].request<{ warmupMs: number[] }>(`optimizer ${JSON.stringify(config)}`)
        ).warmupMs;
      }
      const stepMs = { finetune: [] as number[], pytorch: [] as number[] };
      const minorFaults = { finetune: 0, pytorch: 0 };
      const cpuSeconds = { finetune: 0, pytorch: 0 };
      for (let round = 0; round < schedule.rounds; round++) {
        progress(`${spec.label}: round ${round + 1}/${schedule.rounds}`);
        for (const name of engineOrder(round + runIndex + k)) {
          const reply = await engines[name].request<{ stepMs: number[]; minorFaults: number; cpuSeconds: number }>(
            `steps ${schedule.stepsPerBlock}`,
          );
          stepMs[name].push(...reply.stepMs);
          minorFaults[name] += reply.minorFaults;
          cpuSeconds[name] += reply.cpuSeconds;
        }
      }
      rows.push({ row, warmupMs, stepMs, minorFaults, cpuSeconds });
    }
    const backgroundCores = load.stop(ENGINES.map((name) => engines[name].cpuSeconds()));
    return { info, setup, rows, backgroundCores, seconds: (performance.now() - wallStart) / 1000 };
  } finally {
    for (const name of ENGINES) await engines[name].close();
  }
}

export async function runOptimSuite(argv: string[]): Promise<void> {
  const options = parseArgs(argv);
  const root = repoRoot();
  const started = performance.now();
  const runs: Run[] = [];
  for (let r = 0; r < options.runs; r++) runs.push(await run(options, root, r));
  process.stderr.write('\n');
  const totalSeconds = (performance.now() - started) / 1000;

  const warnings = engineMismatchWarnings(runs[0].info, options.threads);
  const { finetune: ft, pytorch: pt } = runs[0].info;
  const { finetune: fs, pytorch: ps } = runs[0].setup;
  if (fs.params !== ps.params || fs.paramTensors !== ps.paramTensors)
    warnings.push(
      `parameters differ: finetune ${fs.params} in ${fs.paramTensors}, PyTorch ${ps.params} in ${ps.paramTensors}`,
    );

  const summary = options.rows.map((row, k) => {
    const spec = OPTIM_ROWS[row];
    const perRun = runs.map((r) => r.rows[k]);
    const msOf = (name: EngineName) => median(perRun.map((r) => median(r.stepMs[name])));
    const ftMs = msOf('finetune');
    const ptMs = msOf('pytorch');
    const ratio = ftMs / ptMs;
    const pairedRatio = median(perRun.flatMap((r) => r.stepMs.finetune.map((f, i) => f / r.stepMs.pytorch[i])));
    const bestRatio =
      Math.min(...perRun.flatMap((r) => r.stepMs.finetune)) / Math.min(...perRun.flatMap((r) => r.stepMs.pytorch));
    const pass = spec.target === null ? null : ratio <= spec.target;
    const steps = perRun.reduce((n, r) => n + r.stepMs.finetune.length, 0);
    const perStep = (f: (r: RowRun) => Record<EngineName, number>) => ({
      finetune: perRun.reduce((n, r) => n + f(r).finetune, 0) / steps,
      pytorch: perRun.reduce((n, r) => n + f(r).pytorch, 0) / steps,
    });
    const faultsPerStep = perStep((r) => r.minorFaults);
    const cpuMsPerStep = perStep((r) => r.cpuSeconds);
    cpuMsPerStep.finetune *= 1000;
    cpuMsPerStep.pytorch *= 1000;
    return {
      row,
      label: spec.label,
      kind: spec.kind,
      finetune: spec.finetune.text,
      pytorch: spec.pytorch.text,
      finetuneMs: ftMs,
      pytorchMs: ptMs,
      ratio,
      pairedRatio,
      bestRatio,
      target: spec.target,
      pass,
      steps: perRun[0].stepMs.finetune.length,
      faultsPerStep,
      cpuMsPerStep,
    };
  });
  const busiest = Math.max(0, ...runs.map((r) => r.backgroundCores ?? 0));
  warnings.push(...backgroundLoadWarnings(busiest, 'a run'));
  const allPass = summary.every((s) => s.pass !== false);

  const rows: string[][] = [
    [
      'row',
      'finetune ms/step',
      'PyTorch ms/step',
      'finetune/PyTorch',
      'target',
      'result',
      'paired ratio',
      'best-step ratio',
    ],
  ];
  for (const s of summary) {
    rows.push([
      s.label,
      fmt(s.finetuneMs, 1),
      fmt(s.pytorchMs, 1),
      `${fmt(s.ratio, 3)}×`,
      s.target === null ? '—' : `≤ ${s.target}×`,
      s.pass === null ? 'info' : s.pass ? 'pass' : 'FAIL',
      `${fmt(s.pairedRatio, 3)}×`,
      `${fmt(s.bestRatio, 3)}×`,
    ]);
  }
  const git = gitState(root);
  const built = addonBuilt(root);
  const machine = machineInfo();
  const schedule = options.quick ? OPTIM_SCHEDULE.quick : OPTIM_SCHEDULE.full;
  const command = ['node build/ts/bench/compare.js --suite optim', ...argv].join(' ');
  console.log(
    `optim benchmark: finetune (${ft.runtime}) vs PyTorch (${pt.runtime}), libtorch ${ft.torchVersion}, ${options.threads} threads, float32`,
  );
  console.log(machineLine(machine));
  console.log(buildLine(git, built));
  console.log(
    `parameters: bert-base (BertForSequenceClassification, 2 labels), ${fs.paramTensors} tensors, ${fs.params.toLocaleString('en-US')} values, random grads set once; a step = optimizer.step()`,
  );
  console.log(`hyperparameters: AdamW ${HYPERPARAMETERS.adamw}; SGD ${HYPERPARAMETERS.sgd}`);
  for (const s of summary) console.log(`  ${s.label}: finetune ${s.finetune}; PyTorch ${s.pytorch}`);
  if (options.pinMalloc)
    console.log(
      `malloc: both engines with ${Object.entries(MALLOC_PINNED)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')} (--pin-malloc)`,
    );
  console.log(
    `method: ${options.runs} run(s); per row ${schedule.warmupSteps} warm-up + ${schedule.rounds}×${schedule.stepsPerBlock} interleaved steps per engine; table = median step (median over runs)`,
  );
  console.log('');
  console.log(table(rows));
  console.log('');
  console.log(
    'per step, finetune / PyTorch: minor page faults, CPU ms (all threads): ' +
      summary
        .map(
          (s) =>
            `${s.row} ${fmt(s.faultsPerStep.finetune, 0)}/${fmt(s.faultsPerStep.pytorch, 0)}, ${fmt(s.cpuMsPerStep.finetune, 0)}/${fmt(s.cpuMsPerStep.pytorch, 0)}`,
        )
        .join('; '),
  );
  const loads = runs.map((r) => (r.backgroundCores === null ? '?' : r.backgroundCores.toFixed(2))).join(', ');
  console.log(`background load (cores busy outside the benchmark), per run: ${loads}`);
  for (const warning of warnings) console.log(`warning: ${warning}`);
  console.log(
    'ratio = finetune ms / PyTorch ms (lower is faster); paired ratio: median of same-round step ratios; best-step ratio: fastest step of each side',
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
    hyperparameters: HYPERPARAMETERS,
    summary: { rows: summary, allPass, warnings, totalSeconds },
    runs,
  };
  saveResults(root, 'optim', record);
  if (options.strict && !allPass) process.exitCode = 1;
}
