"""Kafka in through kafka-python , the default client; with :mod:`monitor.ingest.kafka_records` the only kafka-python import.

``KafkaSource`` consumes in group ``kafka.group_id`` with auto-commit off and no deserializer (one
that raises would re-raise at the same offset forever). On assignment it seeks each partition to
the offset ``on_assign`` returns (the store's), or per ``kafka.start_from`` when there is none;
before partitions go (a rebalance, or ``close``) it calls ``on_revoke`` so the caller checkpoints.
Both callbacks run on kafka-python's network thread while the caller's thread waits inside
``poll``/``close``: never concurrently with the caller, but they must be quick (heartbeats wait)
and may use only the non-blocking ``seek``, ``assignment`` and ``commit``. A callback's exception
comes out of ``poll``/``close`` as itself.

A position the broker calls out of range is never skipped silently: below the log start (a
retention gap) the partition resumes there, beyond the log end (a recreated topic) per
``start_from``; both are counted (``retention_gaps``, ``offsets_beyond_end``) and logged.
``DeadLetters`` copies rejected messages to ``kafka.dead_letter_topic`` with reason and origin in
headers. Failures of Kafka raise ``KafkaSourceError``, except the best-effort ones (Kafka offset
commits, dead letters), which are counted and logged.
"""

from __future__ import annotations

import logging
import operator
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError, OffsetOutOfRangeError

from monitor.config.model import KafkaConfig
from monitor.ingest import kafka_records
from monitor.ingest.source import (
    KafkaSourceError, Partition, PartitionBatch, SourceBase, _Throttle, UnreadableBatch, dead_letter_headers,
    partition_names, unreadable_in,
)

log = logging.getLogger(__name__)

_FETCH_PARTITION_BYTES = 4 << 20  # bounded memory: 4 MiB per partition, 32 MiB per fetch
_FETCH_BYTES = 32 << 20
_REQUEST_TIMEOUT_MS = 30_000
_CLOSE_TIMEOUT_MS = 10_000
_UNREADABLE_TIMEOUT_S = 30.0  # reading one batch librdkafka could not


def client_settings(config: KafkaConfig, client_id: str) -> dict[str, Any]:
    """Return the kafka-python keyword arguments for connecting and authenticating (secrets revealed here only).

    >>> from monitor.config.model import TopicsConfig
    >>> client_settings(KafkaConfig("a:9092, b:9092", TopicsConfig("p")), "driftd")
    {'bootstrap_servers': ['a:9092', 'b:9092'], 'client_id': 'driftd', 'security_protocol': 'PLAINTEXT'}
    """
    settings: dict[str, Any] = {
        "bootstrap_servers": [server.strip() for server in config.bootstrap_servers.split(",") if server.strip()],
        "client_id": client_id,
        "security_protocol": config.security_protocol,
    }
    optional = {
        "ssl_cafile": config.ssl_cafile,
        "ssl_certfile": config.ssl_certfile,
        "ssl_keyfile": config.ssl_keyfile,
        "ssl_password": config.ssl_password.reveal() if config.ssl_password is not None else None,
        "sasl_mechanism": config.sasl_mechanism,
        "sasl_plain_username": config.sasl_plain_username,
        "sasl_plain_password": (config.sasl_plain_password.reveal()
                                if config.sasl_plain_password is not None else None),
    }
    settings.update((key, value) for key, value in optional.items() if value is not None)
    return settings


