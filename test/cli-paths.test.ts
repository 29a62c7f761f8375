/**
 * Paths and exits of the command line, as a user meets them from their own folder (a temporary one
 * outside the repository): local-looking model paths never go to the Hub and a missing one is a usage
 * error (exit 2) naming it; `~` is the home folder; a Hub id that cannot be reached fails at once and
 * says why it was taken for one; pretrain finds its default tokenizer from anywhere; the flags an error
 * suggests are the command's own; --threads is one flag on every command that computes, applied first.
 *
 * The "Hub" is a server on 127.0.0.1 (HF_ENDPOINT) that records every request, so "never goes to the
 * Hub" is checked by what it received.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { getNumThreads, MAX_THREADS, setNumThreads } from '../src/tensor/index.js';
import { UsageError } from '../src/cli/core/flags.js';
import { resolveModelSource } from '../src/cli/core/model-source.js';
import { loadTokenizer } from '../src/cli/core/tokenizer.js';
import { loadTrainedModel } from '../src/cli/core/trained-model.js';
import { runTrain } from '../src/cli/train.js';
import { runEval } from '../src/cli/eval.js';
import { runPredict } from '../src/cli/predict.js';
import { runMerge } from '../src/cli/merge.js';
import { runCompare } from '../src/cli/compare.js';
import { runLrFind } from '../src/cli/lr-find.js';
import { runAdvise } from '../src/cli/advise.js';
import { runInspect } from '../src/cli/inspect.js';
import { runPretrain } from '../src/cli/pretrain.js';

import { ROOT, runCli } from './helpers/cli.js';

let user = ''; // the user's working folder, outside the repository
let home = '';
let hub: Server;
let hubUrl = '';
const hubRequests: string[] = [];
let closedUrl = ''; // a port nothing listens on

const TINY_BERT = {
  model_type: 'bert',
  vocab_size: 30522,
  hidden_size: 32,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  intermediate_size: 64,
  max_position_embeddings: 64,
  id2label: { 0: 'neg', 1: 'pos' },
  label2id: { neg: 0, pos: 1 },
};

function listen(server: Server): Promise<string> {
  return new Promise((ok) =>
    server.listen(0, '127.0.0.1', () => ok(`http://127.0.0.1:${(server.address() as { port: number }).port}`)),
  );
}

before(async () => {
  user = mkdtempSync(join(tmpdir(), 'finetune-user-'));
  home = join(user, 'home');
  mkdirSync(join(home, 'models', 'tiny-bert'), { recursive: true });
  writeFileSync(join(home, 'models', 'tiny-bert', 'config.json'), JSON.stringify(TINY_BERT));
  mkdirSync(join(user, 'runs', 'lora-tiny'), { recursive: true });
  mkdirSync(join(user, 'tiny-bert'));
  writeFileSync(join(user, 'tiny-bert', 'config.json'), JSON.stringify(TINY_BERT));
  writeFileSync(
    join(user, 'reviews.csv'),
    'review,sentiment\na fine film,pos\na dull film,neg\nloved it,pos\nhated it,neg\n',
  );
  // The Hub answers every repo with "not found" and keeps a log.
  hub = createServer((req, res) => {
    hubRequests.push(`${req.method} ${req.url}`);
    res.writeHead(404, { 'X-Error-Code': 'RepoNotFound', 'X-Error-Message': 'Repository not found' }).end();
  });
  hubUrl = await listen(hub);
  const closed = createServer();
  closedUrl = await listen(closed);
  await new Promise((ok) => closed.close(ok));
  process.env.HF_ENDPOINT = hubUrl;
  process.env.HF_HUB_CACHE = join(user, 'hf-cache');
  process.env.HOME = home;
  delete process.env.HF_HUB_OFFLINE;
  delete process.env.TRANSFORMERS_OFFLINE;
  process.chdir(user);
});

after(async () => {
  process.chdir(ROOT);
  hub.closeAllConnections();
  await new Promise((ok) => hub.close(ok));
  if (user) rmSync(user, { recursive: true, force: true });
});

/** `finetune …` as a child process in the user's folder. */
function finetune(args: string[], env: Record<string, string> = {}) {
  return runCli(args, { cwd: user, env });
}

