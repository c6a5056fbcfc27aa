"""Countries to ISO 3166-1 alpha-2 codes, from codes and from names in the languages of our users.

Names come from ``pycountry`` (English, and its French, German, Spanish, Italian, Dutch and
Portuguese translations) plus the everyday forms no standard lists ("UK", "Holland", "USA").
"""

from __future__ import annotations

import functools
import gettext
import re
import unicodedata

import pyarrow as pa
import pycountry
from unidecode import unidecode

from profilo.errors import ConfigError
from profilo.prepare._columns import Options, Pair, by_distinct, map_python, trim_blank

__all__ = ["country_code", "normalise_country", "resolve_country"]

_TRANSLATIONS = ("fr", "de", "es", "it", "nl", "pt")
_NOT_WORD = re.compile(r"[^a-z0-9]+")

# everyday names that are not the ISO name nor one of its translations
_ALIASES: dict[str, str] = {
    "uk": "GB",
    "u k": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "grande bretagne": "GB",
    "angleterre": "GB",
    "ecosse": "GB",
    "pays de galles": "GB",
    "irlande du nord": "GB",
    "usa": "US",
    "u s": "US",
    "u s a": "US",
    "united states of america": "US",
    "etats unis d amerique": "US",
    "holland": "NL",
    "hollande": "NL",
    "the netherlands": "NL",
    "russia": "RU",
    "russie": "RU",
    "south korea": "KR",
    "korea": "KR",
    "coree du sud": "KR",
    "north korea": "KP",
    "coree du nord": "KP",
    "czech republic": "CZ",
    "republique tcheque": "CZ",
    "ivory coast": "CI",
    "vatican": "VA",
    "macedonia": "MK",
    "turkey": "TR",
    "turquie": "TR",
    "vietnam": "VN",
    "laos": "LA",
    "syria": "SY",
    "burma": "MM",
    "swaziland": "SZ",
    "cape verde": "CV",
    "east timor": "TL",
    "brunei": "BN",
    "palestine": "PS",
    "uae": "AE",
    "emirates": "AE",
    "moldova": "MD",
    "bolivia": "BO",
    "venezuela": "VE",
    "tanzania": "TZ",
    "iran": "IR",
    "taiwan": "TW",
    "espana": "ES",
    "deutschland": "DE",
    "schweiz": "CH",
    "suisse": "CH",
    "svizzera": "CH",
    "belgie": "BE",
    "belgien": "BE",
    "osterreich": "AT",
    "oesterreich": "AT",
    "eire": "IE",
    # names in their own language for the European countries no loaded translation covers
    "polska": "PL",
    "sverige": "SE",
    "danmark": "DK",
    "norge": "NO",
    "suomi": "FI",
    "cesko": "CZ",
    "ceska republika": "CZ",
    "magyarorszag": "HU",
    "hellas": "GR",
    "ellada": "GR",
    "eesti": "EE",
    "latvija": "LV",
    "lietuva": "LT",
    "slovensko": "SK",
    "slovenija": "SI",
    "hrvatska": "HR",
    "romania": "RO",
    "bulgaria": "BG",
    "island": "IS",
}


def _key(name: str) -> str:
    """The comparison form of a country name: ASCII, lower case, words separated by one space."""
    ascii_name = unidecode(unicodedata.normalize("NFC", name)).lower()
    return _NOT_WORD.sub(" ", ascii_name).strip()


@functools.cache
def _index() -> dict[str, str]:
    """Every known spelling (as its key) to its alpha-2 code; the first spelling added wins."""
    index: dict[str, str] = {}
    countries = list(pycountry.countries)
    for country in countries:
        index.setdefault(country.alpha_2.lower(), country.alpha_2)
        index.setdefault(country.alpha_3.lower(), country.alpha_2)
        index.setdefault(country.numeric, country.alpha_2)
    for country in countries:
        for name in _names(country):
            index.setdefault(_key(name), country.alpha_2)
    for alias, code in _ALIASES.items():
        index.setdefault(alias, code)
    for language in _TRANSLATIONS:
        try:
            translation = gettext.translation(
                "iso3166-1", pycountry.LOCALES_DIR, languages=[language]
            )
        except OSError:
            continue
        for country in countries:
            for name in _names(country):
                index.setdefault(_key(translation.gettext(name)), country.alpha_2)
    return index


def _names(country: object) -> list[str]:
    return [
        name
        for name in (
            getattr(country, "name", None),
            getattr(country, "common_name", None),
            getattr(country, "official_name", None),
        )
        if name
    ]


def country_code(text: str) -> str | None:
    """The alpha-2 code for a country code or name, or None.

    >>> country_code("Royaume-Uni"), country_code("fra"), country_code("Atlantis")
    ('GB', 'FR', None)
    """
    key = _key(text)
    if key.isdigit():
        key = key.zfill(3)
    return _index().get(key)


def resolve_country(value: str) -> str:
    """The alpha-2 code a mapping's ``default_country`` stands for, or :class:`ConfigError`."""
    code = country_code(value)
    if code is None:
        raise ConfigError(
            f"unknown country {value!r}; expected an ISO 3166-1 code or name such as 'FR'"
        )
    return code


def normalise_country(column: pa.Array, options: Options) -> Pair:
    """Country codes and names to upper-case alpha-2; an unknown country keeps its text, invalid.

    >>> countries = pa.array(["France", "UK", "Allemagne", "España", "Narnia"])
    >>> clean, valid = normalise_country(countries, Options())
    >>> clean.to_pylist(), valid.to_pylist()
    (['FR', 'GB', 'DE', 'ES', 'Narnia'], [True, True, True, True, False])
    """
    return by_distinct(column, _countries)


def _countries(values: pa.Array) -> Pair:
    return map_python(trim_blank(values), _country, pa.string())


def _country(text: str) -> tuple[str, bool]:
    code = country_code(text)
    return (code, True) if code is not None else (text, False)
