"""The outbox: alerts written with the window that raised them, their deliveries and every attempt.

At least once (README "The guarantees"): an alert row commits in the checkpoint (or replay) transaction that judged
its window, together with one ``deliveries`` row per configured webhook; the dispatcher
(``monitor.alerts.dispatcher``) claims due deliveries, posts them and records each attempt. A
delivery is claimed by a compare-and-set that moves its ``next_attempt_at`` past the request's
timeout: a dispatcher that dies after posting and before recording leaves the row due again
once that lease runs out, so the alert is sent again with the same id (at least once).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol, Sequence

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from monitor.store.core import StoreCore
from monitor.store.records import json_safe
from monitor.store.schema import alerts, deliveries, delivery_attempts

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
"""The states of one delivery."""

_ERROR_LENGTH = 1024


class AlertRow(Protocol):
    """What the store writes of an alert (``monitor.alerts.rules.Alert`` is one): its id, window and payload."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def window_start(self) -> float: ...
    @property
    def window_end(self) -> float: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Delivery:
    """One alert due for one webhook, as the dispatcher claimed it."""

    alert_id: str
    webhook: str
    attempts: int
    """Attempts made before this one."""
    body: str
    """The alert's webhook payload (docs/webhooks.md) as stored (JSON text)."""

    @property
    def payload(self) -> dict[str, Any]:
        """The webhook payload (docs/webhooks.md) as a dict."""
        return dict(json.loads(self.body))


@dataclass(frozen=True)
class AlertRecord:
    """A stored alert with the state of its deliveries, for ``driftd status``.

    ``state`` is ``delivered`` when every webhook got it, ``failed`` when a delivery gave up,
    ``pending`` while one is still being tried, and ``recorded`` when the model names no webhook.
    """

    id: str
    kind: str
    model: str
    window_start: float
    window_end: float
    created_at: float
    state: str
    deliveries: tuple[dict[str, Any], ...]


def encode_body(payload: Any) -> str:
    """The JSON text stored (and sent) for a payload: compact, NaN-free, key order kept."""
    return json.dumps(json_safe(payload), separators=(",", ":"), allow_nan=False)


