"""Shared fixtures: one ``store`` fixture run on DuckDB and on PostgreSQL.

PostgreSQL tests use the machine's server (127.0.0.1:5432, database ``test``), each in a schema of
its own that is dropped afterwards. With PROFILO_REQUIRE_POSTGRES=1 (as in CI) an unreachable server
fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from profilo.store import Store, open_store

PG_DSN = os.environ.get("PROFILO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_available() -> bool:
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    if not _postgres_available():
        if os.environ.get("PROFILO_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but not reachable at {PG_DSN}")
        pytest.skip(f"PostgreSQL not reachable at {PG_DSN}")
    return PG_DSN


@pytest.fixture
def pg_schema(postgres_dsn: str) -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped after the test; yields the store URL that uses it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield f"{postgres_dsn}?schema={schema}"
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL for an empty store, once on DuckDB and once on PostgreSQL."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'profilo.duckdb'}"
    return str(request.getfixturevalue("pg_schema"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An empty, migrated store (DuckDB file or PostgreSQL schema)."""
    opened = open_store(store_url, migrate=True)
    yield opened
    opened.close()
