/**
 * `finetune launch`: torchrun's role for a library user's own script. It starts --nproc-per-node worker
 * processes (`node script.js args…`) with the variables torchrun's static rendezvous gives its workers
 * (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, …), so that a script's process group (env://) and
 * DistributedSampler find their place; forwards each worker's output with a `[rankN]: ` prefix; and
 * when one worker fails, stops the others and fails itself naming the rank — or, with --max-restarts,
 * starts the whole group again, as torchrun's elastic agent does.
 *
 *   finetune launch --nproc-per-node 2 train.js data/train.csv
 *   finetune launch --nnodes 2 --node-rank 0 --master-addr 10.0.0.1 --nproc-per-node 4 train.js   (machine 0)
 *   finetune launch --nnodes 2 --node-rank 1 --master-addr 10.0.0.1 --nproc-per-node 4 train.js   (machine 1)
 *
 * Workers run in process groups of their own (so that stopping a worker stops what it started too, and
 * a terminal's Ctrl-C reaches them once, through the launcher); SIGINT and SIGTERM sent to the launcher
 * are passed on to every worker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, constants } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  EXIT,
  flagHelp,
  optNumber,
  optString,
  parseCommandLine,
  UsageError,
  type FlagTable,
  type Options,
} from './core/flags.js';

export const LAUNCH_FLAGS: FlagTable = {
  'nproc-per-node': {
    kind: 'integer',
    arg: 'N',
    group: 'Processes',
    help: 'worker processes on this machine (default 1)',
  },
  nnodes: {
    kind: 'integer',
    arg: 'M',
    group: 'Processes',
    help: 'machines in the job, each running one launcher with the same --nproc-per-node (default 1)',
  },
  'node-rank': { kind: 'integer', arg: 'R', group: 'Processes', help: "this machine's rank, 0 … M-1 (default 0)" },
  'master-addr': {
    kind: 'string',
    arg: 'HOST',
    group: 'Rendezvous',
    help: "address of node 0, where rank 0's store listens (default 127.0.0.1)",
  },
  'master-port': { kind: 'integer', arg: 'PORT', group: 'Rendezvous', help: "port of rank 0's store (default 29500)" },
  'max-restarts': {
    kind: 'integer',
    arg: 'K',
    group: 'Failures',
    help: 'when a worker fails, stop the group and start it again, up to K times (default 0)',
  },
  'kill-after': {
    kind: 'number',
    arg: 'SECONDS',
    group: 'Failures',
    help: 'how long workers being stopped get to exit after SIGTERM before SIGKILL (default 5)',
  },
};

const DEFAULTS = {
  nprocPerNode: 1,
  nnodes: 1,
  nodeRank: 0,
  masterAddr: '127.0.0.1',
  masterPort: 29500,
  maxRestarts: 0,
  killAfter: 5,
};

const HELP = `Usage: finetune launch [--nproc-per-node N] [--nnodes M --node-rank R --master-addr HOST --master-port PORT]
                       [--max-restarts K] script.js [script arguments…]

Runs N copies of \`node script.js …\` with torchrun's variables, for data-parallel training of your own script:
RANK (node rank × N + local rank), LOCAL_RANK, WORLD_SIZE (M × N), LOCAL_WORLD_SIZE, GROUP_RANK, GROUP_WORLD_SIZE,
ROLE_RANK, ROLE_NAME, ROLE_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_RESTART_COUNT,
TORCHELASTIC_MAX_RESTARTS, TORCHELASTIC_RUN_ID and TORCHELASTIC_USE_AGENT_STORE (False: rank 0 hosts the store).
Each worker gets OMP_NUM_THREADS = MKL_NUM_THREADS = cores / N (unless they are set already). Worker output is
printed with a [rankN]: prefix. The launcher's flags come before the script; everything after it is the script's.

Several machines: one launcher on each, with the same --nnodes, --nproc-per-node, --master-addr and --master-port
and its own --node-rank.

When a worker exits non-zero or is killed, the launcher stops the other workers (SIGTERM, SIGKILL after
--kill-after seconds) and exits 1 naming the rank, or with --max-restarts K starts the group again up to K times
(TORCHELASTIC_RESTART_COUNT counts the restarts). SIGINT and SIGTERM to the launcher go to every worker; it then
exits 128 + the signal's number.

FLAGS

Examples:
  finetune launch --nproc-per-node 2 train.js data/train.csv
  finetune launch --nnodes 2 --node-rank 0 --master-addr 10.0.0.1 --nproc-per-node 4 train.js
  finetune launch --nnodes 2 --node-rank 1 --master-addr 10.0.0.1 --nproc-per-node 4 train.js

Exit codes:
  0  every worker exited 0
  1  a worker failed (after the restarts --max-restarts allows)
  2  usage error (unknown or bad flag, no script, a script that does not exist)
  128 + n  the launcher received signal n (SIGINT: 130, SIGTERM: 143)`;

export function launchHelp(): string {
  return HELP.replace('FLAGS', flagHelp(LAUNCH_FLAGS));
}

/** What the launcher runs: the flags' values, checked. */
interface LaunchPlan {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  maxRestarts: number;
  killAfterMs: number;
  script: string;
  scriptArgs: string[];
  /** OMP_NUM_THREADS / MKL_NUM_THREADS for every worker. */
  threads: string;
  /** Whether the launcher chose the threads (false: the environment had OMP_NUM_THREADS). */
  threadsChosen: boolean;
}

