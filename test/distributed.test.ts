/**
 * distributed (torch.distributed on c10d + Gloo): real process groups of 2 and 3 child Node
 * processes on 127.0.0.1, their collectives' exact values, and what a missing or killed peer and bad
 * arguments give: an Error naming the rank and the operation, within the timeout, never a hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort } from './helpers/free-port.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { distributed, nn, runtimeInfo, tensor, zeros } from '../src/index.js';
import { addonPath } from '../src/tensor/native.js';

const worker = fileURLToPath(new URL('./helpers/distributed-worker.js', import.meta.url));
const glooBuilt = distributed.isGlooAvailable();
const skip = glooBuilt ? false : 'this addon was built without the Gloo headers (libgloo-dev)';

interface Rank {
  child: ChildProcess;
  /** Resolves with the exit code and what the rank printed, once it exited. */
  exited: Promise<{ code: number | null; lines: string[]; ms: number }>;
}

function startRank(scenario: string, rank: number, worldSize: number, port: number, timeoutMs: number): Rank {
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [worker, scenario, String(rank), String(worldSize), String(port), String(timeoutMs)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, OMP_NUM_THREADS: '1' },
    },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  // A rank still running after 20 s is a hang: kill it so the test fails instead of stalling the suite.
  const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const exited = new Promise<{ code: number | null; lines: string[]; ms: number }>((done) =>
    child.on('exit', (code) => {
      clearTimeout(guard);
      done({ code, lines: (out + err).trim().split('\n'), ms: Date.now() - started });
    }),
  );
  return { child, exited };
}

/** The JSON line a rank printed last. */
function resultOf(lines: string[]): Record<string, unknown> {
  return JSON.parse(lines.filter((line) => line.startsWith('{')).at(-1) ?? 'null') as Record<string, unknown>;
}

for (const worldSize of [2, 3]) {
  test(
    `${worldSize} processes: allReduce sum/avg/max, broadcast from rank 1, allGather, barrier`,
    { skip },
    async () => {
      const port = await freePort();
      const ranks = Array.from({ length: worldSize }, (_, rank) =>
        startRank('collectives', rank, worldSize, port, 10_000),
      );
      const exits = await Promise.all(ranks.map((r) => r.exited));
      // Rank r contributes [r+1, 10r] to sum and avg, [r+1, 5-r] to max, [2r+1, r+0.5] to the broadcast.
      const n = worldSize;
      const sum = [(n * (n + 1)) / 2, (10 * n * (n - 1)) / 2];
      for (const [rank, { code, lines }] of exits.entries()) {
        assert.equal(code, 0, lines.join('\n'));
        assert.deepEqual(resultOf(lines), {
          rank,
          worldSize,
          sum,
          avg: sum.map((v) => v / n),
          max: [n, 5],
          broadcast: [3, 1.5],
          allGather: Array.from({ length: n }, (_, r) => [r, r + 0.25]),
          asyncSum: [(n * (n - 1)) / 2],
          completed: true,
        });
      }
    },
  );
}

test(
  'a peer that never joins: every waiting rank gets an Error naming its rank and initProcessGroup within the timeout',
  { skip },
  async () => {
    const port = await freePort();
    // A group of 3 where rank 2 never starts: rank 0 waits for it at the store, rank 1 in Gloo's rendezvous.
    const exits = await Promise.all([0, 1].map((rank) => startRank('collectives', rank, 3, port, 3000).exited));
    for (const [rank, { code, lines, ms }] of exits.entries()) {
      assert.equal(code, 1, lines.join('\n'));
      const { error } = resultOf(lines) as { error: string };
      assert.match(
        error,
        new RegExp(
          `^distributed\\.initProcessGroup \\(store 127\\.0\\.0\\.1:${port}, timeout 3000 ms\\) failed on rank ${rank} of 3: `,
        ),
      );
      // The timeout, plus the store's one-second connection retry, plus loading libtorch.
      assert.ok(ms < 9000, `rank ${rank} took ${ms} ms`);
    }
  },
);

