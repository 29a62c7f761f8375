/**
 * Regular expressions from files: the linear-time matcher against Python's `re` (fixtures from
 * tools/gen_pattern_fixtures.py), the constructs and sizes it refuses, PEFT configs whose
 * patterns used to hang for minutes, and tokenizer.json patterns that aborted the process
 * inside the tokenizers library (run in a child process, so an abort fails the test).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { data, LoraConfig, getPeftModel, manualSeed, models, pattern, peft } from 'finetune';

const root = process.cwd();
const FIXTURES = JSON.parse(readFileSync(join(root, 'test', 'fixtures', 'patterns', 'python-re.json'), 'utf8')) as {
  fullmatch: [string, string, boolean][];
  match: [string, string, (string | null)[] | null][];
  random: [string, string, (string | null)[] | null, boolean][];
  errors: [string, string][];
};
const BERT_TOKENIZER = join(root, 'data', 'bert-base-uncased', 'tokenizer.json');

/** Milliseconds `fn` takes. */
function elapsed(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

test("fullMatch agrees with Python's re.fullmatch on every fixture pair", () => {
  const wrong = FIXTURES.fullmatch.filter(
    ([source, text, expected]) => new pattern.Pattern(source).fullMatch(text) !== expected,
  );
  assert.deepEqual(wrong, []);
  assert.ok(FIXTURES.fullmatch.length > 3000);
});

test("match agrees with Python's re.match, groups included, on the patterns PEFT builds", () => {
  const wrong = FIXTURES.match.filter(([source, text, expected]) => {
    const compiled = new pattern.Pattern(source);
    const found = compiled.match(text);
    return (
      JSON.stringify(found ? found.groups.map((g) => g ?? null) : null) !== JSON.stringify(expected) ||
      compiled.test(text) !== (expected !== null)
    );
  });
  assert.deepEqual(wrong, []);
  assert.ok(
    FIXTURES.match.some(([, , groups]) => groups !== null) && FIXTURES.match.some(([, , groups]) => groups === null),
  );
});

test("seeded random patterns agree with Python's re.match (groups) and re.fullmatch", () => {
  const wrong = FIXTURES.random.filter(([source, text, groups, whole]) => {
    const compiled = new pattern.Pattern(source);
    const found = compiled.match(text);
    return (
      JSON.stringify(found ? found.groups.map((g) => g ?? null) : null) !== JSON.stringify(groups) ||
      compiled.fullMatch(text) !== whole
    );
  });
  assert.deepEqual(wrong, []);
  assert.ok(FIXTURES.random.length >= 600 * 13);
});

test('patterns Python refuses are refused, with the position', () => {
  for (const [source, pythonMessage] of FIXTURES.errors) {
    assert.throws(
      () => new pattern.Pattern(source),
      (error: Error) => error instanceof pattern.PatternError && /at position \d+$/.test(error.message),
      `${source} (Python: ${pythonMessage})`,
    );
  }
});

test('constructs that need backtracking are refused by name', () => {
  const refused: [string, RegExp][] = [
    ['^(?!.*foo).*', /lookahead \(\?!…\) is not supported/],
    ['.*(?=_proj)', /lookahead \(\?=…\)/],
    ['(?<=self\\.)query', /lookbehind \(\?<=…\)/],
    ['(?<!x)query', /lookbehind \(\?<!…\)/],
    ['(q)\\1', /backreference \\1/],
    ['(?P<x>q)(?P=x)', /backreference \(\?P=…\)/],
    ['a*+', /possessive quantifier \*\+/],
    ['(?>a)', /atomic group/],
    ['(?i)query', /inline flags \(\?i\)/],
    ['(?s:.)', /inline flags \(\?s:/],
    ['(a)?(?(1)b|c)', /conditional/],
    ['\\N{DIGIT ONE}', /named character escape/],
  ];
  for (const [source, message] of refused) {
    assert.throws(
      () => new pattern.Pattern(source),
      (error: Error) =>
        error instanceof pattern.PatternError && message.test(error.message) && /linear time/.test(error.message),
      source,
    );
  }
});

test('pattern length, repeat counts and the expanded size are bounded', () => {
  assert.throws(
    () => new pattern.Pattern('a'.repeat(pattern.MAX_PATTERN_LENGTH + 1)),
    /1001 characters long, more than the 1000 accepted/,
  );
  assert.ok(new pattern.Pattern('a'.repeat(pattern.MAX_PATTERN_LENGTH)).fullMatch('a'.repeat(1000)));
  assert.throws(() => new pattern.Pattern('a{1001}'), /repeat count \{1001\} is above the 1000 accepted/);
  assert.throws(() => new pattern.Pattern('(a{1000}){1000}'), /expands to more than 5000 steps/);
  assert.ok(new pattern.Pattern('a{2,1000}').fullMatch('a'.repeat(1000)));
});

test('catastrophic patterns run in linear time', () => {
  const name = 'a'.repeat(59) + '!';
  for (const source of [
    '(.|.)*Z',
    '(a+)+$',
    '(a|aa)*b',
    '(a*)*b',
    '(\\w+\\.?)*Z',
    '(.*a){20}Z',
    `(?:${'(a?)'.repeat(10)}){0,45}Z`,
  ]) {
    const compiled = new pattern.Pattern(source);
    let found = true;
    const ms = elapsed(() => (found = compiled.fullMatch(name) || compiled.match(name) !== null));
    assert.equal(found, false, source);
    assert.ok(ms < 100, `${source} took ${ms.toFixed(1)} ms on a 60-character name`);
  }
  // Linear, not merely fast: 100× the text takes about 100× the time, not 10,000×.
  const slow = new pattern.Pattern('(.|.)*Z');
  const short = elapsed(() => slow.fullMatch('a'.repeat(600)));
  const long = elapsed(() => slow.fullMatch('a'.repeat(60_000)));
  assert.ok(long < 1000 * Math.max(short, 1), `600 characters: ${short.toFixed(1)} ms; 60,000: ${long.toFixed(1)} ms`);
});

test("a target_modules of '(.|.)*Z' is matched against every module in milliseconds, and a PEFT regex still targets", () => {
  manualSeed(0);
  const model = () =>
    new models.BertForSequenceClassification({
      vocabSize: 50,
      hiddenSize: 16,
      numHiddenLayers: 2,
      numAttentionHeads: 2,
      intermediateSize: 32,
      maxPositionEmbeddings: 32,
      numLabels: 2,
    });
  const ms = elapsed(() =>
    assert.throws(() => getPeftModel(model(), new LoraConfig({ targetModules: '(.|.)*Z', r: 2 })), /not found/),
  );
  assert.ok(ms < 2000, `${ms.toFixed(0)} ms`);
  const lora = getPeftModel(
    model(),
    new LoraConfig({
      targetModules: '.*\\.layer\\.1\\.attention\\.self\\.(query|value)',
      r: 2,
      rankPattern: { 'self\\.value': 4 },
    }),
  );
  const shapes = Object.fromEntries([...lora.adapterStateDict('default')].map(([key, t]) => [key, t.shape]));
  assert.deepEqual(Object.keys(shapes).sort(), [
    'base_model.model.bert.encoder.layer.1.attention.self.query.lora_A.weight',
    'base_model.model.bert.encoder.layer.1.attention.self.query.lora_B.weight',
    'base_model.model.bert.encoder.layer.1.attention.self.value.lora_A.weight',
    'base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.weight',
  ]);
  assert.deepEqual(shapes['base_model.model.bert.encoder.layer.1.attention.self.value.lora_A.weight'], [4, 16]);
  assert.deepEqual(shapes['base_model.model.bert.encoder.layer.1.attention.self.query.lora_A.weight'], [2, 16]);
});

test('adapter_config.json patterns the matcher cannot run are refused when read, naming the file, the field and the construct', () => {
  const where = '/adapters/x/adapter_config.json';
  const read = (fields: Record<string, unknown>) => () =>
    peft.peftConfigFromJson({ peft_type: 'LORA', r: 4, target_modules: ['query'], ...fields }, where);
  assert.throws(
    read({ target_modules: '^(?!.*foo).*' }),
    /^Error: \/adapters\/x\/adapter_config\.json: target_modules "\^\(\?!\.\*foo\)\.\*": lookahead \(\?!…\) is not supported .* at position 1$/,
  );
  assert.throws(
    read({ target_modules: '(' }),
    /adapter_config\.json: target_modules "\(": missing \), unterminated subpattern at position 0$/,
  );
  assert.throws(
    read({ exclude_modules: 'a**' }),
    /adapter_config\.json: exclude_modules "a\*\*": multiple repeat at position 2$/,
  );
  assert.throws(
    read({ modules_to_save: ['classifier', '(?=x)'] }),
    /adapter_config\.json: modules_to_save "\(\?=x\)": lookahead \(\?=…\) .* \(matched as "\(\^\|\.\*\\\\\.\)\(\?=x\)\(\$\|\\\\\.\.\*\)", as PEFT does\)$/,
  );
  assert.throws(
    read({ layers_to_transform: [0], layers_pattern: ['layer', '(a'] }),
    /layers_pattern "\(a": missing \)/,
  );
  assert.throws(read({ rank_pattern: { 'query\\1': 8 } }), /rank_pattern "query\\\\1": the backreference \\1/);
  assert.throws(
    read({ alpha_pattern: { ['x'.repeat(1000)]: 8 } }),
    /alpha_pattern "x{79}…": the pattern is 1010 characters long, more than the 1000 accepted \(matched as "\(\.\*\\\\\.\)\?\(x{71}…", as PEFT does\)$/,
  );
  // Plain names in a list are names, not patterns.
  assert.deepEqual(read({ target_modules: ['query(', 'value'] })().toJson().target_modules, ['query(', 'value']);
});

