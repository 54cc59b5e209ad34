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

    def config(port: int, **extra) -> object:
        return write_config(tmp_path / f"driftd-{port}.yaml", bootstrap=kafka_broker.bootstrap,
                            topics={"predictions": topic}, store_url=store_url, group=f"g-{suffix}", port=port,
                            reference=reference(tmp_path / "reference.csv"), session_timeout_ms=3000,
                            window="{size: 1h, allowed_lateness: 0s, min_events: 10, idle_close: 4s}",
                            extra_kafka=f"  client: {kafka_client}", **extra)
    return topic, config


@pytest.mark.slow
@pytest.mark.parametrize("kafka_client", ["kafka-python", "confluent"])
def test_kill_9_at_random_moments_loses_and_doubles_nothing(kafka_broker, tmp_path, store_url, world):
    topic, config = world
    messages = events(200_000)
    produce(kafka_broker, topic, messages, 4)
    expected = per_window(messages)
    port = free_port()
    cfg = config(port, checkpoint_interval="1s")
    rng = random.Random(7)
    kills = 0
    resumed = []  # events already stored as consumed when each daemon started
    daemon = DaemonProcess(cfg, tmp_path / "driftd.log", port)
    try:
        while kills < 10:
            resumed.append(stored_offsets(store_url, topic))
            daemon.start()
            daemon.wait_ready(90)
            time.sleep(rng.uniform(1.0, 3.5))  # past a checkpoint or two, or in the middle of one
            daemon.kill()
            kills += 1
            if stored_counts(store_url) == expected:
                break  # everything already judged: further kills would prove nothing new
        assert kills >= 3, "the daemon finished before it could be killed often enough; produce more events"
        # the restarts really resumed from checkpoints: stored offsets moved on between kills
        assert sum(b > a for a, b in zip(resumed, resumed[1:])) >= len(resumed) // 2, resumed
        assert resumed[-1] > 0, resumed
        daemon.start()
        daemon.wait_ready(90)  # its signal handlers are set: the SIGTERM below must drain, not kill
        wait_for(lambda: stored_counts(store_url) == expected, 180,
                 f"every window judged with its exact count after {kills} kills\n{daemon.tail()}")
        with Store.open(store_url) as store:
            assert store.load_window_states("churn") == []
        assert daemon.terminate() == 0
    finally:
        daemon.kill()


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
        b.start().wait_ready(90)
        time.sleep(1.0)                          # both are consuming now
        a.signal(signal.SIGSTOP)                 # a keeps its uncommitted progress, frozen
        time.sleep(8.0)                          # past a's 3 s session: b takes a's partitions
        a.signal(signal.SIGCONT)                 # a wakes up as a stale owner
        wait_for(lambda: stored_counts(store_url) == expected, 180,
                 f"exact counts with a stale owner\nA:\n{a.tail()}\nB:\n{b.tail()}")
        assert a.terminate() == 0 and b.terminate() == 0
    finally:
        a.kill()
        b.kill()


def test_poison_messages_are_counted_by_reason_and_never_stall(kafka_broker, tmp_path, store_url, world):
    topic, config = world
    good = events(20_000, seed=3)
    poison = [b"not json", b"[1, 2]", b'{"model": "churn"}', b'{"model": "nope", "timestamp": 1, "prediction": 1}',
              b'{"model": "churn", "timestamp": "yesterday", "prediction": 1}',
              b'{"model": 7, "timestamp": 1, "prediction": 1}', None, b"x" * 20_000]
    reasons = ["not_json", "not_object", "missing_field", "unknown_model", "bad_timestamp", "bad_type", "not_json",
               "oversized"]
    values: list[bytes | None] = []
    expected_rejected: dict[str, int] = {}
    for i, m in enumerate(good):
        values.append(json.dumps(m).encode())
        if i % 100 == 0:  # 1 % poison, every kind
            k = (i // 100) % len(poison)
            values.append(poison[k])
            expected_rejected[reasons[k]] = expected_rejected.get(reasons[k], 0) + 1
    for p in range(4):
        kafka_broker.produce(topic, values[p::4], partition=p)
    port = free_port()
    daemon = DaemonProcess(config(port, limits="{max_message_bytes: 10000}"), tmp_path / "driftd.log", port).start()
    try:
        daemon.wait_ready(90)
        wait_for(lambda: stored_counts(store_url) == per_window(good), 120, f"all valid events counted\n{daemon.tail()}")
        rejected = metric_values(daemon.metrics(), "driftd_events_rejected_total")
        assert {dict(k)["reason"]: v for k, v in rejected.items()} == expected_rejected
        consumed = metric_values(daemon.metrics(), "driftd_events_consumed_total")
        assert consumed == {(("topic", topic),): float(len(values))}
        assert daemon.terminate() == 0
    finally:
        daemon.kill()
