import { spawn } from 'node:child_process';

import { freePort } from './free-port.js';

/**
 * Runs the script `worker` with `args`, then its rank, world size 2 and a free port, on 2 child
 * processes (one thread each) and returns the JSON line each rank printed; fails with a rank's output
 * when it exits non-zero, prints { error } or runs past 40 s.
 */
export async function onTwoRanks<R>(worker: string, args: string[]): Promise<R[]> {
  const port = await freePort();
  return Promise.all(
    [0, 1].map(
      (rank) =>
        new Promise<R>((done, fail) => {
          const child = spawn(process.execPath, [worker, ...args, String(rank), '2', String(port)], {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, OMP_NUM_THREADS: '1' },
          });
          let out = '';
          child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
          child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
          const guard = setTimeout(() => child.kill('SIGKILL'), 40_000);
          child.on('exit', (code) => {
            clearTimeout(guard);
            const line = out.split('\n').find((l) => l.startsWith('{'));
            const result = line ? (JSON.parse(line) as R & { error?: string }) : undefined;
            if (code !== 0 || !result || result.error) fail(new Error(`rank ${rank} exited ${code}: ${out}`));
            else done(result);
          });
        }),
    ),
  );
}
