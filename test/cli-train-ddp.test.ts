/**
 * `finetune train` under data parallelism, end to end with real processes: 2 processes × batch 4
 * train as 1 process × batch 8 (the same 20 logged losses and final weights within 1e-5, full
 * fine-tuning and LoRA; the evaluation metrics on 33 examples, an odd count, equal); two "nodes"
 * (two launchers, --nnodes 2) do too; a worker killed mid-run makes the launcher fail naming its rank
 * with no worker left, and with --max-restarts 1 the group resumes from the last checkpoint to the
 * same weights; a checkpoint of 2 processes resumes in 1. A tiny BERT without dropout (random masks
 * differ between batch 8 and two batches of 4), one libtorch thread per process.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CLI, ROOT, SST2_DEV, SST2_TRAIN, writeTinyBertModelFolder, type ChildRun } from './helpers/cli.js';
import { freePort } from './helpers/free-port.js';

let tmp = '';
let modelDir = '';

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'finetune-train-ddp-'));
  modelDir = writeTinyBertModelFolder(join(tmp, 'tiny-bert'), {
    hidden_dropout_prob: 0,
    attention_probs_dropout_prob: 0,
  });
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A running `finetune …`: its process, its output so far, and its end. */
interface Running {
  pid: number;
  output: () => { stdout: string; stderr: string };
  done: Promise<ChildRun>;
}

function start(args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, OMP_NUM_THREADS: '1', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const done = new Promise<ChildRun>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  return { pid: child.pid!, output: () => ({ stdout, stderr }), done };
}

function train(outputDir: string, options: { method?: string; batch: number; extra?: string[] }): string[] {
  const method = options.method ?? 'full';
  return [
    'train',
    '--model',
    modelDir,
    '--train-file',
    SST2_TRAIN,
    '--eval-file',
    SST2_DEV,
    '--max-eval-samples',
    '33',
    '--labels',
    'negative,positive',
    '--method',
    method,
    ...(method === 'lora' ? ['--lora-dropout', '0'] : []),
    '--max-length',
    '16',
    '--max-steps',
    '20',
    '--per-device-train-batch-size',
    String(options.batch),
    '--learning-rate',
    '1e-3',
    '--logging-steps',
    '1',
    '--save-steps',
    '5',
    '--eval-strategy',
    'steps',
    '--eval-steps',
    '10',
    '--report',
    'false',
    '--output-dir',
    outputDir,
    ...(options.extra ?? []),
  ];
}

async function trainIn(outputDir: string, options: { method?: string; batch: number; extra?: string[] }) {
  const run = await start(train(outputDir, options)).done;
  assert.equal(run.code, 0, run.stderr + run.stdout);
  return run;
}

function history(dir: string): Record<string, number>[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, number>);
}

/** The float32 tensors of a safetensors file, by name. */
function weights(path: string): Map<string, Float32Array> {
  const buffer = readFileSync(path);
  const headerLength = Number(buffer.readBigUInt64LE(0));
  const header = JSON.parse(buffer.subarray(8, 8 + headerLength).toString()) as Record<
    string,
    { dtype: string; data_offsets: [number, number] }
  >;
  const out = new Map<string, Float32Array>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    assert.equal(entry.dtype, 'F32', name);
    const bytes = buffer.subarray(8 + headerLength + entry.data_offsets[0], 8 + headerLength + entry.data_offsets[1]);
    out.set(name, new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)));
  }
  return out;
}

/**
 * Two runs' training: the 20 logged losses within 1e-5 relative; every saved tensor within 1e-5 of its
 * largest value, or of 0.02 (the initialisation's scale) for one that stays near 0 (a key bias: its
 * gradient is zero but for rounding, which AdamW scales up to lr-sized steps of noise, ~1e-7 apart).
 */
