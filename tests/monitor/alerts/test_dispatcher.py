"""The webhook dispatcher against a real HTTP receiver and a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Iterator

import pytest

from monitor.alerts.dispatcher import Dispatcher
from monitor.alerts.rules import Alert
from monitor.alerts.webhooks import verify
from monitor.config import WebhookConfig
from monitor.config.masking import Secret
from monitor.store import Store
from tests.daemon.harness import free_port, wait_for
from tests.fixtures.receiver import Receiver

SECRET = "s3cret"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as opened:
        yield opened


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver().start()
    yield got
    got.stop()


def webhook(url: str, **kw) -> WebhookConfig:
    settings = dict(name="retrain", url=url, secret=Secret(SECRET), timeout_s=2.0, max_attempts=50,
                    retry_initial_s=0.05, retry_max_s=0.4)
    settings.update(kw)
    return WebhookConfig(**settings)


def raise_alerts(store: Store, n: int, webhooks=("retrain",)) -> list[str]:
    ids = []
    for i in range(n):
        alert_id = f"drift:churn:{i * 60}:{(i + 1) * 60}"
        store.add_alert(Alert(alert_id, "drift", "churn", i * 60.0, (i + 1) * 60.0,
                              {"id": alert_id, "kind": "drift", "model": "churn"}), list(webhooks), time.time())
        ids.append(alert_id)
    return ids


def run(store: Store, hooks: dict[str, WebhookConfig]) -> tuple[Dispatcher, Counter]:
    outcomes: Counter = Counter()
    pending: dict[str, int] = {}
    dispatcher = Dispatcher(store, hooks, on_attempt=lambda w, o: outcomes.update([(w, o)]),
                            on_pending=pending.update, rng=random.Random(1))
    dispatcher.pending = pending  # type: ignore[attr-defined]
    return dispatcher.start(), outcomes


def test_a_receiver_that_fails_for_a_while_gets_every_alert_once_accepted(store: Store, receiver: Receiver) -> None:
    opened_at = time.time() + 2.0
    receiver.answer = lambda seen: 503 if time.time() < opened_at else 200
    ids = raise_alerts(store, 5)
    dispatcher, outcomes = run(store, {"retrain": webhook(receiver.url)})
    try:
        wait_for(lambda: len(receiver.accepted) == 5, 20, "all five alerts accepted")
        wait_for(lambda: store.pending_deliveries() == 0, 5, "deliveries recorded")
    finally:
        dispatcher.stop()
    assert sorted(receiver.accepted) == sorted(ids)
    assert outcomes[("retrain", "delivered")] == 5 and outcomes[("retrain", "retried")] >= 5
    for got in receiver.requests:  # every attempt is signed, carries its id, and the same bytes per id
        verify(SECRET, got.body, got.headers["X-Driftd-Signature"])
        assert got.json["id"] == got.headers["Idempotency-Key"] and got.headers["Content-Type"] == "application/json"
        assert got.body == receiver.accepted[got.headers["Idempotency-Key"]]
    assert all(a.state == "delivered" for a in store.list_alerts())
    attempts = store.list_attempts(ids[0])
    assert attempts[-1]["outcome"] == "delivered" and all(a["status"] == 503 for a in attempts[:-1])
    assert dispatcher.pending == {"retrain": 0}  # type: ignore[attr-defined]


def test_a_4xx_fails_at_once_and_stays_visible(store: Store, receiver: Receiver) -> None:
    receiver.answer = lambda seen: 400
    [alert_id] = raise_alerts(store, 1)
    dispatcher, outcomes = run(store, {"retrain": webhook(receiver.url)})
    try:
        wait_for(lambda: store.list_alerts()[0].state == "failed", 10, "the delivery to fail")
    finally:
        dispatcher.stop()
    assert len(receiver.requests) == 1 and outcomes == Counter({("retrain", "failed"): 1})
    [attempt] = store.list_attempts(alert_id)
    assert attempt["status"] == 400 and "400" in attempt["error"]


def test_it_gives_up_after_max_attempts(store: Store, receiver: Receiver) -> None:
    receiver.answer = lambda seen: 500
    raise_alerts(store, 1)
    dispatcher, outcomes = run(store, {"retrain": webhook(receiver.url, max_attempts=3)})
    try:
        wait_for(lambda: store.list_alerts()[0].state == "failed", 10, "the delivery to give up")
    finally:
        dispatcher.stop()
    assert len(receiver.requests) == 3
    assert outcomes == Counter({("retrain", "retried"): 2, ("retrain", "failed"): 1})


def test_retry_after_is_honoured(store: Store, receiver: Receiver) -> None:
    receiver.answer = lambda seen: 429 if not seen else 200
    receiver.headers = {"Retry-After": "2"}
    raise_alerts(store, 1)
    dispatcher, _ = run(store, {"retrain": webhook(receiver.url)})
    try:
        wait_for(lambda: len(receiver.accepted) == 1, 10, "the alert after Retry-After")
    finally:
        dispatcher.stop()
    first, second = receiver.requests
    assert second.at - first.at >= 1.9


def test_a_connection_refused_is_retried_until_the_receiver_is_up(store: Store) -> None:
    raise_alerts(store, 2)
    port = free_port()
    dispatcher, outcomes = run(store, {"retrain": webhook(f"http://127.0.0.1:{port}/hook")})
    late = Receiver()
    try:
        wait_for(lambda: outcomes[("retrain", "retried")] >= 2, 10, "refused attempts")
        late.start(port)
        wait_for(lambda: len(late.accepted) == 2, 10, "both alerts once the receiver is up")
    finally:
        dispatcher.stop()
        if hasattr(late, "server"):
            late.stop()
    assert "connection failed" in store.list_attempts("drift:churn:0:60")[0]["error"]


def test_a_dispatcher_that_dies_before_recording_leaves_the_alert_to_be_sent_again(store: Store,
                                                                                   receiver: Receiver) -> None:
    [alert_id] = raise_alerts(store, 1)
    claimed = store.claim_due(time.time(), lease_s=1.0, limit=10)  # "sent", then the process died
    assert [d.alert_id for d in claimed] == [alert_id]
    dispatcher, _ = run(store, {"retrain": webhook(receiver.url)})
    try:
        wait_for(lambda: len(receiver.accepted) == 1, 10, "the alert sent again after the lease")
    finally:
        dispatcher.stop()
    assert receiver.ids() == [alert_id]


def test_a_delivery_for_a_webhook_no_longer_configured_fails_with_the_reason(store: Store) -> None:
    raise_alerts(store, 1, webhooks=("gone",))
    dispatcher, outcomes = run(store, {})
    try:
        wait_for(lambda: store.list_alerts()[0].state == "failed", 10, "the orphan delivery to fail")
    finally:
        dispatcher.stop()
    assert "no longer configured" in store.list_alerts()[0].deliveries[0]["last_error"]
