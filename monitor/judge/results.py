"""What judging a window produces: the frozen records that the store, the metrics and the CLI read,
and the RFC 3339 form their times take in every document driftd writes (payloads, ``--json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Mapping

@dataclass(frozen=True)
class FeatureResult:
    """Drift of one feature (or of the prediction) in one window.

    ``values`` maps a statistic name of docs/statistics.md (psi, ks, wasserstein, jensenshannon,
    chisquare) to its value; ``pvalues`` holds the p-value of the tests that have one (ks,
    chisquare). ``drifted`` is None when the window was not judged.
    """

    name: str
    kind: str  # "numeric" | "categorical"
    values: Mapping[str, float]
    pvalues: Mapping[str, float]
    missing_ratio: float
    drifted: bool | None
    reasons: tuple["Reason", ...] = ()


@dataclass(frozen=True)
class Reason:
    """One crossed threshold: why a feature (or a performance metric) was found drifting."""

    feature: str
    statistic: str
    value: float
    threshold: float


@dataclass(frozen=True)
class WindowResult:
    """One closed window of one model: its counts, drift per feature, prediction drift, performance.

    Times are Unix seconds. ``judged`` is False when the window had fewer than ``min_events``;
    such a window is stored but never alerts.
    """

    model: str
    start: float
    end: float
    events: int
    judged: bool
    drift_share: float | None
    drifted: bool | None
    reference_version: int | None
    features: tuple[FeatureResult, ...] = ()
    prediction: FeatureResult | None = None
    performance: Mapping[str, float] = field(default_factory=dict)
    labels: int = 0
    model_version: str | None = None
    closed_at: float | None = None

def rfc3339(ts: float) -> str:
    """Unix seconds -> ``2025-11-22T08:00:00Z`` (fractions kept only when present).

    >>> rfc3339(1763798400.0), rfc3339(1763798400.25)
    ('2025-11-22T08:00:00Z', '2025-11-22T08:00:00.250000Z')
    """
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")
