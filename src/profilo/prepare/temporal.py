"""Dates and instants.

ISO 8601 is parsed by Arrow in bulk; only what Arrow cannot read (unusual formats, odd spellings of
ISO) goes through Python, once per distinct value. Times without an offset are wall-clock times in
the mapping's time zone, DST included, and every instant is stored in UTC.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from profilo.errors import ConfigError
from profilo.prepare._columns import Options, Pair, as_text, present_valid, trim_blank

__all__ = ["INSTANT", "check_timezone", "normalise_date", "normalise_datetime"]

INSTANT = pa.timestamp("us", tz="UTC")
"""The type of every clean datetime."""

_NAIVE = pa.timestamp("us")
_ISO_DATETIME = (
    r"^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ](?:[01]\d|2[0-3])(?::[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?)?$"
)
# only meaningful on values matching _ISO_DATETIME: a bare date also ends in "-dd"
_WITH_OFFSET = r"[T ]\d\d(?::\d\d(?::\d\d(?:\.\d+)?)?)?(?:Z|[+-]\d\d(?::?\d\d)?)$"
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}(?::\d{2}.*)?)?$"
_EPOCH_TEXT = re.compile(r"\d{10}|\d{13}")
# format directives whose Arrow and Python meanings agree; anything else is parsed by Python
_ARROW_DIRECTIVES = frozenset("YmdHMS%")
_DIRECTIVE = re.compile(r"%(.)")
# the instants Python, Parquet and the databases can all hold: years 1 to 9999
_FIRST_US = -62_135_596_800_000_000
_LAST_US = 253_402_300_799_999_999


def check_timezone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone called ``name``, or :class:`ConfigError`."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError(
            f"unknown time zone {name!r}; expected an IANA name such as 'Europe/Paris' or 'UTC'"
        ) from error


def normalise_datetime(column: pa.Array, options: Options) -> Pair:
    """Instants to ``timestamp[us, UTC]``.

    Text is ISO 8601 (offset or Z honoured, naive times read in ``options.timezone``) unless
    ``options.fmt`` gives a strptime format; integer columns are epoch seconds or milliseconds
    (micro- and nanoseconds too, told apart by magnitude).

    >>> text = pa.array(["2024-03-01T09:30:00+01:00", "2024-07-01 09:30", "2024-02-30"])
    >>> [str(v) for v in normalise_datetime(text, Options(timezone="Europe/Paris"))[0].to_pylist()]
    ['2024-03-01 08:30:00+00:00', '2024-07-01 07:30:00+00:00', 'None']
    """
    check_timezone(options.timezone)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    kind = column.type
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:
            value = pc.cast(column, INSTANT, safe=False)
            return value, present_valid(value, pa.scalar(True))
        return _localised(pc.cast(column, _NAIVE, safe=False), options.timezone)
    if pa.types.is_date(kind):
        return _localised(pc.cast(pc.cast(column, pa.date32()), _NAIVE), options.timezone)
    # a format says how the digits are written ("%Y%m%d"); without one, numbers are epoch times
    if pa.types.is_integer(kind) and not options.fmt:
        return _from_epoch_integers(column)
    if pa.types.is_floating(kind) and not options.fmt:
        return _from_epoch_floats(pc.cast(column, pa.float64()))
    text = trim_blank(as_text(column))
    if options.fmt:
        naive, aware = _parse_with_format(text, options.fmt)
    else:
        naive, aware = _parse_iso(text)
    local, _ = _localised(naive, options.timezone)
    value = pc.if_else(pc.is_valid(aware), aware, local)
    return value, present_valid(text, pc.is_valid(value))


def normalise_date(column: pa.Array, options: Options) -> Pair:
    """Calendar dates to date32: ISO ``YYYY-MM-DD`` (a time part is dropped) or ``options.fmt``.

    Day-first or month-first dates are ambiguous and need a format; impossible dates are invalid.

    >>> text = pa.array(["2021-02-28", "2021-02-28T23:59:00Z", "2021-02-30", "28/02/2021"])
    >>> [str(v) for v in normalise_date(text, Options())[0].to_pylist()]
    ['2021-02-28', '2021-02-28', 'None', 'None']
    """
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    kind = column.type
    if pa.types.is_date(kind):
        value = pc.cast(column, pa.date32())
        return value, present_valid(value, pa.scalar(True))
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:
            check_timezone(options.timezone)
            local = pc.cast(column, pa.timestamp(kind.unit, options.timezone))
            column = pc.local_timestamp(local)
        value = pc.cast(column, pa.date32())
        return value, present_valid(value, pa.scalar(True))
    text = trim_blank(as_text(column))
    if options.fmt:
        check_timezone(options.timezone)
        naive, aware = _parse_with_format(text, options.fmt)
        if aware.null_count < len(aware):
            in_zone = pc.local_timestamp(pc.cast(aware, pa.timestamp("us", options.timezone)))
            naive = pc.if_else(pc.is_valid(aware), in_zone, naive)
        value = pc.cast(naive, pa.date32())
    else:
        shaped = pc.fill_null(pc.match_substring_regex(text, _ISO_DATE), False)
        day = pc.utf8_slice_codeunits(pc.if_else(shaped, text, None), 0, 10)
        value = _cast_real_dates(day, pa.date32())
    return value, present_valid(text, pc.is_valid(value))


def _parse_iso(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(naive, aware) instants: aware where the text had an offset, naive otherwise."""
    iso = pc.fill_null(pc.match_substring_regex(text, _ISO_DATETIME), False)
    with_offset = pc.and_(iso, pc.fill_null(pc.match_substring_regex(text, _WITH_OFFSET), False))
    without_offset = pc.and_(iso, pc.invert(with_offset))
    aware = _cast_real_dates(pc.if_else(with_offset, text, None), INSTANT)
    naive = _cast_real_dates(pc.if_else(without_offset, text, None), _NAIVE)
    unread = pc.and_(pc.is_null(aware), pc.is_null(naive))
    rest = pc.and_(pc.is_valid(text), unread)
    return _parse_rest_in_python(text, rest, naive, aware, _python_iso)


