/**
 * Fuzz corpus: mutated tokenizer.json files (from the shipped bert-base-uncased tokenizer, its
 * vocabulary cut to 3,000 entries to keep each case fast), sometimes with a hostile
 * tokenizer_config.json beside them, loaded with Tokenizer.fromFile and then used to encode,
 * truncate and decode a few texts (one that backtracking regexes choke on among them).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { data } from 'finetune';

import type { Corpus } from '../fuzz.js';
import { HOSTILE_NUMBERS, mutateBytes, mutateJson, Rng, stringify, type Json } from '../fuzz-mutate.js';

type Doc = Record<string, Json>;

/** The ids below this are bert-base-uncased's special tokens, [unused…] entries and single characters. */
const VOCAB_SIZE = 2000;

function baseTokenizer(): Doc {
  const doc = JSON.parse(readFileSync('data/bert-base-uncased/tokenizer.json', 'utf8')) as Doc;
  const model = doc.model as Doc;
  const kept = Object.entries(model.vocab as Record<string, number>).filter(([word, id]) => id < VOCAB_SIZE || (word.startsWith('##') && word.length === 3));
  model.vocab = Object.fromEntries(kept);
  return doc;
}
const BASE = baseTokenizer();

/** Patterns that backtrack catastrophically, are invalid, or are huge. */
const HOSTILE_PATTERNS = ['(a+)+$', '(.|.)*Z', '(a|aa)+!$', '(', '[', '\\', '(?<=a)b', 'a{1000000}', '(?:a*)*b', '\\p{NoSuchClass}', '.'.repeat(100_000), ''];

const TEXTS = ['Hello, world!', '', `${'a'.repeat(2000)}!`, 'naïve café 日本語 🙂 \u0000 \uFFFD', ' '.repeat(300)];

/** A mutation that knows tokenizer.json's structure; returns what it did and the key it touched. */
function mutateStructure(rng: Rng, doc: Doc): { what: string; key: string } {
  const post = doc.post_processor as Doc;
  const model = doc.model as Doc;
  switch (rng.int(9)) {
    case 0: {
      const side = rng.pick(['single', 'pair']);
      (post[side] as Json[]).push({ SpecialToken: { id: rng.pick(['[NOPE]', '', 'constructor', '__proto__']), type_id: 0 } });
      return { what: `post_processor.${side} names an undefined special token`, key: 'post_processor' };
    }
    case 1: {
      const entry = (post.special_tokens as Doc)['[CLS]'] as Doc;
      entry.ids = rng.pick<Json>([[1e9], [-1], [], [101, 102], [2 ** 53 + 2], ['101'], [VOCAB_SIZE + 5]]);
      return { what: `post_processor.special_tokens['[CLS]'].ids = ${JSON.stringify(entry.ids)}`, key: 'special_tokens' };
    }
    case 2: {
      const pattern = rng.pick(HOSTILE_PATTERNS);
      doc.pre_tokenizer = { type: 'Split', pattern: { Regex: pattern }, behavior: rng.pick(['Isolated', 'Removed', 'MergedWithNext', 'Nope']), invert: rng.chance(0.5) };
      return { what: `pre_tokenizer Split /${pattern.slice(0, 30)}/`, key: 'pre_tokenizer' };
    }
    case 3: {
      const pattern = rng.pick(HOSTILE_PATTERNS);
      doc.normalizer = { type: 'Replace', pattern: { Regex: pattern }, content: rng.pick(['', 'x', 'x'.repeat(10_000)]) };
      return { what: `normalizer Replace /${pattern.slice(0, 30)}/`, key: 'normalizer' };
    }
    case 4: {
      const token = (doc.added_tokens as Doc[])[rng.int(5)]!;
      const field = rng.pick(['id', 'content', 'special', 'lstrip']);
      token[field] = field === 'id' ? rng.pick([...HOSTILE_NUMBERS, -5, VOCAB_SIZE * 10]) : rng.pick<Json>(['', 'a', null, 7, 'x'.repeat(100_000)]);
      return { what: `added_tokens[].${field} = ${JSON.stringify(token[field]).slice(0, 40)}`, key: 'added_tokens' };
    }
    case 5: {
      model.type = rng.pick(['BPE', 'Unigram', 'WordLevel', 'constructor', '__proto__', '']);
      return { what: `model.type = ${String(model.type)}`, key: 'model' };
    }
    case 6: {
      const field = rng.pick(['unk_token', 'max_input_chars_per_word', 'continuing_subword_prefix']);
      model[field] = rng.pick<Json>(['[NOPE]', '', -1, 0, 1e9, 2 ** 64, 'x'.repeat(100_000), null]);
      return { what: `model.${field} = ${JSON.stringify(model[field]).slice(0, 40)}`, key: field };
    }
    case 7: {
      const vocab = model.vocab as Record<string, Json>;
      const word = rng.pick(Object.keys(vocab));
      vocab[word] = rng.pick<Json>([1e9, -1, 0, 2 ** 32, 1.5, '3', null]);
      return { what: `model.vocab['${word}'] = ${JSON.stringify(vocab[word])}`, key: 'vocab' };
    }
    default: {
      if (rng.chance(0.5)) {
        doc.truncation = { direction: 'Right', max_length: rng.pick(HOSTILE_NUMBERS), strategy: rng.pick(['LongestFirst', 'OnlySecond', 'Nope']), stride: rng.pick(HOSTILE_NUMBERS) };
        return { what: `truncation = ${JSON.stringify(doc.truncation)}`, key: 'truncation' };
      }
      doc.padding = { strategy: rng.pick<Json>(['BatchLongest', { Fixed: rng.pick(HOSTILE_NUMBERS) }]), direction: 'Right', pad_to_multiple_of: rng.pick<Json>([null, 0, 7, 1e9]), pad_id: rng.pick(HOSTILE_NUMBERS), pad_type_id: 0, pad_token: '[PAD]' };
      return { what: `padding = ${JSON.stringify(doc.padding)}`, key: 'padding' };
    }
  }
}

