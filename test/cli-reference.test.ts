/**
 * docs/cli-reference.md is what the commands' flag tables make of it (tools/gen-cli-docs.ts), and
 * each command's --help, run as a user runs it, is the text the reference shows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { CLI_REFERENCE_PATH, cliReference } from '../tools/cli-reference.js';
import { COMMANDS } from '../src/cli/commands.js';
import { TRAINING_SETTINGS } from '../src/train/training-args.js';
import { CLI } from './helpers/cli.js';

test('docs/cli-reference.md is up to date with the flag tables (node build/ts/tools/gen-cli-docs.js writes it)', () => {
  const written = readFileSync(join(process.cwd(), CLI_REFERENCE_PATH), 'utf8');
  assert.equal(
    written,
    cliReference(),
    `${CLI_REFERENCE_PATH} is out of date: run node build/ts/tools/gen-cli-docs.js`,
  );
});

test("the reference holds every command's --help as the command prints it, and every TrainingArguments flag with its default", () => {
  const reference = cliReference();
  for (const command of ['train', 'inspect', 'schedule', 'doctor']) {
    const run = spawnSync(process.execPath, [CLI, command, '--help'], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const printed = run.stdout.trimEnd();
    assert.equal(printed, COMMANDS.find((c) => c.name === command)!.help());
    assert.ok(
      reference.includes(`## finetune ${command}\n`) && reference.includes(printed),
      `finetune ${command} --help is not in the reference`,
    );
  }
  // A TrainingArguments setting reaches the CLI's help as its flag, with the default the table declares.
  const train = COMMANDS.find((c) => c.name === 'train')!.help();
  assert.equal(TRAINING_SETTINGS.perDeviceTrainBatchSize.default, 8);
  assert.match(train, /--per-device-train-batch-size N +batch size \(default 8\)\n/);
  assert.match(train, /--adam-epsilon X +Adam's ε \(default 1e-8\)\n/);
  assert.match(train, /--max-steps N +optimizer steps; > 0 overrides --num-train-epochs/);
  assert.match(
    train,
    /--train-bn +freezing methods keep BatchNorm trainable in frozen groups, as fastai's train_bn \(default true\)\n/,
  );
  for (const name of ['dataloader-prefetch', 'strategy'])
    assert.doesNotMatch(train, new RegExp(`--${name}\\b`), `--${name} is no flag`);
});
