"""The demo's customers as they really are: the ground truth every source is drawn from.

A chunk of people is a set of parallel columns (one row per person). Each person has a stable
name, birth date, home address, country, mobile number and personal e-mail address; some also
have a work address, a web account, a loyalty card, a place in the CRM. Their appetite for buying
online, in shops and for browsing varies a lot: many buy once, a loyal core buys often.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from profilo.demo import clock
from profilo.demo.names import (
    COUNTRIES,
    COUNTRY_SHARES,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    WORK_DOMAINS,
)
from profilo.demo.phones import COUNTRY_CODES, draw_mobiles
from profilo.demo.places import CITIES, STORES, STREETS
from profilo.demo.render import digits, from_matrix, ints, join, stamp, strings, take

__all__ = ["People", "Registry", "draw_people", "email_local_part", "fold_accents"]

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_CHANNEL_SHARES = (0.40, 0.35, 0.25)
"""Online-first, both, shop-first."""
_ORDER_RATE = np.array([1.5, 1.2, 0.0])
_SHOP_RATE = np.array([0.15, 1.2, 2.2])
_WEB_RATE = np.array([1.5, 1.1, 0.2])
_ACCOUNT_RATE = np.array([0.75, 0.6, 0.15])
_MEMBER_RATE = np.array([0.08, 0.5, 0.6])


def fold_accents(text: str) -> str:
    """``"Éloïse Lefèvre"`` → ``"Eloise Lefevre"``, as an ASCII-only till system stores it."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def email_local_part(name: str) -> str:
    """How a name goes into an e-mail address: ``"O'Brien"`` → ``"obrien"``."""
    return "".join(c for c in fold_accents(name).lower() if c.isalnum() or c == "-")


class Registry:
    """Values already handed out in the run (as 64-bit keys), so that they stay unique."""

    def __init__(self) -> None:
        self._taken = np.empty(0, dtype=np.uint64)

    def claim(self, keys: npt.NDArray[np.uint64]) -> BoolArray:
        """Take the keys that are free; True where a key was free (first of equal keys wins)."""
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        first = np.ones(len(keys), dtype=bool)
        first[order[1:]] = ordered[1:] != ordered[:-1]
        at = np.searchsorted(self._taken, keys)
        seen = np.zeros(len(keys), dtype=bool)
        inside = at < len(self._taken)
        seen[inside] = self._taken[at[inside]] == keys[inside]
        free = first & ~seen
        new = np.sort(keys[free])
        self._taken = np.insert(self._taken, np.searchsorted(self._taken, new), new)
        return free


def _text_keys(values: pa.Array) -> npt.NDArray[np.uint64]:
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(v.encode(), digest_size=8).digest(), "little")
            for v in values.to_pylist()
        ],
        dtype=np.uint64,
    )


@dataclass(frozen=True)
class _Names:
    text: pa.StringArray
    ascii: pa.StringArray
    local: pa.StringArray
    groups: dict[object, tuple[int, FloatArray]]
    """Group → (offset of its first name in the arrays, drawing weights)."""


def _vocabulary(groups: dict[object, tuple[str, ...]], exponent: float) -> _Names:
    text: list[str] = []
    index: dict[object, tuple[int, FloatArray]] = {}
    for key, names in groups.items():
        weights = 1.0 / (np.arange(len(names)) + 4.0) ** exponent
        index[key] = (len(text), weights / weights.sum())
        text.extend(names)
    return _Names(
        text=strings(text),
        ascii=strings(fold_accents(t) for t in text),
        local=strings(email_local_part(t) for t in text),
        groups=index,
    )


@cache
def first_names() -> _Names:
    return _vocabulary(dict(FIRST_NAMES.items()), 0.9)


@cache
def last_names() -> _Names:
    return _vocabulary(dict(LAST_NAMES.items()), 1.0)


def _draw(
    rng: np.random.Generator, names: _Names, group_of_row: Sequence[object], n: int
) -> IntArray:
    out = np.zeros(n, dtype=np.int64)
    labels = np.array([str(g) for g in group_of_row])
    for key, (offset, weights) in names.groups.items():
        rows = np.flatnonzero(labels == str(key))
        out[rows] = offset + rng.choice(len(weights), size=len(rows), p=weights)
    return out


