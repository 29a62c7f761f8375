import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

// The TypeScript examples of the README and of every page in docs/ are plain-JS-compatible; each
// runs as a module and every `console.log(…); // expected` comment must appear in what it prints.
// Blocks fenced as `ts ignore` need a network or files and are not run.
const root = process.cwd();
const docsDir = join(root, 'docs');
const pages = [
  'README.md',
  ...(existsSync(docsDir)
    ? readdirSync(docsDir)
        .filter((name) => name.endsWith('.md'))
        .map((name) => `docs/${name}`)
    : []),
];

function examples(page: string): string[] {
  const text = readFileSync(join(root, page), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)]
    .map((m) => m[1])
    .filter((code) => code.includes("from 'finetune'"));
}

test('the README has a runnable example, and the README and docs/ keep every example the README once held', () => {
  assert.ok(examples('README.md').length >= 1);
  // 12 runnable examples lived in the README before its sections moved to docs/ and 2 in
  // docs/security-and-limits.md; the README has its own since.
  const total = pages.reduce((sum, page) => sum + examples(page).length, 0);
  assert.ok(total >= 15, `${total} runnable examples in ${pages.join(', ')}`);
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

// Links: every relative link of the README and docs/ must lead to a file that exists and, when it
// names an anchor (`page.md#heading`), to a heading of that page, as GitHub renders them.

/** The page's lines outside fenced code blocks. */
function outsideFences(text: string): string {
  const lines: string[] = [];
  let inFence = false;
  for (const line of text.split('\n')) {
    if (line.trimStart().startsWith('```')) inFence = !inFence;
    else if (!inFence) lines.push(line);
  }
  return lines.join('\n');
}

/** The page's text outside code blocks and inline code spans, where `[text](target)` is a link. */
function prose(text: string): string {
  return outsideFences(text).replace(/(`+)[\s\S]*?\1/g, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, each space a hyphen; repeats get -1, -2, … */
function githubSlug(heading: string, seen: Map<string, number>): string {
  const base = heading
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
  const count = seen.get(base) ?? 0;
  seen.set(base, count + 1);
  return count === 0 ? base : `${base}-${count}`;
}

function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>();
  const headings = [
    ...outsideFences(readFileSync(file, 'utf8'))
      .replace(/`/g, '')
      .matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm),
  ];
  return new Set(headings.map(([, heading]) => githubSlug(heading, seen)));
}

function brokenLinks(page: string): string[] {
  const pagePath = join(root, page);
  const broken: string[] = [];
  for (const [link, target] of prose(readFileSync(pagePath, 'utf8')).matchAll(/\[[^\]]*\]\(([^)\s]+)[^)]*\)/g)) {
    if (/^[a-z][a-z0-9+.-]*:|^\/\//i.test(target)) continue; // https:, mailto: — not this repository's
    const [path, anchor] = target.split('#');
    const file = path === '' ? pagePath : join(dirname(pagePath), decodeURIComponent(path));
    const where = `${link.replace(/\s+/g, ' ')} in ${page}`;
    if (!existsSync(file)) broken.push(`${where}: ${relative(root, file)} does not exist`);
    else if (anchor !== undefined && !statSync(file).isDirectory() && !anchorsOf(file).has(anchor)) {
      broken.push(`${where}: ${relative(root, file)} has no heading #${anchor}`);
    }
  }
  return broken;
}

for (const page of pages) {
  test(`${page}: every relative link leads to a file and heading that exist`, () => {
    assert.deepEqual(brokenLinks(page), []);
  });
}

test('the link check finds a missing file and a missing heading', () => {
  const dir = mkdtempSync(join(root, 'build', 'readme-links-'));
  writeFileSync(join(dir, 'a.md'), '# A page\n\n## Second: `part`\n');
  writeFileSync(
    join(dir, 'b.md'),
    '[ok](a.md#second-part) [file](missing.md) [heading](a.md#third)\n```\n[in code](nowhere.md)\n```\n`[span](nowhere.md)`\n',
  );
  const page = relative(root, join(dir, 'b.md'));
  assert.deepEqual(brokenLinks(page), [
    `[file](missing.md) in ${page}: ${relative(root, join(dir, 'missing.md'))} does not exist`,
    `[heading](a.md#third) in ${page}: ${relative(root, join(dir, 'a.md'))} has no heading #third`,
  ]);
});
