/**
 * Table readers for text datasets: CSV (RFC 4180), TSV (GLUE style) and JSONL.
 *
 * - CSV: fields separated by a delimiter (`,`), optionally in double quotes; a quoted field may
 *   hold delimiters, line breaks and doubled quotes (`""` → `"`). A quote inside an unquoted field
 *   is kept as text (as Python's csv module does); text after a closing quote is a bad row.
 * - TSV: GLUE's format — a header row, fields separated by tabs, no quoting at all (quotes are text).
 * - JSONL: one JSON object per line (blank lines are ignored); columns are the objects' keys.
 *
 * The first row of CSV and TSV is the header. Without a `delimiter`, the header line decides it: a
 * header with no `,` (TSV: no tab) but with `;`, a tab or `|` is split on that one — Excel in many
 * locales writes `;`. Lines end with `\n`, `\r\n` or `\r`; blank lines are ignored.
 *
 * Files are UTF-8 unless `encoding` says otherwise (latin1, windows-1252, utf-16le, utf-16be); a
 * byte-order mark (UTF-8, UTF-16LE, UTF-16BE) decides the encoding and is dropped. Invalid UTF-8 is
 * an error naming the line, never silently replaced.
 *
 * Errors name the file and the 1-based line (the line a record starts on, for quoted fields
 * spanning lines), and a row that another delimiter would split right names that delimiter. Rows that are wrong on their own (a wrong
 * number of fields, a line that is not a JSON object, a missing column in a JSON line) fail the read,
 * or with `onBadRow: 'skip'` are left out and counted; a wrong file (empty, a header without a
 * required column, an unterminated quote) always fails.
 */
import { isUtf8 } from 'node:buffer';
import { extname } from 'node:path';

import { isJsonObject, parseJsonStrict, type JsonObject, type JsonValue } from '../io/json.js';
import { cannotReadMessage, MAX_TEXT_FILE_BYTES, readDataFile } from './read-file.js';

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
  /** The field delimiter of a CSV or TSV (given, or found from the header line); undefined for JSONL. */
  delimiter?: string;
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
  /** The field delimiter (default: from the header line, see above); with `'\t'` a .csv reads as quoted TSV. */
  delimiter?: string;
  /** The file's text encoding (default utf-8; see TEXT_ENCODINGS); a byte-order mark overrides it. */
  encoding?: string;
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

// ---- text encodings --------------------------------------------------------------------------

/** The encodings a text file may be given in. */
export const TEXT_ENCODINGS = ['utf-8', 'latin1', 'windows-1252', 'utf-16le', 'utf-16be'] as const;
export type TextEncoding = (typeof TEXT_ENCODINGS)[number];

const ENCODING_NAMES: Record<string, TextEncoding> = {
  'utf-8': 'utf-8',
  utf8: 'utf-8',
  latin1: 'latin1',
  'latin-1': 'latin1',
  'iso-8859-1': 'latin1',
  'windows-1252': 'windows-1252',
  cp1252: 'windows-1252',
  'utf-16le': 'utf-16le',
  utf16le: 'utf-16le',
  'utf-16': 'utf-16le',
  'utf-16be': 'utf-16be',
  utf16be: 'utf-16be',
};

/** An encoding name (case-insensitive; utf8, latin-1, iso-8859-1, cp1252, utf-16 accepted too) as one of TEXT_ENCODINGS. */
export function textEncoding(name: string): TextEncoding {
  const encoding = ENCODING_NAMES[name.trim().toLowerCase()];
  if (encoding === undefined) throw new Error(`unknown encoding ${JSON.stringify(name)} (known: ${TEXT_ENCODINGS.join(', ')})`);
  return encoding;
}

/** The line (1-based) and the byte offset where that line starts, for a byte offset into a file. */
function lineAt(bytes: Uint8Array, offset: number): { line: number; start: number } {
  let line = 1;
  let start = 0;
  for (let k = 0; k < offset; k++) {
    const b = bytes[k];
    if (b === LF || (b === CR && bytes[k + 1] !== LF)) {
      line++;
      start = k + 1;
    }
  }
  return { line, start };
}

