"""Tables in someone else's database: the seam that reverse ETL writes through.

An :class:`ExternalTable` opens a target database by store URL (``postgresql://…?schema=name``
or ``duckdb:///path.duckdb``), creates its table when missing (key ``profile_id``), adds the
columns a batch brings, and in one transaction upserts rows, updates existing ones and deletes
others. Names are checked against an allow-list and quoted; values are always bound.

Errors say whether retrying can help: :class:`ExternalTableError` is ``retryable`` when the
database could not be reached or was busy, and not when it refused the data (a value that does not
fit its column, a constraint).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import duckdb
import psycopg
from psycopg import sql as pgsql

from profilo.errors import ConfigError, StoreError, unknown_choice
from profilo.store.url import parse_store_url

__all__ = [
    "COLUMN_TYPES",
    "KEY",
    "ExternalTable",
    "ExternalTableError",
    "TableWrite",
    "column_type_of",
    "valid_name",
]

COLUMN_TYPES = ("text", "bigint", "double", "boolean", "timestamptz", "date", "json")
"""Portable column types a target table's columns may have."""
_SQL_TYPES = {
    "postgres": {
        "text": "TEXT",
        "bigint": "BIGINT",
        "double": "DOUBLE PRECISION",
        "boolean": "BOOLEAN",
        "timestamptz": "TIMESTAMPTZ",
        "date": "DATE",
        "json": "JSONB",
    },
    "duckdb": {
        "text": "VARCHAR",
        "bigint": "BIGINT",
        "double": "DOUBLE",
        "boolean": "BOOLEAN",
        "timestamptz": "TIMESTAMPTZ",
        "date": "DATE",
        "json": "JSON",
    },
}
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
KEY = "profile_id"


class ExternalTableError(StoreError):
    """The target database failed a write; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def valid_name(name: str, what: str = "column") -> str:
    """``name`` if it is a plain lower-case SQL name (letters, digits, ``_``; 63 at most).

    >>> valid_name("in_vip")
    'in_vip'
    """
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid {what} name {name!r}: use lower-case letters, digits and '_' (at most 63)"
        )
    return name


def column_type_of(value: object) -> str:
    """The portable column type that holds ``value``.

    >>> column_type_of(True), column_type_of(3), column_type_of({"a": 1}), column_type_of("x")
    ('boolean', 'bigint', 'json', 'text')
    """
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    if isinstance(value, datetime):
        return "timestamptz"
    if isinstance(value, date):
        return "date"
    if isinstance(value, dict | list | tuple):
        return "json"
    return "text"


@dataclass
class TableWrite:
    """One batch for a table: what to delete first, then rows to upsert and rows to update."""

    delete: list[str] = field(default_factory=list)
    """Keys whose rows go before anything else is written."""
    upsert: list[dict[str, Any]] = field(default_factory=list)
    """Rows (each with ``profile_id``) inserted, or merged into the row with their key."""
    update: list[dict[str, Any]] = field(default_factory=list)
    """Rows (each with ``profile_id``) merged into an existing row only; absent keys are skipped."""
    delete_unflagged: tuple[list[str], list[str]] | None = None
    """(keys, flag columns): afterwards, delete those keys' rows where no flag column is true."""


