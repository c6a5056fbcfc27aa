"""Phone numbers to E.164 with Google's libphonenumber rules (the ``phonenumbers`` port).

``phonenumbers.parse`` costs some 25 µs a number, too slow for a million rows even once per
distinct value. Most numbers in customer files are digits and a few separators, national or
international, so those are read here in bulk with Arrow: the calling codes, national prefixes and
validity patterns come straight from libphonenumber's metadata (its patterns are written to run on
RE2, which Arrow uses), and each step copies ``phonenumbers.parse`` and ``is_valid_number``.
Whatever this bulk path cannot settle goes through ``phonenumbers`` itself, so the answer is the
library's own in every case; the tests compare the two on generated numbers. (One liberty: a tab
or other odd space between digits counts as a plain space, where ``phonenumbers`` gives up.)
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
    apply_where,
    by_distinct,
    falses,
    trim_blank,
)

__all__ = ["normalise_phone"]

_STRING = pa.string()
# separators phonenumbers ignores too (part of its VALID_PUNCTUATION); numbers written with any
# other character (tabs, letters, "ext.") go through phonenumbers itself
_SEPARATORS = r"[ \x{00A0}\x{3000}().\-/]"
_MAX_INPUT = 250  # phonenumbers refuses longer text
_MIN_NATIONAL = 2  # and national numbers shorter or longer than these
_MAX_NATIONAL = 17
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
class _Region:
    """What ``is_valid_number`` checks for one region of a calling code."""

    leading_digits: str | None  # claims a number by its first digits, valid or not
    general: str  # every number of the region matches this pattern…
    lengths: tuple[int, ...]  # …and has one of these lengths
    typed_by_length: tuple[tuple[int, str], ...]  # length → the number types allowing it, as one


@dataclass(frozen=True)
class _Plan:
    """How national numbers of one calling code are read, and the regions that validate them."""

    calling_code: str
    national_prefix: str | None
    viable: str  # the parsing region's general pattern
    possible: tuple[int, ...]
    local_only: tuple[int, ...]
    regions: tuple[_Region, ...]  # in phonenumbers' order: the main region first


@dataclass(frozen=True)
class _Digits:
    """Numbers reduced to their digits, for those written with digits and separators only."""

    plain: pa.Array  # bool: only digits, separators and a leading "+"
    plus: pa.Array  # bool: written in international form
    body: pa.Array  # the digits after "+" (or the international prefix), or all of them


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
    text = trim_blank(values)
    if region is None:
        # no region, so no international prefix to go by: read a leading "00" as "+", the
        # prefix nearly everywhere in Europe
        text = apply_where(
            pc.starts_with(text, "00"),
            text,
            lambda t: pc.replace_substring_regex(t, rf"^00((?:{_SEPARATORS})*[1-9])", r"+\1"),
        )
    digits = _digits(text)
    if region is not None:
        digits = _international_prefix_as_plus(digits, region)
    value = pa.nulls(len(text), _STRING)
    valid = pa.nulls(len(text), pa.bool_())
    settled = falses(len(text))
    for rows, national, plan in _groups(digits, region):
        try:
            significant, good, parses = _read(national, plan)
        except pa.ArrowInvalid:
            continue  # a pattern RE2 refuses: phonenumbers will read these numbers
        done = pc.replace_with_mask(falses(len(text)), rows, parses)
        e164 = pc.binary_join_element_wise(f"+{plan.calling_code}", significant, "")
        value = pc.replace_with_mask(value, done, pc.filter(e164, parses))
        valid = pc.replace_with_mask(valid, done, pc.filter(good, parses))
        settled = pc.or_(settled, done)
    rest = pc.and_(pc.is_valid(text), pc.invert(settled))
    if pc.any(rest).as_py():
        slow = [_parse_slowly(t, region) for t in pc.filter(text, rest).to_pylist()]
        value = pc.replace_with_mask(value, rest, pa.array([v for v, _ in slow], _STRING))
        valid = pc.replace_with_mask(valid, rest, pa.array([ok for _, ok in slow], pa.bool_()))
    return value, valid


def _digits(text: pa.Array) -> _Digits:
    # phonenumbers reads any run of "+" signs as one
    body = pc.utf8_ltrim(text, "+")
    plus = pc.fill_null(pc.starts_with(text, "+"), False)
    separated = pc.invert(pc.fill_null(pc.ascii_is_decimal(body), True))
    body = apply_where(separated, body, _without_separators)
    plain = pc.and_(
        pc.fill_null(pc.ascii_is_decimal(body), False),
        pc.less_equal(pc.binary_length(text), _MAX_INPUT),
    )
    return _Digits(plain=plain, plus=plus, body=body)


def _without_separators(body: pa.Array) -> pa.Array:
    # spaces are by far the commonest separator, and a literal replacement is cheap
    body = pc.replace_substring(body, " ", "")
    odd = pc.invert(pc.fill_null(pc.ascii_is_decimal(body), True))
    return apply_where(odd, body, lambda b: pc.replace_substring_regex(b, _SEPARATORS, ""))


def _international_prefix_as_plus(digits: _Digits, region: str) -> _Digits:
    """Read the region's international prefix ("00", "011"…) as "+", as phonenumbers does."""
    metadata = PhoneMetadata.metadata_for_region(region)
    idd = metadata.international_prefix if metadata is not None else None
    if not idd:
        return digits
    body = digits.body
    domestic = pc.and_(digits.plain, pc.invert(digits.plus))
    if idd.isdigit():
        # phonenumbers keeps the prefix when a 0 follows it: calling codes never start with 0
        prefixed = pc.and_(pc.starts_with(body, idd), pc.invert(pc.starts_with(body, idd + "0")))
        taken = pc.and_(domestic, pc.fill_null(prefixed, False))
        after = apply_where(taken, body, lambda b: pc.utf8_slice_codeunits(b, len(idd)))
    else:
        try:
            prefixed = pc.match_substring_regex(body, f"^(?:{idd})")
            after = pc.replace_substring_regex(body, f"^(?:{idd})", "", max_replacements=1)
        except pa.ArrowInvalid:
            return digits
        taken = pc.and_(
            pc.and_(domestic, pc.fill_null(prefixed, False)),
            pc.invert(pc.starts_with(after, "0")),
        )
        after = pc.if_else(taken, after, body)
    return _Digits(plain=digits.plain, plus=pc.or_(digits.plus, taken), body=after)


