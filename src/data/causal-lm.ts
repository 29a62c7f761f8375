/**
 * Causal-LM (next-token) training data, tokenised up front and kept compactly (one Int32Array of ids
 * and one of labels for the whole dataset). Labels are the input ids themselves (the model shifts
 * them), -100 (IGNORE_INDEX) where no loss is wanted. Four sources:
 *
 * - a plain text file (.txt), read as transformers' run_clm.py reads one (datasets' `text` loader,
 *   keep_linebreaks): universal newlines (CRLF and CR become LF), then one text per line with its
 *   line break kept (Python's str.splitlines(keepends=True), so a blank line is a text "\n" and the
 *   texts joined are the file); `sampleBy: 'paragraph'` splits at blank lines ("\n\n", the breaks
 *   dropped) and `'document'` keeps the file whole. Lines are not documents, so by line no EOS goes
 *   between them (as run_clm.py); by paragraph or document EOS ends each;
 * - JSONL, CSV or TSV with a text column (default 'text'): one document per row, EOS after each;
 * - prompt/response pairs (columns named by the caller): the prompt with the tokenizer's special
 *   tokens (Llama 3's BOS), the response without, then EOS; the loss is on the response (and EOS)
 *   only. When the tokenizer has a chat template, each pair is a user/assistant conversation in it;
 * - conversations (a column of [{ role, content }, …]) in the tokenizer's chat template
 *   (tokenizer_config.json's chat_template, rendered with @huggingface/jinja), the loss on the
 *   assistant turns only: a turn is what rendering it adds to the conversation before it rendered
 *   with the generation prompt. The rendered text is tokenised without special tokens (the template
 *   writes them), as apply_chat_template(tokenize=True).
 *
 * Packing (the default for plain text) is run_clm.py's group_texts: the texts' tokens concatenated
 * and cut into blocks of blockSize; the last partial block is dropped (`droppedTokens` says how
 * many tokens). Unpacked (the default for pairs and chats), each text is one example cut to
 * blockSize from the right; an example with no token left to train on is a bad row. Each text is
 * tokenised in full only when packing; unpacked, a text is cut before tokenising (see
 * MAX_CHARS_PER_TOKEN), so a megabyte line costs what blockSize tokens cost.
 *
 * Batches: causalLmCollator pads each batch to its longest example (right padding for training)
 * with the pad token, or EOS when the tokenizer has none (GPT-2 and Llama 3 have none; the padding
 * is masked out and labelled -100, so which id fills it does not matter).
 */
import { IGNORE_INDEX } from '../models/causal-lm-loss.js';
import { fromTypedArray, type Tensor } from '../tensor/index.js';
import { applyChatTemplate, type ChatMessage } from './chat-template.js';
import type { Dataset } from './dataset.js';
import { checkIndex } from './dataset.js';
import { DataFormatError, readTable, readTextFile, type BadRowPolicy, type SkippedRow, type Table, type TableFormat, type TableValue } from './table.js';
import { Tokenizer, type EncodeOptions, type TextSide } from './tokenizer.js';

/** How a plain text file is cut into texts (datasets' `text` loader's sample_by). */
export type TextSampling = 'line' | 'paragraph' | 'document';

export interface CausalLmDataOptions {
  /** A Tokenizer, or a tokenizer.json / model folder to load one from. */
  tokenizer: Tokenizer | string;
  /** Tokens per example; default min(1024, the tokenizer's model_max_length), as run_clm.py. */
  blockSize?: number;
  /** Concatenate and cut into full blocks (group_texts); default true for plain texts, false for pairs and chats. */
  packing?: boolean;
  /** End each text with EOS (unless it ends so already); default true, but false for a .txt read by line. Pairs always end with EOS; chats as their template writes them. */
  appendEos?: boolean;
  /** .txt files: one text per line (default), per paragraph or the whole file. */
  sampleBy?: TextSampling;
  /** The text column of a table (default 'text'). */
  textColumn?: string;
  /** The prompt column of prompt/response pairs (with responseColumn). */
  promptColumn?: string;
  /** The response column of prompt/response pairs: the tokens trained on. */
  responseColumn?: string;
  /** A column of conversations ([{ role, content }, …]; JSONL) to render with the chat template. */
  messagesColumn?: string;
  /** Pairs in the tokenizer's chat template when it has one (default true), false for none, or a template of your own. */
  chatTemplate?: boolean | string;
  /** Default from the extension: .txt (and any other) is text; .csv, .tsv, .jsonl are tables. */
  format?: TableFormat | 'text';
  /** CSV delimiter (default: from the header line). */
  delimiter?: string;
  /** The file's text encoding (default utf-8; see TEXT_ENCODINGS). */
  encoding?: string;
  /** Bad rows (wrong type, no token to train on, …): fail (default) or leave out and count. */
  onBadRow?: BadRowPolicy;
}

