/** What the demo's pretraining and fine-tuning runs share: the metric, the progress display, parameter counts. */
import type { Module } from '../nn/index.js';
import { PeftModel } from '../peft/index.js';
import type { Dataset } from '../data/index.js';
import { ProgressCallback, type EvalPrediction, type OutputStream, type Trainer } from '../train/index.js';

/** Accuracy of the logits' argmax (the only metric the table needs). */
export function accuracyMetric({ predictions, labelIds }: EvalPrediction): Record<string, number> {
  const labels = labelIds as number[];
  let correct = 0;
  predictions.forEach((row, i) => {
    let best = 0;
    for (let k = 1; k < row.length; k++) if (row[k] > row[best]) best = k;
    if (best === labels[i]) correct++;
  });
  return { accuracy: predictions.length ? correct / predictions.length : 0 };
}

/** A trained model's accuracy on a dataset (Trainer.predict). */
export async function accuracyOf(trainer: Trainer, dataset: Dataset<unknown>): Promise<number> {
  const { metrics } = await trainer.predict(dataset);
  const accuracy = metrics.test_accuracy;
  if (typeof accuracy !== 'number')
    throw new Error(`the evaluation gave no accuracy (${Object.keys(metrics).join(', ')})`);
  return accuracy;
}

/**
 * The progress display of a run: on a terminal a bar redrawn in place; in a log, four lines a run.
 * `leave: false` (the fine-tuning runs, which print a result line each): the bar is erased at the end, a log gets nothing.
 */
export function progressCallback(stream: OutputStream, steps: number, leave = true): ProgressCallback {
  return new ProgressCallback({ stream, logEvery: Math.max(1, Math.ceil(steps / 4)), leave });
}

/** Trainable and all parameters, as PEFT counts them (for a PeftModel: the wrapped model's, adapters and head copies included). */
export function parameterCounts(model: Module): { trainable: number; total: number } {
  if (model instanceof PeftModel) {
    const [trainable, total] = model.getNbTrainableParameters();
    return { trainable, total };
  }
  const all = model.parameters();
  return {
    trainable: all.filter((p) => p.requiresGrad).reduce((n, p) => n + p.numel(), 0),
    total: all.reduce((n, p) => n + p.numel(), 0),
  };
}
