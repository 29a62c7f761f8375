/**
 * Table readers for text datasets: CSV (RFC 4180), TSV (GLUE style) and JSONL.
 *
 * - CSV: fields separated by a delimiter (`,`), optionally in double quotes; a quoted field may
 *   hold delimiters, line breaks and doubled quotes (`""` → `"`). A quote inside an unquoted field
 *   is kept as text (as Python's csv module does); text after a closing quote is a bad row.
 * - TSV: GLUE's format — a header row, fields separated by tabs, no quoting at all (quotes are text).
 * - JSONL: one JSON object per line (blank lines are ignored); columns are the objects' keys.
 *
 * The first row of CSV and TSV is the header. A UTF-8 byte-order mark is dropped; lines end with
 * `\n`, `\r\n` or `\r`; blank lines are ignored. Errors name the file and the 1-based line (the line a
 * record starts on, for quoted fields spanning lines). Rows that are wrong on their own (a wrong
 * number of fields, a line that is not a JSON object, a missing column in a JSON line) fail the read,
 * or with `onBadRow: 'skip'` are left out and counted; a wrong file (empty, a header without a
 * required column, an unterminated quote) always fails.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';

import { isJsonObject, parseJsonStrict, type JsonObject, type JsonValue } from '../io/json.js';

export type TableFormat = 'csv' | 'tsv' | 'jsonl';
/** What to do with a bad row: fail (default) or leave it out and count it. */
export type BadRowPolicy = 'error' | 'skip';
/** A cell: a string for CSV and TSV, any JSON value for JSONL. */
export type TableValue = JsonValue;

/** An error in a data file, with the file and the 1-based line in the message (`file:line: …`). */
export class DataFormatError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'DataFormatError';
  }
}

/** A row left out by `onBadRow: 'skip'`, and why. */
export interface SkippedRow {
  line: number;
  reason: string;
}

export interface TableRow {
  /** The 1-based line the row starts on. */
  line: number;
  /** Cells by column name (an object without a prototype). */
  values: Record<string, TableValue>;
}

export interface Table {
  file: string;
  format: TableFormat;
  /** The header's columns (CSV, TSV) or every key seen, in first-seen order (JSONL). */
  columns: string[];
  rows: TableRow[];
  /** Number of bad rows left out (onBadRow: 'skip'). */
  skipped: number;
  /** The rows left out, in file order. */
  skippedRows: SkippedRow[];
}

export interface ReadTableOptions {
  /** Default: from the extension (.csv; .tsv, .tab; .jsonl, .ndjson, .json). */
  format?: TableFormat;
  /** CSV field delimiter (default ','); with `'\t'` it reads quoted TSV. */
  delimiter?: string;
  /** Columns that must be there: checked against the header (CSV, TSV) or each line (JSONL). */
  requiredColumns?: readonly string[];
  onBadRow?: BadRowPolicy;
}

/** The table format a file name implies, or undefined. */
export function formatFromPath(path: string): TableFormat | undefined {
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.tsv' || ext === '.tab') return 'tsv';
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  return undefined;
}

function resolveFormat(file: string, options: ReadTableOptions): TableFormat {
  const format = options.format ?? formatFromPath(file);
  if (format === undefined) throw new Error(`${file}: cannot tell the table format from the extension; give format: 'csv', 'tsv' or 'jsonl'`);
  if (format !== 'csv' && format !== 'tsv' && format !== 'jsonl') throw new Error(`${file}: unknown table format ${JSON.stringify(format)} (csv, tsv or jsonl)`);
  return format;
}

const quoteList = (names: readonly string[]): string => (names.length ? names.join(', ') : '(none)');

/** Reads a CSV, TSV or JSONL file into memory (see parseTable). */
export async function readTable(path: string, options: ReadTableOptions = {}): Promise<Table> {
  const format = resolveFormat(path, options);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${path}: ${(error as Error).message}`);
  }
  return parseTable(text, path, { ...options, format });
}

/** Parses a table from text; `file` names it in errors (and sets the format from its extension unless given). */
export function parseTable(text: string, file: string, options: ReadTableOptions = {}): Table {
  const format = resolveFormat(file, options);
  const onBadRow = options.onBadRow ?? 'error';
  if (onBadRow !== 'error' && onBadRow !== 'skip') throw new Error(`onBadRow must be 'error' or 'skip', got ${JSON.stringify(onBadRow)}`);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const table: Table = { file, format, columns: [], rows: [], skipped: 0, skippedRows: [] };
  const bad = (line: number, reason: string): void => {
    if (onBadRow === 'error') throw new DataFormatError(file, line, reason);
    table.skipped++;
    table.skippedRows.push({ line, reason });
  };
  if (format === 'jsonl') parseJsonLines(text, table, options.requiredColumns ?? [], bad);
  else parseDelimited(text, table, format === 'tsv' ? '\t' : (options.delimiter ?? ','), format === 'csv', options.requiredColumns ?? [], bad);
  return table;
}

function parseJsonLines(text: string, table: Table, required: readonly string[], bad: (line: number, reason: string) => void): void {
  const seen = new Set<string>();
  let line = 0;
  let start = 0;
  let any = false;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line++;
    let content = text.slice(start, end);
    start = end + 1;
    if (content.endsWith('\r')) content = content.slice(0, -1);
    if (content.trim() === '') continue;
    any = true;
    let value: JsonValue;
    try {
      value = parseJsonStrict(content);
    } catch (error) {
      bad(line, `invalid JSON: ${(error as Error).message}`);
      continue;
    }
    if (!isJsonObject(value)) {
      bad(line, `expected a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
      continue;
    }
    const keys = Object.keys(value);
    const missing = required.find((column) => !(column in value));
    if (missing !== undefined) {
      bad(line, `missing column '${missing}' (columns there: ${quoteList(keys)})`);
      continue;
    }
    for (const key of keys) {
      if (!seen.has(key)) {
        seen.add(key);
        table.columns.push(key);
      }
    }
    table.rows.push({ line, values: value as JsonObject });
  }
  if (!any) throw new DataFormatError(table.file, 1, 'empty file (no JSON lines)');
}

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/**
 * CSV/TSV: one pass over the text. Records end at an unquoted \n, \r\n or \r; with `quoting`, a
 * field that starts with a quote runs to the matching unescaped quote.
 */
