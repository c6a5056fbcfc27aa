"""The 360° view: lookup by any identifier, the whole profile, a paged timeline, search."""

from __future__ import annotations

import pytest

from profilo.audiences import evaluate_segments, save_segment
from profilo.errors import InputError, NotFound
from profilo.profiles import (
    find_profile,
    lookup_profile,
    parse_reference,
    parse_trait,
    profile_view,
    save_trait,
    search_profiles,
    timeline,
)
from profilo.store import Store

from .conftest import T0, Load, profile_of

ANA = {"email": "ana@x.fr", "phone": "+33612345678"}
ROWS = [
    {"key": "C1", "ids": {**ANA, "crm_id": "C1"},
     "traits": {"first_name": ("Ana", "name"), "last_name": ("Martin", "name"),
                "country": ("FR", "country")},
     "consents": [("email_marketing", "granted", 0), ("email_marketing", "denied", 20)]},
    {"key": "C2", "ids": {"email": "bob@y.com", "crm_id": "C2"},
     "traits": {"first_name": ("Bob", "name"), "last_name": ("Anderson", "name")}},
    *({"key": f"O{i}", "source": "orders", "ids": {"email": "ana@x.fr"}, "event": "Order Completed",
       "at": i, "props": {"revenue": 10 * i}} for i in range(1, 24)),
]  # fmt: skip


@pytest.fixture
def ana(store: Store, load: Load) -> str:
    load(ROWS)
    return profile_of(store, "crm", "C1")


def test_references_are_normalised() -> None:
    assert parse_reference(" email: Ana@X.FR ") == ("email", "ana@x.fr")
    assert parse_reference("phone:06 12 34 56 78", country="FR") == ("phone", "+33612345678")
    assert parse_reference("user_id:U:1") == ("user_id", "U:1")
    assert parse_reference("prf_1") == (None, "prf_1")
    with pytest.raises(InputError):
        parse_reference("email:")


def test_lookup_by_any_identifier(store: Store, ana: str) -> None:
    for reference in ("email:ANA@x.fr", "phone:+33 6 12 34 56 78", "crm_id:C1", ana):
        assert find_profile(store, reference) == ana
        found = lookup_profile(store, reference)
        assert found["profile_id"] == ana and found["traits"]["first_name"] == "Ana"
    assert lookup_profile(store, "phone:06 12 34 56 78", country="FR")["profile_id"] == ana
    with pytest.raises(NotFound, match=r"no profile for 'email:nobody@x\.fr'"):
        lookup_profile(store, "email:nobody@x.fr")


def test_the_whole_profile(store: Store, ana: str) -> None:
    save_trait(
        store, parse_trait({"name": "orders", "aggregate": "count", "events": "Order Completed"})
    )
    save_trait(store, parse_trait({"name": "gone", "aggregate": "count", "events": "Nothing"}))
    save_segment(store, "french", 'trait country = "FR"')
    evaluate_segments(store)
    view = profile_view(store, ana, timeline_limit=5)
    assert view["records"] == 24 and view["sources"] == ["crm", "orders"]
    assert view["traits"]["last_name"]["value"] == "Martin"
    assert view["traits"]["last_name"]["source"] == "crm"
    assert {(i["id_type"], i["value"]) for i in view["identities"]} >= {
        ("email", "ana@x.fr"),
        ("phone", "+33612345678"),
        ("crm_id", "C1"),
    }
    assert view["consents"]["email_marketing"]["status"] == "denied"
    assert [c["status"] for c in view["consent_history"]] == ["denied", "granted"]
    assert view["computed_traits"]["orders"]["value"] == 23.0
    assert view["computed_traits"]["gone"]["value"] == 0.0  # a count with no events reads 0
    assert [s["segment"] for s in view["segments"]] == ["french"]
    events = view["timeline"]["events"]
    assert [e["message_id"] for e in events] == [f"orders:O{i}" for i in (23, 22, 21, 20, 19)]
    assert events[0]["properties"] == {"revenue": 230}
    with pytest.raises(NotFound):
        profile_view(store, "prf_nobody")


def test_the_timeline_pages_through_every_event(store: Store, ana: str) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = timeline(store, ana, limit=10, before=cursor)
        seen += [e["message_id"] for e in page["events"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 24
    assert seen[-1] == "crm:C1"  # the CRM record is the oldest
    only = timeline(store, ana, sources=["crm"])
    assert [e["message_id"] for e in only["events"]] == ["crm:C1"]
    with pytest.raises(InputError, match="invalid timeline cursor"):
        timeline(store, ana, before="not-a-cursor")
    assert T0  # the events start at T0


def test_search_by_name_email_or_phone(store: Store, ana: str) -> None:
    bob = profile_of(store, "crm", "C2")
    by_name = search_profiles(store, "an")
    assert {h["profile_id"] for h in by_name} == {ana, bob}  # Ana, and Bob Anderson
    assert search_profiles(store, "ANA@")[0]["matches"] == [{"field": "email", "value": "ana@x.fr"}]
    assert [h["profile_id"] for h in search_profiles(store, "+33 61")] == [ana]
    assert [h["profile_id"] for h in search_profiles(store, "06 12", country="FR")] == [ana]
    assert search_profiles(store, "zz") == []
    with pytest.raises(InputError):
        search_profiles(store, "a")
