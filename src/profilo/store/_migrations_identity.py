"""Schema migrations of the identity capability: versions 2, 20–29 (each capability has its own range)."""

from __future__ import annotations

from profilo.store.migration import Migration

# The identity graph. `identity_records` maps every record (source, record key) to its profile and
# to its raw component (the records joined by any shared identifier before limits are applied), so
# an incremental run knows which records to resolve again. `identities` maps each identifier value
# to the profile that holds it; `identity_conflicts` lists links left out by a limit or an override.
_GRAPH = (
    """CREATE TABLE IF NOT EXISTS identity_records (
        workspace_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        record_key VARCHAR NOT NULL,
        profile_id VARCHAR NOT NULL,
        component_id VARCHAR NOT NULL,
        linked_by VARCHAR NOT NULL,
        link_type VARCHAR,
        link_value VARCHAR,
        first_seen {ts},
        last_seen {ts},
        resolved_at {ts} NOT NULL,
        PRIMARY KEY (workspace_id, source, record_key)
    )""",
    """CREATE TABLE IF NOT EXISTS identities (
        workspace_id VARCHAR NOT NULL,
        id_type VARCHAR NOT NULL,
        value VARCHAR NOT NULL,
        profile_id VARCHAR,
        component_id VARCHAR,
        status VARCHAR NOT NULL,
        source VARCHAR,
        records BIGINT NOT NULL,
        first_seen {ts},
        last_seen {ts},
        detail VARCHAR,
        PRIMARY KEY (workspace_id, id_type, value)
    )""",
    """CREATE TABLE IF NOT EXISTS identity_conflicts (
        workspace_id VARCHAR NOT NULL,
        component_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        record_key VARCHAR NOT NULL,
        profile_id VARCHAR NOT NULL,
        id_type VARCHAR NOT NULL,
        value VARCHAR NOT NULL,
        held_by VARCHAR,
        reason VARCHAR NOT NULL
    )""",
    # Which version of each message the graph has seen: an incremental run picks up the others.
    """CREATE TABLE IF NOT EXISTS identity_messages (
        workspace_id VARCHAR NOT NULL,
        message_id VARCHAR NOT NULL,
        payload_hash VARCHAR NOT NULL,
        PRIMARY KEY (workspace_id, message_id)
    )""",
    # The audit log: every merge and split of profiles and every manual decision, with evidence.
    """CREATE TABLE IF NOT EXISTS merges (
        workspace_id VARCHAR NOT NULL,
        merge_id VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        profile_id VARCHAR,
        other_profile_id VARCHAR,
        rule VARCHAR,
        score {double},
        evidence {json},
        created_at {ts} NOT NULL,
        created_by VARCHAR,
        PRIMARY KEY (workspace_id, merge_id)
    )""",
    "postgres: CREATE INDEX IF NOT EXISTS identity_records_component ON identity_records"
    " (workspace_id, component_id)",
    "postgres: CREATE INDEX IF NOT EXISTS identity_records_profile ON identity_records"
    " (workspace_id, profile_id)",
    "postgres: CREATE INDEX IF NOT EXISTS identity_conflicts_component ON identity_conflicts"
    " (workspace_id, component_id)",
    "postgres: CREATE INDEX IF NOT EXISTS observed_identifiers_value ON observed_identifiers"
    " (workspace_id, id_type, value)",
    "postgres: CREATE INDEX IF NOT EXISTS observed_identifiers_record ON observed_identifiers"
    " (workspace_id, source, record_key)",
)

# Probabilistic matching: scored record pairs (merge, review or keep apart) and the overrides a
# person made (two records that are never the same), which every later run respects.
_MATCHING = (
    """CREATE TABLE IF NOT EXISTS match_pairs (
        workspace_id VARCHAR NOT NULL,
        pair_id VARCHAR NOT NULL,
        source_l VARCHAR NOT NULL,
        record_key_l VARCHAR NOT NULL,
        source_r VARCHAR NOT NULL,
        record_key_r VARCHAR NOT NULL,
        match_weight {double} NOT NULL,
        match_probability {double} NOT NULL,
        outcome VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        evidence {json},
        scored_at {ts} NOT NULL,
        decided_at {ts},
        decided_by VARCHAR,
        PRIMARY KEY (workspace_id, pair_id)
    )""",
    """CREATE TABLE IF NOT EXISTS identity_overrides (
        workspace_id VARCHAR NOT NULL,
        override_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        source_l VARCHAR NOT NULL,
        record_key_l VARCHAR NOT NULL,
        source_r VARCHAR NOT NULL,
        record_key_r VARCHAR NOT NULL,
        reason VARCHAR,
        created_at {ts} NOT NULL,
        created_by VARCHAR,
        PRIMARY KEY (workspace_id, override_id)
    )""",
)

# Golden records: one row per profile, and one row per profile and trait with the surviving value,
# where it came from (lineage), the rule that chose it and whether the sources disagreed.
_PROFILES = (
    """CREATE TABLE IF NOT EXISTS profiles (
        workspace_id VARCHAR NOT NULL,
        profile_id VARCHAR NOT NULL,
        records BIGINT NOT NULL,
        sources VARCHAR,
        first_seen {ts},
        last_seen {ts},
        traits {json},
        updated_at {ts} NOT NULL,
        PRIMARY KEY (workspace_id, profile_id)
    )""",
    """CREATE TABLE IF NOT EXISTS profile_traits (
        workspace_id VARCHAR NOT NULL,
        profile_id VARCHAR NOT NULL,
        trait VARCHAR NOT NULL,
        value VARCHAR,
        source VARCHAR,
        record_key VARCHAR,
        observed_at {ts},
        rule VARCHAR NOT NULL,
        candidates BIGINT NOT NULL,
        conflict BOOLEAN NOT NULL,
        PRIMARY KEY (workspace_id, profile_id, trait)
    )""",
)

# The workspace's identity rules (a definition, kept as JSON) and the fingerprint of the rules
# the graph was last built with: a run under changed rules rebuilds everything.
_SETTINGS = (
    """CREATE TABLE IF NOT EXISTS identity_settings (
        workspace_id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        value {json},
        fingerprint VARCHAR,
        updated_at {ts} NOT NULL,
        PRIMARY KEY (workspace_id, name)
    )""",
)

# Point reads by identifier and by profile id (profile lookup, personalisation). DuckDB scans with
# an index only when it has a single column, so its compound primary keys do not serve them; these
# do, for the price of maintaining two more indexes on writes. PostgreSQL's primary keys suffice.
_POINT_READS = (
    "duckdb: CREATE INDEX IF NOT EXISTS identities_value ON identities (value)",
    "duckdb: CREATE INDEX IF NOT EXISTS profiles_profile ON profiles (profile_id)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        2,
        "identity graph",
        _GRAPH,
        tables=(
            "identity_records",
            "identities",
            "identity_conflicts",
            "identity_messages",
            "merges",
        ),
    ),
    Migration(20, "identity matching", _MATCHING, tables=("match_pairs", "identity_overrides")),
    Migration(21, "golden profiles", _PROFILES, tables=("profiles", "profile_traits")),
    Migration(22, "identity settings", _SETTINGS, tables=("identity_settings",)),
    Migration(23, "identity: point-read indexes", _POINT_READS),
)
