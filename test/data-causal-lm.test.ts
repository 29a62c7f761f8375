// Causal-LM data: byte-level BPE tokenizers (a GPT-2-style and a Llama-3-style tokenizer.json)
// against transformers' AutoTokenizer, streaming decode, chat templates, and the causal-LM datasets
// (.txt by line and by paragraph, JSONL texts, prompt/response pairs, chats) against the same files
// tokenised and grouped in Python (fixtures from tools/gen_causal_lm_data_fixtures.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { data, memory } from 'finetune';

const {
  Tokenizer,
  CausalLmDataset,
  TokenStreamDecoder,
  applyChatTemplate,
  collateCausalLm,
  causalLmCollator,
  splitText,
} = data;

const FIXTURES = 'test/fixtures/causal-lm';
type Family = 'gpt2' | 'llama3';
const FOLDERS: Record<Family, string> = { gpt2: join(FIXTURES, 'gpt2-style'), llama3: join(FIXTURES, 'llama3-style') };

interface Blocks {
  inputIds: number[][];
  labels: number[][];
  dropped: number;
}
interface FamilyFixture {
  specialTokens: Record<'bos' | 'eos' | 'unk' | 'pad', { token: string | null; id: number | null }>;
  vocabSize: number;
  awkward: { text: string; ids: number[]; noSpecial: number[]; decoded: string; decodedSkip: string }[];
  addBosEos: { text: string; ids: number[] }[];
  noBos: { text: string; ids: number[] }[];
  textByLine: Blocks;
  textByParagraph: Blocks;
  jsonl: Blocks;
  pairs: { examples: { inputIds: number[]; labels: number[] }[]; skippedLines: number[]; truncated: number };
  chat?: { text: string; inputIds: number[]; labels: number[] }[];
  generationPrompt?: string;
}
const fixture = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as { blockSize: number } & Record<
  Family,
  FamilyFixture
>;
const BLOCK = fixture.blockSize;

