"""decode -> window for every configured model: the code path shared by ``replay`` and the daemon.

The pipeline takes decoded :class:`~monitor.ingest.decode.Records`, routes them by model, feeds each
model's windows (or, for a reference built from live events, its reference buffer), and hands on
the windows that close (:mod:`monitor.judge` judges them). What it saw of predictions and labels
comes back in :class:`Fed` for the caller to join (in memory for a replay, in the store for the
daemon). It reads no clock and does no I/O: callers pass ``now`` and persist what it returns.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from detectors.profile import ReferenceProfile
from monitor.config import Config, ModelConfig
from monitor.ingest.columns import PREDICTION, typed_columns
from monitor.ingest.decode import LABELS, PREDICTIONS, Records
from monitor.reference.build import build_profile
from monitor.windows.tumbling import ClosedWindow, CountWindows, TimeWindows

log = logging.getLogger(__name__)

ProfileSink = Callable[[str, ReferenceProfile], int | None]
"""Called when a profile is built from live events; returns its stored version (None when not stored)."""


@dataclass
class Fed:
    """What one batch did: windows it closed (count windows), late events, and rows for the label join.

    ``predictions[model]`` is ``(prediction_ids, window_keys, predictions)`` and ``labels[model]``
    is ``(prediction_ids, labels)``, for the messages that carry a prediction id.
    """

    closed: list[ClosedWindow] = field(default_factory=list)
    late: Counter[str] = field(default_factory=Counter)
    predictions: dict[str, tuple[list[str], list[float], list[Any]]] = field(default_factory=dict)
    labels: dict[str, tuple[list[str], list[Any]]] = field(default_factory=dict)


@dataclass
class ModelRuntime:
    """Everything the pipeline holds for one model."""

    config: ModelConfig
    profile: ReferenceProfile | None
    reference_version: int | None
    windows: TimeWindows | CountWindows | None = None
    reference_buffer: list[Records] = field(default_factory=list)
    buffered: int = 0


class Pipeline:
    """Routes decoded records to their model's windows and hands on the windows that close.

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
            runtime = ModelRuntime(model, profile, version)
            if profile is not None:
                runtime.windows = self._windows_for(model, profile)
            self.models[model.name] = runtime
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

    def feed(self, records: Records, shard: str, now: float) -> Fed:
        """Route one decoded batch (time windows close in :meth:`tick`, count windows as they fill)."""
        fed = Fed()
        if len(records) == 0:
            return fed
        models = records.model
        first = models[0]
        names = [first] if (models == first).all() else np.unique(models).tolist()
        for name in names:
            part = records if len(names) == 1 else records.take(np.flatnonzero(models == name))
            self._feed_model(self.models[name], part, shard, now, fed)
        self.late.update(fed.late)
        return fed

    def _feed_model(self, runtime: ModelRuntime, records: Records, shard: str, now: float, fed: Fed) -> None:
        is_label = records.kind == LABELS
        if is_label.any():
            rows = [i for i in np.flatnonzero(is_label).tolist() if records.prediction_id[i] is not None]
            fed.labels[runtime.config.name] = ([records.prediction_id[i] for i in rows],  # type: ignore[misc]
                                               [records.label[i] for i in rows])
            if is_label.all():
                return
            records = records.take(np.flatnonzero(~is_label))
        if runtime.profile is None:
            self._buffer_reference(runtime, records, shard, now, fed)
        else:
            self._window(runtime, records, shard, now, fed)

    def _window(self, runtime: ModelRuntime, records: Records, shard: str, now: float, fed: Fed) -> None:
        assert runtime.profile is not None and runtime.windows is not None
        raw = dict(records.features) if records.extra_features is None else _from_mappings(records.extra_features)
        raw[PREDICTION] = records.prediction
        columns = typed_columns(raw, runtime.profile.layout)
        version = next((v for v in reversed(records.model_version) if v is not None), None)
        windows = runtime.windows
        if isinstance(windows, TimeWindows):
            keys = np.floor(records.timestamp / windows.size_s) * windows.size_s
            on_time = keys + windows.size_s > windows.closed_until
            late = windows.add(records.timestamp, columns, shard=shard, now=now, model_version=version)
            if late:  # late events are not counted anywhere, not even in the label join
                fed.late[runtime.config.name] += late
                keys, records = keys[on_time], records.take(np.flatnonzero(on_time))
        else:
            keys = windows.keys_for(len(records))
            fed.closed.extend(windows.add(records.timestamp, columns, model_version=version))
        self._predictions(runtime, records, keys, fed)

    @staticmethod
    def _predictions(runtime: ModelRuntime, records: Records, keys: np.ndarray, fed: Fed) -> None:
        is_prediction = records.kind == PREDICTIONS
        pids, windows, predictions = records.prediction_id, keys.tolist(), records.prediction
        if not is_prediction.all() or None in pids:
            rows = [i for i in np.flatnonzero(is_prediction).tolist() if pids[i] is not None]
            pids, windows, predictions = [pids[i] for i in rows], [windows[i] for i in rows], [predictions[i] for i in rows]
        if pids:
            fed.predictions[runtime.config.name] = (pids, windows, predictions)  # type: ignore[assignment]

    def _buffer_reference(self, runtime: ModelRuntime, records: Records, shard: str, now: float, fed: Fed) -> None:
        """Keep events for a reference built from live traffic; what comes after the first N is windowed."""
        target = runtime.config.reference.events
        assert target is not None
        room = target - runtime.buffered
        runtime.reference_buffer.append(records if len(records) <= room else records.take(np.arange(room)))
        runtime.buffered += min(room, len(records))
        if runtime.buffered >= target:
            self._build_live_profile(runtime)
            if len(records) > room:
                self._window(runtime, records.take(np.arange(room, len(records))), shard, now, fed)

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


def _from_mappings(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    names: list[str] = []
    seen: set[str] = set()
    for row in rows:
        for name in row:
            if name not in seen:
                seen.add(name)
                names.append(name)
    return {name: [row.get(name) for row in rows] for name in names}
