/**
 * What a finished run's numbers say about whether it learned anything: the final evaluation
 * accuracy against the majority-class rate of the evaluation data (a language model's perplexity
 * against a unigram model's), and the training loss from its first log to its last. A run at a too-low learning rate ends at chance accuracy with a flat loss
 * and no error; these checks turn that into a warning with the numbers.
 *
 *   const warnings = diagnoseTraining(trainer.state.logHistory, { evalLabels: evalDataset.targets });
 *   for (const w of warnings) console.warn(w.message);
 */
import type { LogEntry } from './state.js';

export type TrainingWarningKind = 'chance-accuracy' | 'unigram-perplexity' | 'flat-loss' | 'rising-loss';

export interface TrainingWarning {
  /**
   * 'chance-accuracy': the last evaluation's accuracy is at (within chanceMargin standard errors of)
   * or below the majority-class rate of the evaluation labels; 'unigram-perplexity': the last evaluation
   * perplexity is no lower than a unigram model's (token frequencies of the training data); 'flat-loss': the training loss fell
   * by less than minLossDrop; 'rising-loss': it rose by more than minLossDrop (a too-high lr, or divergence).
   */
  kind: TrainingWarningKind;
  /** What happened, with the numbers (no advice: what to try depends on how the run was started). */
  message: string;
  /** The numbers the message gives. */
  details: Record<string, number>;
}

export interface DiagnoseOptions {
  /** The evaluation data's class ids (a dataset's `targets`): the majority-class rate comes from them. Without them, accuracy is not checked. */
  evalLabels?: ArrayLike<number> | null;
  /** Class names by id, to name the majority class. */
  labelNames?: readonly string[];
  /** The least relative change of the training loss, first log → mean of the last logs, that counts as moving (default 0.05). */
  minLossDrop?: number;
  /** How many standard errors of the accuracy above the majority-class rate still count as chance (default 2). */
  chanceMargin?: number;
  /**
   * A causal LM's predicted tokens (CausalLmDataset.predictedTokens()) of the training and evaluation
   * data, and the vocabulary size: the last `eval_perplexity` is checked against the perplexity a
   * unigram model of the training tokens (add-one smoothed over the vocabulary) has on the evaluation
   * tokens. Without them, perplexity is not checked.
   */
  unigram?: { trainTokens: ArrayLike<number>; evalTokens: ArrayLike<number>; vocabSize: number };
}

/**
 * Checks a run's log history (TrainerState.logHistory) for the signs of a run that learned nothing;
 * returns a warning for each (an empty list when the run looks sound or the numbers are missing).
 *
 * - Accuracy: the last entry with `eval_accuracy` against m, the majority class's share of
 *   `evalLabels` (n of them): a warning when accuracy ≤ m + chanceMargin·√(m(1 − m)/n), the
 *   binomial standard error of an accuracy of m on n examples.
 * - Perplexity: the last entry with `eval_perplexity` against P = exp(−mean log p(t)) over the
 *   evaluation tokens t, p(t) = (count of t in the training tokens + 1) / (training tokens + vocabulary):
 *   a warning when the perplexity is ≥ P, that is when the model predicts no better than token frequencies.
 * - Loss: the first logged training `loss` against the mean of the last (up to 3, at most half of
 *   the) logged ones: a warning when it fell by less than minLossDrop of the first, or rose by more.
 *   Needs two logs or more.
 */
export function diagnoseTraining(logHistory: readonly LogEntry[], options: DiagnoseOptions = {}): TrainingWarning[] {
  const warnings: TrainingWarning[] = [];
  const chance = chanceAccuracy(logHistory, options);
  if (chance) warnings.push(chance);
  const unigram = options.unigram && unigramPerplexity(logHistory, options.unigram);
  if (unigram) warnings.push(unigram);
  const loss = lossChange(logHistory, options.minLossDrop ?? 0.05);
  if (loss) warnings.push(loss);
  return warnings;
}

