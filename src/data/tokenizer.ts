/**
 * Text tokenisation with a Hugging Face `tokenizer.json`, through `tokenizers` — Hugging Face's own
 * Rust tokenizers library as an N-API binding (the npm package ships the prebuilt binaries; no
 * install script). It is the code Python's `tokenizers` runs, so the ids, token type ids and
 * truncation are the ones `AutoTokenizer` gives (checked on every SST-2 dev sentence in the tests).
 *
 * This wrapper adds what transformers adds on top of `tokenizers`: special tokens from
 * `tokenizer_config.json` / `special_tokens_map.json` (pad, cls, sep, unk, mask, bos, eos),
 * per-call truncation (`longest_first`, `only_first`, `only_second`, either side) with
 * `model_max_length`, and decoding with `clean_up_tokenization_spaces`.
 *
 * The native package is loaded on first use, so importing finetune never needs it.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as NativeModule from 'tokenizers';

import { resolveModelFile, type HubDownloadOptions } from '../hub/index.js';
import { isJsonObject, parseJsonStrict, type JsonObject, type JsonValue } from '../io/json.js';
import { catastrophicBacktracking, matchesEmptyText } from '../pattern/index.js';
import { readUtf8FileSync } from './read-file.js';

type NativeTokenizer = NativeModule.Tokenizer;
type NativeEncoding = NativeModule.Encoding;

let nativeModule: typeof NativeModule | undefined;

function native(): typeof NativeModule {
  if (!nativeModule) {
    try {
      nativeModule = createRequire(import.meta.url)('tokenizers') as typeof NativeModule;
    } catch (error) {
      throw new Error(`the 'tokenizers' npm package (Hugging Face tokenizers for Node) cannot be loaded: ${(error as Error).message}; run npm ci`, { cause: error });
    }
  }
  return nativeModule;
}

/** How a too-long input is shortened, as transformers names it. */
export type TruncationStrategy = 'longest_first' | 'only_first' | 'only_second';
export type TextSide = 'left' | 'right';

export interface EncodeOptions {
  /** Add the template's special tokens ([CLS] … [SEP]); default true. */
  addSpecialTokens?: boolean;
  /**
   * `true` is `'longest_first'`; default false, except that a `maxLength` alone turns on
   * `'longest_first'` (as transformers does). `'only_second'` needs a pair.
   */
  truncation?: boolean | TruncationStrategy;
  /** Longest result, special tokens included; default the tokenizer's `model_max_length`. */
  maxLength?: number;
  /** Which end truncation removes tokens from; default the tokenizer's `truncation_side` (right). */
  truncationSide?: TextSide;
}

/** One encoded input (no padding: the attention mask is all ones). */
export interface Encoding {
  inputIds: number[];
  attentionMask: number[];
  tokenTypeIds: number[];
}

export interface DecodeOptions {
  /** Leave out special tokens ([CLS], [SEP], [PAD], …); default false. */
  skipSpecialTokens?: boolean;
  /** transformers' clean-up (" ," → ","); default the tokenizer config's, else false as in transformers 5. */
  cleanUpTokenizationSpaces?: boolean;
}

/** A special token and its id; the id is null when the vocabulary lacks the token. */
export interface SpecialToken {
  token: string;
  id: number | null;
}

export type SpecialTokenRole = 'pad' | 'cls' | 'sep' | 'unk' | 'mask' | 'bos' | 'eos';
const ROLES: readonly SpecialTokenRole[] = ['pad', 'cls', 'sep', 'unk', 'mask', 'bos', 'eos'];

/** Conventional spellings, tried among tokenizer.json's special added tokens when the config names none. */
const CONVENTIONAL: Record<SpecialTokenRole, readonly string[]> = {
  pad: ['[PAD]', '<pad>', '<|pad|>'],
  cls: ['[CLS]', '<cls>'],
  sep: ['[SEP]', '<sep>'],
  unk: ['[UNK]', '<unk>', '<|unk|>'],
  mask: ['[MASK]', '<mask>'],
  bos: ['<s>', '<|begin_of_text|>', '<|startoftext|>', '[BOS]'],
  eos: ['</s>', '<|end_of_text|>', '<|endoftext|>', '[EOS]'],
};

