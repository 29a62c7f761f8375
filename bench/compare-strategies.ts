/**
 * The strategies suite: what each fine-tuning strategy costs per training step, in time and peak
 * memory, relative to full fine-tuning — in finetune, on bert-base and (for the strategies that
 * apply to CNNs) resnet50.
 *
 *   node build/ts/bench/compare.js --suite strategies [--models bert-base,resnet50] [--strategies LIST]
 *                                                     [--threads N] [--quick] [--no-optimizer]
 *
 * Per model, one fresh process trains with full fine-tuning for the whole model's run (the
 * reference); every other strategy gets a fresh process of its own (bench/strategies.ts), so each
 * process's peak RSS (VmHWM) is its strategy's alone. After both have run their warm-up steps, the
 * driver interleaves single steps of the strategy's process and the reference, alternating which
 * goes first, so a busy machine slows both alike: the step ratio is the median of the ratios of
 * steps run back to back. The step includes AdamW over the trainable parameters (its state is part
 * of the peak) unless --no-optimizer. Every step goes to bench/results/strategies-<date>.json.
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
import {
  STRATEGIES,
  STRATEGIES_QUICK,
  STRATEGY_LABELS,
  STRATEGY_MODELS,
  strategyApplies,
  type StrategyModelName,
  type StrategyName,
  type StrategySetup,
} from './strategies-shared.js';

const MiB = 1024;

interface Options {
  models: StrategyModelName[];
  strategies: StrategyName[];
  threads: number;
  quick: boolean;
  optimizer: boolean;
}

const USAGE =
  `usage: compare.js --suite strategies [--models ${Object.keys(STRATEGY_MODELS).join(',')}] [--strategies ${STRATEGIES.join(',')}]\n` +
  '                  [--threads N (default: all cores)] [--quick] [--no-optimizer]';

function parseArgs(argv: string[]): Options {
  const defaults: Options = {
    models: Object.keys(STRATEGY_MODELS) as StrategyModelName[],
    strategies: [...STRATEGIES],
    threads: availableParallelism(),
    quick: false,
    optimizer: true,
  };
  const options = parseFlags(argv, USAGE, defaults, {
    '--models': ['models', 'list'],
    '--strategies': ['strategies', 'list'],
    '--no-optimizer': ['optimizer', 'off'],
  });
  checkChoices('model', options.models, Object.keys(STRATEGY_MODELS));
  checkChoices('strategy', options.strategies, STRATEGIES);
  return options;
}

interface SetupReply {
  trainable: number;
  total: number;
  detail: string;
  firstLoss: number;
  setupMs: number;
  warmupMs: number[];
  rssKb: number;
  hwmKb: number;
}

interface StepsReply {
  stepMs: number[];
  minorFaults: number;
  systemSeconds: number;
}

interface StrategyRun {
  strategy: StrategyName;
  setup: SetupReply;
  stepMs: number[];
  /** The reference (full) process's steps interleaved with these. */
  fullStepMs: number[];
  hwmKb: number;
  minorFaults: number;
  backgroundCores: number | null;
  seconds: number;
}

interface ModelRun {
  model: StrategyModelName;
  info: { runtime: string; torchVersion: string; threads: number; rssKb: number };
  full: { setup: SetupReply; hwmKb: number; stepMs: number[] };
  strategies: StrategyRun[];
  notApplicable: { strategy: StrategyName; reason: string }[];
}

function start(root: string, threads: number): Engine {
  return new Engine(
    'strategy',
    process.execPath,
    [join(root, 'build', 'ts', 'bench', 'strategies.js'), '--threads', String(threads), '--serve'],
    threadEnv(threads),
    root,
  );
}