def consumer_settings(config: KafkaConfig, client_id: str) -> dict[str, Any]:
    """Return the KafkaConsumer arguments: raw bytes, no auto-commit, no auto-reset, large batches."""
    return {
        **client_settings(config, client_id),
        "group_id": config.group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "none",  # every position comes from a seek; out of range is ours to handle
        "allow_auto_create_topics": False,  # ask the broker not to create a misspelt topic (Tansu does anyway)
        "session_timeout_ms": config.session_timeout_ms,
        "heartbeat_interval_ms": max(100, min(3000, config.session_timeout_ms // 3)),
        "max_poll_records": config.max_poll_records,
        "max_partition_fetch_bytes": _FETCH_PARTITION_BYTES,
        "fetch_max_bytes": _FETCH_BYTES,
        "request_timeout_ms": _REQUEST_TIMEOUT_MS,
        "metrics_enabled": False,
    }


def read_unreadable(config: KafkaConfig, topic: str, partition: int, offset: int,
                    timeout_s: float = _UNREADABLE_TIMEOUT_S) -> UnreadableBatch | None:
    """The record batch at ``offset`` as the fast reader skips it, if it cannot be read; else None.

    For the confluent source: librdkafka reports a batch it cannot decompress or check by its first
    offset only, and fails on it again at every fetch; this reader says where the batch ends.
    """
    settings = {**consumer_settings(config, "driftd-batch-reader"), "group_id": None}
    try:
        consumer = KafkaConsumer(**settings)
    except KafkaError as exc:
        raise KafkaSourceError(f"cannot read the batch at {topic}:{partition}@{offset}: {exc}") from exc
    try:
        kafka_records.install(consumer)
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for record in consumer.poll(timeout_ms=200, max_records=1).get(tp, []):
                return record.value if isinstance(record.value, UnreadableBatch) else None
        raise KafkaSourceError(f"reading the batch at {topic}:{partition}@{offset} returned nothing in {timeout_s:.0f} s")
    except KafkaError as exc:
        raise KafkaSourceError(f"cannot read the batch at {topic}:{partition}@{offset}: {exc}") from exc
    finally:
        consumer.close(autocommit=False)


def _tp(partition: Partition) -> TopicPartition:
    return TopicPartition(partition[0], partition[1])


def _key(tp: Any) -> Partition:
    return (str(tp.topic), int(tp.partition))

class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Forwards kafka-python's rebalance calls to the source, keeping a callback's exception for poll."""

    def __init__(self, source: KafkaSource) -> None:
        self._source = source

    def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        self._source._run_callback(self._source._revoked, revoked)

    def on_partitions_lost(self, lost: Iterable[Any]) -> None:
        log.warning("partitions lost (the consumer was dropped from group %s): %s", self._source.group_id,
                    partition_names(map(_key, lost)))
        self._source._run_callback(self._source._revoked, lost)

    def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        self._source._run_callback(self._source._assigned, assigned)


class KafkaSource(SourceBase):
    """Polls raw messages of ``topics`` in consumer group ``config.group_id``; positions come from ``on_assign``.

    ``on_assign(partitions)`` returns each partition's stored next offset (or None: start per
    ``config.start_from``); ``on_revoke(partitions)`` runs before partitions are given up.
    ``overrides`` go to kafka-python's KafkaConsumer last (e.g. ``heartbeat_interval_ms``).
    """

    def __init__(self, config: KafkaConfig, topics: Sequence[str], *,
                 on_assign: Callable[[list[Partition]], Mapping[Partition, int | None]],
                 on_revoke: Callable[[list[Partition]], None], client_id: str = "driftd",
                 clock: Callable[[], float] = time.monotonic, **overrides: Any) -> None:
        super().__init__(config, topics, on_assign, on_revoke, clock)
        self._callback_error: BaseException | None = None
        self._closed = False
        try:
            self._consumer = KafkaConsumer(**{**consumer_settings(config, client_id), **overrides})
        except KafkaError as exc:
            raise KafkaSourceError(f"cannot connect to Kafka at {config.bootstrap_servers}: {exc}") from exc
        kafka_records.install(self._consumer)  # v2 batches parsed in one loop (monitor/ingest/kafka_records.py)
        self._unreadable_seen = kafka_records.unreadable_batches
        self._consumer.subscribe(topics=list(topics), listener=_Listener(self))

    def __repr__(self) -> str:
        return f"KafkaSource(group_id={self.group_id!r}, assignment={self.assignment()!r})"

    # --- the loop ------------------------------------------------------------------------------

    def poll(self, timeout_ms: int) -> list[PartitionBatch]:
        """Wait up to ``timeout_ms`` for messages; return one batch per partition, sorted by (topic, partition).

        Rebalance callbacks run inside this call. Values are raw bytes; None is a tombstone.
        """
        try:
            records = self._consumer.poll(timeout_ms=timeout_ms)
        except OffsetOutOfRangeError as exc:
            self._resume_out_of_range({_key(tp): int(offset) for tp, offset in exc.args[0].items()})
            return []
        except KafkaError as exc:
            self._raise_callback_error(exc)
            raise KafkaSourceError(f"polling Kafka failed: {exc}") from exc
        except Exception as exc:  # e.g. a codec's own error, when the fast reader (which skips such batches) is off
            raise KafkaSourceError(f"polling Kafka failed, a record batch could not be read: "
                                   f"{type(exc).__name__}: {exc}") from exc
        batches = []
        skipped = kafka_records.unreadable_batches != self._unreadable_seen  # only then look for stand-ins
        self._unreadable_seen = kafka_records.unreadable_batches
        for tp in sorted(records, key=_key):
            messages = records[tp]
            if not messages:
                continue
            offsets = [int(message.offset) for message in messages]
            values = [message.value for message in messages]
            batches.append(PartitionBatch(tp.topic, tp.partition, offsets, values, offsets[-1] + 1,
                                          unreadable_in(values) if skipped else {}))
        return batches

    def assignment(self) -> list[Partition]:
        """Return the partitions this consumer owns now, sorted."""
        return sorted(map(_key, self._consumer.assignment() or ()))

    def seek(self, positions: Mapping[Partition, int | None]) -> None:
        """Move owned partitions to the given next offsets; None means ``start_from``. Never blocks."""
        owned = set(self.assignment())
        for key, offset in positions.items():
            if key not in owned:
                log.debug("not seeking topic=%s partition=%d: not assigned here", key[0], key[1])
                continue
            if offset is None:
                if self.start_from == "earliest":
                    self._consumer.seek_to_beginning(_tp(key))
                else:
                    self._consumer.seek_to_end(_tp(key))
                continue
            position = operator.index(offset)
            if position < 0:
                raise KafkaSourceError(f"stored offset for topic={key[0]} partition={key[1]} "
                                       f"must be >= 0, got {position}")
            self._consumer.seek(_tp(key), position)

    def pause(self, partitions: Iterable[Partition]) -> None:
        """Stop fetching these partitions until :meth:`resume` (no rebalance)."""
        self._consumer.pause(*map(_tp, partitions))

    def resume(self, partitions: Iterable[Partition]) -> None:
        """Fetch these paused partitions again."""
        self._consumer.resume(*map(_tp, partitions))

    def lag(self, timeout_ms: int = 5000) -> dict[Partition, int]:
        """Return log end offset minus position for every owned partition whose position is known.

        The end is the larger of the broker's listed end offset and the high watermark of the last
        fetch (Tansu lists the last batch's base offset + 1 as the end). Call it from the polling thread.
        """
        tps = sorted(self._consumer.assignment() or (), key=_key)
        if not tps:
            return {}
        try:
            ends = self._consumer.end_offsets(tps, timeout_ms=timeout_ms)
            lags = {}
            for tp in tps:
                position = self._consumer.position(tp, timeout_ms=timeout_ms)
                if position is None:
                    continue
                end = max(int(ends.get(tp) or 0), int(self._consumer.highwater(tp) or 0))
                lags[_key(tp)] = max(0, end - int(position))
        except KafkaError as exc:
            raise KafkaSourceError(f"reading consumer lag failed: {exc}") from exc
        return lags

    def log_ends(self, topics: Sequence[str], timeout_ms: int = 5000) -> dict[Partition, int]:
        """The log end offset of every partition of ``topics``, owned or not (blocking: call from the loop).

        Another daemon's partition with messages past its stored offset has a backlog, and must not
        count as idle however long its owner has been silent.
        """
        tps = [TopicPartition(topic, p) for topic in topics
               for p in sorted(self._consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return {}
        try:
            ends = self._consumer.end_offsets(tps, timeout_ms=timeout_ms)
        except KafkaError as exc:
            raise KafkaSourceError(f"reading log end offsets failed: {exc}") from exc
        owned = self._consumer.assignment()
        return {_key(tp): max(int(ends.get(tp) or 0), int((self._consumer.highwater(tp) if tp in owned else 0) or 0))
                for tp in tps}

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        """Commit next offsets of owned partitions to Kafka, asynchronously and best effort (for lag tools).

        The store's offsets are the truth; a failed commit is counted in ``commit_failures`` and logged.
        """
        owned = set(self.assignment())
        request = {_tp(key): OffsetAndMetadata(int(offset), "", -1)
                   for key, offset in offsets.items() if key in owned}
        if not request:
            return
        try:
            self._consumer.commit_async(request, callback=self._committed)
        except KafkaError as exc:
            self._committed(request, exc)

    def close(self) -> None:
        """Give the partitions back (``on_revoke`` runs first) and leave the group; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._consumer.close(autocommit=False, timeout_ms=_CLOSE_TIMEOUT_MS)
        except KafkaError as exc:
            self._raise_callback_error(exc)
            raise KafkaSourceError(f"closing the Kafka consumer failed: {exc}") from exc

    # --- rebalance callbacks (kafka-python's network thread) -------------------------------------

    def _run_callback(self, handler: Callable[[list[Partition]], None], partitions: Iterable[Any]) -> None:
        try:
            handler(sorted(map(_key, partitions)))
        except BaseException as exc:
            self._callback_error = exc
            raise

    def _revoked(self, partitions: list[Partition]) -> None:
        if partitions:  # kafka-python also announces the empty set before the first join
            self._on_revoke(partitions)

    def _assigned(self, partitions: list[Partition]) -> None:
        if not partitions:
            return
        stored = self._on_assign(list(partitions))
        self.seek({key: stored.get(key) for key in partitions})
        log.debug("seeked %s", ", ".join(f"{t}:{p}@{stored.get((t, p), self.start_from)}" for t, p in partitions))

    def _raise_callback_error(self, exc: BaseException) -> None:
        """If a rebalance callback failed, raise its own exception instead of kafka-python's wrapper."""
        error, self._callback_error = self._callback_error, None
        cause = exc.__cause__ or exc.__context__
        while cause is not None and error is not None:
            if cause is error:
                raise error from None
            cause = cause.__cause__ or cause.__context__

    # --- out of range -------------------------------------------------------------------------

    def _resume_out_of_range(self, positions: Mapping[Partition, int]) -> None:
        """Seek partitions whose position the broker called out of range; count and log why."""
        owned = set(self.assignment())
        positions = {key: offset for key, offset in positions.items() if key in owned}
        bounds = self._log_bounds(list(positions))
        for key, position in positions.items():
            self._consumer.seek(_tp(key), self._resume_target(key, position, bounds[key]))

    def _log_bounds(self, partitions: list[Partition]) -> dict[Partition, tuple[int, int]]:
        """Return (log start offset, log end offset) per partition."""
        if not partitions:
            return {}
        tps = [_tp(key) for key in partitions]
        try:
            beginnings = self._consumer.beginning_offsets(tps, timeout_ms=_REQUEST_TIMEOUT_MS)
            ends = self._consumer.end_offsets(tps, timeout_ms=_REQUEST_TIMEOUT_MS)
        except KafkaError as exc:
            raise KafkaSourceError(f"listing log offsets of {partitions} failed: {exc}") from exc
        return {_key(tp): (int(beginnings[tp]), max(int(ends[tp]), int(self._consumer.highwater(tp) or 0)))
                for tp in tps}

    def _committed(self, offsets: Mapping[Any, Any], response: object) -> None:
        if isinstance(response, BaseException):
            self._commit_failed(map(_key, offsets), response)


class DeadLetters:
    """Copies rejected messages to ``config.dead_letter_topic`` with the reason and origin in headers.

    Sending is asynchronous; ``sent`` and ``failed`` count the outcomes. A copy that cannot be
    made (too large, broker gone) is counted and logged, never raised: it must not stall a partition.
    """

    def __init__(self, config: KafkaConfig, *, client_id: str = "driftd-dead-letters",
                 clock: Callable[[], float] = time.monotonic, **overrides: Any) -> None:
        if not config.dead_letter_topic:
            raise KafkaSourceError("kafka.dead_letter_topic is not set; DeadLetters needs a topic")
        self.topic = config.dead_letter_topic
        self.sent = 0
        self.failed = 0
        self._log = _Throttle(clock)
        self._lock = threading.Lock()  # outcomes arrive on the producer's thread and the caller's
        settings = {**client_settings(config, client_id), "acks": "all", "linger_ms": 20, "max_block_ms": 10_000,
                    **overrides}
        try:
            self._producer = KafkaProducer(**settings)
            self._producer.partitions_for(self.topic)  # fail at start, not per message, if the topic is missing
        except KafkaError as exc:
            raise KafkaSourceError(f"cannot produce to dead-letter topic {self.topic!r} at "
                                   f"{config.bootstrap_servers}: {exc}") from exc

    def send(self, value: bytes | None, *, reason: str, topic: str, partition: int, offset: int,
             error: str | None = None) -> None:
        """Queue one rejected message (None allowed); keyed by its origin so each source partition stays in order."""
        headers = dead_letter_headers(reason, topic, partition, offset, error)
        try:
            future = self._producer.send(self.topic, value=value, key=f"{topic}:{partition}".encode(),
                                         headers=headers)
        except KafkaError as exc:
            self._failure(exc, topic, partition, offset)
            return
        future.add_callback(self._delivered)
        future.add_errback(lambda exc: self._failure(exc, topic, partition, offset))

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until queued copies are delivered or failed."""
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            raise KafkaSourceError(f"flushing dead letters to {self.topic!r} failed: {exc}") from exc

    def close(self) -> None:
        """Deliver what is queued (bounded wait) and release the producer."""
        self._producer.close(timeout=_CLOSE_TIMEOUT_MS / 1000)

    def _delivered(self, _metadata: object) -> None:
        with self._lock:
            self.sent += 1

    def _failure(self, exc: BaseException, topic: str, partition: int, offset: int) -> None:
        with self._lock:
            self.failed += 1
            held = self._log.release()
        if held is not None:
            log.warning("dead letter not written to %s topic=%s partition=%d offset=%d "
                        "(%d earlier failure(s) not logged): %s", self.topic, topic, partition, offset, held, exc)
