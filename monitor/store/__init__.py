"""driftd's SQL store (SQLAlchemy Core, SQLite or PostgreSQL, alembic migrations run on open)."""

from monitor.store.records import ModelStateRecord, ProfileRecord, ShardStateRecord, WindowStateRecord
from monitor.store.store import Store

StoredWindow = WindowStateRecord
"""Alias of WindowStateRecord: the stored state of one open window."""

__all__ = ["ModelStateRecord", "ProfileRecord", "ShardStateRecord", "Store", "StoredWindow", "WindowStateRecord"]
