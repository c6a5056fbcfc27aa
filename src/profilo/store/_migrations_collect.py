"""Schema migrations of the collect capability: versions 3, 30–39 (each capability has its own range)."""

from __future__ import annotations

from profilo.store.migration import Migration

_V3 = (
    # Counters per source of the tracking API's loader, written in the same transaction as the
    # messages they count. Stored and quarantined rows can be counted in their tables; duplicates
    # (client retries) and conflicts (same id, other content) leave no row, so they are counted.
    """CREATE TABLE IF NOT EXISTS collect_stats (
        workspace_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        received BIGINT NOT NULL DEFAULT 0,
        stored BIGINT NOT NULL DEFAULT 0,
        duplicates BIGINT NOT NULL DEFAULT 0,
        conflicts BIGINT NOT NULL DEFAULT 0,
        quarantined BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (workspace_id, source)
    )""",
    # Where the loader stopped in each spool: moved in the transaction that stores the messages
    # before it, so a restart resumes exactly after the last batch stored.
    """CREATE TABLE IF NOT EXISTS collect_cursors (
        workspace_id VARCHAR NOT NULL,
        spool_id VARCHAR NOT NULL,
        segment BIGINT NOT NULL,
        byte_offset BIGINT NOT NULL,
        updated_at {ts} NOT NULL,
        PRIMARY KEY (workspace_id, spool_id)
    )""",
    # A source's tracking plan: JSON Schemas per event and for identify and group traits, and
    # what to do with violations and unknown events.
    """CREATE TABLE IF NOT EXISTS tracking_plans (
        workspace_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        plan {json} NOT NULL,
        updated_at {ts} NOT NULL,
        PRIMARY KEY (workspace_id, source)
    )""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        3,
        "collect: tracking API counters, spool cursors, tracking plans",
        _V3,
        tables=("collect_stats", "collect_cursors", "tracking_plans"),
    ),
)
