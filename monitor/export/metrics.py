"""The Prometheus metrics of docs/metrics.md on a registry passed in, with a bound on labelled series.

Gauges describe the most recent judged window of each model: a newer judged window replaces
the model's drift series (features or statistics no longer present disappear), an older or
unjudged one changes nothing, and NaN values are not exported. Performance follows its own
rule: the newest window with enough labels. Counters and the remaining gauges are plain
updates. The number of labelled series is capped (``limits.max_metric_series``): a series
beyond the cap is not created and ``driftd_metric_series_dropped_total`` counts the refusal.
"""

from __future__ import annotations

import math
import threading
from typing import Iterable, Mapping, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from detectors.compare import PVALUE_STATISTICS
from monitor.errors import DriftdError
from monitor.judge.results import WindowResult

DELIVERY_OUTCOMES = ("delivered", "retried", "failed")
"""The ``outcome`` label values of ``driftd_webhook_deliveries_total``."""

ALERT_KINDS = ("drift", "performance")
"""The ``kind`` label values of ``driftd_alerts_total``."""

BATCH_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Histogram buckets of ``driftd_batch_seconds``: 1 ms to 30 s (and +Inf)."""

_Labelled = TypeVar("_Labelled", Counter, Gauge)
_Key = tuple[Gauge, tuple[str, ...]]


class Metrics:
    """Every driftd metric of docs/metrics.md, registered on ``registry``.

    Parameters
    ----------
    registry:
        Where the metrics are registered; a fresh ``CollectorRegistry`` when omitted (never the
        global ``REGISTRY`` implicitly).
    max_series:
        At most this many labelled series across all driftd metrics (``limits.max_metric_series``).

    Safe to update from one thread while another scrapes: the series bookkeeping is locked and
    prometheus_client's metrics lock themselves.

    Examples
    --------
    >>> from prometheus_client import generate_latest
    >>> metrics = Metrics(CollectorRegistry(), max_series=10)
    >>> metrics.consumed("ml.predictions", 3)
    >>> b'driftd_events_consumed_total{topic="ml.predictions"} 3.0' in generate_latest(metrics.registry)
    True
    """

    def __init__(self, registry: CollectorRegistry | None = None, max_series: int = 50_000) -> None:
        if isinstance(max_series, bool) or not isinstance(max_series, int) or max_series < 0:
            raise DriftdError(f"max_series: expected a non-negative integer, got {max_series!r}")
        self.registry = registry if registry is not None else CollectorRegistry()
        self.max_series = max_series
        self._lock = threading.RLock()
        self._live: set[tuple[object, tuple[str, ...]]] = set()
        self._window_end: dict[str, float] = {}
        self._window_series: dict[str, set[_Key]] = {}
        self._performance_end: dict[str, float] = {}
        self._performance_series: dict[str, set[_Key]] = {}
        self._register(self.registry)

    def _register(self, r: CollectorRegistry) -> None:
        """Create every metric on ``r`` (names and label names exactly as docs/metrics.md)."""
        def gauge(name: str, doc: str, *labels: str) -> Gauge:
            return Gauge(name, doc, labels, registry=r)

        def counter(name: str, doc: str, *labels: str) -> Counter:  # exposed as name + "_total"
            return Counter(name, doc, labels, registry=r)

        last = "in the last judged window"
        self._feature_drift = gauge("driftd_feature_drift", f"Drift statistic of a feature {last}.",
                                    "model", "feature", "statistic")
        self._feature_pvalue = gauge("driftd_feature_drift_pvalue", f"p-value of a feature's test (ks, chisquare) {last}.",
                                     "model", "feature", "statistic")
        self._feature_drifted = gauge("driftd_feature_drifted", f"1 if the feature drifted {last}, else 0.",
                                      "model", "feature")
        self._missing_ratio = gauge("driftd_feature_missing_ratio", f"Share of missing values of a feature {last}.",
                                    "model", "feature")
        self._drift_share = gauge("driftd_model_drift_share", f"Share of features that drifted {last}.", "model")
        self._model_drifted = gauge("driftd_model_drifted", f"1 if the model-level drift rule holds {last}, else 0.",
                                    "model")
        self._prediction_drift = gauge("driftd_prediction_drift", f"Prediction drift statistic {last}.",
                                       "model", "statistic")
        self._performance = gauge("driftd_model_performance", "Performance value of the newest window with enough labels.",
                                  "model", "metric")
        self._window_events = gauge("driftd_window_events", "Events in the last judged window.", "model")
        self._window_end_ts = gauge("driftd_window_end_timestamp_seconds", "End of the last judged window, Unix seconds.",
                                    "model")
        self._consumed = counter("driftd_events_consumed", "Messages consumed.", "topic")
        self._rejected = counter("driftd_events_rejected", "Messages rejected, by reason.", "topic", "reason")
        self._late = counter("driftd_events_late", "Events for an already closed window, not used.", "model")
        self._windows_closed = counter("driftd_windows_closed", "Windows closed.", "model")
        self._alerts = counter("driftd_alerts", "Alerts raised; kind = drift / performance.", "model", "kind")
        self._deliveries = counter("driftd_webhook_deliveries",
                                   "Webhook delivery attempts; outcome = delivered / retried / failed.",
                                   "webhook", "outcome")
        self._webhook_pending = gauge("driftd_webhook_pending", "Alerts not yet delivered.", "webhook")
        self._labels_joined = counter("driftd_labels_joined", "Labels joined to their prediction.", "model")
        self._labels_expired = counter("driftd_labels_expired", "Pending label joins expired (TTL or bound).", "model")
        self._label_join_pending = gauge("driftd_label_join_pending", "Predictions waiting for a label.", "model")
        self._consumer_lag = gauge("driftd_consumer_lag", "Messages behind the log end.", "topic", "partition")
        self._batch_seconds = Histogram("driftd_batch_seconds", "Time to process one polled batch.",
                                        buckets=BATCH_BUCKETS_S, registry=r)
        self._series_dropped = counter("driftd_metric_series_dropped",
                                       "Updates refused because a new series would exceed limits.max_metric_series.")

    # -- series bookkeeping ----------------------------------------------------------------

    def _child(self, metric: _Labelled, *labels: str) -> _Labelled | None:
        """The series of ``metric`` with ``labels``, created if the cap allows; None (counted) if not."""
        key = (metric, labels)
        with self._lock:
            if key not in self._live:
                if len(self._live) >= self.max_series:
                    self._series_dropped.inc()
                    return None
                self._live.add(key)
            return metric.labels(*labels)

    def _remove(self, metric: Counter | Gauge, *labels: str) -> None:
        """Remove one series, freeing its place under the cap."""
        with self._lock:
            if (metric, labels) in self._live:
                self._live.discard((metric, labels))
                metric.remove(*labels)

    def _replace(self, previous: set[_Key], wanted: Mapping[_Key, float]) -> set[_Key]:
        """Remove the series of ``previous`` not in ``wanted``, then set ``wanted``; return those set."""
        for gauge, labels in previous - wanted.keys():
            self._remove(gauge, *labels)
        current = set()
        for (gauge, labels), value in wanted.items():
            child = self._child(gauge, *labels)
            if child is not None:
                child.set(value)
                current.add((gauge, labels))
        return current

    @property
    def series(self) -> int:
        """Number of labelled series currently exported (at most ``max_series``)."""
        with self._lock:
            return len(self._live)

    # -- window results -------------------------------------------------------------------

    def observe_window(self, result: WindowResult) -> None:
        """Export a closed window if it is judged and not older than the model's last judged window.

        Replaces the model's feature, prediction and window series; NaN values are skipped.
        """
        if not result.judged:
            return
        model = result.model
        with self._lock:
            if result.end < self._window_end.get(model, -math.inf):
                return
            self._window_end[model] = result.end
            wanted = self._window_values(result)
            self._window_series[model] = self._replace(self._window_series.get(model, set()), wanted)

    def _window_values(self, result: WindowResult) -> dict[_Key, float]:
        """The series a judged window sets, NaN and None left out; model-level first, so a cap drops features first."""
        model = result.model
        wanted: dict[_Key, float] = {}

        def put(gauge: Gauge, labels: tuple[str, ...], value: float | bool | None) -> None:
            if value is not None and not math.isnan(value):
                wanted[(gauge, labels)] = float(value)

        put(self._drift_share, (model,), result.drift_share)
        put(self._model_drifted, (model,), result.drifted)
        put(self._window_events, (model,), result.events)
        put(self._window_end_ts, (model,), result.end)
        if result.prediction is not None:
            for statistic, value in result.prediction.values.items():
                put(self._prediction_drift, (model, statistic), value)
        for feature in result.features:
            for statistic, value in feature.values.items():
                put(self._feature_drift, (model, feature.name, statistic), value)
            for statistic, pvalue in feature.pvalues.items():
                if statistic in PVALUE_STATISTICS:
                    put(self._feature_pvalue, (model, feature.name, statistic), pvalue)
            put(self._feature_drifted, (model, feature.name), feature.drifted)
            put(self._missing_ratio, (model, feature.name), feature.missing_ratio)
        return wanted

    def observe_performance(self, model: str, end: float, performance: Mapping[str, float],
                            labels: int, min_labels: int) -> None:
        """Export a window's performance if it has ``min_labels`` labels and is not older than the last exported.

        Replaces the model's performance series; NaN values are skipped.
        """
        if labels < min_labels:
            return
        with self._lock:
            if end < self._performance_end.get(model, -math.inf):
                return
            self._performance_end[model] = end
            wanted: dict[_Key, float] = {(self._performance, (model, name)): float(value)
                                         for name, value in performance.items() if not math.isnan(value)}
            self._performance_series[model] = self._replace(self._performance_series.get(model, set()), wanted)

    def restore(self, results: Iterable[WindowResult], *, min_labels: Mapping[str, int] | None = None) -> None:
        """Set the gauges from stored windows on start, in any order, so a restart re-exports the same values.

        ``min_labels`` maps a model to its ``performance.min_labels``; a model absent from it
        (no performance configured) gets no performance restored.
        """
        for result in results:
            self.observe_window(result)
            if min_labels is not None and result.model in min_labels:
                self.observe_performance(result.model, result.end, result.performance, result.labels,
                                         min_labels[result.model])

    # -- counters and gauges --------------------------------------------------------------

    def preset(self, *, topics: Iterable[str] = (), models: Iterable[str] = (), webhooks: Iterable[str] = ()) -> None:
        """Create the series of label values the config already names, at 0, so they exist from the first scrape.

        Per topic: consumed. Per model: late, windows closed, labels joined and expired, pending
        label joins, alerts of each kind. Per webhook: deliveries of each outcome, pending alerts.
        Existing series keep their values; the ``max_series`` cap applies. (Rejections are not
        preset: their ``reason`` is known only when a message is rejected.)

        >>> from prometheus_client import generate_latest
        >>> metrics = Metrics(CollectorRegistry(), max_series=100)
        >>> metrics.webhook_pending("retrain", 2)
        >>> metrics.preset(topics=["ml.predictions"], models=["churn"], webhooks=["retrain"])
        >>> text = generate_latest(metrics.registry).decode()
        >>> 'driftd_alerts_total{kind="drift",model="churn"} 0.0' in text, 'driftd_webhook_pending{webhook="retrain"} 2.0' in text
        (True, True)
        """
        for topic in topics:
            self._inc(self._consumed, 0, topic)
        for model in models:
            for counter in (self._late, self._windows_closed, self._labels_joined, self._labels_expired):
                self._inc(counter, 0, model)
            for kind in ALERT_KINDS:
                self._inc(self._alerts, 0, model, kind)
            self._child(self._label_join_pending, model)
        for webhook in webhooks:
            for outcome in DELIVERY_OUTCOMES:
                self._inc(self._deliveries, 0, webhook, outcome)
            self._child(self._webhook_pending, webhook)

    def consumed(self, topic: str, n: int = 1) -> None:
        """Count ``n`` messages consumed from ``topic``."""
        self._inc(self._consumed, n, topic)

    def rejected(self, topic: str, reason: str, n: int = 1) -> None:
        """Count ``n`` messages of ``topic`` rejected for ``reason``."""
        self._inc(self._rejected, n, topic, reason)

    def late(self, model: str, n: int = 1) -> None:
        """Count ``n`` events of ``model`` that arrived for an already closed window."""
        self._inc(self._late, n, model)

    def window_closed(self, model: str) -> None:
        """Count one closed window of ``model``."""
        self._inc(self._windows_closed, 1, model)

    def alert(self, model: str, kind: str) -> None:
        """Count one alert of ``kind`` (drift / performance) for ``model``."""
        _check("kind", kind, ALERT_KINDS)
        self._inc(self._alerts, 1, model, kind)

    def delivery(self, webhook: str, outcome: str) -> None:
        """Count one delivery attempt to ``webhook`` with ``outcome`` (delivered / retried / failed)."""
        _check("outcome", outcome, DELIVERY_OUTCOMES)
        self._inc(self._deliveries, 1, webhook, outcome)

    def webhook_pending(self, webhook: str, n: int) -> None:
        """Set the number of alerts not yet delivered to ``webhook``."""
        self._set(self._webhook_pending, n, webhook)

    def labels_joined(self, model: str, n: int = 1) -> None:
        """Count ``n`` labels of ``model`` joined to their prediction."""
        self._inc(self._labels_joined, n, model)

    def labels_expired(self, model: str, n: int = 1) -> None:
        """Count ``n`` pending label joins of ``model`` expired (TTL or bound)."""
        self._inc(self._labels_expired, n, model)

    def label_join_pending(self, model: str, n: int) -> None:
        """Set the number of predictions of ``model`` waiting for a label."""
        self._set(self._label_join_pending, n, model)

    def consumer_lag(self, topic: str, partition: int, lag: float) -> None:
        """Set how many messages ``partition`` of ``topic`` is behind its log end."""
        self._set(self._consumer_lag, lag, topic, str(partition))

    def remove_consumer_lag(self, topic: str, partition: int) -> None:
        """Drop the lag series of a partition no longer assigned (revoked)."""
        self._remove(self._consumer_lag, topic, str(partition))

    def observe_batch(self, seconds: float) -> None:
        """Record the time taken to process one polled batch."""
        self._batch_seconds.observe(seconds)

    def _inc(self, counter: Counter, n: float, *labels: str) -> None:
        if n < 0:
            name = next(iter(counter.describe())).name
            raise DriftdError(f"{name}_total{{{','.join(labels)}}}: a counter only goes up, got {n!r}")
        with self._lock:  # so a concurrent removal never races an update
            child = self._child(counter, *labels)
            if child is not None:
                child.inc(n)

    def _set(self, gauge: Gauge, value: float, *labels: str) -> None:
        with self._lock:
            child = self._child(gauge, *labels)
            if child is not None:
                child.set(value)


def _check(name: str, value: str, valid: tuple[str, ...]) -> None:
    """Raise if ``value`` is not one of ``valid``, naming the label and the valid values."""
    if value not in valid:
        raise DriftdError(f"{name}: expected one of {', '.join(valid)}, got {value!r}")
