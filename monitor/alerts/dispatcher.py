"""The webhook dispatcher: delivers the outbox's alerts at least once, across restarts (README "The guarantees": every alert is delivered at least once).

A thread of the daemon, apart from the poll loop so that a slow receiver never holds back
consumption. Each pass claims the deliveries that are due (``AlertStore.claim_due``: a lease
of the webhook's timeout plus a margin, so a dispatcher killed mid-request leaves them due
again), posts each (``monitor.alerts.webhooks``), and records the attempt:

- delivered: done;
- retry (connection error, timeout, 408, 429, 5xx): due again after exponential backoff with
  full jitter, at least the server's ``Retry-After``; after ``max_attempts`` attempts it fails;
- failed (any other 4xx, a redirect): given up at once.

A failed delivery stays in the store, visible in ``driftd status`` and counted in
``driftd_webhook_deliveries_total{outcome="failed"}``. A delivery whose webhook is no longer in
the config fails with that reason.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any, Callable, Mapping

from monitor.alerts.webhooks import Outcome, attempt, new_session, next_delay, render
from monitor.config import WebhookConfig
from monitor.store.alerts import DELIVERED, FAILED, PENDING, Delivery

log = logging.getLogger(__name__)

LEASE_MARGIN_S = 5.0
"""A claimed delivery becomes due again this long after its request's timeout."""

IDLE_WAIT_S = 1.0
"""Longest sleep between passes when nothing is due (new alerts also wake the dispatcher)."""

BATCH = 50
"""Deliveries claimed per pass."""


class Dispatcher:
    """Delivers due alerts from ``store`` to ``webhooks``; ``start()`` runs it in a daemon thread.

    ``on_attempt(webhook, outcome)`` is called after each recorded attempt with ``delivered``,
    ``retried`` or ``failed`` (for ``driftd_webhook_deliveries_total``); ``on_pending(counts)``
    after each pass with the pending deliveries per webhook (for ``driftd_webhook_pending``).
    """

    def __init__(self, store: Any, webhooks: Mapping[str, WebhookConfig], *,
                 on_attempt: Callable[[str, str], None] | None = None,
                 on_pending: Callable[[Mapping[str, int]], None] | None = None,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.webhooks = dict(webhooks)
        self.on_attempt = on_attempt or (lambda webhook, outcome: None)
        self.on_pending = on_pending or (lambda counts: None)
        self.rng = rng or random.Random()
        self.clock = clock
        self.session = new_session()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> "Dispatcher":
        """Run passes in a background thread until ``stop()``."""
        self._thread = threading.Thread(target=self._run, name="driftd-dispatcher", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Run a pass now (new alerts were committed)."""
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the request in flight (recording it) and stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.session.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
                wait = self._until_due()
            except Exception:  # the store may be briefly unreachable: log, back off, go on
                self.errors += 1
                log.exception("webhook dispatcher pass failed; retrying in %.0fs", IDLE_WAIT_S)
                wait = IDLE_WAIT_S
            self._wake.wait(wait)
            self._wake.clear()

    def _until_due(self) -> float:
        due = self.store.next_due()
        if due is None:
            return IDLE_WAIT_S
        return min(IDLE_WAIT_S, max(0.0, due - self.clock()))

    # --- one pass ------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim and attempt every delivery due now; return how many attempts were made."""
        made = 0
        while not self._stop.is_set():
            now = self.clock()
            lease = max((w.timeout_s for w in self.webhooks.values()), default=5.0) + LEASE_MARGIN_S
            due = self.store.claim_due(now, lease, BATCH)
            for delivery in due:
                if self._stop.is_set():
                    break
                self._deliver(delivery)
                made += 1
            if len(due) < BATCH:
                break
        self._report_pending()
        return made

    def _deliver(self, delivery: Delivery) -> None:
        webhook = self.webhooks.get(delivery.webhook)
        now = self.clock()
        if webhook is None:
            reason = f"webhook {delivery.webhook!r} is no longer configured"
            log.error("delivery failed id=%s webhook=%s: %s", delivery.alert_id, delivery.webhook, reason)
            self.store.give_up(delivery, reason, now)
            self.on_attempt(delivery.webhook, "failed")
            return
        request = render(webhook, delivery.payload, now=now)
        result = attempt(self.session, webhook, request, webhook.timeout_s, now=now)
        made = delivery.attempts + 1
        at = self.clock()
        if result.outcome is Outcome.DELIVERED:
            state, outcome, next_at = DELIVERED, "delivered", None
            log.info("alert delivered id=%s webhook=%s status=%s attempt=%d", delivery.alert_id, webhook.name,
                     result.status, made)
        elif result.outcome is Outcome.RETRY and made < webhook.max_attempts:
            delay = next_delay(made, result.retry_after_s, self.rng, webhook.retry_initial_s, webhook.retry_max_s)
            state, outcome, next_at = PENDING, "retried", at + delay
            log.warning("alert delivery will be retried id=%s webhook=%s attempt=%d/%d in %.1fs: %s",
                        delivery.alert_id, webhook.name, made, webhook.max_attempts, delay, result.error)
        else:
            state, outcome, next_at = FAILED, "failed", None
            why = result.error if result.outcome is Outcome.FAILED else f"gave up after {made} attempts: {result.error}"
            log.error("alert delivery failed id=%s webhook=%s attempt=%d: %s", delivery.alert_id, webhook.name,
                      made, why)
        self.store.record_attempt(delivery, outcome=outcome, state=state, at=at, elapsed_s=result.elapsed_s,
                                  status=result.status, error=result.error, next_attempt_at=next_at)
        self.on_attempt(webhook.name, outcome)

    def _report_pending(self) -> None:
        counts = self.store.delivery_counts()
        pending = {name: counts.get(name, {}).get(PENDING, 0) for name in self.webhooks}
        for name, states in counts.items():  # deliveries of webhooks no longer configured
            pending.setdefault(name, states.get(PENDING, 0))
        self.on_pending(pending)
