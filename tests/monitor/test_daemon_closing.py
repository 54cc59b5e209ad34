"""The daemon's loop decisions, without Kafka.

It checkpoints soon after its partitions pass a time window's end, instead of holding the window's
summary in memory until the next checkpoint interval (memory would otherwise grow with the event
rate); and a failed consumer-lag sample is a logged metric gap, not a reason to stop."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import numpy as np
import pytest

from detectors.layout import Column, Layout
from detectors.summary import WindowSummary
from monitor.config import parse_config
from monitor.daemon import Daemon, Timing
from monitor.ingest.source import KafkaSourceError
from monitor.windows.tumbling import TimeWindows

LAYOUT = Layout((Column("x", "numeric", np.array([0.0])),))


def daemon_with_windows(gap_s: float = 1.0) -> tuple[Daemon, TimeWindows]:
    config = parse_config({
        "kafka": {"bootstrap_servers": "127.0.0.1:1", "group_id": "g", "topics": {"predictions": "p"}},
        "storage": {"url": "sqlite:///x.db"},
        "models": [{"name": "churn", "task": "binary_classification", "reference": {"events": 100},
                    "features": [{"name": "x", "type": "numeric"}], "window": {"size": "1m"}}],
    }, "test.yaml")
    daemon = Daemon(config, clock=lambda: 0.0, timing=Timing(closable_gap_s=gap_s))
    windows = TimeWindows("churn", 60.0, 0.0, 600.0, lambda seed: WindowSummary.zero(LAYOUT, 100, seed=seed))
    daemon.pipeline = SimpleNamespace(models={"churn": SimpleNamespace(windows=windows)})  # type: ignore[assignment]
    daemon.last_checkpoint = time.monotonic() - 60
    return daemon, windows


def add(windows: TimeWindows, stamps: list[float], shard: str) -> None:
    ts = np.array(stamps, dtype=np.float64)
    windows.add(ts, {"x": np.ones(ts.size)}, shard=shard, now=0.0)


def test_a_window_passed_by_every_partition_asks_for_one_checkpoint() -> None:
    daemon, windows = daemon_with_windows()
    add(windows, [10.0], "p0")
    add(windows, [20.0, 70.0], "p1")
    assert not daemon._checkpoint_due()          # p0 has not passed 60 yet
    add(windows, [61.0], "p0")
    assert daemon._checkpoint_due()              # both partitions are past the window [0, 60)
    assert not daemon._checkpoint_due()          # asked once: if others hold it open, it waits for the interval
    add(windows, [130.0], "p0")
    add(windows, [125.0], "p1")
    assert daemon._checkpoint_due()              # the next window [60, 120)


def test_not_sooner_than_the_gap_after_the_previous_checkpoint() -> None:
    daemon, windows = daemon_with_windows(gap_s=3600.0)
    add(windows, [10.0, 70.0], "p0")
    daemon.last_checkpoint = time.monotonic()
    assert not daemon._checkpoint_due()
    daemon.last_checkpoint = time.monotonic() - 7200
    assert daemon._checkpoint_due()


def test_a_failed_consumer_lag_read_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    """Sampling lag is a metric: a broker timeout there (seen with a stale owner waking up) must not stop the daemon."""
    daemon, _ = daemon_with_windows()
    lags = [KafkaSourceError("reading consumer lag failed: KafkaTimeoutError"), {("p", 0): 7}]

    def lag() -> dict:
        answer = lags.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    exported: list[tuple[str, int, int]] = []
    daemon.source = SimpleNamespace(lag=lag)  # type: ignore[assignment]
    daemon.metrics = SimpleNamespace(consumer_lag=lambda *args: exported.append(args))  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING, logger="monitor.daemon"):
        daemon.sample_lag()
        daemon.sample_lag()
    assert "reading consumer lag failed" in caplog.text
    assert exported == [("p", 0, 7)]
