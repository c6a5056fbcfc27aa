"""``email_engagement.csv``: the e-mail tool's event log (sent, opened, clicked, unsubscribed…).

The tool holds the CRM contacts who opted in to e-mail marketing (with a usable address), from
the moment they opted in. French and Belgian subscribers get the French campaigns, British ones
the English campaigns, about two a month plus the sales and holidays. An unsubscribe or a hard
bounce ends a subscriber's mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from profilo.demo import clock
from profilo.demo.commerce import Orders
from profilo.demo.crm import CrmContacts
from profilo.demo.noise import bad_rows, replace_rows
from profilo.demo.people import People
from profilo.demo.records import Counters, Rows
from profilo.demo.render import iso_utc, stamp, strings, take

__all__ = [
    "COLUMNS",
    "EVENTS",
    "Campaigns",
    "Engagement",
    "campaigns",
    "email_engagement",
    "hex_ids",
]

IntArray = npt.NDArray[np.int64]

COLUMNS = ("event_id", "email", "event", "campaign", "occurred_at")
EVENTS = ("sent", "opened", "clicked", "unsubscribed", "bounced")

_MONTHS_FR = (
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
    "octobre", "novembre", "décembre",
)  # fmt: skip
_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
_SEASONAL = {
    # month: ((day, French campaign), (day, English campaign))
    1: ((8, "Soldes d'hiver {y}"), (2, "January Sale {y}")),
    3: ((12, "Nouvelle collection printemps {y}"), (4, "Mother's Day gifts {y}")),
    5: ((20, "Fête des mères {y}"), (14, "Spring Collection {y}")),
    6: ((25, "Soldes d'été {y}"), (24, "Summer Sale {y}")),
    9: ((3, "Rentrée : nouvelle collection {y}"), (10, "Autumn Collection {y}")),
    11: ((27, "Black Friday {y}"), (27, "Black Friday {y}")),
    12: ((4, "Idées cadeaux de Noël {y}"), (3, "Christmas Gift Guide {y}")),
}


@dataclass(frozen=True)
class Campaigns:
    name: tuple[str, ...]
    at: IntArray
    """Send time (UTC seconds), ascending within each audience."""
    audience: IntArray
    """0 French-speaking (France, Belgium), 1 English-speaking (UK)."""


@cache
def campaigns() -> Campaigns:
    """The campaign calendar: the same for every seed."""
    rows: list[tuple[int, int, str]] = []
    for year in (2024, 2025, 2026):
        for month in range(1, 13):
            if clock.epoch(year, month, 1) > clock.END:
                break
            fr = _MONTHS_FR[month - 1]
            en = _MONTHS_EN[month - 1]
            for number, day in ((1, 7), (2, 21)):
                rows.append(
                    (0, clock.epoch(year, month, day, 8, 30), f"Newsletter {fr} {year} #{number}")
                )
                rows.append(
                    (1, clock.epoch(year, month, day, 9, 0), f"Newsletter {en} {year} #{number}")
                )
            for audience, (day, name) in enumerate(_SEASONAL.get(month, ())):
                hour = 8 if audience == 0 else 9
                rows.append((audience, clock.epoch(year, month, day, hour, 0), name.format(y=year)))
    rows = [r for r in rows if r[1] <= clock.END]
    rows.sort()
    return Campaigns(
        name=tuple(r[2] for r in rows),
        at=np.array([r[1] for r in rows], dtype=np.int64),
        audience=np.array([r[0] for r in rows], dtype=np.int64),
    )


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hex_ids(numbers: IntArray, salt: int) -> npt.NDArray[np.uint8]:
    """16 hex digits per number, scrambled by a bijection (so ids never collide)."""
    z = numbers.astype(np.uint64) + np.uint64(salt)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    octets = z.astype(">u8").view(np.uint8).reshape(-1, 8)
    nibbles = np.empty((len(z), 16), dtype=np.uint8)
    nibbles[:, 0::2] = octets >> 4
    nibbles[:, 1::2] = octets & 0x0F
    return _HEX[nibbles]


@dataclass(frozen=True)
class Engagement:
    rows: Rows
    unsubscribed_person: IntArray
    unsubscribed_email: pa.Array
    unsubscribed_at: IntArray


def _subscribers(crm: CrmContacts, orders: Orders) -> tuple[IntArray, pa.Array, IntArray]:
    """Who the tool mails, from when: CRM opt-ins and checkout sign-ups, one per address."""
    from_crm = np.flatnonzero(crm.email_optin & crm.email_valid)
    from_checkout = np.flatnonzero(orders.newsletter)
    person = np.concatenate([crm.person[from_crm], orders.person[from_checkout]])
    start = np.concatenate([crm.email_optin_at[from_crm], orders.at[from_checkout]])
    email = pc.utf8_trim_whitespace(
        pa.chunked_array(
            [crm.email.take(pa.array(from_crm)), orders.email.take(pa.array(from_checkout))],
            type=pa.string(),
        ).combine_chunks()
    )
    table = pa.table(
        {"key": pc.utf8_lower(email), "start": start, "row": np.arange(len(person))}
    ).sort_by([("key", "ascending"), ("start", "ascending"), ("row", "ascending")])
    key = table["key"].combine_chunks()
    first = np.ones(len(key), dtype=bool)
    if len(key) > 1:
        first[1:] = pc.not_equal(key[1:], key[:-1]).to_numpy(zero_copy_only=False)
    keep = np.sort(table["row"].to_numpy()[first])
    return person[keep], email.take(pa.array(keep)), start[keep]


def email_engagement(
    rng: np.random.Generator,
    people: People,
    crm: CrmContacts,
    orders: Orders,
    counters: Counters,
) -> Engagement:
    """The e-mail tool's events for a chunk's subscribers."""
    camp = campaigns()
    person, email, start = _subscribers(crm, orders)
    audience = (people.country[person] == 2).astype(np.int64)
    keen = rng.beta(3.5, 3.5, len(person))
    curious = rng.beta(2.0, 4.0, len(person))

    parts: list[tuple[IntArray, IntArray, IntArray, IntArray]] = []
    unsub: list[tuple[IntArray, IntArray]] = []
    for a in (0, 1):
        subs = np.flatnonzero(audience == a)
        cols = np.flatnonzero(camp.audience == a)
        if not len(subs) or not len(cols):
            continue
        at = camp.at[cols]
        shape = (len(subs), len(cols))
        received = (at[None, :] >= start[subs, None]) & (rng.random(shape) < keen[subs, None])
        draw = rng.random(shape)
        leaves = received & (draw < 0.006)
        bounces = received & (draw > 1 - 0.0015)
        stops = leaves | bounces
        stop_at = np.where(stops.any(axis=1), stops.argmax(axis=1), len(cols))
        received &= np.arange(len(cols))[None, :] <= stop_at[:, None]
        s, c = np.nonzero(received)
        k = len(s)
        left = leaves[s, c]
        bounced = bounces[s, c]
        sent = at[c] + rng.integers(0, 2400, k)
        opened = (left | (rng.random(k) < curious[subs[s]])) & ~bounced
        clicked = opened & ~left & (rng.random(k) < 0.25)
        open_at = sent + np.minimum(rng.exponential(8 * 3600, k).astype(np.int64), 5 * clock.DAY)
        subscriber = subs[s]
        campaign = cols[c]
        leave_at = open_at + rng.integers(10, 180, k)
        events = (
            (np.ones(k, dtype=bool), sent),
            (opened, open_at),
            (clicked, open_at + rng.integers(5, 300, k)),
            (left, leave_at),
            (bounced, sent + rng.integers(1, 60, k)),
        )
        for kind, (happened, when) in enumerate(events):
            keep = happened & (when <= clock.END)
            parts.append((subscriber[keep], campaign[keep], when[keep], np.full(keep.sum(), kind)))
        gone = left & (leave_at <= clock.END)
        unsub.append((subscriber[gone], leave_at[gone]))

    if parts:
        sub, campaign, when, event = (np.concatenate(x) for x in zip(*parts, strict=True))
    else:
        sub = campaign = when = event = np.zeros(0, dtype=np.int64)
    order = np.lexsort((event, when))
    sub, campaign, when, event = sub[order], campaign[order], when[order], event[order]
    m = len(sub)
    numbers = counters.take("email_engagement", m)
    event_id = stamp(m, b"evt_", hex_ids(numbers, 0x5EED_0001))
    occurred_at = iso_utc(when)
    occurred_at = pc.if_else(pa.array(bad_rows(rng, m, 0.001)), "", occurred_at)
    occurred_at = replace_rows(
        occurred_at,
        bad_rows(rng, m, 0.0005),
        lambda values: [v[:5] + "02-30" + v[10:] if v else v for v in values],
    )
    columns = {
        "event_id": event_id,
        "email": email.take(pa.array(sub)),
        "event": take(strings(EVENTS), event),
        "campaign": take(strings(camp.name), campaign),
        "occurred_at": occurred_at,
    }
    rows = Rows(
        source="email_engagement",
        keys=event_id,
        persons=people.person_id.take(pa.array(person[sub])),
        columns=columns,
    )
    if unsub:
        who = np.concatenate([u[0] for u in unsub])
        at = np.concatenate([u[1] for u in unsub])
    else:
        who = at = np.zeros(0, dtype=np.int64)
    return Engagement(
        rows=rows,
        unsubscribed_person=person[who],
        unsubscribed_email=email.take(pa.array(who)),
        unsubscribed_at=at,
    )
