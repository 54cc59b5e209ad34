"""The store against real SQLite and PostgreSQL databases (the ``store_url`` fixture)."""

from __future__ import annotations

import dataclasses
import math
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select

from monitor.errors import StoreError
from monitor.ingest.columns import PREDICTION
from monitor.judge.results import FeatureResult, Reason, WindowResult
from monitor.store import ProfileRecord, Store, StoredWindow
from monitor.store import engine as engines
from monitor.store.schema import feature_statistics, metadata, window_features, window_reasons, windows

NAN = float("nan")
TABLES = {
    "reference_profiles", "windows", "window_features", "feature_statistics", "window_reasons", "window_state",
    "offsets", "shard_state", "model_state", "pending_predictions", "pending_labels", "window_labels",
}


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store on a fresh database, closed after the test."""
    with Store.open(store_url) as opened:
        yield opened


def canonical(value: Any) -> Any:
    """``value`` with dataclasses as dicts and NaN as the string "NaN", so NaN compares equal."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def judged_window(start: float = 3600.0, end: float = 7200.0, **changes: Any) -> WindowResult:
    """A judged window with numeric and categorical features, NaNs, reasons and prediction drift."""
    age = FeatureResult(
        name="age",
        kind="numeric",
        values={"psi": 0.31, "ks": 0.12, "wasserstein": NAN, "jensenshannon": 0.05},
        pvalues={"ks": 1e-9},
        missing_ratio=0.0,
        drifted=True,
        reasons=(Reason("age", "psi", 0.31, 0.2), Reason("age", "ks", 0.12, 0.1)),
    )
    plan = FeatureResult(
        name="plan",
        kind="categorical",
        values={"psi": 0.01, "chisquare": 3.5},
        pvalues={"chisquare": NAN},
        missing_ratio=NAN,
        drifted=False,
    )
    prediction = FeatureResult(
        name=PREDICTION,
        kind="numeric",
        values={"psi": 0.05, "ks": 0.02},
        pvalues={"ks": 0.3},
        missing_ratio=0.0,
        drifted=None,
        reasons=(Reason(PREDICTION, "psi", 0.05, 0.01),),
    )
    result = WindowResult(
        model="churn",
        start=start,
        end=end,
        events=48211,
        judged=True,
        drift_share=0.5,
        drifted=True,
        reference_version=3,
        features=(age, plan),
        prediction=prediction,
        performance={"accuracy": 0.91, "roc_auc": NAN},
        labels=47000,
        model_version="7",
        closed_at=7205.5,
    )
    return dataclasses.replace(result, **changes)


def unjudged_window(start: float, end: float) -> WindowResult:
    """A window below min_events: counted, never judged."""
    return WindowResult(
        model="churn", start=start, end=end, events=12, judged=False,
        drift_share=None, drifted=None, reference_version=None,
    )


def count(store: Store, table: Any) -> int:
    """Rows in ``table`` (read through the store's own engine)."""
    with store._engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# --- migrations ----------------------------------------------------------------------------


def test_open_creates_the_schema_at_head_on_an_empty_database(store_url: str) -> None:
    with Store.open(store_url) as store:
        names = set(inspect(store._engine).get_table_names())
        assert TABLES | {"alembic_version"} <= names
        assert engines.current_revision(store._engine) == engines.head_revision() == "0004"


def test_reopening_is_idempotent_and_keeps_the_data(store_url: str) -> None:
    with Store.open(store_url) as store:
        store.save_window(judged_window())
    with Store.open(store_url) as store:
        assert engines.current_revision(store._engine) == engines.head_revision()
        assert len(store.list_windows("churn")) == 1


def test_migrations_match_the_schema_module(store: Store) -> None:
    with store._engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_downgrade_to_base_and_upgrade_again(store: Store) -> None:
    config = engines.alembic_config()
    with store._engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert not TABLES & set(inspect(store._engine).get_table_names())
    engines.upgrade(store._engine, store._url)
    assert TABLES <= set(inspect(store._engine).get_table_names())


def test_open_without_migrate_leaves_an_empty_database_alone(store_url: str) -> None:
    with Store.open(store_url, migrate=False) as store:
        assert store.ping()
        assert engines.current_revision(store._engine) is None
        assert not TABLES & set(inspect(store._engine).get_table_names())


# --- connection errors and URLs -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg://postgres:hunter2@127.0.0.1:1/x", "postgresql://postgres:hunter2@127.0.0.1:1/x"],
)
def test_unreachable_postgres_raises_store_error_with_the_password_masked(url: str) -> None:
    with pytest.raises(StoreError) as raised:
        Store.open(url)
    message = str(raised.value)
    assert "hunter2" not in message
    assert "postgresql+psycopg://postgres:***@127.0.0.1:1/x" in message
    assert raised.value.__cause__ is not None


def test_unreachable_sqlite_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot reach the store at sqlite:///"):
        Store.open(f"sqlite:///{tmp_path}/missing-dir/driftd.db")


