"""Store URLs: ``duckdb:///path/file.duckdb``, ``duckdb://:memory:``, ``postgresql://user@host:port/db``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from profilo.errors import ConfigError, unknown_choice

__all__ = ["ENGINES", "StoreURL", "parse_store_url"]

ENGINES = ("duckdb", "postgres")


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL."""

    engine: str
    path: Path | None = None
    """DuckDB file (None for an in-memory database)."""
    dsn: str | None = None
    """PostgreSQL connection string, without Profilo's own query parameters."""
    schema: str | None = None
    """PostgreSQL schema to keep Profilo's tables in (``?schema=name``); default ``public``."""

    def __str__(self) -> str:
        if self.engine == "duckdb":
            return f"duckdb:///{self.path}" if self.path else "duckdb://:memory:"
        suffix = f"?schema={self.schema}" if self.schema else ""
        return f"{self.dsn}{suffix}"


def parse_store_url(url: str) -> StoreURL:
    """Parse a store URL.

    >>> parse_store_url("duckdb:///var/profilo.duckdb").path
    PosixPath('var/profilo.duckdb')
    >>> parse_store_url("duckdb:////tmp/p.duckdb").path
    PosixPath('/tmp/p.duckdb')
    >>> parse_store_url("postgresql://postgres@127.0.0.1:5432/test?schema=t1").schema
    't1'
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "duckdb":
        rest = url[len("duckdb://") :]
        if rest in (":memory:", "/:memory:", ""):
            return StoreURL(engine="duckdb")
        # duckdb:///relative/path and duckdb:////absolute/path, as SQLAlchemy writes them
        return StoreURL(engine="duckdb", path=Path(rest[1:] if rest.startswith("/") else rest))
    if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        query = parse_qs(parts.query)
        schema = query.pop("schema", [None])[0]
        if schema is not None and not schema.replace("_", "").isalnum():
            raise ConfigError(f"invalid PostgreSQL schema name {schema!r} in store URL")
        rest = "&".join(f"{k}={v[0]}" for k, v in query.items())
        base = parts._replace(scheme="postgresql", query=rest).geturl()
        return StoreURL(engine="postgres", dsn=base, schema=schema)
    raise ConfigError(
        f"cannot open store {url!r}: " + unknown_choice("engine", scheme or "(none)", ENGINES)
    )
