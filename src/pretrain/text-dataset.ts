/**
 * Unlabelled text for masked-language-model pretraining: one text per line of a .txt file, or one
 * column of a CSV / TSV / JSONL table (SST-2's `sentence`), tokenised once up front with special
 * tokens and truncation to `maxLength`. `get(i)` → `{ inputIds, tokenTypeIds }` (unpadded).
 */
import { extname } from 'node:path';

import type { Dataset } from '../data/dataset.js';
import { checkIndex } from '../data/dataset.js';
import { findLabelColumn, findTextColumn } from '../data/columns.js';
import { DataFormatError, readTable, readTextFile, type TableFormat } from '../data/table.js';
import type { Tokenizer } from '../data/tokenizer.js';

export interface TextLinesOptions {
  /** The column with the text (tables; default: found as text classification finds it, see findTextColumn). */
  textColumn?: string;
  /** Longest tokenised text, special tokens included (default 128). */
  maxLength?: number;
  /** Keep only the first `limit` texts. */
  limit?: number;
  /** Table format; default from the extension (.txt: one text a line). */
  format?: TableFormat | 'txt';
  /** The file's text encoding (default utf-8; see TEXT_ENCODINGS). */
  encoding?: string;
  /** The field delimiter of a CSV / TSV (default: from the header line). */
  delimiter?: string;
}

export interface TextLinesExample {
  inputIds: number[];
  tokenTypeIds: number[];
}

type ReadTextsOptions = Pick<TextLinesOptions, 'textColumn' | 'format' | 'limit' | 'encoding' | 'delimiter'>;

/** Reads the texts of a file: lines of a .txt, or a table column (the label column, if any, is never taken for the text). */
export async function readTexts(path: string, options: ReadTextsOptions = {}): Promise<string[]> {
  return (await readTextsAndColumn(path, options)).texts;
}

/** readTexts, and the table column the texts came from (undefined for a .txt). */
export async function readTextsAndColumn(
  path: string,
  options: ReadTextsOptions = {},
): Promise<{ texts: string[]; column?: string }> {
  const format = options.format ?? (extname(path).toLowerCase() === '.txt' ? 'txt' : undefined);
  const limit = (texts: string[]) => (options.limit !== undefined ? texts.slice(0, options.limit) : texts);
  if (format === 'txt') {
    return {
      texts: limit(
        (await readTextFile(path, options.encoding)).split(/\r?\n/).filter((line) => line.trim().length > 0),
      ),
    };
  }
  const table = await readTable(path, { format, encoding: options.encoding, delimiter: options.delimiter });
  const column = options.textColumn ?? findTextColumn(table.columns, [findLabelColumn(table.columns, table.rows)]);
  if (!column)
    throw new DataFormatError(
      path,
      1,
      `which column holds the text? give textColumn (columns: ${table.columns.join(', ')})`,
    );
  if (!table.columns.includes(column))
    throw new DataFormatError(path, 1, `no column '${column}' (columns: ${table.columns.join(', ')})`);
  const texts: string[] = [];
  for (const row of table.rows) {
    const value = row.values[column];
    if (typeof value !== 'string' && typeof value !== 'number')
      throw new DataFormatError(path, row.line, `column '${column}' is not text`);
    const text = String(value);
    if (text.trim().length > 0) texts.push(text);
  }
  return { texts: limit(texts), column };
}

export class TextLinesDataset implements Dataset<TextLinesExample> {
  readonly #ids: number[][];
  readonly texts: readonly string[];

  private constructor(texts: readonly string[], ids: number[][]) {
    this.texts = texts;
    this.#ids = ids;
  }

  static async fromTexts(
    texts: readonly string[],
    tokenizer: Tokenizer,
    options: Pick<TextLinesOptions, 'maxLength'> = {},
  ): Promise<TextLinesDataset> {
    const maxLength = options.maxLength ?? 128;
    if (!Number.isInteger(maxLength) || maxLength < 3)
      throw new RangeError(`TextLinesDataset: maxLength must be an integer ≥ 3, got ${maxLength}`);
    const encodings = await tokenizer.encodeBatch(texts, null, { truncation: true, maxLength });
    return new TextLinesDataset(
      texts,
      encodings.map((e) => Array.from(e.inputIds)),
    );
  }

  static async fromFile(path: string, tokenizer: Tokenizer, options: TextLinesOptions = {}): Promise<TextLinesDataset> {
    return TextLinesDataset.fromTexts(await readTexts(path, options), tokenizer, options);
  }

  get length(): number {
    return this.#ids.length;
  }

  get(index: number): TextLinesExample {
    checkIndex(index, this.#ids.length, 'TextLinesDataset');
    const inputIds = this.#ids[index];
    return { inputIds, tokenTypeIds: new Array<number>(inputIds.length).fill(0) };
  }

  /** Total tokens (special tokens included). */
  get numTokens(): number {
    let n = 0;
    for (const ids of this.#ids) n += ids.length;
    return n;
  }
}
