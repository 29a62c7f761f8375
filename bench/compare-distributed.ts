/**
 * The distributed suite: finetune's process groups and DistributedDataParallel (bench/distributed.ts)
 * against torch.distributed and torch's DDP (bench/distributed_torch.py), both on gloo, on the same
 * libtorch, in one run.
 *
 *   node build/ts/bench/compare.js --suite distributed [--quick] [--nproc N] [--sizes 1,16,100]
 *                                  [--models bert-base-lora,resnet50] [--groups N] [--keep-cpus-awake] [--strict]
 *                                  [--python EXE]
 *
 * (a) allreduce: N ranks of each engine (1 thread each) allReduce(SUM) float32 tensors of 1, 16 and 100 MB;
 *     a call's time is the slowest rank's; median ms and GB/s (bytes / time) per engine. A group keeps a fast
 *     or a slow mode for its life (small sizes, either engine), so the pooled median flips with the share of
 *     fast groups drawn; the group-mean ratio (mean of the groups' medians, PyTorch's over finetune's) with a
 *     95% bootstrap interval over paired groups is the estimate that converges as --groups grows. The slow
 *     calls are waits for a halted vCPU (CpuWaker in driver.ts); --keep-cpus-awake runs the allreduce with
 *     one SCHED_IDLE spinner per core, which keeps the vCPUs from halting and takes no time from the engines.
 * (b) DDP training step of bert-base + LoRA and resnet50: N ranks × 1 thread, each rank its own batch, in
 *     DDP on each side; and, for what the communication costs, 1 process × N threads on the same global
 *     batch without DDP. A step's time is the slowest rank's; median ms per engine and layout.
 * Every worker is a process started with torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
 * LOCAL_RANK, LOCAL_WORLD_SIZE), as `finetune launch` starts them. Each workload starts a group of workers
 * per engine; the driver then interleaves blocks between the two groups (which goes first alternating), so a
 * noisy machine slows both alike; the idle group waits on its stdin. The JSON with every call and step goes
 * to bench/results/distributed-<date>.json. Full run: about 5–6 minutes on 2 idle cores (17 under heavy load);
 * --quick (smaller inputs, fewer steps: for development): about 1 (3–4 under load).
 */
import { createServer } from 'node:net';
import { join } from 'node:path';

import {
  CpuWaker,
  ENGINES,
  Engine,
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
  table,
  threadEnv,
  torchPythonPath,
  withPythonPath,
  type EngineName,
} from './driver.js';
import {
  ALLREDUCE,
  DDP_MODELS,
  DDP_MODEL_NAMES,
  DDP_SCHEDULE,
  type DdpModelName,
  type DdpSetup,
} from './distributed-shared.js';
import { pyrefPath } from './compare-models.js';
import { median } from './shared.js';

const THROUGHPUT_TARGET = 0.95; // finetune's GB/s and steps/s ≥ 0.95 × PyTorch's
const MB = 1e6;

interface Options {
  nproc: number;
  sizes: number[];
  models: DdpModelName[];
  quick: boolean;
  strict: boolean;
  python: string;
  /** Fresh groups per engine for the allreduce (default: the schedule's). */
  groups?: number;
  /** The allreduce with a CpuWaker running (one SCHED_IDLE spinner per core). */
  keepCpusAwake: boolean;
}

const USAGE =
  'usage: compare.js --suite distributed [--quick] [--nproc N (default 2)] [--sizes MB,… (default 1,16,100; empty: none)]\n' +
  `                  [--models ${DDP_MODEL_NAMES.join(',')} (default: both; empty: none)] [--groups N (allreduce groups per engine)]\n` +
  '                  [--keep-cpus-awake (allreduce: a SCHED_IDLE spinner per core keeps vCPUs from halting)] [--strict] [--python EXE]';

function parseArgs(argv: string[]): Options {
  const defaults: Options = {
    nproc: 2,
    sizes: ALLREDUCE.sizesMb,
    models: [...DDP_MODEL_NAMES],
    quick: false,
    strict: false,
    python: process.env.PYTHON ?? 'python3',
    keepCpusAwake: false,
  };
  const options = parseFlags(argv, USAGE, defaults, {
    '--keep-cpus-awake': ['keepCpusAwake', 'on'],
    '--nproc': ['nproc', 'count'],
    '--sizes': ['sizes', 'numbers'],
    '--models': ['models', 'list'],
    '--groups': ['groups', 'count'],
  });
  checkChoices('model', options.models, DDP_MODEL_NAMES);
  for (const mb of options.sizes) if (!(mb > 0)) throw new Error(`--sizes expects sizes in MB > 0, got ${mb}`);
  return options;
}

