"""Normalising and hashing customer data exactly as Google and Meta publish it, and no other way.

Both platforms match SHA-256 digests (64 lower-case hex digits) of values normalised by their own
rules, so a value normalised one step differently never matches. The rules differ:

**Google** (Google Ads API ``UserIdentifier`` / ``AddressInfo`` reference,
https://developers.google.com/google-ads/api/reference/rpc/latest/UserIdentifier; the Gmail rule as
Google's normalisation guides state it, e.g.
https://developers.google.com/google-ads/api/docs/conversions/enhance-conversions; the Customer
Match file guide and template, https://support.google.com/google-ads/answer/7659867):

- e-mail: lower-case, remove all whitespace; for ``gmail.com`` and ``googlemail.com`` addresses,
  remove every ``.`` before the ``@`` ("Remove all periods (.) that precede the domain name in
  gmail.com and googlemail.com email addresses");
- phone: E.164 with its leading ``+`` (``+16502531234``), then hashed;
- first and last name: lower-case, trim leading and trailing whitespace, then hashed;
- country (ISO 3166-1 alpha-2) and postal code: sent in clear, never hashed.

**Meta** (Marketing API, Customer File Custom Audiences, "Hashing and normalizing data"
https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences):

- ``EMAIL``: trim leading and trailing whitespace, lower-case;
- ``PHONE``: remove symbols, letters and any leading zeros; include the country code (digits
  only, no ``+``: ``+44 7700 900123`` → ``447700900123``);
- ``FN``, ``LN``: lower-case letters only, no punctuation; special characters in UTF-8
  (``Zoë`` → ``zoë``, hashed over its UTF-8 bytes);
- ``CT``: a-z only, lower-case, no punctuation, no special characters, no whitespace;
- ``ST``: the 2-character ANSI abbreviation in lower case for U.S. states; elsewhere lower-case,
  no punctuation, no special characters, no whitespace;
- ``ZIP``: lower-case, no whitespace; the first 5 digits for the U.S.; area/district/sector for
  the U.K. (``SW1A 1AA`` → ``sw1a1``);
- ``COUNTRY``: ISO 3166-1 alpha-2, lower-case; ``GEN``: ``m`` or ``f``; ``DOBY`` ``YYYY``,
  ``DOBM`` ``MM``, ``DOBD`` ``DD``. Every one of these is hashed.

Where a rule says "a-z only, no special characters" (``CT``, ``ST``), accented letters are
folded to their base letter (``São Paulo`` → ``saopaulo``) rather than dropped.

>>> google_email("Test.Email@Gmail.com ")
'testemail@gmail.com'
>>> meta_email(" Test.Email@Gmail.com ")
'test.email@gmail.com'
>>> google_phone("+44 7700 900123"), meta_phone("+44 7700 900123")
('+447700900123', '447700900123')
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date, datetime

import phonenumbers
import pycountry

from profilo.prepare.countries import country_code

__all__ = [
    "google_country",
    "google_email",
    "google_name",
    "google_phone",
    "meta_city",
    "meta_country",
    "meta_date_parts",
    "meta_email",
    "meta_gender",
    "meta_name",
    "meta_phone",
    "meta_state",
    "meta_zip",
    "sha256_hex",
]

_GMAIL = frozenset({"gmail.com", "googlemail.com"})
_NON_DIGIT = re.compile(r"[^0-9]")
_NOT_AZ = re.compile(r"[^a-z]")
_NOT_AZ09 = re.compile(r"[^a-z0-9]")


def sha256_hex(value: str) -> str:
    """SHA-256 of the UTF-8 bytes of ``value``, as 64 lower-case hex digits.

    >>> sha256_hex("")
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _e164(text: str, region: str | None) -> str | None:
    """``text`` as an E.164 number (``+`` and digits), or None when it cannot be read as one."""
    raw = text.strip()
    if not raw:
        return None
    try:
        number = phonenumbers.parse(raw, None if raw.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- Google ----------------------------------------------------------------------------------


def google_email(text: str) -> str | None:
    """Google's normal form of an e-mail address, or None if it has no ``@``.

    >>> google_email(" Jane.Doe@GoogleMail.com"), google_email("Jane.Doe@example.com")
    ('janedoe@googlemail.com', 'jane.doe@example.com')
    """
    value = "".join(text.split()).lower()
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        return None
    if domain in _GMAIL:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def google_phone(text: str, region: str | None = None) -> str | None:
    """E.164 with the ``+`` (a number without one is read in ``region``), or None."""
    return _e164(text, region)


def google_name(text: str) -> str | None:
    """A first or last name: lower-case, trimmed.

    >>> google_name("  Zoë  ")
    'zoë'
    """
    value = text.strip().lower()
    return value or None


def google_country(text: str) -> str | None:
    """ISO 3166-1 alpha-2 in upper case (sent in clear), from a code or a country name."""
    return country_code(text) if text.strip() else None


# --- Meta ------------------------------------------------------------------------------------


def meta_email(text: str) -> str | None:
    """Meta's ``EMAIL``: trimmed and lower-cased (dots are kept, Gmail or not)."""
    value = text.strip().lower()
    return value if "@" in value else None


def meta_phone(text: str, region: str | None = None) -> str | None:
    """Meta's ``PHONE``: the digits with country code, no ``+``, no leading zeros.

    A number in national form is read in ``region`` first, so its trunk ``0`` goes and its
    country code comes; a number that cannot be read keeps just its digits, leading zeros off.

    >>> meta_phone("+1 (650) 253-1234"), meta_phone("07700 900123", "GB")
    ('16502531234', '447700900123')
    """
    e164 = _e164(text, region)
    if e164 is not None:
        return e164[1:]
    digits = _NON_DIGIT.sub("", text).lstrip("0")
    return digits or None


def meta_name(text: str) -> str | None:
    """Meta's ``FN`` / ``LN``: lower-case letters only; accented letters kept (UTF-8).

    >>> meta_name("Mary-Jane"), meta_name(" O'Brien "), meta_name("Zoë")
    ('maryjane', 'obrien', 'zoë')
    """
    value = "".join(ch for ch in unicodedata.normalize("NFC", text.lower()) if ch.isalpha())
    return value or None


def _ascii_letters(text: str, pattern: re.Pattern[str]) -> str:
    folded = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return pattern.sub("", plain)


def meta_city(text: str) -> str | None:
    """Meta's ``CT``: a-z only.

    >>> meta_city("São Paulo"), meta_city("Stratford-upon-Avon")
    ('saopaulo', 'stratforduponavon')
    """
    return _ascii_letters(text, _NOT_AZ) or None


def meta_state(text: str, country: str | None = None) -> str | None:
    """Meta's ``ST``: a U.S. state as its 2-letter code in lower case; elsewhere a-z only.

    >>> meta_state("California", "US"), meta_state("CA", "US"), meta_state("Île-de-France", "FR")
    ('ca', 'ca', 'iledefrance')
    """
    value = text.strip()
    if not value:
        return None
    if (country or "").upper() == "US":
        if len(value) == 2 and value.isalpha():
            return value.lower()
        for subdivision in pycountry.subdivisions.get(country_code="US") or ():
            if subdivision.name.lower() == value.lower():
                return str(subdivision.code).split("-")[1].lower()
    return _ascii_letters(value, _NOT_AZ) or None


def meta_zip(text: str, country: str | None = None) -> str | None:
    """Meta's ``ZIP``: lower-case, no whitespace; U.S.: 5 digits; U.K.: area, district, sector.

    >>> meta_zip("94043-1351", "US"), meta_zip("SW1A 1AA", "GB"), meta_zip("75001", "FR")
    ('94043', 'sw1a1', '75001')
    """
    value = "".join(text.split()).lower()
    code = (country or "").upper()
    if code == "US":
        digits = _NON_DIGIT.sub("", value)
        return digits[:5] or None
    if code == "GB":
        compact = _NOT_AZ09.sub("", value)
        if len(compact) >= 5:  # outward code + the first character of the inward code
            return compact[:-3] + compact[-3]
        return compact or None
    return value.replace("-", "") or None


def meta_country(text: str) -> str | None:
    """Meta's ``COUNTRY``: ISO 3166-1 alpha-2 in lower case (from a code or a country name)."""
    code = country_code(text) if text.strip() else None
    return code.lower() if code else None


def meta_gender(text: str) -> str | None:
    """Meta's ``GEN``: ``m`` or ``f`` (from ``m``, ``male``, ``F``, ``female``…), else None."""
    value = text.strip().lower()
    if value in ("m", "male", "man"):
        return "m"
    if value in ("f", "female", "woman"):
        return "f"
    return None


def meta_date_parts(value: object) -> tuple[str, str, str] | None:
    """Meta's ``DOBY``, ``DOBM``, ``DOBD`` from a date or ``YYYY-MM-DD`` text.

    >>> meta_date_parts("1990-04-09")
    ('1990', '04', '09')
    """
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    if not isinstance(value, date):
        return None
    return f"{value.year:04d}", f"{value.month:02d}", f"{value.day:02d}"
