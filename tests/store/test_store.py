from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from profilo.errors import ConfigError, StoreError
from profilo.store import RecordSet, Store, open_store, parse_store_url
from profilo.store.schema import MIGRATIONS

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def events(ids: list[str], traits: list[dict[str, str]]) -> pa.Table:
    return pa.table(
        {
            "message_id": ids,
            "source": ["crm"] * len(ids),
            "type": ["record"] * len(ids),
            "record_key": ids,
            "received_at": pa.array([NOW] * len(ids), TS),
            "traits": pa.array(traits),
        }
    )


def identifiers(ids: list[str], emails: list[str]) -> pa.Table:
    return pa.table(
        {
            "message_id": ids,
            "source": ["crm"] * len(ids),
            "record_key": ids,
            "id_type": ["email"] * len(ids),
            "raw_value": emails,
            "value": [e.lower() for e in emails],
            "is_valid": [True] * len(ids),
            "observed_at": pa.array([NOW] * len(ids), TS),
        }
    )


def test_url_parsing() -> None:
    assert parse_store_url("duckdb:////tmp/a.duckdb").path is not None
    assert parse_store_url("duckdb://:memory:").path is None
    pg = parse_store_url("postgresql://postgres@127.0.0.1:5432/test?schema=abc")
    assert (pg.engine, pg.schema, pg.dsn) == (
        "postgres",
        "abc",
        "postgresql://postgres@127.0.0.1:5432/test",
    )
    with pytest.raises(ConfigError, match="unknown engine 'mysql'; known: duckdb, postgres"):
        parse_store_url("mysql://x")


def test_migrate_is_rerunnable(store: Store) -> None:
    assert store.schema_version() == MIGRATIONS[-1].version
    assert store.migrate() == []
    assert store.count_rows()["events"] == 0


def test_unmigrated_store_says_what_to_do(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StoreError, match="profilo init"):
        open_store(f"duckdb:///{tmp_path / 'empty.duckdb'}")


def test_save_inserts_then_recognises_unchanged_and_updated_rows(store: Store) -> None:
    first = RecordSet(
        events=events(["a", "b"], [{"x": "1"}, {"x": "2"}]),
        identifiers=identifiers(["a", "b"], ["A@x.fr", "b@x.fr"]),
    )
    counts = store.save(first)
    assert (counts.inserted, counts.updated, counts.unchanged) == (2, 0, 0)
    again = store.save(first)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    changed = RecordSet(
        events=events(["a", "b"], [{"x": "1"}, {"x": "3"}]),
        identifiers=identifiers(["a", "b"], ["A@x.fr", "new@x.fr"]),
    )
    counts = store.save(changed)
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, 1)
    rows = store.to_arrow(store.table("observed_identifiers").order_by("message_id")).to_pylist()
    assert [(r["message_id"], r["value"]) for r in rows] == [("a", "a@x.fr"), ("b", "new@x.fr")]


def test_last_row_wins_for_a_repeated_key(store: Store) -> None:
    counts = store.save(RecordSet(events=events(["a", "a"], [{"x": "old"}, {"x": "new"}])))
    assert (counts.inserted, counts.duplicate_keys) == (1, 1)
    traits = store.to_arrow(store.table("events").select("traits")).column(0).to_pylist()
    assert "new" in str(traits[0])


def test_workspaces_are_isolated(store_url: str) -> None:
    one = open_store(store_url, workspace="one", migrate=True)
    one.save(RecordSet(events=events(["a"], [{"x": "1"}])))
    one.close()
    two = open_store(store_url, workspace="two", migrate=True)
    assert two.count_rows()["events"] == 0
    two.save(RecordSet(events=events(["a"], [{"x": "2"}])))
    assert two.count_rows()["events"] == 1
    two.close()


def test_a_failed_write_leaves_nothing(store: Store) -> None:
    bad = RecordSet(
        events=events(["a"], [{"x": "1"}]),
        consents=pa.table({"consent_id": ["c1"], "message_id": ["a"]}),  # purpose missing: NOT NULL
    )
    with pytest.raises(StoreError):
        store.save(bad)
    assert store.count_rows()["events"] == 0


def test_invalid_workspace_name() -> None:
    with pytest.raises(ConfigError, match="invalid workspace name"):
        open_store("duckdb://:memory:", workspace="a b; drop")
