"""Alembic environment for the driftd store.

At runtime ``monitor.store.engine.upgrade`` passes an open connection in
``config.attributes["connection"]``; migrations then run inside the caller's transaction.
For development (``alembic -c monitor/store/alembic.ini revision -m "..."``) the URL comes
from ``DRIFTD_STORAGE_URL`` or the ini's ``sqlalchemy.url``.
"""

from __future__ import annotations

import os

from alembic import context
from alembic.config import Config
from sqlalchemy import Connection, create_engine

from monitor.store.engine import normalize_url
from monitor.store.schema import metadata

target_metadata = metadata


def _config() -> Config:
    """The alembic Config of the running command."""
    return context.config


def _run(connection: Connection) -> None:
    """Configure the context on ``connection`` and run the pending migrations."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit the migrations as SQL text (``alembic upgrade head --sql``)."""
    context.configure(
        url=_development_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run on the connection handed in by the store, or on a development database."""
    connection = _config().attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_development_url())
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


def _development_url() -> str:
    """The database URL for command-line use of alembic."""
    url = os.environ.get("DRIFTD_STORAGE_URL") or _config().get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set DRIFTD_STORAGE_URL or sqlalchemy.url in the alembic ini")
    return normalize_url(url).render_as_string(hide_password=False)


def _inside_alembic() -> bool:
    """True when alembic runs this file (not when a tool such as pytest merely imports it)."""
    try:
        context.config
    except AttributeError:
        return False
    return True


if _inside_alembic():
    if context.is_offline_mode():
        run_migrations_offline()
    else:
        run_migrations_online()
