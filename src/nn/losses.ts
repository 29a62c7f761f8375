/**
 * Label-smoothed cross entropy with PyTorch's exact semantics: it calls ATen's
 * cross_entropy_loss with label_smoothing (what torch.nn.functional.cross_entropy(…,
 * label_smoothing=ε) runs), so the loss and its gradient are libtorch's.
 *
 * PyTorch's definition (class-index targets, C classes, weight w, ignore_index):
 *   loss_n = (1 − ε)·nll_n + ε·smooth_n,  nll_n = −w[y_n]·log p_n[y_n],  smooth_n = −Σ_c w[c]·log p_n[c] / C
 * ignored targets contribute 0; 'mean' divides both terms by Σ_n w[y_n] over non-ignored n.
 * With class-probability targets the target is mixed with the uniform distribution: (1 − ε)·t + ε/C.
 */
import { functional as F, type Tensor } from '../tensor/index.js';

export interface LabelSmoothingOptions {
  /** Targets equal to this are ignored (class-index targets only). Default −100, as PyTorch. */
  ignoreIndex?: number;
  /** Default 'mean'. */
  reduction?: 'none' | 'mean' | 'sum';
  /** A rescaling weight per class ([C]). */
  weight?: Tensor | null;
}

/**
 * Cross entropy of `logits` ([N, C] or [N, C, d1, …]) against `labels` (class indices, int64,
 * [N] / [N, d1, …], or class probabilities shaped like the logits) with label smoothing ε ∈ [0, 1],
 * as `torch.nn.functional.cross_entropy(logits, labels, label_smoothing=epsilon, ignore_index=…)`.
 */
export function labelSmoothedCrossEntropy(
  logits: Tensor,
  labels: Tensor,
  epsilon: number,
  options: LabelSmoothingOptions = {},
): Tensor {
  if (!(typeof epsilon === 'number' && epsilon >= 0 && epsilon <= 1))
    throw new Error(`label smoothing epsilon must be in [0, 1], got ${String(epsilon)}`);
  return F.crossEntropy(logits, labels, {
    labelSmoothing: epsilon,
    ignoreIndex: options.ignoreIndex ?? -100,
    reduction: options.reduction ?? 'mean',
    weight: options.weight ?? null,
  });
}
