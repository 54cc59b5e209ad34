"""KafkaSource and ConfluentSource, and their dead-letter producers, against a real broker (Tansu).

Every scenario here runs once per Kafka client (``kafka.client``: kafka-python, confluent) with the
same assertions: both give the daemon the same guarantees. What differs is only how a test reaches
inside a client (tests/fixtures/sources.py ``CLIENTS``). What only one client needs proving is at
the end of this file (kafka-python) and in tests/monitor/test_source_confluent.py (librdkafka).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from monitor.config.masking import Secret
from monitor.config.model import KafkaConfig, TopicsConfig
from monitor.ingest.kafka_python import client_settings, consumer_settings
from monitor.ingest.kafka_records import FastPartitionRecords
from monitor.ingest.source import (
    BEYOND_END,
    IN_RANGE,
    RETENTION_GAP,
    KafkaSourceError,
    PartitionBatch,
    Resume,
    SourceBase,
    resume_position,
)
from tests.fixtures.kafka import TansuBroker, free_port
from tests.fixtures.sources import (
    CLIENTS,
    Client,
    Partition,
    Recorder,
    count,
    kafka_config,
    offsets_of,
    open_source,
    poll_until,
    wait_for,
)


@pytest.fixture(params=list(CLIENTS))
def client(request: pytest.FixtureRequest) -> Client:
    """Each Kafka client in turn."""
    return CLIENTS[request.param]


# --- consuming -------------------------------------------------------------------------------------


def test_poll_returns_raw_bytes_in_offset_order(kafka_broker: TansuBroker, topic_name: str, client: Client) -> None:
    topic = kafka_broker.create_topic(topic_name)
    values: list[bytes | None] = [b'{"model": "churn", "timestamp": 1, "prediction": 0.5}', b"not json {",
                                  b"\xff\xfe\x00binary", None, b"", b'{"model": "churn"}'] * 5
    kafka_broker.produce(topic, values)
    recorder = Recorder()

    with open_source(kafka_config(kafka_broker, topic, client.name, max_poll_records=7), recorder) as source:
        if client.name == "kafka-python":
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
    assert source.assignment() == []  # and a closed source owns nothing (readiness asks from another thread)


CODECS = ("none", "gzip", "snappy", "lz4", "zstd")


def produce_compressed(broker: TansuBroker, topic: str, values: list[bytes], codec: str, producer: str) -> None:
    """Send ``values`` to partition 0 in compressed batches, with librdkafka or with kafka-python."""
    if producer == "librdkafka":
        from confluent_kafka import Producer

        out = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": codec, "linger.ms": 50,
                        "batch.num.messages": 100})
        failures: list[object] = []
        for value in values:
            out.produce(topic, value=value, partition=0, on_delivery=lambda err, _msg: err and failures.append(err))
        assert out.flush(30) == 0 and not failures, failures
    else:
        from kafka import KafkaProducer

        sender = KafkaProducer(bootstrap_servers=broker.bootstrap, compression_type=None if codec == "none" else codec,
                               linger_ms=50, batch_size=16384)
        try:
            for value in values:
                sender.send(topic, value=value, partition=0)
            sender.flush(timeout=30)
        finally:
            sender.close()


@pytest.mark.parametrize("producer", ["librdkafka", "kafka-python"])
@pytest.mark.parametrize("codec", CODECS)
def test_every_compression_codec_is_read(kafka_broker: TansuBroker, topic_name: str, client: Client, codec: str,
                                         producer: str) -> None:
    """Topics written by real producers with each codec Kafka has are read whole, in order, by both clients."""
    topic = kafka_broker.create_topic(topic_name)
    values = [b'{"model": "churn", "timestamp": %d, "features": {"plan": "gold"}, "prediction": 0.5}' % i
              for i in range(600)]
    produce_compressed(kafka_broker, topic, values, codec, producer)
    with open_source(kafka_config(kafka_broker, topic, client.name), Recorder()) as source:
        batches = poll_until(source, lambda got: count(got) >= len(values))
    assert [value for batch in batches for value in batch.values] == values
    assert [offset for batch in batches for offset in batch.offsets] == list(range(len(values)))


def test_on_assign_offsets_are_where_consumption_starts(kafka_broker: TansuBroker, topic_name: str,
                                                        client: Client) -> None:
    """A stored offset wins; a partition without one starts from start_from=earliest."""
    topic = kafka_broker.create_topic(topic_name, partitions=2)
    for partition in (0, 1):
        kafka_broker.produce(topic, [f"{partition}-{i}".encode() for i in range(10)], partition=partition)
    recorder = Recorder({(topic, 0): 4, (topic, 1): None})

    with open_source(kafka_config(kafka_broker, topic, client.name, start_from="earliest"), recorder) as source:
        batches = poll_until(source, lambda got: count(got) >= 16)

    assert offsets_of(batches) == {0: list(range(4, 10)), 1: list(range(10))}
    assert recorder.assigned == [[(topic, 0), (topic, 1)]]


def test_start_from_latest_reads_only_new_messages(kafka_broker: TansuBroker, topic_name: str,
                                                   client: Client) -> None:
    topic = kafka_broker.create_topic(topic_name, partitions=2)
    for partition in (0, 1):
        for i in range(3):  # one record per batch: Tansu's end offset is only exact then
            kafka_broker.produce(topic, [f"old-{i}".encode()], partition=partition)
    recorder = Recorder({(topic, 0): 1})  # a stored offset still wins over start_from

    with open_source(kafka_config(kafka_broker, topic, client.name, start_from="latest"), recorder) as source:
        batches = poll_until(source, lambda _: len(source.assignment()) == 2)
        assert source.lag()[(topic, 1)] == 0  # a partition starting at latest is at the end, not the beginning
        for partition in (0, 1):
            kafka_broker.produce(topic, [b"new-0", b"new-1"], partition=partition)
        batches += poll_until(source, lambda got: count(got) >= 6 - count(batches))

    assert offsets_of(batches) == {0: [1, 2, 3, 4], 1: [3, 4]}
    assert [value for batch in batches if batch.partition == 1 for value in batch.values] == [b"new-0", b"new-1"]


def test_two_sources_in_one_group_split_the_partitions(kafka_broker: TansuBroker, topic_name: str,
                                                        client: Client) -> None:
    """The second member takes half the partitions; the handoff via on_revoke/on_assign loses and repeats nothing.

    The first member keeps polling big batches while the rebalance happens, so a revocation lands in
    the middle of the client's polls: nothing fetched before it may come out afterwards.
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

        def run(self, source: Any) -> None:
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
    config = kafka_config(kafka_broker, topic, client.name)
    with open_source(config, a) as source_a:
        thread_a = threading.Thread(target=a.run, args=(source_a,))
        thread_a.start()
        try:
            wait_for(lambda: len(a.seen) == 40, "the first member to read everything")
            # librdkafka joins the group when it subscribes (kafka-python: at its first poll), so b starts here
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
                                                                         topic_name: str, client: Client) -> None:
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

        def take(self, source: Any, batches: list[PartitionBatch]) -> None:
            for batch in batches:
                key = (batch.topic, batch.partition)
                if key not in source.assignment() or batch.offsets[0] != self.next.get(key):
                    self.problems.append(f"{key} from {batch.offsets[0]}, expected {self.next.get(key)}")
                self.next[key] = batch.next_offset
                self.seen.extend((batch.partition, offset) for offset in batch.offsets)

    a, b = Member(), Member()
    config = kafka_config(kafka_broker, topic, client.name, max_poll_records=100)  # a alone would take ~5 s, b joins after ~3 s
    with open_source(config, a) as source_a:
        a.take(source_a, poll_until(source_a, lambda got: bool(got)))
        stop = threading.Event()

        def run_b() -> None:
            with open_source(config, b, client_id="driftd-b") as source_b:
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


