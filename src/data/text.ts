/**
 * Text classification datasets from CSV, TSV or JSONL files: one text (or a pair) and a label per
 * row, tokenised up front with a Hugging Face tokenizer (in parallel, in Rust) and kept compactly
 * (one Int32Array of ids for the whole dataset), so `get(i)` is cheap and synchronous.
 *
 * Labels, as transformers' run_glue / datasets' ClassLabel treat them:
 * - classification: label names are the strings in the label column; given as `labels` (their order
 *   is the ids) or inferred: the sorted distinct values, numerically sorted when all are numbers
 *   ('2' before '10'). A cell may also hold the id itself (0, 1, …) when no label name looks like a
 *   number, so `labels: ['negative', 'positive']` reads SST-2's 0/1 column. An empty label is a bad
 *   row. Inferred labels are checked, because one stray value silently adds a class: a label that
 *   differs from another only in case or surrounding spaces ('Positive', 'positive ') or that is
 *   rare (see rareLabelThreshold; a typo such as 'postive') is a LabelCheckError naming its rows —
 *   give `labels`, or `allowRareLabels: true` to keep rare labels as classes.
 * - regression: the label is a number (numLabels 1).
 * - multi-label: several label columns holding 0/1 (labelColumn: ['a', 'b', …]), or one column with
 *   a JSON array of names or ids (JSONL) or names joined by `labelSeparator` (CSV, TSV); the example's
 *   label is a multi-hot vector.
 */
import { formatInteger } from '../format/numbers.js';
import type { Dataset } from './dataset.js';
import { checkIndex } from './dataset.js';
import { textCollator, type TextBatch, type TextCollateOptions, type TextExample } from './collate-text.js';
import { DataFormatError, parseTable, readTable, type BadRowPolicy, type ReadTableOptions, type SkippedRow, type Table, type TableValue } from './table.js';
import { Tokenizer, type TruncationStrategy } from './tokenizer.js';

export type TextTask = 'classification' | 'regression' | 'multi-label';

export interface TextClassificationOptions {
  /** The column with the text. */
  textColumn: string;
  /** The column with the second text of a pair (NLI, paraphrase), if any. */
  textPairColumn?: string;
  /** The label column; for multi-label, also a list of 0/1 columns (one per label). */
  labelColumn: string | readonly string[];
  /** Label names in id order; inferred from the data when absent (classification, multi-label). */
  labels?: readonly (string | number)[];
  /** Default 'classification' ('multi-label' when labelColumn is a list). */
  task?: TextTask;
  /** A Tokenizer, or a tokenizer.json / model folder to load one from. */
  tokenizer: Tokenizer | string;
  /** Longest tokenised example, special tokens included; default the tokenizer's model_max_length, else 512. */
  maxLength?: number;
  /** Default true ('longest_first'); false keeps every token (a model may then refuse long inputs). */
  truncation?: boolean | TruncationStrategy;
  /** Multi-label names within one CSV/TSV cell are separated by this (default ','). */
  labelSeparator?: string;
  /** Table format; default from the extension. */
  format?: ReadTableOptions['format'];
  /** CSV delimiter (default: from the header line, see readTable). */
  delimiter?: string;
  /** The file's text encoding (default utf-8; see TEXT_ENCODINGS). */
  encoding?: string;
  /** Bad rows (wrong field count, invalid JSON, unknown or empty label, text that cannot be truncated, …): fail or skip and count. */
  onBadRow?: BadRowPolicy;
  /** Keep labels inferred from the data that are rare (see rareLabelThreshold) as classes instead of failing (default false). */
  allowRareLabels?: boolean;
}

/** An example: token ids and token types (unpadded) and the label (id, number or multi-hot). */
export interface TextClassificationExample extends TextExample {
  inputIds: number[];
  tokenTypeIds: number[];
  label: number | number[];
}

const DEFAULT_MAX_LENGTH = 512;

function describe(value: TableValue | undefined): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^\d+$/;
const isNumeric = (s: string): boolean => NUMBER.test(s.trim());