@dataclass
class People:
    """One chunk of customers (row ``i`` is person ``person_id[i]``)."""

    person_id: pa.StringArray
    country: npt.NDArray[np.int8]
    """0 France, 1 Belgium, 2 United Kingdom (``names.COUNTRIES``)."""
    woman: BoolArray
    first: IntArray
    """Row in ``first_names()``."""
    last: IntArray
    """Row in ``last_names()``."""
    birth_day: IntArray
    """Days since 1970-01-01."""
    city: IntArray
    """Row in ``places.CITIES``."""
    postal_code: pa.StringArray
    street: pa.StringArray
    email: pa.StringArray
    """Personal address; partners in a family share one."""
    work_email: pa.StringArray
    has_work: BoolArray
    family_of: IntArray
    """Row of the partner whose e-mail address this person shares, else -1."""
    channel: npt.NDArray[np.int8]
    """0 buys mostly online, 1 both, 2 mostly in shops."""
    orders: IntArray
    shop_visits: IntArray
    web: FloatArray
    """Appetite for browsing the site and app (1 on average)."""
    since: IntArray
    """When the person became a customer (seconds since epoch)."""
    account: BoolArray
    user_id: pa.StringArray
    account_email: pa.StringArray
    member: BoolArray
    loyalty_id: pa.StringArray
    mobile: IntArray
    old_mobile: IntArray
    """Mobile number used before ``mobile`` (0 when it never changed)."""
    in_crm: BoolArray
    crm_created: IntArray
    crm_updated: IntArray
    email_optin: BoolArray
    email_optin_at: IntArray
    sms_optin: BoolArray
    sms_optin_at: IntArray
    ad_consent: BoolArray
    """Answer usually given to "may we use your data for ads?" at checkout."""
    ad_fickle: BoolArray
    """Answers that question at random each time."""
    store: IntArray
    """Row in ``places.STORES`` of the person's usual shop."""

    def __len__(self) -> int:
        return len(self.country)

    @property
    def english(self) -> BoolArray:
        return self.country == 2

    def first_name(self, rows: IntArray) -> pa.StringArray:
        return take(first_names().text, self.first[rows])

    def last_name(self, rows: IntArray) -> pa.StringArray:
        return take(last_names().text, self.last[rows])


def _pick_by_weight(
    rng: np.random.Generator, weights: npt.NDArray[np.floating[Any]], n: int
) -> IntArray:
    return rng.choice(len(weights), size=n, p=weights / weights.sum())


def _address(
    rng: np.random.Generator, country: npt.NDArray[np.int8]
) -> tuple[IntArray, pa.StringArray, pa.StringArray]:
    n = len(country)
    city = np.zeros(n, dtype=np.int64)
    for c, code in enumerate(COUNTRIES):
        rows = np.flatnonzero(country == c)
        ids = np.array([i for i, x in enumerate(CITIES) if x.country == code])
        weights = np.array([CITIES[i].weight for i in ids])
        city[rows] = ids[_pick_by_weight(rng, weights, len(rows))]
    code_count = np.array([len(x.postal_codes) for x in CITIES])
    code_offset = np.concatenate([[0], np.cumsum(code_count)[:-1]])
    all_codes = strings(code for x in CITIES for code in x.postal_codes)
    picked = code_offset[city] + (rng.random(n) * code_count[city]).astype(np.int64)
    code = take(all_codes, picked)
    inward = stamp(
        n,
        rng.integers(1, 10, n).astype(np.uint8)[:, None] + 48,
        np.frombuffer(b"ABDEFGHJLNPQRSTUWXYZ", dtype=np.uint8)[rng.integers(0, 20, (n, 2))],
    )
    postal = pc.if_else(pa.array(country == 2), join(code, " ", inward), code)

    street_names = [strings(STREETS[c]) for c in COUNTRIES]
    name = pc.choose(
        pa.array(country),
        *[take(s, rng.integers(0, len(s), n)) for s in street_names],
    )
    number = ints(1 + np.minimum(rng.geometric(0.035, n), 240))
    extra = ints(rng.integers(1, 30, n))
    style = rng.random(n)
    forms = [
        join(number, " ", name),  # FR, UK: 12 rue de la Paix
        join(number, " bis ", name),
        join(number, ", ", name),
        join(name, " ", number),  # BE: Rue Neuve 12
        join(name, " ", number, " bte ", extra),
        join("Flat ", extra, ", ", number, " ", name),  # UK flats
    ]
    form = np.select(
        [
            (country == 0) & (style < 0.04),
            (country == 0) & (style < 0.09),
            (country == 1) & (style < 0.06),
            country == 1,
            (country == 2) & (style < 0.10),
        ],
        [1, 2, 4, 3, 5],
        default=0,
    )
    return city, postal, pc.choose(pa.array(form.astype(np.int8)), *forms)


