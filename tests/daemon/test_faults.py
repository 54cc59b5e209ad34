"""Faults: kill -9 at random moments, a stale owner paused past its session, poison messages.

Whatever happens, every stored window counts each produced event exactly once.
"""

from __future__ import annotations

import json
import random
import signal
import time
import uuid

import numpy as np
import pandas as pd
import pytest

from monitor.store import Store
from tests.daemon.harness import DaemonProcess, free_port, metric_values, wait_for, write_config

START = 1763798400.0
HOURS = 4


def reference(path):
    rng = np.random.default_rng(0)
    pd.DataFrame({"x": rng.normal(size=3000), "y": rng.exponential(size=3000),
                  "c": rng.choice(["a", "b", "c"], 3000), "prediction": rng.random(3000)}).to_csv(path, index=False)
    return path


def events(n: int, seed: int = 1) -> list[dict]:
    """n small prediction events spread evenly over HOURS hours, in time order."""
    rng = np.random.default_rng(seed)
    stamps = START + np.sort(rng.random(n)) * HOURS * 3600
    x, y = rng.normal(size=n), rng.exponential(size=n)
    c = rng.choice(["a", "b", "c", "d"], n)
    return [{"model": "churn", "timestamp": float(stamps[i]), "prediction_id": f"p{i}",
             "features": {"x": float(x[i]), "y": float(y[i]), "c": str(c[i])}, "prediction": 0.5}
            for i in range(n)]


def per_window(messages: list[dict]) -> dict[float, int]:
    counts: dict[float, int] = {}
    for m in messages:
        start = float(np.floor(m["timestamp"] / 3600) * 3600)
        counts[start] = counts.get(start, 0) + 1
    return counts


def produce(broker, topic: str, messages: list[dict], partitions: int) -> None:
    for p in range(partitions):
        broker.produce(topic, [json.dumps(m).encode() for m in messages[p::partitions]], partition=p)


def stored_counts(store_url: str) -> dict[float, int]:
    with Store.open(store_url) as store:
        return {w.start: w.events for w in store.list_windows("churn")}


def stored_offsets(store_url: str, topic: str) -> int:
    """Sum of the next offsets the store holds for the topic's 4 partitions (the test group is g-<suffix>)."""
    with Store.open(store_url) as store:
        return sum(store.load_offsets(f"g-{topic.removeprefix('preds-')}", [(topic, p) for p in range(4)]).values())


@pytest.fixture
def kafka_client() -> str:
    """The daemons' `kafka.client`; the kill -9 test runs with each."""
    return "kafka-python"


@pytest.fixture
def world(kafka_broker, tmp_path, store_url, kafka_client):
    suffix = uuid.uuid4().hex[:8]
    topic = f"preds-{suffix}"
    kafka_broker.create_topic(topic, partitions=4)
    profile = reference(tmp_path / "reference.csv")  # written once: a daemon may be reading it when the next starts

    def config(port: int, **extra) -> object:
        return write_config(tmp_path / f"driftd-{port}.yaml", bootstrap=kafka_broker.bootstrap,
                            topics={"predictions": topic}, store_url=store_url, group=f"g-{suffix}", port=port,
                            reference=profile, session_timeout_ms=3000,
                            window="{size: 1h, allowed_lateness: 0s, min_events: 10, idle_close: 4s}",
                            extra_kafka=f"  client: {kafka_client}", **extra)
    return topic, config


