"""Model performance over joined (prediction, label) pairs: the metrics of docs/statistics.md, equal to scikit-learn's.

Every metric equals the scikit-learn function of the same name on the same pairs (scikit-learn is
a test dependency only). Where scikit-learn raises or warns because a metric is undefined (no
pairs, one class present for ``roc_auc``, a probability outside [0, 1] for ``log_loss`` and
``brier``, fewer than two pairs for ``r2``) the value here is NaN instead; nothing raises for
data. Unknown metric names and labels that are not binary where binary labels are required
raise ``ValueError``: those are configuration or decoding mistakes, not data.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import numpy.typing as npt
from scipy.special import xlogy
from scipy.stats import rankdata

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier")
"""Metric names for binary and multiclass classification models (docs/statistics.md)."""

REGRESSION_METRICS = ("mae", "rmse", "mape", "r2")
"""Metric names for regression models (docs/statistics.md)."""

MULTICLASS_METRICS = ("accuracy", "precision", "recall", "f1")
"""The classification metrics defined from class labels alone; the others are omitted for multiclass."""

_NAN = float("nan")
_EPS = float(np.finfo(np.float64).eps)


def binary_metrics(y_true: npt.ArrayLike, score_or_class: npt.ArrayLike, metrics: Sequence[str],
                   threshold: float = 0.5) -> dict[str, float]:
    """Return the named binary-classification metrics of predictions against 0/1 labels.

    A float prediction is a score: the predicted class is ``score >= threshold``, and
    ``roc_auc``, ``log_loss`` and ``brier`` use the score itself. An integer or boolean
    prediction is already a 0/1 class and serves as the score too. Precision, recall and F1 are
    for the positive class 1, 0.0 where their denominator is 0 (scikit-learn's
    ``zero_division=0``). Undefined metrics are NaN: all of them without pairs, ``roc_auc``
    with one class present, ``roc_auc`` with a non-finite score, ``log_loss`` and ``brier``
    with a score outside [0, 1].

    Parameters
    ----------
    y_true
        Labels, 0 or 1 (integers, booleans, or floats equal to 0.0 / 1.0).
    score_or_class
        Float scores, or integer / boolean classes 0 / 1; as many as labels.
    metrics
        Names from :data:`CLASSIFICATION_METRICS`.
    threshold
        Scores at or above it predict class 1.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, size=200)
    >>> score = np.clip(0.3 * y + rng.uniform(0.0, 0.7, size=200), 0.0, 1.0)
    >>> result = binary_metrics(y, score, CLASSIFICATION_METRICS)
    >>> {name: round(value, 6) for name, value in result.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'accuracy': 0.725, 'precision': 0.754545, 'recall': 0.747748, 'f1': 0.751131, 'roc_auc': 0.852313,
     'log_loss': 0.466118, 'brier': 0.156393}
    >>> binary_metrics(np.array([1, 1]), np.array([0.2, 0.9]), ["accuracy", "roc_auc"])
    {'accuracy': 0.5, 'roc_auc': nan}
    """
    names = _check_names(metrics, CLASSIFICATION_METRICS, "binary classification")
    labels = _binary_labels(y_true)
    pred = np.asarray(score_or_class)
    if pred.ndim != 1 or pred.shape != labels.shape:
        raise ValueError(f"predictions: expected {labels.size} values like the labels, got shape {pred.shape}")
    if pred.dtype.kind in "biu":
        if pred.size and not np.all((pred == 0) | (pred == 1)):
            raise ValueError("predictions: integer predictions of a binary model must be classes 0 or 1")
        predicted = pred.astype(bool)
        scores = pred.astype(np.float64)
    elif pred.dtype.kind == "f":
        scores = pred.astype(np.float64)
        predicted = scores >= threshold
    else:
        raise ValueError(f"predictions: expected numeric scores or 0/1 classes, got dtype {pred.dtype}")
    if labels.size == 0:
        return {name: _NAN for name in names}

    positive = labels.astype(bool)
    true_pos = int(np.count_nonzero(positive & predicted))
    pred_pos = int(np.count_nonzero(predicted))
    real_pos = int(np.count_nonzero(positive))
    compute = {
        "accuracy": lambda: float(np.mean(positive == predicted)),
        "precision": lambda: _ratio(true_pos, pred_pos),
        "recall": lambda: _ratio(true_pos, real_pos),
        "f1": lambda: _ratio(2 * true_pos, real_pos + pred_pos),
        "roc_auc": lambda: _roc_auc(positive, scores),
        "log_loss": lambda: _log_loss(labels, scores),
        "brier": lambda: _brier(labels, scores),
    }
    return {name: compute[name]() for name in names}


def multiclass_metrics(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, metrics: Sequence[str]) -> dict[str, float]:
    """Return the named multiclass metrics of predicted class labels against true class labels.

    ``accuracy`` is the share of exact matches; ``precision``, ``recall`` and ``f1`` are
    macro-averaged over every label seen in either array (scikit-learn's ``average="macro"``),
    a per-label value being 0.0 where its denominator is 0 (``zero_division=0``). ``roc_auc``,
    ``log_loss`` and ``brier`` need class probabilities, which class labels do not carry: they
    are accepted as names but omitted from the result. Without pairs every metric is NaN.

    Parameters
    ----------
    y_true
        True labels: strings, integers or any values numpy can sort, all of one kind.
    y_pred
        Predicted labels of the same kind, as many as ``y_true``.
    metrics
        Names from :data:`CLASSIFICATION_METRICS`.

    Examples
    --------
    >>> y = np.array(["a", "b", "c", "a", "b", "c"])
    >>> p = np.array(["a", "b", "b", "a", "c", "c"])
    >>> result = multiclass_metrics(y, p, ["accuracy", "f1", "roc_auc"])
    >>> {name: round(value, 6) for name, value in result.items()}
    {'accuracy': 0.666667, 'f1': 0.666667}
    """
    names = [n for n in _check_names(metrics, CLASSIFICATION_METRICS, "multiclass classification")
             if n in MULTICLASS_METRICS]
    truth, pred = np.asarray(y_true), np.asarray(y_pred)
    if truth.ndim != 1 or truth.shape != pred.shape:
        raise ValueError(f"labels: expected two 1-D arrays of one length, got shapes {truth.shape} and {pred.shape}")
    if truth.size == 0:
        return {name: _NAN for name in names}
    classes, codes = _encode(truth, pred)
    k = classes.size
    true_codes, pred_codes = codes[: truth.size], codes[truth.size:]
    hit = true_codes == pred_codes
    true_pos = np.bincount(true_codes[hit], minlength=k)
    real = np.bincount(true_codes, minlength=k)
    predicted = np.bincount(pred_codes, minlength=k)
    compute = {
        "accuracy": lambda: float(np.mean(hit)),
        "precision": lambda: _macro(true_pos, predicted),
        "recall": lambda: _macro(true_pos, real),
        "f1": lambda: _macro(2 * true_pos, real + predicted),
    }
    return {name: compute[name]() for name in names}


def regression_metrics(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, metrics: Sequence[str]) -> dict[str, float]:
    """Return the named regression metrics of predictions against true values.

    ``mae`` mean absolute error; ``rmse`` root mean squared error; ``mape`` mean of
    ``|pred - true| / max(|true|, eps)`` with eps the float64 machine epsilon (so a true 0 gives
    a huge value, as in scikit-learn); ``r2`` the coefficient of determination, with
    scikit-learn's ``force_finite`` rule for a constant truth (1.0 when the predictions are
    perfect, else 0.0), and NaN for fewer than two pairs. Without pairs every metric is NaN.

    Parameters
    ----------
    y_true
        True values.
    y_pred
        Predicted values, as many as ``y_true``.
    metrics
        Names from :data:`REGRESSION_METRICS`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(10.0, 2.0, size=100)
    >>> result = regression_metrics(y, y + rng.normal(0.0, 0.5, size=100), REGRESSION_METRICS)
    >>> {name: round(value, 6) for name, value in result.items()}
    {'mae': 0.38317, 'rmse': 0.47852, 'mape': 0.038273, 'r2': 0.93816}
    """
    names = _check_names(metrics, REGRESSION_METRICS, "regression")
    truth = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    if truth.ndim != 1 or truth.shape != pred.shape:
        raise ValueError(f"values: expected two 1-D arrays of one length, got shapes {truth.shape} and {pred.shape}")
    if truth.size == 0:
        return {name: _NAN for name in names}
    # scikit-learn works on (n, 1) columns; reducing the same shapes keeps its summation order.
    truth, pred = truth[:, None], pred[:, None]
    compute = {
        "mae": lambda: float(np.mean(np.abs(pred - truth), axis=0)[0]),
        "rmse": lambda: float(np.sqrt(np.mean((truth - pred) ** 2, axis=0))[0]),
        "mape": lambda: float(np.mean(np.abs(pred - truth) / np.maximum(np.abs(truth), _EPS), axis=0)[0]),
        "r2": lambda: _r2(truth, pred),
    }
    return {name: compute[name]() for name in names}


def _check_names(metrics: Sequence[str], valid: tuple[str, ...], task: str) -> list[str]:
    if isinstance(metrics, str):
        raise ValueError(f"metrics: expected a list of names, got the string {metrics!r}")
    unknown = [m for m in metrics if m not in valid]
    if unknown:
        raise ValueError(f"metrics: unknown {task} metric(s) {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(valid)}")
    return list(dict.fromkeys(metrics))


def _binary_labels(y_true: npt.ArrayLike) -> npt.NDArray[np.float64]:
    labels = np.asarray(y_true)
    if labels.ndim != 1:
        raise ValueError(f"labels: expected a 1-D array, got shape {labels.shape}")
    if labels.dtype.kind not in "biuf":
        raise ValueError(f"labels: a binary model needs labels 0 or 1, got dtype {labels.dtype}")
    out = labels.astype(np.float64)
    if out.size and not np.all((out == 0.0) | (out == 1.0)):
        bad = out[(out != 0.0) & (out != 1.0)][0]
        raise ValueError(f"labels: a binary model needs labels 0 or 1, got {bad!r}")
    return out


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _roc_auc(positive: npt.NDArray[np.bool_], scores: npt.NDArray[np.float64]) -> float:
    """Area under the ROC curve as the Mann-Whitney U statistic, ties counted half."""
    n_pos = int(np.count_nonzero(positive))
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0 or not np.all(np.isfinite(scores)):
        return _NAN
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _probabilities(scores: npt.NDArray[np.float64]) -> bool:
    return bool(np.all(np.isfinite(scores)) and scores.min() >= 0.0 and scores.max() <= 1.0)


def _log_loss(labels: npt.NDArray[np.float64], scores: npt.NDArray[np.float64]) -> float:
    """Mean negative log-likelihood, with probabilities clipped to [eps, 1 - eps] as scikit-learn does."""
    if not _probabilities(scores):
        return _NAN
    low, high = _EPS, 1.0 - _EPS
    loss = xlogy(1.0 - labels, np.clip(1.0 - scores, low, high)) + xlogy(labels, np.clip(scores, low, high))
    return float(np.mean(-loss))


def _brier(labels: npt.NDArray[np.float64], scores: npt.NDArray[np.float64]) -> float:
    """Mean squared error of the probability, over both classes and halved, as scikit-learn computes it."""
    if not _probabilities(scores):
        return _NAN
    per_pair = ((1.0 - labels) - (1.0 - scores)) ** 2 + (labels - scores) ** 2
    return float(np.mean(per_pair) * 0.5)


def _encode(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, npt.NDArray[np.intp]]:
    kinds = {truth.dtype.kind, pred.dtype.kind}
    if kinds & set("US") and kinds & set("biuf"):
        raise ValueError(f"labels: true labels ({truth.dtype}) and predictions ({pred.dtype}) are of different kinds")
    try:
        classes, codes = np.unique(np.concatenate([truth, pred]), return_inverse=True)
    except TypeError as exc:
        raise ValueError(f"labels: cannot order the labels ({exc})") from exc
    return classes, codes.reshape(-1)


def _macro(numerator: npt.NDArray[np.int64], denominator: npt.NDArray[np.int64]) -> float:
    per_label = np.divide(numerator, denominator, out=np.zeros(numerator.size), where=denominator != 0)
    return float(np.mean(per_label))


def _r2(truth: npt.NDArray[np.float64], pred: npt.NDArray[np.float64]) -> float:
    if truth.shape[0] < 2:
        return _NAN
    numerator = float(np.sum((truth - pred) ** 2, axis=0)[0])
    denominator = float(np.sum((truth - np.mean(truth, axis=0)) ** 2, axis=0)[0])
    if numerator == 0.0:
        return 1.0
    if denominator == 0.0:
        return 0.0
    return 1.0 - numerator / denominator
