import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

import { distributed } from '../../src/index.js';
import { freePort } from './free-port.js';

/** The skip reason of a test that needs process groups, where the addon was built without Gloo. */
export const skipWithoutGloo = distributed.isGlooAvailable()
  ? false
  : 'this addon was built without the Gloo headers (libgloo-dev)';

/** How one rank's process ended. */
export interface RankExit<R> {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The JSON line it printed, if any. */
  result?: R & { error?: string };
  out: string;
  /** Milliseconds from the start to its exit. */
  ms: number;
}

/**
 * Runs the script `worker` with `args`, then its rank, world size 2 and a free port, on 2 child
 * processes (one thread each; killed past 40 s) and returns how each rank ended.
 */
export async function runTwoRanks<R>(worker: string, args: string[]): Promise<RankExit<R>[]> {
  const port = await freePort();
  const started = performance.now();
  return Promise.all(
    [0, 1].map(
      (rank) =>
        new Promise<RankExit<R>>((done) => {
          const child = spawn(process.execPath, [worker, ...args, String(rank), '2', String(port)], {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, OMP_NUM_THREADS: '1' },
          });
          let out = '';
          child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
          child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
          const guard = setTimeout(() => child.kill('SIGKILL'), 40_000);
          child.on('exit', (code, signal) => {
            clearTimeout(guard);
            const line = out.split('\n').find((l) => l.startsWith('{'));
            const result = line ? (JSON.parse(line) as R & { error?: string }) : undefined;
            done({ code, signal, result, out, ms: performance.now() - started });
          });
        }),
    ),
  );
}

/**
 * runTwoRanks, then the JSON line each rank printed; fails with a rank's output when it exits
 * non-zero, prints { error } or prints nothing.
 */
export async function onTwoRanks<R>(worker: string, args: string[]): Promise<R[]> {
  const ranks = await runTwoRanks<R>(worker, args);
  ranks.forEach(({ code, result, out }, rank) => {
    if (code !== 0 || !result || result.error) throw new Error(`rank ${rank} exited ${code}: ${out}`);
  });
  return ranks.map(({ result }) => result!);
}
