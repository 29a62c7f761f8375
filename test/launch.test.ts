/**
 * `finetune launch` with real processes: small worker scripts in a temp folder report the variables
 * they were given, fail, hang or ignore SIGTERM; the tests check what the workers saw, the launcher's
 * exit code and message, and that no worker (nor a process a worker started) outlives the launcher.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

const cli = join(process.cwd(), 'dist', 'cli', 'main.js');
let dir = '';

const TORCHRUN_VARIABLES = [
  'RANK',
  'LOCAL_RANK',
  'WORLD_SIZE',
  'LOCAL_WORLD_SIZE',
  'GROUP_RANK',
  'GROUP_WORLD_SIZE',
  'ROLE_RANK',
  'ROLE_NAME',
  'ROLE_WORLD_SIZE',
  'MASTER_ADDR',
  'MASTER_PORT',
  'TORCHELASTIC_RESTART_COUNT',
  'TORCHELASTIC_MAX_RESTARTS',
  'TORCHELASTIC_RUN_ID',
  'TORCHELASTIC_USE_AGENT_STORE',
  'OMP_NUM_THREADS',
  'MKL_NUM_THREADS',
];

/**
 * Worker scripts. Each prints one JSON line `{ env, args, pid }` first. report: exits 0 (output ends
 * without a newline); fail-rank1: rank 1 exits 3, rank 0 starts a child and hangs; stubborn: rank 1
 * exits 3, rank 0 ignores SIGTERM; flaky: rank 1 exits 3 on the first attempt only, once rank 0 has reported; killed: rank 1 dies by SIGKILL, rank 0 hangs; graceful: says
 * which signal it got, then exits 0.
 */
const WORKERS: Record<string, string> = {
  'report.js': `process.stdout.write('partial line without a newline');`,
  'fail-rank1.js': `
    if (process.env.RANK === '1') setTimeout(() => process.exit(3), 300);
    else {
      const child = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      console.log(JSON.stringify({ grandchild: child.pid }));
      setInterval(() => {}, 1000);
    }`,
  'stubborn.js': `
    if (process.env.RANK === '1') setTimeout(() => process.exit(3), 300);
    else { process.on('SIGTERM', () => console.log('ignoring SIGTERM')); setInterval(() => {}, 1000); }`,
  'killed.js': `
    if (process.env.RANK === '1') setTimeout(() => process.kill(process.pid, 'SIGKILL'), 300);
    else setInterval(() => {}, 1000);`,
  // Rank 1 fails only once rank 0 has reported, so both report on both attempts however the two start.
  'flaky.js': `
    const marker = require('node:path').join(__dirname, 'flaky-rank0-reported-' + process.env.TORCHELASTIC_RESTART_COUNT);
    if (process.env.RANK === '0') require('node:fs').writeFileSync(marker, '');
    else if (process.env.TORCHELASTIC_RESTART_COUNT === '0')
      setInterval(() => { if (require('node:fs').existsSync(marker)) process.exit(3); }, 10);`,
  'graceful.js': `
    for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => { console.log('got ' + signal); process.exit(0); });
    console.log('ready');
    setInterval(() => {}, 1000);`,
};

const REPORT = `
  const names = ${JSON.stringify(TORCHRUN_VARIABLES)};
  console.log(JSON.stringify({ env: Object.fromEntries(names.map((n) => [n, process.env[n]])), args: process.argv.slice(2), pid: process.pid }));
`;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'finetune-launch-'));
  // CommonJS workers (require) whatever the package type around the temp folder.
  for (const [name, body] of Object.entries(WORKERS))
    writeFileSync(join(dir, name.replace(/\.js$/, '.cjs')), REPORT + body);
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Starts `finetune launch …`; `whenStdout` is called with the output so far until it returns true. */
function launch(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; whenStdout?: (stdout: string, pid: number) => boolean } = {},
): Promise<Run> {
  const env = { ...process.env, ...options.env };
  if (!options.env || !('OMP_NUM_THREADS' in options.env)) delete env.OMP_NUM_THREADS;
  delete env.MKL_NUM_THREADS;
  const started = performance.now();
  const child = spawn(process.execPath, [cli, 'launch', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let watching = options.whenStdout !== undefined;
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (watching && options.whenStdout!(stdout, child.pid!)) watching = false;
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, seconds: (performance.now() - started) / 1000 });
    });
  });
}

const script = (name: string): string => join(dir, name.replace(/\.js$/, '.cjs'));

