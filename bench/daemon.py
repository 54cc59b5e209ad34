"""Benchmark of `driftd run` (issue 4): prints figures, asserts nothing.

Produces N events of 20 numeric features into a local Tansu broker (4 partitions), then, in the
same run, measures events/s of
  1. a bare kafka-python consumer that only `json.loads` each message (the reference), and
  2. the daemon (`driftd run`, SQLite store), from its first consumed event to its last,
     read off its own /metrics,
and the daemon's peak RSS, also with a labels topic configured so that every prediction waits
in the label join (the join lives in the store, so memory should not grow with it).

    .venv/bin/python bench/daemon.py [--events 400000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.daemon.harness import DaemonProcess, free_port, metric_values, write_config  # noqa: E402
from tests.fixtures.kafka import TansuBroker, find_tansu  # noqa: E402

FEATURES = [f"n{i}" for i in range(20)]
START = 1763798400.0


def produce(broker: TansuBroker, topic: str, n: int) -> None:
    from kafka import KafkaProducer

    rng = np.random.default_rng(1)
    encoder = msgspec.json.Encoder()
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20, batch_size=1 << 20)
    block = 20_000
    for first in range(0, n, block):
        m = min(block, n - first)
        values = rng.normal(size=(m, len(FEATURES)))
        stamps = START + (first + np.arange(m)) * (4 * 3600 / n)
        for j in range(m):
            message = {"model": "churn", "timestamp": float(stamps[j]), "prediction_id": f"p{first + j}",
                       "features": dict(zip(FEATURES, values[j].tolist())), "prediction": 0.5}
            producer.send(topic, encoder.encode(message), partition=(first + j) % 4)
    producer.flush(timeout=120)
    producer.close()


def bare_consumer(broker: TansuBroker, topic: str, n: int) -> float:
    """Events/s of kafka-python polling raw bytes and json.loads-ing each message."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=f"bare-{uuid.uuid4().hex[:6]}",
                             auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=6000,
                             max_poll_records=5000, fetch_max_bytes=64 << 20, max_partition_fetch_bytes=8 << 20)
    seen, first = 0, None
    while seen < n:
        for records in consumer.poll(timeout_ms=500).values():
            if first is None:
                first = time.perf_counter()
            for record in records:
                json.loads(record.value)
            seen += len(records)
    seconds = time.perf_counter() - (first or time.perf_counter())
    consumer.close()
    return n / seconds


def daemon_run(broker: TansuBroker, work: Path, topics: dict[str, str], n: int, label: str) -> tuple[float, float]:
    """Events/s and peak RSS (MB) of one `driftd run`."""
    rng = np.random.default_rng(2)
    reference = work / "reference.csv"
    if not reference.exists():
        import pandas as pd
        pd.DataFrame({**{f: rng.normal(size=20_000) for f in FEATURES}, "prediction": np.full(20_000, 0.5)}).to_csv(
            reference, index=False)
    port = free_port()
    config = write_config(work / f"{label}.yaml", bootstrap=broker.bootstrap, topics=topics,
                          store_url=f"sqlite:///{work}/{label}.db", group=f"bench-{label}-{uuid.uuid4().hex[:6]}",
                          port=port, reference=reference, session_timeout_ms=6000, checkpoint_interval="10s",
                          window="{size: 1h, min_events: 100, idle_close: 30s}")
    daemon = DaemonProcess(config, work / f"{label}.log", port).start()
    try:
        daemon.wait_ready(120)
        first = None
        while True:
            consumed = sum(metric_values(daemon.metrics(), "driftd_events_consumed_total").values())
            now = time.perf_counter()
            if consumed and first is None:
                first = (now, consumed)
            if consumed >= n:
                break
            time.sleep(0.25)  # a scrape takes the daemon's GIL: probing often would slow what is measured
        assert first is not None
        rate = (n - first[1]) / max(now - first[0], 1e-9)
        with open(f"/proc/{daemon.proc.pid}/status") as status:  # type: ignore[union-attr]
            hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
        daemon.terminate()
        return rate, hwm / 1024
    finally:
        daemon.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=400_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = TansuBroker(find_tansu(), work)
        broker.start()
        try:
            topic = broker.create_topic(f"bench-{uuid.uuid4().hex[:6]}", partitions=4)
            labels = broker.create_topic(f"labels-{uuid.uuid4().hex[:6]}", partitions=1)
            started = time.perf_counter()
            produce(broker, topic, args.events)
            print(f"machine: {os.cpu_count()} cores; produced {args.events:,} events of {len(FEATURES)} features "
                  f"into 4 partitions in {time.perf_counter() - started:.1f}s")
            bare = bare_consumer(broker, topic, args.events)
            print(f"bare kafka-python + json.loads consumer: {bare:,.0f} events/s")
            rate, rss = daemon_run(broker, work, {"predictions": topic}, args.events, "daemon")
            print(f"driftd run (SQLite store):               {rate:,.0f} events/s  ratio {rate / bare:.2f} "
                  f"(target >= 1.0)  peak RSS {rss:.0f} MB")
            rate, rss = daemon_run(broker, work, {"predictions": topic, "labels": labels}, args.events, "labels")
            print(f"driftd run, every prediction waiting for its label: {rate:,.0f} events/s  peak RSS {rss:.0f} MB "
                  f"(target < 512 MB; {args.events:,} pending joins, in the store)")
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
