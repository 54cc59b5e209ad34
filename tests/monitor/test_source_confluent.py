"""ConfluentSource and ConfluentDeadLetters against a real broker (Tansu), mirroring tests/monitor/test_source.py.

The same scenarios as KafkaSource's, with librdkafka underneath; plus what only this client
needs proving (a rebalance inside a poll, seek, log_ends of partitions owned or not, the missing
package).

Tansu 0.6 with librdkafka (confluent-kafka 2.16.1, librdkafka 2.16.0), beyond what
tests/fixtures/kafka.py lists for kafka-python, all of which holds here too:

- **ListOffsets "latest"** undercounts the same way through librdkafka: ``offsets_for_times``
  with -1 and ``get_watermark_offsets(cached=False)`` both answer the last batch's base offset
  + 1 (30 records in one batch: 1). The high watermark a fetch brought
  (``get_watermark_offsets(cached=True)``) is right, so ``lag`` and ``log_ends`` take the larger.
- **No OFFSET_OUT_OF_RANGE past the end**, so ``auto.offset.reset=error`` never fires on Tansu:
  a position past the log end waits silently (the out-of-range tests simulate librdkafka's
  ``_AUTO_OFFSET_RESET`` message instead).
- **Metadata auto-creates**: ``list_topics(topic)`` (``log_ends``, the dead-letter start check)
  creates a missing topic with 4 partitions, as kafka-python's metadata requests do.
- **After** ``restart()`` the group is unknown: librdkafka reports the assignment lost
  (``on_lost``), rejoins and gets the partitions again; stored offsets past the new, empty log
  wait silently (above). Connection refusals are logged by librdkafka at ERROR meanwhile.
- Group join, heartbeats, LeaveGroup on close, OffsetCommit/OffsetFetch, headers, tombstones and
  eager range assignment behave like Kafka. Measured: subscribe to first ``on_assign`` about 2.5 s
  at ``session.timeout.ms=3000`` (JoinGroup waits about half of it, as with kafka-python);
  ``close()`` with LeaveGroup ~2 ms.

The client itself, whatever the broker (each handled in monitor/source_confluent.py):

- librdkafka **joins the group when it subscribes** (in the constructor); kafka-python at the first
  poll. A constructed but unpolled member holds partitions it does not read.
- ``Consumer.assignment()`` **waits for librdkafka holding the GIL**; called from another thread
  while the polling thread serves a rebalance callback it deadlocked. The source records its
  assignment itself.
- **A ``consume`` call goes on after serving a rebalance callback**: the call that runs
  ``on_assign`` typically returns the first messages fetched from the new positions too (seen
  here), and by librdkafka's code (``rd_kafka_q_serve_rkmessages``) messages gathered before a
  revocation are purged only if the partition's version barrier reaches the queue before the
  call ends (not seen). The source drops a poll's messages after any rebalance and seeks back.
- An exception raised in a rebalance callback does not stop ``consume``: it gathers until its
  timeout and then discards everything, including messages of partitions just assigned (and a
  later ``close()`` hung). So the callbacks never raise to steer the client; the caller's own
  exception still comes out of ``poll`` as itself.
- After ``_AUTO_OFFSET_RESET`` librdkafka has stopped fetching the partition: ``seek`` fails
  (``_STATE``); only a new ``assign`` with the offset resumes it.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
from confluent_kafka import KafkaError, Message

from monitor import source_confluent
from monitor.config import ConfigError, parse_config
from monitor.config.masking import Secret
from monitor.config.model import KafkaConfig, TopicsConfig
from monitor.source import KafkaSourceError, PartitionBatch
from monitor.source_confluent import (
    ConfluentDeadLetters,
    ConfluentSource,
    client_settings,
    consumer_settings,
)
from tests.fixtures.kafka import TansuBroker, free_port

Partition = tuple[str, int]
SESSION_TIMEOUT_MS = 3000  # Tansu answers JoinGroup after about half of it


def kafka_config(broker: TansuBroker, topic: str, **changes: Any) -> KafkaConfig:
    """A config for one topic; the group is named after the topic, so each test has its own."""
    settings: dict[str, Any] = {"group_id": f"g-{topic}", "session_timeout_ms": SESSION_TIMEOUT_MS,
                                "client": "confluent", **changes}
    return KafkaConfig(bootstrap_servers=broker.bootstrap, topics=TopicsConfig(predictions=topic), **settings)


class Recorder:
    """Rebalance callbacks that record their calls and answer stored offsets from a dict."""

    def __init__(self, stored: Mapping[Partition, int | None] | None = None) -> None:
        self.stored: dict[Partition, int | None] = dict(stored or {})
        self.assigned: list[list[Partition]] = []
        self.revoked: list[list[Partition]] = []
        self.lock = threading.Lock()

    def on_assign(self, partitions: list[Partition]) -> dict[Partition, int | None]:
        with self.lock:
            self.assigned.append(list(partitions))
            return {key: self.stored.get(key) for key in partitions}

    def on_revoke(self, partitions: list[Partition]) -> None:
        with self.lock:
            self.revoked.append(list(partitions))


@contextmanager
def open_source(config: KafkaConfig, recorder: Recorder, **overrides: Any) -> Iterator[ConfluentSource]:
    source = ConfluentSource(config, [config.topics.predictions], on_assign=recorder.on_assign,
                             on_revoke=recorder.on_revoke, **overrides)
    try:
        yield source
    finally:
        source.close()


def poll_until(source: ConfluentSource, done: Callable[[list[PartitionBatch]], bool],
               timeout_s: float = 15.0) -> list[PartitionBatch]:
    """Poll until ``done(all batches so far)``; fail with what arrived if it takes longer than ``timeout_s``."""
    batches: list[PartitionBatch] = []
    deadline = time.monotonic() + timeout_s
    while not done(batches):
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout_s} s: assignment={source.assignment()} got={offsets_of(batches)}")
        batches.extend(source.poll(100))
    return batches


def offsets_of(batches: list[PartitionBatch]) -> dict[int, list[int]]:
    """Partition -> offsets, in arrival order."""
    seen: dict[int, list[int]] = {}
    for batch in batches:
        seen.setdefault(batch.partition, []).extend(batch.offsets)
    return seen


def count(batches: list[PartitionBatch]) -> int:
    return sum(len(batch.offsets) for batch in batches)


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- consuming -------------------------------------------------------------------------------------


def test_poll_returns_raw_bytes_in_offset_order(kafka_broker: TansuBroker, topic_name: str) -> None:
    topic = kafka_broker.create_topic(topic_name)
    values: list[bytes | None] = [b'{"model": "churn", "timestamp": 1, "prediction": 0.5}', b"not json {",
                                  b"\xff\xfe\x00binary", None, b"", b'{"model": "churn"}'] * 5
    kafka_broker.produce(topic, values)
    recorder = Recorder()

    with open_source(kafka_config(kafka_broker, topic, max_poll_records=7), recorder) as source:
        batches = poll_until(source, lambda got: count(got) >= len(values))
        assert source.assignment() == [(topic, 0)]

    assert [batch.values for batch in batches if len(batch.values) > 7] == []  # max_poll_records holds
    assert [value for batch in batches for value in batch.values] == values  # raw bytes, tombstones included
    assert [offset for batch in batches for offset in batch.offsets] == list(range(len(values)))
    for batch in batches:
        assert (batch.topic, batch.partition) == (topic, 0)
        assert batch.next_offset == batch.offsets[-1] + 1
    assert batches[-1].next_offset == len(values)
    assert recorder.assigned == [[(topic, 0)]]
    assert recorder.revoked == [[(topic, 0)]]  # close() gives the partition back through on_revoke
    assert source.assignment() == []  # and a closed source owns nothing (readiness asks from another thread)


def test_on_assign_offsets_are_where_consumption_starts(kafka_broker: TansuBroker, topic_name: str) -> None:
    """A stored offset wins; a partition without one starts from start_from=earliest."""
    topic = kafka_broker.create_topic(topic_name, partitions=2)
    for partition in (0, 1):
        kafka_broker.produce(topic, [f"{partition}-{i}".encode() for i in range(10)], partition=partition)
    recorder = Recorder({(topic, 0): 4, (topic, 1): None})

    with open_source(kafka_config(kafka_broker, topic, start_from="earliest"), recorder) as source:
        batches = poll_until(source, lambda got: count(got) >= 16)

    assert offsets_of(batches) == {0: list(range(4, 10)), 1: list(range(10))}
    assert recorder.assigned == [[(topic, 0), (topic, 1)]]


def test_start_from_latest_reads_only_new_messages(kafka_broker: TansuBroker, topic_name: str) -> None:
    topic = kafka_broker.create_topic(topic_name, partitions=2)
    for partition in (0, 1):
        for i in range(3):  # one record per batch: Tansu's end offset is only exact then
            kafka_broker.produce(topic, [f"old-{i}".encode()], partition=partition)
    recorder = Recorder({(topic, 0): 1})  # a stored offset still wins over start_from

    with open_source(kafka_config(kafka_broker, topic, start_from="latest"), recorder) as source:
        batches = poll_until(source, lambda _: len(source.assignment()) == 2)
        assert source.lag()[(topic, 1)] == 0  # a partition starting at latest is at the end, not the beginning
        for partition in (0, 1):
            kafka_broker.produce(topic, [b"new-0", b"new-1"], partition=partition)
        batches += poll_until(source, lambda got: count(got) >= 6 - count(batches))

    assert offsets_of(batches) == {0: [1, 2, 3, 4], 1: [3, 4]}
    assert [value for batch in batches if batch.partition == 1 for value in batch.values] == [b"new-0", b"new-1"]


def test_two_sources_in_one_group_split_the_partitions(kafka_broker: TansuBroker, topic_name: str) -> None:
    """The second member takes half the partitions; the handoff via on_revoke/on_assign loses and repeats nothing.

    The first member keeps polling big batches while the rebalance happens, so a revocation lands in
    the middle of librdkafka's consume calls: nothing fetched before it may come out afterwards.
    """
    topic = kafka_broker.create_topic(topic_name, partitions=4)
    everything = [(topic, partition) for partition in range(4)]
    for partition in range(4):
        kafka_broker.produce(topic, [f"{partition}-{i}".encode() for i in range(10)], partition=partition)
    store: dict[Partition, int | None] = {}  # the next offsets a member checkpointed when it gave partitions up
    store_lock = threading.Lock()

    class Member(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.positions: dict[Partition, int] = {}
            self.seen: list[tuple[int, int]] = []
            self.stop = threading.Event()
            self.error: BaseException | None = None

        def on_assign(self, partitions: list[Partition]) -> dict[Partition, int | None]:
            super().on_assign(partitions)
            with store_lock:
                return {key: store.get(key) for key in partitions}

        def on_revoke(self, partitions: list[Partition]) -> None:
            super().on_revoke(partitions)
            with store_lock, self.lock:
                for key in partitions:
                    if key in self.positions:
                        store[key] = self.positions.pop(key)

        def run(self, source: ConfluentSource) -> None:
            try:
                while not self.stop.is_set():
                    for batch in source.poll(100):
                        with self.lock:
                            assert (batch.topic, batch.partition) in source.assignment()
                            self.seen.extend((batch.partition, offset) for offset in batch.offsets)
                            self.positions[(batch.topic, batch.partition)] = batch.next_offset
            except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
                self.error = exc

    a, b = Member(), Member()
    config = kafka_config(kafka_broker, topic)
    with open_source(config, a) as source_a:
        thread_a = threading.Thread(target=a.run, args=(source_a,))
        thread_a.start()
        try:
            wait_for(lambda: len(a.seen) == 40, "the first member to read everything")
            # librdkafka joins the group when it subscribes (kafka-python: at the first poll), so b starts here
            with open_source(config, b, client_id="driftd-b") as source_b:
                thread_b = threading.Thread(target=b.run, args=(source_b,))
                thread_b.start()
                try:
                    wait_for(lambda: bool(b.assigned) and len(a.assigned) == 2, "the rebalance")
                    owned_a, owned_b = source_a.assignment(), source_b.assignment()
                    for partition in range(4):
                        kafka_broker.produce(topic, [f"{partition}-new-{i}".encode() for i in range(5)],
                                             partition=partition)
                    wait_for(lambda: len(a.seen) + len(b.seen) == 60, "the new messages")
                finally:
                    b.stop.set()
                    thread_b.join()
        finally:
            a.stop.set()
            thread_a.join()

    assert (a.error, b.error) == (None, None)
    assert owned_a and owned_b
    assert sorted(owned_a + owned_b) == everything
    assert not set(owned_a) & set(owned_b)
    assert a.revoked[0] == everything  # the rebalance took everything back first (eager protocol)
    assert a.assigned == [everything, owned_a]
    assert b.assigned == [owned_b]
    assert b.revoked[-1] == owned_b  # closing revokes too
    seen = a.seen + b.seen
    assert len(seen) == len(set(seen)) == 60  # exactly once across the handoff
    assert {offset for partition, offset in b.seen} == set(range(10, 15))  # b resumed at a's checkpoint


def test_a_rebalance_inside_a_poll_returns_nothing_of_the_old_assignment(kafka_broker: TansuBroker,
                                                                         topic_name: str) -> None:
    """A member joins while the first one's prefetch queue is full: both read every offset once, without gaps."""
    topic = kafka_broker.create_topic(topic_name, partitions=2)
    for partition in (0, 1):
        kafka_broker.produce(topic, [f"{partition}-{i:05d}".encode() * 10 for i in range(10_000)],
                             partition=partition)
    store: dict[Partition, int | None] = {}
    lock = threading.Lock()

    class Member:
        def __init__(self) -> None:
            self.next: dict[Partition, int] = {}
            self.seen: list[tuple[int, int]] = []
            self.assignments = 0
            self.problems: list[str] = []

        def on_assign(self, partitions: list[Partition]) -> dict[Partition, int | None]:
            with lock:
                self.assignments += 1
                self.next = {key: store.get(key) or 0 for key in partitions}
                return {key: store.get(key) for key in partitions}

        def on_revoke(self, partitions: list[Partition]) -> None:
            with lock:
                store.update((key, self.next.pop(key)) for key in partitions if key in self.next)

        def take(self, source: ConfluentSource, batches: list[PartitionBatch]) -> None:
            for batch in batches:
                key = (batch.topic, batch.partition)
                if key not in source.assignment() or batch.offsets[0] != self.next.get(key):
                    self.problems.append(f"{key} from {batch.offsets[0]}, expected {self.next.get(key)}")
                self.next[key] = batch.next_offset
                self.seen.extend((batch.partition, offset) for offset in batch.offsets)

    a, b = Member(), Member()
    config = kafka_config(kafka_broker, topic, max_poll_records=100)  # a alone would take ~5 s, b joins after ~3 s
    with open_source(config, a) as source_a:  # type: ignore[arg-type]
        a.take(source_a, poll_until(source_a, lambda got: bool(got)))
        stop = threading.Event()

        def run_b() -> None:
            with open_source(config, b, client_id="driftd-b") as source_b:  # type: ignore[arg-type]
                while not stop.is_set():
                    b.take(source_b, source_b.poll(100))

        thread = threading.Thread(target=run_b)
        thread.start()
        try:
            deadline = time.monotonic() + 60
            while (len(set(a.seen) | set(b.seen)) < 20_000 or not b.assignments) and time.monotonic() < deadline:
                a.take(source_a, source_a.poll(100))
                time.sleep(0.02)  # slower than the fetcher: librdkafka's queue stays full
        finally:
            stop.set()
            thread.join()

    assert (a.problems, b.problems) == ([], [])
    assert a.assignments == 2 and b.assignments == 1, "the rebalance did not happen while a was reading"
    assert b.seen, "b never read anything"
    seen = a.seen + b.seen
    assert len(seen) == len(set(seen)) == 20_000