/** The offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  const continuation = (k: number, lo = 0x80, hi = 0xbf) => k < bytes.length && bytes[k] >= lo && bytes[k] <= hi;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    let ok: boolean;
    let size: number;
    if (b < 0x80) [ok, size] = [true, 1];
    else if (b >= 0xc2 && b <= 0xdf) [ok, size] = [continuation(i + 1), 2];
    else if (b >= 0xe0 && b <= 0xef) {
      const [lo, hi] = b === 0xe0 ? [0xa0, 0xbf] : b === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
      [ok, size] = [continuation(i + 1, lo, hi) && continuation(i + 2), 3];
    } else if (b >= 0xf0 && b <= 0xf4) {
      const [lo, hi] = b === 0xf0 ? [0x90, 0xbf] : b === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
      [ok, size] = [continuation(i + 1, lo, hi) && continuation(i + 2) && continuation(i + 3), 4];
    } else [ok, size] = [false, 1];
    if (!ok) return i;
    i += size;
  }
  return -1;
}

/** Which byte of 16-bit units is mostly zero (UTF-16 text of Latin script without a byte-order mark), if one is. */
function utf16WithoutBom(bytes: Uint8Array): 'utf-16le' | 'utf-16be' | undefined {
  const n = Math.min(bytes.length, 4096) & ~1;
  if (n < 4) return undefined;
  let evenZeros = 0;
  let oddZeros = 0;
  for (let k = 0; k < n; k += 2) {
    if (bytes[k] === 0) evenZeros++;
    if (bytes[k + 1] === 0) oddZeros++;
  }
  const units = n / 2;
  if (oddZeros > units / 4 && evenZeros === 0) return 'utf-16le';
  if (evenZeros > units / 4 && oddZeros === 0) return 'utf-16be';
  return undefined;
}

/**
 * A text file's bytes as a string: a byte-order mark (UTF-8, UTF-16LE, UTF-16BE) decides the
 * encoding and is dropped; else `encoding` (default utf-8). Invalid UTF-8 is an error naming the
 * line and the byte (and what the line reads as in Latin-1), as is UTF-16 without a byte-order mark
 * read as UTF-8 — never replaced silently.
 */
export function decodeText(bytes: Uint8Array, file: string, encoding: string = 'utf-8'): string {
  const given = textEncoding(encoding);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return decodeUtf8(buffer.subarray(3), file, 3);
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(buffer.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(buffer.subarray(2));
  switch (given) {
    case 'utf-8': {
      const utf16 = utf16WithoutBom(bytes);
      if (utf16 !== undefined) throw new DataFormatError(file, 1, `every other byte is 0: this looks like ${utf16.toUpperCase()} text without a byte-order mark; give encoding: '${utf16}'`);
      return decodeUtf8(buffer, file, 0);
    }
    case 'latin1':
      return buffer.toString('latin1');
    case 'windows-1252':
      return decodeWindows1252(buffer);
    default:
      return new TextDecoder(given).decode(buffer);
  }
}

/** Windows-1252's characters for bytes 0x80–0x9F (the rest is Latin-1); the five it leaves undefined stay C1 controls, as WHATWG's decoder has them. */
const WINDOWS_1252_HIGH = '€\x81‚ƒ„…†‡ˆ‰Š‹Œ\x8DŽ\x8F\x90‘’“”•–—˜™š›œ\x9DžŸ';

/** Windows-1252 (Node's TextDecoder decodes it as Latin-1, so 0x80 would not be '€'). */
function decodeWindows1252(bytes: Buffer): string {
  const latin1 = bytes.toString('latin1');
  return latin1.replace(/[\x80-\x9f]/g, (c) => WINDOWS_1252_HIGH[c.charCodeAt(0) - 0x80]);
}

/** UTF-8 bytes as a string; `skipped` bytes (a byte-order mark) came before them in the file. */
function decodeUtf8(bytes: Buffer, file: string, skipped: number): string {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  const offset = firstInvalidUtf8(bytes);
  const { line, start } = lineAt(bytes, offset);
  let end = start;
  while (end < bytes.length && bytes[end] !== LF && bytes[end] !== CR) end++;
  const from = Math.max(start, offset - 30);
  const to = Math.min(end, offset + 30);
  const asLatin1 = `${from > start ? '…' : ''}${bytes.subarray(from, to).toString('latin1')}${to < end ? '…' : ''}`;
  const hex = bytes[offset].toString(16).toUpperCase().padStart(2, '0');
  const column = offset - start + 1 + (line === 1 ? skipped : 0);
  throw new DataFormatError(
    file,
    line,
    `not valid UTF-8 (byte 0x${hex} at byte ${column} of the line). Read as Latin-1 the line is: ${asLatin1} — ` +
      `if the file is in another encoding, give encoding: 'latin1' (or windows-1252, utf-16le, utf-16be)`,
  );
}

/** Reads a text file (a regular file of MAX_TEXT_FILE_BYTES or less): see decodeText. */
export async function readTextFile(path: string, encoding?: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readDataFile(path, { maxBytes: MAX_TEXT_FILE_BYTES, what: 'a text file' });
  } catch (error) {
    throw new Error(cannotReadMessage(path, error), { cause: error });
  }
  return decodeText(bytes, path, encoding);
}

