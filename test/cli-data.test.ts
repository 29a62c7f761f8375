/**
 * The user's own data through the CLI, run as a user would: each command is a child process
 * (`node dist/cli/main.js …`) started in a scratch folder outside the repository, on files made
 * here. Labels that look like mistakes, a single class, encodings, delimiters, messages that name
 * CLI flags (not library options), and the text column `train`, `predict` and `pretrain` all find.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BERT_TOKENIZER_DIR, runCli, writeTinyBertModelFolder } from './helpers/cli.js';

let user = '';
let model = '';

/** Runs the CLI in the user's folder. */
function finetune(...args: string[]) {
  return runCli(args, { cwd: user });
}

/** `train` on a file for one step: enough to read the data, print the plan and save. */
function trainOn(file: string, ...flags: string[]) {
  return finetune(
    'train',
    '--model',
    model,
    '--train-file',
    file,
    '--max-steps',
    '1',
    '--max-length',
    '8',
    '--report=false',
    '--output-dir',
    join(user, 'out'),
    ...flags,
  );
}

/** 300 reviews in two classes (`review,sentiment`), with some rows' labels replaced. */
function reviews(replaced: Record<number, string> = {}, separator = ','): string {
  const lines = [`review${separator}sentiment`];
  for (let i = 0; i < 300; i++)
    lines.push(`"review number ${i}"${separator}${replaced[i + 2] ?? (i % 2 ? 'positive' : 'negative')}`);
  return lines.join('\n') + '\n';
}

before(() => {
  user = mkdtempSync(join(tmpdir(), 'finetune-user-data-'));
  model = writeTinyBertModelFolder(join(user, 'tiny-bert'), { num_hidden_layers: 1 });
});

after(() => {
  if (user) rmSync(user, { recursive: true, force: true });
});

test('labels that look like mistakes: exit 2 naming each label, its count and rows, and the flags that proceed', () => {
  // The strays in a binary set: a case variant, a trailing space, a typo, a third class.
  writeFileSync(
    join(user, 'stray.csv'),
    reviews({ 12: 'Positive', 22: 'Positive', 32: 'neutral', 42: 'postive', 52: 'negative ' }),
  );
  const run = trainOn('stray.csv');
  assert.equal(run.code, 2, run.stderr + run.stdout);
  assert.equal(
    run.stderr,
    "finetune train: stray.csv: labels in column 'sentiment' that look like mistakes:\n" +
      "  'Positive' (2 rows, at stray.csv:12, :22): differs only in case from 'positive' (150 rows); rare: fewer than 3 rows (1% of the 300 rows)\n" +
      "  'negative ' (1 row, at stray.csv:52): differs only in surrounding spaces from 'negative' (145 rows); rare: fewer than 3 rows (1% of the 300 rows)\n" +
      "  'neutral' (1 row, at stray.csv:32): rare: fewer than 3 rows (1% of the 300 rows)\n" +
      "  'postive' (1 row, at stray.csv:42): rare: fewer than 3 rows (1% of the 300 rows)\n" +
      'Correct those rows, or give the labels you mean with --labels negative,positive (rows with other labels are then bad rows: an error, ' +
      'or left out with --skip-bad-rows), or keep rare labels as classes with --allow-rare-labels.\n' +
      '(finetune train --help lists the flags)\n',
  );
  // --labels: the strays are bad rows, named at the first; with --skip-bad-rows they are left out and counted.
  const named = trainOn('stray.csv', '--labels', 'negative,positive');
  assert.equal(named.code, 1);
  assert.match(
    named.stderr,
    /^finetune train: stray\.csv:12: unknown label 'Positive' \(known labels: negative, positive\)/,
  );
  const skipped = trainOn('stray.csv', '--labels', 'negative,positive', '--skip-bad-rows');
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(
    skipped.stdout,
    /data: train 295 from stray\.csv \(text: review, label: sentiment; labels negative: 145, positive: 150\), 5 bad rows skipped/,
  );

  // Only rare labels: --allow-rare-labels keeps them as classes.
  writeFileSync(join(user, 'rare.csv'), reviews({ 32: 'neutral', 42: 'postive' }));
  assert.equal(trainOn('rare.csv').code, 2);
  const kept = trainOn('rare.csv', '--allow-rare-labels');
  assert.equal(kept.code, 0, kept.stderr);
  assert.match(kept.stdout, /model: .* 4 labels/);
  assert.match(kept.stdout, /labels negative: 148, neutral: 1, positive: 150, postive: 1\)/);

  // An empty label is a bad row at its line.
  writeFileSync(join(user, 'empty.csv'), reviews({ 9: '' }));
  const empty = trainOn('empty.csv');
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /^finetune train: empty\.csv:9: empty label in column 'sentiment'\n$/);
});