async function runModel(options: Options, root: string, model: StrategyModelName): Promise<ModelRun> {
  const spec = STRATEGY_MODELS[model];
  const { warmupSteps, rounds } = options.quick
    ? STRATEGIES_QUICK
    : { warmupSteps: spec.warmupSteps, rounds: spec.rounds };
  const request = (strategy: StrategyName): string =>
    `setup ${JSON.stringify({ model, strategy, warmupSteps, seed: 0, optimizer: options.optimizer } satisfies StrategySetup)}`;
  const progress = (what: string) => process.stderr.write(`\r[bench] ${model}: ${what}`.padEnd(78));
  const reference = start(root, options.threads);
  const notApplicable = options.strategies
    .filter((s) => !strategyApplies(model, s))
    .map((s) => ({ strategy: s, reason: (spec.notApplicable as Partial<Record<StrategyName, string>>)[s]! }));
  try {
    const info = await reference.request<ModelRun['info']>('info');
    progress(`full (reference): setup and ${warmupSteps} warm-up step(s)`);
    const fullSetup = await reference.request<SetupReply>(request('full'));
    const fullSteps: number[] = [];
    const runs: StrategyRun[] = [];
    for (const strategy of options.strategies.filter((s) => s !== 'full' && strategyApplies(model, s))) {
      const wallStart = performance.now();
      const load = new LoadMeter();
      const referenceCpuBefore = reference.cpuSeconds();
      const engine = start(root, options.threads);
      try {
        await engine.request('info');
        progress(`${strategy}: setup and ${warmupSteps} warm-up step(s)`);
        const setup = await engine.request<SetupReply>(request(strategy));
        const run: StrategyRun = {
          strategy,
          setup,
          stepMs: [],
          fullStepMs: [],
          hwmKb: 0,
          minorFaults: 0,
          backgroundCores: null,
          seconds: 0,
        };
        for (let round = 0; round < rounds; round++) {
          progress(`${strategy}: round ${round + 1}/${rounds}`);
          const pair = (round + runs.length) % 2 === 0 ? [engine, reference] : [reference, engine];
          for (const e of pair) {
            const reply = await e.request<StepsReply>('steps 1');
            if (e === engine) {
              run.stepMs.push(...reply.stepMs);
              run.minorFaults += reply.minorFaults;
            } else run.fullStepMs.push(...reply.stepMs);
          }
        }
        run.hwmKb = (await engine.request<{ hwmKb: number }>('memory')).hwmKb;
        const referenceCpu = reference.cpuSeconds();
        run.backgroundCores = load.stop([
          engine.cpuSeconds(),
          referenceCpu === undefined || referenceCpuBefore === undefined
            ? undefined
            : referenceCpu - referenceCpuBefore,
        ]);
        run.seconds = (performance.now() - wallStart) / 1000;
        fullSteps.push(...run.fullStepMs);
        runs.push(run);
      } finally {
        await engine.close();
      }
    }
    // With only full asked for, the reference still runs some steps of its own.
    if (runs.length === 0) fullSteps.push(...(await reference.request<StepsReply>(`steps ${rounds}`)).stepMs);
    const fullHwm = (await reference.request<{ hwmKb: number }>('memory')).hwmKb;
    return {
      model,
      info,
      full: { setup: fullSetup, hwmKb: fullHwm, stepMs: fullSteps },
      strategies: runs,
      notApplicable,
    };
  } finally {
    await reference.close();
  }
}

