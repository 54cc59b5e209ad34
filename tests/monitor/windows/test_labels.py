"""Label joins: either side first, TTL expiry, a bound that expires the oldest first, all counted."""

from __future__ import annotations

import pytest

from monitor.windows.labels import Joined, LabelJoin


def test_label_after_prediction_and_before():
    join = LabelJoin(ttl_s=100, max_pending=100)
    assert join.add_predictions("m", ["a", "b"], [0.0, 60.0], [0.9, 0.2], now=0) == []
    assert join.add_labels("m", ["b", "c"], [0, 1], now=5) == [Joined("m", 60.0, 0.2, 0)]
    assert join.add_predictions("m", ["c"], [120.0], [0.7], now=6) == [Joined("m", 120.0, 0.7, 1)]
    assert join.pending == 1 and join.joined == 2


def test_models_do_not_share_ids():
    join = LabelJoin(ttl_s=100, max_pending=100)
    join.add_predictions("m1", ["a"], [0.0], [1], now=0)
    assert join.add_labels("m2", ["a"], [1], now=1) == []
    assert join.pending == 2


def test_entries_expire_after_the_ttl_and_are_counted():
    join = LabelJoin(ttl_s=100, max_pending=100)
    join.add_predictions("m", ["a"], [0.0], [1], now=0)
    join.add_labels("m", ["x"], [1], now=50)
    join.add_predictions("m", ["b"], [0.0], [1], now=80)
    assert join.expire(now=99) == 0
    assert join.expire(now=100) == 1 and join.pending == 2       # a
    assert join.expire(now=180) == 2 and join.pending == 0       # x and b
    assert join.expired == 3
    assert join.add_labels("m", ["a"], [1], now=181) == []       # too late: a is gone


def test_a_joined_entry_does_not_shift_expiry_of_later_ones():
    join = LabelJoin(ttl_s=10, max_pending=100)
    join.add_predictions("m", ["a", "b"], [0.0, 0.0], [1, 2], now=0)
    join.add_labels("m", ["a"], [1], now=1)
    join.add_predictions("m", ["c"], [0.0], [3], now=5)
    assert join.expire(now=10) == 1                              # b only; c arrived at 5
    assert join.add_labels("m", ["c"], [0], now=11) == [Joined("m", 0.0, 3, 0)]


def test_bound_expires_the_oldest_first():
    join = LabelJoin(ttl_s=1e9, max_pending=3)
    join.add_predictions("m", ["a", "b"], [0.0, 0.0], [1, 2], now=0)
    join.add_labels("m", ["x"], [1], now=1)
    join.add_predictions("m", ["c", "d"], [0.0, 0.0], [3, 4], now=2)
    assert join.pending == 3 and join.expired == 2
    assert join.add_labels("m", ["c"], [1], now=3) == [Joined("m", 0.0, 3, 1)]
    assert join.add_labels("m", ["a", "b"], [1, 1], now=3) == []   # the two oldest went first


def test_a_repeated_prediction_id_keeps_the_newest_prediction():
    join = LabelJoin(ttl_s=100, max_pending=10)
    join.add_predictions("m", ["a", "a"], [0.0, 60.0], [0.1, 0.2], now=0)
    assert join.pending == 1
    assert join.add_labels("m", ["a"], [1], now=1) == [Joined("m", 60.0, 0.2, 1)]


def test_bound_must_be_positive():
    with pytest.raises(ValueError, match="max_pending"):
        LabelJoin(ttl_s=1, max_pending=0)
