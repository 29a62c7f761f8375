/**
 * Symlinks planted in an output folder are replaced, never written through (issue 14, item 13):
 * every file `finetune train` and `finetune merge` write, the checkpoint and base_model folders,
 * and the io helpers they go through (atomic writes, the metrics log's appends, compare's child
 * logs, folders made inside an output folder). Each planted link points at a "victim" file or
 * folder outside the output folder, whose bytes must come out unchanged.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  appendLogSync,
  copyFileAtomicSync,
  createOutputStream,
  makeOutputFolder,
  writeFileAtomicSync,
} from '../src/io/files.js';
import { writeFolderAtomically } from '../src/train/checkpoint.js';
import { runCli, SST2_TRAIN, writeTinyBertModelFolder } from './helpers/cli.js';

const VICTIM_TEXT = 'victim: must not change\n';

let tmp = '';
let victims = '';
let modelDir = '';

const finetune = (...args: string[]) => runCli(args);

/** A victim file outside every output folder, and a symlink to it planted at `path`. */
function plantFileLink(path: string): string {
  const victim = join(victims, `${path.replace(/[/\\]/g, '_')}.victim`);
  writeFileSync(victim, VICTIM_TEXT);
  symlinkSync(victim, path);
  return victim;
}

/** A victim folder holding one file, and a symlink to it planted at `path`. */
function plantFolderLink(path: string): string {
  const victim = join(victims, `${path.replace(/[/\\]/g, '_')}.dir`);
  mkdirSync(victim);
  writeFileSync(join(victim, 'keep.txt'), VICTIM_TEXT);
  symlinkSync(victim, path, 'dir');
  return victim;
}

function assertRegularFile(path: string): void {
  assert.ok(lstatSync(path).isFile(), `${path} is a regular file, not a link`);
}

function assertVictimFileUntouched(victim: string): void {
  assert.equal(readFileSync(victim, 'utf8'), VICTIM_TEXT, `${victim} unchanged`);
}