def test_seek_moves_an_owned_partition_and_ignores_others(kafka_broker: TansuBroker, topic_name: str) -> None:
    """What the daemon does after a refused checkpoint: go back to the store's offsets."""
    topic = kafka_broker.create_topic(topic_name)
    kafka_broker.produce(topic, [f"m{i}".encode() for i in range(10)])
    with open_source(kafka_config(kafka_broker, topic), Recorder()) as source:
        first = poll_until(source, lambda got: count(got) >= 10)
        source.seek({(topic, 0): 3, ("not-mine", 0): 1})
        again = poll_until(source, lambda got: count(got) >= 7)
        source.seek({(topic, 0): None})  # start_from=earliest
        third = poll_until(source, lambda got: count(got) >= 10)
        with pytest.raises(KafkaSourceError, match="must be >= 0, got -4"):
            source.seek({(topic, 0): -4})

    assert offsets_of(first) == {0: list(range(10))}
    assert offsets_of(again) == {0: list(range(3, 10))}
    assert offsets_of(third) == {0: list(range(10))}


def test_lag_is_produced_minus_consumed_and_commit_reaches_kafka(kafka_broker: TansuBroker,
                                                                 topic_name: str) -> None:
    topic = kafka_broker.create_topic(topic_name)
    kafka_broker.produce(topic, [f"m{i}".encode() for i in range(30)])  # one batch: Tansu's end offset says 1
    config = kafka_config(kafka_broker, topic, max_poll_records=10)

    with open_source(config, Recorder()) as source:
        batches = poll_until(source, lambda got: count(got) > 0)
        consumed = count(batches)
        assert source.lag() == {(topic, 0): 30 - consumed}
        batches += poll_until(source, lambda got: count(got) >= 30 - consumed)
        assert source.lag() == {(topic, 0): 0}

        source.commit({(topic, 0): 12, ("not-mine", 0): 5})  # a partition it does not own is left out
        deadline = time.monotonic() + 10
        while kafka_broker.committed(config.group_id, topic) != 12:
            assert time.monotonic() < deadline, "the commit never reached Kafka"
            source.poll(50)
        assert source.commit_failures == 0


