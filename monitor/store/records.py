"""Plain records the store returns besides WindowResult, and the float/JSON conventions it keeps."""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Mapping

MAX_KEY_LENGTH = 255
"""Longest model name, shard, topic, group id or prediction id the store accepts (VARCHAR(255))."""


@dataclass(frozen=True)
class ProfileRecord:
    """One stored version of a model's reference profile; ``payload`` is its serialised form."""

    model: str
    version: int
    content_hash: str
    created_at: float
    source: str
    config: dict[str, Any]
    payload: bytes

    @property
    def id(self) -> str:
        """The profile's public name, ``model@version`` (docs/webhooks.md ``reference.id``)."""
        return f"{self.model}@{self.version}"


@dataclass(frozen=True)
class WindowStateRecord:
    """The serialised accumulators of one open window of one model in one shard."""

    model: str
    shard: str
    window_start: float
    window_end: float
    payload: bytes
    events: int
    updated_at: float
    sealed: bool = False
    deltas: tuple[bytes, ...] = ()
    """Deltas written after ``payload``, in order (``WindowSummary.from_parts``)."""


@dataclass(frozen=True)
class ShardStateRecord:
    """Where one shard (a partition ``topic:partition``) stands for one model.

    ``max_event_time`` is the largest event time seen in the shard for the model (its
    watermark before lateness); ``last_seen`` is the wall time of its newest event.
    """

    model: str
    shard: str
    max_event_time: float
    last_seen: float
    updated_at: float


@dataclass(frozen=True)
class ModelStateRecord:
    """Where one model's windows stand: what is closed and the next count-window number.

    ``closed_until`` is the end of the newest judged window (events of windows ending at or
    before it are late), or None before the first one closed.
    """

    model: str
    closed_until: float | None
    sequence: int
    updated_at: float


def to_column(value: float | None) -> float | None:
    """A float for a nullable Double column: NaN becomes NULL."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def from_column(value: float | None) -> float:
    """A float read from a nullable Double column: NULL becomes NaN."""
    return math.nan if value is None else float(value)


def json_safe(value: object) -> Any:
    """A copy of ``value`` that any database's JSON accepts: NaN and infinities become None.

    Mappings become dicts with string keys, sequences become lists, numpy-like real scalars
    become Python floats or ints.
    """
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        number = float(value)
        return number if math.isfinite(number) else None
    raise TypeError(f"cannot store {type(value).__name__} in a JSON column: {value!r}")