def _personal_emails(
    rng: np.random.Generator,
    country: npt.NDArray[np.int8],
    first: IntArray,
    last: IntArray,
    birth_year: IntArray,
) -> pa.StringArray:
    n = len(country)
    fl = take(first_names().local, first)
    ll = take(last_names().local, last)
    fi = pc.utf8_slice_codeunits(fl, 0, 1)
    li = pc.utf8_slice_codeunits(ll, 0, 1)
    yy = from_matrix(digits(birth_year % 100, 2))
    small = ints(rng.integers(1, 100, n))
    number = pc.if_else(pa.array(rng.random(n) < 0.5), yy, small)
    patterns = [
        join(fl, ".", ll),
        join(fl, ll),
        join(fi, ".", ll),
        join(fl, ".", ll, number),
        join(fl, "_", ll),
        join(ll, ".", fl),
        join(fl, ints(birth_year)),
        join(fl, ".", li),
        join(fi, ll),
        join(ll, fi, number),
    ]
    weights = np.array([0.34, 0.10, 0.08, 0.14, 0.05, 0.05, 0.08, 0.04, 0.07, 0.05])
    pattern = _pick_by_weight(rng, weights, n)
    local = pc.choose(pa.array(pattern.astype(np.int8)), *patterns)
    domain = pc.choose(
        pa.array(country),
        *[
            take(
                strings(EMAIL_DOMAINS[c]),
                _pick_by_weight(rng, 1.0 / (np.arange(len(EMAIL_DOMAINS[c])) + 1.5) ** 1.3, n),
            )
            for c in COUNTRIES
        ],
    )
    return join(local, "@", domain)


def _unique_emails(
    rng: np.random.Generator,
    registry: Registry,
    emails: pa.StringArray,
    first: IntArray,
    last: IntArray,
) -> pa.StringArray:
    """Give a number to addresses already taken: "jean.martin" → "jean.martin4821"."""
    rows = np.arange(len(emails))
    while len(rows):
        free = registry.claim(_text_keys(emails.take(pa.array(rows))))
        rows = rows[~free]
        if not len(rows):
            break
        taken = emails.take(pa.array(rows))
        domain = pc.extract_regex(taken, r"@(?P<domain>.*)$").field("domain")
        again = join(
            take(first_names().local, first[rows]),
            ".",
            take(last_names().local, last[rows]),
            ints(rng.integers(100, 10000, len(rows))),
            "@",
            domain,
        )
        mask = np.zeros(len(emails), dtype=bool)
        mask[rows] = True
        emails = pc.replace_with_mask(emails, pa.array(mask), again)
    return emails


def _unique_mobiles(
    rng: np.random.Generator, registry: Registry, country: npt.NDArray[np.int8]
) -> IntArray:
    mobile = draw_mobiles(rng, country)
    code = np.array(COUNTRY_CODES, dtype=np.uint64)[country]
    rows = np.arange(len(mobile))
    while len(rows):
        free = registry.claim(code[rows] * np.uint64(10**11) + mobile[rows].astype(np.uint64))
        rows = rows[~free]
        mobile[rows] = draw_mobiles(rng, country[rows])
    return mobile


def _permute(index: IntArray, width: int, multiplier: int, shift: int) -> IntArray:
    """A bijection of 0..10**width-1 that looks random: ids that never collide nor count up."""
    return (index * multiplier + shift) % 10**width


