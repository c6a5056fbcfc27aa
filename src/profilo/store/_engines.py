"""The two engines behind the store: the only code that speaks DuckDB's or PostgreSQL's dialect.

Both engines offer the same small surface to :mod:`profilo.store.core`: run a statement with ``?``
parameters, stage an Arrow table under a name for one transaction, and hand out an Ibis backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import duckdb
import ibis
import orjson
import psycopg
import pyarrow as pa
import sqlglot
import sqlglot.expressions as sge
from psycopg import sql as pgsql

from profilo.errors import ConfigError, StoreError, UnsupportedFeature
from profilo.store.url import StoreURL

__all__ = ["Engine", "connect"]

_JSON_COLUMNS = ("properties", "traits", "context")
FINGERPRINT = "fingerprint"
"""An events column the change-detecting hash covers but no table stores (see ``RecordSet``)."""
_ROW_GROUP_ROWS = 122_880  # DuckDB's default row group size

_ARROW_OF_SQL = {
    "VARCHAR": pa.string(),
    "TEXT": pa.string(),
    "CHARACTER VARYING": pa.string(),
    "JSON": pa.string(),
    "JSONB": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "BOOLEAN": pa.bool_(),
    "DOUBLE": pa.float64(),
    "DOUBLE PRECISION": pa.float64(),
    "DATE": pa.date32(),
    "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC"),
}


def _json_default(value: object) -> str:
    return str(value)


def json_text(value: object) -> str | None:
    """Serialise a Python value as JSON text (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=_json_default).decode()


class Engine(Protocol):
    name: str
    batch_rows: int

    def ibis_backend(self) -> Any: ...
    def sibling(self) -> Engine: ...
    def close(self) -> None: ...
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...
    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def transaction(self) -> contextlib.AbstractContextManager[None]: ...
    def has_table(self, table: str) -> bool: ...
    def columns(self, table: str) -> list[str]: ...
    def column_types(self, table: str) -> list[tuple[str, str]]: ...
    def stage(
        self, name: str, data: pa.Table, json_columns: Sequence[str] = (), bulk: bool = False
    ) -> None: ...
    def unstage(self, name: str) -> None: ...
    def hashed_events_select(self, stage: str, keep_hash: bool = False) -> str: ...
    def adapt(self, value: object) -> object: ...
    def durable_session(self) -> None: ...
    def checkpoint(self) -> None: ...
    def durability_settings(self) -> dict[str, str]: ...
    def bound_sql(self, tree: Any, placeholders: Sequence[str]) -> str: ...
    def fetch_bound(
        self, sql: str, values: dict[str, Any]
    ) -> tuple[list[str], list[tuple[Any, ...]]]: ...


class _Common:
    """What both engines share: column lookups and conforming Arrow data to a table."""

    name = ""
    batch_rows = 200_000
    _columns: dict[str, list[tuple[str, str]]]

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def column_types(self, table: str) -> list[tuple[str, str]]:
        if table not in self._columns:
            rows = self.fetchall(
                "SELECT column_name, upper(data_type) FROM information_schema.columns"
                " WHERE table_name = ? AND table_schema = current_schema()"
                " ORDER BY ordinal_position",
                (table,),
            )
            if not rows:
                raise StoreError(f"table {table!r} does not exist; run `profilo init`")
            self._columns[table] = [(str(n), str(t)) for n, t in rows]
        return self._columns[table]

    def columns(self, table: str) -> list[str]:
        return [name for name, _ in self.column_types(table)]

    def has_table(self, table: str) -> bool:
        rows = self.fetchall(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_name = ? AND table_schema = current_schema()",
            (table,),
        )
        return bool(rows[0][0])

    def adapt(self, value: object) -> object:
        if isinstance(value, dict | list):
            return json_text(value)
        return value


