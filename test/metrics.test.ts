// Evaluation metrics against scikit-learn 1.9 / SciPy 1.17 (test/fixtures/metrics/metrics.json, from
// tools/gen_metrics_fixtures.py) and hand-computed values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { train } from 'finetune';

const {
  accuracyScore,
  f1Score,
  matthewsCorrcoef,
  pearsonCorrelation,
  spearmanCorrelation,
  rankData,
  argmax,
  defaultComputeMetrics,
} = train;

interface Case {
  name: string;
  kind: 'classification' | 'regression';
  y_true: number[];
  y_pred: number[];
  accuracy: number;
  f1_macro: number;
  f1_binary?: number;
  mcc: number;
  x: number[];
  y: number[];
  pearson: number;
  spearman: number;
  rank_x: number[];
}

const fixtures = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../test/fixtures/metrics/metrics.json', import.meta.url)), 'utf8'),
) as { cases: Case[] };

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= 1e-12, `${what}: ${actual} vs ${expected}`);

test('classification metrics match scikit-learn', () => {
  for (const c of fixtures.cases.filter((k) => k.kind === 'classification')) {
    close(accuracyScore(c.y_true, c.y_pred), c.accuracy, `${c.name} accuracy`);
    close(f1Score(c.y_true, c.y_pred, { average: 'macro' }), c.f1_macro, `${c.name} macro F1`);
    close(matthewsCorrcoef(c.y_true, c.y_pred), c.mcc, `${c.name} MCC`);
    if (c.f1_binary !== undefined) close(f1Score(c.y_true, c.y_pred), c.f1_binary, `${c.name} binary F1`);
  }
});

test('correlations and ranks match SciPy', () => {
  for (const c of fixtures.cases.filter((k) => k.kind === 'regression')) {
    close(pearsonCorrelation(c.x, c.y), c.pearson, `${c.name} pearson`);
    close(spearmanCorrelation(c.x, c.y), c.spearman, `${c.name} spearman`);
    assert.deepEqual(rankData(c.x), c.rank_x, `${c.name} ranks`);
  }
});

test('hand-computed values and edge cases', () => {
  // tp 1, fp 0, fn 1 → precision 1, recall 1/2, F1 2/3
  assert.equal(f1Score([0, 1, 1, 0], [0, 1, 0, 0]), 2 / 3);
  assert.equal(accuracyScore([0, 1, 1, 0], [0, 1, 0, 0]), 0.75);
  // Per class F1: 0 → 1; 1 → 0 (tp 0); 2 → 2·1 / (2·1 + 1 + 1) = 1/2; macro = 1/2
  close(f1Score([0, 1, 2, 2], [0, 2, 2, 1], { average: 'macro' }), 0.5, 'macro');
  // MCC of a perfect and of an inverted binary prediction; a constant prediction gives 0
  assert.equal(matthewsCorrcoef([0, 1, 1, 0], [0, 1, 1, 0]), 1);
  assert.equal(matthewsCorrcoef([0, 1, 1, 0], [1, 0, 0, 1]), -1);
  assert.equal(matthewsCorrcoef([0, 1, 1, 0], [1, 1, 1, 1]), 0);
  close(pearsonCorrelation([1, 2, 3], [2, 4, 6]), 1, 'pearson of a line'); // SciPy: 0.9999999999999998 too
  assert.equal(pearsonCorrelation([1, 5], [3, 2]), -1, 'two points: exactly ±1, as SciPy');
  assert.ok(Number.isNaN(pearsonCorrelation([1, 1, 1], [1, 2, 3])), 'constant input: NaN, as SciPy');
  assert.equal(spearmanCorrelation([1, 2, 3, 4], [1, 4, 9, 16]), 1);
  assert.deepEqual(rankData([10, 20, 10, 30]), [1.5, 3, 1.5, 4]);
  assert.deepEqual(
    argmax([
      [0.1, 0.9],
      [2, -1],
      [1, 1],
    ]),
    [1, 0, 0],
  );
  assert.throws(() => f1Score([0, 1, 2], [0, 1, 2]), /average 'binary' needs at most 2.*macro/);
  assert.throws(() => accuracyScore([0, 1], [0]), /yTrue has 2 values, yPred 1/);
});

test('defaultComputeMetrics picks metrics by the shape of the data', () => {
  assert.deepEqual(
    defaultComputeMetrics({
      predictions: [
        [0, 1],
        [1, 0],
        [0, 1],
        [1, 0],
      ],
      labelIds: [1, 0, 0, 0],
    }),
    { accuracy: 0.75, f1: 2 / 3 },
  );
  const three = defaultComputeMetrics({
    predictions: [
      [3, 0, 0],
      [0, 3, 0],
      [0, 0, 3],
    ],
    labelIds: [0, 1, 1],
  });
  assert.deepEqual(Object.keys(three), ['accuracy', 'f1_macro']);
  const regression = defaultComputeMetrics({ predictions: [[0.1], [0.4], [0.35], [0.8]], labelIds: [0, 1, 2, 3] });
  assert.equal(regression.spearmanr, 0.8);
  assert.deepEqual(defaultComputeMetrics({ predictions: [[0, 1]], labelIds: null }), {});
});
