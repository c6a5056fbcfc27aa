"""The webhook's body from a batch table is byte for byte the body of the same changes as rows."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pyarrow as pa

from profilo.activate.chunks import changes_of
from profilo.activate.destinations.webhook.client import change_json, change_texts

TS = pa.timestamp("us", tz="UTC")


def _part(fields: pa.StructArray, identifiers: pa.StructArray) -> pa.Table:
    n = len(fields)
    times = [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, 2, 3, 456, tzinfo=UTC)]
    return pa.table(
        {
            "change_id": [f"c{i}" if i != 2 else 'c\\"2' for i in range(n)],
            "action": ["remove" if i == n - 1 else "upsert" for i in range(n)],
            "profile_id": [f"p{i}" for i in range(n)],
            "audience": [["vip", None, "v\n"][i % 3] for i in range(n)],
            "occurred_at": pa.array([times[i % 2] for i in range(n)], TS),
            "fields": fields,
            "identifiers": identifiers,
        }
    )


def _rows(part: pa.Table) -> list[str]:
    return [orjson.dumps(change_json(c)).decode() for c in changes_of(part)]


def test_change_texts_equal_orjson_of_the_rows() -> None:
    fields = pa.StructArray.from_arrays(
        [pa.array(['a"b', None, "é", "x"]), pa.array([1.0, 2.5, None, 3.0])],
        names=["z_name", "a_num"],  # the definition's order, not sorted
        mask=pa.array([False, False, False, True]),  # a remove carries no fields
    )
    identifiers = pa.StructArray.from_arrays(
        [
            pa.array([["a@x", "b@x"], None, [], ["c"]], pa.list_(pa.string())),
            pa.array([None, ["+33"], None, None], pa.list_(pa.string())),
        ],
        names=["email", "phone"],
    )
    part = _part(fields, identifiers)
    assert change_texts(part).to_pylist() == _rows(part)


def test_change_texts_without_fields_or_identifiers() -> None:
    empty = pa.array([{}] * 3, pa.struct([]))
    part = _part(empty, empty)
    assert change_texts(part).to_pylist() == _rows(part)
