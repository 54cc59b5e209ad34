"""Kafka in through confluent-kafka (librdkafka), for ``kafka.client: confluent``; the only confluent-kafka import.

``ConfluentSource`` and ``ConfluentDeadLetters`` keep the contract of :mod:`monitor.ingest.kafka_python`'s
``KafkaSource`` and ``DeadLetters`` (same arguments, ``PartitionBatch`` of raw bytes, the same
``on_assign``/``on_revoke`` contract, ``KafkaSourceError``, the same counters and log lines), so the
daemon uses either. What differs is the client underneath:

- **Callbacks run on the caller's thread**, inside ``poll``/``close`` (librdkafka serves rebalance
  events from the consumer queue). ``on_assign``'s offsets go straight into ``assign()``; a
  partition without one starts at ``OFFSET_BEGINNING``/``OFFSET_END`` per ``kafka.start_from``.
  The rebalance protocol is the eager one (range, round-robin), as with kafka-python: a
  rebalance takes every partition back (``on_revoke``) before handing out the new assignment.
- **A poll during which the assignment changed returns nothing.** One ``consume`` call may gather
  messages both before a callback revokes their partition and after one assigns it again; so
  what such a call gathered is dropped and every owned partition is sought back to its position
  (the one ``on_assign`` set): no batch belongs to a partition given up, none skips or repeats.
- **Out of range**: ``auto.offset.reset`` is ``error``, so the broker's OFFSET_OUT_OF_RANGE comes
  back as a message error naming the partition and position; it is resumed exactly as
  ``KafkaSource`` does (retention gap or beyond the log end, counted and logged). librdkafka has
  stopped fetching that partition, so it is re-assigned at the new position, not sought.
- **Settings** are librdkafka's (``client_settings``); ``overrides`` are librdkafka properties,
  written ``"fetch.wait.max.ms"`` or ``fetch_wait_max_ms`` (underscores become dots), plus
  ``bootstrap_timeout_ms``, how long the start-up metadata request may take.
"""

from __future__ import annotations

import logging
import operator
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from monitor.config.model import KafkaConfig
from monitor.ingest.source import (
    KafkaSourceError, Partition, PartitionBatch, SourceBase, _Throttle, UnreadableBatch, dead_letter_headers, partition_names,
)

try:
    from confluent_kafka import (
        OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, Producer, TopicPartition,
    )
except ImportError as exc:  # the optional extra is not installed
    _MISSING: ImportError | None = exc
else:
    _MISSING = None

log = logging.getLogger(__name__)

INSTALL_HINT = "kafka.client: confluent needs the confluent-kafka package: pip install 'driftd[fast]'"
_FETCH_PARTITION_BYTES = 4 << 20  # bounded memory, as KafkaSource: 4 MiB per partition, 32 MiB per fetch
_FETCH_BYTES = 32 << 20
_QUEUED_KBYTES = 32 << 10  # librdkafka's prefetch queue (default 64 MiB)
_CONNECT_TIMEOUT_MS = 10_000
_CLOSE_TIMEOUT_S = 10.0
_DELIVERY_TIMEOUT_MS = 120_000
_LATEST, _EARLIEST = -1, -2  # ListOffsets timestamps for offsets_for_times
_UNDERSCORED = frozenset({"log_level", "error_cb", "throttle_cb", "stats_cb", "oauth_cb", "on_commit", "on_delivery",
                          "logger"})
"""Property names that keep their underscores (librdkafka's ``log_level`` and the Python client's callbacks)."""
_TRANSIENT = frozenset() if _MISSING else frozenset({
    KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE, KafkaError._TIMED_OUT,
    KafkaError._MAX_POLL_EXCEEDED, KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION,
    KafkaError._UNKNOWN_TOPIC, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.NOT_LEADER_FOR_PARTITION,
})
"""Message errors librdkafka recovers from by itself: logged (once a minute), never raised."""
_UNREADABLE = frozenset() if _MISSING else frozenset({KafkaError._BAD_COMPRESSION, KafkaError._BAD_MSG})
"""Message errors of a record batch librdkafka cannot decompress or parse: it is skipped (_skip_unreadable)."""


