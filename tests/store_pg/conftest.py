"""PostgreSQL for the history-store tests: the server on 127.0.0.1:5432 (trust auth, database
``test``; ``CERES_TEST_PG_DSN`` names another). Each test gets a schema of its own, dropped
afterwards. An unreachable server fails these tests, saying so, unless
``CERES_SKIP_POSTGRES=1`` (then they are skipped)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.store_pg.stores import PgSchema

DSN = os.environ.get("CERES_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def _unavailable(why: str) -> None:
    if os.environ.get("CERES_SKIP_POSTGRES") == "1":
        pytest.skip(f"PostgreSQL tests skipped (CERES_SKIP_POSTGRES=1): {why}")
    pytest.fail(f"{why}\nThese tests need PostgreSQL 15 at {DSN} (set CERES_TEST_PG_DSN for another); start "
                "it (e.g. pg_ctlcluster 15 main start), or set CERES_SKIP_POSTGRES=1 to skip them", pytrace=False)


@pytest.fixture
def pg() -> Iterator[PgSchema]:
    """A fresh schema in the test database, dropped after the test."""
    try:
        import psycopg
    except ImportError as exc:
        psycopg, why = None, f"psycopg is not installed ({exc})"
    admin = None
    if psycopg is not None:
        try:
            admin = psycopg.connect(DSN, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            why = f"PostgreSQL is unreachable at {DSN}: {str(exc).strip()}"
    if admin is None:
        _unavailable(why)
    schema = f"ceres_test_{uuid.uuid4().hex[:12]}"
    try:
        yield PgSchema(DSN, schema, admin)
    finally:
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()
