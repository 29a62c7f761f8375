/**
 * Evaluation metrics with scikit-learn's and SciPy's definitions (the values match
 * sklearn.metrics / scipy.stats to 1e-12 in test/metrics.test.ts): accuracy, F1 (binary and
 * macro), Matthews correlation, Pearson and Spearman correlation; plus argmax over logits and the
 * Trainer's default computeMetrics.
 *
 *   accuracyScore([0, 1, 1, 0], [0, 1, 0, 0])        // 0.75
 *   f1Score([0, 1, 1, 0], [0, 1, 0, 0])              // 0.6666666666666666 (binary, positive label 1)
 *   f1Score([0, 1, 2, 2], [0, 2, 2, 1], { average: 'macro' })
 *   matthewsCorrcoef(yTrue, yPred); pearsonCorrelation(x, y); spearmanCorrelation(x, y)
 */

/** What computeMetrics gets: the logits (one row per example) and the labels, as plain numbers. */
export interface EvalPrediction {
  /** The model's logits, one row per example ([N, C]; a regression head gives rows of 1). */
  predictions: number[][];
  /** The labels: one number per example (class ids or regression targets), or a row per example (multi-label); null when the data has none. */
  labelIds: number[] | number[][] | null;
  /** Multi-task evaluation: the task these logits and labels belong to. */
  task?: string;
}

/** Metric name → value, as computeMetrics returns them (the Trainer prefixes `eval_` / `test_`). */
export type Metrics = Record<string, number>;

function checkSameLength(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) throw new RangeError(`${what}: yTrue has ${a.length} values, yPred ${b.length}`);
  if (a.length === 0) throw new RangeError(`${what}: no values`);
}

/** The index of each row's largest value (the first one on ties, as numpy.argmax). */
export function argmax(rows: readonly (readonly number[])[]): number[] {
  return rows.map((row) => {
    let best = 0;
    for (let j = 1; j < row.length; j++)
      if (row[j] > row[best] || (Number.isNaN(row[j]) && !Number.isNaN(row[best]))) best = j;
    return best;
  });
}

/** sklearn.metrics.accuracy_score: the fraction of exact matches. */
export function accuracyScore(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkSameLength(yTrue, yPred, 'accuracyScore');
  let hits = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) hits++;
  return hits / yTrue.length;
}

/** The labels present in yTrue or yPred, sorted (sklearn's unique_labels). */
function uniqueLabels(...arrays: ArrayLike<number>[]): number[] {
  const seen = new Set<number>();
  for (const a of arrays) for (let i = 0; i < a.length; i++) seen.add(a[i]);
  return [...seen].sort((x, y) => x - y);
}

export interface F1Options {
  /** 'binary' (default): the F1 of posLabel; 'macro': the unweighted mean of every label's F1. */
  average?: 'binary' | 'macro';
  /** The positive class for 'binary' (default 1). */
  posLabel?: number;
  /** 'macro' over these labels (default: those present in yTrue or yPred, as scikit-learn). */
  labels?: number[];
}

/** One label's F1 = 2·tp / (2·tp + fp + fn); 0 when the label is never true nor predicted (zero_division=0). */
function f1Of(label: number, yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i] === label;
    const p = yPred[i] === label;
    if (t && p) tp++;
    else if (p) fp++;
    else if (t) fn++;
  }
  const denominator = 2 * tp + fp + fn;
  return denominator === 0 ? 0 : (2 * tp) / denominator;
}

/**
 * sklearn.metrics.f1_score with average 'binary' (default; posLabel 1) or 'macro'. Undefined
 * ratios count as 0 (scikit-learn's zero_division default). 'binary' on more than two labels
 * throws, as scikit-learn does.
 */
export function f1Score(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, options: F1Options = {}): number {
  checkSameLength(yTrue, yPred, 'f1Score');
  const average = options.average ?? 'binary';
  if (average === 'binary') {
    const present = uniqueLabels(yTrue, yPred);
    const posLabel = options.posLabel ?? 1;
    if (present.length > 2) {
      throw new RangeError(
        `f1Score: the data has ${present.length} labels (${present.join(', ')}); average 'binary' needs at most 2 — use average: 'macro'`,
      );
    }
    if (present.length === 2 && !present.includes(posLabel)) {
      throw new RangeError(
        `f1Score: posLabel ${posLabel} is not a valid label: it should be one of ${present.join(', ')}`,
      );
    }
    return f1Of(posLabel, yTrue, yPred);
  }
  if (average !== 'macro') throw new RangeError(`f1Score: average must be 'binary' or 'macro', got ${String(average)}`);
  const labels = options.labels ?? uniqueLabels(yTrue, yPred);
  if (labels.length === 0) throw new RangeError('f1Score: no labels');
  return labels.reduce((sum, label) => sum + f1Of(label, yTrue, yPred), 0) / labels.length;
}

