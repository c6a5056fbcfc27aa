"""Schema migrations of profiles and audiences: versions 5, 50–59 (each capability has its own range).

Derived tables that hold one row per event or per profile (``profile_events``, ``computed_traits``,
``memberships``…) get their keys and indexes on PostgreSQL only: a DuckDB file has one writer, which
rewrites them through ``Store.replace_rows`` (delete, then insert), and every secondary index there
would slow bulk inserts several times over. DuckDB finds a profile's rows through zone maps instead:
full rebuilds write them sorted by profile.
"""

from __future__ import annotations

from profilo.store.migration import Migration

_PROFILES = (
    # Every event of every record, keyed by the profile its record belongs to (events ⋈
    # identity_records): what timelines, computed traits and segments read.
    """CREATE TABLE IF NOT EXISTS profile_events (
        workspace_id VARCHAR NOT NULL,
        profile_id VARCHAR NOT NULL,
        message_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        record_key VARCHAR,
        type VARCHAR NOT NULL,
        event VARCHAR,
        timestamp {ts},
        properties {json}
    )""",
    "postgres: ALTER TABLE profile_events ADD PRIMARY KEY (workspace_id, message_id)",
    "postgres: CREATE INDEX IF NOT EXISTS profile_events_profile ON profile_events"
    " (workspace_id, profile_id, timestamp)",
    "postgres: CREATE INDEX IF NOT EXISTS profile_events_event ON profile_events"
    " (workspace_id, event, timestamp)",
    "postgres: CREATE INDEX IF NOT EXISTS profile_events_record ON profile_events"
    " (workspace_id, source, record_key)",
    # The current consent of each profile per purpose: the latest change among its records.
    """CREATE TABLE IF NOT EXISTS profile_consents (
        workspace_id VARCHAR NOT NULL,
        profile_id VARCHAR NOT NULL,
        purpose VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        changed_at {ts},
        source VARCHAR,
        record_key VARCHAR
    )""",
    "postgres: ALTER TABLE profile_consents ADD PRIMARY KEY (workspace_id, profile_id, purpose)",
    # Where each incremental refresh stopped (a time watermark per named step).
    """CREATE TABLE IF NOT EXISTS profile_refreshes (
        workspace_id VARCHAR NOT NULL,
        step VARCHAR NOT NULL,
        watermark {ts},
        updated_at {ts} NOT NULL,
        PRIMARY KEY (workspace_id, step)
    )""",
    # Computed traits: definitions are data; values are one row per profile and trait, typed.
    """CREATE TABLE IF NOT EXISTS trait_definitions (
        workspace_id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        definition {json} NOT NULL,
        value_kind VARCHAR NOT NULL,
        fingerprint VARCHAR NOT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        computed_at {ts},
        PRIMARY KEY (workspace_id, name)
    )""",
    """CREATE TABLE IF NOT EXISTS computed_traits (
        workspace_id VARCHAR NOT NULL,
        profile_id VARCHAR NOT NULL,
        trait VARCHAR NOT NULL,
        number_value {double},
        text_value VARCHAR,
        time_value {ts},
        computed_at {ts} NOT NULL
    )""",
    "postgres: ALTER TABLE computed_traits ADD PRIMARY KEY (workspace_id, profile_id, trait)",
    "postgres: CREATE INDEX IF NOT EXISTS computed_traits_trait ON computed_traits"
    " (workspace_id, trait)",
)

_AUDIENCES = (
    """CREATE TABLE IF NOT EXISTS segments (
        workspace_id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        rule {json} NOT NULL,
        rule_text VARCHAR NOT NULL,
        description VARCHAR,
        fingerprint VARCHAR NOT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        evaluated_at {ts},
        members BIGINT,
        PRIMARY KEY (workspace_id, name)
    )""",
    # Who is in each segment now.
    """CREATE TABLE IF NOT EXISTS memberships (
        workspace_id VARCHAR NOT NULL,
        segment VARCHAR NOT NULL,
        profile_id VARCHAR NOT NULL,
        entered_at {ts} NOT NULL
    )""",
    "postgres: ALTER TABLE memberships ADD PRIMARY KEY (workspace_id, segment, profile_id)",
    "postgres: CREATE INDEX IF NOT EXISTS memberships_profile ON memberships"
    " (workspace_id, profile_id)",
    # Every entry and exit, for ever (the membership history).
    """CREATE TABLE IF NOT EXISTS membership_changes (
        workspace_id VARCHAR NOT NULL,
        change_id VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        segment VARCHAR NOT NULL,
        profile_id VARCHAR NOT NULL,
        change VARCHAR NOT NULL,
        changed_at {ts} NOT NULL,
        trigger VARCHAR NOT NULL
    )""",
    "postgres: ALTER TABLE membership_changes ADD PRIMARY KEY (workspace_id, change_id)",
    "postgres: CREATE INDEX IF NOT EXISTS membership_changes_profile ON membership_changes"
    " (workspace_id, profile_id)",
    # The same changes as messages for activation to read, in ``position`` order, then mark sent.
    """CREATE TABLE IF NOT EXISTS membership_outbox (
        workspace_id VARCHAR NOT NULL,
        position BIGINT NOT NULL,
        change_id VARCHAR NOT NULL,
        segment VARCHAR NOT NULL,
        profile_id VARCHAR NOT NULL,
        change VARCHAR NOT NULL,
        changed_at {ts} NOT NULL,
        payload {json} NOT NULL,
        delivered_at {ts}
    )""",
    "postgres: ALTER TABLE membership_outbox ADD PRIMARY KEY (workspace_id, position)",
)

# Attribution joins events and consents to identity_records on (source, record_key). On PostgreSQL,
# tables just bulk-loaded have no statistics yet, and without an index on the events side the
# planner's nested loop turns a join of a second into minutes.
_RECORD_INDEXES = (
    "postgres: CREATE INDEX IF NOT EXISTS events_record ON events (workspace_id, source, record_key)",
    "postgres: CREATE INDEX IF NOT EXISTS consents_record ON consents"
    " (workspace_id, source, record_key)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        5,
        "profiles: events by profile, consents, computed traits",
        _PROFILES,
        tables=(
            "profile_events",
            "profile_consents",
            "profile_refreshes",
            "trait_definitions",
            "computed_traits",
        ),
    ),
    Migration(
        50,
        "audiences: segments, memberships, history, outbox",
        _AUDIENCES,
        tables=("segments", "memberships", "membership_changes", "membership_outbox"),
    ),
    Migration(51, "profiles: events and consents by record", _RECORD_INDEXES),
    # A segment's title is what people read (renaming changes it; the name rules, the API and
    # destinations use never changes); an archived segment is kept but no longer evaluated.
    Migration(
        52,
        "audiences: segment titles and archiving",
        (
            "ALTER TABLE segments ADD COLUMN title VARCHAR",
            "ALTER TABLE segments ADD COLUMN archived_at {ts}",
        ),
    ),
)
