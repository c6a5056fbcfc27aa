"""Phone numbers to E.164 with Google's libphonenumber rules (the ``phonenumbers`` port).

``phonenumbers.parse`` costs some 25 µs a number, too slow for a million rows even once per
distinct value. Most numbers in customer files are plain digits and separators, national or
international, so those are parsed here in bulk with Arrow: the calling code, national prefix and
validity patterns come straight from libphonenumber's metadata (its patterns are written to run on
RE2, which Arrow uses), and the steps copy ``phonenumbers.parse`` and ``is_valid_number``. Only a
number this shortcut does not confirm as valid goes through ``phonenumbers`` itself, so the answer
is the library's own in every case; the tests compare the two on generated numbers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneMetadata

from profilo.prepare._columns import (
    Options,
    Pair,
    assemble,
    by_distinct,
    collapse_spaces,
    trim_blank,
)

__all__ = ["normalise_phone"]

_STRING = pa.string()
# separators phonenumbers also ignores (a part of its VALID_PUNCTUATION); tabs, thin spaces and
# the rest go through phonenumbers itself
_PUNCTUATION = r"[ \x{00A0}\x{3000}().\-/]"
_PLAIN = rf"^\+?(?:[0-9]|{_PUNCTUATION})+$"
_MAX_INPUT = 250  # phonenumbers refuses longer text
_MIN_NATIONAL = 2
_MAX_NATIONAL = 17
_Piece = tuple[pa.Array, pa.Array, pa.Array]
_NOT_DIGITS = re.compile(r"[^0-9]")
_TYPE_DESCRIPTIONS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


@dataclass(frozen=True)
class _Pattern:
    """A libphonenumber number description: a full-match pattern and the lengths it allows."""

    regex: str
    lengths: tuple[int, ...]


@dataclass(frozen=True)
class _Region:
    """What ``is_valid_number`` checks for one region of a calling code."""

    leading_digits: str | None  # claims a number by its first digits, valid or not
    general: _Pattern
    types: tuple[_Pattern, ...]


@dataclass(frozen=True)
class _Plan:
    """How national numbers of one calling code are read, and the regions that validate them."""

    calling_code: str
    national_prefix: str | None
    viable: str  # the parsing region's general pattern
    possible: tuple[int, ...]
    local_only: tuple[int, ...]
    regions: tuple[_Region, ...]  # in phonenumbers' order: the main region first


def normalise_phone(column: pa.Array, options: Options) -> Pair:
    """Phone numbers to E.164; valid as ``phonenumbers.is_valid_number`` says.

    National numbers are read in ``options.country``; without it only numbers starting with
    "+" or "00" can be read. A number that cannot be parsed keeps its digits, marked invalid.

    >>> phones = pa.array(["06 12 34 56 78", "+33 (0)6 12 34 56 78", "0033612345678", "n/a"])
    >>> clean, valid = normalise_phone(phones, Options(country="FR"))
    >>> clean.to_pylist(), valid.to_pylist()
    (['+33612345678', '+33612345678', '+33612345678', None], [True, True, True, False])
    """
    region = options.country if options.country in phonenumbers.SUPPORTED_REGIONS else None
    return by_distinct(column, lambda values: _phones(values, region))


def _phones(values: pa.Array, region: str | None) -> Pair:
    # phonenumbers refuses a tab or a thin space between digits; no space ever means anything
    text = collapse_spaces(trim_blank(values))
    if region is None:
        # no region, so no international prefix to go by: read a leading "00" as "+", the
        # prefix nearly everywhere in Europe
        text = pc.replace_substring_regex(text, rf"^00((?:{_PUNCTUATION})*[1-9])", r"+\1")
    plain = pc.and_(
        pc.fill_null(pc.match_substring_regex(text, _PLAIN), False),
        pc.less_equal(pc.binary_length(text), _MAX_INPUT),
    )
    compact = pc.replace_substring_regex(pc.if_else(plain, text, None), r"[^0-9+]", "")
    if region is not None:
        compact = _international_prefix_as_plus(compact, region)
    pieces = list(_settled_in_bulk(compact, region))
    unsettled = pc.is_valid(text)
    settled = [where for where, _, _ in pieces]
    if settled:
        everywhere = pa.array(range(len(text)), pa.int64())
        taken = pc.is_in(everywhere, pc.cast(pa.concat_arrays(settled), pa.int64()))
        unsettled = pc.and_(unsettled, pc.invert(taken))
    where = pc.indices_nonzero(unsettled)
    slow = [_parse_slowly(t, region) for t in pc.take(text, where).to_pylist()]
    slow_values = pa.array([value for value, _ in slow], _STRING)
    pieces.append((where, slow_values, pa.array([ok for _, ok in slow], pa.bool_())))
    return assemble(len(text), pieces, _STRING)


def _international_prefix_as_plus(compact: pa.Array, region: str) -> pa.Array:
    """Write the region's international prefix ("00", "011"…) as "+", as phonenumbers reads it."""
    metadata = PhoneMetadata.metadata_for_region(region)
    idd = metadata.international_prefix if metadata is not None else None
    if not idd:
        return compact
    try:
        rewritten = pc.replace_substring_regex(compact, f"^(?:{idd})", "+", max_replacements=1)
    except pa.ArrowInvalid:
        return compact
    # phonenumbers keeps the prefix when a 0 follows it: calling codes never start with 0
    taken = pc.and_(pc.not_equal(rewritten, compact), pc.invert(pc.starts_with(rewritten, "+0")))
    return pc.if_else(pc.fill_null(taken, False), rewritten, compact)