/** Splits the command line at the script: the launcher's flags before it, the script's arguments after it. */
function splitAtScript(argv: readonly string[]): { launcherArgs: string[]; script?: string; scriptArgs: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') return { launcherArgs: argv.slice(0, i), script: argv[i + 1], scriptArgs: argv.slice(i + 2) };
    if (!arg.startsWith('-')) return { launcherArgs: argv.slice(0, i), script: arg, scriptArgs: argv.slice(i + 1) };
    // A flag's value is the next argument unless it is written --flag=value (the launcher has no boolean flags).
    if (arg.startsWith('--') && !arg.includes('=') && arg !== '--help') i++;
  }
  return { launcherArgs: [...argv], scriptArgs: [] };
}

function integerAtLeast(value: number | undefined, fallback: number, name: string, least: number): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < least) throw new UsageError(`--${name} must be an integer ≥ ${least}, got ${n}`);
  return n;
}

function plan(flags: Options, script: string | undefined, scriptArgs: string[]): LaunchPlan {
  const nprocPerNode = integerAtLeast(optNumber(flags, 'nproc-per-node'), DEFAULTS.nprocPerNode, 'nproc-per-node', 1);
  const nnodes = integerAtLeast(optNumber(flags, 'nnodes'), DEFAULTS.nnodes, 'nnodes', 1);
  const nodeRank = integerAtLeast(optNumber(flags, 'node-rank'), DEFAULTS.nodeRank, 'node-rank', 0);
  if (nodeRank >= nnodes) throw new UsageError(`--node-rank must be below --nnodes (${nnodes}), got ${nodeRank}`);
  const masterPort = integerAtLeast(optNumber(flags, 'master-port'), DEFAULTS.masterPort, 'master-port', 1);
  if (masterPort > 65535) throw new UsageError(`--master-port must be a port from 1 to 65535, got ${masterPort}`);
  const maxRestarts = integerAtLeast(optNumber(flags, 'max-restarts'), DEFAULTS.maxRestarts, 'max-restarts', 0);
  const killAfter = optNumber(flags, 'kill-after') ?? DEFAULTS.killAfter;
  if (!(killAfter >= 0)) throw new UsageError(`--kill-after must be a number of seconds ≥ 0, got ${killAfter}`);
  if (script === undefined) throw new UsageError('no script to launch (finetune launch [flags] script.js [arguments])');
  if (!existsSync(script)) throw new UsageError(`the script ${script} does not exist`);
  const inherited = process.env.OMP_NUM_THREADS;
  return {
    nprocPerNode,
    nnodes,
    nodeRank,
    masterAddr: optString(flags, 'master-addr') ?? DEFAULTS.masterAddr,
    masterPort,
    maxRestarts,
    killAfterMs: killAfter * 1000,
    script: resolve(script),
    scriptArgs,
    threads: inherited ?? String(Math.max(1, Math.floor(availableParallelism() / nprocPerNode))),
    threadsChosen: inherited === undefined,
  };
}

