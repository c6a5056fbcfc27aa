"""Arrow plumbing shared by every value kind.

Reading any column as text, trimming, and running Python work once per distinct value instead of
once per row: a million e-mails rarely hold more than a few hundred thousand different strings,
and the Python libraries we lean on (phonenumbers, unidecode, pycountry) cost microseconds a call.
"""

from __future__ import annotations

import functools
import itertools
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "SPACE_RUN",
    "Options",
    "Pair",
    "apply_where",
    "as_text",
    "by_distinct",
    "collapse_spaces",
    "falses",
    "map_python",
    "nfc",
    "present_valid",
    "regex_class",
    "single_array",
    "to_json",
    "trim_blank",
]

Pair = tuple[pa.Array, pa.Array]
"""A kind's answer: the clean values and the validity flags, both as long as the input."""

SPACE_RUN = r"[\s\pZ]+"
"""RE2's ``\\s`` is ASCII only; ``\\pZ`` adds no-break, thin and other Unicode spaces."""

# two spaces in a row, or any whitespace but the plain space
_ODD_SPACING = (
    r"  |[\t\n\r\x{0B}\x{0C}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}"
    r"\x{202F}\x{205F}\x{3000}]"
)
_MAX_EXACT_FLOAT_INT = 2.0**53


@dataclass(frozen=True)
class Options:
    """What a mapping says about a column beyond its kind."""

    country: str | None = None
    """ISO 3166-1 alpha-2 code, already checked."""
    fmt: str | None = None
    timezone: str = "UTC"


