"""Evaluation of a model's predictions on a test block: how well it classifies, and what
acting on its signals would have earned under the target's judgement (fees included).

Acting: at each bar the model's most probable class is taken when its probability is
at least the threshold and its direction is long or short; the result is that side's
result in R at that bar (`barriers.trades`). Bars whose result is unknown (the data ends
before the position would close) are not counted.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


def classification_metrics(y: Floats, proba: Floats) -> dict[str, float]:
    """accuracy, balanced accuracy, macro F1, log loss, one-vs-rest ROC AUC (NaN where
    the block holds a single class)."""
    from sklearn import metrics

    truth, predicted = y.astype(np.int64), proba.argmax(axis=1)
    labels = list(range(proba.shape[1]))
    present = np.unique(truth)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class absent from a block: scored as sklearn does
        out = {
            "accuracy": metrics.accuracy_score(truth, predicted),
            "balanced_accuracy": metrics.balanced_accuracy_score(truth, predicted),
            "macro_f1": metrics.f1_score(truth, predicted, labels=present, average="macro"),
            "log_loss": metrics.log_loss(truth, np.clip(proba, 1e-15, 1), labels=labels),
            "roc_auc": _roc_auc(truth, proba, present),
        }
    return {name: float(value) for name, value in out.items()}


def _roc_auc(truth: npt.NDArray[np.int64], proba: Floats, present: npt.NDArray[np.int64]) -> float:
    """One-vs-rest AUC averaged over the classes present (NaN with fewer than two)."""
    from sklearn.metrics import roc_auc_score

    if len(present) < 2:
        return float("nan")
    scores = [roc_auc_score(truth == k, proba[:, k]) for k in present]
    return float(np.mean(scores))


def regression_metrics(y: Floats, predicted: Floats) -> dict[str, float]:
    """RMSE, MAE, R² and the information coefficient (rank correlation)."""
    from scipy.stats import spearmanr

    error = predicted - y
    spread = float(np.sum((y - y.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "r2": 1 - float(np.sum(error**2)) / spread if spread else float("nan"),
        "ic": float(spearmanr(predicted, y).statistic) if len(y) > 1 else float("nan"),
    }


def acted_results(proba: Floats, directions: Sequence[int], long: Floats, short: Floats,
                  threshold: float) -> Floats:  # fmt: skip
    """The results in R of the signals acted on: the most probable class at or above the
    threshold, when its direction is long or short, and the result is known."""
    best = proba.argmax(axis=1)
    confident = proba[np.arange(len(best)), best] >= threshold
    side = np.asarray(directions, dtype=np.int64)[best] * confident
    result = np.where(side > 0, long, np.where(side < 0, short, np.nan))
    return result[np.isfinite(result)]


def trading_metrics(results: Floats) -> dict[str, float]:
    """Signals acted on, hit rate, profit factor and expectancy, in R."""
    if len(results) == 0:
        return {"signals": 0.0, "hit_rate": float("nan"), "profit_factor": float("nan"),
                "expectancy_r": float("nan")}  # fmt: skip
    gains, losses = results[results > 0].sum(), -results[results < 0].sum()
    return {
        "signals": float(len(results)),
        "hit_rate": float(np.mean(results > 0)),
        "profit_factor": float(gains / losses) if losses > 0 else float("inf"),
        "expectancy_r": float(np.mean(results)),
    }