/** An example: token ids and labels (-100: no loss), of equal length. */
export interface CausalLmExample {
  inputIds: number[];
  labels: number[];
}

/** One row's tokens before packing or cutting. */
interface Tokens {
  line: number;
  ids: number[];
  labels: number[];
}

/** What a row is, before tokenising. */
type Row = { line: number; text: string } | { line: number; prompt: string; response: string } | { line: number; messages: ChatMessage[] };

const DEFAULT_BLOCK_SIZE = 1024;
const TABLE_EXTENSIONS = /\.(csv|tsv|tab|jsonl|ndjson|json)$/i;
/** Python's str.splitlines boundaries, after universal newlines made every break LF. */
const LINE_BOUNDARY = /[\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]/g;

/** The texts of a .txt file and the line each starts on (see the module comment). */
export function splitText(text: string, sampleBy: TextSampling = 'line'): { line: number; text: string }[] {
  const normalized = text.replace(/\r\n?/g, '\n');
  const pieces: { line: number; text: string }[] = [];
  let line = 1;
  const push = (piece: string): void => {
    pieces.push({ line, text: piece });
    line += piece.split('\n').length - 1;
  };
  if (sampleBy === 'document') {
    if (normalized !== '') push(normalized);
  } else if (sampleBy === 'paragraph') {
    if (normalized !== '') {
      for (const paragraph of normalized.split('\n\n')) {
        push(paragraph);
        line += 2;
      }
    }
  } else if (sampleBy === 'line') {
    let start = 0;
    for (const match of normalized.matchAll(LINE_BOUNDARY)) {
      push(normalized.slice(start, match.index + 1));
      start = match.index + 1;
    }
    if (start < normalized.length) push(normalized.slice(start));
  } else {
    throw new Error(`sampleBy must be 'line', 'paragraph' or 'document', got ${JSON.stringify(sampleBy)}`);
  }
  return pieces;
}

/** Options that are wrong whatever the data. */
function checkOptions(options: CausalLmDataOptions, file: string): void {
  const { blockSize } = options;
  if (blockSize !== undefined && (!Number.isInteger(blockSize) || blockSize < 2)) throw new RangeError(`CausalLmDataset(${file}): blockSize must be an integer of at least 2, got ${blockSize}`);
  if ((options.promptColumn === undefined) !== (options.responseColumn === undefined)) throw new Error(`CausalLmDataset(${file}): give both promptColumn and responseColumn, or neither`);
}

function describe(value: TableValue | undefined): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : typeof value;
}

/** A causal-LM dataset: blocks of tokens (packed) or one example per text. */
export class CausalLmDataset implements Dataset<CausalLmExample> {
  /** The file (or the name given), for messages. */
  readonly file: string;
  readonly tokenizer: Tokenizer;
  readonly blockSize: number;
  readonly packed: boolean;
  /** Packed: the tokens after the last full block, left out (run_clm.py's remainder). */
  readonly droppedTokens: number;
  /** Unpacked: examples cut to blockSize. */
  readonly truncatedExamples: number;
  /** Bad rows left out with onBadRow: 'skip' (and why). */
  readonly skippedRows: readonly SkippedRow[];

  readonly #ids: Int32Array;
  readonly #labels: Int32Array;
  /** #offsets[i] .. #offsets[i + 1] are example i's tokens. */
  readonly #offsets: Uint32Array;
  /** The line each example (packed: its first token) comes from. */
  readonly #lines: Uint32Array;