function assertVictimFolderUntouched(victim: string): void {
  assert.deepEqual(readdirSync(victim), ['keep.txt'], `${victim} holds only what it held`);
  assert.equal(readFileSync(join(victim, 'keep.txt'), 'utf8'), VICTIM_TEXT);
}

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'finetune-output-safety-'));
  victims = join(tmp, 'victims');
  mkdirSync(victims);
  modelDir = writeTinyBertModelFolder(join(tmp, 'tiny-bert'));
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('finetune train and merge replace symlinks planted at every output file and folder, leaving their targets untouched', () => {
  const output = join(tmp, 'lora');
  mkdirSync(output);
  const trainFiles = [
    'run_config.json',
    'metrics.jsonl',
    'tokenizer.json',
    'tokenizer_config.json',
    'vocab.txt',
    'trainer_state.json',
    'adapter_config.json',
    'adapter_model.safetensors',
    'report.html',
    'loss.png',
    'lr.png',
  ];
  const fileVictims = trainFiles.map((name) => [name, plantFileLink(join(output, name))] as const);
  // checkpoint-2 as a link to a folder; checkpoint-4 as a dangling link; base_model as a link to a folder.
  const checkpointVictim = plantFolderLink(join(output, 'checkpoint-2'));
  symlinkSync(join(victims, 'absent'), join(output, 'checkpoint-4'), 'dir');
  const baseVictim = plantFolderLink(join(output, 'base_model'));

  const run = finetune(
    'train',
    '--model',
    modelDir,
    '--train-file',
    SST2_TRAIN,
    '--labels',
    'negative,positive',
    '--method',
    'lora',
    '--max-length',
    '16',
    '--max-steps',
    '4',
    '--save-steps',
    '2',
    '--logging-steps',
    '1',
    '--output-dir',
    output,
  );
  assert.equal(run.code, 0, run.stderr);
  for (const [name, victim] of fileVictims) {
    assertRegularFile(join(output, name));
    assertVictimFileUntouched(victim);
  }
  assert.equal(JSON.parse(readFileSync(join(output, 'run_config.json'), 'utf8')).strategy, 'lora');
  const logged = readFileSync(join(output, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, number>);
  assert.deepEqual(
    logged.filter((entry) => 'loss' in entry).map((entry) => entry.step),
    [1, 2, 3, 4],
  );
  for (const name of ['checkpoint-2', 'checkpoint-4', 'base_model'])
    assert.ok(lstatSync(join(output, name)).isDirectory(), `${name} is a real folder`);
  assertRegularFile(join(output, 'checkpoint-2', 'adapter_model.safetensors'));
  assertRegularFile(join(output, 'base_model', 'model.safetensors'));
  assertVictimFolderUntouched(checkpointVictim);
  assertVictimFolderUntouched(baseVictim);
  assert.deepEqual(
    readdirSync(victims).filter((name) => name === 'absent'),
    [],
    'the dangling checkpoint link was not followed',
  );

  const merged = join(tmp, 'merged');
  mkdirSync(merged);
  const mergeFiles = [
    'run_config.json',
    'tokenizer.json',
    'tokenizer_config.json',
    'vocab.txt',
    'config.json',
    'model.safetensors',
  ];
  const mergeVictims = mergeFiles.map((name) => [name, plantFileLink(join(merged, name))] as const);
  const merge = finetune('merge', '--adapter', output, '--output-dir', merged);
  assert.equal(merge.code, 0, merge.stderr);
  for (const [name, victim] of mergeVictims) {
    assertRegularFile(join(merged, name));
    assertVictimFileUntouched(victim);
  }
  assert.equal(readFileSync(join(merged, 'vocab.txt'), 'utf8'), readFileSync(join(modelDir, 'vocab.txt'), 'utf8'));
});

test('writeFileAtomicSync and copyFileAtomicSync replace a link (even a dangling one); a link as the source is read through', () => {
  const folder = mkdtempSync(join(tmp, 'atomic-'));
  const victim = plantFileLink(join(folder, 'out.json'));
  writeFileAtomicSync(join(folder, 'out.json'), '{"ok":true}\n');
  assertRegularFile(join(folder, 'out.json'));
  assert.equal(readFileSync(join(folder, 'out.json'), 'utf8'), '{"ok":true}\n');
  assertVictimFileUntouched(victim);

  symlinkSync(join(folder, 'nowhere'), join(folder, 'dangling.txt'));
  writeFileAtomicSync(join(folder, 'dangling.txt'), new Uint8Array([104, 105]));
  assert.equal(readFileSync(join(folder, 'dangling.txt'), 'utf8'), 'hi');
  assert.deepEqual(
    readdirSync(folder).filter((name) => name === 'nowhere'),
    [],
    'the dangling link was not followed',
  );

  const copiedVictim = plantFileLink(join(folder, 'vocab.txt'));
  symlinkSync(join(folder, 'out.json'), join(folder, 'source-link.json'));
  copyFileAtomicSync(join(folder, 'source-link.json'), join(folder, 'vocab.txt'));
  assertRegularFile(join(folder, 'vocab.txt'));
  assert.equal(readFileSync(join(folder, 'vocab.txt'), 'utf8'), '{"ok":true}\n');
  assertVictimFileUntouched(copiedVictim);
  assert.deepEqual(
    readdirSync(folder).filter((name) => name.includes('.tmp-')),
    [],
    'no temporaries left',
  );
});

test('appendLogSync appends to its own file, and a link planted mid-run is replaced by the whole log', () => {
  const folder = mkdtempSync(join(tmp, 'append-'));
  const log = join(folder, 'metrics.jsonl');
  const lines = ['{"step":1}\n', '{"step":2}\n', '{"step":3}\n'];
  const whole = (count: number) => () => lines.slice(0, count).join('');
  appendLogSync(log, lines[0], whole(1));
  appendLogSync(log, lines[1], whole(2));
  assert.equal(readFileSync(log, 'utf8'), lines[0] + lines[1]);
  rmSync(log);
  const victim = plantFileLink(log);
  appendLogSync(log, lines[2], whole(3));
  assertRegularFile(log);
  assert.equal(readFileSync(log, 'utf8'), lines.join(''), 'the history rewritten, not just the new line');
  assertVictimFileUntouched(victim);
});

test('createOutputStream replaces an old log or a planted link with a new file', async () => {
  const folder = mkdtempSync(join(tmp, 'stream-'));
  const path = join(folder, 'lora.log');
  const victim = plantFileLink(path);
  const stream = createOutputStream(path);
  await new Promise<void>((done) => stream.end('child output\n', done));
  assertRegularFile(path);
  assert.equal(readFileSync(path, 'utf8'), 'child output\n');
  assertVictimFileUntouched(victim);
  const again = createOutputStream(path);
  await new Promise<void>((done) => again.end('second run\n', done));
  assert.equal(readFileSync(path, 'utf8'), 'second run\n', 'a new file, not appended to the old');
});

test('makeOutputFolder replaces links inside the root, follows the root itself, and refuses a folder outside it', async () => {
  const folder = mkdtempSync(join(tmp, 'folders-'));
  const realRoot = join(folder, 'real-root');
  mkdirSync(realRoot);
  const linkedRoot = join(folder, 'root');
  symlinkSync(realRoot, linkedRoot, 'dir');
  const methodVictim = plantFolderLink(join(realRoot, 'lora'));
  const made = await makeOutputFolder(linkedRoot, join(linkedRoot, 'lora', 'lr-1e-4'));
  assert.equal(made, join(linkedRoot, 'lora', 'lr-1e-4'));
  assert.ok(
    lstatSync(join(realRoot, 'lora')).isDirectory(),
    'the planted link is now a folder (inside the followed root)',
  );
  assert.ok(lstatSync(join(realRoot, 'lora', 'lr-1e-4')).isDirectory());
  assertVictimFolderUntouched(methodVictim);
  await assert.rejects(makeOutputFolder(realRoot, join(folder, 'elsewhere')), /elsewhere is not inside .*real-root/);
});

test('writeFolderAtomically replaces a symlinked checkpoint folder without touching its target', async () => {
  const folder = mkdtempSync(join(tmp, 'checkpoint-'));
  const victim = plantFolderLink(join(folder, 'checkpoint-7'));
  await writeFolderAtomically(folder, 'checkpoint-7', async (dir) =>
    writeFileSync(join(dir, 'model.safetensors'), 'weights'),
  );
  assert.ok(lstatSync(join(folder, 'checkpoint-7')).isDirectory());
  assert.equal(readFileSync(join(folder, 'checkpoint-7', 'model.safetensors'), 'utf8'), 'weights');
  assertVictimFolderUntouched(victim);
  assert.deepEqual(readdirSync(folder), ['checkpoint-7'], 'no temporary or trash folder left');
});