def _python_iso(text: str) -> datetime | None:
    if _EPOCH_TEXT.fullmatch(text):
        seconds = int(text) / (1000 if len(text) == 13 else 1)
        return datetime.fromtimestamp(seconds, UTC)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _parse_with_format(text: pa.Array, fmt: str) -> tuple[pa.Array, pa.Array]:
    """(naive, aware) instants read with a strptime format."""
    naive = pa.nulls(len(text), _NAIVE)
    aware = pa.nulls(len(text), INSTANT)
    rest = pc.is_valid(text)
    if set(_DIRECTIVE.findall(fmt)) <= _ARROW_DIRECTIVES:
        # Arrow's strptime rolls 30 February over into March: a value only counts when writing
        # the parsed instant back with the same format gives the very same text
        parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
        exact = pc.fill_null(pc.equal(pc.strftime(parsed, format=fmt), text), False)
        naive = pc.cast(pc.if_else(exact, parsed, None), _NAIVE)
        rest = pc.and_(rest, pc.invert(exact))
    return _parse_rest_in_python(text, rest, naive, aware, lambda t: _python_strptime(t, fmt))


def _python_strptime(text: str, fmt: str) -> datetime | None:
    try:
        return datetime.strptime(text, fmt)
    except ValueError:
        return None


def _parse_rest_in_python(
    text: pa.Array,
    rest: pa.Array,
    naive: pa.Array,
    aware: pa.Array,
    parse: Callable[[str], datetime | None],
) -> tuple[pa.Array, pa.Array]:
    if not pc.any(rest).as_py():
        return naive, aware
    encoded = pc.dictionary_encode(pc.filter(text, rest))
    naive_values: list[datetime | None] = []
    aware_values: list[datetime | None] = []
    for value in encoded.dictionary.to_pylist():
        instant = parse(value)
        if instant is not None and instant.tzinfo is not None:
            naive_values.append(None)
            aware_values.append(instant.astimezone(UTC).replace(tzinfo=None))
        else:
            naive_values.append(instant)
            aware_values.append(None)
    found_naive = pc.take(pa.array(naive_values, _NAIVE), encoded.indices)
    found_aware = pc.take(pa.array(aware_values, _NAIVE), encoded.indices)
    naive = pc.replace_with_mask(naive, rest, found_naive)
    aware = pc.replace_with_mask(aware, rest, pc.cast(found_aware, INSTANT))
    return naive, aware


