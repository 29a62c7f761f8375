/** The loss transformers' *ForSequenceClassification / *ForImageClassification heads compute. */
import { functional as F, type Tensor } from '../tensor/index.js';

export type ProblemType = 'regression' | 'single_label_classification' | 'multi_label_classification';

/**
 * MSE, cross entropy or binary cross entropy by problemType. With problemType null it is
 * inferred as transformers does: numLabels 1 → regression, integer labels → single-label,
 * otherwise multi-label.
 */
export function classificationLoss(
  logits: Tensor,
  labels: Tensor,
  numLabels: number,
  problemType: ProblemType | null = null,
): Tensor {
  const integer = /int/.test(labels.dtype);
  const problem =
    problemType ??
    (numLabels === 1 ? 'regression' : integer ? 'single_label_classification' : 'multi_label_classification');
  switch (problem) {
    case 'regression': {
      const target = labels.to(logits.dtype);
      return numLabels === 1 ? F.mseLoss(logits.squeeze(), target.squeeze()) : F.mseLoss(logits, target);
    }
    case 'single_label_classification':
      return F.crossEntropy(logits.reshape([-1, numLabels]), labels.reshape([-1]).to('int64'));
    case 'multi_label_classification':
      return F.binaryCrossEntropyWithLogits(logits, labels.to(logits.dtype));
    default:
      throw new Error(`unknown problemType '${String(problem)}'`);
  }
}
