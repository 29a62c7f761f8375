/**
 * Runs the engine benchmark on both sides in one invocation, on the same libtorch and the
 * same thread count, and compares finetune (bench/engine.ts) with PyTorch (bench/engine_torch.py).
 *
 *   npm run bench [-- --threads N --runs N --quick --strict]
 *   node build/ts/bench/compare.js [--threads N] [--runs N] [--quick] [--strict] [--python EXE]
 *   node build/ts/bench/compare.js --suite models [...]   the models suite: bench/compare-models.ts
 *   node build/ts/bench/compare.js --suite optim [...]    the optim suite: bench/optim-compare.ts
 *   node build/ts/bench/compare.js --suite tfjs [...]     finetune vs TensorFlow.js: bench/compare-tfjs.ts
 *   node build/ts/bench/compare.js --suite strategies [...]  fine-tuning strategies vs full: bench/compare-strategies.ts
 *   node build/ts/bench/compare.js --suite distributed [...] allreduce and DDP steps vs torch.distributed: bench/compare-distributed.ts
 *
 * Each run starts one process per engine and interleaves short blocks of the same work
 * between them, alternating which goes first, so a noisy machine slows both alike. A run's
 * figure is the median of its blocks; the table shows the median over runs. The JSON with
 * every block goes to bench/results/.
 */
import { availableParallelism } from 'node:os';

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
  torchPythonPath,
  type EngineName,
} from './driver.js';
import { runDistributedSuite } from './compare-distributed.js';
import { runModelsSuite } from './compare-models.js';
import { runOptimSuite } from './optim-compare.js';
import { runStrategiesSuite } from './compare-strategies.js';
import { runTfjsSuite } from './compare-tfjs.js';
import {
  FLOPS_FORMULA,
  MLP,
  PER_OP,
  QUICK_DIVISOR,
  ROUNDS,
  median,
  mlpFlops,
  type EngineInfo,
  type PerOpName,
} from './shared.js';

const OVERHEAD_TARGET = 1.5;
const GFLOPS_TARGET = 0.95;

interface Options {
  threads: number;
  runs: number;
  quick: boolean;
  strict: boolean;
  python: string;
}

const USAGE =
  'usage: compare.js [--suite engine|models|optim|tfjs|strategies|distributed] [--threads N (default: all cores)] [--runs N (default 3)] [--quick] [--strict] [--python EXE]\n' +
  "       compare.js --suite models|optim|tfjs|strategies|distributed --help   that suite's options";

function parseArgs(argv: string[]): Options {
  return parseFlags(argv, USAGE, {
    threads: availableParallelism(),
    runs: 3,
    quick: false,
    strict: false,
    python: process.env.PYTHON ?? 'python3',
  });
}

interface RunResult {
  info: Record<EngineName, EngineInfo>;
  /** µs per op of every block, per workload and engine. */
  perOp: Record<string, Record<EngineName, number[]>>;
  /** ms of every measured MLP step, per engine. */
  mlpStepMs: Record<EngineName, number[]>;
  firstLoss: Record<EngineName, number>;
  /** Average cores kept busy by processes other than the benchmark's own during the run. */
  backgroundCores: number | null;
}

async function run(options: Options, root: string, runIndex: number): Promise<RunResult> {
  const load = new LoadMeter();
  // The same thread settings for both processes; each engine also calls set_num_threads(threads).
  const engines = startEnginePair(
    root,
    options,
    { finetune: 'engine.js', pytorch: 'engine_torch.py' },
    threadEnv(options.threads),
  );
  try {
    const info = {} as Record<EngineName, EngineInfo>;
    for (const name of ENGINES) info[name] = await engines[name].request<EngineInfo>('info');

    const rounds = options.quick ? ROUNDS.quick : ROUNDS.full;
    const names = Object.keys(PER_OP) as PerOpName[];
    const iterations = (name: PerOpName): number =>
      options.quick ? PER_OP[name].iterations / QUICK_DIVISOR : PER_OP[name].iterations;
    const orderFor = (round: number): readonly EngineName[] => engineOrder(round + runIndex);

    // Warm-up: one uncounted block of every workload on each engine.
    for (const name of names)
      for (const engine of ENGINES) await engines[engine].request(`perop ${name} ${iterations(name)}`);
    const perOp: RunResult['perOp'] = {};
    for (const name of names) perOp[name] = { finetune: [], pytorch: [] };
    for (let round = 0; round < rounds.perOp; round++) {
      process.stderr.write(
        `\r[bench] run ${runIndex + 1}/${options.runs}: per-op round ${round + 1}/${rounds.perOp}   `,
      );
      for (const name of names) {
        for (const engine of orderFor(round)) {
          perOp[name][engine].push(
            (await engines[engine].request<{ usPerOp: number }>(`perop ${name} ${iterations(name)}`)).usPerOp,
          );
        }
      }
    }

    // MLP: data creation and warm-up steps (the first mlp command), then interleaved blocks.
    const firstLoss = {} as Record<EngineName, number>;
    for (const engine of ENGINES)
      firstLoss[engine] = (await engines[engine].request<{ firstLoss: number }>('mlp 0')).firstLoss;
    const mlpStepMs: RunResult['mlpStepMs'] = { finetune: [], pytorch: [] };
    for (let round = 0; round < rounds.mlp; round++) {
      process.stderr.write(
        `\r[bench] run ${runIndex + 1}/${options.runs}: MLP round ${round + 1}/${rounds.mlp}       `,
      );
      for (const engine of orderFor(round)) {
        mlpStepMs[engine].push(
          ...(await engines[engine].request<{ stepMs: number[] }>(`mlp ${rounds.mlpStepsPerBlock}`)).stepMs,
        );
      }
    }
    process.stderr.write('\n');

    const backgroundCores = load.stop(ENGINES.map((engine) => engines[engine].cpuSeconds()));
    return { info, perOp, mlpStepMs, firstLoss, backgroundCores };
  } finally {
    for (const engine of ENGINES) await engines[engine].close();
  }
}

