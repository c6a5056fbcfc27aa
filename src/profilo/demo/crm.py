"""``crm_contacts.csv``: the CRM's contact export, with the habits of the people who type in it.

About four customers in five are in the CRM; a few are in it twice (a second contact created
later, with a typo or another address). Last names are often in capitals, countries are spelt
five ways, phones come in national and international forms, and a few rows are plain wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from profilo.demo import clock
from profilo.demo.noise import (
    BAD_DATES,
    bad_rows,
    email_variants,
    invalid_emails,
    replace_rows,
    sometimes,
    typos,
)
from profilo.demo.people import People
from profilo.demo.phones import write_phones
from profilo.demo.places import CITIES, COUNTRY_SPELLINGS
from profilo.demo.records import Counters, Rows
from profilo.demo.render import date_dmy, digits, from_matrix, iso_utc, join, strings, take

__all__ = ["COLUMNS", "CrmContacts", "crm_contacts"]

COLUMNS = (
    "contact_id",
    "first_name",
    "last_name",
    "email",
    "mobile",
    "birth_date",
    "street",
    "postal_code",
    "city",
    "country",
    "created_at",
    "updated_at",
    "email_optin",
    "email_optin_at",
    "sms_optin",
    "sms_optin_at",
)

_PHONE_STYLE_SHARES = np.array([0.58, 0.15, 0.13, 0.08, 0.06])


@dataclass(frozen=True)
class CrmContacts:
    """The export, and per contact what later sources need to stay consistent with it."""

    rows: Rows
    person: npt.NDArray[np.int64]
    """Row in the chunk's people of each contact."""
    email: pa.Array
    """The contact's e-mail as the CRM holds it ("" when missing)."""
    email_valid: npt.NDArray[np.bool_]
    email_optin: npt.NDArray[np.bool_]
    email_optin_at: npt.NDArray[np.int64]
    sms_optin: npt.NDArray[np.bool_]
    sms_optin_at: npt.NDArray[np.int64]


def _yes_no(flag: npt.NDArray[np.bool_]) -> pa.Array:
    return pc.if_else(pa.array(flag), "yes", "no")


def _blank(column: pa.Array, mask: npt.NDArray[np.bool_]) -> pa.Array:
    return pc.if_else(pa.array(mask), "", column)


def _country_spelling(rng: np.random.Generator, country: npt.NDArray[np.int8]) -> pa.Array:
    out = np.empty(len(country), dtype=object)
    for c, code in enumerate(("FR", "BE", "GB")):
        rows = np.flatnonzero(country == c)
        spellings = COUNTRY_SPELLINGS[code]
        weights = np.array([w for _, w in spellings])
        picked = rng.choice(len(spellings), size=len(rows), p=weights / weights.sum())
        out[rows] = np.array([s for s, _ in spellings], dtype=object)[picked]
    return strings(out.tolist())


