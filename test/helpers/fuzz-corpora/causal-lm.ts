/**
 * Fuzz corpus: mutated causal-LM data files (a .txt, JSONL texts, prompt/response pairs, chat
 * conversations; test/fixtures/causal-lm/) through CausalLmDataset.fromFile with the GPT-2-style
 * and Llama-3-style (chat template) tokenizers, packed or not, at small and odd block sizes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { data } from 'finetune';

import { WrongResult, type Corpus } from '../fuzz.js';
import { hostileValue, mutateBytes, mutateJson, Rng, stringify, type Json } from '../fuzz-mutate.js';

const FIXTURES = 'test/fixtures/causal-lm';
const tokenizers = { gpt2: data.Tokenizer.fromFile(join(FIXTURES, 'gpt2-style')), llama3: data.Tokenizer.fromFile(join(FIXTURES, 'llama3-style')) };

type Kind = 'txt' | 'texts' | 'pairs' | 'chat';
const FILES: Record<Kind, string> = { txt: 'sample.txt', texts: 'sample.jsonl', pairs: 'pairs.jsonl', chat: 'chat.jsonl' };
const OPTIONS: Record<Kind, Partial<data.CausalLmDataOptions>> = {
  txt: {},
  texts: {},
  pairs: { promptColumn: 'prompt', responseColumn: 'response' },
  chat: { messagesColumn: 'messages' },
};

/** A mutation of a JSONL file: one line's object changed (its columns preferred), a hostile message, or bytes. */
function mutateLines(rng: Rng, text: string, kind: Kind): { text: string | Uint8Array; what: string } {
  const lines = text.trim().split('\n');
  const at = rng.int(lines.length);
  switch (rng.int(4)) {
    case 0:
    case 1: {
      const doc = JSON.parse(lines[at]!) as Json;
      const { text: line, what } = mutateJson(rng, doc, Object.keys(doc as object));
      lines[at] = line;
      return { text: lines.join('\n'), what: `line ${at + 1}: ${what}` };
    }
    case 2: {
      if (kind === 'chat') {
        const doc = JSON.parse(lines[at]!) as { messages: Json[] };
        doc.messages[rng.int(doc.messages.length)] = rng.chance(0.5) ? hostileValue(rng) : { role: hostileValue(rng), content: 'x' };
        lines[at] = stringify(doc as unknown as Json);
        return { text: lines.join('\n'), what: `line ${at + 1}: a hostile message` };
      }
      lines[at] = JSON.stringify({ text: 'word '.repeat(50_000), prompt: 'p '.repeat(50_000), response: 'r' });
      return { text: lines.join('\n'), what: `line ${at + 1}: 250,000-character cells` };
    }
    default: {
      const { bytes, what } = mutateBytes(rng, Buffer.from(lines.join('\n')));
      return { text: bytes, what };
    }
  }
}

export const corpus: Corpus = {
  name: 'causal-lm',
  defaultCount: 40,
  timeoutMs: 8000,
  make(seed, index, dir) {
    const rng = new Rng(seed, index);
    const kind = rng.pick(['txt', 'texts', 'pairs', 'chat'] as const);
    const base = readFileSync(join(FIXTURES, FILES[kind]), 'utf8');
    const mutated: { text: string | Uint8Array; what: string } =
      kind === 'txt'
        ? rng.chance(0.2)
          ? { text: rng.pick(['', '\n\n\n', '\r', '\u2028']), what: 'blank' }
          : (({ bytes, what }) => ({ text: bytes, what }))(mutateBytes(rng, Buffer.from(base)))
        : mutateLines(rng, base, kind);
    const file = `fuzz-${index}${kind === 'txt' ? '.txt' : '.jsonl'}`;
    const path = join(dir, file);
    writeFileSync(path, mutated.text);
    const family = kind === 'chat' ? 'llama3' : rng.pick(['gpt2', 'llama3'] as const);
    const options: data.CausalLmDataOptions = {
      tokenizer: tokenizers[family],
      blockSize: rng.pick([2, 7, 32]),
      packing: rng.chance(0.5),
      onBadRow: rng.pick(['error', 'skip'] as const),
      ...OPTIONS[kind],
    };
    return {
      what: `${kind} (${family}, block ${options.blockSize}${options.packing ? ', packed' : ''}): ${mutated.what}`,
      names: [file],
      run: async () => {
        const dataset = await data.CausalLmDataset.fromFile(path, options);
        for (let i = 0; i < dataset.length; i++) {
          const { inputIds, labels } = dataset.get(i);
          if (inputIds.length !== labels.length || inputIds.length > options.blockSize!) throw new WrongResult(`example ${i}: ${inputIds.length} ids, ${labels.length} labels, block ${options.blockSize}`);
        }
      },
    };
  },
};
