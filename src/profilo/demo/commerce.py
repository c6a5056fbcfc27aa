"""What people buy: ``orders.jsonl`` from the web shop and ``shop_purchases.csv`` from the tills.

Orders carry the e-mail address typed at checkout (a work address for some, a capitalised or
space-padded one for others) and the web account id when the buyer was logged in. The tills know
people by loyalty card, by a phone number or e-mail address given at the counter for the receipt
(an old number, a mistyped one, or "0000000000" from someone who would rather not) and by name,
in capitals and without accents. A customer nearly always leaves one of those; a receipt with
none is, but for a small share (``SILENT_RECEIPTS``), a walk-in shopper's who is not in the
customer base (``WALK_INS``): each such receipt is a person of its own in the truth
(``walkin-000123``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from profilo.demo import clock
from profilo.demo.catalogue import CATEGORIES, catalogue
from profilo.demo.noise import (
    bad_rows,
    email_variants,
    invalid_emails,
    replace_rows,
    sometimes,
    typos,
)
from profilo.demo.people import People, first_names, last_names
from profilo.demo.phones import mistype, write_phones
from profilo.demo.places import CITIES, STORES
from profilo.demo.records import Counters, Rows
from profilo.demo.render import (
    digits,
    from_matrix,
    ints,
    iso_offset,
    join,
    json_quote,
    local_datetime,
    money,
    strings,
    take,
)

__all__ = [
    "ONLINE_HOURS",
    "SHOP_COLUMNS",
    "SILENT_RECEIPTS",
    "WALK_INS",
    "Orders",
    "ShopPurchases",
    "orders",
    "pick_same_country",
    "seconds_of_day",
    "shop_purchases",
]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

SHOP_COLUMNS = (
    "receipt_id",
    "store",
    "purchased_at",
    "loyalty_id",
    "phone",
    "email",
    "first_name",
    "last_name",
    "amount",
    "currency",
    "items_count",
    "category",
)

WALK_INS = 0.14
"""Receipts of walk-in shoppers, who are not in the customer base, per receipt of a customer."""
SILENT_RECEIPTS = 0.0025
"""Share of customers' receipts that carry nothing of theirs: no card shown, no phone number, no
e-mail address, no name (about one anonymous receipt in sixty, the others being walk-ins').
Nothing can tie them to their buyer; the residue is kept on purpose."""

ONLINE_HOURS = np.array(
    [2, 1, 0.5, 0.3, 0.3, 0.5, 1.5, 3, 4, 5, 5, 5.5, 7, 7, 5.5, 5, 5, 5.5, 6.5, 8, 9.5, 9.5, 7, 4]
)
_SHOP_HOURS = np.array([0] * 10 + [4, 6, 9, 8, 6, 7, 8, 9, 8, 4] + [0] * 4, dtype=np.float64)
_SHIPPING_FEE = (490, 395)
"""Below 60 (euros or pounds) of goods, delivery is charged (cents, by currency)."""


def seconds_of_day(rng: np.random.Generator, n: int, hours: npt.NDArray[np.float64]) -> IntArray:
    """Wall-clock seconds after midnight, with hours drawn from a 24-slot profile."""
    hour = rng.choice(24, size=n, p=hours / hours.sum())
    return hour * 3600 + rng.integers(0, 3600, n)


def pick_same_country(
    rng: np.random.Generator, pool_country: npt.ArrayLike, country: npt.NDArray[np.int8]
) -> IntArray:
    """For each wanted country, a random index into a pool whose item is in that country."""
    pool_country = np.asarray(pool_country)
    out = np.zeros(len(country), dtype=np.int64)
    u = rng.random(len(country))
    for c in range(3):
        pool = np.flatnonzero(pool_country == c)
        rows = np.flatnonzero(country == c)
        if len(pool) and len(rows):
            out[rows] = pool[(u[rows] * len(pool)).astype(np.int64)]
    return out


def _days(rng: np.random.Generator, since: IntArray) -> IntArray:
    first = since // clock.DAY
    last = clock.END // clock.DAY
    return first + (rng.random(len(since)) * (last - first + 1)).astype(np.int64)


@cache
def _item_json() -> pa.StringArray:
    """Every (product, currency, quantity 1–3) line item as JSON, in a flat vocabulary."""
    cat = catalogue()
    items = []
    for p in range(len(cat)):
        for name, price in ((cat.name_fr, cat.price_eur), (cat.name_en, cat.price_gbp)):
            for quantity in (1, 2, 3):
                item = {
                    "sku": cat.sku[p],
                    "name": name[p],
                    "category": CATEGORIES[int(cat.category[p])][0],
                    "price": int(price[p]) / 100,
                    "quantity": quantity,
                }
                items.append(orjson.dumps(item).decode())
    return strings(items)


@dataclass(frozen=True)
class Orders:
    """The orders of a chunk, and per order what tickets, surveys and consents build on."""

    rows: Rows
    person: IntArray
    at: IntArray
    """UTC seconds (also for rows whose timestamp was blanked on purpose)."""
    at_valid: BoolArray
    order_id: pa.Array
    email: pa.Array
    email_valid: BoolArray
    ad_asked: BoolArray
    ad_consent: BoolArray
    newsletter: BoolArray
    """The buyer ticked "send me the newsletter" (once, on a first order, if not yet subscribed)."""
    first_product: IntArray


def orders(rng: np.random.Generator, people: People, counters: Counters) -> Orders:
    """Web-shop orders of a chunk of people, as JSON Lines."""
    cat = catalogue()
    person = np.repeat(np.arange(len(people)), people.orders)
    m = len(person)
    country = people.country[person]
    standard = np.where(country == 2, 0, 1)
    day = _days(rng, people.since[person])
    at = clock.at_local_hour(day, seconds_of_day(rng, m, ONLINE_HOURS), standard)
    at = np.maximum(clock.clip(at), people.since[person])
    order = np.lexsort((person, at))
    person, country, standard, at = person[order], country[order], standard[order], at[order]
    offset = clock.local_offset_hours(at, standard)

    logged_in = people.account[person] & (rng.random(m) < 0.85)
    use_work = ~logged_in & people.has_work[person] & (rng.random(m) < 0.4)
    email = pc.if_else(
        pa.array(logged_in),
        people.account_email.take(pa.array(person)),
        pc.if_else(
            pa.array(use_work),
            people.work_email.take(pa.array(person)),
            people.email.take(pa.array(person)),
        ),
    )
    email = pc.if_else(pa.array(sometimes(rng, m, 0.03)), email_variants(rng, email), email)
    invalid = bad_rows(rng, m, 0.002)
    email = replace_rows(email, invalid, invalid_emails(rng))
    customer_id = pc.if_else(
        pa.array(logged_in), join('"', people.user_id.take(pa.array(person)), '"'), "null"
    )

    count = 1 + np.minimum(rng.poisson(0.7, m), 5)
    item_order = np.repeat(np.arange(m), count)
    product = rng.choice(len(cat), size=len(item_order), p=cat.popularity)
    quantity = 1 + (rng.random(len(item_order)) < 0.15) + (rng.random(len(item_order)) < 0.03)
    gbp = country[item_order] == 2
    price = np.where(gbp, cat.price_gbp[product], cat.price_eur[product])
    subtotal = np.bincount(item_order, weights=price * quantity, minlength=m).astype(np.int64)
    currency = (country == 2).astype(np.int64)
    fee = np.where(subtotal < 6000, np.array(_SHIPPING_FEE)[currency], 0)
    total = money(subtotal + fee)
    # A few totals as the back office typed them: "92,80 €" or "£140.95" (not numbers).
    typed = pc.if_else(
        pa.array(currency == 1),
        join('"£', total, '"'),
        join('"', pc.replace_substring(total, ".", ","), ' €"'),
    )
    total = pc.if_else(pa.array(bad_rows(rng, m, 0.001)), typed, total)
    item_text = take(_item_json(), (product * 2 + gbp) * 3 + quantity - 1)
    offsets = np.concatenate([[0], np.cumsum(count)]).astype(np.int32)
    items = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), item_text), ",")

    elsewhere = rng.random(m) < 0.1
    other = pick_same_country(rng, people.country, country)
    ship_to = np.where(elsewhere, other, person)
    postal = people.postal_code.take(pa.array(ship_to))
    zero_lost = pc.starts_with(postal, "0").to_numpy(zero_copy_only=False) & sometimes(rng, m, 0.1)
    postal = pc.if_else(pa.array(zero_lost), pc.utf8_ltrim(postal, "0"), postal)
    city = take(strings(c.name for c in CITIES), people.city[ship_to])

    ad_asked = rng.random(m) < 0.75
    ad_consent = np.where(people.ad_fickle[person], rng.random(m) < 0.5, people.ad_consent[person])
    ad = pc.if_else(
        pa.array(ad_asked),
        pc.if_else(pa.array(ad_consent), ',"ad_consent":true', ',"ad_consent":false'),
        "",
    )
    at_valid = ~bad_rows(rng, m, 0.002)
    by_buyer = np.lexsort((at, person))
    first_order = np.zeros(m, dtype=bool)
    first_order[by_buyer[np.flatnonzero(np.diff(person[by_buyer], prepend=-1))]] = True
    newsletter = first_order & ~people.email_optin[person] & (rng.random(m) < 0.3)
    ordered_at = pc.if_else(
        pa.array(at_valid), join('"', iso_offset(at + offset * 3600, offset), '"'), "null"
    )

    numbers = counters.take("orders", m)
    order_id = join("ML-", from_matrix(digits((numbers * 740_541_713 + 98_765) % 10**9, 9)))
    lines = join(
        '{"order_id":"',
        order_id,
        '","customer_email":',
        json_quote(email),
        ',"customer_id":',
        customer_id,
        ',"ordered_at":',
        ordered_at,
        ',"currency":"',
        pc.if_else(pa.array(currency == 1), "GBP", "EUR"),
        '","total":',
        total,
        ',"items":[',
        items,
        '],"shipping_postal_code":',
        json_quote(postal),
        ',"shipping_city":',
        json_quote(city),
        ',"shipping_country":"',
        take(strings(("FR", "BE", "GB")), people.country[ship_to]),
        '"',
        ad,
        pc.if_else(pa.array(newsletter), ',"newsletter_optin":true', ""),
        "}\n",
    )
    first_item = np.cumsum(count) - count
    return Orders(
        rows=Rows(
            source="orders",
            keys=order_id,
            persons=people.person_id.take(pa.array(person)),
            lines=[lines],
        ),
        person=person,
        at=at,
        at_valid=at_valid,
        order_id=order_id,
        email=email,
        email_valid=~invalid,
        ad_asked=ad_asked & at_valid,
        ad_consent=ad_consent,
        newsletter=newsletter & at_valid & ~invalid,
        first_product=product[first_item],
    )


@dataclass(frozen=True)
class ShopPurchases:
    """A chunk's till receipts; ``person``, ``at`` and ``store`` describe its customers' receipts
    only (walk-ins write no tickets and answer no surveys)."""

    rows: Rows
    person: IntArray
    at: IntArray
    """UTC seconds."""
    store: IntArray


def shop_purchases(rng: np.random.Generator, people: People, counters: Counters) -> ShopPurchases:
    """In-store purchases of a chunk of people, and of walk-in shoppers, as the tills record them."""
    cat = catalogue()
    person = np.repeat(np.arange(len(people)), people.shop_visits)
    bought = len(person)
    store_country = np.array([("FR", "BE", "GB").index(s.country) for s in STORES])
    roam = rng.random(bought)
    local_pick = pick_same_country(rng, store_country, people.country[person])
    store = np.where(roam < 0.85, people.store[person], local_pick)
    store = np.where(roam > 0.97, rng.integers(0, len(STORES), bought), store)
    day = _days(rng, people.since[person])

    # Walk-ins shop in the same stores as the chunk's customers, any day of the window.
    w = int(rng.binomial(bought, WALK_INS)) if bought else 0
    walk_store = store[rng.integers(0, bought, w)] if bought else np.zeros(0, dtype=np.int64)
    first, last = clock.START // clock.DAY, clock.END // clock.DAY
    walk_day = first + (rng.random(w) * (last - first + 1)).astype(np.int64)
    buyer = np.concatenate([person, np.full(w, -1, dtype=np.int64)])
    store = np.concatenate([store, walk_store])
    day = np.concatenate([day, walk_day])
    m = bought + w
    in_uk = store_country[store] == 2

    store_time = seconds_of_day(rng, m, _SHOP_HOURS)
    # One till system for the whole group, set to Paris time: London's 10:00 is written 11:00.
    paris_time = store_time + np.where(in_uk, 3600, 0)
    at = clock.at_local_hour(day, paris_time, 1)
    order = np.lexsort((buyer, at))
    buyer, store, in_uk, day, paris_time, at = (
        a[order] for a in (buyer, store, in_uk, day, paris_time, at)
    )
    purchased_at = local_datetime(day * clock.DAY + paris_time)
    purchased_at = pc.if_else(pa.array(bad_rows(rng, m, 0.001)), "", purchased_at)

    customer = buyer >= 0
    who = np.maximum(buyer, 0)  # walk-in rows read customer 0's columns, then blank them
    silent = customer & sometimes(rng, m, SILENT_RECEIPTS)
    member = people.member[who] & customer
    card = member & ~silent & (rng.random(m) < 0.9)
    loyalty = pc.if_else(pa.array(card), people.loyalty_id.take(pa.array(who)), "")
    gave_phone = rng.random(m) < np.where(member, 0.3, 0.5)
    gave_email = rng.random(m) < 0.35
    # A customer without a card is asked for a phone number or an e-mail address for the receipt.
    asked = customer & ~silent & ~member & ~gave_phone & ~gave_email
    phone_first = rng.random(m) < 0.55
    gave_phone = (gave_phone | (asked & phone_first)) & customer & ~silent
    gave_email = (gave_email | (asked & ~phone_first)) & customer & ~silent
    old = people.old_mobile[who]
    nsn = np.where((old > 0) & (rng.random(m) < 0.7), old, people.mobile[who])
    slip = sometimes(rng, m, 0.04)
    nsn = np.where(slip, mistype(rng, nsn), nsn)
    style = np.array([1, 0, 2])[rng.choice(3, size=m, p=[0.5, 0.4, 0.1])]
    phone = write_phones(people.country[who], nsn, style)
    phone = pc.if_else(pa.array(gave_phone), phone, "")
    refused = ~gave_phone & sometimes(rng, m, 0.06)
    phone = pc.if_else(pa.array(refused), "0000000000", phone)

    email = people.email.take(pa.array(who))
    email = pc.if_else(pa.array(sometimes(rng, m, 0.03)), email_variants(rng, email), email)
    email = replace_rows(email, bad_rows(rng, m, 0.002, gave_email), invalid_emails(rng))
    fallback = take(strings(s.fallback_email for s in STORES), store)
    email = pc.if_else(
        pa.array(gave_email),
        email,
        pc.if_else(pa.array(sometimes(rng, m, 0.04)), fallback, ""),
    )

    named = (member & ~silent) | ((gave_phone | gave_email) & (rng.random(m) < 0.8))
    plain = sometimes(rng, m, 0.6)
    first_name = pc.if_else(
        pa.array(plain),
        take(first_names().ascii, people.first[who]),
        people.first_name(who),
    )
    last_name = pc.if_else(
        pa.array(plain), take(last_names().ascii, people.last[who]), people.last_name(who)
    )
    shout = pa.array(sometimes(rng, m, 0.5))
    first_name = pc.if_else(shout, pc.utf8_upper(first_name), first_name)
    last_name = pc.if_else(shout, pc.utf8_upper(last_name), last_name)
    first_name = replace_rows(first_name, sometimes(rng, m, 0.02), typos(rng))
    first_name = pc.if_else(pa.array(named), first_name, "")
    last_name = pc.if_else(pa.array(named), last_name, "")

    items_count = 1 + rng.poisson(0.9, m)
    item_of = np.repeat(np.arange(m), items_count)
    product = rng.choice(len(cat), size=len(item_of), p=cat.popularity)
    price = np.where(in_uk[item_of], cat.price_gbp[product], cat.price_eur[product])
    cents = np.bincount(item_of, weights=price, minlength=m).astype(np.int64)
    amount = money(cents)
    bad_amount = bad_rows(rng, m, 0.002)
    amount = replace_rows(
        amount,
        bad_amount,
        lambda values: [v.replace(".", ",") if i % 2 else "N/A" for i, v in enumerate(values)],
    )
    first_item = np.cumsum(items_count) - items_count
    category = take(strings(c[0] for c in CATEGORIES), cat.category[product[first_item]])

    numbers = counters.take("shop_purchases", m)
    receipt_id = join(
        take(strings(s.code for s in STORES), store),
        "-",
        from_matrix(digits((numbers * 611_953 + 4_242) % 10**9, 9)),
    )
    columns = {
        "receipt_id": receipt_id,
        "store": take(strings(s.name for s in STORES), store),
        "purchased_at": purchased_at,
        "loyalty_id": loyalty,
        "phone": phone,
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "amount": amount,
        "currency": pc.if_else(pa.array(in_uk), "GBP", "EUR"),
        "items_count": ints(items_count),
        "category": category,
    }
    walk_ins = np.flatnonzero(~customer)
    walk_in_id = join(
        "walkin-", from_matrix(digits(counters.take("walk_ins", len(walk_ins)), counters.width))
    )
    persons = pc.replace_with_mask(
        people.person_id.take(pa.array(who)), pa.array(~customer), walk_in_id
    )
    rows = Rows(source="shop_purchases", keys=receipt_id, persons=persons, columns=columns)
    return ShopPurchases(rows=rows, person=buyer[customer], at=at[customer], store=store[customer])