def test_seek_moves_an_owned_partition_and_ignores_others(kafka_broker: TansuBroker, topic_name: str,
                                                         client: Client) -> None:
    """What the daemon does after a refused checkpoint: go back to the store's offsets."""
    topic = kafka_broker.create_topic(topic_name)
    kafka_broker.produce(topic, [f"m{i}".encode() for i in range(10)])
    with open_source(kafka_config(kafka_broker, topic, client.name), Recorder()) as source:
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


def test_lag_is_produced_minus_consumed_and_commit_reaches_kafka(kafka_broker: TansuBroker, topic_name: str,
                                                                 client: Client) -> None:
    topic = kafka_broker.create_topic(topic_name)
    kafka_broker.produce(topic, [f"m{i}".encode() for i in range(30)])  # one batch: Tansu's end offset says 1
    config = kafka_config(kafka_broker, topic, client.name, max_poll_records=10)

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


def test_log_ends_cover_partitions_owned_or_not(kafka_broker: TansuBroker, topic_name: str, client: Client) -> None:
    """log_ends lists every partition of the topics; an owned one's end is corrected by its fetch's high watermark."""
    topic = kafka_broker.create_topic(topic_name)
    other = kafka_broker.create_topic(f"{topic_name}-other", partitions=2)
    kafka_broker.produce(topic, [f"m{i}".encode() for i in range(30)])  # one batch: listed end 1, true end 30
    for i in range(4):
        kafka_broker.produce(other, [f"o{i}".encode()], partition=1)  # one record per batch: listed end exact

    with open_source(kafka_config(kafka_broker, topic, client.name), Recorder()) as source:
        poll_until(source, lambda got: count(got) >= 30)
        assert source.log_ends([topic, other]) == {(topic, 0): 30, (other, 0): 0, (other, 1): 4}


