"""The Store: reference profiles, closed windows, checkpoint state and label joins in one SQL database.

Open it with ``Store.open(url)``; the schema is migrated to head on open. Every write takes
an optional ``conn=`` from ``Store.transaction()`` so that a checkpoint (results, window
state, offsets) commits atomically; without one each call is its own transaction.

``Store`` combines its parts: ``core.StoreCore`` (lifecycle and transactions),
``checkpoints.CheckpointStore`` (offsets, window, shard and model state) and
``labels.LabelStore`` (label joins); this module adds profiles and closed windows.
"""

from __future__ import annotations

import logging
from typing import Mapping

from sqlalchemy import Connection, RowMapping, insert, select, union
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from monitor.errors import StoreError
from monitor.judge.results import WindowResult
from monitor.store.alerts import AlertStore
from monitor.store.checkpoints import CheckpointStore
from monitor.store.labels import LabelStore
from monitor.store.queries import read_windows, write_window
from monitor.store.records import ProfileRecord, json_safe
from monitor.store.schema import reference_profiles, windows

log = logging.getLogger(__name__)


class Store(CheckpointStore, LabelStore, AlertStore):
    """Typed access to driftd's database (SQLite or PostgreSQL) through SQLAlchemy Core.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "driftd.db"
    >>> with Store.open(f"sqlite:///{path}") as store:
    ...     store.save_profile("churn", b"...", "ab" * 32, "train.csv", {}, 0.0).id
    'churn@1'
    """

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

    def list_windows(self, model: str, limit: int | None = None, *,
                     conn: Connection | None = None) -> list[WindowResult]:
        """The stored windows of ``model``, newest (by end) first, at most ``limit`` of them."""
        if limit is not None and limit < 0:
            raise StoreError(f"limit: expected a count >= 0, got {limit}")
        with self._reading("list_windows", conn) as c:
            return read_windows(c, model, limit=limit)

    def judged_windows_before(self, model: str, end_at_most: float, limit: int, *,
                              conn: Connection | None = None) -> list[WindowResult]:
        """Up to ``limit`` judged windows of ``model`` ending at or before ``end_at_most``, newest first."""
        with self._reading("judged_windows_before", conn) as c:
            return read_windows(c, model, limit=limit, judged_only=True, end_at_most=end_at_most)

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