/** A TCP port free on 127.0.0.1 now, for a group's store. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

interface WorkerInfo {
  engine: EngineName;
  runtime: string;
  torchVersion: string;
  threads: number;
  rank: number;
  worldSize: number;
}

/** One engine's workers of one process group: `worldSize` processes of `threads` threads, ranks 0 … worldSize-1. */
class WorkerGroup {
  readonly workers: Engine[];

  private constructor(workers: Engine[]) {
    this.workers = workers;
  }

  static async start(engine: EngineName, root: string, options: Options, worldSize: number, threads: number) {
    const port = await freePort();
    const workers = Array.from({ length: worldSize }, (_, rank) => {
      const env = {
        ...threadEnv(threads),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        RANK: String(rank),
        WORLD_SIZE: String(worldSize),
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: String(worldSize),
      };
      const flags = ['--threads', String(threads), '--serve'];
      return engine === 'finetune'
        ? new Engine(
            `finetune rank ${rank}`,
            process.execPath,
            [join(root, 'build', 'ts', 'bench', 'distributed.js'), ...flags],
            env,
            root,
          )
        : new Engine(
            `pytorch rank ${rank}`,
            options.python,
            [join(root, 'bench', 'distributed_torch.py'), ...flags],
            // transformers, peft and torchvision (tools/setup-pyref.sh) only where a model is built
            withPythonPath(env, [torchPythonPath(root), options.models.length > 0 ? pyrefPath(root) : undefined]),
            root,
          );
    });
    return new WorkerGroup(workers);
  }

  /** Sends `line` to every rank at once (a collective needs them all); their replies in rank order. */
  all<T>(line: string): Promise<T[]> {
    return Promise.all(this.workers.map((w) => w.request<T>(line)));
  }

  cpuSeconds(): (number | undefined)[] {
    return this.workers.map((w) => w.cpuSeconds());
  }

  /** Quits every rank; after a failure kills them instead (the others may wait in a collective for the failed one). */
  async close(failed: boolean): Promise<void> {
    if (failed) for (const w of this.workers) w.child.kill('SIGKILL');
    else await Promise.all(this.workers.map((w) => w.close()));
  }
}

/** PyTorch's fastest time over finetune's: on a noisy machine, the steadier estimate of the intrinsic ratio. */
function fastestRatio(times: Record<EngineName, number[]>): number {
  return Math.min(...times.pytorch) / Math.min(...times.finetune);
}

/** Per call (step) index, the slowest rank's time: a collective ends when its last rank is done. */
function slowestRank(perRank: number[][]): number[] {
  return perRank[0].map((_, i) => Math.max(...perRank.map((ms) => ms[i])));
}

interface Phase<T> {
  info: Record<EngineName, WorkerInfo>;
  result: T;
  backgroundCores: number | null;
}

/** Starts a group per engine, runs `work` on them, and closes them (killing them after a failure). */
async function withGroups<T>(
  root: string,
  options: Options,
  worldSize: number,
  threads: number,
  work: (groups: Record<EngineName, WorkerGroup>) => Promise<T>,
  waker?: CpuWaker,
): Promise<Phase<T>> {
  const load = new LoadMeter();
  const wakerBefore = waker?.cpuSeconds() ?? 0;
  const groups = {
    finetune: await WorkerGroup.start('finetune', root, options, worldSize, threads),
    pytorch: await WorkerGroup.start('pytorch', root, options, worldSize, threads),
  };
  let failed = true;
  try {
    const info = {} as Record<EngineName, WorkerInfo>;
    for (const engine of ENGINES) info[engine] = (await groups[engine].all<WorkerInfo>('info'))[0];
    const result = await work(groups);
    const backgroundCores = load.stop(
      ENGINES.flatMap((engine) => groups[engine].cpuSeconds()),
      (waker?.cpuSeconds() ?? 0) - wakerBefore,
    );
    failed = false;
    return { info, result, backgroundCores };
  } finally {
    for (const engine of ENGINES) await groups[engine].close(failed);
  }
}