function assertSameTraining(a: string, b: string, file: string): void {
  const losses = (dir: string) => history(dir).filter((e) => 'loss' in e);
  const [la, lb] = [losses(a), losses(b)];
  assert.equal(la.length, 20);
  assert.deepEqual(
    lb.map((e) => e.step),
    la.map((e) => e.step),
  );
  la.forEach((e, i) =>
    assert.ok(Math.abs(e.loss - lb[i].loss) <= 1e-5 * Math.abs(e.loss), `step ${e.step}: ${e.loss} vs ${lb[i].loss}`),
  );
  const [wa, wb] = [weights(join(a, file)), weights(join(b, file))];
  assert.deepEqual([...wb.keys()].sort(), [...wa.keys()].sort());
  for (const [name, x] of wa) {
    const y = wb.get(name)!;
    let scale = 0.02;
    let worst = 0;
    for (let i = 0; i < x.length; i++) {
      scale = Math.max(scale, Math.abs(x[i]));
      worst = Math.max(worst, Math.abs(x[i] - y[i]));
    }
    assert.ok(worst <= 1e-5 * scale, `${name}: differs by ${worst} (largest value ${scale})`);
  }
  // And they moved: the comparison is of trained weights.
  assert.notEqual(la[0].loss, la[19].loss);
  // total_flos counts every process's tokens (transformers' store_flos sums the ranks'): each run pads
  // its batches to their own longest row, so a batch of 4 holds at most the tokens of its half of 8.
  const flos = (dir: string) => history(dir).find((e) => 'total_flos' in e)!.total_flos;
  const [fa, fb] = [flos(a), flos(b)];
  assert.ok(fb > 0.8 * fa && fb <= fa, `total_flos ${fb} vs ${fa}`);
}

/** The evaluations (at steps 10 and 20): accuracy and F1 equal, the loss within 1e-6 relative. */
function assertSameEvaluation(a: string, b: string): void {
  const evals = (dir: string) => history(dir).filter((e) => 'eval_loss' in e);
  const [ea, eb] = [evals(a), evals(b)];
  assert.equal(ea.length, 2);
  assert.equal(eb.length, 2);
  ea.forEach((e, i) => {
    assert.equal(eb[i].eval_accuracy, e.eval_accuracy);
    assert.equal(eb[i].eval_f1, e.eval_f1);
    assert.ok(Math.abs(eb[i].eval_loss - e.eval_loss) <= 1e-6 * e.eval_loss, `${eb[i].eval_loss} vs ${e.eval_loss}`);
  });
}

const single = { full: '', lora: '' };
let twoProcessFull = '';

for (const method of ['full', 'lora'] as const) {
  test(`finetune train --nproc-per-node 2 × batch 4 trains as 1 process × batch 8 (${method}${method === 'full' ? '; and × batch 2 × accumulation 2' : ''}), evaluation included`, async () => {
    const port = String(await freePort());
    single[method] = join(tmp, `one-${method}`);
    const two = join(tmp, `two-${method}`);
    await trainIn(single[method], { method, batch: 8 });
    const run = await trainIn(two, { method, batch: 4, extra: ['--nproc-per-node', '2', '--master-port', port] });
    if (method === 'full') {
      twoProcessFull = two;
      // Gradient accumulation: 2 processes × batch 2 × 2 micro-batches (the first under noSync) take the same global batch of 8.
      const accumulated = join(tmp, 'two-accumulated');
      const port2 = String(await freePort());
      const extra = ['--gradient-accumulation-steps', '2', '--nproc-per-node', '2', '--master-port', port2];
      const run2 = await trainIn(accumulated, { batch: 2, extra });
      assert.match(run2.stdout, /batch 2 per process × 2 processes × accumulation 2 = global batch 8/);
      assertSameTraining(single.full, accumulated, 'model.safetensors');
    }
    assert.match(run.stdout, /\[rank0\]: .*batch 4 per process × 2 processes × accumulation 1 = global batch 8/);
    // Rank 1 trains but prints nothing (rank 0 alone prints and writes).
    assert.doesNotMatch(run.stdout, /\[rank1\]/);
    assert.match(run.stderr, /finetune train: 2 workers on node 0 of 1 \(ranks 0–1 of 2\)/);
    assertSameTraining(single[method], two, method === 'lora' ? 'adapter_model.safetensors' : 'model.safetensors');
    assertSameEvaluation(single[method], two);
    assert.deepEqual(
      readdirSync(two)
        .filter((name) => name.startsWith('checkpoint-'))
        .sort(),
      ['checkpoint-10', 'checkpoint-15', 'checkpoint-20', 'checkpoint-5'],
    );
  });
}

