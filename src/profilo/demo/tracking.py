"""``web_tracking.jsonl``: what analytics.js and the mobile app sent, message by message.

Each device has its own ``anonymousId``. People browse anonymously (page views, "Product Viewed",
"Product Added", "Products Searched") until the device identifies. Two kinds of people browse:

* Customers. Each of their devices identifies at least once: an account holder logs in (an
  ``identify`` carries their ``userId``, the web account id, and traits, and every later message
  from that device carries both ids); a customer without an account clicks through an e-mail
  (newsletter, order or receipt mail) on that device, and the landing page sends an ``identify``
  with their e-mail address. Guests who check out are identified by e-mail too. A small share of
  customers' devices (``UNLINKED_DEVICES``, a browser used only to look) never identifies: that
  residue is kept on purpose, as nothing can tie it to its owner.
* Visitors who are not customers: prospects who browse a few times on one browser and never
  register nor buy (``VISITORS_PER_CUSTOMER``). Each is a person of their own in the truth
  (``visitor-000123``), so their anonymous traffic is rightly a profile of its own.

App users send ``screen`` messages with ``context.device.id``.

Messages are assembled from JSON fragments that orjson encoded once per vocabulary entry (pages,
products, devices), so a million customers' fifteen million messages take seconds, not minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from profilo.demo import clock
from profilo.demo.catalogue import CATEGORIES, catalogue, slug
from profilo.demo.commerce import ONLINE_HOURS, seconds_of_day
from profilo.demo.names import COUNTRY_SHARES
from profilo.demo.people import People
from profilo.demo.records import Counters, Rows
from profilo.demo.render import (
    digits,
    from_matrix,
    ints,
    iso_utc,
    join,
    json_quote,
    stamp,
    strings,
    take,
)

__all__ = ["LIBRARY_VERSION", "UNLINKED_DEVICES", "VISITORS_PER_CUSTOMER", "web_tracking"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

LIBRARY_VERSION = "next-1.84.1"
"""analytics.js as loaded from Segment's CDN (``context.library.version``)."""

VISITORS_PER_CUSTOMER = 0.4
"""Prospects who browse without ever registering or buying, per customer."""
UNLINKED_DEVICES = 0.015
"""Share of customers' devices that never identify (no log-in, no e-mail click-through)."""
_VISITOR_SESSIONS = 0.5
"""A visitor's sessions: one, plus a Poisson number with this mean."""
_VISITOR_DAYS = 28
"""A visitor's sessions fall within this many days of their first."""

_SITES = (
    ("https://www.maisonlumiere.fr", "fr"),
    ("https://www.maisonlumiere.co.uk", "en"),
)
_QUERIES = {
    "fr": (
        "lin", "lampe", "vase", "robe", "coussin", "plaid", "bougie", "miroir", "pull",
        "écharpe", "housse de couette", "cadeau",
    ),
    "en": (
        "linen", "lamp", "vase", "dress", "cushion", "throw", "candle", "mirror", "jumper",
        "scarf", "duvet cover", "gift",
    ),
}  # fmt: skip
_REFERRERS = {
    "fr": ("", "https://www.google.fr/", "https://www.google.com/", "https://www.instagram.com/",
           "https://www.facebook.com/", "https://fr.pinterest.com/", "https://www.bing.com/",
           "https://www.qwant.com/"),
    "en": ("", "https://www.google.co.uk/", "https://www.google.com/", "https://www.instagram.com/",
           "https://www.facebook.com/", "https://uk.pinterest.com/", "https://www.bing.com/",
           "https://duckduckgo.com/"),
}  # fmt: skip
_REFERRER_SHARES = np.array([0.34, 0.24, 0.12, 0.09, 0.06, 0.06, 0.05, 0.04])
_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.6723.102 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.6723.107 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
)
_USER_AGENT_SHARES = np.array([0.24, 0.12, 0.22, 0.14, 0.05, 0.06, 0.04, 0.05, 0.05, 0.03])
_LOCALES = ("fr-FR", "fr-BE", "nl-BE", "en-GB")
_APP_DEVICES = (
    # (platform, manufacturer, model, os version, screen width, height)
    ("ios", "Apple", "iPhone15,2", "17.6.1", 393, 852),
    ("ios", "Apple", "iPhone16,1", "18.1", 393, 852),
    ("ios", "Apple", "iPhone14,7", "18.0.1", 390, 844),
    ("android", "samsung", "SM-S918B", "14", 412, 915),
    ("android", "Google", "Pixel 8", "15", 412, 915),
    ("android", "Xiaomi", "2311DRK48G", "14", 393, 873),
)

