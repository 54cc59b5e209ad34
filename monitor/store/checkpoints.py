"""What a checkpoint writes besides results: partition offsets (compare-and-set), window, shard and model state.

A daemon writes all of it together with the windows it closed in one ``Store.transaction()``
and loads it back on start, so each event counts exactly once across restarts (README,
"The guarantees"). Offsets move by compare-and-set: a stale owner of a partition, one that
missed a rebalance, fails with StaleOwnerError and its whole transaction rolls back.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from sqlalchemy import Connection, RowMapping, delete, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from monitor.errors import StaleOwnerError, StoreError
from monitor.store.core import StoreCore
from monitor.store.queries import upsert
from monitor.store.records import ModelStateRecord, ShardStateRecord, WindowStateRecord, to_column
from monitor.store.schema import model_state, offsets, shard_state, window_state, window_state_deltas, windows

OffsetMove = tuple[str, int, "int | None", int]
"""(topic, partition, expected next offset or None when none is stored, new next offset)."""


class CheckpointStore(StoreCore):
    """Offsets, open-window state, shard state and model state of the Kafka daemon."""

    # --- offsets -------------------------------------------------------------------------

    def load_offsets(
        self, group_id: str, partitions: Sequence[tuple[str, int]], *, conn: Connection | None = None
    ) -> dict[tuple[str, int], int]:
        """The stored next offset of each (topic, partition) of ``partitions`` that has one."""
        if not partitions:
            return {}
        o = offsets.c
        wanted = [(str(topic), int(partition)) for topic, partition in partitions]
        stmt = select(o.topic, o.partition, o.next_offset).where(
            o.group_id == group_id, tuple_(o.topic, o.partition).in_(wanted)
        )
        with self._reading("load_offsets", conn) as c:
            return {(row.topic, int(row.partition)): int(row.next_offset) for row in c.execute(stmt)}

    def advance_offsets(
        self,
        group_id: str,
        moves: Sequence[OffsetMove],
        *,
        conn: Connection | None = None,
        updated_at: float | None = None,
    ) -> None:
        """Compare-and-set each (topic, partition, expected, new); StaleOwnerError if one was moved by another owner.

        ``expected`` None means "no offset stored yet". An offset never goes back: ``new``
        below ``expected`` (or below 0) is refused with StoreError. Inside a caller's
        ``transaction()`` a failure rolls back everything written in it.
        """
        for topic, partition, expected, new in moves:
            _check_move(group_id, topic, partition, expected, new)
        now = time.time() if updated_at is None else float(updated_at)
        with self._writing(f"advance_offsets group={group_id}", conn) as c:
            for topic, partition, expected, new in moves:
                if not _compare_and_set(c, group_id, topic, int(partition), expected, int(new), now):
                    stored = _stored_offset(c, group_id, topic, int(partition))
                    raise StaleOwnerError(
                        f"offset compare-and-set failed group={group_id} topic={topic} partition={partition}: "
                        f"expected {_describe(expected)}, stored {_describe(stored)} "
                        "(another consumer owns this partition now)"
                    )

    # --- shard state ---------------------------------------------------------------------

    def save_shard_state(
        self,
        model: str,
        shard: str,
        max_event_time: float,
        last_seen: float,
        updated_at: float,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Insert or replace where ``shard`` stands for ``model`` (its largest event time, its newest event)."""
        row = {
            "model": model,
            "shard": shard,
            "max_event_time": float(max_event_time),
            "last_seen": float(last_seen),
            "updated_at": float(updated_at),
        }
        with self._writing(f"save_shard_state model={model} shard={shard}", conn) as c:
            upsert(c, shard_state, row, ("model", "shard"))

    def load_shard_states(
        self, model: str | None = None, *, conn: Connection | None = None
    ) -> list[ShardStateRecord]:
        """Stored shard states (of ``model``, or of all models), by model and shard."""
        s = shard_state.c
        stmt = select(shard_state).order_by(s.model, s.shard)
        if model is not None:
            stmt = stmt.where(s.model == model)
        with self._reading("load_shard_states", conn) as c:
            return [
                ShardStateRecord(
                    model=row["model"],
                    shard=row["shard"],
                    max_event_time=float(row["max_event_time"]),
                    last_seen=float(row["last_seen"]),
                    updated_at=float(row["updated_at"]),
                )
                for row in c.execute(stmt).mappings()
            ]

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
        sealed: bool = False,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Insert or replace the state of window (model, shard, start); ``sealed`` marks the shard's final part."""
        row = {
            "model": model,
            "shard": shard,
            "window_start": float(start),
            "window_end": float(end),
            "payload": bytes(payload),
            "events": int(events),
            "updated_at": float(updated_at),
            "sealed": bool(sealed),
        }
        d = window_state_deltas.c
        with self._writing(f"save_window_state model={model} shard={shard}", conn) as c:
            upsert(c, window_state, row, ("model", "shard", "window_start"))
            c.execute(delete(window_state_deltas).where(d.model == model, d.shard == shard,
                                                        d.window_start == float(start)))

    def append_window_delta(self, model: str, shard: str, start: float, payload: bytes, events: int,
                            updated_at: float, *, conn: Connection | None = None) -> None:
        """Append a delta to the stored state of window (model, shard, start), which must exist."""
        s, d = window_state.c, window_state_deltas.c
        key = (d.model == model, d.shard == shard, d.window_start == float(start))
        with self._writing(f"append_window_delta model={model} shard={shard}", conn) as c:
            moved = c.execute(update(window_state).where(s.model == model, s.shard == shard,
                                                         s.window_start == float(start))
                              .values(events=int(events), updated_at=float(updated_at))).rowcount
            if not moved:
                raise StoreError(f"append_window_delta model={model} shard={shard} start={start}: "
                                 "no stored state to append to")
            seq = c.execute(select(func.coalesce(func.max(d.seq), 0)).where(*key)).scalar_one()
            c.execute(insert(window_state_deltas).values(model=model, shard=shard, window_start=float(start),
                                                         seq=int(seq) + 1, payload=bytes(payload)))

    def load_window_states(
        self,
        model: str | None = None,
        *,
        shard: str | None = None,
        sealed: bool | None = None,
        start: float | None = None,
        conn: Connection | None = None,
    ) -> list[WindowStateRecord]:
        """Stored window states, filtered by model, shard, sealed and window start when given; by model, shard, start."""
        s = window_state.c
        stmt = select(window_state).order_by(s.model, s.shard, s.window_start)
        if model is not None:
            stmt = stmt.where(s.model == model)
        if start is not None:
            stmt = stmt.where(s.window_start == float(start))
        if shard is not None:
            stmt = stmt.where(s.shard == shard)
        if sealed is not None:
            stmt = stmt.where(s.sealed.is_(sealed))
        d = window_state_deltas.c
        deltas = select(d.model, d.shard, d.window_start, d.payload).order_by(d.model, d.shard, d.window_start, d.seq)
        if model is not None:
            deltas = deltas.where(d.model == model)
        if start is not None:
            deltas = deltas.where(d.window_start == float(start))
        if shard is not None:
            deltas = deltas.where(d.shard == shard)
        with self._reading("load_window_states", conn) as c:
            found: dict[tuple[str, str, float], list[bytes]] = {}
            for row in c.execute(deltas):
                found.setdefault((row.model, row.shard, float(row.window_start)), []).append(bytes(row.payload))
            return [_window_state(row, found) for row in c.execute(stmt).mappings()]

    def window_state_starts(self, model: str, *, conn: Connection | None = None) -> list[float]:
        """The starts of the windows that have stored partial states for ``model`` (payloads not read)."""
        s = window_state.c
        stmt = select(s.window_start).where(s.model == model).distinct().order_by(s.window_start)
        with self._reading("window_state_starts", conn) as c:
            return [float(v) for v in c.execute(stmt).scalars()]

    def window_state_shards(self, model: str, start: float, *, conn: Connection | None = None) -> list[str]:
        """The shards that have a stored partial state of window (model, start), in :meth:`load_window_states`'s
        order (payloads not read: a caller can then load and merge them one at a time)."""
        s = window_state.c
        stmt = (select(s.shard).where(s.model == model, s.window_start == float(start)).order_by(s.shard))
        with self._reading("window_state_shards", conn) as c:
            return [str(v) for v in c.execute(stmt).scalars()]

    def delete_window_state(self, model: str, shard: str, start: float, *, conn: Connection | None = None) -> bool:
        """Delete the state of window (model, shard, start); True if there was one."""
        s = window_state.c
        d = window_state_deltas.c
        stmt = delete(window_state).where(s.model == model, s.shard == shard, s.window_start == float(start))
        with self._writing(f"delete_window_state model={model} shard={shard}", conn) as c:
            c.execute(delete(window_state_deltas).where(d.model == model, d.shard == shard,
                                                        d.window_start == float(start)))
            return c.execute(stmt).rowcount > 0

    def delete_window_states(self, model: str, start: float, *, conn: Connection | None = None) -> int:
        """Delete the states of window (model, start) in every shard; return how many there were."""
        s = window_state.c
        d = window_state_deltas.c
        stmt = delete(window_state).where(s.model == model, s.window_start == float(start))
        with self._writing(f"delete_window_states model={model}", conn) as c:
            c.execute(delete(window_state_deltas).where(d.model == model, d.window_start == float(start)))
            return int(c.execute(stmt).rowcount)

    # --- model state ---------------------------------------------------------------------

    def get_model_state(self, model: str, *, conn: Connection | None = None) -> ModelStateRecord | None:
        """Where ``model``'s windows stand, or None if nothing was saved for it."""
        stmt = select(model_state).where(model_state.c.model == model)
        with self._reading("get_model_state", conn) as c:
            row = c.execute(stmt).mappings().first()
        if row is None:
            return None
        closed = row["closed_until"]
        return ModelStateRecord(
            model=row["model"],
            closed_until=None if closed is None else float(closed),
            sequence=int(row["sequence"]),
            updated_at=float(row["updated_at"]),
        )

    def save_model_state(
        self,
        model: str,
        closed_until: float | None,
        sequence: int,
        updated_at: float,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Insert or replace where ``model``'s windows stand (None or NaN ``closed_until``: none closed)."""
        row = {
            "model": model,
            "closed_until": to_column(closed_until),
            "sequence": int(sequence),
            "updated_at": float(updated_at),
        }
        with self._writing(f"save_model_state model={model}", conn) as c:
            upsert(c, model_state, row, ("model",))

    def window_exists(self, model: str, start: float, end: float, *, conn: Connection | None = None) -> bool:
        """True when the closed window (model, start, end) is stored."""
        w = windows.c
        stmt = select(w.id).where(w.model == model, w.start == float(start), w.end == float(end)).limit(1)
        with self._reading("window_exists", conn) as c:
            return c.execute(stmt).first() is not None


def _check_move(group_id: str, topic: str, partition: int, expected: int | None, new: int) -> None:
    """Refuse an offset move that goes back or below 0, naming the partition."""
    where = f"group={group_id} topic={topic} partition={partition}"
    if new < 0:
        raise StoreError(f"advance_offsets {where}: expected a next offset >= 0, got {new}")
    if expected is not None and new < expected:
        raise StoreError(f"advance_offsets {where}: offsets never go back, got {expected} -> {new}")


def _compare_and_set(
    conn: Connection, group_id: str, topic: str, partition: int, expected: int | None, new: int, now: float
) -> bool:
    """Move one partition's offset from ``expected`` to ``new``; False when the stored value differs."""
    o = offsets.c
    if expected is not None:
        moved = (
            update(offsets)
            .where(o.group_id == group_id, o.topic == topic, o.partition == partition, o.next_offset == int(expected))
            .values(next_offset=new, updated_at=now)
        )
        return conn.execute(moved).rowcount == 1
    row = {"group_id": group_id, "topic": topic, "partition": partition, "next_offset": new, "updated_at": now}
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(offsets)
    elif dialect == "sqlite":
        stmt = sqlite.insert(offsets)
    else:  # Store.open rejects other databases; this guards direct use
        raise ValueError(f"advance_offsets: unsupported dialect {dialect!r}")
    inserted = conn.execute(
        stmt.values(**row).on_conflict_do_nothing(),
        execution_options={"preserve_rowcount": True},  # SQLAlchemy 2.1 leaves INSERT rowcounts unset otherwise
    )
    return inserted.rowcount == 1


def _stored_offset(conn: Connection, group_id: str, topic: str, partition: int) -> int | None:
    """The next offset stored for one partition, or None."""
    o = offsets.c
    stmt = select(o.next_offset).where(o.group_id == group_id, o.topic == topic, o.partition == partition)
    found = conn.execute(stmt).scalar_one_or_none()
    return None if found is None else int(found)


def _describe(offset: int | None) -> str:
    """An offset for a message; None reads as "no stored offset"."""
    return "no stored offset" if offset is None else str(offset)


def _window_state(row: RowMapping, deltas: dict[tuple[str, str, float], list[bytes]]) -> WindowStateRecord:
    """A WindowStateRecord from a ``window_state`` row and the deltas found for it."""
    return WindowStateRecord(
        model=row["model"],
        shard=row["shard"],
        window_start=float(row["window_start"]),
        window_end=float(row["window_end"]),
        payload=bytes(row["payload"]),
        events=int(row["events"]),
        updated_at=float(row["updated_at"]),
        sealed=bool(row["sealed"]),
        deltas=tuple(deltas.get((row["model"], row["shard"], float(row["window_start"])), ())),
    )