/** Interleaved rounds: `block(engine)` on each group in turn, alternating which goes first. */
async function interleave(
  rounds: number,
  progress: string,
  block: (engine: EngineName) => Promise<number[]>,
): Promise<Record<EngineName, number[]>> {
  const times: Record<EngineName, number[]> = { finetune: [], pytorch: [] };
  for (let round = 0; round < rounds; round++) {
    process.stderr.write(`\r[bench] ${progress}: round ${round + 1}/${rounds}      `);
    for (const engine of engineOrder(round)) times[engine].push(...(await block(engine)));
  }
  return times;
}

/** Per size: every call's time per engine, and each group's median (groups[g] of both engines ran side by side). */
type AllReduceTimes = Record<number, { calls: Record<EngineName, number[]>; groups: Record<EngineName, number[]> }>;

/**
 * PyTorch's mean group median over finetune's, and its 95% interval from resampling the paired groups
 * (2,000 draws, a fixed seed so that a run's JSON reproduces its table).
 */
function groupMeanRatio(groups: Record<EngineName, number[]>): { ratio: number; low: number; high: number } {
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const n = groups.finetune.length;
  // mulberry32: 32-bit integer arithmetic throughout, exact in JS numbers.
  let state = 12345;
  const draw = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n) | 0;
  };
  const ratios: number[] = [];
  for (let b = 0; b < 2000; b++) {
    const picks = Array.from({ length: n }, draw);
    ratios.push(mean(picks.map((i) => groups.pytorch[i])) / mean(picks.map((i) => groups.finetune[i])));
  }
  ratios.sort((a, b) => a - b);
  return { ratio: mean(groups.pytorch) / mean(groups.finetune), low: ratios[49], high: ratios[1949] };
}

async function allReducePhase(root: string, options: Options): Promise<Phase<AllReduceTimes>> {
  const schedule = options.quick ? ALLREDUCE.quick : ALLREDUCE.full;
  const times: AllReduceTimes = {};
  let last: Phase<AllReduceTimes> | undefined;
  let backgroundCores = 0;
  const groupCount = options.groups ?? schedule.groups;
  const waker = options.keepCpusAwake ? new CpuWaker(options.python) : undefined;
  try {
    for (let g = 0; g < groupCount; g++) {
      last = await withGroups(
        root,
        options,
        options.nproc,
        1,
        async (groups) => {
          // Untimed: a fresh Node process spends its first moments compiling and collecting on background
          // threads, which a 1 MB call (about a millisecond) feels; Python has no such start.
          for (const engine of ENGINES) await groups[engine].all(`allreduce ${MB} ${schedule.warmupCalls}`);
          for (const mb of options.sizes) {
            const calls = schedule.callsPerBlock[mb] ?? Math.max(1, Math.round(100 / mb));
            const block = await interleave(
              schedule.rounds,
              `allreduce ${mb} MB, group ${g + 1}/${groupCount}`,
              async (engine) =>
                slowestRank(
                  (await groups[engine].all<{ ms: number[] }>(`allreduce ${Math.round(mb * MB)} ${calls}`)).map(
                    (r) => r.ms,
                  ),
                ),
            );
            times[mb] ??= { calls: { finetune: [], pytorch: [] }, groups: { finetune: [], pytorch: [] } };
            for (const engine of ENGINES) {
              times[mb].calls[engine].push(...block[engine]);
              times[mb].groups[engine].push(median(block[engine]));
            }
          }
          return times;
        },
        waker,
      );
      backgroundCores = Math.max(backgroundCores, last.backgroundCores ?? 0);
    }
  } finally {
    waker?.stop();
  }
  process.stderr.write('\n');
  return { ...last!, result: times, backgroundCores };
}

interface SetupReply {
  params: number;
  trainedParams: number;
  setupMs: number;
  warmupMs: number[];
}

interface StepPhase {
  setup: Record<EngineName, SetupReply[]>;
  stepMs: Record<EngineName, number[]>;
}

/** DDP over nproc ranks × 1 thread, or one process × nproc threads. */
type Layout = 'ddp' | 'single';

