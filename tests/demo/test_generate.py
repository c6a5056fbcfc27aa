"""The demo dataset: shape of every file, determinism, ground truth, mappings and noise."""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

import profilo.demo
from profilo.collect.mapping import load_mapping
from profilo.demo import generate_demo
from profilo.demo.generate import DemoSummary
from profilo.errors import ConfigError

CUSTOMERS = 200
SOURCES = (
    "crm_contacts",
    "orders",
    "web_tracking",
    "shop_purchases",
    "email_engagement",
    "consents",
    "helpdesk_tickets",
    "survey_answers",
    "partner_enrichment",
)
CSV_COLUMNS = {
    "crm_contacts": [
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
    ],
    "shop_purchases": [
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
    ],
    "email_engagement": ["event_id", "email", "event", "campaign", "occurred_at"],
    "consents": [
        "consent_id",
        "email",
        "purpose",
        "status",
        "source_system",
        "occurred_at",
        "legal_basis",
    ],
    "helpdesk_tickets": [
        "ticket_id",
        "requester_email",
        "created_at",
        "subject",
        "body",
        "status",
        "priority",
    ],
    "survey_answers": ["response_id", "email", "answered_at", "nps", "comment"],
    "partner_enrichment": ["email_sha256", "age_band", "household_size", "income_band"],
}
EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[a-z]{2,}$", re.IGNORECASE)
PERSON = re.compile(r"[PX]\d{8}|visitor-\d{6}|walkin-\d{6}")
"""Customers, the partner's strangers, visitors who never register, walk-in shoppers."""
STORE_EMAILS = {"magasin@maisonlumiere.fr", "store@maisonlumiere.co.uk"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    return generate_demo(tmp_path_factory.mktemp("demo"), customers=CUSTOMERS, seed=42)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def records(demo: DemoSummary, source: str) -> list[dict[str, object]]:
    path = demo.sources[source].path
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    return [dict(row) for row in read_csv(path)]


def truth(demo: DemoSummary) -> list[dict[str, str]]:
    return read_csv(demo.truth_path)


def person_of(demo: DemoSummary) -> dict[tuple[str, str], str]:
    return {(t["source"], t["record_key"]): t["person_id"] for t in truth(demo)}


def parses(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def test_exports_are_exactly_the_public_api() -> None:
    assert profilo.demo.__all__ == ["DemoSummary", "SourceFile", "generate_demo"]


def test_every_file_exists_with_its_columns(demo: DemoSummary) -> None:
    assert set(demo.sources) == set(SOURCES)
    for source, columns in CSV_COLUMNS.items():
        with demo.sources[source].path.open(newline="", encoding="utf-8") as f:
            assert next(csv.reader(f)) == columns
    orders = read_jsonl(demo.sources["orders"].path)
    assert {"order_id", "customer_email", "customer_id", "ordered_at", "currency", "total"} <= set(
        orders[0]
    )
    assert {"items", "shipping_postal_code", "shipping_city"} <= set(orders[0])
    assert {"ad_consent" in o for o in orders} == {True, False}
    item = orders[0]["items"][0]  # type: ignore[index]
    assert set(item) == {"sku", "name", "category", "price", "quantity"}
    with demo.truth_path.open(encoding="utf-8") as f:
        assert f.readline() == "source,record_key,person_id\n"


def test_summary_counts_match_the_files(demo: DemoSummary) -> None:
    for source in SOURCES:
        assert demo.rows[source] == len(records(demo, source)) > 0, source
    assert demo.truth_rows == len(truth(demo)) == sum(demo.rows.values())
    assert demo.customers == CUSTOMERS and demo.seed == 42


def test_volumes_are_roughly_as_designed(demo: DemoSummary) -> None:
    per_customer = {s: n / CUSTOMERS for s, n in demo.rows.items()}
    assert 0.7 < per_customer["crm_contacts"] < 0.95
    assert 2 < per_customer["orders"] < 4.5
    assert 10 < per_customer["web_tracking"] < 22
    assert 0.8 < per_customer["shop_purchases"] < 2.5
    assert 7 < per_customer["email_engagement"] < 18


def test_same_seed_writes_the_same_bytes(tmp_path: Path, demo: DemoSummary) -> None:
    again = generate_demo(tmp_path / "again", customers=CUSTOMERS, seed=42)
    for source in SOURCES:
        assert again.sources[source].path.read_bytes() == demo.sources[source].path.read_bytes()
    assert again.truth_path.read_bytes() == demo.truth_path.read_bytes()


def test_another_seed_writes_other_people(tmp_path: Path, demo: DemoSummary) -> None:
    other = generate_demo(tmp_path / "other", customers=CUSTOMERS, seed=7)
    assert other.sources["crm_contacts"].path.read_bytes() != (
        demo.sources["crm_contacts"].path.read_bytes()
    )


def test_truth_covers_every_record_exactly_once(demo: DemoSummary) -> None:
    rows = truth(demo)
    pairs = Counter((t["source"], t["record_key"]) for t in rows)
    assert max(pairs.values()) == 1
    assert all(PERSON.fullmatch(t["person_id"]) for t in rows)
    for source in SOURCES:
        mapping = load_mapping(demo.sources[source].mapping)
        key = ["messageId"] if source == "web_tracking" else mapping.key
        keys = ["|".join(str(r[k]) for k in key) for r in records(demo, source)]
        assert len(keys) == len(set(keys)), f"{source}: record keys repeat"
        assert set(keys) == {k for s, k in pairs if s == source}, source
    customers = {t["person_id"] for t in rows if t["person_id"].startswith("P")}
    assert len(customers) == CUSTOMERS


def test_every_mapping_loads_and_reads_existing_columns(demo: DemoSummary) -> None:
    mappings = sorted((demo.out_dir / "mappings").glob("*.yaml"))
    assert [m.stem for m in mappings] == sorted(SOURCES)
    for path in mappings:
        mapping = load_mapping(path)
        assert mapping.source == path.stem
        assert mapping.path == f"../{demo.sources[mapping.source].path.name}"
        assert mapping.resolved_path().resolve() == demo.sources[mapping.source].path.resolve()
        if mapping.format == "csv":
            with mapping.resolved_path().open(newline="", encoding="utf-8") as f:
                header = next(csv.reader(f))
            assert set(mapping.input_columns()) <= set(header), mapping.source
        elif mapping.format == "jsonl":
            seen = {k for r in read_jsonl(mapping.resolved_path()) for k in r}
            assert set(mapping.input_columns()) <= seen, mapping.source
    partner = load_mapping(demo.out_dir / "mappings" / "partner_enrichment.yaml")
    assert partner.party == "third"
    tracking = load_mapping(demo.out_dir / "mappings" / "web_tracking.yaml")
    assert tracking.format == "segment"
    shop = load_mapping(demo.out_dir / "mappings" / "shop_purchases.yaml")
    assert shop.timezone == "Europe/Paris" and shop.default_country == "FR"


def test_segment_messages_have_the_spec_shape(demo: DemoSummary) -> None:
    messages = read_jsonl(demo.sources["web_tracking"].path)
    types = Counter(m["type"] for m in messages)
    assert set(types) == {"page", "track", "identify", "screen"}
    for m in messages:
        assert m["messageId"] and m["anonymousId"] and m["timestamp"]
        assert "userId" in m
        context = m["context"]
        assert isinstance(context, dict)
        library = context["library"]["name"]
        if m["type"] == "screen":
            assert context["device"]["id"] and m["name"]
        else:
            assert library in {"analytics.js", "analytics-swift", "analytics-kotlin"}
        if library == "analytics.js":
            assert str(m["messageId"]).startswith("ajs-next-")
            assert context["page"]["url"].startswith("https://www.maisonlumiere.")
            assert context["userAgent"] and context["locale"]
        if m["type"] == "track":
            assert m["event"] in {"Product Viewed", "Product Added", "Products Searched"}
        if m["type"] == "identify":
            assert "email" in m["traits"]
            if m["userId"] is not None:
                assert {"first_name", "last_name"} <= set(m["traits"])


def test_devices_are_anonymous_until_their_identify(demo: DemoSummary) -> None:
    by_device: dict[str, list[dict[str, object]]] = defaultdict(list)
    for m in read_jsonl(demo.sources["web_tracking"].path):
        by_device[str(m["anonymousId"])].append(m)
    never, later = 0, 0
    for messages in by_device.values():
        messages.sort(key=lambda m: str(m["timestamp"]))
        known = [i for i, m in enumerate(messages) if m["userId"] is not None]
        if not known:
            never += 1
            continue
        first = messages[known[0]]
        assert first["type"] == "identify"
        assert all(m["userId"] == first["userId"] for m in messages[known[0] :])
        later += len(messages) - known[0] - 1
    assert never > 0 and later > 0


def _devices(demo: DemoSummary) -> dict[str, tuple[str, list[dict[str, object]]]]:
    """Each device's owner (from the truth) and its messages."""
    who = person_of(demo)
    devices: dict[str, tuple[str, list[dict[str, object]]]] = {}
    for m in read_jsonl(demo.sources["web_tracking"].path):
        owner = who["web_tracking", str(m["messageId"])]
        _, messages = devices.setdefault(str(m["anonymousId"]), (owner, []))
        assert devices[str(m["anonymousId"])][0] == owner, "a device changed hands"
        messages.append(m)
    return devices


def test_visitors_are_people_of_their_own_who_never_identify(demo: DemoSummary) -> None:
    devices = _devices(demo)
    visitors = [(o, ms) for o, ms in devices.values() if o.startswith("visitor-")]
    assert 0.3 * CUSTOMERS <= len(visitors) <= 0.5 * CUSTOMERS
    assert len({o for o, _ in visitors}) == len(visitors)  # one browser each
    for _, messages in visitors:
        assert all(m["type"] != "identify" and m["userId"] is None for m in messages)
        assert all(m["type"] in {"page", "track"} for m in messages)
    sources = {t["source"] for t in truth(demo) if t["person_id"].startswith("visitor-")}
    assert sources == {"web_tracking"}


def test_customer_devices_identify_but_a_small_residue(demo: DemoSummary) -> None:
    devices = [ms for o, ms in _devices(demo).values() if o.startswith("P")]
    silent = [ms for ms in devices if not any(m["type"] == "identify" for m in ms)]
    assert len(silent) <= 0.05 * len(devices)
    # customers without a web account identify by e-mail: a click-through or a guest checkout
    by_email = [m for ms in devices for m in ms if m["type"] == "identify" and m["userId"] is None]
    assert by_email
    for m in by_email:
        traits = m["traits"]
        assert isinstance(traits, dict) and set(traits) == {"email"}


def test_receipts_without_evidence_are_mostly_walk_ins(demo: DemoSummary) -> None:
    who = person_of(demo)
    bare: Counter[str] = Counter()
    customer_receipts = 0
    for r in records(demo, "shop_purchases"):
        person = who["shop_purchases", str(r["receipt_id"])]
        evidence = (
            r["loyalty_id"]
            or r["first_name"]
            or r["phone"] not in {"", "0000000000"}
            or r["email"] not in {"", *STORE_EMAILS}
        )
        if person.startswith("walkin-"):
            assert not evidence, r
        customer_receipts += person.startswith("P")
        if not evidence:
            bare["walk-in" if person.startswith("walkin-") else "customer"] += 1
    assert bare["walk-in"] > 0.05 * customer_receipts
    assert bare["customer"] < 0.1 * bare["walk-in"]
    walk_ins = Counter(t["person_id"] for t in truth(demo) if t["person_id"].startswith("walkin-"))
    assert set(walk_ins.values()) == {1}  # each receipt a person of its own


def test_orders_link_checkout_ids_to_web_accounts(demo: DemoSummary) -> None:
    user_ids = {
        m["userId"]
        for m in read_jsonl(demo.sources["web_tracking"].path)
        if m["type"] == "identify" and m["userId"]
    }
    customer_ids = {o["customer_id"] for o in records(demo, "orders") if o["customer_id"]}
    assert customer_ids & user_ids
    assert all(re.fullmatch(r"U\d{8}", str(c)) for c in customer_ids)


def test_bad_rows_are_there_for_quarantine(demo: DemoSummary) -> None:
    crm = records(demo, "crm_contacts")
    bad = [r["email"] for r in crm if r["email"] and not EMAIL.match(str(r["email"]).strip())]
    assert bad
    orders = records(demo, "orders")
    assert any(not EMAIL.match(str(o["customer_email"]).strip()) for o in orders)
    assert any(o["ordered_at"] is None for o in orders)
    assert any(isinstance(o["total"], str) for o in orders)
    births = [r["birth_date"] for r in crm if r["birth_date"]]

    def impossible(text: object) -> bool:
        try:
            datetime.strptime(str(text), "%d/%m/%Y")
        except ValueError:
            return True
        return False

    assert any(impossible(b) for b in births)
    shop = records(demo, "shop_purchases")
    assert any(not re.fullmatch(r"\d+\.\d\d", str(s["amount"])) for s in shop)
    assert any(s["purchased_at"] == "" for s in shop)
    assert any(s["phone"] == "0000000000" for s in shop)
    assert any(s["email"] in STORE_EMAILS for s in shop)
    survey = records(demo, "survey_answers")
    assert any(not str(s["nps"]).isdigit() for s in survey)


def test_a_family_shares_one_email(demo: DemoSummary) -> None:
    who = person_of(demo)
    persons_by_email: dict[str, set[str]] = defaultdict(set)
    for r in records(demo, "crm_contacts"):
        if r["email"]:
            email = str(r["email"]).strip().lower()
            persons_by_email[email].add(who["crm_contacts", str(r["contact_id"])])
    assert any(len(p) == 2 for p in persons_by_email.values())


def test_shop_drops_accents_and_shouts(demo: DemoSummary) -> None:
    who = person_of(demo)
    accented = {}
    for r in records(demo, "crm_contacts"):
        name = str(r["first_name"])
        if name != fold(name):
            accented[who["crm_contacts", str(r["contact_id"])]] = name
    dropped = [
        s
        for s in records(demo, "shop_purchases")
        if (person := who["shop_purchases", str(s["receipt_id"])]) in accented
        and str(s["first_name"]).lower() == fold(accented[person]).lower()
    ]
    assert dropped
    assert any(str(s["last_name"]).isupper() for s in records(demo, "shop_purchases"))


def test_email_variants_and_work_addresses(demo: DemoSummary) -> None:
    emails = [str(o["customer_email"]) for o in records(demo, "orders")]
    emails += [str(r["email"]) for r in records(demo, "crm_contacts")]
    assert any(e != e.strip() for e in emails)
    assert any(e.strip() != e.strip().lower() for e in emails)
    who = person_of(demo)
    crm_emails = defaultdict(set)
    for r in records(demo, "crm_contacts"):
        crm_emails[who["crm_contacts", str(r["contact_id"])]].add(str(r["email"]).strip().lower())
    other_address = [
        o
        for o in records(demo, "orders")
        if (p := who["orders", str(o["order_id"])]) in crm_emails
        and EMAIL.match(str(o["customer_email"]).strip())
        and str(o["customer_email"]).strip().lower() not in crm_emails[p]
    ]
    assert other_address


def test_partner_keys_are_hashes_of_normalised_emails(demo: DemoSummary) -> None:
    addresses = set()
    for source, column in (
        ("crm_contacts", "email"),
        ("orders", "customer_email"),
        ("shop_purchases", "email"),
        ("email_engagement", "email"),
        ("helpdesk_tickets", "requester_email"),
        ("survey_answers", "email"),
    ):
        addresses |= {str(r[column]).strip().lower() for r in records(demo, source) if r[column]}
    hashes = {hashlib.sha256(a.encode()).hexdigest() for a in addresses}
    who = person_of(demo)
    partner = records(demo, "partner_enrichment")
    matched = [p for p in partner if p["email_sha256"] in hashes]
    known: list[bool] = []
    assert all(re.fullmatch(r"[0-9a-f]{64}", str(p["email_sha256"])) for p in partner)
    for p in partner:
        if who["partner_enrichment", str(p["email_sha256"])].startswith("X"):
            assert p["email_sha256"] not in hashes
        else:
            known.append(p["email_sha256"] in hashes)
    assert sum(known) > 0.9 * len(known)
    assert 0.25 * CUSTOMERS < len(matched) < 0.55 * CUSTOMERS
    assert any(who["partner_enrichment", str(p["email_sha256"])].startswith("X") for p in partner)


def test_unsubscribes_match_withdrawn_consents(demo: DemoSummary) -> None:
    withdrawn = {
        (str(c["email"]), str(c["occurred_at"]))
        for c in records(demo, "consents")
        if c["status"] == "withdrawn" and c["source_system"] == "email_tool"
    }
    unsubscribed = {
        (str(e["email"]), str(e["occurred_at"]))
        for e in records(demo, "email_engagement")
        if e["event"] == "unsubscribed" and parses(str(e["occurred_at"]))
    }
    assert unsubscribed
    assert unsubscribed <= withdrawn
    crm_optins = {
        (str(r["email"]), str(r["email_optin_at"]))
        for r in records(demo, "crm_contacts")
        if r["email_optin"] == "yes" and r["email"]
    }
    granted = {
        (str(c["email"]), str(c["occurred_at"]))
        for c in records(demo, "consents")
        if c["source_system"] == "crm" and c["purpose"] == "email_marketing"
    }
    assert len(crm_optins & granted) >= len(crm_optins) - 2


def test_text_fields_need_csv_quoting(demo: DemoSummary) -> None:
    bodies = [str(t["body"]) for t in records(demo, "helpdesk_tickets")]
    assert any("\n" in b for b in bodies) and any('"' in b for b in bodies)
    assert any("," in b for b in bodies)
    assert any(b.startswith("Bonjour") for b in bodies) and any(b.startswith("H") for b in bodies)
    raw = demo.sources["helpdesk_tickets"].path.read_text(encoding="utf-8")
    assert '""' in raw


def test_times_stay_inside_the_demo_window(demo: DemoSummary) -> None:
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    stamps = [str(m["timestamp"]) for m in read_jsonl(demo.sources["web_tracking"].path)]
    stamps += [str(o["ordered_at"]) for o in records(demo, "orders") if o["ordered_at"]]
    stamps += [str(e["occurred_at"]) for e in records(demo, "email_engagement")]
    checked = 0
    for text in stamps:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            continue
        assert start <= when < end, text
        checked += 1
    assert checked > 0.99 * len(stamps)


def test_chunks_join_up_without_repeats(tmp_path: Path) -> None:
    chunked = generate_demo(tmp_path / "a", customers=150, seed=3, chunk_size=40)
    again = generate_demo(tmp_path / "b", customers=150, seed=3, chunk_size=40)
    assert chunked.truth_path.read_bytes() == again.truth_path.read_bytes()
    rows = truth(chunked)
    assert len({(t["source"], t["record_key"]) for t in rows}) == len(rows)
    assert len({t["person_id"] for t in rows if t["person_id"].startswith("P")}) == 150
    ids = [str(r["contact_id"]) for r in records(chunked, "crm_contacts")]
    assert ids == [f"CRM-{i:06d}" for i in range(1, len(ids) + 1)]
    who = person_of(chunked)
    persons_by_email: dict[str, set[str]] = defaultdict(set)
    for r in records(chunked, "crm_contacts"):
        email = str(r["email"]).strip().lower()
        if EMAIL.match(email):
            persons_by_email[email].add(who["crm_contacts", str(r["contact_id"])])
    shared = [p for p in persons_by_email.values() if len(p) > 1]
    assert 1 <= len(shared) <= 4  # one family per chunk, never two strangers
    assert all(len(p) == 2 for p in shared)


@pytest.mark.parametrize("customers", [1, 2, 5])
def test_a_handful_of_customers_still_works(tmp_path: Path, customers: int) -> None:
    summary = generate_demo(tmp_path, customers=customers, seed=1)
    assert summary.truth_rows == sum(summary.rows.values()) > 0
    persons = {t["person_id"] for t in truth(summary) if t["person_id"].startswith("P")}
    assert len(persons) == customers


def test_rejects_nonsense_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="customers"):
        generate_demo(tmp_path, customers=0)
    with pytest.raises(ConfigError, match="seed"):
        generate_demo(tmp_path, customers=10, seed=-1)
    with pytest.raises(ConfigError, match="chunk_size"):
        generate_demo(tmp_path, customers=10, chunk_size=0)
