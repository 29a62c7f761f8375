import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// The TypeScript examples of the README and of every page in docs/ are plain-JS-compatible; each
// runs as a module and every `console.log(…); // expected` comment must appear in what it prints.
// Blocks fenced as `ts ignore` need a network or files and are not run.
const root = process.cwd();
const docsDir = join(root, 'docs');
const pages = [
  'README.md',
  ...(existsSync(docsDir) ? readdirSync(docsDir).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`) : []),
];

function examples(page: string): string[] {
  const text = readFileSync(join(root, page), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]).filter((code) => code.includes("from 'finetune'"));
}

test('the README has runnable examples', () => {
  assert.ok(examples('README.md').length >= 2);
});

const scratch = mkdtempSync(join(root, 'build', 'readme-'));
for (const page of pages) {
  examples(page).forEach((code, i) => {
    test(`${page} example ${i + 1} runs and prints what it says`, () => {
      const file = join(scratch, `${page.replace(/\W/g, '-')}-${i + 1}.mjs`);
      writeFileSync(file, code);
      const output = execFileSync(process.execPath, [file], { cwd: root, encoding: 'utf8' });
      for (const [, expected] of code.matchAll(/console\.log\(.*\);\s*\/\/ (.+)$/gm)) {
        assert.ok(output.includes(expected.trim()), `expected output to contain ${expected.trim()}, got:\n${output}`);
      }
    });
  });
}