// ---- report ------------------------------------------------------------------------------

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const suiteAt = argv.indexOf('--suite');
  if (suiteAt >= 0) {
    const suite = argv[suiteAt + 1];
    argv.splice(suiteAt, 2);
    if (suite === 'models') return runModelsSuite(argv);
    if (suite === 'optim') return runOptimSuite(argv);
    if (suite === 'tfjs') return runTfjsSuite(argv);
    if (suite === 'strategies') return runStrategiesSuite(argv);
    if (suite === 'distributed') return runDistributedSuite(argv);
    if (suite !== 'engine')
      throw new Error(
        `--suite expects 'engine' (the default), 'models', 'optim', 'tfjs', 'strategies' or 'distributed', got ${suite ?? 'nothing'}`,
      );
  }
  const options = parseArgs(argv);
  const root = repoRoot();
  const runs: RunResult[] = [];
  for (let i = 0; i < options.runs; i++) runs.push(await run(options, root, i));

  const { finetune: ft, pytorch: pt } = runs[0].info;
  const warnings = engineMismatchWarnings(runs[0].info, options.threads);
  for (const r of runs) {
    const gap = Math.abs(r.firstLoss.finetune - r.firstLoss.pytorch) / Math.abs(r.firstLoss.pytorch);
    if (!(gap < 1e-4))
      warnings.push(
        `MLP first-step losses differ (finetune ${r.firstLoss.finetune}, PyTorch ${r.firstLoss.pytorch}): not the same work?`,
      );
  }
  const busiest = Math.max(0, ...runs.map((r) => r.backgroundCores ?? 0));
  warnings.push(...backgroundLoadWarnings(busiest, 'a run'));

  const names = Object.keys(PER_OP) as PerOpName[];
  const perOp = names.map((name) => {
    const runMedians = (engine: EngineName): number[] => runs.map((r) => median(r.perOp[name][engine]));
    const finetune = median(runMedians('finetune'));
    const pytorch = median(runMedians('pytorch'));
    const ratio = finetune / pytorch;
    // A robustness check on the ratio: the median over runs of the median ratio of same-round blocks.
    const pairedRatio = median(
      runs.map((r) => median(r.perOp[name].finetune.map((v, i) => v / r.perOp[name].pytorch[i]))),
    );
    return {
      name,
      label: PER_OP[name].label,
      finetune,
      pytorch,
      ratio,
      pairedRatio,
      bestRatio:
        Math.min(...runs.flatMap((r) => r.perOp[name].finetune)) /
        Math.min(...runs.flatMap((r) => r.perOp[name].pytorch)),
      pass: ratio <= OVERHEAD_TARGET,
      runs: { finetune: runMedians('finetune'), pytorch: runMedians('pytorch') },
    };
  });
  const mlpRunMs = (engine: EngineName): number[] => runs.map((r) => median(r.mlpStepMs[engine]));
  const ftMs = median(mlpRunMs('finetune'));
  const ptMs = median(mlpRunMs('pytorch'));
  const flops = mlpFlops();
  const ftGflops = flops / (ftMs * 1e6);
  const ptGflops = flops / (ptMs * 1e6);
  const gflopsRatio = ftGflops / ptGflops;
  // GFLOP/s ratio of the fastest step on each side: less sensitive to a noisy machine.
  const bestGflopsRatio =
    Math.min(...runs.flatMap((r) => r.mlpStepMs.pytorch)) / Math.min(...runs.flatMap((r) => r.mlpStepMs.finetune));
  const mlpPass = gflopsRatio >= GFLOPS_TARGET;
  const allPass = mlpPass && perOp.every((row) => row.pass);

  const rows: string[][] = [
    ['measure', 'finetune', 'PyTorch', 'finetune/PyTorch', 'target', 'result', 'best-block ratio'],
  ];
  for (const row of perOp) {
    rows.push([
      `µs/op: ${row.label}`,
      fmt(row.finetune, 3),
      fmt(row.pytorch, 3),
      `${fmt(row.ratio, 2)}×`,
      `≤ ${OVERHEAD_TARGET}×`,
      row.pass ? 'pass' : 'FAIL',
      `${fmt(row.bestRatio, 2)}×`,
    ]);
  }
  rows.push(['MLP fwd+bwd step, ms/step', fmt(ftMs, 1), fmt(ptMs, 1), `${fmt(ftMs / ptMs, 2)}×`, '', '', '']);
  rows.push([
    'MLP fwd+bwd step, GFLOP/s',
    fmt(ftGflops, 1),
    fmt(ptGflops, 1),
    `${fmt(gflopsRatio, 3)}×`,
    `≥ ${GFLOPS_TARGET}×`,
    mlpPass ? 'pass' : 'FAIL',
    `${fmt(bestGflopsRatio, 3)}×`,
  ]);

  const git = gitState(root);
  const built = addonBuilt(root);
  const pythonPath = torchPythonPath(root);
  const machine = machineInfo();
  const command = ['node build/ts/bench/compare.js', ...process.argv.slice(2)].join(' ');
  const rounds = options.quick ? ROUNDS.quick : ROUNDS.full;

  console.log(
    `engine benchmark: finetune (${ft.runtime}) vs PyTorch (${pt.runtime}), libtorch ${ft.torchVersion}, ${options.threads} threads`,
  );
  console.log(machineLine(machine));
  console.log(`${buildLine(git, built)}; PyTorch from ${pythonPath ?? 'the default python path'}`);
  console.log(
    `method: ${options.runs} runs; each run interleaves ${rounds.perOp} per-op blocks and ${rounds.mlp}×${rounds.mlpStepsPerBlock} MLP steps per engine` +
      ' (after warm-up); run figure = median of its blocks, table = median over runs',
  );
  console.log(`per-op: 1-element float32 tensors, ops as user code; mixed loop = ${PER_OP.mixed_tidy.pytorch}`);
  console.log(
    `MLP: x[${MLP.batch},${MLP.dIn}] (requires grad) → linear ${MLP.dIn}→${MLP.dHidden} → GELU → linear ${MLP.dHidden}→${MLP.dIn} → MSE, backward, grads = null`,
  );
  console.log(`FLOPs per step = ${FLOPS_FORMULA} = ${(flops / 1e9).toFixed(2)} GFLOP`);
  console.log('');
  console.log(table(rows));
  console.log('');
  const background = runs.map((r) => (r.backgroundCores === null ? '?' : r.backgroundCores.toFixed(2))).join(', ');
  console.log(`background load (cores busy outside the benchmark), per run: ${background}`);
  for (const warning of warnings) console.log(`warning: ${warning}`);
  console.log(
    'best-block ratio: the same ratio from the fastest block (step) of each side over all runs, a check against machine noise',
  );
  console.log(`targets: ${allPass ? 'all met' : 'NOT all met'}`);

  const date = new Date().toISOString();
  const record = {
    date,
    command,
    machine,
    git,
    addonBuilt: built,
    torchPythonPath: pythonPath ?? null,
    options,
    engines: runs[0].info,
    flopsFormula: FLOPS_FORMULA,
    flopsPerStep: flops,
    targets: { overheadRatioMax: OVERHEAD_TARGET, gflopsRatioMin: GFLOPS_TARGET },
    summary: {
      perOp,
      mlp: {
        finetuneMs: ftMs,
        pytorchMs: ptMs,
        finetuneGflops: ftGflops,
        pytorchGflops: ptGflops,
        gflopsRatio,
        bestGflopsRatio,
        pass: mlpPass,
        runs: { finetune: mlpRunMs('finetune'), pytorch: mlpRunMs('pytorch') },
      },
      allPass,
      warnings,
    },
    runs,
  };
  saveResults(root, 'engine', record);
  if (options.strict && !allPass) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