test('a single class, in a text file or an image folder, is a usage error saying so', async () => {
  writeFileSync(
    join(user, 'one.csv'),
    reviews(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [i + 2, 'positive']))),
  );
  const text = trainOn('one.csv');
  assert.equal(text.code, 2, text.stderr);
  assert.match(
    text.stderr,
    /^finetune train: one\.csv: every row has the label 'positive' \(column 'sentiment'\): a classifier needs two classes or more\n/,
  );
  const named = trainOn('one.csv', '--labels', 'negative,positive');
  assert.equal(named.code, 2);
  assert.match(named.stderr, /every row has the label 'positive' .* \(--labels names 2: negative, positive\)/);

  const { PNG } = (await import('pngjs')).default;
  const png = new PNG({ width: 8, height: 8 });
  png.data.fill(128);
  mkdirSync(join(user, 'one-class', 'cats'), { recursive: true });
  for (let k = 0; k < 3; k++) writeFileSync(join(user, 'one-class', 'cats', `${k}.png`), PNG.sync.write(png));
  const images = finetune(
    'train',
    '--model',
    'resnet18',
    '--image-folder',
    'one-class',
    '--image-size',
    '32',
    '--max-steps',
    '1',
    '--output-dir',
    join(user, 'out-images'),
  );
  assert.equal(images.code, 2, images.stderr);
  assert.match(
    images.stderr,
    /^finetune train: --image-folder one-class: one class sub-folder \('cats'\): a classifier needs two classes or more, each in its own sub-folder \(one-class\/<class>\/<image>\)\n/,
  );

  // A bad image's message names the flag, not the library option.
  mkdirSync(join(user, 'one-class', 'dogs'));
  writeFileSync(join(user, 'one-class', 'dogs', 'a.png'), PNG.sync.write(png));
  writeFileSync(join(user, 'one-class', 'dogs', 'notes.png'), 'not an image');
  const bad = finetune(
    'train',
    '--model',
    'resnet18',
    '--image-folder',
    'one-class',
    '--image-size',
    '32',
    '--max-steps',
    '1',
    '--output-dir',
    join(user, 'out-images'),
  );
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    /one-class\/dogs\/notes\.png: not a PNG or JPEG image \(unrecognised first bytes\)\nPass --skip-bad-rows to leave them out\.\n$/,
  );
  assert.doesNotMatch(bad.stderr, /onBadFile/);
});

test('encodings: invalid UTF-8 is exit 1 at its line naming --encoding; Latin-1 given, UTF-16 and UTF-8 byte-order marks read', () => {
  const text = reviews().replace('review number 3"', 'café crème number 3"');
  writeFileSync(join(user, 'latin1.csv'), Buffer.from(text, 'latin1'));
  const run = trainOn('latin1.csv');
  assert.equal(run.code, 1);
  assert.equal(
    run.stderr,
    'finetune train: latin1.csv:5: not valid UTF-8 (byte 0xE9 at byte 5 of the line). Read as Latin-1 the line is: "café crème number 3",positive — ' +
      'if the file is in another encoding, give --encoding latin1 (or windows-1252, utf-16le, utf-16be)\n',
  );
  const given = trainOn('latin1.csv', '--encoding', 'latin1');
  assert.equal(given.code, 0, given.stderr);
  assert.match(
    given.stdout,
    /data: train 300 from latin1\.csv \(text: review, label: sentiment; labels negative: 150, positive: 150\)/,
  );
  // The run records its encoding: eval reads the user's other Latin-1 files without the flag again
  assert.equal(
    (JSON.parse(readFileSync(join(user, 'out', 'run_config.json'), 'utf8')) as { encoding?: string }).encoding,
    'latin1',
  );
  const again = finetune('eval', '--model', join(user, 'out'), '--eval-file', 'latin1.csv', '--json');
  assert.equal(again.code, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as { examples: number }).examples, 300);
  const unknown = trainOn('latin1.csv', '--encoding', 'klingon');
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.stderr,
    /--encoding: unknown encoding "klingon" \(known: utf-8, latin1, windows-1252, utf-16le, utf-16be\)/,
  );

  writeFileSync(join(user, 'utf16.csv'), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
  const utf16 = trainOn('utf16.csv');
  assert.equal(utf16.code, 0, utf16.stderr);
  assert.match(
    utf16.stdout,
    /data: train 300 from utf16\.csv \(text: review, label: sentiment; labels negative: 150, positive: 150\)/,
  );
  writeFileSync(join(user, 'bom.csv'), `\uFEFF${text}`);
  assert.match(trainOn('bom.csv').stdout, /data: train 300 from bom\.csv \(text: review, label: sentiment;/);
});

