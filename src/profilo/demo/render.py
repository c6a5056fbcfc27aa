"""Vectorised text rendering: numbers, dates, CSV lines and JSON fragments as Arrow strings.

Writing a million customers means tens of millions of rows, so nothing here loops in Python over
rows: fixed-width values (ids, dates, times) are stamped as ASCII digit matrices with numpy and
handed to Arrow without a copy; variable pieces are joined with Arrow compute kernels. Every JSON
value that is not plain ASCII-safe text is encoded by orjson (once per vocabulary entry, or per
row for the rare row that needs it), so each line is valid JSON by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import IO, TypeAlias

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "CSV_SPECIALS",
    "csv_lines",
    "date_dmy",
    "digits",
    "from_matrix",
    "ints",
    "iso_offset",
    "iso_utc",
    "join",
    "json_quote",
    "json_texts",
    "local_datetime",
    "money",
    "stamp",
    "strings",
    "take",
    "write_lines",
]

IntArray = npt.NDArray[np.int64]
Part: TypeAlias = pa.Array | str | npt.NDArray[np.uint8] | bytes
Piece: TypeAlias = bytes | npt.NDArray[np.uint8]

CSV_SPECIALS = r'[",\r\n]'
_JSON_UNSAFE = r'["\\\x00-\x1f]'


def strings(values: Iterable[str]) -> pa.StringArray:
    """An Arrow string array from Python strings."""
    return pa.array(list(values), type=pa.string())


def digits(values: npt.ArrayLike, width: int) -> npt.NDArray[np.uint8]:
    """The zero-padded decimal digits of each value as an ``(n, width)`` ASCII matrix."""
    v = np.asarray(values, dtype=np.int64)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((v[:, None] // powers) % 10 + 48).astype(np.uint8)


def from_matrix(matrix: npt.NDArray[np.uint8]) -> pa.StringArray:
    """One string per row of an ASCII matrix, without copying the characters."""
    n, width = matrix.shape
    data = np.ascontiguousarray(matrix)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def stamp(n: int, *parts: Piece) -> pa.StringArray:
    """Fixed-width strings made of literal byte strings and ``(n, k)`` digit matrices."""
    mats = [
        np.broadcast_to(np.frombuffer(p, dtype=np.uint8), (n, len(p)))
        if isinstance(p, bytes)
        else p
        for p in parts
    ]
    return from_matrix(np.hstack(mats))


def ints(values: npt.ArrayLike) -> pa.StringArray:
    """Integers as decimal text."""
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def money(cents: npt.ArrayLike) -> pa.StringArray:
    """Amounts in cents as ``"59.90"``."""
    c = np.asarray(cents, dtype=np.int64)
    return join(ints(c // 100), ".", from_matrix(digits(c % 100, 2)))


def _civil(days: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Year, month, day of days since 1970-01-01 (proleptic Gregorian, H. Hinnant's algorithm)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def _fields(seconds: npt.ArrayLike) -> dict[str, npt.NDArray[np.uint8]]:
    s = np.asarray(seconds, dtype=np.int64)
    days = s // 86400
    sod = s - days * 86400
    year, month, day = _civil(days)
    return {
        "Y": digits(year, 4),
        "m": digits(month, 2),
        "d": digits(day, 2),
        "H": digits(sod // 3600, 2),
        "M": digits(sod // 60 % 60, 2),
        "S": digits(sod % 60, 2),
    }


def iso_utc(seconds: npt.ArrayLike, millis: npt.ArrayLike | None = None) -> pa.StringArray:
    """``2025-03-04T09:12:33Z``, or ``2025-03-04T09:12:33.123Z`` when milliseconds are given."""
    f = _fields(seconds)
    n = len(f["Y"])
    tail: list[Piece] = [b"Z"]
    if millis is not None:
        tail = [b".", digits(millis, 3), b"Z"]
    date: list[Piece] = [
        f["Y"],
        b"-",
        f["m"],
        b"-",
        f["d"],
        b"T",
        f["H"],
        b":",
        f["M"],
        b":",
        f["S"],
    ]
    return stamp(n, *date, *tail)


def iso_offset(local_seconds: npt.ArrayLike, offset_hours: npt.ArrayLike) -> pa.StringArray:
    """Local wall time with its UTC offset: ``2025-03-04T21:12:33+01:00`` (offsets 0 to 9 h)."""
    f = _fields(local_seconds)
    n = len(f["Y"])
    hours = digits(offset_hours, 2)
    date: list[Piece] = [
        f["Y"],
        b"-",
        f["m"],
        b"-",
        f["d"],
        b"T",
        f["H"],
        b":",
        f["M"],
        b":",
        f["S"],
    ]
    return stamp(n, *date, b"+", hours, b":00")


def local_datetime(local_seconds: npt.ArrayLike) -> pa.StringArray:
    """Wall time without an offset: ``2025-03-04 18:40:05``."""
    f = _fields(local_seconds)
    n = len(f["Y"])
    parts: list[Piece] = [
        f["Y"],
        b"-",
        f["m"],
        b"-",
        f["d"],
        b" ",
        f["H"],
        b":",
        f["M"],
        b":",
        f["S"],
    ]
    return stamp(n, *parts)


def date_dmy(days: npt.ArrayLike) -> pa.StringArray:
    """Days since 1970-01-01 as ``DD/MM/YYYY``."""
    f = _fields(np.asarray(days, dtype=np.int64) * 86400)
    return stamp(len(f["Y"]), f["d"], b"/", f["m"], b"/", f["Y"])


def _arrow(part: Part, n: int) -> pa.Array | pa.Scalar:
    if isinstance(part, str):
        return pa.scalar(part, type=pa.string())
    if isinstance(part, bytes):
        return pa.scalar(part.decode("ascii"), type=pa.string())
    if isinstance(part, np.ndarray):
        return from_matrix(part)
    return part


def join(*parts: Part) -> pa.StringArray:
    """Concatenate, row by row, arrays and literal strings (literals repeat on every row)."""
    n = next(len(p) for p in parts if isinstance(p, pa.Array | np.ndarray))
    args = [_arrow(p, n) for p in parts]
    return pc.binary_join_element_wise(*args, pa.scalar("", type=pa.string()))


def take(vocabulary: pa.Array, indices: npt.ArrayLike) -> pa.StringArray:
    """Look rows up in a vocabulary."""
    return vocabulary.take(pa.array(np.asarray(indices, dtype=np.int64)))


def json_texts(values: Sequence[str]) -> pa.StringArray:
    """Each string encoded as a JSON string literal (quotes included) by orjson."""
    return strings(orjson.dumps(v).decode() for v in values)


def json_quote(values: pa.Array) -> pa.StringArray:
    """Each string as a JSON string literal; rows needing escapes are encoded by orjson."""
    quoted = join('"', values, '"')
    unsafe = pc.match_substring_regex(values, _JSON_UNSAFE)
    if not pc.any(unsafe).as_py():
        return quoted
    rows = np.flatnonzero(unsafe.to_numpy(zero_copy_only=False))
    fixed = strings(orjson.dumps(values[int(i)].as_py()).decode() for i in rows)
    return pc.replace_with_mask(quoted, unsafe, fixed)


def _may_need_quotes(column: pa.Array) -> bool:
    """Whether any value holds a comma, a quote or a line break (one scan of the bytes)."""
    if len(column) == 0:
        return False
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)
    start = int(offsets[column.offset])
    end = int(offsets[column.offset + len(column)])
    data = np.frombuffer(column.buffers()[2], dtype=np.uint8, count=end - start, offset=start)
    return bool(((data == 44) | (data == 34) | (data == 10) | (data == 13)).any())


def _csv_field(column: pa.Array) -> pa.Array:
    """Quote a CSV column the way Python's csv module does (QUOTE_MINIMAL)."""
    if not _may_need_quotes(column):
        return column
    special = pc.match_substring_regex(column, CSV_SPECIALS)
    quoted = join('"', pc.replace_substring(column, '"', '""'), '"')
    return pc.if_else(special, quoted, column)


def csv_lines(columns: Sequence[pa.Array]) -> pa.StringArray:
    """One CSV line (with its newline) per row; values must not be null (use "")."""
    parts: list[pa.Array | pa.Scalar] = []
    comma = pa.scalar(",", type=pa.string())
    for i, column in enumerate(columns):
        if i:
            parts.append(comma)
        parts.append(_csv_field(column))
    parts.append(pa.scalar("\n", type=pa.string()))
    return pc.binary_join_element_wise(*parts, pa.scalar("", type=pa.string()))


def write_lines(stream: IO[bytes], lines: pa.Array) -> None:
    """Write a string array's characters straight from its Arrow buffer."""
    if len(lines) == 0:
        return
    if isinstance(lines, pa.ChunkedArray):
        for chunk in lines.chunks:
            write_lines(stream, chunk)
        return
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start = int(offsets[lines.offset])
    end = int(offsets[lines.offset + len(lines)])
    stream.write(memoryview(lines.buffers()[2])[start:end])
