"""The ``sql`` destination on real databases: PostgreSQL (a schema per test) and a DuckDB file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from profilo.activate.destinations import DeliveryError, make_destination
from profilo.activate.destinations.sql import SqlDestination, make_sql
from profilo.errors import ConfigError
from profilo.store import parse_store_url

from .factories import change

OPENED: list[SqlDestination] = []


@pytest.fixture(autouse=True)
def _close_destinations() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty target database: a DuckDB file, or a PostgreSQL schema dropped after the test."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    return str(request.getfixturevalue("pg_schema"))


def sql(url: str, **settings: Any) -> SqlDestination:
    destination = make_sql({"url": url, "table": "audience_members", **settings}, {})
    OPENED.append(destination)
    return destination


def read(url: str, table: str = "audience_members") -> dict[str, dict[str, Any]]:
    """The table's rows by profile id, read straight from the database."""
    target = parse_store_url(url)
    if target.engine == "duckdb":
        with duckdb.connect(str(target.path)) as con:
            cursor = con.execute(f"SELECT * FROM {table} ORDER BY profile_id")
            names = [d[0] for d in cursor.description or []]
            rows = cursor.fetchall()
    else:
        with psycopg.connect(target.dsn or "") as con:
            cursor = con.execute(f'SELECT * FROM "{target.schema}".{table} ORDER BY profile_id')
            names = [d.name for d in cursor.description or []]
            rows = cursor.fetchall()
    return {row[0]: dict(zip(names, row, strict=True)) for row in rows}


def test_rows_with_fields_and_segment_flags(target_url: str) -> None:
    destination = sql(target_url)
    outcome = destination.send(
        [
            change(
                "p1",
                audience="vip",
                fields={"email": "ada@example.com", "orders": 12, "ltv": 310.5, "tags": ["a", "b"]},
            ),
            change(
                "p2", audience="vip", fields={"email": "bob@example.com", "orders": 1, "ltv": None}
            ),
            change("p2", audience="Churn Risk", fields={"email": "bob@example.com"}),
        ]
    )
    assert outcome.failed == {}
    assert outcome.details["upserted"] == 2
    rows = read(target_url)
    assert set(rows) == {"p1", "p2"}
    ada, bob = rows["p1"], rows["p2"]
    assert (ada["email"], ada["orders"], ada["ltv"], ada["in_vip"]) == (
        "ada@example.com",
        12,
        310.5,
        True,
    )
    assert ada["in_churn_risk"] is None
    tags = ada["tags"] if isinstance(ada["tags"], list) else json.loads(ada["tags"])
    assert tags == ["a", "b"]
    assert (bob["in_vip"], bob["in_churn_risk"], bob["ltv"]) == (True, True, None)
    assert ada["profilo_updated_at"] == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_sending_again_gives_the_same_table(target_url: str) -> None:
    destination = sql(target_url)
    batch = [change("p1", fields={"email": "ada@example.com", "orders": 3})]
    destination.send(batch)
    first = read(target_url)
    destination.send(batch)
    assert read(target_url) == first


def test_remove_deletes_rows_left_in_no_segment(target_url: str) -> None:
    destination = sql(target_url)
    destination.send(
        [
            change("p1", audience="vip", fields={"email": "a@example.com"}),
            change("p1", audience="churn_risk", fields={"email": "a@example.com"}),
            change("p2", audience="vip", fields={"email": "b@example.com"}),
            change("p3", audience="vip", fields={"email": "c@example.com"}),
        ]
    )
    outcome = destination.send(
        [
            change("p1", "remove", "vip"),
            change("p2", "remove", "vip"),
            change("p3", "remove", None),
            change("p9", "remove", "vip"),  # never written: nothing to do
        ]
    )
    assert outcome.failed == {}
    rows = read(target_url)
    assert set(rows) == {"p1"}
    assert (rows["p1"]["in_vip"], rows["p1"]["in_churn_risk"]) == (False, True)


def test_flag_mode_keeps_rows(target_url: str) -> None:
    destination = sql(target_url, on_remove="flag")
    destination.send(
        [
            change("p1", audience="vip", fields={"email": "a@example.com"}),
            change("p1", audience="churn_risk", fields={"email": "a@example.com"}),
            change("p2", audience="vip", fields={"email": "b@example.com"}),
        ]
    )
    destination.send(
        [change("p1", "remove", None), change("p2", "remove", "vip"), change("p9", "remove", "vip")]
    )
    rows = read(target_url)
    assert set(rows) == {"p1", "p2"}
    assert (rows["p1"]["in_vip"], rows["p1"]["in_churn_risk"]) == (False, False)
    assert rows["p2"]["in_vip"] is False


def test_changes_of_one_profile_apply_in_order(target_url: str) -> None:
    destination = sql(target_url)
    destination.send(
        [
            change("p1", audience="vip", fields={"plan": "free"}),
            change("p1", "remove", "vip"),
            change("p1", audience="churn_risk", fields={"plan": "pro"}),
        ]
    )
    row = read(target_url)["p1"]
    assert (row["plan"], row["in_vip"], row["in_churn_risk"]) == ("pro", False, True)


def test_new_fields_add_columns(target_url: str) -> None:
    destination = sql(target_url, columns={"birth_date": "date"})
    destination.send([change("p1", fields={"email": "a@example.com"})])
    destination.send([change("p2", fields={"email": "b@example.com", "city": "Lyon"})])
    rows = read(target_url)
    assert rows["p1"]["city"] is None and rows["p2"]["city"] == "Lyon"
    assert "birth_date" in rows["p1"]


def test_bad_names_fail_their_change_and_never_reach_sql(target_url: str) -> None:
    destination = sql(target_url)
    injected = change("p1", fields={'x" text); DROP TABLE audience_members; --': 1})
    reserved = change("p2", fields={"profile_id": "p9"})
    fine = change("p3", audience="vip; drop table x", fields={"email": "c@example.com"})
    outcome = destination.send([injected, reserved, fine])
    assert set(outcome.failed) == {injected.change_id, reserved.change_id}
    assert "invalid field name" in outcome.failed[injected.change_id].reason
    assert not any(f.retryable for f in outcome.failed.values())
    assert read(target_url)["p3"]["in_vip_drop_table_x"] is True


def test_a_value_that_does_not_fit_its_column_fails_the_batch_for_good(target_url: str) -> None:
    destination = sql(target_url)
    destination.send([change("p1", fields={"orders": 3})])
    with pytest.raises(DeliveryError) as caught:
        destination.send([change("p2", fields={"orders": "many"})])
    assert not caught.value.retryable
    assert set(read(target_url)) == {"p1"}  # nothing of the failed batch landed


@pytest.mark.postgres
def test_unreachable_database_is_retryable() -> None:
    destination = sql("postgresql://postgres@127.0.0.1:1/test")
    with pytest.raises(DeliveryError) as caught:
        destination.send([change("p1", fields={"email": "a@example.com"})])
    assert caught.value.retryable


def test_settings_are_checked(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    with pytest.raises(ConfigError, match="invalid table or column name"):
        make_sql({"url": url, "table": "Members; drop"}, {})
    with pytest.raises(ConfigError, match="unknown engine 'mysql'"):
        make_sql({"url": "mysql://x/y", "table": "t"}, {})
    with pytest.raises(ConfigError, match="unknown type 'varchar'"):
        make_sql({"url": url, "table": "t", "columns": {"a": "varchar"}}, {})
    destination = make_destination("sql", {"url": url, "table": "t"}, {})
    assert (destination.kind, destination.purposes, destination.max_batch) == (
        "sql",
        ("analytics",),
        1000,
    )
    destination.close()