def _groups(digits: _Digits, region: str | None) -> Iterator[tuple[pa.Array, pa.Array, _Plan]]:
    """(rows, national numbers of those rows, plan) for each calling code the bulk path reads."""
    long_enough = pc.fill_null(pc.greater_equal(pc.binary_length(digits.body), 3), False)
    readable = pc.and_(digits.plain, long_enough)
    international = pc.and_(readable, digits.plus)
    if pc.any(international).as_py():
        calling_code = _calling_codes(pc.if_else(international, digits.body, None))
        for code in pc.drop_null(pc.unique(calling_code)).to_pylist():
            plan = _plan(int(code), None)
            if plan is not None:
                rows = pc.fill_null(pc.equal(calling_code, code), False)
                national = pc.utf8_slice_codeunits(pc.filter(digits.body, rows), len(code))
                yield rows, national, plan
    metadata = PhoneMetadata.metadata_for_region(region) if region is not None else None
    plan = _plan(metadata.country_code, region) if metadata is not None else None
    if plan is None:
        return
    # phonenumbers may take a leading calling code written without "+" as one; leave those to it
    with_code = pc.fill_null(pc.starts_with(digits.body, plan.calling_code), False)
    domestic = pc.and_(pc.and_(readable, pc.invert(digits.plus)), pc.invert(with_code))
    if pc.any(domestic).as_py():
        yield domestic, pc.filter(digits.body, domestic), plan


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


