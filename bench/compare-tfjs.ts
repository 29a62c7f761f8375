/**
 * The TensorFlow.js suite: the same training steps in finetune (bench/tfjs-finetune.ts) and in
 * TensorFlow.js (bench/tfjs.ts, the cpu and wasm backends), on the same numbers.
 *
 *   node build/ts/bench/compare.js --suite tfjs [--workloads mlp,transformer] [--engines LIST] [--threads N]
 *                                               [--runs N (default 1)] [--quick] [--strict]
 *
 * Per workload and run, a fresh process per engine (finetune at N threads, finetune at 1 thread,
 * tfjs-cpu, tfjs-wasm — see bench/tfjs-shared.ts): each builds the workload from the shared seeded
 * generator and runs its warm-up steps, then the driver interleaves blocks of steps between the
 * engines, rotating which goes first, and reads each process's peak RSS at the end. A run's figure
 * is the median step; the table the median over runs. The first-step losses must agree (the same
 * numbers in, the same math). The JSON with every step goes to bench/results/tfjs-<date>.json.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import {
  Engine,
  LoadMeter,
  addonBuilt,
  backgroundLoadWarnings,
  buildLine,
  checkChoices,
  fmt,
  gitState,
  machineInfo,
  machineLine,
  parseFlags,
  repoRoot,
  saveResults,
  table,
  threadEnv,
} from './driver.js';
import { median } from './shared.js';
import { ensureTfjs } from './tfjs-api.js';
import {
  TFJS_ENGINES,
  TFJS_QUICK,
  TFJS_WORKLOADS,
  type TfjsEngineName,
  type TfjsInfo,
  type TfjsSetupReply,
  type TfjsSetupRequest,
  type TfjsWorkloadName,
} from './tfjs-shared.js';

/** The issue's target: finetune's training step at least 50× TensorFlow.js's throughput. */
const SPEEDUP_TARGET = 50;
const MiB = 1024;

interface Options {
  workloads: TfjsWorkloadName[];
  engines: TfjsEngineName[];
  threads: number;
  runs: number;
  quick: boolean;
  strict: boolean;
}

const USAGE =
  `usage: compare.js --suite tfjs [--workloads ${Object.keys(TFJS_WORKLOADS).join(',')}] [--engines ${TFJS_ENGINES.join(',')}]\n` +
  '                  [--threads N (default: all cores)] [--runs N (default 1)] [--quick] [--strict]';

function parseArgs(argv: string[]): Options {
  const defaults: Options = {
    workloads: Object.keys(TFJS_WORKLOADS) as TfjsWorkloadName[],
    engines: [...TFJS_ENGINES],
    threads: availableParallelism(),
    runs: 1,
    quick: false,
    strict: false,
  };
  const options = parseFlags(argv, USAGE, defaults, {
    '--workloads': ['workloads', 'list'],
    '--engines': ['engines', 'list'],
  });
  checkChoices('workload', options.workloads, Object.keys(TFJS_WORKLOADS));
  checkChoices('engine', options.engines, TFJS_ENGINES);
  if (!options.engines.includes('finetune'))
    throw new Error('--engines must include finetune (the ratios are against it)');
  return options;
}

function schedule(
  workload: TfjsWorkloadName,
  quick: boolean,
): { warmupSteps: number; rounds: number; finetuneSteps: number; tfjsSteps: number } {
  const spec = TFJS_WORKLOADS[workload];
  return quick
    ? TFJS_QUICK
    : {
        warmupSteps: spec.warmupSteps,
        rounds: spec.rounds,
        finetuneSteps: spec.finetuneSteps,
        tfjsSteps: spec.tfjsSteps,
      };
}

function startEngine(name: TfjsEngineName, root: string, threads: number): Engine {
  const script = (file: string) => join(root, 'build', 'ts', 'bench', file);
  switch (name) {
    case 'finetune':
      return new Engine(
        name,
        process.execPath,
        [script('tfjs-finetune.js'), '--threads', String(threads), '--serve'],
        threadEnv(threads),
        root,
      );
    case 'finetune-1t':
      return new Engine(
        name,
        process.execPath,
        [script('tfjs-finetune.js'), '--threads', '1', '--serve'],
        threadEnv(1),
        root,
      );
    case 'tfjs-cpu':
      return new Engine(name, process.execPath, [script('tfjs.js'), '--backend', 'cpu', '--serve'], process.env, root);
    case 'tfjs-wasm':
      return new Engine(name, process.execPath, [script('tfjs.js'), '--backend', 'wasm', '--serve'], process.env, root);
  }
}

interface WorkloadRun {
  workload: TfjsWorkloadName;
  info: Partial<Record<TfjsEngineName, TfjsInfo>>;
  setup: Partial<Record<TfjsEngineName, TfjsSetupReply>>;
  stepMs: Partial<Record<TfjsEngineName, number[]>>;
  hwmKb: Partial<Record<TfjsEngineName, number>>;
  backgroundCores: number | null;
  seconds: number;
}