export async function runStrategiesSuite(argv: string[]): Promise<void> {
  const options = parseArgs(argv);
  const root = repoRoot();
  const started = performance.now();
  const results: ModelRun[] = [];
  for (const model of options.models) results.push(await runModel(options, root, model));
  process.stderr.write('\n');
  const totalSeconds = (performance.now() - started) / 1000;
  const warnings: string[] = [];

  const summaries = results.map((r) => {
    const fullMs = median(r.full.stepMs);
    const rows = [
      {
        strategy: 'full' as StrategyName,
        trainable: r.full.setup.trainable,
        total: r.full.setup.total,
        detail: r.full.setup.detail,
        ms: fullMs,
        stepRatio: 1,
        peakKb: r.full.hwmKb,
        rssRatio: 1,
        growthRatio: 1,
        faultsPerStep: null as number | null,
        backgroundCores: null as number | null,
      },
      ...r.strategies.map((s) => ({
        strategy: s.strategy,
        trainable: s.setup.trainable,
        total: s.setup.total,
        detail: s.setup.detail,
        ms: median(s.stepMs),
        // Paired: each step against the reference step run next to it.
        stepRatio: median(s.stepMs.map((ms, i) => ms / s.fullStepMs[i])),
        peakKb: s.hwmKb,
        rssRatio: s.hwmKb / r.full.hwmKb,
        growthRatio: (s.hwmKb - r.info.rssKb) / (r.full.hwmKb - r.info.rssKb),
        faultsPerStep: s.minorFaults / s.stepMs.length,
        backgroundCores: s.backgroundCores,
      })),
    ];
    return {
      model: r.model,
      label: STRATEGY_MODELS[r.model].label,
      rows,
      notApplicable: r.notApplicable,
      baseRssKb: r.info.rssKb,
    };
  });
  const busiest = Math.max(0, ...results.flatMap((r) => r.strategies.map((s) => s.backgroundCores ?? 0)));
  warnings.push(...backgroundLoadWarnings(busiest, "a strategy's run"));

  const git = gitState(root);
  const machine = machineInfo();
  const info = results[0]?.info;
  const command = ['node build/ts/bench/compare.js --suite strategies', ...argv].join(' ');
  console.log(
    `strategies benchmark: finetune (${info?.runtime}, libtorch ${info?.torchVersion}, ${options.threads} threads), float32, train mode`,
  );
  console.log(machineLine(machine));
  console.log(buildLine(git, addonBuilt(root)));
  console.log(
    `step: forward → cross entropy → backward → ${options.optimizer ? 'AdamW step over the trainable parameters (fused) → ' : ''}grads = null; ` +
      `per strategy a fresh process, steps interleaved with a full fine-tuning process (${options.quick ? `${STRATEGIES_QUICK.warmupSteps} warm-up, ${STRATEGIES_QUICK.rounds} round(s)` : 'see STRATEGY_MODELS'})`,
  );
  for (const s of summaries) {
    console.log('');
    console.log(`${s.label}:`);
    const rows: string[][] = [
      ['strategy', 'trainable', '%', 'ms/step', 'step × full', 'peak RSS MiB', 'RSS × full', 'growth × full', 'load'],
    ];
    for (const row of s.rows) {
      rows.push([
        STRATEGY_LABELS[row.strategy],
        row.trainable.toLocaleString('en-US'),
        fmt((100 * row.trainable) / row.total, 2),
        fmt(row.ms, 0),
        `${fmt(row.stepRatio, 2)}×`,
        fmt(row.peakKb / MiB, 0),
        `${fmt(row.rssRatio, 2)}×`,
        `${fmt(row.growthRatio, 2)}×`,
        row.backgroundCores === null ? '' : fmt(row.backgroundCores, 2),
      ]);
    }
    console.log(table(rows));
    for (const row of s.rows) console.log(`  ${STRATEGY_LABELS[row.strategy]}: ${row.detail}`);
    for (const na of s.notApplicable) console.log(`  ${STRATEGY_LABELS[na.strategy]}: n/a — ${na.reason}`);
  }
  console.log('');
  console.log(
    'step × full: median of (strategy step / the full fine-tuning step run next to it); RSS × full: peak RSS (VmHWM) ratio;',
  );
  console.log(
    `growth × full: (peak − ${fmt((summaries[0]?.baseRssKb ?? 0) / MiB, 0)} MiB at start) ratio; load: cores kept busy by other processes during the strategy's run`,
  );
  for (const warning of warnings) console.log(`warning: ${warning}`);
  console.log(`total ${fmt(totalSeconds, 0)} s`);

  const date = new Date().toISOString();
  saveResults(root, 'strategies', {
    date,
    command,
    machine,
    git,
    addonBuilt: addonBuilt(root),
    options,
    summary: { models: summaries, warnings, totalSeconds },
    results,
  });
}