/** bert-base-uncased's tokenizer.json with `change` applied, written to a fresh folder; returns its path. */
function tokenizerFile(dir: string, change: (json: Record<string, unknown>) => void): string {
  const json = JSON.parse(readFileSync(BERT_TOKENIZER, 'utf8')) as Record<string, unknown>;
  change(json);
  const path = join(dir, 'tokenizer.json');
  writeFileSync(path, JSON.stringify(json));
  return path;
}

/** Loads `path` with finetune's Tokenizer in a child process and encodes `text`: a native abort shows as a signal, not a dead test runner. */
function encodeInChild(path: string, text: string) {
  const script = `
    import { data } from 'finetune';
    const tokenizer = data.Tokenizer.fromFile(process.argv[1]);
    const encoding = await tokenizer.encode(process.argv[2]);
    console.log('encoded', encoding.inputIds.length);`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script, path, text], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

const split = (regex: string) => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false });
const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const LLAMA3 =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const O200K =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

test("the tokenizers library's standard split patterns pass the backtracking check", () => {
  for (const source of [
    GPT2,
    LLAMA3,
    QWEN2,
    O200K,
    '\\w+|[^\\w\\s]+',
    '\\s+',
    '(?:ab|cd)+',
    '(a|b)*',
    '[ab]*c',
    '(?:a{1,3})*',
    'a+b+',
    '(?=a+)b',
  ]) {
    assert.equal(pattern.catastrophicBacktracking(source), null, source);
  }
  const refused: [string, RegExp][] = [
    ['(a+)+$', /the quantifier of '\(a\+\)\+' repeats 'a\+', which repeats itself/],
    ['(.|.)*Z', /repeats the alternatives '\.' and '\.', which can match the same text/],
    ['(a|aa)*b', /the alternatives 'a' and 'aa'/],
    ['(?:\\s*\\S+)+!', /repeats '\\s\*'/],
    ['(\\p{L}|\\p{Ll})+', /the alternatives '\\p\{L\}' and '\\p\{Ll\}'/],
    ['((a)*b)*', /repeats '\(a\)\*'/],
  ];
  for (const [source, message] of refused)
    assert.match(pattern.catastrophicBacktracking(source) ?? 'accepted', message, source);
});