async function runWorkload(
  options: Options,
  root: string,
  workload: TfjsWorkloadName,
  runIndex: number,
): Promise<WorkloadRun> {
  const wallStart = performance.now();
  const load = new LoadMeter();
  const engines = new Map(options.engines.map((name) => [name, startEngine(name, root, options.threads)] as const));
  const progress = (what: string) =>
    process.stderr.write(`\r[bench] run ${runIndex + 1}/${options.runs}, ${workload}: ${what}`.padEnd(78));
  const order = (round: number): TfjsEngineName[] => {
    const names = [...engines.keys()];
    const k = round % names.length;
    return [...names.slice(k), ...names.slice(0, k)];
  };
  try {
    const { warmupSteps, rounds, finetuneSteps, tfjsSteps } = schedule(workload, options.quick);
    const request: TfjsSetupRequest = { workload, warmupSteps, seed: 0 };
    const run: WorkloadRun = {
      workload,
      info: {},
      setup: {},
      stepMs: {},
      hwmKb: {},
      backgroundCores: null,
      seconds: 0,
    };
    for (const [name, engine] of engines) run.info[name] = await engine.request<TfjsInfo>('info');
    for (const name of order(runIndex)) {
      progress(`${name}: setup and ${warmupSteps} warm-up step(s)`);
      run.setup[name] = await engines.get(name)!.request<TfjsSetupReply>(`setup ${JSON.stringify(request)}`);
      run.stepMs[name] = [];
    }
    for (let round = 0; round < rounds; round++) {
      for (const name of order(round + runIndex)) {
        progress(`round ${round + 1}/${rounds}, ${name}`);
        const steps = name.startsWith('finetune') ? finetuneSteps : tfjsSteps;
        run.stepMs[name]!.push(...(await engines.get(name)!.request<{ stepMs: number[] }>(`steps ${steps}`)).stepMs);
      }
    }
    for (const [name, engine] of engines) run.hwmKb[name] = (await engine.request<{ hwmKb: number }>('memory')).hwmKb;
    run.backgroundCores = load.stop([...engines.values()].map((e) => e.cpuSeconds()));
    run.seconds = (performance.now() - wallStart) / 1000;
    return run;
  } finally {
    for (const engine of engines.values()) await engine.close();
  }
}

