"""Core statements behind the Store: upserts (one row or many), and WindowResults written to and rebuilt from rows.

A WindowResult is spread over four tables: ``windows`` (one row), ``window_features`` (one
row per FeatureResult, the prediction flagged ``is_prediction``), ``feature_statistics``
(one row per statistic of a FeatureResult) and ``window_reasons`` (one row per Reason).
Every function here takes an open Connection and leaves the transaction to its caller.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterator, Mapping, Sequence

from sqlalchemy import ColumnElement, Connection, CursorResult, RowMapping, Table, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from monitor.judge.results import FeatureResult, Reason, WindowResult
from monitor.store.records import from_column, json_safe, to_column
from monitor.store.schema import feature_statistics, window_features, window_reasons, windows

IN_CHUNK = 500
"""Window ids per ``IN (...)`` when loading child rows (keeps statements small)."""

_ChildKey = tuple[int, str, bool]  # (window_id, feature name, is_prediction)


def upsert(
    conn: Connection,
    table: Table,
    values: Mapping[str, Any],
    keys: Sequence[str],
    returning: ColumnElement[Any] | None = None,
) -> CursorResult[Any]:
    """INSERT ``values`` into ``table``, or UPDATE the other columns of the row matching ``keys``."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).values(**values)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(**values)
    else:  # Store.open rejects other databases; this guards direct use
        raise ValueError(f"upsert: unsupported dialect {dialect!r}")
    updates = {name: stmt.excluded[name] for name in values if name not in keys}
    stmt = stmt.on_conflict_do_update(index_elements=[table.c[k] for k in keys], set_=updates)
    if returning is not None:
        stmt = stmt.returning(returning)
    return conn.execute(stmt)


_BULK_ROWS = 5000


