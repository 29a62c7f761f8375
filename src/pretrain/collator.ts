/**
 * Masked-language-model batches, as transformers' DataCollatorForLanguageModeling (and, with
 * `wholeWordMask`, DataCollatorForWholeWordMask): each batch is padded to its longest example,
 * then every token that is neither special ([CLS], [SEP], …) nor padding is selected with
 * probability `mlmProbability` (0.15); of the selected tokens 80 % become [MASK], 10 % a random
 * token of the vocabulary and 10 % stay as they are (`maskReplaceProb`, `randomReplaceProb`).
 * `labels` holds the original id at selected positions and -100 everywhere else, so the loss
 * (cross entropy with ignore_index -100) only counts selected tokens.
 *
 * The draws come from the collator's own seeded generator (mulberry32), not libtorch's: a
 * collator built with the same seed and fed the same batches masks them identically, whatever
 * the model draws. `setEpoch`/`reseed` restart the stream.
 */
import { fromTypedArray, type Tensor } from '../tensor/index.js';
import type { TextBatch, TextExample } from '../data/collate-text.js';
import { mixSeeds, mulberry32, type Rng } from '../data/random.js';
import type { Tokenizer } from '../data/tokenizer.js';

export interface MlmCollatorOptions {
  /** The tokenizer's pad id. */
  padTokenId: number;
  /** The [MASK] id. */
  maskTokenId: number;
  /** Random replacements are drawn from [0, vocabSize) (transformers: len(tokenizer)). */
  vocabSize: number;
  /** Ids that are never selected (the tokenizer's special tokens; padding is never selected either). */
  specialTokenIds?: Iterable<number>;
  /** Fraction of tokens selected (default 0.15). */
  mlmProbability?: number;
  /** Of the selected tokens, the fraction replaced by [MASK] (default 0.8). */
  maskReplaceProb?: number;
  /** Of the selected tokens, the fraction replaced by a random token (default 0.1); the rest are kept. */
  randomReplaceProb?: number;
  /** Select whole words: a token for which `isContinuation(id)` is true (WordPiece's ##…) joins the word before it. */
  wholeWordMask?: boolean;
  isContinuation?: (id: number) => boolean;
  /** Seed of the masking stream (default 0). */
  seed?: number;
  padToMultipleOf?: number;
}

/** A padded MLM batch: [B, L] int64 tensors; labels -100 except at selected positions. */
export interface MlmBatch extends TextBatch {
  labels: Tensor;
}

/** What one batch's masking did, in numbers (for tests and reports). */
export interface MaskedIds {
  inputIds: number[][];
  labels: number[][];
}

function probability(value: number, what: string): number {
  if (!(value >= 0 && value <= 1)) throw new RangeError(`MlmCollator: ${what} must be in [0, 1], got ${value}`);
  return value;
}

export class MlmCollator {
  readonly padTokenId: number;
  readonly maskTokenId: number;
  readonly vocabSize: number;
  readonly specialTokenIds: ReadonlySet<number>;
  readonly mlmProbability: number;
  readonly maskReplaceProb: number;
  readonly randomReplaceProb: number;
  readonly wholeWordMask: boolean;
  readonly seed: number;
  readonly #isContinuation: (id: number) => boolean;
  readonly #padToMultipleOf: number | undefined;
  #rng: Rng;

  constructor(options: MlmCollatorOptions) {
    if (!Number.isInteger(options.padTokenId))
      throw new Error('MlmCollator: padTokenId must be an integer (does the tokenizer have a pad token?)');
    if (!Number.isInteger(options.maskTokenId))
      throw new Error('MlmCollator: maskTokenId must be an integer (does the tokenizer have a [MASK] token?)');
    if (!Number.isInteger(options.vocabSize) || options.vocabSize < 1)
      throw new Error(`MlmCollator: vocabSize must be a positive integer, got ${options.vocabSize}`);
    this.padTokenId = options.padTokenId;
    this.maskTokenId = options.maskTokenId;
    this.vocabSize = options.vocabSize;
    this.specialTokenIds = new Set([...(options.specialTokenIds ?? []), options.padTokenId]);
    this.mlmProbability = probability(options.mlmProbability ?? 0.15, 'mlmProbability');
    this.maskReplaceProb = probability(options.maskReplaceProb ?? 0.8, 'maskReplaceProb');
    this.randomReplaceProb = probability(options.randomReplaceProb ?? 0.1, 'randomReplaceProb');
    if (this.maskReplaceProb + this.randomReplaceProb > 1 + 1e-12)
      throw new RangeError('MlmCollator: maskReplaceProb + randomReplaceProb must be at most 1');
    this.wholeWordMask = options.wholeWordMask ?? false;
    if (this.wholeWordMask && !options.isContinuation)
      throw new Error("MlmCollator: wholeWordMask needs isContinuation (mlmCollator(tokenizer) gives WordPiece's ##)");
    this.#isContinuation = options.isContinuation ?? (() => false);
    this.#padToMultipleOf = options.padToMultipleOf;
    this.seed = options.seed ?? 0;
    this.#rng = mulberry32(this.seed);
  }

  /** Restarts the masking stream at (seed, epoch): the same epoch masks the same batches the same way. */
  setEpoch(epoch: number): void {
    this.#rng = mulberry32(mixSeeds(this.seed, epoch));
  }