  private constructor(parts: {
    file: string;
    tokenizer: Tokenizer;
    blockSize: number;
    packed: boolean;
    droppedTokens: number;
    truncatedExamples: number;
    skippedRows: SkippedRow[];
    ids: Int32Array;
    labels: Int32Array;
    offsets: Uint32Array;
    lines: Uint32Array;
  }) {
    this.file = parts.file;
    this.tokenizer = parts.tokenizer;
    this.blockSize = parts.blockSize;
    this.packed = parts.packed;
    this.droppedTokens = parts.droppedTokens;
    this.truncatedExamples = parts.truncatedExamples;
    this.skippedRows = parts.skippedRows;
    this.#ids = parts.ids;
    this.#labels = parts.labels;
    this.#offsets = parts.offsets;
    this.#lines = parts.lines;
  }

  /** Reads and tokenises a .txt file or a JSONL / CSV / TSV table (by extension, or `format`). */
  static async fromFile(path: string, options: CausalLmDataOptions): Promise<CausalLmDataset> {
    checkOptions(options, path); // before reading a file that may be large
    const format = options.format ?? (TABLE_EXTENSIONS.test(path) ? undefined : 'text');
    if (format === 'text') {
      if (options.promptColumn !== undefined || options.messagesColumn !== undefined) {
        throw new Error(`CausalLmDataset(${path}): a text file has no columns; prompt/response pairs and conversations need a JSONL, CSV or TSV file`);
      }
      const pieces = splitText(await readTextFile(path, options.encoding), options.sampleBy);
      if (pieces.length === 0) throw new DataFormatError(path, 1, 'empty file (no text)');
      return CausalLmDataset.#build(pieces, path, options, 'text', []);
    }
    const required = [options.messagesColumn ?? [], options.promptColumn ?? [], options.responseColumn ?? []].flat();
    const table = await readTable(path, {
      format,
      delimiter: options.delimiter,
      encoding: options.encoding,
      onBadRow: options.onBadRow,
      requiredColumns: required.length ? required : [options.textColumn ?? 'text'],
    });
    return CausalLmDataset.fromTable(table, options);
  }

  /** Texts in memory, each a document (EOS after each unless appendEos is false). */
  static async fromTexts(texts: readonly string[], options: CausalLmDataOptions, file = '<texts>'): Promise<CausalLmDataset> {
    return CausalLmDataset.#build(texts.map((text, i) => ({ line: i + 1, text })), file, options, 'table', []);
  }

  /** Tokenises a table already read (readTable / parseTable). */
  static async fromTable(table: Table, options: CausalLmDataOptions): Promise<CausalLmDataset> {
    const { file } = table;
    const skippedRows: SkippedRow[] = [...table.skippedRows];
    const bad = CausalLmDataset.#badRow(file, options.onBadRow, skippedRows);
    const { promptColumn, responseColumn, messagesColumn } = options;
    checkOptions(options, file);
    const columns = messagesColumn !== undefined ? [messagesColumn] : promptColumn !== undefined ? [promptColumn, responseColumn!] : [options.textColumn ?? 'text'];
    const missing = table.format === 'jsonl' ? undefined : columns.find((column) => !table.columns.includes(column));
    if (missing !== undefined) throw new DataFormatError(file, 1, `missing column '${missing}' (columns: ${table.columns.join(', ')})`);
    const rows: Row[] = [];
    for (const { line, values } of table.rows) {
      const cells = columns.map((column) => (Object.hasOwn(values, column) ? values[column] : undefined));
      if (messagesColumn !== undefined) {
        const messages = chatMessages(cells[0]);
        if (typeof messages === 'string') bad(line, `column '${messagesColumn}' ${messages}`);
        else rows.push({ line, messages });
        continue;
      }
      const wrong = cells.findIndex((cell) => typeof cell !== 'string');
      if (wrong >= 0) {
        bad(line, `column '${columns[wrong]}' is ${describe(cells[wrong])}, not a string`);
        continue;
      }
      const [first, second] = cells as string[];
      rows.push(promptColumn !== undefined ? { line, prompt: first, response: second } : { line, text: first });
    }
    return CausalLmDataset.#build(rows, file, options, 'table', skippedRows);
  }