def test_callback_errors_come_out_of_poll_as_themselves(kafka_broker: TansuBroker, topic_name: str,
                                                        client: Client) -> None:
    topic = kafka_broker.create_topic(topic_name)
    kafka_broker.produce(topic, [b"m0", b"m1"])

    class StoreDown(Exception):
        pass

    def on_assign(partitions: list[Partition]) -> dict[Partition, int | None]:
        raise StoreDown("the store is unreachable")

    source = client.source(kafka_config(kafka_broker, topic, client.name), [topic], on_assign=on_assign,
                           on_revoke=lambda _: None)
    try:
        with pytest.raises(StoreDown, match="unreachable"):
            for _ in range(100):
                source.poll(100)
        for _ in range(5):  # nothing is read from the positions it could not learn
            try:  # librdkafka polls on, with nothing; kafka-python fails: the partition has no position
                assert source.poll(100) == []
            except KafkaSourceError as exc:
                assert "NoOffsetForPartition" in str(exc)
    finally:
        source.close()


def test_unreachable_broker_is_a_driftd_error(client: Client) -> None:
    config = KafkaConfig(bootstrap_servers=f"127.0.0.1:{free_port()}", topics=TopicsConfig("p"), client=client.name)
    with pytest.raises(KafkaSourceError, match="cannot connect to Kafka at 127.0.0.1"):
        client.source(config, ["p"], on_assign=lambda _: {}, on_revoke=lambda _: None, bootstrap_timeout_ms=500)


# --- positions out of range -------------------------------------------------------------------------