def conform(
    data: pa.Table, target: list[tuple[str, str]], keep_structs: bool, extra: Sequence[str] = ()
) -> pa.Table:
    """Reorder, fill and cast ``data`` to a table's columns (those it lacks become nulls).

    JSON columns may arrive as structs; ``keep_structs`` leaves them so for the engine to encode.
    The ``extra`` columns ``data`` has are kept as they are, after the table's.
    """
    arrays = []
    names = []
    for name, sql_type in target:
        if name in ("workspace_id", "payload_hash") and name not in data.column_names:
            continue
        want = _ARROW_OF_SQL.get(sql_type, pa.string())
        if name not in data.column_names:
            arrays.append(pa.nulls(data.num_rows, want))
        else:
            col = data.column(name)
            if pa.types.is_struct(col.type) or pa.types.is_list(col.type):
                if not keep_structs:
                    col = pa.array([json_text(v) for v in col.to_pylist()], pa.string())
            elif sql_type in ("JSON", "JSONB") and not pa.types.is_string(col.type):
                col = pa.array([json_text(v) for v in col.to_pylist()], pa.string())
            elif col.type != want:
                col = col.cast(want)
            arrays.append(col)
        names.append(name)
    for name in extra:
        if name in data.column_names:
            arrays.append(data.column(name))
            names.append(name)
    return pa.table(arrays, names=names)


