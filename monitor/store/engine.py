"""Engines for the store: URL normalisation, SQLite settings, transaction control and migrations.

SQLite runs in WAL mode with foreign keys on and a busy timeout. The sqlite3 driver's own
(legacy) transaction handling is switched off and SQLAlchemy emits ``BEGIN`` itself, so
reads are repeatable, DDL is transactional and write transactions take the write lock up
front (``BEGIN IMMEDIATE``) instead of failing when a read turns into a write.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from monitor.errors import StoreError

log = logging.getLogger(__name__)

SUPPORTED_BACKENDS = ("sqlite", "postgresql")
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
POSTGRES_CONNECT_TIMEOUT_S = 10
MIGRATION_LOCK_KEY = 0x64726966_74640001  # "driftd" + 1: pg advisory lock held while migrating

WRITE_OPTION = "driftd_write"
"""Execution option marking a write transaction (SQLite then begins with BEGIN IMMEDIATE)."""


def normalize_url(url: str) -> URL:
    """Parse a storage URL; ``postgresql://`` and ``postgres://`` get the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"storage.url: expected a database URL like sqlite:///driftd.db, got {url!r}") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def masked(url: URL) -> str:
    """The URL as text with its password replaced by ``***``."""
    return url.render_as_string(hide_password=True)


def create_store_engine(url: URL) -> Engine:
    """Create the engine for ``url``, configured for the store; raise StoreError if unsupported."""
    backend = url.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise StoreError(f"{masked(url)}: unsupported database {backend!r}; expected one of {SUPPORTED_BACKENDS}")
    try:
        if backend == "sqlite":
            engine = create_engine(url)
            _configure_sqlite(engine)
            return engine
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"{masked(url)}: cannot create a database engine: {exc}") from exc


def _configure_sqlite(engine: Engine) -> None:
    """Set the pragmas on every new SQLite connection and let SQLAlchemy emit BEGIN."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver no longer BEGINs; _on_begin does
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_MS)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def alembic_config() -> Config:
    """An alembic Config for the store's migrations; no ini file is needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest migration revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships 0001
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, url: URL) -> None:
    """Run ``alembic upgrade head`` on the database behind ``engine`` in one transaction.

    On PostgreSQL an advisory lock serialises daemons that start together. On SQLite foreign
    keys are off while migrating (a batch table rebuild would otherwise cascade-delete child
    rows) and checked before the commit.
    """
    config = alembic_config()
    write_engine = engine.execution_options(**{WRITE_OPTION: True})
    try:
        with write_engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                _upgrade_sqlite(conn, config, url)
            else:
                with conn.begin():
                    conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
    except CommandError as exc:
        raise StoreError(f"{masked(url)}: cannot migrate the schema: {exc}") from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"{masked(url)}: cannot migrate the schema: {_cause(exc)}") from exc
    log.debug("schema at head url=%s revision=%s", masked(url), head_revision())


def _upgrade_sqlite(conn: Connection, config: Config, url: URL) -> None:
    """Migrate a SQLite database with foreign keys off, then check them before committing."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys = OFF")  # only effective outside a transaction
    try:
        with conn.begin():
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise StoreError(f"{masked(url)}: migration left broken foreign keys: {broken[:5]}")
    finally:
        raw.execute("PRAGMA foreign_keys = ON")


def check_reachable(engine: Engine, url: URL) -> None:
    """Open one connection or raise StoreError naming the (masked) URL and the cause."""
    try:
        with engine.connect() as conn:
            conn.execute(select(1))
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot reach the store at {masked(url)}: {_cause(exc)}") from exc


def _cause(exc: SQLAlchemyError) -> str:
    """The driver's message without SQLAlchemy's background link."""
    original = getattr(exc, "orig", None)
    return str(original if original is not None else exc).strip()