test('a tokenizer.json Split or Replace pattern that backtracks exponentially is refused at load, naming the file and JSON path; the process never aborts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-patterns-'));
  try {
    const line = 'a'.repeat(30) + '!';
    const splitting = tokenizerFile(dir, (json) => (json.pre_tokenizer = split('(a+)+$')));
    const run = encodeInChild(splitting, line);
    assert.equal(run.signal, null, `the child was killed by ${run.signal}: ${run.stderr.slice(-400)}`);
    assert.equal(run.status, 1, run.stderr);
    assert.ok(
      run.stderr.includes(`${splitting}: pre_tokenizer.pattern.Regex "(a+)+$" can take exponential time`),
      run.stderr,
    );

    const replacing = tokenizerFile(
      dir,
      (json) =>
        (json.normalizer = {
          type: 'Sequence',
          normalizers: [json.normalizer, { type: 'Replace', pattern: { Regex: '(x|.)*y' }, content: ' ' }],
        }),
    );
    assert.throws(
      () => data.Tokenizer.fromFile(replacing),
      /tokenizer\.json: normalizer\.normalizers\[1\]\.pattern\.Regex "\(x\|\.\)\*y" can take exponential time .* the alternatives 'x' and '\.'/,
    );

    // GPT-2's byte-level split, and Llama 3's, still load and encode that line.
    for (const regex of [GPT2, LLAMA3]) {
      const standard = tokenizerFile(
        dir,
        (json) => (json.pre_tokenizer = { type: 'Sequence', pretokenizers: [split(regex), { type: 'Whitespace' }] }),
      );
      const ok = encodeInChild(standard, line);
      assert.equal(ok.status, 0, ok.stderr);
      assert.match(ok.stdout, /^encoded \d+/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
