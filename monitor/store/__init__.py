"""Store: takes judged windows, open-window state with its offsets, alert rows and reference profiles,
and hands them back after any restart (SQLAlchemy Core, SQLite or PostgreSQL, alembic migrations run on open).

:mod:`.checkpoints` writes window state and offsets (compare-and-set) in the checkpoint's one
transaction; :mod:`.queries` the judged windows; :mod:`.alerts` the outbox and delivery attempts;
:mod:`.labels` the pending label join; :mod:`.profiles` finds or builds the versioned reference
profiles. SQLAlchemy is imported here and nowhere else in the daemon.
"""

from monitor.store.records import ModelStateRecord, ProfileRecord, ShardStateRecord, WindowStateRecord
from monitor.store.store import Store

StoredWindow = WindowStateRecord
"""Alias of WindowStateRecord: the stored state of one open window."""

__all__ = ["ModelStateRecord", "ProfileRecord", "ShardStateRecord", "Store", "StoredWindow", "WindowStateRecord"]