def _read(national: pa.Array, plan: _Plan) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(national significant number, is valid, would parse) for digit strings of one code."""
    significant = _without_national_prefix(national, plan)
    before, after = pc.binary_length(national), pc.binary_length(significant)
    parses = pc.and_(
        pc.greater_equal(before, _MIN_NATIONAL),
        pc.and_(pc.greater_equal(after, _MIN_NATIONAL), pc.less_equal(after, _MAX_NATIONAL)),
    )
    return significant, _is_valid(significant, plan), parses


def _without_national_prefix(national: pa.Array, plan: _Plan) -> pa.Array:
    """The number without its national prefix ("0"), exactly when phonenumbers strips it."""
    prefix = plan.national_prefix
    if not prefix:
        return national
    if prefix.isdigit():
        has_prefix = pc.starts_with(national, prefix)
        stripped = pc.utf8_slice_codeunits(national, len(prefix))
    else:
        has_prefix = pc.match_substring_regex(national, f"^(?:{prefix})")
        stripped = pc.replace_substring_regex(national, f"^(?:{prefix})", "", max_replacements=1)
    size = pc.binary_length(stripped)
    possible = pc.and_(
        pc.or_(
            pc.is_in(size, pa.array(plan.possible, pa.int32())),
            pc.greater(size, max(plan.possible)),
        ),
        pc.invert(pc.is_in(size, pa.array(plan.local_only, pa.int32()))),
    )
    candidates = pc.and_(has_prefix, possible)
    viable_after = _full_match(stripped, plan.viable)
    # stripping is undone only when it turns a viable number into one that is not
    undo = pc.and_(candidates, pc.invert(viable_after))
    viable_before = apply_where(
        undo,
        falses(len(national)),
        lambda _: _full_match(pc.filter(national, undo), plan.viable),
        value_type=pa.bool_(),
    )
    strip = pc.and_(candidates, pc.invert(pc.and_(viable_before, pc.invert(viable_after))))
    return pc.if_else(strip, stripped, national)


def _is_valid(significant: pa.Array, plan: _Plan) -> pa.Array:
    """``is_valid_number``: the first region that claims a number decides whether it is valid.

    A region with leading digits claims the numbers starting with them; one without claims the
    numbers matching one of its number types. A calling code of one region skips the claiming.
    """
    if len(plan.regions) == 1:
        return _typed(significant, plan.regions[0])
    valid = falses(len(significant))
    open_ = pc.invert(valid)
    for region in plan.regions:
        if not pc.any(open_).as_py():
            break
        numbers = pc.filter(significant, open_)
        typed = _typed(numbers, region)
        if region.leading_digits is None:
            claimed = typed
        else:
            claimed = pc.match_substring_regex(numbers, f"^(?:{region.leading_digits})")
        valid = pc.replace_with_mask(valid, open_, pc.and_(claimed, typed))
        open_ = pc.replace_with_mask(open_, open_, pc.invert(claimed))
    return valid


def _typed(numbers: pa.Array, region: _Region) -> pa.Array:
    """Whether each number has a type in the region: the right length and pattern for one."""
    typed = falses(len(numbers))
    sizes = pc.binary_length(numbers)
    for size, types in region.typed_by_length:
        at = pc.fill_null(pc.equal(sizes, size), False)
        count = pc.sum(at).as_py() or 0
        if count == len(numbers):
            # one length for every number (France: 9 digits): no need to pick them out
            return pc.and_(_full_match(numbers, types), _full_match(numbers, region.general))
        if count:
            some = pc.filter(numbers, at)
            ok = pc.and_(_full_match(some, types), _full_match(some, region.general))
            typed = pc.replace_with_mask(typed, at, ok)
    return typed


def _full_match(text: pa.Array, regex: str) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(text, f"^(?:{regex})$"), False)


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
    if not validators or None in validators:
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
    if general is None or not general.national_number_pattern or not general.possible_length:
        return None
    types = [
        desc
        for desc in (getattr(metadata, name) for name in _TYPE_DESCRIPTIONS)
        if desc is not None and desc.national_number_pattern
    ]
    by_length = []
    for size in general.possible_length:
        # a type without lengths of its own takes the general ones
        patterns = [
            d.national_number_pattern for d in types if size in (d.possible_length or (size,))
        ]
        if patterns:
            by_length.append((size, "|".join(f"(?:{p})" for p in patterns)))
    return _Region(
        leading_digits=metadata.leading_digits,
        general=general.national_number_pattern,
        lengths=tuple(general.possible_length),
        typed_by_length=tuple(by_length),
    )


def _parse_slowly(text: str, region: str | None) -> tuple[str | None, bool]:
    # phonenumbers refuses a tab or a thin space between digits; no space ever means anything
    text = " ".join(text.split())
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return _NOT_DIGITS.sub("", text) or None, False
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, phonenumbers.is_valid_number(number)
