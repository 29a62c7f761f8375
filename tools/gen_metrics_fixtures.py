"""Reference values for test/metrics.test.ts: scikit-learn's accuracy_score, f1_score (binary,
macro), matthews_corrcoef and SciPy's pearsonr / spearmanr / rankdata on seeded random data.

    eval "$(bash tools/setup-pyref.sh)"   # plus scikit-learn and scipy on PYTHONPATH
    python3 tools/gen_metrics_fixtures.py  # writes test/fixtures/metrics/metrics.json
"""
import json
import os

import numpy as np
import scipy
import scipy.stats
import sklearn
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

rng = np.random.default_rng(0)
cases = []


def classification(name, y_true, y_pred, binary):
    y_true = [int(v) for v in y_true]
    y_pred = [int(v) for v in y_pred]
    case = {
        "name": name,
        "kind": "classification",
        "y_true": y_true,
        "y_pred": y_pred,
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "mcc": float(matthews_corrcoef(y_true, y_pred)),
    }
    if binary:
        case["f1_binary"] = float(f1_score(y_true, y_pred, average="binary", zero_division=0))
    cases.append(case)


def regression(name, x, y):
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    cases.append({
        "name": name,
        "kind": "regression",
        "x": x,
        "y": y,
        "pearson": float(scipy.stats.pearsonr(x, y).statistic),
        "spearman": float(scipy.stats.spearmanr(x, y).statistic),
        "rank_x": [float(r) for r in scipy.stats.rankdata(x)],
    })


t = rng.integers(0, 2, 50)
p = np.where(rng.random(50) < 0.7, t, 1 - t)
classification("binary, 70% right", t, p, True)
classification("binary, all one class predicted", rng.integers(0, 2, 20), np.ones(20, dtype=int), True)
classification("binary, nothing positive", np.zeros(10, dtype=int), np.zeros(10, dtype=int), True)
t = rng.integers(0, 4, 60)
p = np.where(rng.random(60) < 0.5, t, rng.integers(0, 4, 60))
classification("4 classes", t, p, False)
classification("3 classes, one never predicted", [0, 1, 2, 2, 1, 0, 2, 1], [0, 1, 1, 1, 1, 0, 0, 1], False)
classification("label only in predictions", [0, 0, 1, 1], [0, 2, 1, 1], False)

x = rng.normal(size=40)
regression("correlated", x, 0.6 * x + rng.normal(size=40))
regression("ties", rng.integers(0, 5, 30), rng.integers(0, 4, 30))
regression("anti", [1, 2, 3, 4, 5], [5, 3, 4, 1, 0.5])

out = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "metrics", "metrics.json")
with open(out, "w") as f:
    json.dump({"sklearn": sklearn.__version__, "scipy": scipy.__version__, "cases": cases}, f, indent=1)
    f.write("\n")
print("wrote", out, len(cases), "cases")