function parseDelimited(
  text: string,
  table: Table,
  delimiter: string,
  quoting: boolean,
  required: readonly string[],
  bad: (line: number, reason: string) => void,
): void {
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new Error(`${table.file}: the delimiter must be one character other than a quote or a line break, got ${JSON.stringify(delimiter)}`);
  }
  const delim = delimiter.charCodeAt(0);
  const n = text.length;
  let i = 0;
  let line = 1;
  let header: string[] | undefined;

  const countLines = (from: number, to: number): number => {
    let count = 0;
    for (let k = from; k < to; k++) {
      const c = text.charCodeAt(k);
      if (c === LF) count++;
      else if (c === CR && text.charCodeAt(k + 1) !== LF) count++;
    }
    return count;
  };
  /** Moves to the end of the current line (after a bad quoted field). */
  const skipRestOfLine = (): void => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === LF || c === CR) break;
      i++;
    }
  };
  const endOfLine = (): void => {
    if (i < n) {
      if (text.charCodeAt(i) === CR && text.charCodeAt(i + 1) === LF) i += 2;
      else i += 1;
      line++;
    }
  };

  const onRecord = (fields: string[], recordLine: number): void => {
    if (!header) {
      const seen = new Set<string>();
      for (const name of fields) {
        if (seen.has(name)) throw new DataFormatError(table.file, recordLine, `duplicate column '${name}' in the header`);
        seen.add(name);
      }
      const missing = required.find((column) => !seen.has(column));
      if (missing !== undefined) throw new DataFormatError(table.file, recordLine, `missing column '${missing}' (columns: ${quoteList(fields)})`);
      header = fields;
      table.columns = [...fields];
      return;
    }
    if (fields.length !== header.length) {
      bad(recordLine, `${fields.length} field${fields.length === 1 ? '' : 's'}, the header has ${header.length}`);
      return;
    }
    const values = Object.create(null) as Record<string, TableValue>;
    for (let k = 0; k < fields.length; k++) values[header[k]] = fields[k];
    table.rows.push({ line: recordLine, values });
  };

  while (i < n) {
    const first = text.charCodeAt(i);
    if (first === LF || first === CR) {
      endOfLine(); // a blank line
      continue;
    }
    const recordLine = line;
    const fields: string[] = [];
    let badReason: string | undefined;
    // A record: fields until an unquoted line break or the end of the text.
    for (;;) {
      if (quoting && text.charCodeAt(i) === QUOTE) {
        const open = line;
        let value = '';
        let from = i + 1;
        for (;;) {
          const close = text.indexOf('"', from);
          if (close < 0) throw new DataFormatError(table.file, open, 'unterminated quoted field (no closing quote before the end of the file)');
          line += countLines(from, close);
          if (text.charCodeAt(close + 1) === QUOTE) {
            value += text.slice(from, close + 1);
            from = close + 2;
            continue;
          }
          value += text.slice(from, close);
          i = close + 1;
          break;
        }
        fields.push(value);
        const c = i < n ? text.charCodeAt(i) : -1;
        if (c !== delim && c !== LF && c !== CR && c !== -1) {
          badReason = `unexpected text after the closing quote of field ${fields.length}`;
          skipRestOfLine();
          break;
        }
      } else {
        const start = i;
        while (i < n) {
          const c = text.charCodeAt(i);
          if (c === delim || c === LF || c === CR) break;
          i++;
        }
        fields.push(text.slice(start, i));
      }
      if (i < n && text.charCodeAt(i) === delim) {
        i++;
        continue;
      }
      break;
    }
    endOfLine();
    if (badReason !== undefined) {
      if (!header) throw new DataFormatError(table.file, recordLine, badReason);
      bad(recordLine, badReason);
      continue;
    }
    onRecord(fields, recordLine);
  }
  if (!header) throw new DataFormatError(table.file, 1, 'empty file (no header row)');
}