  /** Restarts the stream from `seed` (default the collator's). */
  reseed(seed: number = this.seed): void {
    this.#rng = mulberry32(seed);
  }

  /**
   * Masks one sequence in place (positions `length` and beyond are padding): returns its labels.
   * HF's order of draws: selection for every position, then [MASK] among the selected, then random among the rest.
   */
  maskSequence(ids: number[]): number[] {
    const rng = this.#rng;
    const n = ids.length;
    const labels = new Array<number>(n).fill(-100);
    const selected = new Array<boolean>(n).fill(false);
    if (this.wholeWordMask) {
      // Words: a maskable token starts one unless it continues the word before it.
      let wordSelected = false;
      let inWord = false;
      for (let i = 0; i < n; i++) {
        if (this.specialTokenIds.has(ids[i])) {
          inWord = false;
          continue;
        }
        if (!inWord || !this.#isContinuation(ids[i])) wordSelected = rng() < this.mlmProbability;
        inWord = true;
        selected[i] = wordSelected;
      }
    } else {
      for (let i = 0; i < n; i++) {
        const draw = rng();
        if (!this.specialTokenIds.has(ids[i])) selected[i] = draw < this.mlmProbability;
      }
    }
    const randomShare = this.maskReplaceProb < 1 ? this.randomReplaceProb / (1 - this.maskReplaceProb) : 0;
    for (let i = 0; i < n; i++) {
      if (!selected[i]) continue;
      labels[i] = ids[i];
      if (rng() < this.maskReplaceProb) ids[i] = this.maskTokenId;
      else if (rng() < randomShare) ids[i] = Math.floor(rng() * this.vocabSize);
    }
    return labels;
  }

  /** Pads and masks a batch of examples, as plain arrays (no tensors). */
  maskBatch(examples: readonly TextExample[]): MaskedIds & { attentionMask: number[][]; tokenTypeIds: number[][] } {
    if (examples.length === 0) throw new Error('MlmCollator: empty batch');
    let longest = 0;
    for (const e of examples) longest = Math.max(longest, e.inputIds.length);
    const m = this.#padToMultipleOf;
    if (m) longest = Math.ceil(longest / m) * m;
    const inputIds: number[][] = [];
    const labels: number[][] = [];
    const attentionMask: number[][] = [];
    const tokenTypeIds: number[][] = [];
    for (const e of examples) {
      const n = e.inputIds.length;
      const ids = Array.from(e.inputIds);
      const mask = e.attentionMask ? Array.from(e.attentionMask) : new Array<number>(n).fill(1);
      const types = e.tokenTypeIds ? Array.from(e.tokenTypeIds) : new Array<number>(n).fill(0);
      for (let i = n; i < longest; i++) {
        ids.push(this.padTokenId);
        mask.push(0);
        types.push(0);
      }
      // Padding (attention 0) is never selected, whatever its id.
      const maskable = ids.map((id, i) => (mask[i] === 0 ? this.padTokenId : id));
      const seqLabels = this.maskSequence(maskable);
      for (let i = 0; i < longest; i++) if (mask[i] !== 0) ids[i] = maskable[i];
      inputIds.push(ids);
      labels.push(seqLabels);
      attentionMask.push(mask);
      tokenTypeIds.push(types);
    }
    return { inputIds, labels, attentionMask, tokenTypeIds };
  }

  /** The collate function: { inputIds, attentionMask, tokenTypeIds, labels } as int64 [B, L] tensors (the caller's to dispose). */
  collate(examples: readonly TextExample[]): MlmBatch {
    const b = this.maskBatch(examples);
    const rows = b.inputIds.length;
    const cols = b.inputIds[0].length;
    const tensor = (values: number[][]): Tensor => {
      const flat = new BigInt64Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) flat[r * cols + c] = BigInt(values[r][c]);
      return fromTypedArray(flat, [rows, cols]);
    };
    return {
      inputIds: tensor(b.inputIds),
      attentionMask: tensor(b.attentionMask),
      tokenTypeIds: tensor(b.tokenTypeIds),
      labels: tensor(b.labels),
    };
  }

  /** `collate` bound, for the Trainer's `collate` option. */
  get collator(): (examples: unknown[]) => MlmBatch {
    return (examples) => this.collate(examples as TextExample[]);
  }
}

/** An MlmCollator for a tokenizer: its pad, [MASK] and special ids, its vocabulary size and WordPiece's ## continuation. */
export function mlmCollator(tokenizer: Tokenizer, options: Partial<MlmCollatorOptions> = {}): MlmCollator {
  const pad = tokenizer.padTokenId;
  const maskId = tokenizer.maskTokenId;
  if (pad === null) throw new Error(`mlmCollator: the tokenizer (${tokenizer.source}) has no pad token`);
  if (maskId === null)
    throw new Error(
      `mlmCollator: the tokenizer (${tokenizer.source}) has no mask token; masked-language modelling needs one`,
    );
  const continuation = new Map<number, boolean>();
  return new MlmCollator({
    padTokenId: pad,
    maskTokenId: maskId,
    vocabSize: tokenizer.vocabSize,
    specialTokenIds: tokenizer.allSpecialIds,
    isContinuation: (id) => {
      let value = continuation.get(id);
      if (value === undefined) {
        value = tokenizer.idToToken(id)?.startsWith('##') ?? false;
        continuation.set(id, value);
      }
      return value;
    },
    ...options,
  });
}