test('delimiters: a ;- or tab-separated .csv is read from its header line; a wrong --delimiter is named with the one that fits', () => {
  writeFileSync(join(user, 'semicolon.csv'), reviews({}, ';'));
  const semicolon = trainOn('semicolon.csv');
  assert.equal(semicolon.code, 0, semicolon.stderr);
  assert.match(
    semicolon.stdout,
    /data: train 300 from semicolon\.csv \(text: review, label: sentiment; labels negative: 150, positive: 150; delimiter ';'\)/,
  );
  writeFileSync(join(user, 'tabs.csv'), reviews({}, '\t'));
  assert.match(trainOn('tabs.csv').stdout, /labels negative: 150, positive: 150; delimiter tab\)/);
  // The header says ',' here, the rows ';'.
  writeFileSync(join(user, 'mixed.csv'), reviews({}, ';').replace('review;sentiment', 'review,sentiment'));
  const mixed = trainOn('mixed.csv');
  assert.equal(mixed.code, 1);
  assert.equal(
    mixed.stderr,
    "finetune train: mixed.csv:2: ';' after the closing quote of field 1, where the delimiter ',' should be: if the file is separated by ';', give --delimiter ';'\n",
  );
  // Given, ';' reads the header as one field: the message says which delimiter the header has.
  const given = trainOn('mixed.csv', '--delimiter', ';');
  assert.equal(given.code, 1);
  assert.equal(
    given.stderr,
    "finetune train: mixed.csv:2: 2 fields, the header has 1 (the header is one field, 'review,sentiment': if the delimiter is ',', give --delimiter ',')\n",
  );
  // A comma-separated file read with ';': quoted fields say so at the first row; unquoted ones make one column, which the column question says.
  writeFileSync(join(user, 'commas.csv'), reviews());
  const quoted = trainOn('commas.csv', '--delimiter', ';');
  assert.equal(quoted.code, 1);
  assert.equal(
    quoted.stderr,
    "finetune train: commas.csv:2: ',' after the closing quote of field 1, where the delimiter ';' should be: if the file is separated by ',', give --delimiter ','\n",
  );
  writeFileSync(join(user, 'unquoted.csv'), reviews().replaceAll('"', ''));
  const unquoted = trainOn('unquoted.csv', '--delimiter', ';');
  assert.equal(unquoted.code, 1);
  assert.match(
    unquoted.stderr,
    /^finetune train: unquoted\.csv:1: which column is the label\? give --label-column \(columns: review,sentiment\); the header is one column: if the delimiter is ',', give --delimiter ','\n/,
  );
  const bad = trainOn('semicolon.csv', '--delimiter', ';;');
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /--delimiter must be one character other than a quote or a line break \(or 'tab'\), got ';;'/,
  );
});