# Page kinds: what a visit looks at, and how many messages the visit sends.
HOME, CATEGORY, PRODUCT, SEARCH, CART, LOGIN, CHECKOUT = range(7)
_VISIT_SHARES = np.array([0.22, 0.25, 0.38, 0.08, 0.07])
_SCREENS = ("Home", "Category", "Product Detail", "Search Results", "Cart", "Sign In", "Checkout")
# Message kinds (the "head" of a message): page, four track events, identify, then one screen
# kind per page kind.
PAGE, VIEWED, ADDED, SEARCHED, IDENTIFY, SCREEN = range(6)


@dataclass(frozen=True)
class _Pages:
    """Per site and page: JSON fragments for ``context.page`` and for event properties."""

    count: int
    """Pages per site; a page is ``site * count + local page``."""
    head: pa.StringArray
    """``{"path":…,"referrer":`` — the referrer follows."""
    tail: pa.StringArray
    """``,"search":…,"title":…,"url":…}``."""
    url: pa.StringArray
    """The page's URL as a JSON string."""
    props: pa.StringArray
    """Event properties for "Product Viewed" (product pages), "Products Searched" (search)."""
    added: pa.StringArray
    """Event properties for "Product Added" (product pages)."""
    screen: pa.StringArray
    """Properties of the app's ``screen`` message for the same page."""


def page_number(kind: IntArray, item: IntArray) -> IntArray:
    """Local page of a visit: its kind and the category, product or query it looks at."""
    n_products = len(catalogue())
    n_categories = len(CATEGORIES)
    n_queries = len(_QUERIES["fr"])
    base = np.array(
        [
            0,
            1,
            1 + n_categories,
            1 + n_categories + n_products,
            1 + n_categories + n_products + n_queries,
            2 + n_categories + n_products + n_queries,
            3 + n_categories + n_products + n_queries,
        ]
    )
    has_item = (kind == CATEGORY) | (kind == PRODUCT) | (kind == SEARCH)
    return base[kind] + np.where(has_item, item, 0)