@pytest.mark.slow
@pytest.mark.parametrize("kafka_client", ["kafka-python", "confluent"])
def test_kill_9_at_random_moments_loses_and_doubles_nothing(kafka_broker, tmp_path, store_url, world):
    topic, config = world
    messages = events(200_000)
    expected = per_window(messages)
    # produced an hour (a window) at a time, each once the store holds everything before it, so
    # every hour gets at least one daemon killed in it however fast the daemon reads
    hours = [[m for m in messages if START + h * 3600 <= m["timestamp"] < START + (h + 1) * 3600]
             for h in range(HOURS)]
    produced = 0
    port = free_port()
    cfg = config(port, checkpoint_interval="500ms")
    rng = random.Random(7)
    kills = 0
    resumed = []  # events already stored as consumed when each daemon started
    daemon = DaemonProcess(cfg, tmp_path / "driftd.log", port)
    try:
        while kills < 10:
            before = stored_offsets(store_url, topic)
            resumed.append(before)
            if before == produced:
                if not hours:
                    break  # everything consumed: further kills would prove nothing new
                produce(kafka_broker, topic, hours[0], 4)
                produced += len(hours.pop(0))
            daemon.start()
            daemon.wait_ready(90)
            # kill once the store shows this daemon's first checkpoint, at a random moment after it:
            # between two checkpoints, or inside one (they come twice a second)
            wait_for(lambda: stored_offsets(store_url, topic) > before, 120,
                     lambda: f"a checkpoint after restart {kills}\n{daemon.tail()}", every_s=0.05)
            time.sleep(rng.uniform(0.0, 0.8))
            daemon.kill()
            kills += 1
        assert kills >= HOURS, kills
        # the restarts really resumed from checkpoints: stored offsets moved on with every daemon
        assert all(b > a for a, b in zip(resumed, resumed[1:])), resumed
        daemon.start()
        daemon.wait_ready(90)  # its signal handlers are set: the SIGTERM below must drain, not kill
        wait_for(lambda: stored_counts(store_url) == expected, 180,
                 lambda: f"every window judged with its exact count after {kills} kills\n{daemon.tail()}")
        with Store.open(store_url) as store:
            assert store.load_window_states("churn") == []
        assert daemon.terminate() == 0
    finally:
        daemon.kill()


def consumed(daemon: DaemonProcess) -> float:
    """Messages the daemon has read so far, from its /metrics."""
    return sum(metric_values(daemon.metrics(), "driftd_events_consumed_total").values())


def rejected_by_reason(metrics: str) -> dict[str, float]:
    """driftd_events_rejected_total by reason (one topic), from /metrics text."""
    return {dict(k)["reason"]: v for k, v in metric_values(metrics, "driftd_events_rejected_total").items()}


def assigned(daemon: DaemonProcess, topic: str) -> set[int]:
    """The partitions of the topic in the daemon's newest assignment, as its log says."""
    lines = [line for line in daemon.tail(400).splitlines() if "partitions assigned" in line]
    return {p for p in range(4) if lines and f"{topic}:{p}@" in lines[-1]}


@pytest.mark.slow
def test_a_stale_owner_paused_past_its_session_counts_nothing_twice(kafka_broker, tmp_path, store_url, world):
    topic, config = world
    messages = events(200_000, seed=2)
    expected = per_window(messages)
    # Produced first: a partition that receives nothing for idle_close while the others run ahead
    # rightly stops holding windows back, and a slow producer would make its later events late.
    produce(kafka_broker, topic, messages, 4)
    ports = free_port(), free_port()
    a = DaemonProcess(config(ports[0]), tmp_path / "a.log", ports[0]).start()
    b = DaemonProcess(config(ports[1]), tmp_path / "b.log", ports[1])
    try:
        a.wait_ready(90)     # one at a time: two first starts would race to create the SQLite schema
        wait_for(lambda: consumed(a) > 0, 60, lambda: f"a consuming\nA:\n{a.tail()}", every_s=0.02)
        a.signal(signal.SIGSTOP)                 # a holds what it read since its last checkpoint, frozen
        b.start()
        b.wait_logged("driftd started", 90)
        wait_for(lambda: len(assigned(b, topic)) == 4, 90,  # past a's 3 s session: b takes a's partitions
                 lambda: f"b owning every partition\nB:\n{b.stacks()}", every_s=0.1)
        a.signal(signal.SIGCONT)                 # a wakes up as a stale owner
        wait_for(lambda: stored_counts(store_url) == expected, 180,
                 lambda: f"exact counts with a stale owner\nA:\n{a.tail()}\nB:\n{b.tail()}")
        assert a.terminate() == 0 and b.terminate() == 0
    finally:
        a.kill()
        b.kill()