def _settled_in_bulk(compact: pa.Array, region: str | None) -> Iterator[_Piece]:
    """(positions, E.164, validity) for the numbers whose answer the bulk path knows."""
    has_plus = pc.fill_null(pc.starts_with(compact, "+"), False)
    if pc.any(has_plus).as_py():
        digits = pc.utf8_slice_codeunits(compact, 1)
        calling_code = _calling_codes(digits)
        international = pc.and_(
            pc.and_(has_plus, pc.is_valid(calling_code)),
            # phonenumbers wants more than two digits after the "+"
            pc.fill_null(pc.greater_equal(pc.binary_length(digits), 3), False),
        )
        for code in pc.unique(pc.filter(calling_code, international)).to_pylist():
            plan = _plan(int(code), None)
            if plan is None:
                continue
            where = pc.indices_nonzero(pc.and_(international, pc.equal(calling_code, code)))
            national = pc.utf8_slice_codeunits(pc.take(digits, where), len(code))
            yield from _settled(where, national, plan)
    metadata = PhoneMetadata.metadata_for_region(region) if region is not None else None
    plan = _plan(metadata.country_code, region) if metadata is not None else None
    if plan is None:
        return
    domestic = pc.and_(
        pc.fill_null(pc.greater_equal(pc.binary_length(compact), 3), False),
        pc.invert(has_plus),
    )
    # phonenumbers may read a leading calling code without "+" as such; leave those to it
    with_code = pc.fill_null(pc.starts_with(compact, plan.calling_code), False)
    domestic = pc.and_(domestic, pc.invert(with_code))
    if pc.any(domestic).as_py():
        where = pc.indices_nonzero(domestic)
        yield from _settled(where, pc.take(compact, where), plan)


def _calling_codes(digits: pa.Array) -> pa.Array:
    """The country calling code each number starts with (codes are prefix-free), or null."""
    found = pa.nulls(len(digits), _STRING)
    for size in (3, 2, 1):
        head = pc.utf8_slice_codeunits(digits, 0, size)
        known = pc.fill_null(pc.is_in(head, _known_codes(size)), False)
        found = pc.if_else(known, head, found)
    return found


@functools.cache
def _known_codes(size: int) -> pa.Array:
    codes = [str(c) for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE if len(str(c)) == size]
    return pa.array(codes, _STRING)


def _settled(where: pa.Array, national: pa.Array, plan: _Plan) -> Iterator[_Piece]:
    try:
        significant = _significant_number(national, plan)
        valid = _is_valid(significant, plan)
    except pa.ArrowInvalid:
        # a pattern RE2 refuses: phonenumbers will read these numbers
        return
    # phonenumbers parses any national number of 2 to 17 digits
    before, after = pc.binary_length(national), pc.binary_length(significant)
    parses = pc.and_(
        pc.greater_equal(before, _MIN_NATIONAL),
        pc.and_(pc.greater_equal(after, _MIN_NATIONAL), pc.less_equal(after, _MAX_NATIONAL)),
    )
    keep = pc.indices_nonzero(parses)
    e164 = pc.binary_join_element_wise(f"+{plan.calling_code}", pc.take(significant, keep), "")
    yield pc.take(where, keep), e164, pc.take(valid, keep)


