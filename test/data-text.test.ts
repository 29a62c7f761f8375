// Text data: tokenizer parity with transformers' AutoTokenizer (every SST-2 dev sentence, pairs,
// truncation, decode, DataCollatorWithPadding; fixtures from tools/gen_tokenizer_fixtures.py),
// CSV/TSV/JSONL readers with their edge cases and bad-input messages, the text classification
// dataset and dynamic padding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { data, memory, type Tensor } from 'finetune';

const { Tokenizer, TextClassificationDataset, parseTable, readTable, collateText, textCollator, DataFormatError } =
  data;

const TOKENIZER_DIR = 'data/bert-base-uncased';
const DEV = 'data/sst2/dev.tsv';

interface TensorFixture {
  dtype: string;
  shape: number[];
  values: number[][] | number[];
}
interface Fixture {
  special: Record<'pad' | 'cls' | 'sep' | 'unk' | 'mask', number>;
  vocabSize: number;
  paddingSide: string;
  sst2Dev: { file: string; column: string; ids: number[][] };
  pairs: { text: string; pair: string; ids: number[]; typeIds: number[] }[];
  awkward: { text: string; ids: number[] }[];
  truncation: {
    text: string;
    pair: string | null;
    strategy: data.TruncationStrategy;
    side: 'left' | 'right';
    maxLength: number;
    ids?: number[];
    typeIds?: number[];
    error?: string;
  }[];
  noSpecialTokens: { text: string; ids: number[] }[];
  decode: { ids: number[]; text: string; skipSpecial: string }[];
  collate: ({ padToMultipleOf: number | null } & Record<
    'input_ids' | 'attention_mask' | 'token_type_ids' | 'labels',
    TensorFixture
  >)[];
}

const fixture = JSON.parse(readFileSync('test/fixtures/tokenizer/bert-base-uncased.json', 'utf8')) as Fixture;
const tokenizer = Tokenizer.fromFile(TOKENIZER_DIR);

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'finetune-text-'));
}

/** Writes `text` to a fresh file and returns its path. */
function fileWith(name: string, text: string): string {
  const path = join(scratch(), name);
  writeFileSync(path, text);
  return path;
}

function values(t: Tensor): unknown {
  return t.toArray();
}

function disposeBatch(batch: data.TextBatch): void {
  for (const t of [batch.inputIds, batch.attentionMask, batch.tokenTypeIds, batch.labels]) t?.dispose();
}

// ---------------------------------------------------------------- tokenizer parity

test("special tokens, vocabulary size and padding side are AutoTokenizer's", () => {
  assert.equal(tokenizer.padTokenId, fixture.special.pad);
  assert.equal(tokenizer.clsTokenId, fixture.special.cls);
  assert.equal(tokenizer.sepTokenId, fixture.special.sep);
  assert.equal(tokenizer.unkTokenId, fixture.special.unk);
  assert.equal(tokenizer.maskTokenId, fixture.special.mask);
  assert.equal(tokenizer.vocabSize, fixture.vocabSize);
  assert.equal(tokenizer.paddingSide, fixture.paddingSide);
  assert.equal(tokenizer.padToken, '[PAD]');
  assert.deepEqual(tokenizer.allSpecialIds, [0, 100, 101, 102, 103]);
  assert.equal(tokenizer.modelMaxLength, undefined); // tokenizer_config.json has no model_max_length
});

test('every SST-2 dev sentence encodes to the ids AutoTokenizer gives', async () => {
  const table = await readTable(DEV);
  const sentences = table.rows.map((row) => row.values[fixture.sst2Dev.column] as string);
  assert.equal(sentences.length, 872);
  assert.equal(fixture.sst2Dev.ids.length, 872);
  const encodings = await tokenizer.encodeBatch(sentences);
  const wrong = encodings
    .map((e, i) => i)
    .filter((i) => JSON.stringify(encodings[i].inputIds) !== JSON.stringify(fixture.sst2Dev.ids[i]));
  assert.deepEqual(wrong, [], `rows that differ (first: ${sentences[wrong[0]]})`);
  for (const e of encodings) {
    assert.ok(e.tokenTypeIds.every((t) => t === 0));
    assert.ok(e.attentionMask.length === e.inputIds.length && e.attentionMask.every((m) => m === 1));
  }
  // One at a time too (another code path in the library).
  for (let i = 0; i < 872; i += 29)
    assert.deepEqual((await tokenizer.encode(sentences[i])).inputIds, fixture.sst2Dev.ids[i]);
});

test('sentence pairs: ids and token type ids as AutoTokenizer', async () => {
  const batch = await tokenizer.encodeBatch(
    fixture.pairs.map((c) => c.text),
    fixture.pairs.map((c) => c.pair),
  );
  fixture.pairs.forEach((c, i) => {
    assert.deepEqual(batch[i].inputIds, c.ids, `pair ${i}`);
    assert.deepEqual(batch[i].tokenTypeIds, c.typeIds, `pair ${i}`);
  });
  const one = await tokenizer.encode(fixture.pairs[0].text, fixture.pairs[0].pair);
  assert.deepEqual(one.tokenTypeIds, fixture.pairs[0].typeIds);
});

test('accents, CJK, control characters, long words and special tokens in text as AutoTokenizer', async () => {
  for (const c of fixture.awkward)
    assert.deepEqual((await tokenizer.encode(c.text)).inputIds, c.ids, JSON.stringify(c.text));
  for (const c of fixture.noSpecialTokens)
    assert.deepEqual((await tokenizer.encode(c.text, { addSpecialTokens: false })).inputIds, c.ids);
  assert.deepEqual(
    await tokenizer.tokenize('unaffable films'),
    tokenizer.convertIdsToTokens((await tokenizer.encode('unaffable films', { addSpecialTokens: false })).inputIds),
  );
});

