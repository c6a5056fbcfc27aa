"""Events and consents by profile: full and incremental refreshes give the same tables."""

from __future__ import annotations

from profilo.identity import resolve_identities
from profilo.identity.survivorship import build_profiles
from profilo.profiles.events import refresh_profiles
from profilo.store import Store

from .conftest import Load, profile_of, records

PEOPLE = [
    {"key": "C1", "ids": {"email": "ana@x.fr"}, "consents": [("email_marketing", "granted", 0)]},
    {"key": "O1", "source": "orders", "ids": {"email": "ana@x.fr"}, "event": "Order Completed",
     "at": 2, "props": {"revenue": 10}, "consents": [("email_marketing", "denied", 5)]},
    {"key": "C2", "ids": {"email": "bob@x.fr"},
     "consents": [("email_marketing", "granted", 3), ("sms_marketing", "granted", 3),
                  ("sms_marketing", "denied", 3)]},
    {"key": "W1", "source": "web", "ids": {"anonymous_id": "a-1"}, "event": "Product Viewed",
     "at": 1},
]  # fmt: skip


def _events(store: Store) -> list[tuple[str, str]]:
    rows = store.to_arrow(store.table("profile_events").select("profile_id", "message_id"))
    return sorted(zip(*(rows.column(i).to_pylist() for i in range(2)), strict=True))


def _consents(store: Store) -> list[tuple[str, str, str]]:
    rows = store.to_arrow(store.table("profile_consents").select("profile_id", "purpose", "status"))
    return sorted(zip(*(rows.column(i).to_pylist() for i in range(3)), strict=True))


def test_events_and_latest_consents_by_profile(store: Store, load: Load) -> None:
    report = load(PEOPLE)
    assert report.mode == "full" and report.events == 4
    ana, bob = profile_of(store, "crm", "C1"), profile_of(store, "crm", "C2")
    assert profile_of(store, "orders", "O1") == ana
    assert [m for p, m in _events(store) if p == ana] == ["crm:C1", "orders:O1"]
    assert _consents(store) == [
        *sorted(
            [
                (ana, "email_marketing", "denied"),  # the later change wins
                (bob, "email_marketing", "granted"),
                (bob, "sms_marketing", "denied"),  # a tie goes to denied
            ]
        )
    ]


def test_incremental_follows_a_merge_and_equals_a_rebuild(store: Store, load: Load) -> None:
    load(PEOPLE)
    anonymous = profile_of(store, "web", "W1")
    ana = profile_of(store, "crm", "C1")
    # the visitor identifies: their anonymous id meets ana's e-mail
    report = load(
        [
            {"key": "W2", "source": "web", "ids": {"anonymous_id": "a-1", "email": "ana@x.fr"},
             "event": "Signed In", "at": 6},
        ]
    )  # fmt: skip
    assert report.mode == "incremental"
    touched = set(report.profiles.column("profile_id").to_pylist()) if report.profiles else set()
    merged = profile_of(store, "web", "W1")
    assert merged == profile_of(store, "crm", "C1")
    assert {anonymous, ana, merged} <= touched
    assert profile_of(store, "crm", "C2") not in touched
    incremental = (_events(store), _consents(store))
    refresh_profiles(store, full=True)
    assert (_events(store), _consents(store)) == incremental
    again = refresh_profiles(store)
    assert again.mode == "incremental" and again.profiles is not None
    assert again.profiles.num_rows == 0


def test_an_empty_store_refreshes(store: Store) -> None:
    first = refresh_profiles(store)
    assert first.mode == "full" and first.events == 0
    second = refresh_profiles(store)
    assert second.mode == "incremental"
    assert second.profiles is not None and second.profiles.num_rows == 0


def test_update_audiences_follows_new_data(store: Store, load: Load) -> None:
    from profilo.audiences import membership_history, save_segment
    from profilo.audiences.refresh import update_audiences
    from profilo.profiles import parse_trait, save_trait

    load(PEOPLE)
    save_trait(
        store, parse_trait({"name": "orders", "aggregate": "count", "events": "Order Completed"})
    )
    save_segment(store, "buyers", "computed orders >= 2")
    first = update_audiences(store, full=True)
    assert first["segments"]["trigger"] == "batch"
    assert first["segments"]["segments"]["buyers"]["members"] == 0
    # new orders arrive and the identity step resolves them (not the profiles step: that is
    # update_audiences' job)
    store.save(
        records(
            [{"key": "O2", "source": "orders", "ids": {"email": "bob@x.fr"},
              "event": "Order Completed", "at": 7},
             {"key": "O3", "source": "orders", "ids": {"email": "ana@x.fr"},
              "event": "Order Completed", "at": 8}]
        )
    )  # fmt: skip
    resolve_identities(store)
    build_profiles(store)
    second = update_audiences(store)
    assert second["profiles"]["mode"] == "incremental"
    assert second["segments"]["trigger"] == "incremental"
    ana = profile_of(store, "crm", "C1")
    assert [h["profile_id"] for h in membership_history(store, segment="buyers")] == [ana]
