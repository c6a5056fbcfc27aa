"""One entry point from a raw Arrow column to clean values and their validity.

Each value kind lives in its own module (``text``, ``numbers``, ``temporal``, ``emails``,
``phones``, ``postal_codes``, ``countries``); this module picks the kind and checks the options
every kind shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
import pyarrow as pa

from profilo.errors import ConfigError, unknown_choice
from profilo.prepare._columns import Options, Pair, as_text, single_array
from profilo.prepare.countries import normalise_country, resolve_country
from profilo.prepare.emails import normalise_email
from profilo.prepare.numbers import normalise_boolean, normalise_float, normalise_integer
from profilo.prepare.phones import normalise_phone
from profilo.prepare.postal_codes import normalise_postal_code
from profilo.prepare.temporal import normalise_date, normalise_datetime
from profilo.prepare.text import (
    fold,
    normalise_address,
    normalise_city,
    normalise_json,
    normalise_name,
    normalise_string,
    normalise_text,
)

__all__ = ["VALUE_KINDS", "Normalised", "match_key", "normalise"]

_NORMALISERS: dict[str, Callable[[pa.Array, Options], Pair]] = {
    "string": normalise_string,
    "text": normalise_text,
    "integer": normalise_integer,
    "float": normalise_float,
    "boolean": normalise_boolean,
    "date": normalise_date,
    "datetime": normalise_datetime,
    "email": normalise_email,
    "phone": normalise_phone,
    "name": normalise_name,
    "postal_code": normalise_postal_code,
    "city": normalise_city,
    "country": normalise_country,
    "address": normalise_address,
    "json": normalise_json,
}

VALUE_KINDS: tuple[str, ...] = tuple(_NORMALISERS)
"""Every value kind :func:`normalise` knows, in the order mappings list them."""

_FOLDED_KINDS = frozenset({"name", "city", "address", "postal_code"})


@dataclass(frozen=True)
class Normalised:
    """A column after normalisation; both arrays are as long as the raw column.

    ``valid`` is True for a good value, False for a value that is present but wrong (its cleaned
    form stays in ``value`` where one exists, for the quality report), and null where the raw
    value was missing or blank.
    """

    value: pa.Array
    valid: pa.Array


def normalise(
    kind: str,
    raw: pa.Array | pa.ChunkedArray,
    *,
    default_country: str | None = None,
    fmt: str | None = None,
    timezone: str = "UTC",
) -> Normalised:
    """Clean and validate a column of raw values of one kind.

    ``default_country`` (an ISO code or a country name) is the region of national phone numbers
    and the format of postal codes; ``fmt`` a strptime format for dates and datetimes (ignored by
    other kinds); ``timezone`` the IANA zone of datetimes written without an offset.

    >>> result = normalise("email", pa.array([" Ann@Example.com", "not an e-mail", None]))
    >>> result.value.to_pylist(), result.valid.to_pylist()
    (['ann@example.com', 'not an e-mail', None], [True, False, None])
    """
    normaliser = _NORMALISERS.get(kind)
    if normaliser is None:
        raise ConfigError(unknown_choice("value type", kind, VALUE_KINDS))
    country = _default_country(default_country) if default_country else None
    options = Options(country=country, fmt=fmt or None, timezone=timezone or "UTC")
    value, valid = normaliser(single_array(raw), options)
    return Normalised(value=value, valid=valid)


def _default_country(value: str) -> str:
    # Kosovo (XK), Ascension (AC) and Tristan da Cunha (TA) have phone numbering plans but no
    # ISO 3166-1 code of their own
    if value.upper() in phonenumbers.SUPPORTED_REGIONS:
        return value.upper()
    return resolve_country(value)


def match_key(kind: str, clean: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The form two values are compared in when matching records of people.

    Names, cities, addresses and postal codes are folded: lower case, accents removed, only
    letters and digits separated by single spaces. Other kinds are already canonical once clean
    (an e-mail, an E.164 number, a country code) and come back as text unchanged.

    >>> match_key("name", pa.array(["Éloïse-Marie ", None])).to_pylist()
    ['eloise marie', None]
    """
    if kind not in _NORMALISERS:
        raise ConfigError(unknown_choice("value type", kind, VALUE_KINDS))
    column = single_array(clean)
    if kind in _FOLDED_KINDS:
        return fold(column)
    return as_text(column)
