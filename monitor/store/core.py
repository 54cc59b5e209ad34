"""The Store's foundation: opening, closing, and the transaction and error plumbing every part shares.

``StoreCore`` holds the engine. The parts of the Store (``store.py``: profiles and closed
windows; ``checkpoints.py``: offsets and open-window, shard and model state; ``labels.py``:
label joins) build on it, and ``Store`` combines them.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from types import TracebackType
from typing import Iterator, TypeVar

from sqlalchemy import Connection, Engine, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import StoreError
from monitor.store import engine as engines

log = logging.getLogger(__name__)

_S = TypeVar("_S", bound="StoreCore")  # typing.Self needs Python 3.11; driftd supports 3.10


class StoreCore:
    """An open database: lifecycle, transactions, and StoreErrors that name the masked URL."""

    def __init__(self, engine: Engine, url: URL) -> None:
        """Wrap an engine made by ``monitor.store.engine``; use ``Store.open`` instead."""
        self._engine = engine
        self._writer = engine.execution_options(**{engines.WRITE_OPTION: True})
        # reads of several tables see one snapshot (SQLite's BEGIN already gives one in WAL mode)
        self._reader = (
            engine.execution_options(isolation_level="REPEATABLE READ")
            if engine.dialect.name == "postgresql"
            else engine
        )
        self._url = url
        self._closed = False

    # --- lifecycle -----------------------------------------------------------------------

    @classmethod
    def open(cls: type[_S], url: str, *, migrate: bool = True) -> _S:
        """Connect to ``url`` and, unless ``migrate`` is False, upgrade its schema to head.

        Raises StoreError naming the URL (password masked) and the cause when the database
        is unreachable, unsupported or cannot be migrated.
        """
        parsed = engines.normalize_url(url)
        engine = engines.create_store_engine(parsed)
        try:
            engines.check_reachable(engine, parsed)
            if migrate:
                engines.upgrade(engine, parsed)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, parsed)

    @property
    def url(self) -> str:
        """The database URL with its password masked (safe to log)."""
        return engines.masked(self._url)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection; the store cannot be used afterwards."""
        self._closed = True
        self._engine.dispose()

    def ping(self) -> bool:
        """True when a trivial query succeeds now (for ``/readyz``); never raises."""
        if self._closed:
            return False
        try:
            with self._engine.connect() as conn:
                conn.execute(select(1))
        except SQLAlchemyError as exc:
            log.warning("store ping failed url=%s error=%s", self.url, exc.__class__.__name__)
            return False
        return True

    def __enter__(self: _S) -> _S:
        """Use the store in a ``with`` block; it is closed at the end."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the store."""
        self.close()

    def __repr__(self) -> str:
        """The class and the masked URL."""
        return f"{type(self).__name__}({self.url!r})"

    # --- transactions --------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Yield a connection in a write transaction; commit on success, roll back on error.

        Pass it as ``conn=`` to the write methods so that their writes commit together. Any
        exception raised inside (a StaleOwnerError included) rolls back everything written.
        """
        self._check_open()
        try:
            with self._writer.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self._error("transaction", exc) from exc

    @contextmanager
    def _writing(self, action: str, conn: Connection | None) -> Iterator[Connection]:
        """The caller's connection, or a fresh write transaction; database errors become StoreError."""
        self._check_open()
        try:
            if conn is not None:
                yield conn
            else:
                with self._writer.begin() as own:
                    yield own
        except SQLAlchemyError as exc:
            raise self._error(action, exc) from exc

    @contextmanager
    def _reading(self, action: str, conn: Connection | None = None) -> Iterator[Connection]:
        """The caller's connection, or one for a consistent read; database errors become StoreError."""
        self._check_open()
        try:
            if conn is not None:
                yield conn
            else:
                with self._reader.connect() as own:
                    yield own
        except SQLAlchemyError as exc:
            raise self._error(action, exc) from exc

    def _check_open(self) -> None:
        """Raise StoreError when the store was closed."""
        if self._closed:
            raise StoreError(f"store {self.url} is closed")

    def _error(self, action: str, exc: SQLAlchemyError) -> StoreError:
        """A StoreError naming the action, the masked URL and the driver's message."""
        cause = getattr(exc, "orig", None) or exc
        return StoreError(f"{action} failed on {self.url}: {str(cause).strip()}")