def test_log_ends_cover_partitions_owned_or_not(kafka_broker: TansuBroker, topic_name: str) -> None:
    """log_ends lists every partition of the topics; an owned one's end is corrected by its fetch's high watermark."""
    topic = kafka_broker.create_topic(topic_name)
    other = kafka_broker.create_topic(f"{topic_name}-other", partitions=2)
    kafka_broker.produce(topic, [f"m{i}".encode() for i in range(30)])  # one batch: listed end 1, true end 30
    for i in range(4):
        kafka_broker.produce(other, [f"o{i}".encode()], partition=1)  # one record per batch: listed end exact

    with open_source(kafka_config(kafka_broker, topic), Recorder()) as source:
        poll_until(source, lambda got: count(got) >= 30)
        assert source.log_ends([topic, other]) == {(topic, 0): 30, (other, 0): 0, (other, 1): 4}


def test_callback_errors_come_out_of_poll_as_themselves(kafka_broker: TansuBroker, topic_name: str) -> None:
    topic = kafka_broker.create_topic(topic_name)
    kafka_broker.produce(topic, [b"m0", b"m1"])

    class StoreDown(Exception):
        pass

    def on_assign(partitions: list[Partition]) -> dict[Partition, int | None]:
        raise StoreDown("the store is unreachable")

    source = ConfluentSource(kafka_config(kafka_broker, topic), [topic], on_assign=on_assign,
                             on_revoke=lambda _: None)
    try:
        with pytest.raises(StoreDown, match="unreachable"):
            for _ in range(100):
                source.poll(100)
        assert [batch for _ in range(5) for batch in source.poll(100)] == []  # nothing read from unknown positions
    finally:
        source.close()


