/**
 * Dynamic padding for text batches, as transformers' DataCollatorWithPadding: each batch is padded
 * to its own longest example (optionally rounded up to a multiple, e.g. 8 for tensor cores), with the
 * tokenizer's pad id, attention mask 0 and token type 0 on the padding, and labels stacked as
 * `labels`: int64 when every label is an integer, float32 otherwise (torch.tensor's rule), unless
 * `labelDtype` says.
 */
import { fromTypedArray, type Tensor } from '../tensor/index.js';
import type { TextSide, Tokenizer } from './tokenizer.js';

/** What a text example needs for batching; any extra fields are ignored. */
export interface TextExample {
  inputIds: ArrayLike<number>;
  /** Default zeros. */
  tokenTypeIds?: ArrayLike<number>;
  /** Default ones (the example's own tokens); 0 marks tokens the model should ignore. */
  attentionMask?: ArrayLike<number>;
  /** A class id, a regression value or a multi-label vector. */
  label?: number | ArrayLike<number>;
}

/** A padded batch: [B, L] int64 tensors, and labels ([B] or [B, numLabels]) when the examples have them. */
export interface TextBatch {
  inputIds: Tensor;
  attentionMask: Tensor;
  tokenTypeIds: Tensor;
  labels?: Tensor;
}

export interface TextCollateOptions {
  /** The id padding uses (the tokenizer's pad id). */
  padTokenId: number;
  /** Token type on padding (default 0). */
  padTokenTypeId?: number;
  /** Round the padded length up to a multiple of this. */
  padToMultipleOf?: number;
  /** Pad every batch to this length instead of its longest (transformers' padding='max_length'); longer examples are an error. */
  maxLength?: number;
  /** Where padding goes (default right; the tokenizer's padding_side through textCollator). */
  paddingSide?: TextSide;
  /** Labels' dtype; default int64 if every label value is an integer, else float32. */
  labelDtype?: 'int64' | 'float32';
}

function positiveInteger(value: number | undefined, what: string): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) throw new RangeError(`collateText: ${what} must be a positive integer, got ${value}`);
}

/** Pads and stacks examples into a batch of tensors (the caller owns them). */
export function collateText(examples: readonly TextExample[], options: TextCollateOptions): TextBatch {
  const count = examples.length;
  if (count === 0) throw new Error('collateText: empty batch');
  const { padTokenId, padTokenTypeId = 0, padToMultipleOf, maxLength } = options;
  const side = options.paddingSide ?? 'right';
  if (!Number.isInteger(padTokenId)) throw new Error(`collateText: padTokenId must be an integer, got ${padTokenId} (does the tokenizer have a pad token?)`);
  if (side !== 'right' && side !== 'left') throw new Error(`collateText: paddingSide must be 'left' or 'right', got ${JSON.stringify(side)}`);
  positiveInteger(padToMultipleOf, 'padToMultipleOf');
  positiveInteger(maxLength, 'maxLength');

  let longest = 0;
  examples.forEach((example, i) => {
    if (!example || example.inputIds === undefined) throw new Error(`collateText: example ${i} has no inputIds`);
    const n = example.inputIds.length;
    for (const [name, values] of [['tokenTypeIds', example.tokenTypeIds], ['attentionMask', example.attentionMask]] as const) {
      if (values !== undefined && values.length !== n) throw new Error(`collateText: example ${i} has ${n} inputIds but ${values.length} ${name}`);
    }
    if (maxLength !== undefined && n > maxLength) throw new Error(`collateText: example ${i} has ${n} tokens, more than maxLength ${maxLength}`);
    longest = Math.max(longest, n);
  });
  let length = maxLength ?? longest;
  if (padToMultipleOf !== undefined) length = Math.ceil(length / padToMultipleOf) * padToMultipleOf;

  const ids = new BigInt64Array(count * length).fill(BigInt(padTokenId));
  const mask = new BigInt64Array(count * length);
  const types = new BigInt64Array(count * length);
  if (padTokenTypeId !== 0) types.fill(BigInt(padTokenTypeId));
  examples.forEach((example, i) => {
    const n = example.inputIds.length;
    const base = i * length + (side === 'left' ? length - n : 0);
    for (let j = 0; j < n; j++) {
      ids[base + j] = BigInt(example.inputIds[j]);
      mask[base + j] = example.attentionMask ? BigInt(example.attentionMask[j]) : 1n;
      types[base + j] = example.tokenTypeIds ? BigInt(example.tokenTypeIds[j]) : 0n;
    }
  });
  // Labels are checked before any tensor exists, so that a bad batch leaks nothing.
  const withLabels = examples.filter((example) => example.label !== undefined && example.label !== null).length;
  if (withLabels > 0 && withLabels < count) throw new Error(`collateText: ${withLabels} of ${count} examples have a label; give all or none`);
  let labels: { flat: Float64Array; shape: number[]; dtype: 'int64' | 'float32' } | undefined;
  if (withLabels === count) {
    const first = examples[0].label!;
    const width = typeof first === 'number' ? 0 : first.length;
    const flat = new Float64Array(count * Math.max(width, 1));
    examples.forEach((example, i) => {
      const label = example.label!;
      if ((typeof label === 'number') !== (width === 0) || (typeof label !== 'number' && label.length !== width)) {
        throw new Error(`collateText: example ${i}'s label does not match example 0's (${width === 0 ? 'a number' : `${width} values`})`);
      }
      if (typeof label === 'number') flat[i] = label;
      else for (let j = 0; j < width; j++) flat[i * width + j] = label[j];
    });
    const integers = flat.every(Number.isInteger);
    const dtype = options.labelDtype ?? (integers ? 'int64' : 'float32');
    if (dtype === 'int64' && !integers) throw new Error('collateText: labelDtype int64 but a label is not an integer');
    labels = { flat, shape: width === 0 ? [count] : [count, width], dtype };
  }

  const shape = [count, length];
  const batch: TextBatch = {
    inputIds: fromTypedArray(ids, shape, { dtype: 'int64' }),
    attentionMask: fromTypedArray(mask, shape, { dtype: 'int64' }),
    tokenTypeIds: fromTypedArray(types, shape, { dtype: 'int64' }),
  };
  if (labels) {
    batch.labels = labels.dtype === 'int64'
      ? fromTypedArray(BigInt64Array.from(labels.flat, (v) => BigInt(v)), labels.shape, { dtype: 'int64' })
      : fromTypedArray(Float32Array.from(labels.flat), labels.shape, { dtype: 'float32' });
  }
  return batch;
}

/**
 * A collate function bound to a tokenizer (its pad id and padding side), e.g. for a DataLoader:
 * `textCollator(tokenizer, { padToMultipleOf: 8 })`.
 */
export function textCollator(
  tokenizer: Tokenizer | { padTokenId: number | null; paddingSide?: TextSide },
  options: Omit<TextCollateOptions, 'padTokenId'> & { padTokenId?: number } = {},
): (examples: readonly TextExample[]) => TextBatch {
  const padTokenId = options.padTokenId ?? tokenizer.padTokenId;
  if (padTokenId === null || padTokenId === undefined) {
    throw new Error('textCollator: the tokenizer has no pad token; give padTokenId (e.g. the eos id)');
  }
  const settings: TextCollateOptions = { ...options, padTokenId, paddingSide: options.paddingSide ?? tokenizer.paddingSide ?? 'right' };
  return (examples) => collateText(examples, settings);
}
