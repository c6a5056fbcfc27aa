"""E-mail addresses: one spelling per mailbox, checked for shape but never looked up in DNS."""

from __future__ import annotations

import functools
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

from profilo.prepare._columns import (
    Options,
    Pair,
    apply_where,
    by_distinct,
    nfc,
    present_valid,
    regex_class,
    trim_blank,
)

__all__ = ["normalise_email"]

_MAX_LENGTH = 254
# the characters RFC 5322 keeps out of an unquoted local part, plus every kind of space and
# control character; quoted local parts ("john doe"@…) are legal but never seen in customer data
_LOCAL_ATOM = r"[^\s\pZ\pC@.,;:<>()\[\]\\\"]+"
_LABEL = r"[\pL\pN\pM](?:[\pL\pN\pM-]*[\pL\pN\pM])?"
_TOP_LEVEL = r"(?:\pL{2,}|xn--[a-z0-9-]+)"
_ADDRESS = rf"^{_LOCAL_ATOM}(?:\.{_LOCAL_ATOM})*@(?:{_LABEL}\.)+{_TOP_LEVEL}$"


def normalise_email(column: pa.Array, options: Options) -> Pair:
    """Trimmed, NFC, case-folded, without "mailto:"; valid when shaped like ``local@domain.tld``.

    An invalid address keeps its cleaned text so that it can be shown and corrected.

    >>> raw = pa.array([" MAILTO:Ann@Example.COM", "ann@@x.fr"])
    >>> clean, valid = normalise_email(raw, Options())
    >>> clean.to_pylist(), valid.to_pylist()
    (['ann@example.com', 'ann@@x.fr'], [True, False])
    """
    return by_distinct(column, _addresses)


def _addresses(values: pa.Array) -> Pair:
    text = trim_blank(values)
    foreign = pc.invert(pc.fill_null(pc.string_is_ascii(text), True))
    text = apply_where(foreign, pc.ascii_lower(text), _folded)
    text = apply_where(
        pc.starts_with(text, "mailto:"),
        text,
        lambda t: trim_blank(pc.utf8_slice_codeunits(t, len("mailto:"))),
    )
    shaped = pc.match_substring_regex(text, _ADDRESS)
    # RFC 5321 counts octets
    short = pc.less_equal(pc.binary_length(text), _MAX_LENGTH)
    return text, present_valid(text, pc.and_(shaped, short))


def _folded(text: pa.Array) -> pa.Array:
    """Full Unicode case folding of non-ASCII addresses, in NFC.

    Arrow lower-cases; Python folds the few values holding a letter whose folded form is not its
    lower case ("ß" → "ss").
    """
    special = pc.match_substring_regex(text, _fold_specials())
    return apply_where(special, nfc(pc.utf8_lower(text)), lambda _: _python_folded(text, special))


def _python_folded(text: pa.Array, special: pa.Array) -> pa.Array:
    values = pc.filter(text, special).to_pylist()
    folded = [unicodedata.normalize("NFC", value.casefold()) for value in values]
    return pa.array(folded, pa.string())


@functools.cache
def _fold_specials() -> str:
    """The characters Python's case folding changes otherwise than Arrow's lower-casing."""
    codes = [*range(0x80, 0xD800), *range(0xE000, 0x20000)]
    chars = [chr(code) for code in codes]
    lowered = pc.utf8_lower(pa.array(chars, pa.string())).to_pylist()
    return regex_class(
        code
        for code, char, lower in zip(codes, chars, lowered, strict=True)
        if char.casefold() != lower
    )