def _cast_real_dates(text: pa.Array, target: pa.DataType) -> pa.Array:
    """Cast ISO text to a date or timestamp type; what cannot be read (30 February) is null."""
    try:
        return pc.cast(text, target)
    except pa.ArrowInvalid:
        pass
    # rare: a 30 February or 31 April somewhere; find it and try again without it
    day = pc.utf8_slice_codeunits(text, 0, 10)
    parsed = pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True)
    real = pc.fill_null(pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), day), False)
    try:
        return pc.cast(pc.if_else(real, text, None), target)
    except pa.ArrowInvalid:
        # still something Arrow cannot read: leave all of it to the slower, per-value path
        return pa.nulls(len(text), target)


def _localised(naive: pa.Array, timezone: str) -> Pair:
    """Read naive wall-clock times in ``timezone``; answer UTC instants."""
    if timezone == "UTC":
        value = pc.cast(naive, INSTANT)
        return value, present_valid(value, pa.scalar(True))
    try:
        local = pc.assume_timezone(naive, timezone, ambiguous="earliest", nonexistent="raise")
    except pa.ArrowInvalid:
        local = _localised_with_gaps(naive, timezone)
    value = pc.cast(local, INSTANT)
    return value, present_valid(value, pa.scalar(True))


def _localised_with_gaps(naive: pa.Array, timezone: str) -> pa.Array:
    """Wall-clock times that fall in a DST gap move forward by the gap, as zoneinfo does."""
    try:
        early = pc.assume_timezone(naive, timezone, ambiguous="earliest", nonexistent="earliest")
        late = pc.assume_timezone(naive, timezone, ambiguous="earliest", nonexistent="latest")
    except pa.ArrowInvalid as error:
        raise ConfigError(f"time zone {timezone!r} is unknown to Arrow: {error}") from error
    gap = pc.fill_null(pc.not_equal(early, late), False)
    zone = check_timezone(timezone)
    moved = [
        moment.replace(tzinfo=zone).astimezone(UTC) for moment in pc.filter(naive, gap).to_pylist()
    ]
    return pc.replace_with_mask(late, gap, pa.array(moved, late.type))


def _from_epoch_integers(column: pa.Array) -> Pair:
    seconds = pc.cast(column, pa.int64(), safe=False)
    size = pc.abs(seconds)
    micros = pc.case_when(
        pc.make_struct(pc.less(size, 10**11), pc.less(size, 10**14), pc.less(size, 10**17)),
        pc.multiply(seconds, 1_000_000),
        pc.multiply(seconds, 1_000),
        seconds,
        pc.divide(seconds, 1_000),
    )
    return _instants_in_range(micros, column)


def _from_epoch_floats(column: pa.Array) -> Pair:
    finite = pc.fill_null(pc.is_finite(column), False)
    seconds = pc.if_else(finite, column, None)
    size = pc.abs(seconds)
    micros = pc.case_when(
        pc.make_struct(
            pc.less(size, 1e11), pc.less(size, 1e14), pc.less(size, 1e17), pc.less(size, 1e20)
        ),
        pc.multiply(seconds, 1e6),
        pc.multiply(seconds, 1e3),
        seconds,
        pc.divide(seconds, 1e3),
    )
    return _instants_in_range(pc.cast(pc.round(micros), pa.int64()), column)


def _instants_in_range(micros: pa.Array, column: pa.Array) -> Pair:
    inside = pc.and_(pc.greater_equal(micros, _FIRST_US), pc.less_equal(micros, _LAST_US))
    inside = pc.fill_null(inside, False)
    value = pc.cast(pc.if_else(inside, micros, None), INSTANT)
    return value, present_valid(column, inside)