/** transformers' VERY_LARGE_INTEGER marks "no limit"; anything at least this large is treated so. */
const NO_LIMIT = 1e15;
/** Inputs per native batch call (each call runs in parallel on Rust's thread pool). */
const BATCH_CHUNK = 8192;
/** Pair encodes in flight at once (the binding batches single texts only). */
const PAIR_WINDOW = 1024;

/**
 * With truncation, a text longer than this many characters per token of maxLength is cut to that
 * many before it is tokenised (from the side truncation removes, at a space when there is one near
 * the cut, so no word is split): a 10 MB text field was tokenised whole (a minute, 850 MB) to keep
 * 512 tokens. A token of real text is a few characters, so the kept characters still overflow
 * maxLength and the tokens kept are the same; when they do not (mostly spaces, one huge word, or
 * characters the tokenizer drops), the cut is redone four times longer until they do or the text
 * is whole, so the encoding never differs from the whole text's.
 */
export const MAX_CHARS_PER_TOKEN = 64;

export interface TokenizerConfigOptions {
  /** tokenizer_config.json contents (special tokens, model_max_length, sides, clean-up). */
  config?: JsonObject;
  /** special_tokens_map.json contents (older repos); tokenizer_config.json wins where both name a token. */
  specialTokensMap?: JsonObject;
  /** Where the tokenizer came from, for messages. */
  source?: string;
  /** A chat template given apart from the config (chat_template.jinja); default the config's `chat_template`. */
  chatTemplate?: string;
}

export interface FromFileOptions {
  /** tokenizer_config.json to use; default the one beside tokenizer.json if there is one; null for none. */
  configPath?: string | null;
}

/** Where transformers 5 saves a chat template beside tokenizer_config.json (it wins over the config's). */
const CHAT_TEMPLATE_FILE = 'chat_template.jinja';

/** tokenizer_config.json's chat_template: a string, or a list of { name, template } whose 'default' is used. */
function chatTemplateOf(value: JsonValue | undefined): string | undefined {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) return undefined;
  const named = value.filter(isJsonObject).find((entry) => entry.name === 'default');
  return typeof named?.template === 'string' ? named.template : undefined;
}

