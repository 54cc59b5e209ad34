"""Performance metrics against scikit-learn's functions of the same name, on the same pairs."""

from __future__ import annotations

import math
import warnings
from typing import Callable

import numpy as np
import pytest
from sklearn import metrics as skm

from detectors.performance import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    binary_metrics,
    multiclass_metrics,
    regression_metrics,
)

RTOL, ATOL = 1e-9, 1e-12


def sklearn_or_nan(fn: Callable[[], float]) -> float:
    """scikit-learn's value, or NaN where it raises or warns that the metric is undefined."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(fn())
        except ValueError:
            return math.nan


def sklearn_binary(y: np.ndarray, pred: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    cls = (pred >= threshold).astype(int) if pred.dtype.kind == "f" else pred.astype(int)
    score = pred.astype(float)
    return {
        "accuracy": sklearn_or_nan(lambda: skm.accuracy_score(y, cls)),
        "precision": sklearn_or_nan(lambda: skm.precision_score(y, cls, zero_division=0)),
        "recall": sklearn_or_nan(lambda: skm.recall_score(y, cls, zero_division=0)),
        "f1": sklearn_or_nan(lambda: skm.f1_score(y, cls, zero_division=0)),
        "roc_auc": sklearn_or_nan(lambda: skm.roc_auc_score(y, score)),
        "log_loss": sklearn_or_nan(lambda: skm.log_loss(y, score, labels=[0, 1])),
        "brier": sklearn_or_nan(lambda: skm.brier_score_loss(y, score)),
    }


def assert_same(got: dict[str, float], want: dict[str, float]) -> None:
    assert list(got) == list(want)
    np.testing.assert_allclose(np.array(list(got.values())), np.array(list(want.values())), rtol=RTOL, atol=ATOL,
                               err_msg=f"got {got}\nwant {want}")


def binary_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=1000)
    score = np.clip(0.35 * y + rng.uniform(0, 0.65, size=1000), 0, 1)
    return [
        ("scores", y, score),
        ("tied scores", y, np.round(score, 1)),
        ("extreme scores", y, np.where(rng.random(1000) < 0.1, y.astype(float), score)),  # 0 and 1 exactly
        ("int classes", y, (score >= 0.5).astype(np.int64)),
        ("bool classes", y.astype(bool), score >= 0.5),
        ("one class true", np.ones(50, dtype=int), rng.uniform(size=50)),
        ("no positives predicted", y[:40], np.zeros(40)),
        ("no positives at all", np.zeros(30, dtype=int), np.zeros(30)),
        ("one pair", np.array([1]), np.array([0.7])),
        ("scores outside [0, 1]", y[:60], rng.normal(size=60)),
    ]


@pytest.mark.parametrize("name, y, pred", binary_cases(), ids=[c[0] for c in binary_cases()])
def test_binary_metrics_match_sklearn(name: str, y: np.ndarray, pred: np.ndarray) -> None:
    assert_same(binary_metrics(y, pred, CLASSIFICATION_METRICS), sklearn_binary(y, pred))


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.8])
def test_threshold_sets_the_predicted_class(threshold: float) -> None:
    _, y, score = binary_cases()[0]
    assert_same(binary_metrics(y, score, CLASSIFICATION_METRICS, threshold=threshold),
                sklearn_binary(y, score, threshold))


def test_binary_metrics_without_pairs_are_nan() -> None:
    got = binary_metrics(np.array([], dtype=int), np.array([]), CLASSIFICATION_METRICS)
    assert list(got) == list(CLASSIFICATION_METRICS) and all(math.isnan(v) for v in got.values())


def test_binary_metrics_return_only_the_named_metrics_in_order() -> None:
    _, y, score = binary_cases()[0]
    assert list(binary_metrics(y, score, ["f1", "accuracy", "f1"])) == ["f1", "accuracy"]


def test_binary_labels_and_classes_must_be_0_or_1() -> None:
    with pytest.raises(ValueError, match="labels"):
        binary_metrics(np.array([0, 2]), np.array([0.1, 0.2]), ["accuracy"])
    with pytest.raises(ValueError, match="predictions"):
        binary_metrics(np.array([0, 1]), np.array([0, 3]), ["accuracy"])
    with pytest.raises(ValueError, match="predictions"):
        binary_metrics(np.array([0, 1]), np.array(["a", "b"]), ["accuracy"])


def test_unknown_metric_names_list_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid: accuracy, precision"):
        binary_metrics(np.array([0, 1]), np.array([0.1, 0.9]), ["accuracy", "auc"])
    with pytest.raises(ValueError, match="valid: mae, rmse, mape, r2"):
        regression_metrics(np.array([1.0]), np.array([1.0]), ["accuracy"])


# -- multiclass -------------------------------------------------------------------------------------

def sklearn_multiclass(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": sklearn_or_nan(lambda: skm.accuracy_score(y, pred)),
        "precision": sklearn_or_nan(lambda: skm.precision_score(y, pred, average="macro", zero_division=0)),
        "recall": sklearn_or_nan(lambda: skm.recall_score(y, pred, average="macro", zero_division=0)),
        "f1": sklearn_or_nan(lambda: skm.f1_score(y, pred, average="macro", zero_division=0)),
    }


def multiclass_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    y = rng.choice(["cat", "dog", "bird", "fish"], size=500)
    noisy = np.where(rng.random(500) < 0.3, rng.choice(["cat", "dog", "bird", "fish"], size=500), y)
    ints = rng.integers(0, 5, size=300)
    return [
        ("strings", y, noisy),
        ("ints", ints, np.where(rng.random(300) < 0.4, rng.integers(0, 5, size=300), ints)),
        ("predicted label never true", ints, np.where(ints == 4, 7, ints)),
        ("true label never predicted", ints, np.where(ints == 2, 3, ints)),
        ("object labels", y.astype(object), noisy.astype(object)),
        ("one label", np.array(["a"] * 5), np.array(["a"] * 5)),
    ]


@pytest.mark.parametrize("name, y, pred", multiclass_cases(), ids=[c[0] for c in multiclass_cases()])
def test_multiclass_metrics_match_sklearn(name: str, y: np.ndarray, pred: np.ndarray) -> None:
    assert_same(multiclass_metrics(y, pred, ["accuracy", "precision", "recall", "f1"]), sklearn_multiclass(y, pred))


def test_multiclass_omits_the_probability_metrics() -> None:
    _, y, pred = multiclass_cases()[0]
    got = multiclass_metrics(y, pred, CLASSIFICATION_METRICS)
    assert list(got) == ["accuracy", "precision", "recall", "f1"]


def test_multiclass_without_pairs_is_nan_and_mixed_label_kinds_are_rejected() -> None:
    got = multiclass_metrics(np.array([], dtype=str), np.array([], dtype=str), ["accuracy", "f1"])
    assert all(math.isnan(v) for v in got.values())
    with pytest.raises(ValueError, match="labels"):
        multiclass_metrics(np.array([1, 2]), np.array(["1", "2"]), ["accuracy"])


# -- regression --------------------------------------------------------------------------------------

def sklearn_regression(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {
        "mae": sklearn_or_nan(lambda: skm.mean_absolute_error(y, pred)),
        "rmse": sklearn_or_nan(lambda: skm.root_mean_squared_error(y, pred)),
        "mape": sklearn_or_nan(lambda: skm.mean_absolute_percentage_error(y, pred)),
        "r2": sklearn_or_nan(lambda: skm.r2_score(y, pred)),
    }


def regression_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(2)
    y = rng.normal(100.0, 20.0, size=2000)
    return [
        ("noisy", y, y + rng.normal(0, 5.0, size=2000)),
        ("zeros in the truth", np.where(rng.random(2000) < 0.05, 0.0, y), y),
        ("constant truth, perfect", np.full(10, 0.1), np.full(10, 0.1)),
        ("constant truth, off", np.full(10, 0.1), np.full(10, 0.3)),
        ("constant truth of 0.1 (mean not exact)", np.full(3, 0.1), np.array([0.1, 0.1, 0.2])),
        ("perfect", y[:100], y[:100].copy()),
        ("one pair", np.array([3.0]), np.array([2.0])),
        ("integers", rng.integers(0, 10, size=100), rng.integers(0, 10, size=100)),
    ]


@pytest.mark.parametrize("name, y, pred", regression_cases(), ids=[c[0] for c in regression_cases()])
def test_regression_metrics_match_sklearn(name: str, y: np.ndarray, pred: np.ndarray) -> None:
    assert_same(regression_metrics(y, pred, REGRESSION_METRICS), sklearn_regression(y, pred))


def test_regression_without_pairs_is_nan() -> None:
    got = regression_metrics(np.array([]), np.array([]), REGRESSION_METRICS)
    assert all(math.isnan(v) for v in got.values())
