"""Raise a judged window's alerts into the outbox, inside the caller's transaction.

Used by a checkpoint (when a window closes, and when new labels recompute its performance)
and by ``driftd replay`` (which stores, but never delivers: a running daemon's dispatcher
does). The rules themselves are in ``monitor.alerts.rules``.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

from monitor.alerts.rules import Alert, decide, holds
from monitor.config import ModelConfig
from monitor.judge.results import WindowResult, rfc3339

log = logging.getLogger(__name__)


class Outbox:
    """Decides and writes alerts for one store; caches each model's reference description."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._references: dict[tuple[str, int], dict[str, Any] | None] = {}

    def raise_alerts(self, model: ModelConfig, window: WindowResult, kinds: Sequence[str], now: float,
                     conn: Any) -> list[Alert]:
        """Write the alerts of ``kinds`` that ``window`` raises; return the ones that are new."""
        raised = []
        for kind in kinds:
            if not holds(kind, window, model):  # costs no query for windows that cannot alert
                continue
            need = model.alerts.consecutive_windows - 1
            earlier = (self.store.judged_windows_before(model.name, window.start, need, conn=conn)
                       if need > 0 else [])
            cooldown = model.alerts.cooldown_s
            ends = (self.store.alert_ends(model.name, kind, window.end - cooldown, window.end + cooldown, conn=conn)
                    if cooldown > 0 else [])
            alert = decide(kind, window, model, earlier, ends, reference=self._reference(model.name, window, conn),
                           fired_at=now)
            if alert is not None and self.store.add_alert(alert, model.alerts.webhooks, now, conn=conn):
                log.warning("alert raised id=%s reasons=%d webhooks=%s", alert.id, len(alert.payload["reasons"]),
                            ",".join(model.alerts.webhooks) or "-")
                raised.append(alert)
        return raised

    def _reference(self, model: str, window: WindowResult, conn: Any) -> Mapping[str, Any] | None:
        version = window.reference_version
        if version is None:
            return None
        key = (model, version)
        if key not in self._references:
            record = self.store.get_profile(model, version)
            self._references[key] = (None if record is None else
                                     {"id": record.id, "created_at": rfc3339(record.created_at)})
        return self._references[key]