@cache
def _pages() -> _Pages:
    cat = catalogue()
    heads, tails, urls, props, added, screens = [], [], [], [], [], []
    for base, language in _SITES:
        french = language == "fr"
        brand = "Maison Lumière"
        currency = "EUR" if french else "GBP"
        names = cat.name_fr if french else cat.name_en
        prices = cat.price_eur if french else cat.price_gbp
        pages: list[tuple[str, str, str, dict[str, object], dict[str, object]]] = []
        title = f"{brand} — Maison & Mode" if french else f"{brand} — Home & Fashion"
        pages.append(("/", "", title, {}, {}))
        for name, label, part in CATEGORIES:
            shown = label if french else name
            path = f"/c/{part}" if french else f"/c/{slug(name)}"
            pages.append((path, "", f"{shown} | {brand}", {}, {"category": name}))
        for p in range(len(cat)):
            path = f"/p/{slug(names[p])}-{cat.sku[p].lower()}"
            product = {
                "product_id": cat.sku[p],
                "sku": cat.sku[p],
                "category": CATEGORIES[int(cat.category[p])][0],
                "name": names[p],
                "price": int(prices[p]) / 100,
                "currency": currency,
                "url": base + path,
            }
            pages.append((path, "", f"{names[p]} | {brand}", product, {"product_id": cat.sku[p]}))
        for query in _QUERIES[language]:
            path = "/recherche" if french else "/search"
            search = "?q=" + query.replace(" ", "+")
            title = f"Recherche « {query} » | {brand}" if french else f"Search: {query} | {brand}"
            pages.append((path, search, title, {"query": query}, {"query": query}))
        pages.append(("/panier" if french else "/basket", "", f"Panier | {brand}", {}, {}))
        login = "/compte/connexion" if french else "/account/sign-in"
        pages.append((login, "", ("Connexion" if french else "Sign in") + f" | {brand}", {}, {}))
        checkout = "/commande/livraison" if french else "/checkout/delivery"
        pages.append(
            (checkout, "", ("Livraison" if french else "Delivery") + f" | {brand}", {}, {})
        )
        for path, search, title, event, screen in pages:
            url = base + path + search
            heads.append('{"path":' + orjson.dumps(path).decode() + ',"referrer":')
            tail = {"search": search, "title": title, "url": url}
            tails.append("," + orjson.dumps(tail).decode()[1:])
            urls.append(orjson.dumps(url).decode())
            props.append(orjson.dumps(event).decode())
            added.append(orjson.dumps({**event, "quantity": 1}).decode())
            screens.append(orjson.dumps(screen).decode())
    return _Pages(
        count=len(heads) // len(_SITES),
        head=strings(heads),
        tail=strings(tails),
        url=strings(urls),
        props=strings(props),
        added=strings(added),
        screen=strings(screens),
    )


@cache
def _heads() -> pa.StringArray:
    heads = [
        '{"type":"page"',
        '{"type":"track","event":"Product Viewed"',
        '{"type":"track","event":"Product Added"',
        '{"type":"track","event":"Products Searched"',
        '{"type":"identify"',
    ]
    heads += ['{"type":"screen","name":' + orjson.dumps(s).decode() for s in _SCREENS]
    return strings(heads)


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX_UPPER = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)


def uuids(rng: np.random.Generator, n: int, upper: BoolArray | None = None) -> pa.StringArray:
    """Random version-4 UUIDs, lower-case (or upper-case where ``upper``, as iOS writes them)."""
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 0x0F
    chars = _HEX[nibbles]
    if upper is not None:
        chars = np.where(upper[:, None], _HEX_UPPER[nibbles], chars)
    return stamp(
        n, chars[:, :8], b"-", chars[:, 8:12], b"-", chars[:, 12:16], b"-", chars[:, 16:20], b"-",
        chars[:, 20:],
    )  # fmt: skip


def _app_contexts(
    rng: np.random.Generator, model: IntArray, device_id: list[str], locale: list[str]
) -> pa.StringArray:
    out = []
    builds = rng.integers(0, 3, len(model))
    for m, did, loc, build in zip(model.tolist(), device_id, locale, builds.tolist(), strict=True):
        platform, maker, name, os_version, width, height = _APP_DEVICES[m]
        version = ("3.4.1", "3.5.0", "3.6.2")[build]
        library = "analytics-swift" if platform == "ios" else "analytics-kotlin"
        context = {
            "app": {
                "name": "Maison Lumière",
                "version": version,
                "build": version.replace(".", ""),
                "namespace": "fr.maisonlumiere.app",
            },
            "device": {"id": did, "manufacturer": maker, "model": name, "type": platform},
            "library": {
                "name": library,
                "version": "1.7.1" if platform == "ios" else "1.16.0",
            },
            "locale": loc,
            "network": {"wifi": bool(build != 1)},
            "os": {"name": "iOS" if platform == "ios" else "Android", "version": os_version},
            "screen": {"width": width, "height": height},
            "timezone": "Europe/London" if loc == "en-GB" else "Europe/Paris",
        }
        out.append(orjson.dumps(context).decode())
    return strings(out)


