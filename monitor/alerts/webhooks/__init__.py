"""Retraining webhooks (docs/webhooks.md), the parts that need no store: sign, render, attempt.

``signing`` makes and checks the ``X-Driftd-Signature`` header; ``formats`` turns an alert into
the request a webhook's ``format`` calls for; ``delivery`` sends it once, classifies the answer
and says how long to back off. The dispatcher (outbox, retries across restarts) calls these.
"""

from __future__ import annotations

from monitor.alerts.webhooks.delivery import Attempt, Outcome, attempt, new_session, next_delay, parse_retry_after
from monitor.alerts.webhooks.formats import Request, airflow_run_id, render
from monitor.alerts.webhooks.signing import sign, verify

__all__ = ["Attempt", "Outcome", "Request", "airflow_run_id", "attempt", "new_session", "next_delay", "parse_retry_after",
           "render", "sign", "verify"]