def test_unreachable_broker_is_a_driftd_error() -> None:
    config = KafkaConfig(bootstrap_servers=f"127.0.0.1:{free_port()}", topics=TopicsConfig("p"), client="confluent")
    with pytest.raises(KafkaSourceError, match="cannot connect to Kafka at 127.0.0.1"):
        ConfluentSource(config, ["p"], on_assign=lambda _: {}, on_revoke=lambda _: None, bootstrap_timeout_ms=500)


# --- positions out of range -------------------------------------------------------------------------


class _OutOfRangeOnce:
    """The consumer, except that its next consume answers the way librdkafka reports OFFSET_OUT_OF_RANGE.

    With ``auto.offset.reset=error`` librdkafka stops fetching the partition and hands the
    application an _AUTO_OFFSET_RESET error naming the partition and the rejected position.
    """

    def __init__(self, consumer: Any, topic: str, position: int) -> None:
        self._consumer = consumer
        self._error: Any = Message(topic=topic, partition=0, offset=position,
                                   error=KafkaError(KafkaError._AUTO_OFFSET_RESET))

    def consume(self, *args: Any, **kwargs: Any) -> list[Any]:
        error, self._error = self._error, None
        return [error] if error is not None else self._consumer.consume(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


def test_retention_gap_resumes_at_log_start_counted_and_logged(
        kafka_broker: TansuBroker, topic_name: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Tansu has no retention, so the broker's answers are simulated: log start 10, stored offset 3."""
    topic = kafka_broker.create_topic(topic_name)
    with open_source(kafka_config(kafka_broker, topic), Recorder({(topic, 0): 3})) as source:
        poll_until(source, lambda _: bool(source.assignment()))
        kafka_broker.produce(topic, [f"m{i}".encode() for i in range(20)])
        monkeypatch.setattr(source, "_log_bounds", lambda partitions: {(topic, 0): (10, 20)})
        monkeypatch.setattr(source, "_consumer", _OutOfRangeOnce(source._consumer, topic, 3))
        with caplog.at_level(logging.WARNING, logger="monitor.source_confluent"):
            batches = poll_until(source, lambda got: count(got) >= 10)

    assert offsets_of(batches) == {0: list(range(10, 20))}
    assert source.retention_gaps == 1
    assert f"retention gap topic={topic} partition=0 stored_offset=3 log_start_offset=10 lost=7" in caplog.text


def test_offset_beyond_log_end_resumes_per_start_from(kafka_broker: TansuBroker, topic_name: str,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """Tansu waits silently past the log end; Kafka answers OFFSET_OUT_OF_RANGE (simulated), then real offsets."""
    topic = kafka_broker.create_topic(topic_name)
    for i in range(10):  # one record per batch, so Tansu lists the true log end
        kafka_broker.produce(topic, [f"m{i}".encode()])
    with open_source(kafka_config(kafka_broker, topic), Recorder({(topic, 0): 50})) as source:
        poll_until(source, lambda _: bool(source.assignment()))
        monkeypatch.setattr(source, "_consumer", _OutOfRangeOnce(source._consumer, topic, 50))
        with caplog.at_level(logging.WARNING, logger="monitor.source_confluent"):
            batches = poll_until(source, lambda got: count(got) >= 10)

    assert offsets_of(batches) == {0: list(range(10))}
    assert (source.offsets_beyond_end, source.retention_gaps) == (1, 0)
    assert f"topic={topic} partition=0 stored_offset=50 log_start_offset=0 log_end_offset=10" in caplog.text


def test_other_consumer_errors_raise_a_driftd_error(kafka_broker: TansuBroker, topic_name: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """An error librdkafka does not recover from (here: authorization) stops the poll; a transient one is logged."""
    topic = kafka_broker.create_topic(topic_name)
    with open_source(kafka_config(kafka_broker, topic), Recorder()) as source:
        poll_until(source, lambda _: bool(source.assignment()))
        fake = _OutOfRangeOnce(source._consumer, topic, 0)
        fake._error = Message(topic=topic, partition=0, error=KafkaError(KafkaError._TRANSPORT))
        monkeypatch.setattr(source, "_consumer", fake)
        assert source.poll(50) == []
        fake._error = Message(topic=topic, error=KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
        with pytest.raises(KafkaSourceError, match="polling Kafka failed: .*[Aa]uthoriz"):
            source.poll(50)


# --- dead letters -----------------------------------------------------------------------------------


def test_dead_letters_carry_reason_and_origin(kafka_broker: TansuBroker, topic_name: str) -> None:
    dlq = kafka_broker.create_topic(topic_name)
    dead_letters = ConfluentDeadLetters(kafka_config(kafka_broker, "ml.predictions", dead_letter_topic=dlq))
    try:
        dead_letters.send(b"not json {", reason="not_json", topic="ml.predictions", partition=3, offset=42)
        dead_letters.send(None, reason="not_object", topic="ml.predictions", partition=3, offset=43)
        dead_letters.flush()
    finally:
        dead_letters.close()

    first, second = kafka_broker.read(dlq, 2)
    assert (first.value, first.key) == (b"not json {", b"ml.predictions:3")
    assert first.headers == {"driftd-reason": b"not_json", "driftd-topic": b"ml.predictions",
                             "driftd-partition": b"3", "driftd-offset": b"42"}
    assert second.value is None and second.headers["driftd-reason"] == b"not_object"
    assert (dead_letters.sent, dead_letters.failed) == (2, 0)


def test_a_dead_letter_that_cannot_be_written_is_counted_not_raised(
        kafka_broker: TansuBroker, topic_name: str, caplog: pytest.LogCaptureFixture) -> None:
    dlq = kafka_broker.create_topic(topic_name)
    dead_letters = ConfluentDeadLetters(kafka_config(kafka_broker, "p", dead_letter_topic=dlq),
                                        message_max_bytes=1000)
    try:
        with caplog.at_level(logging.WARNING, logger="monitor.source_confluent"):
            dead_letters.send(b"x" * 5000, reason="oversized", topic="p", partition=0, offset=7)
            dead_letters.send(b"small", reason="not_json", topic="p", partition=0, offset=8)
            dead_letters.flush()
    finally:
        dead_letters.close()
    assert (dead_letters.sent, dead_letters.failed) == (1, 1)
    assert "dead letter not written" in caplog.text and "offset=7" in caplog.text


def test_dead_letters_need_a_topic(kafka_broker: TansuBroker) -> None:
    with pytest.raises(KafkaSourceError, match="dead_letter_topic is not set"):
        ConfluentDeadLetters(kafka_config(kafka_broker, "p"))


# --- settings and selection ---------------------------------------------------------------------------


def test_settings_map_security_to_librdkafka_and_reveal_secrets_only_there() -> None:
    config = KafkaConfig(bootstrap_servers="k1:9093, k2:9093", topics=TopicsConfig("p"), group_id="g",
                         security_protocol="SASL_SSL", ssl_cafile="/ca.pem", ssl_certfile="/c.pem",
                         ssl_keyfile="/k.pem", ssl_password=Secret("key-pass"), sasl_mechanism="SCRAM-SHA-512",
                         sasl_plain_username="driftd", sasl_plain_password=Secret("sasl-pass"),
                         session_timeout_ms=9000, max_poll_records=2500, client="confluent")
    settings = consumer_settings(config, "driftd")
    assert client_settings(config, "driftd").items() <= settings.items()
    assert settings["bootstrap.servers"] == "k1:9093,k2:9093"
    assert {key: settings[key] for key in ("security.protocol", "ssl.ca.location", "ssl.certificate.location",
                                           "ssl.key.location", "ssl.key.password", "sasl.mechanisms",
                                           "sasl.username", "sasl.password")} == {
        "security.protocol": "sasl_ssl", "ssl.ca.location": "/ca.pem", "ssl.certificate.location": "/c.pem",
        "ssl.key.location": "/k.pem", "ssl.key.password": "key-pass", "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "driftd", "sasl.password": "sasl-pass"}
    assert (settings["group.id"], settings["session.timeout.ms"], settings["heartbeat.interval.ms"]) == (
        "g", 9000, 3000)
    assert settings["enable.auto.commit"] is False and settings["enable.auto.offset.store"] is False
    assert settings["auto.offset.reset"] == "error"
    assert "cooperative" not in settings["partition.assignment.strategy"]
    assert "sasl-pass" not in repr(config) and "key-pass" not in repr(config)


def test_librdkafka_accepts_every_setting(kafka_broker: TansuBroker, topic_name: str) -> None:
    """librdkafka checks property names and values when the client is made: SSL/SASL ones included."""
    from confluent_kafka import Consumer

    config = KafkaConfig(bootstrap_servers=kafka_broker.bootstrap, topics=TopicsConfig("p"),
                         security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_plain_username="u",
                         sasl_plain_password=Secret("p"), client="confluent")
    Consumer(consumer_settings(config, "driftd")).close()


def config_with(client: str | None) -> dict[str, Any]:
    kafka: dict[str, Any] = {"bootstrap_servers": "k:9092", "topics": {"predictions": "p"}}
    if client is not None:
        kafka["client"] = client
    return {"kafka": kafka, "models": [{"name": "churn", "task": "binary_classification",
                                        "reference": {"path": "ref.csv"}, "window": {"size": "1h"}}]}


def test_config_selects_the_client_and_names_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_config(config_with(None), "t.yaml").kafka.client == "kafka-python"
    assert parse_config(config_with("confluent"), "t.yaml").kafka.client == "confluent"
    with pytest.raises(ConfigError, match=r"t\.yaml: kafka\.client: unknown Kafka client 'librdkafka'; "
                                          r"expected one of kafka-python, confluent"):
        parse_config(config_with("librdkafka"), "t.yaml")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)  # as if the extra were missing
    with pytest.raises(ConfigError, match=r"kafka\.client: confluent needs the confluent-kafka package.*"
                                          r"pip install 'driftd\[fast\]'"):
        parse_config(config_with("confluent"), "t.yaml")


def test_a_missing_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(source_confluent, "_MISSING", ImportError("No module named 'confluent_kafka'"))
    config = KafkaConfig(bootstrap_servers="k:9092", topics=TopicsConfig("p"), client="confluent")
    with pytest.raises(KafkaSourceError, match=r"pip install 'driftd\[fast\]'"):
        ConfluentSource(config, ["p"], on_assign=lambda _: {}, on_revoke=lambda _: None)
