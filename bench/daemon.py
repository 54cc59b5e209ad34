"""Benchmark of `driftd run` against a local Tansu broker (issue 4, issue 7 item 2): prints figures, asserts nothing.

Each case starts a fresh in-memory Tansu broker (so topics of earlier cases take no memory), produces
its events, and measures in the same run:

partitions   events/s end to end through the broker with 1, 4 and 16 partitions (20 numeric features),
             each next to a bare kafka-python consumer that only `json.loads` each message, on the
             same topic (the reference), their ratio, and the daemon's peak RSS (target: ratio >= 1.5
             with kafka-python; with `--client confluent`, >= 150,000 events/s);
features     the same with 5, 25 and 100 features (4 partitions);
latency      wall time from a window's end to its drift alert arriving at a webhook receiver, with
             traffic produced in real time (event time = wall time) and drifted (target: <= 5 s);
memory       the daemon's peak RSS at 100k events and at 1M events, same config (target: within 10 %):
             1M in the same 4 h of event time (10x the rate) and 1M over 40 h (10x as long); and
             with every prediction waiting in the label join (target: < 512 MB).

The daemon's events/s run from its first consumed event to its last, read off its own /metrics;
peak RSS is the daemon process's over its whole life, up to and including the final checkpoint after
SIGTERM (ru_maxrss from os.wait4). SQLite store, 1 h event-time windows.

    .venv/bin/python bench/daemon.py [--events 400000] [--client kafka-python|confluent]
                                     [--only partitions|features|latency|memory ...] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.daemon.harness import DaemonProcess, free_port, metric_values, write_config  # noqa: E402
from tests.fixtures.kafka import TansuBroker, find_tansu  # noqa: E402
from tests.fixtures.receiver import Receiver  # noqa: E402

START = 1763798400.0  # 2025-11-22T08:00:00Z
SPAN_S = 4 * 3600.0   # the throughput and memory topics spread their events over 4 h of event time (4 windows)
PARTS = ("partitions", "features", "latency", "memory")
RATIO_TARGET = 1.5
CONFLUENT_TARGET = 150_000
LATENCY_TARGET_S = 5.0
FLAT_TARGET = 0.10
LABEL_JOIN_TARGET_MB = 512

# The latency case. A window [s, s + 10 s) is closed by the checkpoint that first finds every partition's
# watermark (its newest event time) at or past s + 10 s + allowed_lateness; the alert is written in that
# checkpoint's transaction, which then wakes the webhook dispatcher, which posts it. So the time from the
# window's end to the alert at the receiver is bounded by
#   allowed_lateness (1 s: the watermark must pass end + lateness; event time = wall time here)
#   + the producer's tick (50 ms here) and the daemon's poll (returns as soon as data is there)
#   + up to one checkpoint_interval (1 s: time windows close only in a checkpoint)
#   + the checkpoint itself (judging a 2,000-event window, the SQLite commit)
#   + the dispatcher's claim and the HTTP POST (the checkpoint wakes it; its 1 s idle wake-up
#     is only the fallback when no wake-up comes).
# i.e. about 1-2.5 s on an idle machine; idle_close (5 s) never applies while traffic flows.
LATENCY_WINDOW = "{size: 10s, allowed_lateness: 1s, min_events: 100, idle_close: 5s}"
LATENCY_CHECKPOINT = "1s"
LATENCY_LATENESS_S = 1.0
LATENCY_RATE = 200  # events/s, round robin over 4 partitions


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# --- traffic -----------------------------------------------------------------------------------


def feature_names(n: int) -> list[str]:
    return [f"n{i}" for i in range(n)]


def produce(broker: TansuBroker, topic: str, n: int, features: int, partitions: int, span_s: float = SPAN_S) -> None:
    """``n`` events of ``features`` normal features, round robin over the partitions, ``span_s`` of event time."""
    from kafka import KafkaProducer

    names = feature_names(features)
    rng = np.random.default_rng(1)
    encoder = msgspec.json.Encoder()
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20, batch_size=1 << 20,
                             max_request_size=16 << 20)
    block = 20_000
    for first in range(0, n, block):
        m = min(block, n - first)
        values = rng.normal(size=(m, features))
        stamps = START + (first + np.arange(m)) * (span_s / n)
        for j in range(m):
            message = {"model": "churn", "timestamp": float(stamps[j]), "prediction_id": f"p{first + j}",
                       "features": dict(zip(names, values[j].tolist())), "prediction": 0.5}
            producer.send(topic, encoder.encode(message), partition=(first + j) % partitions)
    producer.flush(timeout=300)
    producer.close()


def reference_csv(work: Path, features: int) -> Path:
    path = work / f"reference-{features}.csv"
    if not path.exists():
        import pandas as pd
        rng = np.random.default_rng(2)
        pd.DataFrame({**{f: rng.normal(size=20_000) for f in feature_names(features)},
                      "prediction": np.full(20_000, 0.5)}).to_csv(path, index=False)
    return path


# --- consumers ---------------------------------------------------------------------------------


def bare_consumer(broker: TansuBroker, topic: str, n: int, decode: bool = True) -> float | None:
    """Events/s of kafka-python polling raw bytes and json.loads-ing each message (None: not all in 10 min).

    With ``decode=False`` it only polls: the ceiling of any consumer that lets kafka-python parse the
    records on its one thread (kafka-python holds the GIL while it parses). The daemon parses them
    with monitor/ingest/kafka_records.py, about 3x faster, so it can pass this figure."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=f"bare-{uuid.uuid4().hex[:6]}",
                             auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=6000,
                             max_poll_records=5000, fetch_max_bytes=64 << 20, max_partition_fetch_bytes=8 << 20)
    seen, first = 0, None
    deadline = time.monotonic() + 600
    while seen < n and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            if first is None:
                first = time.perf_counter()
            if decode:
                for record in records:
                    json.loads(record.value)
            seen += len(records)
    seconds = time.perf_counter() - (first or time.perf_counter())
    consumer.close()
    return seen / seconds if seen >= n else None


