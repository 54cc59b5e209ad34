"""Window summaries: bounded size, exact counts, mergeable in any order, zero is neutral."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.binning import Vocabulary
from detectors.layout import Column, Layout
from detectors.summary import WindowSummary

LAYOUT = Layout((
    Column("x", "numeric", np.array([-1.0, 0.0, 1.0])),
    Column("y", "numeric", np.array([10.0])),
    Column("c", "categorical", vocab=Vocabulary(("a", "b"))),
))

values = st.one_of(st.floats(-5, 5, allow_nan=False), st.just(float("nan")), st.just(float("inf")))
categories = st.sampled_from(["a", "b", "z", None])
rows = st.lists(st.tuples(values, values, categories), max_size=60)


def batch(events: list[tuple[float, float, str | None]]) -> dict[str, np.ndarray]:
    cat = np.empty(len(events), dtype=object)
    cat[:] = [e[2] for e in events]
    return {"x": np.array([e[0] for e in events], dtype=np.float64),
            "y": np.array([e[1] for e in events], dtype=np.float64), "c": cat}


def summary_of(events: list[tuple[float, float, str | None]], capacity: int = 1000) -> WindowSummary:
    s = WindowSummary.zero(LAYOUT, capacity=capacity)
    s.update(batch(events), n=len(events))
    return s


def assert_same(a: WindowSummary, b: WindowSummary) -> None:
    assert a.n == b.n
    np.testing.assert_array_equal(a.counts, b.counts)
    for sa, sb in zip(a.samples, b.samples):
        np.testing.assert_array_equal(np.sort(sa), np.sort(sb))
    assert a.unseen == b.unseen


@settings(max_examples=100, deadline=None)
@given(rows, rows)
def test_merge_of_parts_equals_summary_of_whole(a, b):
    assert_same(summary_of(a).merge(summary_of(b)), summary_of(a + b))


@settings(max_examples=50, deadline=None)
@given(rows, rows, rows)
def test_merge_is_commutative_and_associative(a, b, c):
    sa, sb, sc = summary_of(a), summary_of(b), summary_of(c)
    assert_same(sa.merge(sb), sb.merge(sa))
    assert_same(sa.merge(sb).merge(sc), sa.merge(sb.merge(sc)))


@settings(max_examples=50, deadline=None)
@given(rows)
def test_zero_is_neutral(a):
    s = summary_of(a)
    assert_same(s.merge(WindowSummary.zero(LAYOUT, capacity=1000)), s)
    assert_same(WindowSummary.zero(LAYOUT, capacity=1000).merge(s), s)


def test_counts_follow_the_contract_bins():
    s = summary_of([(-1.0, 10.0, "a"), (-0.5, 9.0, "z"), (float("nan"), float("inf"), None), (5.0, 11.0, "b")])
    # x: edges -1, 0, 1 -> bins (-inf,-1) [-1,0) [0,1) [1,inf); -1.0 falls right of the edge
    assert s.counts[0, :5].tolist() == [1, 0, 2, 0, 1]
    assert s.counts[1, :3].tolist() == [1, 1, 2]
    assert s.counts[2, :4].tolist() == [1, 1, 1, 1]
    assert s.unseen[0] == {"z": 1}
    np.testing.assert_allclose(s.missing_ratio(), [0.25, 0.25, 0.25])


def test_size_does_not_grow_with_events():
    rng = np.random.default_rng(0)

    def fill(total: int) -> WindowSummary:
        s = WindowSummary.zero(LAYOUT, capacity=5000, max_unseen=50)
        for _ in range(total // 10_000):
            n = 10_000
            cat = rng.choice(np.array(["a", "b", *[f"u{i}" for i in range(200)]], dtype=object), n)
            s.update({"x": rng.normal(size=n), "y": rng.normal(size=n), "c": cat}, n=n)
        return s

    small, large = fill(10_000), fill(1_000_000)
    assert large.n == 100 * small.n
    assert small.nbytes == large.nbytes
    # serialised, only the decimal digits of the counts in the header differ
    assert abs(len(large.to_bytes()) - len(small.to_bytes())) < 512
    assert all(s.size == 5000 for s in large.samples)


def test_reservoir_is_a_uniform_sample_when_full():
    s = WindowSummary.zero(Layout((Column("x", "numeric", np.array([0.0])),)), capacity=2000)
    for start in range(0, 200_000, 10_000):
        s.update({"x": np.arange(start, start + 10_000, dtype=np.float64)})
    sample = s.samples[0]
    assert sample.size == 2000 and np.unique(sample).size == 2000
    # a uniform sample of 0..199999: each decile holds about a tenth of it
    per_decile = np.bincount((sample // 20_000).astype(int), minlength=10)
    assert per_decile.min() > 120 and per_decile.max() < 280


def test_bytes_round_trip():
    s = summary_of([(0.5, 1.0, "a"), (2.0, float("nan"), "q")])
    back = WindowSummary.from_bytes(LAYOUT, s.to_bytes())
    assert_same(back, s)
    np.testing.assert_array_equal(back.keys[0], s.keys[0])


def test_merge_refuses_other_layouts():
    other = Layout((Column("x", "numeric", np.array([5.0])),))
    try:
        summary_of([]).merge(WindowSummary.zero(other))
    except ValueError as exc:
        assert "different layouts" in str(exc)
    else:
        raise AssertionError("merge of different layouts must fail")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.floats(-3, 3, allow_nan=False), min_size=1, max_size=9), min_size=1, max_size=4),
       st.lists(st.one_of(st.sampled_from([-1.0, 0.0, 1.0, 2.5]), st.floats(-4, 4), st.just(float("nan")),
                          st.just(float("-inf"))), max_size=80))
def test_vectorised_binning_equals_searchsorted(edge_lists, values):
    columns = tuple(Column(f"x{i}", "numeric", np.unique(np.array(e))) for i, e in enumerate(edge_lists))
    layout = Layout(columns)
    data = np.array(values, dtype=np.float64)
    counts = layout.count({c.name: data for c in columns}, len(values))
    for row, column in enumerate(columns):
        finite = data[np.isfinite(data)]
        expected = np.bincount(np.searchsorted(column.edges, finite, side="right") + 1, minlength=layout.width)
        expected[0] = data.size - finite.size
        np.testing.assert_array_equal(counts[row], expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(rows, min_size=1, max_size=8), st.integers(1, 40), st.lists(st.booleans(), min_size=8, max_size=8))
def test_a_full_blob_and_its_deltas_rebuild_the_summary_exactly(batches, capacity, checkpoint_after):
    live = WindowSummary.zero(LAYOUT, capacity=capacity)
    full, deltas = None, []
    for events, write in zip(batches, checkpoint_after):
        live.update(batch(events), n=len(events))
        if write:
            is_full, blob = live.checkpoint_blob()
            full, deltas = (blob, []) if is_full else (full, deltas + [blob])
    is_full, blob = live.checkpoint_blob()
    full, deltas = (blob, []) if is_full else (full, deltas + [blob])
    restored = WindowSummary.from_parts(LAYOUT, full, deltas)
    assert_same(restored, live)
    assert restored.unseen == live.unseen
    for a, b in zip(restored.keys, live.keys):
        assert sorted(a.tolist()) == sorted(b.tolist())


def test_deltas_carry_only_new_entries_and_a_full_blob_comes_back_when_they_outgrow_the_reservoir():
    rng = np.random.default_rng(3)
    live = WindowSummary.zero(LAYOUT, capacity=1000)
    sizes = []
    for _ in range(12):
        live.update({"x": rng.normal(size=500), "y": rng.normal(size=500)}, n=500)
        sizes.append(live.checkpoint_blob())
    full = [is_full for is_full, _ in sizes]
    assert full[0] and not all(full[1:])
    delta_sizes = [len(blob) for is_full, blob in sizes if not is_full]
    assert max(delta_sizes) < len(sizes[0][1]) * 1.5 and True in full[1:]  # compacted again at some point


@settings(max_examples=100, deadline=None)
@given(st.lists(rows, min_size=1, max_size=6), st.integers(1, 60))
def test_a_blob_written_from_chunks_has_the_bytes_of_the_consolidated_reservoir(batches, capacity):
    chunked = WindowSummary.zero(LAYOUT, capacity=capacity)
    consolidated = WindowSummary.zero(LAYOUT, capacity=capacity)
    for events in batches:
        chunked.update(batch(events), n=len(events))
        consolidated.update(batch(events), n=len(events))
    consolidated.samples  # noqa: B018 - reading them consolidates every reservoir
    assert chunked.to_bytes() == consolidated.to_bytes()


def test_writing_a_reservoir_that_is_not_full_does_not_copy_it():
    s = WindowSummary.zero(LAYOUT, capacity=100_000)
    for first in range(0, 10_000, 1000):
        s.update({"x": np.arange(first, first + 1000, dtype=float)}, n=1000)
    chunks = list(s._values[0])
    blob = s.to_bytes()
    assert len(s._values[0]) == len(chunks) > 1 and all(a is b for a, b in zip(s._values[0], chunks))
    np.testing.assert_array_equal(WindowSummary.from_bytes(LAYOUT, blob).samples[0], np.arange(10_000.0))


@settings(max_examples=100, deadline=None)
@given(rows, rows, st.integers(1, 40))
def test_a_restored_summary_goes_on_as_the_live_one(before, after, capacity):
    live = WindowSummary.zero(LAYOUT, capacity=capacity)
    live.update(batch(before), n=len(before))
    restored = WindowSummary.from_bytes(LAYOUT, live.to_bytes())  # its reservoirs are views of the blob
    for s in (live, restored):
        s.update(batch(after), n=len(after))
    assert_same(restored, live)
    assert_same(restored.merge(live), live.merge(live))


@settings(max_examples=100, deadline=None)
@given(st.lists(rows, min_size=1, max_size=5), st.integers(1, 40))
def test_merge_all_equals_merging_one_after_another_and_changes_no_part(parts_rows, capacity):
    parts = [summary_of(r, capacity=capacity + i) for i, r in enumerate(parts_rows)]
    before = [(p.to_bytes(), p.n) for p in parts]
    expected = parts[0]
    for part in parts[1:]:
        expected = expected.merge(part)
    merged = WindowSummary.merge_all(iter(parts))
    assert merged is not None and merged.n == expected.n and merged.capacity == expected.capacity
    np.testing.assert_array_equal(merged.counts, expected.counts)
    for a, b in zip(merged.samples + merged.keys, expected.samples + expected.keys):
        np.testing.assert_array_equal(a, b)  # the same arrays, in the same order
    assert merged.unseen == expected.unseen
    assert [(p.to_bytes(), p.n) for p in parts] == before
    assert WindowSummary.merge_all([]) is None


def test_many_small_chunks_are_consolidated_when_written():
    s = WindowSummary.zero(LAYOUT, capacity=10_000)
    for first in range(0, 1000, 10):
        s.update({"x": np.arange(first, first + 10, dtype=float)}, n=10)
    blob = s.to_bytes()
    assert len(s._values[0]) == 1
    np.testing.assert_array_equal(WindowSummary.from_bytes(LAYOUT, blob).samples[0], np.arange(1000.0))
