/**
 * A text task a tiny BERT learns in a few dozen steps, and its unlearnable twin: short sentences
 * of filler words with one keyword, 'great' (positive) or 'awful' (negative); with randomLabels the
 * labels are drawn independently of the text. Seeded, so the same call writes the same file.
 * Used by the learning-rate and end-of-training-warning tests (a curve that falls, one that cannot).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { data } from 'finetune';

const FILLER =
  'the a movie film story actor plot scene music this that was is very quite rather really and but with of it its'.split(
    ' ',
  );

/** Writes `text,label` rows (labels negative / positive) to `path`. */
export function writeKeywordCsv(
  path: string,
  options: { rows?: number; randomLabels?: boolean; seed?: number } = {},
): string {
  const random = data.mulberry32FromState(options.seed ?? 1);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const lines = ['text,label'];
  for (let i = 0; i < (options.rows ?? 200); i++) {
    const positive = random() < 0.5;
    const words = Array.from({ length: 4 + Math.floor(random() * 6) }, () => pick(FILLER));
    words.splice(Math.floor(random() * (words.length + 1)), 0, positive ? 'great' : 'awful');
    const label = options.randomLabels ? random() < 0.5 : positive;
    lines.push(`${words.join(' ')},${label ? 'positive' : 'negative'}`);
  }
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** config.json of a BERT of one layer, hidden 64, which learns the keyword task quickly. */
export const TINY_BERT = {
  model_type: 'bert',
  vocab_size: 30522,
  hidden_size: 64,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  intermediate_size: 128,
  max_position_embeddings: 64,
};

/** A model folder with only TINY_BERT's config.json (random init). */
export function writeTinyBertFolder(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({ ...TINY_BERT, architectures: ['BertForSequenceClassification'] }),
  );
  return dir;
}
