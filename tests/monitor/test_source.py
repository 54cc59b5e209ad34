"""KafkaSource and DeadLetters against a real broker (Tansu, from tests/fixtures/kafka.py)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import OffsetOutOfRangeError

from monitor.config.masking import Secret
from monitor.config.model import KafkaConfig, TopicsConfig
from monitor.kafka_records import FastPartitionRecords
from monitor.source import (
    BEYOND_END,
    IN_RANGE,
    RETENTION_GAP,
    DeadLetters,
    KafkaSource,
    KafkaSourceError,
    PartitionBatch,
    Resume,
    client_settings,
    consumer_settings,
    resume_position,
)
from tests.fixtures.kafka import TansuBroker, free_port

Partition = tuple[str, int]
SESSION_TIMEOUT_MS = 3000  # Tansu answers JoinGroup after about half of it


def kafka_config(broker: TansuBroker, topic: str, **changes: Any) -> KafkaConfig:
    """A config for one topic; the group is named after the topic, so each test has its own."""
    settings: dict[str, Any] = {"group_id": f"g-{topic}", "session_timeout_ms": SESSION_TIMEOUT_MS, **changes}
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
def open_source(config: KafkaConfig, recorder: Recorder, **overrides: Any) -> Iterator[KafkaSource]:
    source = KafkaSource(config, [config.topics.predictions], on_assign=recorder.on_assign,
                         on_revoke=recorder.on_revoke, **overrides)
    try:
        yield source
    finally:
        source.close()


def poll_until(source: KafkaSource, done: Callable[[list[PartitionBatch]], bool],
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


# --- consuming -------------------------------------------------------------------------------------


def test_poll_returns_raw_bytes_in_offset_order(kafka_broker: TansuBroker, topic_name: str) -> None:
    topic = kafka_broker.create_topic(topic_name)
    values: list[bytes | None] = [b'{"model": "churn", "timestamp": 1, "prediction": 0.5}', b"not json {",
                                  b"\xff\xfe\x00binary", None, b"", b'{"model": "churn"}'] * 5
    kafka_broker.produce(topic, values)
    recorder = Recorder()

    with open_source(kafka_config(kafka_broker, topic, max_poll_records=7), recorder) as source:
        assert source._consumer._fetcher.PartitionRecords is FastPartitionRecords  # the fast reader is on
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
        assert source.lag()[(topic, 1)] == 0  # lag() waits for the position: the end, not the beginning
        for partition in (0, 1):
            kafka_broker.produce(topic, [b"new-0", b"new-1"], partition=partition)
        batches += poll_until(source, lambda got: count(got) >= 6 - count(batches))

    assert offsets_of(batches) == {0: [1, 2, 3, 4], 1: [3, 4]}
    assert [value for batch in batches if batch.partition == 1 for value in batch.values] == [b"new-0", b"new-1"]


def test_two_sources_in_one_group_split_the_partitions(kafka_broker: TansuBroker, topic_name: str) -> None:
    """The second member takes half the partitions; the handoff via on_revoke/on_assign loses and repeats nothing."""
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

        def run(self, source: KafkaSource) -> None:
            while not self.stop.is_set():
                for batch in source.poll(100):
                    with self.lock:
                        self.seen.extend((batch.partition, offset) for offset in batch.offsets)
                        self.positions[(batch.topic, batch.partition)] = batch.next_offset

    def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            time.sleep(0.05)

    a, b = Member(), Member()
    config = kafka_config(kafka_broker, topic)
    with open_source(config, a) as source_a, open_source(config, b, client_id="driftd-b") as source_b:
        thread_a = threading.Thread(target=a.run, args=(source_a,))
        thread_a.start()
        try:
            wait_for(lambda: len(a.seen) == 40, "the first member to read everything")
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


def test_callback_errors_come_out_of_poll_as_themselves(kafka_broker: TansuBroker, topic_name: str) -> None:
    topic = kafka_broker.create_topic(topic_name)

    class StoreDown(Exception):
        pass

    def on_assign(partitions: list[Partition]) -> dict[Partition, int | None]:
        raise StoreDown("the store is unreachable")

    source = KafkaSource(kafka_config(kafka_broker, topic), [topic], on_assign=on_assign, on_revoke=lambda _: None)
    try:
        with pytest.raises(StoreDown, match="unreachable"):
            for _ in range(100):
                source.poll(100)
    finally:
        source.close()


def test_unreachable_broker_is_a_driftd_error() -> None:
    config = KafkaConfig(bootstrap_servers=f"127.0.0.1:{free_port()}", topics=TopicsConfig("p"))
    with pytest.raises(KafkaSourceError, match="cannot connect to Kafka at 127.0.0.1"):
        KafkaSource(config, ["p"], on_assign=lambda _: {}, on_revoke=lambda _: None, bootstrap_timeout_ms=500)


# --- positions out of range -------------------------------------------------------------------------


@pytest.mark.parametrize(("position", "start_from", "expected"), [
    (3, "earliest", Resume(10, RETENTION_GAP)),
    (3, "latest", Resume(10, RETENTION_GAP)),  # a gap never jumps to the end: keep what is left
    (9, "earliest", Resume(10, RETENTION_GAP)),
    (10, "earliest", Resume(10, IN_RANGE)),
    (20, "latest", Resume(20, IN_RANGE)),
    (21, "earliest", Resume(10, BEYOND_END)),
    (21, "latest", Resume(20, BEYOND_END)),
])
def test_resume_position(position: int, start_from: str, expected: Resume) -> None:
    assert resume_position(position, beginning=10, end=20, start_from=start_from) == expected


def _out_of_range_once(source: KafkaSource, topic: str, position: int) -> None:
    """Make the next poll fail the way kafka-python reports the broker's OFFSET_OUT_OF_RANGE."""
    real_poll = source._consumer.poll
    calls: list[int] = []

    def poll(timeout_ms: int = 0, **kwargs: Any) -> Any:
        if not calls:
            calls.append(timeout_ms)
            raise OffsetOutOfRangeError({TopicPartition(topic, 0): position})
        return real_poll(timeout_ms=timeout_ms, **kwargs)

    source._consumer.poll = poll


