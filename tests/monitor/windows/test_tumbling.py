"""Event-time windows: epoch alignment, per-shard watermarks, lateness, idle close; count windows."""

from __future__ import annotations

import numpy as np

from detectors.layout import Column, Layout
from detectors.summary import WindowSummary
from monitor.windows.tumbling import CountWindows, TimeWindows

LAYOUT = Layout((Column("x", "numeric", np.array([0.0])),))


def factory(seed: int) -> WindowSummary:
    return WindowSummary.zero(LAYOUT, capacity=1000, seed=seed)


def windows(size=60.0, lateness=0.0, idle=None) -> TimeWindows:
    return TimeWindows("m", size, lateness, idle, factory)


def add(w, stamps, shard="p0", now=0.0):
    ts = np.array(stamps, dtype=np.float64)
    return w.add(ts, {"x": np.ones(ts.size)}, shard=shard, now=now)


def spans(closed):
    return [(c.start, c.end, c.events) for c in closed]


def test_windows_align_to_the_epoch():
    w = windows(size=3600)
    add(w, [1763800000.25, 1763801000.0, 1763802000.0])
    assert sorted(w.open) == [1763798400.0, 1763802000.0]
    assert w.open[1763798400.0].events == 2


def test_window_closes_when_watermark_passes_its_end_minus_lateness():
    w = windows(size=60, lateness=10)
    add(w, [5, 50, 65])
    assert w.ready(now=0) == []                 # watermark 65 - 10 = 55 < 60
    add(w, [70])
    assert spans(w.ready(now=0)) == [(0.0, 60.0, 2)]
    assert add(w, [59]) == 1                    # its window has closed: late, not counted
    assert w.open[60.0].events == 2


def test_a_partition_read_ahead_does_not_make_another_late():
    w = windows(size=60)
    add(w, [10], shard="p0")
    add(w, [500], shard="p1")                   # p1 far ahead
    assert w.ready(now=0) == []                 # model watermark = min(10, 500)
    assert add(w, [20, 30], shard="p0") == 0
    add(w, [130], shard="p0")
    assert spans(w.ready(now=0)) == [(0.0, 60.0, 3)]


def test_idle_partition_stops_holding_the_watermark_back():
    w = windows(size=60, idle=100)
    add(w, [10], shard="p0", now=0)
    add(w, [500], shard="p1", now=50)
    assert w.ready(now=60) == []                # p0 is quiet for 60 s < 100 s
    add(w, [510], shard="p1", now=120)
    assert spans(w.ready(now=120)) == [(0.0, 60.0, 1)]   # p0 idle 120 s: watermark is p1's


def test_idle_model_closes_its_windows_by_wall_time():
    w = windows(size=3600, idle=600)
    add(w, [100, 200], now=1000)
    assert w.ready(now=1500) == []
    closed = w.ready(now=1600)
    assert spans(closed) == [(0.0, 3600.0, 2)] and closed[0].reason == "idle"
    assert add(w, [300], now=1700) == 1         # closed by idleness: later events for it are late


def test_flush_closes_everything_in_order():
    w = windows(size=60)
    add(w, [130, 5, 70])
    assert spans(w.flush()) == [(0.0, 60.0, 1), (60.0, 120.0, 1), (120.0, 180.0, 1)]


def test_count_windows_split_batches_at_boundaries():
    w = CountWindows("m", events=3, new_summary=factory)
    assert w.keys_for(4).tolist() == [0.0, 0.0, 0.0, 1.0]
    closed = w.add(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]), {"x": np.arange(7.0)})
    assert spans(closed) == [(1.0, 3.0, 3), (4.0, 6.0, 3)]
    assert w.keys_for(3).tolist() == [2.0, 2.0, 3.0]
    assert spans(w.flush()) == [(7.0, 7.0, 1)] and w.flush() == []


def test_counted_values_land_in_the_right_window():
    w = windows(size=10)
    w.add(np.array([1.0, 11.0, 2.0]), {"x": np.array([-1.0, 1.0, np.nan])}, shard="p", now=0)
    first, second = w.flush()
    assert first.summary.counts[0, :3].tolist() == [1, 1, 0]
    assert second.summary.counts[0, :3].tolist() == [0, 0, 1]