def bulk_upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> None:
    """Upsert many rows with one executemany; ``rows`` share their columns and hold each key once."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table)
    else:  # Store.open rejects other databases; this guards direct use
        raise ValueError(f"bulk_upsert: unsupported dialect {dialect!r}")
    updates = {name: stmt.excluded[name] for name in rows[0] if name not in keys}
    stmt = stmt.on_conflict_do_update(index_elements=[table.c[k] for k in keys], set_=updates)
    rows = list(rows)
    for first in range(0, len(rows), _BULK_ROWS):  # bounded driver-side parameter buffers
        conn.execute(stmt, rows[first:first + _BULK_ROWS])


# --- writing -------------------------------------------------------------------------------


def write_window(conn: Connection, result: WindowResult) -> int:
    """Upsert ``result`` by (model, start, end), replacing all its child rows; return its id."""
    row = {
        "model": result.model,
        "start": float(result.start),
        "end": float(result.end),
        "events": int(result.events),
        "judged": bool(result.judged),
        "drift_share": to_column(result.drift_share),
        "drifted": result.drifted,
        "reference_version": result.reference_version,
        "model_version": result.model_version,
        "labels": int(result.labels),
        "performance": json_safe(dict(result.performance)),
        "closed_at": to_column(result.closed_at),
    }
    window_id = int(upsert(conn, windows, row, ("model", "start", "end"), windows.c.id).scalar_one())
    for child in (window_reasons, feature_statistics, window_features):
        conn.execute(delete(child).where(child.c.window_id == window_id))

    owned = [(feature, False) for feature in result.features]
    if result.prediction is not None:
        owned.append((result.prediction, True))
    feature_rows = [_feature_row(window_id, f, is_pred, i) for i, (f, is_pred) in enumerate(owned)]
    stat_rows = [row for f, is_pred in owned for row in _statistic_rows(window_id, f, is_pred)]
    reason_rows = [
        _reason_row(window_id, seq, owner, is_pred, reason)
        for seq, (owner, is_pred, reason) in enumerate(
            (f.name, is_pred, reason) for f, is_pred in owned for reason in f.reasons
        )
    ]
    children = ((window_features, feature_rows), (feature_statistics, stat_rows), (window_reasons, reason_rows))
    for table, rows in children:
        if rows:
            conn.execute(insert(table), rows)
    return window_id


def _feature_row(window_id: int, feature: FeatureResult, is_prediction: bool, ordinal: int) -> dict[str, Any]:
    """The ``window_features`` row of one FeatureResult."""
    return {
        "window_id": window_id,
        "feature": feature.name,
        "is_prediction": is_prediction,
        "ordinal": ordinal,
        "kind": feature.kind,
        "missing_ratio": to_column(feature.missing_ratio),
        "drifted": feature.drifted,
    }


def _statistic_rows(window_id: int, feature: FeatureResult, is_prediction: bool) -> Iterator[dict[str, Any]]:
    """One ``feature_statistics`` row per statistic that has a value, a p-value or both."""
    names = list(feature.values) + [name for name in feature.pvalues if name not in feature.values]
    for ordinal, name in enumerate(names):
        yield {
            "window_id": window_id,
            "feature": feature.name,
            "is_prediction": is_prediction,
            "statistic": name,
            "ordinal": ordinal,
            "has_value": name in feature.values,
            "value": to_column(feature.values.get(name)),
            "has_pvalue": name in feature.pvalues,
            "pvalue": to_column(feature.pvalues.get(name)),
        }


def _reason_row(window_id: int, seq: int, owner: str, is_prediction: bool, reason: Reason) -> dict[str, Any]:
    """The ``window_reasons`` row of one Reason held by the FeatureResult named ``owner``."""
    return {
        "window_id": window_id,
        "seq": seq,
        "attached_to": owner,
        "is_prediction": is_prediction,
        "feature": reason.feature,
        "statistic": reason.statistic,
        "value": to_column(reason.value),
        "threshold": to_column(reason.threshold),
    }


# --- reading -------------------------------------------------------------------------------


def read_windows(
    conn: Connection, model: str, *, limit: int | None = None, judged_only: bool = False,
    end_at_most: float | None = None,
) -> list[WindowResult]:
    """The stored windows of ``model`` (ending at or before ``end_at_most``), newest (largest end) first."""
    stmt = select(windows).where(windows.c.model == model)
    if judged_only:
        stmt = stmt.where(windows.c.judged.is_(True))
    if end_at_most is not None:
        stmt = stmt.where(windows.c.end <= end_at_most)
    stmt = stmt.order_by(windows.c.end.desc(), windows.c.start.desc(), windows.c.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = conn.execute(stmt).mappings().all()
    parts = _read_features(conn, [int(row["id"]) for row in rows])
    results = []
    for row in rows:
        features, prediction = parts.get(int(row["id"]), ((), None))
        results.append(_window_from_row(row, features, prediction))
    return results


def _window_from_row(
    row: RowMapping, features: tuple[FeatureResult, ...], prediction: FeatureResult | None
) -> WindowResult:
    """A WindowResult from its ``windows`` row and its rebuilt FeatureResults."""
    performance = row["performance"] or {}
    return WindowResult(
        model=row["model"],
        start=float(row["start"]),
        end=float(row["end"]),
        events=int(row["events"]),
        judged=bool(row["judged"]),
        drift_share=None if row["drift_share"] is None else float(row["drift_share"]),
        drifted=None if row["drifted"] is None else bool(row["drifted"]),
        reference_version=row["reference_version"],
        features=features,
        prediction=prediction,
        performance={str(k): from_column(v) for k, v in performance.items()},
        labels=int(row["labels"]),
        model_version=row["model_version"],
        closed_at=None if row["closed_at"] is None else float(row["closed_at"]),
    )


def _read_features(
    conn: Connection, window_ids: Sequence[int]
) -> dict[int, tuple[tuple[FeatureResult, ...], FeatureResult | None]]:
    """Per window id: its features in stored order and its prediction result."""
    statistics: dict[_ChildKey, tuple[dict[str, float], dict[str, float]]] = defaultdict(lambda: ({}, {}))
    reasons: dict[_ChildKey, list[Reason]] = defaultdict(list)
    features: dict[int, list[FeatureResult]] = defaultdict(list)
    predictions: dict[int, FeatureResult] = {}
    for chunk in _chunks(window_ids):
        s = feature_statistics.c
        for row in conn.execute(
            select(feature_statistics).where(s.window_id.in_(chunk)).order_by(s.window_id, s.ordinal)
        ).mappings():
            values, pvalues = statistics[(row["window_id"], row["feature"], bool(row["is_prediction"]))]
            if row["has_value"]:
                values[row["statistic"]] = from_column(row["value"])
            if row["has_pvalue"]:
                pvalues[row["statistic"]] = from_column(row["pvalue"])
        r = window_reasons.c
        reason_stmt = select(window_reasons).where(r.window_id.in_(chunk)).order_by(r.window_id, r.seq)
        for row in conn.execute(reason_stmt).mappings():
            reasons[(row["window_id"], row["attached_to"], bool(row["is_prediction"]))].append(
                Reason(row["feature"], row["statistic"], from_column(row["value"]), from_column(row["threshold"]))
            )
        f = window_features.c
        for row in conn.execute(
            select(window_features).where(f.window_id.in_(chunk)).order_by(f.window_id, f.ordinal)
        ).mappings():
            key: _ChildKey = (row["window_id"], row["feature"], bool(row["is_prediction"]))
            values, pvalues = statistics.get(key, ({}, {}))
            result = FeatureResult(
                name=row["feature"],
                kind=row["kind"],
                values=values,
                pvalues=pvalues,
                missing_ratio=from_column(row["missing_ratio"]),
                drifted=None if row["drifted"] is None else bool(row["drifted"]),
                reasons=tuple(reasons.get(key, ())),
            )
            if key[2]:
                predictions[key[0]] = result
            else:
                features[key[0]].append(result)
    return {wid: (tuple(features.get(wid, ())), predictions.get(wid)) for wid in window_ids}


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    """``ids`` in lists of at most IN_CHUNK."""
    for i in range(0, len(ids), IN_CHUNK):
        yield list(ids[i : i + IN_CHUNK])