class AlertStore(StoreCore):
    """Alerts, deliveries and delivery attempts."""

    def add_alert(self, alert: AlertRow, webhooks: Sequence[str], now: float, *, conn: Connection | None = None) -> bool:
        """Write ``alert`` and a pending delivery per webhook unless its id exists; True when it was new."""
        with self._writing(f"add_alert id={alert.id}", conn) as c:
            if c.execute(select(alerts.c.id).where(alerts.c.id == alert.id)).first() is not None:
                return False
            row = {"id": alert.id, "kind": alert.kind, "model": alert.model, "window_start": alert.window_start,
                   "window_end": alert.window_end, "body": encode_body(alert.payload), "created_at": now}
            created = c.execute(_insert_new(c, alerts).values(**row)).rowcount
            if not created:  # another daemon raised it a moment ago
                return False
            for webhook in dict.fromkeys(webhooks):
                c.execute(insert(deliveries).values(
                    alert_id=alert.id, webhook=webhook, state=PENDING, attempts=0, next_attempt_at=now,
                    updated_at=now))
            return True

    def alert_ends(self, model: str, kind: str, low: float, high: float, *,
                   conn: Connection | None = None) -> list[float]:
        """Window ends of ``model``'s ``kind`` alerts within [low, high] (for the cooldown)."""
        a = alerts.c
        stmt = select(a.window_end).where(a.model == model, a.kind == kind, a.window_end >= low, a.window_end <= high)
        with self._reading("alert_ends", conn) as c:
            return [float(end) for end in c.execute(stmt).scalars()]

    # --- the dispatcher's side -----------------------------------------------------------

    def claim_due(self, now: float, lease_s: float, limit: int, webhooks: Iterable[str] | None = None) -> list[Delivery]:
        """Claim up to ``limit`` pending deliveries due by ``now``, oldest first, for ``lease_s`` seconds.

        Each is claimed by compare-and-set on its ``next_attempt_at``; one another dispatcher
        claimed first is skipped.
        """
        d, a = deliveries.c, alerts.c
        stmt = (select(d.alert_id, d.webhook, d.attempts, d.next_attempt_at, a.body)
                .join(alerts, a.id == d.alert_id)
                .where(d.state == PENDING, d.next_attempt_at <= now)
                .order_by(d.next_attempt_at, d.alert_id).limit(limit))
        if webhooks is not None:
            stmt = stmt.where(d.webhook.in_(list(webhooks)))
        claimed = []
        with self._writing("claim_due", None) as c:
            for row in c.execute(stmt).all():
                moved = c.execute(update(deliveries).where(
                    d.alert_id == row.alert_id, d.webhook == row.webhook, d.state == PENDING,
                    d.next_attempt_at == row.next_attempt_at,
                ).values(next_attempt_at=now + lease_s, updated_at=now)).rowcount
                if moved:
                    claimed.append(Delivery(row.alert_id, row.webhook, int(row.attempts), row.body))
        return claimed

    def record_attempt(self, delivery: Delivery, *, outcome: str, state: str, at: float, elapsed_s: float,
                       status: int | None, error: str | None, next_attempt_at: float | None) -> None:
        """Record one attempt and move the delivery on: ``state`` pending (due at ``next_attempt_at``),
        delivered or failed."""
        attempt = delivery.attempts + 1
        error = None if error is None else error[:_ERROR_LENGTH]
        d = deliveries.c
        with self._writing(f"record_attempt id={delivery.alert_id}", None) as c:
            c.execute(insert(delivery_attempts).values(
                alert_id=delivery.alert_id, webhook=delivery.webhook, attempt=attempt, at=at, outcome=outcome,
                status=status, error=error, elapsed_s=elapsed_s))
            c.execute(update(deliveries).where(d.alert_id == delivery.alert_id, d.webhook == delivery.webhook).values(
                state=state, attempts=attempt, last_status=status, last_error=error, updated_at=at,
                next_attempt_at=next_attempt_at if next_attempt_at is not None else at,
                delivered_at=at if state == DELIVERED else None))

    def give_up(self, delivery: Delivery, reason: str, at: float) -> None:
        """Fail a delivery without an attempt (e.g. its webhook is no longer configured)."""
        d = deliveries.c
        with self._writing(f"give_up id={delivery.alert_id}", None) as c:
            c.execute(update(deliveries).where(d.alert_id == delivery.alert_id, d.webhook == delivery.webhook)
                      .values(state=FAILED, last_error=reason[:_ERROR_LENGTH], updated_at=at))

    def next_due(self) -> float | None:
        """When the earliest pending delivery is due (None: nothing pending)."""
        d = deliveries.c
        with self._reading("next_due") as c:
            value = c.execute(select(func.min(d.next_attempt_at)).where(d.state == PENDING)).scalar()
        return None if value is None else float(value)

    def delivery_counts(self) -> dict[str, dict[str, int]]:
        """Per webhook, how many deliveries are in each state."""
        d = deliveries.c
        out: dict[str, dict[str, int]] = {}
        with self._reading("delivery_counts") as c:
            for webhook, state, n in c.execute(select(d.webhook, d.state, func.count()).group_by(d.webhook, d.state)):
                out.setdefault(webhook, {})[state] = int(n)
        return out

    # --- reading, for status and tests ---------------------------------------------------

    def list_alerts(self, model: str | None = None, limit: int | None = None) -> list[AlertRecord]:
        """Stored alerts, newest window first, with their deliveries."""
        a, d = alerts.c, deliveries.c
        stmt = select(alerts).order_by(a.window_end.desc(), a.id)
        if model is not None:
            stmt = stmt.where(a.model == model)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._reading("list_alerts") as c:
            rows = c.execute(stmt).mappings().all()
            ids = [row["id"] for row in rows]
            found: dict[str, list[dict[str, Any]]] = {}
            for i in range(0, len(ids), 500):
                for row in c.execute(select(deliveries).where(d.alert_id.in_(ids[i:i + 500]))
                                     .order_by(d.webhook)).mappings():
                    found.setdefault(row["alert_id"], []).append({
                        "webhook": row["webhook"], "state": row["state"], "attempts": int(row["attempts"]),
                        "last_status": row["last_status"], "last_error": row["last_error"]})
        return [AlertRecord(row["id"], row["kind"], row["model"], float(row["window_start"]),
                            float(row["window_end"]), float(row["created_at"]),
                            _state(found.get(row["id"], [])), tuple(found.get(row["id"], [])))
                for row in rows]

    def pending_deliveries(self, model: str | None = None) -> int:
        """How many deliveries (of ``model``'s alerts) are still pending."""
        a, d = alerts.c, deliveries.c
        stmt = select(func.count()).select_from(deliveries.join(alerts, a.id == d.alert_id)).where(d.state == PENDING)
        if model is not None:
            stmt = stmt.where(a.model == model)
        with self._reading("pending_deliveries") as c:
            return int(c.execute(stmt).scalar() or 0)

    def list_attempts(self, alert_id: str) -> list[dict[str, Any]]:
        """Every attempt to deliver ``alert_id``, in order."""
        t = delivery_attempts.c
        stmt = select(delivery_attempts).where(t.alert_id == alert_id).order_by(t.id)
        with self._reading("list_attempts") as c:
            return [dict(row) for row in c.execute(stmt).mappings()]


def _state(found: Sequence[dict[str, Any]]) -> str:
    states = {row["state"] for row in found}
    if not states:
        return "recorded"
    if FAILED in states:
        return FAILED
    return PENDING if PENDING in states else DELIVERED


def _insert_new(conn: Connection, table: Any) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


__all__ = ["AlertRecord", "AlertStore", "Delivery", "DELIVERED", "FAILED", "PENDING", "encode_body"]