HOSTILE = [  # (message, the reason it is rejected for): every kind of message a producer can get wrong
    (b"not json", "not_json"), (b"", "not_json"), (None, "not_json"), (b'{"model": "ch\xff\xfeurn"}', "not_json"),
    (b"[1, 2]", "not_object"),
    (b'{"model": "churn"}', "missing_field"),
    (b'{"model": "nope", "timestamp": 1, "prediction": 1}', "unknown_model"),
    (b'{"model": 7, "timestamp": 1, "prediction": 1}', "bad_type"),
    (b'{"model": "churn", "timestamp": 1763800000, "features": [1], "prediction": 1}', "bad_type"),
    (b'{"model": "churn", "timestamp": true, "prediction": 1}', "bad_type"),
    (b'{"model": "churn", "timestamp": "yesterday", "prediction": 1}', "bad_timestamp"),
    (b'{"model": "churn", "timestamp": NaN, "prediction": 1}', "bad_timestamp"),
    (b'{"model": "churn", "timestamp": 1763800000250, "prediction": 1}', "bad_timestamp"),  # epoch milliseconds
    (b'{"model": "churn", "timestamp": -1e300, "prediction": 1}', "bad_timestamp"),
    (b'{"model": "churn", "timestamp": 2700000000, "features": {"x": 1}, "prediction": 1}', "future_timestamp"),  # 2055
    (b'{"model": "churn", "timestamp": 1763800000, "prediction": 1, "deep": ' + b"[" * 3000 + b"]" * 3000 + b"}",
     "too_deep"),
    (b'{"model": "churn", "timestamp": 1763800000, "features": {"c": "' + b"x" * 2000 + b'"}, "prediction": 1}',
     "oversized_value"),
    (b"x" * 20_000, "oversized"),
]


