"""The Store: reference profiles, closed windows and open-window state in one SQL database.

Open it with ``Store.open(url)``; the schema is migrated to head on open. Every write takes
an optional ``conn=`` from ``Store.transaction()`` so that a checkpoint (results, window
state, offsets) commits atomically; without one each call is its own transaction.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from types import TracebackType
from typing import Iterator, Mapping

from sqlalchemy import Connection, Engine, RowMapping, delete, insert, select, union
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from monitor.errors import StoreError
from monitor.results import WindowResult
from monitor.store import engine as engines
from monitor.store.queries import read_windows, upsert, write_window
from monitor.store.records import ProfileRecord, WindowStateRecord, json_safe
from monitor.store.schema import reference_profiles, window_state, windows

log = logging.getLogger(__name__)


class Store:
    """Typed access to driftd's database (SQLite or PostgreSQL) through SQLAlchemy Core.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "driftd.db"
    >>> with Store.open(f"sqlite:///{path}") as store:
    ...     store.save_profile("churn", b"...", "ab" * 32, "train.csv", {}, 0.0).id
    'churn@1'
    """

    def __init__(self, engine: Engine, url: URL) -> None:
        """Wrap an engine made by ``monitor.store.engine``; use ``Store.open`` instead."""
        self._engine = engine
        self._writer = engine.execution_options(**{engines.WRITE_OPTION: True})
        # reads of several tables see one snapshot (SQLite's BEGIN already gives one in WAL mode)
        self._reader = (
            engine.execution_options(isolation_level="REPEATABLE READ")
            if engine.dialect.name == "postgresql"
            else engine
        )
        self._url = url
        self._closed = False

    # --- lifecycle -----------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Connect to ``url`` and, unless ``migrate`` is False, upgrade its schema to head.

        Raises StoreError naming the URL (password masked) and the cause when the database
        is unreachable, unsupported or cannot be migrated.
        """
        parsed = engines.normalize_url(url)
        engine = engines.create_store_engine(parsed)
        try:
            engines.check_reachable(engine, parsed)
            if migrate:
                engines.upgrade(engine, parsed)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, parsed)

    @property
    def url(self) -> str:
        """The database URL with its password masked (safe to log)."""
        return engines.masked(self._url)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection; the store cannot be used afterwards."""
        self._closed = True
        self._engine.dispose()

    def ping(self) -> bool:
        """True when a trivial query succeeds now (for ``/readyz``); never raises."""
        if self._closed:
            return False
        try:
            with self._engine.connect() as conn:
                conn.execute(select(1))
        except SQLAlchemyError as exc:
            log.warning("store ping failed url=%s error=%s", self.url, exc.__class__.__name__)
            return False
        return True

    def __enter__(self) -> Store:
        """Use the store in a ``with`` block; it is closed at the end."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the store."""
        self.close()

    def __repr__(self) -> str:
        """The class and the masked URL."""
        return f"Store({self.url!r})"

    # --- transactions --------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Yield a connection in a write transaction; commit on success, roll back on error.

        Pass it as ``conn=`` to the write methods so that their writes commit together.
        """
        self._check_open()
        try:
            with self._writer.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self._error("transaction", exc) from exc

    @contextmanager
    def _writing(self, action: str, conn: Connection | None) -> Iterator[Connection]:
        """The caller's connection, or a fresh write transaction; database errors become StoreError."""
        self._check_open()
        try:
            if conn is not None:
                yield conn
            else:
                with self._writer.begin() as own:
                    yield own
        except SQLAlchemyError as exc:
            raise self._error(action, exc) from exc

    @contextmanager
    def _reading(self, action: str) -> Iterator[Connection]:
        """A connection for a consistent read; database errors become StoreError."""
        self._check_open()
        try:
            with self._reader.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self._error(action, exc) from exc

    def _check_open(self) -> None:
        """Raise StoreError when the store was closed."""
        if self._closed:
            raise StoreError(f"store {self.url} is closed")

    def _error(self, action: str, exc: SQLAlchemyError) -> StoreError:
        """A StoreError naming the action, the masked URL and the driver's message."""
        cause = getattr(exc, "orig", None) or exc
        return StoreError(f"{action} failed on {self.url}: {str(cause).strip()}")

    # --- reference profiles --------------------------------------------------------------

    def save_profile(
        self,
        model: str,
        payload: bytes,
        content_hash: str,
        source: str,
        config: Mapping[str, object],
        created_at: float,
    ) -> ProfileRecord:
        """Store a new profile version (latest + 1, from 1); an unchanged hash returns the latest.

        Rebuilding a profile from the same data is therefore idempotent. Two builders racing
        for the same version: the loser retries once with the next version.
        """
        self._check_open()
        if len(content_hash) > 64:
            raise StoreError(f"content_hash: expected at most 64 characters, got {len(content_hash)}")
        for attempt in (1, 2):
            try:
                with self._writer.begin() as conn:
                    record, created = self._save_profile_once(
                        conn, model, payload, content_hash, source, config, created_at
                    )
                if created:
                    log.info("reference profile stored model=%s version=%d", model, record.version)
                return record
            except IntegrityError as exc:
                if attempt == 2:
                    raise self._error(f"save_profile model={model}", exc) from exc
                log.info("profile version taken concurrently, retrying model=%s", model)
            except SQLAlchemyError as exc:
                raise self._error(f"save_profile model={model}", exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _save_profile_once(
        self,
        conn: Connection,
        model: str,
        payload: bytes,
        content_hash: str,
        source: str,
        config: Mapping[str, object],
        created_at: float,
    ) -> tuple[ProfileRecord, bool]:
        """One attempt of save_profile inside ``conn``'s transaction; True when a version was added."""
        latest = self._latest_row(conn, model)
        if latest is not None and latest["content_hash"] == content_hash:
            return _profile(latest), False
        record = ProfileRecord(
            model=model,
            version=1 if latest is None else int(latest["version"]) + 1,
            content_hash=content_hash,
            created_at=float(created_at),
            source=source,
            config=json_safe(dict(config)),
            payload=bytes(payload),
        )
        conn.execute(
            insert(reference_profiles).values(
                model=record.model,
                version=record.version,
                content_hash=record.content_hash,
                created_at=record.created_at,
                source=record.source,
                config=record.config,
                payload=record.payload,
            )
        )
        return record, True

    @staticmethod
    def _latest_row(conn: Connection, model: str) -> RowMapping | None:
        """The row of the newest profile version of ``model``."""
        p = reference_profiles.c
        stmt = select(reference_profiles).where(p.model == model).order_by(p.version.desc()).limit(1)
        return conn.execute(stmt).mappings().first()

    def latest_profile(self, model: str) -> ProfileRecord | None:
        """The newest profile version of ``model``, or None if it has none."""
        with self._reading("latest_profile") as conn:
            row = self._latest_row(conn, model)
        return None if row is None else _profile(row)

    def get_profile(self, model: str, version: int) -> ProfileRecord | None:
        """Profile ``version`` of ``model``, or None if there is no such version."""
        p = reference_profiles.c
        stmt = select(reference_profiles).where(p.model == model, p.version == version)
        with self._reading("get_profile") as conn:
            row = conn.execute(stmt).mappings().first()
        return None if row is None else _profile(row)

    def list_profiles(self, model: str) -> list[ProfileRecord]:
        """Every profile version of ``model``, oldest first, payloads included."""
        p = reference_profiles.c
        stmt = select(reference_profiles).where(p.model == model).order_by(p.version)
        with self._reading("list_profiles") as conn:
            return [_profile(row) for row in conn.execute(stmt).mappings()]

    # --- closed windows ------------------------------------------------------------------

    def save_window(self, result: WindowResult, *, conn: Connection | None = None) -> int:
        """Insert or replace (with all its features, statistics and reasons) one window; return its id."""
        with self._writing(f"save_window model={result.model}", conn) as c:
            return write_window(c, result)

    def list_windows(self, model: str, limit: int | None = None) -> list[WindowResult]:
        """The stored windows of ``model``, newest (by end) first, at most ``limit`` of them."""
        if limit is not None and limit < 0:
            raise StoreError(f"limit: expected a count >= 0, got {limit}")
        with self._reading("list_windows") as conn:
            return read_windows(conn, model, limit=limit)

    def latest_window(self, model: str, judged_only: bool = True) -> WindowResult | None:
        """The newest stored window of ``model`` (only judged ones unless ``judged_only`` is False)."""
        with self._reading("latest_window") as conn:
            found = read_windows(conn, model, limit=1, judged_only=judged_only)
        return found[0] if found else None

    def models(self) -> list[str]:
        """Every model that has stored windows or profiles, sorted."""
        stmt = union(select(windows.c.model), select(reference_profiles.c.model))
        with self._reading("models") as conn:
            return sorted(conn.execute(stmt).scalars())

    # --- open-window state ---------------------------------------------------------------

    def save_window_state(
        self,
        model: str,
        shard: str,
        start: float,
        end: float,
        payload: bytes,
        events: int,
        updated_at: float,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Insert or replace the state of the open window (model, shard, start)."""
        row = {
            "model": model,
            "shard": shard,
            "window_start": float(start),
            "window_end": float(end),
            "payload": bytes(payload),
            "events": int(events),
            "updated_at": float(updated_at),
        }
        with self._writing(f"save_window_state model={model} shard={shard}", conn) as c:
            upsert(c, window_state, row, ("model", "shard", "window_start"))

    def load_window_states(self, model: str | None = None) -> list[WindowStateRecord]:
        """Stored open-window states (of ``model``, or of all models), by model, shard, start."""
        s = window_state.c
        stmt = select(window_state).order_by(s.model, s.shard, s.window_start)
        if model is not None:
            stmt = stmt.where(s.model == model)
        with self._reading("load_window_states") as conn:
            return [
                WindowStateRecord(
                    model=row["model"],
                    shard=row["shard"],
                    window_start=float(row["window_start"]),
                    window_end=float(row["window_end"]),
                    payload=bytes(row["payload"]),
                    events=int(row["events"]),
                    updated_at=float(row["updated_at"]),
                )
                for row in conn.execute(stmt).mappings()
            ]

    def delete_window_state(self, model: str, shard: str, start: float, *, conn: Connection | None = None) -> bool:
        """Delete the state of the open window (model, shard, start); True if there was one."""
        s = window_state.c
        stmt = delete(window_state).where(s.model == model, s.shard == shard, s.window_start == float(start))
        with self._writing(f"delete_window_state model={model} shard={shard}", conn) as c:
            return c.execute(stmt).rowcount > 0


def _profile(row: RowMapping) -> ProfileRecord:
    """A ProfileRecord from a ``reference_profiles`` row."""
    return ProfileRecord(
        model=row["model"],
        version=int(row["version"]),
        content_hash=row["content_hash"],
        created_at=float(row["created_at"]),
        source=row["source"],
        config=dict(row["config"] or {}),
        payload=bytes(row["payload"]),
    )