test(
  "a store host that never comes up: the connecting rank gets an Error naming its rank, after c10d's connection retries",
  { skip },
  async () => {
    const { code, lines, ms } = await startRank('collectives', 1, 2, await freePort(), 1500).exited;
    assert.equal(code, 1, lines.join('\n'));
    assert.match(
      (resultOf(lines) as { error: string }).error,
      /^distributed\.initProcessGroup \(store 127\.0\.0\.1:\d+, timeout 1500 ms\) failed on rank 1 of 2: The client socket has timed out/,
    );
    // TCPStore retries its connection with a backoff past the timeout (PyTorch's clients too): about 3x at most.
    assert.ok(ms < 4 * 1500 + 3000, `rank 1 took ${ms} ms`);
  },
);

test(
  'a peer killed in the middle of a collective gives the other an Error naming its rank and allReduce, not a hang',
  { skip },
  async () => {
    const port = await freePort();
    const survivor = startRank('kill-mid-collective', 0, 2, port, 5000);
    const victim = startRank('kill-mid-collective', 1, 2, port, 5000);
    await new Promise<void>((ready) =>
      victim.child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('READY') && ready()),
    );
    // Rank 0 is inside the allReduce by now (it entered it right after the barrier rank 1 passed).
    await new Promise((wait) => setTimeout(wait, 300));
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    const { code, lines } = await survivor.exited;
    assert.equal(code, 1, lines.join('\n'));
    assert.match(
      (resultOf(lines) as { error: string }).error,
      /^distributed\.allReduce failed on rank 0 of 2: .*(closed|reset|timed out|Timed out)/i,
    );
    assert.ok(Date.now() - killedAt < 5000 + 2000, `rank 0 exited ${Date.now() - killedAt} ms after the kill`);
    assert.equal((await victim.exited).code, null);
  },
);

test(
  'a peer that stops calling collectives: the waiting rank gets a timeout Error naming allReduce after the timeout',
  { skip },
  async () => {
    const port = await freePort();
    const [waiting, stalled] = [0, 1].map((rank) => startRank('stall', rank, 2, port, 2000));
    const { code, lines } = await waiting.exited;
    assert.equal(code, 1, lines.join('\n'));
    assert.match(
      (resultOf(lines) as { error: string }).error,
      /^distributed\.allReduce failed on rank 0 of 2: .*Timed out waiting 2000ms/,
    );
    assert.equal((await stalled.exited).code, 0);
  },
);

test('bad arguments are refused with the argument named', { skip }, () => {
  const init = (options: distributed.InitProcessGroupOptions) => () => distributed.initProcessGroup(options);
  const saved = { ...process.env };
  try {
    for (const name of ['MASTER_ADDR', 'MASTER_PORT', 'RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE'])
      delete process.env[name];
    assert.throws(init({}), /the environment variable WORLD_SIZE is not set/);
    process.env.WORLD_SIZE = '2';
    assert.throws(init({}), /the environment variable RANK is not set/);
    process.env.RANK = '2';
    assert.throws(init({}), /RANK must be an integer from 0 to 1, got "2"/);
    process.env.RANK = '1';
    assert.throws(init({}), /the environment variable MASTER_ADDR is not set/);
    process.env.MASTER_ADDR = '127.0.0.1';
    process.env.MASTER_PORT = '70000';
    assert.throws(init({}), /MASTER_PORT must be an integer from 0 to 65535, got "70000"/);
    process.env.WORLD_SIZE = 'two';
    assert.throws(init({}), /WORLD_SIZE must be an integer >= 1, got "two"/);
  } finally {
    process.env = saved;
  }
  assert.throws(
    init({ initMethod: 'tcp://127.0.0.1:1', rank: 0, worldSize: 0 }),
    /worldSize must be an integer >= 1, got 0/,
  );
  assert.throws(
    init({ initMethod: 'tcp://127.0.0.1:1', rank: -1, worldSize: 2 }),
    /rank must be an integer from 0 to 1, got -1/,
  );
  assert.throws(
    init({ initMethod: 'tcp://127.0.0.1:99999', rank: 0, worldSize: 1 }),
    /the port of initMethod must be an integer from 0 to 65535, got "99999"/,
  );
  assert.throws(
    init({ initMethod: 'file:///tmp/x', rank: 0, worldSize: 1 }),
    /initMethod must be 'env:\/\/' or 'tcp:\/\/host:port', got 'file:\/\/\/tmp\/x'/,
  );
  assert.throws(
    init({ backend: 'mpi' as 'gloo', initMethod: 'tcp://127.0.0.1:1', rank: 0, worldSize: 1 }),
    /backend must be 'gloo' \(CPU tensors\) or 'nccl' \(CUDA tensors\), got 'mpi'/,
  );
  assert.throws(
    init({ initMethod: 'tcp://127.0.0.1:1', rank: 0, worldSize: 1, timeout: 0 }),
    /timeout \(milliseconds\) must be an integer >= 1, got 0/,
  );
  assert.throws(
    () => distributed.getRank(),
    /distributed\.getRank: the default process group has not been initialized/,
  );
  assert.equal(distributed.isInitialized(), false);
});