test('truncation to 16 tokens: longest_first, only_first, only_second, both sides, as AutoTokenizer (errors included)', async () => {
  assert.equal(fixture.truncation.length, 42);
  for (const c of fixture.truncation) {
    const what = `${c.strategy}/${c.side} ${JSON.stringify(c.text.slice(0, 20))} + ${JSON.stringify(c.pair?.slice(0, 20) ?? null)}`;
    const options = { truncation: c.strategy, maxLength: c.maxLength, truncationSide: c.side };
    if (c.error !== undefined) {
      await assert.rejects(tokenizer.encode(c.text, c.pair, options), (error: Error) => {
        assert.ok(error.message.includes(c.error!), `${what}: ${error.message}`);
        assert.ok(error.message.includes(`maxLength 16 with '${c.strategy}'`), error.message);
        return true;
      });
      continue;
    }
    const encoding = await tokenizer.encode(c.text, c.pair, options);
    assert.deepEqual(encoding.inputIds, c.ids, what);
    assert.deepEqual(encoding.tokenTypeIds, c.typeIds, what);
  }
  // The batch path (bare encodings, then truncation and template per input) gives the same, errors in place.
  const groups = new Map<string, Fixture['truncation']>();
  for (const c of fixture.truncation) {
    const key = `${c.strategy}/${c.side}/${c.pair !== null}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  for (const cases of groups.values()) {
    const { strategy, side } = cases[0];
    const pairs = cases[0].pair !== null ? cases.map((c) => c.pair!) : null;
    const settled = await tokenizer.encodeBatchSettled(
      cases.map((c) => c.text),
      pairs,
      { truncation: strategy, maxLength: 16, truncationSide: side },
    );
    cases.forEach((c, i) => {
      const result = settled[i];
      if (c.error !== undefined) {
        assert.ok(
          result instanceof Error && result.message.includes(c.error),
          `${strategy}/${side} batch ${i}: ${result instanceof Error ? result.message : 'no error'}`,
        );
      } else {
        assert.ok(
          !(result instanceof Error),
          `${strategy}/${side} batch ${i}: ${result instanceof Error ? result.message : ''}`,
        );
        assert.deepEqual(result.inputIds, c.ids);
        assert.deepEqual(result.tokenTypeIds, c.typeIds);
      }
    });
  }
  // The batch form names the input that cannot be truncated; the settled form reports it in place.
  const bad = fixture.truncation.find((c) => c.error !== undefined && c.pair !== null)!;
  const good = fixture.truncation.find(
    (c) => c.error === undefined && c.pair !== null && c.strategy === bad.strategy && c.side === bad.side,
  )!;
  const options = { truncation: bad.strategy, maxLength: 16, truncationSide: bad.side };
  await assert.rejects(
    tokenizer.encodeBatch([good.text, bad.text], [good.pair!, bad.pair!], options),
    /^Error: encodeBatch: input 1: cannot truncate to maxLength 16/,
  );
  const settled = await tokenizer.encodeBatchSettled([good.text, bad.text], [good.pair!, bad.pair!], options);
  assert.deepEqual((settled[0] as data.Encoding).inputIds, good.ids);
  assert.ok(settled[1] instanceof Error);
});

test('truncation defaults: maxLength alone means longest_first; truncation without a length needs one', async () => {
  const long = fixture.truncation.find(
    (c) => c.pair === null && c.strategy === 'longest_first' && c.side === 'right' && c.ids!.length === 16,
  )!;
  assert.deepEqual((await tokenizer.encode(long.text, { maxLength: 16 })).inputIds, long.ids);
  assert.deepEqual((await tokenizer.encode(long.text, { truncation: true, maxLength: 16 })).inputIds, long.ids);
  assert.ok((await tokenizer.encode(long.text)).inputIds.length > 16);
  await assert.rejects(
    tokenizer.encode(long.text, { truncation: true }),
    /truncation needs maxLength \(data\/bert-base-uncased\/tokenizer.json has no model_max_length/,
  );
  await assert.rejects(
    tokenizer.encode(long.text, { truncation: 'middle' as data.TruncationStrategy, maxLength: 8 }),
    /unknown truncation "middle"/,
  );
  await assert.rejects(tokenizer.encode(42 as unknown as string), /encode: text must be a string, got number/);
});

test('decode as AutoTokenizer (with and without special tokens)', async () => {
  for (const c of fixture.decode) {
    assert.equal(await tokenizer.decode(c.ids), c.text);
    assert.equal(await tokenizer.decode(c.ids, { skipSpecialTokens: true }), c.skipSpecial);
  }
  assert.deepEqual(
    await tokenizer.decodeBatch(fixture.decode.slice(0, 2).map((c) => c.ids)),
    fixture.decode.slice(0, 2).map((c) => c.text),
  );
  // transformers' clean_up_tokenization_spaces, when asked for.
  assert.equal(
    await tokenizer.decode(fixture.decode.at(-1)!.ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: true }),
    "don't won't",
  );
});

test('fromPretrained reads a model folder; tokenizer_config.json sets special tokens, model_max_length and sides', async () => {
  const same = await Tokenizer.fromPretrained(TOKENIZER_DIR);
  assert.deepEqual((await same.encode('a fine film')).inputIds, (await tokenizer.encode('a fine film')).inputIds);
  assert.equal(same.padTokenId, 0);
  await assert.rejects(Tokenizer.fromPretrained('./no/such/folder'), /not an existing local directory/);

  const dir = scratch();
  copyFileSync(join(TOKENIZER_DIR, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      pad_token: { content: '[MASK]' },
      model_max_length: 6,
      truncation_side: 'left',
      padding_side: 'left',
      clean_up_tokenization_spaces: true,
    }),
  );
  writeFileSync(join(dir, 'special_tokens_map.json'), JSON.stringify({ pad_token: '[UNK]', bos_token: '[CLS]' }));
  const custom = Tokenizer.fromFile(join(dir, 'tokenizer.json'));
  assert.equal(custom.padTokenId, 103); // tokenizer_config.json wins over special_tokens_map.json
  assert.equal(custom.bosTokenId, 101); // special_tokens_map.json fills what the config lacks
  assert.equal(custom.modelMaxLength, 6);
  assert.equal(custom.paddingSide, 'left');
  const left = await custom.encode('one two three four five', { truncation: true });
  assert.deepEqual(custom.convertIdsToTokens(left.inputIds), ['[CLS]', 'two', 'three', 'four', 'five', '[SEP]']); // model_max_length 6, from the left
  assert.equal(await custom.decode((await custom.encode("it 's")).inputIds, { skipSpecialTokens: true }), "it's");
  const none = Tokenizer.fromFile(join(dir, 'tokenizer.json'), { configPath: null });
  assert.equal(none.padTokenId, 0);
  rmSync(dir, { recursive: true });

  assert.throws(() => Tokenizer.fromFile('no/such/tokenizer.json'), /cannot read no\/such\/tokenizer.json/);
  const broken = fileWith('tokenizer.json', '{"model": ');
  assert.throws(() => Tokenizer.fromFile(broken), /tokenizer.json is not valid JSON: unexpected end of JSON/);
  const alien = fileWith('tokenizer.json', '{"model": {"type": "NoSuchModel"}}');
  assert.throws(() => Tokenizer.fromFile(alien), /the tokenizers library cannot read this tokenizer.json/);
});

// ---------------------------------------------------------------- tables

test('CSV: quotes, escaped quotes, delimiters and line breaks in quoted fields, CRLF, BOM, blank lines', () => {
  const text =
    '\uFEFFid,text,label\r\n1,"hello, world",pos\r\n2,"she said ""hi""",neg\r\n\r\n3,"two\nlines",pos\n4,,neg\n5,"",pos\n6,5" screen,neg\n7,"a\r\nb\r\nc",pos';
  const table = parseTable(text, 'mem.csv');
  assert.equal(table.format, 'csv');
  assert.deepEqual(table.columns, ['id', 'text', 'label']);
  assert.deepEqual(
    table.rows.map((r) => [r.line, r.values.id, r.values.text, r.values.label]),
    [
      [2, '1', 'hello, world', 'pos'],
      [3, '2', 'she said "hi"', 'neg'],
      [5, '3', 'two\nlines', 'pos'],
      [7, '4', '', 'neg'],
      [8, '5', '', 'pos'],
      [9, '6', '5" screen', 'neg'],
      [10, '7', 'a\r\nb\r\nc', 'pos'],
    ],
  );
  assert.equal(table.skipped, 0);
  // Other delimiters; a quoted header; a final newline; a lone \r as a line break.
  const semi = parseTable('"a";"b"\r1;"x;y"\r2;z\n', 'mem.csv', { delimiter: ';' });
  assert.deepEqual(
    semi.rows.map((r) => [r.line, r.values.a, r.values.b]),
    [
      [2, '1', 'x;y'],
      [3, '2', 'z'],
    ],
  );
  // Header-only is an empty table, not an error.
  assert.deepEqual(parseTable('a,b\n', 'mem.csv').rows, []);
});

test("TSV is GLUE's: header row, tabs, no quoting; SST-2 files read as they are", async () => {
  const table = parseTable('sentence\tlabel\n"quoted" text\t1\nit \'s "ok\t0\n', 'mem.tsv');
  assert.deepEqual(
    table.rows.map((r) => [r.values.sentence, r.values.label]),
    [
      ['"quoted" text', '1'],
      ['it \'s "ok', '0'],
    ],
  );
  const dev = await readTable(DEV);
  assert.deepEqual(dev.columns, ['label', 'content']);
  assert.equal(dev.rows.length, 872);
  assert.equal(dev.rows[0].values.content, 'one long string of cliches .');
  assert.equal(dev.rows.at(-1)!.line, 873);
  const train = await readTable('data/sst2/train-200.tsv'); // CRLF line ends, another header
  assert.deepEqual(train.columns, ['label', 'sentence']);
  assert.equal(train.rows.length, 200);
  assert.equal(train.rows[0].values.sentence, 'hide new secretions from the parental units');
});

test('JSONL: one object per line, blank lines ignored, columns in first-seen order', () => {
  const table = parseTable(
    '{"text": "a", "label": 1}\r\n\n  \n{"label": 0, "text": "b\\nc", "extra": [1, 2]}\n',
    'mem.jsonl',
  );
  assert.deepEqual(table.columns, ['text', 'label', 'extra']);
  assert.deepEqual(
    table.rows.map((r) => [r.line, r.values.text, r.values.label]),
    [
      [1, 'a', 1],
      [4, 'b\nc', 0],
    ],
  );
  assert.equal(parseTable('{"a":1}', 'x.ndjson').format, 'jsonl');
  assert.throws(() => parseTable('a', 'x.txt'), /x.txt: cannot tell the table format from the extension/);
  assert.equal(parseTable('a\n1', 'x.txt', { format: 'csv' }).rows.length, 1);
});

test('bad tables name the file and line; skip mode counts the rows left out', async () => {
  const cases: [string, string, RegExp | string][] = [
    ['missing.csv', 'sentence,label\nhi,1\n', "missing.csv:1: missing column 'text' (columns: sentence, label)"],
    ['missing.tsv', 'label\tcontent\n1\thi\n', "missing.tsv:1: missing column 'text' (columns: label, content)"],
    [
      'unterminated.csv',
      'text,label\nok,1\n"never closed,0\nmore,1\n',
      'unterminated.csv:3: unterminated quoted field (no closing quote before the end of the file)',
    ],
    ['empty.csv', '', 'empty.csv:1: empty file (no header row)'],
    ['blank.tsv', '\uFEFF\n\r\n', 'blank.tsv:1: empty file (no header row)'],
    ['empty.jsonl', '\n  \n', 'empty.jsonl:1: empty file (no JSON lines)'],
    ['fields.tsv', 'text\tlabel\nok\t1\nno label here\nok\t0\n', 'fields.tsv:3: 1 field, the header has 2'],
    ['after.csv', 'text,label\n"quoted"tail,1\n', 'after.csv:2: unexpected text after the closing quote of field 1'],
    [
      'json.jsonl',
      '{"text": "a", "label": 1}\n{"text": "b", label: 0}\n',
      'json.jsonl:2: invalid JSON: unexpected "l" at character 14',
    ],
    ['array.jsonl', '{"text": "a", "label": 1}\n[1, 2]\n', 'array.jsonl:2: expected a JSON object, got an array'],
    [
      'dupkey.jsonl',
      '{"text": "a", "text": "b", "label": 1}\n',
      'dupkey.jsonl:1: invalid JSON: duplicate key "text" at character 14',
    ],
    [
      'nolabel.jsonl',
      '{"text": "a", "label": 1}\n\n{"text": "b"}\n',
      "nolabel.jsonl:3: missing column 'label' (columns there: text)",
    ],
    ['duphead.csv', 'text,text\na,b\n', "duphead.csv:1: duplicate column 'text' in the header"],
  ];
  for (const [name, text, expected] of cases) {
    const path = fileWith(name, text);
    await assert.rejects(readTable(path, { requiredColumns: ['text', 'label'] }), (error: Error) => {
      assert.ok(error instanceof DataFormatError, `${name}: ${error}`);
      assert.equal(error.message, `${path.slice(0, -name.length)}${expected}`);
      return true;
    });
  }
  // Skip mode: row-level problems are left out and counted; file-level ones still fail.
  const fields = await readTable(fileWith('fields.tsv', 'text\tlabel\nok\t1\nno label here\nok\t0\nx\ty\tz\n'), {
    onBadRow: 'skip',
  });
  assert.equal(fields.rows.length, 2);
  assert.equal(fields.skipped, 2);
  assert.deepEqual(fields.skippedRows, [
    { line: 3, reason: '1 field, the header has 2' },
    { line: 5, reason: '3 fields, the header has 2' },
  ]);
  const jsonl = await readTable(
    fileWith('bad.jsonl', '{"text": "a", "label": 1}\nnot json\n{"text": "b"}\n[]\n{"text": "c", "label": 0}\n'),
    { onBadRow: 'skip', requiredColumns: ['text', 'label'] },
  );
  assert.deepEqual(
    jsonl.rows.map((r) => r.line),
    [1, 5],
  );
  assert.deepEqual(
    jsonl.skippedRows.map((r) => r.line),
    [2, 3, 4],
  );
  const csv = await readTable(fileWith('after.csv', 'text,label\n"q"tail,1\nfine,0\n'), { onBadRow: 'skip' });
  assert.deepEqual([csv.rows.length, csv.skipped], [1, 1]);
  await assert.rejects(
    readTable(fileWith('u.csv', 'text,label\n"open,1\n'), { onBadRow: 'skip' }),
    /u.csv:2: unterminated quoted field/,
  );
  await assert.rejects(readTable('no/such/file.csv'), /cannot read no\/such\/file.csv/);
});

test('delimiters: the header line decides (;, tab, |), given ones win; a row split on another delimiter says which to give', () => {
  const semi = parseTable('review;sentiment\n"good; really";positive\nbad;negative\n', 'semi.csv');
  assert.equal(semi.delimiter, ';');
  assert.deepEqual(
    semi.rows.map((r) => [r.values.review, r.values.sentiment]),
    [
      ['good; really', 'positive'],
      ['bad', 'negative'],
    ],
  );
  const tabs = parseTable('\n"text"\tlabel\n"a, b"\t1\n', 'tabs.csv');
  assert.deepEqual([tabs.delimiter, tabs.rows[0].values.text], ['\t', 'a, b']);
  assert.equal(parseTable('a|b\n1|2\n', 'pipes.csv').rows[0].values.b, '2');
  // A header with commas stays comma-separated, whatever else it holds; so does a one-column header.
  assert.deepEqual(parseTable('"x;y",z\n1,2\n', 'c.csv').columns, ['x;y', 'z']);
  assert.deepEqual(
    [
      parseTable('text\nhi; there\n', 'one.csv').delimiter,
      parseTable('text\nhi; there\n', 'one.csv').rows[0].values.text,
    ],
    [',', 'hi; there'],
  );
  // A .tsv that is comma-separated reads as a CSV (quotes included); a given delimiter is not second-guessed.
  const commaTsv = parseTable('sentence,label\n"a, b",1\n', 'c.tsv');
  assert.deepEqual([commaTsv.delimiter, commaTsv.rows[0].values.sentence], [',', 'a, b']);
  assert.deepEqual(parseTable('a;b\n1;2\n', 'given.csv', { delimiter: ',' }).columns, ['a;b']);
  // Rows that do not fit the header's delimiter name the one that fits.
  assert.throws(
    () => parseTable('review,sentiment\n"good";positive\n', 'q.csv'),
    (e: Error) => {
      assert.equal(
        e.message,
        "q.csv:2: ';' after the closing quote of field 1, where the delimiter ',' should be: if the file is separated by ';', give delimiter: ';'",
      );
      return true;
    },
  );
  assert.throws(
    () => parseTable('a,b,c\n1;2;3\n', 'n.csv'),
    /^DataFormatError: n\.csv:2: 1 field, the header has 3 \(the delimiter is ','; split on ';' this line has the header's 3 fields: if that is the delimiter, give delimiter: ';'\)$/,
  );
  assert.throws(
    () => parseTable('a,b\n1\t2\n', 'n.csv'),
    /split on a tab this line has the header's 2 fields: if that is the delimiter, give delimiter: '\\t'/,
  );
  assert.throws(() => parseTable('a,b\n1\n', 'n.csv'), /^DataFormatError: n\.csv:2: 1 field, the header has 2$/);
});

test('encodings: invalid UTF-8 names the line and byte; latin1 / windows-1252 / UTF-16 read when given or marked; BOMs dropped', async () => {
  const csv = 'text,label\ngood,1\ncafé crème,0\n';
  const latin1 = fileWith('latin1.csv', '');
  writeFileSync(latin1, Buffer.from(csv, 'latin1'));
  await assert.rejects(readTable(latin1), (e: Error) => {
    assert.ok(e instanceof DataFormatError);
    assert.equal(e.line, 3);
    assert.equal(
      e.reason,
      "not valid UTF-8 (byte 0xE9 at byte 4 of the line). Read as Latin-1 the line is: café crème,0 — if the file is in another encoding, give encoding: 'latin1' (or windows-1252, utf-16le, utf-16be)",
    );
    return true;
  });
  assert.equal((await readTable(latin1, { encoding: 'latin1' })).rows[1].values.text, 'café crème');
  assert.equal((await readTable(latin1, { encoding: 'ISO-8859-1' })).rows[1].values.text, 'café crème');
  const cp1252 = fileWith('cp1252.csv', '');
  writeFileSync(cp1252, Buffer.concat([Buffer.from('text,label\n'), Buffer.from([0x80, 0x35, 0x2c, 0x31, 0x0a])]));
  assert.equal((await readTable(cp1252, { encoding: 'cp1252' })).rows[0].values.text, '€5');
  await assert.rejects(
    readTable(cp1252, { encoding: 'ebcdic' }),
    /unknown encoding "ebcdic" \(known: utf-8, latin1, windows-1252, utf-16le, utf-16be\)/,
  );
  // Byte-order marks decide the encoding (UTF-8, UTF-16LE, UTF-16BE) and are dropped.
  const utf16le = fileWith('le.csv', '');
  writeFileSync(utf16le, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(csv, 'utf16le')]));
  const le = await readTable(utf16le);
  assert.deepEqual(
    [le.columns, le.rows.map((r) => r.values.text)],
    [
      ['text', 'label'],
      ['good', 'café crème'],
    ],
  );
  const utf16be = fileWith('be.csv', '');
  writeFileSync(utf16be, Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(csv, 'utf16le').swap16()]));
  assert.deepEqual(
    (await readTable(utf16be)).rows.map((r) => r.values.text),
    ['good', 'café crème'],
  );
  const bom = fileWith('bom.csv', '\uFEFF' + csv);
  assert.deepEqual((await readTable(bom)).columns, ['text', 'label']);
  // UTF-16 without a mark is named, not read as UTF-8 with NULs; given, it reads.
  const bare = fileWith('bare.csv', '');
  writeFileSync(bare, Buffer.from(csv, 'utf16le'));
  await assert.rejects(
    readTable(bare),
    new RegExp(
      `^DataFormatError: ${bare}:1: every other byte is 0: this looks like UTF-16LE text without a byte-order mark; give encoding: 'utf-16le'$`,
    ),
  );
  assert.equal((await readTable(bare, { encoding: 'utf-16le' })).rows[1].values.text, 'café crème');
  // Invalid sequences of every kind, at the right line and byte (after a BOM on line 1 too).
  const { decodeText } = data;
  const bad = (bytes: number[]) => () => decodeText(Uint8Array.from(bytes), 'b.txt');
  assert.throws(
    bad([0x61, 0x0a, 0x62, 0xc0, 0x80]),
    /^DataFormatError: b\.txt:2: not valid UTF-8 \(byte 0xC0 at byte 2 of the line\)/,
  ); // overlong
  assert.throws(bad([0x61, 0x0d, 0x0a, 0x0d, 0xed, 0xa0, 0x80]), /b\.txt:3: not valid UTF-8 \(byte 0xED at byte 1/); // a surrogate; CRLF and CR end lines
  assert.throws(
    bad([0xef, 0xbb, 0xbf, 0x61, 0xe2, 0x82]),
    /b\.txt:1: not valid UTF-8 \(byte 0xE2 at byte 5 of the line\)/,
  ); // cut short at the end
  assert.equal(decodeText(Uint8Array.from(Buffer.from('ok ✓ 𝄞')), 'ok.txt'), 'ok ✓ 𝄞');
});

// ---------------------------------------------------------------- datasets

test('SST-2 dev as a dataset: examples, label names and maps, counts', async () => {
  const dev = await TextClassificationDataset.fromFile(DEV, {
    textColumn: 'content',
    labelColumn: 'label',
    tokenizer,
    maxLength: 128,
  });
  assert.equal(dev.length, 872);
  assert.equal(dev.task, 'classification');
  assert.deepEqual(dev.labelNames, ['0', '1']);
  assert.equal(dev.numLabels, 2);
  assert.deepEqual(dev.id2label, { 0: '0', 1: '1' });
  assert.deepEqual(dev.label2id, { '0': 0, '1': 1 });
  assert.equal(dev.problemType, 'single_label_classification');
  assert.deepEqual(dev.labelCounts(), [428, 444]);
  assert.equal(dev.skipped, 0);
  assert.deepEqual(Array.from(dev.targets!.slice(0, 5)), [0, 0, 0, 0, 1]);
  for (const i of [0, 1, 500, 871]) {
    const example = dev.get(i);
    assert.deepEqual(example.inputIds, fixture.sst2Dev.ids[i]);
    assert.deepEqual(example.tokenTypeIds, new Array(example.inputIds.length).fill(0));
    assert.equal(dev.lengthOf(i), example.inputIds.length);
  }
  assert.equal(dev.get(4).label, 1);
  assert.equal(dev.lineOf(0), 2);
  assert.throws(() => dev.get(872), /TextClassificationDataset: index 872 is out of range \[0, 872\)/);
  // Named labels read SST-2's 0/1 ids.
  const named = await TextClassificationDataset.fromFile(DEV, {
    textColumn: 'content',
    labelColumn: 'label',
    labels: ['negative', 'positive'],
    tokenizer,
  });
  assert.deepEqual(named.id2label, { 0: 'negative', 1: 'positive' });
  assert.deepEqual(named.labelCounts(), [428, 444]);
  // The training slice (CRLF, 'sentence' column), truncated to 16 tokens.
  const train = await TextClassificationDataset.fromFile('data/sst2/train-200.tsv', {
    textColumn: 'sentence',
    labelColumn: 'label',
    tokenizer: TOKENIZER_DIR,
    maxLength: 16,
  });
  assert.equal(train.length, 200);
  assert.ok(Array.from({ length: 200 }, (_, i) => train.lengthOf(i)).every((n) => n <= 16));
  assert.ok(Array.from({ length: 200 }, (_, i) => train.get(i).inputIds.at(-1)).every((id) => id === 102));
});

test('label inference: numbers sort numerically, names by code point; given labels fix the ids', async () => {
  const rows = (labels: (string | number)[]) =>
    labels.map((label, i) => JSON.stringify({ text: `text ${i}`, label })).join('\n');
  const numeric = await TextClassificationDataset.fromText(rows(['10', '2', 1, '2', '-1', 10, '1', -1]), 'n.jsonl', {
    textColumn: 'text',
    labelColumn: 'label',
    tokenizer,
  });
  assert.deepEqual(numeric.labelNames, ['-1', '1', '2', '10']);
  assert.deepEqual(Array.from(numeric.targets!), [3, 2, 1, 2, 0, 3, 1, 0]);
  const names = await TextClassificationDataset.fromText(
    rows(['neutral', 'Zebra', 'negative', 'positive', 'positive', 'negative', 'Zebra', 'neutral']),
    's.jsonl',
    { textColumn: 'text', labelColumn: 'label', tokenizer },
  );
  assert.deepEqual(names.labelNames, ['Zebra', 'negative', 'neutral', 'positive']);
  const given = await TextClassificationDataset.fromText(rows(['b', 'a', 'c']), 'g.jsonl', {
    textColumn: 'text',
    labelColumn: 'label',
    labels: ['c', 'b', 'a'],
    tokenizer,
  });
  assert.deepEqual(Array.from(given.targets!), [1, 2, 0]);
  // Numeric label names are matched as names only (no id fallback), so 0 is unknown here.
  await assert.rejects(
    TextClassificationDataset.fromText(rows([1, 2, 0]), 'ids.jsonl', {
      textColumn: 'text',
      labelColumn: 'label',
      labels: ['1', '2'],
      tokenizer,
    }),
    /^DataFormatError: ids.jsonl:3: unknown label '0' \(known labels: 1, 2\)$/,
  );
});

test('the rare-label threshold: 2 rows, or 1% of the rows, but at most a tenth of an average label', () => {
  const { rareLabelThreshold } = data;
  assert.deepEqual(rareLabelThreshold([2, 1]), { threshold: 2, why: 'a label needs 2 rows or more' });
  assert.deepEqual(rareLabelThreshold([150, 150]), { threshold: 3, why: '1% of the 300 rows' });
  // The issue's 8,662 reviews with three strays: 87 rows, so 'neutral' ×3 is rare however the strays fall.
  assert.equal(rareLabelThreshold([4331, 4328, 3]).threshold, 87);
  assert.equal(rareLabelThreshold([4331, 4325, 3, 2, 1]).threshold, 87);
  // 150 balanced intents of 100 rows (0.67% each) pass: a tenth of the average label is 10 rows.
  assert.deepEqual(rareLabelThreshold(new Array(150).fill(100)), {
    threshold: 10,
    why: 'a tenth of the 100 rows of an average label',
  });
});

test('inferred labels that look like mistakes (case, spaces, rare, empty) are errors naming their rows; labels or allowRareLabels proceed', async () => {
  // 300 reviews, two labels, and the strays of the issue: Positive, 'positive ', postive, neutral, an empty label.
  const lines = ['review,sentiment'];
  for (let i = 0; i < 300; i++) lines.push(`review ${i},${i % 2 ? 'positive' : 'negative'}`);
  const stray: Record<number, string> = {
    11: 'Positive',
    21: 'Positive',
    31: 'neutral',
    41: 'postive',
    51: 'positive ',
  };
  for (const [row, label] of Object.entries(stray)) lines[Number(row)] = `review ${Number(row) - 1},${label}`;
  const path = fileWith('stray.csv', lines.join('\n') + '\n');
  const options = { textColumn: 'review', labelColumn: 'sentiment', tokenizer, maxLength: 8 };
  const error = await TextClassificationDataset.fromFile(path, options).then(
    () => assert.fail('no error'),
    (e: unknown) => e as data.LabelCheckError,
  );
  assert.ok(error instanceof data.LabelCheckError, String(error));
  assert.deepEqual(error.goodLabels, ['negative', 'positive']);
  assert.deepEqual(
    error.problems.map((p) => [p.label, p.count, p.lines, p.rare]),
    [
      ['Positive', 2, [12, 22], true],
      ['neutral', 1, [32], true],
      ['positive ', 1, [52], true],
      ['postive', 1, [42], true],
    ],
  );
  assert.equal(
    error.message,
    `${path}: labels in column 'sentiment' that look like mistakes:\n` +
      `  'Positive' (2 rows, at ${path}:12, :22): differs only in case from 'positive' (150 rows); rare: fewer than 3 rows (1% of the 300 rows)\n` +
      `  'neutral' (1 row, at ${path}:32): rare: fewer than 3 rows (1% of the 300 rows)\n` +
      `  'positive ' (1 row, at ${path}:52): differs only in surrounding spaces from 'positive' (150 rows); rare: fewer than 3 rows (1% of the 300 rows)\n` +
      `  'postive' (1 row, at ${path}:42): rare: fewer than 3 rows (1% of the 300 rows)\n` +
      `Correct those rows, or give the labels you mean with labels: ["negative","positive"] (rows with other labels are then bad rows: an error, or left out with onBadRow: 'skip'), or keep rare labels as classes with allowRareLabels: true.`,
  );
  // allowRareLabels keeps the rare labels but not the ones that differ only in case or spaces.
  await assert.rejects(
    TextClassificationDataset.fromFile(path, { ...options, allowRareLabels: true }),
    (e: data.LabelCheckError) => {
      assert.deepEqual(
        e.problems.map((p) => p.label),
        ['Positive', 'positive '],
      );
      assert.deepEqual(e.goodLabels, ['negative', 'neutral', 'positive', 'postive']);
      assert.doesNotMatch(e.message, /allowRareLabels/);
      return true;
    },
  );
  // The labels given: the strays are unknown labels — an error at the first, or left out and counted.
  await assert.rejects(
    TextClassificationDataset.fromFile(path, { ...options, labels: ['negative', 'positive'] }),
    new RegExp(`^DataFormatError: ${path}:12: unknown label 'Positive'`),
  );
  const kept = await TextClassificationDataset.fromFile(path, {
    ...options,
    labels: ['negative', 'positive'],
    onBadRow: 'skip',
  });
  assert.deepEqual([kept.length, kept.skippedRows.map((r) => r.line)], [295, [12, 22, 32, 42, 52]]);
  assert.deepEqual(kept.labelCounts(), [145, 150]);
  // Frequent labels that differ only in case are an error too (two sources merged); rare ones alone pass with allowRareLabels.
  const merged = [
    'text,label',
    ...[...Array(5).fill('Good'), ...Array(10).fill('good'), ...Array(10).fill('bad')].map(
      (label, i) => `t${i},${label}`,
    ),
  ].join('\n');
  await assert.rejects(
    TextClassificationDataset.fromText(merged, 'merged.csv', {
      textColumn: 'text',
      labelColumn: 'label',
      tokenizer,
      allowRareLabels: true,
    }),
    (e: data.LabelCheckError) => {
      assert.deepEqual(e.problems, [
        {
          label: 'Good',
          count: 5,
          lines: [2, 3, 4, 5, 6],
          rare: false,
          reasons: ["differs only in case from 'good' (10 rows)"],
        },
      ]);
      assert.match(
        e.message,
        /'Good' \(5 rows, at merged\.csv:2, :3, :4, :5, :6\): differs only in case from 'good' \(10 rows\)\nCorrect those rows, or give the labels you mean with labels: \["bad","good"\]/,
      );
      return true;
    },
  );
  const rare = await TextClassificationDataset.fromText('text,label\na,x\nb,x\nc,y\n', 'rare.csv', {
    textColumn: 'text',
    labelColumn: 'label',
    tokenizer,
    allowRareLabels: true,
  });
  assert.deepEqual(rare.labelCounts(), [2, 1]);
  // A long tail of rare labels lists the first 20 and counts the rest.
  const tail = ['text,label', ...Array.from({ length: 100 }, (_, i) => `t${i},${i < 60 ? 'common' : `rare${i}`}`)].join(
    '\n',
  );
  await assert.rejects(
    TextClassificationDataset.fromText(tail, 'tail.csv', { textColumn: 'text', labelColumn: 'label', tokenizer }),
    (e: data.LabelCheckError) => {
      assert.equal(e.problems.length, 40);
      assert.equal(e.message.split('\n').length, 1 + 20 + 1 + 1);
      assert.match(
        e.message,
        /\n  … and 20 more\nCorrect those rows, or keep rare labels as classes with allowRareLabels: true\.$/,
      );
      return true;
    },
  );
  // An empty label is a bad row (with given labels too), named by its line.
  const empty = 'text,label\na,x\nb,\nc,x\nd,y\ne,  \nf,y\n';
  await assert.rejects(
    TextClassificationDataset.fromText(empty, 'empty.csv', { textColumn: 'text', labelColumn: 'label', tokenizer }),
    /^DataFormatError: empty\.csv:3: empty label in column 'label'$/,
  );
  await assert.rejects(
    TextClassificationDataset.fromText(empty, 'empty.csv', {
      textColumn: 'text',
      labelColumn: 'label',
      labels: ['x', 'y'],
      tokenizer,
    }),
    /^DataFormatError: empty\.csv:3: empty label/,
  );
  const skipped = await TextClassificationDataset.fromText(empty, 'empty.csv', {
    textColumn: 'text',
    labelColumn: 'label',
    tokenizer,
    onBadRow: 'skip',
  });
  assert.deepEqual(skipped.skippedRows, [
    { line: 3, reason: "empty label in column 'label'" },
    { line: 6, reason: "empty label in column 'label'" },
  ]);
});

test('bad rows in datasets: unknown label, not a number, missing text, untruncatable pair — file:line, or skipped and counted', async () => {
  const tsv = 'text\tlabel\ngood film\tpositive\nbad film\tnegative\nmeh\tneutral\nfine\tpositive\n';
  const path = fileWith('labels.tsv', tsv);
  const options = { textColumn: 'text', labelColumn: 'label', labels: ['negative', 'positive'], tokenizer };
  await assert.rejects(TextClassificationDataset.fromFile(path, options), (error: Error) => {
    assert.equal(error.message, `${path}:4: unknown label 'neutral' (known labels: negative, positive)`);
    return true;
  });
  const skipped = await TextClassificationDataset.fromFile(path, { ...options, onBadRow: 'skip' });
  assert.equal(skipped.length, 3);
  assert.equal(skipped.skipped, 1);
  assert.deepEqual(skipped.skippedRows, [
    { line: 4, reason: "unknown label 'neutral' (known labels: negative, positive)" },
  ]);
  assert.deepEqual(
    [0, 1, 2].map((i) => skipped.lineOf(i)),
    [2, 3, 5],
  );

  const regression = fileWith('score.csv', 'text,score\na,0.5\nb,high\nc,3\n');
  await assert.rejects(
    TextClassificationDataset.fromFile(regression, {
      textColumn: 'text',
      labelColumn: 'score',
      task: 'regression',
      tokenizer,
    }),
    new RegExp(`^DataFormatError: ${regression}:3: label 'high' is not a number \\(task 'regression'\\)$`),
  );

  const missing = fileWith('missing.csv', 'sentence,label\na,1\n');
  await assert.rejects(
    TextClassificationDataset.fromFile(missing, { textColumn: 'text', labelColumn: 'label', tokenizer }),
    new RegExp(`^DataFormatError: ${missing}:1: missing column 'text' \\(columns: sentence, label\\)$`),
  );

  const nulls = fileWith(
    'nulls.jsonl',
    '{"text": "a", "label": 1}\n{"text": null, "label": 0}\n{"text": "c", "label": 0}\n',
  );
  await assert.rejects(
    TextClassificationDataset.fromFile(nulls, { textColumn: 'text', labelColumn: 'label', tokenizer }),
    new RegExp(`${nulls}:2: column 'text' is null, not a string`),
  );

  // only_second cannot shorten a short second text: that row is bad (line 3), not the whole file.
  const pairs = fileWith(
    'pairs.jsonl',
    [
      {
        premise: 'a man plays',
        hypothesis: 'a man is playing a guitar on the stage tonight for everyone',
        label: 'entailment',
      },
      {
        premise: 'one two three four five six seven eight nine ten eleven twelve',
        hypothesis: 'short',
        label: 'neutral',
      },
      { premise: 'a cat', hypothesis: 'an animal', label: 'entailment' },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n'),
  );
  const pairOptions = {
    textColumn: 'premise',
    textPairColumn: 'hypothesis',
    labelColumn: 'label',
    tokenizer,
    maxLength: 12,
    truncation: 'only_second' as const,
    allowRareLabels: true,
  };
  await assert.rejects(
    TextClassificationDataset.fromFile(pairs, pairOptions),
    new RegExp(`^DataFormatError: ${pairs}:2: cannot truncate to maxLength 12 with 'only_second': Truncation error`),
  );
  const kept = await TextClassificationDataset.fromFile(pairs, { ...pairOptions, onBadRow: 'skip' });
  assert.equal(kept.length, 2);
  assert.deepEqual(
    kept.skippedRows.map((r) => r.line),
    [2],
  );
  assert.ok(kept.get(0).tokenTypeIds.includes(1));
  assert.ok(kept.get(0).inputIds.length <= 12);

  const allBad = fileWith('allbad.tsv', 'text\tlabel\na\tx\nb\ty\n');
  await assert.rejects(
    TextClassificationDataset.fromFile(allBad, { ...options, onBadRow: 'skip' }),
    new RegExp(`${allBad}: no examples \\(2 bad rows skipped; the first, line 2: unknown label 'x'`),
  );
});

test('regression and multi-label datasets; pairs give token types', async () => {
  const scores = await TextClassificationDataset.fromText('text,score\na,0.5\nb,-2\nc,3\n', 'scores.csv', {
    textColumn: 'text',
    labelColumn: 'score',
    task: 'regression',
    tokenizer,
  });
  assert.deepEqual(
    [0, 1, 2].map((i) => scores.get(i).label),
    [0.5, -2, 3],
  );
  assert.equal(scores.numLabels, 1);
  assert.deepEqual(scores.id2label, { 0: 'LABEL_0' });
  assert.equal(scores.targets, undefined);
  const batch = scores.collator()([scores.get(1), scores.get(2)]); // integer values stay float32 for regression
  assert.equal(batch.labels!.dtype, 'float32');
  assert.deepEqual(values(batch.labels!), [-2, 3]);
  disposeBatch(batch);

  const columns = await TextClassificationDataset.fromText(
    'text,sports,politics,tech\na,1,0,1\nb,0,0,0\nc,0,1,0\n',
    'ml.csv',
    { textColumn: 'text', labelColumn: ['sports', 'politics', 'tech'], tokenizer },
  );
  assert.equal(columns.task, 'multi-label');
  assert.deepEqual(columns.labelNames, ['sports', 'politics', 'tech']);
  assert.deepEqual(columns.get(0).label, [1, 0, 1]);
  assert.deepEqual(columns.labelCounts(), [1, 1, 1]);
  assert.equal(columns.problemType, 'multi_label_classification');
  const mlBatch = columns.collator()([columns.get(0), columns.get(2)]);
  assert.equal(mlBatch.labels!.dtype, 'float32');
  assert.deepEqual(mlBatch.labels!.shape, [2, 3]);
  disposeBatch(mlBatch);

  const lists = await TextClassificationDataset.fromText(
    '{"t": "a", "tags": ["x", "z"]}\n{"t": "b", "tags": []}\n{"t": "c", "tags": ["y"]}',
    'ml.jsonl',
    { textColumn: 't', labelColumn: 'tags', task: 'multi-label', tokenizer },
  );
  assert.deepEqual(lists.labelNames, ['x', 'y', 'z']);
  assert.deepEqual(
    [0, 1, 2].map((i) => lists.get(i).label),
    [
      [1, 0, 1],
      [0, 0, 0],
      [0, 1, 0],
    ],
  );
  const joined = await TextClassificationDataset.fromText('text\ttags\na\tx|z\nb\t\n', 'ml.tsv', {
    textColumn: 'text',
    labelColumn: 'tags',
    task: 'multi-label',
    labelSeparator: '|',
    tokenizer,
  });
  assert.deepEqual(joined.get(0).label, [1, 1]);

  const pairs = await TextClassificationDataset.fromText('{"a": "the cat sat", "b": "a cat", "label": 0}', 'p.jsonl', {
    textColumn: 'a',
    textPairColumn: 'b',
    labelColumn: 'label',
    labels: ['no', 'yes'],
    tokenizer,
  });
  const expected = await tokenizer.encode('the cat sat', 'a cat');
  assert.deepEqual(pairs.get(0).inputIds, expected.inputIds);
  assert.deepEqual(pairs.get(0).tokenTypeIds, expected.tokenTypeIds);
});

// ---------------------------------------------------------------- collate

test('dynamic padding matches DataCollatorWithPadding (with and without padToMultipleOf)', async () => {
  const dev = await TextClassificationDataset.fromFile(DEV, { textColumn: 'content', labelColumn: 'label', tokenizer });
  const examples = [0, 1, 2, 3, 4].map((i) => dev.get(i));
  for (const reference of fixture.collate) {
    const batch = dev.collator({ padToMultipleOf: reference.padToMultipleOf ?? undefined })(examples);
    for (const [name, key] of [
      ['inputIds', 'input_ids'],
      ['attentionMask', 'attention_mask'],
      ['tokenTypeIds', 'token_type_ids'],
      ['labels', 'labels'],
    ] as const) {
      const t = batch[name]!;
      assert.equal(t.dtype, reference[key].dtype, `${name} dtype`);
      assert.deepEqual(t.shape, reference[key].shape, `${name} shape`);
      assert.deepEqual(values(t), reference[key].values, `${name} values`);
    }
    disposeBatch(batch);
  }
});

test("collateText: shapes, pad values, left padding, fixed length, labels, errors; tensors are the caller's", () => {
  const before = memory().numTensors;
  const examples = [
    { inputIds: [101, 7, 8, 102], tokenTypeIds: [0, 0, 1, 1], label: 1 },
    { inputIds: [101, 9, 102], label: 0 },
  ];
  const right = collateText(examples, { padTokenId: 0 });
  assert.deepEqual(right.inputIds.shape, [2, 4]);
  assert.equal(right.inputIds.dtype, 'int64');
  assert.deepEqual(values(right.inputIds), [
    [101, 7, 8, 102],
    [101, 9, 102, 0],
  ]);
  assert.deepEqual(values(right.attentionMask), [
    [1, 1, 1, 1],
    [1, 1, 1, 0],
  ]);
  assert.deepEqual(values(right.tokenTypeIds), [
    [0, 0, 1, 1],
    [0, 0, 0, 0],
  ]);
  assert.deepEqual(values(right.labels!), [1, 0]);
  assert.equal(right.labels!.dtype, 'int64');
  disposeBatch(right);

  const left = collateText(examples, { padTokenId: 5, paddingSide: 'left', padToMultipleOf: 8, padTokenTypeId: 1 });
  assert.deepEqual(values(left.inputIds), [
    [5, 5, 5, 5, 101, 7, 8, 102],
    [5, 5, 5, 5, 5, 101, 9, 102],
  ]);
  assert.deepEqual(values(left.attentionMask), [
    [0, 0, 0, 0, 1, 1, 1, 1],
    [0, 0, 0, 0, 0, 1, 1, 1],
  ]);
  assert.deepEqual(values(left.tokenTypeIds), [
    [1, 1, 1, 1, 0, 0, 1, 1],
    [1, 1, 1, 1, 1, 0, 0, 0],
  ]);
  disposeBatch(left);

  const fixed = collateText([{ inputIds: [1, 2], attentionMask: [1, 0] }], { padTokenId: 0, maxLength: 5 });
  assert.deepEqual(values(fixed.inputIds), [[1, 2, 0, 0, 0]]);
  assert.deepEqual(values(fixed.attentionMask), [[1, 0, 0, 0, 0]]);
  assert.equal(fixed.labels, undefined);
  disposeBatch(fixed);

  const floats = collateText(
    [
      { inputIds: [1], label: 0.5 },
      { inputIds: [1], label: 2 },
    ],
    { padTokenId: 0 },
  );
  assert.equal(floats.labels!.dtype, 'float32');
  disposeBatch(floats);
  const multi = collateText(
    [
      { inputIds: [1], label: [0, 1] },
      { inputIds: [1, 2], label: [1, 1] },
    ],
    { padTokenId: 0, labelDtype: 'float32' },
  );
  assert.deepEqual(multi.labels!.shape, [2, 2]);
  disposeBatch(multi);

  const collate = textCollator(tokenizer, { padToMultipleOf: 4 });
  const bound = collate([{ inputIds: [101, 102] }]);
  assert.deepEqual(values(bound.inputIds), [[101, 102, 0, 0]]);
  disposeBatch(bound);
  assert.equal(memory().numTensors, before);

  assert.throws(() => collateText([], { padTokenId: 0 }), /collateText: empty batch/);
  assert.throws(
    () => collateText([{ inputIds: [1, 2, 3] }], { padTokenId: 0, maxLength: 2 }),
    /example 0 has 3 tokens, more than maxLength 2/,
  );
  assert.throws(
    () => collateText([{ inputIds: [1, 2], tokenTypeIds: [0] }], { padTokenId: 0 }),
    /example 0 has 2 inputIds but 1 tokenTypeIds/,
  );
  assert.throws(
    () => collateText([{ inputIds: [1], label: 1 }, { inputIds: [1] }], { padTokenId: 0 }),
    /1 of 2 examples have a label/,
  );
  assert.throws(
    () =>
      collateText(
        [
          { inputIds: [1], label: 1 },
          { inputIds: [1], label: [1, 0] },
        ],
        { padTokenId: 0 },
      ),
    /example 1's label does not match example 0's \(a number\)/,
  );
  assert.throws(
    () => collateText([{ inputIds: [1] }], { padTokenId: 0, padToMultipleOf: 0 }),
    /padToMultipleOf must be a positive integer/,
  );
  assert.throws(
    () => collateText([{ inputIds: [1], label: 0.5 }], { padTokenId: 0, labelDtype: 'int64' }),
    /labelDtype int64 but a label is not an integer/,
  );
  assert.throws(() => textCollator({ padTokenId: null }), /the tokenizer has no pad token/);
  assert.equal(memory().numTensors, before);
});

test('findLabelColumn: a known name, else the one column of few values beside one of many texts', async () => {
  assert.equal(data.findLabelColumn(['text', 'sentiment']), 'sentiment');
  const dir = mkdtempSync(join(tmpdir(), 'finetune-columns-'));
  try {
    const file = join(dir, 'quotes.csv');
    const topics = ['computers', 'politics', 'science'];
    writeFileSync(
      file,
      'quote,topic\n' +
        Array.from({ length: 30 }, (_, i) => `"quote number ${i}, unlike the others",${topics[i % 3]}`).join('\n') +
        '\n',
    );
    const table = await data.readTable(file);
    assert.equal(data.findLabelColumn(table.columns, table.rows), 'topic');
    assert.equal(data.findTextColumn(table.columns, ['topic']), 'quote');
    // Two columns of many values, or of few: no guess (the CLI asks for --label-column)
    writeFileSync(file, 'a,b\n' + Array.from({ length: 30 }, (_, i) => `x${i},y${i}`).join('\n') + '\n');
    const unique = await data.readTable(file);
    assert.equal(data.findLabelColumn(unique.columns, unique.rows), undefined);
    writeFileSync(file, 'a,b\n' + Array.from({ length: 30 }, (_, i) => `x${i % 2},y${i % 3}`).join('\n') + '\n');
    const few = await data.readTable(file);
    assert.equal(data.findLabelColumn(few.columns, few.rows), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a tokenizer.json whose template names an undefined special token is refused at load, naming it (the tokenizers library panicked at encode time; issue 14)', async () => {
  const json = JSON.parse(readFileSync(join(TOKENIZER_DIR, 'tokenizer.json'), 'utf8')) as {
    post_processor: {
      single: { SpecialToken?: { id: string } }[];
      special_tokens: Record<string, { ids: number[]; tokens: string[] }>;
    };
  };
  const undefinedToken = structuredClone(json);
  undefinedToken.post_processor.single[2].SpecialToken!.id = '[EOS]';
  assert.throws(
    () => data.Tokenizer.fromString(JSON.stringify(undefinedToken)),
    /<tokenizer\.json>: post_processor's single template uses the special token "\[EOS\]", which its special_tokens does not define/,
  );
  const noIds = structuredClone(json);
  noIds.post_processor.special_tokens['[SEP]'].ids = [];
  assert.throws(
    () => data.Tokenizer.fromString(JSON.stringify(noIds)),
    /post_processor\.special_tokens\['\[SEP\]'\] needs as many ids \(non-negative integers\) as tokens, and at least one/,
  );
  // The file as shipped still loads and encodes
  assert.deepEqual((await data.Tokenizer.fromString(JSON.stringify(json)).encode('hello')).inputIds, [101, 7592, 102]);
});
