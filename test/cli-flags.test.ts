/**
 * Every flag the command line mentions to its users — in an error, a usage text, a help line — is a
 * flag some command defines: the strings of src/cli/*.ts are read with TypeScript's parser (comments
 * left out) and each `--name` in them is looked up in the commands' flag tables.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import ts from 'typescript';

import { type FlagTable, kebabCase } from '../src/cli/core/flags.js';
import { TRAIN_FLAGS } from '../src/cli/core/run-flags.js';
import { EVAL_FLAGS } from '../src/cli/eval.js';
import { PREDICT_FLAGS } from '../src/cli/predict.js';
import { MERGE_FLAGS } from '../src/cli/merge.js';
import { COMPARE_FLAGS } from '../src/cli/compare.js';
import { LR_FIND_FLAGS } from '../src/cli/lr-find.js';
import { ADVISE_FLAGS } from '../src/cli/advise.js';
import { FLAGS as PRETRAIN_FLAGS } from '../src/cli/pretrain.js';
import { FLAGS as SCHEDULE_FLAGS } from '../src/cli/schedule.js';
import { DEMO_FLAGS } from '../src/cli/demo.js';
import { DOCTOR_FLAGS } from '../src/cli/doctor.js';
import { INSPECT_FLAGS } from '../src/cli/inspect.js';
import { SETUP_FLAGS } from '../src/cli/setup.js';
import { LAUNCH_FLAGS } from '../src/cli/launch.js';
import { GENERATE_FLAGS } from '../src/cli/generate.js';
import { COMMANDS } from '../src/cli/commands.js';

const CLI_SOURCE = join(process.cwd(), 'src', 'cli');

/** Flags a user may be told about: every command's (hidden ones are not for users), and main's --help / --version. */
function definedFlags(): Set<string> {
  const tables: FlagTable[] = [
    TRAIN_FLAGS,
    EVAL_FLAGS,
    PREDICT_FLAGS,
    MERGE_FLAGS,
    COMPARE_FLAGS,
    LR_FIND_FLAGS,
    ADVISE_FLAGS,
    PRETRAIN_FLAGS,
    SCHEDULE_FLAGS,
    DEMO_FLAGS,
    DOCTOR_FLAGS,
    INSPECT_FLAGS,
    SETUP_FLAGS,
    LAUNCH_FLAGS,
    GENERATE_FLAGS,
  ];
  // one table a command: a new command's flags must join the list above
  assert.equal(tables.length, COMMANDS.length, `flag tables for ${COMMANDS.length} commands expected`);
  const names = new Set(['help', 'version']);
  for (const table of tables) for (const [name, spec] of Object.entries(table)) if (!spec.hidden) names.add(name);
  return names;
}

interface Mention {
  flag: string;
  where: string;
  text: string;
}

/** The `--flags` named in a source file's string and template literals, with file:line. */
function flagMentions(file: string, source: string): Mention[] {
  const sourceFile = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true);
  const mentions: Mention[] = [];
  const visit = (node: ts.Node): void => {
    if (
      ts.isStringLiteral(node) ||
      ts.isNoSubstitutionTemplateLiteral(node) ||
      ts.isTemplateHead(node) ||
      ts.isTemplateMiddle(node) ||
      ts.isTemplateTail(node)
    ) {
      const text = node.text;
      for (const match of text.matchAll(/(?<![\w-])--([a-zA-Z][\w-]*)/g)) {
        const line = sourceFile.getLineAndCharacterOfPosition(node.getStart()).line + 1;
        mentions.push({
          flag: kebabCase(match[1]).replace(/-+$/, ''),
          where: `${file}:${line}`,
          text: text.slice(Math.max(0, match.index - 30), match.index + match[0].length + 30),
        });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return mentions;
}

test('the scan finds a flag in messages, usage strings and templates, and not in comments', () => {
  const source = [
    '// a comment naming --in-a-comment',
    "throw new UsageError('give --nonexistent');",
    'throw new UsageError(`${x}: pass --also-missing ${y} or --third`);',
    'const USAGE = `Usage: finetune x [--model DIR]`;',
  ].join('\n');
  const found = flagMentions('sample.ts', source).map((m) => `${m.flag}@${m.where}`);
  assert.deepEqual(found, [
    'nonexistent@sample.ts:2',
    'also-missing@sample.ts:3',
    'third@sample.ts:3',
    'model@sample.ts:4',
  ]);
  const defined = definedFlags();
  assert.ok(!defined.has('nonexistent') && defined.has('model'));
});

test('every --flag the CLI names in a message or a help text is a flag of some command', () => {
  const defined = definedFlags();
  // The commands and the core they share (src/cli/core/).
  const files = readdirSync(CLI_SOURCE, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  assert.ok(
    files.length >= 20 && files.includes(join('core', 'data.ts')),
    `the CLI's sources in ${CLI_SOURCE}: ${files.join(', ')}`,
  );
  const mentions = files.flatMap((f) => flagMentions(join('src', 'cli', f), readFileSync(join(CLI_SOURCE, f), 'utf8')));
  assert.ok(mentions.length > 100, `only ${mentions.length} flag mentions found: the scan is broken`);
  const unknown = mentions.filter((m) => !defined.has(m.flag));
  assert.deepEqual(
    unknown.map((m) => `${m.where}: --${m.flag} in …${m.text}…`),
    [],
  );
});
