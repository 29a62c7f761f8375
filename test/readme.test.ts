import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// The README's TypeScript examples are plain-JS-compatible; each runs as a module and every
// `console.log(…); // expected` comment must appear in what it prints. Blocks fenced as
// `ts ignore` need a network or files and are not run.
const root = process.cwd();
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]).filter((code) => code.includes("from 'finetune'"));

test('the README has runnable examples', () => {
  assert.ok(blocks.length >= 2);
});

const scratch = mkdtempSync(join(root, 'build', 'readme-'));
blocks.forEach((code, i) => {
  test(`README example ${i + 1} runs and prints what it says`, () => {
    const file = join(scratch, `example-${i + 1}.mjs`);
    writeFileSync(file, code);
    const output = execFileSync(process.execPath, [file], { cwd: root, encoding: 'utf8' });
    for (const [, expected] of code.matchAll(/console\.log\(.*\);\s*\/\/ (.+)$/gm)) {
      assert.ok(output.includes(expected.trim()), `expected output to contain ${expected.trim()}, got:\n${output}`);
    }
  });
});
