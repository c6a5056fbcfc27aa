"""From changes to audience members, and members to each platform's hashed identifiers.

The fields read (after the destination's field mapping) are ``first_name``, ``last_name``,
``country``, ``zip`` (or ``postal_code``), ``city``, ``state``, ``gender`` and ``birth_date``;
e-mails and phones come from the profile's identifiers (at most three of each, as both platforms'
files take).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from profilo.activate.destinations.ads import hashing as h
from profilo.activate.destinations.base import Change

__all__ = [
    "GOOGLE_CSV_HEADER",
    "META_SCHEMA",
    "Member",
    "fold",
    "google_csv_row",
    "google_identifiers",
    "meta_rows",
]

PER_KIND = 3
"""E-mails (and phones) per person: both platforms' files take up to three columns of each."""
GOOGLE_CSV_HEADER = ("Email", "Phone", "First Name", "Last Name", "Country", "Zip")
"""Google Customer Match file headers; ``Email`` and ``Phone`` repeat for more than one value."""
META_SCHEMA = (
    "EMAIL",
    "PHONE",
    "FN",
    "LN",
    "CT",
    "ST",
    "ZIP",
    "COUNTRY",
    "GEN",
    "DOBY",
    "DOBM",
    "DOBD",
)
"""Meta's multi-key schema, in the order each data row follows."""


@dataclass
class Member:
    """One profile's final action for one audience in a batch."""

    profile_id: str
    target: str
    """The list (API) or segment (files) this member is added to or removed from."""
    action: str
    emails: list[str]
    phones: list[str]
    fields: Mapping[str, Any]
    change_ids: list[str] = field(default_factory=list)

    def text(self, name: str, *aliases: str) -> str:
        for key in (name, *aliases):
            value = self.fields.get(key)
            if value is not None and str(value).strip():
                return str(value)
        return ""


def fold(pairs: Sequence[tuple[str, Change]]) -> list[Member]:
    """One member per (profile, target): the last change wins, all its change ids kept."""
    members: dict[tuple[str, str], Member] = {}
    for target, change in pairs:
        key = (change.profile_id, target)
        member = members.get(key)
        if member is None:
            member = Member(change.profile_id, target, change.action, [], [], {})
            members[key] = member
        member.action = change.action
        member.emails = list(change.identifiers.get("email") or member.emails)[:PER_KIND]
        member.phones = list(change.identifiers.get("phone") or member.phones)[:PER_KIND]
        member.fields = {**member.fields, **change.fields}
        member.change_ids.append(change.change_id)
    return list(members.values())


def _unique(values: Sequence[str | None]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return seen


def _google_address(member: Member) -> dict[str, str] | None:
    """Google matches on an address only with first and last name, country and postal code."""
    first, last = h.google_name(member.text("first_name")), h.google_name(member.text("last_name"))
    country = h.google_country(member.text("country"))
    postal = member.text("zip", "postal_code").strip()
    if not (first and last and country and postal):
        return None
    return {
        "hashedFirstName": h.sha256_hex(first),
        "hashedLastName": h.sha256_hex(last),
        "countryCode": country,
        "postalCode": postal,
    }


def google_identifiers(member: Member, region: str | None) -> list[dict[str, Any]]:
    """The ``userIdentifiers`` of a Google Ads ``UserData`` (one identifier per entry)."""
    identifiers: list[dict[str, Any]] = []
    for email in _unique([h.google_email(e) for e in member.emails]):
        identifiers.append({"hashedEmail": h.sha256_hex(email)})
    for phone in _unique([h.google_phone(p, region) for p in member.phones]):
        identifiers.append({"hashedPhoneNumber": h.sha256_hex(phone)})
    address = _google_address(member)
    if address is not None:
        identifiers.append({"addressInfo": address})
    return identifiers


def google_csv_row(member: Member, region: str | None) -> dict[str, list[str]] | None:
    """A Customer Match file row: hashed e-mails, phones and names; country and zip in clear."""
    emails = [h.sha256_hex(e) for e in _unique([h.google_email(e) for e in member.emails])]
    phones = [h.sha256_hex(p) for p in _unique([h.google_phone(p, region) for p in member.phones])]
    first, last = h.google_name(member.text("first_name")), h.google_name(member.text("last_name"))
    country = h.google_country(member.text("country"))
    postal = member.text("zip", "postal_code").strip()
    if not emails and not phones and not (first and last and country and postal):
        return None
    return {
        "Email": emails,
        "Phone": phones,
        "First Name": [h.sha256_hex(first)] if first else [],
        "Last Name": [h.sha256_hex(last)] if last else [],
        "Country": [country.lower()] if country else [],
        "Zip": [postal] if postal else [],
    }


def meta_rows(member: Member, region: str | None) -> list[list[str]]:
    """Meta data rows in :data:`META_SCHEMA` order, every value hashed ('' when unknown).

    One row per e-mail (and phone) the person has, the other keys repeated: Meta's schema holds
    one value per key and row.
    """
    emails = _unique([h.meta_email(e) for e in member.emails])
    phones = _unique([h.meta_phone(p, region) for p in member.phones])
    if not emails and not phones:
        return []
    country_text = member.text("country")
    country = h.meta_country(country_text)
    upper = country.upper() if country else None
    born = h.meta_date_parts(member.fields.get("birth_date"))
    rest = [
        h.meta_name(member.text("first_name")),
        h.meta_name(member.text("last_name")),
        h.meta_city(member.text("city")),
        h.meta_state(member.text("state"), upper),
        h.meta_zip(member.text("zip", "postal_code"), upper),
        country,
        h.meta_gender(member.text("gender")),
        *(born or (None, None, None)),
    ]
    hashed_rest = [h.sha256_hex(value) if value else "" for value in rest]
    rows = []
    for index in range(max(len(emails), len(phones))):
        email = emails[index] if index < len(emails) else None
        phone = phones[index] if index < len(phones) else None
        rows.append(
            [
                h.sha256_hex(email) if email else "",
                h.sha256_hex(phone) if phone else "",
                *hashed_rest,
            ]
        )
    return rows
