"""Integers, decimals and yes/no answers, as people type them in spreadsheets and forms.

A value that cannot be read is present-but-invalid and its clean value is null: there is no
integer to keep for "abc".
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from profilo.prepare._columns import (
    Options,
    Pair,
    apply_where,
    as_text,
    present_valid,
    trim_blank,
)

__all__ = ["normalise_boolean", "normalise_float", "normalise_integer"]

_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
# thousands written with spaces (ASCII, no-break, narrow no-break) or an apostrophe (Swiss)
_GROUPING = r"[\s\pZ']+"
_INTEGER = r"^[+-]?\d+(?:[.,]0*)?$"
# 18 digits always fit in int64; longer ones are checked one by one in Python
_SHORT_INTEGER = r"^[+-]?\d{1,18}(?:[.,]0*)?$"
_PLAIN_DECIMAL = r"^[+-]?(?:\d+[.,]?\d*|[.,]\d+)(?:[eE][+-]?\d+)?$"
_COMMA_THOUSANDS = r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$"
_DOT_THOUSANDS = r"^[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?$"

_TRUE_WORDS = (
    "true", "t", "yes", "y", "1", "1.0", "oui", "o", "vrai", "on", "si", "sí", "ja",
    "opt in", "optin", "opted in", "subscribed",
)  # fmt: skip
_FALSE_WORDS = (
    "false", "f", "no", "n", "0", "0.0", "non", "faux", "off", "nein", "nee",
    "opt out", "optout", "opted out", "unsubscribed",
)  # fmt: skip


def _numeric_column(column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        return column.dictionary_decode()
    return column


def normalise_integer(column: pa.Array, options: Options) -> Pair:
    """Whole numbers to int64: "12", " 12 ", "12.0", "1 234"; "12.5" and "abc" are invalid.

    >>> normalise_integer(pa.array(["1 234", "12.0", "abc", ""]), Options())[0].to_pylist()
    [1234, 12, None, None]
    """
    column = _numeric_column(column)
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        if pa.types.is_uint64(kind):
            fits = pc.less_equal(column, pa.scalar(_INT64_MAX, kind))
            column = pc.if_else(fits, column, pa.scalar(None, kind))
            return pc.cast(column, pa.int64()), fits
        value = pc.cast(column, pa.int64())
        return value, present_valid(value, pa.scalar(True))
    if pa.types.is_floating(kind):
        column = pc.cast(column, pa.float64())
        whole = pc.and_(pc.is_finite(column), pc.equal(pc.floor(column), column))
        whole = pc.and_(whole, pc.less(pc.abs(column), 2.0**63))
        value = pc.cast(pc.if_else(whole, column, None), pa.int64())
        return value, present_valid(column, whole)
    return _integers_from_text(trim_blank(as_text(column)))


def _integers_from_text(text: pa.Array) -> Pair:
    # most values are plain digits, which Arrow casts at memory speed; only the rest need regexes
    # (and Arrow's cast would read "0x10" as hexadecimal, so it only sees decimal digits)
    plain = pc.and_(
        pc.fill_null(pc.ascii_is_decimal(text), False),
        pc.less_equal(pc.binary_length(text), 18),
    )
    value = pc.cast(pc.if_else(plain, text, None), pa.int64())
    rest = pc.and_(pc.is_valid(text), pc.invert(plain))
    if not pc.any(rest).as_py():
        return value, present_valid(text, plain)
    rest_value, rest_valid = _written_integers(pc.filter(text, rest))
    value = pc.replace_with_mask(value, rest, rest_value)
    valid = pc.replace_with_mask(plain, rest, rest_valid)
    return value, present_valid(text, valid)


def _written_integers(text: pa.Array) -> Pair:
    compact = pc.replace_substring_regex(text, _GROUPING, "")
    short = pc.fill_null(pc.match_substring_regex(compact, _SHORT_INTEGER), False)
    digits = pc.replace_substring_regex(pc.if_else(short, compact, None), r"[.,]0*$", "")
    value = pc.cast(pc.replace_substring_regex(digits, r"^\+", ""), pa.int64())
    valid = short
    long = pc.and_(
        pc.invert(short), pc.fill_null(pc.match_substring_regex(compact, _INTEGER), False)
    )
    if pc.any(long).as_py():
        where = pc.indices_nonzero(long)
        big = [_int_or_none(t) for t in pc.take(compact, where).to_pylist()]
        value = pc.replace_with_mask(value, long, pa.array(big, pa.int64()))
        big_valid = pa.array([b is not None for b in big])
        valid = pc.or_(valid, pc.replace_with_mask(long, long, big_valid))
    return value, valid


def _int_or_none(text: str) -> int | None:
    number = int(text.split(".")[0].split(",")[0])
    return number if _INT64_MIN <= number <= _INT64_MAX else None


def normalise_float(column: pa.Array, options: Options) -> Pair:
    """Decimals to float64: "12.5", French "12,5", "1 234,50", "1,234.50"; NaN and ∞ are invalid.

    A single comma is a decimal comma (the French way); several, or a comma before a dot, group
    thousands. Currency signs are dropped.

    >>> normalise_float(pa.array(["12,5", "1 234,50", "1,234.5", "nan"]), Options())[0].to_pylist()
    [12.5, 1234.5, 1234.5, None]
    """
    column = _numeric_column(column)
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_decimal(kind):
        value = pc.cast(column, pa.float64())
        return value, present_valid(value, pa.scalar(True))
    if pa.types.is_floating(kind):
        return _finite(pc.cast(column, pa.float64()), missing=column)
    text = trim_blank(as_text(column))
    try:
        # Arrow reads "12.5", "1e3", "nan": when every value is written that way, one cast will do
        return _finite(pc.cast(text, pa.float64()), missing=text)
    except pa.ArrowInvalid:
        pass
    # most of the rest are "12,5": digits around one comma or dot, read in bulk; regexes only
    # for the few written with grouping, currency signs or exponents
    with_comma = pc.fill_null(pc.match_substring(text, ","), False)
    dotted = apply_where(
        with_comma, text, lambda t: pc.replace_substring(t, ",", ".", max_replacements=1)
    )
    signed = pc.or_(pc.starts_with(dotted, "-"), pc.starts_with(dotted, "+"))
    unsigned = apply_where(signed, dotted, lambda t: pc.utf8_slice_codeunits(t, 1))
    digits = pc.replace_substring(unsigned, ".", "", max_replacements=1)
    plain = pc.fill_null(pc.ascii_is_decimal(digits), False)
    value = pc.cast(pc.if_else(plain, dotted, None), pa.float64())
    rest = pc.and_(pc.is_valid(text), pc.invert(plain))
    value = apply_where(rest, value, lambda _: _written_floats(pc.filter(text, rest)))
    return _finite(value, missing=text)


def _written_floats(text: pa.Array) -> pa.Array:
    try:
        return pc.cast(text, pa.float64())
    except pa.ArrowInvalid:
        pass
    compact = pc.replace_substring_regex(text, r"[\s\pZ'\p{Sc}]+", "")
    plain = pc.fill_null(pc.match_substring_regex(compact, _PLAIN_DECIMAL), False)
    comma_groups = pc.fill_null(pc.match_substring_regex(compact, _COMMA_THOUSANDS), False)
    dot_groups = pc.fill_null(pc.match_substring_regex(compact, _DOT_THOUSANDS), False)
    dotted = pc.case_when(
        pc.make_struct(plain, comma_groups, dot_groups),
        pc.replace_substring(compact, ",", "."),
        pc.replace_substring(compact, ",", ""),
        pc.replace_substring(pc.replace_substring(compact, ".", ""), ",", "."),
    )
    return pc.cast(dotted, pa.float64())


def _finite(value: pa.Array, *, missing: pa.Array) -> Pair:
    finite = pc.fill_null(pc.is_finite(value), False)
    return pc.if_else(finite, value, None), present_valid(missing, finite)


def normalise_boolean(column: pa.Array, options: Options) -> Pair:
    """Yes/no answers in English and French, opt-in wording, 1/0.

    >>> normalise_boolean(pa.array(["Oui", "opted in", "0", "maybe"]), Options())[0].to_pylist()
    [True, True, False, None]
    """
    column = _numeric_column(column)
    kind = column.type
    if pa.types.is_boolean(kind):
        return column, present_valid(column, pa.scalar(True))
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        number = pc.cast(column, pa.float64())
        is_true, is_false = pc.equal(number, 1.0), pc.equal(number, 0.0)
    else:
        text = trim_blank(as_text(column))
        words = pc.utf8_trim_whitespace(
            pc.replace_substring_regex(pc.utf8_lower(text), r"[\s\pZ_-]+", " ")
        )
        is_true = pc.is_in(words, pa.array(_TRUE_WORDS))
        is_false = pc.is_in(words, pa.array(_FALSE_WORDS))
        column = text
    known = pc.or_(is_true, is_false)
    value = pc.if_else(known, is_true, pa.scalar(None, pa.bool_()))
    return value, present_valid(column, known)
