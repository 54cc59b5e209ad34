"""driftd's SQL store (SQLAlchemy Core, SQLite or PostgreSQL, alembic migrations run on open)."""

from monitor.store.records import ProfileRecord, WindowStateRecord
from monitor.store.store import Store

StoredWindow = WindowStateRecord
"""Alias of WindowStateRecord: the stored state of one open window."""

__all__ = ["ProfileRecord", "Store", "StoredWindow", "WindowStateRecord"]