  static #badRow(file: string, onBadRow: BadRowPolicy | undefined, skippedRows: SkippedRow[]): (line: number, reason: string) => void {
    if (onBadRow !== undefined && onBadRow !== 'error' && onBadRow !== 'skip') throw new Error(`onBadRow must be 'error' or 'skip', got ${JSON.stringify(onBadRow)}`);
    return (line, reason) => {
      if ((onBadRow ?? 'error') === 'error') throw new DataFormatError(file, line, reason);
      skippedRows.push({ line, reason });
    };
  }

  static async #build(rows: readonly Row[], file: string, options: CausalLmDataOptions, source: 'text' | 'table', skippedRows: SkippedRow[]): Promise<CausalLmDataset> {
    const tokenizer = typeof options.tokenizer === 'string' ? Tokenizer.fromFile(options.tokenizer) : options.tokenizer;
    if (!(tokenizer instanceof Tokenizer)) throw new Error(`CausalLmDataset(${file}): tokenizer must be a Tokenizer or a path to tokenizer.json`);
    const blockSize = options.blockSize ?? Math.min(DEFAULT_BLOCK_SIZE, tokenizer.modelMaxLength ?? DEFAULT_BLOCK_SIZE);
    checkOptions({ ...options, blockSize }, file);
    const supervised = source === 'table' && (options.promptColumn !== undefined || options.messagesColumn !== undefined);
    const packed = options.packing ?? !supervised;
    const bad = CausalLmDataset.#badRow(file, options.onBadRow, skippedRows);
    const appendEos = options.appendEos ?? !(source === 'text' && (options.sampleBy ?? 'line') === 'line');
    const eos = tokenizer.eosTokenId;
    if ((appendEos || (supervised && !CausalLmDataset.#template(tokenizer, options))) && eos === null) {
      throw new Error(`CausalLmDataset(${file}): ${tokenizer.source} has no eos token to end each text with; give appendEos: false (texts) or a tokenizer with eos_token`);
    }
    // Unpacked examples are cut to blockSize anyway, so texts are cut before tokenising (fast on huge lines).
    const cut: EncodeOptions = packed ? { truncation: false } : { maxLength: blockSize };
    const sequences = await CausalLmDataset.#tokenize(rows, tokenizer, options, cut, bad);
    if (appendEos && !supervised) for (const s of sequences) if (s.ids[s.ids.length - 1] !== eos) endWith(s, eos!);
    const parts = packed ? pack(sequences, blockSize) : truncate(sequences, blockSize, bad);
    if (parts.offsets.length < 2) {
      skippedRows.sort((a, b) => a.line - b.line);
      const why =
        skippedRows.length && (!packed || parts.droppedTokens === 0)
          ? `every row is bad (${skippedRows.length} skipped; the first, line ${skippedRows[0].line}: ${skippedRows[0].reason})`
          : packed
            ? `${parts.droppedTokens} tokens in all, fewer than one block of ${blockSize} (lower blockSize, or packing: false)`
            : 'no text';
      throw new DataFormatError(file, 1, `no examples: ${why}`);
    }
    skippedRows.sort((a, b) => a.line - b.line);
    return new CausalLmDataset({ file, tokenizer, blockSize, packed, skippedRows, ...parts });
  }

  /** The chat template pairs are rendered with, if any. */
  static #template(tokenizer: Tokenizer, options: CausalLmDataOptions): string | undefined {
    if (options.chatTemplate === false) return undefined;
    if (typeof options.chatTemplate === 'string') return options.chatTemplate;
    return tokenizer.chatTemplate;
  }

  /** Each row's tokens and labels (bad rows reported and left out). */
  static async #tokenize(rows: readonly Row[], tokenizer: Tokenizer, options: CausalLmDataOptions, cut: EncodeOptions, bad: (line: number, reason: string) => void): Promise<Tokens[]> {
    const template = CausalLmDataset.#template(tokenizer, options);
    // Each row as pieces of text, each tokenised alone, trained on or not. Rendered chats hold their
    // special tokens; a plain text or prompt gets the tokenizer's (BOS), and a plain pair ends with
    // EOS, trained on, so that the model learns where a response stops.
    const chat = rows.length > 0 && !('text' in rows[0]) && (template !== undefined || 'messages' in rows[0]);
    if (chat && template === undefined) throw new Error(`${tokenizer.source}: the tokenizer has no chat template (no chat_template in tokenizer_config.json) to render the conversations with; give chatTemplate`);
    const pieces: { line: number; texts: string[]; trained: boolean[] }[] = [];
    for (const row of rows) {
      if ('text' in row) pieces.push({ line: row.line, texts: [row.text], trained: [true] });
      else if (!chat && 'prompt' in row) pieces.push({ line: row.line, texts: [row.prompt, row.response], trained: [false, true] });
      else {
        const messages = 'messages' in row ? row.messages : [{ role: 'user', content: row.prompt }, { role: 'assistant', content: row.response }];
        const turns = chatPieces(tokenizer, messages, template);
        if (typeof turns === 'string') bad(row.line, turns);
        else pieces.push({ line: row.line, ...turns });
      }
    }
    const endWithEos = !chat && rows.length > 0 && 'prompt' in rows[0];
    const firsts = await tokenizer.encodeBatchSettled(pieces.map((p) => p.texts[0]), null, { ...cut, addSpecialTokens: !chat });
    const restTexts = pieces.flatMap((p) => p.texts.slice(1));
    const rests = await tokenizer.encodeBatchSettled(restTexts, null, { ...cut, addSpecialTokens: false });
    const eos = tokenizer.eosTokenId;
    const sequences: Tokens[] = [];
    let next = 0;
    for (const [k, piece] of pieces.entries()) {
      const encodings = [firsts[k], ...rests.slice(next, next + piece.texts.length - 1)];
      next += piece.texts.length - 1;
      const failed = encodings.find((encoding) => encoding instanceof Error);
      if (failed) {
        bad(piece.line, (failed as Error).message.replace(/^encode: /, ''));
        continue;
      }
      const ids: number[] = [];
      const labels: number[] = [];
      encodings.forEach((encoding, j) => {
        // One by one: a text of millions of tokens would overflow the stack as push's arguments.
        for (const id of (encoding as { inputIds: number[] }).inputIds) {
          ids.push(id);
          labels.push(piece.trained[j] ? id : IGNORE_INDEX);
        }
      });
      const sequence = { line: piece.line, ids, labels };
      if (endWithEos) endWith(sequence, eos!);
      sequences.push(sequence);
    }
    return sequences;
  }

  get length(): number {
    return this.#lines.length;
  }

  get(index: number): CausalLmExample {
    checkIndex(index, this.length, 'CausalLmDataset');
    const start = this.#offsets[index];
    const end = this.#offsets[index + 1];
    return { inputIds: Array.from(this.#ids.subarray(start, end)), labels: Array.from(this.#labels.subarray(start, end)) };
  }

  /** The line of the file example `index` (packed: its first token) came from. */
  lineOf(index: number): number {
    checkIndex(index, this.length, 'CausalLmDataset');
    return this.#lines[index];
  }

  /** Tokens of example `index`. */
  lengthOf(index: number): number {
    checkIndex(index, this.length, 'CausalLmDataset');
    return this.#offsets[index + 1] - this.#offsets[index];
  }

  /**
   * The tokens a loss is computed on, every example's labels after its first (the model predicts token
   * t + 1 from tokens ≤ t) other than −100: what the training warnings' unigram baseline counts. Of the
   * examples `indices` (default all: a subset passes its own).
   */
  predictedTokens(indices?: readonly number[]): Int32Array {
    const kept: number[] = [];
    for (const i of indices ?? Array.from({ length: this.length }, (_, k) => k))
      for (let t = this.#offsets[i] + 1; t < this.#offsets[i + 1]; t++) if (this.#labels[t] !== -100) kept.push(this.#labels[t]);
    return Int32Array.from(kept);
  }

  /** A collate function for this dataset (the tokenizer's pad id, or its EOS; right padding). */
  collator(options: Omit<CausalLmCollateOptions, 'padTokenId'> = {}): (examples: readonly CausalLmExample[]) => CausalLmBatch {
    return causalLmCollator(this.tokenizer, options);
  }
}

/** Appends a token, trained on. */
function endWith(tokens: Tokens, id: number): void {
  tokens.ids.push(id);
  tokens.labels.push(id);
}

/** A conversations cell as messages, or what is wrong with it. */
function chatMessages(cell: TableValue | undefined): ChatMessage[] | string {
  if (!Array.isArray(cell)) return `is ${describe(cell)}, not a list of messages`;
  for (const [i, message] of cell.entries()) {
    const ok = message !== null && typeof message === 'object' && !Array.isArray(message) && typeof message.role === 'string' && typeof message.content === 'string';
    if (!ok) return `message ${i} is not { "role": string, "content": string }`;
  }
  if (!cell.some((message) => (message as unknown as ChatMessage).role === 'assistant')) return 'has no assistant message to train on';
  return cell.map((message) => ({ ...(message as unknown as ChatMessage) }));
}

/**
 * A conversation in the chat template as pieces of text, the assistant turns trained on (see the
 * module comment), or why it cannot be split so.
 */
function chatPieces(tokenizer: Tokenizer, messages: ChatMessage[], template: string | undefined): { texts: string[]; trained: boolean[] } | string {
  const render = (upTo: number, addGenerationPrompt = false): string => applyChatTemplate(tokenizer, messages.slice(0, upTo), { template, addGenerationPrompt });
  try {
    const whole = render(messages.length);
    const texts: string[] = [];
    const trained: boolean[] = [];
    let at = 0;
    for (const [i, message] of messages.entries()) {
      if (message.role !== 'assistant') continue;
      const before = render(i, true);
      const through = render(i + 1);
      if (!whole.startsWith(through) || !through.startsWith(before) || before.length < at) {
        return `the chat template does not render message ${i} (assistant) as a continuation of the messages before it, so its tokens cannot be told apart`;
      }
      texts.push(whole.slice(at, before.length), through.slice(before.length));
      trained.push(false, true);
      at = through.length;
    }
    texts.push(whole.slice(at));
    trained.push(false);
    return { texts, trained };
  } catch (error) {
    return (error as Error).message; // the template's raise_exception, or a conversation it cannot render
  }
}

interface Parts {
  ids: Int32Array;
  labels: Int32Array;
  offsets: Uint32Array;
  lines: Uint32Array;
  droppedTokens: number;
  truncatedExamples: number;
}

/** run_clm.py's group_texts: all tokens in a row, cut into blocks; the remainder dropped. */
function pack(sequences: readonly Tokens[], blockSize: number): Parts {
  const total = sequences.reduce((sum, s) => sum + s.ids.length, 0);
  const blocks = Math.floor(total / blockSize);
  const kept = blocks * blockSize;
  const ids = new Int32Array(kept);
  const labels = new Int32Array(kept);
  const lines = new Uint32Array(blocks);
  let at = 0;
  for (const s of sequences) {
    // The block that starts inside this sequence is told its line.
    for (let b = Math.ceil(at / blockSize); b * blockSize < at + s.ids.length && b < blocks; b++) lines[b] = s.line;
    const take = Math.min(s.ids.length, kept - at);
    if (take <= 0) break;
    ids.set(s.ids.slice(0, take), at);
    labels.set(s.labels.slice(0, take), at);
    at += take;
  }
  const offsets = Uint32Array.from({ length: blocks + 1 }, (_, b) => b * blockSize);
  return { ids, labels, offsets, lines, droppedTokens: total - kept, truncatedExamples: 0 };
}

/** One example per sequence, cut to blockSize; a sequence with nothing to train on is a bad row. */
function truncate(sequences: readonly Tokens[], blockSize: number, bad: (line: number, reason: string) => void): Parts {
  const kept: Tokens[] = [];
  let truncatedExamples = 0;
  for (const s of sequences) {
    const labels = s.labels.slice(0, blockSize);
    if (!labels.some((label) => label !== IGNORE_INDEX)) {
      const untrained = s.labels.findIndex((label) => label !== IGNORE_INDEX);
      bad(s.line, untrained < 0 ? 'no token to train on (an empty text?)' : `the prompt takes ${untrained >= blockSize ? `at least ${blockSize}` : untrained} tokens, the whole block of ${blockSize}: no response token is left to train on (raise blockSize or shorten the prompt)`);
      continue;
    }
    if (s.ids.length > blockSize) truncatedExamples++;
    kept.push({ line: s.line, ids: s.ids.slice(0, blockSize), labels });
  }
  const total = kept.reduce((sum, s) => sum + s.ids.length, 0);
  const ids = new Int32Array(total);
  const labels = new Int32Array(total);
  const offsets = new Uint32Array(kept.length + 1);
  kept.forEach((s, i) => {
    ids.set(s.ids, offsets[i]);
    labels.set(s.labels, offsets[i]);
    offsets[i + 1] = offsets[i] + s.ids.length;
  });
  return { ids, labels, offsets, lines: Uint32Array.from(kept, (s) => s.line), droppedTokens: 0, truncatedExamples };
}

/** A padded causal-LM batch: [B, L] int64 tensors. */
export interface CausalLmBatch {
  inputIds: Tensor;
  /** 1 on the examples' tokens, 0 on padding. */
  attentionMask: Tensor;
  /** The examples' labels, -100 on padding. */
  labels: Tensor;
}

export interface CausalLmCollateOptions {
  /** The id padding uses (the tokenizer's pad id, else its EOS). */
  padTokenId: number;
  /** Round the padded length up to a multiple of this (8 for tensor cores). */
  padToMultipleOf?: number;
  /** Where padding goes: right (default, for training) or left (batched generation). */
  paddingSide?: TextSide;
}

/** Pads and stacks causal-LM examples into a batch of tensors (the caller owns them). */
export function collateCausalLm(examples: readonly CausalLmExample[], options: CausalLmCollateOptions): CausalLmBatch {
  if (examples.length === 0) throw new Error('collateCausalLm: empty batch');
  const { padTokenId, padToMultipleOf } = options;
  const side = options.paddingSide ?? 'right';
  if (!Number.isInteger(padTokenId) || padTokenId < 0) throw new Error(`collateCausalLm: padTokenId must be a non-negative integer, got ${padTokenId}`);
  if (side !== 'left' && side !== 'right') throw new Error(`collateCausalLm: paddingSide must be 'left' or 'right', got ${JSON.stringify(side)}`);
  if (padToMultipleOf !== undefined && (!Number.isInteger(padToMultipleOf) || padToMultipleOf < 1)) throw new RangeError(`collateCausalLm: padToMultipleOf must be a positive integer, got ${padToMultipleOf}`);
  examples.forEach((example, i) => {
    if (!example || !example.inputIds || !example.labels) throw new Error(`collateCausalLm: example ${i} needs inputIds and labels`);
    if (example.labels.length !== example.inputIds.length) throw new Error(`collateCausalLm: example ${i} has ${example.inputIds.length} inputIds but ${example.labels.length} labels`);
  });
  const longest = examples.reduce((most, example) => Math.max(most, example.inputIds.length), 0);
  const length = padToMultipleOf ? Math.ceil(longest / padToMultipleOf) * padToMultipleOf : longest;
  return {
    inputIds: padded(examples.map((example) => example.inputIds), length, padTokenId, side),
    attentionMask: padded(examples.map((example) => new Array<number>(example.inputIds.length).fill(1)), length, 0, side),
    labels: padded(examples.map((example) => example.labels), length, IGNORE_INDEX, side),
  };
}

/** A [rows, length] int64 tensor: each row's values at its start (right padding) or end (left), `fill` elsewhere. */
function padded(rows: readonly ArrayLike<number>[], length: number, fill: number, side: TextSide): Tensor {
  const values = new BigInt64Array(rows.length * length).fill(BigInt(fill));
  rows.forEach((row, i) => {
    const start = i * length + (side === 'left' ? length - row.length : 0);
    for (let j = 0; j < row.length; j++) values[start + j] = BigInt(row[j]);
  });
  return fromTypedArray(values, [rows.length, length], { dtype: 'int64' });
}

/**
 * A collate function bound to a tokenizer: its pad id, or its EOS when it has no pad token (the
 * convention for GPT-2 and Llama checkpoints); right padding unless `paddingSide` says.
 */
export function causalLmCollator(
  tokenizer: Pick<Tokenizer, 'padTokenId' | 'eosTokenId'>,
  options: Omit<CausalLmCollateOptions, 'padTokenId'> & { padTokenId?: number } = {},
): (examples: readonly CausalLmExample[]) => CausalLmBatch {
  const padTokenId = options.padTokenId ?? tokenizer.padTokenId ?? tokenizer.eosTokenId;
  if (padTokenId === null || padTokenId === undefined) throw new Error('causalLmCollator: the tokenizer has neither a pad nor an eos token; give padTokenId');
  const settings: CausalLmCollateOptions = { ...options, padTokenId };
  return (examples) => collateCausalLm(examples, settings);
}