def require() -> None:
    """Raise KafkaSourceError with the install hint when confluent-kafka is not installed."""
    if _MISSING is not None:
        raise KafkaSourceError(f"{INSTALL_HINT} ({_MISSING})")


def client_settings(config: KafkaConfig, client_id: str) -> dict[str, Any]:
    """Return the librdkafka properties for connecting and authenticating (secrets revealed here only).

    >>> from monitor.config.model import TopicsConfig
    >>> client_settings(KafkaConfig("a:9092, b:9092", TopicsConfig("p")), "driftd")
    {'bootstrap.servers': 'a:9092,b:9092', 'client.id': 'driftd', 'security.protocol': 'plaintext'}
    """
    settings: dict[str, Any] = {
        "bootstrap.servers": ",".join(server.strip() for server in config.bootstrap_servers.split(",")
                                      if server.strip()),
        "client.id": client_id,
        "security.protocol": config.security_protocol.lower(),
    }
    optional = {
        "ssl.ca.location": config.ssl_cafile,
        "ssl.certificate.location": config.ssl_certfile,
        "ssl.key.location": config.ssl_keyfile,
        "ssl.key.password": config.ssl_password.reveal() if config.ssl_password is not None else None,
        "sasl.mechanisms": config.sasl_mechanism,
        "sasl.username": config.sasl_plain_username,
        "sasl.password": config.sasl_plain_password.reveal() if config.sasl_plain_password is not None else None,
    }
    settings.update((key, value) for key, value in optional.items() if value is not None)
    return settings