def test_unsupported_and_malformed_urls_raise_store_error() -> None:
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        Store.open("mysql://u:p@localhost/x")
    with pytest.raises(StoreError, match="expected a database URL"):
        Store.open("not a url")


def test_plain_postgresql_urls_get_the_psycopg_driver() -> None:
    assert engines.normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert engines.normalize_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert engines.normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_a_closed_store_fails_its_ping_and_refuses_work(store_url: str) -> None:
    store = Store.open(store_url)
    assert store.ping()
    store.close()
    assert not store.ping()
    with pytest.raises(StoreError, match="is closed"):
        store.list_windows("churn")


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path}/driftd.db") as store:
        with store._engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert raw.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert raw.execute("PRAGMA busy_timeout").fetchone()[0] == engines.SQLITE_BUSY_TIMEOUT_MS


# --- reference profiles ---------------------------------------------------------------------


def test_profiles_are_versioned_and_an_unchanged_hash_is_idempotent(store: Store) -> None:
    assert store.latest_profile("churn") is None
    first = store.save_profile("churn", b"\x00v1", "a" * 64, "train.parquet", {"bins": 10}, 100.0)
    assert (first.version, first.id) == (1, "churn@1")
    again = store.save_profile("churn", b"\x00other", "a" * 64, "elsewhere", {}, 200.0)
    assert again == first
    second = store.save_profile("churn", b"\x00v2", "b" * 64, "train2.parquet", {"bins": 20}, 300.0)
    assert second.version == 2
    store.save_profile("fraud", b"f", "c" * 64, "events", {}, 400.0)

    assert store.latest_profile("churn") == second
    assert store.get_profile("churn", 1) == first
    assert store.get_profile("churn", 3) is None
    assert [p.version for p in store.list_profiles("churn")] == [1, 2]
    assert store.list_profiles("churn")[0].payload == b"\x00v1"
    assert store.list_profiles("nobody") == []


def test_profile_config_round_trips_with_non_finite_numbers_as_null(store: Store) -> None:
    config = {"bins": 10, "nested": {"x": [1.5, NAN, float("inf")]}, "name": "psi"}
    saved = store.save_profile("churn", b"p", "h" * 64, "file", config, 1.0)
    expected = {"bins": 10, "nested": {"x": [1.5, None, None]}, "name": "psi"}
    assert saved.config == expected
    assert store.latest_profile("churn") == ProfileRecord("churn", 1, "h" * 64, 1.0, "file", expected, b"p")


