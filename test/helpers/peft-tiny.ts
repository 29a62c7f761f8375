/**
 * What the PEFT tests share: a tiny BERT classifier (hidden 16, 2 layers, 3 labels) in eval mode, the
 * two-sentence batch they feed it, its logits as plain numbers, and the largest difference of two outputs.
 */
import assert from 'node:assert/strict';

import { manualSeed, models, noGrad, tensor, tidy, type Tensor } from 'finetune';

export const TINY_BERT_CONFIG: Partial<models.BertConfig> = {
  vocabSize: 50,
  hiddenSize: 16,
  numHiddenLayers: 2,
  numAttentionHeads: 2,
  intermediateSize: 32,
  maxPositionEmbeddings: 32,
  numLabels: 3,
};

/** The tiny BERT, the same weights for the same seed, in eval mode (no dropout). */
export function tinyBert(seed = 0): models.BertForSequenceClassification {
  manualSeed(seed);
  return new models.BertForSequenceClassification(TINY_BERT_CONFIG).eval();
}

/** Two sentences of 5 and 4 tokens (the second padded), as BERT takes them. */
export const tinyBertInputs = () => ({
  inputIds: tensor(
    [
      [1, 5, 7, 9, 2],
      [1, 3, 4, 2, 0],
    ],
    { dtype: 'int64' },
  ),
  attentionMask: tensor(
    [
      [1, 1, 1, 1, 1],
      [1, 1, 1, 1, 0],
    ],
    { dtype: 'int64' },
  ),
});

/** The model's logits for tinyBertInputs(), flattened. */
export function logits(model: { forward(i: unknown): unknown }): number[] {
  return noGrad(() =>
    tidy(() => ((model.forward(tinyBertInputs()) as { logits: Tensor }).logits.toArray() as number[][]).flat()),
  );
}

/** max |a[i] − b[i]| of two outputs of the same length. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
