import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

// The layering of src/, lowest first: a folder imports only from its own layer and the layers before it (folders
// separated by commas share a layer). pattern and format import nothing of finetune's, so every layer may use them;
// amp (GradScaler, autocast) sits beside optim; pretrain (MLM on the Trainer) beside report; demo runs everything
// below it and only the command line runs the demo. src/index.ts, the package's entry, re-exports the layers and is
// imported by cli alone (for the version).
const LAYERING =
  'pattern, format, install → tensor → nn → models → peft → optim, amp → data, io, hub, distributed → train → pretrain, report → demo → cli';
const ENTRY = 'index.ts';
const ENTRY_IMPORTERS = new Set(['cli']);

const root = process.cwd();
const srcDir = join(root, 'src');
const layers: string[][] = LAYERING.split(' → ').map((level) => level.split(', '));
const levelOf = new Map(layers.flatMap((folders, level) => folders.map((folder) => [folder, level] as const)));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** The first folder of a path under src/ ('index.ts' for the entry itself). */
function topFolder(path: string): string {
  return relative(srcDir, path).split(sep)[0];
}

/** Every relative module a source text imports or re-exports, statically, as a type or with import(). */
function relativeImports(text: string): string[] {
  const { importedFiles } = ts.preProcessFile(text, true, true);
  return importedFiles.map((ref) => ref.fileName).filter((name) => name.startsWith('.'));
}

/** What is wrong with `file` importing each of `specifiers`, one line per wrong import naming both. */
function importViolations(file: string, specifiers: string[]): string[] {
  const from = topFolder(file);
  const where = relative(root, file);
  const violations: string[] = [];
  for (const specifier of specifiers) {
    const target = resolve(dirname(file), specifier);
    const to = topFolder(target);
    if (relative(srcDir, target).startsWith('..')) violations.push(`${where} imports '${specifier}', outside src/`);
    else if (to === ENTRY.replace(/\.ts$/, '.js')) {
      if (!ENTRY_IMPORTERS.has(from)) violations.push(`${where} (${from}) imports the package entry '${specifier}'`);
    } else if (from !== ENTRY && (levelOf.get(to) ?? -1) > (levelOf.get(from) ?? Infinity)) {
      violations.push(`${where} (${from}) imports '${specifier}' (${to}, a layer above)`);
    }
  }
  return violations;
}

/** The chains of ' → '-joined lowercase names (four layers or more) that a text writes. */
function layeringLines(text: string): string[] {
  return [...text.matchAll(/[a-z]+(?:, [a-z]+)*(?: → [a-z]+(?:, [a-z]+)*){3,}/g)].map((m) => m[0]);
}

test('every folder of src/ has its place in the layering line, and every place is a folder', () => {
  const folders = readdirSync(srcDir).filter((name) => statSync(join(srcDir, name)).isDirectory());
  assert.deepEqual(
    folders.filter((folder) => !levelOf.has(folder)),
    [],
    `folders missing from the line ${LAYERING}`,
  );
  assert.deepEqual(
    [...levelOf.keys()].filter((folder) => !folders.includes(folder)),
    [],
    'layers without a folder in src/',
  );
});

test('no file in src/ imports from a layer above its own, or from the package entry unless it is cli', () => {
  const violations = sourceFiles(srcDir).flatMap((file) =>
    importViolations(file, relativeImports(readFileSync(file, 'utf8'))),
  );
  assert.deepEqual(violations, [], `the layering is ${LAYERING}`);
});

test("the layering checked here is the one src/index.ts states, and the README's and docs' when they state one", () => {
  assert.deepEqual(layeringLines(readFileSync(join(srcDir, ENTRY), 'utf8')), [LAYERING], 'src/index.ts');
  const docsDir = join(root, 'docs');
  const pages = [
    'README.md',
    ...(existsSync(docsDir)
      ? readdirSync(docsDir)
          .filter((name) => name.endsWith('.md'))
          .map((name) => `docs/${name}`)
      : []),
  ];
  for (const page of pages) {
    for (const line of layeringLines(readFileSync(join(root, page), 'utf8'))) assert.equal(line, LAYERING, page);
  }
});

test('the check names a lower layer importing an upper one, in every form of import, and lets the rest pass', () => {
  // The rule on made-up imports, so that a check that never fires cannot pass unnoticed.
  const text = [
    "import { formatDuration } from '../report/format.js';",
    "import type {\n  Trainer,\n} from '../train/trainer.js';",
    "export { Module } from '../nn/module.js';",
    "const cli = await import('../cli/main.js');",
    "import { version } from '../index.js';",
    "import { formatBytes } from '../format/numbers.js';",
    "import { Tokenizer } from '../data/tokenizer.js';",
    "import { downloadFile } from '../hub/download.js';",
  ].join('\n');
  const file = join(srcDir, 'data', 'made-up.ts');
  assert.deepEqual(importViolations(file, relativeImports(text)), [
    "src/data/made-up.ts (data) imports '../report/format.js' (report, a layer above)",
    "src/data/made-up.ts (data) imports '../train/trainer.js' (train, a layer above)",
    "src/data/made-up.ts (data) imports '../cli/main.js' (cli, a layer above)",
    "src/data/made-up.ts (data) imports the package entry '../index.js'",
  ]);
  assert.deepEqual(importViolations(join(srcDir, 'cli', 'made-up.ts'), relativeImports(text)), []);
  assert.deepEqual(importViolations(join(srcDir, 'index.ts'), ['./cli/main.js', '../package.json']), [
    "src/index.ts imports '../package.json', outside src/",
  ]);
});
