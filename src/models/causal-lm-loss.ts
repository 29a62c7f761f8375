/** The loss transformers' *ForCausalLM heads compute (loss_utils.ForCausalLMLoss). */
import { functional as F, type Tensor } from '../tensor/index.js';

/** Labels with this value are not predicted (prompt tokens, padding), as in transformers. */
export const IGNORE_INDEX = -100;

/**
 * Next-token cross entropy: the logits at position t ([batch, tokens, vocab]) predict the label at
 * t + 1 ([batch, tokens] int64), so the labels are the input ids themselves and the shift happens
 * here, as transformers does inside the model. Labels equal to -100 are left out of the mean; the
 * logits are upcast to float32 first (a bf16/fp16 forward still averages in float32).
 */
export function causalLmLoss(logits: Tensor, labels: Tensor): Tensor {
  const [batch, tokens, vocab] = logits.shape;
  if (labels.shape.length !== 2 || labels.shape[0] !== batch || labels.shape[1] !== tokens)
    throw new Error(
      `causal-LM labels must be [${batch}, ${tokens}] like the logits' first two dims, got [${labels.shape.join(', ')}]`,
    );
  const predicted = logits
    .narrow(1, 0, tokens - 1)
    .to('float32')
    .reshape([-1, vocab]);
  const next = labels
    .narrow(1, 1, tokens - 1)
    .to('int64')
    .reshape([-1]);
  return F.crossEntropy(predicted, next, { ignoreIndex: IGNORE_INDEX });
}