test('two nodes on 127.0.0.1 (--nnodes 2, one process each, two launchers) train as one process', async () => {
  const port = String(await freePort());
  const out = join(tmp, 'two-nodes');
  const node = (rank: number) =>
    start(
      train(out, {
        batch: 4,
        extra: ['--nnodes', '2', '--node-rank', String(rank), '--nproc-per-node', '1', '--master-port', port],
      }),
    ).done;
  const [zero, one] = await Promise.all([node(0), node(1)]);
  assert.equal(zero.code, 0, zero.stderr);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stderr, /1 worker on node 1 of 2 \(ranks 1–1 of 2\)/);
  assert.equal(one.stdout, '');
  assertSameTraining(single.full, out, 'model.safetensors');
});

/** The worker processes a launcher started (its children), by rank. */
function workersOf(launcher: number): Map<number, number> {
  const workers = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent !== launcher) continue;
      const rank = /(?:^|\0)RANK=(\d+)\0/.exec(readFileSync(`/proc/${entry}/environ`, 'utf8'))?.[1];
      if (rank !== undefined) workers.set(Number(rank), Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return workers;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts 2 × batch 4 with rank 0 pausing halfway through writing checkpoint-10 (after checkpoint-5),
 * SIGKILLs rank 1 there, and returns the launcher's end, its worker pids and how long it took.
 */
async function killRankOneMidRun(out: string, extra: string[]) {
  const port = String(await freePort());
  const launcher = start(train(out, { batch: 4, extra: ['--nproc-per-node', '2', '--master-port', port, ...extra] }), {
    FINETUNE_TEST_PAUSE_IN_SAVE: '10',
  });
  const deadline = Date.now() + 60_000;
  while (!launcher.output().stdout.includes('FINETUNE_TEST_PAUSED_IN_SAVE 10')) {
    assert.ok(Date.now() < deadline, `no pause at checkpoint-10: ${JSON.stringify(launcher.output())}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(existsSync(join(out, 'checkpoint-5')));
  const workers = workersOf(launcher.pid);
  assert.deepEqual([...workers.keys()].sort(), [0, 1]);
  const killed = Date.now();
  process.kill(workers.get(1)!, 'SIGKILL');
  const run = await launcher.done;
  return { run, workers: [...workers.values()], seconds: (Date.now() - killed) / 1000 };
}

test('a worker killed mid-run: the launcher exits 1 naming rank 1, and no worker is left', async () => {
  const { run, workers, seconds } = await killRankOneMidRun(join(tmp, 'killed'), []);
  assert.equal(run.code, 1, run.stderr);
  assert.match(
    run.stderr,
    /finetune train: rank 1 \(local rank 1, pid \d+\) was killed by SIGKILL; stopped the other workers/,
  );
  assert.ok(seconds < 15, `the launcher took ${seconds} s to stop`);
  for (const pid of workers) assert.equal(alive(pid), false, `worker ${pid} is still running`);
});

test('--max-restarts 1: the group restarts from the last checkpoint and ends with the uninterrupted run’s weights', async () => {
  const out = join(tmp, 'restarted');
  const { run } = await killRankOneMidRun(out, ['--max-restarts', '1']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /rank 1 .* was killed by SIGKILL; stopped the group, restarting it \(restart 1 of 1\)/);
  assert.match(run.stdout, /\[rank0\]: restart 1: resuming from .*checkpoint-5/);
  assert.match(run.stdout, /resuming from .*checkpoint-5: step 5 of 20/);
  assertSameTraining(twoProcessFull, out, 'model.safetensors');
});

test("a checkpoint of 2 processes × batch 4 resumes in 1 process × batch 8 at the same examples, to the one-process run's weights", async () => {
  const out = join(tmp, 'resumed-alone');
  cpSync(join(twoProcessFull, 'checkpoint-10'), join(out, 'checkpoint-10'), { recursive: true });
  const run = await trainIn(out, { batch: 8, extra: ['--resume-from-checkpoint', join(out, 'checkpoint-10')] });
  assert.match(
    run.stdout,
    /written by 2 process\(es\) × batch 4, this run has 1 × 8: the epoch goes on after its first 80 examples \(batch 10 of each rank\)/,
  );
  assertSameTraining(single.full, out, 'model.safetensors');
});