def test_retention_gap_resumes_at_log_start_counted_and_logged(
        kafka_broker: TansuBroker, topic_name: str, client: Client, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Tansu has no retention, so the broker's answers are simulated: log start 10, stored offset 3."""
    topic = kafka_broker.create_topic(topic_name)
    with open_source(kafka_config(kafka_broker, topic, client.name), Recorder({(topic, 0): 3})) as source:
        poll_until(source, lambda _: bool(source.assignment()))
        kafka_broker.produce(topic, [f"m{i}".encode() for i in range(20)])
        monkeypatch.setattr(source, "_log_bounds", lambda partitions: {(topic, 0): (10, 20)})
        client.out_of_range_once(source, topic, 3, monkeypatch)
        with caplog.at_level(logging.WARNING, logger="monitor.ingest.source"):  # SourceBase logs for both
            batches = poll_until(source, lambda got: count(got) >= 10)

    assert offsets_of(batches) == {0: list(range(10, 20))}
    assert source.retention_gaps == 1
    assert f"retention gap topic={topic} partition=0 stored_offset=3 log_start_offset=10 lost=7" in caplog.text


def test_offset_beyond_log_end_resumes_per_start_from(kafka_broker: TansuBroker, topic_name: str, client: Client,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """Tansu waits silently past the log end; Kafka answers OFFSET_OUT_OF_RANGE (simulated), then real offsets."""
    topic = kafka_broker.create_topic(topic_name)
    for i in range(10):  # one record per batch, so Tansu lists the true log end
        kafka_broker.produce(topic, [f"m{i}".encode()])
    with open_source(kafka_config(kafka_broker, topic, client.name), Recorder({(topic, 0): 50})) as source:
        poll_until(source, lambda _: bool(source.assignment()))
        client.out_of_range_once(source, topic, 50, monkeypatch)
        with caplog.at_level(logging.WARNING, logger="monitor.ingest.source"):  # SourceBase logs for both
            batches = poll_until(source, lambda got: count(got) >= 10)

    assert offsets_of(batches) == {0: list(range(10))}
    assert (source.offsets_beyond_end, source.retention_gaps) == (1, 0)
    assert f"topic={topic} partition=0 stored_offset=50 log_start_offset=0 log_end_offset=10" in caplog.text


# --- dead letters -----------------------------------------------------------------------------------


def test_dead_letters_carry_reason_and_origin(kafka_broker: TansuBroker, topic_name: str, client: Client) -> None:
    dlq = kafka_broker.create_topic(topic_name)
    dead_letters = client.dead_letters(kafka_config(kafka_broker, "ml.predictions", client.name, dead_letter_topic=dlq))
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
        kafka_broker: TansuBroker, topic_name: str, client: Client, caplog: pytest.LogCaptureFixture) -> None:
    dlq = kafka_broker.create_topic(topic_name)
    dead_letters = client.dead_letters(kafka_config(kafka_broker, "p", client.name, dead_letter_topic=dlq),
                                       **{client.request_limit: 1000})
    try:
        with caplog.at_level(logging.WARNING, logger=client.logger):
            dead_letters.send(b"x" * 5000, reason="oversized", topic="p", partition=0, offset=7)
            dead_letters.send(b"small", reason="not_json", topic="p", partition=0, offset=8)
            dead_letters.flush()
    finally:
        dead_letters.close()
    assert (dead_letters.sent, dead_letters.failed) == (1, 1)
    assert "dead letter not written" in caplog.text and "offset=7" in caplog.text


def test_dead_letters_need_a_topic(kafka_broker: TansuBroker, client: Client) -> None:
    with pytest.raises(KafkaSourceError, match="dead_letter_topic is not set"):
        client.dead_letters(kafka_config(kafka_broker, "p", client.name))


def test_commit_failures_are_counted_and_logged_at_most_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    """Both clients report a failed Kafka offset commit through SourceBase: harmless, counted, throttled."""
    now = [0.0]
    config = KafkaConfig(bootstrap_servers="k:9092", topics=TopicsConfig("p"))
    base = SourceBase(config, ["p"], lambda _: {}, lambda _: None, lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="monitor.ingest.source"):
        base._commit_failed([("p", 1), ("p", 0)], "NOT_COORDINATOR")
        base._commit_failed([("p", 0)], "NOT_COORDINATOR")
        now[0] = 61.0
        base._commit_failed([("p", 0)], "REQUEST_TIMED_OUT")

    assert base.commit_failures == 3
    assert [record.getMessage().split(";")[0] for record in caplog.records] == [
        "offset commit to Kafka failed for p:0, p:1 (0 earlier failure(s) not logged): NOT_COORDINATOR",
        "offset commit to Kafka failed for p:0 (1 earlier failure(s) not logged): REQUEST_TIMED_OUT"]


# --- kafka-python only -------------------------------------------------------------------------------


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


def test_kafka_python_settings_pass_security_through_and_reveal_secrets_only_there() -> None:
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
