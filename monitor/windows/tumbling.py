"""Event-time tumbling windows and count windows of one model (docs/statistics.md). No clock is read here:
callers pass ``now`` (wall time), so tests and replay control time.

Time windows are aligned to the epoch (``floor(ts / size) * size``). Each shard (a Kafka partition)
has its own watermark, the largest event time seen in it; the model's watermark is the smallest over
the shards that are not idle, minus ``allowed_lateness``. A window closes when the watermark passes
its end, or when the model has had no events for ``idle_close`` of wall time. An event whose window
has already closed is late: it is counted and not used.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from detectors.summary import WindowSummary

SummaryFactory = Callable[[int], WindowSummary]
"""Makes an empty summary from a seed (the profile's :meth:`~detectors.profile.ReferenceProfile.window`)."""


@dataclass
class OpenWindow:
    """A window still receiving events, with one partial summary per shard that fed it.

    Partial summaries merge into the window's summary; keeping them apart lets each Kafka
    partition's share be checkpointed with that partition's offset, and move with it.
    """

    start: float
    end: float
    parts: dict[str, WindowSummary]
    model_version: str | None = None
    key: float = 0.0
    dirty: set[str] = field(default_factory=set)

    @property
    def summary(self) -> WindowSummary:
        """All shards' events merged (shards in name order, so the merge is deterministic)."""
        merged = WindowSummary.merge_all(self.parts[shard] for shard in sorted(self.parts))
        assert merged is not None, "an open window has at least one part"
        return merged

    @property
    def events(self) -> int:
        """Events counted so far."""
        return sum(part.n for part in self.parts.values())


@dataclass(frozen=True)
class ClosedWindow:
    """A window that will receive no more events, ready to be judged."""

    model: str
    start: float
    end: float
    summary: WindowSummary
    model_version: str | None
    reason: str  # watermark | idle | end_of_input | count
    key: float = 0.0
    """Identity of the window while it is open: its start (time windows) or sequence number (count windows)."""

    @property
    def events(self) -> int:
        """Events in the window."""
        return self.summary.n


@dataclass
class _Shard:
    max_event_time: float = float("-inf")
    last_seen_wall: float = float("-inf")


def window_seed(model: str, start: float) -> int:
    """A stable reservoir seed for one window of one model."""
    return zlib.crc32(f"{model}:{start!r}".encode())


@dataclass
class TimeWindows:
    """Tumbling event-time windows of one model.

    Examples
    --------
    >>> from detectors.layout import Column, Layout
    >>> layout = Layout((Column("x", "numeric", np.array([0.0])),))
    >>> w = TimeWindows("m", size_s=60, lateness_s=0, idle_close_s=600,
    ...                 new_summary=lambda seed: WindowSummary.zero(layout, 100, seed=seed))
    >>> w.add(np.array([0.0, 30.0, 61.0]), {"x": np.array([1.0, 2.0, 3.0])}, shard="p0", now=0.0)
    0
    >>> [(c.start, c.end, c.events) for c in w.ready(now=1.0)]
    [(0.0, 60.0, 2)]
    >>> w.add(np.array([10.0]), {"x": np.array([1.0])}, shard="p0", now=2.0)  # its window has closed
    1
    """

    model: str
    size_s: float
    lateness_s: float
    idle_close_s: float | None
    new_summary: SummaryFactory
    open: dict[float, OpenWindow] = field(default_factory=dict)
    closed_until: float = float("-inf")
    last_event_wall: float = float("-inf")
    shards: dict[str, _Shard] = field(default_factory=dict)

    def add(self, timestamps: np.ndarray, columns: Mapping[str, np.ndarray], shard: str, now: float,
            model_version: str | None = None) -> int:
        """Add a batch of events of this model from one shard; returns how many were late (dropped)."""
        n = int(timestamps.size)
        if n == 0:
            return 0
        state = self.shards.setdefault(shard, _Shard())
        state.max_event_time = max(state.max_event_time, float(timestamps.max()))
        state.last_seen_wall = now
        self.last_event_wall = now
        starts = np.floor(timestamps / self.size_s) * self.size_s
        on_time = starts + self.size_s > self.closed_until
        late = n - int(on_time.sum())
        if late:
            starts = starts[on_time]
            columns = {k: v[on_time] for k, v in columns.items()}
        if starts.size == 0:
            return late
        if starts[0] == starts[-1] and starts.min() == starts.max():  # the usual case: one window per batch
            groups, inverse = starts[:1], np.zeros(starts.size, dtype=np.intp)
        else:
            groups, inverse = np.unique(starts, return_inverse=True)
        for k, start in enumerate(groups.tolist()):
            rows = inverse == k if groups.size > 1 else slice(None)
            window = self.open.get(start)
            if window is None:
                window = self.open[start] = OpenWindow(start, start + self.size_s, {}, key=start)
            summary = window.parts.get(shard)
            if summary is None:
                summary = window.parts[shard] = self.new_summary(window_seed(f"{self.model}/{shard}", start))
            part = {name: col[rows] for name, col in columns.items()}
            summary.update(part, n=int(np.count_nonzero(rows)) if groups.size > 1 else len(starts))
            window.dirty.add(shard)
            if model_version is not None:
                window.model_version = model_version
        return late

    def restore(self, shard: str, start: float, summary: WindowSummary, max_event_time: float | None = None,
                last_seen: float | None = None) -> None:
        """Put back a shard's checkpointed partial summary of an open window (after a restart or rebalance)."""
        window = self.open.get(start)
        if window is None:
            window = self.open[start] = OpenWindow(start, start + self.size_s, {}, key=start)
        window.parts[shard] = summary
        if max_event_time is not None:
            state = self.shards.setdefault(shard, _Shard())
            state.max_event_time = max(state.max_event_time, max_event_time)
            state.last_seen_wall = max(state.last_seen_wall, last_seen if last_seen is not None else state.last_seen_wall)

    def observe_shard(self, shard: str, max_event_time: float, now: float) -> None:
        """Note events read from a shard for any model: a partition's watermark is over all its events."""
        state = self.shards.setdefault(shard, _Shard())
        state.max_event_time = max(state.max_event_time, max_event_time)
        state.last_seen_wall = now

    def restore_shard(self, shard: str, max_event_time: float, last_seen: float) -> None:
        """Put back a shard's checkpointed watermark."""
        state = self.shards.setdefault(shard, _Shard())
        state.max_event_time = max(state.max_event_time, max_event_time)
        state.last_seen_wall = max(state.last_seen_wall, last_seen)
        self.last_event_wall = max(self.last_event_wall, last_seen)

    def forget(self, shard: str) -> None:
        """Drop a shard's partial summaries and watermark (its partition was revoked after a checkpoint)."""
        self.shards.pop(shard, None)
        for start in list(self.open):
            window = self.open[start]
            window.parts.pop(shard, None)
            window.dirty.discard(shard)
            if not window.parts:
                del self.open[start]

    def close(self, start: float, reason: str) -> ClosedWindow | None:
        """Close one window now (the daemon decides when, from every daemon's shards); None if not open."""
        if start not in self.open:
            self.closed_until = max(self.closed_until, start + self.size_s)
            return None
        return self._close([start], reason)[0]

    def watermark(self, now: float) -> float:
        """Smallest max event time over the shards that are not idle, minus the allowed lateness."""
        active = [s.max_event_time for s in self.shards.values()
                  if self.idle_close_s is None or now - s.last_seen_wall < self.idle_close_s]
        if not active:
            return float("-inf")
        return min(active) - self.lateness_s

    def passed(self, now: float) -> list[float]:
        """Starts of the open windows that the watermark has passed (closed by :meth:`ready`)."""
        mark = self.watermark(now)
        return [s for s, w in self.open.items() if w.end <= mark]

    def ready(self, now: float) -> list[ClosedWindow]:
        """Close and return the windows that the watermark has passed, or all of them if the model is idle."""
        idle = self.idle_close_s is not None and now - self.last_event_wall >= self.idle_close_s
        due = list(self.open) if idle else self.passed(now)
        return self._close(sorted(due), "idle" if idle else "watermark")

    def flush(self) -> list[ClosedWindow]:
        """Close every open window (the end of a replayed input)."""
        return self._close(sorted(self.open), "end_of_input")

    def _close(self, starts: list[float], reason: str) -> list[ClosedWindow]:
        closed = []
        for start in starts:
            window = self.open.pop(start)
            self.closed_until = max(self.closed_until, window.end)
            closed.append(ClosedWindow(self.model, window.start, window.end, window.summary,
                                       window.model_version, reason, window.key))
        return closed


@dataclass
class CountWindows:
    """Windows of a fixed number of events, in arrival order; start and end are the first and last event times.

    Examples
    --------
    >>> from detectors.layout import Column, Layout
    >>> layout = Layout((Column("x", "numeric", np.array([0.0])),))
    >>> w = CountWindows("m", events=2, new_summary=lambda seed: WindowSummary.zero(layout, 100, seed=seed))
    >>> closed = w.add(np.array([5.0, 1.0, 9.0]), {"x": np.array([1.0, 2.0, 3.0])})
    >>> [(c.start, c.end, c.events) for c in closed], w.current.events
    ([(1.0, 5.0, 2)], 1)
    """

    model: str
    events: int
    new_summary: SummaryFactory
    current: OpenWindow | None = None
    sequence: int = 0

    def add(self, timestamps: np.ndarray, columns: Mapping[str, np.ndarray],
            model_version: str | None = None) -> list[ClosedWindow]:
        """Add a batch; returns the windows it filled."""
        closed = []
        pos = 0
        n = int(timestamps.size)
        while pos < n:
            if self.current is None:
                self.current = OpenWindow(float("inf"), float("-inf"),
                                          {"": self.new_summary(window_seed(self.model, float(self.sequence)))},
                                          key=float(self.sequence))
                self.sequence += 1
            window = self.current
            take = min(self.events - window.events, n - pos)
            part = slice(pos, pos + take)
            stamps = timestamps[part]
            window.start = min(window.start, float(stamps.min()))
            window.end = max(window.end, float(stamps.max()))
            window.parts[""].update({k: v[part] for k, v in columns.items()}, n=take)
            if model_version is not None:
                window.model_version = model_version
            pos += take
            if window.events >= self.events:
                closed.append(ClosedWindow(self.model, window.start, window.end, window.summary,
                                           window.model_version, "count", window.key))
                self.current = None
        return closed

    def flush(self) -> list[ClosedWindow]:
        """Close the partly filled window, if any."""
        if self.current is None or self.current.events == 0:
            return []
        window, self.current = self.current, None
        return [ClosedWindow(self.model, window.start, window.end, window.summary, window.model_version,
                             "end_of_input", window.key)]

    def resume(self, key: float, summary: WindowSummary) -> None:
        """Put back the checkpointed, partly filled window ``key`` (after a restart)."""
        self.current = OpenWindow(float("inf"), float("-inf"), {"": summary}, key=key)
        self.sequence = max(self.sequence, int(key) + 1)

    def keys_for(self, n: int) -> np.ndarray:
        """The window keys (sequence numbers) that the next ``n`` events will land in."""
        held = self.current.events if self.current is not None else 0
        first = self.sequence - 1 if self.current is not None else self.sequence
        return (first + (np.arange(n) + held) // self.events).astype(np.float64)