test('pretrain and predict find the text column as train does (review, or the only column that is not the label)', () => {
  writeFileSync(join(user, 'reviews.csv'), reviews());
  const pretrain = finetune(
    'pretrain',
    '--model',
    'bert-tiny',
    '--tokenizer',
    BERT_TOKENIZER_DIR,
    '--text-file',
    'reviews.csv',
    '--max-steps',
    '1',
    '--max-length',
    '16',
    '--output-dir',
    join(user, 'mlm'),
  );
  assert.equal(pretrain.code, 0, pretrain.stderr);
  assert.match(pretrain.stdout, /^reviews\.csv: 300 texts \(column 'review'\) → /);
  writeFileSync(
    join(user, 'body.csv'),
    'id,body,sentiment\n1,a fine film,positive\n2,a dull film,negative\n3,great fun,positive\n',
  );
  const body = finetune(
    'pretrain',
    '--model',
    'bert-tiny',
    '--tokenizer',
    BERT_TOKENIZER_DIR,
    '--text-file',
    'body.csv',
    '--max-steps',
    '1',
    '--max-length',
    '16',
    '--output-dir',
    join(user, 'mlm'),
  );
  assert.equal(body.code, 0, body.stderr);
  assert.match(body.stdout, /^body\.csv: 3 texts \(column 'body'\) → /);
  writeFileSync(join(user, 'two.csv'), 'title,body\na,b\nc,d\n');
  const which = finetune(
    'pretrain',
    '--model',
    'bert-tiny',
    '--tokenizer',
    BERT_TOKENIZER_DIR,
    '--text-file',
    'two.csv',
    '--output-dir',
    join(user, 'mlm'),
  );
  assert.equal(which.code, 1);
  assert.match(
    which.stderr,
    /^finetune pretrain: two\.csv:1: which column holds the text\? give --text-column \(columns: title, body\)/,
  );

  // predict: a model trained on `review`, a file whose text column is `body`.
  const trained = trainOn('reviews.csv');
  assert.equal(trained.code, 0, trained.stderr);
  const predict = finetune('predict', '--model', join(user, 'out'), '--file', 'body.csv');
  assert.equal(predict.code, 0, predict.stderr);
  assert.match(predict.stdout, /^a fine film\s+(negative|positive) 0\.\d{4}\na dull film\s/);

  // eval and predict read other encodings and delimiters as train does.
  writeFileSync(
    join(user, 'eval.csv'),
    Buffer.from('review;sentiment\ncafé noir;positive\ncrème brûlée;negative\n', 'latin1'),
  );
  const strict = finetune('eval', '--model', join(user, 'out'), '--eval-file', 'eval.csv');
  assert.equal(strict.code, 1);
  assert.match(
    strict.stderr,
    /^finetune eval: eval\.csv:2: not valid UTF-8 \(byte 0xE9 at byte 4 of the line\)\. .* give --encoding latin1/,
  );
  const evaluated = finetune(
    'eval',
    '--model',
    join(user, 'out'),
    '--eval-file',
    'eval.csv',
    '--encoding',
    'latin1',
    '--json',
  );
  assert.equal(evaluated.code, 0, evaluated.stderr);
  assert.equal((JSON.parse(evaluated.stdout) as { examples: number }).examples, 2);
  const predicted = finetune('predict', '--model', join(user, 'out'), '--file', 'eval.csv', '--encoding', 'latin1');
  assert.equal(predicted.code, 0, predicted.stderr);
  assert.match(predicted.stdout, /^café noir\s+(negative|positive) 0\.\d{4}\ncrème brûlée\s/);
});

test('compare: a data error of its runs is shown whole (each label and its rows); a missing --model stops before any run', () => {
  writeFileSync(join(user, 'stray-compare.csv'), reviews({ 32: 'neutral' }));
  const run = finetune(
    'compare',
    '--model',
    model,
    '--train-file',
    'stray-compare.csv',
    '--validation-split',
    '0.2',
    '--methods',
    'head',
    '--learning-rate',
    '1e-3',
    '--max-steps',
    '1',
    '--output-dir',
    'cmp',
  );
  assert.equal(run.code, 2, run.stderr + run.stdout);
  assert.match(
    run.stderr,
    /finetune compare: head: stray-compare\.csv: labels in column 'sentiment' that look like mistakes:\n {2}'neutral' \(1 row, at stray-compare\.csv:32\)/,
  );
  assert.match(run.stderr, /--allow-rare-labels/);
  const missing = finetune(
    'compare',
    '--model',
    './no-such-model',
    '--train-file',
    'stray-compare.csv',
    '--validation-split',
    '0.2',
    '--methods',
    'head,lora',
    '--output-dir',
    'cmp-missing',
  );
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /--model: \.\/no-such-model does not exist/);
  assert.doesNotMatch(missing.stdout, /\[1\/\d\]/, 'no run started');
});