@pytest.mark.parametrize("kafka_client", ["kafka-python", "confluent"])
def test_hostile_messages_are_counted_by_reason_and_never_stall(kafka_broker, tmp_path, store_url, world):
    """Every kind of bad message between good ones, on every partition: the daemon stays up, each good event
    counts once in its window, each bad one once under its reason; the 2055 event closes nothing early."""
    topic, config = world
    good = events(20_000, seed=3)
    values: list[bytes | None] = []
    expected_rejected: dict[str, int] = {}
    for i, m in enumerate(good):
        values.append(json.dumps(m).encode())
        if i % 100 == 0:  # 1 % hostile, every kind
            message, reason = HOSTILE[(i // 100) % len(HOSTILE)]
            values.append(message)
            expected_rejected[reason] = expected_rejected.get(reason, 0) + 1
    for p in range(4):
        kafka_broker.produce(topic, values[p::4], partition=p)
    port = free_port()
    daemon = DaemonProcess(config(port, limits="{max_message_bytes: 10000}"), tmp_path / "driftd.log", port).start()
    try:
        daemon.wait_ready(90)
        wait_for(lambda: stored_counts(store_url) == per_window(good), 120, lambda: f"all valid events counted\n{daemon.tail()}")
        assert rejected_by_reason(daemon.metrics()) == expected_rejected
        consumed = metric_values(daemon.metrics(), "driftd_events_consumed_total")
        assert consumed == {(("topic", topic),): float(len(values))}
        assert sum(metric_values(daemon.metrics(), "driftd_events_late_total").values()) == 0
        assert daemon.terminate() == 0
    finally:
        daemon.kill()


@pytest.mark.parametrize("kafka_client", ["kafka-python", "confluent"])
def test_a_message_whose_processing_raises_is_isolated_and_the_partition_goes_on(kafka_broker, tmp_path, store_url,
                                                                                 world):
    """Processing raises (a test hook, after the batch changed the windows) on two messages: each alone is
    rejected as internal_error and dead-lettered; every other event counts exactly once."""
    topic, config = world
    messages = events(20_000, seed=4)
    poison = {"p5000", "p12345"}
    good = [m for m in messages if m["prediction_id"] not in poison]
    produce(kafka_broker, topic, messages, 4)
    dlq = f"dlq-{topic}"
    kafka_broker.create_topic(dlq, partitions=1)
    port = free_port()
    daemon = DaemonProcess(config(port, dead_letter_topic=dlq), tmp_path / "driftd.log", port,
                           env={"DRIFTD_TEST_FAIL_ON_PREDICTION_ID": ",".join(sorted(poison))}).start()
    try:
        daemon.wait_ready(90)
        wait_for(lambda: stored_counts(store_url) == per_window(good), 120,
                 lambda: f"every other event counted once\n{daemon.stacks()}")
        text = daemon.metrics()
        rejected = rejected_by_reason(text)
        assert rejected == {"internal_error": 2}
        assert metric_values(text, "driftd_events_consumed_total") == {(("topic", topic),): float(len(messages))}
        assert sum(metric_values(text, "driftd_events_late_total").values()) == 0
        letters = kafka_broker.read(dlq, 2)
        assert sorted(json.loads(m.value)["prediction_id"] for m in letters) == sorted(poison)
        for letter in letters:
            assert letter.headers["driftd-reason"] == b"internal_error"
            assert b"RuntimeError: injected failure" in letter.headers["driftd-error"]
        assert daemon.tail(2000).count("rejected as internal_error") == 2
        assert daemon.proc.poll() is None
        assert daemon.terminate() == 0
    finally:
        daemon.kill()


def produce_unreadable(broker, topic: str, values: list[bytes], partition: int) -> None:
    """One zstd batch whose payload is not zstd (valid CRC): what a broken producer can leave in a log."""
    import kafka.record.default_records as default_records
    from kafka import KafkaProducer

    real = default_records.zstd_encode
    default_records.zstd_encode = lambda data: b"\x28\xb5\x2f\xfd not zstd"
    try:
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, compression_type="zstd", linger_ms=50,
                                 batch_size=1 << 20)
        for value in values:
            producer.send(topic, value=value, partition=partition)
        producer.flush(timeout=30)
        producer.close(timeout=5)
    finally:
        default_records.zstd_encode = real


@pytest.mark.parametrize("kafka_client", ["kafka-python", "confluent"])
def test_a_batch_the_client_cannot_read_is_skipped_counted_and_dead_lettered(kafka_broker, tmp_path, store_url,
                                                                             world):
    topic, config = world
    good = events(8_000, seed=5)
    lost = events(40, seed=6)  # their batch cannot be read: never counted, dead-lettered as one batch
    values = [json.dumps(m).encode() for m in good]
    for p in range(4):
        kafka_broker.produce(topic, values[p:4000:4], partition=p)
    produce_unreadable(kafka_broker, topic, [json.dumps(m).encode() for m in lost], partition=1)
    for p in range(4):
        kafka_broker.produce(topic, values[4000 + p::4], partition=p)
    dlq = f"dlq-{topic}"
    kafka_broker.create_topic(dlq, partitions=1)
    port = free_port()
    daemon = DaemonProcess(config(port, dead_letter_topic=dlq), tmp_path / "driftd.log", port).start()
    try:
        daemon.wait_ready(90)
        wait_for(lambda: stored_counts(store_url) == per_window(good), 120,
                 lambda: f"every readable event counted once\n{daemon.stacks()}")
        text = daemon.metrics()
        rejected = rejected_by_reason(text)
        assert rejected == {"unreadable_batch": 1}
        assert metric_values(text, "driftd_events_consumed_total") == {(("topic", topic),): float(len(good) + 1)}
        [letter] = kafka_broker.read(dlq, 1)
        assert letter.headers["driftd-reason"] == b"unreadable_batch" and letter.headers["driftd-partition"] == b"1"
        assert b"offsets 1000-1039" in letter.headers["driftd-error"]
        assert daemon.proc.poll() is None and "unreadable record batch" in daemon.tail(2000)
        assert daemon.terminate() == 0
    finally:
        daemon.kill()


def test_a_topic_in_epoch_milliseconds_is_windowed_by_its_configured_unit(kafka_broker, tmp_path, store_url):
    """kafka.timestamp_unit: what Java services log (epoch milliseconds) fills the same windows as seconds."""
    suffix = uuid.uuid4().hex[:8]
    topic = kafka_broker.create_topic(f"preds-{suffix}", partitions=2)
    messages = events(4_000, seed=7)
    in_ms = [{**m, "timestamp": round(m["timestamp"] * 1000)} for m in messages]
    for p in range(2):
        kafka_broker.produce(topic, [json.dumps(m).encode() for m in in_ms[p::2]], partition=p)
    port = free_port()
    config = write_config(tmp_path / "driftd.yaml", bootstrap=kafka_broker.bootstrap, topics={"predictions": topic},
                          store_url=store_url, group=f"g-{suffix}", port=port, reference=reference(tmp_path / "ref.csv"),
                          window="{size: 1h, allowed_lateness: 0s, min_events: 10, idle_close: 4s}",
                          extra_kafka="  timestamp_unit: {predictions: milliseconds}")
    daemon = DaemonProcess(config, tmp_path / "driftd.log", port).start()
    try:
        daemon.wait_ready(90)
        wait_for(lambda: stored_counts(store_url) == per_window(messages), 120,
                 lambda: f"windows of the milliseconds topic\n{daemon.tail()}")
        assert rejected_by_reason(daemon.metrics()) == {}
        assert daemon.terminate() == 0
    finally:
        daemon.kill()
