"""Shared pytest fixtures. Each fixture says what it isolates and how it cleans up."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import pytest

pytest_plugins = ["tests.fixtures.kafka"]

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POSTGRES_START_HINT = (
    "PostgreSQL must run at 127.0.0.1:5432 (trust auth, user postgres) for the storage tests; "
    "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for a fresh, empty database; each storage test runs once per backend.

    SQLite: a file in the test's tmp_path. PostgreSQL: a database ``driftd_test_<hex>``
    created for this test and dropped WITH (FORCE) afterwards. An unreachable PostgreSQL
    fails the test; it is never skipped.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/driftd.db"
        return
    yield from _postgres_database()


def _postgres_database() -> Iterator[str]:
    """Create a uniquely named PostgreSQL database, yield its URL, drop it."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    name = f"driftd_test_{uuid.uuid4().hex}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    quoted = admin.dialect.identifier_preparer.quote(name)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(f"{POSTGRES_START_HINT}\ncause: {exc.orig}", pytrace=False)
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        admin.dispose()