def test_a_profile_version_taken_concurrently_is_retried_once(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.save_profile("churn", b"1", "a" * 64, "file", {}, 1.0)
    real_latest = Store._latest_row
    calls = {"n": 0}

    def stale_then_real(conn: Any, model: str) -> Any:
        calls["n"] += 1
        return None if calls["n"] == 1 else real_latest(conn, model)  # first look misses version 1

    monkeypatch.setattr(Store, "_latest_row", staticmethod(stale_then_real))
    record = store.save_profile("churn", b"2", "b" * 64, "file", {}, 2.0)
    assert (record.version, calls["n"]) == (2, 2)


def test_two_stores_saving_profiles_at_once_get_distinct_versions(store_url: str) -> None:
    Store.open(store_url).close()  # migrate once, then race two independent stores
    stores = [Store.open(store_url, migrate=False) for _ in range(2)]
    barrier = threading.Barrier(2)
    saved: list[ProfileRecord] = []

    def build(store: Store, content_hash: str) -> None:
        barrier.wait()
        saved.append(store.save_profile("churn", b"p", content_hash, "file", {}, 1.0))

    threads = [threading.Thread(target=build, args=(s, h * 64)) for s, h in zip(stores, "ab")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for store in stores:
        store.close()
    assert sorted(p.version for p in saved) == [1, 2]
    assert sorted(p.content_hash[0] for p in saved) == ["a", "b"]


# --- closed windows -------------------------------------------------------------------------


def test_windows_round_trip_exactly(store: Store) -> None:
    judged = judged_window()
    unjudged = unjudged_window(7200.0, 10800.0)
    store.save_window(judged)
    store.save_window(unjudged)

    newest, older = store.list_windows("churn")
    assert canonical(newest) == canonical(unjudged)
    assert canonical(older) == canonical(judged)
    assert (newest.drift_share, newest.drifted, newest.prediction, newest.features) == (None, None, None, ())
    assert older.features[0].reasons == judged.features[0].reasons
    assert [f.name for f in older.features] == ["age", "plan"]
    assert list(older.features[0].values) == ["psi", "ks", "wasserstein", "jensenshannon"]
    assert math.isnan(older.performance["roc_auc"]) and math.isnan(older.features[1].missing_ratio)


def test_saving_a_window_again_replaces_it_and_all_its_child_rows(store: Store) -> None:
    first_id = store.save_window(judged_window())
    fewer = judged_window(
        features=(FeatureResult("age", "numeric", {"psi": 0.4}, {}, 0.1, True, (Reason("age", "psi", 0.4, 0.2),)),),
        prediction=None,
        performance={"accuracy": 0.8, "f1": 0.7},
        labels=48000,
    )
    assert store.save_window(fewer) == first_id

    (stored,) = store.list_windows("churn")
    assert canonical(stored) == canonical(fewer)
    assert (count(store, windows), count(store, window_features)) == (1, 1)
    assert (count(store, feature_statistics), count(store, window_reasons)) == (1, 1)


def test_windows_are_listed_newest_first_with_a_limit(store: Store) -> None:
    for start in (7200.0, 0.0, 14400.0, 3600.0):
        store.save_window(judged_window(start, start + 3600.0))
    store.save_window(unjudged_window(18000.0, 21600.0))
    store.save_window(judged_window(model="fraud"))

    assert [w.end for w in store.list_windows("churn")] == [21600.0, 18000.0, 10800.0, 7200.0, 3600.0]
    assert [w.end for w in store.list_windows("churn", limit=2)] == [21600.0, 18000.0]
    assert store.list_windows("churn", limit=0) == []
    assert store.list_windows("nobody") == []
    assert store.latest_window("churn").end == 18000.0  # type: ignore[union-attr]
    assert store.latest_window("churn", judged_only=False).end == 21600.0  # type: ignore[union-attr]
    assert store.latest_window("nobody") is None


def test_models_lists_every_model_with_windows_or_profiles(store: Store) -> None:
    assert store.models() == []
    store.save_window(judged_window(model="churn"))
    store.save_profile("fraud", b"p", "h" * 64, "file", {}, 1.0)
    store.save_profile("churn", b"p", "h" * 64, "file", {}, 1.0)
    assert store.models() == ["churn", "fraud"]


def test_deleting_a_window_cascades_to_its_child_rows(store: Store) -> None:
    window_id = store.save_window(judged_window())
    with store.transaction() as conn:
        conn.execute(windows.delete().where(windows.c.id == window_id))
    assert [count(store, t) for t in (window_features, feature_statistics, window_reasons)] == [0, 0, 0]


# --- transactions and open-window state -----------------------------------------------------


def test_a_failed_transaction_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError, match="crash mid-checkpoint"):
        with store.transaction() as conn:
            store.save_window(judged_window(), conn=conn)
            store.save_window_state("churn", "ml.predictions:0", 0.0, 3600.0, b"s", 5, 1.0, conn=conn)
            raise RuntimeError("crash mid-checkpoint")
    assert store.list_windows("churn") == []
    assert store.load_window_states() == []

    with store.transaction() as conn:
        store.save_window(judged_window(), conn=conn)
        store.save_window_state("churn", "ml.predictions:0", 0.0, 3600.0, b"s", 5, 1.0, conn=conn)
    assert len(store.list_windows("churn")) == 1
    assert len(store.load_window_states("churn")) == 1


def test_a_database_error_inside_a_transaction_raises_store_error_and_rolls_back(store: Store) -> None:
    with pytest.raises(StoreError, match="save_window model=churn failed"):
        with store.transaction() as conn:
            store.save_window_state("churn", "replay", 0.0, 1.0, b"s", 1, 1.0, conn=conn)
            store.save_window(judged_window(features=(judged_window().features[0],) * 2), conn=conn)
    assert store.load_window_states() == []


def test_window_state_upsert_load_and_delete(store: Store) -> None:
    store.save_window_state("churn", "ml.predictions:3", 3600.0, 7200.0, b"v1", 10, 100.0)
    store.save_window_state("churn", "ml.predictions:3", 3600.0, 7200.0, b"v2", 25, 200.0)
    store.save_window_state("churn", "ml.predictions:1", 3600.0, 7200.0, b"p1", 4, 150.0)
    store.save_window_state("fraud", "replay", 0.0, 60.0, b"r", 1, 50.0)

    states = store.load_window_states("churn")
    assert states == [
        StoredWindow("churn", "ml.predictions:1", 3600.0, 7200.0, b"p1", 4, 150.0),
        StoredWindow("churn", "ml.predictions:3", 3600.0, 7200.0, b"v2", 25, 200.0),
    ]
    assert [s.model for s in store.load_window_states()] == ["churn", "churn", "fraud"]

    assert store.delete_window_state("churn", "ml.predictions:3", 3600.0) is True
    assert store.delete_window_state("churn", "ml.predictions:3", 3600.0) is False
    assert [s.shard for s in store.load_window_states("churn")] == ["ml.predictions:1"]


def test_postgresql_urls_without_a_driver_open_with_psycopg(store_url: str) -> None:
    plain = store_url.replace("postgresql+psycopg://", "postgresql://")
    with Store.open(plain) as store:
        assert store.ping()
        assert store.url.startswith("sqlite:///" if store.dialect == "sqlite" else "postgresql+psycopg://")