function readJson(path: string): data.TokenizerConfigOptions['config'] {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** The family's tokenizer with extra tokenizer_config.json keys. */
function withConfig(family: Family, extra: Record<string, boolean>): data.Tokenizer {
  const folder = FOLDERS[family];
  const map = family === 'gpt2' ? readJson(join(folder, 'special_tokens_map.json')) : undefined;
  return Tokenizer.fromString(readFileSync(join(folder, 'tokenizer.json'), 'utf8'), {
    config: { ...readJson(join(folder, 'tokenizer_config.json')), ...extra },
    specialTokensMap: map,
  });
}

function examples(dataset: data.CausalLmDataset): { inputIds: number[][]; labels: number[][] } {
  const all = Array.from({ length: dataset.length }, (_, i) => dataset.get(i));
  return { inputIds: all.map((e) => e.inputIds), labels: all.map((e) => e.labels) };
}

for (const family of ['gpt2', 'llama3'] as const) {
  const expected = fixture[family];

  test(`${family}-style byte-level BPE: special tokens, ids of awkward texts and decode as AutoTokenizer`, async () => {
    const tokenizer = Tokenizer.fromFile(FOLDERS[family]);
    for (const role of ['bos', 'eos', 'unk', 'pad'] as const) {
      const found = tokenizer.specialTokens[role];
      assert.deepEqual({ token: found?.token ?? null, id: found?.id ?? null }, expected.specialTokens[role], role);
    }
    assert.equal(tokenizer.vocabSize, expected.vocabSize);
    for (const { text, ids, noSpecial, decoded, decodedSkip } of expected.awkward) {
      assert.deepEqual((await tokenizer.encode(text)).inputIds, ids, JSON.stringify(text));
      assert.deepEqual(
        (await tokenizer.encode(text, { addSpecialTokens: false })).inputIds,
        noSpecial,
        JSON.stringify(text),
      );
      assert.equal(await tokenizer.decode(ids), decoded);
      assert.equal(await tokenizer.decode(ids, { skipSpecialTokens: true }), decodedSkip);
    }
    const batch = await tokenizer.encodeBatch(expected.awkward.map((c) => c.text));
    assert.deepEqual(
      batch.map((e) => e.inputIds),
      expected.awkward.map((c) => c.ids),
    );
  });

  test(`${family}-style: add_bos_token / add_eos_token in tokenizer_config.json rewrite the post-processor as transformers does`, async () => {
    const both = withConfig(family, { add_bos_token: true, add_eos_token: true });
    for (const { text, ids } of expected.addBosEos)
      assert.deepEqual((await both.encode(text)).inputIds, ids, JSON.stringify(text));
    const none = withConfig(family, { add_bos_token: false });
    for (const { text, ids } of expected.noBos)
      assert.deepEqual((await none.encode(text)).inputIds, ids, JSON.stringify(text));
  });

  test(`${family}-style: TokenStreamDecoder gives each token's text, whole characters only, adding up to decode`, async () => {
    const tokenizer = Tokenizer.fromFile(FOLDERS[family]);
    let waited = 0;
    for (const skipSpecialTokens of [false, true]) {
      for (const { text, ids, decoded, decodedSkip } of expected.awkward) {
        const stream = new TokenStreamDecoder(tokenizer, { skipSpecialTokens });
        const pieces: string[] = [];
        for (const id of ids) pieces.push(await stream.push(id));
        pieces.push(await stream.flush());
        assert.equal(pieces.join(''), skipSpecialTokens ? decodedSkip : decoded, JSON.stringify(text));
        assert.ok(
          pieces.every((piece) => !piece.includes('\uFFFD')),
          `${JSON.stringify(text)}: ${JSON.stringify(pieces)}`,
        );
        waited += pieces.slice(0, -1).filter((piece) => piece === '').length;
      }
    }
    // Emoji and CJK characters span tokens here: some pushes must have waited for the rest of a character.
    assert.ok(waited > 0);
    await assert.rejects(new TokenStreamDecoder(tokenizer).push(-1), /non-negative integer/);
  });

  test(`${family}-style: .txt by line (run_clm.py), by paragraph, and JSONL texts pack into the blocks Python's group_texts gives`, async () => {
    const tokenizer = Tokenizer.fromFile(FOLDERS[family]);
    const byLine = await CausalLmDataset.fromFile(join(FIXTURES, 'sample.txt'), { tokenizer, blockSize: BLOCK });
    assert.equal(byLine.packed, true);
    assert.deepEqual(examples(byLine), { inputIds: expected.textByLine.inputIds, labels: expected.textByLine.labels });
    assert.equal(byLine.droppedTokens, expected.textByLine.dropped);
    assert.equal(byLine.lineOf(0), 1);
    const byParagraph = await CausalLmDataset.fromFile(join(FIXTURES, 'sample.txt'), {
      tokenizer,
      blockSize: BLOCK,
      sampleBy: 'paragraph',
    });
    assert.deepEqual(examples(byParagraph), {
      inputIds: expected.textByParagraph.inputIds,
      labels: expected.textByParagraph.labels,
    });
    assert.equal(byParagraph.droppedTokens, expected.textByParagraph.dropped);
    // Each block names the line its first token comes from.
    const lines = Array.from({ length: byParagraph.length }, (_, i) => byParagraph.lineOf(i));
    assert.deepEqual(
      lines,
      [...lines].sort((a, b) => a - b),
    );
    assert.ok(lines[0] === 1 && lines[lines.length - 1] > 1, String(lines));
    // Texts in memory are documents, as JSONL rows.
    const texts = readFileSync(join(FIXTURES, 'sample.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).text as string);
    assert.deepEqual(examples(await CausalLmDataset.fromTexts(texts, { tokenizer, blockSize: BLOCK })), {
      inputIds: expected.jsonl.inputIds,
      labels: expected.jsonl.labels,
    });
    const jsonl = await CausalLmDataset.fromFile(join(FIXTURES, 'sample.jsonl'), { tokenizer, blockSize: BLOCK });
    assert.deepEqual(examples(jsonl), { inputIds: expected.jsonl.inputIds, labels: expected.jsonl.labels });
    assert.equal(jsonl.droppedTokens, expected.jsonl.dropped);
    // Unpacked: one example per text, cut to the block, EOS at its end.
    const unpacked = await CausalLmDataset.fromFile(join(FIXTURES, 'sample.jsonl'), {
      tokenizer,
      blockSize: 8,
      packing: false,
    });
    assert.equal(unpacked.length, 7);
    const first = (await tokenizer.encode('the story is smart and entertaining .')).inputIds;
    assert.deepEqual(unpacked.get(0).inputIds, [...first, tokenizer.eosTokenId!].slice(0, 8));
    assert.deepEqual(unpacked.get(0).labels, unpacked.get(0).inputIds);
    assert.ok(unpacked.truncatedExamples > 0);
  });

  test(`${family}-style: prompt/response pairs train on the response and EOS only, as Python's tokenisation`, async () => {
    const tokenizer = Tokenizer.fromFile(FOLDERS[family]);
    const options = {
      tokenizer,
      blockSize: BLOCK,
      promptColumn: 'prompt',
      responseColumn: 'response',
      chatTemplate: false,
    } as const;
    // Line 5's prompt fills the block: an error naming the file and line, or a row left out.
    await assert.rejects(
      CausalLmDataset.fromFile(join(FIXTURES, 'pairs.jsonl'), options),
      /pairs\.jsonl:5: the prompt takes at least 32 tokens, the whole block of 32: no response token is left/,
    );
    const pairs = await CausalLmDataset.fromFile(join(FIXTURES, 'pairs.jsonl'), { ...options, onBadRow: 'skip' });
    assert.equal(pairs.packed, false);
    const { examples: want, skippedLines } = expected.pairs;
    assert.deepEqual(examples(pairs), { inputIds: want.map((p) => p.inputIds), labels: want.map((p) => p.labels) });
    assert.deepEqual(
      pairs.skippedRows.map((row) => row.line),
      skippedLines,
    );
    assert.equal(pairs.truncatedExamples, expected.pairs.truncated);
    // Packed, the pairs' labels travel with their tokens into the blocks.
    const packed = await CausalLmDataset.fromFile(join(FIXTURES, 'pairs.jsonl'), {
      ...options,
      packing: true,
      blockSize: 16,
    });
    const first = packed.get(0);
    assert.equal(first.inputIds.length, 16);
    assert.ok(first.labels.every((label, i) => label === -100 || label === first.inputIds[i]));
    assert.ok(first.labels.includes(-100));
  });
}

test('llama3-style: chat_template from tokenizer_config.json, rendered with @huggingface/jinja as transformers renders it; loss on the assistant turns', async () => {
  const expected = fixture.llama3;
  const tokenizer = Tokenizer.fromFile(FOLDERS.llama3);
  assert.ok(tokenizer.chatTemplate?.includes('start_header_id'));
  const conversations = readFileSync(join(FIXTURES, 'chat.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line).messages as data.ChatMessage[]);
  assert.equal(
    applyChatTemplate(tokenizer, conversations[0].slice(0, 1), { addGenerationPrompt: true }),
    expected.generationPrompt,
  );
  assert.equal(applyChatTemplate(tokenizer, conversations[1]), expected.chat![1].text);
  const chats = await CausalLmDataset.fromFile(join(FIXTURES, 'chat.jsonl'), {
    tokenizer,
    blockSize: 64,
    messagesColumn: 'messages',
  });
  // Pairs in a tokenizer with a chat template are user/assistant conversations in it.
  const pairs = await CausalLmDataset.fromFile(join(FIXTURES, 'pairs.jsonl'), {
    tokenizer,
    blockSize: 64,
    promptColumn: 'prompt',
    responseColumn: 'response',
  });
  const got = [
    ...Array.from({ length: chats.length }, (_, i) => chats.get(i)),
    ...Array.from({ length: pairs.length }, (_, i) => pairs.get(i)),
  ];
  assert.deepEqual(
    got,
    expected.chat!.map(({ inputIds, labels }) => ({ inputIds, labels })),
  );
  const gpt2 = Tokenizer.fromFile(FOLDERS.gpt2);
  assert.throws(() => applyChatTemplate(gpt2, conversations[0]), /has no chat template/);
  assert.throws(
    () => applyChatTemplate(gpt2, conversations[0], { template: '{% for m in messages %}' }),
    /cannot be parsed/,
  );
});

test('splitText: universal newlines and Python splitlines(keepends=True) by line; paragraphs at blank lines', () => {
  assert.deepEqual(splitText('a\r\nb\rc\n\nd\u2028e'), [
    { line: 1, text: 'a\n' },
    { line: 2, text: 'b\n' },
    { line: 3, text: 'c\n' },
    { line: 4, text: '\n' },
    { line: 5, text: 'd\u2028' },
    { line: 5, text: 'e' },
  ]);
  assert.deepEqual(splitText('p1 a\np1 b\n\np2\n\n\np3', 'paragraph'), [
    { line: 1, text: 'p1 a\np1 b' },
    { line: 4, text: 'p2' },
    { line: 6, text: '\np3' },
  ]);
  assert.deepEqual(splitText('x\r\ny', 'document'), [{ line: 1, text: 'x\ny' }]);
  assert.deepEqual(splitText(''), []);
  assert.throws(() => splitText('x', 'word' as data.TextSampling), /sampleBy must be/);
});

test("causalLmCollator: pads with EOS when there is no pad token, labels -100 and mask 0 on padding; tensors are the caller's", () => {
  const before = memory().numTensors;
  const tokenizer = Tokenizer.fromFile(FOLDERS.llama3);
  assert.equal(tokenizer.padTokenId, null);
  const collate = causalLmCollator(tokenizer, { padToMultipleOf: 4 });
  const batch = collate([
    { inputIds: [700, 5, 6], labels: [-100, 5, 6] },
    { inputIds: [700, 7, 8, 9, 10], labels: [700, 7, 8, 9, 10] },
  ]);
  const eos = tokenizer.eosTokenId!;
  assert.deepEqual(batch.inputIds.toArray(), [
    [700, 5, 6, eos, eos, eos, eos, eos],
    [700, 7, 8, 9, 10, eos, eos, eos],
  ]);
  assert.deepEqual(batch.attentionMask.toArray(), [
    [1, 1, 1, 0, 0, 0, 0, 0],
    [1, 1, 1, 1, 1, 0, 0, 0],
  ]);
  assert.deepEqual(batch.labels.toArray(), [
    [-100, 5, 6, -100, -100, -100, -100, -100],
    [700, 7, 8, 9, 10, -100, -100, -100],
  ]);
  for (const t of Object.values(batch)) t.dispose();
  const left = collateCausalLm(
    [
      { inputIds: [1], labels: [1] },
      { inputIds: [2, 3], labels: [2, 3] },
    ],
    { padTokenId: 0, paddingSide: 'left' },
  );
  assert.deepEqual(left.inputIds.toArray(), [
    [0, 1],
    [2, 3],
  ]);
  assert.deepEqual(left.labels.toArray(), [
    [-100, 1],
    [2, 3],
  ]);
  for (const t of Object.values(left)) t.dispose();
  assert.throws(
    () => collateCausalLm([{ inputIds: [1, 2], labels: [1] }], { padTokenId: 0 }),
    /example 0 has 2 inputIds but 1 labels/,
  );
  assert.throws(() => collateCausalLm([], { padTokenId: 0 }), /empty batch/);
  assert.throws(() => causalLmCollator({ padTokenId: null, eosTokenId: null }), /neither a pad nor an eos token/);
  assert.equal(memory().numTensors, before);
});