/** The JSON lines of each rank, by rank, from `[rankN]: {…}` lines. */
function reports(stdout: string): Map<number, Record<string, unknown>[]> {
  const out = new Map<number, Record<string, unknown>[]>();
  for (const match of stdout.matchAll(/^\[rank(\d+)\]: (\{.*\})$/gm)) {
    const rank = Number(match[1]);
    out.set(rank, [...(out.get(rank) ?? []), JSON.parse(match[2]) as Record<string, unknown>]);
  }
  return out;
}

/** Whether a process is alive (a zombie waiting for its parent to reap it is not). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function assertGone(pids: number[]): Promise<void> {
  const deadline = performance.now() + 2000;
  while (pids.some(alive) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(pids.filter(alive), [], 'processes left running');
}

const expectedEnv = (rank: number, localRank: number, extra: Record<string, string>): Record<string, string> => ({
  RANK: String(rank),
  LOCAL_RANK: String(localRank),
  ROLE_RANK: String(rank),
  ROLE_NAME: 'default',
  TORCHELASTIC_RESTART_COUNT: '0',
  TORCHELASTIC_RUN_ID: 'none',
  TORCHELASTIC_USE_AGENT_STORE: 'False',
  ...extra,
});

test('launch --nproc-per-node 2: torchrun’s variables, cores / 2 threads, script arguments untouched, [rankN]: prefixes', async () => {
  const run = await launch(['--nproc-per-node', '2', script('report.js'), '--nproc-per-node', '5', 'x y']);
  assert.equal(run.code, 0, run.stderr);
  const threads = String(Math.max(1, Math.floor(availableParallelism() / 2)));
  const single = {
    LOCAL_WORLD_SIZE: '2',
    WORLD_SIZE: '2',
    GROUP_RANK: '0',
    GROUP_WORLD_SIZE: '1',
    ROLE_WORLD_SIZE: '2',
  };
  const common = { ...single, MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29500', TORCHELASTIC_MAX_RESTARTS: '0' };
  const seen = reports(run.stdout);
  assert.deepEqual([...seen.keys()].sort(), [0, 1]);
  for (const rank of [0, 1]) {
    const [report] = seen.get(rank)!;
    assert.deepEqual(
      report.env,
      expectedEnv(rank, rank, { ...common, OMP_NUM_THREADS: threads, MKL_NUM_THREADS: threads }),
    );
    assert.deepEqual(report.args, ['--nproc-per-node', '5', 'x y']);
  }
  assert.equal(run.stdout.match(/^\[rank[01]\]: partial line without a newline$/gm)?.length, 2);
  assert.ok(
    run.stdout.split('\n').every((line) => line === '' || /^\[rank[01]\]: /.test(line)),
    run.stdout,
  );
  assert.match(run.stderr, new RegExp(`OMP_NUM_THREADS=${threads} per worker \\(${availableParallelism()} cores / 2;`));
});

test('launch --nnodes 2: two launchers, node ranks 0 and 1, one world of 4', async () => {
  const flags = (nodeRank: number): string[] => [
    '--nnodes=2',
    `--node-rank=${nodeRank}`,
    '--nproc-per-node=2',
    '--master-addr=127.0.0.1',
    '--master-port=29533',
    script('report.js'),
  ];
  const env = { OMP_NUM_THREADS: '1' };
  const [node0, node1] = await Promise.all([launch(flags(0), { env }), launch(flags(1), { env })]);
  for (const [nodeRank, run] of [node0, node1].entries()) {
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /OMP_NUM_THREADS=1 per worker \(from the environment\)/);
    const seen = reports(run.stdout);
    const ranks = [nodeRank * 2, nodeRank * 2 + 1];
    assert.deepEqual([...seen.keys()].sort(), ranks);
    ranks.forEach((rank, localRank) => {
      assert.deepEqual(
        seen.get(rank)![0].env,
        expectedEnv(rank, localRank, {
          LOCAL_WORLD_SIZE: '2',
          WORLD_SIZE: '4',
          GROUP_RANK: String(nodeRank),
          GROUP_WORLD_SIZE: '2',
          ROLE_WORLD_SIZE: '4',
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: '29533',
          TORCHELASTIC_MAX_RESTARTS: '0',
          OMP_NUM_THREADS: '1',
          MKL_NUM_THREADS: '1',
        }),
      );
    });
  }
});

test('launch: a worker exiting 3 stops the hanging one (and what it started); the launcher names the rank', async () => {
  const run = await launch(['--nproc-per-node', '2', script('fail-rank1.js')]);
  assert.equal(run.code, 1);
  assert.ok(run.seconds < 15, `took ${run.seconds} s`);
  const rank1Pid = (reports(run.stdout).get(1)![0] as { pid: number }).pid;
  assert.match(
    run.stderr,
    new RegExp(`rank 1 \\(local rank 1, pid ${rank1Pid}\\) exited with code 3; stopped the other workers`),
  );
  const rank0 = reports(run.stdout).get(0)!;
  const pids = [rank1Pid, (rank0[0] as { pid: number }).pid, (rank0[1] as { grandchild: number }).grandchild];
  await assertGone(pids);
});

test('launch: a worker that ignores SIGTERM is killed after --kill-after', async () => {
  const run = await launch(['--nproc-per-node', '2', '--kill-after', '0.5', script('stubborn.js')]);
  assert.equal(run.code, 1);
  assert.ok(run.seconds < 15, `took ${run.seconds} s`);
  assert.match(run.stdout, /^\[rank0\]: ignoring SIGTERM$/m);
  assert.match(run.stderr, /rank 1 \(local rank 1, pid \d+\) exited with code 3; stopped the other workers/);
  await assertGone([...reports(run.stdout).values()].map((lines) => (lines[0] as { pid: number }).pid));
});

test('launch: a worker killed by a signal is named with the signal', async () => {
  const run = await launch(['--nproc-per-node', '2', script('killed.js')]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /rank 1 \(local rank 1, pid \d+\) was killed by SIGKILL; stopped the other workers/);
  await assertGone([...reports(run.stdout).values()].map((lines) => (lines[0] as { pid: number }).pid));
});

test('launch --max-restarts 1: a worker failing on the first attempt only; the restarted group finishes', async () => {
  const run = await launch(['--nproc-per-node', '2', '--max-restarts', '1', script('flaky.js')]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    run.stderr,
    /rank 1 \(local rank 1, pid \d+\) exited with code 3; stopped the group, restarting it \(restart 1 of 1\)/,
  );
  const counts = [...reports(run.stdout).values()].map((lines) =>
    lines.map((line) => (line.env as Record<string, string>).TORCHELASTIC_RESTART_COUNT),
  );
  assert.deepEqual(counts, [
    ['0', '1'],
    ['0', '1'],
  ]);
  const again = await launch(['--max-restarts', '1', '--nproc-per-node', '2', script('fail-rank1.js')]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /rank 1 .* exited with code 3 after 1 restart; stopped the other workers/);
});

test('launch: SIGTERM to the launcher reaches every worker; it exits 143', async () => {
  let ready = false;
  const run = await launch(['--nproc-per-node', '2', script('graceful.js')], {
    whenStdout: (stdout, pid) => {
      if ((stdout.match(/: ready$/gm) ?? []).length < 2) return false;
      process.kill(pid, 'SIGTERM');
      return (ready = true);
    },
  });
  assert.ok(ready, run.stdout);
  assert.equal(run.code, 143, run.stderr);
  assert.match(run.stdout, /^\[rank0\]: got SIGTERM$/m);
  assert.match(run.stdout, /^\[rank1\]: got SIGTERM$/m);
  assert.match(run.stderr, /received SIGTERM; stopped every worker/);
});

test('launch: bad flags exit 2 naming the flag', async () => {
  const cases: [string[], RegExp][] = [
    [['--nproc-per-node', '0', script('report.js')], /--nproc-per-node must be an integer ≥ 1, got 0/],
    [['--nnodes', '2', '--node-rank', '2', script('report.js')], /--node-rank must be below --nnodes \(2\), got 2/],
    [['--master-port', '70000', script('report.js')], /--master-port must be a port from 1 to 65535/],
    [
      ['--nproc-per-nodes', '2', script('report.js')],
      /unknown flag --nproc-per-nodes \(did you mean --nproc-per-node\?\)/,
    ],
    [['--nproc-per-node', '2'], /no script to launch/],
    [[join(dir, 'missing.js')], /the script .*missing\.js does not exist/],
  ];
  const runs = await Promise.all(cases.map(([args]) => launch(args)));
  runs.forEach((run, i) => {
    assert.equal(run.code, 2, cases[i][0].join(' '));
    assert.match(run.stderr, cases[i][1]);
  });
});
