/** The loss transformers' *ForCausalLM heads compute (loss_utils.ForCausalLMLoss). */
import { functional as F, type Tensor } from '../tensor/index.js';

/** Labels with this value are not predicted (prompt tokens, padding), as in transformers. */
export const IGNORE_INDEX = -100;

/**
 * Next-token cross entropy: the logits at position t ([batch, tokens, vocab]) predict the label at
 * t + 1 ([batch, tokens] int64), so the labels are the input ids themselves and the shift happens
 * here, as transformers does inside the model. Labels equal to -100 are left out of the mean; the
 * logits are upcast to float32 first (a bf16/fp16 forward still averages in float32).
 *
 * As transformers, the labels move left and take -100 at each row's end, rather than the logits
 * losing their last position: the logits are read in place (a view), where a narrowed copy of them —
 * batch·tokens·vocab floats, 200 MB for GPT-2 at B4 T256 — and its zero-filled gradient would cost
 * two full passes over memory each step.
 */
export function causalLmLoss(logits: Tensor, labels: Tensor): Tensor {
  const [batch, tokens, vocab] = logits.shape;
  if (labels.shape.length !== 2 || labels.shape[0] !== batch || labels.shape[1] !== tokens)
    throw new Error(
      `causal-LM labels must be [${batch}, ${tokens}] like the logits' first two dims, got [${labels.shape.join(', ')}]`,
    );
  const next = F.pad(labels.to('int64'), [0, 1], 'constant', IGNORE_INDEX).narrow(1, 1, tokens);
  return F.crossEntropy(logits.to('float32').reshape([-1, vocab]), next.reshape([-1]), { ignoreIndex: IGNORE_INDEX });
}
