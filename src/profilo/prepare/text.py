"""Free text and the words people write about themselves: strings, names, cities, addresses, JSON.

Names and cities typed all in capitals or all in lower case (forms, CRM exports) are title-cased
the way they are written on an envelope; anything already in mixed case was typed with care and is
kept as it is.
"""

from __future__ import annotations

import re
import unicodedata

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from unidecode import unidecode

from profilo.prepare._columns import (
    Options,
    Pair,
    apply_where,
    as_text,
    by_distinct,
    collapse_spaces,
    map_python,
    nfc,
    present_valid,
    to_json,
    trim_blank,
)

__all__ = [
    "fold",
    "normalise_address",
    "normalise_city",
    "normalise_json",
    "normalise_name",
    "normalise_string",
    "normalise_text",
]

_STRING = pa.string()
_LINE_BREAK = r"[\r\n\x{0B}\x{0C}\x{85}\x{2028}\x{2029}]"
_LINE_BREAK_RUN = rf"[ \t]*{_LINE_BREAK}+[ \t]*"
_HAS_LETTER = r"\pL"
# Arrow starts a word after a digit ("15E") and capitalises ß as ẞ; those few go through Python
_TITLE_IN_PYTHON = r"[\p{Nd}ß]"
# a letter starts a word unless a letter or a digit comes right before it ("O'Brien", "15e")
_WORD_START = re.compile(r"(?<![^\W_])[^\W\d_]")


def _all_valid(value: pa.Array) -> pa.Array:
    return present_valid(value, pa.scalar(True))


def normalise_string(column: pa.Array, options: Options) -> Pair:
    """One-line text: NFC, trimmed, each line break (with the spaces round it) one space.

    >>> normalise_string(pa.array(["  Gold\\r\\n tier ", " ", None]), Options())[0].to_pylist()
    ['Gold tier', None, None]
    """
    text = nfc(trim_blank(as_text(column)))
    broken = pc.fill_null(pc.match_substring_regex(text, _LINE_BREAK), False)
    if pc.any(broken).as_py():
        # replacing costs twice as much as finding, and few values span lines
        joined = pc.replace_substring_regex(pc.filter(text, broken), _LINE_BREAK_RUN, " ")
        text = pc.replace_with_mask(text, broken, joined)
    return text, _all_valid(text)


def normalise_text(column: pa.Array, options: Options) -> Pair:
    """Multi-line text: NFC, trimmed, line endings unified to ``\\n``, inner lines kept."""
    text = nfc(trim_blank(as_text(column)))
    text = apply_where(
        pc.match_substring(text, "\r"),
        text,
        lambda t: pc.replace_substring_regex(t, r"\r\n?", "\n"),
    )
    return text, _all_valid(text)


def normalise_address(column: pa.Array, options: Options) -> Pair:
    """A postal address on one line; valid when it has a letter.

    >>> normalise_address(pa.array(["12 rue  de la Paix\\n75002 Paris"]), Options())[0].to_pylist()
    ['12 rue de la Paix 75002 Paris']
    """
    text = collapse_spaces(nfc(trim_blank(as_text(column))))
    return text, present_valid(text, pc.match_substring_regex(text, _HAS_LETTER))


def normalise_name(column: pa.Array, options: Options) -> Pair:
    """A person's name, title-cased when typed in one case; invalid with digits, '@' or no letter.

    >>> names = pa.array(["jean-pierre", "DE LA FONTAINE", "McCartney"])
    >>> normalise_name(names, Options())[0].to_pylist()
    ['Jean-Pierre', 'De La Fontaine', 'McCartney']
    """
    return by_distinct(column, _names)


def _names(values: pa.Array) -> Pair:
    text = _cased_words(values)
    has_letter = pc.match_substring_regex(text, _HAS_LETTER)
    foreign = pc.match_substring_regex(text, r"[\p{Nd}@]")
    return text, present_valid(text, pc.and_(has_letter, pc.invert(foreign)))


def normalise_city(column: pa.Array, options: Options) -> Pair:
    """A town or city, cased like a name; digits are allowed ("Paris 15e"), a letter is required.

    >>> normalise_city(pa.array(["SAINT-ÉTIENNE", "paris 15e"]), Options())[0].to_pylist()
    ['Saint-Étienne', 'Paris 15e']
    """
    return by_distinct(column, _cities)


def _cities(values: pa.Array) -> Pair:
    text = _cased_words(values)
    return text, present_valid(text, pc.match_substring_regex(text, _HAS_LETTER))


def _cased_words(values: pa.Array) -> pa.Array:
    text = collapse_spaces(nfc(trim_blank(values)))
    one_case = pc.fill_null(pc.or_(pc.utf8_is_upper(text), pc.utf8_is_lower(text)), False)
    text = pc.if_else(one_case, pc.utf8_title(text), text)
    odd = pc.and_(one_case, pc.fill_null(pc.match_substring_regex(text, _TITLE_IN_PYTHON), False))
    if not pc.any(odd).as_py():
        return text
    where = pc.indices_nonzero(odd)
    retitled = pa.array([_title(t) for t in pc.take(text, where).to_pylist()], _STRING)
    return pc.replace_with_mask(text, odd, retitled)


def _title(text: str) -> str:
    return _WORD_START.sub(lambda m: _title_letter(m.group()), text.lower())


def _title_letter(letter: str) -> str:
    titled = letter.title()
    # "ß".title() is "Ss": a name never starts with it, and the length must not change
    return titled if len(titled) == 1 else letter


def normalise_json(column: pa.Array, options: Options) -> Pair:
    """JSON kept as text; valid when it parses. Non-text columns are serialised (always valid)."""
    kind = column.type
    textual = (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or (pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type))
    )
    if textual:
        return by_distinct(column, _json_texts)
    text = pa.array([None if v is None else to_json(v) for v in column.to_pylist()], _STRING)
    return text, _all_valid(text)


def _json_texts(values: pa.Array) -> Pair:
    return map_python(trim_blank(values), _parse_json, _STRING)


def _parse_json(text: str) -> tuple[str, bool]:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return text, False
    return text, True


def fold(column: pa.Array) -> pa.Array:
    """The comparison form of a name, city, address or postal code.

    Lower case, accents and other scripts transliterated to ASCII, only letters and digits
    separated by single spaces; null when nothing is left.

    >>> fold(pa.array(["Éloïse-Marie ", "O'Brien", "--"])).to_pylist()
    ['eloise marie', 'o brien', None]
    """
    value, _ = by_distinct(column, _folded)
    return value


def _folded(values: pa.Array) -> Pair:
    text = values
    foreign = pc.invert(pc.string_is_ascii(text))
    if pc.any(foreign).as_py():
        where = pc.indices_nonzero(foreign)
        ascii_text = [
            unidecode(unicodedata.normalize("NFC", t)) for t in pc.take(text, where).to_pylist()
        ]
        text = pc.replace_with_mask(text, foreign, pa.array(ascii_text, _STRING))
    text = pc.replace_substring_regex(pc.ascii_lower(text), r"[^a-z0-9]+", " ")
    text = trim_blank(text)
    return text, _all_valid(text)