/** tokenizer_config.json values that size or select things. */
function hostileConfig(rng: Rng): { text: string; what: string; key: string } {
  const key = rng.pick(['model_max_length', 'pad_token', 'truncation_side', 'padding_side', 'cls_token', 'unk_token', '__proto__']);
  const value = rng.pick<Json>([-1, 0, 1, 1e30, 2 ** 53 + 2, 'constructor', '[NOPE]', { content: 7 }, [], null, 'x'.repeat(10_000)]);
  return { text: JSON.stringify({ do_lower_case: true }).replace('}', `,${JSON.stringify(key)}:${stringify(value)}}`), what: `tokenizer_config.json ${key} = ${JSON.stringify(value).slice(0, 40)}`, key };
}

export const corpus: Corpus = {
  name: 'tokenizer',
  defaultCount: 300,
  timeoutMs: 5000,
  make(seed, index, dir) {
    const rng = new Rng(seed, index);
    const path = join(dir, 'tokenizer.json');
    let what: string;
    const names = [path, 'tokenizer.json'];
    const kind = rng.int(10);
    if (kind < 5) {
      const doc = JSON.parse(JSON.stringify(BASE)) as Doc;
      const mutation = mutateStructure(rng, doc);
      writeFileSync(path, stringify(doc));
      ({ what } = mutation);
    } else if (kind < 8) {
      const { model, ...rest } = BASE;
      // Mutate the structure, not the vocabulary's entries.
      const mutation = mutateJson(rng, rest, ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'added_tokens', 'truncation', 'padding', 'version']);
      writeFileSync(path, mutation.text.replace(/^\{/, `{"model":${JSON.stringify(model)},`));
      what = mutation.what;
    } else if (kind < 9) {
      const text = Buffer.from(JSON.stringify(BASE));
      const mutation = mutateBytes(rng, text, 0, rng.chance(0.5) ? 2000 : text.length);
      writeFileSync(path, mutation.bytes);
      what = mutation.what;
    } else {
      writeFileSync(path, JSON.stringify(BASE));
      const config = hostileConfig(rng);
      writeFileSync(join(dir, 'tokenizer_config.json'), config.text);
      what = config.what;
      names.push('tokenizer_config.json', config.key);
    }
    const maxLength = rng.pick([1, 2, 3, 8, 512]);
    return {
      what,
      names,
      run: async () => {
        const tokenizer = data.Tokenizer.fromFile(path);
        for (const text of TEXTS) {
          const encoding = await tokenizer.encode(text, 'a pair', { truncation: true, maxLength });
          await tokenizer.decode(encoding.inputIds);
        }
        await tokenizer.encodeBatch(TEXTS);
      },
    };
  },
};