/** Sorted distinct label names: numerically when all are numbers, else by code point (Python's sorted()). */
function inferLabelNames(values: Iterable<string>): string[] {
  const names = [...new Set(values)];
  if (names.length > 0 && names.every(isNumeric)) return names.sort((a, b) => Number(a) - Number(b) || (a < b ? -1 : a > b ? 1 : 0));
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A label cell as a name: strings as they are, numbers and booleans as JSON writes them. */
function labelString(value: TableValue): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/**
 * The fewest rows a label inferred from the data may have (`counts`: every label's rows): 2, as one
 * row can neither be learnt nor held out by a stratified split; raised to 1 % of the rows, as a stray
 * label ('neutral' in a binary set, a typo such as 'postive') is a handful of rows among thousands;
 * but never above a tenth of an average label's rows, so that data sets with many classes (CLINC's
 * 150 intents, 0.7 % each) pass. Stray labels lower that average little (a median would fall).
 */
export function rareLabelThreshold(counts: readonly number[]): { threshold: number; why: string } {
  const rows = counts.reduce((a, b) => a + b, 0);
  const byRows = Math.ceil(rows / 100);
  const byAverage = Math.ceil(rows / counts.length / 10);
  const threshold = Math.max(2, Math.min(byRows, byAverage));
  if (threshold === 2) return { threshold, why: 'a label needs 2 rows or more' };
  return { threshold, why: byRows <= byAverage ? `1% of the ${formatInteger(rows)} rows` : `a tenth of the ${formatInteger(Math.round(rows / counts.length))} rows of an average label` };
}

/** A label inferred from the data that looks like a mistake, with the rows that hold it. */
export interface LabelProblem {
  label: string;
  count: number;
  /** The first few lines that hold it. */
  lines: number[];
  /** Fewer rows than rareLabelThreshold (allowRareLabels keeps such labels). */
  rare: boolean;
  /** What is wrong, in words: differs only in case or spaces from another label, rare. */
  reasons: string[];
}

/** Problems listed in a LabelCheckError's message (data with a long tail of rare labels would print pages). */
const LISTED_PROBLEMS = 20;

/** Labels inferred from a file that look like mistakes (see TextClassificationOptions.allowRareLabels). */
export class LabelCheckError extends Error {
  constructor(
    readonly file: string,
    readonly column: string,
    readonly problems: readonly LabelProblem[],
    /** The labels that look right, in order: what `labels` would be. */
    readonly goodLabels: readonly string[],
  ) {
    const rows = problems.slice(0, LISTED_PROBLEMS).map((p) => {
      const lines = p.lines.map((line, k) => (k === 0 ? `${file}:${line}` : `:${line}`)).join(', ');
      return `  '${p.label}' (${formatInteger(p.count)} row${p.count === 1 ? '' : 's'}, at ${lines}${p.count > p.lines.length ? ', …' : ''}): ${p.reasons.join('; ')}`;
    });
    if (problems.length > LISTED_PROBLEMS) rows.push(`  … and ${problems.length - LISTED_PROBLEMS} more`);
    const ways = ['Correct those rows'];
    if (goodLabels.length >= 2) ways.push(`give the labels you mean with labels: ${JSON.stringify(goodLabels)} (rows with other labels are then bad rows: an error, or left out with onBadRow: 'skip')`);
    if (problems.some((p) => p.rare)) ways.push('keep rare labels as classes with allowRareLabels: true');
    super(`${file}: labels in column '${column}' that look like mistakes:\n${rows.join('\n')}\n${ways.join(', or ')}.`);
    this.name = 'LabelCheckError';
  }
}

/** The problems of labels inferred from a column: case / space variants of another label, and (unless allowed) rare labels. */
function checkInferredLabels(rows: readonly { line: number; raw: string }[], allowRare: boolean): { problems: LabelProblem[]; goodLabels: string[] } {
  const byLabel = new Map<string, { count: number; lines: number[] }>();
  for (const { line, raw } of rows) {
    const entry = byLabel.get(raw) ?? { count: 0, lines: [] };
    entry.count++;
    if (entry.lines.length < 5) entry.lines.push(line);
    byLabel.set(raw, entry);
  }
  const labels = inferLabelNames(byLabel.keys());
  // Labels equal but for case and surrounding spaces; the one with most rows is taken as meant.
  const variants = new Map<string, string[]>();
  for (const label of labels) {
    const key = label.trim().toLowerCase();
    variants.set(key, [...(variants.get(key) ?? []), label]);
  }
  const { threshold, why } = rareLabelThreshold([...byLabel.values()].map((e) => e.count));
  const problems: LabelProblem[] = [];
  for (const label of labels) {
    const { count, lines } = byLabel.get(label)!;
    const reasons: string[] = [];
    const group = variants.get(label.trim().toLowerCase())!;
    const meant = group.reduce((a, b) => (byLabel.get(b)!.count > byLabel.get(a)!.count ? b : a));
    if (meant !== label) {
      const how = label.trim() === meant.trim() ? 'surrounding spaces' : label.trim() === label && meant.trim() === meant ? 'case' : 'case and spaces';
      reasons.push(`differs only in ${how} from '${meant}' (${formatInteger(byLabel.get(meant)!.count)} rows)`);
    }
    const rare = !allowRare && count < threshold;
    if (rare) reasons.push(`rare: fewer than ${formatInteger(threshold)} rows (${why})`);
    if (reasons.length) problems.push({ label, count, lines, rare, reasons });
  }
  const flagged = new Set(problems.map((p) => p.label));
  return { problems, goodLabels: labels.filter((label) => !flagged.has(label)) };
}

class LabelIndex {
  readonly names: string[];
  readonly #ids = new Map<string, number>();
  /** Cells may be ids when no name looks like a number. */
  readonly #idsAllowed: boolean;

  constructor(names: readonly string[], what: string) {
    this.names = [...names];
    this.names.forEach((name, id) => {
      if (this.#ids.has(name)) throw new Error(`${what}: label '${name}' is listed twice`);
      this.#ids.set(name, id);
    });
    this.#idsAllowed = !this.names.some(isNumeric);
  }

  id(name: string): number | undefined {
    const id = this.#ids.get(name);
    if (id !== undefined) return id;
    if (this.#idsAllowed && INTEGER.test(name)) {
      const index = Number(name);
      if (index < this.names.length) return index;
    }
    return undefined;
  }

  unknown(name: string): string {
    const shown = this.names.length > 50 ? `${this.names.slice(0, 50).join(', ')}, … (${this.names.length} in all)` : this.names.join(', ');
    return `unknown label '${name}' (known labels: ${shown})`;
  }
}

interface Row {
  line: number;
  text: string;
  pair: string | undefined;
  /** Raw label(s) before ids are known. */
  raw: string | string[] | number;
}

/** A labelled text dataset, tokenised, with the label maps a model config needs. */
export class TextClassificationDataset implements Dataset<TextClassificationExample> {
  readonly task: TextTask;
  /** Label names in id order ([] for regression). */
  readonly labelNames: readonly string[];
  /** The file (or the name given to fromTable), for messages. */
  readonly file: string;
  /** Bad rows left out with onBadRow: 'skip' (and why). */
  readonly skipped: number;
  readonly skippedRows: readonly SkippedRow[];
  readonly tokenizer: Tokenizer;
  readonly maxLength: number | undefined;

  readonly #ids: Int32Array;
  readonly #types: Uint8Array;
  /** #offsets[i] .. #offsets[i + 1] are example i's tokens. */
  readonly #offsets: Uint32Array;
  /** One label per example, or numLabels per example (multi-label, 0/1). */
  readonly #labels: Float64Array;
  readonly #lines: Uint32Array;

  private constructor(parts: {
    task: TextTask;
    labelNames: string[];
    file: string;
    skippedRows: SkippedRow[];
    tokenizer: Tokenizer;
    maxLength: number | undefined;
    ids: Int32Array;
    types: Uint8Array;
    offsets: Uint32Array;
    labels: Float64Array;
    lines: Uint32Array;
  }) {
    this.task = parts.task;
    this.labelNames = parts.labelNames;
    this.file = parts.file;
    this.skippedRows = parts.skippedRows;
    this.skipped = parts.skippedRows.length;
    this.tokenizer = parts.tokenizer;
    this.maxLength = parts.maxLength;
    this.#ids = parts.ids;
    this.#types = parts.types;
    this.#offsets = parts.offsets;
    this.#labels = parts.labels;
    this.#lines = parts.lines;
  }

  /** Reads and tokenises a CSV, TSV or JSONL file. */
  static async fromFile(path: string, options: TextClassificationOptions): Promise<TextClassificationDataset> {
    const table = await readTable(path, TextClassificationDataset.#tableOptions(options));
    return TextClassificationDataset.fromTable(table, options);
  }

  /** Parses and tokenises table text in memory; `file` names it in errors and sets the format by extension. */
  static async fromText(text: string, file: string, options: TextClassificationOptions): Promise<TextClassificationDataset> {
    return TextClassificationDataset.fromTable(parseTable(text, file, TextClassificationDataset.#tableOptions(options)), options);
  }

  static #tableOptions(options: TextClassificationOptions): ReadTableOptions {
    const labelColumns = typeof options.labelColumn === 'string' ? [options.labelColumn] : [...(options.labelColumn ?? [])];
    const requiredColumns = [options.textColumn, ...(options.textPairColumn !== undefined ? [options.textPairColumn] : []), ...labelColumns];
    return { format: options.format, delimiter: options.delimiter, encoding: options.encoding, onBadRow: options.onBadRow, requiredColumns };
  }

  /** Tokenises a table already read (readTable / parseTable). */
  static async fromTable(table: Table, options: TextClassificationOptions): Promise<TextClassificationDataset> {
    const { file } = table;
    const what = `TextClassificationDataset(${file})`;
    if (typeof options.textColumn !== 'string') throw new Error(`${what}: textColumn must be a column name`);
    const labelColumns = typeof options.labelColumn === 'string' ? [options.labelColumn] : Array.isArray(options.labelColumn) ? [...options.labelColumn] : [];
    if (labelColumns.length === 0) throw new Error(`${what}: labelColumn must be a column name or a list of them`);
    const task: TextTask = options.task ?? (labelColumns.length > 1 || typeof options.labelColumn !== 'string' ? 'multi-label' : 'classification');
    if (task !== 'classification' && task !== 'regression' && task !== 'multi-label') {
      throw new Error(`${what}: task must be 'classification', 'regression' or 'multi-label', got ${JSON.stringify(task)}`);
    }
    if (labelColumns.length > 1 && task !== 'multi-label') throw new Error(`${what}: several label columns need task 'multi-label'`);
    const separator = options.labelSeparator ?? ',';
    const onBadRow = options.onBadRow ?? 'error';
    const tokenizer = typeof options.tokenizer === 'string' ? Tokenizer.fromFile(options.tokenizer) : options.tokenizer;
    if (!(tokenizer instanceof Tokenizer)) throw new Error(`${what}: tokenizer must be a Tokenizer or a path to tokenizer.json`);
    const truncation = options.truncation ?? true;
    const maxLength = truncation === false ? options.maxLength : (options.maxLength ?? tokenizer.modelMaxLength ?? DEFAULT_MAX_LENGTH);

    // Columns that JSONL rows lack fail in the table reader; check the same for CSV given as a Table.
    const required = [options.textColumn, ...(options.textPairColumn !== undefined ? [options.textPairColumn] : []), ...labelColumns];
    if (table.format !== 'jsonl') {
      const missing = required.find((c) => !table.columns.includes(c));
      if (missing !== undefined) throw new DataFormatError(file, 1, `missing column '${missing}' (columns: ${table.columns.join(', ')})`);
    }

    const skippedRows: SkippedRow[] = [...table.skippedRows];
    const bad = (line: number, reason: string): void => {
      if (onBadRow === 'error') throw new DataFormatError(file, line, reason);
      skippedRows.push({ line, reason });
    };

    // 1. Texts and raw labels, row by row.
    const rows: Row[] = [];
    for (const { line, values } of table.rows) {
      const cell = (column: string): TableValue | undefined => (column in values ? values[column] : undefined);
      const text = cell(options.textColumn);
      if (typeof text !== 'string') {
        bad(line, `column '${options.textColumn}' is ${text === undefined ? 'missing' : `${describe(text)}, not a string`}`);
        continue;
      }
      let pair: string | undefined;
      if (options.textPairColumn !== undefined) {
        const value = cell(options.textPairColumn);
        if (typeof value !== 'string') {
          bad(line, `column '${options.textPairColumn}' is ${value === undefined ? 'missing' : `${describe(value)}, not a string`}`);
          continue;
        }
        pair = value;
      }
      let raw: Row['raw'] | undefined;
      if (task === 'regression') {
        const value = cell(labelColumns[0]);
        const number = typeof value === 'number' ? value : typeof value === 'string' && isNumeric(value) ? Number(value) : NaN;
        if (!Number.isFinite(number)) {
          bad(line, `label ${typeof value === 'string' ? `'${value}'` : describe(value)} is not a number (task 'regression')`);
          continue;
        }
        raw = number;
      } else if (task === 'multi-label' && labelColumns.length > 1) {
        raw = [];
        for (const column of labelColumns) {
          const value = labelString(cell(column) ?? null);
          const flag = value === undefined ? undefined : value.trim().toLowerCase();
          if (flag === '1' || flag === 'true' || flag === '1.0') raw.push(column);
          else if (flag !== '0' && flag !== 'false' && flag !== '0.0' && flag !== '') {
            raw = undefined;
            bad(line, `label column '${column}' holds ${value === undefined ? describe(cell(column)) : `'${value}'`}, not 0 or 1`);
            break;
          }
        }
      } else if (task === 'multi-label') {
        const value = cell(labelColumns[0]);
        if (Array.isArray(value)) {
          const names = value.map(labelString);
          if (names.some((name) => name === undefined)) {
            bad(line, `label list in column '${labelColumns[0]}' holds something that is not a string or a number`);
            continue;
          }
          raw = names as string[];
        } else if (typeof value === 'string') {
          raw = value.split(separator).map((s) => s.trim()).filter((s) => s !== '');
        } else {
          const name = labelString(value ?? null);
          if (name === undefined) {
            bad(line, `label column '${labelColumns[0]}' is ${describe(value)}, not a list of labels`);
            continue;
          }
          raw = [name];
        }
      } else {
        const value = cell(labelColumns[0]);
        const name = labelString(value ?? null);
        if (name === undefined) {
          bad(line, `label column '${labelColumns[0]}' is ${describe(value)}, not a label`);
          continue;
        }
        if (name.trim() === '') {
          bad(line, `empty label in column '${labelColumns[0]}'`);
          continue;
        }
        raw = name;
      }
      if (raw === undefined) continue;
      rows.push({ line, text, pair, raw });
    }

    // 2. Label names and ids.
    let labelNames: string[];
    if (task === 'regression') {
      labelNames = [];
    } else if (options.labels !== undefined) {
      labelNames = options.labels.map(String);
    } else if (task === 'multi-label' && labelColumns.length > 1) {
      labelNames = [...labelColumns];
    } else if (task === 'classification') {
      const { problems, goodLabels } = checkInferredLabels(rows as { line: number; raw: string }[], options.allowRareLabels ?? false);
      if (problems.length) throw new LabelCheckError(file, labelColumns[0], problems, goodLabels);
      labelNames = inferLabelNames(rows.map((row) => row.raw as string));
    } else {
      labelNames = inferLabelNames(rows.flatMap((row) => (Array.isArray(row.raw) ? row.raw : [String(row.raw)])));
    }
    if (task === 'multi-label' && labelColumns.length > 1 && labelNames.length !== labelColumns.length) {
      throw new Error(`${what}: ${labelNames.length} labels for ${labelColumns.length} label columns`);
    }
    const index = new LabelIndex(labelNames, what);
    const numLabels = task === 'regression' ? 1 : labelNames.length;
    const perExample = task === 'multi-label' ? numLabels : 1;
    const kept: Row[] = [];
    const labelValues: number[] = [];
    for (const row of rows) {
      if (task === 'regression') {
        labelValues.push(row.raw as number);
      } else if (task === 'multi-label') {
        const hot = new Array<number>(numLabels).fill(0);
        // Label columns name themselves; map them to ids by position when labels rename them.
        let unknown: string | undefined;
        for (const name of row.raw as string[]) {
          const id = labelColumns.length > 1 ? labelColumns.indexOf(name) : index.id(name);
          if (id === undefined || id < 0) {
            unknown = name;
            break;
          }
          hot[id] = 1;
        }
        if (unknown !== undefined) {
          bad(row.line, index.unknown(unknown));
          continue;
        }
        labelValues.push(...hot);
      } else {
        const id = index.id(row.raw as string);
        if (id === undefined) {
          bad(row.line, index.unknown(row.raw as string));
          continue;
        }
        labelValues.push(id);
      }
      kept.push(row);
    }

    // 3. Tokens, in parallel batches.
    const encodeOptions = { truncation, maxLength };
    const encodings = await tokenizer.encodeBatchSettled(
      kept.map((row) => row.text),
      options.textPairColumn !== undefined ? kept.map((row) => row.pair as string) : null,
      encodeOptions,
    );
    let total = 0;
    let count = 0;
    for (const encoding of encodings) {
      if (!(encoding instanceof Error)) {
        total += encoding.inputIds.length;
        count++;
      }
    }
    const ids = new Int32Array(total);
    const types = new Uint8Array(total);
    const offsets = new Uint32Array(count + 1);
    const labels = new Float64Array(count * perExample);
    const lines = new Uint32Array(count);
    let at = 0;
    let n = 0;
    encodings.forEach((encoding, k) => {
      if (encoding instanceof Error) {
        bad(kept[k].line, encoding.message.replace(/^encode: /, ''));
        return;
      }
      ids.set(encoding.inputIds, at);
      types.set(encoding.tokenTypeIds, at);
      at += encoding.inputIds.length;
      offsets[n + 1] = at;
      for (let j = 0; j < perExample; j++) labels[n * perExample + j] = labelValues[k * perExample + j];
      lines[n] = kept[k].line;
      n++;
    });
    if (count === 0) {
      const why = skippedRows.length ? ` (${skippedRows.length} bad row${skippedRows.length === 1 ? '' : 's'} skipped; the first, line ${skippedRows[0].line}: ${skippedRows[0].reason})` : '';
      throw new Error(`${file}: no examples${why}`);
    }
    skippedRows.sort((a, b) => a.line - b.line);
    return new TextClassificationDataset({ task, labelNames, file, skippedRows, tokenizer, maxLength: truncation === false ? undefined : maxLength, ids, types, offsets, labels, lines });
  }

  get length(): number {
    return this.#lines.length;
  }

  /** Outputs of a model for this data: the number of classes, 1 for regression. */
  get numLabels(): number {
    return this.task === 'regression' ? 1 : this.labelNames.length;
  }

  /** For a model config (transformers' id2label); LABEL_0 for regression. */
  get id2label(): Record<number, string> {
    if (this.task === 'regression') return { 0: 'LABEL_0' };
    return Object.fromEntries(this.labelNames.map((name, id) => [id, name]));
  }

  get label2id(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.id2label).map(([id, name]) => [name, Number(id)]));
  }

  /** Every example's class id (classification), for stratified splits; undefined for other tasks. */
  get targets(): Int32Array | undefined {
    return this.task === 'classification' ? Int32Array.from(this.#labels) : undefined;
  }

  /** transformers' problem_type for this task. */
  get problemType(): 'single_label_classification' | 'regression' | 'multi_label_classification' {
    return this.task === 'regression' ? 'regression' : this.task === 'multi-label' ? 'multi_label_classification' : 'single_label_classification';
  }

  get(index: number): TextClassificationExample {
    checkIndex(index, this.length, 'TextClassificationDataset');
    const start = this.#offsets[index];
    const end = this.#offsets[index + 1];
    const inputIds = Array.from(this.#ids.subarray(start, end));
    const tokenTypeIds = Array.from(this.#types.subarray(start, end));
    if (this.task === 'multi-label') {
      const n = this.labelNames.length;
      return { inputIds, tokenTypeIds, label: Array.from(this.#labels.subarray(index * n, (index + 1) * n)) };
    }
    return { inputIds, tokenTypeIds, label: this.#labels[index] };
  }

  /** The line of the file example `index` came from. */
  lineOf(index: number): number {
    checkIndex(index, this.length, 'TextClassificationDataset');
    return this.#lines[index];
  }

  /** Number of tokens of example `index` (special tokens included). */
  lengthOf(index: number): number {
    checkIndex(index, this.length, 'TextClassificationDataset');
    return this.#offsets[index + 1] - this.#offsets[index];
  }

  /** Every example's label id (classification) or value (regression); multi-label: each example's numLabels flags in a row. */
  labels(): Float64Array {
    return this.#labels.slice();
  }

  /** How many examples each label has (classification and multi-label). */
  labelCounts(): number[] {
    const counts = new Array<number>(this.numLabels).fill(0);
    if (this.task === 'regression') return counts;
    if (this.task === 'multi-label') {
      this.#labels.forEach((flag, k) => (counts[k % this.numLabels] += flag));
    } else {
      for (const id of this.#labels) counts[id]++;
    }
    return counts;
  }

  /** A collate function for this dataset: the tokenizer's pad id, and labels as the task needs (int64 ids, float32 values or flags). */
  collator(options: Omit<TextCollateOptions, 'padTokenId'> = {}): (examples: readonly TextClassificationExample[]) => TextBatch {
    return textCollator(this.tokenizer, { labelDtype: this.task === 'classification' ? 'int64' : 'float32', ...options });
  }
}