function readJsonFile(path: string): JsonObject {
  const text = readUtf8FileSync(path, 'a JSON file');
  let value: JsonValue;
  try {
    value = parseJsonStrict(text);
  } catch (error) {
    throw new Error(`${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (!isJsonObject(value)) throw new Error(`${path}: expected a JSON object`);
  return value;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** A special-token entry of a config: a string or an AddedToken object ({ content: … }). */
function tokenContent(value: JsonValue | undefined): string | undefined {
  if (typeof value === 'string') return value;
  if (isJsonObject(value) && typeof value.content === 'string') return value.content;
  return undefined;
}

function positiveInteger(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${what} must be a non-negative integer, got ${value}`);
  return value;
}

/** transformers' clean_up_tokenization. */
function cleanUpTokenization(text: string): string {
  return text
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

interface Truncation {
  strategy: TruncationStrategy;
  maxLength: number;
  side: TextSide;
}

const NATIVE_STRATEGY: Record<TruncationStrategy, string> = {
  longest_first: 'LongestFirst',
  only_first: 'OnlyFirst',
  only_second: 'OnlySecond',
};

/**
 * A Hugging Face tokenizer (any `tokenizer.json`: WordPiece, BPE, Unigram, …) with transformers'
 * conventions: `encode(text, pair?, options)` gives input ids, attention mask and token type ids.
 */
export class Tokenizer {
  /** tokenizer.json's text (its post-processor rewritten when the config says add_bos_token / add_eos_token), to make one native tokenizer per truncation setting. */
  #json: string;
  /** Native tokenizers by truncation setting ('none' or strategy/maxLength/side); each is configured once and never changed. */
  readonly #natives = new Map<string, NativeTokenizer>();
  readonly #special: Partial<Record<SpecialTokenRole, SpecialToken>> = {};
  readonly #specialIds: ReadonlySet<number>;
  readonly #modelType: string | undefined;
  /** Where the tokenizer came from (a path or repo id), for messages. */
  readonly source: string;
  /** The longest input the model takes (tokenizer_config.json's model_max_length), if it says. */
  readonly modelMaxLength: number | undefined;
  readonly truncationSide: TextSide;
  readonly paddingSide: TextSide;
  readonly cleanUpTokenizationSpaces: boolean;
  /** The Jinja chat template (tokenizer_config.json's `chat_template`, its 'default' when it lists several, or chat_template.jinja), if any. */
  readonly chatTemplate: string | undefined;

  private constructor(json: string, options: TokenizerConfigOptions) {
    this.#json = json;
    this.source = options.source ?? '<tokenizer.json>';
    let parsed: JsonValue;
    try {
      parsed = parseJsonStrict(json);
    } catch (error) {
      throw new Error(`${this.source}: tokenizer.json is not valid JSON: ${(error as Error).message}`, { cause: error });
    }
    if (!isJsonObject(parsed)) throw new Error(`${this.source}: tokenizer.json is not a JSON object`);
    checkTemplateProcessing(parsed.post_processor, this.source);
    for (const part of PATTERN_PARTS) checkRegexPatterns(parsed[part], part, this.source);
    checkUnknownToken(parsed.model, this.source);
    const base = this.#native('none'); // fails early on a tokenizer.json the library cannot read
    const config = options.config ?? Object.create(null);
    const map = options.specialTokensMap ?? Object.create(null);

    const maxLength = config.model_max_length;
    this.modelMaxLength = typeof maxLength === 'number' && maxLength > 0 && maxLength < NO_LIMIT ? Math.floor(maxLength) : undefined;
    this.truncationSide = config.truncation_side === 'left' ? 'left' : 'right';
    this.paddingSide = config.padding_side === 'left' ? 'left' : 'right';
    this.cleanUpTokenizationSpaces = config.clean_up_tokenization_spaces === true;

    const model = isJsonObject(parsed.model) ? parsed.model : undefined;
    this.#modelType = typeof model?.type === 'string' ? model.type : undefined;
    const added = Array.isArray(parsed.added_tokens) ? parsed.added_tokens.filter(isJsonObject) : [];
    const specialAdded = added.filter((t) => t.special === true && typeof t.content === 'string').map((t) => t.content as string);
    this.#specialIds = new Set(added.filter((t) => t.special === true && typeof t.id === 'number').map((t) => t.id as number));

    const fromModel: Partial<Record<SpecialTokenRole, string>> = {};
    if (typeof model?.unk_token === 'string') fromModel.unk = model.unk_token;
    else if (model?.type === 'Unigram' && typeof model.unk_id === 'number' && Array.isArray(model.vocab)) {
      const entry = model.vocab[model.unk_id];
      if (Array.isArray(entry) && typeof entry[0] === 'string') fromModel.unk = entry[0];
    }
    const post = isJsonObject(parsed.post_processor) ? parsed.post_processor : undefined;
    if (post && (post.type === 'BertProcessing' || post.type === 'RobertaProcessing')) {
      if (Array.isArray(post.cls) && typeof post.cls[0] === 'string') fromModel.cls = post.cls[0];
      if (Array.isArray(post.sep) && typeof post.sep[0] === 'string') fromModel.sep = post.sep[0];
    }

    for (const role of ROLES) {
      const key = `${role}_token`;
      const token =
        tokenContent(config[key]) ??
        tokenContent(map[key]) ??
        fromModel[role] ??
        CONVENTIONAL[role].find((t) => specialAdded.includes(t));
      if (token !== undefined) this.#special[role] = { token, id: base.tokenToId(token) ?? null };
    }
    this.chatTemplate = options.chatTemplate ?? chatTemplateOf(config.chat_template);
    if (typeof config.add_bos_token === 'boolean' || typeof config.add_eos_token === 'boolean') {
      parsed.post_processor = this.#bosEosProcessor(config.add_bos_token === true, config.add_eos_token === true);
      this.#json = JSON.stringify(parsed);
      this.#natives.clear();
    }
  }

  /**
   * transformers' update_post_processor: a tokenizer_config.json that says add_bos_token or
   * add_eos_token replaces tokenizer.json's post-processor with a template that adds exactly those
   * (a token the vocabulary lacks is not added).
   */
  #bosEosProcessor(addBos: boolean, addEos: boolean): JsonObject {
    const bos = addBos && this.#special.bos?.id != null ? this.#special.bos : undefined;
    const eos = addEos && this.#special.eos?.id != null ? this.#special.eos : undefined;
    const piece = (token: SpecialToken, typeId: number): JsonObject => ({ SpecialToken: { id: token.token, type_id: typeId } });
    const sequence = (id: 'A' | 'B', typeId: number): JsonValue[] => [
      ...(bos ? [piece(bos, typeId)] : []),
      { Sequence: { id, type_id: typeId } },
      ...(eos ? [piece(eos, typeId)] : []),
    ];
    const specialTokens: JsonObject = {};
    for (const token of [bos, eos]) if (token) specialTokens[token.token] = { id: token.token, ids: [token.id], tokens: [token.token] };
    return { type: 'TemplateProcessing', single: sequence('A', 0), pair: [...sequence('A', 0), ...sequence('B', 1)], special_tokens: specialTokens };
  }

  /** A tokenizer from tokenizer.json's text and, optionally, the config files' contents. */
  static fromString(json: string, options: TokenizerConfigOptions = {}): Tokenizer {
    return new Tokenizer(json, options);
  }

  /**
   * Reads a tokenizer.json (or the tokenizer.json in a folder), with the tokenizer_config.json and
   * special_tokens_map.json beside it when present.
   */
  static fromFile(path: string, options: FromFileOptions = {}): Tokenizer {
    let file = path;
    try {
      if (statSync(path).isDirectory()) file = join(path, 'tokenizer.json');
    } catch {
      throw new Error(`cannot read ${path}: no such file or folder`);
    }
    const json = readUtf8FileSync(file, 'a tokenizer.json');
    const folder = dirname(file);
    const configPath = options.configPath === undefined ? join(folder, 'tokenizer_config.json') : options.configPath;
    const config = configPath !== null && (options.configPath !== undefined || isFile(configPath)) ? readJsonFile(configPath) : undefined;
    const mapPath = join(folder, 'special_tokens_map.json');
    const specialTokensMap = options.configPath === undefined && isFile(mapPath) ? readJsonFile(mapPath) : undefined;
    const templatePath = join(folder, CHAT_TEMPLATE_FILE);
    const chatTemplate = isFile(templatePath) ? readUtf8FileSync(templatePath, 'a chat template') : undefined;
    return new Tokenizer(json, { config, specialTokensMap, source: file, chatTemplate });
  }

  /**
   * The tokenizer of a model folder or Hub repo (tokenizer.json, plus tokenizer_config.json and
   * special_tokens_map.json when the repo has them), through the Hub cache as fromPretrained does.
   */
  static async fromPretrained(dirOrHubId: string, options: HubDownloadOptions = {}): Promise<Tokenizer> {
    const file = await resolveModelFile(dirOrHubId, 'tokenizer.json', options);
    const configPath = await resolveModelFile(dirOrHubId, 'tokenizer_config.json', { ...options, optional: true });
    const mapPath = await resolveModelFile(dirOrHubId, 'special_tokens_map.json', { ...options, optional: true });
    const templatePath = await resolveModelFile(dirOrHubId, CHAT_TEMPLATE_FILE, { ...options, optional: true });
    const json = readUtf8FileSync(file, 'a tokenizer.json');
    return new Tokenizer(json, {
      config: configPath ? readJsonFile(configPath) : undefined,
      specialTokensMap: mapPath ? readJsonFile(mapPath) : undefined,
      source: dirOrHubId,
      chatTemplate: templatePath ? readUtf8FileSync(templatePath, 'a chat template') : undefined,
    });
  }

  #native(key: string, truncation?: Truncation): NativeTokenizer {
    let tokenizer = this.#natives.get(key);
    if (!tokenizer) {
      try {
        tokenizer = native().Tokenizer.fromString(this.#json);
      } catch (error) {
        throw new Error(`${this.source}: the tokenizers library cannot read this tokenizer.json: ${(error as Error).message}`, { cause: error });
      }
      // Whatever tokenizer.json stored, padding is the collator's job and truncation is per call (as in transformers).
      tokenizer.disablePadding();
      if (truncation) {
        tokenizer.setTruncation(truncation.maxLength, {
          strategy: NATIVE_STRATEGY[truncation.strategy] as NativeModule.TruncationStrategy,
          direction: truncation.side,
        });
      } else {
        tokenizer.disableTruncation();
      }
      this.#natives.set(key, tokenizer);
    }
    return tokenizer;
  }

  #truncation(options: EncodeOptions, what: string): Truncation | undefined {
    let { truncation } = options;
    if (truncation === undefined) truncation = options.maxLength !== undefined;
    if (truncation === false) return undefined;
    const strategy: TruncationStrategy = truncation === true ? 'longest_first' : truncation;
    if (!Object.hasOwn(NATIVE_STRATEGY, strategy)) {
      throw new Error(`${what}: unknown truncation ${JSON.stringify(strategy)} (use true, false, 'longest_first', 'only_first' or 'only_second')`);
    }
    const maxLength = options.maxLength ?? this.modelMaxLength;
    if (maxLength === undefined) {
      throw new Error(`${what}: truncation needs maxLength (${this.source} has no model_max_length in tokenizer_config.json)`);
    }
    positiveInteger(maxLength, `${what}: maxLength`);
    const side = options.truncationSide ?? this.truncationSide;
    if (side !== 'left' && side !== 'right') throw new Error(`${what}: truncationSide must be 'left' or 'right', got ${JSON.stringify(side)}`);
    return { strategy, maxLength, side };
  }

  #tokenizerFor(options: EncodeOptions, what: string): { tokenizer: NativeTokenizer; truncation?: Truncation } {
    const truncation = this.#truncation(options, what);
    const key = truncation ? `${truncation.strategy}/${truncation.maxLength}/${truncation.side}` : 'none';
    return { tokenizer: this.#native(key, truncation), truncation };
  }

  static #checkText(text: unknown, what: string): asserts text is string {
    if (typeof text !== 'string') throw new TypeError(`${what} must be a string, got ${text === null ? 'null' : typeof text}`);
  }

  static #fail(error: unknown, truncation: Truncation | undefined, what: string): never {
    const message = (error as Error)?.message ?? String(error);
    if (truncation && /truncat/i.test(message)) {
      throw new Error(`${what}: cannot truncate to maxLength ${truncation.maxLength} with '${truncation.strategy}': ${message}`);
    }
    throw new Error(`${what}: ${message}`);
  }

  /**
   * `text` cut to about `cap` characters on the side truncation removes — at a whitespace in the
   * last quarter before the cut when there is one, never inside a surrogate pair — or itself.
   */
  static #capText(text: string, truncation: Truncation | undefined, cap: number): string {
    if (!truncation || text.length <= cap) return text;
    const slack = cap >>> 2;
    if (truncation.side === 'right') {
      const space = text.slice(cap - slack, cap).search(/\s\S*$/);
      if (space >= 0) return text.slice(0, cap - slack + space);
      return text.slice(0, /[\ud800-\udbff]/.test(text[cap - 1]) ? cap - 1 : cap);
    }
    const start = text.length - cap;
    const space = text.slice(start, start + slack).search(/\s/);
    if (space >= 0) return text.slice(start + space);
    return text.slice(/[\udc00-\udfff]/.test(text[start]) ? start + 1 : start);
  }

  /** Whether an encoding of `capped` is the encoding of `inputs`: nothing was cut, or what was cut lies beyond the tokens kept. */
  static #complete(encoding: Encoding, truncation: Truncation | undefined, inputs: readonly string[], capped: readonly string[]): boolean {
    return !truncation || encoding.inputIds.length >= truncation.maxLength || capped.every((text, k) => text === inputs[k]);
  }

  /** Encodes `inputs` (a text, or a text and its pair) cut to `cap` characters, and four times more until the cut changes nothing (see MAX_CHARS_PER_TOKEN). */
  static async #encodeCapped(tokenizer: NativeTokenizer, truncation: Truncation | undefined, inputs: readonly string[], addSpecialTokens: boolean, cap: number): Promise<Encoding> {
    for (; ; cap *= 4) {
      const capped = inputs.map((input) => Tokenizer.#capText(input, truncation, cap));
      const encoding = Tokenizer.#convert(await tokenizer.encode(capped[0], capped[1] ?? null, { addSpecialTokens }));
      if (Tokenizer.#complete(encoding, truncation, inputs, capped)) return encoding;
    }
  }

  static #firstCap(truncation: Truncation | undefined): number {
    return truncation ? truncation.maxLength * MAX_CHARS_PER_TOKEN : Infinity;
  }

  static #convert(encoding: NativeEncoding): Encoding {
    const inputIds = encoding.getIds();
    return { inputIds, attentionMask: new Array<number>(inputIds.length).fill(1), tokenTypeIds: encoding.getTypeIds() };
  }

  /**
   * Encodes a text or a pair of texts: `encode(text)`, `encode(text, pair)`, `encode(text, options)`
   * or `encode(text, pair, options)`.
   */
  async encode(text: string, pair?: string | null | EncodeOptions, options: EncodeOptions = {}): Promise<Encoding> {
    if (pair !== null && typeof pair === 'object') [pair, options] = [undefined, pair];
    Tokenizer.#checkText(text, 'encode: text');
    if (pair !== undefined && pair !== null) Tokenizer.#checkText(pair, 'encode: pair');
    const { tokenizer, truncation } = this.#tokenizerFor(options, 'encode');
    const inputs = pair === undefined || pair === null ? [text] : [text, pair];
    try {
      return await Tokenizer.#encodeCapped(tokenizer, truncation, inputs, options.addSpecialTokens ?? true, Tokenizer.#firstCap(truncation));
    } catch (error) {
      Tokenizer.#fail(error, truncation, 'encode');
    }
  }

  /**
   * Encodes many texts (and their pairs) at once, in parallel: `encodeBatch(texts)`,
   * `encodeBatch(texts, pairs)`, `encodeBatch(texts, options)` or `encodeBatch(texts, pairs, options)`.
   * An input that cannot be encoded (e.g. too short for 'only_second') fails the call, naming its index.
   */
  async encodeBatch(texts: readonly string[], pairs?: readonly string[] | null | EncodeOptions, options: EncodeOptions = {}): Promise<Encoding[]> {
    if (pairs !== null && pairs !== undefined && !Array.isArray(pairs)) [pairs, options] = [undefined, pairs as EncodeOptions];
    const results = await this.encodeBatchSettled(texts, pairs as readonly string[] | null | undefined, options);
    return results.map((result, i) => {
      if (result instanceof Error) throw new Error(result.message.replace(/^encode: /, `encodeBatch: input ${i}: `));
      return result;
    });
  }

  /**
   * encodeBatch that gives an Error in place of each input that cannot be encoded instead of
   * failing the whole call (datasets use it to report or skip bad rows).
   */
  async encodeBatchSettled(texts: readonly string[], pairs?: readonly string[] | null, options: EncodeOptions = {}): Promise<(Encoding | Error)[]> {
    if (!Array.isArray(texts)) throw new TypeError('encodeBatch: texts must be an array of strings');
    if (pairs && pairs.length !== texts.length) {
      throw new Error(`encodeBatch: ${texts.length} texts but ${pairs.length} pairs`);
    }
    texts.forEach((text, i) => Tokenizer.#checkText(text, `encodeBatch: text ${i}`));
    pairs?.forEach((pair, i) => Tokenizer.#checkText(pair, `encodeBatch: pair ${i}`));
    const { tokenizer, truncation } = this.#tokenizerFor(options, 'encodeBatch');
    const encodeOptions = { addSpecialTokens: options.addSpecialTokens ?? true };
    const settle = (error: unknown): Error => {
      try {
        Tokenizer.#fail(error, truncation, 'encode');
      } catch (wrapped) {
        return wrapped as Error;
      }
    };
    const out: (Encoding | Error)[] = new Array(texts.length);
    const cap = Tokenizer.#firstCap(truncation);
    const cappedTexts = texts.map((text) => Tokenizer.#capText(text, truncation, cap));
    const cappedPairs = pairs?.map((pair) => Tokenizer.#capText(pair, truncation, cap));
    /** Inputs whose cut text gave too few tokens, encoded again with longer cuts once the batch is done. */
    const again: number[] = [];
    const checked = (encoding: NativeEncoding, i: number): Encoding | Error => {
      const inputs = pairs ? [texts[i], pairs[i]] : [texts[i]];
      const capped = cappedPairs ? [cappedTexts[i], cappedPairs[i]] : [cappedTexts[i]];
      const converted = Tokenizer.#convert(encoding);
      if (!Tokenizer.#complete(converted, truncation, inputs, capped)) again.push(i);
      return converted;
    };
    const encodeAgain = async (): Promise<(Encoding | Error)[]> => {
      for (const i of again) {
        const inputs = pairs ? [texts[i], pairs[i]] : [texts[i]];
        out[i] = await Tokenizer.#encodeCapped(tokenizer, truncation, inputs, encodeOptions.addSpecialTokens, cap * 4).catch(settle);
      }
      return out;
    };
    if (cappedPairs) {
      // The binding's encodeBatch takes single strings only (and its postProcess splits longest_first
      // pairs differently from encode), so pairs go through encode, many at a time on libuv's pool.
      for (let start = 0; start < texts.length; start += PAIR_WINDOW) {
        const end = Math.min(texts.length, start + PAIR_WINDOW);
        const pending: Promise<void>[] = [];
        for (let i = start; i < end; i++) {
          pending.push(
            tokenizer.encode(cappedTexts[i], cappedPairs[i], encodeOptions).then(
              (encoding) => void (out[i] = checked(encoding, i)),
              (error) => void (out[i] = settle(error)),
            ),
          );
        }
        await Promise.all(pending);
      }
      return encodeAgain();
    }
    // One bad input fails a whole native batch: then halve the range until the bad inputs are alone.
    const run = async (start: number, end: number): Promise<void> => {
      try {
        const encodings = await tokenizer.encodeBatch(cappedTexts.slice(start, end), encodeOptions);
        encodings.forEach((encoding, k) => (out[start + k] = checked(encoding, start + k)));
      } catch (error) {
        if (end - start === 1) {
          out[start] = settle(error);
          return;
        }
        const middle = (start + end) >>> 1;
        await run(start, middle);
        await run(middle, end);
      }
    };
    for (let start = 0; start < texts.length; start += BATCH_CHUNK) await run(start, Math.min(texts.length, start + BATCH_CHUNK));
    return encodeAgain();
  }

  /** The tokens (wordpieces) of a text, without special tokens. */
  async tokenize(text: string, pair?: string | null): Promise<string[]> {
    const encoding = await this.encode(text, pair ?? null, { addSpecialTokens: false });
    return this.convertIdsToTokens(encoding.inputIds);
  }

  /** Text from ids, as transformers' decode. */
  async decode(ids: readonly number[], options: DecodeOptions = {}): Promise<string> {
    const text = await this.#native('none').decode([...ids], options.skipSpecialTokens ?? false);
    return this.#cleanUp(text, options);
  }

  async decodeBatch(batch: readonly (readonly number[])[], options: DecodeOptions = {}): Promise<string[]> {
    const texts = await this.#native('none').decodeBatch(batch.map((ids) => [...ids]), options.skipSpecialTokens ?? false);
    return texts.map((text) => this.#cleanUp(text, options));
  }

  #cleanUp(text: string, options: DecodeOptions): string {
    // transformers 5 skips the clean-up for BPE models, where it would delete real spaces.
    const clean = (options.cleanUpTokenizationSpaces ?? this.cleanUpTokenizationSpaces) && this.#modelType !== 'BPE';
    return clean ? cleanUpTokenization(text) : text;
  }

  tokenToId(token: string): number | null {
    return this.#native('none').tokenToId(token) ?? null;
  }

  idToToken(id: number): string | null {
    return this.#native('none').idToToken(id) ?? null;
  }

  convertIdsToTokens(ids: readonly number[]): string[] {
    const base = this.#native('none');
    return ids.map((id) => base.idToToken(id) ?? '');
  }

  /** Vocabulary size including added tokens (transformers' `len(tokenizer)`). */
  get vocabSize(): number {
    return this.#native('none').getVocabSize(true);
  }

  /** The special tokens found, by role (config first, then tokenizer.json). */
  get specialTokens(): Readonly<Partial<Record<SpecialTokenRole, SpecialToken>>> {
    return this.#special;
  }

  /** Ids of tokenizer.json's special added tokens ([PAD], [CLS], …). */
  get allSpecialIds(): number[] {
    return [...this.#specialIds].sort((a, b) => a - b);
  }

  get padTokenId(): number | null {
    return this.#special.pad?.id ?? null;
  }
  get clsTokenId(): number | null {
    return this.#special.cls?.id ?? null;
  }
  get sepTokenId(): number | null {
    return this.#special.sep?.id ?? null;
  }
  get unkTokenId(): number | null {
    return this.#special.unk?.id ?? null;
  }
  get maskTokenId(): number | null {
    return this.#special.mask?.id ?? null;
  }
  get bosTokenId(): number | null {
    return this.#special.bos?.id ?? null;
  }
  get eosTokenId(): number | null {
    return this.#special.eos?.id ?? null;
  }
  get padToken(): string | null {
    return this.#special.pad?.token ?? null;
  }
}

/**
 * A TemplateProcessing post-processor must define every special token its templates name, with as
 * many ids as tokens: the tokenizers library accepts such a file and then panics when it encodes
 * (an abort of the whole process, not an error).
 */
function checkTemplateProcessing(post: JsonValue | undefined, source: string): void {
  if (!isJsonObject(post)) return;
  if (post.type === 'Sequence' && Array.isArray(post.processors)) {
    for (const processor of post.processors) checkTemplateProcessing(processor, source);
    return;
  }
  if (post.type !== 'TemplateProcessing') return;
  const defined = isJsonObject(post.special_tokens) ? post.special_tokens : {};
  for (const [name, token] of Object.entries(defined)) {
    const ids = isJsonObject(token) && Array.isArray(token.ids) ? token.ids : null;
    const tokens = isJsonObject(token) && Array.isArray(token.tokens) ? token.tokens : null;
    if (!ids || !tokens || ids.length === 0 || ids.length !== tokens.length || !ids.every((id) => Number.isInteger(id) && (id as number) >= 0)) {
      throw new Error(`${source}: post_processor.special_tokens['${name}'] needs as many ids (non-negative integers) as tokens, and at least one`);
    }
  }
  for (const side of ['single', 'pair'] as const) {
    for (const piece of Array.isArray(post[side]) ? post[side] : []) {
      const special = isJsonObject(piece) && isJsonObject(piece.SpecialToken) ? piece.SpecialToken : undefined;
      if (special && (typeof special.id !== 'string' || !Object.hasOwn(defined, special.id))) {
        throw new Error(`${source}: post_processor's ${side} template uses the special token ${JSON.stringify(special.id)}, which its special_tokens does not define`);
      }
    }
  }
}

/** A model's unk_token must be in its vocabulary: the tokenizers library fails every text with an unknown word otherwise, naming no file. */
function checkUnknownToken(model: JsonValue | undefined, source: string): void {
  if (!isJsonObject(model) || typeof model.unk_token !== 'string' || !isJsonObject(model.vocab)) return;
  if (!Object.hasOwn(model.vocab, model.unk_token)) throw new Error(`${source}: model.unk_token ${JSON.stringify(model.unk_token)} is not in model.vocab`);
}

/** The parts of a tokenizer.json that hold Split / Replace patterns (the model part holds the vocabulary, no patterns). */
const PATTERN_PARTS = ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder'] as const;

/**
 * Every `{"Regex": …}` pattern under `value` (at JSON path `path`) must be free of the quantifier
 * nesting that backtracks exponentially: the tokenizers library runs it with Oniguruma, whose
 * retry limit then panics and aborts the process at encode time (`(a+)+` on a line of 30 a's and
 * a '!'), instead of returning an error. A Replace normalizer must not multiply a text's length:
 * its pattern cannot match the empty text (the content would go between every two characters)
 * and its content is at most MAX_CHARS_PER_TOKEN characters — texts are cut to that many per
 * token before the normalizer runs, and a 10,000-character content made a 2,000-character line
 * twenty million.
 */
function checkRegexPatterns(value: JsonValue | undefined, path: string, source: string): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => checkRegexPatterns(item, `${path}[${i}]`, source));
    return;
  }
  if (!isJsonObject(value)) return;
  if (value.type === 'Replace') {
    const pattern = isJsonObject(value.pattern) ? value.pattern : {};
    const empty = typeof pattern.String === 'string' ? pattern.String === '' : typeof pattern.Regex === 'string' && matchesEmptyText(pattern.Regex) === true;
    if (empty) throw new Error(`${source}: ${path}.pattern ${JSON.stringify(value.pattern)} matches the empty text, so Replace would insert its content between every two characters`);
    if (typeof value.content === 'string' && value.content.length > MAX_CHARS_PER_TOKEN) {
      throw new Error(`${source}: ${path}.content is ${value.content.length.toLocaleString('en-US')} characters long; a Replace content longer than ${MAX_CHARS_PER_TOKEN} characters multiplies the text's length`);
    }
  }
  for (const [key, child] of Object.entries(value)) {
    if (key === 'Regex' && typeof child === 'string') {
      const hazard = catastrophicBacktracking(child);
      if (hazard) throw new Error(`${source}: ${path}.Regex ${JSON.stringify(child)} can take exponential time on some texts and abort the process in the tokenizers library: ${hazard}`);
    } else {
      checkRegexPatterns(child, `${path}.${key}`, source);
    }
  }
}

