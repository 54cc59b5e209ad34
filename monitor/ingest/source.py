"""What both Kafka sources share: raw batches per partition, out-of-range positions resumed and counted.

The daemon reads Kafka through one of two sources with one contract, ``KafkaSource``
(kafka-python, :mod:`monitor.ingest.kafka_python`) and ``ConfluentSource`` (librdkafka,
:mod:`monitor.ingest.confluent`). Both hand on :class:`PartitionBatch` es of raw bytes, raise
:class:`KafkaSourceError` when Kafka fails, and count and log through :class:`SourceBase`: the
argument checks, a position the broker calls out of range (never skipped silently: below the log
start, a retention gap, resumes there; beyond the log end, a recreated topic, resumes per
``kafka.start_from``), and failed best-effort Kafka offset commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from monitor.config.model import KafkaConfig
from monitor.errors import DriftdError


log = logging.getLogger(__name__)

Partition = tuple[str, int]
"""A partition as the rest of driftd names it: ``(topic, partition)``."""

START_POSITIONS = ("earliest", "latest")
IN_RANGE, RETENTION_GAP, BEYOND_END = "in_range", "retention_gap", "beyond_log_end"
DEAD_LETTER_HEADERS = ("driftd-reason", "driftd-topic", "driftd-partition", "driftd-offset")
DEAD_LETTER_ERROR_HEADER = "driftd-error"
"""On a message rejected as internal_error, the exception it raised (docs/input.md)."""


def dead_letter_headers(reason: str, topic: str, partition: int, offset: int,
                        error: str | None = None) -> list[tuple[str, bytes]]:
    """The headers of one dead letter, UTF-8 text (the error only when there is one)."""
    headers = [(name, str(text).encode()) for name, text in zip(DEAD_LETTER_HEADERS, (reason, topic, partition, offset))]
    if error is not None:
        headers.append((DEAD_LETTER_ERROR_HEADER, error.encode("utf-8", "replace")))
    return headers
"""The headers of a dead letter: why it was rejected and where it came from (UTF-8 text)."""
_LOG_EVERY_S = 60.0


class KafkaSourceError(DriftdError):
    """Kafka cannot be reached or answered with an error driftd cannot work around."""


@dataclass(frozen=True)
class UnreadableBatch:
    """A record batch the Kafka client could not read (a corrupt batch, a codec it lacks): its offsets are skipped.

    It stands in a :class:`PartitionBatch` as one message, at the batch's last offset, so the partition
    moves past it; the daemon rejects it as ``unreadable_batch`` and dead-letters ``raw``.
    """

    detail: str
    raw: bytes
    first_offset: int
    next_offset: int


UNREADABLE_DETAIL = 500
"""Characters of a client's error kept with an unreadable batch."""


@dataclass(frozen=True)
class PartitionBatch:
    """The messages one poll returned for one partition, in offset order; ``next_offset`` is last offset + 1."""

    topic: str
    partition: int
    offsets: list[int]
    values: list[bytes | None]
    next_offset: int
    unreadable: Mapping[int, UnreadableBatch] = field(default_factory=dict)
    """By position in ``values`` (which holds ``b""`` there): the record batches that could not be read."""

    def part(self, start: int, stop: int) -> "PartitionBatch":
        """The messages at positions ``start`` to ``stop - 1`` (``stop`` > ``start``), a batch of their own."""
        offsets = self.offsets[start:stop]
        return PartitionBatch(self.topic, self.partition, offsets, self.values[start:stop],
                              self.next_offset if stop >= len(self.offsets) else offsets[-1] + 1,
                              {i - start: u for i, u in self.unreadable.items() if start <= i < stop})


def unreadable_in(values: list[Any]) -> dict[int, UnreadableBatch]:
    """Take the :class:`UnreadableBatch` markers out of ``values`` (each replaced by ``b""``), by position."""
    found = {i: v for i, v in enumerate(values) if type(v) is UnreadableBatch}
    for i in found:
        values[i] = b""
    return found


class Resume(NamedTuple):
    """Where a partition resumes after the broker said its position is out of range, and why."""

    offset: int
    reason: str