/**
 * sklearn.metrics.matthews_corrcoef (multiclass form, Gorodkin 2004): (c·s − Σ t_k·p_k) /
 * √((s² − Σ p_k²)(s² − Σ t_k²)) over the confusion matrix; 0 when the denominator is 0.
 */
export function matthewsCorrcoef(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkSameLength(yTrue, yPred, 'matthewsCorrcoef');
  const labels = uniqueLabels(yTrue, yPred);
  const index = new Map(labels.map((label, k) => [label, k]));
  const t = new Float64Array(labels.length);
  const p = new Float64Array(labels.length);
  let correct = 0;
  for (let i = 0; i < yTrue.length; i++) {
    t[index.get(yTrue[i])!]++;
    p[index.get(yPred[i])!]++;
    if (yTrue[i] === yPred[i]) correct++;
  }
  const s = yTrue.length;
  let tp = 0;
  let pp = 0;
  let tt = 0;
  for (let k = 0; k < labels.length; k++) {
    tp += t[k] * p[k];
    pp += p[k] * p[k];
    tt += t[k] * t[k];
  }
  const covYtYp = correct * s - tp;
  const covYpYp = s * s - pp;
  const covYtYt = s * s - tt;
  if (covYpYp * covYtYt === 0) return 0;
  return covYtYp / Math.sqrt(covYtYt * covYpYp);
}

/**
 * scipy.stats.pearsonr's statistic: Σ(x−x̄)(y−ȳ) / √(Σ(x−x̄)² Σ(y−ȳ)²), computed as SciPy does
 * (each centred vector scaled to unit norm, then the dot product, clipped to [−1, 1]). NaN when
 * either input is constant (SciPy warns and returns NaN).
 */
export function pearsonCorrelation(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new RangeError(`pearsonCorrelation: x has ${x.length} values, y ${y.length}`);
  if (x.length < 2) throw new RangeError('pearsonCorrelation: needs at least 2 values');
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let nx = 0;
  let ny = 0;
  for (let i = 0; i < n; i++) {
    nx += (x[i] - mx) ** 2;
    ny += (y[i] - my) ** 2;
  }
  nx = Math.sqrt(nx);
  ny = Math.sqrt(ny);
  if (nx === 0 || ny === 0) return NaN;
  if (n === 2) return Math.sign((x[1] - x[0]) * (y[1] - y[0])); // SciPy returns exactly ±1 for two points
  let r = 0;
  for (let i = 0; i < n; i++) r += ((x[i] - mx) / nx) * ((y[i] - my) / ny);
  return Math.max(-1, Math.min(1, r));
}

/** scipy.stats.rankdata(method='average'): 1-based ranks, ties get the mean of their ranks. */
export function rankData(values: ArrayLike<number>): number[] {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a] - values[b] || a - b);
  const ranks = new Array<number>(values.length);
  for (let start = 0; start < order.length;) {
    let end = start + 1;
    while (end < order.length && values[order[end]] === values[order[start]]) end++;
    const rank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) ranks[order[k]] = rank;
    start = end;
  }
  return ranks;
}

/** scipy.stats.spearmanr's statistic: the Pearson correlation of the average ranks. */
export function spearmanCorrelation(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new RangeError(`spearmanCorrelation: x has ${x.length} values, y ${y.length}`);
  return pearsonCorrelation(rankData(x), rankData(y));
}

/**
 * The Trainer's default computeMetrics, by the shape of the data:
 * - single-label classification (one integer label per example, rows of ≥ 2 logits): `accuracy` and
 *   `f1` (binary F1 of label 1 for two classes, `f1_macro` otherwise), from the argmax of the logits;
 * - regression (rows of one prediction): `pearson` and `spearmanr` (GLUE's STS-B names);
 * - anything else (multi-label, no labels): none (the loss is still reported).
 */
export function defaultComputeMetrics({ predictions, labelIds }: EvalPrediction): Metrics {
  if (!labelIds || labelIds.length === 0 || predictions.length !== labelIds.length) return {};
  if (labelIds.some((label) => typeof label !== 'number')) return {};
  const labels = labelIds as number[];
  const width = predictions[0]?.length ?? 0;
  if (width === 1) {
    if (labels.length < 2) return {};
    const values = predictions.map((row) => row[0]);
    return { pearson: pearsonCorrelation(values, labels), spearmanr: spearmanCorrelation(values, labels) };
  }
  if (width < 2 || !labels.every(Number.isInteger)) return {};
  const predicted = argmax(predictions);
  const metrics: Metrics = { accuracy: accuracyScore(labels, predicted) };
  if (width === 2) metrics.f1 = f1Score(labels, predicted, { average: 'binary', posLabel: 1 });
  else metrics.f1_macro = f1Score(labels, predicted, { average: 'macro' });
  return metrics;
}