def single_array(raw: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array: chunks are joined (a chunked dictionary column is decoded first)."""
    if isinstance(raw, pa.ChunkedArray):
        if pa.types.is_dictionary(raw.type):
            # chunks may carry different dictionaries; decoding is the portable way to join them
            raw = raw.cast(raw.type.value_type)
        return raw.combine_chunks()
    return raw


def as_text(column: pa.Array) -> pa.Array:
    """The column as ``pa.string()``, converting other types the way a person would write them.

    Whole floats lose their ``.0`` (a postal code or phone number read from a spreadsheet), NaN is
    missing, nested values become JSON.

    >>> as_text(pa.array([75001.0, 1.5, None])).to_pylist()
    ['75001', '1.5', None]
    """
    kind = column.type
    if pa.types.is_string(kind):
        return column
    if pa.types.is_dictionary(kind):
        return as_text(column.dictionary_decode())
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pc.cast(column, pa.string())
    if pa.types.is_null(kind):
        return pa.nulls(len(column), pa.string())
    if pa.types.is_floating(kind):
        return _float_text(pc.cast(column, pa.float64()))
    if (
        pa.types.is_integer(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_temporal(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
        or pa.types.is_binary_view(kind)
    ):
        try:
            return pc.cast(column, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # bytes that are not UTF-8, intervals: written one by one below
    return pa.array([None if v is None else _written(v) for v in column.to_pylist()], pa.string())


def _written(value: object) -> str:
    if isinstance(value, bytes):
        # keep what can be read rather than refuse the whole column
        return value.decode("utf-8", "replace")
    if isinstance(value, list | dict):
        return to_json(value)
    return str(value)


def to_json(value: object) -> str:
    """Serialise one Python value as compact JSON (dates as ISO 8601, anything odd as text)."""
    return orjson.dumps(value, default=str).decode()


def _float_text(column: pa.Array) -> pa.Array:
    finite = pc.is_finite(column)
    whole = pc.and_(
        pc.and_(finite, pc.equal(pc.floor(column), column)),
        pc.less(pc.abs(column), _MAX_EXACT_FLOAT_INT),
    )
    as_int = pc.cast(pc.cast(pc.if_else(whole, column, None), pa.int64()), pa.string())
    text = pc.if_else(whole, as_int, pc.cast(column, pa.string()))
    return pc.if_else(pc.is_nan(column), pa.scalar(None, pa.string()), text)


def trim_blank(text: pa.Array) -> pa.Array:
    """Trim Unicode whitespace; a value left empty is missing (null)."""
    trimmed = pc.utf8_trim_whitespace(text)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def collapse_spaces(text: pa.Array) -> pa.Array:
    """Every run of whitespace (line breaks included) becomes one space."""
    # finding the few values with odd spacing costs half of rewriting every value
    odd = pc.match_substring_regex(text, _ODD_SPACING)
    return apply_where(odd, text, lambda t: pc.replace_substring_regex(t, SPACE_RUN, " "))


def nfc(text: pa.Array) -> pa.Array:
    """Unicode NFC, paid for only by the values it can change.

    Arrow's normaliser is slow on non-ASCII text, and nearly all of it is NFC already: only a value
    holding a combining mark or one of a few hundred other characters can change.
    """
    foreign = pc.invert(pc.fill_null(pc.string_is_ascii(text), True))
    return apply_where(foreign, text, _nfc_where_needed)


def _nfc_where_needed(text: pa.Array) -> pa.Array:
    suspect = pc.match_substring_regex(text, _nfc_suspects())
    return apply_where(suspect, text, lambda t: pc.utf8_normalize(t, "NFC"))


@functools.cache
def _nfc_suspects() -> str:
    """The characters whose presence can make a string change under NFC (quick check not "yes").

    Those NFC changes on their own, those with a combining class (reordering), and those that can
    be the second half of a composition; Hangul vowels and final consonants compose by rule.
    """
    suspects: set[int] = set()
    planes = itertools.chain(range(0xD800), range(0xE000, 0x20000), range(0x2F800, 0x2FA20))
    for code in planes:
        char = chr(code)
        if unicodedata.combining(char) or unicodedata.normalize("NFC", char) != char:
            suspects.add(code)
        decomposition = unicodedata.decomposition(char).split()
        if len(decomposition) == 2 and not decomposition[0].startswith("<"):
            suspects.add(int(decomposition[1], 16))
    suspects.update(range(0x1161, 0x1176))
    suspects.update(range(0x11A8, 0x11C3))
    return regex_class(suspects, also=r"\pM")


def regex_class(codes: Iterable[int], *, also: str = "") -> str:
    """An RE2 character class of the given code points, as ranges (plus ``also``, e.g. ``\\pM``)."""
    ordered = sorted(set(codes))
    parts: list[str] = []
    start = previous = ordered[0]
    for code in [*ordered[1:], -1]:
        if code == previous + 1:
            previous = code
            continue
        parts.append(
            f"\\x{{{start:X}}}" if start == previous else f"\\x{{{start:X}}}-\\x{{{previous:X}}}"
        )
        start = previous = code
    return "[" + also + "".join(parts) + "]"


def present_valid(value: pa.Array, valid: pa.Array) -> pa.Array:
    """Validity with null wherever the value is missing."""
    # built here, not at import: pyarrow's first Python-to-Arrow conversion imports pandas (~1 s)
    return pc.if_else(pc.is_null(value), pa.scalar(None, pa.bool_()), valid)


def by_distinct(column: pa.Array, compute: Callable[[pa.Array], Pair]) -> Pair:
    """Run ``compute`` on the distinct text values only, then spread the answers back.

    ``compute`` receives distinct non-null strings and returns (value, valid) for them; rows that
    were null stay null in both.
    """
    if pa.types.is_dictionary(column.type):
        values, indices = as_text(column.dictionary), column.indices
    else:
        encoded = pc.dictionary_encode(as_text(column))
        values, indices = encoded.dictionary, encoded.indices
        if len(values) == len(column):
            # every row distinct and none null: dictionary_encode numbers values in first-seen
            # order, so the indices are 0..n-1 and taking through them would only copy
            return compute(values)
    value, valid = compute(values)
    return pc.take(value, indices), pc.take(valid, indices)


def map_python(
    values: pa.Array,
    convert: Callable[[str], tuple[Any, bool]],
    value_type: pa.DataType,
) -> Pair:
    """Apply a per-value Python function; nulls stay null in both outputs."""
    out: list[Any] = []
    ok: list[bool | None] = []
    for text in values.to_pylist():
        if text is None:
            out.append(None)
            ok.append(None)
        else:
            clean, good = convert(text)
            out.append(clean)
            ok.append(good)
    return pa.array(out, value_type), pa.array(ok, pa.bool_())


def falses(length: int) -> pa.Array:
    """A boolean array of ``length`` False values."""
    return pa.repeat(False, length)


def apply_where(
    mask: pa.Array,
    values: pa.Array,
    change: Callable[[pa.Array], pa.Array],
    *,
    value_type: pa.DataType | None = None,
) -> pa.Array:
    """``values`` with ``change`` applied to the rows of ``mask`` only.

    Regexes cost per row: when few rows need one, running it on those alone pays.
    """
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():
        return values
    changed = pc.cast(change(pc.filter(values, mask)), value_type or values.type)
    return pc.replace_with_mask(values, mask, changed)