def resume_position(position: int, beginning: int, end: int, start_from: str) -> Resume:
    """Decide where to resume a partition whose ``position`` the broker called out of range.

    Below the log start (``beginning``) the messages in between are gone: resume at the log
    start (a retention gap). Beyond the log end the log was recreated or truncated: resume per
    ``start_from`` (``earliest`` = log start, ``latest`` = log end). Otherwise retry ``position``.

    >>> resume_position(3, 10, 20, "earliest")
    Resume(offset=10, reason='retention_gap')
    >>> resume_position(25, 10, 20, "latest")
    Resume(offset=20, reason='beyond_log_end')
    >>> resume_position(12, 10, 20, "earliest")
    Resume(offset=12, reason='in_range')
    """
    if position < beginning:
        return Resume(beginning, RETENTION_GAP)
    if position > end:
        return Resume(beginning if start_from == "earliest" else end, BEYOND_END)
    return Resume(position, IN_RANGE)

def partition_names(partitions: Iterable[Partition]) -> str:
    """``topic:partition`` of each, sorted, for log lines."""
    return ", ".join(f"{t}:{p}" for t, p in sorted(partitions))


class _Throttle:
    """Lets a repeated warning through at most once per interval and counts the ones held back."""

    def __init__(self, clock: Callable[[], float], every_s: float = _LOG_EVERY_S) -> None:
        self._clock, self._every_s, self._last, self._held = clock, every_s, float("-inf"), 0

    def release(self) -> int | None:
        """Return how many were held back since the last line if one may be logged now, else None."""
        now = self._clock()
        if now - self._last < self._every_s:
            self._held += 1
            return None
        held, self._last, self._held = self._held, now, 0
        return held


class SourceBase:
    """What KafkaSource and ConfluentSource share: their argument checks, the counters the daemon
    exports, and how a position out of range is resumed, counted and logged."""

    def __init__(self, config: KafkaConfig, topics: Sequence[str],
                 on_assign: Callable[[list[Partition]], Mapping[Partition, int | None]],
                 on_revoke: Callable[[list[Partition]], None], clock: Callable[[], float]) -> None:
        if config.start_from not in START_POSITIONS:
            raise KafkaSourceError(f"kafka.start_from: expected one of {', '.join(START_POSITIONS)}, "
                                   f"got {config.start_from!r}")
        if not topics:
            raise KafkaSourceError(f"{type(self).__name__} needs at least one topic")
        self.group_id = config.group_id
        self.start_from = config.start_from
        self.retention_gaps = 0
        """Partitions resumed at the log start because their position was older (messages lost)."""
        self.offsets_beyond_end = 0
        """Partitions whose position was past the log end (a recreated topic), resumed per start_from."""
        self.commit_failures = 0
        self._on_assign, self._on_revoke = on_assign, on_revoke
        self._commit_log = _Throttle(clock)

    def _resume_target(self, key: Partition, position: int, bounds: tuple[int, int]) -> int:
        """The offset a partition resumes at after the broker called ``position`` out of range; counted and logged."""
        (topic, partition), (beginning, end) = key, bounds
        target = resume_position(position, beginning, end, self.start_from)
        if target.reason == RETENTION_GAP:
            self.retention_gaps += 1
            log.warning("retention gap topic=%s partition=%d stored_offset=%d log_start_offset=%d lost=%d: "
                        "messages were deleted before driftd read them; resuming at the log start",
                        topic, partition, position, beginning, beginning - position)
        elif target.reason == BEYOND_END:
            self.offsets_beyond_end += 1
            log.warning("offset beyond the log end topic=%s partition=%d stored_offset=%d log_start_offset=%d "
                        "log_end_offset=%d (topic recreated?); resuming at offset %d (start_from=%s)",
                        topic, partition, position, beginning, end, target.offset, self.start_from)
        return target.offset

    def _commit_failed(self, partitions: Iterable[Partition], error: object) -> None:
        """Count a failed Kafka offset commit; log it at most once a minute."""
        self.commit_failures += 1
        held = self._commit_log.release()
        if held is not None:
            log.warning("offset commit to Kafka failed for %s (%d earlier failure(s) not logged): %s; "
                        "harmless for driftd, whose offsets live in its store, but lag tools will lag",
                        partition_names(partitions), held, error)