def crm_contacts(rng: np.random.Generator, people: People, counters: Counters) -> CrmContacts:
    """The CRM contacts of a chunk of people."""
    main = np.flatnonzero(people.in_crm)
    dup = main[rng.random(len(main)) < 0.02]
    person = np.concatenate([main, dup])
    is_dup = np.concatenate([np.zeros(len(main), bool), np.ones(len(dup), bool)])
    n = len(person)
    created = people.crm_created[person]
    later = created + (rng.random(n) * (clock.END - created)).astype(np.int64)
    created = np.where(is_dup, later, created)
    updated = np.where(
        is_dup,
        created + (rng.random(n) * (clock.END - created)).astype(np.int64),
        people.crm_updated[person],
    )
    order = np.argsort(created, kind="stable")
    person, is_dup, created, updated = person[order], is_dup[order], created[order], updated[order]
    family = (people.family_of[person] >= 0) | np.isin(person, people.family_of)

    first = people.first_name(person)
    first = replace_rows(
        first, sometimes(rng, n, 0.02) | (is_dup & sometimes(rng, n, 0.4)), typos(rng)
    )
    first = pc.if_else(pa.array(sometimes(rng, n, 0.015)), pc.utf8_upper(first), first)
    first = pc.if_else(pa.array(sometimes(rng, n, 0.015)), pc.utf8_lower(first), first)
    first = _blank(first, sometimes(rng, n, 0.01) & ~family)
    last = people.last_name(person)
    last = replace_rows(last, sometimes(rng, n, 0.02), typos(rng))
    last = pc.if_else(pa.array(sometimes(rng, n, 0.18)), pc.utf8_upper(last), last)
    last = _blank(last, sometimes(rng, n, 0.005) & ~family)

    personal = people.email.take(pa.array(person))
    work = people.work_email.take(pa.array(person))
    dup_choice = rng.random(n)
    use_work = is_dup & people.has_work[person] & (dup_choice < 0.3)
    email = pc.if_else(pa.array(use_work), work, personal)
    varied = sometimes(rng, n, 0.04) | (is_dup & (dup_choice > 0.6))
    email = pc.if_else(pa.array(varied), email_variants(rng, email), email)
    missing = (sometimes(rng, n, 0.04) | (is_dup & (dup_choice > 0.85))) & ~family
    invalid = bad_rows(rng, n, 0.003, ~missing & ~family)
    email = replace_rows(_blank(email, missing), invalid, invalid_emails(rng))

    nsn = people.mobile[person]
    style = rng.choice(5, size=n, p=_PHONE_STYLE_SHARES)
    mobile = write_phones(people.country[person], nsn, style)
    no_mobile = sometimes(rng, n, 0.12) | (is_dup & sometimes(rng, n, 0.5))
    mobile = _blank(mobile, no_mobile)
    mobile = pc.if_else(pa.array(bad_rows(rng, n, 0.002, ~no_mobile)), "0000000000", mobile)

    birth = date_dmy(people.birth_day[person])
    no_birth = sometimes(rng, n, 0.2) | (is_dup & sometimes(rng, n, 0.7))
    bad_birth = bad_rows(rng, n, 0.002, ~no_birth)
    birth = replace_rows(
        _blank(birth, no_birth),
        bad_birth,
        lambda values: [BAD_DATES[int(i)] for i in rng.integers(0, len(BAD_DATES), len(values))],
    )

    city_index = people.city[person]
    no_address = sometimes(rng, n, 0.08) | (is_dup & sometimes(rng, n, 0.5))
    street = _blank(people.street.take(pa.array(person)), no_address)
    postal = people.postal_code.take(pa.array(person))
    zero_lost = pc.starts_with(postal, "0").to_numpy(zero_copy_only=False) & sometimes(rng, n, 0.4)
    postal = _blank(pc.if_else(pa.array(zero_lost), pc.utf8_ltrim(postal, "0"), postal), no_address)
    city = take(strings(c.name for c in CITIES), city_index)
    city = pc.if_else(pa.array(sometimes(rng, n, 0.08)), pc.utf8_upper(city), city)
    city = _blank(city, no_address)
    country = _country_spelling(rng, people.country[person])

    created_text = _blank(iso_utc(created), bad_rows(rng, n, 0.002))
    email_optin = people.email_optin[person] & ~is_dup
    email_optin_at = people.email_optin_at[person]
    sms_optin = people.sms_optin[person] & ~is_dup & ~no_mobile
    sms_optin_at = people.sms_optin_at[person]

    numbers = counters.take("crm_contacts", n)
    contact_id = join("CRM-", from_matrix(digits(numbers, counters.width)))
    columns = {
        "contact_id": contact_id,
        "first_name": first,
        "last_name": last,
        "email": email,
        "mobile": mobile,
        "birth_date": birth,
        "street": street,
        "postal_code": postal,
        "city": city,
        "country": country,
        "created_at": created_text,
        "updated_at": iso_utc(updated),
        "email_optin": _yes_no(email_optin),
        "email_optin_at": _blank(iso_utc(email_optin_at), ~email_optin),
        "sms_optin": _yes_no(sms_optin),
        "sms_optin_at": _blank(iso_utc(sms_optin_at), ~sms_optin),
    }
    rows = Rows(
        source="crm_contacts",
        keys=contact_id,
        persons=people.person_id.take(pa.array(person)),
        columns=columns,
    )
    return CrmContacts(
        rows=rows,
        person=person,
        email=email,
        email_valid=~missing & ~invalid,
        email_optin=email_optin,
        email_optin_at=email_optin_at,
        sms_optin=sms_optin,
        sms_optin_at=sms_optin_at,
    )
