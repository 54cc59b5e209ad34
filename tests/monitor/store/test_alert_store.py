"""The outbox in the store (migration 0003) against real SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Iterator

import pytest

from monitor.alerts.rules import Alert
from monitor.store import Store
from monitor.store.alerts import DELIVERED, FAILED, PENDING


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as opened:
        yield opened


def alert(i: int = 0, kind: str = "drift", model: str = "churn") -> Alert:
    start, end = i * 3600.0, (i + 1) * 3600.0
    alert_id = f"{kind}:{model}:{int(start)}:{int(end)}"
    return Alert(alert_id, kind, model, start, end, {"id": alert_id, "kind": kind, "value": 0.1 * i, "nan": float("nan")})


def test_an_alert_is_written_once_with_a_pending_delivery_per_webhook(store: Store) -> None:
    with store.transaction() as conn:
        assert store.add_alert(alert(1), ["a", "b", "a"], 10.0, conn=conn) is True
        assert store.add_alert(alert(1), ["a", "b"], 11.0, conn=conn) is False
    assert store.add_alert(alert(1), ["a"], 12.0) is False
    [record] = store.list_alerts("churn")
    assert record.id == "drift:churn:3600:7200" and record.state == PENDING and record.created_at == 10.0
    assert [d["webhook"] for d in record.deliveries] == ["a", "b"]
    assert store.pending_deliveries("churn") == 2 and store.pending_deliveries("other") == 0
    assert store.alert_ends("churn", "drift", 0.0, 7200.0) == [7200.0]
    assert store.alert_ends("churn", "performance", 0.0, 7200.0) == []


def test_an_alert_rolled_back_with_its_window_is_gone(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.transaction() as conn:
            store.add_alert(alert(1), ["a"], 10.0, conn=conn)
            raise RuntimeError("the checkpoint failed")
    assert store.list_alerts() == [] and store.pending_deliveries() == 0


def test_a_claim_is_a_lease_that_a_second_dispatcher_cannot_take(store: Store) -> None:
    store.add_alert(alert(1), ["a"], 10.0)
    store.add_alert(alert(2), ["a"], 10.0)
    first = store.claim_due(now=20.0, lease_s=30.0, limit=10)
    assert [d.alert_id for d in first] == ["drift:churn:3600:7200", "drift:churn:7200:10800"]
    assert first[0].payload == {"id": "drift:churn:3600:7200", "kind": "drift", "value": 0.1, "nan": None}
    assert store.claim_due(now=21.0, lease_s=30.0, limit=10) == []          # leased
    again = store.claim_due(now=51.0, lease_s=30.0, limit=10)                # lease ran out: due again
    assert [d.alert_id for d in again] == [d.alert_id for d in first] and again[0].attempts == 0
    assert store.next_due() == 81.0


def test_attempts_are_recorded_and_move_the_delivery_on(store: Store) -> None:
    store.add_alert(alert(1), ["a", "b"], 10.0)
    a, b = store.claim_due(now=10.0, lease_s=30.0, limit=10)
    store.record_attempt(a, outcome="retried", state=PENDING, at=11.0, elapsed_s=0.1, status=503,
                         error="HTTP 503 Service Unavailable", next_attempt_at=15.0)
    store.record_attempt(b, outcome="failed", state=FAILED, at=11.0, elapsed_s=0.1, status=400,
                         error="HTTP 400 Bad Request", next_attempt_at=None)
    assert store.list_alerts()[0].state == FAILED
    assert store.delivery_counts() == {"a": {PENDING: 1}, "b": {FAILED: 1}}
    assert store.claim_due(now=14.0, lease_s=30.0, limit=10) == []
    [a2] = store.claim_due(now=15.0, lease_s=30.0, limit=10)
    assert a2.webhook == "a" and a2.attempts == 1
    store.record_attempt(a2, outcome="delivered", state=DELIVERED, at=16.0, elapsed_s=0.1, status=200, error=None,
                         next_attempt_at=None)
    attempts = store.list_attempts("drift:churn:3600:7200")
    assert [(t["webhook"], t["attempt"], t["outcome"], t["status"]) for t in attempts] == [
        ("a", 1, "retried", 503), ("b", 1, "failed", 400), ("a", 2, "delivered", 200)]
    deliveries = {d["webhook"]: d for d in store.list_alerts()[0].deliveries}
    assert deliveries["a"]["state"] == DELIVERED and deliveries["b"]["last_error"] == "HTTP 400 Bad Request"
    assert store.pending_deliveries() == 0 and store.next_due() is None


def test_an_alert_without_webhooks_is_recorded(store: Store) -> None:
    store.add_alert(alert(1), [], 10.0)
    assert store.list_alerts()[0].state == "recorded" and store.claim_due(100.0, 1.0, 10) == []
