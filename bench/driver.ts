/**
 * What the benchmark drivers (bench/compare.ts: the engine suite, bench/compare-models.ts: the
 * models suite, and the optim, tfjs and strategies suites) share: their flags, the repository and
 * environment facts they print, the engine processes they talk to over the line protocol of
 * bench/shared.ts, the background-load meter, the table printer and the results file.
 */
import { spawn, spawnSync, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ENGINES = ['finetune', 'pytorch'] as const;
export type EngineName = (typeof ENGINES)[number];

/** Alternates which engine goes first from one round (and run) to the next. */
export function engineOrder(round: number): readonly EngineName[] {
  return round % 2 === 0 ? ENGINES : [...ENGINES].reverse();
}

// ---- flags -------------------------------------------------------------------------------

/** How a flag sets its option: a comma-separated list, a positive integer, a value, or a switch on or off. */
export type FlagKind = 'list' | 'numbers' | 'count' | 'text' | 'on' | 'off';

/** The flags the drivers and engines share; each accepts those whose option its defaults hold. */
const SHARED_FLAGS: Record<string, readonly [key: string, kind: FlagKind]> = {
  '--threads': ['threads', 'count'],
  '--runs': ['runs', 'count'],
  '--quick': ['quick', 'on'],
  '--strict': ['strict', 'on'],
  '--python': ['python', 'text'],
  '--pin-malloc': ['pinMalloc', 'on'],
  '--serve': ['serve', 'on'],
  '--steps': ['steps', 'count'],
};

/**
 * A driver's or engine's options: `defaults` with the flags of `argv` applied. The shared flags (--threads N,
 * --runs N, --quick, --strict, --python EXE, --pin-malloc, --serve, --steps N) count where `defaults` has their
 * option; `flags` adds the
 * suite's own (`'--models': ['models', 'list']`). --help or -h prints `usage` and exits; an unknown flag, a
 * missing value or a count that is not a positive integer is an error naming the flag, followed by `usage`.
 */
export function parseFlags<T extends object>(
  argv: readonly string[],
  usage: string,
  defaults: T,
  flags: Record<string, readonly [key: keyof T & string, kind: FlagKind]> = {},
): T {
  const known = {
    ...Object.fromEntries(Object.entries(SHARED_FLAGS).filter(([, [key]]) => key in defaults)),
    ...flags,
  };
  const options = { ...defaults } as Record<string, unknown>;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      console.log(usage);
      process.exit(0);
    }
    if (!Object.hasOwn(known, arg)) throw new Error(`unknown argument ${arg}\n${usage}`);
    const [key, kind] = known[arg];
    if (kind === 'on' || kind === 'off') {
      options[key] = kind === 'on';
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`${arg} expects a value\n${usage}`);
    if (kind === 'text') options[key] = value;
    else if (kind === 'count') {
      options[key] = Number(value);
      if (!Number.isInteger(options[key]) || (options[key] as number) < 1)
        throw new Error(`${arg} expects a positive integer`);
    } else {
      const items = value.split(',').filter(Boolean);
      options[key] = kind === 'numbers' ? items.map(Number) : items;
    }
  }
  return options as T;
}

/** Throws unless every one of `chosen` is among `known`, naming the first that is not and listing `known`. */
export function checkChoices(what: string, chosen: readonly string[], known: readonly string[]): void {
  for (const item of chosen)
    if (!known.includes(item)) throw new Error(`unknown ${what} '${item}' (known: ${known.join(', ')})`);
}

// ---- environment -------------------------------------------------------------------------

/** The repository root: the nearest folder above this script holding binding.gyp. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'binding.gyp'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the repository root');
    dir = parent;
  }
  return dir;
}

/**
 * PYTHONPATH that makes `import torch` load the libtorch the addon links: the folder holding
 * the torch package whose lib/ the addon was built against (build/install.json, written by setup).
 */
export function torchPythonPath(root: string): string | undefined {
  const recorded = join(root, 'build', 'install.json');
  if (!existsSync(recorded)) return undefined;
  const libtorch = (JSON.parse(readFileSync(recorded, 'utf8')) as { libtorch?: { dir: string } }).libtorch?.dir;
  return libtorch && existsSync(join(libtorch, '__init__.py')) ? dirname(libtorch) : undefined;
}

