import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ROOT, runCli } from './helpers/cli.js';

const finetune = (...args: string[]) => runCli(args);

test('finetune --version prints the package version', () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const run = finetune('--version');
  assert.equal(run.code, 0);
  assert.equal(run.stdout.trim(), version);
});

test('finetune doctor names the libtorch in use, its version, threads, devices and where --device auto trains', () => {
  const run = finetune('doctor', '--json');
  assert.equal(run.code, 0, run.stderr);
  const info = JSON.parse(run.stdout) as {
    torchVersion: string;
    libtorch: string;
    threads: number;
    devices: string[];
    addon: string;
  };
  assert.match(info.torchVersion, /^2\.\d+/);
  assert.ok(existsSync(join(info.libtorch, 'lib', 'libtorch_cpu.so')), `libtorch at ${info.libtorch}`);
  assert.ok(existsSync(info.addon));
  assert.ok(info.threads >= 1);
  assert.equal(info.devices[0], 'cpu');
  const text = finetune('doctor');
  assert.match(text.stdout, /libtorch\s+2\.\d+\.\d+ at \//);
  assert.match(text.stdout, /at::get_num_threads\(\) : \d+/);
  assert.match(text.stdout, /^--device auto\s+cpu \(this libtorch \(2\.\d+\.\d+\S*\) is the CPU build\)$/m);
});

test('bad commands and flags exit non-zero with a message', () => {
  const unknown = finetune('frobnicate');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  const badFlag = finetune('demo', '--stesp', '3');
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /unknown flag --stesp/);
  const badValue = finetune('demo', '--steps', 'many');
  assert.match(badValue.stderr, /--steps expects a number/);
});
