"""Join late labels to predictions by ``(model, prediction_id)``, whichever arrives first (CONTRACT §1).

Both sides wait in bounded tables: an entry older than the TTL expires, and when a table is full
the oldest entry expires first. Expiries are counted, never silent. Wall time is passed in.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Hashable, Iterable


@dataclass(frozen=True)
class Joined:
    """A prediction with its label: the window it belongs to, the prediction and the label."""

    model: str
    window: Hashable
    prediction: Any
    label: Any


class LabelJoin:
    """Pending predictions and labels waiting for their other half.

    Examples
    --------
    >>> join = LabelJoin(ttl_s=60, max_pending=10)
    >>> join.add_labels("m", [("a", 1)], now=0.0)
    []
    >>> join.add_predictions("m", [("a", 100.0, 0.9), ("b", 100.0, 0.1)], now=1.0)
    [Joined(model='m', window=100.0, prediction=0.9, label=1)]
    >>> join.pending, join.expire(now=120.0), join.pending
    (1, 1, 0)
    """

    def __init__(self, ttl_s: float, max_pending: int) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending: expected a positive integer, got {max_pending!r}")
        self.ttl_s = ttl_s
        self.max_pending = max_pending
        self._predictions: OrderedDict[tuple[str, str], tuple[float, Hashable, Any]] = OrderedDict()
        self._labels: OrderedDict[tuple[str, str], tuple[float, Any]] = OrderedDict()
        self.expired = 0
        self.joined = 0

    @property
    def pending(self) -> int:
        """Predictions and labels waiting."""
        return len(self._predictions) + len(self._labels)

    def add_predictions(self, model: str, rows: Iterable[tuple[str, Hashable, Any]], now: float) -> list[Joined]:
        """Add ``(prediction_id, window, prediction)`` rows; returns those whose label was waiting."""
        out = []
        for pid, window, prediction in rows:
            key = (model, pid)
            label = self._labels.pop(key, None)
            if label is not None:
                out.append(Joined(model, window, prediction, label[1]))
                continue
            self._predictions[key] = (now, window, prediction)
            self._predictions.move_to_end(key)
        self.joined += len(out)
        self._bound()
        return out

    def add_labels(self, model: str, rows: Iterable[tuple[str, Any]], now: float) -> list[Joined]:
        """Add ``(prediction_id, label)`` rows; returns those whose prediction was waiting."""
        out = []
        for pid, label in rows:
            key = (model, pid)
            waiting = self._predictions.pop(key, None)
            if waiting is not None:
                out.append(Joined(model, waiting[1], waiting[2], label))
                continue
            self._labels[key] = (now, label)
            self._labels.move_to_end(key)
        self.joined += len(out)
        self._bound()
        return out

    def expire(self, now: float) -> int:
        """Drop entries older than the TTL; returns how many expired."""
        before = self.expired
        for table in (self._predictions, self._labels):
            while table:
                key, value = next(iter(table.items()))
                if now - value[0] < self.ttl_s:
                    break
                del table[key]
                self.expired += 1
        return self.expired - before

    def _bound(self) -> None:
        while self.pending > self.max_pending:
            older = self._predictions if not self._labels else self._labels if not self._predictions else (
                self._predictions if next(iter(self._predictions.values()))[0] <= next(iter(self._labels.values()))[0]
                else self._labels)
            older.popitem(last=False)
            self.expired += 1
