"""The store: one object that reaches Profilo's data on DuckDB or PostgreSQL.

Pipeline code asks the store for portable Ibis expressions (``store.table("events")``, already
filtered on the store's workspace) and hands the store Arrow tables to write. Raw SQL, and every
import of ``duckdb`` and ``psycopg``, stays inside ``profilo.store``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from profilo.errors import ConfigError, StoreError
from profilo.store import _engines
from profilo.store.prepared import PreparedQuery, compile_prepared
from profilo.store.schema import MIGRATIONS, TABLES, render
from profilo.store.url import StoreURL, parse_store_url

__all__ = ["AppendCounts", "RecordSet", "SaveCounts", "Store", "open_store"]

_CHILD_TABLES = ("observed_identifiers", "observed_traits")


@dataclass
class RecordSet:
    """What one batch of input becomes: events with their observations, consents and rejects.

    ``events`` has one row per message id (``properties``, ``traits`` and ``context`` may be Arrow
    structs or JSON text); ``identifiers`` and ``traits`` rows hang off a message id and are
    replaced whenever that message changes; ``consents`` and ``quarantine`` are append-only and
    deduplicated on their ids.

    ``events`` may carry a ``fingerprint`` column: more of each message's content for
    :meth:`Store.save` to hash when it looks for changed messages, stored nowhere in ``events``
    (an importer puts there the raw text of the identifiers, which ``identifiers`` stores).
    """

    events: pa.Table
    identifiers: pa.Table | None = None
    traits: pa.Table | None = None
    consents: pa.Table | None = None
    quarantine: pa.Table | None = None
    duplicate_keys: int = 0
    """Rows the producer already dropped because a later row had the same key."""


@dataclass
class SaveCounts:
    """What a write did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicate_keys: int = 0
    consents: int = 0
    quarantined: int = 0

    def add(self, other: SaveCounts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class AppendCounts:
    """What an insert-only write (:meth:`Store.append`) did."""

    inserted: int = 0
    duplicates: int = 0
    """Messages whose id was already stored (or came twice in the batch): counted, not stored."""
    conflicts: list[str] = field(default_factory=list)
    """Ids of duplicates whose content differs from the stored copy (the first copy is kept)."""
    quarantined: int = 0


def _first_per_key(table: pa.Table, key: str) -> tuple[pa.Table, int]:
    """Keep the first row for each key (a retry never replaces the original), and count the others."""
    if table.num_rows == 0:
        return table, 0
    keys = table.column(key)
    if len(pc.unique(keys)) == table.num_rows:
        return table, 0
    indexed = table.append_column("__row", pa.array(range(table.num_rows), pa.int64()))
    first = indexed.group_by(key, use_threads=False).aggregate([("__row", "min")])
    keep = pc.sort_indices(first.column("__row_min"))
    return table.take(pc.take(first.column("__row_min"), keep)), table.num_rows - len(keep)


def _now() -> datetime:
    return datetime.now(UTC)


def _last_per_key(table: pa.Table, key: str) -> tuple[pa.Table, int]:
    """Keep the last row for each key (a later line of a file wins), and count the others."""
    if table.num_rows == 0:
        return table, 0
    keys = table.column(key)
    if len(pc.unique(keys)) == table.num_rows:
        return table, 0
    indexed = table.append_column("__row", pa.array(range(table.num_rows), pa.int64()))
    last = indexed.group_by(key, use_threads=False).aggregate([("__row", "max")])
    rows = pc.sort_indices(last.column("__row_max"))
    keep = pc.take(last.column("__row_max"), rows)
    return table.take(keep), table.num_rows - len(keep)


class Store:
    """Profilo's data in one workspace of one database. Open it with :func:`open_store`."""

    def __init__(
        self, url: StoreURL, workspace: str, engine: _engines.Engine | None = None
    ) -> None:
        self.url = url
        self.engine = url.engine
        self.workspace = workspace
        self._engine = engine or _engines.connect(url)
        self.backend: Any = self._engine.ibis_backend()
        self._temporaries: list[str] = []
        self._prepared: dict[str, PreparedQuery] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (DuckDB checkpoints its file)."""
        self._engine.close()

    def sibling(self) -> Store:
        """Another connection to the same database and workspace, for work on another thread
        (a connection serves one thread at a time; DuckDB: a cursor of the same database,
        PostgreSQL: a new session). Its temporaries and transactions are its own; close it when
        done (closing it leaves this store open)."""
        return Store(self.url, self.workspace, self._engine.sibling())

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def migrate(self) -> list[int]:
        """Create or upgrade the schema; returns the versions applied now (empty when current)."""
        eng = self._engine
        eng.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
            " name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        done = {row[0] for row in eng.fetchall("SELECT version FROM schema_migrations")}
        applied = []
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            with eng.transaction():
                for statement in migration.statements:
                    sql = render(statement, self.engine)
                    if sql is not None:
                        eng.execute(sql)
                eng.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    (migration.version, migration.name, _now()),
                )
            applied.append(migration.version)
        self._prepared.clear()  # compiled against the schema before
        with eng.transaction():
            eng.execute(
                "INSERT INTO workspaces (workspace_id, name, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (workspace_id) DO NOTHING",
                (self.workspace, self.workspace, _now()),
            )
        return applied

    def schema_version(self) -> int:
        """The highest migration applied (0 for an empty database)."""
        if not self._engine.has_table("schema_migrations"):
            return 0
        rows = self._engine.fetchall("SELECT max(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    def _require_schema(self) -> None:
        if self.schema_version() < MIGRATIONS[-1].version:
            raise StoreError(f"store {self.url} has no Profilo schema yet; run `profilo init`")

    # -- reading -----------------------------------------------------------------------------

    def table(self, name: str) -> ir.Table:
        """A table of this workspace as an Ibis expression, already filtered on the workspace."""
        if name not in TABLES:
            raise ConfigError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
        table = self.backend.table(name)
        return table.filter(table.workspace_id == self.workspace)

    def to_arrow(self, expr: ir.Expr) -> pa.Table:
        """Run an expression and return its result as Arrow."""
        result = self.backend.to_pyarrow(expr)
        return result if isinstance(result, pa.Table) else pa.table({"value": [result]})

    def scalar(self, expr: ir.Scalar) -> Any:
        """Run an expression that yields one value."""
        return self.backend.execute(expr)

    def prepare(self, expr: ir.Expr, **params: ir.Scalar) -> PreparedQuery:
        """Compile ``expr`` once; the result runs it with values bound to its ``ibis.param``s
        (see :mod:`profilo.store.prepared`)."""
        return compile_prepared(self.backend, self._engine, expr, params)

    def prepared(self, name: str, build: Callable[[Store], PreparedQuery]) -> PreparedQuery:
        """The prepared query ``name`` of this store, built by ``build(store)`` on first use.

        Request paths keep their queries here, so each is compiled once per open store.
        """
        query = self._prepared.get(name)
        if query is None:
            query = self._prepared[name] = build(self)
        return query

    def count_rows(self) -> dict[str, int]:
        """Rows of this workspace in each table."""
        return {
            name: int(self.scalar(self.table(name).count()))
            for name in TABLES
            if name != "workspaces"
        }

    # -- writing -----------------------------------------------------------------------------

    @property
    def batch_rows(self) -> int:
        """Rows per :meth:`save` that suit the engine (DuckDB: two whole row groups)."""
        return self._engine.batch_rows

    def save(self, records: RecordSet) -> SaveCounts:
        """Write one batch in one transaction.

        Events whose message id is new are inserted; those whose content changed replace the
        stored row and its identifiers and traits; identical ones are counted and left alone.
        """
        counts = SaveCounts()
        events, repeated = _last_per_key(records.events, "message_id")
        counts.duplicate_keys = repeated + records.duplicate_keys
        eng = self._engine
        with eng.transaction():
            if events.num_rows:
                eng.stage(
                    "_stage_events",
                    events,
                    json_columns=("properties", "traits", "context"),
                    bulk=True,
                )
                hashed = eng.hashed_events_select("_stage_events")
                cols = eng.columns("events")
                insert = f"INSERT INTO events ({', '.join(cols)}) SELECT ?, " + ", ".join(
                    f"s.{c}" for c in cols[1:]
                )
                known = eng.fetchall(
                    "SELECT count(*) FROM events WHERE workspace_id = ? AND message_id IN"
                    " (SELECT message_id FROM _stage_events)",
                    (self.workspace,),
                )[0][0]
                if not known:
                    # the common case of new data: no comparison, no temporary copy
                    eng.execute(f"{insert} FROM ({hashed}) s", (self.workspace,))
                    counts.inserted = events.num_rows
                    children_of = None
                else:
                    self._compare_and_write(events.num_rows, hashed, insert, counts)
                    children_of = "_touched"
                for child, data in zip(
                    _CHILD_TABLES, (records.identifiers, records.traits), strict=True
                ):
                    if data is not None and data.num_rows:
                        self._insert_children(child, data, children_of)
                if children_of:
                    eng.execute("DROP TABLE _touched")
                    eng.execute("DROP TABLE _stage_hashed")
                eng.unstage("_stage_events")
            if records.consents is not None and records.consents.num_rows:
                counts.consents = self._insert_new("consents", records.consents, "consent_id")
            if records.quarantine is not None and records.quarantine.num_rows:
                counts.quarantined = self._insert_new(
                    "quarantine", records.quarantine, "quarantine_id"
                )
        return counts

    def _compare_and_write(self, rows: int, hashed: str, insert: str, counts: SaveCounts) -> None:
        """Write the rows that are new or changed; count the unchanged ones."""
        eng = self._engine
        eng.execute(f"CREATE TEMP TABLE _stage_hashed AS {hashed}")
        eng.execute(
            "CREATE TEMP TABLE _touched AS SELECT s.message_id,"
            " (e.message_id IS NOT NULL) AS existed"
            " FROM _stage_hashed s LEFT JOIN events e"
            " ON e.workspace_id = ? AND e.message_id = s.message_id"
            " WHERE e.message_id IS NULL OR e.payload_hash <> s.payload_hash",
            (self.workspace,),
        )
        inserted, updated = eng.fetchall(
            "SELECT count(*) FILTER (WHERE NOT existed), count(*) FILTER (WHERE existed)"
            " FROM _touched"
        )[0]
        counts.inserted, counts.updated = int(inserted or 0), int(updated or 0)
        counts.unchanged = rows - counts.inserted - counts.updated
        if counts.updated:
            for child in _CHILD_TABLES:
                eng.execute(
                    f"DELETE FROM {child} WHERE workspace_id = ? AND message_id IN"
                    " (SELECT message_id FROM _touched WHERE existed)",
                    (self.workspace,),
                )
            cols = eng.columns("events")
            assign = ", ".join(f"{c} = s.{c}" for c in cols[2:])
            eng.execute(
                f"UPDATE events SET {assign} FROM _stage_hashed s"
                " WHERE events.workspace_id = ? AND events.message_id = s.message_id"
                " AND s.message_id IN (SELECT message_id FROM _touched WHERE existed)",
                (self.workspace,),
            )
        if counts.inserted:
            eng.execute(
                f"{insert} FROM _stage_hashed s WHERE s.message_id IN"
                " (SELECT message_id FROM _touched WHERE NOT existed)",
                (self.workspace,),
            )

    def _insert_children(self, table: str, data: pa.Table, only_touched: str | None) -> None:
        eng = self._engine
        eng.stage("_stage_child", data, bulk=True)
        cols = [c for c in eng.columns(table) if c != "workspace_id"]
        join = f" JOIN {only_touched} t ON t.message_id = c.message_id" if only_touched else ""
        eng.execute(
            f"INSERT INTO {table} (workspace_id, {', '.join(cols)}) SELECT ?, "
            + ", ".join(f"c.{c}" for c in cols)
            + f" FROM _stage_child c{join}",
            (self.workspace,),
        )
        eng.unstage("_stage_child")

    def _insert_new(self, table: str, data: pa.Table, key: str) -> int:
        """Insert the rows whose key is not stored yet; returns how many were new."""
        data, _ = _last_per_key(data, key)
        eng = self._engine
        eng.stage("_stage_new", data)
        cols = [c for c in eng.columns(table) if c != "workspace_id"]
        before = eng.fetchall(
            f"SELECT count(*) FROM {table} WHERE workspace_id = ?", (self.workspace,)
        )[0][0]
        eng.execute(
            f"INSERT INTO {table} (workspace_id, {', '.join(cols)}) SELECT ?, "
            + ", ".join(f"s.{c}" for c in cols)
            + f" FROM _stage_new s ON CONFLICT (workspace_id, {key}) DO NOTHING",
            (self.workspace,),
        )
        after = eng.fetchall(
            f"SELECT count(*) FROM {table} WHERE workspace_id = ?", (self.workspace,)
        )[0][0]
        eng.unstage("_stage_new")
        return int(after) - int(before)

    def append(self, records: RecordSet) -> AppendCounts:
        """Insert-only write for collected messages, in one transaction: the first copy wins.

        A message id already stored (or repeated in the batch) is counted as a duplicate and not
        written again. When ``records.events`` carries ``payload_hash`` (the caller's fingerprint
        of the content, e.g. without the per-attempt ``sentAt``), a duplicate whose hash differs
        is reported in ``conflicts``. Identifier and trait rows are written for the events
        inserted now only, so the caller must pass those of the first copy of each message.
        Quarantine rows are inserted once per quarantine id.
        """
        counts = AppendCounts()
        events, counts.duplicates = _first_per_key(records.events, "message_id")
        eng = self._engine
        keep_hash = "payload_hash" in events.column_names
        with eng.transaction():
            if events.num_rows:
                eng.stage(
                    "_stage_events",
                    events,
                    json_columns=("properties", "traits", "context"),
                    bulk=True,
                )
                hashed = eng.hashed_events_select("_stage_events", keep_hash=keep_hash)
                cols = eng.columns("events")
                insert = f"INSERT INTO events ({', '.join(cols)}) SELECT ?, " + ", ".join(
                    f"s.{c}" for c in cols[1:]
                )
                known = eng.fetchall(
                    "SELECT count(*) FROM events WHERE workspace_id = ? AND message_id IN"
                    " (SELECT message_id FROM _stage_events)",
                    (self.workspace,),
                )[0][0]
                children_of: str | None = None
                if not known:
                    # the common case: all new, no comparison and no temporary copy
                    eng.execute(f"{insert} FROM ({hashed}) s", (self.workspace,))
                    counts.inserted = events.num_rows
                else:
                    self._append_some(hashed, insert, counts)
                    children_of = "_fresh"
                for child, data in zip(
                    _CHILD_TABLES, (records.identifiers, records.traits), strict=True
                ):
                    if data is not None and data.num_rows:
                        self._insert_children(child, data, children_of)
                if children_of:
                    eng.execute("DROP TABLE _fresh")
                    eng.execute("DROP TABLE _stage_hashed")
                eng.unstage("_stage_events")
            if records.consents is not None and records.consents.num_rows:
                self._insert_new("consents", records.consents, "consent_id")
            if records.quarantine is not None and records.quarantine.num_rows:
                counts.quarantined = self._insert_new(
                    "quarantine", records.quarantine, "quarantine_id"
                )
        return counts

    def _append_some(self, hashed: str, insert: str, counts: AppendCounts) -> None:
        """Insert the rows whose id is new; list the known ids whose content differs."""
        eng = self._engine
        eng.execute(f"CREATE TEMP TABLE _stage_hashed AS {hashed}")
        eng.execute(
            "CREATE TEMP TABLE _fresh AS SELECT s.message_id FROM _stage_hashed s WHERE NOT EXISTS"
            " (SELECT 1 FROM events e WHERE e.workspace_id = ? AND e.message_id = s.message_id)",
            (self.workspace,),
        )
        counts.conflicts = [
            str(row[0])
            for row in eng.fetchall(
                "SELECT s.message_id FROM _stage_hashed s JOIN events e"
                " ON e.workspace_id = ? AND e.message_id = s.message_id"
                " WHERE e.payload_hash <> s.payload_hash",
                (self.workspace,),
            )
        ]
        eng.execute(
            f"{insert} FROM _stage_hashed s WHERE s.message_id IN (SELECT message_id FROM _fresh)",
            (self.workspace,),
        )
        counts.inserted = int(eng.fetchall("SELECT count(*) FROM _fresh")[0][0])
        counts.duplicates += int(eng.fetchall("SELECT count(*) FROM _stage_hashed")[0][0]) - (
            counts.inserted
        )

    def add_to(self, table: str, key: dict[str, Any], amounts: dict[str, int]) -> None:
        """Add ``amounts`` to the counters of one row (created at zero), safe under concurrency."""
        if table not in TABLES:
            raise ConfigError(f"unknown table {table!r}; known: {', '.join(TABLES)}")
        row = {"workspace_id": self.workspace, **key, **amounts}
        cols = list(row)
        keys = ["workspace_id", *key]
        assign = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in amounts)
        with self._engine.transaction():
            self._engine.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {assign}",
                tuple(self._engine.adapt(v) for v in row.values()),
            )

    def require_durable_commits(self) -> None:
        """Make every later commit of this connection durable when it returns (PostgreSQL:
        ``synchronous_commit = on`` for the session, whatever the server's default)."""
        self._engine.durable_session()

    def make_durable(self) -> None:
        """Put everything committed so far on disk (DuckDB: a CHECKPOINT, which fsyncs the file).

        Callers that keep their own log (the tracking API's spool) delete it only after this.
        """
        self._engine.checkpoint()

    def durability(self) -> dict[str, str]:
        """The engine's settings that decide whether a commit survives a power cut."""
        return self._engine.durability_settings()

    def upsert(self, table: str, row: dict[str, Any], key: Sequence[str]) -> None:
        """Insert or replace one row of a small table (sources, imports) by its key."""
        if table not in TABLES:
            raise ConfigError(f"unknown table {table!r}; known: {', '.join(TABLES)}")
        row = {"workspace_id": self.workspace, **row}
        cols = list(row)
        keys = ["workspace_id", *key]
        assign = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys)
        conflict = f"DO UPDATE SET {assign}" if assign else "DO NOTHING"
        with self._engine.transaction():
            self._engine.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                f" ON CONFLICT ({', '.join(keys)}) {conflict}",
                tuple(self._engine.adapt(v) for v in row.values()),
            )

    def replace_rows(
        self,
        table: str,
        data: pa.Table | None,
        *,
        match: pa.Table | None = None,
        all_rows: bool = False,
    ) -> None:
        """Delete some of this workspace's rows of ``table``, then insert ``data``, in one transaction.

        The rows deleted are those whose columns named like ``match``'s equal one of its rows (or
        every row of the workspace with ``all_rows``); ``data`` is conformed to the table's columns.
        Derived tables (the identity graph, golden profiles) are rewritten this way, part by part.
        """
        if table not in TABLES:
            raise ConfigError(f"unknown table {table!r}; known: {', '.join(TABLES)}")
        eng = self._engine
        with eng.transaction():
            if all_rows:
                eng.execute(f"DELETE FROM {table} WHERE workspace_id = ?", (self.workspace,))
            elif match is not None and match.num_rows:
                known = set(eng.columns(table))
                for name in match.column_names:
                    if name not in known:
                        raise ConfigError(f"table {table!r} has no column {name!r}")
                eng.stage("_stage_match", match)
                same = " AND ".join(f"m.{c} = {table}.{c}" for c in match.column_names)
                eng.execute(
                    f"DELETE FROM {table} WHERE workspace_id = ? AND EXISTS"
                    f" (SELECT 1 FROM _stage_match m WHERE {same})",
                    (self.workspace,),
                )
                eng.unstage("_stage_match")
            if data is not None and data.num_rows:
                types = eng.column_types(table)
                data = _engines.conform(data, types, keep_structs=False)
                eng.stage("_stage_rows", data)
                cols = [(c, t) for c, t in types if c != "workspace_id"]
                eng.execute(
                    f"INSERT INTO {table} (workspace_id, {', '.join(c for c, _ in cols)}) SELECT ?, "
                    + ", ".join(f"CAST(s.{c} AS {t})" for c, t in cols)
                    + " FROM _stage_rows s",
                    (self.workspace,),
                )
                eng.unstage("_stage_rows")

    def temporary(self, data: pa.Table) -> ir.Table:
        """An Arrow table as a temporary table of this connection, to join with stored tables.

        Unlike an Ibis memtable, on PostgreSQL it is analysed, so the planner knows its size
        rather than guessing it. Dropped by :meth:`drop_temporaries`, or with the connection.
        """
        if self.engine != "postgres":
            return ibis.memtable(data)  # DuckDB scans Arrow in place and plans without statistics
        name = f"_tmp_{uuid.uuid4().hex[:16]}"
        self._engine.stage(name, data)
        self._engine.execute(f"ANALYZE {name}")
        self._temporaries.append(name)
        return self.backend.sql(f"SELECT * FROM {name}")

    def analyze(self, *tables: str) -> None:
        """Refresh the planner's statistics of some tables (PostgreSQL; DuckDB keeps its own).

        Bulk writes leave PostgreSQL guessing a table is tiny until autovacuum catches up, and a
        join planned on that guess can take minutes; a step that reads what a bulk write left
        calls this first.
        """
        if self.engine != "postgres":
            return
        for table in tables:
            if table not in TABLES:
                raise ConfigError(f"unknown table {table!r}; known: {', '.join(TABLES)}")
            self._engine.execute(f"ANALYZE {table}")

    def drop_temporaries(self) -> None:
        """Drop the tables :meth:`temporary` made."""
        while self._temporaries:
            self._engine.unstage(self._temporaries.pop())

    def splink_db_api(self) -> Any:
        """A Splink database API for matching on this store's engine.

        On DuckDB Splink runs inside the store's own connection; on other engines (Splink's
        PostgreSQL backend needs SQLAlchemy, which Profilo does not install) it gets a private
        in-memory DuckDB, and callers hand it the records as Arrow tables.
        """
        return _engines.splink_db_api(self._engine)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several writes into one transaction."""
        with self._engine.transaction():
            yield


def open_store(url: str, *, workspace: str = "default", migrate: bool = False) -> Store:
    """Open the store at ``url`` for one workspace, creating the schema first when ``migrate``.

    >>> store = open_store("duckdb://:memory:", migrate=True)
    >>> store.count_rows()["events"]
    0
    """
    if not workspace or not workspace.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(f"invalid workspace name {workspace!r}: use letters, digits, - and _")
    store = Store(parse_store_url(url), workspace)
    if migrate:
        store.migrate()
    else:
        store._require_schema()
    return store


def new_id() -> str:
    """A random id for runs and other things that have no natural key."""
    return uuid.uuid4().hex


_ = ibis  # Ibis is the expression language handed out by ``table``
