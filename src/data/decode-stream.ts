/**
 * Text of generated tokens as they come, for streaming to a terminal: a byte-level BPE token may
 * hold part of a UTF-8 character (an emoji is often two or three tokens), and decoders such as
 * SentencePiece's drop a leading space at the start of a text, so a token cannot be decoded alone.
 * As text-generation-inference and transformers' TextStreamer do, the decoder keeps a short window:
 * the tokens already shown that precede the new ones (the prefix) and the new ones; it decodes both
 * and shows what the new tokens add, once that no longer ends in U+FFFD (an incomplete character).
 * Each push decodes a few tokens, never the whole generation.
 */
import type { DecodeOptions, Tokenizer } from './tokenizer.js';

/** The replacement character a decoder gives for an incomplete UTF-8 sequence. */
const INCOMPLETE = '\uFFFD';

export class TokenStreamDecoder {
  readonly #tokenizer: Pick<Tokenizer, 'decode'>;
  readonly #options: DecodeOptions;
  /** The prefix tokens (already shown) followed by the tokens not shown yet. */
  #window: number[] = [];
  /** How many of #window are the prefix. */
  #shown = 0;

  /** `options` as Tokenizer.decode's (e.g. skipSpecialTokens: true to leave out an end-of-text token). */
  constructor(tokenizer: Pick<Tokenizer, 'decode'>, options: DecodeOptions = {}) {
    this.#tokenizer = tokenizer;
    this.#options = options;
  }

  /** Adds one token; gives the text it completes ('' while a character is incomplete or the token adds no text). */
  async push(id: number): Promise<string> {
    if (!Number.isInteger(id) || id < 0) throw new RangeError(`TokenStreamDecoder: token id must be a non-negative integer, got ${id}`);
    this.#window.push(id);
    return this.#take(false);
  }

  /** What the tokens pushed since the last text add, even if it ends in an incomplete character (call once at the end). */
  async flush(): Promise<string> {
    return this.#take(true);
  }

  async #take(final: boolean): Promise<string> {
    const prefix = await this.#tokenizer.decode(this.#window.slice(0, this.#shown), this.#options);
    const whole = await this.#tokenizer.decode(this.#window, this.#options);
    if (whole.length <= prefix.length || (!final && whole.endsWith(INCOMPLETE))) return '';
    // The new tokens become the next prefix: enough context for the next token's leading space or bytes.
    this.#window = this.#window.slice(this.#shown);
    this.#shown = this.#window.length;
    return whole.slice(prefix.length);
  }
}