function flagsIn(text: string): Set<string> {
  return new Set([...text.matchAll(/(?<![\w-])--([a-z][\w-]*)/g)].map((m) => m[1]));
}

async function usageError(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof UsageError, `a UsageError (exit 2), got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('local-looking model paths never go to the Hub: a missing one is a usage error naming it', async () => {
  const abs = join(user, 'gone');
  const cases: [string, RegExp][] = [
    [
      'runs/does-not-exist',
      /^--model: runs\/does-not-exist does not exist \(a path, not a Hub id: runs\/ is a folder here\)$/,
    ],
    ['runs/lora-tny', /runs\/lora-tny does not exist .*\(did you mean runs\/lora-tiny\?\)/],
    ['./nope', /^--model: \.\/nope does not exist$/],
    [abs, new RegExp(`^--model: ${abs} does not exist$`)],
    ['~/nope', new RegExp(`^--model: ~/nope does not exist \\(${home}/nope\\)$`)],
    ['a/b/c', /^--model: a\/b\/c does not exist$/],
  ];
  for (const [arg, pattern] of cases) await usageError(resolveModelSource(arg), pattern);
  await usageError(
    loadTokenizer('runs/tok', [], 'bert'),
    /^--tokenizer: runs\/tok does not exist \(a path, not a Hub id/,
  );
  await usageError(loadTokenizer('./tok', [], 'bert'), /^--tokenizer: \.\/tok does not exist$/);
  await usageError(loadTrainedModel(undefined, 'runs/adapter'), /^--adapter: runs\/adapter does not exist$/);
  await usageError(loadTrainedModel('runs/base', undefined), /^--model: runs\/base does not exist/);
  assert.deepEqual(hubRequests, [], 'no request reached the Hub');

  // The same server does see a name that may be a Hub id (so the check above can fail).
  await assert.rejects(
    resolveModelSource('acme/tiny-model'),
    /^Error: --model acme\/tiny-model: not a local folder \(there is no acme\/ here\), so it was taken for a Hub id: .*not found/i,
  );
  assert.deepEqual(hubRequests, ['HEAD /acme/tiny-model/resolve/main/config.json']);
  hubRequests.length = 0;
});

test('~ is the home folder, and an existing folder is used whatever its shape', async () => {
  const fromHome = await resolveModelSource('~/models/tiny-bert');
  assert.equal(fromHome.kind, 'config');
  assert.equal(fromHome.dir, join(home, 'models', 'tiny-bert'));
  const relative = await resolveModelSource('tiny-bert');
  assert.equal(relative.dir, 'tiny-bert');
  assert.deepEqual(hubRequests, []);
});

test('a Hub id that cannot be reached fails at once and says it was taken for a Hub id; offline mode says so', async () => {
  process.env.HF_ENDPOINT = closedUrl;
  try {
    const started = performance.now();
    await assert.rejects(resolveModelSource('acme/unreachable'), (e: unknown) => {
      assert.ok(e instanceof Error && !(e instanceof UsageError));
      assert.match(
        e.message,
        /^--model acme\/unreachable: not a local folder \(there is no acme\/ here\), so it was taken for a Hub id: Could not reach the Hub .*ECONNREFUSED/,
      );
      return true;
    });
    assert.ok(performance.now() - started < 2000, 'no retries with back-off');
    process.env.HF_HUB_OFFLINE = '1';
    await assert.rejects(
      resolveModelSource('acme/unreachable'),
      /so it was taken for a Hub id: .*offline mode is on \(HF_HUB_OFFLINE\)/,
    );
  } finally {
    process.env.HF_ENDPOINT = hubUrl;
    delete process.env.HF_HUB_OFFLINE;
  }
});

test('as a user: a mistyped run folder is exit 2 at once, naming it', () => {
  const run = finetune(['train', '--model', 'runs/does-not-exist', '--train-file', 'reviews.csv'], {
    HF_ENDPOINT: closedUrl,
  });
  assert.equal(run.code, 2, run.stderr);
  assert.match(
    run.stderr,
    /^finetune train: --model: runs\/does-not-exist does not exist \(a path, not a Hub id: runs\/ is a folder here\)/,
  );
});

test('pretrain finds its default tokenizer from a folder outside the repository', () => {
  writeFileSync(
    join(user, 'texts.txt'),
    Array.from({ length: 12 }, (_, i) => `sentence number ${i} about a film`).join('\n') + '\n',
  );
  const run = finetune([
    'pretrain',
    '--model',
    'bert-tiny',
    '--text-file',
    'texts.txt',
    '--output-dir',
    'mlm',
    '--max-steps',
    '1',
    '--max-length',
    '16',
    '--batch-size',
    '4',
    '--threads',
    '1',
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.ok(existsSync(join(user, 'mlm', 'tokenizer.json')) && existsSync(join(user, 'mlm', 'model.safetensors')));
});

test("an error's suggested flags are the command's own (an adapter whose base cannot be found)", () => {
  const adapter = join(user, 'orphan-adapter');
  mkdirSync(adapter, { recursive: true });
  writeFileSync(
    join(adapter, 'adapter_config.json'),
    JSON.stringify({
      peft_type: 'LORA',
      base_model_name_or_path: 'gone-base',
      r: 8,
      lora_alpha: 16,
      target_modules: ['query'],
    }),
  );
  for (const [command, extra] of [
    ['eval', ['--eval-file', 'reviews.csv']],
    ['predict', ['--text', 'fine']],
    ['merge', ['--output-dir', 'merged']],
  ] as const) {
    const run = finetune([command, '--adapter', adapter, ...extra]);
    assert.equal(run.code, 2, run.stderr);
    const message = run.stderr.split('\n')[0];
    assert.match(message, /orphan-adapter.*--model/);
    const own = flagsIn(finetune([command, '--help']).stdout);
    for (const flag of flagsIn(message))
      assert.ok(own.has(flag), `finetune ${command} suggests --${flag}, which it does not have: ${message}`);
  }
});

test('--threads on every command that computes: checked and applied before anything else', async () => {
  // Each command with flags that make it stop at a usage error (compare checks its methods before it starts a run).
  const missingModel = ['--model', 'runs/does-not-exist'];
  const commands: [string, (argv: string[]) => Promise<number> | number, string[]][] = [
    ['train', runTrain, missingModel],
    ['eval', runEval, missingModel],
    ['predict', runPredict, missingModel],
    ['merge', runMerge, missingModel],
    ['compare', runCompare, [...missingModel, '--methods', 'nope']],
    ['lr-find', runLrFind, missingModel],
    ['advise', runAdvise, missingModel],
    ['inspect', runInspect, missingModel],
    ['pretrain', runPretrain, missingModel],
  ];
  let threads = getNumThreads();
  for (const [name, run, stop] of commands) {
    assert.equal(await run(['--threads', '0']), 2, `${name} --threads 0`);
    assert.equal(await run(['--threads', '100000']), 2, `${name} --threads 100000`);
    // Another value than the current one: set before the command stops at its usage error.
    threads = threads === 1 ? 3 : 1;
    assert.equal(await run(['--threads', String(threads), ...stop]), 2, `finetune ${name} ${stop.join(' ')}`);
    assert.equal(getNumThreads(), threads, `finetune ${name} --threads ${threads}`);
  }
});

test('finetune eval --threads N runs on N libtorch threads (its --json says so)', () => {
  for (const threads of [1, 3]) {
    const run = finetune([
      'eval',
      '--model',
      'tiny-bert',
      '--eval-file',
      'reviews.csv',
      '--json',
      '--threads',
      String(threads),
    ]);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { threads: number; examples: number };
    assert.equal(result.examples, 4);
    assert.equal(result.threads, threads);
  }
});

test('setNumThreads refuses a count that would crash libtorch or exhaust the machine (issue 14), and a fraction', () => {
  const before = getNumThreads();
  for (const bad of [0, 1.5, MAX_THREADS + 1, 100_000])
    assert.throws(
      () => setNumThreads(bad),
      new RegExp(`setNumThreads: threads must be an integer from 1 to ${MAX_THREADS}, got ${bad}`),
    );
  assert.equal(getNumThreads(), before, 'nothing changed');
  setNumThreads(2);
  assert.equal(getNumThreads(), 2);
  setNumThreads(before);
});