def _significant_number(national: pa.Array, plan: _Plan) -> pa.Array:
    """The number without its national prefix, exactly when phonenumbers would strip it."""
    if not plan.national_prefix:
        return national
    prefix = rf"^(?:{plan.national_prefix})"
    has_prefix = pc.match_substring_regex(national, prefix)
    stripped = pc.replace_substring_regex(national, prefix, "", max_replacements=1)
    viable_before = _full_match(national, plan.viable)
    viable_after = _full_match(stripped, plan.viable)
    size = pc.utf8_length(stripped)
    possible_size = pc.and_(
        pc.or_(
            pc.is_in(size, pa.array(plan.possible, pa.int32())),
            pc.greater(size, max(plan.possible)),
        ),
        pc.invert(pc.is_in(size, pa.array(plan.local_only, pa.int32()))),
    )
    strip = pc.and_(
        pc.and_(has_prefix, pc.invert(pc.and_(viable_before, pc.invert(viable_after)))),
        possible_size,
    )
    return pc.if_else(strip, stripped, national)


def _is_valid(significant: pa.Array, plan: _Plan) -> pa.Array:
    """``is_valid_number``: the first region that claims a number decides whether it is valid.

    A region with leading digits claims the numbers starting with them; one without claims the
    numbers matching one of its number types.
    """
    if len(plan.regions) == 1:
        # a calling code of one region goes straight to it, leading digits or not
        return _of_some_type(significant, plan.regions[0])
    pending = pa.array(range(len(significant)), pa.int64())
    found: list[pa.Array] = []
    for region in plan.regions:
        if not len(pending):
            break
        numbers = pc.take(significant, pending)
        typed = _of_some_type(numbers, region)
        if region.leading_digits is None:
            claimed = typed
        else:
            claimed = pc.match_substring_regex(numbers, f"^(?:{region.leading_digits})")
        found.append(pc.filter(pending, pc.and_(claimed, typed)))
        pending = pc.filter(pending, pc.invert(claimed))
    everywhere = pa.array(range(len(significant)), pa.int64())
    return pc.is_in(everywhere, pa.concat_arrays([*found, pa.array([], pa.int64())]))


def _of_some_type(numbers: pa.Array, region: _Region) -> pa.Array:
    some_type = pa.array([False] * len(numbers), pa.bool_())
    for pattern in region.types:
        some_type = pc.or_(some_type, _matches(numbers, pattern))
    return pc.fill_null(pc.and_(_matches(numbers, region.general), some_type), False)


def _matches(significant: pa.Array, pattern: _Pattern) -> pa.Array:
    matched = _full_match(significant, pattern.regex)
    if pattern.lengths:
        sizes = pa.array(pattern.lengths, pa.int32())
        matched = pc.and_(matched, pc.is_in(pc.utf8_length(significant), sizes))
    return matched


def _full_match(text: pa.Array, regex: str) -> pa.Array:
    return pc.match_substring_regex(text, f"^(?:{regex})$")


@functools.cache
def _plan(calling_code: int, region: str | None) -> _Plan | None:
    """The bulk plan for numbers of ``calling_code`` read in ``region`` (None: international).

    None when the bulk path cannot copy phonenumbers faithfully: national prefixes that rewrite
    digits (Argentina, Brazil…) or metadata without the patterns.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(calling_code, ())
    if not regions:
        return None
    parsing = _metadata(region or regions[0], calling_code)
    if parsing is None or parsing.national_prefix_transform_rule:
        return None
    general = parsing.general_desc
    if general is None or not general.national_number_pattern or not general.possible_length:
        return None
    validators = [_region(m) for m in (_metadata(r, calling_code) for r in regions) if m]
    if None in validators:
        return None
    return _Plan(
        calling_code=str(calling_code),
        national_prefix=parsing.national_prefix_for_parsing,
        viable=general.national_number_pattern,
        possible=tuple(general.possible_length),
        local_only=tuple(general.possible_length_local_only),
        regions=tuple(v for v in validators if v is not None),
    )


def _metadata(region: str, calling_code: int) -> PhoneMetadata | None:
    if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return PhoneMetadata.metadata_for_nongeo_region(calling_code)
    return PhoneMetadata.metadata_for_region(region)


def _region(metadata: PhoneMetadata) -> _Region | None:
    general = metadata.general_desc
    if general is None or not general.national_number_pattern:
        return None
    types = tuple(
        _Pattern(desc.national_number_pattern, tuple(desc.possible_length))
        for desc in (getattr(metadata, name) for name in _TYPE_DESCRIPTIONS)
        if desc is not None and desc.national_number_pattern
    )
    return _Region(
        leading_digits=metadata.leading_digits,
        general=_Pattern(general.national_number_pattern, tuple(general.possible_length)),
        types=types,
    )


def _parse_slowly(text: str, region: str | None) -> tuple[str | None, bool]:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return _NOT_DIGITS.sub("", text) or None, False
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, phonenumbers.is_valid_number(number)