/** The environment of both engine processes: the same thread settings (each engine also calls set_num_threads). */
export function threadEnv(threads: number): NodeJS.ProcessEnv {
  return { ...process.env, OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
}

/** `env` with PYTHONPATH = the given folders (those that exist) + any PYTHONPATH already set. */
export function withPythonPath(env: NodeJS.ProcessEnv, folders: (string | undefined)[]): NodeJS.ProcessEnv {
  return { ...env, PYTHONPATH: [...folders, process.env.PYTHONPATH].filter(Boolean).join(':') };
}

/** The commit measured, and whether the engine's sources (src/, native/) differ from it. */
export function gitState(root: string): { commit: string; engineSourcesModified: boolean } | undefined {
  const git = (...args: string[]): string | undefined => {
    const r = spawnSync('git', args, { cwd: root, encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : undefined;
  };
  const commit = git('rev-parse', '--short', 'HEAD');
  if (commit === undefined) return undefined;
  const status = git('status', '--porcelain', '--', 'src', 'native', 'binding.gyp') ?? '';
  return { commit, engineSourcesModified: status.length > 0 };
}

export function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    return line ? line.split(':')[1].trim() : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Machine facts every result records. */
export function machineInfo(): { nproc: number; cpu: string; platform: string; memTotalGiB: number | null } {
  let memTotalGiB: number | null = null;
  try {
    const line = readFileSync('/proc/meminfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('MemTotal:'));
    if (line) memTotalGiB = Math.round((Number(line.split(/\s+/)[1]) / 1024 / 1024) * 10) / 10;
  } catch {
    // not Linux
  }
  return {
    nproc: availableParallelism(),
    cpu: cpuModel(),
    platform: `${process.platform} ${process.arch}`,
    memTotalGiB,
  };
}

/** When the addon was built (its file's mtime), or null. */
export function addonBuilt(root: string): string | null {
  const addon = join(root, 'build', 'Release', 'finetune.node');
  return existsSync(addon) ? statSync(addon).mtime.toISOString() : null;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** Busy CPU seconds of the whole machine (/proc/stat: all but idle and iowait). */
export function machineBusySeconds(): number | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return (cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6]) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function processCpuSeconds(pid: number | 'self'): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    return (fields[11] + fields[12]) / TICKS_PER_SECOND; // stat fields 14 and 15: utime, stime
  } catch {
    return undefined;
  }
}

/**
 * Measures the CPU that processes other than the benchmark's own (this driver and the engines
 * given to stop()) kept busy between start and stop, in average cores.
 */
export class LoadMeter {
  private readonly machineBefore = machineBusySeconds();
  private readonly selfBefore = processCpuSeconds('self');
  private readonly wallStart = performance.now();

  /**
   * `engineCpu`: the CPU seconds each engine process used in total (they started after this meter);
   * `otherOwnCpu`: CPU seconds of the benchmark's other processes in the same span (a CpuWaker's).
   */
  stop(engineCpu: (number | undefined)[], otherOwnCpu = 0): number | null {
    const machineAfter = machineBusySeconds();
    const selfAfter = processCpuSeconds('self');
    const seconds = (performance.now() - this.wallStart) / 1000;
    if (
      this.machineBefore === undefined ||
      machineAfter === undefined ||
      this.selfBefore === undefined ||
      selfAfter === undefined
    )
      return null;
    if (!engineCpu.every((c) => c !== undefined)) return null;
    const ours = selfAfter - this.selfBefore + (engineCpu as number[]).reduce((x, y) => x + y, 0) + otherOwnCpu;
    return Math.max(0, (machineAfter - this.machineBefore - ours) / seconds);
  }
}

/**
 * One SCHED_IDLE busy loop per core, for the span of a measurement: the kernel runs them only on a core
 * that would otherwise idle and preempts them at once for any other thread, so they keep a virtual
 * machine's vCPUs from halting. On this Firecracker VM (cpuidle haltpoll with guest_halt_poll_ns=0, and
 * sched_vcpu_pack) a thread woken onto a halted vCPU can wait 2–4 ms for it; a 1 MB allreduce (about
 * 0.6 ms) hands off between threads several times a call and feels every such wait.
 */
export class CpuWaker {
  private readonly spinners: ChildProcess[];

  constructor(python: string, cores = availableParallelism()) {
    const loop = 'import os\nos.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\nwhile True: pass';
    this.spinners = Array.from({ length: cores }, () => spawn(python, ['-c', loop], { stdio: 'ignore' }));
  }

  /** The CPU seconds the spinners have used so far (the time the cores would have idled). */
  cpuSeconds(): number {
    return this.spinners.reduce((sum, s) => sum + (s.pid === undefined ? 0 : (processCpuSeconds(s.pid) ?? 0)), 0);
  }

  stop(): void {
    for (const s of this.spinners) s.kill('SIGKILL');
  }
}

// ---- engine processes ------------------------------------------------------------------

/** An engine started with --serve: one request line in, one JSON reply line out. */
export class Engine {
  readonly child: ChildProcessWithoutNullStreams;
  private readonly replies: AsyncIterator<string>;
  private stderr = '';

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    cwd: string,
  ) {
    this.child = spawn(command, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.child.on('error', (error) => (this.stderr += `cannot start ${command}: ${error.message}\n`));
    this.replies = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  async request<T>(line: string): Promise<T> {
    this.child.stdin.write(line + '\n');
    const next = await this.replies.next();
    if (next.done) throw new Error(`${this.name} engine exited during '${line}':\n${this.stderr}`);
    const reply = JSON.parse(next.value) as T & { error?: string };
    if (reply.error) throw new Error(`${this.name} engine failed on '${line}': ${reply.error}`);
    return reply;
  }

  cpuSeconds(): number | undefined {
    return this.child.pid === undefined ? undefined : processCpuSeconds(this.child.pid);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.end('quit\n');
    await exited;
  }
}

/**
 * The two processes of a finetune-vs-PyTorch suite, each serving with the same thread count and `env`:
 * `node build/ts/bench/<finetune>` and `<python> bench/<pytorch>`, the latter importing the torch of the
 * libtorch the addon links (and `pythonPath`'s folders).
 */
export function startEnginePair(
  root: string,
  options: { threads: number; python: string },
  scripts: Record<EngineName, string>,
  env: NodeJS.ProcessEnv,
  pythonPath: (string | undefined)[] = [],
): Record<EngineName, Engine> {
  const threads = String(options.threads);
  return {
    finetune: new Engine(
      'finetune',
      process.execPath,
      [join(root, 'build', 'ts', 'bench', scripts.finetune), '--threads', threads, '--serve'],
      env,
      root,
    ),
    pytorch: new Engine(
      'pytorch',
      options.python,
      [join(root, 'bench', scripts.pytorch), '--threads', threads, '--serve'],
      withPythonPath(env, [torchPythonPath(root), ...pythonPath]),
      root,
    ),
  };
}

// ---- report ------------------------------------------------------------------------------

export const fmt = (value: number, digits: number): string => value.toFixed(digits);

/** A Markdown table: first column left-aligned, the others right-aligned. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]): string =>
    `| ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join(' | ')} |`;
  const rule = `|${widths.map((w, c) => (c === 0 ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|')}|`;
  return [line(rows[0]), rule, ...rows.slice(1).map(line)].join('\n');
}

/** The machine line every driver prints first. */
export function machineLine(machine: ReturnType<typeof machineInfo>): string {
  return `machine: ${machine.nproc} CPUs, ${machine.cpu}, ${machine.memTotalGiB ?? '?'} GiB`;
}

/** The build line every driver prints after the machine: the commit, uncommitted engine changes, the addon's build time. */
export function buildLine(git: ReturnType<typeof gitState>, built: string | null): string {
  return `build: commit ${git?.commit ?? 'unknown'}${git?.engineSourcesModified ? ' + uncommitted src/native changes' : ''}, addon built ${built ?? 'never'}`;
}

/** Warnings when the two engines did not run on the same libtorch or with the asked thread count. */
export function engineMismatchWarnings(
  info: Record<EngineName, { torchVersion: string; threads: number }>,
  threads: number,
): string[] {
  const { finetune: ft, pytorch: pt } = info;
  const warnings: string[] = [];
  if (ft.torchVersion !== pt.torchVersion)
    warnings.push(`libtorch versions differ: finetune ${ft.torchVersion}, PyTorch ${pt.torchVersion}`);
  if (ft.threads !== threads || pt.threads !== threads)
    warnings.push(`thread counts differ from ${threads}: finetune ${ft.threads}, PyTorch ${pt.threads}`);
  return warnings;
}

/**
 * The warning when other processes kept more than a tenth of a core busy on average during one of the
 * runs (`busiest`: the most over `runs`, e.g. "a model's run"), which makes the numbers unreliable.
 */
export function backgroundLoadWarnings(busiest: number, runs: string): string[] {
  return busiest > 0.1
    ? [
        `other processes kept up to ${busiest.toFixed(2)} cores busy on average during ${runs}: numbers unreliable, rerun on an idle machine`,
      ]
    : [];
}

/** Writes a run's record to bench/results/<suite>-<its date>.json and prints the file's path. */
export function saveResults(root: string, suite: string, record: { date: string } & Record<string, unknown>): void {
  const resultsDir = join(root, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${suite}-${record.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
  console.log(`results: ${file}`);
}
