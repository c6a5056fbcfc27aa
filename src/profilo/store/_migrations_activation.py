"""Schema migrations of the activate capability: versions 60–69 (each capability has its own range).

As elsewhere, keys and secondary indexes are declared on PostgreSQL only: a DuckDB file has one
writing process (the sync engine keeps change ids unique itself), and every index there slows the
bulk inserts a sync of a large audience makes.
"""

from __future__ import annotations

from profilo.store.migration import Migration

__all__ = ["MIGRATIONS"]

_DESTINATIONS = (
    # Destination definitions: the definition as JSON (never the credentials), the credentials as
    # one encrypted token (Fernet), and a fingerprint of the definition.
    """CREATE TABLE IF NOT EXISTS destinations (
        workspace_id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        definition {json} NOT NULL,
        credentials VARCHAR,
        fingerprint VARCHAR NOT NULL,
        enabled BOOLEAN NOT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        last_sync_at {ts},
        PRIMARY KEY (workspace_id, name)
    )""",
    # Where each destination's feeds stopped: a membership outbox position, a time watermark.
    """CREATE TABLE IF NOT EXISTS sync_cursors (
        workspace_id VARCHAR NOT NULL,
        destination VARCHAR NOT NULL,
        feed VARCHAR NOT NULL,
        position BIGINT,
        watermark {ts},
        updated_at {ts} NOT NULL,
        PRIMARY KEY (workspace_id, destination, feed)
    )""",
    # The outbox and the delivery log in one: one row per change per destination, with its state
    # (pending, in_flight, delivered, dead, skipped, superseded), what was sent and why not.
    """CREATE TABLE IF NOT EXISTS deliveries (
        workspace_id VARCHAR NOT NULL,
        destination VARCHAR NOT NULL,
        change_id VARCHAR NOT NULL,
        seq BIGINT NOT NULL,
        profile_id VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        audience VARCHAR,
        payload {json},
        status VARCHAR NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at {ts},
        reason VARCHAR,
        batch_id VARCHAR,
        occurred_at {ts} NOT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        delivered_at {ts}
    )""",
    "postgres: ALTER TABLE deliveries ADD PRIMARY KEY (workspace_id, destination, change_id)",
    "postgres: CREATE INDEX IF NOT EXISTS deliveries_status ON deliveries"
    " (workspace_id, destination, status, seq)",
    "postgres: CREATE INDEX IF NOT EXISTS deliveries_profile ON deliveries"
    " (workspace_id, profile_id)",
    # What each destination holds, as far as Profilo told it: audience members (audience '' for
    # a trait sync). (``destination_profiles``, the fingerprint of the fields last sent, was
    # dropped in 61: the delivery log's last upsert payload says the same.)
    """CREATE TABLE IF NOT EXISTS destination_members (
        workspace_id VARCHAR NOT NULL,
        destination VARCHAR NOT NULL,
        audience VARCHAR NOT NULL,
        profile_id VARCHAR NOT NULL,
        added_at {ts} NOT NULL
    )""",
    "postgres: ALTER TABLE destination_members ADD PRIMARY KEY"
    " (workspace_id, destination, audience, profile_id)",
    "postgres: CREATE INDEX IF NOT EXISTS destination_members_profile ON destination_members"
    " (workspace_id, destination, profile_id)",
    """CREATE TABLE IF NOT EXISTS destination_profiles (
        workspace_id VARCHAR NOT NULL,
        destination VARCHAR NOT NULL,
        profile_id VARCHAR NOT NULL,
        fingerprint VARCHAR NOT NULL,
        sent_at {ts} NOT NULL
    )""",
    "postgres: ALTER TABLE destination_profiles ADD PRIMARY KEY"
    " (workspace_id, destination, profile_id)",
)

# The personalisation API: keys (stored as SHA-256 of the secret, with the scope of what each may
# see), one precomputed card per profile (traits, computed traits, segments, recommendations and
# whether the person consented to personalisation) and the non-personal defaults. A request is a
# point read of the identifier, then of the card: on DuckDB each needs a single-column index (its
# scans use no compound key), so these tables have one there too.
_PERSONALISATION = (
    """CREATE TABLE IF NOT EXISTS personalisation_keys (
        workspace_id VARCHAR NOT NULL,
        key_id VARCHAR NOT NULL,
        key_hash VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        scope {json} NOT NULL,
        created_at {ts} NOT NULL,
        revoked_at {ts},
        PRIMARY KEY (workspace_id, key_id)
    )""",
    """CREATE TABLE IF NOT EXISTS profile_cards (
        workspace_id VARCHAR NOT NULL,
        profile_id VARCHAR NOT NULL,
        consented BOOLEAN NOT NULL,
        traits {json},
        computed {json},
        segments {json},
        recommendations {json},
        updated_at {ts} NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS personalisation_defaults (
        workspace_id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        value {json} NOT NULL,
        updated_at {ts} NOT NULL,
        PRIMARY KEY (workspace_id, name)
    )""",
)

_PERSONALISATION_INDEXES = (
    "postgres: ALTER TABLE profile_cards ADD PRIMARY KEY (workspace_id, profile_id)",
    "postgres: CREATE UNIQUE INDEX IF NOT EXISTS personalisation_keys_hash ON"
    " personalisation_keys (key_hash)",
    "duckdb: CREATE INDEX IF NOT EXISTS profile_cards_profile ON profile_cards (profile_id)",
    "duckdb: CREATE INDEX IF NOT EXISTS personalisation_keys_hash ON personalisation_keys"
    " (key_hash)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        60,
        "activation: destinations, cursors, deliveries, destination state",
        _DESTINATIONS,
        tables=(
            "destinations",
            "sync_cursors",
            "deliveries",
            "destination_members",
        ),
    ),
    # Each change was written three times (delivery log, members, fingerprints); the fields last
    # sent to a person are the payload of their last upsert in ``deliveries``, so the third goes.
    Migration(
        61,
        "activation: fields last sent are read from the delivery log",
        ("DROP TABLE IF EXISTS destination_profiles",),
    ),
    Migration(
        68,
        "activation: personalisation keys, profile cards, defaults",
        _PERSONALISATION,
        tables=("personalisation_keys", "profile_cards", "personalisation_defaults"),
    ),
    Migration(69, "activation: personalisation point-read indexes", _PERSONALISATION_INDEXES),
)