/** torchrun's worker variables (static rendezvous, one role) for one local rank, over the launcher's environment. */
function workerEnvironment(launch: LaunchPlan, localRank: number, restartCount: number): NodeJS.ProcessEnv {
  const worldSize = launch.nnodes * launch.nprocPerNode;
  const rank = String(launch.nodeRank * launch.nprocPerNode + localRank);
  return {
    ...process.env,
    RANK: rank,
    LOCAL_RANK: String(localRank),
    GROUP_RANK: String(launch.nodeRank),
    ROLE_RANK: rank,
    ROLE_NAME: 'default',
    LOCAL_WORLD_SIZE: String(launch.nprocPerNode),
    WORLD_SIZE: String(worldSize),
    GROUP_WORLD_SIZE: String(launch.nnodes),
    ROLE_WORLD_SIZE: String(worldSize),
    MASTER_ADDR: launch.masterAddr,
    MASTER_PORT: String(launch.masterPort),
    TORCHELASTIC_RESTART_COUNT: String(restartCount),
    TORCHELASTIC_MAX_RESTARTS: String(launch.maxRestarts),
    TORCHELASTIC_RUN_ID: 'none',
    TORCHELASTIC_USE_AGENT_STORE: 'False',
    OMP_NUM_THREADS: launch.threads,
    MKL_NUM_THREADS: process.env.MKL_NUM_THREADS ?? launch.threads,
  };
}

/** Copies a stream to `out` line by line, each line prefixed (a last line without a newline is flushed at the end). */
function forwardLines(stream: NodeJS.ReadableStream, out: NodeJS.WritableStream, prefix: string): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop()!;
    if (lines.length) out.write(lines.map((line) => `${prefix}${line}\n`).join(''));
  });
  stream.on('end', () => {
    if (pending) out.write(`${prefix}${pending}\n`);
  });
}

