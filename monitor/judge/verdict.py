"""Judge a closed window: statistics against the reference, then the model's drift rules (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from detectors.compare import PVALUE_STATISTICS, STATISTICS, Comparison, compare
from detectors.performance import binary_metrics, multiclass_metrics, regression_metrics
from detectors.profile import ReferenceProfile
from monitor.config import ModelConfig
from monitor.ingest.columns import PREDICTION, category_text
from monitor.judge.results import FeatureResult, Reason, WindowResult
from monitor.windows.pipeline import ModelRuntime
from monitor.windows.tumbling import ClosedWindow


@dataclass(frozen=True)
class DriftRules:
    """The drift half of a model's config, as the judge needs it."""

    statistics: tuple[str, ...]
    rules: Mapping[str, float]
    drift_share: float
    critical_features: tuple[str, ...] = ()
    min_events: int = 1

    def __post_init__(self) -> None:
        bad = [s for s in (*self.statistics, *self.rules) if s not in STATISTICS]
        if bad:
            raise ValueError(f"unknown statistics {bad}; valid: {', '.join(STATISTICS)}")

    @classmethod
    def of(cls, model: ModelConfig) -> DriftRules:
        """A model's drift rules, from its validated config."""
        drift = model.drift
        return cls(drift.statistics, dict(drift.rules), drift.drift_share, drift.critical_features,
                   model.window.min_events)


def crossed(statistic: str, value: float, pvalue: float, threshold: float) -> float | None:
    """The value that crosses ``threshold`` (a p-value below it, a distance above it), else None.

    >>> crossed("psi", 0.3, float("nan"), 0.2), crossed("ks", 0.1, 0.001, 0.05), crossed("ks", 0.1, 0.2, 0.05)
    (0.3, 0.001, None)
    """
    if statistic in PVALUE_STATISTICS:
        return pvalue if pvalue < threshold else None
    return value if value > threshold else None


def judge(window: ClosedWindow, profile: ReferenceProfile, reference_version: int | None, rules: DriftRules,
          *, closed_at: float | None = None, performance: Mapping[str, float] | None = None,
          labels: int = 0) -> WindowResult:
    """Compute every configured statistic for every column and apply the drift rules."""
    comparison = compare(profile, window.summary, rules.statistics)
    judged = window.events >= max(1, rules.min_events)
    features = _results(comparison, rules, judged)
    columns = [f for f in features if f.name != PREDICTION]
    prediction = next((f for f in features if f.name == PREDICTION), None)
    drift_share: float | None = None
    drifted: bool | None = None
    if judged:
        flags = [bool(f.drifted) for f in features]
        drift_share = float(np.mean(flags)) if flags else 0.0
        critical = any(f.drifted for f in features if f.name in rules.critical_features)
        drifted = bool(flags) and (drift_share >= rules.drift_share or critical)
    return WindowResult(model=window.model, start=window.start, end=window.end, events=window.events,
                        judged=judged, drift_share=drift_share, drifted=drifted,
                        reference_version=reference_version, features=tuple(columns), prediction=prediction,
                        performance=dict(performance or {}), labels=labels, model_version=window.model_version,
                        closed_at=closed_at)


def judge_closed(window: ClosedWindow, runtime: ModelRuntime, *, closed_at: float | None = None,
                 performance: Mapping[str, float] | None = None, labels: int = 0) -> WindowResult:
    """Judge a window that a pipeline closed against the reference its model's runtime holds."""
    assert runtime.profile is not None, f"model {window.model!r} closed a window before it had a reference"
    return judge(window, runtime.profile, runtime.reference_version, DriftRules.of(runtime.config),
                 closed_at=closed_at, performance=performance, labels=labels)


def _results(comparison: Comparison, rules: DriftRules, judged: bool) -> list[FeatureResult]:
    out = []
    for i, (name, kind) in enumerate(zip(comparison.columns, comparison.kinds)):
        values = {s: float(v[i]) for s, v in comparison.values.items() if not np.isnan(v[i])}
        pvalues = {s: float(p[i]) for s, p in comparison.pvalues.items() if not np.isnan(p[i])}
        reasons = _reasons(name, values, pvalues, rules.rules) if judged else ()
        out.append(FeatureResult(name=name, kind=kind, values=values, pvalues=pvalues,
                                 missing_ratio=float(comparison.missing_ratio[i]),
                                 drifted=bool(reasons) if judged else None, reasons=reasons))
    return out


def _reasons(name: str, values: Mapping[str, float], pvalues: Mapping[str, float],
             thresholds: Mapping[str, float]) -> tuple[Reason, ...]:
    found = []
    for statistic, threshold in thresholds.items():
        if statistic not in values:
            continue
        hit = crossed(statistic, values[statistic], pvalues.get(statistic, float("nan")), threshold)
        if hit is not None:
            found.append(Reason(name, statistic, hit, threshold))
    return tuple(found)


def performance_metrics(model: ModelConfig, predictions: list[Any], labels: list[Any]) -> dict[str, float]:
    """The model's configured performance metrics over joined pairs (docs/statistics.md)."""
    perf = model.performance
    if model.task == "regression":
        y = np.array(labels, dtype=np.float64)
        p = np.array(predictions, dtype=np.float64)
        ok = np.isfinite(y) & np.isfinite(p)
        return regression_metrics(y[ok], p[ok], perf.metrics)
    if model.task == "multiclass_classification":
        y_text = np.array([category_text(v) for v in labels], dtype=object)
        p_text = np.array([category_text(v) for v in predictions], dtype=object)
        ok = np.array([a is not None and b is not None for a, b in zip(y_text, p_text)], dtype=bool)
        return multiclass_metrics(y_text[ok].astype(str), p_text[ok].astype(str), perf.metrics)
    positive = category_text(perf.positive_label)
    y_bin = np.array([category_text(v) == positive for v in labels], dtype=np.int64)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in predictions):
        scores = np.array(predictions, dtype=np.float64)
        ok = np.isfinite(scores)
        return binary_metrics(y_bin[ok], scores[ok], perf.metrics, threshold=perf.threshold)
    classes = np.array([category_text(v) == positive for v in predictions], dtype=np.int64)
    return binary_metrics(y_bin, classes, perf.metrics, threshold=perf.threshold)
