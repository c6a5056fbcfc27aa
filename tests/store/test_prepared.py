"""Prepared queries: compiled once per store, run with bound values, on DuckDB and PostgreSQL."""

from __future__ import annotations

import ibis
import pytest

from profilo.errors import ConfigError, StoreError
from profilo.store import PreparedQuery, Store


def _identity(store: Store, value: str, profile_id: str, records: int, detail: str) -> None:
    row = {"id_type": "email", "value": value, "profile_id": profile_id, "status": "linked"}
    store.upsert("identities", {**row, "records": records, "detail": detail}, ["id_type", "value"])


def _by_value(store: Store) -> PreparedQuery:
    kind, value, least = ibis.param("string"), ibis.param("string"), ibis.param("int64")
    ids = store.table("identities")
    hit = ids.filter(ids.id_type == kind, ids.value == value, ids.records >= least)
    return store.prepare(hit.select("profile_id", "records"), kind=kind, value=value, least=least)


def test_binds_values_and_compiles_once(store: Store) -> None:
    _identity(store, "a%b@x.fr", "p1", 3, "")
    _identity(store, "it's@x.fr", "p2", 1, "")
    query = store.prepared("test.by_value", _by_value)
    assert store.prepared("test.by_value", _by_value) is query
    assert query(kind="email", value="a%b@x.fr", least=2) == [{"profile_id": "p1", "records": 3}]
    assert query(kind="email", value="a%b@x.fr", least=4) == []
    assert query.first(kind="email", value="it's@x.fr", least=0) == {
        "profile_id": "p2",
        "records": 1,
    }
    # values are bound, never spliced: text that would break out of a literal is just a value
    assert query(kind="email' OR '1'='1", value="x' OR 'a'='a", least=0) == []
    assert "a%b" not in query.sql and "email" not in query.sql


def test_literal_percent_and_json_columns(store: Store) -> None:
    _identity(store, "c@x.fr", "p3", 1, "")
    store.upsert(
        "profiles",
        {
            "profile_id": "p3",
            "records": 1,
            "sources": "crm",
            "traits": {"city": "Lyon", "n": 2},
            "updated_at": "2026-01-01T00:00:00+00:00",
        },
        ["profile_id"],
    )
    pid = ibis.param("string")
    profiles = store.table("profiles")
    query = store.prepare(
        profiles.filter(profiles.profile_id == pid, profiles.sources.like("%r%")).select(
            "profile_id", "traits"
        ),
        pid=pid,
    )
    assert query(pid="p3") == [{"profile_id": "p3", "traits": {"city": "Lyon", "n": 2}}]


def test_errors_name_the_parameter(store: Store) -> None:
    query = store.prepared("test.by_value", _by_value)
    with pytest.raises(ConfigError, match="missing \\['least'\\]"):
        query(kind="email", value="x")
    ids = store.table("identities")
    unused = ibis.param("string")
    with pytest.raises(StoreError, match="does not use its parameter"):
        store.prepare(ids.select("value"), unused=unused)
    when = ibis.param("timestamp")
    with pytest.raises(ConfigError, match="bind strings and integers"):
        store.prepare(ids.filter(ids.first_seen == when), when=when)


def test_point_reads_use_an_index_on_duckdb(store: Store) -> None:
    query = store.prepared("test.by_value", _by_value)
    if store.engine == "duckdb":
        # DuckDB scans an index only for a lone filter on its column: the read is shaped so
        assert f"LIMIT {2**63 - 1}" in query.sql
    else:
        assert "LIMIT" not in query.sql
