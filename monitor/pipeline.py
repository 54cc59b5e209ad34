"""decode -> window -> judge for every configured model: the code path shared by ``replay`` and the daemon.

The pipeline takes decoded :class:`~monitor.decode.Records`, routes them by model, feeds each
model's windows (or, for a reference built from live events, its reference buffer), joins labels to
predictions, and turns closed windows into :class:`~monitor.results.WindowResult`. It reads no
clock and does no I/O: callers pass ``now`` and persist what it returns.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

import numpy as np

from detectors.performance import binary_metrics, multiclass_metrics, regression_metrics
from detectors.profile import ReferenceProfile
from monitor.columns import category_text, typed_columns
from monitor.config import Config, ModelConfig
from monitor.decode import FEATURES, LABELS, PREDICTIONS, Records
from monitor.judge import DriftRules, judge
from monitor.labels import Joined, LabelJoin
from monitor.reference import build_profile
from monitor.results import PREDICTION, WindowResult
from monitor.windows import ClosedWindow, CountWindows, TimeWindows

log = logging.getLogger(__name__)

ProfileSink = Callable[[str, ReferenceProfile], int | None]
"""Called when a profile is built from live events; returns its stored version (None when not stored)."""


@dataclass
class _Pairs:
    """Joined (prediction, label) pairs of one window, for its performance."""

    predictions: list[Any] = field(default_factory=list)
    labels: list[Any] = field(default_factory=list)


@dataclass
class ModelRuntime:
    """Everything the pipeline holds for one model."""

    config: ModelConfig
    profile: ReferenceProfile | None
    reference_version: int | None
    rules: DriftRules
    windows: TimeWindows | CountWindows | None = None
    reference_buffer: list[Records] = field(default_factory=list)
    buffered: int = 0
    late: int = 0
    pairs: dict[Hashable, _Pairs] = field(default_factory=lambda: defaultdict(_Pairs))


class Pipeline:
    """Routes decoded records to their model's windows and judges the windows that close.

    Parameters
    ----------
    config
        The validated configuration.
    profiles
        Model name -> (profile, stored version) for models whose reference is ready; models with
        ``reference: {events: N}`` and no stored profile build theirs from their first N events.
    on_profile
        Called with a profile built from live events (to store it); returns its version.
    """

    def __init__(self, config: Config, profiles: dict[str, tuple[ReferenceProfile, int | None]],
                 on_profile: ProfileSink | None = None) -> None:
        self.config = config
        self.on_profile = on_profile
        self.models: dict[str, ModelRuntime] = {}
        for model in config.models:
            profile, version = profiles.get(model.name, (None, None))
            if profile is None and model.reference.events is None:
                raise ValueError(f"model {model.name!r}: no reference profile (build one with `driftd reference build`)")
            drift = model.drift
            rules = DriftRules(drift.statistics, dict(drift.rules), drift.drift_share, drift.critical_features,
                               model.window.min_events)
            runtime = ModelRuntime(model, profile, version, rules)
            if profile is not None:
                runtime.windows = self._windows_for(model, profile)
            self.models[model.name] = runtime
        max_ttl = max((m.performance.label_ttl_s for m in config.models), default=7 * 86400.0)
        self.labels = LabelJoin(max_ttl, config.limits.max_pending_labels)
        self.late = Counter[str]()

    def _windows_for(self, model: ModelConfig, profile: ReferenceProfile) -> TimeWindows | CountWindows:
        capacity = model.drift.sample_size
        max_unseen = min(100, self.config.limits.max_categories)

        def new_summary(seed: int) -> Any:
            return profile.window(capacity=capacity, max_unseen=max_unseen, seed=seed)

        window = model.window
        if window.events is not None:
            return CountWindows(model.name, window.events, new_summary)
        assert window.size_s is not None
        idle = window.idle_close_s if window.idle_close_s is not None else window.size_s
        return TimeWindows(model.name, window.size_s, window.allowed_lateness_s, idle, new_summary)

    def feature_names(self) -> dict[str, tuple[str, ...] | None]:
        """Per model, the feature names the decoder should extract (None: not known yet)."""
        out: dict[str, tuple[str, ...] | None] = {}
        for name, runtime in self.models.items():
            if runtime.profile is not None:
                out[name] = tuple(n for n in runtime.profile.layout.names if n != PREDICTION)
            elif runtime.config.features is not None:
                out[name] = tuple(f.name for f in runtime.config.features)
            else:
                out[name] = None
        return out

    def feature_kinds(self) -> dict[str, str]:
        """Feature name -> kind, for the features whose kind is the same in every model that has it."""
        kinds: dict[str, str] = {}
        clash: set[str] = set()
        for runtime in self.models.values():
            if runtime.profile is None:
                continue
            for column in runtime.profile.layout.columns:
                if column.name == PREDICTION:
                    continue
                if kinds.setdefault(column.name, column.kind) != column.kind:
                    clash.add(column.name)
        return {name: kind for name, kind in kinds.items() if name not in clash}

    def feed(self, records: Records, shard: str, now: float) -> list[ClosedWindow]:
        """Route one decoded batch; returns windows closed by count (time windows close in :meth:`tick`)."""
        closed: list[ClosedWindow] = []
        if len(records) == 0:
            return closed
        models = records.model
        first = models[0]
        names = [first] if (models == first).all() else np.unique(models).tolist()
        for name in names:
            part = records if len(names) == 1 else records.take(np.flatnonzero(models == name))
            closed.extend(self._feed_model(self.models[name], part, shard, now))
        return closed

    def _feed_model(self, runtime: ModelRuntime, records: Records, shard: str, now: float) -> list[ClosedWindow]:
        kinds = records.kind
        is_label = kinds == LABELS
        if is_label.any():
            rows = [i for i in np.flatnonzero(is_label).tolist() if records.prediction_id[i] is not None]
            self._joined(runtime, self.labels.add_labels(
                runtime.config.name, [records.prediction_id[i] for i in rows], [records.label[i] for i in rows], now))
            if is_label.all():
                return []
            records = records.take(np.flatnonzero(~is_label))
        if runtime.profile is None:
            return self._buffer_reference(runtime, records, shard, now)
        return self._window(runtime, records, shard, now)

    def _window(self, runtime: ModelRuntime, records: Records, shard: str, now: float) -> list[ClosedWindow]:
        assert runtime.profile is not None and runtime.windows is not None
        raw = dict(records.features) if records.extra_features is None else _from_mappings(records.extra_features)
        raw[PREDICTION] = records.prediction
        columns = typed_columns(raw, runtime.profile.layout)
        version = next((v for v in reversed(records.model_version) if v is not None), None)
        windows = runtime.windows
        is_prediction = records.kind == PREDICTIONS
        if isinstance(windows, TimeWindows):
            keys = np.floor(records.timestamp / windows.size_s) * windows.size_s
            late = windows.add(records.timestamp, columns, shard=shard, now=now, model_version=version)
            closed: list[ClosedWindow] = []
        else:
            keys = windows.keys_for(len(records))
            closed = windows.add(records.timestamp, columns, model_version=version)
            late = 0
        if late:
            runtime.late += late
            self.late[runtime.config.name] += late
        self._track_predictions(runtime, records, is_prediction, keys, now)
        return closed

    def _track_predictions(self, runtime: ModelRuntime, records: Records, is_prediction: np.ndarray,
                           keys: np.ndarray, now: float) -> None:
        pids, windows, predictions = records.prediction_id, keys.tolist(), records.prediction
        if not is_prediction.all() or None in pids:
            rows = [i for i in np.flatnonzero(is_prediction).tolist() if pids[i] is not None]
            pids, windows, predictions = [pids[i] for i in rows], [windows[i] for i in rows], [predictions[i] for i in rows]
        if pids:
            self._joined(runtime, self.labels.add_predictions(runtime.config.name, pids, windows, predictions, now))

    def _joined(self, runtime: ModelRuntime, joined: list[Joined]) -> None:
        for pair in joined:
            bucket = runtime.pairs[pair.window]
            bucket.predictions.append(pair.prediction)
            bucket.labels.append(pair.label)

    def _buffer_reference(self, runtime: ModelRuntime, records: Records, shard: str,
                          now: float) -> list[ClosedWindow]:
        """Keep events for a reference built from live traffic; what comes after the first N is windowed."""
        target = runtime.config.reference.events
        assert target is not None
        room = target - runtime.buffered
        runtime.reference_buffer.append(records if len(records) <= room else records.take(np.arange(room)))
        runtime.buffered += min(room, len(records))
        if runtime.buffered >= target:
            self._build_live_profile(runtime)
            if len(records) > room:
                return self._window(runtime, records.take(np.arange(room, len(records))), shard, now)
        return []

    def _build_live_profile(self, runtime: ModelRuntime) -> None:
        model = runtime.config
        table: dict[str, list[Any]] = defaultdict(list)
        for part in runtime.reference_buffer:
            raw = dict(part.features) if part.extra_features is None else _from_mappings(part.extra_features)
            names = set(raw) | set(table)
            for name in names:
                table[name].extend(raw.get(name, [None] * len(part)))
            if part.kind.size and (part.kind == PREDICTIONS).any():
                table[PREDICTION].extend(part.prediction)
        features = None if model.features is None else [(f.name, f.type) for f in model.features]
        profile = build_profile(dict(table), features, model.task, source=f"model {model.name!r} live reference",
                                bins=model.drift.bins, sample_size=model.drift.sample_size,
                                max_categories=self.config.limits.max_categories)
        runtime.profile = profile
        runtime.reference_buffer = []
        runtime.reference_version = self.on_profile(model.name, profile) if self.on_profile else None
        runtime.windows = self._windows_for(model, profile)
        log.info("reference built from live events model=%s events=%d", model.name, runtime.buffered)

    def tick(self, now: float) -> list[ClosedWindow]:
        """Close the time windows that the watermark (or idleness) has closed."""
        closed: list[ClosedWindow] = []
        for runtime in self.models.values():
            if isinstance(runtime.windows, TimeWindows):
                closed.extend(runtime.windows.ready(now))
        return closed

    def flush(self) -> list[ClosedWindow]:
        """Close every open window (end of a replayed input)."""
        closed: list[ClosedWindow] = []
        for runtime in self.models.values():
            if runtime.profile is None and runtime.buffered:
                log.warning("model=%s: input ended after %d of the %s reference events; no windows judged",
                            runtime.config.name, runtime.buffered, runtime.config.reference.events)
            if runtime.windows is not None:
                closed.extend(runtime.windows.flush())
        return closed

    def judge(self, window: ClosedWindow, closed_at: float | None = None) -> WindowResult:
        """Judge a closed window against its model's reference, with the performance known so far."""
        runtime = self.models[window.model]
        assert runtime.profile is not None
        performance, labels = self.performance(window)
        return judge(window, runtime.profile, runtime.reference_version, runtime.rules, closed_at=closed_at,
                     performance=performance, labels=labels)

    def performance(self, window: ClosedWindow | WindowResult) -> tuple[dict[str, float], int]:
        """Performance metrics of a window from its joined labels, and how many labels it has."""
        runtime = self.models[window.model]
        key = window.key if isinstance(window, ClosedWindow) else window.start
        pairs = runtime.pairs.get(key)
        if pairs is None or not pairs.labels:
            return {}, 0
        model = runtime.config
        metrics = performance_metrics(model, pairs.predictions, pairs.labels)
        return metrics, len(pairs.labels)

    def refresh(self, result: WindowResult, key: Hashable) -> WindowResult:
        """The same window result with its performance recomputed from the labels joined since."""
        pairs = self.models[result.model].pairs.get(key)
        if pairs is None or not pairs.labels:
            return result
        metrics = performance_metrics(self.models[result.model].config, pairs.predictions, pairs.labels)
        return dataclasses.replace(result, performance=metrics, labels=len(pairs.labels))


def performance_metrics(model: ModelConfig, predictions: list[Any], labels: list[Any]) -> dict[str, float]:
    """The model's configured performance metrics over joined pairs (CONTRACT §3)."""
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


def _from_mappings(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    names: list[str] = []
    seen: set[str] = set()
    for row in rows:
        for name in row:
            if name not in seen:
                seen.add(name)
                names.append(name)
    return {name: [row.get(name) for row in rows] for name in names}