interface Worker {
  rank: number;
  localRank: number;
  child: ChildProcess;
  /** Resolves when the process has exited and its output is read. */
  exited: Promise<void>;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** How a group ended: every worker exited 0, a worker failed (the first one), or the launcher was signalled. */
type GroupEnd = { kind: 'done' } | { kind: 'failed'; worker: Worker } | { kind: 'interrupted'; signal: NodeJS.Signals };

/** Sends a signal to a worker's process group (the worker and what it started); gone already is fine. */
function signalGroup(worker: Worker, signal: NodeJS.Signals): void {
  if (worker.child.pid === undefined) return; // never started
  try {
    process.kill(-worker.child.pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function describeExit(worker: Worker): string {
  return worker.signal !== null ? `was killed by ${worker.signal}` : `exited with code ${worker.code}`;
}

/** Starts the group's workers, waits for them, and stops the rest when one fails or the launcher is signalled. */
async function runGroup(launch: LaunchPlan, restartCount: number): Promise<GroupEnd> {
  const workers: Worker[] = [];
  let end: GroupEnd | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    // Every group, the exited workers' too: what a failed worker started goes with it.
    for (const worker of workers) signalGroup(worker, signal);
    const timer = setTimeout(() => {
      for (const worker of workers) signalGroup(worker, 'SIGKILL');
    }, launch.killAfterMs);
    stopping = Promise.all(workers.map((w) => w.exited)).then(() => clearTimeout(timer));
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    end ??= { kind: 'interrupted', signal };
    stop(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (let localRank = 0; localRank < launch.nprocPerNode; localRank++) {
      const child = spawn(process.execPath, [launch.script, ...launch.scriptArgs], {
        env: workerEnvironment(launch, localRank, restartCount),
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      const rank = launch.nodeRank * launch.nprocPerNode + localRank;
      forwardLines(child.stdout!, process.stdout, `[rank${rank}]: `);
      forwardLines(child.stderr!, process.stderr, `[rank${rank}]: `);
      let done!: () => void;
      const exited = new Promise<void>((resolve) => (done = resolve));
      const worker: Worker = { rank, localRank, child, exited, code: null, signal: null };
      const ended = (code: number | null, signal: NodeJS.Signals | null): void => {
        worker.code = code;
        worker.signal = signal;
        if (code !== 0 && !end) {
          end = { kind: 'failed', worker };
          stop('SIGTERM');
        }
        done();
      };
      child.on('error', (error) => {
        console.error(`finetune launch: cannot start rank ${rank}: ${error.message}`);
        ended(EXIT.runtime, null);
      });
      child.on('close', ended);
      workers.push(worker);
    }
    await Promise.all(workers.map((w) => w.exited));
    await stopping;
    return end ?? { kind: 'done' };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * `finetune <command> --nproc-per-node N …` (train): picks the launcher's flags out of `argv` and,
 * when there are any, runs the command's workers (`node main.js <command> <the other arguments>`)
 * as `finetune launch` runs a script, returning the launcher's exit code; null when `argv` has none
 * of the launcher's flags (the command runs in this process, as one worker or alone).
 */
export async function launchCommand(command: string, argv: readonly string[]): Promise<number | null> {
  const launcherArgs: string[] = [];
  const commandArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = /^--([^=]+)/.exec(argv[i])?.[1];
    if (name === undefined || !(name in LAUNCH_FLAGS)) commandArgs.push(argv[i]);
    else if (argv[i].includes('=')) launcherArgs.push(argv[i]);
    else {
      launcherArgs.push(argv[i], ...argv.slice(i + 1, i + 2)); // --flag value
      i++;
    }
  }
  if (launcherArgs.length === 0) return null;
  let launch: LaunchPlan;
  try {
    const main = fileURLToPath(new URL('./main.js', import.meta.url));
    launch = plan(parseCommandLine(launcherArgs, LAUNCH_FLAGS).flags, main, [command, ...commandArgs]);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`finetune ${command}: ${error.message}\n(finetune ${command} --help lists the flags)`);
    return EXIT.usage;
  }
  return supervise(launch, command);
}

/** The launcher loads no libtorch (main.ts runs it before the library is imported): only its workers compute. */
export async function runLaunch(argv: string[]): Promise<number> {
  let launch: LaunchPlan;
  try {
    const { launcherArgs, script, scriptArgs } = splitAtScript(argv);
    const parsed = parseCommandLine(launcherArgs, LAUNCH_FLAGS);
    if (parsed.help) {
      console.log(launchHelp());
      return EXIT.ok;
    }
    launch = plan(parsed.flags, script, scriptArgs);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`finetune launch: ${error.message}\n(finetune launch --help lists the flags)`);
    return EXIT.usage;
  }
  return supervise(launch, 'launch');
}

/** Runs the group (again after a failure, up to --max-restarts times); the launcher's exit code. Messages start `finetune <name>:`. */
async function supervise(launch: LaunchPlan, name: string): Promise<number> {
  const first = launch.nodeRank * launch.nprocPerNode;
  console.error(
    `finetune ${name}: ${launch.nprocPerNode} worker${launch.nprocPerNode === 1 ? '' : 's'} on node ${launch.nodeRank} of ${launch.nnodes} ` +
      `(ranks ${first}–${first + launch.nprocPerNode - 1} of ${launch.nnodes * launch.nprocPerNode}), master ${launch.masterAddr}:${launch.masterPort}; ` +
      (launch.threadsChosen
        ? `OMP_NUM_THREADS=${launch.threads} per worker (${availableParallelism()} cores / ${launch.nprocPerNode}; set OMP_NUM_THREADS to choose another count)`
        : `OMP_NUM_THREADS=${launch.threads} per worker (from the environment)`),
  );
  for (let restart = 0; ; restart++) {
    const end = await runGroup(launch, restart);
    if (end.kind === 'done') return EXIT.ok;
    if (end.kind === 'interrupted') {
      console.error(`finetune ${name}: received ${end.signal}; stopped every worker`);
      return 128 + constants.signals[end.signal];
    }
    const failure = `rank ${end.worker.rank} (local rank ${end.worker.localRank}, pid ${end.worker.child.pid}) ${describeExit(end.worker)}`;
    if (restart < launch.maxRestarts) {
      console.error(
        `finetune ${name}: ${failure}; stopped the group, restarting it (restart ${restart + 1} of ${launch.maxRestarts})`,
      );
      continue;
    }
    const restarts =
      launch.maxRestarts > 0 ? ` after ${launch.maxRestarts} restart${launch.maxRestarts === 1 ? '' : 's'}` : '';
    console.error(`finetune ${name}: ${failure}${restarts}; stopped the other workers`);
    return EXIT.runtime;
  }
}
