"""Join late labels to predictions by ``(model, prediction_id)``, whichever arrives first (docs/input.md).

Both sides wait in bounded tables, one plain dict per model keyed by prediction id, in arrival
order: an entry older than the TTL expires, and when the tables are full the oldest entries
expire first. Expiries are counted, never silent.
Wall time is passed in.
"""

from __future__ import annotations

from itertools import repeat
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Sequence


@dataclass(frozen=True)
class Joined:
    """A prediction with its label: the window it belongs to, the prediction and the label."""

    model: str
    window: Hashable
    prediction: Any
    label: Any


class _Waiting:
    """Entries of one side: per model, prediction id -> (..., arrival time), oldest first."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, tuple[Any, ...]]] = {}
        self.size = 0

    def add(self, model: str, pids: Sequence[str], values: Iterable[tuple[Any, ...]]) -> None:
        table = self.tables.setdefault(model, {})
        before = len(table)
        table.update(zip(pids, values))
        self.size += len(table) - before

    def pop(self, model: str, pid: str) -> tuple[Any, ...] | None:
        table = self.tables.get(model)
        value = table.pop(pid, None) if table else None
        if value is not None:
            self.size -= 1
        return value

    def oldest(self) -> tuple[float, str] | None:
        """Arrival time and model of the oldest entry."""
        firsts = [(next(iter(t.values()))[-1], m) for m, t in self.tables.items() if t]
        return min(firsts) if firsts else None

    def drop(self, model: str, cutoff: float, limit: int) -> int:
        """Drop up to ``limit`` entries of ``model`` that arrived at or before ``cutoff``, oldest first."""
        table = self.tables.get(model, {})
        keys = []
        for key, value in table.items():
            if len(keys) >= limit or value[-1] > cutoff:
                break
            keys.append(key)
        for key in keys:
            del table[key]
        self.size -= len(keys)
        return len(keys)


class LabelJoin:
    """Pending predictions and labels waiting for their other half.

    Examples
    --------
    >>> join = LabelJoin(ttl_s=60, max_pending=10)
    >>> join.add_labels("m", ["a"], [1], now=0.0)
    []
    >>> join.add_predictions("m", ["a", "b"], [100.0, 100.0], [0.9, 0.1], now=1.0)
    [Joined(model='m', window=100.0, prediction=0.9, label=1)]
    >>> join.pending, join.expire(now=120.0), join.pending
    (1, 1, 0)
    """

    def __init__(self, ttl_s: float, max_pending: int) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending: expected a positive integer, got {max_pending!r}")
        self.ttl_s = ttl_s
        self.max_pending = max_pending
        self._predictions = _Waiting()
        self._labels = _Waiting()
        self.expired = 0
        self.joined = 0

    @property
    def pending(self) -> int:
        """Predictions and labels waiting."""
        return self._predictions.size + self._labels.size

    def add_predictions(self, model: str, pids: Sequence[str], windows: Sequence[Hashable],
                        predictions: Sequence[Any], now: float) -> list[Joined]:
        """Add predictions (id, window, value columns); returns those whose label was already waiting."""
        out: list[Joined] = []
        waiting_labels = self._labels.tables.get(model)
        if waiting_labels and not waiting_labels.keys().isdisjoint(pids):
            rest_pids, rest_windows, rest_predictions = [], [], []
            for pid, window, prediction in zip(pids, windows, predictions):
                label = self._labels.pop(model, pid)
                if label is None:
                    rest_pids.append(pid)
                    rest_windows.append(window)
                    rest_predictions.append(prediction)
                else:
                    out.append(Joined(model, window, prediction, label[0]))
            pids, windows, predictions = rest_pids, rest_windows, rest_predictions
        self._predictions.add(model, pids, zip(windows, predictions, repeat(now)))
        self.joined += len(out)
        self._bound()
        return out

    def add_labels(self, model: str, pids: Sequence[str], labels: Sequence[Any], now: float) -> list[Joined]:
        """Add labels (id and value columns); returns those whose prediction was already waiting."""
        out: list[Joined] = []
        rest_pids, rest_labels = [], []
        for pid, label in zip(pids, labels):
            waiting = self._predictions.pop(model, pid)
            if waiting is not None:
                out.append(Joined(model, waiting[0], waiting[1], label))
            else:
                rest_pids.append(pid)
                rest_labels.append((label, now))
        self._labels.add(model, rest_pids, rest_labels)
        self.joined += len(out)
        self._bound()
        return out

    def expire(self, now: float) -> int:
        """Drop entries that arrived a TTL or more ago; returns how many expired."""
        cutoff = now - self.ttl_s
        dropped = 0
        for side in (self._predictions, self._labels):
            for model in list(side.tables):
                dropped += side.drop(model, cutoff, side.size)
        self.expired += dropped
        return dropped

    def _bound(self) -> None:
        excess = self.pending - self.max_pending
        while excess > 0:
            candidates = [(found, side) for side in (self._predictions, self._labels)
                          if (found := side.oldest()) is not None]
            if not candidates:
                break
            (arrived, model), side = min(candidates, key=lambda c: c[0])
            dropped = side.drop(model, arrived, excess)
            self.expired += dropped
            excess -= dropped