def test_retention_gap_resumes_at_log_start_counted_and_logged(
        kafka_broker: TansuBroker, topic_name: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Tansu has no retention, so the broker's answers are simulated: log start 10, stored offset 3."""
    topic = kafka_broker.create_topic(topic_name)
    with open_source(kafka_config(kafka_broker, topic), Recorder({(topic, 0): 3})) as source:
        poll_until(source, lambda _: bool(source.assignment()))
        kafka_broker.produce(topic, [f"m{i}".encode() for i in range(20)])
        monkeypatch.setattr(source, "_log_bounds", lambda partitions: {(topic, 0): (10, 20)})
        _out_of_range_once(source, topic, 3)
        with caplog.at_level(logging.WARNING, logger="monitor.source"):
            batches = poll_until(source, lambda got: count(got) >= 10)

    assert offsets_of(batches) == {0: list(range(10, 20))}
    assert source.retention_gaps == 1
    assert f"retention gap topic={topic} partition=0 stored_offset=3 log_start_offset=10 lost=7" in caplog.text


def test_offset_beyond_log_end_resumes_per_start_from(kafka_broker: TansuBroker, topic_name: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """Tansu waits silently past the log end; Kafka answers OFFSET_OUT_OF_RANGE (simulated), then real offsets."""
    topic = kafka_broker.create_topic(topic_name)
    for i in range(10):  # one record per batch, so Tansu lists the true log end
        kafka_broker.produce(topic, [f"m{i}".encode()])
    with open_source(kafka_config(kafka_broker, topic), Recorder({(topic, 0): 50})) as source:
        poll_until(source, lambda _: bool(source.assignment()))
        _out_of_range_once(source, topic, 50)
        with caplog.at_level(logging.WARNING, logger="monitor.source"):
            batches = poll_until(source, lambda got: count(got) >= 10)

    assert offsets_of(batches) == {0: list(range(10))}
    assert (source.offsets_beyond_end, source.retention_gaps) == (1, 0)
    assert f"topic={topic} partition=0 stored_offset=50 log_start_offset=0 log_end_offset=10" in caplog.text


# --- dead letters -----------------------------------------------------------------------------------


def test_dead_letters_carry_reason_and_origin(kafka_broker: TansuBroker, topic_name: str) -> None:
    dlq = kafka_broker.create_topic(topic_name)
    dead_letters = DeadLetters(kafka_config(kafka_broker, "ml.predictions", dead_letter_topic=dlq))
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
    dead_letters = DeadLetters(kafka_config(kafka_broker, "p", dead_letter_topic=dlq), max_request_size=1000)
    try:
        with caplog.at_level(logging.WARNING, logger="monitor.source"):
            dead_letters.send(b"x" * 5000, reason="oversized", topic="p", partition=0, offset=7)
            dead_letters.send(b"small", reason="not_json", topic="p", partition=0, offset=8)
            dead_letters.flush()
    finally:
        dead_letters.close()
    assert (dead_letters.sent, dead_letters.failed) == (1, 1)
    assert "dead letter not written" in caplog.text and "offset=7" in caplog.text


def test_dead_letters_need_a_topic(kafka_broker: TansuBroker) -> None:
    with pytest.raises(KafkaSourceError, match="dead_letter_topic is not set"):
        DeadLetters(kafka_config(kafka_broker, "p"))


# --- settings -------------------------------------------------------------------------------------


def test_settings_pass_security_through_and_reveal_secrets_only_there() -> None:
    config = KafkaConfig(bootstrap_servers="k1:9093,k2:9093", topics=TopicsConfig("p"), group_id="g",
                         security_protocol="SASL_SSL", ssl_cafile="/ca.pem", ssl_certfile="/c.pem",
                         ssl_keyfile="/k.pem", ssl_password=Secret("key-pass"), sasl_mechanism="SCRAM-SHA-512",
                         sasl_plain_username="driftd", sasl_plain_password=Secret("sasl-pass"),
                         session_timeout_ms=9000, max_poll_records=2500)
    settings = consumer_settings(config, "driftd")
    assert client_settings(config, "driftd").items() <= settings.items()
    assert settings["bootstrap_servers"] == ["k1:9093", "k2:9093"]
    assert {key: settings[key] for key in ("security_protocol", "ssl_cafile", "ssl_certfile", "ssl_keyfile",
                                           "ssl_password", "sasl_mechanism", "sasl_plain_username",
                                           "sasl_plain_password")} == {
        "security_protocol": "SASL_SSL", "ssl_cafile": "/ca.pem", "ssl_certfile": "/c.pem",
        "ssl_keyfile": "/k.pem", "ssl_password": "key-pass", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "driftd", "sasl_plain_password": "sasl-pass"}
    assert (settings["group_id"], settings["session_timeout_ms"], settings["max_poll_records"]) == ("g", 9000, 2500)
    assert settings["enable_auto_commit"] is False and settings["auto_offset_reset"] == "none"
    assert "value_deserializer" not in settings and "key_deserializer" not in settings
    assert "sasl-pass" not in repr(config) and "key-pass" not in repr(config)


# --- the broker fixture itself ----------------------------------------------------------------------


def test_broker_restart_keeps_the_port_and_loses_the_data(kafka_broker: TansuBroker, topic_name: str) -> None:
    """restart() is what the daemon tests use to cut the connection; memory storage starts empty again."""
    topic = kafka_broker.create_topic(topic_name)
    kafka_broker.produce(topic, [b"before"])
    bootstrap, pid = kafka_broker.bootstrap, kafka_broker.pid
    kafka_broker.restart()
    assert (kafka_broker.bootstrap, kafka_broker.pid != pid) == (bootstrap, True)
    kafka_broker.create_topic(topic)  # gone with the old process: creating it again succeeds
    assert kafka_broker.produce(topic, [b"after"]) == [(0, 0)]
