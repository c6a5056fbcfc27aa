"""Factories for identity tests: records with identifiers, written through the store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pytest

from profilo.store import RecordSet, Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")

Write = Callable[..., None]


def records(rows: list[dict[str, Any]], *, source: str = "crm", start: int = 0) -> RecordSet:
    """One event per row; each row is ``{"key": ..., "ids": {type: value or [values]}, ...}``.

    Optional keys: ``traits`` (dict), ``type`` (message type), ``previous`` (alias previousId),
    ``at`` (minutes after T0; defaults to the row's position).
    """
    events: list[dict[str, Any]] = []
    ids: list[dict[str, Any]] = []
    traits: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        key = str(row["key"])
        src = row.get("source", source)
        mid = f"{src}:{key}"
        at = T0 + timedelta(minutes=row.get("at", start + i))
        # like an import's raw row, the payload holds the identifiers: a changed one is a new payload
        props: dict[str, Any] = {"ids": row.get("ids", {})}
        if "previous" in row:
            props["previousId"] = row["previous"]
        events.append(
            {
                "message_id": mid,
                "source": src,
                "type": row.get("type", "record"),
                "record_key": key,
                "user_id": None,
                "timestamp": at,
                "received_at": at,
                "properties": orjson.dumps(props).decode(),
            }
        )
        for kind, values in row.get("ids", {}).items():
            for value in values if isinstance(values, list) else [values]:
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
        for name, value in row.get("traits", {}).items():
            traits.append(
                {
                    "message_id": mid,
                    "source": src,
                    "record_key": key,
                    "trait": name,
                    "value_type": "string",
                    "raw_value": value,
                    "value": value,
                    "match_key": value.lower() if isinstance(value, str) else None,
                    "is_valid": True,
                    "observed_at": at,
                }
            )
    event_schema = pa.schema(
        [
            ("message_id", pa.string()),
            ("source", pa.string()),
            ("type", pa.string()),
            ("record_key", pa.string()),
            ("user_id", pa.string()),
            ("timestamp", TS),
            ("received_at", TS),
            ("properties", pa.string()),
        ]
    )
    return RecordSet(
        events=pa.Table.from_pylist(events, schema=event_schema),
        identifiers=pa.Table.from_pylist(ids) if ids else None,
        traits=pa.Table.from_pylist(traits) if traits else None,
    )


@pytest.fixture
def write(store: Store) -> Write:
    """Write records into the test's store: ``write([{"key": "1", "ids": {...}}], source="crm")``."""

    def _write(rows: list[dict[str, Any]], **kwargs: Any) -> None:
        store.save(records(rows, **kwargs))

    return _write
