"""Factories for audience tests: small worlds of profiles written into the derived tables.

A world is written where the identity and profiles steps would write it (``profiles``,
``profile_traits``, ``identities``, ``profile_consents``, ``profile_events``) plus the raw rows the
catalogue reads (an ``observed_traits`` row per trait for its kind, ``consents`` for purposes).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from profilo.store import Store

AS_OF = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")

KINDS = {
    "country": "country",
    "city": "city",
    "first_name": "name",
    "household_size": "integer",
    "birth_date": "date",
    "crm_created_at": "datetime",
    "vip": "boolean",
    "note": "string",
}


@dataclass
class Person:
    pid: str
    traits: dict[str, str] = field(default_factory=dict)
    ids: list[tuple[str, str]] = field(default_factory=list)
    consents: dict[str, str] = field(default_factory=dict)
    events: list[tuple[str | None, str, datetime | None, dict[str, Any]]] = field(
        default_factory=list
    )


def write_world(store: Store, people: list[Person]) -> None:
    """Write people into the tables segments read."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    profiles = pa.table(
        {
            "profile_id": [p.pid for p in people],
            "records": [1] * len(people),
            "sources": ["test"] * len(people),
            "first_seen": pa.array([now] * len(people), TS),
            "last_seen": pa.array([now] * len(people), TS),
            "traits": [json.dumps(p.traits) for p in people],
            "updated_at": pa.array([now] * len(people), TS),
        }
    )
    traits = [
        {
            "profile_id": p.pid,
            "trait": k,
            "value": v,
            "source": "crm",
            "record_key": p.pid,
            "observed_at": now,
            "rule": "most_recent",
            "candidates": 1,
            "conflict": False,
        }
        for p in people
        for k, v in p.traits.items()
    ]
    observed = [
        {
            "message_id": f"kind:{k}",
            "source": "crm",
            "record_key": "k",
            "trait": k,
            "value_type": kind,
            "raw_value": "x",
            "value": "x",
            "is_valid": True,
            "observed_at": now,
        }
        for k, kind in KINDS.items()
    ]
    identities = [
        {
            "id_type": t,
            "value": f"{v}|{p.pid}",
            "profile_id": p.pid,
            "component_id": p.pid,
            "status": "linked",
            "source": "crm",
            "records": 1,
        }
        for p in people
        for t, v in p.ids
    ]
    consents = [
        {"profile_id": p.pid, "purpose": k, "status": v, "changed_at": now, "source": "crm"}
        for p in people
        for k, v in p.consents.items()
    ]
    raw_consents = [
        {
            "consent_id": f"c:{purpose}",
            "message_id": "m",
            "source": "crm",
            "record_key": "k",
            "purpose": purpose,
            "status": "granted",
            "legal_basis": "consent",
            "consented_at": now,
            "recorded_at": now,
        }
        for purpose in ("email_marketing", "sms_marketing", "ad_targeting")
    ]
    events = [
        {
            "profile_id": p.pid,
            "message_id": f"{p.pid}:{i}",
            "source": "web",
            "record_key": f"{p.pid}:{i}",
            "type": type_,
            "event": name,
            "timestamp": ts,
            "properties": json.dumps(props),
        }
        for p in people
        for i, (name, type_, ts, props) in enumerate(p.events)
    ]
    with store.transaction():
        store.replace_rows("profiles", profiles)
        if traits:
            store.replace_rows("profile_traits", pa.Table.from_pylist(traits))
        store.replace_rows("observed_traits", pa.Table.from_pylist(observed))
        if identities:
            store.replace_rows("identities", pa.Table.from_pylist(identities))
        if consents:
            store.replace_rows("profile_consents", pa.Table.from_pylist(consents))
        store.replace_rows("consents", pa.Table.from_pylist(raw_consents))
        if events:
            schema = pa.schema(
                [
                    ("profile_id", pa.string()),
                    ("message_id", pa.string()),
                    ("source", pa.string()),
                    ("record_key", pa.string()),
                    ("type", pa.string()),
                    ("event", pa.string()),
                    ("timestamp", TS),
                    ("properties", pa.string()),
                ]
            )
            store.replace_rows("profile_events", pa.Table.from_pylist(events, schema=schema))


NASTY = [
    "O'Brien",
    'say "hi"',
    "back\\slash",
    "50%_off",
    "'; DROP TABLE profiles; --",
    "Zoë",
    "",
]
CATEGORIES = ["shoes", "bags", "Shoes", "50%_off", "O'Brien"]
EVENT_NAMES = ["Order Completed", "opened", "clicked", "sent", "Product Viewed"]


def random_people(seed: int, n: int = 80) -> list[Person]:
    """A varied world: missing and malformed values, events around ``AS_OF``, odd strings."""
    rng = random.Random(seed)
    people = []
    for i in range(n):
        p = Person(pid=f"prf_{i:04d}")
        if rng.random() < 0.8:
            p.traits["country"] = rng.choice(["FR", "GB", "DE", "fr"])
        if rng.random() < 0.5:
            p.traits["city"] = rng.choice(["Paris", "Lyon", "London", *NASTY])
        if rng.random() < 0.6:
            p.traits["household_size"] = rng.choice(["1", "2", "3", "4", "2.5", "n/a", "-1"])
        if rng.random() < 0.6:
            p.traits["birth_date"] = rng.choice(
                ["1980-01-15", "1999-12-31", "2001-06-01", "15/01/1980", "2001-06-01T00:00:00Z"]
            )
        if rng.random() < 0.5:
            p.traits["crm_created_at"] = rng.choice(
                [
                    "2025-12-31T23:59:59.000000Z",
                    "2026-01-01T00:00:00.000000Z",
                    "2024-02-29T10:00:00Z",
                ]
            )
        if rng.random() < 0.5:
            p.traits["vip"] = rng.choice(["true", "false", "TRUE"])
        if rng.random() < 0.4:
            p.traits["note"] = rng.choice(NASTY)
        for kind in ("email", "phone", "user_id"):
            if rng.random() < 0.6:
                p.ids.append((kind, f"{kind}{i}"))
        for purpose in ("email_marketing", "sms_marketing"):
            if rng.random() < 0.7:
                p.consents[purpose] = rng.choice(["granted", "denied"])
        for _ in range(rng.randint(0, 12)):
            name = rng.choice([*EVENT_NAMES, None])
            type_ = "page" if name is None else rng.choice(["track", "track", "track", "screen"])
            when = AS_OF + timedelta(days=rng.uniform(-200, 15), seconds=rng.randint(0, 86399))
            if rng.random() < 0.05:
                stamp: datetime | None = None
            elif rng.random() < 0.1:  # exactly on a day boundary before as_of
                stamp = AS_OF - timedelta(days=rng.choice([1, 7, 30, 90]))
            else:
                stamp = when
            props: dict[str, Any] = {}
            if rng.random() < 0.8:
                props["category"] = rng.choice(CATEGORIES)
            if rng.random() < 0.8:
                props["revenue"] = rng.choice([10, 25.5, 99.99, 0, -5, "12", True, None])
            if rng.random() < 0.3:
                props["flag"] = rng.choice([True, False])
            if rng.random() < 0.2:
                props["nested"] = {"category": "shoes"}
            p.events.append((name, type_, stamp, props))
        people.append(p)
    return people


@pytest.fixture
def world(store: Store) -> Callable[[list[Person]], None]:
    """Write people into the test's store."""

    def _write(people: list[Person]) -> None:
        write_world(store, people)

    return _write