def bare_confluent(broker: TansuBroker, topic: str, n: int,
                   handle: Callable[[list[bytes]], object] | None = None) -> float | None:
    """Events/s of confluent-kafka consuming, then ``handle`` on each consumed batch's values (None when
    confluent-kafka is not installed); the default json.loads-es each message, the bare reference."""
    try:
        from confluent_kafka import Consumer
    except ImportError:
        return None
    if handle is None:
        handle = _json_each
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"bare-ck-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, "session.timeout.ms": 6000})
    consumer.subscribe([topic])
    seen, first = 0, None
    deadline = time.monotonic() + 600
    while seen < n and time.monotonic() < deadline:
        messages = consumer.consume(num_messages=5000, timeout=0.5)
        values = [m.value() for m in messages if m.error() is None and m.value() is not None]
        if not values:
            continue
        if first is None:
            first = time.perf_counter()
        handle(values)  # type: ignore[arg-type]
        seen += len(values)
    seconds = time.perf_counter() - (first or time.perf_counter())
    consumer.close()
    return seen / seconds if seen >= n else None


def _json_each(values: list[bytes]) -> None:
    for value in values:
        json.loads(value)


def driftd_decoder(features: int) -> Callable[[list[bytes]], object]:
    """The daemon's own decoding of a batch (typed numeric columns), as the decoding child runs it."""
    from monitor.ingest.decode import PREDICTIONS, Decoder

    names = feature_names(features)
    return Decoder(PREDICTIONS, {}, {"churn": tuple(names)}, kinds={name: "numeric" for name in names}).decode


@dataclass
class DaemonRun:
    rate: float | None = None   # events/s from its first consumed event to its n-th
    rss_mb: float | None = None  # peak RSS of the daemon plus the peak of its decoding child
    error: str | None = None