export async function runTfjsSuite(argv: string[]): Promise<void> {
  const options = parseArgs(argv);
  const root = repoRoot();
  if (options.engines.some((name) => name.startsWith('tfjs')))
    ensureTfjs(root, (line) => process.stderr.write(`${line}\n`));
  const started = performance.now();
  const runs: WorkloadRun[][] = [];
  for (let r = 0; r < options.runs; r++) {
    const run: WorkloadRun[] = [];
    for (const workload of options.workloads) run.push(await runWorkload(options, root, workload, r));
    runs.push(run);
  }
  process.stderr.write('\n');
  const totalSeconds = (performance.now() - started) / 1000;
  const warnings: string[] = [];
  const engines = options.engines;
  const others = engines.filter((e) => e !== 'finetune');

  const summary = options.workloads.map((workload, i) => {
    const perRun = runs.map((run) => run[i]);
    const spec = TFJS_WORKLOADS[workload];
    const ms = Object.fromEntries(engines.map((e) => [e, median(perRun.map((r) => median(r.stepMs[e]!)))])) as Record<
      TfjsEngineName,
      number
    >;
    const best = Object.fromEntries(
      engines.map((e) => [e, Math.min(...perRun.flatMap((r) => r.stepMs[e]!))]),
    ) as Record<TfjsEngineName, number>;
    const peakKb = Object.fromEntries(engines.map((e) => [e, Math.max(...perRun.map((r) => r.hwmKb[e]!))])) as Record<
      TfjsEngineName,
      number
    >;
    const firstLoss = Object.fromEntries(engines.map((e) => [e, perRun[0].setup[e]!.firstLoss])) as Record<
      TfjsEngineName,
      number
    >;
    const params = Object.fromEntries(engines.map((e) => [e, perRun[0].setup[e]!.params])) as Record<
      TfjsEngineName,
      number
    >;
    for (const e of others) {
      const gap = Math.abs(firstLoss[e] - firstLoss.finetune) / Math.abs(firstLoss.finetune);
      if (!(gap < 1e-3))
        warnings.push(
          `${workload}: first-step losses differ (finetune ${firstLoss.finetune}, ${e} ${firstLoss[e]}): not the same work?`,
        );
      if (params[e] !== params.finetune)
        warnings.push(`${workload}: trainable elements differ (finetune ${params.finetune}, ${e} ${params[e]})`);
    }
    // Speed-ups: how many TF.js steps' time one finetune step takes (a throughput ratio).
    const speedup = Object.fromEntries(others.map((e) => [e, ms[e] / ms.finetune])) as Record<TfjsEngineName, number>;
    const bestSpeedup = Object.fromEntries(others.map((e) => [e, best[e] / best.finetune])) as Record<
      TfjsEngineName,
      number
    >;
    return {
      workload,
      label: spec.label,
      step: spec.step,
      flops: spec.flops,
      ms,
      best,
      peakKb,
      firstLoss,
      params,
      speedup,
      bestSpeedup,
    };
  });
  const busiest = Math.max(0, ...runs.flat().map((r) => r.backgroundCores ?? 0));
  warnings.push(...backgroundLoadWarnings(busiest, "a workload's run"));

  // Targets: finetune (N threads) against each TF.js backend.
  const targetRows = summary.flatMap((s) =>
    others
      .filter((e) => e.startsWith('tfjs'))
      .map((e) => ({ workload: s.workload, engine: e, speedup: s.speedup[e], pass: s.speedup[e] >= SPEEDUP_TARGET })),
  );
  const allPass = targetRows.every((r) => r.pass);

  const speedRows: string[][] = [
    [
      'workload',
      'engine',
      'threads',
      'ms/step',
      'GFLOP/s',
      "step ÷ finetune's",
      'target',
      'result',
      'best steps ratio',
      'peak RSS MiB',
    ],
  ];
  const info = runs[0][0].info;
  for (const s of summary) {
    for (const e of engines) {
      const isTarget = e.startsWith('tfjs');
      speedRows.push([
        s.label,
        e,
        String(info[e]?.threads ?? '?'),
        fmt(s.ms[e], s.ms[e] < 100 ? 1 : 0),
        fmt(s.flops / (s.ms[e] * 1e6), 2),
        e === 'finetune' ? '1×' : `${fmt(s.speedup[e], s.speedup[e] < 1 ? 2 : 1)}×`,
        isTarget ? `≥ ${SPEEDUP_TARGET}×` : '',
        isTarget ? (s.speedup[e] >= SPEEDUP_TARGET ? 'pass' : 'FAIL') : '',
        e === 'finetune' ? '' : `${fmt(s.bestSpeedup[e], s.bestSpeedup[e] < 1 ? 2 : 1)}×`,
        fmt(s.peakKb[e] / MiB, 0),
      ]);
    }
  }
  // The per-core comparison: finetune on one thread against TF.js (which runs on one).
  const perCore = engines.includes('finetune-1t')
    ? summary.flatMap((s) =>
        others
          .filter((e) => e.startsWith('tfjs'))
          .map((e) => `${s.workload} vs ${e} ${fmt(s.ms[e] / s.ms['finetune-1t'], 1)}×`),
      )
    : [];

  const git = gitState(root);
  const machine = machineInfo();
  const command = ['node build/ts/bench/compare.js --suite tfjs', ...argv].join(' ');
  console.log(
    `TensorFlow.js benchmark: finetune (${info.finetune?.library}, ${options.threads} threads) vs ${others.map((e) => `${e} (${info[e]?.library})`).join(', ')}; ${info.finetune?.runtime}`,
  );
  console.log(machineLine(machine));
  console.log(buildLine(git, addonBuilt(root)));
  for (const s of summary) {
    const { warmupSteps, rounds, finetuneSteps, tfjsSteps } = schedule(s.workload, options.quick);
    console.log(
      `  ${s.workload}: ${s.step}; ${(s.flops / 1e9).toFixed(2)} GFLOP of matmuls per step; ${warmupSteps} warm-up, ${rounds} rounds of ${finetuneSteps} (finetune) / ${tfjsSteps} (TF.js) steps`,
    );
  }
  console.log(
    `method: ${options.runs} run(s); per workload and run a fresh process per engine, steps interleaved; table = median step over runs (peak RSS: max)`,
  );
  console.log('');
  console.log(table(speedRows));
  console.log('');
  if (perCore.length)
    console.log(`per core (finetune on 1 thread; TF.js in Node computes on one): ${perCore.join(', ')}`);
  const losses = summary
    .map((s) => `${s.workload} ${engines.map((e) => `${e} ${s.firstLoss[e].toFixed(5)}`).join(', ')}`)
    .join('; ');
  console.log(`first-step losses (the same numbers in every engine): ${losses}`);
  const loads = runs
    .map((run) =>
      run.map((r) => `${r.workload} ${r.backgroundCores === null ? '?' : r.backgroundCores.toFixed(2)}`).join(', '),
    )
    .join('; ');
  console.log(`background load (cores busy outside the benchmark), per workload run: ${loads}`);
  for (const warning of warnings) console.log(`warning: ${warning}`);
  console.log(
    `step ÷ finetune's: the engine's median step time over finetune's (${options.threads} threads), i.e. finetune's speed-up over it; best steps ratio: the same from the fastest step of each`,
  );
  console.log(
    `targets (finetune ≥ ${SPEEDUP_TARGET}× each TF.js backend): ${allPass ? 'all met' : 'NOT all met'}; total ${fmt(totalSeconds, 0)} s`,
  );

  const date = new Date().toISOString();
  const record = {
    date,
    command,
    machine,
    git,
    addonBuilt: addonBuilt(root),
    options,
    targets: { speedupMin: SPEEDUP_TARGET },
    summary: { workloads: summary, targetRows, allPass, warnings, totalSeconds },
    runs,
  };
  saveResults(root, 'tfjs', record);
  if (options.strict && !allPass) process.exitCode = 1;
}