/** `model` in one layout: nproc ranks × 1 thread in DDP, or 1 process × nproc threads on the whole global batch. */
async function stepPhase(
  root: string,
  options: Options,
  model: DdpModelName,
  layout: Layout,
): Promise<Phase<StepPhase>> {
  const spec = DDP_MODELS[options.quick ? 'quick' : 'full'][model];
  const schedule = DDP_SCHEDULE[options.quick ? 'quick' : 'full'];
  const [worldSize, threads] = layout === 'ddp' ? [options.nproc, 1] : [1, options.nproc];
  const request: DdpSetup = {
    model,
    batch: layout === 'ddp' ? spec.batch : spec.batch * options.nproc,
    numLabels: spec.numLabels,
    warmupSteps: schedule.warmupSteps,
    seed: 0,
    ...(spec.seqLen !== undefined ? { seqLen: spec.seqLen } : {}),
    ...(spec.imageSize !== undefined ? { imageSize: spec.imageSize } : {}),
  };
  return withGroups(root, options, worldSize, threads, async (groups) => {
    const setup = {} as Record<EngineName, SetupReply[]>;
    for (const engine of ENGINES) {
      process.stderr.write(`\r[bench] ${model} ${layout}: ${engine} setup and warm-up      `);
      setup[engine] = await groups[engine].all<SetupReply>(`setup ${JSON.stringify(request)}`);
    }
    const stepMs = await interleave(schedule.rounds, `${model} ${layout}`, async (engine) =>
      slowestRank((await groups[engine].all<{ stepMs: number[] }>('steps 1')).map((r) => r.stepMs)),
    );
    process.stderr.write('\n');
    return { setup, stepMs };
  });
}

// ---- report ------------------------------------------------------------------------------