class DuckDBEngine(_Common):
    name = "duckdb"
    # whole row groups: a batch that fills them leaves no part-filled one for checkpoints to merge
    batch_rows = 2 * _ROW_GROUP_ROWS

    def __init__(self, url: StoreURL, con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.url = url
        if con is None:
            if url.path is not None:
                url.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                con = duckdb.connect(str(url.path) if url.path else ":memory:")
            except duckdb.IOException as exc:
                raise StoreError(f"cannot open DuckDB file {url.path}: {exc}") from None
        self.con = con
        self.con.execute("SET TimeZone = 'UTC'")
        # Profilo never relies on the physical order of rows (every read that cares sorts), and
        # without this promise DuckDB loads batches in parallel with less memory.
        self.con.execute("SET preserve_insertion_order = false")
        self._depth = 0
        self._columns = {}
        self._staged: dict[str, pa.Schema] = {}

    def ibis_backend(self) -> Any:
        return ibis.duckdb.from_connection(self.con)

    def sibling(self) -> DuckDBEngine:
        """Another connection to the same database (an in-memory one too), for another thread."""
        return DuckDBEngine(self.url, self.con.cursor())

    def close(self) -> None:
        self.con.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self.con.execute(sql, list(params))
        except duckdb.Error as exc:
            raise StoreError(f"DuckDB: {exc}") from exc

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.con.execute(sql, list(params)).fetchall()
        except duckdb.Error as exc:
            raise StoreError(f"DuckDB: {exc}") from exc

    def bound_sql(self, tree: Any, placeholders: Sequence[str]) -> str:
        """A prepared query's text: its named placeholders read ``$name``, and its point reads
        go through an index (see :func:`_point_reads`)."""
        indexed: dict[str, set[str]] = {}
        for table, expressions in self.fetchall(
            "SELECT table_name, expressions FROM duckdb_indexes()"
            " WHERE schema_name = current_schema()"
        ):
            columns = [c.strip().strip('"') for c in str(expressions).strip("[]").split(",")]
            if len(columns) == 1:
                indexed.setdefault(str(table), set()).add(columns[0].strip("'\""))
        return str(_point_reads(tree, indexed).sql(dialect="duckdb"))

    def fetch_bound(
        self, sql: str, values: dict[str, Any]
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        try:
            cursor = self.con.execute(sql, values)
            return [d[0] for d in cursor.description], cursor.fetchall()
        except duckdb.Error as exc:
            raise StoreError(f"DuckDB: {exc}") from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.con.begin()
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self.con.rollback()
            raise
        self._depth = 0
        self.con.commit()

    def stage(
        self, name: str, data: pa.Table, json_columns: Sequence[str] = (), bulk: bool = False
    ) -> None:
        """Register ``data`` under ``name``; ``bulk``: rows that an insert appends to a big table."""
        target = _stage_target(self, name)
        data = conform(data, target, keep_structs=True, extra=(FINGERPRINT,)) if target else data
        self._staged[name] = data.schema
        self.con.register(name, _row_group_chunks(data) if bulk else data)

    def unstage(self, name: str) -> None:
        self.con.unregister(name)
        self._staged.pop(name, None)

    def durable_session(self) -> None:
        """Nothing to set: DuckDB syncs its WAL at commit, and :meth:`checkpoint` its file."""

    def checkpoint(self) -> None:
        """Write the WAL into the database file and fsync it."""
        self.execute("CHECKPOINT")

    def durability_settings(self) -> dict[str, str]:
        threshold = self.fetchall("SELECT current_setting('checkpoint_threshold')")[0][0]
        return {"engine": "duckdb", "checkpoint_threshold": str(threshold)}

    def hashed_events_select(self, stage: str, keep_hash: bool = False) -> str:
        schema = self._staged[stage]
        exprs = []
        for field in schema:
            if field.name in _JSON_COLUMNS:
                if pa.types.is_struct(field.type):
                    exprs.append(f"to_json({field.name}) AS {field.name}")
                else:
                    exprs.append(f"CAST({field.name} AS JSON) AS {field.name}")
            else:
                exprs.append(field.name)
        if keep_hash:  # the caller hashed the content itself and staged it as payload_hash
            return f"SELECT {', '.join(exprs)} FROM {stage}"
        # DuckDB's own 64-bit hash over the columns: ample to see that a row changed, and many
        # times cheaper than md5 over their text.
        content = ", ".join(f.name for f in schema if f.name != "received_at")
        return (
            f"SELECT *, CAST(hash({content}) AS VARCHAR) AS payload_hash"
            f" FROM (SELECT {', '.join(exprs)} FROM {stage})"
        )


def _row_group_chunks(data: pa.Table) -> pa.Table:
    """``data`` cut into chunks of exactly one DuckDB row group (the last one shorter).

    DuckDB's insert threads each take whole Arrow chunks and each leaves its last row group
    part-filled; chunks of arbitrary sizes (CSV blocks, filtered batches) thus leave several
    part-filled row groups per insert, which every later checkpoint merges by decompressing and
    recompressing their neighbours (about a second per million rows). Aligned chunks leave one.
    """
    if data.num_rows <= _ROW_GROUP_ROWS:
        return data.combine_chunks() if data.column_names else data
    batches = data.to_batches(max_chunksize=_ROW_GROUP_ROWS)
    if any(b.num_rows != _ROW_GROUP_ROWS for b in batches[:-1]):  # else aligned already: no copy
        batches = data.combine_chunks().to_batches(max_chunksize=_ROW_GROUP_ROWS)
    return pa.Table.from_batches(batches, schema=data.schema)


_NO_LIMIT = 2**63 - 1
"""A LIMIT that keeps every row: a barrier DuckDB pushes no filter through."""


def _point_reads(tree: sge.Expression, indexed: dict[str, set[str]]) -> sge.Expression:
    """Make DuckDB read ``table WHERE key = $param … AND other filters`` through the key's index.

    DuckDB scans an index only when the scan carries a single filter, on the indexed column; with
    the workspace and any other condition pushed into the same scan it reads the whole table
    (tens of milliseconds at a million rows where the index takes half of one). So a select from
    a base table whose conditions include ``indexed column = placeholder`` reads from a subquery
    holding that one condition (answered by the index) under a LIMIT that keeps every row (which
    stops the other filters from being pushed into the scan; a materialised CTE does the same
    for a millisecond more), and keeps every condition, that one too, on top.
    """
    tree = tree.copy()
    for select in list(tree.find_all(sge.Select)):
        source = select.args.get("from_")
        where = select.args.get("where")
        table = source.this if source is not None else None
        if not isinstance(table, sge.Table) or where is None or select.args.get("joins"):
            continue
        keys = indexed.get(table.name, set())
        conditions = list(where.this.flatten()) if isinstance(where.this, sge.And) else [where.this]
        point = next(
            (
                c
                for c in conditions
                if isinstance(c, sge.EQ)
                and isinstance(c.this, sge.Column)
                and c.this.name in keys
                and isinstance(c.expression, sge.Placeholder)
            ),
            None,
        )
        if point is None:
            continue
        read = (
            sqlglot.select("*")
            .from_(sge.Table(this=sge.to_identifier(table.name, quoted=True)))
            .where(
                sge.EQ(
                    this=sge.column(point.this.name, quoted=True),
                    expression=point.expression.copy(),
                )
            )
            .limit(_NO_LIMIT)
        )
        table.replace(sge.Subquery(this=read, alias=table.args.get("alias")))
    return tree


def _hash_parts(columns: list[str], as_text: Any) -> str:
    """A stable text of a message's content: every column but the arrival time."""
    parts = [f"coalesce({as_text(c)}, '\x01')" for c in columns if c not in ("received_at",)]
    return "concat_ws('|', " + ", ".join(parts) + ")"


def _stage_target(engine: _Common, stage: str) -> list[tuple[str, str]] | None:
    """The table a staging name feeds, so staged data can be conformed to it."""
    target = {
        "_stage_events": "events",
    }.get(stage)
    if target is None:
        return None
    return engine.column_types(target)


_SQL_OF_ARROW = {
    pa.string(): "TEXT",
    pa.large_string(): "TEXT",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.bool_(): "BOOLEAN",
    pa.float64(): "DOUBLE PRECISION",
    pa.date32(): "DATE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
}


class PostgresEngine(_Common):
    name = "postgres"

    def __init__(self, url: StoreURL) -> None:
        self.url = url
        try:
            self.con = psycopg.connect(
                url.dsn or "", autocommit=True, cursor_factory=psycopg.ClientCursor
            )
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {url.dsn}: {exc}") from None
        if url.schema:
            self.con.execute(
                pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(url.schema))
            )
            self.con.execute(
                pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(url.schema))
            )
        self.con.execute("SET TimeZone = 'UTC'")
        self._columns = {}
        self._staged: dict[str, pa.Schema] = {}

    def ibis_backend(self) -> Any:
        return ibis.postgres.from_connection(self.con)

    def sibling(self) -> PostgresEngine:
        """Another connection to the same database and schema, for another thread."""
        return PostgresEngine(self.url)

    def close(self) -> None:
        self.con.close()

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self.con.execute(self._sql(sql), list(params))  # type: ignore[arg-type]
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL: {exc}") from exc

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.con.execute(self._sql(sql), list(params)).fetchall()  # type: ignore[arg-type]
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL: {exc}") from exc

    def bound_sql(self, tree: Any, placeholders: Sequence[str]) -> str:
        """A prepared query's text: named placeholders read ``%(name)s``, any other ``%`` doubled."""
        sql = str(tree.sql(dialect="postgres")).replace("%", "%%")
        for name in placeholders:
            sql = sql.replace(f"%%({name})s", f"%({name})s")
        return sql

    def fetch_bound(
        self, sql: str, values: dict[str, Any]
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        # a server-side cursor of its own: the connection's client-side cursors cannot prepare,
        # and a prepared statement spares the server parsing and planning on every call
        try:
            with psycopg.Cursor(self.con) as cursor:
                cursor.execute(sql, values, prepare=True)  # type: ignore[arg-type]
                names = [d.name for d in cursor.description or ()]
                return names, cursor.fetchall()
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL: {exc}") from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.con.transaction():
            yield

    def stage(
        self, name: str, data: pa.Table, json_columns: Sequence[str] = (), bulk: bool = False
    ) -> None:
        target = _stage_target(self, name)
        data = conform(data, target, keep_structs=False, extra=(FINGERPRINT,)) if target else data
        self._staged[name] = data.schema
        columns = []
        for field in data.schema:
            if pa.types.is_struct(field.type) or pa.types.is_list(field.type):
                data = data.set_column(
                    data.schema.get_field_index(field.name),
                    field.name,
                    pa.array([json_text(v) for v in data.column(field.name).to_pylist()]),
                )
                sql_type = "TEXT"
            elif pa.types.is_null(field.type):
                sql_type = "TEXT"
            else:
                sql_type = _SQL_OF_ARROW.get(field.type) or _pg_type(field.type)
            columns.append(
                pgsql.SQL("{} {}").format(pgsql.Identifier(field.name), pgsql.SQL(sql_type))
            )
        self.con.execute(
            pgsql.SQL("CREATE TEMP TABLE {} ({})").format(
                pgsql.Identifier(name), pgsql.SQL(", ").join(columns)
            )
        )
        copy_sql = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
            pgsql.Identifier(name),
            pgsql.SQL(", ").join(pgsql.Identifier(f.name) for f in data.schema),
        )
        with self.con.cursor() as cur, cur.copy(copy_sql) as copy:
            for batch in data.to_batches(50_000):
                for row in zip(*(col.to_pylist() for col in batch.columns), strict=True):
                    copy.write_row(row)

    def unstage(self, name: str) -> None:
        self.con.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(pgsql.Identifier(name)))
        self._staged.pop(name, None)

    def durable_session(self) -> None:
        """Make this session's commits wait for the WAL flush, whatever the server's default."""
        self.execute("SET synchronous_commit = on")

    def checkpoint(self) -> None:
        """Nothing to do: with synchronous_commit on, a commit is on disk when it returns."""

    def durability_settings(self) -> dict[str, str]:
        sync = self.fetchall("SHOW synchronous_commit")[0][0]
        fsync = self.fetchall("SHOW fsync")[0][0]
        return {"engine": "postgres", "synchronous_commit": str(sync), "fsync": str(fsync)}

    def hashed_events_select(self, stage: str, keep_hash: bool = False) -> str:
        cols = [c for c in self.columns("events") if c not in ("workspace_id", "payload_hash")]
        if FINGERPRINT in self._staged[stage].names:
            cols.append(FINGERPRINT)
        exprs = [f"{c}::jsonb AS {c}" if c in _JSON_COLUMNS else c for c in cols]
        if keep_hash:  # the caller hashed the content itself and staged it as payload_hash
            return f"SELECT {', '.join(exprs)}, payload_hash FROM {stage}"
        hashed = _hash_parts(cols, lambda c: f"{c}::text")
        return (
            f"SELECT *, md5({hashed}) AS payload_hash"
            f" FROM (SELECT {', '.join(exprs)} FROM {stage}) AS s"
        )


def _pg_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ"
    if pa.types.is_integer(arrow_type):
        return "BIGINT"
    if pa.types.is_floating(arrow_type):
        return "DOUBLE PRECISION"
    raise UnsupportedFeature("postgres", f"staging Arrow type {arrow_type}")


def splink_db_api(engine: Engine) -> Any:
    """Splink's DuckDB API on the engine's connection (DuckDB) or on a private in-memory DuckDB."""
    from splink import DuckDBAPI

    if isinstance(engine, DuckDBEngine):
        return DuckDBAPI(connection=engine.con)
    return DuckDBAPI(connection=duckdb.connect(":memory:"))


def connect(url: StoreURL) -> Engine:
    """Open the engine a store URL names."""
    if url.engine == "duckdb":
        return DuckDBEngine(url)
    if url.engine == "postgres":
        return PostgresEngine(url)
    raise ConfigError(f"unknown engine {url.engine!r}")
