"""Late labels joined to their predictions in SQL, so the join commits with the checkpoint and survives restarts.

A prediction waits in ``pending_predictions`` and a label in ``pending_labels`` until the
other half of its ``(model, prediction_id)`` arrives; ``join_labels`` then moves the pair
into ``window_labels`` in the caller's transaction (the pairs a window's performance is computed from). Pending rows
expire after a TTL and are bounded in number, oldest first (README "The guarantees": bounded memory).
Prediction and label values are stored as one-element JSON arrays ``[value]``: numbers,
strings, bools and None come back exactly (a float stays a float, 1 stays 1); NaN and
infinities are stored as None.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    Table,
    any_,
    delete,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql

from monitor.errors import StoreError
from monitor.store.core import StoreCore
from monitor.store.queries import IN_CHUNK, bulk_upsert
from monitor.store.records import MAX_KEY_LENGTH, json_safe
from monitor.store.schema import pending_labels, pending_predictions, window_labels

_PREDICTIONS = "p"
_LABELS = "l"


class LabelStore(StoreCore):
    """Pending predictions and labels, their join by prediction id, and the joined pairs per window."""

    def add_predictions(
        self,
        model: str,
        rows: Sequence[tuple[str, float, object]],
        arrived_at: float,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Queue (prediction_id, window_key, prediction) rows for joining; a repeated id replaces the earlier one."""
        latest: dict[str, tuple[float, object]] = {}
        for prediction_id, window_key, prediction in rows:
            latest[_checked_id(model, prediction_id)] = (window_key, prediction)
        with self._writing(f"add_predictions model={model}", conn) as c:
            for ids in _sorted_chunks(latest):  # bounded memory; one lock order for all writers
                bulk_upsert(c, pending_predictions, [
                    {"model": model, "prediction_id": pid, "window_key": float(latest[pid][0]),
                     "prediction": _json_value(model, pid, latest[pid][1]), "arrived_at": float(arrived_at)}
                    for pid in ids], ("model", "prediction_id"))

    def add_labels(
        self,
        model: str,
        rows: Sequence[tuple[str, object]],
        arrived_at: float,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Queue (prediction_id, label) rows for joining; a repeated id replaces the earlier one."""
        latest: dict[str, object] = {}
        for prediction_id, label in rows:
            latest[_checked_id(model, prediction_id)] = label
        with self._writing(f"add_labels model={model}", conn) as c:
            for ids in _sorted_chunks(latest):
                bulk_upsert(c, pending_labels, [
                    {"model": model, "prediction_id": pid, "label": _json_value(model, pid, latest[pid]),
                     "arrived_at": float(arrived_at)} for pid in ids], ("model", "prediction_id"))

    def join_labels(self, model: str, joined_at: float, *, conn: Connection | None = None) -> dict[float, int]:
        """Move every pending (prediction, label) pair of ``model`` into its window; return pairs joined per window key.

        1. Read (and on PostgreSQL lock, in id order) the model's pending labels.
        2. Read (and lock) the pending predictions with those ids, by primary key.
        3. Insert the pairs into ``window_labels`` in one executemany; delete them from both
           pending tables. Rows another daemon adds meanwhile wait for the next join.

        There is deliberately no SQL join: pending tables fill and drain like queues, so their
        planner statistics are often stale, and PostgreSQL then picks a nested loop that took
        seconds for 20,000 pairs. Primary-key lookups cost the same whatever the statistics say.
        """
        p, lab = pending_predictions.c, pending_labels.c
        labels_stmt = select(lab.prediction_id, lab.label).where(lab.model == model)
        with self._writing(f"join_labels model={model}", conn) as c:
            labels = dict(c.execute(labels_stmt.order_by(lab.prediction_id).with_for_update()).all())
            found: list[tuple[float, str, Any]] = []  # (window_key, prediction_id, boxed prediction)
            for batch in _batches(c, sorted(labels)):
                predictions = (
                    select(p.window_key, p.prediction_id, p.prediction)
                    .where(p.model == model, _among(c, p.prediction_id, batch))
                    .order_by(p.prediction_id)
                    .with_for_update()
                )
                found.extend((float(key), pid, prediction) for key, pid, prediction in c.execute(predictions))
            if not found:
                return {}
            found.sort(key=lambda pair: pair[:2])
            pairs = [
                {"model": model, "window_key": key, "prediction": prediction, "label": labels[pid],
                 "joined_at": float(joined_at)}
                for key, pid, prediction in found
            ]
            c.execute(insert(window_labels), pairs)
            for batch in _batches(c, sorted(pid for _, pid, _ in found)):
                for table in (pending_predictions, pending_labels):
                    c.execute(delete(table).where(table.c.model == model, _among(c, table.c.prediction_id, batch)))
        joined: dict[float, int] = {}
        for key, _, _ in found:  # found is sorted by window key
            joined[key] = joined.get(key, 0) + 1
        return joined

    def window_label_pairs(
        self, model: str, window_key: float, *, conn: Connection | None = None
    ) -> tuple[list[object], list[object]]:
        """The predictions and the labels of a window's joined pairs, in join order (same order in both)."""
        w = window_labels.c
        stmt = select(w.prediction, w.label).where(w.model == model, w.window_key == float(window_key)).order_by(w.id)
        with self._reading("window_label_pairs", conn) as c:
            rows = c.execute(stmt).all()
        return [_unbox(row.prediction) for row in rows], [_unbox(row.label) for row in rows]

    def expire_pending(self, cutoff: float, *, conn: Connection | None = None) -> dict[str, int]:
        """Delete pending predictions and labels that arrived at or before ``cutoff``; return counts per model."""
        expired: Counter[str] = Counter()
        with self._writing("expire_pending", conn) as c:
            for table in (pending_predictions, pending_labels):
                old = table.c.arrived_at <= float(cutoff)
                for model in c.execute(select(table.c.model).where(old).distinct()).scalars().all():
                    stmt = delete(table).where(table.c.model == model, old)
                    expired[model] += int(c.execute(stmt).rowcount)
        return {model: n for model, n in sorted(expired.items()) if n}

    def bound_pending(self, max_pending: int, *, conn: Connection | None = None) -> dict[str, int]:
        """Delete the oldest pending rows (both tables together) beyond ``max_pending``; return counts per model."""
        if max_pending < 0:
            raise StoreError(f"bound_pending: expected max_pending >= 0, got {max_pending}")
        evicted: Counter[str] = Counter()
        with self._writing("bound_pending", conn) as c:
            total = sum(_count(c, table) for table in (pending_predictions, pending_labels))
            if total <= max_pending:
                return {}
            for kind, model, ids in _oldest(c, total - max_pending):
                table = pending_predictions if kind == _PREDICTIONS else pending_labels
                for batch in _batches(c, ids):
                    stmt = delete(table).where(table.c.model == model, _among(c, table.c.prediction_id, batch))
                    evicted[model] += int(c.execute(stmt).rowcount)
        return {model: n for model, n in sorted(evicted.items()) if n}

    def waiting_predictions(self, *, conn: Connection | None = None) -> dict[str, int]:
        """Predictions waiting for their label, per model (``driftd_label_join_pending``)."""
        p = pending_predictions.c
        stmt = select(p.model, func.count()).group_by(p.model)
        with self._reading("waiting_predictions", conn) as c:
            return {model: int(n) for model, n in c.execute(stmt)}

    def pending_counts(self, *, conn: Connection | None = None) -> dict[str, int]:
        """Pending predictions plus pending labels per model (models with none are absent)."""
        both = union_all(select(pending_predictions.c.model), select(pending_labels.c.model)).subquery()
        stmt = select(both.c.model, func.count()).group_by(both.c.model).order_by(both.c.model)
        with self._reading("pending_counts", conn) as c:
            return {model: int(n) for model, n in c.execute(stmt)}


def _checked_id(model: str, prediction_id: str) -> str:
    """``prediction_id`` if the store can key it, else StoreError naming it."""
    if not isinstance(prediction_id, str):
        raise StoreError(f"model={model}: prediction_id must be a string, got {prediction_id!r}")
    if len(prediction_id) > MAX_KEY_LENGTH:
        raise StoreError(
            f"model={model}: prediction_id must have at most {MAX_KEY_LENGTH} characters, "
            f"got {len(prediction_id)} ({prediction_id[:40]!r}...)"
        )
    return prediction_id


def _json_value(model: str, prediction_id: str, value: object) -> list[Any]:
    """``value`` boxed as ``[value]`` for a JSON column (NaN becomes None), or StoreError naming the row.

    The box keeps a bare number's type: SQLite gives a JSON column NUMERIC affinity, which
    would store the text ``1.0`` as the integer 1.
    """
    try:
        return [json_safe(value)]
    except TypeError as exc:
        raise StoreError(f"model={model} prediction_id={prediction_id}: {exc}") from exc


def _unbox(stored: Any) -> object:
    """The value inside a ``[value]`` box written by ``_json_value``."""
    return stored[0]


def _sorted_chunks(rows: Mapping[str, object], size: int = 5000) -> Iterator[list[str]]:
    """Prediction ids in sorted order, in chunks: concurrent writers lock rows in one order (no deadlock cycles)."""
    ids = sorted(rows)
    for first in range(0, len(ids), size):
        yield ids[first:first + size]


def _count(conn: Connection, table: Table) -> int:
    """Rows in ``table``."""
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _oldest(conn: Connection, limit: int) -> Iterable[tuple[str, str, list[str]]]:
    """The ``limit`` oldest pending rows of both tables as (kind, model, prediction ids) groups."""
    p, lab = pending_predictions.c, pending_labels.c
    both = union_all(
        select(literal(_PREDICTIONS, String()).label("kind"), p.model, p.prediction_id, p.arrived_at),
        select(literal(_LABELS, String()).label("kind"), lab.model, lab.prediction_id, lab.arrived_at),
    ).subquery()
    b = both.c
    stmt = select(b.kind, b.model, b.prediction_id).order_by(b.arrived_at, b.kind, b.model, b.prediction_id)
    groups: dict[tuple[str, str], list[str]] = {}
    for kind, model, prediction_id in conn.execute(stmt.limit(limit)):
        groups.setdefault((kind, model), []).append(prediction_id)
    return [(kind, model, ids) for (kind, model), ids in groups.items()]


def _batches(conn: Connection, ids: Sequence[str]) -> Iterable[list[str]]:
    """``ids`` in batches for ``_among``: all at once on PostgreSQL, IN_CHUNK at a time on SQLite."""
    size = len(ids) if conn.dialect.name == "postgresql" else IN_CHUNK
    for i in range(0, len(ids), max(size, 1)):
        yield list(ids[i : i + size])


def _among(conn: Connection, column: ColumnElement[str], ids: list[str]) -> ColumnElement[bool]:
    """``column`` is one of ``ids``: ``= ANY(array)`` on PostgreSQL, ``IN (...)`` on SQLite.

    PostgreSQL plans a long ``IN`` list of parameters badly (about 40x slower here); one array
    parameter keeps the primary-key lookup.
    """
    if conn.dialect.name == "postgresql":
        return column == any_(literal(ids, postgresql.ARRAY(String())))
    return column.in_(ids)