test(
  'a group of one in this process: collectives are identities, and their arguments are checked',
  { skip },
  async () => {
    distributed.initProcessGroup({
      initMethod: `tcp://127.0.0.1:${await freePort()}`,
      rank: 0,
      worldSize: 1,
      timeout: 5000,
    });
    try {
      assert.equal(distributed.isInitialized(), true);
      assert.equal(distributed.getBackend(), 'gloo');
      assert.throws(() => distributed.initProcessGroup({ rank: 0, worldSize: 1 }), /already initialized/);
      assert.throws(
        () => distributed.allReduce(zeros([2], { device: 'meta' })),
        /distributed\.allReduce failed on rank 0 of 1: the gloo backend takes CPU and CUDA tensors, got the tensor on meta/,
      );
      // torch's DDP refuses device_ids for a CPU module; deviceIds names the one GPU that holds the module.
      assert.throws(
        () => new distributed.DistributedDataParallel(new nn.Linear(2, 2), { deviceIds: [0] }),
        /DistributedDataParallel: deviceIds \[0\] needs a module on cuda:0, but its parameters are on cpu: move it with module\.to\('cuda:0'\) first/,
      );
      assert.throws(
        () => new distributed.DistributedDataParallel(new nn.Linear(2, 2), { deviceIds: [0, 1] }),
        /deviceIds must name this process's one GPU \(\[LOCAL_RANK\]\), got \[0,1\]/,
      );
      const t = tensor([1.5, -2]);
      distributed.allReduce(t, distributed.ReduceOp.AVG);
      assert.deepEqual(t.toArray(), [1.5, -2]);
      assert.throws(
        () => distributed.allReduce(t, 'min' as distributed.ReduceOp),
        /distributed\.allReduce failed on rank 0 of 1: op must be one of sum, avg, max, got min/,
      );
      assert.throws(
        () => distributed.allReduce(tensor([1], { dtype: 'int64' }), distributed.ReduceOp.AVG),
        /distributed\.allReduce failed on rank 0 of 1: ReduceOp\.AVG needs a floating-point tensor, got int64/,
      );
      // Gloo would reduce a column's numel elements from its data pointer, into the next column.
      assert.throws(
        () =>
          distributed.allReduce(
            tensor([
              [1, 2],
              [3, 4],
            ]).select(1, 0),
          ),
        /distributed\.allReduce failed on rank 0 of 1: the tensor must be contiguous/,
      );
      assert.throws(
        () =>
          distributed.allGather(
            [
              tensor([
                [1, 2],
                [3, 4],
              ]).t(),
            ],
            tensor([
              [1, 2],
              [3, 4],
            ]),
          ),
        /distributed\.allGather failed on rank 0 of 1: the tensorList\[0\] must be contiguous/,
      );
      assert.throws(
        () => distributed.broadcast(t, 1),
        /distributed\.broadcast failed on rank 0 of 1: src must be a rank from 0 to 0, got 1/,
      );
      assert.throws(
        () => distributed.allGather([t, t], t),
        /distributed\.allGather failed on rank 0 of 1: tensorList needs one tensor per rank \(1\), got 2/,
      );
      assert.throws(
        () => distributed.allGather([zeros([3])], t),
        /distributed\.allGather failed on rank 0 of 1: tensorList\[0\] is float32 \[3\], but tensor is float32 \[2\]/,
      );
    } finally {
      distributed.destroyProcessGroup();
    }
    assert.equal(distributed.isInitialized(), false);
  },
);

