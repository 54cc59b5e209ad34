"""The Kafka daemon's part of the store (migration 0002) against real SQLite and PostgreSQL.

Offsets by compare-and-set, window/shard/model state, label joins in SQL, and the 0001 -> 0002
migration both ways.
"""

from __future__ import annotations

import threading
from typing import Any, Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, func, insert, inspect, select

from monitor.errors import StaleOwnerError, StoreError
from monitor.judge.results import WindowResult
from monitor.store import ModelStateRecord, ShardStateRecord, Store, WindowStateRecord
from monitor.store import engine as engines
from monitor.store.schema import pending_labels, pending_predictions, window_labels, window_state, windows

GROUP = "driftd"
TOPIC = "ml.predictions"
NEW_TABLES = {"offsets", "shard_state", "model_state", "pending_predictions", "pending_labels", "window_labels"}


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store on a fresh database, closed after the test."""
    with Store.open(store_url) as opened:
        yield opened


def window(start: float = 0.0, end: float = 3600.0, model: str = "churn") -> WindowResult:
    """A small unjudged window result."""
    return WindowResult(
        model=model, start=start, end=end, events=3, judged=False,
        drift_share=None, drifted=None, reference_version=None,
    )


def count(store: Store, table: Any) -> int:
    """Rows in ``table``."""
    with store._engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# --- offsets: compare-and-set ---------------------------------------------------------------


def test_a_first_offset_is_inserted_with_expected_none_and_then_advanced(store: Store) -> None:
    assert store.load_offsets(GROUP, [(TOPIC, 0), (TOPIC, 1)]) == {}
    store.advance_offsets(GROUP, [(TOPIC, 0, None, 10), (TOPIC, 1, None, 0)])
    assert store.load_offsets(GROUP, [(TOPIC, 0), (TOPIC, 1), (TOPIC, 2)]) == {(TOPIC, 0): 10, (TOPIC, 1): 0}

    store.advance_offsets(GROUP, [(TOPIC, 0, 10, 25), (TOPIC, 1, 0, 0)])  # standing still is allowed
    assert store.load_offsets(GROUP, [(TOPIC, 0), (TOPIC, 1)]) == {(TOPIC, 0): 25, (TOPIC, 1): 0}
    assert store.load_offsets("other-group", [(TOPIC, 0)]) == {}
    assert store.load_offsets(GROUP, []) == {}


def test_offsets_beyond_32_bits_round_trip(store: Store) -> None:
    store.advance_offsets(GROUP, [(TOPIC, 0, None, 2**40)])
    store.advance_offsets(GROUP, [(TOPIC, 0, 2**40, 2**40 + 1)])
    assert store.load_offsets(GROUP, [(TOPIC, 0)]) == {(TOPIC, 0): 2**40 + 1}


def test_a_stale_offset_rolls_back_everything_written_in_the_transaction(store: Store) -> None:
    store.advance_offsets(GROUP, [(TOPIC, 0, None, 10)])
    with pytest.raises(StaleOwnerError) as raised:
        with store.transaction() as conn:
            store.save_window(window(), conn=conn)
            store.save_window_state("churn", f"{TOPIC}:0", 3600.0, 7200.0, b"s", 5, 1.0, conn=conn)
            store.advance_offsets(GROUP, [(TOPIC, 0, 7, 12)], conn=conn)
    message = str(raised.value)
    assert f"topic={TOPIC} partition=0" in message and "expected 7, stored 10" in message
    assert isinstance(raised.value, StoreError)
    assert store.list_windows("churn") == []
    assert store.load_window_states() == []
    assert store.load_offsets(GROUP, [(TOPIC, 0)]) == {(TOPIC, 0): 10}


def test_expected_none_fails_when_an_offset_is_stored_and_a_missing_one_fails_an_update(store: Store) -> None:
    store.advance_offsets(GROUP, [(TOPIC, 0, None, 10)])
    with pytest.raises(StaleOwnerError, match="expected no stored offset, stored 10"):
        with store.transaction() as conn:
            store.save_window(window(), conn=conn)
            store.advance_offsets(GROUP, [(TOPIC, 0, None, 20)], conn=conn)
    assert store.list_windows("churn") == []
    with pytest.raises(StaleOwnerError, match="partition=5: expected 3, stored no stored offset"):
        store.advance_offsets(GROUP, [(TOPIC, 5, 3, 4)])


def test_moves_of_one_call_commit_together(store: Store) -> None:
    store.advance_offsets(GROUP, [(TOPIC, 0, None, 10), (TOPIC, 1, None, 10)])
    with pytest.raises(StaleOwnerError, match="partition=1"):
        store.advance_offsets(GROUP, [(TOPIC, 0, 10, 20), (TOPIC, 1, 9, 20)])
    assert store.load_offsets(GROUP, [(TOPIC, 0), (TOPIC, 1)]) == {(TOPIC, 0): 10, (TOPIC, 1): 10}


def test_two_daemons_on_one_database_the_stale_owner_fails(store_url: str) -> None:
    with Store.open(store_url) as first, Store.open(store_url) as second:
        first.advance_offsets(GROUP, [(TOPIC, 0, None, 100)])
        # a rebalance gives partition 0 to the second daemon; the first does not notice
        loaded = second.load_offsets(GROUP, [(TOPIC, 0)])[(TOPIC, 0)]
        with second.transaction() as conn:
            second.save_window(window(0.0, 3600.0), conn=conn)
            second.advance_offsets(GROUP, [(TOPIC, 0, loaded, 150)], conn=conn)
        with pytest.raises(StaleOwnerError, match="expected 100, stored 150"):
            with first.transaction() as conn:
                first.save_window(window(3600.0, 7200.0), conn=conn)
                first.advance_offsets(GROUP, [(TOPIC, 0, 100, 130)], conn=conn)
        assert [w.start for w in second.list_windows("churn")] == [0.0]
        assert second.load_offsets(GROUP, [(TOPIC, 0)]) == {(TOPIC, 0): 150}


def test_two_daemons_racing_for_the_same_offset_one_wins(store_url: str) -> None:
    Store.open(store_url).close()
    stores = [Store.open(store_url, migrate=False) for _ in range(2)]
    stores[0].advance_offsets(GROUP, [(TOPIC, 0, None, 0)])
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def checkpoint(store: Store, new: int) -> None:
        barrier.wait()
        try:
            with store.transaction() as conn:
                store.save_window_state("churn", f"{TOPIC}:0", 0.0, 60.0, b"s", new, 1.0, conn=conn)
                store.advance_offsets(GROUP, [(TOPIC, 0, 0, new)], conn=conn)
            outcomes.append("won")
        except StaleOwnerError:
            outcomes.append("stale")

    threads = [threading.Thread(target=checkpoint, args=(s, n)) for s, n in zip(stores, (5, 7))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert sorted(outcomes) == ["stale", "won"]
        offset = stores[0].load_offsets(GROUP, [(TOPIC, 0)])[(TOPIC, 0)]
        (state,) = stores[0].load_window_states()
        assert state.events == offset  # the winner's state and offset, never a mix
    finally:
        for store in stores:
            store.close()


def test_offsets_never_go_back(store: Store) -> None:
    store.advance_offsets(GROUP, [(TOPIC, 0, None, 10)])
    with pytest.raises(StoreError, match="offsets never go back, got 10 -> 9") as raised:
        store.advance_offsets(GROUP, [(TOPIC, 0, 10, 9)])
    assert not isinstance(raised.value, StaleOwnerError)
    with pytest.raises(StoreError, match="expected a next offset >= 0, got -1"):
        store.advance_offsets(GROUP, [(TOPIC, 1, None, -1)])
    assert store.load_offsets(GROUP, [(TOPIC, 0), (TOPIC, 1)]) == {(TOPIC, 0): 10}


# --- shard, model and window state ----------------------------------------------------------


def test_shard_states_round_trip_and_are_replaced(store: Store) -> None:
    store.save_shard_state("churn", f"{TOPIC}:1", 7200.5, 1000.0, 1001.0)
    store.save_shard_state("churn", f"{TOPIC}:0", 3600.0, 900.0, 901.0)
    store.save_shard_state("churn", f"{TOPIC}:1", 7300.25, 1100.0, 1101.0)
    with store.transaction() as conn:
        store.save_shard_state("fraud", f"{TOPIC}:0", 10.0, 11.0, 12.0, conn=conn)

    assert store.load_shard_states("churn") == [
        ShardStateRecord("churn", f"{TOPIC}:0", 3600.0, 900.0, 901.0),
        ShardStateRecord("churn", f"{TOPIC}:1", 7300.25, 1100.0, 1101.0),
    ]
    assert [(s.model, s.shard) for s in store.load_shard_states()] == [
        ("churn", f"{TOPIC}:0"), ("churn", f"{TOPIC}:1"), ("fraud", f"{TOPIC}:0"),
    ]
    assert store.load_shard_states("nobody") == []


def test_model_state_round_trips_and_is_replaced(store: Store) -> None:
    assert store.get_model_state("churn") is None
    store.save_model_state("churn", None, 0, 5.0)
    assert store.get_model_state("churn") == ModelStateRecord("churn", None, 0, 5.0)
    with store.transaction() as conn:
        store.save_model_state("churn", 7200.0, 2**40, 6.0, conn=conn)
        assert store.get_model_state("churn", conn=conn) == ModelStateRecord("churn", 7200.0, 2**40, 6.0)
    store.save_model_state("fraud", float("nan"), 3, 7.0)
    assert store.get_model_state("churn") == ModelStateRecord("churn", 7200.0, 2**40, 6.0)
    assert store.get_model_state("fraud") == ModelStateRecord("fraud", None, 3, 7.0)


def test_window_states_carry_a_sealed_flag_and_filter_on_it(store: Store) -> None:
    store.save_window_state("churn", f"{TOPIC}:0", 0.0, 60.0, b"a", 1, 1.0)  # old callers: unsealed
    store.save_window_state("churn", f"{TOPIC}:1", 0.0, 60.0, b"b", 2, 2.0, sealed=True)
    store.save_window_state("churn", f"{TOPIC}:1", 60.0, 120.0, b"c", 3, 3.0, False)
    store.save_window_state("fraud", f"{TOPIC}:0", 0.0, 60.0, b"d", 4, 4.0, True)

    assert store.load_window_states("churn", sealed=True) == [
        WindowStateRecord("churn", f"{TOPIC}:1", 0.0, 60.0, b"b", 2, 2.0, True)
    ]
    assert [s.payload for s in store.load_window_states(sealed=False)] == [b"a", b"c"]
    assert [s.payload for s in store.load_window_states(shard=f"{TOPIC}:0")] == [b"a", b"d"]
    assert [s.payload for s in store.load_window_states("churn", shard=f"{TOPIC}:1", sealed=False)] == [b"c"]

    store.save_window_state("churn", f"{TOPIC}:0", 0.0, 60.0, b"a2", 5, 5.0, sealed=True)  # sealing replaces
    assert [s.payload for s in store.load_window_states("churn", sealed=True)] == [b"a2", b"b"]


def test_delete_window_states_removes_one_window_in_every_shard(store: Store) -> None:
    for shard in (f"{TOPIC}:0", f"{TOPIC}:1", f"{TOPIC}:2"):
        store.save_window_state("churn", shard, 0.0, 60.0, b"s", 1, 1.0, sealed=True)
    store.save_window_state("churn", f"{TOPIC}:0", 60.0, 120.0, b"next", 1, 1.0)
    store.save_window_state("fraud", f"{TOPIC}:0", 0.0, 60.0, b"other", 1, 1.0)

    with store.transaction() as conn:
        assert store.delete_window_states("churn", 0.0, conn=conn) == 3
    assert store.delete_window_states("churn", 0.0) == 0
    assert [s.payload for s in store.load_window_states()] == [b"next", b"other"]
    assert store.delete_window_state("churn", f"{TOPIC}:0", 60.0) is True


def test_window_exists(store: Store) -> None:
    assert store.window_exists("churn", 0.0, 3600.0) is False
    with store.transaction() as conn:
        store.save_window(window(0.0, 3600.0), conn=conn)
        assert store.window_exists("churn", 0.0, 3600.0, conn=conn) is True
    assert store.window_exists("churn", 0.0, 3600.0) is True
    assert store.window_exists("churn", 0.0, 7200.0) is False
    assert store.window_exists("fraud", 0.0, 3600.0) is False


# --- label joins ----------------------------------------------------------------------------


def test_a_prediction_then_its_label_join_into_the_prediction_window(store: Store) -> None:
    store.add_predictions("churn", [("a", 0.0, 0.9), ("b", 3600.0, 0.2), ("c", 0.0, 0.4)], 10.0)
    assert list(store.join_labels("churn", 11.0)) == []
    store.add_labels("churn", [("a", 1), ("b", 0)], 12.0)
    with store.transaction() as conn:
        assert list(store.join_labels("churn", 13.0, conn=conn)) == [0.0, 3600.0]
    assert list(store.join_labels("churn", 14.0)) == []

    assert store.window_label_pairs("churn", 0.0) == ([0.9], [1])
    assert store.window_label_pairs("churn", 3600.0) == ([0.2], [0])
    assert store.pending_counts() == {"churn": 1}  # prediction "c" still waits
    assert (count(store, pending_predictions), count(store, pending_labels)) == (1, 0)


def test_a_label_before_its_prediction_waits_and_then_joins(store: Store) -> None:
    store.add_labels("churn", [("a", "yes"), ("z", "no")], 10.0)
    assert list(store.join_labels("churn", 11.0)) == []
    store.add_predictions("churn", [("a", 120.0, "yes")], 12.0)
    assert list(store.join_labels("churn", 13.0)) == [120.0]
    assert store.window_label_pairs("churn", 120.0) == (["yes"], ["yes"])
    assert store.pending_counts() == {"churn": 1}  # label "z" still waits


def test_a_repeated_id_replaces_the_earlier_row(store: Store) -> None:
    store.add_predictions("churn", [("a", 0.0, 0.1), ("a", 60.0, 0.7)], 10.0)  # within one call
    store.add_labels("churn", [("a", 0)], 10.0)
    store.add_labels("churn", [("a", 1)], 11.0)  # across calls
    assert store.pending_counts() == {"churn": 2}
    assert list(store.join_labels("churn", 12.0)) == [60.0]
    assert store.window_label_pairs("churn", 60.0) == ([0.7], [1])
    assert store.window_label_pairs("churn", 0.0) == ([], [])


def test_joins_are_per_model(store: Store) -> None:
    store.add_predictions("churn", [("a", 0.0, 1.0)], 1.0)
    store.add_labels("fraud", [("a", 1.0)], 1.0)
    assert list(store.join_labels("churn", 2.0)) == []
    assert list(store.join_labels("fraud", 2.0)) == []
    store.add_labels("churn", [("a", 0.0)], 3.0)
    assert list(store.join_labels("fraud", 4.0)) == []
    assert list(store.join_labels("churn", 4.0)) == [0.0]
    assert store.pending_counts() == {"fraud": 1}


def test_pairs_keep_their_order_and_json_values_their_types(store: Store) -> None:
    values: list[object] = [0.5, 1, 1.0, True, False, "gold", None, 0.1 + 0.2, -3, 2**53 + 1, 1e-300, ""]
    predictions = [(f"id-{i:02d}", 0.0, value) for i, value in enumerate(values)]
    labels = [(f"id-{i:02d}", value) for i, value in enumerate(reversed(values))]
    store.add_labels("churn", labels, 1.0)
    store.add_predictions("churn", predictions, 2.0)
    assert list(store.join_labels("churn", 3.0)) == [0.0]

    got_predictions, got_labels = store.window_label_pairs("churn", 0.0)
    assert got_predictions == values and got_labels == list(reversed(values))
    assert [type(v) for v in got_predictions] == [type(v) for v in values]
    assert [type(v) for v in got_labels] == [type(v) for v in reversed(values)]


def test_nan_becomes_none_and_unstorable_values_raise_store_error(store: Store) -> None:
    store.add_predictions("churn", [("a", 0.0, float("nan"))], 1.0)
    store.add_labels("churn", [("a", float("inf"))], 1.0)
    store.join_labels("churn", 2.0)
    assert store.window_label_pairs("churn", 0.0) == ([None], [None])
    with pytest.raises(StoreError, match="model=churn prediction_id=b: cannot store object"):
        store.add_predictions("churn", [("b", 0.0, object())], 1.0)
    with pytest.raises(StoreError, match="at most 255 characters, got 256"):
        store.add_labels("churn", [("x" * 256, 1)], 1.0)


def test_expire_pending_deletes_rows_that_arrived_at_or_before_the_cutoff(store: Store) -> None:
    store.add_predictions("churn", [("a", 0.0, 1), ("b", 0.0, 1)], 10.0)
    store.add_predictions("churn", [("c", 0.0, 1)], 20.0)
    store.add_labels("churn", [("x", 1)], 15.0)
    store.add_labels("fraud", [("y", 1)], 5.0)
    store.add_labels("fraud", [("z", 1)], 30.0)

    with store.transaction() as conn:
        assert store.expire_pending(15.0, conn=conn) == {"churn": 3, "fraud": 1}
    assert store.expire_pending(15.0) == {}
    assert store.pending_counts() == {"churn": 1, "fraud": 1}
    store.add_labels("churn", [("c", 0)], 40.0)
    assert list(store.join_labels("churn", 41.0)) == [0.0]


def test_bound_pending_deletes_the_oldest_rows_across_both_tables(store: Store) -> None:
    store.add_predictions("churn", [("p1", 0.0, 1)], 1.0)
    store.add_labels("fraud", [("l2", 1)], 2.0)
    store.add_predictions("fraud", [("p3", 0.0, 1)], 3.0)
    store.add_labels("churn", [("l4", 1)], 4.0)
    store.add_predictions("churn", [("p5", 0.0, 1), ("p6", 0.0, 1)], 5.0)

    assert store.bound_pending(10) == {}
    with store.transaction() as conn:
        assert store.bound_pending(3, conn=conn) == {"churn": 1, "fraud": 2}
    assert store.pending_counts() == {"churn": 3}
    with store._engine.connect() as conn:
        kept = sorted(conn.execute(select(pending_predictions.c.prediction_id)).scalars())
        kept += sorted(conn.execute(select(pending_labels.c.prediction_id)).scalars())
    assert kept == ["p5", "p6", "l4"]
    assert store.bound_pending(0) == {"churn": 3}
    assert store.pending_counts() == {}
    with pytest.raises(StoreError, match="max_pending >= 0, got -1"):
        store.bound_pending(-1)



def test_a_failed_checkpoint_rolls_back_its_label_writes(store: Store) -> None:
    store.advance_offsets(GROUP, [(TOPIC, 0, None, 10)])
    store.add_predictions("churn", [("a", 0.0, 1)], 1.0)
    with pytest.raises(StaleOwnerError):
        with store.transaction() as conn:
            store.add_labels("churn", [("a", 1)], 2.0, conn=conn)
            assert list(store.join_labels("churn", 3.0, conn=conn)) == [0.0]
            store.advance_offsets(GROUP, [(TOPIC, 0, 9, 11)], conn=conn)
    assert store.window_label_pairs("churn", 0.0) == ([], [])
    assert store.pending_counts() == {"churn": 1}


def test_reads_inside_a_transaction_see_its_own_writes(store: Store) -> None:
    with store.transaction() as conn:
        store.advance_offsets(GROUP, [(TOPIC, 0, None, 4)], conn=conn)
        store.add_predictions("churn", [("a", 0.0, 0.5), ("b", 0.0, 0.5)], 1.0, conn=conn)
        store.add_labels("churn", [("a", 1)], 1.0, conn=conn)
        assert store.load_offsets(GROUP, [(TOPIC, 0)], conn=conn) == {(TOPIC, 0): 4}
        assert store.pending_counts(conn=conn) == {"churn": 3}
        store.join_labels("churn", 2.0, conn=conn)
        assert store.window_label_pairs("churn", 0.0, conn=conn) == ([0.5], [1])
        assert store.pending_counts(conn=conn) == {"churn": 1}
        store.save_shard_state("churn", f"{TOPIC}:0", 5.0, 6.0, 7.0, conn=conn)
        assert len(store.load_shard_states("churn", conn=conn)) == 1
        store.save_window_state("churn", f"{TOPIC}:0", 0.0, 60.0, b"s", 1, 1.0, True, conn=conn)
        assert len(store.load_window_states("churn", sealed=True, conn=conn)) == 1


def test_two_daemons_joining_the_same_model_at_once_move_each_pair_once(store_url: str) -> None:
    Store.open(store_url).close()
    stores = [Store.open(store_url, migrate=False) for _ in range(2)]
    ids = [f"id-{i:04d}" for i in range(2000)]
    stores[0].add_predictions("churn", [(pid, float(i % 4), i) for i, pid in enumerate(ids)], 1.0)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def label_and_join(store: Store, half: list[str]) -> None:
        barrier.wait()
        try:
            for start in range(0, len(half), 100):
                with store.transaction() as conn:
                    store.add_labels("churn", [(pid, pid) for pid in half[start : start + 100]], 2.0, conn=conn)
                    store.join_labels("churn", 3.0, conn=conn)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=label_and_join, args=(s, ids[i::2])) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert errors == []
        stores[0].join_labels("churn", 4.0)
        assert count(stores[0], window_labels) == 2000 and stores[0].pending_counts() == {}
        for key in range(4):
            predictions, labels = stores[0].window_label_pairs("churn", float(key))
            numbers = [int(str(p)) for p in predictions]
            assert [ids[n] for n in numbers] == labels
            assert sorted(numbers) == list(range(key, 2000, 4))
    finally:
        for store in stores:
            store.close()


def test_twenty_thousand_predictions_in_one_call(store: Store) -> None:
    rows = [(f"pred-{i}", float(i // 1000) * 60.0, i / 7) for i in range(20_000)]
    store.add_predictions("churn", rows, 1.0)
    store.add_predictions("churn", rows[:10_000], 2.0)  # all replaced
    store.add_labels("churn", [(f"pred-{i}", i % 2) for i in range(0, 20_000, 2)], 3.0)
    assert store.pending_counts() == {"churn": 30_000}
    keys = store.join_labels("churn", 4.0)
    assert keys == {float(k) * 60.0: 500 for k in range(20)}
    assert count(store, window_labels) == 10_000
    assert store.pending_counts() == {"churn": 10_000}
    predictions, labels = store.window_label_pairs("churn", 60.0)
    assert predictions == [i / 7 for i in range(1000, 2000, 2)] and labels == [0] * 500


# --- migration 0001 -> 0002 ------------------------------------------------------------------


def migrate_to(engine: Engine, revision: str, *, down: bool = False) -> None:
    """Run alembic up or down to ``revision`` on ``engine`` in one transaction."""
    config = engines.alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def test_a_fresh_database_is_at_head(store: Store) -> None:
    assert engines.head_revision() == engines.current_revision(store._engine) == "0004"
    assert NEW_TABLES <= set(inspect(store._engine).get_table_names())
    assert "sealed" in {c["name"] for c in inspect(store._engine).get_columns("window_state")}


def test_a_0001_database_upgrades_to_head_keeping_its_rows_and_downgrades_again(store_url: str) -> None:
    url = engines.normalize_url(store_url)
    engine = engines.create_store_engine(url)
    try:
        migrate_to(engine, "0001")
        assert engines.current_revision(engine) == "0001"
        with engine.begin() as conn:  # rows written by a 0001 daemon (no sealed column yet)
            conn.execute(insert(windows).values(
                model="churn", start=0.0, end=60.0, events=5, judged=False, labels=0, performance={},
            ))
            conn.execute(insert(window_state).values(
                model="churn", shard="replay", window_start=60.0, window_end=120.0, payload=b"old", events=7,
                updated_at=1.0,
            ))
    finally:
        engine.dispose()

    with Store.open(store_url) as store:
        assert engines.current_revision(store._engine) == engines.head_revision()
        assert [w.end for w in store.list_windows("churn")] == [60.0]
        assert store.load_window_states() == [WindowStateRecord("churn", "replay", 60.0, 120.0, b"old", 7, 1.0)]
        store.save_window_state("churn", "replay", 120.0, 180.0, b"new", 1, 2.0, sealed=True)
        store.advance_offsets(GROUP, [(TOPIC, 0, None, 3)])

        migrate_to(store._engine, "0001", down=True)
        assert engines.current_revision(store._engine) == "0001"
        inspector = inspect(store._engine)
        assert not NEW_TABLES & set(inspector.get_table_names())
        assert "sealed" not in {c["name"] for c in inspector.get_columns("window_state")}
        with store._engine.connect() as conn:
            starts = conn.execute(select(window_state.c.window_start).order_by(window_state.c.window_start))
            assert list(starts.scalars()) == [60.0, 120.0]
        assert [w.end for w in store.list_windows("churn")] == [60.0]

        migrate_to(store._engine, "head")
        assert [s.sealed for s in store.load_window_states()] == [False, False]


def test_window_state_deltas_append_in_order_and_a_full_write_or_delete_drops_them(store: Store) -> None:
    with pytest.raises(StoreError, match="no stored state"):
        store.append_window_delta("churn", "t:0", 0.0, b"d0", 1, 1.0)
    store.save_window_state("churn", "t:0", 0.0, 60.0, b"full", 5, 1.0)
    store.save_window_state("churn", "t:1", 0.0, 60.0, b"other", 2, 1.0)
    with store.transaction() as conn:
        store.append_window_delta("churn", "t:0", 0.0, b"d1", 7, 2.0, conn=conn)
        store.append_window_delta("churn", "t:0", 0.0, b"d2", 9, 3.0, conn=conn)
    [first, second] = store.load_window_states("churn")
    assert (first.payload, first.deltas, first.events, first.updated_at) == (b"full", (b"d1", b"d2"), 9, 3.0)
    assert second.deltas == ()
    assert store.load_window_states("churn", shard="t:0", start=0.0)[0].deltas == (b"d1", b"d2")
    store.save_window_state("churn", "t:0", 0.0, 60.0, b"full2", 9, 4.0)
    assert store.load_window_states("churn", shard="t:0")[0].deltas == ()
    store.append_window_delta("churn", "t:0", 0.0, b"d3", 10, 5.0)
    assert store.delete_window_states("churn", 0.0) == 2
    store.save_window_state("churn", "t:0", 0.0, 60.0, b"again", 1, 6.0)
    assert store.load_window_states("churn")[0].deltas == ()     # no delta of the deleted state came back


def test_window_state_shards_name_one_windows_shards_in_load_order(store: Store) -> None:
    for shard in (f"{TOPIC}:2", f"{TOPIC}:0", f"{TOPIC}:10"):
        store.save_window_state("churn", shard, 0.0, 60.0, b"s", 1, 1.0)
    store.save_window_state("churn", f"{TOPIC}:1", 60.0, 120.0, b"next", 1, 1.0)
    store.save_window_state("fraud", f"{TOPIC}:3", 0.0, 60.0, b"other", 1, 1.0)

    shards = store.window_state_shards("churn", 0.0)
    assert shards == [s.shard for s in store.load_window_states("churn", start=0.0)]
    assert sorted(shards) == [f"{TOPIC}:0", f"{TOPIC}:10", f"{TOPIC}:2"]
    assert store.window_state_shards("churn", 120.0) == []
