"""What customers tell the company: ``helpdesk_tickets.csv`` and ``survey_answers.csv``.

Tickets are written in the customer's language, mostly about an order of theirs (a late parcel,
a refund, a broken vase) and sometimes from their work address. Survey answers follow purchases,
with an NPS score and, often, a comment.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from profilo.demo import clock
from profilo.demo.catalogue import catalogue
from profilo.demo.commerce import Orders, ShopPurchases
from profilo.demo.noise import bad_rows, email_variants, invalid_emails, replace_rows, sometimes
from profilo.demo.people import People
from profilo.demo.places import STORES
from profilo.demo.records import Counters, Rows
from profilo.demo.render import date_dmy, digits, from_matrix, ints, iso_utc, join, strings
from profilo.demo.texts import COMMENTS, ORDER_TOPICS, TICKETS, TOPIC_SHARES

__all__ = ["SURVEY_COLUMNS", "TICKET_COLUMNS", "helpdesk_tickets", "survey_answers"]

IntArray = npt.NDArray[np.int64]

TICKET_COLUMNS = (
    "ticket_id",
    "requester_email",
    "created_at",
    "subject",
    "body",
    "status",
    "priority",
)
SURVEY_COLUMNS = ("response_id", "email", "answered_at", "nps", "comment")

_TOPICS = tuple(TOPIC_SHARES)
_PRIORITIES = ("low", "normal", "high", "urgent")


def _random_member(rng: np.random.Generator, owner_sorted: IntArray, wanted: IntArray) -> IntArray:
    """For each wanted owner, a random row among the rows it owns (-1 when it owns none)."""
    left = np.searchsorted(owner_sorted, wanted, side="left")
    right = np.searchsorted(owner_sorted, wanted, side="right")
    count = right - left
    pick = left + (rng.random(len(wanted)) * count).astype(np.int64)
    return np.where(count > 0, pick, -1)


def _lookup(values: npt.NDArray[np.int64], rows: IntArray, default: int) -> IntArray:
    """``values[rows]``, with ``default`` where a row is -1 (also when ``values`` is empty)."""
    if len(values) == 0:
        return np.full(len(rows), default, dtype=np.int64)
    return np.where(rows >= 0, values[np.maximum(rows, 0)], default)


def _contact_email(rng: np.random.Generator, people: People, person: IntArray) -> pa.Array:
    n = len(person)
    work = people.has_work[person] & (rng.random(n) < 0.35)
    email = pc.if_else(
        pa.array(work),
        people.work_email.take(pa.array(person)),
        people.email.take(pa.array(person)),
    )
    email = pc.if_else(pa.array(sometimes(rng, n, 0.03)), email_variants(rng, email), email)
    return replace_rows(email, bad_rows(rng, n, 0.003), invalid_emails(rng))


def helpdesk_tickets(
    rng: np.random.Generator,
    people: People,
    orders: Orders,
    shop: ShopPurchases,
    counters: Counters,
) -> Rows:
    """The help-desk tickets of a chunk of people."""
    cat = catalogue()
    rate = 0.14 + 0.065 * np.minimum(people.orders, 8)
    person = np.repeat(np.arange(len(people)), rng.poisson(rate))
    n = len(person)
    shares = np.array(list(TOPIC_SHARES.values()))
    topic = rng.choice(len(_TOPICS), size=n, p=shares / shares.sum())
    by_person = np.argsort(orders.person, kind="stable")
    pick = _random_member(rng, orders.person[by_person], person)
    order_row = _lookup(by_person, pick, -1)
    needs_order = np.array([ORDER_TOPICS[t] for t in _TOPICS])[topic]
    no_order_topics = np.flatnonzero(~np.array([ORDER_TOPICS[t] for t in _TOPICS]))
    topic = np.where(needs_order & (order_row < 0), rng.choice(no_order_topics, size=n), topic)
    # Sizes are a matter for clothes: an exchange about a vase is a refund request.
    fashion = np.isin(cat.category[_lookup(orders.first_product, order_row, 0)], [4, 5, 6])
    exchange, refund = _TOPICS.index("exchange"), _TOPICS.index("refund")
    topic = np.where((topic == exchange) & ~fashion, refund, topic)
    about_order = np.array([ORDER_TOPICS[t] for t in _TOPICS])[topic]

    since = people.since[person]
    anytime = since + (rng.random(n) * (clock.END - since)).astype(np.int64)
    ordered_at = _lookup(orders.at, order_row, 0)
    after_order = ordered_at + rng.integers(clock.DAY, 12 * clock.DAY, n)
    created = np.minimum(np.where(about_order, after_order, anytime), clock.END)
    order = np.argsort(created, kind="stable")
    person, topic, order_row = person[order], topic[order], order_row[order]
    created, about_order, ordered_at = created[order], about_order[order], ordered_at[order]

    english = people.english[person]
    first = people.first_name(person).to_pylist()
    last = people.last_name(person).to_pylist()
    order_ids = orders.order_id.to_pylist()
    product = _lookup(orders.first_product, order_row, 0)
    by_shopper = np.argsort(shop.person, kind="stable")
    visit = _random_member(rng, shop.person[by_shopper], person)
    store = np.where(visit >= 0, _lookup(shop.store[by_shopper], visit, 0), people.store[person])
    dates = date_dmy(np.where(about_order, ordered_at, created) // clock.DAY).to_pylist()
    days = rng.integers(2, 15, n).tolist()
    variant = rng.random(n).tolist()
    subjects, bodies = [], []
    for i in range(n):
        language = "en" if english[i] else "fr"
        choices = TICKETS[language][_TOPICS[topic[i]]]
        subject, body = choices[int(variant[i] * len(choices))]
        values = {
            "first": first[i],
            "last": last[i],
            "order": order_ids[order_row[i]] if order_row[i] >= 0 else "",
            "product": (cat.name_en if english[i] else cat.name_fr)[product[i]],
            "date": dates[i],
            "days": days[i],
            "store": STORES[store[i]].name,
        }
        subjects.append(subject.format(**values))
        bodies.append(body.format(**values))

    recent = created > clock.END - 10 * clock.DAY
    status = np.where(
        recent,
        np.where(rng.random(n) < 0.6, "open", "pending"),
        np.where(rng.random(n) < 0.75, "solved", "closed"),
    )
    urgent_topic = np.isin(np.array(_TOPICS)[topic], ["damaged", "delivery_late"])
    priority = np.where(
        urgent_topic,
        rng.choice(4, size=n, p=[0.05, 0.45, 0.4, 0.1]),
        rng.choice(4, size=n, p=[0.3, 0.6, 0.08, 0.02]),
    )
    numbers = counters.take("helpdesk_tickets", n)
    ticket_id = join("TCK-", from_matrix(digits(numbers, counters.width + 1)))
    columns = {
        "ticket_id": ticket_id,
        "requester_email": _contact_email(rng, people, person),
        "created_at": pc.if_else(pa.array(bad_rows(rng, n, 0.002)), "", iso_utc(created)),
        "subject": strings(subjects),
        "body": strings(bodies),
        "status": strings(status.tolist()),
        "priority": strings(np.array(_PRIORITIES)[priority].tolist()),
    }
    return Rows(
        source="helpdesk_tickets",
        keys=ticket_id,
        persons=people.person_id.take(pa.array(person)),
        columns=columns,
    )


def survey_answers(
    rng: np.random.Generator,
    people: People,
    orders: Orders,
    shop: ShopPurchases,
    counters: Counters,
) -> Rows:
    """NPS survey answers of a chunk of people, sent after purchases."""
    buyer = (people.orders + people.shop_visits) > 0
    person = np.repeat(np.arange(len(people)), rng.poisson(np.where(buyer, 0.38, 0.06)))
    n = len(person)
    bought_person = np.concatenate([orders.person, shop.person])
    bought_at = np.concatenate([orders.at, shop.at])
    by_person = np.argsort(bought_person, kind="stable")
    pick = _random_member(rng, bought_person[by_person], person)
    since = people.since[person]
    anytime = since + (rng.random(n) * (clock.END - since)).astype(np.int64)
    after = _lookup(bought_at[by_person], pick, 0) + rng.integers(clock.DAY, 7 * clock.DAY, n)
    answered = np.where(pick >= 0, after, anytime)
    answered = np.minimum(answered, clock.END)
    order = np.argsort(answered, kind="stable")
    person, answered = person[order], answered[order]

    band = rng.choice(3, size=n, p=[0.18, 0.30, 0.52])
    score = np.select(
        [band == 0, band == 1],
        [
            rng.choice(7, size=n, p=[0.04, 0.03, 0.06, 0.1, 0.14, 0.28, 0.35]),
            7 + (rng.random(n) < 0.55),
        ],
        9 + (rng.random(n) < 0.45),
    )
    english = people.english[person]
    comments = []
    stores = people.store[person]
    say = rng.random(n) < 0.55
    pick_comment = rng.random(n)
    for i in range(n):
        if not say[i]:
            comments.append("")
            continue
        language = "en" if english[i] else "fr"
        texts = COMMENTS[language][("detractor", "passive", "promoter")[band[i]]]
        text = texts[int(pick_comment[i] * len(texts))]
        comments.append(text.format(store=STORES[stores[i]].name))
    nps = replace_rows(ints(score), bad_rows(rng, n, 0.002), lambda v: ["dix"] * len(v))
    numbers = counters.take("survey_answers", n)
    response_id = join("SRV-", from_matrix(digits(numbers, counters.width + 1)))
    columns = {
        "response_id": response_id,
        "email": _contact_email(rng, people, person),
        "answered_at": pc.if_else(pa.array(bad_rows(rng, n, 0.002)), "", iso_utc(answered)),
        "nps": nps,
        "comment": strings(comments),
    }
    return Rows(
        source="survey_answers",
        keys=response_id,
        persons=people.person_id.take(pa.array(person)),
        columns=columns,
    )