def _hwm_kb(pid: int | str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return 0


def _children(pid: int) -> list[str]:
    out: list[str] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += (task / "children").read_text().split()
    return out


def stop_for_peak_rss(daemon: DaemonProcess) -> float:
    """SIGTERM the daemon (it finishes its batch, checkpoints, exits) and return its peak RSS in MB over its
    whole life, final checkpoint included: ru_maxrss from ``os.wait4`` (VmHWM from /proc just before, if larger),
    plus the peak RSS (VmHWM) of its children (the decoding process) read just before the SIGTERM."""
    assert daemon.proc is not None
    pid = daemon.proc.pid
    hwm_kb = _hwm_kb(pid)
    children_kb = sum(_hwm_kb(child) for child in _children(pid))
    daemon.signal(signal.SIGTERM)
    deadline = time.monotonic() + 120
    while True:
        reaped, status_code, usage = os.wait4(pid, os.WNOHANG)
        if reaped:
            break
        if time.monotonic() > deadline:  # a daemon that does not drain is killed; its peak RSS still counts
            os.kill(pid, signal.SIGKILL)
            _, status_code, usage = os.wait4(pid, 0)
            break
        time.sleep(0.1)
    daemon.proc.returncode = os.waitstatus_to_exitcode(status_code)  # reaped here, not by Popen
    if children_kb:
        print(f"    (daemon {max(usage.ru_maxrss, hwm_kb) / 1024:.0f} MB + decoding child {children_kb / 1024:.0f} MB)",
              flush=True)
    return (max(usage.ru_maxrss, hwm_kb) + children_kb) / 1024


def daemon_run(broker: TansuBroker, work: Path, topics: dict[str, str], n: int, features: int, label: str,
               client: str) -> DaemonRun:
    """Events/s and peak RSS (MB) of one `driftd run` reading ``n`` events; a daemon that fails is reported."""
    port = free_port()
    config = write_config(work / f"{label}.yaml", bootstrap=broker.bootstrap, topics=topics,
                          store_url=f"sqlite:///{work}/{label}.db", group=f"bench-{label}-{uuid.uuid4().hex[:6]}",
                          port=port, reference=reference_csv(work, features), session_timeout_ms=6000,
                          checkpoint_interval="10s", window="{size: 1h, min_events: 100, idle_close: 30s}",
                          extra_kafka=f"  client: {client}")
    daemon = DaemonProcess(config, work / f"{label}.log", port).start()
    try:
        try:
            daemon.wait_ready(120)
        except AssertionError as exc:
            return DaemonRun(error=str(exc).strip().splitlines()[-1][:200])
        first = None
        deadline = time.monotonic() + 1800
        seen, progressed = 0.0, time.monotonic()
        while True:
            if daemon.proc is not None and daemon.proc.poll() is not None:
                return DaemonRun(error=f"driftd exited with {daemon.proc.returncode}: {daemon.tail(1)}")
            consumed = sum(metric_values(daemon.metrics(), "driftd_events_consumed_total").values())
            now = time.perf_counter()
            if consumed > seen:
                seen, progressed = consumed, time.monotonic()
            if time.monotonic() > deadline or time.monotonic() - progressed > 60:
                error = f"driftd_events_consumed_total stalled at {consumed:,.0f} of {n:,}"
                stop_for_peak_rss(daemon)
                return DaemonRun(error=error)
            if consumed and first is None:
                first = (now, consumed)
            if consumed >= n:
                break
            time.sleep(0.25)  # a scrape takes the daemon's GIL: probing often would slow what is measured
        assert first is not None
        rate = (n - first[1]) / max(now - first[0], 1e-9)
        return DaemonRun(rate, stop_for_peak_rss(daemon))
    finally:
        daemon.kill()


# --- the parts ---------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    value: str
    target: str
    meets: str = ""


@dataclass
class Bench:
    work: Path
    events: int
    client: str
    quick: bool
    rows: list[Row] = field(default_factory=list)
    cases: int = 0

    def broker(self) -> TansuBroker:
        """A fresh in-memory broker: the previous case's topics do not stay in memory."""
        self.cases += 1
        log_dir = self.work / f"broker-{self.cases}"
        log_dir.mkdir()
        broker = TansuBroker(find_tansu(), log_dir)
        broker.start()
        return broker

    def throughput(self, partitions: int, features: int) -> None:
        label = f"p{partitions}-f{features}"
        what = f"{partitions} partition{'s' if partitions > 1 else ''} x {features} features"
        broker = self.broker()
        try:
            topic = broker.create_topic(f"bench-{label}-{uuid.uuid4().hex[:6]}", partitions=partitions)
            started = time.perf_counter()
            produce(broker, topic, self.events, features, partitions)
            produced_s = time.perf_counter() - started
            bare = bare_consumer(broker, topic, self.events)
            poll_only = bare_consumer(broker, topic, self.events, decode=False)
            confluent = ceilings = None
            if self.client == "confluent":
                confluent = bare_confluent(broker, topic, self.events)
                # what bounds any daemon here: librdkafka delivering messages to Python, and that plus
                # driftd's decoding in one thread (the daemon spreads the two over two processes)
                ceilings = (bare_confluent(broker, topic, self.events, handle=lambda values: None),
                            bare_confluent(broker, topic, self.events, handle=driftd_decoder(features)))
            run = daemon_run(broker, self.work, {"predictions": topic}, self.events, features, label, self.client)
        finally:
            broker.stop()
        head = (f"  {what:<28} produced in {produced_s:5.1f}s  bare kafka-python "
                + (f"{bare:9,.0f}/s" if bare else "timed out")
                + (f"  kafka-python poll only {poll_only:,.0f}/s" if poll_only else "")
                + (f"  bare confluent-kafka {confluent:,.0f}/s" if confluent else ""))
        if run.error:
            print(f"{head}  driftd FAILED: {run.error}", flush=True)
            self.rows.append(Row(f"events/s, {what}", "failed", self.rate_target()))
            return
        assert run.rate is not None and run.rss_mb is not None
        ratio = run.rate / bare if bare else float("nan")
        print(f"{head}  driftd {run.rate:9,.0f}/s  ratio {ratio:5.2f}  peak RSS {run.rss_mb:4.0f} MB", flush=True)
        meets = run.rate >= CONFLUENT_TARGET if self.client == "confluent" else ratio >= RATIO_TARGET
        value = f"{run.rate:,.0f} = {ratio:.2f}x bare {bare:,.0f}" if bare else f"{run.rate:,.0f} (no bare figure)"
        self.rows.append(Row(f"events/s, {what}", value, self.rate_target(), yes(meets)))
        if poll_only and bare:
            self.rows.append(Row("  kafka-python poll alone, its own parser, no decoding",
                                 f"{poll_only:,.0f} = {poll_only / bare:.2f}x bare", "-"))
        if ceilings is not None and all(ceilings):
            consume, decode = ceilings
            print(f"  {'':<28} confluent-kafka consume alone {consume:,.0f}/s, consume + driftd's decoder in one "
                  f"thread {decode:,.0f}/s", flush=True)
            self.rows.append(Row("  confluent-kafka consume alone, no decoding", f"{consume:,.0f}", "-"))
            self.rows.append(Row("  confluent consume + driftd's decoder, one thread", f"{decode:,.0f}", "-"))
        self.rows.append(Row(f"  peak RSS, {what}", f"{run.rss_mb:.0f} MB", "-"))

    def rate_target(self) -> str:
        return f">= {CONFLUENT_TARGET:,}/s" if self.client == "confluent" else f">= {RATIO_TARGET}x bare"

    def partitions(self) -> None:
        print(f"\nthroughput by partitions ({self.events:,} events of 20 features, client {self.client}):", flush=True)
        for partitions in (1, 4, 16):
            self.throughput(partitions, 20)

    def features(self) -> None:
        print(f"\nthroughput by features ({self.events:,} events, 4 partitions, client {self.client}):", flush=True)
        for features in (5, 25, 100):
            self.throughput(4, features)

    def memory(self) -> None:
        small, large = (20_000, 200_000) if self.quick else (100_000, 1_000_000)
        longer = SPAN_S * large / small
        print(f"\nmemory (20 features, 4 partitions, 1 h windows, client {self.client}):", flush=True)
        # Traffic grows two ways: 10x the events in the same 4 h of event time (10x the rate: each window
        # holds 10x the events), and the same rate for 10x as long (10x the windows, as many events each).
        cases = {"base": (small, SPAN_S), "rate": (large, SPAN_S), "time": (large, longer)}
        rss: dict[str, float] = {}
        for key, (n, span) in cases.items():
            broker = self.broker()
            try:
                topic = broker.create_topic(f"mem-{key}-{uuid.uuid4().hex[:6]}", partitions=4)
                produce(broker, topic, n, 20, 4, span_s=span)
                run = daemon_run(broker, self.work, {"predictions": topic}, n, 20, f"mem-{key}", self.client)
            finally:
                broker.stop()
            what = f"{n:>9,} events over {span / 3600:3.0f} h of event time ({n * 3600 / span:,.0f} a window)"
            if run.error:
                print(f"  {what}: driftd FAILED: {run.error}", flush=True)
                continue
            assert run.rss_mb is not None and run.rate is not None
            rss[key] = run.rss_mb
            print(f"  {what}: peak RSS {run.rss_mb:4.0f} MB  ({run.rate:,.0f} events/s)", flush=True)
        for key, how in (("rate", f"{large // small}x the rate"), ("time", f"{large // small}x as long")):
            figure = f"peak RSS, {small:,} -> {large:,} events ({how})"
            if "base" not in rss or key not in rss:
                self.rows.append(Row(figure, "failed", f"within {FLAT_TARGET:.0%}"))
                continue
            growth = rss[key] / rss["base"] - 1
            print(f"  {how}: {rss['base']:.0f} -> {rss[key]:.0f} MB, {growth:+.1%} (target within {FLAT_TARGET:.0%})")
            self.rows.append(Row(figure, f"{rss['base']:.0f} -> {rss[key]:.0f} MB ({growth:+.1%})",
                                 f"within {FLAT_TARGET:.0%}", yes(abs(growth) <= FLAT_TARGET)))

        broker = self.broker()
        try:
            topic = broker.create_topic(f"join-{uuid.uuid4().hex[:6]}", partitions=4)
            labels = broker.create_topic(f"labels-{uuid.uuid4().hex[:6]}", partitions=1)
            produce(broker, topic, self.events, 20, 4)
            run = daemon_run(broker, self.work, {"predictions": topic, "labels": labels}, self.events, 20, "labels",
                             self.client)
        finally:
            broker.stop()
        figure = f"peak RSS, {self.events:,} predictions waiting for labels"
        if run.error:
            print(f"  label join: driftd FAILED: {run.error}", flush=True)
            self.rows.append(Row(figure, "failed", f"< {LABEL_JOIN_TARGET_MB} MB"))
            return
        assert run.rss_mb is not None and run.rate is not None
        print(f"  every prediction waiting for its label ({self.events:,} pending joins, in the store): peak RSS "
              f"{run.rss_mb:.0f} MB ({run.rate:,.0f} events/s)", flush=True)
        self.rows.append(Row(figure, f"{run.rss_mb:.0f} MB", f"< {LABEL_JOIN_TARGET_MB} MB",
                             yes(run.rss_mb < LABEL_JOIN_TARGET_MB)))

    def latency(self) -> None:
        from monitor.demo.synthetic import ChurnTraffic, write_reference_csv

        seconds = 40.0 if self.quick else 75.0
        print(f"\nwindow end -> alert at the receiver ({seconds:.0f} s of real-time traffic at {LATENCY_RATE}/s, "
              f"4 partitions, window {LATENCY_WINDOW}, checkpoint_interval {LATENCY_CHECKPOINT}, client "
              f"{self.client}):", flush=True)
        receiver = Receiver().start()
        broker = self.broker()
        daemon = None
        try:
            topic = broker.create_topic(f"latency-{uuid.uuid4().hex[:6]}", partitions=4)
            reference = self.work / "churn-reference.csv"
            write_reference_csv(str(reference), ChurnTraffic(), 5000)
            port = free_port()
            config = write_config(
                self.work / "latency.yaml", bootstrap=broker.bootstrap, topics={"predictions": topic},
                store_url=f"sqlite:///{self.work}/latency.db", group=f"bench-latency-{uuid.uuid4().hex[:6]}",
                port=port, reference=reference, session_timeout_ms=6000, checkpoint_interval=LATENCY_CHECKPOINT,
                window=LATENCY_WINDOW, extra_kafka=f"  client: {self.client}",
                alerts="{consecutive_windows: 1, cooldown: 0s, webhooks: [retrain]}",
                webhooks=f"{{retrain: {{url: '{receiver.url}', timeout: 2s, max_attempts: 3}}}}")
            daemon = DaemonProcess(config, self.work / "latency.log", port).start()
            try:
                daemon.wait_ready(120)
            except AssertionError as exc:
                error = str(exc).strip().splitlines()[-1][:200]
                print(f"  driftd FAILED: {error}", flush=True)
                self.rows.append(Row("window end -> alert at receiver", "failed", f"<= {LATENCY_TARGET_S:.0f} s"))
                return
            # Drifted churn traffic (age shifted, plan towards bronze), stamped with the wall time it is sent at.
            messages = [m for m in ChurnTraffic().messages(0.0, seconds + 10, LATENCY_RATE, drift_at=0.0)
                        if "features" in m]
            first_ts, stop_ts = real_time_traffic(broker, topic, messages, seconds)
            size = 10.0
            # whole windows the watermark could close while traffic flowed (the first, partial window may
            # have too few events to be judged; the last ones close by idle_close after the traffic stops)
            ends = [e for e in np.arange(np.ceil(first_ts / size) * size + size, stop_ts, size)
                    if e + LATENCY_LATENESS_S + 0.2 < stop_ts]
            expected = {float(e) for e in ends}
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not expected <= set(arrivals(receiver)):
                time.sleep(0.2)
            got = arrivals(receiver)
        finally:
            if daemon is not None:
                try:
                    daemon.terminate(60)
                except subprocess.TimeoutExpired:  # a daemon that does not drain is killed below
                    pass
                daemon.kill()
            broker.stop()
            receiver.stop()
        delays = [got[e] - e for e in sorted(expected) if e in got]
        for e in sorted(expected):
            stamp = time.strftime("%H:%M:%S", time.gmtime(e))
            print(f"  window ending {stamp}Z: " + (f"alert after {got[e] - e:.2f} s" if e in got else "no alert"))
        missing = len(expected) - len(delays)
        if not delays:
            self.rows.append(Row("window end -> alert at receiver", f"no alerts ({missing} windows)",
                                 f"<= {LATENCY_TARGET_S:.0f} s"))
            return
        summary = (f"{min(delays):.2f} / {statistics.median(delays):.2f} / {max(delays):.2f} s over {len(delays)} "
                   f"windows" + (f", {missing} missing" if missing else ""))
        print(f"  min / median / max: {summary}")
        self.rows.append(Row("window end -> alert at receiver, min/median/max", summary,
                             f"<= {LATENCY_TARGET_S:.0f} s", yes(max(delays) <= LATENCY_TARGET_S and not missing)))


def real_time_traffic(broker: TansuBroker, topic: str, messages: list[dict[str, object]],
                      seconds: float) -> tuple[float, float]:
    """Send ``messages`` at LATENCY_RATE for ``seconds``, each stamped with the wall time it is sent at.

    Every 50 ms tick sends what is due, round robin over 4 partitions, and flushes, so each partition sees
    an event time past a window's end within one tick of it. Returns the first and the last event time.
    """
    from kafka import KafkaProducer

    encoder = msgspec.json.Encoder()
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0)
    started = time.time()
    first = started
    sent = 0
    now = started
    while now - started < seconds and sent < len(messages):
        due = min(len(messages), int((now - started) * LATENCY_RATE) + 4)
        for i in range(sent, due):
            message = dict(messages[i], timestamp=now)
            producer.send(topic, encoder.encode(message), partition=i % 4)
        sent = due
        producer.flush(timeout=10)
        time.sleep(max(0.0, 0.05 - (time.time() - now)))
        now = time.time()
    producer.close()
    return first, now


