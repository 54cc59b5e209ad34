"""Alert: takes judged windows and hands on webhook deliveries, at least once.

:mod:`.rules` decides from a model's run of judged windows whether a drift or performance alert
fires (consecutive windows, cooldown) and builds its payload; :mod:`.outbox` keeps that run per
model so the alert is written in the window's own checkpoint; :mod:`.dispatcher` delivers what the
store's outbox holds, with retries, through :mod:`.webhooks` (payload formats, signing, one HTTP
attempt).
"""
