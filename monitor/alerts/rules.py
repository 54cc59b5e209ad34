"""When a judged window becomes an alert (docs/configuration.md ``drift``, ``performance``, ``alerts``; the payload of docs/webhooks.md).

Pure functions, no I/O: the caller (a checkpoint, or a replay) hands in the window just judged
or refreshed, the model's other stored windows and the alerts it already raised, and writes
what comes back in the same transaction as the window.

- A **drift** alert: the window is judged (``min_events`` reached) and the model drifted
  (drift share reached ``drift_share``, or a critical feature drifted; the prediction counts as a
  feature), and so did the ``consecutive_windows - 1`` judged windows before it.
- A **performance** alert: the window is judged, has at least ``min_labels`` joined labels and
  one of ``performance.rules`` holds (``below`` / ``above``), and likewise for the
  ``consecutive_windows - 1`` judged windows before it.
- **Cooldown** is measured in event time, between window ends: no alert of the same kind and
  model for a window ending less than ``cooldown`` from one that already alerted. Event time
  (not wall time) makes a replay of the same events raise the same alerts as the live daemon.
- The alert **id** is ``kind:model:start:end`` (window bounds in Unix seconds), so judging a
  window again (a restart, a replay) finds the alert already there instead of raising another.

"In a row" counts the model's stored, judged windows in order of their end; a window that
had no events at all is not stored and so does not break a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from monitor.config import ModelConfig
from monitor.ingest.columns import PREDICTION
from monitor.judge.results import WindowResult, rfc3339

KINDS = ("drift", "performance")
"""The alert kinds, as in ``driftd_alerts_total{kind}``."""


@dataclass(frozen=True)
class Alert:
    """One alert, ready for the outbox: its deterministic id and the webhook payload (docs/webhooks.md)."""

    id: str
    kind: str
    model: str
    window_start: float
    window_end: float
    payload: Mapping[str, Any]


def alert_id(kind: str, model: str, start: float, end: float) -> str:
    """The deterministic id of the ``kind`` alert of one window.

    >>> alert_id("drift", "churn", 1763798400.0, 1763802000.0)
    'drift:churn:1763798400:1763802000'
    >>> alert_id("drift", "churn", 0.5, 1.25)
    'drift:churn:0.5:1.25'
    """
    return f"{kind}:{model}:{_seconds(start)}:{_seconds(end)}"


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def drift_reasons(window: WindowResult) -> list[dict[str, Any]]:
    """The crossed thresholds of a drifted window, features first, then the prediction."""
    columns = [*window.features, *([window.prediction] if window.prediction is not None else [])]
    return [{"feature": r.feature, "statistic": r.statistic, "value": r.value, "threshold": r.threshold}
            for column in columns for r in column.reasons]


def performance_reasons(window: WindowResult, model: ModelConfig) -> list[dict[str, Any]]:
    """The performance rules a window breaks, or [] when it has fewer than ``min_labels`` labels.

    Each reason names the metric, its value, the bound crossed and which side (``below`` /
    ``above``); a metric the window could not compute (NaN, absent) breaks nothing.
    """
    perf = model.performance
    if window.labels < perf.min_labels:
        return []
    out = []
    for metric, bound in perf.rules.items():
        value = window.performance.get(metric)
        if value is None or value != value:
            continue
        if bound.below is not None and value < bound.below:
            out.append({"metric": metric, "value": value, "threshold": bound.below, "rule": "below"})
        elif bound.above is not None and value > bound.above:
            out.append({"metric": metric, "value": value, "threshold": bound.above, "rule": "above"})
    return out


def holds(kind: str, window: WindowResult, model: ModelConfig) -> bool:
    """Whether ``kind``'s rule holds for one window (an unjudged window never holds)."""
    if not window.judged:
        return False
    if kind == "drift":
        return bool(window.drifted)
    return bool(performance_reasons(window, model))


def decide(kind: str, window: WindowResult, model: ModelConfig, earlier: Iterable[WindowResult],
           alerted_ends: Iterable[float], *, reference: Mapping[str, Any] | None, fired_at: float) -> Alert | None:
    """The ``kind`` alert ``window`` raises, or None.

    Parameters
    ----------
    earlier
        The model's stored windows that end before ``window`` (any order; unjudged ones are skipped).
    alerted_ends
        Window ends of the model's existing ``kind`` alerts (for the cooldown; ``window``'s own
        end, if it already alerted, is ignored: the caller's insert keeps the first one).
    reference
        ``{"id": "churn@3", "created_at": "..."}`` of the profile the window was judged against.
    fired_at
        Wall time the alert is raised (Unix seconds); it is part of the stored payload, so every
        delivery of the alert sends the same body.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown alert kind {kind!r}; valid: {', '.join(KINDS)}")
    if not holds(kind, window, model):
        return None
    need = model.alerts.consecutive_windows - 1
    if need > 0:
        before = sorted((w for w in earlier if w.judged and w.end <= window.start), key=lambda w: w.end,
                        reverse=True)[:need]
        if len(before) < need or not all(holds(kind, w, model) for w in before):
            return None
    cooldown = model.alerts.cooldown_s
    if cooldown > 0 and any(end != window.end and abs(window.end - end) < cooldown for end in alerted_ends):
        return None
    reasons = drift_reasons(window) if kind == "drift" else performance_reasons(window, model)
    return Alert(
        id=alert_id(kind, window.model, window.start, window.end), kind=kind, model=window.model,
        window_start=window.start, window_end=window.end,
        payload=payload(kind, window, reasons, reference=reference, fired_at=fired_at),
    )


def payload(kind: str, window: WindowResult, reasons: Sequence[Mapping[str, Any]], *,
            reference: Mapping[str, Any] | None, fired_at: float) -> dict[str, Any]:
    """The body of docs/webhooks.md (performance alerts add the window's ``performance`` and ``labels``)."""
    body: dict[str, Any] = {
        "id": alert_id(kind, window.model, window.start, window.end),
        "kind": kind,
        "model": window.model,
        "model_version": window.model_version,
        "window": {"start": rfc3339(window.start), "end": rfc3339(window.end), "events": window.events},
        "reasons": [dict(r) for r in reasons],
        "reference": dict(reference) if reference is not None else None,
        "fired_at": rfc3339(round(fired_at)),
    }
    if kind == "drift":
        body["drift_share"] = window.drift_share
        drifted = [f.name for f in window.features if f.drifted]
        if window.prediction is not None and window.prediction.drifted:
            drifted.append(PREDICTION)
        body["drifted_features"] = drifted
    else:
        body["performance"] = dict(window.performance)
        body["labels"] = window.labels
    return body