def _first_in_group(group_start: IntArray, flag: BoolArray) -> IntArray:
    """Per row, the position of the first flagged row of its group (rows sorted by group)."""
    n = len(flag)
    position = np.where(flag, np.arange(n), n)
    first = np.minimum.reduceat(position, group_start) if n else position
    sizes = np.diff(np.append(group_start, n))
    return np.repeat(first, sizes)


@dataclass(frozen=True)
class _Browsers:
    """Everyone who browses in a chunk: its customers (rows ``0..n-1``), then its visitors."""

    person_id: pa.StringArray
    user_id: pa.StringArray
    """Web account id ("" without an account; always "" for visitors)."""
    country: npt.NDArray[np.int8]
    customer: BoolArray
    account: BoolArray
    since: IntArray
    sessions: IntArray
    first_day: IntArray
    """First and last day (days since epoch) their sessions may fall on."""
    last_day: IntArray


def _browsers(rng: np.random.Generator, people: People, counters: Counters) -> _Browsers:
    n = len(people)
    v = round(VISITORS_PER_CUSTOMER * n)
    first, last = clock.START // clock.DAY, clock.END // clock.DAY
    visitor_start = first + (rng.random(v) * (last - first + 1)).astype(np.int64)
    numbers = counters.take("visitors", v)
    visitor_id = join("visitor-", from_matrix(digits(numbers, counters.width)))
    visitor_country = rng.choice(3, size=v, p=np.array(COUNTRY_SHARES)).astype(np.int8)
    return _Browsers(
        person_id=pa.concat_arrays([people.person_id, visitor_id]),
        user_id=pa.concat_arrays([people.user_id, strings([""] * v)]),
        country=np.concatenate([people.country, visitor_country]),
        customer=np.arange(n + v) < n,
        account=np.concatenate([people.account, np.zeros(v, dtype=bool)]),
        since=np.concatenate([people.since, np.full(v, clock.START, dtype=np.int64)]),
        sessions=np.concatenate(
            [rng.poisson(3.7 * people.web), 1 + rng.poisson(_VISITOR_SESSIONS, v)]
        ),
        first_day=np.concatenate(
            [np.maximum(people.since // clock.DAY - 45, first), visitor_start]
        ),
        last_day=np.concatenate(
            [np.full(n, last, dtype=np.int64), np.minimum(visitor_start + _VISITOR_DAYS, last)]
        ),
    )


def web_tracking(rng: np.random.Generator, people: People, counters: Counters) -> Rows:
    """The tracking messages of a chunk of customers and of the visitors who come with them."""
    who = _browsers(rng, people, counters)
    n = len(who.country)
    language = (who.country == 2).astype(np.int64)  # 0 French site, 1 English site
    locale = np.select([who.country == 1, who.country == 2], [1, 3], 0)
    locale = np.where((who.country == 1) & (rng.random(n) < 0.25), 2, locale)

    # Devices: one to three browsers per customer, plus the app for some account holders; one
    # browser per visitor.
    sessions_per_person = who.sessions
    browsing = sessions_per_person > 0
    more = who.customer & browsing
    browsers = np.where(
        browsing, 1 + (more & (rng.random(n) < 0.35)) + (more & (rng.random(n) < 0.07)), 0
    )
    app = browsing & who.account & (rng.random(n) < 0.3)
    devices_per_person = browsers + app
    owner = np.repeat(np.arange(n), devices_per_person)
    d = len(owner)
    first_device = np.cumsum(devices_per_person) - devices_per_person
    is_app = np.zeros(d, dtype=bool)
    is_app[(first_device + browsers)[app]] = True
    model = rng.integers(0, len(_APP_DEVICES), d)
    ios = is_app & (np.array([m[0] == "ios" for m in _APP_DEVICES])[model])
    anonymous_id = uuids(rng, d, ios)
    device_id = uuids(rng, d, ios)
    user_agent = rng.choice(len(_USER_AGENTS), size=d, p=_USER_AGENT_SHARES)
    identifies = who.customer[owner] & (rng.random(d) >= UNLINKED_DEVICES)

    # Sessions, on a random device of their person (the app for 40% of an app user's sessions).
    person_of_session = np.repeat(np.arange(n), sessions_per_person)
    s = len(person_of_session)
    on_app = app[person_of_session] & (rng.random(s) < 0.4)
    pick = (rng.random(s) * browsers[person_of_session]).astype(np.int64)
    device = first_device[person_of_session] + np.where(on_app, browsers[person_of_session], pick)
    first_day = who.first_day[person_of_session]
    span = who.last_day[person_of_session] - first_day + 1
    day = first_day + (rng.random(s) * span).astype(np.int64)
    standard = np.where(who.country[person_of_session] == 2, 0, 1)
    start = clock.at_local_hour(day, seconds_of_day(rng, s, ONLINE_HOURS), standard)
    start = np.minimum(clock.clip(start), clock.END - 3600)
    order = np.lexsort((start, device))
    device, start, person_of_session = device[order], start[order], person_of_session[order]
    group_start = np.flatnonzero(np.diff(np.concatenate([[-1], device])))
    # A device identifies in its first session once its person is a customer (or, when every
    # session came before, in its last): a log-in for account holders, an e-mail click-through
    # for the others.
    after_since = identifies[device] & (start >= who.since[person_of_session])
    login_session = _first_in_group(group_start, after_since)
    group_last = np.repeat(np.append(group_start[1:], s) - 1, np.diff(np.append(group_start, s)))
    login_session = np.where((login_session == s) & identifies[device], group_last, login_session)
    session_index = np.arange(s)
    account_session = who.account[person_of_session]
    identify_session = session_index == login_session
    is_login_session = identify_session & account_session
    is_click_session = identify_session & ~account_session
    logged_in_before = (session_index > login_session) & account_session

    # Visits: pages (or app screens) looked at in a session.
    visits_per_session = 1 + rng.poisson(1.6, s)
    session_of_visit = np.repeat(np.arange(s), visits_per_session)
    v = len(session_of_visit)
    first_visit = np.cumsum(visits_per_session) - visits_per_session
    visit_rank = np.arange(v) - first_visit[session_of_visit]
    kind = rng.choice(len(_VISIT_SHARES), size=v, p=_VISIT_SHARES / _VISIT_SHARES.sum())
    login_rank = np.minimum(1, visits_per_session - 1)
    is_login_visit = is_login_session[session_of_visit] & (
        visit_rank == login_rank[session_of_visit]
    )
    kind = np.where(is_login_visit, LOGIN, kind)
    # An e-mail link lands on the home page or a category page, which then sends the identify.
    is_click_visit = is_click_session[session_of_visit] & (visit_rank == 0)
    kind = np.where(is_click_visit & (kind != HOME), CATEGORY, kind)
    person_of_visit = person_of_session[session_of_visit]
    last_visit = visit_rank == visits_per_session[session_of_visit] - 1
    checkout = (
        ~who.account[person_of_visit]
        & identifies[device[session_of_visit]]
        & last_visit
        & (visit_rank > 0)
        & (rng.random(v) < 0.12)
    )
    kind = np.where(checkout, CHECKOUT, kind)
    cat = catalogue()
    product = rng.choice(len(cat), size=v, p=cat.popularity)
    item = np.select(
        [kind == CATEGORY, kind == PRODUCT, kind == SEARCH],
        [cat.category[product], product, rng.integers(0, len(_QUERIES["fr"]), v)],
        0,
    )
    pages = _pages()
    page = language[person_of_visit] * pages.count + page_number(kind, item)
    gaps = np.where(visit_rank == 0, 0, 5 + rng.exponential(40.0, v).astype(np.int64))
    visit_time = start[session_of_visit] + _cumsum_within(gaps, first_visit, visits_per_session)
    external = rng.choice(len(_REFERRER_SHARES), size=v, p=_REFERRER_SHARES)
    referrer_of_first = take(
        strings(orjson.dumps(r).decode() for site in ("fr", "en") for r in _REFERRERS[site]),
        language[person_of_visit] * len(_REFERRER_SHARES) + external,
    )
    previous_page = page[np.maximum(np.arange(v) - 1, 0)]
    referrer = pc.if_else(
        pa.array(visit_rank == 0), referrer_of_first, take(pages.url, previous_page)
    )
    page_json = join(take(pages.head, page), referrer, take(pages.tail, page))
    signed_in = logged_in_before[session_of_visit] | (
        is_login_session[session_of_visit] & (visit_rank >= login_rank[session_of_visit])
    )

    # Messages: each visit sends one to three.
    per_visit = np.select(
        [kind == PRODUCT, kind == SEARCH, kind == LOGIN, kind == CHECKOUT], [2, 2, 2, 2], 1
    )
    per_visit = per_visit + ((kind == PRODUCT) & (rng.random(v) < 0.25)) + is_click_visit
    visit_of = np.repeat(np.arange(v), per_visit)
    m = len(visit_of)
    sub = np.arange(m) - (np.cumsum(per_visit) - per_visit)[visit_of]
    visit_kind = kind[visit_of]
    device_of = device[session_of_visit[visit_of]]
    app_message = is_app[device_of]
    head = np.select(
        [
            sub == 0,
            (visit_kind == PRODUCT) & (sub == 1),
            (visit_kind == PRODUCT) & (sub == 2),
            visit_kind == SEARCH,
        ],
        [np.where(app_message, SCREEN + visit_kind, PAGE), VIEWED, ADDED, SEARCHED],
        IDENTIFY,
    )
    at_ms = (visit_time[visit_of] + sub * rng.integers(1, 4, m)) * 1000 + rng.integers(0, 1000, m)
    sent_ms = at_ms + rng.integers(40, 2500, m)
    person_of = person_of_visit[visit_of]

    upper = np.zeros(m, dtype=bool)
    upper[app_message] = ios[device_of[app_message]]
    message_uuid = uuids(rng, m, upper)
    message_id = pc.if_else(
        pa.array(app_message), message_uuid, join("ajs-next-", ints(at_ms), "-", message_uuid)
    )
    app_rows = np.flatnonzero(is_app)
    app_context = np.full(d, "", dtype=object)
    app_context[app_rows] = _app_contexts(
        rng,
        model[app_rows],
        device_id.take(pa.array(app_rows)).to_pylist(),
        [_LOCALES[i] for i in locale[owner][app_rows].tolist()],
    ).to_pylist()
    by_time = np.argsort(at_ms, kind="stable")
    messages = _Messages(
        head=head[by_time],
        visit=visit_of[by_time],
        person=person_of[by_time],
        device=device_of[by_time],
        app=app_message[by_time],
        # The log-in page itself is still anonymous; its identify and all after carry userId.
        signed_in=(signed_in[visit_of] & ~((visit_kind == LOGIN) & (sub == 0)))[by_time],
        login=(visit_kind == LOGIN)[by_time],
        page=page[visit_of][by_time],
        at_ms=at_ms[by_time],
        sent_ms=sent_ms[by_time],
        message_id=message_id.take(pa.array(by_time)),
    )
    devices = _Devices(
        anonymous_id=anonymous_id,
        locale=locale[owner],
        user_agent=user_agent,
        app_context=strings(app_context.tolist()),
    )
    return Rows(
        source="web_tracking",
        keys=messages.message_id,
        persons=who.person_id.take(pa.array(messages.person)),
        lines=_render(people, who.user_id, devices, messages, page_json),
    )


def _cumsum_within(values: IntArray, group_start: IntArray, sizes: IntArray) -> IntArray:
    total = np.cumsum(values)
    before = np.repeat(total[group_start] - values[group_start], sizes)
    return total - before


@dataclass(frozen=True)
class _Devices:
    anonymous_id: pa.StringArray
    locale: IntArray
    user_agent: IntArray
    app_context: pa.StringArray


@dataclass(frozen=True)
class _Messages:
    head: IntArray
    visit: IntArray
    person: IntArray
    device: IntArray
    app: BoolArray
    signed_in: BoolArray
    login: BoolArray
    """The message belongs to a log-in visit (rather than a guest checkout or a click-through)."""
    page: IntArray
    at_ms: IntArray
    sent_ms: IntArray
    message_id: pa.StringArray

    def __len__(self) -> int:
        return len(self.head)


_SLICE = 50_000
"""Messages rendered at a time: bounds the memory taken by the JSON text."""


def _render(
    people: People,
    user_ids: pa.StringArray,
    devices: _Devices,
    messages: _Messages,
    page_json: pa.StringArray,
) -> Iterator[pa.StringArray]:
    """The messages' JSON lines, a slice at a time (nothing random is drawn here).

    Only customers identify, so identify traits are read from ``people``; ``user_ids`` covers
    every browser (customers, then visitors)."""
    pages = _pages()
    web_head = join(
        '{"library":{"name":"analytics.js","version":"',
        LIBRARY_VERSION,
        '"},"locale":"',
        take(strings(_LOCALES), devices.locale),
        '","page":',
    )
    web_tail = join(
        ',"timezone":',
        pc.if_else(pa.array(devices.locale == 3), '"Europe/London"', '"Europe/Paris"'),
        ',"userAgent":',
        take(strings(orjson.dumps(u).decode() for u in _USER_AGENTS), devices.user_agent),
        "}",
    )
    for lo in range(0, len(messages), _SLICE):
        part = slice(lo, min(lo + _SLICE, len(messages)))
        head = messages.head[part]
        page = messages.page[part]
        person = messages.person[part]
        app = pa.array(messages.app[part])
        device = pa.array(messages.device[part])
        page_text = page_json.take(pa.array(messages.visit[part]))
        event_props = pc.if_else(
            pa.array(head == ADDED), take(pages.added, page), take(pages.props, page)
        )
        props = pc.if_else(
            pa.array(head == PAGE),
            page_text,
            pc.if_else(pa.array(head >= SCREEN), take(pages.screen, page), event_props),
        )
        body = join(',"properties":', props)
        identify = np.flatnonzero(head == IDENTIFY)
        if len(identify):
            who = person[identify]
            login = pa.array(messages.login[part][identify])
            email = pc.if_else(
                login,
                people.account_email.take(pa.array(who)),
                people.email.take(pa.array(who)),
            )
            names = join(
                ',"first_name":',
                json_quote(people.first_name(who)),
                ',"last_name":',
                json_quote(people.last_name(who)),
            )
            traits = join('{"email":', json_quote(email), pc.if_else(login, names, ""), "}")
            mask = np.zeros(len(head), dtype=bool)
            mask[identify] = True
            body = pc.replace_with_mask(body, pa.array(mask), join(',"traits":', traits))
        user_id = pc.if_else(
            pa.array(messages.signed_in[part]),
            join('"', user_ids.take(pa.array(person)), '"'),
            "null",
        )
        context = pc.if_else(
            app,
            devices.app_context.take(device),
            join(web_head.take(device), page_text, web_tail.take(device)),
        )
        at_ms = messages.at_ms[part]
        sent_ms = messages.sent_ms[part]
        yield join(
            take(_heads(), head),
            ',"messageId":"',
            messages.message_id[part.start : part.stop],
            '","anonymousId":"',
            devices.anonymous_id.take(device),
            '","userId":',
            user_id,
            ',"timestamp":"',
            iso_utc(at_ms // 1000, at_ms % 1000),
            '","sentAt":"',
            iso_utc(sent_ms // 1000, sent_ms % 1000),
            '","context":',
            context,
            body,
            ',"integrations":{}}\n',
        )
