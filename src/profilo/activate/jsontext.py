"""JSON text of Arrow columns, a whole column at a time.

The sync engine's columnar path serialises changes without building a Python object per change:
each column becomes JSON text with Arrow kernels (strings quoted, lists and objects joined), and
a change's JSON is the element-wise join of its columns' texts. The text is byte for byte what
``orjson.dumps`` writes for the same values (no spaces, UTF-8 as is, the same escapes), so the
outbox payloads and fingerprints of the columnar path and of the row path are equal.

>>> import pyarrow as pa
>>> json_object({"a": json_values(pa.array(['x"y', None]))}).to_pylist()
['{"a":"x\\\\"y"}', '{"a":null}']
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "join_pieces",
    "json_list",
    "json_object",
    "json_strings",
    "json_values",
    "plain_value",
    "string_pieces",
]

# what orjson escapes in a string: the quote, the backslash and the C0 controls
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'
_NULL = pa.scalar("null", pa.string())


def plain_value(value: Any) -> Any:
    """A value as the destinations receive it: times as ISO text, whole floats as integers."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _dumps(values: list[Any]) -> pa.Array:
    dumps = orjson.dumps
    return pa.array([None if v is None else dumps(v).decode() for v in values], pa.string())


def json_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Strings as JSON string literals (nulls stay null)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.type != pa.string():
        values = values.cast(pa.string())
    quoted = pc.binary_join_element_wise('"', values, '"', "")
    if not len(values) or not _any_needs_escape(values):
        return quoted
    odd = pc.match_substring_regex(values, _NEEDS_ESCAPE)
    if pc.any(odd).as_py():  # the rare value with a quote, a backslash or a control character
        escaped = _dumps(values.filter(odd).to_pylist())
        quoted = pc.replace_with_mask(quoted, pc.fill_null(odd, False), escaped)
    return quoted


def _any_needs_escape(values: pa.Array) -> bool:
    """Whether any value of a string array needs escaping: one scan of its bytes, as one value
    (twice as fast as a match per value, and the answer is almost always no)."""
    data = values.buffers()[2]
    if data is None:
        return False
    offsets = np.frombuffer(
        values.buffers()[1], dtype=np.int32, count=len(values) + 1, offset=values.offset * 4
    )
    span = pa.py_buffer(np.array([offsets[0], offsets[-1]], dtype=np.int32))
    whole = pa.Array.from_buffers(pa.string(), 1, [None, span, data])
    return bool(pc.match_substring_regex(whole, _NEEDS_ESCAPE)[0].as_py())


def string_pieces(values: pa.Array | pa.ChunkedArray) -> list[str | pa.Array]:
    """A string column as pieces of JSON text for :func:`join_pieces`: the values themselves
    between two quotes when none is null or needs escaping (no text made for them), else their
    JSON literals (:func:`json_strings`)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.type != pa.string():
        values = values.cast(pa.string())
    if values.null_count or (len(values) and _any_needs_escape(values)):
        return [json_strings(values)]
    return ['"', values, '"']


def join_pieces(pieces: list[str | pa.Array]) -> pa.Array:
    """Literal texts and columns joined element-wise in one pass (adjacent literals merged)."""
    merged: list[Any] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return pc.binary_join_element_wise(*merged, "")


def json_values(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Any column as JSON text per value, ``null`` for a null (never a null text)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = json_strings(values)
    elif pa.types.is_list(kind) and pa.types.is_string(kind.value_type):
        text = json_list(values)
    elif pa.types.is_integer(kind):
        text = values.cast(pa.string())
    elif pa.types.is_null(kind):
        return pa.repeat(_NULL, len(values)).cast(pa.string())
    else:  # floats, booleans, times, nested values: exactly as orjson writes them
        text = _dumps([plain_value(v) for v in values.to_pylist()])
    return pc.fill_null(text, _NULL)


def json_list(values: pa.Array) -> pa.Array:
    """A list<string> column as JSON arrays (a null list stays null)."""
    flat = json_strings(values.flatten())
    offsets = values.offsets
    if values.offset or offsets[0].as_py():
        start = offsets[0].as_py()
        offsets = pc.subtract(offsets, start)
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, flat, mask=values.is_null()), ",")
    return pc.binary_join_element_wise("[", joined, "]", "")


def json_object(members: Mapping[str, pa.Array], *, skip_nulls: bool = False) -> pa.Array:
    """JSON objects from member name → JSON text of its values, in the mapping's order.

    With ``skip_nulls``, a member whose text is null is left out of that row's object (the
    row path's ``{k: v for … if v}``); otherwise every text must be non-null.
    """
    if not members:
        raise ValueError("an object needs at least one member")
    if skip_nulls and len(members) == 1:
        ((name, text),) = members.items()
        whole = pc.binary_join_element_wise("{" + orjson.dumps(name).decode() + ":", text, "}", "")
        return pc.fill_null(whole, "{}")
    if skip_nulls:
        # each present member with a comma after it, the last comma trimmed (a JSON value never
        # ends with one); Arrow's own null skipping drops rows where every member is null
        parts = [
            pc.fill_null(
                pc.binary_join_element_wise(orjson.dumps(name).decode() + ":", text, ",", ""), ""
            )
            for name, text in members.items()
        ]
        joined = pc.binary_join_element_wise(*parts, "") if len(parts) > 1 else parts[0]
        inner = pc.utf8_rtrim(joined, characters=",")
    else:  # one join: the names and punctuation between the texts
        pieces: list[Any] = []
        for i, (name, text) in enumerate(members.items()):
            pieces += [("{" if i == 0 else ",") + orjson.dumps(name).decode() + ":", text]
        return pc.binary_join_element_wise(*pieces, "}", "")
    return pc.binary_join_element_wise("{", inner, "}", "")
