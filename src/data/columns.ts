/**
 * Which columns of a table hold the text, the second text of a pair and the label, when they are not
 * named: the names GLUE, Hugging Face datasets and common CSV exports use. One place, so that every
 * command (train, eval, predict, advise, pretrain) finds the same columns in the same file.
 */

/** Text column names, most likely first. */
export const TEXT_COLUMN_NAMES: readonly string[] = ['text', 'sentence', 'content', 'review', 'document', 'sentence1', 'question', 'premise', 'input', 'tweet', 'comment'];
/** Label column names, most likely first. */
export const LABEL_COLUMN_NAMES: readonly string[] = ['label', 'labels', 'target', 'class', 'category', 'sentiment'];
/** The second text of a pair, by the first text's column (GLUE's MRPC, QNLI, MNLI, QQP). */
export const TEXT_PAIR_COLUMNS: Readonly<Record<string, string>> = { sentence1: 'sentence2', question: 'sentence', premise: 'hypothesis', question1: 'question2' };
/** Columns that number the rows and are never the text. */
const ID_COLUMNS = new Set(['idx', 'id', 'index', 'guid']);

/**
 * The label column: the first of LABEL_COLUMN_NAMES the table has; else, given the rows, the one
 * column of few distinct values beside one of many (`quote,topic`: 3 topics over 1,751 quotes) —
 * what a user's own export looks like, whatever its header says.
 */
export function findLabelColumn(columns: readonly string[], rows?: readonly { values: Record<string, unknown> }[]): string | undefined {
  const named = LABEL_COLUMN_NAMES.find((name) => columns.includes(name));
  if (named !== undefined || !rows?.length) return named;
  const candidates = columns.filter((c) => !ID_COLUMNS.has(c.toLowerCase()));
  if (candidates.length !== 2) return undefined;
  const distinct = candidates.map((c) => new Set(rows.map((row) => row.values[c])).size);
  // Classes repeat: at most a fifth of the rows (and 100) distinct values, where the text column has more than half.
  const categorical = (n: number) => n >= 2 && n <= Math.min(100, rows.length / 5);
  const textual = (n: number) => n > rows.length / 2;
  if (categorical(distinct[0]) && textual(distinct[1])) return candidates[0];
  if (categorical(distinct[1]) && textual(distinct[0])) return candidates[1];
  return undefined;
}

/**
 * The text column: the first of TEXT_COLUMN_NAMES the table has, else the only column that is neither
 * in `exclude` (the label column, the pair's) nor a row id.
 */
export function findTextColumn(columns: readonly string[], exclude: readonly (string | undefined)[] = []): string | undefined {
  const known = TEXT_COLUMN_NAMES.find((name) => columns.includes(name));
  if (known !== undefined) return known;
  const others = columns.filter((c) => !exclude.includes(c) && !ID_COLUMNS.has(c.toLowerCase()));
  return others.length === 1 ? others[0] : undefined;
}

/** The pair column that goes with a detected text column (sentence1 → sentence2, …), when the table has it. */
export function findTextPairColumn(columns: readonly string[], text: string): string | undefined {
  const pair = Object.hasOwn(TEXT_PAIR_COLUMNS, text) ? TEXT_PAIR_COLUMNS[text] : undefined;
  return pair !== undefined && columns.includes(pair) ? pair : undefined;
}