export async function runDistributedSuite(argv: string[]): Promise<void> {
  const options = parseArgs(argv);
  const root = repoRoot();
  const machine = machineInfo();
  const started = Date.now();
  const warnings: string[] = [];
  const n = options.nproc;

  const allReduce = options.sizes.length > 0 ? await allReducePhase(root, options) : undefined;
  const steps: Partial<Record<DdpModelName, Record<Layout, Phase<StepPhase>>>> = {};
  for (const model of options.models) {
    steps[model] = {
      ddp: await stepPhase(root, options, model, 'ddp'),
      single: await stepPhase(root, options, model, 'single'),
    };
  }
  const phases = [
    ...(allReduce ? [{ phase: allReduce, threads: 1 }] : []),
    ...Object.values(steps).flatMap((p) => [
      { phase: p.ddp, threads: 1 },
      { phase: p.single, threads: n },
    ]),
  ];
  for (const { phase, threads } of phases) warnings.push(...engineMismatchWarnings(phase.info, threads));
  warnings.push(
    ...backgroundLoadWarnings(Math.max(0, ...phases.map(({ phase }) => phase.backgroundCores ?? 0)), 'a workload'),
  );
  let allPass = true;
  const verdict = (ratio: number): string => {
    const pass = ratio >= THROUGHPUT_TARGET;
    allPass &&= pass;
    return pass ? 'PASS' : 'MISS';
  };

  console.log(machineLine(machine));
  console.log(buildLine(gitState(root), addonBuilt(root)));
  const { finetune: ft, pytorch: pt } = phases[0]?.phase.info ?? {};
  if (ft && pt)
    console.log(`engines: finetune (${ft.runtime}), PyTorch (${pt.runtime}), libtorch ${ft.torchVersion}; gloo`);
  console.log(
    options.quick
      ? 'mode: --quick (smaller inputs and fewer calls: for development, not for the record)'
      : 'mode: full',
  );

  const allReduceRows = allReduce
    ? options.sizes.map((mb) => {
        const { calls, groups } = allReduce.result[mb];
        const ms = { finetune: median(calls.finetune), pytorch: median(calls.pytorch) };
        const ratio = ms.pytorch / ms.finetune;
        return {
          mb,
          ms,
          gbps: { finetune: mb / ms.finetune, pytorch: mb / ms.pytorch },
          ratio,
          result: verdict(ratio),
          fastestRatio: fastestRatio(calls),
          groupMean: groupMeanRatio(groups),
        };
      })
    : [];
  if (allReduce) {
    console.log(
      `\nallReduce(SUM) of float32 between ${n} processes × 1 thread (gloo, 127.0.0.1): median of the slowest rank's call` +
        (options.keepCpusAwake ? '; vCPUs kept awake (--keep-cpus-awake: a SCHED_IDLE spinner per core)' : ''),
    );
    console.log(
      table([
        [
          'size',
          'finetune ms',
          'finetune GB/s',
          'PyTorch ms',
          'PyTorch GB/s',
          'finetune/PyTorch',
          'target',
          'result',
          'fastest-call ratio',
          'group-mean ratio (95% interval)',
        ],
        ...allReduceRows.map((r) => [
          `${r.mb} MB`,
          fmt(r.ms.finetune, 2),
          fmt(r.gbps.finetune, 2),
          fmt(r.ms.pytorch, 2),
          fmt(r.gbps.pytorch, 2),
          fmt(r.ratio, 3),
          `≥ ${THROUGHPUT_TARGET}`,
          r.result,
          fmt(r.fastestRatio, 3),
          `${fmt(r.groupMean.ratio, 3)} (${fmt(r.groupMean.low, 3)}–${fmt(r.groupMean.high, 3)})`,
        ]),
      ]),
    );
  }

  const modelRows = (Object.keys(steps) as DdpModelName[]).map((model) => {
    const spec = DDP_MODELS[options.quick ? 'quick' : 'full'][model];
    const input = spec.seqLen !== undefined ? `T${spec.seqLen}` : `${spec.imageSize}²`;
    const ms = (layout: Layout) => ({
      finetune: median(steps[model]![layout].result.stepMs.finetune),
      pytorch: median(steps[model]![layout].result.stepMs.pytorch),
    });
    const [ftSetup, ptSetup] = [steps[model]!.ddp.result.setup.finetune[0], steps[model]!.ddp.result.setup.pytorch[0]];
    if (ftSetup.params !== ptSetup.params || ftSetup.trainedParams !== ptSetup.trainedParams)
      warnings.push(
        `${model}: parameters (trained) differ: finetune ${ftSetup.params} (${ftSetup.trainedParams}), PyTorch ${ptSetup.params} (${ptSetup.trainedParams}): not the same model?`,
      );
    const ddp = ms('ddp');
    const single = ms('single');
    const ratio = ddp.pytorch / ddp.finetune;
    return {
      model,
      label: `${model} (${input}, batch ${n}×${spec.batch})`,
      gradientMb: (ftSetup.trainedParams * 4) / MB,
      ddp,
      single,
      ratio,
      result: verdict(ratio),
      singleRatio: single.pytorch / single.finetune,
      fastestRatio: {
        ddp: fastestRatio(steps[model]!.ddp.result.stepMs),
        single: fastestRatio(steps[model]!.single.result.stepMs),
      },
    };
  });
  if (modelRows.length > 0) {
    console.log(
      `\ntraining step (forward, cross entropy, backward, gradients averaged, grads = null): median ms of the slowest rank's step\n` +
        `DDP: ${n} processes × 1 thread, batch ${n}×B (B per rank); single: 1 process × ${n} threads on the global batch ${n}·B, no DDP`,
    );
    console.log(
      table([
        [
          'model',
          'layout',
          'finetune ms',
          'PyTorch ms',
          'finetune/PyTorch speed',
          'target',
          'result',
          'fastest-step ratio',
        ],
        ...modelRows.flatMap((r) => [
          [
            r.label,
            `DDP ${n}×1`,
            fmt(r.ddp.finetune, 0),
            fmt(r.ddp.pytorch, 0),
            fmt(r.ratio, 3),
            `≥ ${THROUGHPUT_TARGET}`,
            r.result,
            fmt(r.fastestRatio.ddp, 3),
          ],
          [
            r.label,
            `single 1×${n}`,
            fmt(r.single.finetune, 0),
            fmt(r.single.pytorch, 0),
            fmt(r.singleRatio, 3),
            '—',
            '',
            fmt(r.fastestRatio.single, 3),
          ],
        ]),
      ]),
    );
    console.log(
      `\nwhat ${n} processes cost against 1 process × ${n} threads (step time DDP / single; < 1: DDP is faster)`,
    );
    console.log(
      table([
        ['model', 'gradients averaged per step', 'finetune DDP/single', 'PyTorch DDP/single'],
        ...modelRows.map((r) => [
          r.label,
          `${fmt(r.gradientMb, 1)} MB`,
          fmt(r.ddp.finetune / r.single.finetune, 3),
          fmt(r.ddp.pytorch / r.single.pytorch, 3),
        ]),
      ]),
    );
  }
  for (const warning of warnings) console.log(`WARNING: ${warning}`);
  const seconds = (Date.now() - started) / 1000;
  console.log(`took ${fmt(seconds, 0)} s`);

  const date = new Date().toISOString();
  saveResults(root, 'distributed', {
    date,
    options,
    machine,
    git: gitState(root),
    seconds,
    allReduce: allReduce && { ...allReduce, rows: allReduceRows },
    steps,
    modelRows,
    warnings,
  });
  if (options.strict && !allPass) process.exit(1);
}