// ---- tables ----------------------------------------------------------------------------------

/** Reads a CSV, TSV or JSONL file into memory (see parseTable and decodeText). */
export async function readTable(path: string, options: ReadTableOptions = {}): Promise<Table> {
  const format = resolveFormat(path, options);
  return parseTable(await readTextFile(path, options.encoding), path, { ...options, format });
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
  if (format === 'jsonl') {
    parseJsonLines(text, table, options.requiredColumns ?? [], bad);
    return table;
  }
  const fallback = format === 'tsv' ? '\t' : ',';
  const delimiter = options.delimiter ?? sniffDelimiter(text, fallback, format === 'csv');
  // A TSV is GLUE's (no quoting); a .tsv that turns out to use another delimiter reads as a CSV.
  table.delimiter = delimiter;
  parseDelimited(text, table, delimiter, format === 'csv' || delimiter !== '\t', options.requiredColumns ?? [], bad);
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

/** The delimiters a header line is looked at for (`sniffDelimiter`) and messages suggest. */
export const DELIMITERS: readonly string[] = [';', '\t', '|', ','];

/**
 * The delimiter of a CSV or TSV from its header line: `fallback` when the line has it (or none of the
 * others), else the other delimiter it has most of (`;`, tab, `|`, `,`). Quoted text is not looked at.
 */
function sniffDelimiter(text: string, fallback: string, quoting: boolean): string {
  const counts = new Map<string, number>();
  let quoted = false;
  for (let k = 0; k < text.length; k++) {
    const c = text[k];
    if (quoting && c === '"') quoted = !quoted;
    else if (!quoted && (c === '\n' || c === '\r')) {
      if (counts.size > 0) break; // the end of the first non-blank line
    } else if (!quoted) counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  if (counts.has(fallback)) return fallback;
  let best = fallback;
  for (const candidate of DELIMITERS) if ((counts.get(candidate) ?? 0) > (counts.get(best) ?? 0)) best = candidate;
  return best;
}

/** A delimiter as the option is written in messages: `delimiter: ';'`, `delimiter: '\t'`. */
const delimiterOption = (d: string): string => `delimiter: '${d === '\t' ? '\\t' : d}'`;
const showDelimiter = (d: string): string => (d === '\t' ? 'a tab' : `'${d}'`);

/** What to say about a row whose fields do not match the header, when another delimiter would explain it. */
function otherDelimiterHint(fields: readonly string[], header: readonly string[], delimiter: string): string {
  if (header.length === 1) {
    const other = DELIMITERS.find((d) => d !== delimiter && header[0].includes(d));
    return other === undefined ? '' : ` (the header is one field, '${header[0]}': if the delimiter is ${showDelimiter(other)}, give ${delimiterOption(other)})`;
  }
  const text = fields.join(delimiter);
  const other = DELIMITERS.find((d) => d !== delimiter && text.split(d).length === header.length);
  return other === undefined ? '' : ` (the delimiter is ${showDelimiter(delimiter)}; split on ${showDelimiter(other)} this line has the header's ${header.length} fields: if that is the delimiter, give ${delimiterOption(other)})`;
}

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
      bad(recordLine, `${fields.length} field${fields.length === 1 ? '' : 's'}, the header has ${header.length}${otherDelimiterHint(fields, header, delimiter)}`);
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
          const after = text[i];
          badReason = DELIMITERS.includes(after)
            ? `${showDelimiter(after)} after the closing quote of field ${fields.length}, where the delimiter ${showDelimiter(delimiter)} should be: if the file is separated by ${showDelimiter(after)}, give ${delimiterOption(after)}`
            : `unexpected text after the closing quote of field ${fields.length}`;
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
