/**
 * Fuzz corpus: mutated CSV, TSV and JSONL data files through readTable and
 * TextClassificationDataset.fromFile (with the shipped bert-base-uncased tokenizer): broken
 * quoting, ragged rows, bad encodings, prototype keys, nested values, huge numbers, long fields.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { data } from 'finetune';

import type { Corpus } from '../fuzz.js';
import { deepNesting, hostileValue, mutateBytes, PROTOTYPE_KEYS, Rng, stringify } from '../fuzz-mutate.js';

const tokenizer = data.Tokenizer.fromFile('data/bert-base-uncased');

const ROWS: [string, string][] = [
  ['a fine film', 'positive'],
  ['dull, "slow" and long', 'negative'],
  ['I liked it', 'positive'],
  ['not for me', 'negative'],
  ['a classic', 'positive'],
  ['boring', 'negative'],
];

function csvField(text: string, delimiter: string): string {
  return text.includes(delimiter) || text.includes('"') ? `"${text.replaceAll('"', '""')}"` : text;
}

function baseText(format: 'csv' | 'tsv' | 'jsonl'): string {
  if (format === 'jsonl') return ROWS.map(([text, label]) => JSON.stringify({ text, label })).join('\n') + '\n';
  const delimiter = format === 'csv' ? ',' : '\t';
  return ['text', 'label'].join(delimiter) + '\n' + ROWS.map((row) => row.map((f) => csvField(f, delimiter)).join(delimiter)).join('\n') + '\n';
}

/** A mutation that knows the formats: rows that are ragged, unquoted, mis-encoded or hostile. */
function mutateTable(rng: Rng, format: 'csv' | 'tsv' | 'jsonl'): { text: string | Uint8Array; what: string } {
  const lines = baseText(format).split('\n');
  const at = 1 + rng.int(ROWS.length);
  switch (rng.int(8)) {
    case 0:
      lines[at] = format === 'jsonl' ? '{"text": "unterminated' : 'an "unterminated quote,positive';
      return { text: lines.join('\n'), what: `line ${at + 1} unterminated` };
    case 1:
      lines[at] += rng.pick([',extra', '\textra', ',', '']);
      lines.splice(at + 1, 0, rng.pick(['only-one-field', '', '\u0000', ',,,,,,', '"\n"']));
      return { text: lines.join('\n'), what: `ragged rows at line ${at + 1}` };
    case 2: {
      const key = rng.pick(PROTOTYPE_KEYS);
      const value = hostileValue(rng);
      lines[at] = format === 'jsonl' ? `{"text": "x", "label": ${stringify(value)}, ${JSON.stringify(key)}: ${stringify(hostileValue(rng))}}` : `x${format === 'csv' ? ',' : '\t'}${key}`;
      return { text: lines.join('\n'), what: `line ${at + 1} label ${JSON.stringify(value).slice(0, 40)} / key ${key}` };
    }
    case 3: {
      const header = rng.pick(['__proto__', 'constructor', 'label', '', 'text']);
      lines[0] = format === 'jsonl' ? lines[0]! : lines[0]!.replace('label', header);
      if (format === 'jsonl') lines[at] = `{"text": "x", ${JSON.stringify(header)}: "positive"}`;
      return { text: lines.join('\n'), what: `label column named ${JSON.stringify(header)}` };
    }
    case 4: {
      const length = rng.pick([10_000, 300_000]);
      lines[at] = format === 'jsonl' ? JSON.stringify({ text: 'word '.repeat(length / 5), label: 'positive' }) : `${'word '.repeat(length / 5)}${format === 'csv' ? ',' : '\t'}positive`;
      return { text: lines.join('\n'), what: `line ${at + 1} has a ${length}-character text` };
    }
    case 5: {
      const prefix = rng.pick([Uint8Array.of(0xef, 0xbb, 0xbf), Uint8Array.of(0xff, 0xfe), Uint8Array.of(0xfe, 0xff), Uint8Array.of(0xc3, 0x28), Uint8Array.of(0)]);
      const body = Buffer.from(lines.join('\n'));
      return { text: Buffer.concat([prefix, body]), what: `starts with bytes ${Buffer.from(prefix).toString('hex')}` };
    }
    case 6: {
      if (format !== 'jsonl') return { text: lines.join('\r\n').replaceAll('\n', rng.pick(['\r', '\n\n', '\r\r\n'])), what: 'odd line endings' };
      lines[at] = stringify([deepNesting(rng.pick([100, 5000]), true)]);
      return { text: lines.join('\n'), what: `line ${at + 1} deeply nested` };
    }
    default: {
      const { bytes, what } = mutateBytes(rng, Buffer.from(lines.join('\n')));
      return { text: bytes, what };
    }
  }
}

export const corpus: Corpus = {
  name: 'table',
  defaultCount: 120,
  timeoutMs: 8000,
  make(seed, index, dir) {
    const rng = new Rng(seed, index);
    const format = rng.pick(['csv', 'tsv', 'jsonl'] as const);
    const { text, what } = mutateTable(rng, format);
    const file = `fuzz-${index}.${format}`;
    const path = join(dir, file);
    writeFileSync(path, text);
    const reader = rng.chance(0.3) ? 'readTable' : 'TextClassificationDataset';
    return {
      what: `${reader} ${format}: ${what}`,
      names: [file],
      run: async () => {
        if (reader === 'readTable') await data.readTable(path);
        else await data.TextClassificationDataset.fromFile(path, { textColumn: 'text', labelColumn: 'label', tokenizer, maxLength: 32, allowRareLabels: rng.chance(0.5) });
      },
    };
  },
};
