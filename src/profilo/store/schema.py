"""Profilo's tables and their versioned migrations.

Each migration is a list of statements written once with ``{json}``, ``{double}`` and ``{ts}``
placeholders that each engine fills with its own type names. Migrations run in order, each in one
transaction, and are recorded in ``schema_migrations``, so ``migrate`` is safe to run again.
Every table carries ``workspace_id``.
"""

from __future__ import annotations

from profilo.store._migrations_access import MIGRATIONS as _ACCESS
from profilo.store._migrations_activation import MIGRATIONS as _ACTIVATION
from profilo.store._migrations_audiences import MIGRATIONS as _AUDIENCES
from profilo.store._migrations_collect import MIGRATIONS as _COLLECT
from profilo.store._migrations_identity import MIGRATIONS as _IDENTITY
from profilo.store.migration import Migration

__all__ = ["MIGRATIONS", "TABLES", "Migration", "render"]


_V1 = (
    """CREATE TABLE IF NOT EXISTS workspaces (
        workspace_id VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL,
        created_at {ts} NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS sources (
        workspace_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        party VARCHAR NOT NULL,
        category VARCHAR NOT NULL,
        origin VARCHAR NOT NULL,
        write_key VARCHAR,
        settings {json},
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        PRIMARY KEY (workspace_id, source)
    )""",
    """CREATE TABLE IF NOT EXISTS imports (
        workspace_id VARCHAR NOT NULL,
        import_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        location VARCHAR NOT NULL,
        started_at {ts} NOT NULL,
        finished_at {ts},
        status VARCHAR NOT NULL,
        rows_read BIGINT NOT NULL DEFAULT 0,
        rows_inserted BIGINT NOT NULL DEFAULT 0,
        rows_updated BIGINT NOT NULL DEFAULT 0,
        rows_unchanged BIGINT NOT NULL DEFAULT 0,
        rows_quarantined BIGINT NOT NULL DEFAULT 0,
        rows_duplicate_key BIGINT NOT NULL DEFAULT 0,
        error VARCHAR,
        PRIMARY KEY (workspace_id, import_id)
    )""",
    # The raw, append-only log: one row per message or imported row. Imported rows get a message
    # id made of their source and key, so importing the same row twice finds the same row.
    """CREATE TABLE IF NOT EXISTS events (
        workspace_id VARCHAR NOT NULL,
        message_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        type VARCHAR NOT NULL,
        event VARCHAR,
        record_key VARCHAR,
        anonymous_id VARCHAR,
        user_id VARCHAR,
        timestamp {ts},
        received_at {ts} NOT NULL,
        properties {json},
        traits {json},
        context {json},
        payload_hash VARCHAR NOT NULL
    )""",
    # On PostgreSQL a unique index guards (workspace, message id) against concurrent writers. A
    # DuckDB file has one writing process, whose writes go through ``Store.save``: an anti-join
    # there keeps ids unique, and the table skips an index that would triple the cost of inserts.
    "postgres: ALTER TABLE events ADD PRIMARY KEY (workspace_id, message_id)",
    # Every identifier seen on a message, raw beside clean, with its validity.
    """CREATE TABLE IF NOT EXISTS observed_identifiers (
        workspace_id VARCHAR NOT NULL,
        message_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        record_key VARCHAR,
        id_type VARCHAR NOT NULL,
        raw_value VARCHAR,
        value VARCHAR,
        is_valid BOOLEAN,
        observed_at {ts}
    )""",
    # Every trait seen on a message (long form: the lineage of each value is its row).
    """CREATE TABLE IF NOT EXISTS observed_traits (
        workspace_id VARCHAR NOT NULL,
        message_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        record_key VARCHAR,
        trait VARCHAR NOT NULL,
        value_type VARCHAR NOT NULL,
        raw_value VARCHAR,
        value VARCHAR,
        match_key VARCHAR,
        is_valid BOOLEAN,
        observed_at {ts}
    )""",
    # Consent records are history: a change of status is a new row, never an update.
    """CREATE TABLE IF NOT EXISTS consents (
        workspace_id VARCHAR NOT NULL,
        consent_id VARCHAR NOT NULL,
        message_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        record_key VARCHAR,
        purpose VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        legal_basis VARCHAR NOT NULL,
        consented_at {ts},
        recorded_at {ts} NOT NULL,
        PRIMARY KEY (workspace_id, consent_id)
    )""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        workspace_id VARCHAR NOT NULL,
        quarantine_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        origin VARCHAR NOT NULL,
        location VARCHAR,
        reason VARCHAR NOT NULL,
        field VARCHAR,
        detail VARCHAR,
        raw VARCHAR NOT NULL,
        received_at {ts} NOT NULL,
        status VARCHAR NOT NULL,
        PRIMARY KEY (workspace_id, quarantine_id)
    )""",
    # DuckDB scans columns fast and pays for every secondary index on insert; PostgreSQL needs them.
    "postgres: CREATE INDEX IF NOT EXISTS observed_identifiers_msg ON observed_identifiers"
    " (workspace_id, message_id)",
    "postgres: CREATE INDEX IF NOT EXISTS observed_traits_msg ON observed_traits"
    " (workspace_id, message_id)",
)

_FOUNDATION = Migration(
    1,
    "foundation",
    _V1,
    tables=(
        "workspaces",
        "sources",
        "imports",
        "events",
        "observed_identifiers",
        "observed_traits",
        "consents",
        "quarantine",
    ),
)

# Each capability keeps its migrations in a module of its own here, so they can grow apart.

MIGRATIONS: tuple[Migration, ...] = tuple(
    sorted(
        (_FOUNDATION, *_IDENTITY, *_COLLECT, *_AUDIENCES, *_ACTIVATION, *_ACCESS),
        key=lambda m: m.version,
    )
)

TABLES: tuple[str, ...] = tuple(t for m in MIGRATIONS for t in m.tables)
"""Tables every workspace has, in the order ``status`` reports them."""

_TYPES = {
    "duckdb": {"json": "JSON", "double": "DOUBLE", "ts": "TIMESTAMPTZ"},
    "postgres": {"json": "JSONB", "double": "DOUBLE PRECISION", "ts": "TIMESTAMPTZ"},
}


def render(statement: str, engine: str) -> str | None:
    """Fill an engine's type names into a migration statement.

    A statement prefixed ``"<engine>: "`` runs on that engine only (None elsewhere).
    """
    for name in _TYPES:
        prefix = f"{name}: "
        if statement.startswith(prefix):
            if name != engine:
                return None
            statement = statement[len(prefix) :]
    return statement.format(**_TYPES[engine])
