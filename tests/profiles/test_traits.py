"""Computed traits: each aggregate, in SQL and in Python, and how definitions are kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from profilo.errors import ConfigError, NotFound
from profilo.profiles.traits import (
    EventRow,
    compute_value,
    get_trait,
    list_traits,
    load_trait_file,
    parse_trait,
    refresh_traits,
    remove_trait,
    save_trait,
)
from profilo.store import Store

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
EVENTS: dict[str, list[tuple[str, float, dict[str, Any]]]] = {
    # profile: (event, days before AS_OF, properties)
    "p1": [
        ("Order Completed", 100, {"revenue": 50, "category": "shoes"}),
        ("Order Completed", 10, {"revenue": 20.5, "category": "bags"}),
        ("Order Completed", 5, {"revenue": "30", "category": "shoes"}),
        ("In-Store Purchase", 2, {"revenue": 9.5, "category": "bags"}),
        ("sent", 40, {}),
        ("sent", 20, {}),
        ("sent", 3, {}),
        ("clicked", 3, {}),
        ("Survey Answered", 30, {"nps": 6}),
        ("Survey Answered", 1, {"nps": 9}),
        ("Order Completed", -3, {"revenue": 1000}),  # after AS_OF: never counts
    ],
    "p2": [("sent", 1, {}), ("Order Completed", 400, {"revenue": 5, "category": "hats"})],
    "p3": [("Product Viewed", 1, {})],
}
DEFINITIONS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"name": "orders", "aggregate": "count", "events": ["Order Completed", "In-Store Purchase"]},
     {"p1": 4.0, "p2": 1.0}),
    ({"name": "spend_365d", "aggregate": "sum", "events": ["Order Completed", "In-Store Purchase"],
      "property": "revenue", "within": {"last": 365}},
     {"p1": 80.0}),
    ({"name": "avg_order", "aggregate": "avg", "events": "Order Completed", "property": "revenue"},
     {"p1": 35.25, "p2": 5.0}),
    ({"name": "min_order", "aggregate": "min", "events": "Order Completed", "property": "revenue"},
     {"p1": 20.5, "p2": 5.0}),
    ({"name": "max_order", "aggregate": "max", "events": "Order Completed", "property": "revenue"},
     {"p1": 50.0, "p2": 5.0}),
    ({"name": "first_order_at", "aggregate": "first", "events": "Order Completed"},
     {"p1": AS_OF - timedelta(days=100), "p2": AS_OF - timedelta(days=400)}),
    ({"name": "last_purchase_at", "aggregate": "last",
      "events": ["Order Completed", "In-Store Purchase"]},
     {"p1": AS_OF - timedelta(days=2), "p2": AS_OF - timedelta(days=400)}),
    ({"name": "favourite_category", "aggregate": "most_frequent",
      "events": ["Order Completed", "In-Store Purchase"], "property": "category"},
     {"p1": "bags", "p2": "hats"}),  # a tie (2 bags, 2 shoes) goes to the smaller value
    ({"name": "categories", "aggregate": "distinct_count", "events": "Order Completed",
      "property": "category"},
     {"p1": 2.0, "p2": 1.0}),
    ({"name": "days_since_order", "aggregate": "days_since", "events": "Order Completed"},
     {"p1": AS_OF - timedelta(days=5), "p2": AS_OF - timedelta(days=400)}),
    ({"name": "click_rate_30d", "aggregate": "ratio", "events": "clicked", "per_events": "sent",
      "within": {"last": 30}},
     {"p1": 0.5, "p2": 0.0}),
    ({"name": "last_nps", "aggregate": "last", "events": "Survey Answered", "property": "nps"},
     {"p1": 9.0}),
    ({"name": "first_category", "aggregate": "first", "events": "Order Completed",
      "property": "category", "property_type": "string"},
     {"p1": "shoes", "p2": "hats"}),
    ({"name": "shoe_orders", "aggregate": "count", "events": "Order Completed",
      "where": [{"property": "category", "value": "shoes"}]},
     {"p1": 2.0}),
]  # fmt: skip


def _rows() -> list[tuple[str, EventRow]]:
    out = []
    for pid, events in EVENTS.items():
        for i, (name, days, props) in enumerate(events):
            out.append(
                (
                    pid,
                    EventRow(f"{pid}:{i:02d}", name, "track", AS_OF - timedelta(days=days), props),
                )
            )
    return out


@pytest.fixture
def events(store: Store) -> Store:
    rows = _rows()
    store.replace_rows(
        "profile_events",
        pa.table(
            {
                "profile_id": [pid for pid, _ in rows],
                "message_id": [e.message_id for _, e in rows],
                "source": ["test"] * len(rows),
                "record_key": [e.message_id for _, e in rows],
                "type": [e.type for _, e in rows],
                "event": [e.event for _, e in rows],
                "timestamp": pa.array([e.timestamp for _, e in rows], TS),
                "properties": [json.dumps(e.properties) for _, e in rows],
            }
        ),
    )
    return store


def _stored(store: Store, name: str) -> dict[str, Any]:
    definition = get_trait(store, name)
    table = store.table("computed_traits")
    rows = store.to_arrow(table.filter(table.trait == name)).to_pylist()
    return {row["profile_id"]: row[definition.column] for row in rows}


def _same(got: dict[str, Any], expected: dict[str, Any]) -> bool:
    if set(got) != set(expected):
        return False
    return all(
        got[k] == pytest.approx(v) if isinstance(v, float) else got[k] == v
        for k, v in expected.items()
    )


def test_every_aggregate_in_sql_and_in_python(events: Store) -> None:
    for data, _ in DEFINITIONS:
        save_trait(events, parse_trait(data), as_of=AS_OF)
    by_profile: dict[str, list[EventRow]] = {}
    for pid, row in _rows():
        by_profile.setdefault(pid, []).append(row)
    for data, expected in DEFINITIONS:
        definition = parse_trait(data)
        assert _same(_stored(events, definition.name), expected), definition.name
        python = {
            pid: value
            for pid, rows in by_profile.items()
            if (value := compute_value(definition, rows, AS_OF)) is not None
        }
        assert _same(python, expected), definition.name


def test_a_changed_definition_rebuilds_that_trait_only(events: Store) -> None:
    save_trait(events, parse_trait(DEFINITIONS[0][0]), as_of=AS_OF)
    save_trait(events, parse_trait(DEFINITIONS[1][0]), as_of=AS_OF)
    table = events.table("trait_definitions")

    def computed_at() -> dict[str, datetime]:
        rows = events.to_arrow(table.select("name", "computed_at")).to_pylist()
        return {r["name"]: r["computed_at"] for r in rows}

    before = computed_at()
    assert not save_trait(events, parse_trait(DEFINITIONS[0][0]), as_of=AS_OF)
    assert computed_at() == before
    changed = {**DEFINITIONS[1][0], "within": {"last": 30}}
    assert save_trait(events, parse_trait(changed), as_of=AS_OF)
    after = computed_at()
    assert after["orders"] == before["orders"] and after["spend_365d"] > before["spend_365d"]
    assert _stored(events, "spend_365d") == pytest.approx({"p1": 30.0})
    assert [d.name for d in list_traits(events)] == ["orders", "spend_365d"]


def test_refresh_for_some_profiles_touches_only_them(events: Store) -> None:
    save_trait(events, parse_trait(DEFINITIONS[0][0]), as_of=AS_OF)
    events.replace_rows("profile_events", None, match=pa.table({"profile_id": ["p1", "p2"]}))
    report = refresh_traits(events, profiles=pa.table({"profile_id": ["p2"]}), as_of=AS_OF)
    assert report.profiles == 1
    assert _stored(events, "orders") == {"p1": 4.0}
    refresh_traits(events, ["orders"], as_of=AS_OF)
    assert _stored(events, "orders") == {}


def test_definitions_are_checked_and_removed(events: Store, tmp_path: Path) -> None:
    for data, words in [
        ({"name": "x", "aggregate": "sum", "events": "a"}, "needs a 'property'"),
        ({"name": "x", "aggregate": "count", "events": "a", "property": "p"}, "takes no 'property'"),
        ({"name": "x", "aggregate": "ratio", "events": "a"}, "needs 'per_events'"),
        ({"name": "x", "aggregate": "count"}, "at least one event"),
        ({"name": "X!", "aggregate": "count", "events": "a"}, "invalid trait name"),
        ({"name": "x", "aggregate": "median", "events": "a"}, "aggregate"),
        ({"name": "x", "aggregate": "sum", "events": "a", "property": "p",
          "property_type": "string"}, "needs a number property"),
    ]:  # fmt: skip
        with pytest.raises(ConfigError, match=words):
            parse_trait(data)
    path = tmp_path / "traits.yaml"
    path.write_text(
        "traits:\n  - {name: n, aggregate: count, events: [a]}\n  - {name: m, aggregate: count, type: page}\n"
    )
    assert [d.name for d in load_trait_file(path)] == ["n", "m"]
    with pytest.raises(ConfigError, match="a NAME fits only one"):
        load_trait_file(path, name="z")
    single = tmp_path / "one.yaml"
    single.write_text("aggregate: count\nevents: a\n")
    (definition,) = load_trait_file(single, name="named")
    save_trait(events, definition, as_of=AS_OF)
    remove_trait(events, "named")
    with pytest.raises(NotFound, match="unknown computed trait 'named'"):
        get_trait(events, "named")