def arrivals(receiver: Receiver) -> dict[float, float]:
    """Window end -> wall time the receiver first got that window's alert."""
    out: dict[float, float] = {}
    for got in list(receiver.requests):
        end = datetime.fromisoformat(got.json["window"]["end"].replace("Z", "+00:00")).timestamp()
        out.setdefault(end, got.at)
    return out


def yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=None,
                        help="events per throughput case and for the label join (default 400,000; 50,000 with --quick)")
    parser.add_argument("--client", choices=("kafka-python", "confluent"), default="kafka-python",
                        help="the daemon's kafka.client (the bare reference consumer is always kafka-python)")
    parser.add_argument("--only", choices=PARTS, action="append",
                        help="run only this part (repeatable); default: all of them")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 50,000 events, memory at 20k vs 200k, 40 s of latency traffic")
    args = parser.parse_args()
    events = args.events or (50_000 if args.quick else 400_000)
    parts = args.only or list(PARTS)
    print(f"machine: {os.cpu_count()} cores, load average {load_average()} (1/5/15 min) at start; client "
          f"{args.client}; parts: {', '.join(parts)}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp), events, args.client, args.quick)
        started = time.perf_counter()
        for part in PARTS:
            if part in parts:
                getattr(bench, part)()
        elapsed = time.perf_counter() - started
    print(f"\nsummary ({elapsed / 60:.1f} min; load average {load_average()} at the end; client {args.client})")
    width = max([len(r.figure) for r in bench.rows] + [6])
    vwidth = max([len(r.value) for r in bench.rows] + [5])
    twidth = max([len(r.target) for r in bench.rows] + [6])
    print(f"{'figure':<{width}}  {'value':<{vwidth}}  {'target':<{twidth}}  meets")
    print("-" * (width + vwidth + twidth + 11))
    for row in bench.rows:
        print(f"{row.figure:<{width}}  {row.value:<{vwidth}}  {row.target:<{twidth}}  {row.meets}")


if __name__ == "__main__":
    main()