def consumer_settings(config: KafkaConfig, client_id: str) -> dict[str, Any]:
    """Return the Consumer properties: no auto-commit or offset store, errors for out of range, eager rebalancing."""
    return {
        **client_settings(config, client_id),
        "group.id": config.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "error",  # every position comes from an assign; out of range is ours to handle
        "allow.auto.create.topics": False,
        "partition.assignment.strategy": "range,roundrobin",  # eager, as kafka-python: revoke all, then assign
        "session.timeout.ms": config.session_timeout_ms,
        "heartbeat.interval.ms": max(100, min(3000, config.session_timeout_ms // 3)),
        "max.partition.fetch.bytes": _FETCH_PARTITION_BYTES,
        "fetch.max.bytes": _FETCH_BYTES,
        "queued.max.messages.kbytes": _QUEUED_KBYTES,
        "isolation.level": "read_uncommitted",  # as kafka-python; librdkafka's default is read_committed
        "check.crcs": True,  # as kafka-python
        "enable.partition.eof": False,
        "logger": logging.getLogger(f"{__name__}.librdkafka"),
    }


def _properties(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Turn keyword overrides into librdkafka property names (``fetch_wait_max_ms`` -> ``fetch.wait.max.ms``)."""
    return {(key if "." in key or key in _UNDERSCORED else key.replace("_", ".")): value
            for key, value in overrides.items()}


def _key(tp: Any) -> Partition:
    return (str(tp.topic), int(tp.partition))


class ConfluentSource(SourceBase):
    """Polls raw messages of ``topics`` in group ``config.group_id`` with librdkafka, as ``KafkaSource`` does.

    ``on_assign(partitions)`` returns each partition's stored next offset (or None: start per
    ``config.start_from``); ``on_revoke(partitions)`` runs before partitions are given up. Both run
    on the thread that calls ``poll``/``close``. ``overrides`` go to librdkafka last.
    """

    def __init__(self, config: KafkaConfig, topics: Sequence[str], *,
                 on_assign: Callable[[list[Partition]], Mapping[Partition, int | None]],
                 on_revoke: Callable[[list[Partition]], None], client_id: str = "driftd",
                 clock: Callable[[], float] = time.monotonic, **overrides: Any) -> None:
        require()
        super().__init__(config, topics, on_assign, on_revoke, clock)
        self._max_records = config.max_poll_records
        self._config = config
        self._stale_unreadable: set[Partition] = set()
        """Partitions whose skipped unreadable batch librdkafka reported again: assigned again after the poll."""
        self._owned: tuple[Partition, ...] = ()
        """The assignment, replaced whole by the callbacks: read by other threads (readiness) without librdkafka."""
        self._positions: dict[Partition, int | None] = {}
        """Owned partitions -> the next offset poll will return (None: start_from, not reached yet)."""
        self._rebalanced = False
        self._fatal: Any = None
        self._error_log = _Throttle(clock)
        self._closed = False
        connect_s = overrides.pop("bootstrap_timeout_ms", _CONNECT_TIMEOUT_MS) / 1000
        settings = {**consumer_settings(config, client_id), "error_cb": self._error, "on_commit": self._committed,
                    **_properties(overrides)}
        try:
            self._consumer = Consumer(settings)
            self._consumer.list_topics(timeout=connect_s)  # fail at start, as kafka-python does, if nobody answers
        except KafkaException as exc:
            raise KafkaSourceError(f"cannot connect to Kafka at {config.bootstrap_servers}: {exc.args[0]}") from exc
        self._consumer.subscribe(list(topics), on_assign=self._assigned, on_revoke=self._revoked,
                                 on_lost=self._lost)

    def __repr__(self) -> str:
        return f"ConfluentSource(group_id={self.group_id!r}, assignment={self.assignment()!r})"

    # --- the loop ------------------------------------------------------------------------------

    def poll(self, timeout_ms: int) -> list[PartitionBatch]:
        """Wait up to ``timeout_ms`` for messages; return one batch per partition, sorted by (topic, partition).

        Rebalance callbacks run inside this call; after one, the call returns no batch. Values are
        raw bytes; None is a tombstone.
        """
        try:
            messages: list[Any] = self._consumer.consume(num_messages=self._max_records, timeout=timeout_ms / 1000)
        except KafkaException as exc:
            raise KafkaSourceError(f"polling Kafka failed: {exc.args[0]}") from exc
        if self._fatal is not None:
            raise KafkaSourceError(f"polling Kafka failed: {self._fatal}")
        if self._rebalanced:
            log.debug("dropped %d message(s) of a poll that served a rebalance; seeking back", len(messages))
            self._rewind()
            return []
        groups: dict[Partition, tuple[list[int], list[bytes | None]]] = {}
        out_of_range: dict[Partition, int] = {}
        unreadable: dict[Partition, int] = {}
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() in _UNREADABLE and message.topic():
                    unreadable.setdefault((message.topic(), message.partition()), int(message.offset()))
                    continue
                self._message_error(message, error, out_of_range)
                continue
            key = (message.topic(), message.partition())
            group = groups.get(key)
            if group is None:
                group = groups[key] = ([], [])
            group[0].append(message.offset())
            group[1].append(message.value())
        stand_ins = self._skip_unreadable(unreadable, groups)
        batches = []
        for key in sorted(groups):
            offsets, values = groups[key]
            if key not in self._positions:
                continue  # not owned (any more)
            expected = self._positions[key]
            if expected is not None and offsets[0] < expected:  # never hand out an offset twice
                kept = [i for i, offset in enumerate(offsets) if offset >= expected]
                log.debug("dropped %d message(s) of %s:%d before offset %d", len(offsets) - len(kept), *key, expected)
                if not kept:
                    continue
                offsets, values = [offsets[i] for i in kept], [values[i] for i in kept]
            skipped = stand_ins.get(key)
            batches.append(PartitionBatch(key[0], key[1], offsets, values, offsets[-1] + 1,
                                          {} if skipped is None or offsets[-1] + 1 != skipped.next_offset
                                          else {len(offsets) - 1: skipped}))
            self._positions[key] = offsets[-1] + 1
        if stand_ins or self._stale_unreadable:  # after the batches: every position is where poll has got to
            # an assignment, unlike a seek, also drops what librdkafka fetched at the batch (it reports it again)
            self._stale_unreadable.clear()
            self._reassign({})
        if out_of_range:  # after the batches: what came before the error is good
            self._resume_out_of_range(out_of_range)
        return batches

    def _skip_unreadable(self, unreadable: Mapping[Partition, int],
                         groups: dict[Partition, tuple[list[int], list[bytes | None]]]) -> dict[Partition, UnreadableBatch]:
        """Step over each record batch librdkafka could not read (it fails on it again at every fetch).

        kafka-python's reader, asked for the batch, says where it ends; the batch stands in its poll's batch
        as one message at its last offset, and :meth:`poll` assigns the partition again from there. A batch kafka-python reads well
        (a codec librdkafka lacks) is not skipped: the error is logged and the partition waits.
        """
        from monitor.ingest.kafka_python import read_unreadable  # it reads the one batch librdkafka cannot

        out: dict[Partition, UnreadableBatch] = {}
        for key, offset in unreadable.items():
            expected = self._positions.get(key)
            if key not in self._positions:
                continue
            if expected is not None and offset < expected:  # skipped already: the fetcher is still on it
                self._stale_unreadable.add(key)
                continue
            try:
                skipped = read_unreadable(self._config, key[0], key[1], offset)
            except KafkaSourceError as exc:  # tried again at the next fetch, which fails on the batch again
                log.warning("cannot find the end of the unreadable batch at %s:%d@%d: %s", *key, offset, exc)
                continue
            if skipped is None:
                held = self._error_log.release()
                if held is not None:
                    log.error("librdkafka cannot read the batch at %s:%d@%d, kafka-python can: use kafka.client: "
                              "kafka-python for this topic (%d earlier not logged)", *key, offset, held)
                continue
            group = groups.setdefault(key, ([], []))
            group[0].append(skipped.next_offset - 1)
            group[1].append(b"")
            out[key] = skipped
        return out

    def _rewind(self) -> None:
        """After a rebalance inside a poll: seek every owned partition back to the position poll knows."""
        self._rebalanced = False
        for key in self.assignment():
            try:
                self._consumer.seek(TopicPartition(key[0], key[1], self._offset(self._positions.get(key))))
            except KafkaException:  # not fetching yet: it will start where on_assign put it
                pass

    def assignment(self) -> list[Partition]:
        """Return the partitions this consumer owns now, sorted.

        Safe from any thread: it reads what the callbacks recorded. (The client's own
        ``assignment()`` waits for librdkafka while holding the GIL, and can deadlock with a
        callback on the polling thread.)
        """
        return list(self._owned)

    def seek(self, positions: Mapping[Partition, int | None]) -> None:
        """Move owned partitions to the given next offsets; None means ``start_from``."""
        owned = set(self.assignment())
        targets: dict[Partition, int | None] = {}
        for key, offset in positions.items():
            if key not in owned:
                log.debug("not seeking topic=%s partition=%d: not assigned here", key[0], key[1])
                continue
            targets[key] = self._checked(key, offset)
        stopped: dict[Partition, int | None] = {}
        for key, offset in targets.items():
            try:
                self._consumer.seek(TopicPartition(key[0], key[1], self._offset(offset)))
            except KafkaException:  # not fetching (yet, or any more): only a new assign moves it
                stopped[key] = offset
            self._positions[key] = offset
        if stopped:
            self._reassign(stopped)

    def pause(self, partitions: Iterable[Partition]) -> None:
        """Stop fetching these partitions until :meth:`resume` (no rebalance)."""
        self._consumer.pause([TopicPartition(t, p) for t, p in partitions])

    def resume(self, partitions: Iterable[Partition]) -> None:
        """Fetch these paused partitions again."""
        self._consumer.resume([TopicPartition(t, p) for t, p in partitions])

    def lag(self, timeout_ms: int = 5000) -> dict[Partition, int]:
        """Return log end offset minus position for every owned partition.

        The end is the larger of the broker's listed end offset and the high watermark of the last
        fetch (Tansu lists the last batch's base offset + 1 as the end). A partition that has
        returned nothing since its position was set to ``start_from`` is at the log start
        (earliest) or end (latest). Call it from the polling thread.
        """
        owned = self.assignment()
        if not owned:
            return {}
        try:
            ends = self._end_offsets(owned, timeout_ms)
            unresolved = [key for key in owned if self._positions.get(key) is None]
            starts = (self._list_offsets(unresolved, _EARLIEST, timeout_ms)
                      if unresolved and self.start_from == "earliest" else {})
        except KafkaException as exc:
            raise KafkaSourceError(f"reading consumer lag failed: {exc.args[0]}") from exc
        lags = {}
        for key in owned:
            position = self._positions.get(key)
            if position is None:
                position = starts[key] if self.start_from == "earliest" else ends[key]
            lags[key] = max(0, ends[key] - position)
        return lags

    def log_ends(self, topics: Sequence[str], timeout_ms: int = 5000) -> dict[Partition, int]:
        """The log end offset of every partition of ``topics``, owned or not (blocking: call from the loop).

        Another daemon's partition with messages past its stored offset has a backlog, and must not
        count as idle however long its owner has been silent.
        """
        try:
            partitions: list[Partition] = []
            for topic in topics:
                metadata = self._consumer.list_topics(topic, timeout=timeout_ms / 1000).topics.get(topic)
                if metadata is not None and metadata.error is None:
                    partitions.extend((topic, p) for p in sorted(metadata.partitions))
            return self._end_offsets(partitions, timeout_ms) if partitions else {}
        except KafkaException as exc:
            raise KafkaSourceError(f"reading log end offsets failed: {exc.args[0]}") from exc

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        """Commit next offsets of owned partitions to Kafka, asynchronously and best effort (for lag tools).

        The store's offsets are the truth; a failed commit is counted in ``commit_failures`` and logged.
        """
        owned = set(self.assignment())
        request = [TopicPartition(key[0], key[1], int(offset)) for key, offset in offsets.items() if key in owned]
        if not request:
            return
        try:
            self._consumer.commit(offsets=request, asynchronous=True)
        except KafkaException as exc:
            self._committed(exc.args[0], request)

    def close(self) -> None:
        """Give the partitions back (``on_revoke`` runs first) and leave the group; idempotent."""
        if self._closed:
            return
        try:
            self._consumer.close()
        except KafkaException as exc:
            raise KafkaSourceError(f"closing the Kafka consumer failed: {exc.args[0]}") from exc
        finally:
            self._closed = True
            self._owned = ()
            self._positions.clear()

    # --- rebalance callbacks (the polling thread, inside consume or close) ------------------------

    def _assigned(self, consumer: Any, partitions: list[Any]) -> None:
        keys = sorted(map(_key, partitions))
        try:
            stored = self._on_assign(list(keys)) if keys else {}
            targets = {key: self._checked(key, stored.get(key)) for key in keys}
        except BaseException:
            self._consumer.assign([])  # own nothing rather than librdkafka's committed offsets
            self._owned = ()
            raise
        self._consumer.assign([TopicPartition(t, p, self._offset(targets[(t, p)])) for t, p in keys])
        self._positions = dict(targets)
        self._owned = tuple(keys)
        self._rebalanced = True
        log.debug("assigned %s", ", ".join(f"{t}:{p}@{self.start_from if targets[(t, p)] is None else targets[(t, p)]}"
                                           for t, p in keys))

    def _revoked(self, consumer: Any, partitions: list[Any]) -> None:
        keys = sorted(map(_key, partitions))
        try:
            if keys:
                self._on_revoke(list(keys))
        finally:
            self._consumer.unassign()
            self._owned = ()
            self._positions.clear()
            self._rebalanced = True

    def _lost(self, consumer: Any, partitions: list[Any]) -> None:
        log.warning("partitions lost (the consumer was dropped from group %s): %s", self.group_id,
                    partition_names(map(_key, partitions)))
        self._revoked(consumer, partitions)

    def _checked(self, key: Partition, offset: int | None) -> int | None:
        if offset is None:
            return None
        position = operator.index(offset)
        if position < 0:
            raise KafkaSourceError(f"stored offset for topic={key[0]} partition={key[1]} must be >= 0, got {position}")
        return position

    def _offset(self, position: int | None) -> int:
        if position is not None:
            return position
        return OFFSET_BEGINNING if self.start_from == "earliest" else OFFSET_END

    def _reassign(self, positions: Mapping[Partition, int | None]) -> None:
        """Assign every owned partition again, ``positions`` where given, else where poll has got to."""
        self._positions.update(positions)
        self._consumer.assign([TopicPartition(t, p, self._offset(self._positions.get((t, p))))
                               for t, p in self.assignment()])

    # --- errors and offsets ---------------------------------------------------------------------

    def _message_error(self, message: Any, error: Any, out_of_range: dict[Partition, int]) -> None:
        code = error.code()
        if code == KafkaError._PARTITION_EOF:
            return
        if code in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE) and message.topic():
            out_of_range[(message.topic(), message.partition())] = int(message.offset())
            return
        if error.fatal() or not (error.retriable() or code in _TRANSIENT):
            raise KafkaSourceError(f"polling Kafka failed: {error.str()} (topic={message.topic()} "
                                   f"partition={message.partition()})")
        held = self._error_log.release()
        if held is not None:
            log.warning("Kafka consumer error (%d earlier not logged): %s", held, error.str())

    def _error(self, error: Any) -> None:
        """librdkafka's global errors (broker down, authentication): fatal ones end the poll, others are logged."""
        if error.fatal():
            self._fatal = error.str()
            return
        held = self._error_log.release()
        if held is not None:
            log.warning("Kafka client error (%d earlier not logged): %s", held, error.str())

    def _resume_out_of_range(self, positions: Mapping[Partition, int]) -> None:
        """Re-assign partitions whose position the broker called out of range; count and log why."""
        owned = set(self.assignment())
        positions = {key: offset for key, offset in positions.items() if key in owned}
        if not positions:
            return
        bounds = self._log_bounds(list(positions))
        targets: dict[Partition, int | None] = {}
        for key, position in positions.items():
            # no position at all (nothing stored, nothing committed): start_from
            targets[key] = None if position < 0 else self._resume_target(key, position, bounds[key])
        self._reassign(targets)

    def _log_bounds(self, partitions: list[Partition]) -> dict[Partition, tuple[int, int]]:
        """Return (log start offset, log end offset) per partition."""
        try:
            beginnings = self._list_offsets(partitions, _EARLIEST, 30_000)
            ends = self._end_offsets(partitions, 30_000)
        except KafkaException as exc:
            raise KafkaSourceError(f"listing log offsets of {partitions} failed: {exc.args[0]}") from exc
        return {key: (beginnings[key], ends[key]) for key in partitions}

    def _list_offsets(self, partitions: Sequence[Partition], spec: int, timeout_ms: int) -> dict[Partition, int]:
        """One ListOffsets round (``spec`` -1 = log end, -2 = log start) for many partitions."""
        answer = self._consumer.offsets_for_times([TopicPartition(t, p, spec) for t, p in partitions],
                                                  timeout=timeout_ms / 1000)
        for tp in answer:
            if tp.error is not None:
                raise KafkaException(tp.error)
        return {_key(tp): max(0, int(tp.offset)) for tp in answer}

    def _end_offsets(self, partitions: Sequence[Partition], timeout_ms: int) -> dict[Partition, int]:
        """The listed end, or the last fetch's high watermark if larger (owned partitions only have one)."""
        ends = self._list_offsets(partitions, _LATEST, timeout_ms)
        for key in set(partitions) & set(self._positions):
            _, high = self._consumer.get_watermark_offsets(TopicPartition(*key), cached=True)
            ends[key] = max(ends[key], int(high))
        return ends

    def _committed(self, error: Any, offsets: list[Any]) -> None:
        failed = error is not None and error.code() != KafkaError._NO_OFFSET
        error = error if failed else next((tp.error for tp in offsets if tp.error is not None), None)
        if error is not None:
            self._commit_failed(map(_key, offsets), error)


class ConfluentDeadLetters:
    """Copies rejected messages to ``config.dead_letter_topic`` with librdkafka, as ``DeadLetters`` does.

    Sending is asynchronous; ``sent`` and ``failed`` count the outcomes (delivery reports are
    served by ``send`` and ``flush``). A copy that cannot be made (too large, broker gone) is
    counted and logged, never raised: it must not stall a partition.
    """

    def __init__(self, config: KafkaConfig, *, client_id: str = "driftd-dead-letters",
                 clock: Callable[[], float] = time.monotonic, **overrides: Any) -> None:
        require()
        if not config.dead_letter_topic:
            raise KafkaSourceError("kafka.dead_letter_topic is not set; DeadLetters needs a topic")
        self.topic = config.dead_letter_topic
        self.sent = 0
        self.failed = 0
        self._log = _Throttle(clock)
        self._lock = threading.Lock()
        connect_s = overrides.pop("bootstrap_timeout_ms", _CONNECT_TIMEOUT_MS) / 1000
        settings = {**client_settings(config, client_id), "acks": "all", "linger.ms": 20,
                    "message.timeout.ms": _DELIVERY_TIMEOUT_MS, "logger": logging.getLogger(f"{__name__}.librdkafka"),
                    **_properties(overrides)}
        try:
            self._producer = Producer(settings)
            metadata = self._producer.list_topics(self.topic, timeout=connect_s).topics.get(self.topic)
        except KafkaException as exc:
            raise KafkaSourceError(f"cannot produce to dead-letter topic {self.topic!r} at "
                                   f"{config.bootstrap_servers}: {exc.args[0]}") from exc
        if metadata is None or metadata.error is not None:  # fail at start, not per message
            raise KafkaSourceError(f"cannot produce to dead-letter topic {self.topic!r} at {config.bootstrap_servers}: "
                                   f"{metadata.error if metadata is not None else 'not in the metadata'}")

    def send(self, value: bytes | None, *, reason: str, topic: str, partition: int, offset: int,
             error: str | None = None) -> None:
        """Queue one rejected message (None allowed); keyed by its origin so each source partition stays in order."""
        headers: list[tuple[str, str | bytes | None]] = list(dead_letter_headers(reason, topic, partition, offset, error))

        def delivered(error: Any, _message: Any) -> None:
            if error is None:
                with self._lock:
                    self.sent += 1
            else:
                self._failure(error, topic, partition, offset)

        for attempt in range(2):
            try:
                self._producer.produce(self.topic, value=value, key=f"{topic}:{partition}".encode(),
                                       headers=headers, on_delivery=delivered)
                break
            except BufferError as exc:  # librdkafka's queue is full: serve delivery reports, retry once
                if attempt:
                    self._failure(exc, topic, partition, offset)
                    break
                self._producer.poll(1.0)
            except KafkaException as exc:
                self._failure(exc.args[0], topic, partition, offset)
                break
        self._producer.poll(0)

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until queued copies are delivered or failed."""
        left = self._producer.flush() if timeout_s is None else self._producer.flush(timeout_s)
        if left:
            raise KafkaSourceError(f"flushing dead letters to {self.topic!r} failed: "
                                   f"{left} still queued after {timeout_s} s")

    def close(self) -> None:
        """Deliver what is queued (bounded wait) and release the producer."""
        self._producer.flush(_CLOSE_TIMEOUT_S)

    def _failure(self, exc: object, topic: str, partition: int, offset: int) -> None:
        with self._lock:
            self.failed += 1
            held = self._log.release()
        if held is not None:
            log.warning("dead letter not written to %s topic=%s partition=%d offset=%d "
                        "(%d earlier failure(s) not logged): %s", self.topic, topic, partition, offset, held, exc)