test(
  'without Gloo compiled in, the API says how to get it',
  { skip: glooBuilt ? 'this addon has Gloo' : false },
  () => {
    assert.throws(
      () => distributed.initProcessGroup({ initMethod: 'tcp://127.0.0.1:1', rank: 0, worldSize: 1 }),
      /distributed: this build has no Gloo: install libgloo-dev .*`npx finetune setup --force`/,
    );
  },
);

test(
  "backend 'nccl' without NCCL compiled in names the backend and how to get a CUDA build",
  { skip: distributed.isNcclAvailable() ? 'this addon has NCCL' : false },
  () => {
    const cpuBuild = !runtimeInfo().cudaBuild;
    assert.throws(
      () => distributed.initProcessGroup({ backend: 'nccl', initMethod: 'tcp://127.0.0.1:1', rank: 0, worldSize: 1 }),
      !glooBuilt
        ? /backend 'nccl' is not compiled in: this build has no Gloo/
        : cpuBuild
          ? /distributed\.initProcessGroup: backend 'nccl' is not compiled in: the native addon links a CPU-only libtorch, and NCCL comes with the CUDA build: run `npx finetune setup --cuda 12\.8`/
          : /backend 'nccl' is not compiled in: the native addon links a CUDA libtorch but was built without the CUDA and NCCL headers/,
    );
    assert.equal(distributed.isInitialized(), false);
  },
);

test('finetune doctor lists the distributed backends this build has', () => {
  const doctor = spawnSync(process.execPath, [join(process.cwd(), 'dist', 'cli', 'main.js'), 'doctor'], {
    encoding: 'utf8',
  });
  assert.equal(doctor.status, 0, doctor.stderr);
  assert.match(
    doctor.stdout,
    glooBuilt ? /^distributed +gloo yes, nccl /m : /^distributed +gloo no \(install libgloo-dev/m,
  );
  // nccl is listed as there only where it is compiled in.
  assert.match(
    doctor.stdout,
    distributed.isNcclAvailable()
      ? /^distributed +gloo yes, nccl yes$/m
      : runtimeInfo().cudaBuild
        ? /, nccl no \(the CUDA and NCCL headers were missing at build time/m
        : /, nccl no \(CPU build: `npx finetune setup --cuda 12\.8` for the CUDA one\)$/m,
  );
});

test("the addon calls no gloo:: symbol: Debian's Gloo headers differ from the Gloo inside libtorch", { skip }, () => {
  // native/src/distributed.cc only names gloo types through shared_ptr; a call into a gloo class compiled from
  // libgloo-dev's headers (gloo::rendezvous::Store has 6 virtual slots there, 12 in libtorch's) would bind to
  // libtorch's differently laid-out code.
  const symbols = spawnSync('nm', ['-DC', addonPath], { encoding: 'utf8' });
  assert.equal(symbols.status, 0, symbols.stderr);
  assert.match(symbols.stdout, /U c10d::ProcessGroupGloo::ProcessGroupGloo\(/);
  assert.deepEqual(
    symbols.stdout.split('\n').filter((line) => /(^|[\s<(,])gloo::/.test(line)),
    [],
  );
});
