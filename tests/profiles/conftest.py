"""Factories for profile tests: records written through the store, resolved by the identity step."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from profilo.identity import resolve_identities
from profilo.identity.survivorship import build_profiles
from profilo.profiles.events import ProfileRefresh, refresh_profiles
from profilo.store import RecordSet, Store

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
_EVENTS = pa.schema(
    [
        ("message_id", pa.string()),
        ("source", pa.string()),
        ("type", pa.string()),
        ("event", pa.string()),
        ("record_key", pa.string()),
        ("user_id", pa.string()),
        ("timestamp", TS),
        ("received_at", TS),
        ("properties", pa.string()),
    ]
)


def records(rows: list[dict[str, Any]]) -> RecordSet:
    """One event per row: ``{"key", "source", "ids": {type: value}, "event", "type", "at" (days
    after T0), "props", "traits": {name: (value, kind)}, "consents": [(purpose, status, days)]}``."""
    events, ids, traits, consents = [], [], [], []
    for row in rows:
        src, key = row.get("source", "crm"), str(row["key"])
        mid = f"{src}:{key}"
        at = T0 + timedelta(days=row.get("at", 0))
        events.append(
            {
                "message_id": mid,
                "source": src,
                "type": row.get("type", "track" if row.get("event") else "record"),
                "event": row.get("event"),
                "record_key": key,
                "user_id": None,
                "timestamp": at,
                "received_at": at,
                "properties": json.dumps(row.get("props", {"ids": row.get("ids", {})})),
            }
        )
        for kind, value in row.get("ids", {}).items():
            ids.append(
                {
                    "message_id": mid,
                    "source": src,
                    "record_key": key,
                    "id_type": kind,
                    "raw_value": value,
                    "value": value,
                    "is_valid": True,
                    "observed_at": at,
                }
            )
        for name, (value, kind) in row.get("traits", {}).items():
            traits.append(
                {
                    "message_id": mid,
                    "source": src,
                    "record_key": key,
                    "trait": name,
                    "value_type": kind,
                    "raw_value": value,
                    "value": value,
                    "match_key": None,
                    "is_valid": True,
                    "observed_at": at,
                }
            )
        for purpose, status, days in row.get("consents", []):
            when = T0 + timedelta(days=days)
            consents.append(
                {
                    "consent_id": f"{mid}:{purpose}:{status}:{days}",
                    "message_id": mid,
                    "source": src,
                    "record_key": key,
                    "purpose": purpose,
                    "status": status,
                    "legal_basis": "consent",
                    "consented_at": when,
                    "recorded_at": when,
                }
            )
    return RecordSet(
        events=pa.Table.from_pylist(events, schema=_EVENTS),
        identifiers=pa.Table.from_pylist(ids) if ids else None,
        traits=pa.Table.from_pylist(traits) if traits else None,
        consents=pa.Table.from_pylist(consents) if consents else None,
    )


Load = Callable[..., ProfileRefresh]


@pytest.fixture
def load(store: Store) -> Load:
    """Write rows, run identity and golden records, then refresh profiles."""

    def _load(rows: list[dict[str, Any]], *, full: bool = False) -> ProfileRefresh:
        store.save(records(rows))
        resolve_identities(store)
        build_profiles(store)
        return refresh_profiles(store, full=full)

    return _load


def profile_of(store: Store, source: str, key: str) -> str:
    graph = store.table("identity_records")
    rows = store.to_arrow(
        graph.filter(graph.source == source, graph.record_key == key).select("profile_id")
    )
    return str(rows.column("profile_id")[0].as_py())