def draw_people(
    rng: np.random.Generator, offset: int, n: int, emails: Registry, mobiles: Registry
) -> People:
    """Draw ``n`` people, numbered from ``offset`` across the whole run."""
    index = np.arange(offset, offset + n, dtype=np.int64)
    country = _pick_by_weight(rng, np.array(COUNTRY_SHARES), n).astype(np.int8)
    woman = rng.random(n) < 0.52
    group = [(COUNTRIES[c], bool(w)) for c, w in zip(country.tolist(), woman.tolist(), strict=True)]
    first = _draw(rng, first_names(), group, n)
    last = _draw(rng, last_names(), [COUNTRIES[c] for c in country.tolist()], n)
    age = np.clip(rng.normal(44, 15, n), 18, 90)
    birth_day = (clock.epoch(2026, 1, 1) // clock.DAY - age * 365.25).astype(np.int64)
    birth_year = (1970 + birth_day // 365.2425).astype(np.int64)
    city, postal_code, street = _address(rng, country)

    email = _unique_emails(
        rng, emails, _personal_emails(rng, country, first, last, birth_year), first, last
    )
    has_work = rng.random(n) < 0.06
    workers = np.flatnonzero(has_work)
    work_address = join(
        take(first_names().local, first[workers]),
        ".",
        take(last_names().local, last[workers]),
        "@",
        take(strings(WORK_DOMAINS), rng.integers(0, len(WORK_DOMAINS), len(workers))),
    )
    work_address = _unique_emails(rng, emails, work_address, first[workers], last[workers])
    work = pc.replace_with_mask(pa.array([""] * n, pa.string()), pa.array(has_work), work_address)

    # Families: a partner who shares the other's address and e-mail (a handful per chunk).
    family_of = np.full(n, -1, dtype=np.int64)
    pairs = max(1, round(0.002 * n)) if n >= 4 else 0
    primary: list[int] = []
    if pairs:
        primary = rng.choice(np.arange(0, n - 1, 2), size=pairs, replace=False).tolist()
    for p in primary:
        family_of[p + 1] = p
    secondary = family_of >= 0
    source = np.where(secondary, family_of, np.arange(n))
    country = country[source]
    last = last[source]
    city = city[source]
    postal_code = postal_code.take(pa.array(source))
    street = street.take(pa.array(source))
    email = email.take(pa.array(source))
    woman = np.where(secondary, ~woman[source], woman)
    group = [(COUNTRIES[c], bool(w)) for c, w in zip(country.tolist(), woman.tolist(), strict=True)]
    redrawn = _draw(rng, first_names(), group, n)
    first = np.where(secondary, redrawn, first)
    has_work &= ~secondary

    channel = _pick_by_weight(rng, np.array(_CHANNEL_SHARES), n).astype(np.int8)
    since = clock.START + (rng.random(n) * (clock.END - clock.START - 14 * clock.DAY)).astype(
        np.int64
    )
    remaining = (clock.END - since) / ((clock.END - clock.START) / 2)
    activity = rng.gamma(0.6, 1 / 0.6, n) * remaining
    orders = rng.poisson(2.8 * activity * _ORDER_RATE[channel])
    shop_visits = rng.poisson(1.35 * activity * _SHOP_RATE[channel])
    web = rng.gamma(0.8, 1 / 0.8, n) * _WEB_RATE[channel] * remaining

    in_crm = (rng.random(n) < 0.8) | (family_of >= 0)
    in_crm[family_of[secondary]] = True
    idle = (orders + shop_visits == 0) & ~in_crm
    orders = np.where(idle & (channel != 2), 1, orders)
    shop_visits = np.where(idle & (channel == 2), 1, shop_visits)

    account = (rng.random(n) < _ACCOUNT_RATE[channel]) & ~secondary
    work_account = has_work & (rng.random(n) < 0.3)
    account_email = pc.if_else(pa.array(work_account), work, email)
    user_id = pc.if_else(
        pa.array(account),
        join("U", from_matrix(digits(_permute(index, 8, 7_654_321, 13_579_246), 8))),
        "",
    )
    member = rng.random(n) < _MEMBER_RATE[channel]
    loyalty_id = pc.if_else(
        pa.array(member),
        join("LOY", from_matrix(digits(_permute(index, 9, 387_420_489, 120_000_007), 9))),
        "",
    )

    mobile = _unique_mobiles(rng, mobiles, country)
    old_mobile = np.where(rng.random(n) < 0.06, _unique_mobiles(rng, mobiles, country), 0)

    crm_created = since + (rng.random(n) * 2 * clock.DAY).astype(np.int64)
    crm_updated = crm_created + (rng.random(n) * (clock.END - crm_created)).astype(np.int64)
    email_optin = in_crm & (rng.random(n) < 0.55) & ~secondary
    sms_optin = in_crm & (rng.random(n) < 0.35)

    def consent_time() -> IntArray:
        later = (rng.random(n) * (crm_updated - crm_created)).astype(np.int64)
        at_signup = rng.integers(5, 600, n)
        return crm_created + np.where(rng.random(n) < 0.7, at_signup, later)

    store_index = {s.code: i for i, s in enumerate(STORES)}
    home_store = np.array([store_index[c.store] for c in CITIES])[city]
    return People(
        person_id=join("P", from_matrix(digits(index + 1, 8))),
        country=country,
        woman=woman,
        first=first,
        last=last,
        birth_day=birth_day,
        city=city,
        postal_code=postal_code,
        street=street,
        email=email,
        work_email=pc.if_else(pa.array(has_work), work, ""),
        has_work=has_work,
        family_of=family_of,
        channel=channel,
        orders=orders,
        shop_visits=shop_visits,
        web=web,
        since=since,
        account=account,
        user_id=user_id,
        account_email=account_email,
        member=member,
        loyalty_id=loyalty_id,
        mobile=mobile,
        old_mobile=old_mobile,
        in_crm=in_crm,
        crm_created=crm_created,
        crm_updated=crm_updated,
        email_optin=email_optin,
        email_optin_at=consent_time(),
        sms_optin=sms_optin,
        sms_optin_at=consent_time(),
        ad_consent=rng.random(n) < 0.55,
        ad_fickle=rng.random(n) < 0.15,
        store=home_store,
    )
