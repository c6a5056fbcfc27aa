"""JSON text of Arrow columns is byte for byte what orjson writes for the same values."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa

from profilo.activate.jsontext import json_list, json_object, json_values, plain_value

TRICKY = ["plain", None, 'say "hi"', "back\\slash", "tab\there", "\x00\x1f", "é€😀", "", "\u2028"]


def _orjson(values: list[Any]) -> list[str]:
    return [orjson.dumps(plain_value(v)).decode() for v in values]


def test_strings_and_slices_match_orjson() -> None:
    column = pa.array(TRICKY, pa.string())
    assert json_values(column).to_pylist() == _orjson(TRICKY)
    assert json_values(column.slice(2, 4)).to_pylist() == _orjson(TRICKY[2:6])


def test_numbers_booleans_and_nulls_match_orjson() -> None:
    for values in ([1.0, 2.5, None, 1e20, 0.1, -0.0], [True, None, False], [1, None, -3]):
        assert json_values(pa.array(values)).to_pylist() == _orjson(values)
    assert json_values(pa.nulls(2)).to_pylist() == ["null", "null"]


def test_lists_match_orjson_and_null_lists_stay_null() -> None:
    lists = pa.array([["a", 'b"'], None, [], ["x"]], pa.list_(pa.string()))
    for part in (lists, lists.slice(1, 3), lists.slice(3)):
        expected = [None if v is None else orjson.dumps(v).decode() for v in part.to_pylist()]
        assert json_list(part).to_pylist() == expected


def test_objects_keep_member_order_and_may_leave_nulls_out() -> None:
    b = pa.array(["1", None, None], pa.string())
    a = pa.array(["2", "3", None], pa.string())
    assert json_object({"b": b, "a": a}, skip_nulls=True).to_pylist() == [
        '{"b":1,"a":2}',
        '{"a":3}',
        "{}",
    ]
    texts = json_values(pa.array(["x", None]))
    assert json_object({"k": texts}).to_pylist() == ['{"k":"x"}', '{"k":null}']
