"""Hypothesis strategies for segment rules over the test world of :mod:`.conftest`."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from .conftest import CATEGORIES, EVENT_NAMES, NASTY

TRAITS = [
    {"name": "orders", "aggregate": "count", "events": "Order Completed"},
    {"name": "spend", "aggregate": "sum", "events": "Order Completed", "property": "revenue",
     "within": {"last": 90}},
    {"name": "last_order", "aggregate": "last", "events": ["Order Completed", "opened"]},
    {"name": "since_order", "aggregate": "days_since", "events": "Order Completed"},
    {"name": "fav", "aggregate": "most_frequent", "events": EVENT_NAMES, "property": "category"},
    {"name": "click_rate", "aggregate": "ratio", "events": "clicked", "per_events": "sent",
     "within": {"last": 60}},
    {"name": "avg_rev", "aggregate": "avg", "events": EVENT_NAMES, "property": "revenue"},
    {"name": "first_cat", "aggregate": "first", "events": EVENT_NAMES, "property": "category",
     "property_type": "string"},
    {"name": "cats", "aggregate": "distinct_count", "events": EVENT_NAMES, "property": "category"},
    {"name": "max_rev", "aggregate": "max", "events": "Order Completed", "property": "revenue"},
    {"name": "views", "aggregate": "count", "type": "page", "within": {"last": 30}},
]  # fmt: skip
COMPUTED_KINDS = {
    "orders": "number", "spend": "number", "last_order": "date", "since_order": "number",
    "fav": "string", "click_rate": "number", "avg_rev": "number", "first_cat": "string",
    "cats": "number", "max_rev": "number", "views": "number",
}  # fmt: skip
STRINGS = ["FR", "GB", "fr", "Paris", "Lyon", *NASTY, "x"]
NUMBERS = [-1, 0, 0.5, 1, 2, 2.5, 3, 10, 25.5, 30, 89, 90, 1000]
DATES = ["1980-01-15", "1999-12-31", "2001-06-01", "2025-12-31", "2026-01-01", "2024-02-29",
         "2026-05-31", "2026-06-01"]  # fmt: skip
GOLDEN = {
    "country": "string", "city": "string", "note": "string", "first_name": "string",
    "household_size": "number", "birth_date": "date", "crm_created_at": "date", "vip": "boolean",
}  # fmt: skip
OPS = {
    "string": ["eq", "ne", "in", "not_in", "contains", "starts_with", "exists", "not_exists"],
    "number": ["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "not_exists"],
    "date": ["eq", "ne", "gt", "gte", "lt", "lte", "exists", "not_exists"],
    "boolean": ["eq", "ne", "exists", "not_exists"],
}
POOLS: dict[str, list[Any]] = {
    "string": STRINGS + CATEGORIES,
    "number": NUMBERS,
    "date": DATES,
    "boolean": [True, False],
}


@st.composite
def compared(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    op = draw(st.sampled_from(OPS[kind]))
    pool = POOLS[kind]
    if op in ("exists", "not_exists"):
        return {"op": op}
    if op in ("in", "not_in"):
        return {"op": op, "value": draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))}
    return {"op": op, "value": draw(st.sampled_from(pool))}


@st.composite
def property_filter(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(["category", "revenue", "flag", "nested", "missing"]))
    kind = draw(st.sampled_from(["string", "number", "boolean"]))
    ops = {
        "string": ["eq", "ne", "in", "not_in", "contains", "starts_with", "exists", "not_exists"],
        "number": ["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in"],
        "boolean": ["eq", "ne"],
    }[kind]
    pool = {"string": [*CATEGORIES, "12", ""], "number": [0, 10, 12, 25.5, 99.99, -5],
            "boolean": [True, False]}[kind]  # fmt: skip
    op = draw(st.sampled_from(ops))
    if op in ("exists", "not_exists"):
        return {"property": name, "op": op}
    if op in ("in", "not_in"):
        values = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
        return {"property": name, "op": op, "value": values}
    return {"property": name, "op": op, "value": draw(st.sampled_from(pool))}


@st.composite
def event_condition(draw: st.DrawFn) -> dict[str, Any]:
    node: dict[str, Any] = {}
    if draw(st.booleans()) or True:
        names = draw(st.lists(st.sampled_from(EVENT_NAMES), min_size=1, max_size=2, unique=True))
        node["event"] = names[0] if len(names) == 1 else names
    if draw(st.integers(0, 4)) == 0:
        node.pop("event")
        node["type"] = "page"
    elif draw(st.integers(0, 4)) == 0:
        node["type"] = draw(st.sampled_from(["track", "screen"]))
    op = draw(st.sampled_from(["gte", "lte", "eq"]))
    value = draw(st.integers(1 if op == "gte" else 0, 4))
    node["count"] = {"op": op, "value": value}
    if draw(st.booleans()):
        unit = draw(st.sampled_from(["days", "days", "hours", "weeks"]))
        node["within"] = {"last": draw(st.sampled_from([1, 7, 12, 30, 90])), "unit": unit}
    node["where"] = draw(st.lists(property_filter(), max_size=2))
    return node


def leaf() -> st.SearchStrategy[dict[str, Any]]:
    golden = st.sampled_from(sorted(GOLDEN)).flatmap(
        lambda name: compared(GOLDEN[name]).map(lambda c: {"trait": name, **c})
    )
    computed = st.sampled_from(sorted(COMPUTED_KINDS)).flatmap(
        lambda name: compared(COMPUTED_KINDS[name]).map(lambda c: {"computed": name, **c})
    )
    identity = st.sampled_from(["email", "phone", "user_id"]).map(lambda t: {"identity": t})
    consent = st.tuples(
        st.sampled_from(["email_marketing", "sms_marketing"]),
        st.sampled_from(["granted", "denied"]),
    ).map(lambda c: {"consent": c[0], "status": c[1]})
    segment = st.just({"segment": "base"})
    return st.one_of(golden, computed, identity, consent, event_condition(), segment)


RULES = st.recursive(
    leaf(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda c: {"all": c}),
        st.lists(children, min_size=1, max_size=3).map(lambda c: {"any": c}),
        children.map(lambda c: {"not": c}),
    ),
    max_leaves=6,
)