function chanceAccuracy(logHistory: readonly LogEntry[], options: DiagnoseOptions): TrainingWarning | undefined {
  const labels = options.evalLabels;
  const last = [...logHistory].reverse().find((e) => typeof e.eval_accuracy === 'number');
  if (!labels || labels.length === 0 || !last) return undefined;
  const counts = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) counts.set(labels[i], (counts.get(labels[i]) ?? 0) + 1);
  const [majority, count] = [...counts].reduce((best, entry) => (entry[1] > best[1] ? entry : best));
  const n = labels.length;
  const rate = count / n;
  const margin = (options.chanceMargin ?? 2) * Math.sqrt((rate * (1 - rate)) / n);
  const accuracy = last.eval_accuracy as number;
  if (accuracy > rate + margin) return undefined;
  const name = options.labelNames?.[majority] ?? String(majority);
  const where = accuracy < rate - margin ? 'below' : 'at';
  return {
    kind: 'chance-accuracy',
    message:
      `evaluation accuracy ${accuracy.toFixed(4)} (step ${String(last.step)}) is ${where} the majority-class rate of the evaluation data, ` +
      `${rate.toFixed(4)} (always '${name}'; ${n} examples, ±${margin.toFixed(4)} is chance): the model does no better than guessing the commonest label`,
    details: { accuracy, majorityRate: rate, margin, examples: n, step: Number(last.step) },
  };
}

function unigramPerplexity(
  logHistory: readonly LogEntry[],
  { trainTokens, evalTokens, vocabSize }: NonNullable<DiagnoseOptions['unigram']>,
): TrainingWarning | undefined {
  const last = [...logHistory].reverse().find((e) => typeof e.eval_perplexity === 'number');
  if (!last || evalTokens.length === 0) return undefined;
  const counts = new Map<number, number>();
  for (let i = 0; i < trainTokens.length; i++) counts.set(trainTokens[i], (counts.get(trainTokens[i]) ?? 0) + 1);
  const total = trainTokens.length + vocabSize;
  let logLikelihood = 0;
  for (let i = 0; i < evalTokens.length; i++) logLikelihood += Math.log(((counts.get(evalTokens[i]) ?? 0) + 1) / total);
  const baseline = Math.exp(-logLikelihood / evalTokens.length);
  const perplexity = last.eval_perplexity as number;
  if (perplexity < baseline) return undefined;
  return {
    kind: 'unigram-perplexity',
    message:
      `evaluation perplexity ${perplexity.toFixed(2)} (step ${String(last.step)}) is no lower than ${baseline.toFixed(2)}, the perplexity of predicting ` +
      `each token by its frequency in the training data (${evalTokens.length} evaluation tokens): the model has learned which tokens are common, not what comes next`,
    details: { perplexity, unigramPerplexity: baseline, evalTokens: evalTokens.length, step: Number(last.step) },
  };
}

function lossChange(logHistory: readonly LogEntry[], minLossDrop: number): TrainingWarning | undefined {
  const logs = logHistory.filter(
    (e): e is LogEntry & { loss: number } => typeof e.loss === 'number' && Number.isFinite(e.loss),
  );
  if (logs.length < 2) return undefined;
  const first = logs[0];
  const tail = logs.slice(-Math.min(3, Math.floor(logs.length / 2)));
  const end = tail.reduce((sum, e) => sum + e.loss, 0) / tail.length;
  const change = (first.loss - end) / first.loss;
  if (change >= minLossDrop) return undefined;
  const steps =
    tail.length > 1
      ? `the last ${tail.length} logs (steps ${String(tail[0].step)}–${String(tail.at(-1)!.step)})`
      : `step ${String(tail[0].step)}`;
  const rose = change < -minLossDrop;
  return {
    kind: rose ? 'rising-loss' : 'flat-loss',
    message: rose
      ? `the training loss rose: ${first.loss.toFixed(4)} at step ${String(first.step)} → ${end.toFixed(4)} over ${steps}, ${(-100 * change).toFixed(1)}% higher`
      : `the training loss did not fall: ${first.loss.toFixed(4)} at step ${String(first.step)} → ${end.toFixed(4)} over ${steps}, ` +
        `${change >= 0 ? `${(100 * change).toFixed(1)}% lower` : `${(-100 * change).toFixed(1)}% higher`} (under ${(100 * minLossDrop).toFixed(0)}% counts as no change)`,
    details: {
      firstLoss: first.loss,
      lastLoss: end,
      change,
      firstStep: Number(first.step),
      lastStep: Number(tail.at(-1)!.step),
    },
  };
}