class ExternalTable:
    """A table in a target database, created on first use; one connection, one write at a time."""

    def __init__(self, url: str, table: str, *, password: str | None = None) -> None:
        self.target = parse_store_url(url)
        self.table = valid_name(table, "table")
        self.password = password
        self.engine: Literal["postgres", "duckdb"] = (
            "postgres" if self.target.engine == "postgres" else "duckdb"
        )
        self._pg: psycopg.Connection[Any] | None = None
        self._duck: duckdb.DuckDBPyConnection | None = None
        self._columns: dict[str, str] | None = None

    # --- connection --------------------------------------------------------------------------

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
        if self._duck is not None:
            self._duck.close()
        self._pg = self._duck = None
        self._columns = None

    def _quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def _qualified(self) -> str:
        if self.engine == "postgres" and self.target.schema:
            return f"{self._quote(self.target.schema)}.{self._quote(self.table)}"
        return self._quote(self.table)

    def _connect(self) -> None:
        if self.engine == "postgres" and self._pg is None:
            extra: dict[str, Any] = {"password": self.password} if self.password else {}
            self._pg = psycopg.connect(
                self.target.dsn or "", connect_timeout=10, autocommit=True, **extra
            )
            if self.target.schema:
                self._pg.execute(
                    pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                        pgsql.Identifier(self.target.schema)
                    )
                )
        elif self.engine == "duckdb" and self._duck is None:
            path = self.target.path
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._duck = duckdb.connect(str(path) if path else ":memory:")

    def _run(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.engine == "postgres":
            assert self._pg is not None
            cursor = self._pg.execute(statement.replace("?", "%s"), list(params))  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []
        assert self._duck is not None
        result = self._duck.execute(statement, list(params))
        return result.fetchall() if result.description else []

    def _run_many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.engine == "postgres":
            assert self._pg is not None
            with self._pg.cursor() as cursor:
                cursor.executemany(statement.replace("?", "%s"), [list(r) for r in rows])  # type: ignore[arg-type]
        else:
            assert self._duck is not None
            self._duck.executemany(statement, [list(r) for r in rows])

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self.engine == "postgres":
            assert self._pg is not None
            with self._pg.transaction():
                yield
        else:
            assert self._duck is not None
            self._duck.begin()
            try:
                yield
            except BaseException:
                self._duck.rollback()
                raise
            self._duck.commit()

    # --- schema ------------------------------------------------------------------------------

    def columns(self) -> dict[str, str]:
        """The table's columns and their SQL types (empty when the table does not exist yet)."""
        if self._columns is None:
            with self._errors():
                self._connect()
                schema = self.target.schema if self.engine == "postgres" else None
                rows = self._run(
                    "SELECT column_name, upper(data_type) FROM information_schema.columns"
                    " WHERE table_name = ? AND table_schema = "
                    + ("?" if schema else "current_schema()")
                    + " ORDER BY ordinal_position",
                    (self.table, schema) if schema else (self.table,),
                )
            self._columns = {str(name): str(kind) for name, kind in rows}
        return self._columns

    def ensure(self, wanted: Mapping[str, str]) -> None:
        """Create the table (key ``profile_id``) or add the ``wanted`` columns it lacks."""
        types = _SQL_TYPES[self.engine]
        for name, kind in wanted.items():
            valid_name(name)
            if kind not in types:
                raise ConfigError(unknown_choice("column type", kind, COLUMN_TYPES))
        existing = self.columns()
        with self._errors(), self._transaction():
            if not existing:
                parts = [f"{self._quote(KEY)} {types['text']} PRIMARY KEY"]
                parts += [
                    f"{self._quote(name)} {types[kind]}"
                    for name, kind in wanted.items()
                    if name != KEY
                ]
                self._run(f"CREATE TABLE IF NOT EXISTS {self._qualified()} ({', '.join(parts)})")
            else:
                for name, kind in wanted.items():
                    if name not in existing:
                        self._run(
                            f"ALTER TABLE {self._qualified()} ADD COLUMN IF NOT EXISTS"
                            f" {self._quote(name)} {types[kind]}"
                        )
        self._columns = None

    # --- writes ------------------------------------------------------------------------------

    def write(self, batch: TableWrite) -> dict[str, int]:
        """Apply ``batch`` in one transaction; counts of rows deleted, upserted, updated."""
        columns = self.columns()
        counts = {"deleted": 0, "upserted": 0, "updated": 0}
        target = self._qualified()
        with self._errors(), self._transaction():
            if batch.delete:
                self._run_many(
                    f"DELETE FROM {target} WHERE {self._quote(KEY)} = ?",
                    [[key] for key in batch.delete],
                )
                counts["deleted"] += len(batch.delete)
            for names, rows in _by_columns(batch.upsert):
                self._check(names, columns)
                listed = ", ".join(self._quote(n) for n in names)
                values = ", ".join(self._placeholder(columns[n]) for n in names)
                updates = ", ".join(
                    f"{self._quote(n)} = EXCLUDED.{self._quote(n)}" for n in names if n != KEY
                )
                action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
                self._run_many(
                    f"INSERT INTO {target} ({listed}) VALUES ({values})"
                    f" ON CONFLICT ({self._quote(KEY)}) {action}",
                    [[self._bind(row[n]) for n in names] for row in rows],
                )
                counts["upserted"] += len(rows)
            for names, rows in _by_columns(batch.update):
                self._check(names, columns)
                sets = ", ".join(
                    f"{self._quote(n)} = {self._placeholder(columns[n])}" for n in names if n != KEY
                )
                if not sets:
                    continue
                others = [n for n in names if n != KEY]
                self._run_many(
                    f"UPDATE {target} SET {sets} WHERE {self._quote(KEY)} = ?",
                    [[self._bind(row[n]) for n in others] + [row[KEY]] for row in rows],
                )
                counts["updated"] += len(rows)
            if batch.delete_unflagged is not None:
                keys, flags = batch.delete_unflagged
                present = [f for f in flags if f in columns]
                if keys:
                    condition = (
                        " AND NOT ("
                        + " OR ".join(f"coalesce({self._quote(f)}, false)" for f in present)
                        + ")"
                        if present
                        else ""
                    )
                    self._run_many(
                        f"DELETE FROM {target} WHERE {self._quote(KEY)} = ?{condition}",
                        [[key] for key in keys],
                    )
        return counts

    def _check(self, names: Sequence[str], columns: Mapping[str, str]) -> None:
        missing = [n for n in names if n not in columns]
        if missing:
            raise ConfigError(
                f"table {self.table!r} has no column {', '.join(missing)}; ensure() it first"
            )

    def _placeholder(self, sql_type: str) -> str:
        if sql_type in ("JSON", "JSONB"):
            return f"CAST(? AS {sql_type})"
        return "?"

    @staticmethod
    def _bind(value: Any) -> Any:
        if isinstance(value, dict | list | tuple):
            return json.dumps(value, sort_keys=True, default=str)
        return value

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Database errors as :class:`ExternalTableError`, retryable when the link failed."""
        where = f"{self.engine} table {self.table!r}"
        try:
            yield
        except psycopg.OperationalError as exc:
            self.close()
            raise ExternalTableError(f"{where}: {exc}".strip(), retryable=True) from exc
        except psycopg.Error as exc:
            raise ExternalTableError(f"{where}: {exc}".strip(), retryable=False) from exc
        except (duckdb.IOException, duckdb.TransactionException) as exc:
            self.close()
            raise ExternalTableError(f"{where}: {exc}", retryable=True) from exc
        except duckdb.Error as exc:
            raise ExternalTableError(f"{where}: {exc}", retryable=False) from exc


def _by_columns(
    rows: Sequence[Mapping[str, Any]],
) -> list[tuple[list[str], list[Mapping[str, Any]]]]:
    """Rows grouped by the columns they set (one statement per group)."""
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return [(list(names), group) for names, group in groups.items()]
