"""Postal codes, written the way each country's post office writes them.

With a known ``default_country`` the code is put in that country's form ("sw1a1aa" becomes
"SW1A 1AA", "1000001" becomes "1000-001") and checked against it; otherwise any short run of
letters, digits, spaces and hyphens is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from profilo.prepare._columns import (
    Options,
    Pair,
    by_distinct,
    collapse_spaces,
    present_valid,
    trim_blank,
)

__all__ = ["normalise_postal_code"]


@dataclass(frozen=True)
class _Format:
    """One country's postal code: how to rewrite a compact code, and the shape it must have."""

    valid: str
    rewrite: tuple[str, str] | None = None  # (pattern, replacement) on the code without spaces
    car_code: str | None = None  # the old "F-75001" prefix some senders still write
    pad_from: int | None = None  # shortest all-digit code to left-pad with zeros to five
    national: bool = True  # False: the loose check for countries without a format here


_UK_OUTWARD = r"[A-Z]{1,2}[0-9][A-Z0-9]?"
_EIRCODE_ROUTING = r"[AC-FHKNPRTV-Y]\d{2}|D6W"
_EIRCODE_UNIQUE = r"[0-9AC-FHKNPRTV-Y]{4}"
_FORMATS: dict[str, _Format] = {
    "FR": _Format(r"^(?:0[1-9]|[1-8]\d|9[0-8])\d{3}$", car_code="F", pad_from=4),
    "DE": _Format(r"^(?:0[1-9]|[1-9]\d)\d{3}$", car_code="D", pad_from=4),
    "ES": _Format(r"^(?:0[1-9]|[1-4]\d|5[0-2])\d{3}$", car_code="E", pad_from=4),
    "IT": _Format(r"^\d{5}$", car_code="I", pad_from=3),
    "US": _Format(r"^\d{5}(?:-\d{4})?$", rewrite=(r"^(\d{5})-?(\d{4})$", r"\1-\2"), pad_from=3),
    "BE": _Format(r"^[1-9]\d{3}$", car_code="B"),
    "CH": _Format(r"^[1-9]\d{3}$", car_code="CH"),
    "LU": _Format(r"^\d{4}$", car_code="L"),
    "NL": _Format(
        r"^[1-9]\d{3} [A-Z]{2}$", rewrite=(r"^([1-9]\d{3})([A-Z]{2})$", r"\1 \2"), car_code="NL"
    ),
    "PT": _Format(r"^\d{4}-\d{3}$", rewrite=(r"^(\d{4})-?(\d{3})$", r"\1-\2"), car_code="P"),
    "GB": _Format(
        rf"^(?:{_UK_OUTWARD} [0-9][A-Z]{{2}}|GIR 0AA)$",
        rewrite=(rf"^({_UK_OUTWARD}|GIR)([0-9][A-Z]{{2}})$", r"\1 \2"),
    ),
    "IE": _Format(
        rf"^(?:{_EIRCODE_ROUTING}) {_EIRCODE_UNIQUE}$",
        rewrite=(rf"^({_EIRCODE_ROUTING})({_EIRCODE_UNIQUE})$", r"\1 \2"),
    ),
}
_ANYWHERE = r"^[A-Z0-9][A-Z0-9 -]{0,8}[A-Z0-9]$"


def normalise_postal_code(column: pa.Array, options: Options) -> Pair:
    """Upper-case, trimmed, single-spaced, then in the form of ``options.country`` if we know it.

    A French code that lost its leading zero in a spreadsheet ("1000") gets it back ("01000"),
    and so do the other five-digit countries.

    >>> codes = pa.array(["sw1a1aa", "SW1A 1AA", "EC1A1BB", "123"])
    >>> clean, valid = normalise_postal_code(codes, Options(country="GB"))
    >>> clean.to_pylist(), valid.to_pylist()
    (['SW1A 1AA', 'SW1A 1AA', 'EC1A 1BB', '123'], [True, True, True, False])
    """
    fmt = _FORMATS.get(options.country or "")
    if fmt is None and options.country is None:
        # nobody writes "SW1A1AA" for anything but a British postcode
        fmt = _Format(_ANYWHERE, rewrite=_FORMATS["GB"].rewrite, national=False)
    elif fmt is None:
        fmt = _Format(_ANYWHERE, national=False)
    return by_distinct(column, lambda values: _codes(values, fmt))


def _codes(values: pa.Array, fmt: _Format) -> Pair:
    text = collapse_spaces(pc.utf8_upper(trim_blank(values)))
    if fmt.car_code:
        text = pc.replace_substring_regex(text, rf"^{fmt.car_code} ?- ?(\d)", r"\1")
    if fmt.national:
        # "75 001", "1000 001": digits are grouped for reading; the national form says where
        digits_only = pc.fill_null(pc.match_substring_regex(text, r"^[\d ]+$"), False)
        text = pc.if_else(digits_only, pc.replace_substring(text, " ", ""), text)
    if fmt.pad_from is not None:
        short = pc.fill_null(pc.match_substring_regex(text, rf"^\d{{{fmt.pad_from},4}}$"), False)
        text = pc.if_else(short, pc.utf8_lpad(text, 5, "0"), text)
    if fmt.rewrite is not None:
        compact = pc.replace_substring(text, " ", "")
        pattern, replacement = fmt.rewrite
        fits = pc.fill_null(pc.match_substring_regex(compact, pattern), False)
        text = pc.if_else(fits, pc.replace_substring_regex(compact, pattern, replacement), text)
    return text, present_valid(text, pc.match_substring_regex(text, fmt.valid))
